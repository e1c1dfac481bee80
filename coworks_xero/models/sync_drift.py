"""The drift report: every synced document compared with what the organisation holds.

A daily cron (and a button) reads the linked invoices and credit notes back from the provider,
50 to a request through the connection's rate limiter, compares them with Odoo
(``services/drift.py``) and keeps one row per difference, with one-click fixes. Documents whose
sync is still under way (an open job on them or on their money) are left out of that round:
they are not in disagreement, only not there yet.
"""
import datetime
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..services import drift as drift_rules
from .account_move import _dec
from ..services import provider as prov

_logger = logging.getLogger(__name__)

# Documents compared per step of a round (four reads of 50); each step commits. A round over a
# whole book in one transaction (5,000 documents: 100 reads at 60 a minute) cannot fit in a cron
# run's limit_time_real_cron, and it failed outright while the outbound sync had the minute budget.
DRIFT_PAGE = 200
DRIFT_INLINE = 1000  # documents the button compares at once (20 reads); more go to the cron
DRIFT_BUSY_RETRY = 60  # seconds before a page put off for the budget (_coworks_budget_short) is tried again
# The cron runs daily: a connection compared more recently than this is left for the next day
# (the runs triggered to go on with a round do not start new ones).
DRIFT_ROUND_EVERY = datetime.timedelta(hours=20)

PROBLEM_LABELS = [
    (drift_rules.MISSING, "Not in Xero"),
    (drift_rules.STATUS, "Status"),
    (drift_rules.TOTAL, "Total"),
    (drift_rules.PAID, "Amount settled"),
    (drift_rules.CONTACT, "Contact"),
    (drift_rules.CURRENCY, "Currency"),
    (drift_rules.DATE, "Date"),
]
KINDS = {"out_invoice": prov.KIND_INVOICE, "out_refund": prov.KIND_CREDIT_NOTE}


class CoworksSyncDrift(models.Model):
    _name = "coworks.sync.drift"
    _description = "Difference between Odoo and the accounting organisation"
    _order = "detected_at desc, id desc"
    _check_company_auto = True

    connection_id = fields.Many2one("coworks.sync.connection", required=True, index=True,
                                    ondelete="cascade", readonly=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    move_id = fields.Many2one("account.move", "Document", required=True, index=True, ondelete="cascade",
                              readonly=True)
    problem = fields.Selection(PROBLEM_LABELS, required=True, readonly=True)
    odoo_value = fields.Char("In Odoo", readonly=True)
    remote_value = fields.Char("In Xero", readonly=True)
    note = fields.Text("What to do", readonly=True)
    state = fields.Selection([("open", "To look at"), ("ignored", "Ignored")], default="open",
                             required=True, readonly=True)
    detected_at = fields.Datetime("Found on", readonly=True, default=fields.Datetime.now)

    _one_per_problem = models.Constraint(
        "UNIQUE(connection_id, move_id, problem)", "One row per document and kind of difference.")

    # ------------------------------------------------------------------ fixes

    def _check_manager(self):
        if not self.env.user.has_group("coworks_xero.group_xero_manager"):
            raise UserError(_("Only Xero managers fix differences."))

    def action_push_again(self):
        """Send Odoo's version again (a cancelled document: its void)."""
        self._check_manager()
        for row in self.sudo():
            move = row.move_id.with_context(coworks_sync_connection_id=row.connection_id.id)
            if row.problem == drift_rules.MISSING:
                # Xero does not have that ID: the next send looks the document up by number first.
                move._coworks_link_write(row.connection_id, {"remote_id": None, "remote_status": None})
            move._coworks_xero_enqueue("cancel" if move.state == "cancel" else "upsert")
        self.sudo().unlink()
        return True

    def action_relink(self):
        """Forget the stored Xero ID: the next send finds the document (by number) or the
        customer (by number, email, name) again."""
        self._check_manager()
        for row in self.sudo():
            move = row.move_id
            if row.problem == drift_rules.CONTACT:
                partner = move.commercial_partner_id
                partner._coworks_link_write(row.connection_id, {"remote_id": None})
                self.env["coworks.sync.job"].sudo()._enqueue(
                    partner, "contact", company_getter=lambda p, c=row.connection_id.company_id: c)
            else:
                move._coworks_link_write(row.connection_id, {"remote_id": None, "remote_status": None})
            move.with_context(coworks_sync_connection_id=row.connection_id.id)._coworks_xero_enqueue("upsert")
        self.sudo().unlink()
        return True

    def action_accept_xero(self):
        """Take Xero's side: a void or deletion made there is handled as if its webhook had
        come (the admin's void rule decides whether Odoo cancels the document)."""
        self._check_manager()
        rows = self.sudo()
        refused = rows.filtered(lambda r: not (r.problem == drift_rules.STATUS and r.remote_value in drift_rules.GONE))
        if refused:
            raise UserError(_(
                "Only a void or deletion made in Xero can be accepted from here. For %(what)s, push Odoo's "
                "version again, or correct the document in Odoo or in Xero.",
                what=", ".join(sorted(set(refused.mapped(lambda r: dict(PROBLEM_LABELS)[r.problem].lower()))))))
        Change = self.env["coworks.sync.inbound.change"].sudo()
        changes = Change.create([{
            "kind": "void", "remote_id": row.move_id.with_context(
                coworks_sync_connection_id=row.connection_id.id).xero_id or "?",
            "move_id": row.move_id.id, "remote_status": row.remote_value,
            "company_id": row.company_id.id, "connection_id": row.connection_id.id} for row in rows])
        self.env["coworks.sync.job"].sudo()._enqueue(changes, "inbound")
        rows.unlink()
        return True

    def action_ignore(self):
        self._check_manager()
        self.sudo().write({"state": "ignored"})
        return True

    @api.model
    def _coworks_drift_action(self, conn=None):
        action = self.env["ir.actions.act_window"]._for_xml_id("coworks_xero.action_sync_drift")
        if conn:
            action["domain"] = [("connection_id", "=", conn.id)]
        return action

    # ------------------------------------------------------------------ the check

    @api.model
    def _cron_check_drift(self):
        """A round over each usable connection's synced documents, a page at a time (see
        DRIFT_PAGE): each page commits, so a round over a book of any size spreads over as many
        cron runs as it needs (the next one is triggered at once when this one's time is up), and
        the round goes on from where it stopped. A page is put off while the outbound sync is
        using the organisation's minute budget. One failing connection is logged on it and never
        fails the others or the cron; its round goes on at the next run."""
        Cron = self.env["ir.cron"]
        cron = self.env.ref("coworks_xero.ir_cron_drift", raise_if_not_found=False)
        later = None
        for conn in self.env["coworks.sync.connection"].sudo().search([("state", "=", "connected")]):
            if not conn._coworks_drift_due():
                continue
            if not conn.drift_round_started_at:
                conn._coworks_drift_start_round()
                Cron._commit_progress()  # the round is under way even if its first page must wait
            while True:
                if conn._coworks_budget_short():  # the outbound sync goes first
                    later = later or fields.Datetime.now() + datetime.timedelta(seconds=DRIFT_BUSY_RETRY)
                    break
                try:
                    compared, finished = conn._coworks_drift_step()
                except Exception as exc:  # noqa: BLE001 - see above
                    self.env.cr.rollback()  # this page only: the pages before it are committed
                    # Xero's 429, or the client's own refusal before one (both status 429).
                    if getattr(exc, "kind", None) == prov.RETRYABLE and getattr(exc, "status", None) == 429:
                        # The organisation's budget is spent for now: not a failure, the page waits.
                        later = later or fields.Datetime.now() + datetime.timedelta(
                            seconds=max(DRIFT_BUSY_RETRY, int(exc.retry_after or 0)))
                    else:
                        conn._coworks_drift_failed(exc)
                        Cron._commit_progress()
                    break
                if Cron._commit_progress(compared) <= 0 and not finished:
                    if cron:
                        cron._trigger()  # time is up with pages left: the next run goes on at once
                    return
                if finished:
                    break
        if later and cron:
            cron._trigger(later)


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    drift_checked_at = fields.Datetime("Last compared", readonly=True, copy=False)
    drift_agree_count = fields.Integer("Documents that agree", readonly=True, copy=False)
    drift_differ_count = fields.Integer("Documents that differ", readonly=True, copy=False)
    drift_error = fields.Char("Last comparison failed", readonly=True, copy=False)
    # The round under way (a page at a time): when it began, the last document compared (by id),
    # how many were compared so far. No start: no round under way.
    drift_round_started_at = fields.Datetime("Comparison under way since", readonly=True, copy=False)
    drift_round_cursor = fields.Integer(readonly=True, copy=False)
    drift_round_compared = fields.Integer(readonly=True, copy=False)

    def _coworks_in_flight_move_ids(self, move_ids):
        """Documents with an open job of their own or on their money: not compared this round."""
        self.env["coworks.sync.job"].flush_model()
        self.env.cr.execute("""
            SELECT j.res_id FROM coworks_sync_job j
             WHERE j.connection_id = %s AND j.res_model = 'account.move' AND j.res_id = ANY(%s)
               AND j.state IN ('pending', 'error') AND j.kind != 'attachment'  -- its PDF: not the document
            UNION
            SELECT unnest(ARRAY[l.move_id, l.credit_note_id]) FROM coworks_xero_payment_link l
              JOIN coworks_sync_job j ON j.res_model = 'coworks.xero.payment.link' AND j.res_id = l.id
             WHERE l.connection_id = %s AND j.state IN ('pending', 'error')
               AND (l.move_id = ANY(%s) OR l.credit_note_id = ANY(%s))
        """, [self.id, list(move_ids), self.id, list(move_ids), list(move_ids)])
        return {r[0] for r in self.env.cr.fetchall() if r[0]}

    def _coworks_drift_due(self):
        """A round is under way, or none was finished within DRIFT_ROUND_EVERY."""
        self.ensure_one()
        return bool(self.drift_round_started_at or not self.drift_checked_at
                    or self.drift_checked_at <= fields.Datetime.now() - DRIFT_ROUND_EVERY)

    def _coworks_drift_failed(self, exc):
        _logger.warning("Drift check of connection %s failed: %s", self.id, exc)
        self.sudo().write({"drift_error": str(exc)[:500]})

    def _coworks_check_drift(self):
        """Compare all of this connection's synced documents with the organisation now, in this
        transaction (a manager's button on a book of moderate size, the tests); returns the
        number of documents that differ. The cron does the same a page a commit."""
        self.ensure_one()
        self.sudo().write({"drift_round_started_at": False})
        finished = False
        while not finished:
            _compared, finished = self._coworks_drift_step()
        return self.drift_differ_count

    def _coworks_drift_step(self):
        """Compare the next page of the round under way (starting one if none is): the next
        DRIFT_PAGE synced documents by id. Returns (documents compared, whether the round ended);
        the round's end records its figures."""
        self.ensure_one()
        conn = self.sudo()
        if not conn.drift_round_started_at:
            conn._coworks_drift_start_round()
        self.env["coworks.sync.link"].flush_model(["connection_id", "res_model", "res_id", "remote_id"])
        self.env["account.move"].flush_model(["move_type", "state"])
        self.env.cr.execute("""
            SELECT l.res_id FROM coworks_sync_link l JOIN account_move m ON m.id = l.res_id
             WHERE l.connection_id = %s AND l.res_model = 'account.move' AND l.remote_id IS NOT NULL
               AND m.move_type = ANY(%s) AND m.state IN ('posted', 'cancel') AND l.res_id > %s
             ORDER BY l.res_id LIMIT %s
        """, [self.id, list(KINDS), conn.drift_round_cursor, DRIFT_PAGE])
        page = [r[0] for r in self.env.cr.fetchall()]
        if not page:
            conn._coworks_drift_finish_round()
            return 0, True
        compared = self._coworks_drift_compare(self.env["account.move"].browse(page))
        conn.write({"drift_round_cursor": page[-1], "drift_round_compared": conn.drift_round_compared + compared})
        if len(page) < DRIFT_PAGE:
            conn._coworks_drift_finish_round()
            return compared, True
        return compared, False

    def _coworks_drift_start_round(self):
        # The transaction's time, as the rows' write_date (the round's figures count those written since).
        self.sudo().write({"drift_round_started_at": self.env.cr.now(), "drift_round_cursor": 0,
                           "drift_round_compared": 0})

    def _coworks_drift_finish_round(self):
        """The round's figures: documents compared in it that differ (rows written in it, not
        ignored) and those that agree."""
        Drift = self.env["coworks.sync.drift"].sudo()
        differ = len(set(Drift.search([("connection_id", "=", self.id), ("state", "!=", "ignored"),
                                       ("write_date", ">=", self.drift_round_started_at)]).mapped("move_id")))
        self.write({"drift_checked_at": fields.Datetime.now(), "drift_error": False,
                    "drift_agree_count": max(self.drift_round_compared - differ, 0), "drift_differ_count": differ,
                    "drift_round_started_at": False, "drift_round_cursor": 0, "drift_round_compared": 0})

    def _coworks_drift_compare(self, moves):
        """Compare these documents (one page) with the organisation and keep one row per
        difference; returns how many were compared (those in flight are not)."""
        moves = moves.sudo().with_context(coworks_sync_connection_id=self.id)
        in_flight = self._coworks_in_flight_move_ids(moves.ids)
        moves = moves.filtered(lambda m: m.id not in in_flight)
        provider = self._get_provider()
        differences = {}
        for move_type, kind in KINDS.items():
            group = moves.filtered(lambda m, t=move_type: m.move_type == t)
            if not group:
                continue
            remote = provider.remote_documents(kind, group.mapped("xero_id"))
            for move in group:
                differences[move] = drift_rules.compare(self._coworks_drift_host(move), remote.get(move.xero_id.lower()))
        Drift = self.env["coworks.sync.drift"].sudo()
        existing = {(r.move_id.id, r.problem): r
                    for r in Drift.search([("connection_id", "=", self.id), ("move_id", "in", moves.ids)])}
        seen = set()
        for move, found in differences.items():
            for diff in found:
                key = (move.id, diff.problem)
                seen.add(key)
                vals = {"odoo_value": diff.host_value, "remote_value": diff.remote_value, "note": diff.sentence}
                if key in existing:
                    # Written even when unchanged: the round's figures count the rows written in it.
                    existing[key].write(vals)
                else:
                    Drift.create(dict(vals, connection_id=self.id, move_id=move.id, problem=diff.problem))
        # Resolved since the last round.
        Drift.browse([r.id for key, r in existing.items() if key not in seen]).unlink()
        return len(differences)

    def _coworks_drift_host(self, move):
        partner = move.commercial_partner_id.with_company(self.company_id).with_context(
            coworks_sync_connection_id=self.id)
        digits = move.currency_id.decimal_places
        total, residual = _dec(move.amount_total, digits), _dec(move.amount_residual, digits)
        return drift_rules.HostDocument(
            ref=f"account.move,{move.id}", label=move.name or str(move.id), posted=move.state == "posted",
            total=total, paid=total - residual if move.state == "posted" else _dec(0, digits),
            contact_id=partner.xero_contact_id or "", currency_code=move.currency_id.name,
            date=move.invoice_date or move.date)

    def action_coworks_check_drift(self):
        """Compare now. A book larger than DRIFT_INLINE documents is compared by the cron, a page
        a commit, as a request could not wait for it (it would overrun the server's time limit)."""
        self.ensure_one()
        if not self.env.user.has_group("coworks_xero.group_xero_manager"):
            raise UserError(_("Only Xero managers compare the documents."))
        conn = self.sudo()
        synced = self.env["coworks.sync.link"].sudo().search_count([
            ("connection_id", "=", self.id), ("res_model", "=", "account.move"), ("remote_id", "!=", False)])
        if synced > DRIFT_INLINE:
            conn.write({"drift_round_started_at": False})
            conn._coworks_drift_step()  # starts the round (and compares its first page)
            self.env.ref("coworks_xero.ir_cron_drift")._trigger()
            return {"type": "ir.actions.client", "tag": "display_notification", "params": {
                "type": "info", "message": _(
                    "Comparing %s documents with Xero in the background, a page at a time within Xero's call "
                    "limits: the figures appear on this page when it is done.", synced)}}
        differ = conn._coworks_check_drift()
        return self.env["coworks.sync.drift"]._coworks_drift_action(self) if differ else {
            "type": "ir.actions.client", "tag": "display_notification",
            "params": {"type": "success", "message": _("%s documents agree with Xero.", self.drift_agree_count)}}

"""The drift report: every synced document compared with what the organisation holds.

A daily cron (and a button) reads the linked invoices and credit notes back from the provider,
50 to a request through the connection's rate limiter, compares them with Odoo
(``services/drift.py``) and keeps one row per difference, with one-click fixes. Documents whose
sync is still under way (an open job on them or on their money) are left out of that round:
they are not in disagreement, only not there yet.
"""
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..services import drift as drift_rules
from .account_move import _dec
from ..services import provider as prov

_logger = logging.getLogger(__name__)

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
        """Every usable connection, one after the other; one failing connection is logged on it
        and never fails the others or the cron."""
        for conn in self.env["coworks.sync.connection"].sudo().search([("state", "=", "connected")]):
            try:
                with self.env.cr.savepoint():
                    conn._coworks_check_drift()
            except Exception as exc:  # noqa: BLE001 - see above
                _logger.warning("Drift check of connection %s failed: %s", conn.id, exc)
                conn.sudo().write({"drift_error": str(exc)[:500]})


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    drift_checked_at = fields.Datetime("Last compared", readonly=True, copy=False)
    drift_agree_count = fields.Integer("Documents that agree", readonly=True, copy=False)
    drift_differ_count = fields.Integer("Documents that differ", readonly=True, copy=False)
    drift_error = fields.Char("Last comparison failed", readonly=True, copy=False)

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
        """, [self.id, list(move_ids), self.id])
        return {r[0] for r in self.env.cr.fetchall() if r[0]}

    def _coworks_check_drift(self):
        """Compare this connection's synced documents with the organisation; returns the
        number of documents that differ."""
        self.ensure_one()
        Link = self.env["coworks.sync.link"].sudo()
        links = Link.search([("connection_id", "=", self.id), ("res_model", "=", "account.move"),
                             ("remote_id", "!=", False)])
        moves = self.env["account.move"].sudo().with_context(coworks_sync_connection_id=self.id).browse(
            links.mapped("res_id")).exists().filtered(lambda m: m.move_type in KINDS and m.state in ("posted", "cancel"))
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
        existing = {(r.move_id.id, r.problem): r for r in Drift.search([("connection_id", "=", self.id)])}
        seen = set()
        for move, found in differences.items():
            for diff in found:
                key = (move.id, diff.problem)
                seen.add(key)
                vals = {"odoo_value": diff.host_value, "remote_value": diff.remote_value, "note": diff.sentence}
                if key in existing:
                    existing[key].write(vals)
                else:
                    Drift.create(dict(vals, connection_id=self.id, move_id=move.id, problem=diff.problem))
        # Resolved since the last round (or no longer compared: cancelled everywhere, in flight).
        compared = {m.id for m in differences}
        Drift.browse([r.id for key, r in existing.items() if key not in seen and key[0] in compared]).unlink()
        ignored = {key for key, r in existing.items() if r.state == "ignored"}
        differ = {key[0] for key in seen if key not in ignored}
        self.sudo().write({"drift_checked_at": fields.Datetime.now(), "drift_error": False,
                           "drift_agree_count": len(compared - differ), "drift_differ_count": len(differ)})
        return len(differ)

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
        self.ensure_one()
        if not self.env.user.has_group("coworks_xero.group_xero_manager"):
            raise UserError(_("Only Xero managers compare the documents."))
        differ = self.sudo()._coworks_check_drift()
        return self.env["coworks.sync.drift"]._coworks_drift_action(self) if differ else {
            "type": "ir.actions.client", "tag": "display_notification",
            "params": {"type": "success", "message": _("%s documents agree with Xero.", self.drift_agree_count)}}

"""What happens in Xero comes back to Odoo.

- ``coworks.sync.inbound.event``: one row per webhook event Xero delivered (the controller only
  verifies, stores and triggers; a redelivered event is the same row).
- ``coworks.sync.inbound.change``: one row per fact to apply in Odoo (a payment made in Xero, a
  void or delete made in Xero), unique per Xero ID, applied by a sync job of kind ``inbound``.
  The engine runs it like any job: its snapshot hook applies the change and ends the job with a
  note (``_Skip``), or raises what a person must fix (``MappingError``, with an ``error_kind``),
  so Retry, the sync log and the chatter work as for everything else, and nothing is sent.
- ``_coworks_xero_inbound_run`` (called by the sync cron before it sends) reads the documents the
  events named, and every 15 minutes (hourly while webhooks arrive) pulls what changed since the
  connection's high-water mark
  (``If-Modified-Since``), so what webhooks missed is found; it writes Xero's status and amount
  due on the Odoo documents and queues the changes.
"""
import contextlib
import datetime
import logging
import time
from decimal import Decimal

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools.misc import clean_context

from ..services import provider as prov
from ..services import send_thread
from ..services.xero import inbound as xin
from .sync_connection import BUSY_MINUTE_CALLS  # noqa: F401 - named in the comments and tests
from .sync_engine import DependencyPending, _Skip
from .xero_mapping import MappingError

_logger = logging.getLogger(__name__)

PARAM_WEBHOOK_KEY = "coworks_xero.webhook_key"
WEBHOOK_PATH = "/coworks_xero/webhook"
# The catch-up pull costs three calls of the organisation's 5,000 a day each time: every 15
# minutes (~290 calls a day) when webhooks are not arriving, hourly (~70) when they are.
PULL_INTERVAL = datetime.timedelta(minutes=15)
PULL_INTERVAL_WITH_WEBHOOKS = datetime.timedelta(hours=1)
# System parameters (minutes, decimals allowed) overriding those two, e.g. for a tighter pull.
PARAM_PULL_MINUTES = "coworks_xero.inbound_pull_minutes"
PARAM_PULL_MINUTES_WITH_WEBHOOKS = "coworks_xero.inbound_pull_minutes_with_webhooks"
EVENTS_PER_RUN = 500
# Webhooks arriving faster than runs end make a run each (two reads: the documents, then the
# payments whose bank account Odoo lacks). While this process has used BUSY_MINUTE_CALLS (sync_connection) of the
# organisation's 60 calls a minute, a run reads what webhooks named at most every
# BUSY_READ_SPACING seconds (it waits the rest, then reads every event stored meanwhile in one
# go), so webhook reads stay within ~2 x 60 / 2.5 = 48 calls a minute and the outbound sync keeps
# its share; below it, the run reads at once. Spaced here, a run's reads are not paced again by the
# limiter (XeroInbound.spaced_by_caller): paced, its second read waited ~2 s behind the first.
BUSY_READ_SPACING = 2.5
_last_webhook_read = {}  # {(database, connection id): time.monotonic() of this process's last read}
# A payment entered in Xero reaches Odoo through its invoice's webhook: the invoice is read, then
# the payments it lists that Odoo lacks (their bank account is not on the invoice). While runs keep
# needing that second read (someone entering payments in Xero), it goes alongside the first: the
# payments Xero changed since this process's previous webhook read (less PAYMENTS_AHEAD_MARGIN,
# for webhooks that came late), one call like the read by id, without waiting for the invoice's
# answer (~0.5 s off each payment's way to Odoo, bench/inbound.py). A run whose read ahead was not
# needed stops it (webhooks of Odoo's own sends need no payment read: no call is spent on them).
PAYMENTS_AHEAD_MARGIN = datetime.timedelta(seconds=30)
_payments_ahead = {}  # {(database, connection id): (naive UTC start of the previous read, it needed payments)}
# What the inbound sync acts on, whichever provider sent it (a provider's reader may also name payments).
HANDLED_CATEGORIES = xin.HANDLED_CATEGORIES | {"PAYMENT"}
EVENT_RETENTION_DAYS = 30

VOID_RULES = [
    ("flag", "Flag only"),
    ("cancel_unpaid", "Cancel in Odoo when nothing is paid"),
]
CHANGE_KINDS = [("payment", "Payment made in Xero"), ("allocation", "Credit note applied in Xero"),
                ("void", "Void or delete made in Xero"), ("payment_deleted", "Payment deleted in Xero"),
                ("allocation_deleted", "Credit allocation deleted in Xero")]
ALLOCATION_LINK_KINDS = {"allocation": "credit_note", "overpayment_allocation": "overpayment"}


def _id_forms(remote_ids):
    """Xero GUIDs as stored: Xero answers in lower case, the upper form covers hand-typed ones."""
    return sorted({form for rid in remote_ids if rid for form in (rid.lower(), rid.upper())})


def _open_payment_lines(move):
    """The document's open receivable/payable lines: one is the payment wizard's "edit mode"
    (the amount as given); several (installments) are the wizard's own business."""
    return move.line_ids.filtered(
        lambda l: l.account_id.account_type in ("asset_receivable", "liability_payable") and not l.reconciled)


class InboundProblem(MappingError):
    """A change from Xero that a person must decide on (the engine records ``error_kind``)."""

    def __init__(self, message, error_kind=prov.CONFLICT):
        super().__init__(message)
        self.error_kind = error_kind


class CoworksSyncInboundEvent(models.Model):
    _name = "coworks.sync.inbound.event"
    _description = "Webhook event received from Xero"
    _order = "id desc"
    _log_access = False

    connection_id = fields.Many2one("coworks.sync.connection", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    event_key = fields.Char(required=True, help="Xero redelivers an event with the same fields: one row per event.")
    tenant_id = fields.Char("Organisation ID")
    category = fields.Char()
    event_type = fields.Char()
    resource_id = fields.Char("Xero ID")
    event_date = fields.Datetime("Happened in Xero")
    received_at = fields.Datetime(required=True, index=True)
    state = fields.Selection([("new", "To read"), ("done", "Read"), ("ignored", "Ignored")],
                             default="new", required=True, index=True)

    _event_key_uniq = models.Constraint("UNIQUE(connection_id, event_key)", "Each Xero event is stored once.")

    @api.model
    def _store(self, events, provider="xero"):
        """Store verified webhook events (idempotent: a redelivery inserts nothing); returns how
        many are new. One SQL statement, no ORM work: the webhook answers within Xero's 5 s."""
        if not events:
            return 0
        self.env.cr.execute("""SELECT id, company_id, lower(tenant_id) FROM coworks_sync_connection
                                WHERE active AND provider = %s AND tenant_id IS NOT NULL
                                  AND lower(tenant_id) = ANY(%s)""",
                            [provider, list({e.tenant_id.lower() for e in events})])
        conns = {}
        for conn_id, company_id, tenant in self.env.cr.fetchall():
            conns.setdefault(tenant, []).append((conn_id, company_id))
        rows = []
        now = fields.Datetime.now()
        for ev in events:
            for conn_id, company_id in conns.get(ev.tenant_id.lower(), ()):
                rows += [conn_id, company_id, ev.key, ev.tenant_id, ev.category, ev.event_type,
                         ev.resource_id, ev.event_date, now]
        if not rows:
            return 0
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'new')"] * (len(rows) // 9))
        self.env.cr.execute(f"""
            INSERT INTO coworks_sync_inbound_event
                (connection_id, company_id, event_key, tenant_id, category, event_type, resource_id,
                 event_date, received_at, state)
            VALUES {values}
            ON CONFLICT (connection_id, event_key) DO NOTHING""", rows)
        return self.env.cr.rowcount

    @api.autovacuum
    def _gc_read_events(self):
        limit = fields.Datetime.now() - datetime.timedelta(days=EVENT_RETENTION_DAYS)
        self.sudo().search([("state", "!=", "new"), ("received_at", "<", limit)]).unlink()


class CoworksSyncInboundChange(models.Model):
    _name = "coworks.sync.inbound.change"
    _description = "Change made in Xero, to apply in Odoo"
    _order = "id desc"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True)
    connection_id = fields.Many2one("coworks.sync.connection", required=True, index=True, ondelete="cascade")
    kind = fields.Selection(CHANGE_KINDS, required=True)
    remote_id = fields.Char("Xero ID", required=True, help="The PaymentID, or the voided document's ID.")
    move_id = fields.Many2one("account.move", "Document", index=True, ondelete="cascade", check_company=True)
    credit_note_id = fields.Many2one("account.move", "Credit note", ondelete="cascade", check_company=True,
                                     help="Credit note applied in Xero to the document.")
    remote_status = fields.Char("Xero status")
    amount = fields.Monetary(currency_field="currency_id")
    currency_id = fields.Many2one("res.currency")
    currency_rate = fields.Float(digits=(16, 6))
    date = fields.Date()
    reference = fields.Char()
    remote_account_id = fields.Char("Xero bank account ID")
    remote_account_label = fields.Char("Xero bank account")
    payment_id = fields.Many2one("account.payment", "Odoo payment", ondelete="set null", readonly=True)
    state = fields.Selection([("pending", "To apply"), ("applied", "Applied"), ("flagged", "Flagged only")],
                             default="pending", required=True)

    _one_per_remote = models.Constraint(
        "UNIQUE(connection_id, kind, remote_id)", "This change from Xero is already recorded.")

    @api.depends("kind", "move_id", "amount", "remote_status")
    def _compute_display_name(self):
        for change in self:
            doc = change.move_id.name or ""
            amount = f"{change.amount:.2f} {change.currency_id.name or ''}".strip()
            if change.kind == "payment":
                change.display_name = _("Xero payment %(amount)s → %(doc)s", amount=amount, doc=doc)
            elif change.kind == "allocation":
                change.display_name = _("Xero credit %(cn)s %(amount)s → %(doc)s",
                                        cn=change.credit_note_id.name or "", amount=amount, doc=doc)
            elif change.kind == "allocation_deleted":
                change.display_name = _("Credit %(amount)s removed from %(doc)s in Xero", amount=amount, doc=doc)
            else:
                change.display_name = _("%(status)s in Xero: %(doc)s",
                                        status=(change.remote_status or "VOIDED").capitalize(), doc=doc)

    # ------------------------------------------------------------------ reading Xero

    @api.model
    def _coworks_xero_inbound_run(self):
        """Read what changed in Xero for every connected organisation and queue it; each
        connection in its own transaction, a failure logged on the connection, never raised."""
        Job = self.env["coworks.sync.job"].sudo()
        conns = Job._sync_connections_by_company(self.env["res.company"].sudo().search([]))
        for conn in conns.values():
            if conn.state != "connected" or not conn.tenant_id or not conn._coworks_reads_changes():
                continue
            try:
                conn._coworks_xero_inbound_sync()
                self.env.cr.commit()
            except Exception as exc:  # noqa: BLE001 - the outbound sync goes on; the next run reads again
                self.env.cr.rollback()
                self.env.invalidate_all()
                classified = getattr(exc, "kind", None)  # XeroError / ProviderError: the client's
                _logger.warning("Sync: reading changes from %s failed for connection %s: %s",
                                conn._provider_label(), conn.id, getattr(exc, "message", None) or exc,
                                exc_info=classified is None)
                try:
                    # Noted only, even when Xero wants a re-authorisation: the sender, meeting the
                    # same refusal, pauses the connection and says so on each job it holds.
                    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                    conn._note_call_failure(_("Reading changes from Xero failed: %s", message))
                except Exception:  # noqa: BLE001
                    _logger.info("Sync: could not note the failure", exc_info=True)

    # ------------------------------------------------------------------ sync engine hooks

    def _coworks_xero_snapshot(self, job, conn):
        """Apply this change in Odoo (nothing is ever sent): ends in ``_Skip`` (done, with what
        was done) or raises what a person must fix."""
        self.ensure_one()
        if self.kind == "payment":
            self._apply_payment(conn)
        elif self.kind == "payment_deleted":
            self._apply_payment_deleted(conn, job)
        elif self.kind == "allocation":
            self._apply_allocation(conn)
        elif self.kind == "allocation_deleted":
            self._apply_allocation_deleted(conn)
        else:
            self._apply_void(conn)

    @api.model
    def _coworks_xero_deleted_snapshot(self, job, conn):
        raise _Skip(_("The change was deleted; nothing to do."))

    def _message_log(self, **kwargs):
        for change in self:
            if change.move_id:
                change.move_id.sudo()._message_log(**kwargs)

    # ------------------------------------------------------------------ payments

    def _coworks_xero_prefetch(self, conn):
        """The engine's batch hook (before the snapshots): the Xero payments of this batch that
        can be registered as they are, are registered together (see ``_register_payments``);
        each snapshot then only says so. Anything else, or anything failing here, is left to
        the change's own ``_apply_payment``, which says what to fix."""
        changes = self.filtered(lambda c: c.kind == "payment" and c.state == "pending" and not c.payment_id)
        if len(changes) < 2:
            return
        ready = changes._payments_ready(conn)
        if len(ready) < 2:
            return
        try:
            with self.env.cr.savepoint():
                registered = self._register_payments(ready)
        except Exception:  # noqa: BLE001 - each change is then applied alone, and fails alone
            _logger.info("Xero sync: registering %s Xero payments together failed; one by one", len(ready),
                         exc_info=True)
            self.env.invalidate_all()
            return
        memo = self.env.cr.cache.setdefault("coworks_xero.registered", {})
        for change, payment, journal in registered:
            memo[change.id] = (payment.id, journal.id)

    def _payments_ready(self, conn):
        """[(change, move, journal)] of these payment changes that nothing stops (what
        ``_apply_payment`` checks before registering, read once for all: the links, the waiting
        Odoo payments, the journal mappings); one change per document."""
        Link = self.env["coworks.xero.payment.link"].sudo()
        linked = conn._coworks_xero_linked_payment_ids({c.remote_id.lower() for c in self})
        moves = self.move_id.sudo()
        waiting = set(Link.search([("move_id", "in", moves.ids), ("state", "=", "pending"),
                                   ("xero_id", "=", False)]).move_id.ids) if moves else set()
        journals = {}
        out, seen = [], set()
        for change in self:
            move = change.move_id.sudo()
            if (not move or change.remote_id.lower() in linked or move.id in seen or move.id in waiting
                    or move.state != "posted"
                    or move.currency_id.compare_amounts(change.amount, move.amount_residual) > 0
                    or len(_open_payment_lines(move)) != 1):
                continue
            key = ((change.remote_account_id or "").lower(), change.remote_account_label or "")
            if key not in journals:
                try:
                    journals[key] = change._journal_for(conn)
                except InboundProblem:
                    journals[key] = None
            if journals[key]:
                seen.add(move.id)
                out.append((change, move, journals[key]))
        return out

    def _register_payments(self, items):
        """Register Xero payments [(change, move, journal)] in Odoo as the payment wizard does
        (one wizard each: the same payment values, memo, date, journal, method and partner bank),
        but created in one go, posted in one go (their entries generated together), then
        reconciled with their documents in one plan (``_reconcile_registered``); their
        links are these Xero payments already (no echo, no job). Writes each change's payment;
        returns [(change, payment, journal)]."""
        to_process, wizards = [], []
        for change, move, journal in items:
            wizard = change._payment_wizard(move, journal)
            [batch] = wizard.batches  # one open receivable line: the wizard's "edit mode"
            create_vals = wizard._create_payment_vals_from_wizard(batch)
            if (create_vals.get("write_off_line_vals") == [] and "force_balance" not in create_vals
                    and create_vals["currency_id"] == batch["lines"].currency_id.id):
                # Nothing to write off and the document's own currency (the wizard's balance fix
                # after creating needs none): the entries are Odoo's default ones, generated for
                # all payments in one go when they are posted (account.payment.write), instead
                # of one create each (a third of the time of registering, bench/inbound.py).
                del create_vals["write_off_line_vals"]
            values = {"create_vals": create_vals, "to_reconcile": batch["lines"], "batch": batch}
            if wizard.writeoff_is_exchange_account and wizard.currency_id == wizard.company_currency_id:
                residual = sum(batch["lines"].mapped("amount_residual_currency"))
                values["rate"] = abs(residual / wizard.amount) if wizard.amount else 0.0
            to_process.append(values)
            wizards.append(wizard)
        wizard = wizards[0].with_context(clean_context(wizards[0].env.context), coworks_xero_no_credit_sync=True)
        payments = wizard._init_payments(to_process, edit_mode=True)
        wizard._post_payments(to_process, edit_mode=True)
        from_xero = tuple((pay.id, move.id, change.remote_id) for pay, (change, move, _j) in zip(payments, items))
        for values in to_process:  # the reconciliation runs in the payments' environment
            values["payment"] = values["payment"].with_context(coworks_xero_from_xero=from_xero)
        self._reconcile_registered(wizard, to_process)
        payments = payments.with_context(coworks_xero_no_credit_sync=False)
        self.env["coworks.xero.payment.link"]._coworks_xero_sync_credit(payments)
        out = []
        for payment, (change, move, journal) in zip(payments, items):
            change.write({"payment_id": payment.id, "state": "applied"})
            out.append((change, payment, journal))
        return out

    @api.model
    def _reconcile_registered(self, wizard, to_process):
        """Reconcile the payments just posted with their documents, as the wizard's
        ``_reconcile_payments`` does (the same lines, account by account, then the payment
        listed on its document), but through one reconciliation plan for all of them: Odoo's
        batch API (``account.move.line._reconcile_plan``) reads and checks the entries once,
        where the wizard's loop does it for each payment (bench/inbound.py: half of what was
        left of registering). A payment reconciled at a rate of its own (an exchange
        difference booked by the wizard) goes through the wizard's loop, which passes it."""
        domain = [
            ("parent_state", "=", "posted"),
            ("account_type", "in", self.env["account.payment"]._get_valid_payment_account_types()),
            ("reconciled", "=", False),
        ]
        plan, planned, own_rate = [], [], []
        for values in to_process:
            if "rate" in values:
                own_rate.append(values)
                continue
            payment = values["payment"]
            payment_lines = payment.move_id.line_ids.filtered_domain(domain)
            for account in payment_lines.account_id:
                plan.append((payment_lines + values["to_reconcile"]).filtered_domain(
                    [("account_id", "=", account.id), ("reconciled", "=", False)]))
            planned.append(values)
        if plan:
            plan[0].browse()._reconcile_plan(plan)  # the payments' environment (see the caller)
        for values in planned:
            # The same link as the wizard's ``move.matched_payment_ids += payment``, written from
            # the payment's side of the relation: the ORM recomputes what depends on either side,
            # and a link is not worth account.move.write's checks of every line of the invoice
            # (0.1 s a payment, most of what was left of reconciling).
            values["payment"].invoice_ids = [Command.link(move.id) for move in values["to_reconcile"].move_id]
        if own_rate:
            wizard._reconcile_payments(own_rate, edit_mode=True)

    def _apply_payment(self, conn):
        move = self.move_id.sudo()
        Link = self.env["coworks.xero.payment.link"].sudo()
        registered = self.env.cr.cache.get("coworks_xero.registered", {}).pop(self.id, None)
        if registered and self.payment_id.id == registered[0]:
            # registered with the others of its batch (``_coworks_xero_prefetch``)
            self._payment_registered(self.payment_id, self.env["account.journal"].browse(registered[1]))
        if self.payment_id or Link.search_count([("connection_id", "=", conn.id),
                                                 ("xero_id", "in", _id_forms([self.remote_id]))]):
            self.state = "applied"
            raise _Skip(_("Xero payment %s is already in Odoo.", self.remote_id), sent=True)
        if not move:
            raise InboundProblem(_("Xero payment %s is on a document Odoo no longer has: nothing to apply; "
                                   "cancel this entry.", self.remote_id))
        # Odoo's own money on this document whose Xero answer is not recorded yet may be this very
        # payment: wait for the answer instead of registering it a second time.
        waiting = Link.search([("move_id", "=", move.id), ("state", "=", "pending"), ("xero_id", "=", False)])
        if waiting and self.env["coworks.sync.job"].sudo().search_count([
                ("res_model", "=", Link._name), ("res_id", "in", waiting.ids), ("state", "=", "pending"),
                ("maybe_sent", "=", True)]):
            raise DependencyPending(_("Waiting for Odoo's own payment on %s to reach Xero first.", move.name))
        journal = self._journal_for(conn)
        if move.state != "posted":
            raise InboundProblem(_(
                "A payment of %(amount)s %(cur)s was made in Xero on %(doc)s (%(date)s), but the document is "
                "%(state)s in Odoo. Post it again and Retry, or remove the payment in Xero and cancel this entry.",
                amount=self.amount, cur=self.currency_id.name, doc=move.name, date=self.date,
                state=dict(move._fields["state"]._description_selection(self.env)).get(move.state)))
        if move.currency_id.compare_amounts(self.amount, move.amount_residual) > 0:
            raise InboundProblem(_(
                "A payment of %(amount)s %(cur)s was made in Xero on %(doc)s (%(date)s, reference “%(ref)s”), but "
                "Odoo has only %(due)s %(cur)s left to pay on it (it is already paid or closed in Odoo). Check for a "
                "double payment: remove one in Xero or in Odoo, then Retry (or cancel this entry).",
                amount=self.amount, cur=self.currency_id.name, doc=move.name, date=self.date,
                ref=self.reference or "", due=move.amount_residual))
        if len(_open_payment_lines(move)) == 1:
            [(_change, payment, _journal)] = self._register_payments([(self, move, journal)])
        else:  # installments (several open lines): the wizard as a person uses it
            payment = self._register_with_wizard(move, journal)
        self._payment_registered(payment, journal)

    def _payment_wizard(self, move, journal):
        """Odoo's payment wizard filled in with this Xero payment, as a person would fill it."""
        self.ensure_one()
        return self.env["account.payment.register"].sudo().with_context(
            active_model="account.move", active_ids=move.ids).create({
                "journal_id": journal.id, "amount": self.amount, "currency_id": move.currency_id.id,
                "payment_date": self.date or fields.Date.context_today(self),
                "communication": self.reference or _("Xero payment"),
                "payment_difference_handling": "open"})

    def _register_with_wizard(self, move, journal):
        payment = self._payment_wizard(move, journal)._create_payments()
        # No echo: the reconciliation just made has a link of its own, queued to be sent; it is
        # this Xero payment already.
        Link = self.env["coworks.xero.payment.link"].sudo()
        links = Link.search([("payment_id", "=", payment.id), ("move_id", "=", move.id)])
        links.write({"xero_id": self.remote_id, "state": "synced"})
        note = _("Came from Xero (payment %s): not sent back.", self.remote_id)
        self.env["coworks.sync.job"].sudo().search([
            ("res_model", "=", Link._name), ("res_id", "in", links.ids), ("state", "in", ("pending", "error"))]).write(
            {"state": "done", "date_done": fields.Datetime.now(), "log_note": note, "error_kind": False,
             "error_message": False, "next_attempt_at": False})
        self.write({"payment_id": payment.id, "state": "applied"})
        return payment

    def _payment_registered(self, payment, journal):
        body = _("Payment of %(amount)s %(cur)s made in Xero on %(date)s (reference “%(ref)s”, %(account)s) "
                 "registered as %(payment)s on %(journal)s.", amount=self.amount, cur=self.currency_id.name,
                 date=self.date, ref=self.reference or "", account=self.remote_account_label or "",
                 payment=payment.name, journal=journal.name)
        self.move_id.sudo()._message_log(body=body)
        raise _Skip(body, sent=True)

    def _apply_payment_deleted(self, conn, job):
        """A payment this integration keeps in Xero was deleted there. One that came from Xero is
        removed in Odoo too (its Odoo payment is cancelled, nothing sent back). Odoo's own
        payment is Odoo's to decide: the first time a person is asked; their Retry then sends it
        to Xero again, unless they cancelled it in Odoo meanwhile."""
        Link = self.env["coworks.xero.payment.link"].sudo()
        Job = self.env["coworks.sync.job"].sudo()
        links = Link.search([("connection_id", "=", conn.id), ("xero_id", "in", _id_forms([self.remote_id]))])
        live = links.filtered(lambda l: l.state == "synced")
        payment = live.payment_id[:1]
        if not live or not payment or payment.state == "canceled":
            self.state = "applied"
            raise _Skip(_("Xero payment %s is no longer in Odoo either: nothing to do.", self.remote_id), sent=True)
        doc = live.move_id[:1]
        from_xero = self.search_count([("connection_id", "=", conn.id), ("kind", "=", "payment"),
                                       ("payment_id", "=", payment.id)])
        if from_xero:
            live.write({"state": "to_delete"})
            payment.action_draft()
            payment.action_cancel()
            # No echo: what the cancellation queued for Xero is done there already.
            gone = Link.search([("payment_id", "=", payment.id), ("state", "in", ("to_delete", "pending"))])
            gone.write({"state": "deleted"})
            Job.search([("res_model", "=", Link._name), ("res_id", "in", gone.ids),
                        ("state", "in", ("pending", "error"))]).write(
                {"state": "done", "date_done": fields.Datetime.now(), "error_kind": False, "error_message": False,
                 "log_note": _("Deleted in Xero (payment %s): not sent back.", self.remote_id)})
            self.state = "applied"
            body = _("Payment %(payment)s came from Xero and was deleted there: cancelled in Odoo too.",
                     payment=payment.name)
            doc._message_log(body=body)
            raise _Skip(body, sent=True)
        if job.person_notified:
            # The person retried without cancelling the Odoo payment: it goes to Xero again.
            live.write({"state": "pending", "xero_id": False})
            live._coworks_xero_enqueue("upsert")
            self.state = "applied"
            body = _("Payment %(payment)s, deleted in Xero, is kept in Odoo and sent to Xero again.",
                     payment=payment.name)
            doc._message_log(body=body)
            raise _Skip(body, sent=True)
        self.state = "flagged"
        doc._message_log(body=_("Payment %(payment)s (%(amount)s %(cur)s) was deleted in Xero.",
                                payment=payment.name, amount=payment.amount, cur=payment.currency_id.name))
        raise InboundProblem(_(
            "Payment %(payment)s of %(amount)s %(cur)s on %(doc)s was deleted in Xero, but Odoo still has it. If the "
            "deletion was right, cancel %(payment)s in Odoo, then Retry (nothing is sent). Otherwise Retry now: the "
            "payment is sent to Xero again.", payment=payment.name, amount=payment.amount,
            cur=payment.currency_id.name, doc=doc.name or ""), error_kind="conflict")

    def _apply_allocation(self, conn):
        invoice, credit = self.move_id.sudo(), self.credit_note_id.sudo()
        Link = self.env["coworks.xero.payment.link"].sudo()
        if Link.search_count([("connection_id", "=", conn.id), ("xero_id", "in", _id_forms([self.remote_id]))]):
            self.state = "applied"
            raise _Skip(_("Xero allocation %s is already in Odoo.", self.remote_id), sent=True)
        waiting = Link.search([("move_id", "=", invoice.id), ("credit_note_id", "=", credit.id),
                               ("state", "=", "pending"), ("xero_id", "=", False)])
        if waiting and self.env["coworks.sync.job"].sudo().search_count([
                ("res_model", "=", Link._name), ("res_id", "in", waiting.ids), ("state", "=", "pending"),
                ("maybe_sent", "=", True)]):
            raise DependencyPending(_("Waiting for Odoo's own allocation of %s to reach Xero first.", credit.name))
        if invoice.state != "posted" or credit.state != "posted":
            raise InboundProblem(_(
                "%(cn)s was applied to %(doc)s in Xero (%(amount)s %(cur)s), but one of them is not posted in Odoo. "
                "Post it and Retry, or remove the allocation in Xero and cancel this entry.",
                cn=credit.name, doc=invoice.name, amount=self.amount, cur=self.currency_id.name))
        lines = (invoice.line_ids | credit.line_ids).filtered(
            lambda l: l.account_id.account_type == "asset_receivable" and not l.reconciled)
        available = min(invoice.amount_residual, credit.amount_residual)
        if invoice.currency_id.compare_amounts(self.amount, available) != 0 or len(lines.move_id) != 2:
            raise InboundProblem(_(
                "%(cn)s was applied to %(doc)s in Xero for %(amount)s %(cur)s, but in Odoo the two can only be "
                "matched for %(available)s %(cur)s (what is left on both). Match them in Odoo as Xero did (or change "
                "the allocation in Xero), then Retry or cancel this entry.", cn=credit.name, doc=invoice.name,
                amount=self.amount, cur=self.currency_id.name, available=available))
        lines.reconcile()
        partials = lines.matched_debit_ids | lines.matched_credit_ids
        links = Link.search([("partial_id", "in", partials.ids), ("kind", "=", "allocation"),
                             ("move_id", "=", invoice.id), ("credit_note_id", "=", credit.id),
                             ("xero_id", "=", False), ("state", "=", "pending")])
        links.write({"xero_id": self.remote_id, "state": "synced"})
        self.env["coworks.sync.job"].sudo().search([
            ("res_model", "=", Link._name), ("res_id", "in", links.ids), ("state", "in", ("pending", "error"))]).write(
            {"state": "done", "date_done": fields.Datetime.now(), "next_attempt_at": False,
             "log_note": _("Came from Xero (allocation %s): not sent back.", self.remote_id)})
        self.state = "applied"
        body = _("%(cn)s applied to %(doc)s in Xero for %(amount)s %(cur)s: matched in Odoo too.",
                 cn=credit.name, doc=invoice.name, amount=self.amount, cur=self.currency_id.name)
        invoice._message_log(body=body)
        credit._message_log(body=body)
        raise _Skip(body, sent=True)

    def _apply_allocation_deleted(self, conn):
        """An allocation this integration made (a credit note, or a customer's credit, applied to
        an invoice) was deleted in Xero: the Odoo reconciliation it mirrors is removed too, with
        nothing sent back. Odoo's books locked at its date, or Odoo refusing, ask a person."""
        Link = self.env["coworks.xero.payment.link"].sudo()
        Job = self.env["coworks.sync.job"].sudo()
        link = Link.search([("connection_id", "=", conn.id), ("kind", "in", list(ALLOCATION_LINK_KINDS)),
                            ("xero_id", "in", _id_forms([self.remote_id]))], limit=1)
        partial = link.partial_id if link.state == "synced" else link.partial_id.browse()
        if not partial:
            if link.state == "synced":
                link.state = "deleted"  # its reconciliation is gone already: Odoo and Xero agree
            self.state = "applied"
            raise _Skip(_("Xero allocation %s is no longer matched in Odoo either: nothing to do.", self.remote_id),
                        sent=True)
        invoice = link.move_id
        source = link.credit_note_id or link.credit_payment_id or link.credit_statement_line_id
        what = _("%(src)s (%(amount)s %(cur)s) was removed from %(doc)s in Xero",
                 src=source.name or link.display_name, amount=link.amount, cur=link.currency_id.name,
                 doc=invoice.name)
        lock = invoice.company_id._get_user_fiscal_lock_date(invoice.journal_id)
        if partial.max_date and lock and partial.max_date <= lock:
            self.state = "flagged"
            raise InboundProblem(_(
                "%(what)s, but Odoo's books are locked up to %(lock)s and the two were matched on %(date)s, so Odoo "
                "keeps them matched. Either re-apply it in Xero and cancel this entry, or (with the period open, or "
                "as an accountant allowed to) un-match them in Odoo and Retry.",
                what=what, lock=lock, date=partial.max_date))
        try:
            with self.env.cr.savepoint():
                partial.unlink()
        except (UserError, ValidationError) as exc:
            self.state = "flagged"
            raise InboundProblem(_("%(what)s, but Odoo could not un-match them: %(why)s",
                                   what=what, why=exc.args[0] if exc.args else exc)) from None
        # No echo: the removal the unreconciliation queued is what Xero already did.
        gone = Link.search([("id", "=", link.id), ("state", "in", ("to_delete", "synced"))])
        gone.write({"state": "deleted"})
        Job.search([("res_model", "=", Link._name), ("res_id", "in", gone.ids), ("operation", "=", "cancel"),
                    ("state", "in", ("pending", "error"))]).write({
                        "state": "done", "date_done": fields.Datetime.now(), "next_attempt_at": False,
                        "error_kind": False, "error_message": False,
                        "log_note": _("Deleted in Xero already (allocation %s): not sent back.", self.remote_id)})
        self.state = "applied"
        body = _("%(what)s: un-matched in Odoo too (%(left)s %(cur)s is due on %(doc)s again).", what=what,
                 left=invoice.amount_residual, cur=invoice.currency_id.name, doc=invoice.name)
        for doc in (*(invoice | link.credit_note_id), *link.credit_payment_id, *link.credit_statement_line_id.move_id):
            doc._message_log(body=body)
        raise _Skip(body, sent=True)

    def _journal_for(self, conn):
        mapping = self.env["coworks.xero.journal.mapping"].sudo().search(
            [("connection_id", "=", conn.id), "|", ("bank_account_id.xero_id", "=ilike", self.remote_account_id),
             ("bank_account_id.code", "=", (self.remote_account_label or "").split(" ")[0] or "-")],
            order="id", limit=1)
        if not mapping:
            raise InboundProblem(_(
                "A payment of %(amount)s %(cur)s was made in Xero on %(doc)s into the Xero account “%(account)s”, "
                "which no Odoo journal is mapped to. Map a bank or cash journal to it (Invoicing > Configuration > "
                "Xero > Payment journals), then Retry.", amount=self.amount, cur=self.currency_id.name,
                doc=self.move_id.name, account=self.remote_account_label or self.remote_account_id),
                error_kind=prov.MAPPING)
        return mapping.journal_id

    # ------------------------------------------------------------------ voids

    def _apply_void(self, conn):
        move = self.move_id.sudo()
        status = self.remote_status or "VOIDED"
        if not move or move.state == "cancel":
            self.state = "applied"
            raise _Skip(_("%s in Xero; already cancelled in Odoo.", status.capitalize()), sent=True)
        if conn.inbound_void_rule != "cancel_unpaid":
            self.state = "flagged"
            body = _("%(status)s in Xero. Odoo's document is left as it is (rule: flag only): cancel it in Odoo if "
                     "that is right, or re-create it in Xero.", status=status.capitalize())
            move._message_log(body=body)
            raise _Skip(body, sent=True)
        paid = move.payment_state not in ("not_paid", "blocked") or \
            move.currency_id.compare_amounts(move.amount_residual, move.amount_total) != 0
        if paid:
            raise InboundProblem(_(
                "%(doc)s was %(status)s in Xero, but Odoo has payments or credit notes on it, so it is not cancelled "
                "automatically. Remove them in Odoo and Retry (or cancel %(doc)s yourself), or restore the document "
                "in Xero and cancel this entry.", doc=move.name, status=status.lower()))
        try:
            with self.env.cr.savepoint():
                move.button_cancel()
        except UserError as exc:
            raise InboundProblem(_("%(doc)s was %(status)s in Xero, but Odoo could not cancel it: %(why)s",
                                   doc=move.name, status=status.lower(), why=exc.args[0] if exc.args else exc)) from None
        # No echo: the void Odoo just queued is what Xero already did.
        self.env["coworks.sync.job"].sudo().search([
            ("res_model", "=", "account.move"), ("res_id", "=", move.id), ("operation", "=", "cancel"),
            ("state", "in", ("pending", "error"))]).write({
                "state": "done", "date_done": fields.Datetime.now(), "next_attempt_at": False,
                "log_note": _("%s in Xero already: not sent back.", status.capitalize())})
        self.state = "applied"
        body = _("%(status)s in Xero: cancelled in Odoo (rule: cancel when nothing is paid).", status=status.capitalize())
        move._message_log(body=body)
        raise _Skip(body, sent=True)


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    inbound_void_rule = fields.Selection(
        VOID_RULES, "Void or delete made in Xero", required=True, default="flag",
        help="Flag only: the Odoo document shows Xero's status and a note, nothing else changes.\n"
             "Cancel in Odoo when nothing is paid: the Odoo document is cancelled too, unless it has "
             "payments or credit notes in Odoo (then the sync log says what to do).")
    inbound_modified_since = fields.Datetime(
        "Changes read up to", copy=False, readonly=True,
        help="Xero's last modification time read by the catch-up pull (If-Modified-Since).")
    inbound_pulled_at = fields.Datetime("Last pull from Xero", copy=False, readonly=True)
    webhook_last_event_at = fields.Datetime("Last webhook event", compute="_compute_webhook_last_event_at")

    @api.model
    def _manager_writable_fields(self):
        return super()._manager_writable_fields() | {"inbound_void_rule"}

    def _compute_webhook_last_event_at(self):
        groups = dict(self.env["coworks.sync.inbound.event"].sudo()._read_group(
            [("connection_id", "in", self.ids)], ["connection_id"], ["received_at:max"]))
        for conn in self:
            conn.webhook_last_event_at = groups.get(conn)

    def _coworks_xero_inbound_sync(self):
        """Read the documents webhook events named and, when due, pull what changed since the
        high-water mark (all Xero calls first, no row held meanwhile); then, in a fresh
        transaction retried on a collision with a user's write, write Xero's state on the Odoo
        documents, queue the changes and mark the events read."""
        self.ensure_one()
        cr = self.env.cr
        cr.execute("""SELECT id, category, resource_id FROM coworks_sync_inbound_event
                       WHERE connection_id = %s AND state = 'new' ORDER BY id LIMIT %s""",
                   [self.id, EVENTS_PER_RUN])
        events = cr.fetchall()
        now = fields.Datetime.now()
        pull_due = not self.inbound_pulled_at or now - self.inbound_pulled_at >= self._coworks_xero_pull_interval()
        if not events and not pull_due:
            return
        if events and self._coworks_xero_wait_for_budget():
            # A new snapshot: the one this run's first statement took (REPEATABLE READ) does not
            # show the events webhooks stored during the wait, which then waited a run more.
            cr.commit()
            cr.execute("""SELECT id, category, resource_id FROM coworks_sync_inbound_event
                           WHERE connection_id = %s AND state = 'new' ORDER BY id LIMIT %s""",
                       [self.id, EVENTS_PER_RUN])
            events = cr.fetchall()
        t_read = time.monotonic()
        reader = self._coworks_inbound_reader()
        invoice_ids = [rid for _id, cat, rid in events if cat == "INVOICE"]
        credit_ids = [rid for _id, cat, rid in events if cat == "CREDITNOTE"]
        # A provider that names a payment, not the invoices it changed: its reader reads those.
        by_payment = {"payment_ids": pay_ids} if (pay_ids := [rid for _id, cat, rid in events
                                                              if cat == "PAYMENT"]) else {}
        # This run is spaced already (above): its reads go together, unpaced by the limiter.
        with getattr(reader, "spaced_by_caller", contextlib.nullcontext)():
            ahead = self._coworks_xero_read_payments_ahead(reader, events, pull_due)
            try:
                documents = reader.documents(invoice_ids, credit_ids, **by_payment) if (
                    invoice_ids or credit_ids or by_payment) else []
            finally:
                early = ahead and ahead()
        payments = []
        merged = reader.contacts_merged([rid for _id, cat, rid in events if cat == "CONTACT"])
        changes = None
        if pull_due:
            # The first pull starts at the connection's creation: before it, Xero had only what
            # this integration sent.
            changes = reader.pull(self.inbound_modified_since or self.create_date)
            documents += changes.documents
            payments += changes.payments
            merged.update(changes.merged_contacts)
        # A credit note applied to an invoice in Xero: the credit note says how (its allocations).
        read_notes = {doc.remote_id for doc in documents if doc.kind == "credit_note"}
        named_notes = {cn for doc in documents for cn in doc.credit_note_ids} - read_notes
        if named_notes:
            documents += reader.documents(credit_note_ids=named_notes)
        # Allocations this integration made that Xero may have deleted: their credit notes and
        # overpayments are read where the documents read no longer agree with them.
        notes, overpayments = xin.credits_to_read(
            [(kind, held) for _link, kind, held in self._coworks_xero_held_allocations(documents)], documents)
        if notes:
            documents += reader.documents(credit_note_ids=notes)
        credits = reader.overpayments(overpayments) if overpayments else []
        # A document lists its payments without their bank account: read those Odoo lacks.
        listed = {p for doc in documents for p in doc.payment_ids} - {p.remote_id for p in payments}
        missing = listed - self._coworks_xero_linked_payment_ids(listed) - set(
            self.env["coworks.sync.inbound.change"].sudo().search(
                [("connection_id", "=", self.id), ("kind", "=", "payment"), ("remote_id", "in", list(listed))]
            ).mapped("remote_id"))
        if events and not pull_due:
            key = (cr.dbname, self.id)
            _payments_ahead[key] = (_payments_ahead.get(key, (None, False))[0], bool(missing))
        if early:
            found = [p for p in early if p.remote_id in missing]
            payments += found
            missing -= {p.remote_id for p in found}
        if missing:
            payments += reader.payments(missing)
        cr.commit()  # what follows sees what users did while Xero was being read
        t_store = time.monotonic()
        queued = self.env["coworks.sync.job"]._in_own_transaction(
            self._coworks_xero_store_reads, events, documents, payments, merged, credits, give_up=None)
        if changes is not None and queued is not None:
            # Only once what was read is committed: the mark never passes a change not recorded.
            # Out of band, like the connection's other bookkeeping (sync_connection_ops.py).
            vals = {"inbound_pulled_at": now}
            if changes.high_water and (not self.inbound_modified_since
                                       or changes.high_water > self.inbound_modified_since):
                vals["inbound_modified_since"] = changes.high_water
            self._write_out_of_band(vals)
        _logger.info("Xero sync: %s events read%s, %s documents and %s payments seen, %s changes queued "
                     "(reading Xero %.3f s, storing %.3f s)", len(events), " and a pull" if pull_due else "",
                     len(documents), len(payments), queued, t_store - t_read, time.monotonic() - t_store)

    def _coworks_xero_read_payments_ahead(self, reader, events, pull_due):
        """Start the read of the payments changed since the previous webhook read, in a thread,
        when the previous run needed a payment read (see PAYMENTS_AHEAD_MARGIN); returns a
        function giving them once the documents are read (None: not read ahead; [] when that
        read failed: the read by id still finds them)."""
        key = (self.env.cr.dbname, self.id)
        since, needed = _payments_ahead.get(key, (None, False))
        if events and not pull_due:
            _payments_ahead[key] = (fields.Datetime.now(), needed)
        if not (events and not pull_due and since and needed and hasattr(reader, "payments_changed_since")):
            return None
        # The thread is network only; a token refresh it needs runs on this thread (the bridge),
        # which it would wait for until the documents are read: the tokens are loaded first.
        reader.ready_for_threads()
        bridge = send_thread.Bridge()
        read = send_thread.Send(bridge, reader.payments_changed_since, since - PAYMENTS_AHEAD_MARGIN)
        read.start()

        def collect():
            try:
                return bridge.wait(read)
            except Exception as exc:  # noqa: BLE001 - an optimisation: the read by id follows
                _logger.info("Xero sync: reading payments ahead failed (%s); reading them by id", exc)
                return []
        return collect

    def _coworks_xero_wait_for_budget(self):
        """Coalesce webhook reads while Xero's minute budget runs short (see BUSY_MINUTE_CALLS):
        wait until BUSY_READ_SPACING s have passed since this process's last read for this
        connection. True when it waited (the caller reads the events again: more came)."""
        key = (self.env.cr.dbname, self.id)
        last = _last_webhook_read.get(key)
        waited = False
        if last is not None:
            left = BUSY_READ_SPACING - (time.monotonic() - last)
            if left > 0 and self._coworks_budget_short():
                time.sleep(left)
                waited = True
        _last_webhook_read[key] = time.monotonic()
        return waited

    def _coworks_xero_store_reads(self, events, documents, payments, merged=None, credits=()):
        queued = self._coworks_xero_take_documents(documents, payments, credits)
        self._coworks_xero_follow_merges(merged or {})
        if events:
            ignored = [eid for eid, cat, _rid in events if cat not in HANDLED_CATEGORIES]
            self.env.cr.execute(
                "UPDATE coworks_sync_inbound_event SET state = CASE WHEN id = ANY(%s) THEN 'ignored' "
                "ELSE 'done' END WHERE id = ANY(%s) AND state = 'new'", [ignored, [e[0] for e in events]])
        return queued

    def _coworks_xero_follow_merges(self, merged):
        """Customers whose contact was merged in Xero now point at the surviving contact (their
        next invoices go there); nothing is sent back."""
        partners = self.env["coworks.sync.link"]._find(self, "res.partner", list(merged))
        for remote_id, partner in partners.items():
            survivor = merged[remote_id]
            partner._coworks_link_write(self, {"remote_id": survivor})
            partner._message_log(body=_(
                "Merged in Xero into contact %(new)s: this customer's documents go to that contact from now on "
                "(was %(old)s).", new=survivor, old=remote_id))
        return len(partners)

    def _coworks_xero_pull_interval(self):
        """Hourly while webhooks arrive (the key is set and an event came within a day), else
        every 15 minutes: the pull is what finds what webhooks missed. The system parameters
        ``PARAM_PULL_MINUTES[_WITH_WEBHOOKS]`` override either (a number of minutes > 0)."""
        params = self.env["ir.config_parameter"].sudo()

        def interval(param, default):
            try:
                minutes = float(params.get_param(param) or 0)
            except ValueError:
                minutes = 0
            return datetime.timedelta(minutes=minutes) if minutes > 0 else default

        if params.get_param(PARAM_WEBHOOK_KEY):
            recent = fields.Datetime.now() - datetime.timedelta(days=1)
            if self.webhook_last_event_at and self.webhook_last_event_at >= recent:
                return interval(PARAM_PULL_MINUTES_WITH_WEBHOOKS, PULL_INTERVAL_WITH_WEBHOOKS)
        return interval(PARAM_PULL_MINUTES, PULL_INTERVAL)

    def _coworks_xero_held_allocations(self, documents):
        """[(link, kind, HeldAllocation)]: the allocations this integration holds as in Xero
        (links synced) on the documents read (as their invoice or their credit note)."""
        moves = self._coworks_xero_moves_by_remote_id({doc.remote_id for doc in documents})
        if not moves:
            return []
        links = self.env["coworks.xero.payment.link"].sudo().search([
            ("connection_id", "=", self.id), ("state", "=", "synced"), ("xero_id", "!=", False),
            ("kind", "in", list(ALLOCATION_LINK_KINDS)),
            "|", ("move_id", "in", [m.id for m in moves.values()]),
            ("credit_note_id", "in", [m.id for m in moves.values()])])
        remote_of = {move.id: rid for rid, move in moves.items()}
        out = []
        for link in links:
            invoice_id = remote_of.get(link.move_id.id) or (
                link.move_id.with_context(coworks_sync_connection_id=self.id).xero_id or "").lower()
            if link.kind == "allocation":
                credit_id = remote_of.get(link.credit_note_id.id) or (
                    link.credit_note_id.with_context(coworks_sync_connection_id=self.id).xero_id or "").lower()
            else:
                credit_id = (link.credit_link_id.xero_id or "").lower()
            if invoice_id and credit_id:
                out.append((link, ALLOCATION_LINK_KINDS[link.kind], xin.HeldAllocation(
                    remote_id=link.xero_id.lower(), credit_remote_id=credit_id, invoice_remote_id=invoice_id,
                    amount=Decimal(str(link.amount)).quantize(Decimal("0.01")))))
        return out

    def _coworks_xero_take_documents(self, documents, payments, credits=()):
        """Xero's status and amount due onto the Odoo documents; payments and voids made in Xero,
        and allocations this integration made that Xero no longer has, become changes (once per
        Xero ID) with their sync job. Returns how many were queued."""
        Change = self.env["coworks.sync.inbound.change"].sudo()
        latest = {}
        for doc in documents:  # the most recent report of each document wins
            if doc.remote_id not in latest or (doc.updated_at or datetime.datetime.min) >= (
                    latest[doc.remote_id].updated_at or datetime.datetime.min):
                latest[doc.remote_id] = doc
        allocations = [a for doc in latest.values() for a in doc.allocations]
        moves = self._coworks_xero_moves_by_remote_id(
            set(latest) | {p.document_remote_id for p in payments} | {a.invoice_remote_id for a in allocations})
        candidates = {p.remote_id for p in payments} | {a.remote_id for a in allocations}
        linked = self._coworks_xero_linked_payment_ids(candidates)
        known = {(c.kind, c.remote_id) for c in Change.search([
            ("connection_id", "=", self.id), ("remote_id", "in", list(candidates | set(latest)))])}
        new_changes = []
        for remote_id, doc in latest.items():
            move = moves.get(remote_id)
            if not move:
                continue  # made in Xero, or another integration's: not an Odoo document
            if not move.xero_status_at or not doc.updated_at or doc.updated_at >= move.xero_status_at:
                move._coworks_link_write(self, {"remote_status": doc.status, "remote_amount_due": float(doc.amount_due),
                                                "remote_status_at": doc.updated_at or fields.Datetime.now()})
            if doc.status in xin.VOID_STATUSES and move.state == "posted" and ("void", remote_id) not in known:
                known.add(("void", remote_id))
                new_changes.append({"kind": "void", "remote_id": remote_id, "move_id": move.id,
                                    "remote_status": doc.status})
        for alloc in allocations:
            invoice, credit = moves.get(alloc.invoice_remote_id), moves.get(alloc.credit_note_remote_id)
            if not invoice or not credit or alloc.remote_id in linked or ("allocation", alloc.remote_id) in known:
                continue
            known.add(("allocation", alloc.remote_id))
            new_changes.append({"kind": "allocation", "remote_id": alloc.remote_id, "move_id": invoice.id,
                                "credit_note_id": credit.id, "amount": float(alloc.amount),
                                "currency_id": invoice.currency_id.id, "date": alloc.date})
        held = self._coworks_xero_held_allocations(list(latest.values()))
        gone = {h.remote_id for _kind, h in xin.allocations_gone([(k, h) for _l, k, h in held],
                                                                  list(latest.values()), credits)}
        deleted_allocations = {aid.lower() for aid in Change.search([
            ("connection_id", "=", self.id), ("kind", "=", "allocation_deleted"),
            ("remote_id", "in", list(gone))]).mapped("remote_id")} if gone else set()
        for link, _kind, h in held:
            if h.remote_id not in gone or h.remote_id in deleted_allocations:
                continue
            deleted_allocations.add(h.remote_id)
            new_changes.append({"kind": "allocation_deleted", "remote_id": h.remote_id, "move_id": link.move_id.id,
                                "credit_note_id": link.credit_note_id.id, "amount": link.amount,
                                "currency_id": link.currency_id.id, "date": link.date,
                                "payment_id": link.credit_payment_id.id, "reference": link.reference})
        # Ours (a link holds it) and deleted behind our back: only a link still "synced" is (one
        # Odoo removed itself is "to_delete" or "deleted" by then). One read for all of them.
        deleted = [p.remote_id for p in payments if p.status == "DELETED" and p.remote_id in linked]
        live_deleted = {x.lower() for x in self.env["coworks.xero.payment.link"].sudo().search([
            ("connection_id", "=", self.id), ("state", "=", "synced"),
            ("xero_id", "in", _id_forms(deleted))]).mapped("xero_id")} if deleted else set()
        for pay in payments:
            move = moves.get(pay.document_remote_id)
            if (move and pay.status == "DELETED" and pay.remote_id in linked
                    and ("payment_deleted", pay.remote_id) not in known):
                if pay.remote_id.lower() in live_deleted:
                    known.add(("payment_deleted", pay.remote_id))
                    new_changes.append({"kind": "payment_deleted", "remote_id": pay.remote_id, "move_id": move.id,
                                        "remote_status": pay.status, "amount": float(pay.amount),
                                        "currency_id": move.currency_id.id, "date": pay.date,
                                        "reference": pay.reference})
                continue
            if (not move or pay.status != "AUTHORISED" or pay.remote_id in linked
                    or ("payment", pay.remote_id) in known):
                continue
            known.add(("payment", pay.remote_id))
            new_changes.append({
                "kind": "payment", "remote_id": pay.remote_id, "move_id": move.id, "remote_status": pay.status,
                "amount": float(pay.amount), "currency_id": move.currency_id.id, "date": pay.date,
                "currency_rate": float(pay.currency_rate or 0), "reference": pay.reference,
                "remote_account_id": pay.account_id,
                "remote_account_label": " ".join(filter(None, [pay.account_code, pay.account_name]))})
        if not new_changes:
            return 0
        created = Change.create([dict(vals, company_id=self.company_id.id, connection_id=self.id)
                                 for vals in new_changes])
        self.env["coworks.sync.job"].sudo().with_context(coworks_xero_no_trigger=True)._enqueue(created, "inbound")
        return len(created)

    def _coworks_xero_linked_payment_ids(self, remote_ids):
        """Those of ``remote_ids`` (lower case) that a payment link of this connection owns."""
        if not remote_ids:
            return set()
        self.env["coworks.xero.payment.link"].flush_model(["xero_id", "connection_id"])
        self.env.cr.execute("""SELECT lower(xero_id) FROM coworks_xero_payment_link
                                WHERE connection_id = %s AND xero_id = ANY(%s)""",
                            [self.id, _id_forms(remote_ids)])
        return {r[0] for r in self.env.cr.fetchall()}

    def _coworks_xero_moves_by_remote_id(self, remote_ids):
        """{lower-case Xero ID: move} of the documents linked under this connection (Xero writes
        its GUIDs in lower case, Odoo keeps them as Xero first answered)."""
        moves = self.env["coworks.sync.link"]._find(self, "account.move", list(remote_ids or ()))
        return {rid: move.with_context(coworks_sync_connection_id=self.id) for rid, move in moves.items()}


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # Xero signs every webhook with it: system administrators only, like the client secret.
    coworks_xero_webhook_key = fields.Char(
        "Xero webhooks key", config_parameter=PARAM_WEBHOOK_KEY, groups="base.group_system")
    coworks_xero_webhook_url = fields.Char(
        "Webhook URL", compute="_compute_coworks_xero_webhook_url",
        help="Register this URL as the delivery URL of your app's webhook at developer.xero.com.")
    coworks_xero_webhook_last_event_at = fields.Datetime(
        related="coworks_xero_connection_id.webhook_last_event_at")
    coworks_xero_inbound_pulled_at = fields.Datetime(related="coworks_xero_connection_id.inbound_pulled_at")
    coworks_xero_void_rule = fields.Selection(
        related="coworks_xero_connection_id.inbound_void_rule", readonly=False)

    def _compute_coworks_xero_webhook_url(self):
        from urllib.parse import urljoin
        url = urljoin(self.env["ir.config_parameter"].sudo().get_param("web.base.url") or "", WEBHOOK_PATH)
        for settings in self:
            settings.coworks_xero_webhook_url = url

    def set_values(self):
        for settings in self:
            value = settings.coworks_xero_webhook_key if "coworks_xero_webhook_key" in settings._fields else False
            if value and value != value.strip():
                settings.coworks_xero_webhook_key = value.strip()
        return super().set_values()

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .common import DOCUMENT_SYNC_STATES
from .sync_job import MONEY_KINDS, PAUSE_REASONS
from .xero_payment_link import CREDIT_KINDS

# A payment's Xero state includes its customer credit (overpayments and their allocations).
PAYMENT_KINDS = MONEY_KINDS + CREDIT_KINDS


class AccountPayment(models.Model):
    _name = "account.payment"
    _inherit = ["account.payment", "coworks.xero.credit.owner"]

    xero_payment_link_ids = fields.One2many(
        "coworks.xero.payment.link", "payment_id", "Xero payments", readonly=True)
    xero_credit_link_ids = fields.One2many(
        "coworks.xero.payment.link", "credit_payment_id", "Xero overpayments", readonly=True,
        help="What this payment leaves as customer credit: Xero overpayments and their allocations.")
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")
    xero_sync_error = fields.Text(compute="_compute_xero_sync")
    xero_sync_paused = fields.Selection(PAUSE_REASONS, compute="_compute_xero_sync", string="Xero sync paused")

    @api.depends("xero_payment_link_ids.state", "xero_credit_link_ids.state")
    def _compute_xero_sync(self):
        """A payment's Xero state is that of the jobs of its links (one per document it pays)."""
        self.env["coworks.sync.job"]._compute_document_sync(self, PAYMENT_KINDS, sources=self._xero_job_sources())

    def _xero_job_sources(self):
        owners = {}
        for pay in self:
            for link_id in (pay.sudo().xero_payment_link_ids | pay.sudo().xero_credit_link_ids).ids:
                owners.setdefault(link_id, []).append(pay.id)
        return [("coworks.xero.payment.link", PAYMENT_KINDS, owners)]

    def _xero_jobs_domain(self):
        self.ensure_one()
        return [("res_model", "=", "coworks.xero.payment.link"),
                ("res_id", "in", (self.sudo().xero_payment_link_ids | self.sudo().xero_credit_link_ids).ids)]

    def action_open_xero_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("coworks_xero.action_sync_job")
        action["domain"] = self._xero_jobs_domain()
        action["context"] = {}
        return action

    def action_xero_retry(self):
        self.ensure_one()
        jobs = self.env["coworks.sync.job"].search(self._xero_jobs_domain() + [("state", "=", "error")])
        if not jobs:
            raise UserError(_("Nothing of %s is waiting for a retry.", self.display_name))
        action = jobs.action_retry()
        action["params"]["next"] = {"type": "ir.actions.client", "tag": "soft_reload"}
        return action

    # ------------------------------------------------------------------ sync triggers

    def action_draft(self):
        """Odoo 19 keeps a draft payment matched with its invoices; Xero has no draft payments,
        so its Xero payments are removed (and sent again when it is posted again)."""
        (self.xero_payment_link_ids | self.xero_credit_link_ids)._coworks_xero_undo()
        # (the reconciliations Odoo removes now leave no credit to send: the payment is undone)
        return super(AccountPayment, self.with_context(coworks_xero_no_credit_sync=True)).action_draft()

    def action_cancel(self):
        (self.xero_payment_link_ids | self.xero_credit_link_ids)._coworks_xero_undo()
        return super(AccountPayment, self.with_context(coworks_xero_no_credit_sync=True)).action_cancel()

    def action_post(self):
        res = super().action_post()
        self._coworks_xero_track_matched()
        if not self.env.context.get("coworks_xero_no_credit_sync"):
            # Posted again after a reset: what it leaves was applied before (see ``unapplied``).
            again = self.filtered(lambda p: p.sudo().xero_payment_link_ids or p.sudo().xero_credit_link_ids)
            Link = self.env["coworks.xero.payment.link"]
            Link._coworks_xero_sync_credit(self - again)
            Link._coworks_xero_sync_credit(again, unapplied=True)
        return res

    # ------------------------------------------------------------------ customer credit

    def _coworks_xero_credit_eligible(self):
        """A posted customer receipt: the kind of payment whose leftover is customer credit."""
        self.ensure_one()
        return (self.payment_type == "inbound" and self.partner_type == "customer" and bool(self.partner_id)
                and self.move_id.state == "posted")

    def _coworks_xero_credit_currency(self):
        self.ensure_one()
        return self.currency_id

    def _coworks_xero_credit_partner(self):
        self.ensure_one()
        return self.partner_id.commercial_partner_id

    def _coworks_xero_credit_reference(self):
        self.ensure_one()
        return self.name or ""

    def _coworks_xero_credit_owner_vals(self):
        return {"credit_payment_id": self.id}

    def _coworks_xero_credit_fits_bank(self, conn):
        """Can Xero hold this payment's credit on the journal's mapped bank account (its currency
        is the payment's)? Unknown (no mapping yet): yes, the job will say what to map."""
        self.ensure_one()
        mapping = self.env["coworks.xero.journal.mapping"].sudo().search(
            [("connection_id", "=", conn.id), ("journal_id", "=", self.journal_id.id)], limit=1)
        account = mapping.bank_account_id
        if not account:
            return True
        return (account.currency_code or conn.base_currency_code or "") == self.currency_id.name

    def _coworks_xero_credit_rate(self):
        """Units of the payment's currency per unit of the company's, as Odoo booked it."""
        self.ensure_one()
        if self.currency_id == self.company_id.currency_id:
            return 0.0
        lines = self._coworks_xero_credit_lines()
        balance = sum(lines.mapped("balance"))
        return abs(sum(lines.mapped("amount_currency")) / balance) if balance else 0.0


    def _coworks_xero_track_matched(self):
        """Payments posted again while still matched: their reconciliations have no live link."""
        partials = self.move_id.line_ids.matched_debit_ids | self.move_id.line_ids.matched_credit_ids
        if not partials:
            return
        live = self.env["coworks.xero.payment.link"].sudo().search(
            [("partial_id", "in", partials.ids), ("state", "in", ("pending", "synced"))]).partial_id
        self.env["coworks.xero.payment.link"]._coworks_xero_track(partials - live)


class AccountPaymentRegister(models.TransientModel):
    _inherit = "account.payment.register"

    def _create_payments(self):
        """The wizard posts the payments, then reconciles them: what they leave as credit is
        known only then."""
        payments = super(AccountPaymentRegister, self.with_context(coworks_xero_no_credit_sync=True))._create_payments()
        payments = payments.with_context(coworks_xero_no_credit_sync=False)
        self.env["coworks.xero.payment.link"]._coworks_xero_sync_credit(payments)
        return payments

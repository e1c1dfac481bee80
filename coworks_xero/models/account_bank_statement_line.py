from odoo import api, fields, models


class AccountBankStatementLine(models.Model):
    """Money received on a bank statement line and matched with a customer's receivable for more
    than the invoices it settles (or with the receivable alone: a deposit) is customer credit, as
    a payment's unapplied money is: a Xero overpayment from the journal's bank account (see
    ``coworks.xero.payment.link``). The methods below are those ``account.payment`` offers the
    link model as the *owner* of customer credit."""

    _name = "account.bank.statement.line"
    _inherit = ["account.bank.statement.line", "coworks.xero.credit.owner"]

    xero_credit_link_ids = fields.One2many(
        "coworks.xero.payment.link", "credit_statement_line_id", "Xero overpayments", readonly=True,
        help="What this statement line leaves as customer credit: Xero overpayments, their allocations "
             "and refunds.")

    # ------------------------------------------------------------------ customer credit (owner API)

    def _coworks_xero_credit_eligible(self):
        """Money received (a positive amount), posted, with a customer: its receivable credit
        left unapplied is customer credit."""
        self.ensure_one()
        return (self.move_id.state == "posted" and self.currency_id.compare_amounts(self.amount, 0) > 0
                and bool(self._coworks_xero_credit_partner()))

    def _coworks_xero_credit_currency(self):
        self.ensure_one()
        return self.foreign_currency_id or self.currency_id

    def _coworks_xero_credit_partner(self):
        self.ensure_one()
        partner = self.partner_id or self._coworks_xero_credit_lines().partner_id[:1]
        return partner.commercial_partner_id

    def _coworks_xero_credit_reference(self):
        self.ensure_one()
        return self.payment_ref or self.move_id.name or ""

    def _coworks_xero_credit_owner_vals(self):
        return {"credit_statement_line_id": self.id}

    def _coworks_xero_credit_fits_bank(self, conn):
        self.ensure_one()
        mapping = self.env["coworks.xero.journal.mapping"].sudo().search(
            [("connection_id", "=", conn.id), ("journal_id", "=", self.journal_id.id)], limit=1)
        account = mapping.bank_account_id
        if not account:
            return True
        return (account.currency_code or conn.base_currency_code or "") == self._coworks_xero_credit_currency().name

    def _coworks_xero_credit_rate(self):
        self.ensure_one()
        if self._coworks_xero_credit_currency() == self.company_id.currency_id:
            return 0.0
        lines = self._coworks_xero_credit_lines()
        balance = sum(lines.mapped("balance"))
        return abs(sum(lines.mapped("amount_currency")) / balance) if balance else 0.0

    # ------------------------------------------------------------------ sync triggers

    def action_undo_reconciliation(self):
        """Back to the suspense account: what the line left as credit is no longer there (its
        overpayment is voided, after its allocations and refunds are removed)."""
        self.sudo().xero_credit_link_ids._coworks_xero_undo()
        return super(AccountBankStatementLine,
                     self.with_context(coworks_xero_no_credit_sync=True)).action_undo_reconciliation()

    def unlink(self):
        """A deleted line takes its money out of Xero: its payments and its credit."""
        self._coworks_xero_money_links()._coworks_xero_undo()
        return super(AccountBankStatementLine, self.with_context(coworks_xero_no_credit_sync=True)).unlink()

    def _coworks_xero_money_links(self):
        """The live links of what these lines' money is in Xero: payments, refunds and refunds of
        credit paid from them, and their own credit (overpayments, allocations, refunds of it)."""
        Link = self.env["coworks.xero.payment.link"].sudo()
        if not self.ids:
            return Link
        return Link.search(["|", ("credit_statement_line_id", "in", self.ids),
                            ("money_move_id", "in", self.move_id.ids), ("state", "in", ("pending", "synced"))])

    def _coworks_xero_check_credit(self):
        """The line's journal items changed (a counterpart moved onto or off the receivable): its
        credit in Xero follows; gone entirely, its overpayments are voided."""
        lines = self.exists().filtered(lambda s: s.company_id.coworks_xero_sync_enabled)
        if not lines:
            return
        gone = lines.filtered(lambda s: not s._coworks_xero_credit_eligible()
                              or not s._coworks_xero_credit_lines())
        gone.sudo().xero_credit_link_ids.filtered(lambda l: l.kind == "overpayment")._coworks_xero_undo()
        self.env["coworks.xero.payment.link"]._coworks_xero_sync_credit(lines - gone)


class AccountMove(models.Model):
    _inherit = "account.move"

    def _post(self, soft=True):
        """A statement line's entry posted (when the line is created, or again after a reset):
        its matchings are Xero payments again, what it leaves unapplied an overpayment."""
        posted = super()._post(soft)
        st_lines = posted.statement_line_id
        if st_lines and not self.env.context.get("coworks_xero_no_credit_sync"):
            lines = st_lines.move_id.line_ids
            partials = lines.matched_debit_ids | lines.matched_credit_ids
            Link = self.env["coworks.xero.payment.link"]
            if partials:
                live = Link.sudo().search([("partial_id", "in", partials.ids),
                                           ("state", "in", ("pending", "synced"))]).partial_id
                Link._coworks_xero_track(partials - live)
            Link._coworks_xero_sync_credit(st_lines)
        return posted

    def button_draft(self):
        """Odoo keeps a statement line's entry matched when it is reset to draft; Xero has no draft
        money: its payments and credit are removed (and sent again when it is posted again)."""
        return super(AccountMove, self._coworks_xero_undo_statement_money()).button_draft()

    def button_cancel(self):
        return super(AccountMove, self._coworks_xero_undo_statement_money()).button_cancel()

    def _coworks_xero_undo_statement_money(self):
        """Remove from Xero the money of the statement lines among these entries; the recordset to
        go on with (what Odoo un-matches meanwhile then leaves no credit to send)."""
        st_lines = self.statement_line_id
        if not st_lines:
            return self
        st_lines._coworks_xero_money_links()._coworks_xero_undo()
        return self.with_context(coworks_xero_no_credit_sync=True)


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    @api.model_create_multi
    def create(self, vals_list):
        """A counterpart added to a statement line already posted (a matching tool replacing its
        suspense line by the customer's receivable)."""
        lines = super().create(vals_list)
        if not self.env.context.get("coworks_xero_no_credit_sync"):
            st_lines = lines.move_id.filtered(lambda m: m.state == "posted").statement_line_id
            if st_lines:
                st_lines._coworks_xero_check_credit()
        return lines

    def write(self, vals):
        """Odoo's own way of matching a statement line without the accounting app's widget: its
        suspense line is moved onto the customer's receivable (then reconciled, or left as a
        deposit)."""
        res = super().write(vals)
        if {"account_id", "partner_id", "balance", "amount_currency", "debit", "credit"} & set(vals) \
                and not self.env.context.get("coworks_xero_no_credit_sync"):
            st_lines = self.move_id.statement_line_id
            if st_lines:
                st_lines._coworks_xero_check_credit()
        return res

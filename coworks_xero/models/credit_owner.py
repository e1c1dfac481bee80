from odoo import models


class CoworksXeroCreditOwner(models.AbstractModel):
    """What leaves customer credit on the receivable (a customer payment, a bank statement line):
    the parts of "how much credit, on which lines" that do not depend on which it is. Each owner
    says its currency, partner and reference itself."""

    _name = "coworks.xero.credit.owner"
    _description = "Owner of customer credit synced as a Xero overpayment"

    def _coworks_xero_credit_key(self):
        return f"{self._name},{self.id}:credit"

    def _coworks_xero_credits(self, conn):
        """This owner's live overpayment links under ``conn``, oldest first. Read through the
        one2many (one read for every use in a transaction; links created meanwhile are added to
        it by the ORM), not searched again by each hook."""
        self.ensure_one()
        return self.sudo().xero_credit_link_ids.filtered(
            lambda l: l.kind == "overpayment" and l.connection_id == conn and l.state in ("pending", "synced")
        ).sorted("id")

    def _coworks_xero_credit_lines(self):
        return self.move_id.line_ids.filtered(
            lambda l: l.account_id.account_type == "asset_receivable" and l.partner_id)

    def _coworks_xero_credit_left(self):
        """The customer's credit this record leaves on the receivable, in its currency: what it
        received that Odoo applies to nothing (yet)."""
        self.ensure_one()
        lines = self._coworks_xero_credit_lines()
        currency = self._coworks_xero_credit_currency()
        if any(line.currency_id != currency for line in lines):
            return -sum(lines.mapped("amount_residual"))
        return currency.round(-sum(lines.mapped("amount_residual_currency")))

from odoo import api, models


class AccountPartialReconcile(models.Model):
    """Each reconciliation part between a customer document and money (or a credit note) is one
    Xero payment/refund/allocation: created here, undone when the part is removed; the customer
    credit of the payments and bank statement lines involved follows. Only sync jobs are queued;
    the cron sends them."""

    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        self.env["coworks.xero.payment.link"]._coworks_xero_track(partials)
        # A bank statement line matched with the receivable for more than what it settles leaves
        # the rest as customer credit (a payment's is sent when the payment is posted or registered).
        st_lines = (partials.debit_move_id.move_id | partials.credit_move_id.move_id).statement_line_id
        if st_lines and not self.env.context.get("coworks_xero_no_credit_sync"):
            self.env["coworks.xero.payment.link"]._coworks_xero_sync_credit(st_lines)
        return partials

    def unlink(self):
        links = self.env["coworks.xero.payment.link"].sudo().search(
            [("partial_id", "in", self.ids), ("state", "in", ("pending", "synced"))]) if self.ids else None
        # Payments whose credit grows back (customer credit: see coworks.xero.payment.link)
        moves = self.debit_move_id.move_id | self.credit_move_id.move_id
        payments, st_lines = moves.origin_payment_id, moves.statement_line_id
        res = super().unlink()
        if links:
            links._coworks_xero_undo()
        if not self.env.context.get("coworks_xero_no_credit_sync"):
            Link = self.env["coworks.xero.payment.link"]
            if payments:
                Link._coworks_xero_sync_credit(payments, unapplied=True)
            if st_lines:
                Link._coworks_xero_sync_credit(st_lines.exists(), unapplied=True)
        return res

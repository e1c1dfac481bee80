from odoo import api, models


class AccountPartialReconcile(models.Model):
    """Each reconciliation part between a customer document and money (or a credit note) is one
    Xero payment/refund/allocation: created here, undone when the part is removed. Only sync jobs
    are queued; the cron sends them."""

    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        self.env["coworks.xero.payment.link"]._coworks_xero_track(partials)
        return partials

    def unlink(self):
        links = self.env["coworks.xero.payment.link"].sudo().search(
            [("partial_id", "in", self.ids), ("state", "in", ("pending", "synced"))]) if self.ids else None
        # Payments whose credit grows back (customer credit: see coworks.xero.payment.link)
        payments = (self.debit_move_id.move_id | self.credit_move_id.move_id).origin_payment_id
        res = super().unlink()
        if links:
            links._coworks_xero_undo()
        if payments and not self.env.context.get("coworks_xero_no_credit_sync"):
            self.env["coworks.xero.payment.link"]._coworks_xero_sync_credit(payments, unapplied=True)
        return res

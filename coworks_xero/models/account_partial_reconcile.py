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
        res = super().unlink()
        if links:
            links._coworks_xero_undo()
        return res

from odoo import fields, models

from .common import DOCUMENT_SYNC_STATES


class AccountPayment(models.Model):
    _inherit = "account.payment"

    xero_payment_link_ids = fields.One2many(
        "coworks.xero.payment.link", "payment_id", "Xero payments", readonly=True)
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")

    def _compute_xero_sync(self):
        self.env["coworks.sync.job"]._compute_document_sync(self, ("payment", "refund"))

    def action_open_xero_jobs(self):
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_open_for(self, ["payment", "refund"])

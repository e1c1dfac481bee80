from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    coworks_xero_sync_enabled = fields.Boolean(
        "Xero sync enabled", default=False,
        help="While off, nothing is queued for Xero for this company.")
    coworks_xero_job_retention_days = fields.Integer(
        "Keep synced log entries (days)", default=30,
        help="Successful sync log entries older than this are removed; failures are kept.")
    coworks_xero_connection_ids = fields.One2many("coworks.sync.connection", "company_id")

    def write(self, vals):
        res = super().write(vals)
        if vals.get("coworks_xero_sync_enabled"):
            # What was posted while sync was off is queued by the catch-up: switching sync on
            # starts it now rather than at the next scheduled run.
            self.env["coworks.sync.job"]._trigger_worker()
        return res

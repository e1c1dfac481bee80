from odoo import _, fields, models
from odoo.exceptions import UserError

from .common import PROVIDERS


class ResCompany(models.Model):
    _inherit = "res.company"

    coworks_xero_sync_enabled = fields.Boolean(
        "Xero sync enabled", default=False,
        help="While off, nothing is queued for Xero for this company.")
    coworks_xero_job_retention_days = fields.Integer(
        "Keep synced log entries (days)", default=30,
        help="Successful sync log entries older than this are removed; failures are kept.")
    coworks_sync_provider = fields.Selection(
        PROVIDERS, "Accounting provider", default="xero",
        help="Where this company's invoices, customers and payments are synced.")
    coworks_xero_connection_ids = fields.One2many("coworks.sync.connection", "company_id")

    def write(self, vals):
        if vals.get("coworks_sync_provider"):
            for company in self:
                if company.coworks_sync_provider == vals["coworks_sync_provider"]:
                    continue
                conn = self.env["coworks.sync.connection"].sudo()._for_company(company)
                if conn and conn.state in ("connected", "needs_reconnect"):
                    raise UserError(_(
                        "%(company)s is connected to %(org)s (%(provider)s): disconnect it first, then choose "
                        "another accounting provider.", company=company.name, org=conn.tenant_name or conn.name,
                        provider=conn._provider_label()))
        res = super().write(vals)
        if vals.get("coworks_xero_sync_enabled"):
            # What was posted while sync was off is queued by the catch-up: switching sync on
            # starts it now rather than at the next scheduled run.
            self.env["coworks.sync.job"]._trigger_worker()
        return res

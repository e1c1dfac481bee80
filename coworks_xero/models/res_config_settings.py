from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    coworks_xero_sync_enabled = fields.Boolean(
        related="company_id.coworks_xero_sync_enabled", readonly=False)
    coworks_xero_job_retention_days = fields.Integer(
        related="company_id.coworks_xero_job_retention_days", readonly=False)
    coworks_xero_connection_id = fields.Many2one(
        "coworks.sync.connection", compute="_compute_coworks_xero_connection_id")
    coworks_xero_connection_state = fields.Selection(
        related="coworks_xero_connection_id.state")
    coworks_xero_tenant_name = fields.Char(related="coworks_xero_connection_id.tenant_name")
    coworks_xero_last_success_at = fields.Datetime(related="coworks_xero_connection_id.last_success_at")
    coworks_xero_last_error = fields.Text(related="coworks_xero_connection_id.last_error")
    coworks_xero_daily_calls_remaining = fields.Integer(
        related="coworks_xero_connection_id.daily_calls_remaining")
    # The Xero app's credentials: one app per database, system administrators only.
    coworks_xero_client_id = fields.Char(
        "Xero client ID", config_parameter="coworks_xero.client_id", groups="base.group_system")
    coworks_xero_client_secret = fields.Char(
        "Xero client secret", config_parameter="coworks_xero.client_secret",
        groups="base.group_system")

    def _compute_coworks_xero_connection_id(self):
        for settings in self:
            settings.coworks_xero_connection_id = self.env["coworks.sync.connection"]._for_company(
                settings.company_id)

    def action_coworks_xero_open_connection(self):
        self.ensure_one()
        conn = self.coworks_xero_connection_id or self.env["coworks.sync.connection"].create(
            {"company_id": self.company_id.id})
        return {"type": "ir.actions.act_window", "res_model": "coworks.sync.connection",
                "res_id": conn.id, "view_mode": "form", "target": "current"}

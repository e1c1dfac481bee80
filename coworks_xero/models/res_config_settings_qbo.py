"""The QuickBooks Online app in Settings: its credentials, the URLs to register at Intuit, and the
Connect button's way to Intuit (the shared buttons reach it through ``super()``)."""
from odoo import _, fields, models
from odoo.exceptions import UserError
from odoo.tools.urls import urljoin

from .sync_connection_qbo import QBO_WEBHOOK_PATH


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # The QuickBooks Online app: one per database, system administrators only.
    coworks_qbo_client_id = fields.Char(
        "QuickBooks client ID", config_parameter="coworks_xero.qbo_client_id", groups="base.group_system")
    coworks_qbo_client_secret = fields.Char(
        "QuickBooks client secret", config_parameter="coworks_xero.qbo_client_secret",
        groups="base.group_system")
    coworks_qbo_webhook_verifier = fields.Char(
        "QuickBooks webhook verifier token", config_parameter="coworks_xero.qbo_webhook_verifier",
        groups="base.group_system",
        help="developer.intuit.com > your app > Webhooks: the verifier token. Without it no QuickBooks "
             "webhook is accepted, and changes come back by the pull (Change Data Capture) alone.")
    coworks_qbo_webhook_url = fields.Char(
        "QuickBooks webhook URL", compute="_compute_coworks_qbo_urls",
        help="Register this URL as the webhook endpoint of your app at developer.intuit.com.")
    coworks_qbo_redirect_uri = fields.Char(
        "QuickBooks redirect URI", compute="_compute_coworks_qbo_urls",
        help="Register this URL as a redirect URI of your app at developer.intuit.com (Keys & credentials).")

    def _compute_coworks_qbo_urls(self):
        uri = self.env["coworks.sync.connection"]._qbo_redirect_uri()
        webhook = urljoin(self.env["ir.config_parameter"].sudo().get_param("web.base.url") or "", QBO_WEBHOOK_PATH)
        for settings in self:
            settings.coworks_qbo_redirect_uri = uri
            settings.coworks_qbo_webhook_url = webhook

    def _coworks_credential_fields(self):
        return super()._coworks_credential_fields() + ("coworks_qbo_client_id", "coworks_qbo_client_secret")

    def action_coworks_xero_connect(self):
        """The shared Connect button, for a company that syncs with QuickBooks: save the settings
        (the app's ID and secret above), then go to Intuit's consent screen."""
        self.ensure_one()
        if self.coworks_sync_provider != "qbo":
            return super().action_coworks_xero_connect()
        if self.env.user._is_system():
            if not self.coworks_qbo_client_id or not self.coworks_qbo_client_secret:
                raise UserError(_("Enter the QuickBooks app's client ID and client secret first "
                                  "(developer.intuit.com > your app > Keys & credentials)."))
            self.set_values()
        return self._coworks_xero_connection(create=True).action_qbo_connect()

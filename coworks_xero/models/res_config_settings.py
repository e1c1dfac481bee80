from odoo import _, api, fields, models
from odoo.exceptions import UserError


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
    coworks_xero_base_currency = fields.Char(related="coworks_xero_connection_id.base_currency_code")
    coworks_xero_drift_agree_count = fields.Integer(related="coworks_xero_connection_id.drift_agree_count")
    coworks_xero_drift_differ_count = fields.Integer(related="coworks_xero_connection_id.drift_differ_count")
    coworks_xero_drift_checked_at = fields.Datetime(related="coworks_xero_connection_id.drift_checked_at")
    coworks_xero_drift_round_started_at = fields.Datetime(related="coworks_xero_connection_id.drift_round_started_at")
    coworks_xero_drift_round_compared = fields.Integer(related="coworks_xero_connection_id.drift_round_compared")
    coworks_xero_currency_warning = fields.Char(related="coworks_xero_connection_id.currency_warning")
    coworks_xero_last_success_at = fields.Datetime(related="coworks_xero_connection_id.last_success_at")
    coworks_xero_last_error = fields.Text(related="coworks_xero_connection_id.last_error")
    coworks_xero_daily_calls_remaining = fields.Integer(
        related="coworks_xero_connection_id.daily_calls_remaining")
    coworks_xero_daily_calls_known = fields.Boolean(related="coworks_xero_connection_id.daily_calls_known")
    coworks_xero_error_count = fields.Integer(related="coworks_xero_connection_id.job_error_count")
    coworks_xero_alert = fields.Selection([
        ("reconnect", "Needs reconnect"),
        ("error", "Last call failed"),
        ("failures", "Entries need attention"),
        ("missing", "Documents not in Xero"),
    ], compute="_compute_coworks_xero_alert",
        help="The one alert the Xero block shows: the most important.")
    coworks_xero_unmapped_kinds = fields.Char(compute="_compute_coworks_xero_unmapped")
    coworks_xero_unmapped_taxes = fields.Char(compute="_compute_coworks_xero_unmapped")
    coworks_xero_unmapped_journals = fields.Char(compute="_compute_coworks_xero_unmapped")
    coworks_xero_unmapped_campuses = fields.Char(compute="_compute_coworks_xero_unmapped")
    coworks_xero_rate_mismatches = fields.Char(compute="_compute_coworks_xero_unmapped")
    coworks_xero_all_mapped = fields.Boolean(compute="_compute_coworks_xero_unmapped")
    coworks_xero_reference_refreshed_at = fields.Datetime(
        related="coworks_xero_connection_id.reference_data_refreshed_at")
    coworks_xero_missing_count = fields.Integer(
        related="coworks_xero_connection_id.missing_document_count")
    coworks_xero_pending_count = fields.Integer(related="coworks_xero_connection_id.job_pending_count")
    # The Xero app's credentials: one app per database, system administrators only.
    coworks_xero_client_id = fields.Char(
        "Xero client ID", config_parameter="coworks_xero.client_id", groups="base.group_system")
    coworks_xero_client_secret = fields.Char(
        "Xero client secret", config_parameter="coworks_xero.client_secret",
        groups="base.group_system")
    coworks_xero_redirect_uri = fields.Char(
        "Redirect URI", compute="_compute_coworks_xero_redirect_uri",
        help="Register this URL as the redirect URI of your app at developer.xero.com.")
    # Which provider this company syncs with (a provider's own settings file adds its app's fields).
    coworks_sync_provider = fields.Selection(related="company_id.coworks_sync_provider", readonly=False)

    def _compute_coworks_xero_connection_id(self):
        for settings in self:
            settings.coworks_xero_connection_id = self.env["coworks.sync.connection"]._for_company(
                settings.company_id)

    @api.depends("coworks_xero_connection_id", "coworks_xero_sync_enabled")
    def _compute_coworks_xero_alert(self):
        for settings in self:
            conn = settings.coworks_xero_connection_id
            if not conn:
                settings.coworks_xero_alert = False
            elif conn.state == "needs_reconnect":
                settings.coworks_xero_alert = "reconnect"
            elif conn.last_error and not (conn.last_success_at and conn.last_error_at
                                          and conn.last_success_at > conn.last_error_at):
                # a call that succeeded since (a 429 storm over, Xero back) makes the failure history
                settings.coworks_xero_alert = "error"
            elif conn.job_error_count:
                settings.coworks_xero_alert = "failures"
            elif (settings.coworks_xero_sync_enabled and conn.state == "connected"
                  and conn.missing_document_count):
                settings.coworks_xero_alert = "missing"
            else:
                settings.coworks_xero_alert = False

    @api.depends("coworks_xero_connection_id")
    def _compute_coworks_xero_unmapped(self):
        for settings in self:
            conn = settings.coworks_xero_connection_id
            todo = conn._xero_unmapped() if conn else {}

            def names(key, todo=todo):
                value = todo.get(key)
                if not value:
                    return False
                labels = value if isinstance(value, list) else value.mapped("display_name")
                return ", ".join(labels[:6]) + (_(" and %s more", len(labels) - 6) if len(labels) > 6 else "")
            settings.coworks_xero_unmapped_kinds = names("kinds")
            settings.coworks_xero_unmapped_taxes = names("taxes")
            settings.coworks_xero_unmapped_journals = names("journals")
            settings.coworks_xero_unmapped_campuses = names("campuses")
            settings.coworks_xero_rate_mismatches = names("rates")
            settings.coworks_xero_all_mapped = bool(conn) and not any(todo.values())

    def _compute_coworks_xero_redirect_uri(self):
        uri = self.env["coworks.sync.connection"]._xero_redirect_uri()
        for settings in self:
            settings.coworks_xero_redirect_uri = uri

    def _coworks_xero_connection(self, create=False):
        self.ensure_one()
        conn = self.coworks_xero_connection_id
        if not conn and create:
            conn = self.env["coworks.sync.connection"]._connection_for_company_sudo(self.company_id).sudo(False)
        if not conn:
            raise UserError(_("%(company)s is not connected to %(provider)s.", company=self.company_id.name,
                              provider=dict(self._fields["coworks_sync_provider"].selection).get(
                                  self.coworks_sync_provider, "Xero")))
        return conn

    def action_coworks_xero_open_connection(self):
        self.ensure_one()
        conn = self._coworks_xero_connection(create=True)
        return {"type": "ir.actions.act_window", "res_model": "coworks.sync.connection",
                "res_id": conn.id, "view_mode": "form", "target": "current"}

    def _coworks_credential_fields(self):
        """The app credentials typed or pasted here (a provider adds its own)."""
        return ("coworks_xero_client_id", "coworks_xero_client_secret")

    def set_values(self):
        # Pasted credentials often carry a space or a line break: never part of a provider's values.
        for settings in self:
            for fname in self._coworks_credential_fields():
                value = settings[fname] if fname in settings._fields else False
                if value and value != value.strip():
                    settings[fname] = value.strip()
        return super().set_values()

    def action_coworks_xero_connect(self):
        """Save the settings (the client ID and secret above), then go to Xero's consent screen:
        no separate Save is needed (the button saves the form without asking, ``noSaveDialog``).
        A client ID Xero would refuse is refused here, before the admin leaves Odoo."""
        self.ensure_one()
        conn_model = self.env["coworks.sync.connection"]
        if self.env.user._is_system():
            if not self.coworks_xero_client_id or not self.coworks_xero_client_secret:
                raise UserError(_("Enter the Xero app's client ID and client secret first (developer.xero.com > "
                                  "My Apps > your app > Configuration)."))
            conn_model._xero_check_client_id(self.coworks_xero_client_id)
            self.set_values()
        return self._coworks_xero_connection(create=True).action_xero_connect()

    def action_coworks_xero_disconnect(self):
        conn = self._coworks_xero_connection()
        name = conn.tenant_name or conn.name
        conn.action_xero_disconnect()
        conn.invalidate_recordset()
        if conn.last_error:
            return conn._xero_settings_notification(conn.last_error, "warning")
        return conn._xero_settings_notification(_("Disconnected from %s. Queued syncs wait until you reconnect.", name))

    def action_coworks_xero_refresh(self):
        conn = self._coworks_xero_connection()
        conn.action_xero_refresh()
        counts = conn._xero_reference_counts()
        return conn._xero_settings_notification(_(
            "Loaded from %(provider)s: %(accounts)s accounts, %(items)s items, %(taxes)s tax rates and "
            "%(options)s tracking options.", provider=conn._provider_label(), **counts))

    def action_coworks_xero_check_drift(self):
        return self._coworks_xero_connection().action_coworks_check_drift()

    def action_coworks_xero_queue_missing(self):
        return self._coworks_xero_connection().action_xero_queue_missing()

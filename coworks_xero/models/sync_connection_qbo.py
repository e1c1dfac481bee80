"""The QuickBooks Online side of a connection: its client, token storage, OAuth and disconnect.

The same rules as the Xero side (``sync_connection_oauth.py``): network calls go through
``services/qbo`` only, and every write to the connection row made after a call to Intuit happens in
its own short transaction (the token store, ``_write_out_of_band``), never in the request's.
The organisation is the QuickBooks company: ``tenant_id`` is its realm id, bound for life.
Reference data, mappings, jobs and the sync log are the engine's, unchanged: ``fetch_reference_data``
answers in the shape ``_store_reference_data`` stores.
"""
import datetime
import logging
import secrets

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.urls import urljoin

from ..services import provider as prov
from .sync_connection_oauth import STATE_MINUTES, STATE_SCOPE
from .sync_connection_xero import CALL_MAX_WAIT, OdooTokenStore

_logger = logging.getLogger(__name__)

# System parameters: the Intuit app and, for the local emulator, one base URL serving Intuit's
# OAuth (its discovery document) and the Accounting API.
PARAM_QBO_CLIENT_ID = "coworks_xero.qbo_client_id"
PARAM_QBO_CLIENT_SECRET = "coworks_xero.qbo_client_secret"
PARAM_QBO_SANDBOX_URL = "coworks_xero.qbo_sandbox_url"
# "sandbox" to use Intuit's own sandbox companies (sandbox-quickbooks.api.intuit.com).
PARAM_QBO_ENVIRONMENT = "coworks_xero.qbo_environment"
INTUIT_SANDBOX_API = "https://sandbox-quickbooks.api.intuit.com"

QBO_START_PATH = "/coworks_xero/qbo/oauth/start"
QBO_CALLBACK_PATH = "/coworks_xero/qbo/oauth/callback"


def _not_connected():
    return prov.ProviderError(prov.REAUTH, "Not connected to QuickBooks: reconnect from Settings.",
                              code="token_revoked")

PARAM_QBO_WEBHOOK_VERIFIER = "coworks_xero.qbo_webhook_verifier"
QBO_WEBHOOK_PATH = "/coworks_xero/qbo/webhook"

class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    # The provider code, added here as a payment module adds its ``payment.provider.code``; the
    # engine reaches this file through ``_get_provider_qbo``/``_get_inbound_reader_qbo`` and the
    # overrides below, each of which hands any other provider's connection back to ``super()``.
    provider = fields.Selection(selection_add=[("qbo", "QuickBooks Online")], ondelete={"qbo": "cascade"})

    # ------------------------------------------------------------------ client

    @api.model
    def _qbo_client_config(self):
        from ..services.qbo.client import QboConfig
        params = self.env["ir.config_parameter"].sudo()
        client_id = (params.get_param(PARAM_QBO_CLIENT_ID) or "").strip()
        secret = (params.get_param(PARAM_QBO_CLIENT_SECRET) or "").strip()
        tuning = {}
        try:
            backoff = float(params.get_param("coworks_xero.client_backoff_base") or 0)
        except ValueError:
            backoff = 0
        if backoff > 0:
            tuning["backoff"] = backoff
        sandbox = params.get_param(PARAM_QBO_SANDBOX_URL)
        if sandbox:
            return QboConfig.for_emulator(sandbox, client_id, secret, **tuning)
        if params.get_param(PARAM_QBO_ENVIRONMENT) == "sandbox":
            return QboConfig(client_id, secret, api_base=INTUIT_SANDBOX_API, **tuning)
        return QboConfig(client_id, secret, **tuning)

    def _qbo_token_store(self):
        self.ensure_one()
        return OdooTokenStore(self.env, self.id, not_connected=_not_connected)

    def _qbo_client(self):
        from ..services.qbo.client import QboClient, qbo_batch_limiter, qbo_limiter
        self.ensure_one()
        config = self._qbo_client_config()
        # One call budget per QuickBooks API and process (each test class's emulator has its own),
        # and one for its batch requests.
        limiter = qbo_limiter(name=config.api_base, max_wait=CALL_MAX_WAIT)
        batch_limiter = qbo_batch_limiter(name=config.api_base, max_wait=CALL_MAX_WAIT)
        return QboClient(config, self.tenant_id or "", self._qbo_token_store(), limiter=limiter,
                         batch_limiter=batch_limiter)

    def _coworks_call_budget_qbo(self):
        """(limiter, realm): the budget this process spends on this company's calls."""
        from ..services.qbo.client import qbo_limiter
        self.ensure_one()
        return qbo_limiter(name=self._qbo_client_config().api_base, max_wait=CALL_MAX_WAIT), self.tenant_id or ""

    def _get_inbound_reader_qbo(self):
        from ..services.qbo.inbound import QboInbound
        return QboInbound(self._qbo_client())

    def _get_provider_qbo(self):
        from ..services.qbo.provider import QboProvider
        return QboProvider(self._qbo_client(), reference=self._xero_reference_data() or None)

    def _remote_url(self, kind, remote_id):
        """The link that opens a document of a QuickBooks connection in QuickBooks."""
        self.ensure_one()
        if self.provider != "qbo":
            return super()._remote_url(kind, remote_id)
        from ..services.qbo.links import deep_link
        sandbox = self.env["ir.config_parameter"].sudo().get_param(PARAM_QBO_ENVIRONMENT) == "sandbox"
        return deep_link(kind, remote_id, sandbox=sandbox)

    def _campus_tracking_category_domain(self):
        """QuickBooks has one "tracking category": its Classes (services/qbo/provider.py)."""
        if self.provider != "qbo":
            return super()._campus_tracking_category_domain()
        return [("xero_id", "=", "class")]

    def _fees_need_account(self):
        """QuickBooks books every line through an Item, fees included."""
        return self.provider != "qbo" and super()._fees_need_account()

    def _coworks_xero_no_tax_type(self):
        """QuickBooks: services/qbo/payloads.py marks an untaxed line NON (US sales tax) or asks for
        a mapped VAT code (elsewhere): no tax type is chosen here."""
        self.ensure_one()
        if self.provider != "qbo":
            return super()._coworks_xero_no_tax_type()
        return ""

    # ------------------------------------------------------------------ OAuth

    @api.model
    def _qbo_redirect_uri(self):
        return urljoin(self.env["ir.config_parameter"].sudo().get_param("web.base.url") or "", QBO_CALLBACK_PATH)

    @api.model
    def _qbo_check_app(self):
        config = self._qbo_client_config()
        if not config.client_id or not config.client_secret:
            raise UserError(_("Enter the QuickBooks app's client ID and client secret in Settings first "
                              "(developer.intuit.com > your app > Keys & credentials)."))
        return config

    def _qbo_oauth_begin(self):
        """The authorize URL, with a ``state`` signed with an expiry and bound to a nonce the
        controller keeps in the session (Intuit's flow has no PKCE)."""
        from odoo.tools import hash_sign

        from ..services.qbo import oauth as qoauth
        self.ensure_one()
        self._check_oauth_admin()
        if self.provider != "qbo":
            raise UserError(_("This connection is not a QuickBooks Online connection."))
        config = self._qbo_check_app()
        nonce = secrets.token_urlsafe(16)
        state = hash_sign(self.env(su=True), STATE_SCOPE,
                          {"n": nonce, "u": self.env.uid, "c": self.company_id.id, "x": self.id, "p": "qbo"},
                          expiration=datetime.timedelta(minutes=STATE_MINUTES))
        url = qoauth.authorization_url(config, self._qbo_redirect_uri(), state)
        return {"url": url, "state": state, "nonce": nonce}

    def _qbo_check_realm(self, realm_id):
        """Refuse, before the code is exchanged, a company this connection may not bind to."""
        self.ensure_one()
        realm_id = str(realm_id or "").strip()
        if not realm_id or not realm_id.isdigit() or len(realm_id) > 32:
            raise UserError(_("QuickBooks did not say which company was connected. Start again from Settings."))
        if self.tenant_id and self.tenant_id != realm_id:
            raise UserError(_(
                "This company syncs with the QuickBooks company %(org)s: its invoices and customers carry "
                "that company's QuickBooks IDs. Reconnect to %(org)s, or archive this connection first to "
                "start over with another company.", org=self.tenant_name or self.tenant_id))
        if realm_id in self._tenants_taken_elsewhere():
            raise UserError(_("Another company of this database already syncs with this QuickBooks company."))
        return realm_id

    def _qbo_oauth_exchange(self, code, realm_id):
        """The callback's ``code`` for tokens (stored at once, in their own transaction), then the
        company's name and home currency. :return: the organisation dict ``_xero_oauth_finish`` binds."""
        from ..services.qbo import oauth as qoauth
        from ..services.qbo.client import QboClient, QboFault
        from ..services.qbo.provider import QboProvider
        self.ensure_one()
        self._check_oauth_admin()
        realm_id = self._qbo_check_realm(realm_id)
        config = self._qbo_check_app()
        connection = qoauth.exchange_code(config, self._qbo_redirect_uri(), code, realm_id)
        self.env.flush_all()
        store = self._qbo_token_store()
        store.save(connection.tokens)
        reader = QboProvider(QboClient(config, realm_id, store))
        try:
            info = reader.company_info()
            currency = (info.get("CurrencyRef") or {}).get("value") or reader._home_currency()
        except QboFault as fault:
            raise UserError(_("QuickBooks did not show the company's details: %s", fault.sentence())) from None
        name = info.get("CompanyName") or info.get("LegalName") or realm_id
        self._write_out_of_band({"base_currency_code": currency or False})
        return {"tenantId": realm_id, "tenantName": name}

    def action_xero_connect(self):
        """The connection form's Connect button: a QuickBooks connection goes to Intuit."""
        self.ensure_one()
        if self.provider != "qbo":
            return super().action_xero_connect()
        self._check_oauth_admin()
        return self.action_qbo_connect()

    def action_xero_disconnect(self):
        """The shared Disconnect: QuickBooks connections revoke at Intuit, the others go on to ``super()``."""
        qbo = self.filtered(lambda c: c.provider == "qbo")
        if qbo:
            qbo.action_qbo_disconnect()
        rest = self - qbo
        return super(CoworksSyncConnection, rest).action_xero_disconnect() if rest else True

    def action_qbo_connect(self):
        self.ensure_one()
        self._check_oauth_admin()
        self._qbo_check_app()
        return {"type": "ir.actions.act_url", "target": "self",
                "url": "%s?company_id=%d" % (QBO_START_PATH, self.company_id.id)}

    def action_qbo_disconnect(self):
        """Revoke the grant at Intuit and forget the tokens here; QuickBooks IDs stay on the records
        (reconnecting to the same company carries on), queued jobs wait."""
        from ..services.qbo import oauth as qoauth
        self._check_oauth_admin()
        for conn in self:
            problems = []
            if conn.sudo().refresh_token:
                self.env.flush_all()
                try:
                    qoauth.revoke(conn._qbo_client_config(), conn._qbo_token_store().load())
                except prov.ProviderError as exc:
                    if exc.kind != prov.REAUTH:  # a grant already dead is what we wanted
                        problems.append(exc.message)
            conn._write_disconnected("QuickBooks", problems)
            conn.message_post(body=_("Disconnected from QuickBooks Online by %s. Queued syncs wait for a "
                                     "reconnect.", self.env.user.name))
            _logger.info("Connection %s disconnected from QuickBooks", conn.id)
        return True

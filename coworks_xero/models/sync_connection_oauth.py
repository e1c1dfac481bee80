"""Connecting a company to a Xero organisation: OAuth 2.0 (authorization code + PKCE), choosing
the organisation, disconnecting, and the admin's buttons.

The controller (``controllers/oauth.py``) keeps the flow's secrets (PKCE verifier) in the user's
server-side session and checks the signed ``state``; this file does the rest. Network calls go
through ``services/xero`` only.

Every write to the connection row made after a call to Xero happens in its own short transaction
(``_write_out_of_band`` / the token store), never in the request's transaction: workers update the
same row (tokens, health figures) and, under REPEATABLE READ, a late write in the request would fail
with a serialization error and make Odoo replay the request - which would send the single-use
authorization code to Xero a second time (Xero then revokes what it issued).
"""
import logging
import re
import secrets

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.urls import urljoin

from ..services import provider as prov
from ..services.xero import oauth as xoauth
from ..services.xero.errors import XeroError

_logger = logging.getLogger(__name__)

CALLBACK_PATH = "/coworks_xero/oauth/callback"
START_PATH = "/coworks_xero/oauth/start"
CHOOSE_PATH = "/coworks_xero/oauth/choose"
STATE_SCOPE = "coworks_xero.oauth_state"
STATE_MINUTES = 10
NOTICE_KEY = "coworks_xero_notice"  # the callback's confirmation, shown once back in Odoo
# What developer.xero.com shows as an app's client id: 32 hexadecimal characters, uppercase.
XERO_CLIENT_ID_RE = re.compile(r"^[0-9A-F]{32}$")


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    xero_user_id = fields.Char(
        "Authorised by (Xero user)", copy=False, readonly=True,
        help="The Xero user whose authorisation this connection uses.")
    missing_document_count = fields.Integer(compute="_compute_missing_document_count")

    # ------------------------------------------------------------------ helpers

    def _write_disconnected(self, remote, problems, **extra):
        """Forget the tokens (out of band, like every write after a remote call); what the remote
        side answered to the revocation, if anything went wrong, stays on the health line."""
        self._write_out_of_band(dict({
            "state": "disconnected", "access_token": False, "refresh_token": False, "token_expires_at": False,
            "last_error": (_("Disconnected, but %(remote)s answered: %(problems)s", remote=remote,
                             problems="; ".join(problems)) if problems else False),
        }, **extra))

    def _check_oauth_admin(self):
        if not self.env.user._is_system():
            raise AccessError(_("Only an administrator (Settings rights) can connect Odoo to Xero."))

    @api.model
    def _xero_check_client_id(self, client_id):
        """Refuse a client id Xero would refuse, before the admin is sent to Xero. Apps of a
        sandbox (the local emulator, ``coworks_xero.sandbox_url``) may be named freely."""
        from .sync_connection_xero import PARAM_SANDBOX_URL
        if self.env["ir.config_parameter"].sudo().get_param(PARAM_SANDBOX_URL):
            return
        client_id = (client_id or "").strip()
        if not client_id:
            raise UserError(_("Enter the Xero app's client ID and client secret in Settings first."))
        if not XERO_CLIENT_ID_RE.match(client_id):
            hint = (_(" It has lowercase letters: copy it again exactly as Xero shows it.")
                    if XERO_CLIENT_ID_RE.match(client_id.upper()) else "")
            raise UserError(_(
                "“%(id)s” is not a Xero client ID: Xero's are 32 characters, digits and the capital "
                "letters A to F, as shown at developer.xero.com > My Apps > your app > Configuration.%(hint)s",
                id=client_id[:60], hint=hint))

    @api.model
    def _xero_redirect_uri(self):
        return urljoin(self.env["ir.config_parameter"].sudo().get_param("web.base.url") or "", CALLBACK_PATH)

    @api.model
    def _connection_for_company_sudo(self, company):
        """The company's active Xero connection, created when there is none (sudo)."""
        provider = company.coworks_sync_provider or "xero"
        conn = self.sudo()._for_company(company)
        if conn and conn.provider != provider:
            if conn.state in ("connected", "needs_reconnect"):
                raise UserError(_("%(company)s is connected to %(provider)s: disconnect it first.",
                                  company=company.name, provider=conn._provider_label()))
            # Never connected, or disconnected: kept archived (its links stay with it, and come
            # back if the company returns to that organisation), a new connection for the provider.
            conn.active = False
            conn = self.browse()
        if not conn:
            conn = self.sudo().create({"company_id": company.id, "provider": provider})
        return conn

    def _tenants_taken_elsewhere(self):
        """Tenant ids other companies of this database already sync with."""
        self.ensure_one()
        others = self.sudo().search([("id", "!=", self.id), ("active", "=", True), ("provider", "=", self.provider),
                                     ("tenant_id", "!=", False), ("state", "!=", "draft")])
        return set(others.mapped("tenant_id"))

    # ------------------------------------------------------------------ the flow

    def _xero_oauth_begin(self):
        """Start a connect flow: the authorize URL, the ``state`` nonce and the PKCE verifier.

        The caller (the controller) keeps ``nonce`` and ``code_verifier`` in the session; the
        signed ``state`` carries the user, company, connection and nonce, with an expiry.
        """
        self.ensure_one()
        self._check_oauth_admin()
        config = self._xero_client_config()
        if not config.client_id or not config.client_secret:
            raise UserError(_("Enter the Xero app's client ID and client secret in Settings first."))
        self._xero_check_client_id(config.client_id)
        from odoo.tools import hash_sign
        import datetime
        nonce = secrets.token_urlsafe(16)
        state = hash_sign(self.env(su=True), STATE_SCOPE,
                          {"n": nonce, "u": self.env.uid, "c": self.company_id.id, "x": self.id},
                          expiration=datetime.timedelta(minutes=STATE_MINUTES))
        flow = xoauth.start_authorization(config, self._xero_redirect_uri(), state=state)
        return {"url": flow.url, "state": state, "nonce": nonce, "code_verifier": flow.code_verifier}

    @api.model
    def _xero_oauth_read_state(self, state):
        """The signed state's values, or None if forged, damaged or expired."""
        from odoo.tools import verify_hash_signed
        if not state or not isinstance(state, str) or len(state) > 2048:
            return None
        try:
            values = verify_hash_signed(self.env(su=True), STATE_SCOPE, state)
        except Exception:  # noqa: BLE001 - any malformed token is simply refused
            return None
        if not isinstance(values, dict) or not all(k in values for k in ("n", "u", "c", "x")):
            return None
        return values

    def _xero_oauth_exchange(self, code, code_verifier):
        """Authorization code -> tokens (stored at once, in their own transaction) -> the
        organisations this authorisation reaches.

        :return: ``(chosen, candidates)`` as :func:`organisation_candidates` gives them.
        """
        self.ensure_one()
        self._check_oauth_admin()
        config = self._xero_client_config()
        tokens = xoauth.exchange_code(config, code, self._xero_redirect_uri(), code_verifier)
        if "offline_access" not in tokens.scopes:
            raise UserError(_("Xero did not grant offline access, so Odoo could not keep syncing. "
                              "Connect again and allow access."))
        from .sync_connection_xero import OdooTokenStore
        self.env.flush_all()
        OdooTokenStore(self.env, self.id).save(tokens)
        claims = xoauth.token_claims(tokens.access_token)
        self._write_out_of_band({"xero_user_id": claims.get("xero_userid") or False})
        from ..services.xero.client import XeroClient
        with XeroClient(config, "", OdooTokenStore(self.env, self.id)) as client:
            connections = client.list_connections()
        return xoauth.organisation_candidates(
            connections, taken=self._tenants_taken_elsewhere(), preferred=self.tenant_id or None)

    def _xero_oauth_finish(self, org):
        """Bind this connection to the organisation ``org`` (a /Connections element), resume
        syncing and load the reference data."""
        self.ensure_one()
        self._check_oauth_admin()
        tenant = org["tenantId"]
        if self.tenant_id and self.tenant_id.lower() != tenant.lower():
            raise UserError(_(
                "This company syncs with %(org)s: its invoices and customers carry that organisation's "
                "Xero IDs. Reconnect to %(org)s, or archive this connection first to start over with "
                "another organisation.", org=self.tenant_name or self.tenant_id))
        if tenant in self._tenants_taken_elsewhere():
            raise UserError(_("Another company of this database already syncs with %s.", org.get("tenantName")))
        with self.env.registry.cursor() as cr:
            # Jobs that waited while the connection was paused are due now (in the same short
            # transaction that reopens the connection, before any worker may pick them).
            cr.execute("""UPDATE coworks_sync_job SET next_attempt_at = NULL
                           WHERE connection_id = %s AND state = 'pending' AND next_attempt_at IS NOT NULL""",
                       [self.id])
            self.with_env(self.env(cr=cr, su=True)).write({
                "tenant_id": tenant,
                "tenant_name": org.get("tenantName") or tenant,
                "remote_connection_id": org.get("id") or False,
                "state": "connected",
                "active": True,
                "last_error": False,
                "last_error_at": False,
            })
            # Back to an organisation this company left: its documents are known there.
            adopted = self.env["coworks.sync.link"].with_env(self.env(cr=cr, su=True))._adopt_links_of_tenant(
                self.with_env(self.env(cr=cr, su=True)))
        if adopted:
            _logger.info("Company %s: %s links kept from its earlier connection to %s", self.company_id.id, adopted, tenant)
            self.env["coworks.sync.link"].invalidate_model()
            self.env["coworks.xero.payment.link"].invalidate_model()
        self.invalidate_recordset()
        self.env["coworks.sync.job"].invalidate_model(["next_attempt_at"])
        _logger.info("Company %s connected to Xero organisation %s", self.company_id.id, tenant)
        try:
            self._xero_refresh_reference_data_out_of_band()
        except UserError as exc:
            # Connected all the same: the admin sees why the lists are empty and can refresh.
            self._note_call_failure(str(exc.args[0]) if exc.args else str(exc))
        if self.currency_warning:
            # Once, where the admin looks right after connecting (the settings page shows it too).
            self.sudo().message_post(body=self.currency_warning)
        # Whatever was queued while the connection was paused goes now.
        self.env["coworks.sync.job"].sudo()._trigger_worker()
        return True

    def _xero_refresh_reference_data_out_of_band(self):
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            conn = self.with_env(self.env(cr=cr, su=True))
            conn.action_xero_refresh()
        self.invalidate_recordset()
        self.env["coworks.xero.account"].invalidate_model()

    # ------------------------------------------------------------------ buttons

    def action_xero_connect(self):
        """Start (or restart) the OAuth flow in the browser."""
        self.ensure_one()
        self._check_oauth_admin()
        params = self.env["ir.config_parameter"].sudo()
        if not params.get_param("coworks_xero.client_id") or not params.get_param("coworks_xero.client_secret"):
            raise UserError(_("Enter the Xero app's client ID and client secret in Settings first."))
        self._xero_check_client_id(params.get_param("coworks_xero.client_id"))
        return {"type": "ir.actions.act_url", "target": "self",
                "url": "%s?company_id=%d" % (START_PATH, self.company_id.id)}

    @api.model
    def _xero_settings_notification(self, message, kind="success"):
        """A notification, then the settings page (where Connect, Disconnect and Refresh end)."""
        settings = self.env["ir.actions.act_window"]._for_xml_id("account.action_account_config")
        return {"type": "ir.actions.client", "tag": "display_notification", "params": {
            "type": kind, "sticky": False, "message": message, "next": settings}}

    def _xero_reference_counts(self):
        """How many active accounts, items, tax rates and tracking options are cached."""
        self.ensure_one()
        env = self.env(su=True)
        domain = [("connection_id", "=", self.id)]
        return {key: env[model].search_count(domain) for key, model in (
            ("accounts", "coworks.xero.account"), ("items", "coworks.xero.item"),
            ("taxes", "coworks.xero.tax.rate"), ("options", "coworks.xero.tracking.option"))}

    @api.model
    def _xero_connected_action(self):
        """Where the OAuth callback lands (the server action ``action_xero_connected``): the
        settings, with what just happened. The callback left its sentence in the session."""
        from odoo.http import request
        notice = request.session.pop(NOTICE_KEY, None) if request else None
        if not notice:
            conn = self._for_company(self.env.company)
            notice = (_("Connected to Xero: %s.", conn.tenant_name) if conn and conn.state == "connected"
                      else _("Back from Xero."))
        return self._xero_settings_notification(notice)

    def _xero_fetch_failed(self, exc):
        """A refresh refused for good (grant gone): pause the connection as the worker would."""
        if getattr(exc, "kind", None) == prov.REAUTH:
            self._mark_needs_reconnect(exc.message)

    def action_xero_refresh(self):
        """'Refresh from Xero': reference data again, marking the connection if the grant is gone."""
        for conn in self:
            if not conn._is_usable():
                raise UserError(_("Connect to %s first.", conn._provider_label()))
            try:
                data = conn._get_provider().fetch_reference_data()
            except (XeroError, prov.ProviderError) as exc:
                conn._xero_fetch_failed(exc)
                if getattr(exc, "kind", None) != prov.REAUTH:
                    conn._note_call_failure(exc.message)
                raise UserError(_("%(provider)s refused the refresh: %(msg)s",
                                  provider=conn._provider_label(), msg=exc.message)) from None
            except Exception as exc:
                # a provider's per-request fault (one with ``sentence()``): readable as it is
                if not hasattr(exc, "sentence"):
                    raise
                conn._note_call_failure(exc.sentence())
                raise UserError(_("%(provider)s refused the refresh: %(msg)s",
                                  provider=conn._provider_label(), msg=exc.sentence())) from None
            conn._store_reference_data(data)
            conn.sudo().write({"last_success_at": fields.Datetime.now(), "last_error": False})
        return True

    def action_xero_disconnect(self):
        """Revoke the authorisation and remove the connection at Xero; forget the tokens here.

        Xero IDs on customers and documents stay (reconnecting to the same organisation carries on
        where it stopped); queued jobs stay queued, paused while disconnected.
        """
        from ..services.xero.client import XeroClient
        from .sync_connection_xero import OdooTokenStore
        self._check_oauth_admin()
        for conn in self:
            problems = []
            has_tokens = bool(conn.sudo().refresh_token)
            if has_tokens:
                config = conn._xero_client_config()
                self.env.flush_all()
                with XeroClient(config, conn.tenant_id or "", OdooTokenStore(self.env, conn.id)) as client:
                    if conn.remote_connection_id:
                        try:
                            client.delete_connection(conn.remote_connection_id)
                        except XeroError as exc:
                            if exc.kind not in (prov.NOT_FOUND, prov.REAUTH):
                                problems.append(exc.message)
                    # Revoking a refresh token removes every connection of that Xero user for this
                    # app: not while another company of this database relies on the same user.
                    if not conn._xero_user_shared():
                        try:
                            client.revoke()
                        except XeroError as exc:
                            if exc.kind != prov.REAUTH:
                                problems.append(exc.message)
            conn._write_disconnected("Xero", problems, remote_connection_id=False)
            conn.message_post(body=_("Disconnected from Xero by %s. Queued syncs wait for a reconnect.",
                                     self.env.user.name))
            _logger.info("Connection %s disconnected from Xero", conn.id)
        return True

    def _xero_user_of(self):
        """The Xero user behind this connection's grant (stored at connect, else read from the
        access token's claims)."""
        self.ensure_one()
        return self.xero_user_id or xoauth.token_claims(self.sudo().access_token).get("xero_userid") or False

    def _xero_user_shared(self):
        """Does another live connection of this database use the same Xero user's grant?"""
        self.ensure_one()
        user = self._xero_user_of()
        if not user:
            return False
        others = self.sudo().search([("id", "!=", self.id), ("active", "=", True), ("provider", "=", self.provider),
                                     ("state", "in", ("connected", "needs_reconnect"))])
        return any(other._xero_user_of() == user for other in others)

    # ------------------------------------------------------------------ what is missing

    def _missing_moves_query(self, open_jobs_only=True):
        """FROM/WHERE of posted customer invoices and credit notes without a Xero ID and without
        an open job. ``open_jobs_only=False`` also leaves out those whose job ended (cancelled by
        a manager): the automatic catch-up respects that choice, the admin's button does not. A job
        that ended "Not sent" (the document was a draft or cancelled then) is no such choice: a
        posted document with only that behind it is missing, and caught up."""
        self.ensure_one()
        states = "AND j.state IN ('pending', 'error')" if open_jobs_only else "AND j.state != 'skipped'"
        return (f"""
            FROM account_move m
           WHERE m.company_id = %s AND m.state = 'posted'
             AND m.move_type IN ('out_invoice', 'out_refund')
             AND NOT EXISTS (SELECT 1 FROM coworks_sync_link l
                              WHERE l.connection_id = %s AND l.res_model = 'account.move'
                                AND l.res_id = m.id AND l.remote_id IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM coworks_sync_job j
                              WHERE j.res_model = 'account.move' AND j.res_id = m.id
                                AND j.connection_id = %s AND j.operation = 'upsert' {states})
        """, [self.company_id.id, self.id, self.id])

    def _compute_missing_document_count(self):
        self.env["account.move"].flush_model(["state", "move_type", "company_id"])
        self.env["coworks.sync.link"].flush_model()
        self.env["coworks.sync.job"].flush_model()
        for conn in self:
            if not conn.id:
                conn.missing_document_count = 0
                continue
            query, params = conn._missing_moves_query()
            self.env.cr.execute("SELECT count(*) " + query, params)
            conn.missing_document_count = self.env.cr.fetchone()[0]

    def action_xero_queue_missing(self):
        """Queue posted customer invoices and credit notes that are not in Xero yet."""
        queued = 0
        for conn in self:
            if not conn.company_id.coworks_xero_sync_enabled:
                raise UserError(_("Switch Xero sync on for %s first.", conn.company_id.name))
            query, params = conn._missing_moves_query()
            self.env.cr.execute("SELECT m.id " + query + " ORDER BY m.id", params)
            moves = self.env["account.move"].browse([r[0] for r in self.env.cr.fetchall()])
            if moves:
                moves._coworks_xero_enqueue("upsert")
                queued += len(moves)
        return {"type": "ir.actions.client", "tag": "display_notification", "params": {
            "type": "success" if queued else "info",
            "message": _("%s invoices and credit notes queued for Xero.", queued) if queued
            else _("Nothing is missing: every posted invoice and credit note is in Xero or queued."),
            "next": {"type": "ir.actions.client", "tag": "soft_reload"},
        }}

"""OAuth 2.0 with Xero: start, callback, choosing the organisation.

Pattern of ``addons/google_gmail/controllers/main.py``, with a ``state`` signed with an expiry
(``tools.hash_sign``) and bound to the user's session (its nonce and the PKCE verifier live in the
server-side session, never in the browser), and PKCE. Every refusal is a readable page, never a
traceback; nothing secret is logged.
"""
import logging
import time

from werkzeug.urls import url_encode

from odoo import _, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from ..models.sync_connection_oauth import CALLBACK_PATH, CHOOSE_PATH, NOTICE_KEY, START_PATH, STATE_MINUTES
from ..services.xero.errors import XeroError

_logger = logging.getLogger(__name__)

SESSION_KEY = "coworks_xero_oauth"  # {nonce: {"v": verifier, "c": company, "x": connection, "t": started}}
CHOICE_KEY = "coworks_xero_oauth_choice"  # {"x": connection, "c": company, "orgs": [...], "t": time}
MAX_PENDING = 5


class CoworksXeroOAuthController(http.Controller):

    # ------------------------------------------------------------------ pages

    def _page(self, message, status=400, connection=None, title=None):
        return request.render("coworks_xero.oauth_message", {
            "title": title or _("Connecting to Xero failed"),
            "message": message,
            "back_url": self._back_url(connection),
        }, status=status)

    @staticmethod
    def _back_url(connection=None):
        if connection:
            return "/odoo/action-coworks_xero.action_sync_connection/%d" % connection.id
        return "/odoo/action-account.action_account_config"

    def _pending(self):
        pending = dict(request.session.get(SESSION_KEY) or {})
        now = time.time()
        return {k: v for k, v in pending.items() if now - v.get("t", 0) < STATE_MINUTES * 60}

    # ------------------------------------------------------------------ start

    @http.route(START_PATH, type="http", auth="user", methods=["GET"])
    def xero_oauth_start(self, company_id=None, **kw):
        """Send the admin to Xero's consent screen for ``company_id`` (default: current company)."""
        env = request.env
        if not env.user._is_system():
            return self._page(_("Only an administrator (Settings rights) can connect Odoo to Xero."), 403)
        try:
            company = env["res.company"].browse(int(company_id)) if company_id else env.company
        except ValueError:
            return self._page(_("Unknown company."), 400)
        if company not in env.user.company_ids:
            return self._page(_("You do not have access to this company."), 403)
        conn = env["coworks.sync.connection"]._connection_for_company_sudo(company).sudo(False)
        try:
            flow = conn._xero_oauth_begin()
        except (UserError, AccessError) as exc:
            return self._page(exc.args[0], 400, conn)
        pending = self._pending()
        while len(pending) >= MAX_PENDING:
            pending.pop(min(pending, key=lambda k: pending[k]["t"]))
        pending[flow["nonce"]] = {"v": flow["code_verifier"], "c": company.id, "x": conn.id, "t": time.time()}
        request.session[SESSION_KEY] = pending
        _logger.info("Xero connect flow started for company %s by user %s", company.id, env.uid)
        return request.redirect(flow["url"], local=False)

    # ------------------------------------------------------------------ callback

    @http.route(CALLBACK_PATH, type="http", auth="user", methods=["GET"])
    def xero_oauth_callback(self, code=None, state=None, error=None, **kw):
        env = request.env
        values = env["coworks.sync.connection"]._xero_oauth_read_state(state)
        if not values:
            _logger.warning("Xero OAuth callback refused: missing, forged or expired state")
            return self._page(_("This Xero sign-in link is invalid or has expired (it is valid for %s minutes). "
                                "Start again from Settings.", STATE_MINUTES), 400)
        pending = self._pending()
        flow = pending.pop(values["n"], None)
        # The nonce is single use: forget it before anything else can fail.
        request.session[SESSION_KEY] = pending
        if not flow:
            _logger.warning("Xero OAuth callback refused: state not issued to this session or already used")
            return self._page(_("This Xero sign-in link was not started in this browser session, or it was "
                                "already used. Start again from Settings."), 400)
        if values["u"] != env.uid or not env.user._is_system():
            return self._page(_("This Xero sign-in was started by another user."), 403)
        company = env["res.company"].browse(values["c"]).exists()
        if not company or company.id != flow["c"] or values["x"] != flow["x"] or company not in env.user.company_ids:
            _logger.warning("Xero OAuth callback refused: company mismatch")
            return self._page(_("This Xero sign-in was started for another company."), 403)
        conn = env["coworks.sync.connection"].sudo().browse(values["x"]).exists()
        if not conn or conn.company_id != company or not conn.active:
            return self._page(_("This Xero sign-in was started for another company's connection."), 403)
        conn = conn.sudo(False)
        if error:
            _logger.info("Xero OAuth callback: Xero answered %s", error if error.isidentifier() else "an error")
            if error == "access_denied":
                return self._page(_("Access was not granted in Xero. Nothing changed."), 400, conn)
            return self._page(_("Xero refused the request (%s).", error), 400, conn)
        if not code:
            return self._page(_("Xero sent no authorisation code. Start again from Settings."), 400, conn)
        try:
            chosen, candidates = conn._xero_oauth_exchange(code, flow["v"])
        except XeroError as exc:
            _logger.warning("Xero OAuth code exchange refused (%s)", exc.kind)
            if (exc.details or {}).get("oauth_error") in ("invalid_client", "unauthorized_client"):
                # Xero accepted the client ID on its consent page: what it refuses now is the secret.
                return self._page(_(
                    "Xero did not accept the app's client secret. Copy it again from developer.xero.com > "
                    "My Apps > your app > Configuration (generate a new secret if you no longer have it), "
                    "paste it in Settings > Invoicing > Xero and connect again."), 400, None,
                    title=_("Wrong client secret"))
            return self._page(_("Xero refused the authorisation code (%s). A code works once and for a few "
                                "minutes: start again from Settings.", exc.message), 400, conn)
        except (UserError, AccessError) as exc:
            return self._page(exc.args[0], 400, conn)
        if chosen:
            return self._finish(conn, chosen)
        if not candidates:
            if conn.tenant_id:
                msg = _("The authorisation does not include %s, the organisation this company syncs with. "
                        "Connect again and tick it in Xero.", conn.tenant_name or conn.tenant_id)
            else:
                msg = _("The authorisation gives access to no organisation that another company of this "
                        "database does not already sync with. Connect again and tick one in Xero.")
            return self._page(msg, 400, conn)
        if conn.tenant_id:
            return self._page(_("The authorisation does not include %s, the organisation this company syncs "
                                "with. Connect again and tick it in Xero.", conn.tenant_name or conn.tenant_id),
                              400, conn)
        request.session[CHOICE_KEY] = {"x": conn.id, "c": company.id, "t": time.time(), "orgs": [
            {"id": c.get("id"), "tenantId": c["tenantId"], "tenantName": c.get("tenantName") or c["tenantId"]}
            for c in candidates]}
        return request.redirect(CHOOSE_PATH)

    def _finish(self, conn, org):
        try:
            conn._xero_oauth_finish(org)
        except (UserError, AccessError) as exc:
            return self._page(exc.args[0], 400, conn)
        # Back on the settings page, with a notification saying so (a server action).
        conn.invalidate_recordset()
        request.session[NOTICE_KEY] = _("%(company)s is connected to the Xero organisation %(org)s.",
                                         company=conn.company_id.name, org=conn.tenant_name or org.get("tenantName"))
        response = request.redirect("/odoo/action-coworks_xero.action_xero_connected")
        # The settings of the company just connected: it becomes the current company (the
        # companies already active stay active).
        active = [c for c in (request.cookies.get("cids") or "").split("-") if c.isdigit()]
        cid = str(conn.company_id.id)
        if not active or active[0] != cid:
            response.set_cookie("cids", "-".join([cid] + [c for c in active if c != cid]))
        return response

    # ------------------------------------------------------------------ choose

    @http.route(CHOOSE_PATH, type="http", auth="user", methods=["GET", "POST"])
    def xero_oauth_choose(self, tenant_id=None, **kw):
        env = request.env
        choice = request.session.get(CHOICE_KEY)
        if not choice or time.time() - choice.get("t", 0) > STATE_MINUTES * 60:
            return self._page(_("There is no Xero organisation to choose. Start again from Settings."), 400)
        if not env.user._is_system():
            return self._page(_("Only an administrator (Settings rights) can connect Odoo to Xero."), 403)
        conn = env["coworks.sync.connection"].sudo().browse(choice["x"]).exists()
        if not conn or conn.company_id.id != choice["c"] or conn.company_id not in env.user.company_ids:
            return self._page(_("This Xero sign-in was started for another company."), 403)
        conn = conn.sudo(False)
        if request.httprequest.method == "GET":
            return request.render("coworks_xero.oauth_choose", {
                "company": conn.company_id, "orgs": choice["orgs"], "action": CHOOSE_PATH,
                "back_url": self._back_url(conn)})
        org = next((o for o in choice["orgs"] if o["tenantId"] == tenant_id), None)
        if not org:
            return self._page(_("Choose one of the organisations listed."), 400, conn)
        request.session.pop(CHOICE_KEY, None)
        return self._finish(conn, org)

    @staticmethod
    def start_url(company):
        return "%s?%s" % (START_PATH, url_encode({"company_id": company.id}))

"""OAuth 2.0 with Intuit (QuickBooks Online): start and callback.

The Xero controller's rules (``controllers/oauth.py``, after ``addons/google_gmail``): system
administrators only, a ``state`` signed with an expiry and bound to a nonce in the user's server-side
session (single use), readable pages for every refusal, nothing secret logged. The person picks the
company on Intuit's page: the callback names it (``realmId``), so there is no choice page here.
"""
import logging
import time

from odoo import _, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from ..models.sync_connection_oauth import NOTICE_KEY, STATE_MINUTES
from ..models.sync_connection_qbo import QBO_CALLBACK_PATH, QBO_START_PATH
from ..services import provider as prov
from .oauth import MAX_PENDING, CoworksXeroOAuthController

_logger = logging.getLogger(__name__)

SESSION_KEY = "coworks_xero_qbo_oauth"  # {nonce: {"c": company, "x": connection, "t": started}}


class CoworksQboOAuthController(http.Controller):

    def _page(self, message, status=400, connection=None, title=None):
        return request.render("coworks_xero.oauth_message", {
            "title": title or _("Connecting to QuickBooks Online failed"),
            "message": message,
            "back_url": CoworksXeroOAuthController._back_url(connection),
        }, status=status)

    def _pending(self):
        pending = dict(request.session.get(SESSION_KEY) or {})
        now = time.time()
        return {k: v for k, v in pending.items() if now - v.get("t", 0) < STATE_MINUTES * 60}

    @http.route(QBO_START_PATH, type="http", auth="user", methods=["GET"])
    def qbo_oauth_start(self, company_id=None, **kw):
        env = request.env
        if not env.user._is_system():
            return self._page(_("Only an administrator (Settings rights) can connect Odoo to QuickBooks."), 403)
        try:
            company = env["res.company"].browse(int(company_id)) if company_id else env.company
        except ValueError:
            return self._page(_("Unknown company."), 400)
        if company not in env.user.company_ids:
            return self._page(_("You do not have access to this company."), 403)
        conn = env["coworks.sync.connection"]._connection_for_company_sudo(company).sudo(False)
        try:
            flow = conn._qbo_oauth_begin()
        except (UserError, AccessError) as exc:
            return self._page(exc.args[0], 400, conn)
        pending = self._pending()
        while len(pending) >= MAX_PENDING:
            pending.pop(min(pending, key=lambda k: pending[k]["t"]))
        pending[flow["nonce"]] = {"c": company.id, "x": conn.id, "t": time.time()}
        request.session[SESSION_KEY] = pending
        _logger.info("QuickBooks connect flow started for company %s by user %s", company.id, env.uid)
        return request.redirect(flow["url"], local=False)

    @http.route(QBO_CALLBACK_PATH, type="http", auth="user", methods=["GET"])
    def qbo_oauth_callback(self, code=None, state=None, realmId=None, error=None, **kw):  # noqa: N803 - Intuit's name
        env = request.env
        values = env["coworks.sync.connection"]._xero_oauth_read_state(state)
        if not values or values.get("p") != "qbo":
            _logger.warning("QuickBooks OAuth callback refused: missing, forged or expired state")
            return self._page(_("This QuickBooks sign-in link is invalid or has expired (it is valid for %s "
                                "minutes). Start again from Settings.", STATE_MINUTES), 400)
        pending = self._pending()
        flow = pending.pop(values["n"], None)
        request.session[SESSION_KEY] = pending  # single use, forgotten before anything can fail
        if not flow:
            return self._page(_("This QuickBooks sign-in link was not started in this browser session, or it "
                                "was already used. Start again from Settings."), 400)
        if values["u"] != env.uid or not env.user._is_system():
            return self._page(_("This QuickBooks sign-in was started by another user."), 403)
        company = env["res.company"].browse(values["c"]).exists()
        if not company or company.id != flow["c"] or values["x"] != flow["x"] or company not in env.user.company_ids:
            return self._page(_("This QuickBooks sign-in was started for another company."), 403)
        conn = env["coworks.sync.connection"].sudo().browse(values["x"]).exists()
        if not conn or conn.company_id != company or not conn.active or conn.provider != "qbo":
            return self._page(_("This QuickBooks sign-in was started for another company's connection."), 403)
        conn = conn.sudo(False)
        if error:
            if error == "access_denied":
                return self._page(_("Access was not granted in QuickBooks. Nothing changed."), 400, conn)
            return self._page(_("QuickBooks refused the request (%s).", error[:80]), 400, conn)
        if not code:
            return self._page(_("QuickBooks sent no authorisation code. Start again from Settings."), 400, conn)
        try:
            org = conn._qbo_oauth_exchange(code, realmId)
        except prov.ProviderError as exc:
            _logger.warning("QuickBooks OAuth code exchange refused (%s)", exc.kind)
            return self._page(_("QuickBooks refused the authorisation code (%s). A code works once and for a "
                                "few minutes: start again from Settings.", exc.message), 400, conn)
        except (UserError, AccessError) as exc:
            return self._page(exc.args[0], 400, conn)
        try:
            conn._xero_oauth_finish(org)
        except (UserError, AccessError) as exc:
            return self._page(exc.args[0], 400, conn)
        conn.invalidate_recordset()
        request.session[NOTICE_KEY] = _("%(company)s is connected to the QuickBooks Online company %(org)s.",
                                         company=conn.company_id.name, org=conn.tenant_name or org["tenantName"])
        response = request.redirect("/odoo/action-coworks_xero.action_xero_connected")
        active = [c for c in (request.cookies.get("cids") or "").split("-") if c.isdigit()]
        cid = str(conn.company_id.id)
        if not active or active[0] != cid:
            response.set_cookie("cids", "-".join([cid] + [c for c in active if c != cid]))
        return response

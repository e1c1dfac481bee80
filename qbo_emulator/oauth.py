"""Intuit's OAuth 2.0 server, as the emulator plays it: discovery document, the authorize page with the
company (realm) choice, the token endpoint (authorization code, refresh with rotating refresh tokens)
and revocation. Times use the emulator clock.

Intuit's published figures: access tokens live 3,600 s (``expires_in``), refresh tokens 100 days
(``x_refresh_token_expires_in`` 8,726,400 s); a refresh answers a new refresh token and the client
must keep the latest. The emulator keeps the previous refresh token usable until its successor is
used (a refresh whose answer was lost can be repeated): Intuit's exact grace rule is not published in
the text available here (README).
"""
from __future__ import annotations

import base64
import html
import secrets
import threading
import urllib.parse

from . import seed

ACCESS_TTL = 3600
REFRESH_TTL = 8726400
CODE_TTL = 600
SCOPE_ACCOUNTING = "com.intuit.quickbooks.accounting"
KNOWN_SCOPES = {SCOPE_ACCOUNTING, "com.intuit.quickbooks.payment", "openid", "profile", "email", "phone", "address"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class OAuthError(Exception):
    def __init__(self, error, status=400, description=None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description


class Identity:
    def __init__(self, clock, realm_names):
        self.clock = clock
        self.realm_names = realm_names
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.apps = seed.demo_apps()
            self.codes = {}
            self.grants = {}  # grant id -> {client_id, realm_id, scopes, revoked}
            self.access = {}  # token -> {grant_id, expires}
            self.refresh = {}  # token -> {grant_id, expires, state: current|previous|dead, successor}

    def discovery(self, base):
        return {"issuer": base, "authorization_endpoint": base + "/connect/oauth2",
                "token_endpoint": base + "/oauth2/v1/tokens/bearer",
                "revocation_endpoint": base + "/oauth2/v1/tokens/revoke",
                "userinfo_endpoint": base + "/v1/openid_connect/userinfo", "jwks_uri": base + "/oauth2/v1/keys",
                "response_types_supported": ["code"], "scopes_supported": sorted(KNOWN_SCOPES),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"]}

    # -- apps ----------------------------------------------------------------------------------
    def register_app(self, client_id, client_secret, redirect_uris):
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        with self.lock:
            self.apps[client_id] = {"client_id": client_id, "client_secret": client_secret,
                                    "redirect_uris": list(redirect_uris or []), "loopback_any": False}
        return self.apps[client_id]

    def _redirect_ok(self, app, uri):
        if uri in app["redirect_uris"]:
            return True
        if app.get("loopback_any"):
            parts = urllib.parse.urlsplit(uri)
            return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK and not parts.fragment
        return False

    def authenticate(self, form, auth_header):
        if auth_header and auth_header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth_header[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", 401) from None
            client_id, _, secret = raw.partition(":")
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        app = self.apps.get(client_id or "")
        if app is None or not secrets.compare_digest(app["client_secret"], secret or ""):
            raise OAuthError("invalid_client", 401)
        return app

    # -- authorize -----------------------------------------------------------------------------
    def check_authorize(self, params):
        app = self.apps.get(params.get("client_id") or "")
        if app is None:
            raise OAuthError("invalid_client", description="unknown client_id")
        if not self._redirect_ok(app, params.get("redirect_uri") or ""):
            raise OAuthError("invalid_request", description="redirect_uri is not registered for this app")
        if params.get("response_type") != "code":
            return app, "unsupported_response_type"
        scopes = (params.get("scope") or "").split()
        if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            return app, "invalid_scope"
        return app, None

    def issue_code(self, app, params, realm_id):
        code = "AB11" + secrets.token_urlsafe(30)
        with self.lock:
            self.codes[code] = {"client_id": app["client_id"], "redirect_uri": params["redirect_uri"],
                                "scopes": (params.get("scope") or "").split(), "realm_id": realm_id,
                                "expires": self.clock.now() + CODE_TTL, "used": False}
        return code

    def authorize_page(self, params, realms, message=""):
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items() if k != "realm")
        options = "".join(f'<label><input type="radio" name="realm" value="{r}"> {html.escape(n)} ({r})</label><br>'
                          for r, n in realms.items())
        return (f"<html><head><title>Connect to QuickBooks (emulator)</title></head><body><h1>Choose a company</h1>"
                f"<p>{html.escape(message)}</p><form method='post'>{hidden}{options}"
                f"<button name='action' value='allow'>Connect</button> "
                f"<button name='action' value='deny'>Cancel</button></form></body></html>")

    # -- tokens --------------------------------------------------------------------------------
    def _issue(self, grant_id):
        now = self.clock.now()
        access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2In0." + secrets.token_urlsafe(40) + "." + secrets.token_urlsafe(12)
        refresh = "RT1-" + secrets.token_urlsafe(36)
        self.access[access] = {"grant_id": grant_id, "expires": now + ACCESS_TTL}
        self.refresh[refresh] = {"grant_id": grant_id, "expires": now + REFRESH_TTL, "state": "current",
                                 "successor": None, "predecessor": None}
        return access, refresh

    def token(self, form, auth_header):
        app = self.authenticate(form, auth_header)
        grant_type = form.get("grant_type")
        with self.lock:
            now = self.clock.now()
            if grant_type == "authorization_code":
                code = self.codes.get(form.get("code") or "")
                if code is None or code["client_id"] != app["client_id"] or code["expires"] < now:
                    raise OAuthError("invalid_grant")
                if code["used"]:
                    raise OAuthError("invalid_grant", description="authorization code already used")
                if code["redirect_uri"] != form.get("redirect_uri"):
                    raise OAuthError("invalid_grant", description="redirect_uri mismatch")
                code["used"] = True
                grant_id = secrets.token_hex(8)
                self.grants[grant_id] = {"client_id": app["client_id"], "realm_id": code["realm_id"],
                                         "scopes": code["scopes"], "revoked": False}
                access, refresh = self._issue(grant_id)
            elif grant_type == "refresh_token":
                token = form.get("refresh_token") or ""
                rec = self.refresh.get(token)
                if rec is None or rec["state"] == "dead" or rec["expires"] < now:
                    raise OAuthError("invalid_grant", description="Incorrect or invalid refresh token")
                grant = self.grants[rec["grant_id"]]
                if grant["revoked"] or grant["client_id"] != app["client_id"]:
                    raise OAuthError("invalid_grant", description="Incorrect or invalid refresh token")
                if rec["state"] == "previous":
                    # its successor was never used (the answer was lost): that successor dies, this one rotates
                    succ = self.refresh.get(rec["successor"])
                    if succ:
                        succ["state"] = "dead"
                # using a token kills its predecessor for good
                pred = self.refresh.get(rec.get("predecessor") or "")
                if pred:
                    pred["state"] = "dead"
                rec["state"] = "previous"
                access, refresh = self._issue(rec["grant_id"])
                rec["successor"] = refresh
                self.refresh[refresh]["predecessor"] = token
                grant_id = rec["grant_id"]
            else:
                raise OAuthError("unsupported_grant_type")
            grant = self.grants[grant_id]
            out = {"token_type": "bearer", "access_token": access, "expires_in": ACCESS_TTL,
                   "refresh_token": refresh, "x_refresh_token_expires_in": REFRESH_TTL}
            if grant_type == "authorization_code":
                out["realmId"] = grant["realm_id"]  # (emulator addition; Intuit gives it on the callback)
            return out

    def revoke(self, token, auth_header):
        app = self.authenticate({}, auth_header)
        with self.lock:
            rec = self.refresh.get(token or "") or self.access.get(token or "")
            if rec is None:
                raise OAuthError("invalid_request", description="token not found")
            grant = self.grants[rec["grant_id"]]
            if grant["client_id"] != app["client_id"]:
                raise OAuthError("invalid_client", 401)
            grant["revoked"] = True

    def check_bearer(self, header, realm_id):
        """-> (grant, None) or (None, (status, code, detail))."""
        if not header or not header.lower().startswith("bearer "):
            return None, (401, "3200", "Token revoked or missing: no bearer token")
        token = header[7:].strip()
        with self.lock:
            rec = self.access.get(token)
            if rec is None:
                return None, (401, "3200", "Token invalid")
            grant = self.grants[rec["grant_id"]]
            if grant["revoked"]:
                return None, (401, "3200", "Token revoked")
            if rec["expires"] < self.clock.now():
                return None, (401, "3200", "Token expired: " + token[:10] + "...")
            if grant["realm_id"] != realm_id:
                return None, (403, "3100", "The application is not authorized for this company (realm)")
            if SCOPE_ACCOUNTING not in grant["scopes"]:
                return None, (403, "3100", "The token has no accounting scope")
            return grant, None

    def create_grant(self, client_id, realm_id, scopes=None):
        with self.lock:
            grant_id = secrets.token_hex(8)
            self.grants[grant_id] = {"client_id": client_id, "realm_id": realm_id,
                                     "scopes": scopes or [SCOPE_ACCOUNTING], "revoked": False}
            access, refresh = self._issue(grant_id)
            return {"access_token": access, "refresh_token": refresh, "expires_in": ACCESS_TTL,
                    "x_refresh_token_expires_in": REFRESH_TTL, "token_type": "bearer", "realmId": realm_id}

    def expire_all_access_tokens(self):
        with self.lock:
            for rec in self.access.values():
                rec["expires"] = self.clock.now() - 1

    def kill_refresh_tokens(self):
        with self.lock:
            for rec in self.refresh.values():
                rec["state"] = "dead"

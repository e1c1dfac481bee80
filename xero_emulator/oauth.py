"""Xero identity: apps, the authorize page, the token and revocation endpoints, connections.

Times (code expiry, access-token expiry, refresh grace) use the emulator clock.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
import threading
import urllib.parse
import uuid

from . import seed
from .webhooks import LOOPBACK_HOSTS

ACCESS_TTL = 1800
CODE_TTL = 300
REFRESH_GRACE = 1800
REFRESH_IDLE = 60 * 86400

KNOWN_SCOPES = {
    "openid", "profile", "email", "offline_access", "paymentservices", "finance.accountingactivity.read",
    "accounting.attachments", "accounting.attachments.read", "accounting.budgets.read",
    "accounting.contacts", "accounting.contacts.read", "accounting.journals.read",
    "accounting.reports.read", "accounting.reports.tenninetynine.read",
    "accounting.settings", "accounting.settings.read", "accounting.transactions", "accounting.transactions.read",
    # granular scopes (2026)
    "accounting.invoices", "accounting.invoices.read", "accounting.payments", "accounting.payments.read",
    "accounting.banktransactions", "accounting.banktransactions.read", "accounting.manualjournals",
    "accounting.manualjournals.read", "accounting.classicexpenses", "accounting.classicexpenses.read",
    "accounting.reports.aged.read", "accounting.reports.balancesheet.read",
    "accounting.reports.profitandloss.read",
}

# path family -> granular scope that replaces accounting.transactions for it
_GRANULAR = {
    "invoices": "accounting.invoices", "creditnotes": "accounting.invoices", "items": "accounting.invoices",
    "linkedtransactions": "accounting.invoices", "purchaseorders": "accounting.invoices",
    "quotes": "accounting.invoices", "repeatinginvoices": "accounting.invoices",
    "payments": "accounting.payments", "batchpayments": "accounting.payments",
    "overpayments": "accounting.payments", "prepayments": "accounting.payments",
    "banktransactions": "accounting.banktransactions", "banktransfers": "accounting.banktransactions",
    "manualjournals": "accounting.manualjournals",
    "expenseclaims": "accounting.classicexpenses", "receipts": "accounting.classicexpenses",
}


class OAuthError(Exception):
    def __init__(self, error, status=400, description=None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def scope_allows(token_scopes: set, op_scopes: list, path: str, method: str) -> bool:
    """Does the token carry a scope the operation accepts (old broad or new granular names)?"""
    write = method != "GET"
    wanted = set(s for s in op_scopes if not (write and s.endswith(".read")))
    if not wanted:
        return True
    have = set(token_scopes)
    for s in list(have):
        if not s.endswith(".read"):
            have.add(s + ".read")
    if have & wanted:
        return True
    family = path.strip("/").split("/")[0].lower()
    granular = _GRANULAR.get(family)
    if granular and any(s.startswith("accounting.transactions") or s.startswith("accounting.settings") for s in wanted):
        need = granular if write else granular + ".read"
        return need in have
    return False


class Identity:
    def __init__(self, clock, orgs_names):
        self.clock = clock
        self.org_names = orgs_names  # tenant id -> name
        self.lock = threading.RLock()
        self.signing_key = secrets.token_bytes(32)
        self.reset()

    def reset(self):
        with self.lock:
            self.apps = seed.demo_apps()
            self.codes = {}
            self.grants = {}
            self.access = {}
            self.refresh = {}
            self.connections = {}

    # -- apps --------------------------------------------------------------------------------
    def register_app(self, client_id, client_secret, redirect_uris):
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        for uri in redirect_uris or []:
            parts = urllib.parse.urlsplit(uri)
            if not parts.scheme or not parts.netloc:
                raise ValueError(f"redirect uri must be absolute: {uri}")
        with self.lock:
            self.apps[client_id] = {"client_id": client_id, "client_secret": client_secret,
                                    "redirect_uris": list(redirect_uris or []), "loopback_callback_path": None}
        return self.apps[client_id]

    def redirect_allowed(self, app, uri):
        if uri in app["redirect_uris"]:
            return True
        path = app.get("loopback_callback_path")
        if path:
            parts = urllib.parse.urlsplit(uri)
            return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and parts.path == path \
                and not parts.query and not parts.fragment
        return False

    def authenticate_client(self, form, auth_header):
        client_id = secret = None
        if auth_header and auth_header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth_header[6:].strip()).decode("utf-8")
                client_id, _, secret = raw.partition(":")
                client_id = urllib.parse.unquote_plus(client_id)
                secret = urllib.parse.unquote_plus(secret)
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client")
        else:
            client_id = form.get("client_id")
            secret = form.get("client_secret")
        app = self.apps.get(client_id or "")
        if app is None:
            raise OAuthError("invalid_client")
        if secret is None:
            # PKCE public client: no secret, but then a code_verifier must prove the code
            return app, False
        if not hmac.compare_digest(secret, app["client_secret"]):
            raise OAuthError("invalid_client")
        return app, True

    # -- authorize ---------------------------------------------------------------------------
    def check_authorize(self, params):
        """Return (app, error_redirect or None). Raises OAuthError for errors shown to the person
        (bad client_id / redirect_uri: never redirect to an unverified URI)."""
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            raise OAuthError("unauthorized_client", description="Unknown client or client not enabled")
        redirect_uri = params.get("redirect_uri", "")
        if not self.redirect_allowed(app, redirect_uri):
            raise OAuthError("invalid_request", description="Invalid redirect_uri")
        err = None
        if params.get("response_type") != "code":
            err = "unsupported_response_type"
        else:
            scopes = params.get("scope", "").split()
            if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
                err = "invalid_scope"
            method = params.get("code_challenge_method")
            if params.get("code_challenge") and method not in ("S256",):
                err = "invalid_request"
        return app, err

    def authorize_page(self, params, error=None):
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items() if k in ("client_id", "redirect_uri", "response_type", "scope", "state",
                                                 "code_challenge", "code_challenge_method", "nonce"))
        orgs = "".join(
            f'<li><label><input type="checkbox" name="tenant" value="{tid}"{" checked" if i == 0 else ""}> '
            f'{html.escape(name)}</label></li>'
            for i, (tid, name) in enumerate(self.org_names.items()))
        msg = f'<p class="error">{html.escape(error)}</p>' if error else ""
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Xero (emulator) - Allow access</title></head>"
            "<body><h1>Xero emulator</h1>"
            f"<p><b>{html.escape(params.get('client_id', ''))}</b> wants access to your organisations "
            f"(scopes: <code>{html.escape(params.get('scope', ''))}</code>).</p>{msg}"
            '<form method="post" action="/identity/connect/authorize">'
            f"{hidden}<ul>{orgs}</ul>"
            '<button type="submit" name="action" value="allow" id="allow">Allow access</button> '
            '<button type="submit" name="action" value="deny" id="deny">Cancel</button>'
            "</form></body></html>"
        )

    def issue_code(self, app, params, tenant_ids):
        code = _b64url(secrets.token_bytes(24))
        with self.lock:
            self.codes[code] = {
                "client_id": app["client_id"], "redirect_uri": params["redirect_uri"],
                "scopes": params.get("scope", "").split(), "tenant_ids": list(tenant_ids),
                "challenge": params.get("code_challenge"), "method": params.get("code_challenge_method"),
                "expires": self.clock.now() + CODE_TTL, "used": False, "grant_id": None,
                "nonce": params.get("nonce"),
            }
        return code

    # -- grants & tokens ---------------------------------------------------------------------
    def create_grant(self, client_id, tenant_ids, scopes, user_id=seed.DEMO_USER_ID, nonce=None):
        for t in tenant_ids:
            if t not in self.org_names:
                raise ValueError(f"unknown tenant {t}")
        with self.lock:
            grant_id = str(uuid.uuid4())
            now = self.clock.now()
            self.grants[grant_id] = {"id": grant_id, "client_id": client_id, "user_id": user_id,
                                     "scopes": list(scopes), "revoked": False, "created": now}
            stamp = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            for t in tenant_ids:
                existing = next((c for c in self.connections.values() if c["_client_id"] == client_id
                                 and c["_user_id"] == user_id and c["tenantId"] == t), None)
                if existing:
                    existing["authEventId"] = grant_id
                    existing["updatedDateUtc"] = stamp
                else:
                    cid = str(uuid.uuid4())
                    self.connections[cid] = {"id": cid, "authEventId": grant_id, "tenantId": t,
                                             "tenantType": "ORGANISATION", "tenantName": self.org_names[t],
                                             "createdDateUtc": stamp, "updatedDateUtc": stamp,
                                             "_client_id": client_id, "_user_id": user_id}
            return self._issue_tokens(grant_id, nonce=nonce)

    def _issue_tokens(self, grant_id, nonce=None):
        grant = self.grants[grant_id]
        now = self.clock.now()
        payload = {
            "nbf": int(now), "exp": int(now + ACCESS_TTL), "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources", "client_id": grant["client_id"],
            "sub": grant["user_id"].replace("-", ""), "auth_time": int(grant["created"]),
            "xero_userid": grant["user_id"], "global_session_id": grant_id.replace("-", ""),
            "sid": grant_id.replace("-", ""), "jti": secrets.token_hex(16),
            "authentication_event_id": grant_id, "scope": grant["scopes"],
        }
        access = self._jwt(payload)
        self.access[access] = {"grant_id": grant_id, "expires": now + ACCESS_TTL, "revoked": False}
        out = {"access_token": access, "expires_in": ACCESS_TTL, "token_type": "Bearer",
               "scope": " ".join(grant["scopes"])}
        if "offline_access" in grant["scopes"]:
            rt = _b64url(secrets.token_bytes(32))
            self.refresh[rt] = {"grant_id": grant_id, "issued": now, "rotated_at": None, "successor": None,
                                "used": False, "revoked": False}
            out["refresh_token"] = rt
        if "openid" in grant["scopes"]:
            out["id_token"] = self._jwt({
                "nbf": int(now), "exp": int(now + 300), "iss": "https://identity.xero.com",
                "aud": grant["client_id"], "iat": int(now), "at_hash": _b64url(hashlib.sha256(access.encode()).digest()[:16]),
                "sid": grant_id.replace("-", ""), "sub": grant["user_id"].replace("-", ""),
                "auth_time": int(grant["created"]), "xero_userid": grant["user_id"],
                "global_session_id": grant_id.replace("-", ""), "preferred_username": "demo@coworks.example",
                "email": "demo@coworks.example", "given_name": "Demo", "family_name": "User",
                **({"nonce": nonce} if nonce else {}),
            })
        return out

    def _jwt(self, payload):
        header = _b64url(json.dumps({"alg": "HS256", "kid": "emulator", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        sig = _b64url(hmac.new(self.signing_key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{sig}"

    def _revoke_grant(self, grant_id):
        grant = self.grants.get(grant_id)
        if grant:
            grant["revoked"] = True
        for rec in self.access.values():
            if rec["grant_id"] == grant_id:
                rec["revoked"] = True
        for rec in self.refresh.values():
            if rec["grant_id"] == grant_id:
                rec["revoked"] = True

    def token(self, form, auth_header):
        with self.lock:
            app, authenticated = self.authenticate_client(form, auth_header)
            grant_type = form.get("grant_type")
            now = self.clock.now()
            if grant_type == "authorization_code":
                code = self.codes.get(form.get("code", ""))
                if code is None or code["client_id"] != app["client_id"]:
                    raise OAuthError("invalid_grant")
                if code["used"]:
                    # RFC 6749 s4.1.2: a reused code revokes what it issued
                    if code["grant_id"]:
                        self._revoke_grant(code["grant_id"])
                    raise OAuthError("invalid_grant")
                code["used"] = True
                if now > code["expires"]:
                    raise OAuthError("invalid_grant")
                if form.get("redirect_uri") != code["redirect_uri"]:
                    raise OAuthError("invalid_grant")
                if code["challenge"]:
                    verifier = form.get("code_verifier", "")
                    expected = _b64url(hashlib.sha256(verifier.encode("ascii", "ignore")).digest())
                    if not verifier or not hmac.compare_digest(expected, code["challenge"]):
                        raise OAuthError("invalid_grant")
                elif not authenticated:
                    raise OAuthError("invalid_client")
                result = self.create_grant(app["client_id"], code["tenant_ids"], code["scopes"], nonce=code["nonce"])
                code["grant_id"] = self.access[result["access_token"]]["grant_id"]
                return result
            if grant_type == "refresh_token":
                rt = form.get("refresh_token", "")
                rec = self.refresh.get(rt)
                if rec is None or rec["revoked"]:
                    raise OAuthError("invalid_grant")
                grant = self.grants[rec["grant_id"]]
                if grant["client_id"] != app["client_id"] or grant["revoked"]:
                    raise OAuthError("invalid_grant")
                if now - rec["issued"] > REFRESH_IDLE:
                    raise OAuthError("invalid_grant")
                if rec["rotated_at"] is not None:
                    # Xero's grace: the previous refresh token may be retried for 30 minutes when the
                    # response carrying its successor was lost, i.e. as long as the successor is unused
                    succ = self.refresh.get(rec["successor"])
                    if now - rec["rotated_at"] > REFRESH_GRACE or succ is None or succ["used"]:
                        raise OAuthError("invalid_grant")
                    succ["revoked"] = True
                out = self._issue_tokens(rec["grant_id"])
                new = out.get("refresh_token")
                rec["used"] = True
                rec["rotated_at"] = now
                rec["successor"] = new
                return out
            raise OAuthError("unsupported_grant_type")

    def revoke(self, form, auth_header):
        with self.lock:
            app, authenticated = self.authenticate_client(form, auth_header)
            if not authenticated:
                raise OAuthError("invalid_client")
            token = form.get("token", "")
            rec = self.refresh.get(token)
            grant_id = None
            if rec is not None:
                grant_id = rec["grant_id"]
            elif token in self.access:
                grant_id = self.access[token]["grant_id"]
            if grant_id is None:
                return  # RFC 7009: unknown tokens are not an error
            grant = self.grants[grant_id]
            if grant["client_id"] != app["client_id"]:
                return
            self._revoke_grant(grant_id)
            for cid in [c["id"] for c in self.connections.values()
                        if c["_client_id"] == grant["client_id"] and c["_user_id"] == grant["user_id"]]:
                del self.connections[cid]

    # -- checks ------------------------------------------------------------------------------
    def check_bearer(self, auth_header):
        """Return (grant, None) or (None, (status, detail))."""
        if not auth_header or not auth_header.lower().startswith("bearer "):
            return None, (401, "AuthenticationUnsuccessful")
        token = auth_header[7:].strip()
        with self.lock:
            rec = self.access.get(token)
            if rec is None or rec["revoked"]:
                return None, (401, "AuthenticationUnsuccessful")
            now = self.clock.now()
            if now >= rec["expires"]:
                when = dt.datetime.fromtimestamp(rec["expires"], tz=dt.timezone.utc)
                return None, (401, "TokenExpired: token expired at " + when.strftime("%m/%d/%Y %H:%M:%S"))
            grant = self.grants[rec["grant_id"]]
            if grant["revoked"]:
                return None, (401, "AuthenticationUnsuccessful")
            return grant, None

    def connections_for(self, grant):
        with self.lock:
            return [c for c in self.connections.values()
                    if c["_client_id"] == grant["client_id"] and c["_user_id"] == grant["user_id"]]

    def tenant_allowed(self, grant, tenant_id):
        tenant_id = (tenant_id or "").lower()
        return any(c["tenantId"] == tenant_id for c in self.connections_for(grant))

    def delete_connection(self, grant, conn_id):
        with self.lock:
            c = self.connections.get(conn_id)
            if c is None or c["_client_id"] != grant["client_id"] or c["_user_id"] != grant["user_id"]:
                return False
            del self.connections[conn_id]
            return True

    def expire_all_access_tokens(self):
        with self.lock:
            now = self.clock.now()
            for rec in self.access.values():
                rec["expires"] = min(rec["expires"], now - 1)

    def kill_refresh_tokens(self):
        """Every refresh token issued so far answers invalid_grant from now on (a refresh token
        Xero no longer honours: idle for 60 days, or the grant withdrawn on Xero's side). Access
        tokens live on until they expire; a new authorisation gets working tokens again."""
        with self.lock:
            for rec in self.refresh.values():
                rec["revoked"] = True
            return len(self.refresh)

    @staticmethod
    def public_connection(c):
        return {k: v for k, v in c.items() if not k.startswith("_")}

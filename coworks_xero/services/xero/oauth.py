"""OAuth 2.0 with Xero: tokens, token stores, authorize URL with PKCE, code exchange.

* :class:`TokenSet` - what Xero issued (never shows its secrets in ``repr``);
* :class:`TokenStore` - the protocol the client persists tokens through
  (the Odoo connection implements it with a row lock in its own cursor);
  :class:`InMemoryTokenStore` for tests and the demo;
* :func:`make_pkce_pair`, :func:`build_authorize_url`, :func:`start_authorization`;
* :func:`exchange_code` - the authorization-code grant (with the PKCE
  verifier), the one call xero-python does not offer, so it goes through
  ``requests``.

Refresh, revocation and connections go through xero-python (``TokenApi``,
``IdentityApi``) inside :class:`~coworks_xero.services.xero.client.XeroClient`.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import logging
import secrets
import threading
import time
from typing import ContextManager, Optional, Protocol
from urllib.parse import urlencode

from . import const
from .errors import REAUTH, RETRYABLE, XeroError, classify, register_secret

_logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TokenSet:
    """Tokens for one Xero authorisation. ``expires_at`` is epoch seconds."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    expires_at: float = 0.0
    scope: str = ""
    id_token: Optional[str] = dataclasses.field(default=None, repr=False)
    token_type: str = "Bearer"

    def __post_init__(self):
        for value in (self.access_token, self.refresh_token, self.id_token):
            register_secret(value)

    def expires_within(self, seconds, now=None):
        now = time.time() if now is None else now
        return not self.access_token or self.expires_at - now <= seconds

    @property
    def scopes(self):
        return tuple(self.scope.split()) if self.scope else ()

    @classmethod
    def from_response(cls, data, now=None, previous=None):
        """From a token endpoint's JSON answer (``expires_in`` relative)."""
        now = time.time() if now is None else now
        if not isinstance(data, dict) or not data.get("access_token"):
            raise XeroError(REAUTH, "Xero's token endpoint answered without an access token.")
        expires_in = data.get("expires_in") or const.ACCESS_TOKEN_LIFETIME
        try:
            expires_in = float(expires_in)
        except (TypeError, ValueError):
            expires_in = float(const.ACCESS_TOKEN_LIFETIME)
        scope = data.get("scope")
        if isinstance(scope, (list, tuple)):
            scope = " ".join(scope)
        return cls(
            access_token=data["access_token"],
            # Xero rotates refresh tokens; keep the old one only if none came back
            refresh_token=data.get("refresh_token") or (previous.refresh_token if previous else ""),
            expires_at=now + expires_in,
            scope=scope or (previous.scope if previous else ""),
            id_token=data.get("id_token") or (previous.id_token if previous else None),
            token_type=data.get("token_type") or "Bearer",
        )

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


class TokenStore(Protocol):
    def load(self) -> TokenSet:  # fresh read (another worker may have rotated)
        ...

    def save(self, tokens: TokenSet) -> None:  # persist atomically, before use
        ...

    def refresh_lock(self) -> ContextManager:  # single-flight refresh across workers
        ...


class InMemoryTokenStore:
    """A :class:`TokenStore` in memory, shared by threads of one process."""

    def __init__(self, tokens: Optional[TokenSet] = None):
        self._tokens = tokens
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.saves = 0

    def load(self) -> TokenSet:
        with self._lock:
            if self._tokens is None:
                raise XeroError(REAUTH, "Not connected to Xero: no tokens stored.")
            return dataclasses.replace(self._tokens)

    def save(self, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens = dataclasses.replace(tokens)
            self.saves += 1

    @contextlib.contextmanager
    def refresh_lock(self):
        with self._refresh_lock:
            yield


# ---------------------------------------------------------------- authorize


def make_pkce_pair():
    """(code_verifier, code_challenge) for PKCE with S256."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode("ascii")
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def build_authorize_url(config, redirect_uri, state, code_challenge, scopes=None):
    """The URL that sends a person to Xero's consent screen."""
    scope = " ".join(scopes) if scopes else const.SCOPE
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    return config.authorize_url + "?" + urlencode(params)


@dataclasses.dataclass
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str = dataclasses.field(repr=False)


def start_authorization(config, redirect_uri, state=None, scopes=None):
    """A fresh ``state`` and PKCE verifier, and the authorize URL using them.

    Keep ``state`` and ``code_verifier`` server-side (e.g. signed in the
    session); check ``state`` on the callback and pass the verifier to
    :func:`exchange_code`.
    """
    state = state or secrets.token_urlsafe(24)
    verifier, challenge = make_pkce_pair()
    register_secret(verifier)
    return AuthorizationRequest(
        url=build_authorize_url(config, redirect_uri, state, challenge, scopes),
        state=state,
        code_verifier=verifier,
    )


def exchange_code(config, code, redirect_uri, code_verifier, *, session=None, clock=None):
    """Authorization code (+ PKCE verifier) -> :class:`TokenSet`.

    xero-python has no call for this grant, so it goes through ``requests``.
    Not retried: an authorization code works once.
    """
    import requests  # local: only the connect flow needs it

    register_secret(code)
    register_secret(code_verifier)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "client_id": config.client_id,
    }
    if config.client_secret:
        data["client_secret"] = config.client_secret
    http = session or requests
    try:
        response = http.post(
            config.token_url,
            data=data,
            headers={"Accept": "application/json"},
            # one number: a code exchange is a single short call (and Odoo's test guard on
            # ``requests`` only understands a number)
            timeout=max(config.connect_timeout, config.read_timeout),
        )
    except requests.Timeout:
        raise XeroError(RETRYABLE, "Xero's token endpoint did not answer in time.") from None
    except requests.RequestException as exc:
        raise XeroError(
            RETRYABLE, "Could not reach Xero's token endpoint (%s)." % type(exc).__name__
        ) from None
    if response.status_code != 200:
        err = classify(response.status_code, response.headers, response.content, what="Xero's token endpoint")
        _logger.warning("Xero code exchange failed: HTTP %s (%s)", response.status_code, err.kind)
        raise err
    try:
        payload = response.json()
    except ValueError:
        raise XeroError(RETRYABLE, "Xero's token endpoint answered with something that is not JSON.") from None
    now = clock() if clock else time.time()
    tokens = TokenSet.from_response(payload, now=now)
    _logger.info("Xero authorisation code exchanged for tokens (scope: %s)", tokens.scope)
    return tokens


# ---------------------------------------------------------------- after consent


def token_claims(token):
    """The claims of a JWT-shaped token, *unverified* (never use them to authorise anything).

    Xero's access tokens carry ``xero_userid`` and ``authentication_event_id``; the connect flow
    reads them to know which Xero user a grant belongs to. Anything unreadable gives ``{}``.
    """
    import json

    if not token or not isinstance(token, str) or token.count(".") != 2:
        return {}
    body = token.split(".")[1]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def organisation_candidates(connections, taken=(), preferred=None):
    """Which organisation a company should sync with, from ``GET /Connections``.

    :param connections: the list Xero answered (``id``, ``tenantId``, ``tenantName``, ``tenantType``)
    :param taken: tenant ids already synced by another company (one company <-> one organisation)
    :param preferred: the tenant this company synced with before (a reconnect keeps it)
    :return: ``(chosen, candidates)``: ``chosen`` is the connection dict to use without asking
        (the preferred organisation, or the only one available), else ``None`` and the person
        chooses among ``candidates``.
    """
    taken = {t.lower() for t in taken if t}
    candidates = [
        c for c in connections or []
        if isinstance(c, dict) and c.get("tenantId") and (c.get("tenantType") or "ORGANISATION") == "ORGANISATION"
        and c["tenantId"].lower() not in taken
    ]
    if preferred:
        for c in candidates:
            if c["tenantId"].lower() == preferred.lower():
                return c, candidates
        return None, candidates
    if len(candidates) == 1:
        return candidates[0], candidates
    return None, candidates

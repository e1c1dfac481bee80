"""OAuth 2.0 with Intuit (QuickBooks Online): authorize URL, code exchange, refresh, revoke.

intuit-oauth's ``AuthClient`` takes its discovery document URL as ``environment``, so the same code
talks to Intuit and to the local qbo_emulator; no call here bypasses it. Tokens are the
provider-neutral :class:`~coworks_xero.services.xero.oauth.TokenSet` kept through a ``TokenStore``.
"""
from __future__ import annotations

import dataclasses
import time

from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from ..provider import REAUTH, RETRYABLE, ProviderError
from ..xero.oauth import TokenSet

SCOPE_ACCOUNTING = Scopes.ACCOUNTING.value  # "com.intuit.quickbooks.accounting"


@dataclasses.dataclass
class Connection:
    """What a completed authorisation gives: the tokens and the company (realm) the person picked."""

    tokens: TokenSet
    realm_id: str


def auth_client(config, redirect_uri="", tokens: TokenSet | None = None) -> AuthClient:
    return AuthClient(config.client_id, config.client_secret, redirect_uri, config.discovery_url,
                      access_token=tokens.access_token if tokens else None,
                      refresh_token=tokens.refresh_token if tokens else None)


def authorization_url(config, redirect_uri, state) -> str:
    return auth_client(config, redirect_uri).get_authorization_url([Scopes.ACCOUNTING], state_token=state)


def _tokens_of(client: AuthClient, now=None) -> TokenSet:
    now = time.time() if now is None else now
    return TokenSet(access_token=client.access_token, refresh_token=client.refresh_token,
                    expires_at=now + float(client.expires_in or 0), scope=SCOPE_ACCOUNTING,
                    id_token=client.id_token)


def _error(exc: AuthClientError, what) -> ProviderError:
    # 400/401 from the token endpoint: the code or the grant is dead, a person must connect again;
    # anything else (5xx) may pass
    status = getattr(exc, "status_code", 0) or 0
    kind = REAUTH if status in (400, 401, 403) else RETRYABLE
    return ProviderError(kind, f"QuickBooks refused the {what} (HTTP {status}).",
                         code="token_revoked" if kind == REAUTH else "server_error")


def exchange_code(config, redirect_uri, code, realm_id, state=None, expected_state=None) -> Connection:
    """The callback's ``code`` and ``realmId`` → tokens for that company. The realm comes from the
    callback (Intuit names the company the person picked there, not in the token answer)."""
    if expected_state is not None and state != expected_state:
        raise ProviderError(REAUTH, "The QuickBooks authorisation answer does not match this request (state).",
                            code="state_mismatch")
    if not realm_id:
        raise ProviderError(REAUTH, "QuickBooks did not say which company was connected (no realmId).",
                            code="no_realm")
    client = auth_client(config, redirect_uri)
    try:
        client.get_bearer_token(code, realm_id=realm_id)
    except AuthClientError as exc:
        raise _error(exc, "authorisation code") from exc
    return Connection(tokens=_tokens_of(client), realm_id=str(realm_id))


def refresh(config, token_store, stale: TokenSet | None = None) -> TokenSet:
    """A new access token. Intuit rotates the refresh token on every refresh: under the store's
    refresh lock, re-read (another worker may have refreshed already), refresh, and save the new
    pair before anything uses it, so a crash after the answer never loses the only valid token."""
    with token_store.refresh_lock():
        current = token_store.load()
        if stale is not None and current.access_token != stale.access_token:
            return current  # someone else refreshed while we waited for the lock
        client = auth_client(config, tokens=current)
        try:
            client.refresh()
        except AuthClientError as exc:
            raise _error(exc, "refresh token") from exc
        tokens = _tokens_of(client)
        token_store.save(tokens)
        return tokens


def revoke(config, tokens: TokenSet) -> bool:
    client = auth_client(config, tokens=tokens)
    try:
        return bool(client.revoke(token=tokens.refresh_token or tokens.access_token))
    except AuthClientError as exc:
        raise _error(exc, "revocation") from exc

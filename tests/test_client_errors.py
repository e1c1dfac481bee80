"""Retries, idempotency, error classes and secrets, against the emulator's faults."""
from __future__ import annotations

import logging
import re
import time
import uuid

import pytest

from test_client_helpers import (  # noqa: F401
    client_emulator_server,
    CLIENT_SECRET, TENANT_AU, InMemoryTokenStore, TokenSet, XeroError, client_mod, env, logged, oauth_mod, xero,
)
from test_client_ops import invoice, new_contact_id

ROUTE_PUT_INVOICES = "PUT /Invoices"
ROUTE_GET_ORG = "GET /Organisation"
ROUTE_POST_CONTACTS = "POST /Contacts"


def _uid():
    return uuid.uuid4().hex[:8]


def _tenant_docs(env, key="invoices"):
    state = env.state(TENANT_AU)
    docs = state.get(key) or state.get(key.capitalize()) or {}
    return list(docs.values()) if isinstance(docs, dict) else list(docs)


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retried_then_succeeds(env, xero, status):
    env.fault(ROUTE_GET_ORG, "status", status=status, count=2)
    env.clear_log()
    assert xero.get_organisation()["Name"]
    statuses = [r["status"] for r in logged(env, "GET", "/Organisation")]
    assert statuses == [status, status, 200]


def test_5xx_exhausts_attempts(env):
    c = env.client(config=env.config(max_attempts=3))
    env.fault(ROUTE_GET_ORG, "status", status=503, count=10)
    env.clear_log()
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    assert exc.value.kind == "retryable" and exc.value.status == 503
    assert len(logged(env, "GET", "/Organisation")) == 3
    assert "Traceback" not in str(exc.value)


def test_timeout_is_retried(env):
    c = env.client(config=env.config(read_timeout=0.5))
    env.fault(ROUTE_GET_ORG, "latency", seconds=1.5, count=1)
    assert c.get_organisation()["Name"]
    time.sleep(1.5)  # let the abandoned request finish before the next test reads the log


def test_connection_refused_is_retryable(env):
    cfg = client_mod.ClientConfig.for_emulator("http://127.0.0.1:9", "x", "y", max_attempts=2,
                                               backoff_base=0.01, backoff_cap=0.01, connect_timeout=0.5)
    store = InMemoryTokenStore(TokenSet("a" * 20, "r" * 20, 9e12))
    c = client_mod.XeroClient(cfg, TENANT_AU, store, limiter=client_mod.RateLimiter())
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    assert exc.value.kind == "retryable" and exc.value.details.get("network") == "connection"


def test_drop_after_write_retry_creates_exactly_one(env, xero):
    cid = new_contact_id(xero)
    inv = invoice(cid)
    env.fault(ROUTE_PUT_INVOICES, "drop_after_write", count=1)
    env.clear_log()
    [r] = xero.create_invoices([inv], idempotency_key="once-" + _uid())
    assert r.ok and r.remote_number == inv["InvoiceNumber"]
    assert len(logged(env, "PUT", "/Invoices")) == 2  # first answer lost, second replayed
    same = [d for d in _tenant_docs(env) if d.get("InvoiceNumber") == inv["InvoiceNumber"]]
    assert len(same) == 1
    assert xero.get_invoices(numbers=[inv["InvoiceNumber"]])[0]["InvoiceID"] == r.remote_id


def test_same_key_replays_without_second_document(env, xero):
    cid = new_contact_id(xero)
    inv = invoice(cid)
    key = "replay-" + _uid()
    [a] = xero.create_invoices([inv], idempotency_key=key)
    [b] = xero.create_invoices([inv], idempotency_key=key)
    assert a.ok and b.ok and a.remote_id == b.remote_id
    # a new key on a PUT of the same number is Xero's uniqueness error
    [c] = xero.create_invoices([inv], idempotency_key=key + "-2")
    assert not c.ok and c.error_kind == "validation" and c.message.startswith("Invoice %s:" % inv["InvoiceNumber"])


def test_validation_400_single_document_sentence(xero):
    cid = new_contact_id(xero)
    [r] = xero.create_invoices([invoice(cid)], idempotency_key="v-" + _uid())
    res = xero.update_invoice(r.remote_id, {"LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5,
                                                           "AccountCode": "476"}]},
                              idempotency_key="v2-" + _uid())
    assert not res.ok and res.error_kind == "validation"
    assert res.message.startswith("Invoice ") and res.message.count(":") >= 1 and res.message.endswith(".")


def test_expired_access_token_refreshes_and_retries(env, xero):
    assert xero.get_organisation()
    env.fault(ROUTE_GET_ORG, "expire_tokens", count=1)
    env.clear_log()
    assert xero.get_organisation()
    token_calls = logged(env, "POST", "/connect/token")
    assert len(token_calls) == 1
    assert [r["status"] for r in logged(env, "GET", "/Organisation")] == [401, 200]


def test_proactive_refresh_before_expiry(env):
    tokens = env.grant()
    tokens.expires_at = 0  # our copy says it is stale
    store = InMemoryTokenStore(tokens)
    c = env.client(store=store)
    env.clear_log()
    assert c.get_organisation()
    assert len(logged(env, "POST", "/connect/token")) == 1
    assert store.saves == 1 and store.load().access_token != tokens.access_token


def test_revoked_is_reauth(env, xero):
    assert xero.get_organisation()
    xero.revoke()
    with pytest.raises(XeroError) as exc:
        xero.get_organisation()
    assert exc.value.kind == "reauth"
    with pytest.raises(XeroError) as exc:
        xero.refresh_tokens(force=True)
    assert exc.value.kind == "reauth"


def test_unknown_tenant_is_reauth(env):
    c = env.client(tenant=str(uuid.uuid4()), store=env.store())
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    assert exc.value.kind == "reauth" and exc.value.status == 403


def test_secrets_never_logged(env, caplog):
    caplog.set_level(logging.DEBUG)
    cfg = env.config()
    # a full connect flow plus failures, at DEBUG everywhere
    from test_client_helpers import REDIRECT_URI, consent
    req = oauth_mod.start_authorization(cfg, REDIRECT_URI)
    code, _state = consent(env, req.url)
    tokens = oauth_mod.exchange_code(cfg, code, REDIRECT_URI, req.code_verifier)
    secrets = {tokens.access_token, tokens.refresh_token, CLIENT_SECRET, code, req.code_verifier}
    store = InMemoryTokenStore(tokens)
    c = client_mod.XeroClient(cfg, TENANT_AU, store, limiter=client_mod.RateLimiter())
    messages = []
    c.get_organisation()
    env.fault(ROUTE_GET_ORG, "expire_tokens", count=1)
    c.get_organisation()
    secrets |= {store.load().access_token, store.load().refresh_token}
    env.fault(ROUTE_GET_ORG, "status", status=500, count=1)
    c.get_organisation()
    for fn in (lambda: oauth_mod.exchange_code(cfg, code, REDIRECT_URI, req.code_verifier),
               lambda: c.get_invoice(str(uuid.uuid4()))):
        with pytest.raises(XeroError) as exc:
            fn()
        messages += [str(exc.value), repr(exc.value), repr(exc.value.details)]
    c.revoke()
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    messages += [str(exc.value), repr(exc.value.details), repr(tokens), repr(store.load()), repr(cfg)]
    text = caplog.text + "\n".join(messages)
    assert not re.search(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}", text)
    assert "Authorization:" not in text and "'Authorization'" not in text
    for s in secrets:
        assert s and s not in text

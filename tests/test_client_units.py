"""Xero client pieces that need no emulator: errors, redaction, PKCE, models, limiter."""
from __future__ import annotations

import base64
import datetime
import hashlib
import pathlib
import subprocess
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from test_client_helpers import (  # noqa: F401
    REPO, ClientConfig, FakeClock, InMemoryTokenStore, RateLimiter, TokenSet, XeroError, client_mod, errors_mod,
    oauth_mod,
)

const = client_mod.const


def test_services_never_import_odoo():
    root = pathlib.Path(REPO) / "coworks_xero" / "services"
    out = subprocess.run(["grep", "-rnE", r"^\s*(import|from)\s+odoo", str(root)], capture_output=True, text=True)
    assert out.stdout == ""


def test_scopes_in_one_place():
    assert const.SCOPE == ("openid profile email offline_access accounting.contacts accounting.settings "
                           "accounting.invoices accounting.payments accounting.banktransactions "
                           "accounting.attachments")
    root = pathlib.Path(REPO) / "coworks_xero" / "services" / "xero"
    for path in root.glob("*.py"):
        if path.name != "const.py":
            assert "accounting.invoices" not in path.read_text(), path


# ------------------------------------------------------------------ errors

def test_validation_sentence_per_document():
    body = {
        "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
        "Elements": [{"InvoiceNumber": "INV/2026/0001", "ValidationErrors": [
            {"Message": "Account code '476' has been removed as it does not match a recognised account."}]}],
    }
    import json
    err = errors_mod.classify(400, {}, json.dumps(body).encode(), kind="invoice")
    assert err.kind == "validation"
    # Xero's words, then what to do and where (one sentence), and the stable code
    assert err.message.startswith("Invoice INV/2026/0001: Account code '476' has been removed as it does not "
                                  "match a recognised account — map ")
    assert "Item mappings" in err.message and err.message.endswith("then Retry.")
    assert err.code == "account_invalid" and err.details["error_code"] == "account_invalid"


def test_validation_several_messages_one_sentence():
    s = errors_mod.sentence("Contact ACME", ["Name is taken.", "Email is bad."])
    assert s == "Contact ACME: Name is taken; Email is bad."


@pytest.mark.parametrize("status,body,headers,kind", [
    (429, b"", {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"}, "retryable"),
    (500, b"boom", {}, "retryable"),
    (503, b"The Xero API is currently offline for maintenance", {}, "retryable"),
    (401, b'{"Title":"Unauthorized","Status":401,"Detail":"AuthenticationUnsuccessful"}', {}, "reauth"),
    (403, b'{"Title":"Forbidden","Status":403,"Detail":"AuthenticationUnsuccessful"}', {}, "reauth"),
    (400, b'{"error":"invalid_grant"}', {}, "reauth"),
    (404, b"", {}, "not_found"),
    (409, b"", {}, "conflict"),
])
def test_classification(status, body, headers, kind):
    err = errors_mod.classify(status, headers, body)
    assert err.kind == kind
    assert err.status == status
    if status == 429:
        assert err.retry_after == 7.0


def test_token_expired_detected():
    assert errors_mod.is_token_expired(401, b'{"Detail":"TokenExpired: token expired at 01/01/2026"}')
    assert not errors_mod.is_token_expired(401, b'{"Detail":"AuthenticationUnsuccessful"}')


def test_redaction():
    tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
    text = "Authorization: Bearer %s refresh_token=abcdef123456 client_secret=shh12345" % tok
    red = errors_mod.redact(text)
    assert tok not in red and "abcdef123456" not in red and "shh12345" not in red
    e = XeroError("retryable", "oops " + tok)
    assert tok not in str(e) and tok not in repr(e)


def test_tokenset_repr_hides_secrets():
    t = TokenSet(access_token="A" * 40, refresh_token="R" * 40, expires_at=5.0, scope="openid", id_token="I" * 40)
    assert "AAAA" not in repr(t) and "RRRR" not in repr(t) and "IIII" not in repr(t)
    cfg = ClientConfig(client_id="cid", client_secret="topsecret")
    assert "topsecret" not in repr(cfg)


# ------------------------------------------------------------------- OAuth

def test_authorize_url_with_pkce():
    cfg = ClientConfig.for_emulator("http://127.0.0.1:9", "cid", "sec")
    req = oauth_mod.start_authorization(cfg, "http://127.0.0.1:8069/cb", state="st4te")
    url = urlparse(req.url)
    assert url.path == "/identity/connect/authorize"
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert q["response_type"] == "code" and q["client_id"] == "cid" and q["state"] == "st4te"
    assert q["scope"] == const.SCOPE
    assert q["code_challenge_method"] == "S256"
    expected = base64.urlsafe_b64encode(hashlib.sha256(req.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert q["code_challenge"] == expected
    assert 43 <= len(req.code_verifier) <= 128


def test_config_urls_real_xero():
    cfg = ClientConfig()
    assert cfg.accounting_url == "https://api.xero.com/api.xro/2.0"
    assert cfg.token_url == "https://identity.xero.com/connect/token"
    assert cfg.revoke_url == "https://identity.xero.com/connect/revocation"
    assert cfg.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert cfg.connections_base_url == "https://api.xero.com"


def test_in_memory_store_roundtrip():
    store = InMemoryTokenStore(TokenSet("a" * 10, "r" * 10, 100.0, "openid"))
    t = store.load()
    t.access_token = "changed"
    assert store.load().access_token == "a" * 10
    with store.refresh_lock():
        store.save(TokenSet("b" * 10, "s" * 10, 200.0))
    assert store.load().expires_at == 200.0


# ------------------------------------------------------------ dict -> model

def test_to_model_accepts_iso_and_ms_dates_and_decimals():
    from xero_python.api_client.serializer import serialize
    m = client_mod.to_model("Invoice", {
        "Type": "ACCREC", "Contact": {"ContactID": "c"}, "Date": "2026-01-31", "DueDate": datetime.date(2026, 2, 28),
        "LineItems": [{"Description": "Desk", "Quantity": Decimal("1"), "UnitAmount": Decimal("12.3456"),
                       "AccountCode": "200", "Tracking": [{"Name": "Campus", "Option": "Downtown"}]}],
        "LineAmountTypes": "Exclusive", "Status": "AUTHORISED",
    })
    wire = serialize(m)
    assert wire["Date"] == "/Date(1769817600000)/"
    assert wire["LineItems"][0]["UnitAmount"] == 12.3456
    assert "HasErrors" not in wire and "HasAttachments" not in wire["Contact"]
    m2 = client_mod.to_model("Invoice", {"Date": "/Date(1769817600000+0000)/"})
    assert m2.date == datetime.date(2026, 1, 31)


@pytest.mark.parametrize("bad,field", [({"Bogus": 1}, "Bogus"), ({"Status": "NOPE"}, "status"),
                                        ({"LineItems": {"x": 1}}, "LineItems"), ({"Date": "31/01/2026"}, "Date")])
def test_to_model_rejects_what_the_sdk_cannot_send(bad, field):
    with pytest.raises(ValueError) as exc:
        client_mod.to_model("Invoice", bad)
    assert field in str(exc.value)


def test_element_result_needs_real_guid():
    zero = const.ZERO_GUID
    r = client_mod.element_result("invoice", {"InvoiceNumber": "I1"},
                                  {"InvoiceID": zero, "InvoiceNumber": "I1", "StatusAttributeString": "OK"})
    assert not r.ok
    r = client_mod.element_result("invoice", {"InvoiceNumber": "I1"}, {
        "InvoiceID": zero, "InvoiceNumber": "I1", "HasErrors": True, "StatusAttributeString": "ERROR",
        "ValidationErrors": [{"Message": "Invoice # must be unique."}]})
    assert not r.ok and r.error_kind == "validation"
    assert r.message.startswith("Invoice I1: Invoice # must be unique — ")
    assert r.details["error_code"] == "invoice_number_taken"
    gid = "5b96e86b-418e-48e8-8949-308c14aec278"
    r = client_mod.element_result("invoice", {}, {"InvoiceID": gid, "InvoiceNumber": "I1", "Status": "AUTHORISED"},
                                  ref="account.move,1")
    assert r.ok and r.remote_id == gid and r.remote_number == "I1" and r.remote_status == "AUTHORISED"
    assert r.details["element"]["InvoiceID"] == gid
    r = client_mod.element_result("invoice", {"InvoiceNumber": "I9"}, None, index=3)
    assert not r.ok and "I9" in r.message


def test_idempotency_key_checked():
    with pytest.raises(XeroError) as exc:
        client_mod._check_key("x" * 129)
    assert exc.value.kind == "validation"
    with pytest.raises(XeroError):
        client_mod._check_key("")
    assert client_mod._check_key("k" * 128)
    assert len(client_mod._chunk_key("k" * 128, 1, 2)) <= 128


# ----------------------------------------------------------------- limiter

def _max_in_window(stamps, window):
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, s in enumerate(stamps):
        while stamps[j] <= s - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_limiter_minute_budget_fake_clock():
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    stamps = []
    for _ in range(300):
        with lim.slot("t1"):
            stamps.append(clock())
    assert _max_in_window(stamps, 60.0) <= 60
    assert clock() - stamps[0] >= 4 * 60  # 300 calls need at least 4 full windows


def test_limiter_app_budget_spans_tenants():
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0, app_minute_limit=100)
    stamps = []
    for i in range(300):
        with lim.slot("t%d" % (i % 10)):
            stamps.append(clock())
    assert _max_in_window(stamps, 60.0) <= 100


def test_limiter_headers_seed_the_budget():
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    with lim.slot("t1") as s:
        s.observe({"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000", "X-AppMinLimit-Remaining": "9000"})
    t0 = clock()
    with lim.slot("t1"):
        pass
    assert clock() - t0 >= 60.0  # another process used the minute up: wait it out


def test_limiter_day_budget_raises_instead_of_sleeping():
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0, day_limit=10, max_wait=120)
    for _ in range(10):
        with lim.slot("t1"):
            pass
    with pytest.raises(XeroError) as exc:
        with lim.slot("t1"):
            pass
    assert exc.value.kind == "retryable" and exc.value.retry_after > 3600
    assert exc.value.details["rate_limit_problem"] == "day"
    # the daily header says 0 left: same answer
    lim2 = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    with lim2.slot("t2") as s:
        s.observe({"X-DayLimit-Remaining": "0"})
    with pytest.raises(XeroError):
        with lim2.slot("t2"):
            pass


def test_limiter_block_after_429():
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    lim.block("t1", 12.0, "minute")
    t0 = clock()
    with lim.slot("t1"):
        pass
    assert clock() - t0 >= 12.0


def test_limiter_concurrency_cap_real_threads():
    lim = RateLimiter(margin=0.0)
    lock = threading.Lock()
    current = [0, 0]

    def work():
        with lim.slot("tc"):
            with lock:
                current[0] += 1
                current[1] = max(current[1], current[0])
            time.sleep(0.02)
            with lock:
                current[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert current[1] == 5
    assert lim.stats("tc")["max_in_flight"] == 5


def test_shared_limiter_registry():
    assert RateLimiter.shared("unit-test") is RateLimiter.shared("unit-test")


def test_archived_and_merged_contact_surface():
    gid, gid2 = "5b96e86b-418e-48e8-8949-308c14aec278", "6c96e86b-418e-48e8-8949-308c14aec279"
    r = client_mod.element_result("contact", {"Name": "A"}, {"ContactID": gid, "Name": "A",
                                                             "ContactStatus": "ARCHIVED", "MergedToContactID": gid2})
    assert r.ok and r.remote_status == "ARCHIVED" and r.details["merged_to_contact_id"] == gid2


def test_warnings_kept_and_ok():
    gid = "5b96e86b-418e-48e8-8949-308c14aec278"
    r = client_mod.element_result("invoice", {}, {"InvoiceID": gid, "StatusAttributeString": "WARNING",
                                                  "Warnings": [{"Message": "Rounded"}]})
    assert r.ok and r.details["warnings"] == ["Rounded"]

"""Emulator faults on every endpoint: the identity routes, probability (seeded), latency ranges,
dropped answers after a committed write, dead refresh tokens, injected 429s."""
from __future__ import annotations

import socket
import time
import urllib.parse

import pytest
import requests

from conftest import XeroHTTP

from xero_emulator.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TENANT_AU

AUTH = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


def _refresh(xero, token=None):
    return requests.post(xero.base + "/connect/token", auth=AUTH, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": token or xero.tokens["refresh_token"]})


def _statuses(xero, n, path="/Items"):
    xero.control("POST", "limits", {"minute": 100000})  # many calls: not Xero's 60 a minute here
    return [xero.get(path).status_code for _ in range(n)]


# ------------------------------------------------------------------------------ identity routes
def test_status_fault_on_token_endpoint(xero):
    xero.control("POST", "faults", {"route": "POST /connect/token", "kind": "status", "status": 502})
    r = _refresh(xero)
    assert r.status_code == 502 and r.json()["error"] == "server_error"
    r = _refresh(xero)  # the fault was spent before the token was looked at: it still works
    assert r.status_code == 200 and r.json()["refresh_token"]
    log = xero.control("GET", "requests").json()
    assert [q["status"] for q in log["requests"] if q["route"] == "POST /connect/token"] == [502, 200]


def test_star_status_fault_reaches_identity_routes(xero):
    xero.control("POST", "faults", {"route": "*", "kind": "status", "status": 500, "count": 4})
    assert _refresh(xero).status_code == 500
    assert requests.get(xero.base + "/Connections", headers=xero.headers(), timeout=10).status_code == 500
    r = requests.post(xero.base + "/connect/revocation", auth=AUTH, data={"token": "x"}, timeout=10)
    assert r.status_code == 500
    r = requests.get(xero.base + "/identity/connect/authorize", timeout=10, params={
        "client_id": DEMO_CLIENT_ID, "response_type": "code", "scope": "openid offline_access",
        "redirect_uri": "http://127.0.0.1:1/cb"})
    assert r.status_code == 500
    assert requests.get(xero.base + "/Connections", headers=xero.headers(), timeout=10).status_code == 200
    assert _refresh(xero).status_code == 200


def test_status_fault_on_connections_route_only(xero):
    xero.control("POST", "faults", {"route": "GET /Connections", "kind": "status", "status": 503})
    r = requests.get(xero.base + "/Connections", headers=xero.headers(), timeout=10)
    assert r.status_code == 503 and r.headers["Content-Type"].startswith("text/plain")
    assert xero.get("/Items").status_code == 200


def test_latency_on_token_endpoint(xero):
    xero.control("POST", "faults", {"route": "POST /connect/token", "kind": "latency", "seconds": 0.3})
    t0 = time.time()
    assert _refresh(xero).status_code == 200
    assert time.time() - t0 >= 0.3


def test_drop_after_write_on_token_endpoint_rotates_then_drops(emulator, xero):
    xero.control("POST", "faults", {"route": "POST /connect/token", "kind": "drop_after_write"})
    before = len(emulator.app.identity.refresh)
    with pytest.raises(requests.exceptions.ConnectionError):
        _refresh(xero)
    assert len(emulator.app.identity.refresh) == before + 1  # the rotation happened: a successor exists
    # Xero's grace: the old refresh token may be retried while its (lost) successor is unused
    r = _refresh(xero)
    assert r.status_code == 200 and r.json()["refresh_token"] != xero.tokens["refresh_token"]


# ------------------------------------------------------------------------------ dropped answers
def test_drop_after_write_sends_no_http_answer(xero):
    """The write is committed, then the connection closes without a status line."""
    c = xero.contact()
    xero.control("POST", "faults", {"route": "PUT /Invoices", "kind": "drop_after_write"})
    body = ('{"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": "%s"}, "LineItems": [{"Description": "x", '
            '"Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}]}' % c["ContactID"]).encode()
    host, port = urllib.parse.urlsplit(xero.base).netloc.split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in xero.headers(**{"Content-Type": "application/json"}).items())
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"PUT /api.xro/2.0/Invoices HTTP/1.1\r\nHost: {host}\r\n{head}"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    assert received == b""  # no "HTTP/1.1 ..." at all: the client sees a connection error
    assert len(xero.get("/Invoices").json()["Invoices"]) == 1  # but the invoice exists


def test_drop_after_write_ignores_reads(xero):
    xero.control("POST", "faults", {"route": "*", "kind": "drop_after_write", "count": 0})
    assert xero.get("/Items").status_code == 200
    assert requests.get(xero.base + "/Connections", headers=xero.headers(), timeout=10).status_code == 200


# ------------------------------------------------------------------------------ probability
def test_probability_fires_on_a_fraction_and_is_seeded(emulator, xero):
    xero.control("POST", "faults", {"route": "*", "kind": "status", "status": 500, "count": 0,
                                    "probability": 0.25, "seed": 42})
    first = _statuses(xero, 200)
    assert set(first) == {200, 500}
    assert 25 <= first.count(500) <= 75
    fault = xero.control("GET", "faults").json()["faults"][0]
    assert fault["hits"] == first.count(500) and fault["misses"] == first.count(200)
    emulator.app.reset()
    again = XeroHTTP(emulator)
    again.control("POST", "faults", {"route": "*", "kind": "status", "status": 500, "count": 0,
                                     "probability": 0.25, "seed": 42})
    assert _statuses(again, 200) == first  # same seed, same calls: same faults


def test_probability_with_count_stops_after_count_hits(xero):
    xero.control("POST", "faults", {"route": "GET /Items", "kind": "status", "status": 503, "count": 3,
                                    "probability": 0.5, "seed": 7})
    assert _statuses(xero, 60).count(503) == 3


def test_probability_zero_never_fires_and_bad_values_refused(xero):
    xero.control("POST", "faults", {"route": "*", "kind": "status", "status": 500, "count": 0, "probability": 0})
    assert set(_statuses(xero, 20)) == {200}
    assert xero.control("POST", "faults", {"kind": "status", "probability": 1.5}).status_code == 400
    assert xero.control("POST", "faults", {"kind": "latency", "seconds_min": 2, "seconds_max": 1}).status_code == 400
    assert xero.control("POST", "faults", {"kind": "status", "status": 200}).status_code == 400
    assert xero.control("POST", "faults", {"kind": "nope"}).status_code == 400


# ------------------------------------------------------------------------------ latency range
def test_latency_range_on_every_call(xero):
    xero.control("POST", "faults", {"route": "*", "kind": "latency", "seconds_min": 0.05, "seconds_max": 0.15,
                                    "count": 0, "seed": 1})
    for call in (lambda: xero.get("/Items"), lambda: _refresh(xero),
                 lambda: requests.get(xero.base + "/Connections", headers=xero.headers(), timeout=10)):
        t0 = time.time()
        call()
        assert 0.05 <= time.time() - t0 < 1.0
    assert xero.control("GET", "faults").json()["faults"][0]["hits"] == 3


# ------------------------------------------------------------------------------ dead refresh tokens
def test_refresh_token_dead_then_reconnect(emulator, xero):
    xero.control("POST", "faults", {"route": "*", "kind": "expire_tokens"})
    xero.control("POST", "faults", {"route": "POST /connect/token", "kind": "refresh_token_dead"})
    r = xero.get("/Items")
    assert r.status_code == 401 and r.json()["Detail"].startswith("TokenExpired")
    r = _refresh(xero)
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}
    assert _refresh(xero).status_code == 400  # dead for good, not only once
    # Reconnect: a new authorisation gets tokens that work and refresh
    fresh = XeroHTTP(emulator, tenant=TENANT_AU)
    assert fresh.get("/Items").status_code == 200
    assert _refresh(fresh).status_code == 200


def test_refresh_token_dead_leaves_access_tokens(xero):
    xero.control("POST", "faults", {"route": "GET /Items", "kind": "refresh_token_dead"})
    assert xero.get("/Items").status_code == 200  # the access token lives until it expires
    assert _refresh(xero).json() == {"error": "invalid_grant"}


# ------------------------------------------------------------------------------ injected 429
def test_injected_429_carries_retry_after(xero):
    xero.control("POST", "faults", {"route": "GET /Items", "kind": "status", "status": 429, "retry_after": 3})
    r = xero.get("/Items")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.headers["X-Rate-Limit-Problem"] == "minute"
    assert xero.get("/Items").status_code == 200

"""Shared helpers for the Xero client tests (tests/test_client*.py).

Imported by the test modules; it defines no tests itself. The emulator comes
from the ``emulator`` fixture of tests/conftest.py (an ``EmulatorServer``).
"""
from __future__ import annotations

import importlib
import os
import sys
import types

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def _import_client_package():
    """Import coworks_xero.services.xero without needing Odoo.

    coworks_xero/__init__.py loads its Odoo models only when imported as
    ``odoo.addons.coworks_xero``; should that ever fail without Odoo, fall back
    to a bare package object so the pure-Python services stay importable."""
    try:
        return importlib.import_module("coworks_xero.services.xero.client")
    except ImportError as exc:
        if "odoo" not in str(exc):
            raise
        for name in [n for n in sys.modules if n == "coworks_xero" or n.startswith("coworks_xero.")]:
            del sys.modules[name]
        pkg = types.ModuleType("coworks_xero")
        pkg.__path__ = [os.path.join(REPO, "coworks_xero")]
        sys.modules["coworks_xero"] = pkg
        return importlib.import_module("coworks_xero.services.xero.client")


client_mod = _import_client_package()
from coworks_xero.services.xero import errors as errors_mod  # noqa: E402
from coworks_xero.services.xero import oauth as oauth_mod  # noqa: E402
from coworks_xero.services.xero import ratelimit as ratelimit_mod  # noqa: E402

XeroClient = client_mod.XeroClient
ClientConfig = client_mod.ClientConfig
XeroError = errors_mod.XeroError
TokenSet = oauth_mod.TokenSet
InMemoryTokenStore = oauth_mod.InMemoryTokenStore
RateLimiter = ratelimit_mod.RateLimiter
ScaledClock = ratelimit_mod.ScaledClock

try:  # stable seeded ids
    from xero_emulator import seed as _seed

    TENANT_AU = _seed.TENANT_AU
    TENANT_UK = _seed.TENANT_UK
    CLIENT_ID = _seed.DEMO_CLIENT_ID
    CLIENT_SECRET = _seed.DEMO_CLIENT_SECRET
    CALLBACK_PATH = _seed.DEMO_CALLBACK_PATH
except Exception:  # pragma: no cover - emulator not there yet
    TENANT_AU = "b7d2f4a0-6c1e-4f3a-9a2e-0c5d1a7e2a01"
    TENANT_UK = "c3e8a5b1-2d4f-4b6a-8c7d-1e9f0a2b3c02"
    CLIENT_ID = "coworks-demo-client"
    CLIENT_SECRET = "coworks-demo-secret"
    CALLBACK_PATH = "/coworks_xero/oauth/callback"

REDIRECT_URI = "http://127.0.0.1:8069" + CALLBACK_PATH


class FakeClock:
    """A clock that only moves when someone sleeps (single-threaded tests)."""

    def __init__(self, start=1_000_000.0):
        self.now = start
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


class Env:
    """The emulator plus helpers to drive it and build clients against it."""

    def __init__(self, server):
        self.server = server
        self.base = server.base_url.rstrip("/")
        self.http = requests.Session()

    # control endpoints -------------------------------------------------
    def ctl(self, method, path, payload=None, **params):
        resp = self.http.request(method, self.base + "/__emulator__/" + path.lstrip("/"), json=payload,
                                 params=params or None, timeout=10)
        assert resp.status_code < 400, (path, resp.status_code, resp.text[:500])
        return resp.json() if resp.content and resp.headers.get("Content-Type", "").startswith("application/json") else None

    def reset(self):
        self.ctl("POST", "reset")
        self.ctl("DELETE", "requests")

    def requests_log(self):
        return self.ctl("GET", "requests")

    def clear_log(self):
        self.ctl("DELETE", "requests")

    def fault(self, route, kind, **kw):
        payload = {"route": route, "kind": kind}
        payload.update(kw)
        return self.ctl("POST", "faults", payload)

    def state(self, tenant=TENANT_AU):
        return self.ctl("GET", "state", tenant=tenant)

    def grant(self, tenants=(TENANT_AU,), scopes=None, client_id=CLIENT_ID):
        data = self.ctl("POST", "grant", {"client_id": client_id, "tenant_ids": list(tenants),
                                          "scopes": scopes or client_mod.const.SCOPE})
        return TokenSet.from_response(data)

    # clients -----------------------------------------------------------
    def config(self, **kw):
        kw.setdefault("backoff_base", 0.01)
        kw.setdefault("backoff_cap", 0.05)
        kw.setdefault("read_timeout", 5.0)
        kw.setdefault("connect_timeout", 2.0)
        return ClientConfig.for_emulator(self.base, CLIENT_ID, CLIENT_SECRET, **kw)

    def store(self, tenants=(TENANT_AU,)):
        return InMemoryTokenStore(self.grant(tenants))

    def client(self, tenant=TENANT_AU, store=None, limiter=None, config=None, **kw):
        store = store or self.store((tenant,) if tenant else (TENANT_AU,))
        limiter = limiter or RateLimiter(margin=0.5)
        return XeroClient(config or self.config(), tenant, store, limiter=limiter, **kw)


@pytest.fixture
def client_emulator_server(request):
    """The conftest's ``emulator`` fixture, or our own server if there is none yet."""
    try:
        yield request.getfixturevalue("emulator")
        return
    except pytest.FixtureLookupError:
        pass
    try:
        from xero_emulator import EmulatorServer
    except ImportError:
        pytest.skip("xero_emulator is not available yet")
    srv = EmulatorServer(host="127.0.0.1", port=0)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def env(request, client_emulator_server):
    e = Env(client_emulator_server)
    e.reset()
    yield e
    e.reset()


@pytest.fixture
def xero(env):
    c = env.client()
    yield c
    c.close()


def consent(env, authorize_url, tenants=(TENANT_AU,)):
    """Play the person on Xero's consent screen: open the page, allow, return (code, state)."""
    from urllib.parse import parse_qs, urlparse

    page = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text[:300]
    params = {k: v[0] for k, v in parse_qs(urlparse(authorize_url).query).items()}
    form = list(params.items()) + [("action", "allow")] + [("tenant", t) for t in tenants]
    resp = requests.post(env.base + "/identity/connect/authorize", data=form, allow_redirects=False, timeout=10)
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:300])
    q = {k: v[0] for k, v in parse_qs(urlparse(resp.headers["Location"]).query).items()}
    return q.get("code"), q.get("state")


def route_counts(env):
    return env.requests_log().get("counts", {})


def logged(env, method=None, path_contains=None):
    out = []
    for r in env.requests_log().get("requests", []):
        if method and r.get("method") != method:
            continue
        if path_contains and path_contains not in (r.get("path") or ""):
            continue
        out.append(r)
    return out

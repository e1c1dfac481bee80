"""Rate limits on a scaled clock, concurrency, and the token rotation race."""
from __future__ import annotations

import collections
import threading
import time

import pytest
import requests

from test_client_helpers import (  # noqa: F401
    client_emulator_server,
    TENANT_AU, InMemoryTokenStore, RateLimiter, ScaledClock, XeroError, client_mod, env, logged,
)

SCALE = 60.0
ROUTE_GET_ORG = "GET /Organisation"


def _scaled(env, scale=SCALE, **limiter_kw):
    env.ctl("POST", "clock", {"scale": scale})
    clock = ScaledClock(scale)
    limiter_kw.setdefault("margin", 1.0)
    limiter_kw.setdefault("retry_after_scale", scale)  # the emulator's Retry-After is in real seconds
    return clock, RateLimiter(clock=clock, sleep=clock.sleep, **limiter_kw)


def _run_threads(n, target):
    errors = []

    def wrap(i):
        try:
            target(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_sustained_load_no_429(env):
    # The limiter counts a call when it lets it go, the emulator when it arrives: on a clock 60x
    # faster, a loaded machine's 100 ms between the two is 6 emulator seconds, so the margin that
    # covers network jitter in production (1 s) is scaled to cover it here.
    clock, limiter = _scaled(env, margin=6.0)
    store = env.store()
    c = client_mod.XeroClient(env.config(), TENANT_AU, store, limiter=limiter)
    env.clear_log()
    per_thread = 60

    def work(i):
        for _ in range(per_thread):
            c.get_organisation()

    started = time.monotonic()
    errors = _run_threads(5, work)
    assert not errors, errors[:3]
    log = logged(env, "GET", "/Organisation")
    statuses = collections.Counter(r["status"] for r in log)
    assert statuses[429] == 0 and statuses[200] == 300, statuses
    log = [r for r in log if r["status"] == 200]
    # never more than 60 in any sliding emulator minute, counted as the emulator's own limit
    # counts them: by arrival (real time), not by when each answer was ready, which moves
    # with the machine's load
    window = 60.0 / SCALE
    ts = sorted(float(r["arrived"]) for r in log)
    j = 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window:
            j += 1
        assert i - j + 1 <= 60
    # and it did not crawl: 300 calls at 60/min is ~5 emulator minutes
    assert time.monotonic() - started < 5 * 60 / SCALE + 10
    assert limiter.stats(TENANT_AU)["max_in_flight"] <= 5


def test_concurrency_never_exceeds_five(env):
    limiter = RateLimiter(margin=0.0)
    c = env.client(limiter=limiter)
    env.fault(ROUTE_GET_ORG, "latency", seconds=0.2, count=20)
    env.clear_log()
    errors = _run_threads(20, lambda i: c.get_organisation())
    assert not errors, errors[:3]
    assert limiter.stats(TENANT_AU)["max_in_flight"] == 5
    assert all(r["status"] == 200 for r in logged(env, "GET", "/Organisation"))


def _burn(env, n, tenant=TENANT_AU):
    """Calls made by 'another worker' of the same app, unseen by our limiter."""
    tokens = env.grant((tenant,))
    for _ in range(n):
        requests.get(env.base + "/api.xro/2.0/Organisation", timeout=10,
                     headers={"Authorization": "Bearer " + tokens.access_token, "xero-tenant-id": tenant,
                              "Accept": "application/json"})


def test_headers_keep_us_under_a_lower_limit(env):
    clock, limiter = _scaled(env)
    env.ctl("POST", "limits", {"minute": 3})
    c = client_mod.XeroClient(env.config(), TENANT_AU, env.store(), limiter=limiter)
    env.clear_log()
    for _ in range(7):
        assert c.get_organisation()
    statuses = [r["status"] for r in logged(env, "GET", "/Organisation")]
    assert statuses == [200] * 7  # X-MinLimit-Remaining told us to wait before Xero had to


def test_429_retry_after_is_honoured(env):
    clock, limiter = _scaled(env)
    env.ctl("POST", "limits", {"minute": 3})
    c = client_mod.XeroClient(env.config(), TENANT_AU, env.store(), limiter=limiter)
    env.clear_log()
    _burn(env, 3)
    started = time.monotonic()
    assert c.get_organisation()
    statuses = [r["status"] for r in logged(env, "GET", "/Organisation")]
    assert statuses == [200] * 3 + [429, 200]  # waited Retry-After once, then through
    assert time.monotonic() - started < 60 / SCALE * 3


def test_daily_limit_raises_retryable_without_sleeping(env):
    clock, limiter = _scaled(env)
    env.ctl("POST", "limits", {"day": 2})
    c = client_mod.XeroClient(env.config(), TENANT_AU, env.store(), limiter=limiter)
    c.get_organisation()
    started = time.monotonic()
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
        c.get_organisation()
    assert exc.value.kind == "retryable" and exc.value.retry_after and exc.value.retry_after > 3600
    assert time.monotonic() - started < 5


def test_daily_429_from_xero_raises_retryable(env):
    clock, limiter = _scaled(env)
    env.ctl("POST", "limits", {"day": 2})
    c = client_mod.XeroClient(env.config(), TENANT_AU, env.store(), limiter=limiter)
    _burn(env, 2)
    env.clear_log()
    started = time.monotonic()
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    assert exc.value.kind == "retryable" and exc.value.status == 429
    # Retry-After is Xero's (real seconds; the emulator divides by its scale): no sleeping for it
    assert exc.value.details["rate_limit_problem"] == "day" and exc.value.retry_after >= 86400 / SCALE
    assert [r["status"] for r in logged(env, "GET", "/Organisation")] == [429]
    assert time.monotonic() - started < 5


def test_token_rotation_race_single_refresh(env):
    tokens = env.grant()
    tokens.expires_at = time.time() + 10  # inside the 120 s margin: both workers want to refresh
    store = InMemoryTokenStore(tokens)
    limiter = RateLimiter()
    a = client_mod.XeroClient(env.config(), TENANT_AU, store, limiter=limiter)
    b = client_mod.XeroClient(env.config(), TENANT_AU, store, limiter=limiter)
    env.clear_log()
    barrier = threading.Barrier(2)
    results = {}

    def work(i):
        barrier.wait()
        results[i] = (a if i == 0 else b).get_organisation()["Name"]

    errors = _run_threads(2, work)
    assert not errors, errors
    assert len(results) == 2
    assert len(logged(env, "POST", "/connect/token")) == 1
    assert store.saves == 1
    # both keep working on the rotated tokens
    assert a.get_organisation() and b.get_organisation()
    assert len(logged(env, "POST", "/connect/token")) == 1

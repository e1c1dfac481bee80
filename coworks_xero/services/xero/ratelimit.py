"""Xero's limits, honoured before Xero enforces them.

Per tenant: 60 calls a minute, 5,000 a day, 5 in flight; per app: 10,000
calls a minute over all tenants. The limiter keeps sliding windows of its own
send times, and seeds them from the ``X-MinLimit-Remaining`` /
``X-DayLimit-Remaining`` / ``X-AppMinLimit-Remaining`` headers of each answer
(they also count calls made by other processes with the same app).

A waiting call sleeps (minute budgets); a call that would have to wait for
hours (daily budget) raises ``XeroError(retryable, retry_after=...)`` instead.

The clock and sleep are injectable so tests can run on a scaled clock, and a
limiter is shared between client instances of one process:
``RateLimiter.shared()`` (per-process registry, state keyed by tenant).
"""
from __future__ import annotations

import collections
import contextlib
import threading
import time

from . import const
from .errors import RETRYABLE, XeroError, header


PACE_MIN_LIMIT = 10  # calls a minute below which calls are not paced


class _Window:
    """A sliding window of send times plus the last hint from Xero."""

    def __init__(self, limit, length):
        self.limit = limit
        self.length = length
        self.stamps = collections.deque()
        # when each call's answer came back: Xero counted the call by then, so it leaves Xero's
        # window no later than that + the window (send times would be early by the latency)
        self.answered = collections.deque()
        # hint from a response header: Xero had `remaining` left at `at`;
        # `spent` counts our sends since then.
        self.hint_remaining = None
        self.hint_at = 0.0
        self.spent_since_hint = 0
        # our sends Xero had counted at the hint that have since left the window: each gave
        # one call back
        self.aged_since_hint = 0
        self.blocked_until = 0.0

    def purge(self, now, margin):
        horizon = now - self.length - margin
        stamps = self.stamps
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        answered = self.answered
        while answered and answered[0][1] <= horizon:
            sent, done = answered.popleft()
            # a refund only if Xero surely still counted it at the hint (sent inside its window)
            if self.hint_remaining is not None and self.hint_at - self.length < sent and done <= self.hint_at:
                self.aged_since_hint += 1
        if self.hint_remaining is not None and now >= self.hint_at + self.length + margin:
            self.hint_remaining = None  # every call Xero had counted has aged out

    def used(self):
        """Calls counted in the window now (after ``purge``): ours, or more when Xero's last hint
        (which counts other processes' calls too) says so."""
        used = len(self.stamps)
        if self.hint_remaining is not None:
            used = max(used, self.limit - (self.hint_remaining - self.spent_since_hint + self.aged_since_hint))
        return used

    def wait_time(self, now, margin, reserve, pace_after=None):
        """Seconds until one more call fits (0 = now).

        ``pace_after``: once that many calls are in the window, the calls left until it is full
        are spread over the time until its oldest call ages out, instead of being let through
        until the window is full. A burst of fast calls would otherwise spend the minute in a few
        seconds and the next call would wait for the oldest to age out, up to a whole minute:
        longer than a caller's patience (the sync's reads, a cron run's time). Paced, no wait is
        longer than about the window over the calls left past ``pace_after`` (2 s for Xero's 60
        a minute paced from 30), and the long-run rate is the same."""
        self.purge(now, margin)
        wait = max(0.0, self.blocked_until - now)
        if pace_after is not None and self.stamps:
            used = self.used()
            left = self.limit - reserve - used
            if used >= pace_after and left > 0:
                last, frees_at = self.stamps[-1], self.stamps[0] + self.length + margin
                # never more than the even spacing of the paced share (2 s): calls that Xero's
                # hint counts and ours do not (other processes') may age out sooner than ours
                gap = min((frees_at - last) / left, (self.length + margin) / max(1, self.limit - reserve - pace_after))
                wait = max(wait, last + gap - now)
        if len(self.stamps) >= self.limit - reserve:
            # the oldest send must leave the window first
            idx = len(self.stamps) - (self.limit - reserve)
            oldest = self.stamps[max(0, idx)]
            wait = max(wait, oldest + self.length + margin - now)
        if self.hint_remaining is not None:
            left = self.hint_remaining - self.spent_since_hint + self.aged_since_hint
            if left <= reserve:
                # Xero's window slides: a call is given back when one it counted ages out. Our
                # own calls it counted are known; the one that frees the missing call leaves by
                # its answer time + the window (Xero may have counted older calls of other
                # processes, which only free earlier). Without enough of ours, the whole window.
                needed = reserve - left + 1
                counted = [done for _sent, done in self.answered if done <= self.hint_at]
                until = self.hint_at + self.length
                if len(counted) >= needed:
                    until = min(until, counted[needed - 1] + self.length)
                wait = max(wait, until + margin - now)
        return wait

    def take(self, now):
        self.stamps.append(now)
        if self.hint_remaining is not None:
            self.spent_since_hint += 1

    def answer(self, sent, now):
        self.answered.append((sent, now))

    def observe(self, remaining, now, in_flight_others):
        # calls of ours still in flight may not be counted by Xero yet
        self.hint_remaining = remaining - in_flight_others
        self.hint_at = now
        self.spent_since_hint = 0
        self.aged_since_hint = 0

    def block(self, until):
        self.blocked_until = max(self.blocked_until, until)


class _Tenant:
    def __init__(self, limiter):
        self.minute = _Window(limiter.minute_limit, const.MINUTE)
        self.day = _Window(limiter.day_limit, const.DAY)
        self.semaphore = threading.BoundedSemaphore(limiter.concurrent_limit)
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0


class RateLimiter:
    """Per-tenant minute/day/concurrency budgets plus the app-wide minute budget.

    :param clock: ``() -> float`` seconds (default ``time.time``)
    :param sleep: ``(seconds) -> None`` in the same clock's seconds
    :param margin: extra seconds added to each window, for clock skew and
        latency between our send time and Xero's count
    :param reserve: calls kept in hand below each limit
    :param max_wait: a call that would wait longer than this raises a
        retryable ``XeroError`` with ``retry_after`` instead of sleeping
    :param retry_after_scale: clock seconds per ``Retry-After`` second
    """

    _registry: dict = {}
    _registry_lock = threading.Lock()

    def __init__(
        self,
        *,
        minute_limit=const.MINUTE_LIMIT,
        day_limit=const.DAY_LIMIT,
        app_minute_limit=const.APP_MINUTE_LIMIT,
        concurrent_limit=const.CONCURRENT_LIMIT,
        clock=None,
        sleep=None,
        margin=1.0,
        reserve=0,
        max_wait=120.0,
        retry_after_scale=1.0,
        pace_from=0.5,
    ):
        self.minute_limit = minute_limit
        self.day_limit = day_limit
        self.app_minute_limit = app_minute_limit
        self.concurrent_limit = concurrent_limit
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.margin = margin
        self.reserve = reserve
        self.max_wait = max_wait
        # clock seconds per second of a Retry-After header: 1 against real
        # Xero; the emulator's scale when the clock is scaled (its Retry-After
        # is in real seconds)
        self.retry_after_scale = retry_after_scale
        # share of a tenant's minute after which its calls are spaced (see _Window.wait_time);
        # None: never. A budget of a few calls is not worth spreading (its waits are short).
        self.pace_after = (None if pace_from is None or minute_limit < PACE_MIN_LIMIT
                           else max(1, int(minute_limit * pace_from)))
        self._lock = threading.Lock()
        self._tenants: dict = {}
        self._app = _Window(app_minute_limit, const.MINUTE)
        self._app_in_flight = 0

    # ---------------------------------------------------------------- registry

    @classmethod
    def shared(cls, name="default", **kwargs):
        """The process-wide limiter called ``name`` (created on first use)."""
        with cls._registry_lock:
            limiter = cls._registry.get(name)
            if limiter is None:
                limiter = cls._registry[name] = cls(**kwargs)
            return limiter

    # ------------------------------------------------------------------ state

    def _tenant(self, tenant_id):
        state = self._tenants.get(tenant_id)
        if state is None:
            state = self._tenants[tenant_id] = _Tenant(self)
        return state

    def stats(self, tenant_id):
        """Counters for tests and the sync log: calls, in flight, max in flight."""
        with self._lock:
            t = self._tenant(tenant_id)
            now = self.clock()
            t.minute.purge(now, 0)
            return {
                "calls": t.calls,
                "in_flight": t.in_flight,
                "max_in_flight": t.max_in_flight,
                "minute_used": len(t.minute.stamps),
                "day_used": len(t.day.stamps),
            }

    def wait_estimate(self, tenant_id):
        """Seconds a call for ``tenant_id`` would wait now for the budget (0 = none), taking
        nothing: lets a caller with a deadline (a cron run) stop before it starts a wait it
        cannot see through, rather than inside it."""
        with self._lock:
            now = self.clock()
            waits = [self._app.wait_time(now, self.margin, self.reserve)]
            if tenant_id:
                tenant = self._tenant(tenant_id)
                waits.append(tenant.minute.wait_time(now, self.margin, self.reserve, self.pace_after))
                waits.append(tenant.day.wait_time(now, self.margin, self.reserve))
            return max(waits)

    # ---------------------------------------------------------------- acquire

    @contextlib.contextmanager
    def slot(self, tenant_id, max_wait=None, paced=True):
        """Hold one call's budget: ``with limiter.slot(tid) as s: ...; s.observe(headers)``.

        ``tenant_id`` None = a tenantless call (``/Connections``): only the
        app-wide budget applies. ``max_wait``: this caller's patience (default the limiter's):
        a call that would wait longer raises instead. ``paced=False``: a caller that spaces its
        calls itself is not spread by the pacing (see _Window.wait_time); Xero's window, the
        day and the calls at once still hold.
        """
        tenant = None
        if tenant_id:
            with self._lock:
                tenant = self._tenant(tenant_id)
            self._acquire_semaphore(tenant)
        try:
            sent = self._reserve(tenant, self.max_wait if max_wait is None else max_wait, paced)
            handle = _Slot(self, tenant)
            try:
                yield handle
            finally:
                with self._lock:
                    now = self.clock()
                    self._app.answer(sent, now)
                    if tenant is not None:
                        tenant.in_flight -= 1
                        tenant.minute.answer(sent, now)
                        tenant.day.answer(sent, now)
                    self._app_in_flight -= 1
        finally:
            if tenant is not None:
                tenant.semaphore.release()

    def _acquire_semaphore(self, tenant):
        # Wait in short slices so a scaled clock's sleep keeps control.
        while not tenant.semaphore.acquire(timeout=0.05):
            pass

    def _reserve(self, tenant, max_wait, paced):
        while True:
            with self._lock:
                now = self.clock()
                waits = [self._app.wait_time(now, self.margin, self.reserve)]
                day_wait = 0.0
                if tenant is not None:
                    waits.append(tenant.minute.wait_time(now, self.margin, self.reserve,
                                                         self.pace_after if paced else None))
                    day_wait = tenant.day.wait_time(now, self.margin, self.reserve)
                    waits.append(day_wait)
                wait = max(waits)
                if wait <= 0:
                    self._app.take(now)
                    self._app_in_flight += 1
                    if tenant is not None:
                        tenant.minute.take(now)
                        tenant.day.take(now)
                        tenant.in_flight += 1
                        tenant.calls += 1
                        tenant.max_in_flight = max(tenant.max_in_flight, tenant.in_flight)
                    return now
            if wait > max_wait or day_wait > max_wait:
                which = "daily" if day_wait >= wait else "minute"
                raise XeroError(
                    RETRYABLE,
                    "Xero's %s call budget for this organisation is used up; retry in %d seconds."
                    % (which, int(wait + 1)),
                    status=429,
                    retry_after=wait,
                    details={"rate_limit_problem": "day" if which == "daily" else "minute", "local": True},
                )
            self.sleep(min(wait, max_wait))

    # ------------------------------------------------------------- feedback

    def _observe(self, tenant, headers):
        if not headers:
            return
        with self._lock:
            now = self.clock()
            app_remaining = _int(header(headers, const.HEADER_APP_MIN_REMAINING))
            if app_remaining is not None:
                self._app.observe(app_remaining, now, max(0, self._app_in_flight - 1))
            if tenant is None:
                return
            others = max(0, tenant.in_flight - 1)
            minute_remaining = _int(header(headers, const.HEADER_MIN_REMAINING))
            if minute_remaining is not None:
                tenant.minute.observe(minute_remaining, now, others)
            day_remaining = _int(header(headers, const.HEADER_DAY_REMAINING))
            if day_remaining is not None:
                tenant.day.observe(day_remaining, now, others)

    def block(self, tenant_id, seconds, problem="minute"):
        """Xero answered 429: nobody calls this tenant (or app) for ``seconds``."""
        with self._lock:
            until = self.clock() + max(0.0, seconds)
            if problem in ("appminute", "app", "app_minute"):
                self._app.block(until)
            elif tenant_id:
                tenant = self._tenant(tenant_id)
                window = tenant.day if problem == "day" else tenant.minute
                window.block(until)

    def reset(self, tenant_id=None):
        """Forget local state (tests)."""
        with self._lock:
            if tenant_id is None:
                self._tenants.clear()
                self._app = _Window(self.app_minute_limit, const.MINUTE)
            else:
                self._tenants.pop(tenant_id, None)


class _Slot:
    def __init__(self, limiter, tenant):
        self._limiter = limiter
        self._tenant = tenant

    def observe(self, headers):
        self._limiter._observe(self._tenant, headers)


def _int(value):
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


class ScaledClock:
    """A clock running ``scale`` times faster than real time (tests, benchmarks).

    ``clock()`` returns scaled seconds; ``sleep(s)`` sleeps ``s / scale`` real
    seconds. Match it to the emulator's ``/__emulator__/clock`` scale.
    """

    def __init__(self, scale=1.0, start=None):
        self.scale = float(scale)
        self._real0 = time.monotonic()
        self._start = time.time() if start is None else start

    def __call__(self):
        return self._start + (time.monotonic() - self._real0) * self.scale

    def sleep(self, seconds):
        if seconds > 0:
            time.sleep(seconds / self.scale)

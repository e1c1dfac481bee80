"""Signed webhook delivery (asynchronous, bounded, loopback only, retried like Xero) and Intent-to-Receive."""
from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
RESOURCE_PATHS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}
# Xero wants a 2xx within 5 seconds; a delivery that fails is retried "with decreasing frequency
# for up to 24 hours" (docs: configuring-your-server). Scaled down here: 1, 2, 4 ... 256 s.
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRY_BASE = 1.0
DEFAULT_RETRY_MAX_DELAY = 300.0
DEFAULT_MAX_ATTEMPTS = 10


def is_loopback_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _entropy():
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


class _Payload:
    __slots__ = ("first", "last", "events", "resource_ids", "body", "attempt", "due")

    def __init__(self, payload):
        self.first = payload["firstEventSequence"]
        self.last = payload["lastEventSequence"]
        self.events = len(payload["events"])
        self.resource_ids = [e["resourceId"] for e in payload["events"]]  # for the status page only
        # Every attempt sends the same bytes (the signature is made with the key of the moment).
        self.body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.attempt = 0
        self.due = 0.0


class WebhookSender:
    """Delivers signed payloads to the configured URL from one background thread, in sequence
    order. A delivery that gets no 2xx within ``timeout`` seconds (a non-2xx, a connection error,
    or an answer later than that) is retried as Xero does ("with decreasing frequency"): after
    ``retry_base`` seconds, doubling, at most ``retry_max_delay`` apart, ``max_attempts`` attempts
    in all; later payloads wait behind it (the order of sequences is kept). After the last failed
    attempt the payload is given up and the webhook is disabled, as Xero disables it, until the
    URL/key is configured again or an Intent-to-Receive succeeds. Xero retries for 24 hours; the
    defaults here are a scaled-down schedule (about 8.5 minutes), set through the control route.

    ``drop`` (the control route's switch) loses every payload while it is on, at emission and
    at any pending retry: sequences still advance, the loss is counted (``dropped``)."""

    def __init__(self, max_queue=1000):
        self.url = None
        self.key = None
        self.sequence = 0
        self.max_queue = max_queue
        self.deliveries = []  # one row per attempt, oldest first (the last 500)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending: collections.deque = collections.deque()  # _Payload, in sequence order
        self._generation = 0  # bumped by reset: an attempt in flight then is forgotten
        self._thread = None
        self._stop = threading.Event()
        self._set_defaults()

    def _set_defaults(self):
        self.drop = False
        self.disabled = False
        self.timeout = DEFAULT_TIMEOUT
        self.retry_base = DEFAULT_RETRY_BASE
        self.retry_max_delay = DEFAULT_RETRY_MAX_DELAY
        self.max_attempts = DEFAULT_MAX_ATTEMPTS
        self.delivered = 0   # payloads answered 2xx in time
        self.failed = 0      # payloads given up after max_attempts
        self.dropped = 0     # payloads lost to the drop switch
        self.overflow = 0    # payloads lost because max_queue were waiting
        self.skipped_disabled = 0  # payloads not sent because the webhook was disabled
        self.in_flight = False

    def configure(self, url, key):
        if url and not is_loopback_url(url):
            raise ValueError("webhook url must be a loopback http(s) URL")
        with self._cond:
            self.url = url or None
            self.key = key or None
            self.disabled = False
            self._cond.notify_all()

    def set_options(self, drop=None, timeout=None, retry_base=None, retry_max_delay=None, max_attempts=None):
        values = {"timeout": timeout, "retry_base": retry_base, "retry_max_delay": retry_max_delay}
        for name, value in values.items():
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a number of seconds >= 0")
        if max_attempts is not None and (not isinstance(max_attempts, int) or isinstance(max_attempts, bool)
                                         or max_attempts < 1):
            raise ValueError("max_attempts must be an integer >= 1")
        if drop is not None and not isinstance(drop, bool):
            raise ValueError("drop must be true or false")
        with self._cond:
            if drop is not None:
                self.drop = drop
            for name, value in values.items():
                if value is not None:
                    setattr(self, name, float(value))
            if max_attempts is not None:
                self.max_attempts = max_attempts
            self._cond.notify_all()

    def status(self):
        with self._lock:
            return {"url": self.url, "deliveries": list(self.deliveries), "sequence": self.sequence,
                    "pending": len(self._pending), "in_flight": self.in_flight,
                    "drop": self.drop, "disabled": self.disabled,
                    "delivered": self.delivered, "failed": self.failed, "dropped": self.dropped,
                    "overflow": self.overflow, "skipped_disabled": self.skipped_disabled,
                    "timeout": self.timeout, "retry_base": self.retry_base,
                    "retry_max_delay": self.retry_max_delay, "max_attempts": self.max_attempts}

    def reset(self):
        with self._cond:
            self.url = None
            self.key = None
            self.deliveries = []
            self._pending.clear()
            self._generation += 1
            self._set_defaults()
            self._cond.notify_all()

    def _ensure_thread(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="xero-emulator-webhooks", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def retry_delay(self, attempt):
        """Seconds between attempt ``attempt`` (1-based, failed) and the next one."""
        return min(self.retry_base * (2 ** (attempt - 1)), self.retry_max_delay)

    def emit(self, tenant_id, events, docs):
        """events: [(category, id, CREATE|UPDATE)]; docs: {id: {Type, Status}} for credit notes."""
        with self._cond:
            if not self.url or not self.key:
                return
            seen = set()
            out = []
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            for cat, rid, kind in events:
                if cat not in RESOURCE_PATHS or (cat, rid) in seen:
                    continue
                seen.add((cat, rid))
                self.sequence += 1
                ev = {
                    "resourceUrl": f"https://api.xero.com/api.xro/2.0/{RESOURCE_PATHS[cat]}/{rid}",
                    "resourceId": rid,
                    "eventDateUtc": now,
                    "eventType": kind,
                    "eventCategory": cat,
                    "tenantId": tenant_id,
                    "tenantType": "ORGANISATION",
                }
                if cat == "CREDITNOTE" and rid in docs:
                    ev["data"] = docs[rid]
                out.append((self.sequence, ev))
            if not out:
                return
            if self.drop:
                self.dropped += 1
                return
            if self.disabled:
                self.skipped_disabled += 1
                return
            if len(self._pending) >= self.max_queue:
                self.overflow += 1
                return
            self._pending.append(_Payload({
                "events": [e for _, e in out],
                "firstEventSequence": out[0][0],
                "lastEventSequence": out[-1][0],
                "entropy": _entropy(),
            }))
            self._cond.notify_all()
        self._ensure_thread()

    def _next(self):
        """Wait for the head payload to be due; -> (payload, url, key, generation) or None (stop)."""
        with self._cond:
            while not self._stop.is_set():
                if not self._pending:
                    self._cond.wait()
                    continue
                item = self._pending[0]
                if self.drop:  # a retry still pending when the switch went on is lost too
                    self._pending.popleft()
                    self.dropped += 1
                    continue
                if self.disabled:
                    self._pending.popleft()
                    self.skipped_disabled += 1
                    continue
                if not self.url or not self.key:
                    self._cond.wait()  # unconfigured meanwhile: keep it until configured or reset
                    continue
                wait = item.due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                self.in_flight = True
                return item, self.url, self.key, self._generation
        return None

    def _run(self):
        while True:
            nxt = self._next()
            if nxt is None:
                return
            item, url, key, generation = nxt
            started = time.time()
            status, error, elapsed = post(url, item.body, sign(key, item.body), timeout=self.timeout)
            ok = status is not None and 200 <= status < 300 and elapsed <= self.timeout
            if status is not None and error is None and not ok and 200 <= status < 300:
                error = f"answered after {elapsed:.1f} s (Xero waits {self.timeout:g} s)"
            with self._cond:
                self.in_flight = False
                if generation != self._generation:
                    continue  # reset while it was in flight
                item.attempt += 1
                final = ok or item.attempt >= self.max_attempts
                retry_in = None if final else self.retry_delay(item.attempt)
                self.deliveries.append({
                    "firstEventSequence": item.first, "lastEventSequence": item.last, "events": item.events,
                    "resource_ids": item.resource_ids,
                    "attempt": item.attempt, "status": status, "error": error, "ok": ok, "final": final,
                    "retry_in": retry_in, "at": started, "elapsed_ms": round(elapsed * 1000, 1)})
                del self.deliveries[:-500]
                if ok:
                    self._pending.popleft()
                    self.delivered += 1
                elif final:
                    self._pending.popleft()
                    self.failed += 1
                    self.disabled = True  # as Xero disables a webhook it could not deliver to
                else:
                    item.due = time.monotonic() + retry_in

    def intent_to_receive(self):
        """Xero's ITR: one correctly and one incorrectly signed empty payload; the receiver must
        answer 200 and 401 respectively (synchronously, as the developer portal does). A success
        enables a webhook disabled after failed deliveries."""
        with self._lock:
            url, key, timeout = self.url, self.key, self.timeout
        if not url or not key:
            raise ValueError("webhook url and key must be configured first")
        results = []
        for good in (True, False):
            payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()}
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            signature = sign(key if good else key + "-wrong", body)
            status, error, _elapsed = post(url, body, signature, timeout=timeout)
            results.append({"signed_correctly": good, "status": status, "error": error,
                            "expected": 200 if good else 401})
        ok = all(r["status"] == r["expected"] for r in results)
        if ok:
            with self._cond:
                self.disabled = False
                self._cond.notify_all()
        return {"ok": ok, "results": results}


def post(url, body, signature, timeout=DEFAULT_TIMEOUT):
    """One delivery attempt -> (status or None, error or None, seconds taken)."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "x-xero-signature": signature,
                                          "User-Agent": "Xero-Webhooks (xero_emulator)"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status, None, time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, None, time.monotonic() - started
    except Exception as exc:  # noqa: BLE001 - delivery failures are recorded, never raised
        return None, f"{type(exc).__name__}: {exc}", time.monotonic() - started

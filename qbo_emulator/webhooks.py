"""Signed webhook delivery (Intuit's data-change notifications), asynchronous, loopback only.

Body (Intuit's documented legacy format)::

    {"eventNotifications": [{"realmId": "...", "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": "130", "operation": "Create", "lastUpdated": "2026-12-03T08:41:44.000Z"}]}}]}

Header ``intuit-signature``: base64 of the HMAC-SHA256 of the body keyed with the app's verifier token.
A delivery that is not answered 2xx within ``timeout`` seconds is retried ``retries`` more times after
``retry_delays`` (scaled down: Intuit's own retry schedule is not in the text available here).
"""
from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_TIMEOUT = 3.0
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0)


def is_loopback_url(url):
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS


def sign(verifier_token, body: bytes) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def payload(realm_id, events):
    seen = set()
    entities = []
    for entity, oid, operation, last_updated in events:
        if (entity, oid, operation) in seen:
            continue
        seen.add((entity, oid, operation))
        when = dt.datetime.fromisoformat(last_updated).astimezone(dt.timezone.utc)
        entities.append({"name": entity, "id": oid, "operation": operation,
                         "lastUpdated": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    return {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}


class WebhookSender:
    def __init__(self):
        self._cond = threading.Condition()
        self._pending = collections.deque()  # [body, attempt, due]
        self._thread = None
        self._stop = threading.Event()
        self._generation = 0
        self.reset()

    def reset(self):
        with self._cond:
            self.url = None
            self.verifier = None
            self.drop = False
            self.timeout = DEFAULT_TIMEOUT
            self.retry_delays = list(DEFAULT_RETRY_DELAYS)
            self.deliveries = []
            self.delivered = self.failed = self.dropped = 0
            self._pending.clear()
            self._generation += 1
            self._cond.notify_all()

    def configure(self, url=None, verifier=None, drop=None, timeout=None, retry_delays=None):
        if url and not is_loopback_url(url):
            raise ValueError("webhook url must be a loopback http(s) URL")
        with self._cond:
            if url is not None or verifier is not None:
                self.url = url or None
                self.verifier = verifier or None
            if drop is not None:
                self.drop = bool(drop)
            if timeout is not None:
                self.timeout = float(timeout)
            if retry_delays is not None:
                self.retry_delays = [float(x) for x in retry_delays]
            self._cond.notify_all()

    def status(self):
        with self._cond:
            return {"url": self.url, "pending": len(self._pending), "delivered": self.delivered,
                    "failed": self.failed, "dropped": self.dropped, "drop": self.drop,
                    "deliveries": list(self.deliveries[-200:])}

    def emit(self, realm_id, events):
        if not events:
            return
        with self._cond:
            if not self.url or not self.verifier:
                return
            if self.drop:
                self.dropped += 1
                return
            body = json.dumps(payload(realm_id, events), separators=(",", ":")).encode("utf-8")
            self._pending.append([body, 0, 0.0])
            self._cond.notify_all()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="qbo-emulator-webhooks", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def _run(self):
        while not self._stop.is_set():
            with self._cond:
                if not self._pending:
                    self._cond.wait(0.5)
                    continue
                item = self._pending[0]
                wait = item[2] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                url, verifier, generation, timeout = self.url, self.verifier, self._generation, self.timeout
            if not url or not verifier:
                continue
            status, error = post(url, item[0], sign(verifier, item[0]), timeout)
            with self._cond:
                if generation != self._generation:
                    continue
                item[1] += 1
                ok = status is not None and 200 <= status < 300
                self.deliveries.append({"attempt": item[1], "status": status, "error": error, "ok": ok,
                                        "at": time.time(), "body": json.loads(item[0])})
                if ok:
                    self._pending.popleft()
                    self.delivered += 1
                elif item[1] > len(self.retry_delays):
                    self._pending.popleft()
                    self.failed += 1
                else:
                    item[2] = time.monotonic() + self.retry_delays[item[1] - 1]


def post(url, body, signature, timeout):
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "intuit-signature": signature,
        "User-Agent": "Intuit-Webhooks (qbo_emulator)"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except Exception as exc:  # noqa: BLE001 - recorded, never raised
        return None, f"{type(exc).__name__}: {exc}"

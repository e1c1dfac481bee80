"""Signed webhook delivery (asynchronous, bounded, loopback only) and Intent-to-Receive."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import queue
import secrets
import string
import threading
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
RESOURCE_PATHS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


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


class WebhookSender:
    def __init__(self, max_queue=1000):
        self.url = None
        self.key = None
        self.sequence = 0
        self.deliveries = []  # [{sequence, status, error, events}]
        self.dropped = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = None
        self._stop = threading.Event()

    def configure(self, url, key):
        if url and not is_loopback_url(url):
            raise ValueError("webhook url must be a loopback http(s) URL")
        with self._lock:
            self.url = url or None
            self.key = key or None

    def reset(self):
        with self._lock:
            self.url = None
            self.key = None
            self.deliveries = []
            self.dropped = 0
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _ensure_thread(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="xero-emulator-webhooks", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass

    def emit(self, tenant_id, events, docs):
        """events: [(category, id, CREATE|UPDATE)]; docs: {id: {Type, Status}} for credit notes."""
        with self._lock:
            if not self.url or not self.key:
                return
            url, key = self.url, self.key
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
            payload = {
                "events": [e for _, e in out],
                "firstEventSequence": out[0][0],
                "lastEventSequence": out[-1][0],
                "entropy": _entropy(),
            }
        try:
            self._queue.put_nowait((url, key, payload))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return
        self._ensure_thread()

    def _run(self):
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            url, key, payload = job
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            status, error = post(url, body, sign(key, body))
            with self._lock:
                self.deliveries.append({"firstEventSequence": payload["firstEventSequence"],
                                        "lastEventSequence": payload["lastEventSequence"],
                                        "events": len(payload["events"]), "status": status, "error": error})
                del self.deliveries[:-500]

    def intent_to_receive(self):
        """Xero's ITR: one correctly and one incorrectly signed empty payload; the receiver must
        answer 200 and 401 respectively (synchronously, as the developer portal does)."""
        with self._lock:
            url, key = self.url, self.key
        if not url or not key:
            raise ValueError("webhook url and key must be configured first")
        results = []
        for good in (True, False):
            payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()}
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            signature = sign(key if good else key + "-wrong", body)
            status, error = post(url, body, signature)
            results.append({"signed_correctly": good, "status": status, "error": error,
                            "expected": 200 if good else 401})
        ok = all(r["status"] == r["expected"] for r in results)
        return {"ok": ok, "results": results}


def post(url, body, signature, timeout=5.0):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "x-xero-signature": signature,
                                          "User-Agent": "Xero-Webhooks (xero_emulator)"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except Exception as exc:  # noqa: BLE001 - delivery failures are recorded, never raised
        return None, f"{type(exc).__name__}: {exc}"

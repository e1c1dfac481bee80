"""Emulator: webhook deliveries retried as Xero retries them (no 2xx within the time limit, a
non-2xx, a connection error), in sequence order, each attempt recorded; the drop switch."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time

import pytest

KEY = "webhook-key-retries"


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next step of the server's script (then 200): an int is a
    status, ("sleep", s) answers 200 after s seconds, "close" closes without answering."""

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
        srv = self.server
        with srv.lock:
            step = srv.script.pop(0) if srv.script else 200
            srv.received.append({"at": time.monotonic(), "payload": json.loads(body), "body": body,
                                 "signed": hmac.compare_digest(expected, self.headers.get("x-xero-signature", ""))})
        if step == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(step, tuple):
            time.sleep(step[1])
            step = 200
        self.send_response(step)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    srv.daemon_threads = True
    srv.received, srv.script, srv.lock = [], [], threading.Lock()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/webhook"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _wait(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def _state(xero):
    return xero.control("GET", "webhook").json()


def _settled(xero):
    s = _state(xero)
    return not s["pending"] and not s["in_flight"]


def _configure(xero, url, **options):
    r = xero.control("POST", "webhook", {"url": url, "key": KEY, **options})
    assert r.status_code == 200, r.text
    return r.json()


def test_defaults_follow_xero(xero):
    s = _state(xero)
    assert s["timeout"] == 5.0, "Xero waits 5 seconds for the answer"
    assert s["max_attempts"] > 1 and s["retry_base"] > 0
    assert s["drop"] is False and s["disabled"] is False


def test_failed_delivery_is_retried_with_increasing_backoff(xero, receiver):
    _configure(xero, receiver.url, retry_base=0.1, max_attempts=5)
    receiver.script[:] = [500, 503, 200]
    c = xero.contact("Retried Ltd")
    assert _wait(lambda: len(receiver.received) >= 3) and _wait(lambda: _settled(xero))
    time.sleep(0.3)
    assert len(receiver.received) == 3, "a delivery answered 200 is not sent again"
    bodies = {r["body"] for r in receiver.received}
    assert len(bodies) == 1, "every attempt sends the same payload"
    assert all(r["signed"] for r in receiver.received)
    assert receiver.received[0]["payload"]["events"][0]["resourceId"] == c["ContactID"]
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.received, receiver.received[1:])]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2, f"the backoff waits 0.1 s, then 0.2 s: {gaps}"
    s = _state(xero)
    rows = [d for d in s["deliveries"] if d["lastEventSequence"] == s["sequence"]]
    assert [(d["attempt"], d["status"], d["ok"], d["final"]) for d in rows] == [
        (1, 500, False, False), (2, 503, False, False), (3, 200, True, True)]
    assert rows[0]["retry_in"] == pytest.approx(0.1) and rows[1]["retry_in"] == pytest.approx(0.2)
    assert s["delivered"] >= 1 and s["failed"] == 0 and not s["disabled"]


def test_no_answer_within_the_time_limit_is_a_failure(xero, receiver):
    _configure(xero, receiver.url, timeout=0.3, retry_base=0.05)
    receiver.script[:] = [("sleep", 2.0)]
    xero.contact("Slow Receiver Ltd")
    assert _wait(lambda: len(receiver.received) >= 2) and _wait(lambda: _settled(xero))
    s = _state(xero)
    first, second = [d for d in s["deliveries"] if d["lastEventSequence"] == s["sequence"]]
    assert first["attempt"] == 1 and first["ok"] is False and first["status"] is None
    assert "timed out" in first["error"].lower()
    assert 300 <= first["elapsed_ms"] < 1500, "the emulator stops waiting at its time limit"
    assert (second["attempt"], second["status"], second["ok"]) == (2, 200, True)


def test_connection_errors_are_retried_then_given_up_and_the_webhook_disabled(xero, receiver):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    _configure(xero, f"http://127.0.0.1:{port}/webhook", retry_base=0.02, max_attempts=3)
    xero.contact("Nobody Home Ltd")
    assert _wait(lambda: _state(xero)["failed"] == 1)
    s = _state(xero)
    rows = [d for d in s["deliveries"] if d["lastEventSequence"] == s["sequence"]]
    assert [d["attempt"] for d in rows] == [1, 2, 3]
    assert all(d["status"] is None and d["error"] for d in rows)
    assert rows[-1]["final"] is True and rows[-1]["retry_in"] is None
    assert s["disabled"] is True, "Xero disables a webhook it could not deliver to"
    # Disabled: what happens next is not sent, until the webhook is configured again.
    xero.contact("While Disabled Ltd")
    assert _wait(lambda: _state(xero)["skipped_disabled"] == 1)
    _configure(xero, receiver.url)
    assert _state(xero)["disabled"] is False
    xero.contact("Enabled Again Ltd")
    assert _wait(lambda: len(receiver.received) == 1)
    assert receiver.received[0]["payload"]["firstEventSequence"] == _state(xero)["sequence"]


def test_a_connection_closed_without_answer_is_retried(xero, receiver):
    _configure(xero, receiver.url, retry_base=0.05)
    receiver.script[:] = ["close"]
    xero.contact("Reset Ltd")
    assert _wait(lambda: len(receiver.received) >= 2) and _wait(lambda: _settled(xero))
    s = _state(xero)
    rows = [d for d in s["deliveries"] if d["lastEventSequence"] == s["sequence"]]
    assert [(d["attempt"], d["ok"]) for d in rows] == [(1, False), (2, True)]
    assert rows[0]["status"] is None and rows[0]["error"]


def test_order_of_sequences_is_kept_while_retrying(xero, receiver):
    _configure(xero, receiver.url, retry_base=0.15)
    receiver.script[:] = [500, 500]
    start = _state(xero)["sequence"]
    for i in range(4):
        xero.contact(f"In Order {i} Ltd")
    assert _wait(lambda: _state(xero)["sequence"] == start + 4)
    assert _wait(lambda: len(receiver.received) >= 6) and _wait(lambda: _settled(xero))
    seqs = [r["payload"]["firstEventSequence"] for r in receiver.received]
    assert seqs == [start + 1] * 3 + [start + 2, start + 3, start + 4], \
        "later payloads wait behind the one being retried"
    delivered = [d["lastEventSequence"] for d in _state(xero)["deliveries"] if d["ok"]]
    assert delivered[-4:] == [start + 1, start + 2, start + 3, start + 4]


def test_drop_switch_loses_deliveries_and_counts_them(xero, receiver):
    _configure(xero, receiver.url)
    xero.contact("Before Drop Ltd")
    assert _wait(lambda: len(receiver.received) == 1)
    r = xero.control("POST", "webhook", {"drop": True})
    assert r.status_code == 200 and r.json()["drop"] is True
    assert r.json()["url"] == receiver.url, "the switch leaves the configured webhook alone"
    before = _state(xero)["sequence"]
    xero.contact("Dropped One Ltd")
    c = xero.contact("Dropped Two Ltd")
    xero.invoice(c["ContactID"])
    time.sleep(0.3)
    s = _state(xero)
    assert len(receiver.received) == 1, "nothing is delivered while the switch is on"
    assert s["dropped"] == 3 and s["sequence"] == before + 3, "sequences go on: the receiver sees a gap"
    assert xero.control("POST", "webhook", {"drop": False}).json()["drop"] is False
    xero.contact("After Drop Ltd")
    assert _wait(lambda: len(receiver.received) == 2)
    assert receiver.received[1]["payload"]["firstEventSequence"] == before + 4
    assert _state(xero)["dropped"] == 3


def test_drop_switch_also_loses_a_pending_retry(xero, receiver):
    _configure(xero, receiver.url, retry_base=0.5)
    receiver.script[:] = [500] * 10
    xero.contact("Failing Then Dropped Ltd")
    assert _wait(lambda: len(receiver.received) == 1)
    xero.control("POST", "webhook", {"drop": True})
    assert _wait(lambda: _state(xero)["dropped"] == 1)
    time.sleep(0.7)
    assert len(receiver.received) == 1, "the retry was dropped, not sent"
    assert _state(xero)["pending"] == 0


def test_bad_settings_are_refused_and_reset_restores_defaults(xero, receiver):
    assert xero.control("POST", "webhook", {"drop": "yes"}).status_code == 400
    assert xero.control("POST", "webhook", {"max_attempts": 0}).status_code == 400
    assert xero.control("POST", "webhook", {"retry_base": -1}).status_code == 400
    assert xero.control("POST", "webhook", {"retries": 3}).status_code == 400
    _configure(xero, receiver.url, drop=True, timeout=1, max_attempts=2)
    xero.control("POST", "reset")
    s = _state(xero)
    assert (s["url"], s["drop"], s["timeout"], s["max_attempts"]) == (None, False, 5.0, 10)

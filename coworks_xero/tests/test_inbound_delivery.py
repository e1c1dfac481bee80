"""Both systems agree when webhooks fail: the emulator delivers to Odoo's route over real HTTP
and retries as Xero does; deliveries it drops are made up by the catch-up cron's pull
(If-Modified-Since); a delivery retried after a failure is applied once."""
import datetime
import http.server
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

from odoo import fields
from odoo.tests import tagged

from ..services.xero import inbound as xin
from .common_http import CoworksXeroHttpCase
from .test_inbound_webhooks import KEY, ROUTE


class _FrontProxy(http.server.BaseHTTPRequestHandler):
    """The reverse proxy in front of Odoo (nginx in production): while Odoo is down it answers
    502 itself; afterwards it forwards to Odoo and answers what Odoo answered."""

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv = self.server
        with srv.lock:
            srv.seen += 1
            down = srv.seen <= srv.down_for
        if down:
            status = 502
        else:
            req = urllib.request.Request(srv.upstream, data=body, method="POST", headers={
                "Content-Type": self.headers["Content-Type"],
                "x-xero-signature": self.headers.get("x-xero-signature", "")})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@tagged("post_install", "-at_install")
class TestInboundDelivery(CoworksXeroHttpCase):

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("coworks_xero.webhook_key", KEY)
        self.env.flush_all()
        self.http_request_allow_all = True  # the emulator delivers without the test's cookie

    # ------------------------------------------------------------------ helpers

    def webhook(self, url=None, **options):
        return self.emu("POST", "webhook", {"url": url or self.base_url() + ROUTE, "key": KEY, **options})

    def sent_invoice(self):
        invoice = self._invoice(350.0)
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        return invoice

    def pay_in_xero(self, move):
        """A payment someone enters in Xero (the emulator's API, not this integration)."""
        [result] = self.connection._xero_client().create_payments([{
            "Invoice": {"InvoiceID": move.xero_id}, "Account": {"Code": "090"},
            "Date": fields.Date.today().isoformat(), "Amount": move.amount_total,
            "Reference": "Paid at the front desk"}], uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def wait_webhook(self, pred, timeout=20):
        """Poll the emulator's webhook state (not Odoo) until ``pred`` holds; returns the state."""
        end = time.time() + timeout
        state = None
        while time.time() < end:
            state = self.emu("GET", "webhook")
            if pred(state):
                return state
            time.sleep(0.05)
        self.fail(f"the emulator's webhook never got there: {state}")

    def attempts(self, state, sequence):
        return [d for d in state["deliveries"] if d["firstEventSequence"] <= sequence <= d["lastEventSequence"]]

    def events(self):
        return self.env["coworks.sync.inbound.event"].sudo().search([])

    def writes_to_xero(self):
        return [r for r in self.emu("GET", "requests")["requests"] if r["method"] in ("PUT", "POST", "DELETE")]

    def assert_paid_once(self, invoice, payment_id):
        self.assertEqual(invoice.payment_state, "paid")
        [payment] = invoice._get_reconciled_payments()
        self.assertEqual(payment.amount, invoice.amount_total)
        self.assertEqual(payment.xero_payment_link_ids.xero_id, payment_id.lower())
        changes = self.env["coworks.sync.inbound.change"].sudo().search([("move_id", "=", invoice.id)])
        self.assertEqual(len(changes), 1)
        self.assertFalse(self.writes_to_xero(), "nothing is sent back to Xero (no echo)")

    # ------------------------------------------------------------------ webhooks lost: the pull

    def test_dropped_webhooks_the_catch_up_pull_finds_the_payment(self):
        self.webhook(drop=True)
        invoice = self.sent_invoice()
        self.connection.invalidate_recordset()
        pulled_at = self.connection.inbound_pulled_at
        read_up_to = self.connection.inbound_modified_since
        self.assertTrue(pulled_at, "the first run pulled once")
        payment_id = self.pay_in_xero(invoice)
        state = self.wait_webhook(lambda s: s["dropped"] >= 2 and not s["pending"])
        self.assertFalse(state["deliveries"], "the drop switch delivered nothing")
        self.assertGreaterEqual(state["sequence"], 2, "Xero's sequences went on")
        self.emu("DELETE", "requests")

        self.run_worker()  # nothing arrived and the pull is not due: Odoo does not know yet
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertFalse(self.events())
        interval = self.connection._coworks_xero_pull_interval()
        self.assertEqual(interval, datetime.timedelta(minutes=15), "no webhook arrives: the short interval")
        self.run_worker_at(pulled_at + interval - datetime.timedelta(minutes=2))
        self.assertEqual(invoice.payment_state, "not_paid", "still within the interval: no pull")
        self.assertFalse([r for r in self.emu("GET", "requests")["requests"] if r["route"] == "GET /Payments"])

        self.run_worker_at(pulled_at + interval + datetime.timedelta(minutes=1))  # the catch-up cron's pull

        self.assertIn("GET /Payments", {r["route"] for r in self.emu("GET", "requests")["requests"]})
        self.assert_paid_once(invoice, payment_id)
        self.connection.invalidate_recordset()
        self.assertGreater(self.connection.inbound_pulled_at, pulled_at)
        self.assertGreater(self.connection.inbound_modified_since, read_up_to or datetime.datetime.min,
                           "the next pull asks only for what changed since")
        self.assertFalse(self.events(), "the pull alone, no webhook event")

    # ------------------------------------------------------------------ a failed delivery retried

    def test_delivery_answered_too_late_is_retried_and_applied_once(self):
        """Odoo is busy past Xero's 5 seconds: the emulator gives up on the attempt and retries;
        Odoo stores the late one and the retry, one event, one payment."""
        invoice = self.sent_invoice()
        self.webhook(retry_base=0.5)
        payment_id = self.pay_in_xero(invoice)
        self.emu("DELETE", "requests")
        sequence = self.emu("GET", "webhook")["sequence"]
        # The test holds Odoo's test lock: the delivery reaches Odoo, which cannot answer in time.
        state = self.wait_webhook(lambda s: self.attempts(s, sequence), timeout=15)
        [first] = self.attempts(state, sequence)
        self.assertEqual((first["attempt"], first["ok"], first["status"]), (1, False, None), first)
        self.assertIn("timed out", first["error"].lower())
        self.assertGreaterEqual(first["elapsed_ms"], 4900, "Xero waits 5 seconds")
        with self.allow_requests(all_requests=True):  # Odoo free again
            state = self.wait_webhook(lambda s: any(d["ok"] for d in self.attempts(s, sequence)))
            time.sleep(1.0)  # the late first attempt, still queued in Odoo, finishes too
        tries = self.attempts(state, sequence)
        self.assertEqual([(d["attempt"], d["ok"]) for d in tries], [(1, False), (2, True)])
        self.assertEqual(tries[-1]["status"], 200)
        self.env.invalidate_all()
        self.assertEqual(len(self.events().filtered(lambda e: e.resource_id == invoice.xero_id.lower())), 1,
                         "delivered twice, stored once")

        self.run_worker()  # the event, not the pull
        self.assert_paid_once(invoice, payment_id)
        self.run_worker()
        self.assertEqual(len(invoice._get_reconciled_payments()), 1)

    def test_delivery_refused_while_odoo_is_down_is_retried_and_applied_once(self):
        """Odoo behind a proxy, down for a moment: 502 twice, then the retry reaches Odoo."""
        proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FrontProxy)
        proxy.daemon_threads = True
        proxy.upstream, proxy.lock, proxy.seen, proxy.down_for = self.base_url() + ROUTE, threading.Lock(), 0, 2
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        self.addCleanup(proxy.server_close)
        self.addCleanup(proxy.shutdown)
        invoice = self.sent_invoice()
        self.webhook(url=f"http://127.0.0.1:{proxy.server_address[1]}{ROUTE}", retry_base=0.2)
        self.connection.invalidate_recordset()
        pulled_at = self.connection.inbound_pulled_at
        payment_id = self.pay_in_xero(invoice)
        self.emu("DELETE", "requests")
        sequence = self.emu("GET", "webhook")["sequence"]
        with self.allow_requests(all_requests=True):
            state = self.wait_webhook(lambda s: any(d["ok"] for d in self.attempts(s, sequence)))
        tries = self.attempts(state, sequence)
        self.assertEqual([(d["attempt"], d["status"]) for d in tries], [(1, 502), (2, 502), (3, 200)])
        self.assertEqual([d["retry_in"] for d in tries], [0.2, 0.4, None], "the backoff doubles")
        self.assertGreaterEqual(tries[2]["at"] - tries[1]["at"], 0.4)
        self.assertGreaterEqual(tries[1]["at"] - tries[0]["at"], 0.2)
        self.env.invalidate_all()
        self.assertEqual(len(self.events()), 1)

        self.run_worker()  # the pull is not due: the retried delivery alone brings the payment
        self.assert_paid_once(invoice, payment_id)
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.inbound_pulled_at, pulled_at, "no pull was needed")

    # ------------------------------------------------------------------ the pull's interval

    def test_pull_interval_system_parameters(self):
        params = self.env["ir.config_parameter"].sudo()
        conn = self.connection
        self.assertEqual(conn._coworks_xero_pull_interval(), datetime.timedelta(minutes=15))
        params.set_param("coworks_xero.inbound_pull_minutes", "2.5")
        params.set_param("coworks_xero.inbound_pull_minutes_with_webhooks", "5")
        self.assertEqual(conn._coworks_xero_pull_interval(), datetime.timedelta(seconds=150))
        self.env["coworks.sync.inbound.event"].sudo()._store(
            xin.parse_webhook(self.event_body(conn.tenant_id)))
        conn.invalidate_recordset(["webhook_last_event_at"])
        self.assertTrue(conn.webhook_last_event_at)
        self.assertEqual(conn._coworks_xero_pull_interval(), datetime.timedelta(minutes=5), "webhooks arrive")
        params.set_param("coworks_xero.inbound_pull_minutes_with_webhooks", "not a number")
        self.assertEqual(conn._coworks_xero_pull_interval(), datetime.timedelta(hours=1), "the default")

    def event_body(self, tenant_id):
        return json.dumps({"events": [{
            "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{uuid.uuid4()}",
            "resourceId": str(uuid.uuid4()), "eventDateUtc": "2026-12-01T10:00:00.000", "eventType": "UPDATE",
            "eventCategory": "INVOICE", "tenantId": tenant_id, "tenantType": "ORGANISATION"}],
            "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "ABCDEFGHIJKLMNOPQRST"}).encode()

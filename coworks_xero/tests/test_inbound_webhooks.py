"""Xero webhooks through real HTTP: the emulator signs and delivers to Odoo's route, as Xero does
(Intent-to-Receive, events batched, IDs only); the sync cron applies what they name."""
import base64
import hashlib
import hmac
import json
import time
import uuid

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common_http import CoworksXeroHttpCase

KEY = "xero-webhook-key-0123456789"
ROUTE = "/coworks_xero/webhook"


def signed(body, key=KEY):
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@tagged("post_install", "-at_install")
class TestInboundWebhooks(CoworksXeroHttpCase):

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("coworks_xero.webhook_key", KEY)
        self.env.flush_all()
        # The emulator delivers as Xero does, without the test session's cookie; its requests
        # wait for the test's lock until the test waits for them (``delivered``).
        self.http_request_allow_all = True

    def webhook_url(self):
        return self.base_url() + ROUTE

    def post(self, body, signature):
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["x-xero-signature"] = signature
        return self.url_open(ROUTE, data=body, headers=headers)

    def events(self):
        return self.env["coworks.sync.inbound.event"].sudo().search([])

    def event_body(self, invoice, event_type="UPDATE", when="2026-12-01T10:00:00.000"):
        return json.dumps({"events": [{
            "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice.xero_id}",
            "resourceId": invoice.xero_id, "eventDateUtc": when, "eventType": event_type,
            "eventCategory": "INVOICE", "tenantId": self.tenant_id, "tenantType": "ORGANISATION"}],
            "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "ABCDEFGHIJKLMNOPQRST"},
            separators=(",", ":")).encode()

    def sent_invoice(self):
        invoice = self._invoice(350.0)
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        return invoice

    def pay_in_xero(self, move, amount):
        [result] = self.connection._xero_client().create_payments([{
            "Invoice": {"InvoiceID": move.xero_id}, "Account": {"Code": "090"},
            "Date": fields.Date.today().isoformat(), "Amount": amount, "Reference": "Paid at the front desk"}],
            uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def intent_to_receive(self):
        with self.allow_requests(all_requests=True):  # the emulator calls Odoo while we wait
            return self.emu("POST", "webhook", {"intent_to_receive": True})

    def wait_delivered(self, timeout=20):
        """Until the emulator has delivered every event it emitted; returns the deliveries."""
        with self.allow_requests(all_requests=True):
            return self._wait_delivered(timeout)

    def _wait_delivered(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            state = self.emu("GET", "webhook")
            last = max((d["lastEventSequence"] for d in state["deliveries"]), default=0)
            if state["sequence"] and last == state["sequence"]:
                return state["deliveries"]
            time.sleep(0.1)
        self.fail(f"the emulator did not deliver its webhooks: {state}")

    # ------------------------------------------------------------------ Intent to Receive

    def test_intent_to_receive_good_and_bad_signature(self):
        self.emu("POST", "webhook", {"url": self.webhook_url(), "key": KEY})
        itr = self.intent_to_receive()
        self.assertEqual([r["status"] for r in itr["results"]], [200, 401], itr)
        self.assertTrue(itr["ok"])
        self.assertFalse(self.events(), "an Intent-to-Receive payload has no events to store")

    def test_no_key_set_refuses_everything(self):
        self.env["ir.config_parameter"].sudo().set_param("coworks_xero.webhook_key", "")
        self.env.flush_all()
        self.emu("POST", "webhook", {"url": self.webhook_url(), "key": KEY})
        itr = self.intent_to_receive()
        self.assertEqual([r["status"] for r in itr["results"]], [401, 401], itr)
        self.assertFalse(itr["ok"])
        invoice = self.sent_invoice()
        body = self.event_body(invoice)
        self.assertEqual(self.post(body, signed(body)).status_code, 401)
        self.assertEqual(self.post(body, signed(body, "")).status_code, 401)
        self.assertFalse(self.events())

    def test_bad_or_missing_signature_stores_nothing(self):
        invoice = self.sent_invoice()
        body = self.event_body(invoice)
        self.assertEqual(self.post(body, signed(body, KEY + "x")).status_code, 401)
        self.assertEqual(self.post(body, None).status_code, 401)
        tampered = body.replace(b"UPDATE", b"CREATE")
        self.assertEqual(self.post(tampered, signed(body)).status_code, 401)
        self.assertFalse(self.events())
        resp = self.post(body, signed(body))
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.content, b"", "Xero wants no body")
        self.assertFalse(resp.cookies, "and no cookie")
        self.assertEqual(len(self.events()), 1)

    # ------------------------------------------------------------------ events applied

    def test_payment_in_xero_arrives_by_webhook_reconciled_without_echo(self):
        invoice = self.sent_invoice()
        self.emu("POST", "webhook", {"url": self.webhook_url(), "key": KEY})
        payment_id = self.pay_in_xero(invoice, invoice.amount_total)
        deliveries = self.wait_delivered()
        self.assertEqual({d["status"] for d in deliveries}, {200}, deliveries)
        self.env.invalidate_all()
        events = self.events()
        self.assertIn(invoice.xero_id.lower(), events.mapped("resource_id"))
        self.assertTrue(self.connection.webhook_last_event_at)
        self.emu("DELETE", "requests")
        pulled_at = self.connection.inbound_pulled_at

        self.run_worker()  # the pull is not due: the webhook event alone brings the payment

        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(set(self.events().mapped("state")), {"done"})
        [payment] = invoice._get_reconciled_payments()
        self.assertEqual(payment.xero_payment_link_ids.xero_id, payment_id.lower())
        self.assertEqual(invoice.xero_status, "PAID")
        reqs = self.emu("GET", "requests")["requests"]
        self.assertFalse([r for r in reqs if r["method"] in ("PUT", "POST")], "nothing is sent back to Xero")
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.inbound_pulled_at, pulled_at, "no pull was needed")

    def test_replayed_event_is_applied_once(self):
        invoice = self.sent_invoice()
        self.pay_in_xero(invoice, 100.0)
        body = self.event_body(invoice)
        self.emu("DELETE", "requests")
        for _attempt in range(3):  # Xero retries a delivery it thinks failed
            self.assertEqual(self.post(body, signed(body)).status_code, 200)
        self.assertEqual(len(self.events()), 1)
        self.assertFalse(self.emu("GET", "requests")["requests"], "the webhook itself calls no Xero API")
        self.run_worker()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(self.events().state, "done")
        # Delivered again after it was applied: stored once, and the payment is not registered twice.
        self.assertEqual(self.post(body, signed(body)).status_code, 200)
        self.assertEqual(len(self.events()), 1)
        # A new event about the same invoice (another delivery) finds nothing new to apply.
        later = self.event_body(invoice, when="2026-12-01T10:05:00.000")
        self.assertEqual(self.post(later, signed(later)).status_code, 200)
        self.run_worker()
        self.assertEqual(len(self.events()), 2)
        self.assertEqual(len(invoice._get_reconciled_payments()), 1)
        self.assertAlmostEqual(invoice.amount_residual, invoice.amount_total - 100.0)

    def test_contact_merged_in_xero_is_followed_by_its_webhook_without_a_pull(self):
        invoice = self.sent_invoice()
        partner = invoice.partner_id.commercial_partner_id
        old_id = partner.with_company(self.company).xero_contact_id
        [survivor] = self.connection._xero_client().save_contacts(
            [{"Name": "Azure Interior Group"}], uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(survivor.ok, survivor.message)
        self.emu("POST", "webhook", {"url": self.webhook_url(), "key": KEY})
        self.emu("POST", "merge_contacts", {"tenant": self.tenant_id, "from": old_id, "into": survivor.remote_id})
        deliveries = self.wait_delivered()
        self.assertEqual({d["status"] for d in deliveries}, {200}, deliveries)
        self.env.invalidate_all()
        self.assertEqual(set(self.events().mapped("category")), {"CONTACT"})
        self.assertIn(old_id.lower(), self.events().mapped("resource_id"))
        self.emu("DELETE", "requests")
        pulled_at = self.connection.inbound_pulled_at

        self.run_worker()  # the pull is not due: the CONTACT events alone re-link the customer

        partner.invalidate_recordset()
        self.assertEqual(partner.with_company(self.company).xero_contact_id.lower(), survivor.remote_id.lower())
        self.assertTrue([m for m in partner.message_ids if "Merged in Xero" in (m.body or "")],
                        "the customer says what happened")
        self.assertEqual(set(self.events().mapped("state")), {"done"})
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.inbound_pulled_at, pulled_at, "no pull was needed")
        reqs = self.emu("GET", "requests")["requests"]
        self.assertFalse([r for r in reqs if r["method"] in ("PUT", "POST")], "nothing is sent back to Xero")
        # The customer's next invoice goes to the surviving contact.
        other = self._invoice(80.0, partner=partner)
        self.run_worker()
        self.assertEqual(self.xero_invoice(other.name)["Contact"]["ContactID"].lower(), survivor.remote_id.lower())

    def test_allocation_deleted_in_xero_arrives_by_webhook_and_is_unmatched_in_odoo(self):
        invoice = self._invoice(350.0)
        credit = self._invoice(100.0, move_type="out_refund")
        receivable = credit.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")
        invoice.js_assign_outstanding_line(receivable.id)
        self.run_worker()
        link = self.env["coworks.xero.payment.link"].search([("credit_note_id", "=", credit.id)])
        self.assertEqual(link.state, "synced")
        self.emu("POST", "webhook", {"url": self.webhook_url(), "key": KEY})
        result = self.connection._xero_client().delete_credit_note_allocation(credit.xero_id, link.xero_id,
                                                                              ref="by hand")
        self.assertTrue(result.ok, result.message)
        self.wait_delivered()
        self.env.invalidate_all()
        self.assertEqual(set(self.events().mapped("category")), {"INVOICE", "CREDITNOTE"})
        self.emu("DELETE", "requests")
        pulled_at = self.connection.inbound_pulled_at

        self.run_worker()  # the pull is not due: the events alone bring the removal

        self.assertEqual(credit.payment_state, "not_paid")
        self.assertAlmostEqual(invoice.amount_residual, invoice.amount_total)
        self.assertEqual(link.state, "deleted")
        reqs = self.emu("GET", "requests")["requests"]
        self.assertFalse([r for r in reqs if r["method"] in ("PUT", "POST", "DELETE")], "nothing is sent back")
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.inbound_pulled_at, pulled_at, "no pull was needed")

    # ------------------------------------------------------------------ settings

    def test_webhook_key_is_system_only_and_settings_show_the_url(self):
        manager = new_test_user(self.env, login="xero_mgr_wh", groups="coworks_xero.group_xero_manager",
                                company_id=self.company.id)
        with self.assertRaises(AccessError):
            self.env["ir.config_parameter"].with_user(manager).get_param("coworks_xero.webhook_key")
        self.assertNotIn("coworks_xero_webhook_key", self.env["res.config.settings"].with_user(manager).fields_get())
        settings = self.env["res.config.settings"].with_user(self.xero_admin).create({})
        self.assertEqual(settings.coworks_xero_webhook_key, KEY)
        self.assertTrue(settings.coworks_xero_webhook_url.endswith(ROUTE))

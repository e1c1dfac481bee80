"""Emulator: signed webhooks to a small local receiver, and Intent-to-Receive."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest

KEY = "webhook-key-123"


class _Receiver(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
        ok = hmac.compare_digest(expected, self.headers.get("x-xero-signature", ""))
        self.server.received.append((ok, json.loads(body)))
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    srv.received = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _wait(pred, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_signed_events(xero, receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhook"
    assert xero.control("POST", "webhook", {"url": url, "key": KEY}).ok
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    cn = xero.credit_note(c["ContactID"])
    assert _wait(lambda: len(receiver.received) >= 3)
    assert all(ok for ok, _ in receiver.received)
    events = [e for _, p in receiver.received for e in p["events"]]
    cats = {(e["eventCategory"], e["resourceId"], e["eventType"]) for e in events}
    assert ("CONTACT", c["ContactID"], "CREATE") in cats
    assert ("INVOICE", inv["InvoiceID"], "CREATE") in cats
    assert ("CREDITNOTE", cn["CreditNoteID"], "CREATE") in cats
    ev = next(e for e in events if e["eventCategory"] == "CREDITNOTE")
    assert ev["data"] == {"Type": "ACCRECCREDIT", "Status": "AUTHORISED"}
    assert ev["tenantType"] == "ORGANISATION" and ev["resourceUrl"].endswith("/CreditNotes/" + cn["CreditNoteID"])
    payload = receiver.received[0][1]
    assert set(payload) == {"events", "firstEventSequence", "lastEventSequence", "entropy"}
    # a failed (rolled back) batch sends nothing
    n = len(receiver.received)
    xero.put("/Contacts", json={"Contacts": [{"Name": "ok"}, {"Name": c["Name"]}]})
    time.sleep(0.2)
    assert len(receiver.received) == n
    deliveries = xero.control("GET", "webhook").json()["deliveries"]
    assert deliveries and all(d["status"] == 200 for d in deliveries)


def test_intent_to_receive(xero, receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhook"
    xero.control("POST", "webhook", {"url": url, "key": KEY})
    r = xero.control("POST", "webhook", {"intent_to_receive": True}).json()
    assert r["ok"] is True
    assert [x["status"] for x in r["results"]] == [200, 401]
    assert [ok for ok, _ in receiver.received] == [True, False]
    assert receiver.received[0][1]["events"] == []


def test_webhook_url_must_be_loopback(xero):
    r = xero.control("POST", "webhook", {"url": "https://example.com/hook", "key": KEY})
    assert r.status_code == 400


def _events_after(receiver, n):
    return [e for _, p in receiver.received[n:] for e in p["events"]]


def test_contact_merge_emits_signed_contact_updates(xero, emulator, receiver):
    """Xero's "Merge" (screens only; the control route here) reports both contacts changed."""
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhook"
    old, survivor = xero.contact("Old Name Pty"), xero.contact("Survivor Pty")
    inv = xero.invoice(old["ContactID"])
    assert xero.control("POST", "webhook", {"url": url, "key": KEY}).ok
    n = 0
    r = xero.control("POST", "merge_contacts", {"tenant": xero.tenant, "from": old["ContactID"],
                                                "into": survivor["ContactID"]})
    assert r.ok, r.text
    assert _wait(lambda: len(receiver.received) > n)
    assert all(ok for ok, _ in receiver.received[n:]), "signed with the app's key"
    got = {(e["eventCategory"], e["resourceId"], e["eventType"]) for e in _events_after(receiver, n)}
    assert got == {("CONTACT", old["ContactID"], "UPDATE"), ("CONTACT", survivor["ContactID"], "UPDATE")}
    merged = xero.get(f"/Contacts/{old['ContactID']}").json()["Contacts"][0]
    assert merged["MergedToContactID"] == survivor["ContactID"] and merged["ContactStatus"] == "ARCHIVED"
    assert xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]["Contact"]["ContactID"] == survivor["ContactID"]
    # A refused merge emits nothing.
    assert xero.control("POST", "merge_contacts", {"tenant": xero.tenant, "from": old["ContactID"],
                                                   "into": old["ContactID"]}).status_code == 400
    time.sleep(0.2)
    assert len(receiver.received) == n + 1


def test_deleted_allocations_emit_document_updates(xero, receiver):
    """DELETE /CreditNotes/{id}/Allocations/{id} and /Overpayments/{id}/Allocations/{id}: the
    documents whose amounts changed are reported (Xero has no overpayment webhook)."""
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhook"
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    cn = xero.credit_note(c["ContactID"], amount=20)
    r = xero.put(f"/CreditNotes/{cn['CreditNoteID']}/Allocations",
                 json={"Allocations": [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 22, "Date": "2024-05-03"}]})
    assert r.status_code == 200, r.text
    alloc = r.json()["Allocations"][0]
    r = xero.put("/BankTransactions", json={"BankTransactions": [{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"ContactID": c["ContactID"]}, "BankAccount": {"Code": "090"},
        "Date": "2024-05-03", "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Deposit", "LineAmount": 10}]}]})
    assert r.status_code == 200, r.text
    ovp_id = r.json()["BankTransactions"][0]["OverpaymentID"]
    r = xero.put(f"/Overpayments/{ovp_id}/Allocations",
                 json={"Allocations": [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 10, "Date": "2024-05-03"}]})
    assert r.status_code == 200, r.text
    ovp_alloc = r.json()["Allocations"][0]
    assert xero.control("POST", "webhook", {"url": url, "key": KEY}).ok

    r = xero.delete(f"/CreditNotes/{cn['CreditNoteID']}/Allocations/{alloc['AllocationID']}")
    assert r.status_code == 200, r.text
    assert r.json()["IsDeleted"] is True
    assert _wait(lambda: len(receiver.received) >= 1)
    got = {(e["eventCategory"], e["resourceId"], e["eventType"]) for e in _events_after(receiver, 0)}
    assert got == {("INVOICE", inv["InvoiceID"], "UPDATE"), ("CREDITNOTE", cn["CreditNoteID"], "UPDATE")}
    doc = xero.get(f"/CreditNotes/{cn['CreditNoteID']}").json()["CreditNotes"][0]
    assert doc["Allocations"] == [] and doc["RemainingCredit"] == 22
    n = len(receiver.received)
    r = xero.delete(f"/Overpayments/{ovp_id}/Allocations/{ovp_alloc['AllocationID']}")
    assert r.status_code == 200, r.text
    assert _wait(lambda: len(receiver.received) > n)
    got = {(e["eventCategory"], e["resourceId"], e["eventType"]) for e in _events_after(receiver, n)}
    assert got == {("INVOICE", inv["InvoiceID"], "UPDATE")}
    invoice = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert invoice["CreditNotes"] == [] and invoice["Overpayments"] == [] and invoice["AmountDue"] == invoice["Total"]
    # Deleted twice: refused, nothing emitted.
    assert xero.delete(f"/CreditNotes/{cn['CreditNoteID']}/Allocations/{alloc['AllocationID']}").status_code == 400
    time.sleep(0.2)
    assert len(receiver.received) == n + 1

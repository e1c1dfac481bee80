"""services/qbo/inbound.py against the QuickBooks emulator: what a person does in QuickBooks (a payment,
a void, a credit applied, a refund) read back in the provider-neutral shapes the Odoo side applies, from a
webhook's ids or from Change Data Capture; Intuit's webhook signature and payload."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

from test_qbo_provider import DAY, _pay, created_customer, invoice, line, one, us  # noqa: F401

from coworks_xero.services import documents, provider as base
from coworks_xero.services.qbo import inbound as qin
from qbo_emulator.webhooks import sign

D = Decimal


def _person_pays(prov, cust, links, total, ref="CHQ 1001"):
    """A payment entered in QuickBooks by a person (not this integration): one Payment over invoices."""
    body = {"CustomerRef": {"value": cust.remote_id}, "TotalAmt": str(total), "TxnDate": DAY.isoformat(),
            "DepositToAccountRef": {"value": "35"}, "PaymentRefNum": ref,
            "Line": [{"Amount": str(a), "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in links]}
    return prov.client.create("Payment", body)


def test_a_payment_made_in_quickbooks_over_two_invoices_comes_back_per_invoice(us):
    cust = created_customer(us)
    a = one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100", number="INV-IA"))
    b = one(us, base.KIND_INVOICE, invoice(cust, [line("60", tax="NON")], "60", number="INV-IB"))
    pay = _person_pays(us, cust, [(a.remote_id, "100"), (b.remote_id, "20")], "120")
    reader = qin.QboInbound(us.client)
    # a webhook names the payment: its invoices are read, with what is left to pay
    docs = {doc.remote_id: doc for doc in reader.documents(payment_ids=[pay["Id"]])}
    assert (docs[a.remote_id].status, docs[a.remote_id].amount_due) == ("PAID", D("0"))
    assert (docs[b.remote_id].status, docs[b.remote_id].amount_due) == ("AUTHORISED", D("40"))
    assert docs[b.remote_id].payment_ids == (pay["Id"],)
    assert docs[a.remote_id].number == "INV-IA" and docs[a.remote_id].contact_id == cust.remote_id
    # the payment itself: one per invoice, with its bank account and reference
    pays = {p.document_remote_id: p for p in reader.payments([f"{pay['Id']}/{a.remote_id}",
                                                              f"{pay['Id']}/{b.remote_id}"])}
    assert {i: p.amount for i, p in pays.items()} == {a.remote_id: D("100"), b.remote_id: D("20")}
    assert {p.remote_id for p in pays.values()} == {f"{pay['Id']}/{a.remote_id}", f"{pay['Id']}/{b.remote_id}"}
    assert all((p.account_code, p.reference, p.status, p.date) == ("35", "CHQ 1001", "AUTHORISED", DAY)
               for p in pays.values())


def test_this_integrations_payment_keeps_its_own_id_and_a_void_comes_back(us):
    cust = created_customer(us)
    inv = one(us, base.KIND_INVOICE, invoice(cust, [line("80", tax="NON")], "80", number="INV-IC"))
    ours = one(us, base.KIND_PAYMENT, _pay(inv.remote_id, "30", ref="PAY/IC"))
    reader = qin.QboInbound(us.client)
    [p] = reader.payments([ours.remote_id])
    assert (p.remote_id, p.amount, p.status) == (ours.remote_id, D("30"), "AUTHORISED")
    row = us.client.read("Payment", ours.remote_id)
    us.client.void("Payment", row["Id"], row["SyncToken"])  # voided in QuickBooks
    [p] = reader.payments([ours.remote_id])
    assert p.status == "VOIDED"
    [doc] = reader.documents(invoice_ids=[inv.remote_id])
    assert (doc.amount_due, doc.status) == (D("80"), "AUTHORISED")


def test_credit_applied_and_refund_made_in_quickbooks(us):
    cust = created_customer(us)
    inv = one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100", number="INV-ID"))
    cm = one(us, base.KIND_CREDIT_NOTE, invoice(cust, [line("50", tax="NON")], "50", number="RINV-ID",
                                                kind=documents.KIND_CREDIT_NOTE))
    applied = us.client.create("Payment", {"CustomerRef": {"value": cust.remote_id}, "TotalAmt": "0", "Line": [
        {"Amount": "30", "LinkedTxn": [{"TxnId": inv.remote_id, "TxnType": "Invoice"}]},
        {"Amount": "30", "LinkedTxn": [{"TxnId": cm.remote_id, "TxnType": "CreditMemo"}]}]})
    refund = _pay(cm.remote_id, "20", ref="RF-ID")
    refund = one(us, base.KIND_PAYMENT, dataclasses.replace(refund, document_kind=documents.KIND_CREDIT_NOTE))
    assert refund.ok, refund.message
    reader = qin.QboInbound(us.client)
    docs = {doc.remote_id: doc for doc in reader.documents([inv.remote_id], [cm.remote_id])}
    note = docs[cm.remote_id]
    assert (note.status, note.amount_due) == ("PAID", D("0"))
    [alloc] = note.allocations
    assert (alloc.remote_id, alloc.invoice_remote_id, alloc.amount) == (applied["Id"], inv.remote_id, D("30"))
    assert docs[inv.remote_id].credit_note_ids == (cm.remote_id,)
    assert docs[inv.remote_id].payment_ids == ()  # a credit applied is not money
    assert note.payment_ids == (refund.remote_id,)
    [back] = reader.payments(note.payment_ids)
    assert (back.document_kind, back.document_remote_id, back.amount, back.reference) == (
        documents.KIND_CREDIT_NOTE, cm.remote_id, D("20"), "RF-ID")


def test_the_pull_finds_payments_and_the_invoices_they_touched(us):
    cust = created_customer(us)
    inv = one(us, base.KIND_INVOICE, invoice(cust, [line("90", tax="NON")], "90", number="INV-IE"))
    since = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)
    pay = _person_pays(us, cust, [(inv.remote_id, "90")], "90", ref="WIRE 7")
    changes = qin.QboInbound(us.client).pull(since)
    assert pay["Id"] in {p.remote_id for p in changes.payments}
    doc = next(d for d in changes.documents if d.remote_id == inv.remote_id)
    assert (doc.status, doc.amount_due) == ("PAID", D("0"))
    assert changes.high_water and changes.high_water >= since
    # deleted in QuickBooks: the pull reports it by its Id
    row = us.client.read("Payment", pay["Id"])
    us.client.delete("Payment", row["Id"], row["SyncToken"])
    changes = qin.QboInbound(us.client).pull(since)
    gone = [p for p in changes.payments if p.remote_id == pay["Id"]]
    assert gone and gone[-1].status == "DELETED"


def test_webhook_signature_and_payload():
    body = json.dumps({"eventNotifications": [{"realmId": "9130", "dataChangeEvent": {"entities": [
        {"name": "Payment", "id": "12", "operation": "Create", "lastUpdated": "2026-12-03T08:41:44-0800"},
        {"name": "Invoice", "id": "7", "operation": "Void", "lastUpdated": "2026-12-03T16:41:45.000Z"}]}}]}).encode()
    assert qin.verify_signature("verifier", body, sign("verifier", body))
    assert not qin.verify_signature("verifier", body, sign("other", body))
    assert not qin.verify_signature("", body, sign("", body))
    pay, inv = qin.parse_webhook(body)
    assert (pay.tenant_id, pay.category, pay.event_type, pay.resource_id) == ("9130", "PAYMENT", "CREATE", "12")
    assert pay.event_date == dt.datetime(2026, 12, 3, 16, 41, 44)
    assert (inv.category, inv.event_type, inv.event_date) == ("INVOICE", "VOID", dt.datetime(2026, 12, 3, 16, 41, 45))
    assert pay.key != inv.key and qin.parse_webhook(body)[0].key == pay.key  # redelivery: same keys
    for bad in (b"[]", b"{}", b'{"eventNotifications": [{"realmId": "1"}]}', b"not json"):
        try:
            qin.parse_webhook(bad)
        except qin.WebhookError:
            continue
        raise AssertionError(f"accepted {bad!r}")

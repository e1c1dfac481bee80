"""services/xero/inbound.py: webhook signatures and events, and the reads of what changed in Xero
(against the emulator, through the real client)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from decimal import Decimal

import pytest

from coworks_xero.services.xero import inbound as xin
from test_client_helpers import client_emulator_server, env, xero  # noqa: F401

KEY = "k3y-from-the-developer-portal"


def sign(body, key=KEY):
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


ITR = b'{"events":[],"lastEventSequence":0,"firstEventSequence":0,"entropy":"YSXCMKAQBJOEMAYGPGMA"}'


def test_signature_good_bad_and_no_key():
    assert xin.verify_signature(KEY, ITR, sign(ITR))
    assert not xin.verify_signature(KEY, ITR, sign(ITR, KEY + "x"))
    assert not xin.verify_signature(KEY, ITR + b" ", sign(ITR)), "the raw bytes are what is signed"
    assert not xin.verify_signature(KEY, ITR, None)
    assert not xin.verify_signature(KEY, ITR, "not base64 ✓")
    assert not xin.verify_signature("", ITR, sign(ITR, "")), "no key set: nothing is accepted"
    assert not xin.verify_signature(None, ITR, sign(ITR))


def test_intent_to_receive_has_no_events_and_bad_payloads_are_refused():
    assert xin.parse_webhook(ITR) == []
    for bad in (b"", b"not json", b"[]", b'{"events": {}}', b'{"events": [{"eventCategory": "INVOICE"}]}'):
        with pytest.raises(xin.WebhookError):
            xin.parse_webhook(bad)


def test_events_have_a_stable_key_per_event():
    ev = {"resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/ABC", "resourceId": "ABC-1",
          "eventDateUtc": "2026-12-01T10:00:00.123", "eventType": "UPDATE", "eventCategory": "INVOICE",
          "tenantId": "T-1", "tenantType": "ORGANISATION"}
    one = xin.parse_webhook(json.dumps({"events": [ev], "entropy": "A"}).encode())
    again = xin.parse_webhook(json.dumps({"events": [ev], "entropy": "B", "firstEventSequence": 9}).encode())
    later = xin.parse_webhook(json.dumps({"events": [dict(ev, eventDateUtc="2026-12-01T10:00:01")]}).encode())
    assert one[0].key == again[0].key, "a redelivery is the same event"
    assert one[0].key != later[0].key
    assert (one[0].tenant_id, one[0].resource_id, one[0].category) == ("t-1", "abc-1", "INVOICE")
    assert one[0].event_date == dt.datetime(2026, 12, 1, 10, 0, 0, 123000)


def test_xero_dates():
    assert xin.parse_xero_datetime("/Date(1552435200000+0000)/") == dt.datetime(2019, 3, 13)
    assert xin.parse_xero_datetime("2020-02-06T12:17:43.202-08:00") == dt.datetime(2020, 2, 6, 20, 17, 43, 202000)
    assert xin.parse_xero_date("/Date(1552435200000+0000)/") == dt.date(2019, 3, 13)
    assert xin.parse_xero_datetime("") is None and xin.parse_xero_datetime("garbage") is None


def test_only_customer_money_and_documents_are_read():
    assert xin.remote_payment({"PaymentType": "ACCPAYPAYMENT", "PaymentID": "X"}) is None
    assert xin.remote_document({"Type": "ACCPAY", "InvoiceID": "X"}) is None
    pay = xin.remote_payment({
        "PaymentID": "P-1", "PaymentType": "ARCREDITPAYMENT", "CreditNote": {"CreditNoteID": "CN-1"},
        "Amount": Decimal("12.50"), "Date": "/Date(1552435200000+0000)/", "Status": "AUTHORISED",
        "Account": {"AccountID": "A-1", "Code": "090", "Name": "Business Bank"}})
    assert (pay.document_kind, pay.document_remote_id, pay.amount, pay.account_code) == (
        "credit_note", "cn-1", Decimal("12.50"), "090")


# ------------------------------------------------------------------ against the emulator

def _invoice(env, client, amount="100.00"):
    [res] = client.save_contacts([{"Name": "Inbound Ltd " + uuid.uuid4().hex[:6]}], uuid.uuid4().hex)
    assert res.ok, res.message
    contact = res.remote_id
    [res] = client.create_invoices([{
        "Type": "ACCREC", "Contact": {"ContactID": contact}, "Date": "2026-03-02", "DueDate": "2026-03-30",
        "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Hot desk", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200",
                       "TaxType": "NONE"}]}], uuid.uuid4().hex)
    assert res.ok, res.message
    return res.remote_id


def test_pull_reads_what_changed_since_the_mark(env, xero):
    reader = xin.XeroInbound(xero)
    invoice_id = _invoice(env, xero)
    [pay] = xero.create_payments([{"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "090"},
                                   "Date": "2026-03-03", "Amount": "40.00", "Reference": "desk"}], uuid.uuid4().hex)
    assert pay.ok, pay.message
    first = reader.pull(None)
    assert invoice_id.lower() in {d.remote_id for d in first.documents}
    [got] = [p for p in first.payments if p.remote_id == pay.remote_id.lower()]
    assert (got.amount, got.account_code, got.reference, got.document_remote_id) == (
        Decimal("40.00"), "090", "desk", invoice_id.lower())
    [doc] = [d for d in first.documents if d.remote_id == invoice_id.lower()]
    assert (doc.status, doc.amount_due) == ("AUTHORISED", Decimal("60.00"))
    assert first.high_water and first.complete
    # Nothing changed since: the pull (with its overlap) still finds only what changed recently,
    # and with the mark well after it, nothing.
    env.clear_log()
    later = reader.pull(first.high_water + xin.PULL_OVERLAP + dt.timedelta(seconds=1))
    assert later.documents == [] and later.payments == []
    assert any(r["route"] == "GET /Invoices" for r in env.requests_log()["requests"])


def test_documents_and_payments_by_id(env, xero):
    reader = xin.XeroInbound(xero)
    invoice_id = _invoice(env, xero, "80.00")
    [pay] = xero.create_payments([{"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "091"},
                                   "Date": "2026-03-03", "Amount": "80.00"}], uuid.uuid4().hex)
    [doc] = reader.documents(invoice_ids=[invoice_id])
    assert doc.status == "PAID" and doc.amount_due == 0 and doc.payment_ids == (pay.remote_id.lower(),)
    [full] = reader.payments(doc.payment_ids)
    assert full.account_code == "091" and full.account_name == "Card Clearing"


def test_reads_the_caller_spaces_itself_go_unpaced_and_the_pull_stays_paced(env, xero, monkeypatch):
    reader = xin.XeroInbound(xero)
    invoice_id = _invoice(env, xero)
    seen = []  # each call's "paced"
    real_slot = xero.limiter.slot

    def slot(tenant_id, max_wait=None, paced=True):
        seen.append(paced)
        return real_slot(tenant_id, max_wait=max_wait, paced=paced)

    monkeypatch.setattr(xero.limiter, "slot", slot)
    with reader.spaced_by_caller():
        reader.documents(invoice_ids=[invoice_id])
        reader.payments_changed_since(dt.datetime.utcnow() - dt.timedelta(minutes=1))
    with pytest.raises(RuntimeError), reader.spaced_by_caller():
        raise RuntimeError("a read failed")
    reader.pull(None)
    assert seen[:2] == [False, False] and len(seen) > 2 and all(seen[2:]), seen


def test_credit_note_allocations_are_read_from_the_credit_note(env, xero):
    reader = xin.XeroInbound(xero)
    invoice_id = _invoice(env, xero, "100.00")
    [contact] = [c["ContactID"] for c in env.state()["Contacts"]][-1:]
    [cn] = xero.create_credit_notes([{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": contact}, "Date": "2026-03-02", "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax", "LineItems": [{"Description": "Refund", "Quantity": 1, "UnitAmount": "30.00",
                                                   "AccountCode": "200", "TaxType": "NONE"}]}], uuid.uuid4().hex)
    assert cn.ok, cn.message
    [alloc] = xero.allocate_credit_note(cn.remote_id, [{"Invoice": {"InvoiceID": invoice_id}, "Amount": "30.00",
                                                         "Date": "2026-03-03"}], uuid.uuid4().hex)
    assert alloc.ok, alloc.message
    [inv] = reader.documents(invoice_ids=[invoice_id])
    assert inv.credit_note_ids == (cn.remote_id.lower(),) and inv.amount_due == Decimal("70.00")
    [note] = reader.documents(credit_note_ids=inv.credit_note_ids)
    [a] = note.allocations
    assert (a.remote_id, a.invoice_remote_id, a.amount, a.date) == (
        alloc.remote_id.lower(), invoice_id.lower(), Decimal("30.00"), dt.date(2026, 3, 3))


# ---------------------------------------------------------------- allocations deleted in Xero

def _doc(rid, kind, updated, **kw):
    return xin.RemoteDocument(remote_id=rid, kind=kind, number="", status="AUTHORISED", total=Decimal(100),
                              amount_due=Decimal(0), updated_at=updated, **kw)


def _alloc(aid, source, invoice="inv", amount="30"):
    return xin.RemoteAllocation(remote_id=aid, credit_note_remote_id=source, invoice_remote_id=invoice,
                                amount=Decimal(amount), date=None)


def test_allocations_gone_only_from_credits_read_and_their_latest_report():
    t0, t1 = dt.datetime(2026, 3, 1, 10), dt.datetime(2026, 3, 1, 11)
    held = [("credit_note", xin.HeldAllocation("a1", "cn1", "inv", Decimal(30))),
            ("credit_note", xin.HeldAllocation("a2", "cn2", "inv", Decimal(10))),
            ("overpayment", xin.HeldAllocation("a3", "ovp", "inv", Decimal(5))),
            ("overpayment", xin.HeldAllocation("a4", "ovp-not-read", "inv", Decimal(5)))]
    docs = [_doc("cn1", "credit_note", t1, allocations=()),  # the latest report: a1 is gone
            _doc("cn1", "credit_note", t0, allocations=(_alloc("a1", "cn1"),)),  # older, read later
            _doc("cn2", "credit_note", t1, allocations=(_alloc("a2", "cn2"),))]
    credits = [xin.RemoteCredit(remote_id="ovp", status="AUTHORISED", allocations=(), updated_at=t1)]
    gone = xin.allocations_gone(held, docs, credits)
    assert [h.remote_id for _k, h in gone] == ["a1", "a3"], "a credit not read says nothing"
    # Xero's answer is kept whatever the case of its IDs: the readers lower-case them.
    assert xin.allocations_gone(held, [], []) == []


def test_credits_to_read_only_where_the_invoice_no_longer_agrees():
    t = dt.datetime(2026, 3, 1, 10)
    held = [("credit_note", xin.HeldAllocation("a1", "cn1", "inv", Decimal(30))),
            ("credit_note", xin.HeldAllocation("a2", "cn2", "inv", Decimal(10))),
            ("credit_note", xin.HeldAllocation("a9", "cn9", "inv-not-read", Decimal(10))),
            ("overpayment", xin.HeldAllocation("a3", "ovp1", "inv", Decimal(5))),
            ("overpayment", xin.HeldAllocation("a4", "ovp2", "inv", Decimal(5))),
            ("overpayment", xin.HeldAllocation("a5", "ovp2", "inv", Decimal(2)))]
    invoice = _doc("inv", "invoice", t, credit_note_ids=("cn2",),
                   overpayments_applied=(("ovp1", Decimal(5)), ("ovp2", Decimal(5))))
    notes, overpayments = xin.credits_to_read(held, [invoice, _doc("cn2", "credit_note", t)])
    assert notes == {"cn1"}, "cn2 was read; cn9's invoice was not"
    assert overpayments == {"ovp2"}, "ovp1 is applied as it was, ovp2 lost 2.00"
    assert xin.credits_to_read(held, []) == (set(), set())


def test_overpayment_allocations_read_and_deleted_through_the_api(env, xero):
    reader = xin.XeroInbound(xero)
    invoice_id = _invoice(env, xero, "100.00")
    [contact] = [c["ContactID"] for c in env.state()["Contacts"]][-1:]
    [bt] = xero.create_bank_transactions([{
        "Type": "RECEIVE-OVERPAYMENT", "Contact": {"ContactID": contact}, "BankAccount": {"Code": "090"},
        "Date": "2026-03-02", "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Deposit", "LineAmount": "25.00"}]}], uuid.uuid4().hex)
    assert bt.ok, bt.message
    ovp_id = (bt.details or {}).get("element", {}).get("OverpaymentID") or next(
        o["OverpaymentID"] for o in env.state()["Overpayments"])
    [alloc] = xero.allocate_overpayment(ovp_id, [{"Invoice": {"InvoiceID": invoice_id}, "Amount": "25.00",
                                                  "Date": "2026-03-03"}], uuid.uuid4().hex)
    assert alloc.ok, alloc.message
    [inv] = reader.documents(invoice_ids=[invoice_id])
    assert inv.overpayments_applied == ((ovp_id.lower(), Decimal("25.00")),)
    [credit] = reader.overpayments([ovp_id.lower()])
    assert [a.remote_id for a in credit.allocations] == [alloc.remote_id.lower()]
    held = [("overpayment", xin.HeldAllocation(alloc.remote_id.lower(), ovp_id.lower(), invoice_id.lower(),
                                                Decimal("25.00")))]
    assert xin.credits_to_read(held, [inv]) == (set(), set()), "nothing to read while Xero agrees"
    # Someone deletes the allocation in Xero.
    assert xero.delete_overpayment_allocation(ovp_id, alloc.remote_id).ok
    [inv] = reader.documents(invoice_ids=[invoice_id])
    assert inv.overpayments_applied == () and inv.amount_due == Decimal("100.00")
    assert xin.credits_to_read(held, [inv]) == (set(), {ovp_id.lower()})
    credits = reader.overpayments([ovp_id.lower()])
    assert credits[0].allocations == ()
    assert [h.remote_id for _k, h in xin.allocations_gone(held, [inv], credits)] == [alloc.remote_id.lower()]


def test_credit_note_allocation_deleted_through_the_api_is_gone(env, xero):
    reader = xin.XeroInbound(xero)
    invoice_id = _invoice(env, xero, "100.00")
    [contact] = [c["ContactID"] for c in env.state()["Contacts"]][-1:]
    [cn] = xero.create_credit_notes([{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": contact}, "Date": "2026-03-02", "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax", "LineItems": [{"Description": "Refund", "Quantity": 1, "UnitAmount": "30.00",
                                                   "AccountCode": "200", "TaxType": "NONE"}]}], uuid.uuid4().hex)
    [alloc] = xero.allocate_credit_note(cn.remote_id, [{"Invoice": {"InvoiceID": invoice_id}, "Amount": "30.00",
                                                         "Date": "2026-03-03"}], uuid.uuid4().hex)
    held = [("credit_note", xin.HeldAllocation(alloc.remote_id.lower(), cn.remote_id.lower(), invoice_id.lower(),
                                                Decimal("30.00")))]
    assert xero.delete_credit_note_allocation(cn.remote_id, alloc.remote_id).ok
    [inv] = reader.documents(invoice_ids=[invoice_id])
    assert inv.credit_note_ids == ()
    notes, _ovp = xin.credits_to_read(held, [inv])
    assert notes == {cn.remote_id.lower()}, "the credit note the invoice no longer lists is read"
    docs = [inv] + reader.documents(credit_note_ids=notes)
    assert [h.remote_id for _k, h in xin.allocations_gone(held, docs)] == [alloc.remote_id.lower()]


def test_a_pull_holds_one_page_of_xero_json_at_a_time(monkeypatch):
    """Each page is turned into facts before the next one is read, and the pull stops at the
    first page short of PAGE_SIZE (or at MAX_PAGES, marking the pull incomplete)."""
    monkeypatch.setattr(xin, "PAGE_SIZE", 2)
    monkeypatch.setattr(xin, "MAX_PAGES", 3)
    reads = []

    class Client:
        def _get(self, op, method, what, page, **kw):
            reads.append((what, page))
            return {what: [{"n": (page, i)} for i in range(2 if page < 3 else 1)]}

    reader = xin.XeroInbound(Client())
    changes = xin.Changes()
    rows = reader._pages("get_invoices", "get_invoices", "Invoices", None, changes)
    assert next(rows) == {"n": (1, 0)} and reads == [("Invoices", 1)], "page 2 is not read yet"
    assert [r["n"] for r in rows] == [(1, 1), (2, 0), (2, 1), (3, 0)]
    assert reads == [("Invoices", 1), ("Invoices", 2), ("Invoices", 3)] and changes.complete
    Client._get = lambda self, op, method, what, page, **kw: (reads.append(page), {what: [{}, {}]})[1]
    assert len(list(reader._pages("get_payments", "get_payments", "Payments", None, changes))) == 6
    assert not changes.complete, "MAX_PAGES full pages: the next pull reads the rest"

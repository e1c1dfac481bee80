"""Emulator: payments, credit-note allocations and refunds."""
from __future__ import annotations

from conftest import errors_of

EXCEEDS = "Payment amount exceeds the amount outstanding on this document"


def test_payment_only_on_authorised(xero):
    c = xero.contact()
    draft = xero.invoice(c["ContactID"], status="DRAFT")
    r = xero.pay(draft["InvoiceID"], 10)
    assert r.status_code == 400 and "AUTHORISED" in errors_of(r)[0]
    inv = xero.invoice(c["ContactID"])
    assert xero.pay(inv["InvoiceID"], 10).status_code == 200


def test_payment_not_above_amount_due_and_paid_transition(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])  # total 110
    r = xero.pay(inv["InvoiceID"], 110.01)
    assert r.status_code == 400 and errors_of(r) == [EXCEEDS]
    r = xero.pay(inv["InvoiceID"], 60)
    assert r.status_code == 200, r.text
    p1 = r.json()["Payments"][0]
    assert p1["PaymentType"] == "ACCRECPAYMENT" and p1["Status"] == "AUTHORISED"
    got = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (got["Status"], got["AmountDue"], got["AmountPaid"]) == ("AUTHORISED", 50, 60)
    assert xero.pay(inv["InvoiceID"], 50.01).status_code == 400
    assert xero.pay(inv["InvoiceID"], 50).status_code == 200
    got = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (got["Status"], got["AmountDue"]) == ("PAID", 0)
    assert got["FullyPaidOnDate"].startswith("/Date(") and len(got["Payments"]) == 2
    assert errors_of(xero.pay(inv["InvoiceID"], 1)) == [EXCEEDS]
    # deleting a payment brings the invoice back to AUTHORISED
    r = xero.post(f"/Payments/{p1['PaymentID']}", json={"Status": "DELETED"})
    assert r.status_code == 200 and r.json()["Payments"][0]["Status"] == "DELETED"
    got = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (got["Status"], got["AmountDue"]) == ("AUTHORISED", 60)
    # Xero's documented wrapped body works too; a deleted payment cannot be deleted again
    r = xero.post(f"/Payments/{p1['PaymentID']}", json={"Payments": [{"Status": "DELETED"}]})
    assert r.status_code == 400
    # payments cannot be edited
    r = xero.post(f"/Payments/{p1['PaymentID']}", json={"Status": "AUTHORISED"})
    assert r.status_code == 400


def test_void_after_removing_payments(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    pay = xero.pay(inv["InvoiceID"], 10).json()["Payments"][0]
    assert xero.post(f"/Invoices/{inv['InvoiceID']}", json={"Invoices": [{"Status": "VOIDED"}]}).status_code == 400
    assert xero.post(f"/Payments/{pay['PaymentID']}", json={"Status": "DELETED"}).status_code == 200
    r = xero.post(f"/Invoices/{inv['InvoiceID']}", json={"Invoices": [{"Status": "VOIDED"}]})
    assert r.status_code == 200 and r.json()["Invoices"][0]["Status"] == "VOIDED"


def test_payment_account_must_be_bank_or_enabled(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    r = xero.pay(inv["InvoiceID"], 10, account="200")
    assert r.status_code == 400 and "EnablePaymentsToAccount" in errors_of(r)[0]
    assert xero.pay(inv["InvoiceID"], 10, account="091").status_code == 200   # card clearing, payments enabled
    assert xero.pay(inv["InvoiceID"], 10, account="090").status_code == 200   # bank
    assert xero.pay(inv["InvoiceID"], 10, account="476").status_code == 400   # archived


def test_payment_batch_summarize_false_and_single_post(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    body = {"Payments": [
        {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2024-05-03", "Amount": 10},
        {"Invoice": {"InvoiceNumber": inv["InvoiceNumber"]}, "Account": {"Code": "090"}, "Date": "2024-05-03",
         "Amount": 1000},
    ]}
    r = xero.put("/Payments", json=body, params={"summarizeErrors": "false"})
    assert r.status_code == 200
    els = r.json()["Payments"]
    assert [e["StatusAttributeString"] for e in els] == ["OK", "ERROR"]
    assert els[1]["HasValidationErrors"] is True and els[1]["ValidationErrors"][0]["Message"] == EXCEEDS
    r = xero.post("/Payments", json={"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"},
                                     "Date": "2024-05-04", "Amount": 5})
    assert r.status_code == 200, r.text
    assert len(xero.get("/Payments").json()["Payments"]) == 2


def test_payment_lock_date_and_foreign_bank(xero):
    from xero_emulator.seed import TENANT_AU
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    xero.control("POST", "organisation", {"tenant": TENANT_AU, "PeriodLockDate": "2024-05-31"})
    assert xero.pay(inv["InvoiceID"], 10, date="2024-05-31").status_code == 400
    assert xero.pay(inv["InvoiceID"], 10, date="2024-06-01").status_code == 200
    # a USD bank account cannot take an AUD invoice's payment
    assert xero.pay(inv["InvoiceID"], 10, account="092", date="2024-06-01").status_code == 400
    usd = xero.invoice(c["ContactID"], CurrencyCode="USD", CurrencyRate=0.65, Date="2024-06-01", DueDate="2024-06-15")
    r = xero.pay(usd["InvoiceID"], 10, account="092", date="2024-06-02")
    assert r.status_code == 200, r.text


def _alloc(xero, cn_id, inv_id, amount, params=None):
    return xero.put(f"/CreditNotes/{cn_id}/Allocations", params=params,
                    json={"Allocations": [{"Invoice": {"InvoiceID": inv_id}, "Amount": amount, "Date": "2024-05-05"}]})


def test_credit_note_allocation_rules(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])                       # 110
    draft_cn = xero.credit_note(c["ContactID"], status="DRAFT")
    r = _alloc(xero, draft_cn["CreditNoteID"], inv["InvoiceID"], 10)
    assert r.status_code == 400 and "status" in errors_of(r)[0]
    cn = xero.credit_note(c["ContactID"], amount=50)         # 55 credit
    r = _alloc(xero, cn["CreditNoteID"], inv["InvoiceID"], 55.01)
    assert r.status_code == 400 and "remaining credit" in " ".join(errors_of(r))
    r = _alloc(xero, cn["CreditNoteID"], inv["InvoiceID"], 20)
    assert r.status_code == 200, r.text
    alloc = r.json()["Allocations"][0]
    got_inv = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (got_inv["AmountDue"], got_inv["AmountCredited"]) == (90, 20)
    assert got_inv["CreditNotes"][0]["AppliedAmount"] == 20
    got_cn = xero.get(f"/CreditNotes/{cn['CreditNoteID']}").json()["CreditNotes"][0]
    assert got_cn["RemainingCredit"] == 35 and got_cn["Allocations"][0]["Amount"] == 20
    # the invoice is now locked, and so is the credit note
    r = xero.post(f"/Invoices/{inv['InvoiceID']}", json={"Invoices": [{"Reference": "x"}]})
    assert r.status_code == 400 and "credit note allocated" in errors_of(r)[0]
    r = xero.post(f"/CreditNotes/{cn['CreditNoteID']}", json={"CreditNotes": [{"Status": "VOIDED"}]})
    assert r.status_code == 400
    # not above the invoice's amount due
    small = xero.invoice(c["ContactID"], lines=[{"Description": "x", "Quantity": 1, "UnitAmount": 10,
                                                 "AccountCode": "200", "TaxType": "OUTPUT"}])  # 11
    r = _alloc(xero, cn["CreditNoteID"], small["InvoiceID"], 12)
    assert r.status_code == 400 and "amount outstanding" in " ".join(errors_of(r))
    assert _alloc(xero, cn["CreditNoteID"], small["InvoiceID"], 11).status_code == 200
    # a paid invoice takes no allocation
    r = _alloc(xero, cn["CreditNoteID"], small["InvoiceID"], 1)
    assert r.status_code == 400 and errors_of(r) == ["The invoice you are trying to allocate to has already been paid off"]
    # delete the first allocation: credit and amount due come back
    r = xero.delete(f"/CreditNotes/{cn['CreditNoteID']}/Allocations/{alloc['AllocationID']}")
    assert r.status_code == 200 and r.json()["IsDeleted"] is True
    got_inv = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert got_inv["AmountDue"] == 110
    assert xero.get(f"/CreditNotes/{cn['CreditNoteID']}").json()["CreditNotes"][0]["RemainingCredit"] == 44


def test_credit_note_becomes_paid_and_refund(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    cn = xero.credit_note(c["ContactID"], amount=50)   # 55
    assert _alloc(xero, cn["CreditNoteID"], inv["InvoiceID"], 30).status_code == 200
    # refund = payment against the credit note, not above the remaining credit
    body = {"CreditNote": {"CreditNoteID": cn["CreditNoteID"]}, "Account": {"Code": "090"}, "Date": "2024-05-06"}
    r = xero.put("/Payments", json={"Payments": [dict(body, Amount=25.01)]})
    assert r.status_code == 400 and errors_of(r) == [EXCEEDS]
    r = xero.put("/Payments", json={"Payments": [dict(body, Amount=25)]})
    assert r.status_code == 200 and r.json()["Payments"][0]["PaymentType"] == "ARCREDITPAYMENT"
    got = xero.get(f"/CreditNotes/{cn['CreditNoteID']}").json()["CreditNotes"][0]
    assert (got["Status"], got["RemainingCredit"]) == ("PAID", 0)
    # PAID credit note takes no further allocation
    assert _alloc(xero, cn["CreditNoteID"], inv["InvoiceID"], 1).status_code == 400


def test_allocation_summarize_false_and_same_contact(xero):
    a = xero.contact("Contact A")
    b = xero.contact("Contact B")
    inv_b = xero.invoice(b["ContactID"])
    cn = xero.credit_note(a["ContactID"])
    r = _alloc(xero, cn["CreditNoteID"], inv_b["InvoiceID"], 5, params={"summarizeErrors": "false"})
    assert r.status_code == 200
    el = r.json()["Allocations"][0]
    assert el["StatusAttributeString"] == "ERROR" and "same contact" in el["ValidationErrors"][0]["Message"]

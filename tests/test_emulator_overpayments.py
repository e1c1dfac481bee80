"""Emulator: customer credit received as a bank transaction (RECEIVE-OVERPAYMENT /
RECEIVE-PREPAYMENT), its Overpayment / Prepayment, allocations to invoices and voiding."""
from __future__ import annotations

from conftest import errors_of


def _overpayment(xero, contact_id, amount=15, account="090", params=None, **fields):
    body = {"Type": "RECEIVE-OVERPAYMENT", "Contact": {"ContactID": contact_id}, "BankAccount": {"Code": account},
            "Date": "2024-05-03", "Reference": "PBNK1/2024/00001", "LineAmountTypes": "NoTax",
            "LineItems": [{"Description": "Overpayment PBNK1/2024/00001", "Quantity": 1, "UnitAmount": amount}]}
    body.update(fields)
    return xero.put("/BankTransactions", json={"BankTransactions": [body]}, params=params)


def _alloc(xero, ovp_id, inv_id, amount, kind="Overpayments", params=None, date="2024-05-05"):
    return xero.put(f"/{kind}/{ovp_id}/Allocations", params=params,
                    json={"Allocations": [{"Invoice": {"InvoiceID": inv_id}, "Amount": amount, "Date": date}]})


def _get(xero, path, key):
    return xero.get(path).json()[key][0]


def test_overpayment_created_from_a_bank_transaction(xero):
    c = xero.contact()
    r = _overpayment(xero, c["ContactID"], 15.5)
    assert r.status_code == 200, r.text
    bt = r.json()["BankTransactions"][0]
    assert bt["Type"] == "RECEIVE-OVERPAYMENT" and bt["Status"] == "AUTHORISED" and bt["Total"] == 15.5
    assert bt["BankAccount"]["Code"] == "090" and bt["OverpaymentID"]
    ovp = _get(xero, f"/Overpayments/{bt['OverpaymentID']}", "Overpayments")
    assert (ovp["Status"], ovp["RemainingCredit"], ovp["Total"], ovp["TotalTax"]) == ("AUTHORISED", 15.5, 15.5, 0)
    assert ovp["Contact"]["ContactID"] == c["ContactID"] and ovp["Reference"] == "PBNK1/2024/00001"
    # the receivable is implied: Xero books the line to Accounts Receivable
    assert ovp["LineItems"][0]["AccountCode"] == "610"
    listed = xero.get("/Overpayments", params={"where": 'Reference=="PBNK1/2024/00001"'}).json()["Overpayments"]
    assert [o["OverpaymentID"] for o in listed] == [bt["OverpaymentID"]]
    assert xero.get(f"/BankTransactions/{bt['BankTransactionID']}").json()["BankTransactions"][0]["Total"] == 15.5


def test_overpayment_rules(xero):
    c = xero.contact()
    # from a bank account only (not a payments-enabled or revenue account)
    for code in ("091", "200"):
        r = _overpayment(xero, c["ContactID"], account=code)
        assert r.status_code == 400 and "not a bank account" in errors_of(r)[0]
    r = _overpayment(xero, c["ContactID"], account="476")
    assert r.status_code == 400 and "removed" in errors_of(r)[0]
    # no tax, no account on the line
    r = _overpayment(xero, c["ContactID"], LineAmountTypes="Exclusive")
    assert r.status_code == 400 and "cannot have tax" in errors_of(r)[0]
    r = _overpayment(xero, c["ContactID"], LineItems=[{"Description": "x", "UnitAmount": 5, "AccountCode": "200"}])
    assert r.status_code == 400 and "takes no account" in errors_of(r)[0]
    r = _overpayment(xero, c["ContactID"], LineItems=[{"Description": "x", "UnitAmount": 5, "TaxType": "OUTPUT"}])
    assert r.status_code == 400 and "cannot have tax" in errors_of(r)[0]
    # a contact and a positive amount
    r = _overpayment(xero, c["ContactID"], Contact=None)
    assert r.status_code == 400 and "Contact" in errors_of(r)[0]
    r = _overpayment(xero, c["ContactID"], 0)
    assert r.status_code == 400 and "greater than zero" in errors_of(r)[0]
    # the bank account's currency
    r = _overpayment(xero, c["ContactID"], CurrencyCode="USD")
    assert r.status_code == 400 and "cannot be in USD" in errors_of(r)[0]
    r = _overpayment(xero, c["ContactID"], account="092", CurrencyCode="USD", CurrencyRate=0.65)
    assert r.status_code == 200, r.text
    # nothing of the refused ones was kept
    assert len(xero.get("/Overpayments").json()["Overpayments"]) == 1
    # summarizeErrors=false: per-element errors
    r = _overpayment(xero, c["ContactID"], account="200", params={"summarizeErrors": "false"})
    assert r.status_code == 200
    el = r.json()["BankTransactions"][0]
    assert el["StatusAttributeString"] == "ERROR" and "not a bank account" in el["ValidationErrors"][0]["Message"]


def test_overpayment_allocation_rules_and_removal(xero):
    c = xero.contact()
    other = xero.contact("Someone Else")
    inv = xero.invoice(c["ContactID"])                       # 110
    ovp_id = _overpayment(xero, c["ContactID"], 40).json()["BankTransactions"][0]["OverpaymentID"]
    r = _alloc(xero, ovp_id, inv["InvoiceID"], 40.01)
    assert r.status_code == 400 and "greater than remaining credit" in " ".join(errors_of(r))
    other_inv = xero.invoice(other["ContactID"])
    r = _alloc(xero, ovp_id, other_inv["InvoiceID"], 5)
    assert r.status_code == 400 and "same contact" in errors_of(r)[0]
    usd = xero.invoice(c["ContactID"], CurrencyCode="USD", CurrencyRate=0.65)
    r = _alloc(xero, ovp_id, usd["InvoiceID"], 5)
    assert r.status_code == 400 and "same currency" in errors_of(r)[0]
    draft = xero.invoice(c["ContactID"], status="DRAFT")
    r = _alloc(xero, ovp_id, draft["InvoiceID"], 5)
    assert r.status_code == 400 and "status" in errors_of(r)[0]
    r = _alloc(xero, ovp_id, inv["InvoiceID"], 30)
    assert r.status_code == 200, r.text
    alloc = r.json()["Allocations"][0]
    got = _get(xero, f"/Invoices/{inv['InvoiceID']}", "Invoices")
    assert (got["AmountDue"], got["AmountCredited"], got["Status"]) == (80, 30, "AUTHORISED")
    assert got["Overpayments"][0]["OverpaymentID"] == ovp_id and got["Overpayments"][0]["AppliedAmount"] == 30
    assert got["CreditNotes"] == []
    ovp = _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")
    assert ovp["RemainingCredit"] == 10 and ovp["Allocations"][0]["Amount"] == 30
    # not above the invoice's amount due; the rest pays a small invoice in full
    small = xero.invoice(c["ContactID"], lines=[{"Description": "x", "Quantity": 1, "UnitAmount": 5,
                                                 "AccountCode": "200", "TaxType": "OUTPUT"}])  # 5.50
    r = _alloc(xero, ovp_id, small["InvoiceID"], 6)
    assert r.status_code == 400 and "amount outstanding" in " ".join(errors_of(r))
    assert _alloc(xero, ovp_id, small["InvoiceID"], 5.5).status_code == 200
    assert _get(xero, f"/Invoices/{small['InvoiceID']}", "Invoices")["Status"] == "PAID"
    r = _alloc(xero, ovp_id, small["InvoiceID"], 1)
    assert errors_of(r) == ["The invoice you are trying to allocate to has already been paid off"]
    # the overpayment is used up at 4.50 more
    assert _alloc(xero, ovp_id, inv["InvoiceID"], 4.5).status_code == 200
    assert _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")["Status"] == "PAID"
    r = _alloc(xero, ovp_id, inv["InvoiceID"], 1)
    assert r.status_code == 400 and "no remaining credit" in errors_of(r)[0]
    # an allocation removed gives the credit back and the invoice its amount due
    r = xero.delete(f"/Overpayments/{ovp_id}/Allocations/{alloc['AllocationID']}")
    assert r.status_code == 200 and r.json()["IsDeleted"] is True
    assert _get(xero, f"/Invoices/{inv['InvoiceID']}", "Invoices")["AmountDue"] == 105.5
    ovp = _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")
    assert (ovp["Status"], ovp["RemainingCredit"]) == ("AUTHORISED", 30)
    assert xero.delete(f"/Overpayments/{ovp_id}/Allocations/{alloc['AllocationID']}").status_code == 400
    assert xero.delete(f"/Overpayments/{ovp_id}/Allocations/{inv['InvoiceID']}").status_code == 404


def test_void_overpayment_only_when_nothing_is_allocated(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    bt = _overpayment(xero, c["ContactID"], 20).json()["BankTransactions"][0]
    alloc = _alloc(xero, bt["OverpaymentID"], inv["InvoiceID"], 20).json()["Allocations"][0]
    body = {"BankTransactions": [{"Type": "RECEIVE-OVERPAYMENT", "BankAccount": {"Code": "090"},
                                  "LineItems": [], "Status": "DELETED"}]}
    r = xero.post(f"/BankTransactions/{bt['BankTransactionID']}", json=body)
    assert r.status_code == 400 and "Remove the allocations first" in errors_of(r)[0]
    # an overpayment cannot be edited
    edit = {"BankTransactions": [dict(body["BankTransactions"][0], Status="AUTHORISED")]}
    assert xero.post(f"/BankTransactions/{bt['BankTransactionID']}", json=edit).status_code == 400
    assert xero.delete(f"/Overpayments/{bt['OverpaymentID']}/Allocations/{alloc['AllocationID']}").status_code == 200
    r = xero.post(f"/BankTransactions/{bt['BankTransactionID']}", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["BankTransactions"][0]["Status"] == "DELETED"
    ovp = _get(xero, f"/Overpayments/{bt['OverpaymentID']}", "Overpayments")
    assert ovp["Status"] == "VOIDED"
    assert _alloc(xero, bt["OverpaymentID"], inv["InvoiceID"], 1).status_code == 400
    assert xero.post(f"/BankTransactions/{bt['BankTransactionID']}", json=body).status_code == 400
    # the spec's required fields are checked before anything else
    r = xero.post(f"/BankTransactions/{bt['BankTransactionID']}", json={"BankTransactions": [{"Status": "DELETED"}]})
    assert r.status_code == 400


def test_prepayment_has_lines_with_accounts_and_tax(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])                      # 110
    body = {"Type": "RECEIVE-PREPAYMENT", "Contact": {"ContactID": c["ContactID"]}, "BankAccount": {"Code": "090"},
            "Date": "2024-05-01", "LineAmountTypes": "Inclusive",
            "LineItems": [{"Description": "Deposit", "Quantity": 1, "UnitAmount": 55, "AccountCode": "200",
                           "TaxType": "OUTPUT"}]}
    r = xero.put("/BankTransactions", json={"BankTransactions": [body]})
    assert r.status_code == 200, r.text
    pre_id = r.json()["BankTransactions"][0]["PrepaymentID"]
    pre = _get(xero, f"/Prepayments/{pre_id}", "Prepayments")
    assert (pre["Total"], pre["TotalTax"], pre["RemainingCredit"], pre["Type"]) == (55, 5, 55, "RECEIVE-PREPAYMENT")
    bad = dict(body, LineItems=[{"Description": "Deposit", "UnitAmount": 55}])  # no account
    assert xero.put("/BankTransactions", json={"BankTransactions": [bad]}).status_code == 400
    assert _alloc(xero, pre_id, inv["InvoiceID"], 55, kind="Prepayments").status_code == 200
    got = _get(xero, f"/Invoices/{inv['InvoiceID']}", "Invoices")
    assert got["AmountDue"] == 55 and got["Prepayments"][0]["PrepaymentID"] == pre_id
    pre = _get(xero, f"/Prepayments/{pre_id}", "Prepayments")
    assert (pre["Status"], pre["RemainingCredit"]) == ("PAID", 0)
    assert len(xero.get("/Prepayments").json()["Prepayments"]) == 1
    aid = pre["Allocations"][0]["AllocationID"]
    assert xero.delete(f"/Prepayments/{pre_id}/Allocations/{aid}").status_code == 200
    assert _get(xero, f"/Prepayments/{pre_id}", "Prepayments")["RemainingCredit"] == 55


def test_other_bank_transaction_types_are_refused_plainly(xero):
    c = xero.contact()
    r = xero.put("/BankTransactions", json={"BankTransactions": [{
        "Type": "RECEIVE", "Contact": {"ContactID": c["ContactID"]}, "BankAccount": {"Code": "090"},
        "LineItems": [{"Description": "x", "UnitAmount": 5, "AccountCode": "200"}]}]})
    assert r.status_code == 400 and "not supported" in errors_of(r)[0]


def _refund(xero, ovp_id, amount, account="090", params=None, kind="Overpayment", **fields):
    body = {kind: {f"{kind}ID": ovp_id}, "Account": {"Code": account}, "Date": "2024-05-06",
            "Amount": amount, "Reference": "PBNK1/2024/00009"}
    body.update(fields)
    return xero.put("/Payments", json={"Payments": [body]}, params=params)


def test_overpayment_refund_is_a_payment_out_of_the_remaining_credit(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])                      # 110
    ovp_id = _overpayment(xero, c["ContactID"], 50).json()["BankTransactions"][0]["OverpaymentID"]
    assert _alloc(xero, ovp_id, inv["InvoiceID"], 20).status_code == 200
    # not more than the credit left (30), not from an account that takes no payments
    r = _refund(xero, ovp_id, 30.01)
    assert r.status_code == 400 and "exceeds the amount outstanding" in errors_of(r)[0]
    r = _refund(xero, ovp_id, 10, account="200")
    assert r.status_code == 400 and "not a bank account and does not have payments enabled" in errors_of(r)[0]
    r = _refund(xero, "00000000-0000-0000-0000-000000000000", 10)
    assert r.status_code == 400 and "could not be found" in errors_of(r)[0]
    r = _refund(xero, ovp_id, 5, Invoice={"InvoiceID": inv["InvoiceID"]})
    assert r.status_code == 400 and "only one document" in errors_of(r)[0]
    # a payments-enabled account is enough for a refund (it is a payment, not a bank transaction)
    r = _refund(xero, ovp_id, 12.5, account="091")
    assert r.status_code == 200, r.text
    pay = r.json()["Payments"][0]
    assert pay["PaymentType"] == "AROVERPAYMENTPAYMENT" and pay["Overpayment"]["OverpaymentID"] == ovp_id
    assert pay["Amount"] == 12.5 and pay["Account"]["Code"] == "091" and pay["Status"] == "AUTHORISED"
    ovp = _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")
    assert (ovp["Status"], ovp["RemainingCredit"]) == ("AUTHORISED", 17.5)
    assert [(p["PaymentID"], p["Amount"]) for p in ovp["Payments"]] == [(pay["PaymentID"], 12.5)]
    listed = xero.get(f"/Payments/{pay['PaymentID']}").json()["Payments"][0]
    assert listed["Overpayment"]["OverpaymentID"] == ovp_id
    # the rest refunded: the overpayment is used up (PAID) and takes nothing more
    r2 = _refund(xero, ovp_id, 17.5)
    assert r2.status_code == 200, r2.text
    ovp = _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")
    assert (ovp["Status"], ovp["RemainingCredit"]) == ("PAID", 0)
    r = _refund(xero, ovp_id, 1)
    assert r.status_code == 400 and "exceeds the amount outstanding" in errors_of(r)[0]
    # while a refund stands the overpayment cannot be voided
    bt_id = xero.get("/BankTransactions", params={"where": f'OverpaymentID==Guid("{ovp_id}")'}).json()[
        "BankTransactions"][0]["BankTransactionID"]
    void = {"BankTransactions": [{"Type": "RECEIVE-OVERPAYMENT", "BankAccount": {"Code": "090"},
                                  "LineItems": [], "Status": "DELETED"}]}
    assert xero.delete(f"/Overpayments/{ovp_id}/Allocations/"
                       + ovp["Allocations"][0]["AllocationID"]).status_code == 200
    r = xero.post(f"/BankTransactions/{bt_id}", json=void)
    assert r.status_code == 400 and "Remove the payments first" in errors_of(r)[0]
    # deleting a refund gives the credit back
    for p in (pay, r2.json()["Payments"][0]):
        d = xero.post(f"/Payments/{p['PaymentID']}", json={"Payments": [{"Status": "DELETED"}]})
        assert d.status_code == 200, d.text
    ovp = _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")
    assert (ovp["Status"], ovp["RemainingCredit"], ovp["Payments"]) == ("AUTHORISED", 50, [])
    assert xero.post(f"/BankTransactions/{bt_id}", json=void).status_code == 200
    # a voided overpayment refunds nothing
    r = _refund(xero, ovp_id, 1)
    assert r.status_code == 400 and "AUTHORISED" in errors_of(r)[0]


def test_overpayment_refund_validates_against_the_spec_and_summarizes(xero):
    c = xero.contact()
    ovp_id = _overpayment(xero, c["ContactID"], 20).json()["BankTransactions"][0]["OverpaymentID"]
    r = _refund(xero, ovp_id, 25, params={"summarizeErrors": "false"})
    assert r.status_code == 200
    el = r.json()["Payments"][0]
    assert el["StatusAttributeString"] == "ERROR" and "exceeds" in el["ValidationErrors"][0]["Message"]
    r = _refund(xero, "not-a-guid", 5)
    assert r.status_code == 400
    assert _get(xero, f"/Overpayments/{ovp_id}", "Overpayments")["RemainingCredit"] == 20

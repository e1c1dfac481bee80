"""XeroProvider and customer credit against the emulator: a payment's unapplied part becomes a
RECEIVE-OVERPAYMENT bank transaction (found again after a lost answer, never created twice),
allocations of it to invoices, their removal, and a void Xero refuses while the credit is applied."""
from __future__ import annotations

import datetime
from decimal import Decimal

from test_client_helpers import (  # noqa: F401
    client_emulator_server, env, xero,
)
from test_client_ops import contact, invoice, _uid

from coworks_xero.services import documents as docs
from coworks_xero.services import provider as prov
from coworks_xero.services.xero import payloads
from coworks_xero.services.xero.provider import XeroProvider

D = Decimal
DAY = datetime.date(2026, 3, 2)


def _customer_and_invoice(xero, amount="100.00"):
    [c] = xero.save_contacts([contact()], idempotency_key="c-" + _uid())
    [inv] = xero.create_invoices([invoice(c.remote_id, amount=amount)], "i-" + _uid())
    assert c.ok and inv.ok
    return c.remote_id, inv.remote_id


def _ovp(contact_id, amount, key, attempt=0, account="090", remote_id="", bt_id="", op=prov.OP_UPSERT,
         currency="AUD", maybe_sent=None):
    obj = docs.Overpayment(ref=key, contact_remote_id=contact_id, amount=D(amount), date=DAY,
                           bank_account_code=account, currency_code=currency, reference="PBNK/" + key,
                           description="Overpayment PBNK/" + key, remote_id=remote_id, transaction_remote_id=bt_id)
    return prov.WorkItem(key=key, kind=prov.KIND_OVERPAYMENT, operation=op, obj=obj, attempt=attempt,
                         maybe_sent=maybe_sent)


def _alloc(ovp_id, inv_id, amount, key, attempt=0, remote_id="", op=prov.OP_UPSERT):
    obj = docs.CreditAllocation(ref=key, credit_remote_id=ovp_id, invoice_remote_id=inv_id, amount=D(amount),
                                date=DAY, remote_id=remote_id)
    return prov.WorkItem(key=key, kind=prov.KIND_OVERPAYMENT_ALLOCATION, operation=op, obj=obj, attempt=attempt)


def test_payload_is_a_receive_overpayment_without_tax_or_account():
    o = _ovp("c-1", "15.005", "k").obj
    body = payloads.overpayment_payload(o)
    assert body["Type"] == "RECEIVE-OVERPAYMENT" and body["LineAmountTypes"] == "NoTax"
    assert body["BankAccount"] == {"Code": "090"} and body["Contact"] == {"ContactID": "c-1"}
    [line] = body["LineItems"]
    assert "AccountCode" not in line and "TaxType" not in line and line["LineAmount"] == 15.01
    assert body["Reference"] == "PBNK/k" and body["Date"] == "2026-03-02"
    void = payloads.overpayment_void_payload(o)
    assert void["Status"] == "DELETED" and void["Type"] == "RECEIVE-OVERPAYMENT"


def test_overpayment_created_then_allocated_and_unallocated(env, xero):
    contact_id, inv_id = _customer_and_invoice(xero)            # invoice total 110
    provider = XeroProvider(xero)
    [made] = provider.run([_ovp(contact_id, "40.00", "o1")])
    assert made.ok, made.message
    assert made.details["bank_transaction_id"] and made.remote_id != made.details["bank_transaction_id"]
    [ovp] = xero.get_overpayments(ids=[made.remote_id])
    assert D(str(ovp["RemainingCredit"])) == D("40.00") and ovp["Contact"]["ContactID"] == contact_id
    [alloc] = provider.run([_alloc(made.remote_id, inv_id, "40.00", "a1")])
    assert alloc.ok, alloc.message
    [inv] = xero.get_invoices(ids=[inv_id])
    assert D(str(inv["AmountDue"])) == D("70.00")
    [ovp] = xero.get_overpayments(ids=[made.remote_id])
    assert ovp["Status"] == "PAID"
    # a lost answer: found on the overpayment, not allocated twice
    [again] = provider.run([_alloc(made.remote_id, inv_id, "40.00", "a1", attempt=1)])
    assert again.ok and again.remote_id == alloc.remote_id
    # while allocated, a void is refused with what to do
    [refused] = provider.run([_ovp(contact_id, "40.00", "o1", remote_id=made.remote_id, op=prov.OP_CANCEL)])
    assert not refused.ok and refused.error_kind == prov.CONFLICT
    assert "remove those allocations in Xero" in refused.message and "Retry" in refused.message
    [undo] = provider.run([_alloc(made.remote_id, inv_id, "40.00", "a1", remote_id=alloc.remote_id,
                                  op=prov.OP_CANCEL)])
    assert undo.ok
    [undo2] = provider.run([_alloc(made.remote_id, inv_id, "40.00", "a1", remote_id=alloc.remote_id,
                                   op=prov.OP_CANCEL, attempt=1)])
    assert undo2.ok
    [inv] = xero.get_invoices(ids=[inv_id])
    assert D(str(inv["AmountDue"])) == D("110.00")
    # now the void goes through (the BankTransactionID is found when not known)
    [void] = provider.run([_ovp(contact_id, "40.00", "o1", remote_id=made.remote_id, op=prov.OP_CANCEL)])
    assert void.ok, void.message
    assert xero.get_overpayments(ids=[made.remote_id])[0]["Status"] == "VOIDED"
    [twice] = provider.run([_ovp(contact_id, "40.00", "o1", remote_id=made.remote_id, op=prov.OP_CANCEL,
                                 attempt=1)])
    assert twice.ok


def test_lost_answer_finds_the_overpayment_by_reference(env, xero):
    contact_id, _inv = _customer_and_invoice(xero)
    provider = XeroProvider(xero)
    [first] = provider.run([_ovp(contact_id, "12.34", "o2")])
    assert first.ok
    env.clear_log()
    [again] = provider.run([_ovp(contact_id, "12.34", "o2", attempt=1, maybe_sent=True)])
    assert again.ok and again.remote_id == first.remote_id
    assert again.details["bank_transaction_id"] == first.details["bank_transaction_id"]
    assert not [r for r in env.requests_log()["requests"] if r["method"] == "PUT"]
    # another host credit owning it: not taken, a new one is made
    item = _ovp(contact_id, "12.34", "o2", attempt=2, maybe_sent=True)
    item.obj.known_remote_ids = (first.remote_id,)
    [other] = provider.run([item])
    assert other.ok and other.remote_id != first.remote_id


def test_bank_account_must_be_a_bank_account(xero):
    contact_id, _inv = _customer_and_invoice(xero)
    provider = XeroProvider(xero, reference={"Accounts": xero.get_accounts(), "Organisation": xero.get_organisation(),
                                             "Currencies": xero.get_currencies(), "TaxRates": []})
    [r] = provider.run([_ovp(contact_id, "5.00", "o3", account="091")])
    assert not r.ok and r.error_kind == prov.MAPPING and "only into a bank account" in r.message
    [r] = provider.run([_ovp(contact_id, "5.00", "o4", account="090", currency="USD")])
    assert not r.ok and "bank account's currency" in r.message
    # without the cached reference data, Xero itself refuses it
    [r] = XeroProvider(xero).run([_ovp(contact_id, "5.00", "o5", account="091")])
    assert not r.ok and r.error_kind == prov.VALIDATION and "not a bank account" in r.message


def _refund(ovp_id, amount, key, attempt=0, account="090", remote_id="", op=prov.OP_UPSERT, maybe_sent=None,
            reference=None):
    obj = docs.Payment(ref=key, document_ref="coworks.xero.payment.link,1", document_kind=docs.KIND_OVERPAYMENT,
                       document_remote_id=ovp_id, amount=D(amount), date=DAY, bank_account_code=account,
                       reference=reference if reference is not None else "PBNK/R/" + key, remote_id=remote_id)
    return prov.WorkItem(key=key, kind=prov.KIND_OVERPAYMENT_REFUND, operation=op, obj=obj, attempt=attempt,
                         maybe_sent=maybe_sent)


def test_refund_of_an_overpayment_exactly_once_then_removed(env, xero):
    contact_id, _inv = _customer_and_invoice(xero)
    provider = XeroProvider(xero)
    [made] = provider.run([_ovp(contact_id, "40.00", "o6")])
    [refund] = provider.run([_refund(made.remote_id, "15.00", "r1")])
    assert refund.ok, refund.message
    [ovp] = xero.get_overpayments(ids=[made.remote_id])
    assert D(str(ovp["RemainingCredit"])) == D("25.00")
    assert [p["PaymentID"] for p in ovp["Payments"]] == [refund.remote_id]
    # a lost answer: found on the overpayment, not refunded twice
    env.clear_log()
    [again] = provider.run([_refund(made.remote_id, "15.00", "r1", attempt=1, maybe_sent=True)])
    assert again.ok and again.remote_id == refund.remote_id
    assert not [r for r in env.requests_log()["requests"] if r["method"] == "PUT"]
    # more than is left: explained from the overpayment Xero holds
    [too_much] = provider.run([_refund(made.remote_id, "30.00", "r2")])
    assert not too_much.ok and too_much.details["error_code"] == "credit_exhausted"
    assert "out of overpayment PBNK/o6: only 25" in too_much.message and "Retry" in too_much.message
    # the overpayment cannot be voided while the refund stands: the job says what to do
    [refused] = provider.run([_ovp(contact_id, "40.00", "o6", remote_id=made.remote_id, op=prov.OP_CANCEL)])
    assert not refused.ok and refused.error_kind == prov.CONFLICT and "refunded in Xero" in refused.message
    # removed: the credit comes back, then the void goes through
    [undo] = provider.run([_refund(made.remote_id, "15.00", "r1", remote_id=refund.remote_id, op=prov.OP_CANCEL)])
    assert undo.ok, undo.message
    [ovp] = xero.get_overpayments(ids=[made.remote_id])
    assert (D(str(ovp["RemainingCredit"])), ovp["Payments"]) == (D("40.00"), [])
    [void] = provider.run([_ovp(contact_id, "40.00", "o6", remote_id=made.remote_id, op=prov.OP_CANCEL)])
    assert void.ok, void.message

"""XeroProvider where documents and money meet, against the emulator: an invoice with a credit
note applied (and a payment) is voided or re-created, which needs the AllocationIDs Xero only
lists on the credit note; the re-created document's removed payments and allocations are both
reported for sending again."""
from __future__ import annotations

import datetime
from decimal import Decimal

from test_client_helpers import (  # noqa: F401
    client_emulator_server, env, xero,
)
from test_client_ops import _uid, contact, credit_note, invoice

from coworks_xero.services import documents as docs
from coworks_xero.services import provider as prov
from coworks_xero.services.xero.provider import XeroProvider

D = Decimal
DAY = datetime.date(2026, 3, 2)


def _setup(xero):
    """An invoice of 110.00 with a 22.00 credit note applied and 30.00 paid, all made through
    the provider (so they are 'ours')."""
    [c] = xero.save_contacts([contact()], idempotency_key="c-" + _uid())
    number = "INV-" + _uid()
    [inv] = xero.create_invoices([invoice(c.remote_id, number=number)], "i-" + _uid())
    [cn] = xero.create_credit_notes([credit_note(c.remote_id)], "cn-" + _uid())
    assert inv.ok and cn.ok
    provider = XeroProvider(xero)
    alloc = docs.Allocation(ref="a", credit_note_remote_id=cn.remote_id, invoice_remote_id=inv.remote_id,
                            amount=D("22.00"), date=DAY)
    pay = docs.Payment(ref="p", document_ref="m", document_kind=docs.KIND_INVOICE,
                       document_remote_id=inv.remote_id, amount=D("30.00"), date=DAY, bank_account_code="090",
                       reference="PAY-1")
    [a, p] = provider.run([prov.WorkItem(key="a", kind=prov.KIND_ALLOCATION, operation=prov.OP_UPSERT, obj=alloc),
                           prov.WorkItem(key="p", kind=prov.KIND_PAYMENT, operation=prov.OP_UPSERT, obj=pay)])
    assert a.ok and p.ok, (a.message, p.message)
    return provider, c.remote_id, number, inv.remote_id, cn.remote_id, a.remote_id, p.remote_id


def _document(number, contact_id, inv_id, pay_id, alloc_id, description="Hot desk"):
    line = docs.Line(description=description, quantity=D("1"), unit_price=D("100.00"), account_code="200",
                     tax_type="OUTPUT", subtotal=D("100.00"), tax_amount=D("10.00"), total=D("110.00"))
    return docs.Document(ref="account.move,1", kind=docs.KIND_INVOICE, number=number, date=DAY,
                         due_date=DAY + datetime.timedelta(days=14),
                         customer=docs.Customer(ref="res.partner,1", name="Member", remote_id=contact_id),
                         lines=[line], currency_code="AUD", amount_untaxed=D("100.00"), amount_tax=D("10.00"),
                         amount_total=D("110.00"), remote_id=inv_id, remote_payment_ids=[pay_id],
                         remote_allocation_ids=[alloc_id])


def test_cancel_removes_our_allocation_and_payment_then_voids(xero):
    provider, contact_id, number, inv_id, cn_id, alloc_id, pay_id = _setup(xero)
    doc = _document(number, contact_id, inv_id, pay_id, alloc_id)
    doc.status = "VOIDED"
    [r] = provider.run([prov.WorkItem(key="v", kind=prov.KIND_INVOICE, operation=prov.OP_CANCEL, obj=doc)])
    assert r.ok, r.message
    assert xero.get_invoices(ids=[inv_id])[0]["Status"] == "VOIDED"
    cn = xero.get_credit_note(cn_id)
    assert cn["Status"] == "AUTHORISED" and D(str(cn["RemainingCredit"])) == D("22.00")
    assert not [a for a in cn.get("Allocations") or [] if not a.get("IsDeleted")]


def test_allocation_not_made_by_us_still_blocks_the_void(xero):
    provider, contact_id, number, inv_id, _cn_id, _alloc_id, pay_id = _setup(xero)
    doc = _document(number, contact_id, inv_id, pay_id, "someone-elses")
    [r] = provider.run([prov.WorkItem(key="v", kind=prov.KIND_INVOICE, operation=prov.OP_CANCEL, obj=doc)])
    assert not r.ok and r.error_kind == prov.CONFLICT
    assert "not made by this integration" in r.message
    assert xero.get_invoices(ids=[inv_id])[0]["Status"] == "AUTHORISED"


def test_recreate_reports_payments_and_allocations_to_send_again(xero):
    provider, contact_id, number, inv_id, _cn_id, alloc_id, pay_id = _setup(xero)
    doc = _document(number, contact_id, inv_id, pay_id, alloc_id, description="Hot desk (corrected)")
    [r] = provider.run([prov.WorkItem(key="u", kind=prov.KIND_INVOICE, operation=prov.OP_UPSERT, obj=doc)])
    assert r.ok, r.message
    assert r.remote_id != inv_id and r.remote_number == f"{number}-R1"
    assert r.details["repush_payments"] == [pay_id]
    assert r.details["repush_allocations"] == [alloc_id]
    assert xero.get_invoices(ids=[inv_id])[0]["Status"] == "VOIDED"

"""XeroProvider money functions against the emulator: batched payments, refunds, allocations per
credit note, retries that find what an earlier attempt created, undo that tolerates what is already
gone, and the readable error for a credit note applied to an invoice already paid in Xero."""
from __future__ import annotations

import datetime
from decimal import Decimal

from test_client_helpers import (  # noqa: F401
    client_emulator_server, env, xero,
)
from test_client_ops import contact, credit_note, invoice, _uid

from coworks_xero.services import documents as docs
from coworks_xero.services import provider as prov
from coworks_xero.services.xero.provider import XeroProvider

D = Decimal
DAY = datetime.date(2026, 3, 2)


def _docs(xero, n_invoices=1, amount="100.00", cn_amount="20.00"):
    [c] = xero.save_contacts([contact()], idempotency_key="c-" + _uid())
    invs = xero.create_invoices([invoice(c.remote_id, amount=amount) for _ in range(n_invoices)], "i-" + _uid())
    [cn] = xero.create_credit_notes([credit_note(c.remote_id, amount=cn_amount)], "cn-" + _uid())
    assert all(r.ok for r in invs) and cn.ok
    return [r.remote_id for r in invs], cn.remote_id


def _pay(doc_id, amount, key, kind=docs.KIND_INVOICE, attempt=0, account="090", remote_id="", op=prov.OP_UPSERT):
    obj = docs.Payment(ref=key, document_ref="m", document_kind=kind, document_remote_id=doc_id, amount=D(amount),
                       date=DAY, bank_account_code=account, reference="PAY/" + key, remote_id=remote_id)
    return prov.WorkItem(key=key, kind=prov.KIND_REFUND if kind == docs.KIND_CREDIT_NOTE else prov.KIND_PAYMENT,
                         operation=op, obj=obj, attempt=attempt)


def _alloc(cn_id, inv_id, amount, key, attempt=0, remote_id="", op=prov.OP_UPSERT):
    obj = docs.Allocation(ref=key, credit_note_remote_id=cn_id, invoice_remote_id=inv_id, amount=D(amount), date=DAY,
                          remote_id=remote_id)
    return prov.WorkItem(key=key, kind=prov.KIND_ALLOCATION, operation=op, obj=obj, attempt=attempt)


def _puts(env, suffix):
    return [r for r in env.requests_log()["requests"] if r["method"] == "PUT" and r["path"].endswith(suffix)]


def test_payments_of_a_run_go_in_one_call_and_pay_the_invoices(env, xero):
    inv_ids, _cn = _docs(xero, n_invoices=3)
    env.clear_log()
    provider = XeroProvider(xero)
    results = provider.run([_pay(i, "110.00", f"k{n}") for n, i in enumerate(inv_ids)])
    assert [r.ok for r in results] == [True] * 3, [r.message for r in results]
    assert len(_puts(env, "/Payments")) == 1
    assert {i["Status"] for i in xero.get_invoices(ids=inv_ids)} == {"PAID"}


def test_retry_after_unknown_outcome_finds_the_payment_instead_of_paying_twice(env, xero):
    [inv_id], _cn = _docs(xero)
    provider = XeroProvider(xero)
    [first] = provider.run([_pay(inv_id, "40.00", "k1")])
    assert first.ok
    [again] = provider.run([_pay(inv_id, "40.00", "k1", attempt=1)])
    assert again.ok and again.remote_id == first.remote_id
    [inv] = xero.get_invoices(ids=[inv_id])
    assert D(str(inv["AmountPaid"])) == D("40.00")


def test_refund_on_credit_note_and_delete_twice_is_fine(xero):
    _invs, cn_id = _docs(xero)
    provider = XeroProvider(xero)
    [r] = provider.run([_pay(cn_id, "22.00", "r1", kind=docs.KIND_CREDIT_NOTE)])
    assert r.ok, r.message
    assert xero.get_credit_note(cn_id)["Status"] == "PAID"
    [gone] = provider.run([_pay(cn_id, "22.00", "r1", kind=docs.KIND_CREDIT_NOTE, remote_id=r.remote_id,
                                op=prov.OP_CANCEL)])
    assert gone.ok and xero.get_credit_note(cn_id)["Status"] == "AUTHORISED"
    # A later job (new idempotency key) finds it deleted already, e.g. by a void: still a success.
    [twice] = provider.run([_pay(cn_id, "22.00", "r1", kind=docs.KIND_CREDIT_NOTE, remote_id=r.remote_id,
                                 op=prov.OP_CANCEL, attempt=1)])
    assert twice.ok, twice.message
    assert "already gone" in (twice.details.get("notes") or [""])[0], twice


def test_allocations_grouped_per_credit_note_retry_and_undo(env, xero):
    inv_ids, cn_id = _docs(xero, n_invoices=2, cn_amount="30.00")
    env.clear_log()
    provider = XeroProvider(xero)
    results = provider.run([_alloc(cn_id, inv_ids[0], "10.00", "a1"), _alloc(cn_id, inv_ids[1], "12.00", "a2")])
    assert all(r.ok for r in results), [r.message for r in results]
    assert len(_puts(env, "/Allocations")) == 1
    # An earlier attempt whose answer was lost: found on the credit note, not allocated twice.
    [again] = provider.run([_alloc(cn_id, inv_ids[0], "10.00", "a1", attempt=1)])
    assert again.ok and again.remote_id == results[0].remote_id
    assert D(str(xero.get_credit_note(cn_id)["RemainingCredit"])) == D("11.00")
    [undo] = provider.run([_alloc(cn_id, inv_ids[0], "10.00", "a1", remote_id=results[0].remote_id,
                                  op=prov.OP_CANCEL)])
    assert undo.ok
    [undo2] = provider.run([_alloc(cn_id, inv_ids[0], "10.00", "a1", remote_id=results[0].remote_id,
                                   op=prov.OP_CANCEL)])
    assert undo2.ok
    assert D(str(xero.get_credit_note(cn_id)["RemainingCredit"])) == D("21.00")


def test_allocation_to_a_paid_invoice_is_a_conflict_a_person_can_act_on(xero):
    [inv_id], cn_id = _docs(xero)
    provider = XeroProvider(xero)
    [paid] = provider.run([_pay(inv_id, "110.00", "p1")])
    assert paid.ok
    [r] = provider.run([_alloc(cn_id, inv_id, "10.00", "a1")])
    assert not r.ok
    assert r.error_kind == prov.CONFLICT
    assert "already fully paid in Xero" in r.message and "Retry" in r.message

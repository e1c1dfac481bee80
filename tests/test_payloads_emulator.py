"""Payloads, pre-flight and state plans pushed through the local Xero emulator (conftest's ``xero``)."""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from coworks_xero.services import documents as docs
from coworks_xero.services.xero import payloads as P
from coworks_xero.services.xero import preflight as PF
from coworks_xero.services.xero import states as S

D = Decimal
UNITDP = {"unitdp": "4", "summarizeErrors": "false"}


def reference(xero):
    out = {}
    for key in ("Accounts", "Items", "TaxRates", "TrackingCategories", "Currencies", "Organisation"):
        r = xero.get("/" + key)
        assert r.status_code == 200, r.text
        body = r.json()
        out[key] = body.get(key) if key != "Organisation" else body["Organisations"]
    return out


def tax_rates(ref):
    return {t["TaxType"]: D(str(t["EffectiveRate"])) for t in ref["TaxRates"] if t.get("EffectiveRate") is not None}


def push_contact(xero, customer):
    r = xero.put("/Contacts", json=P.request_body("contact", [P.contact_payload(customer)]), params=UNITDP)
    assert r.status_code == 200, r.text
    el = r.json()["Contacts"][0]
    assert not el.get("ValidationErrors"), el
    return el["ContactID"]


def host_line(desc, q, u, disc="0", rate="10", tax_type="OUTPUT", account="200", **kw):
    q, u, disc, r = D(q), D(u), D(disc), D(rate)
    sub = P.round_half_up(q * u * (100 - disc) / 100)
    tax = P.round_half_up(sub * r / 100)
    return docs.Line(desc, quantity=q, unit_price=u, discount_percent=disc, account_code=account,
                     tax_type=tax_type, subtotal=sub, tax_amount=tax, total=sub + tax, **kw)


def host_document(customer, lines, kind=docs.KIND_INVOICE, global_tax=False, number="INV-9001", **kw):
    untaxed = sum((l.subtotal for l in lines), D(0))
    if global_tax:
        tax = P.round_half_up(sum((l.subtotal * D("0.10") for l in lines), D(0)))
    else:
        tax = sum((l.tax_amount for l in lines), D(0))
    base = dict(ref="account.move,1", kind=kind, number=number, date=datetime.date(2024, 5, 1),
                due_date=datetime.date(2024, 5, 15) if kind == docs.KIND_INVOICE else None,
                customer=customer, lines=lines, currency_code="AUD", amount_untaxed=untaxed, amount_tax=tax,
                amount_total=untaxed + tax, rounding_account_code="860")
    base.update(kw)
    return docs.Document(**base)


def push_document(xero, doc, **kw):
    payload, report = P.document_payload(doc, **kw)
    key = "CreditNotes" if doc.kind == docs.KIND_CREDIT_NOTE else "Invoices"
    r = xero.put("/" + key, json={key: [payload]}, params=UNITDP)
    assert r.status_code == 200, r.text
    el = r.json()[key][0]
    assert not el.get("ValidationErrors"), el["ValidationErrors"]
    return el, report


@pytest.fixture
def customer(xero):
    c = docs.Customer(ref="res.partner,42", name="ACME Coworking", email="jürgen@example.com",
                      phone="+61 2 5550 1000", vat="51 824 753 556", currency_code="AUD",
                      address=docs.Address(street="1 George St", city="Sydney", zip="2000", country_code="AU"))
    c.remote_id = push_contact(xero, c)
    return c


def test_global_rounding_residue_matches_to_the_cent(xero, customer):
    ref = reference(xero)
    lines = [host_line(f"Day pass {i}", "1", "1.05", item_code="DAYPASS") for i in range(3)]
    doc = host_document(customer, lines, global_tax=True)  # per line 0.11 x 3 = 0.33; global 0.32
    assert doc.amount_tax == D("0.32")
    assert PF.check_document(doc, ref) == []
    el, report = push_document(xero, doc, tax_rates=tax_rates(ref))
    # the residue is tax: moved onto a line's TaxAmount, no adjustment line needed
    assert report.adjustment == 0 and report.tax_spread == D("-0.01")
    assert P.to_decimal(el["Total"]) == doc.amount_total
    assert P.reconcile_totals(doc, el) == []  # SubTotal, TotalTax and Total all equal
    assert P.expected_totals(el).total == doc.amount_total
    assert len(el["LineItems"]) == 3 and all(li["AccountCode"] != "860" for li in el["LineItems"])


def test_per_line_tax_override_accepted(xero, customer):
    ref = reference(xero)
    lines = [host_line("Desk", "1", "25.05")]
    lines[0].tax_amount = D("2.50")  # host: 2.50, Xero would say 2.51 (2.505)
    lines[0].total = lines[0].subtotal + lines[0].tax_amount
    doc = host_document(customer, lines)
    el, report = push_document(xero, doc, tax_rates=tax_rates(ref))
    assert report.explicit_tax_lines == [0] and report.adjustment == 0
    assert P.reconcile_totals(doc, el) == []


def test_credit_note_with_discount_and_inclusive(xero, customer):
    ref = reference(xero)
    lines = [host_line("Refund desk", "3", "3.33", disc="7.5"), host_line("Refund pass", "2", "10", disc="10")]
    cn = host_document(customer, lines, kind=docs.KIND_CREDIT_NOTE, number="CN-9001")
    el, report = push_document(xero, cn, tax_rates=tax_rates(ref))
    assert report.collapsed_lines == [0] and report.folded_discount_lines == [1]
    assert P.reconcile_totals(cn, el) == []
    inc = [docs.Line("Inclusive pass", quantity=D("3"), unit_price=D("33.33"), account_code="200",
                     tax_type="OUTPUT", total=D("99.99"), tax_amount=D("9.09"), subtotal=D("90.90"))]
    doc = host_document(customer, inc, line_amount_types="Inclusive", number="INV-9002")
    doc.amount_untaxed, doc.amount_tax, doc.amount_total = D("90.90"), D("9.09"), D("99.99")
    el, report = push_document(xero, doc, tax_rates=tax_rates(ref))
    assert P.reconcile_totals(doc, el) == []


def test_payment_refund_allocation_and_cancel_plan(xero, customer):
    ref = reference(xero)
    inv_doc = host_document(customer, [host_line("Plan", "1", "100")])
    inv, _ = push_document(xero, inv_doc)
    payment = docs.Payment(ref="account.payment,1", document_ref=inv_doc.ref, document_kind=docs.KIND_INVOICE,
                           document_remote_id=inv["InvoiceID"], amount=D("50"), date=datetime.date(2024, 5, 3),
                           bank_account_code="090", reference="Card")
    assert PF.check_payment(payment, ref, currency_code="AUD") == []
    r = xero.put("/Payments", json=P.request_body("payment", [P.payment_payload(payment)]), params=UNITDP)
    assert r.status_code == 200 and not r.json()["Payments"][0].get("ValidationErrors"), r.text
    pay_id = r.json()["Payments"][0]["PaymentID"]

    cn_doc = host_document(customer, [host_line("Credit", "1", "20")], kind=docs.KIND_CREDIT_NOTE,
                           number="CN-9002")
    cn, _ = push_document(xero, cn_doc)
    alloc = docs.Allocation("a,1", cn["CreditNoteID"], inv["InvoiceID"], D("11"), datetime.date(2024, 5, 4))
    r = xero.put(f"/CreditNotes/{cn['CreditNoteID']}/Allocations",
                 json=P.request_body("allocation", [P.allocation_payload(alloc)]), params=UNITDP)
    assert r.status_code == 200, r.text
    refund = docs.Payment(ref="account.payment,2", document_ref=cn_doc.ref, document_kind=docs.KIND_CREDIT_NOTE,
                          document_remote_id=cn["CreditNoteID"], amount=D("11"), date=datetime.date(2024, 5, 5),
                          bank_account_code="090")
    r = xero.put("/Payments", json=P.request_body("payment", [P.payment_payload(refund)]), params=UNITDP)
    assert r.status_code == 200 and not r.json()["Payments"][0].get("ValidationErrors"), r.text

    # the host cancels the invoice: plan from what Xero says, then execute it
    current = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    applied = [xero.get(f"/CreditNotes/{c['CreditNoteID']}").json()["CreditNotes"][0]
               for c in current.get("CreditNotes") or []]
    x = S.XeroDoc.from_xero(current, credit_notes=applied)
    assert [p.payment_id for p in x.payments] == [pay_id]
    assert [a.credit_note_id for a in x.allocations] == [cn["CreditNoteID"]]
    plan = S.plan(x, S.HostWish(S.CANCEL, number="INV-9001", our_payment_ids={pay_id},
                                our_allocation_ids={a.allocation_id for a in x.allocations}))
    assert [s.action for s in plan.steps] == ["delete_payment", "remove_allocation", "void"]
    for step in plan.steps:
        if step.action == S.A_DELETE_PAYMENT:
            r = xero.post(f"/Payments/{step.target}", json={"Payments": [P.payment_delete_payload()]})
        elif step.action == S.A_REMOVE_ALLOCATION:
            r = xero.delete(f"/CreditNotes/{step.param('credit_note_id')}/Allocations/{step.target}")
        else:
            r = xero.post(f"/Invoices/{step.target}",
                          json={"Invoices": [P.status_payload(docs.KIND_INVOICE, step.target, "VOIDED")]})
        assert r.status_code == 200, (step, r.text)
    final = xero.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert final["Status"] == "VOIDED"


def test_preflight_flags_what_the_emulator_rejects(xero, customer):
    ref = reference(xero)
    bad = host_document(customer, [host_line("Old", "1", "10", account="476"),
                                   host_line("Locker", "1", "5", item_code="OLD-LOCKER")])
    problems = PF.check_document(bad, ref)
    assert {p.code for p in PF.errors(problems)} == {"account_archived", "item_not_sold"}
    payload, _ = P.invoice_payload(bad)
    r = xero.put("/Invoices", json={"Invoices": [payload]}, params=UNITDP)
    assert r.json()["Invoices"][0].get("ValidationErrors")

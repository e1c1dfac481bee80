"""XeroClient operations against the emulator (no mocks: HTTP over loopback)."""
from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest

from test_client_helpers import (  # noqa: F401
    client_emulator_server,
    CLIENT_ID, REDIRECT_URI, consent, TENANT_AU, TENANT_UK, InMemoryTokenStore, XeroError, client_mod, env, logged, oauth_mod,
    xero,
)

TODAY = datetime.date(2026, 3, 2)


def _uid():
    return uuid.uuid4().hex[:8]


def contact(name=None, **kw):
    c = {"Name": name or "Member " + _uid()}
    c.update(kw)
    return c


def invoice(contact_id, number=None, amount="100.00", account="200", status="AUTHORISED", **kw):
    inv = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": number or "INV-" + _uid(),
        "Date": TODAY.isoformat(),
        "DueDate": (TODAY + datetime.timedelta(days=14)).isoformat(),
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": "AUD",
        "Status": status,
        "LineItems": [{"Description": "Hot desk", "Quantity": Decimal("1"), "UnitAmount": Decimal(amount),
                       "AccountCode": account, "TaxType": "OUTPUT"}],
    }
    inv.update(kw)
    return inv


def credit_note(contact_id, number=None, amount="20.00", status="AUTHORISED"):
    return {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "CreditNoteNumber": number or "CN-" + _uid(),
        "Date": TODAY.isoformat(),
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": "AUD",
        "Status": status,
        "LineItems": [{"Description": "Refund", "Quantity": Decimal("1"), "UnitAmount": Decimal(amount),
                       "AccountCode": "200", "TaxType": "OUTPUT"}],
    }


def new_contact_id(xero):
    [r] = xero.save_contacts([contact()], idempotency_key="c-" + _uid())
    assert r.ok, r.message
    return r.remote_id


# ------------------------------------------------------------ reference data

def test_reference_data(xero):
    org = xero.get_organisation()
    assert org["Name"] == "Coworks Demo AU" and org["BaseCurrency"] == "AUD"
    codes = {a["Code"] for a in xero.get_accounts()}
    assert {"200", "090", "091", "860"} <= codes
    assert {"PLAN-HOTDESK", "DAYPASS"} <= {i["Code"] for i in xero.get_items()}
    assert "OUTPUT" in {t["TaxType"] for t in xero.get_tax_rates()}
    cats = {c["Name"]: c for c in xero.get_tracking_categories()}
    assert {"Downtown", "Harbour"} <= {o["Name"] for o in cats["Campus"]["Options"]}
    assert "AUD" in {c["Code"] for c in xero.get_currencies()}
    # amounts come back as Decimal, not float
    item = [i for i in xero.get_items() if i["Code"] == "PLAN-HOTDESK"][0]
    assert not isinstance(item["SalesDetails"]["UnitPrice"], float)


def test_connections(env):
    c = env.client(tenant=TENANT_AU, store=env.store((TENANT_AU, TENANT_UK)))
    conns = c.list_connections()
    by_tenant = {x["tenantId"]: x for x in conns}
    assert {TENANT_AU, TENANT_UK} <= set(by_tenant)
    c.delete_connection(by_tenant[TENANT_UK]["id"])
    assert TENANT_UK not in {x["tenantId"] for x in c.list_connections()}
    with pytest.raises(XeroError) as exc:
        env.client(tenant=TENANT_UK, store=c.token_store).get_organisation()
    assert exc.value.kind == "reauth"


# ------------------------------------------------------------------ OAuth

def test_authorization_code_flow_refresh_and_revoke(env):
    cfg = env.config()
    req = oauth_mod.start_authorization(cfg, REDIRECT_URI)
    code, state = consent(env, req.url)
    assert state == req.state
    tokens = oauth_mod.exchange_code(cfg, code, REDIRECT_URI, req.code_verifier)
    assert tokens.access_token and tokens.refresh_token and tokens.expires_at > 0
    assert "accounting.invoices" in tokens.scopes
    store = InMemoryTokenStore(tokens)
    c = client_mod.XeroClient(cfg, "", store, limiter=client_mod.RateLimiter())
    tenants = [x["tenantId"] for x in c.list_connections()]
    assert tenants
    c.tenant_id = tenants[0]
    assert c.get_organisation()["OrganisationID"]
    # forced refresh rotates the refresh token and saves before use
    new = c.refresh_tokens(force=True)
    assert new.refresh_token != tokens.refresh_token and store.load().refresh_token == new.refresh_token
    assert c.get_organisation()
    # the code works once; replaying it revokes what it issued (RFC 6749 4.1.2)
    with pytest.raises(XeroError) as exc:
        oauth_mod.exchange_code(cfg, code, REDIRECT_URI, req.code_verifier)
    assert exc.value.kind == "reauth"
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    assert exc.value.kind == "reauth"


def test_revoke_ends_access(env):
    c = env.client()
    assert c.get_organisation()
    c.revoke()
    with pytest.raises(XeroError) as exc:
        c.get_organisation()
    assert exc.value.kind == "reauth"


def test_exchange_code_wrong_verifier_is_reauth(env):
    cfg = env.config()
    req = oauth_mod.start_authorization(cfg, REDIRECT_URI)
    code, _state = consent(env, req.url)
    with pytest.raises(XeroError) as exc:
        oauth_mod.exchange_code(cfg, code, REDIRECT_URI, "wrong-verifier-" + "x" * 40)
    assert exc.value.kind == "reauth"


# --------------------------------------------------------------- contacts

def test_contacts_save_find_get(xero):
    email = "Ada.%s@Example.com" % _uid()
    a, b = contact(EmailAddress=email, ContactNumber="res.partner," + _uid()), contact()
    results = xero.save_contacts([a, b], idempotency_key="contacts-" + _uid(), refs=["p1", "p2"])
    assert [r.ref for r in results] == ["p1", "p2"]
    assert all(r.ok and client_mod.is_real_guid(r.remote_id) for r in results)
    assert results[0].details["element"]["Name"] == a["Name"]
    assert results[0].remote_status == "ACTIVE"
    found = xero.find_contacts_by_email(email.upper())
    assert [c["ContactID"] for c in found] == [results[0].remote_id]
    got = xero.get_contacts([r.remote_id for r in results])
    assert {c["ContactID"] for c in got} == {r.remote_id for r in results}
    # update: archive the second one; archived contacts are still found by ID
    [r] = xero.save_contacts([{"ContactID": results[1].remote_id, "ContactStatus": "ARCHIVED"}],
                             idempotency_key="archive-" + _uid())
    assert r.ok and r.remote_status == "ARCHIVED"
    [c] = xero.get_contacts([results[1].remote_id])
    assert c["ContactStatus"] == "ARCHIVED"


def test_contacts_duplicate_name_is_element_error(xero):
    name = "Dup " + _uid()
    [first] = xero.save_contacts([contact(name)], idempotency_key="d1-" + _uid())
    assert first.ok
    results = xero.save_contacts([contact(), {"Name": name, "ContactNumber": "other-" + _uid()}],
                                 idempotency_key="d2-" + _uid())
    assert results[0].ok
    assert not results[1].ok and results[1].error_kind == "validation"
    assert results[1].message.startswith("Contact %s: " % name)
    assert "unique" in results[1].message.lower()
    assert results[1].remote_id == ""


def test_contacts_get_in_chunks_of_50(env, xero):
    payload = [contact() for _ in range(60)]
    results = xero.save_contacts(payload, idempotency_key="bulk-" + _uid())
    assert len(results) == 60 and all(r.ok for r in results)
    assert [r.details["element"]["Name"] for r in results] == [p["Name"] for p in payload]
    env.clear_log()
    got = xero.get_contacts([r.remote_id for r in results])
    assert len(got) == 60
    assert len(logged(env, "GET", "/Contacts")) == 2


def test_local_model_error_does_not_block_the_batch(xero):
    results = xero.save_contacts([contact(), {"Name": "X", "NotAField": 1}], idempotency_key="m-" + _uid())
    assert results[0].ok
    assert not results[1].ok and results[1].error_kind == "validation" and "NotAField" in results[1].message


# --------------------------------------------------------------- invoices

def test_invoices_create_get_update_void_delete(xero):
    cid = new_contact_id(xero)
    good1, bad, good2 = invoice(cid), invoice(cid, account="476"), invoice(cid, amount="12.3456")
    results = xero.create_invoices([good1, bad, good2], idempotency_key="inv-" + _uid(), refs=["a", "b", "c"])
    assert [r.ref for r in results] == ["a", "b", "c"]
    assert results[0].ok and results[2].ok
    assert results[0].remote_number == good1["InvoiceNumber"] and results[0].remote_status == "AUTHORISED"
    assert not results[1].ok and results[1].error_kind == "validation"
    assert results[1].message.startswith("Invoice %s: " % bad["InvoiceNumber"]) and "476" in results[1].message
    assert results[1].message.endswith(".")
    # unitdp=4 kept the 4-decimal unit amount
    assert results[2].details["element"]["LineItems"][0]["UnitAmount"] == Decimal("12.3456")

    by_id = xero.get_invoices(ids=[results[0].remote_id, results[2].remote_id])
    assert {i["InvoiceID"] for i in by_id} == {results[0].remote_id, results[2].remote_id}
    assert all(i["LineItems"] for i in by_id)
    by_number = xero.get_invoices(numbers=[good1["InvoiceNumber"]])
    assert [i["InvoiceID"] for i in by_number] == [results[0].remote_id]

    # create-or-update by POST
    [upd] = xero.save_invoices([{"InvoiceID": results[0].remote_id, "Reference": "Room 12"}],
                               idempotency_key="upd-" + _uid())
    assert upd.ok and upd.details["element"]["Reference"] == "Room 12"

    voided = xero.void_invoice(results[0].remote_id, idempotency_key="void-" + _uid(), ref="a")
    assert voided.ok and voided.remote_status == "VOIDED" and voided.ref == "a"

    [draft] = xero.create_invoices([invoice(cid, status="DRAFT")], idempotency_key="dr-" + _uid())
    assert draft.ok and draft.remote_status == "DRAFT"
    deleted = xero.delete_invoice(draft.remote_id, idempotency_key="del-" + _uid())
    assert deleted.ok and deleted.remote_status == "DELETED"
    # AUTHORISED cannot become DELETED: a readable per-document sentence
    refused = xero.delete_invoice(results[2].remote_id, idempotency_key="del2-" + _uid())
    assert not refused.ok and refused.error_kind == "validation"
    assert refused.message.startswith("Invoice ")


def test_invoice_not_found(xero):
    with pytest.raises(XeroError) as exc:
        xero.get_invoice(str(uuid.uuid4()))
    assert exc.value.kind == "not_found"


# --------------------------------------------------------------- payments

def test_payments_create_and_delete(xero):
    cid = new_contact_id(xero)
    [inv] = xero.create_invoices([invoice(cid, amount="100.00")], idempotency_key="pinv-" + _uid())
    total = inv.details["element"]["Total"]
    pays = [
        {"Invoice": {"InvoiceID": inv.remote_id}, "Account": {"Code": "090"}, "Date": TODAY.isoformat(),
         "Amount": Decimal("40.00"), "Reference": "part 1"},
        {"Invoice": {"InvoiceID": inv.remote_id}, "Account": {"Code": "090"}, "Date": TODAY.isoformat(),
         "Amount": total * 10, "Reference": "too much"},
    ]
    results = xero.create_payments(pays, idempotency_key="pay-" + _uid(), refs=["p1", "p2"])
    assert results[0].ok and client_mod.is_real_guid(results[0].remote_id)
    assert not results[1].ok and results[1].error_kind == "validation"
    assert results[1].message.startswith("Payment of ")
    assert xero.get_invoice(inv.remote_id)["AmountDue"] == total - Decimal("40.00")
    assert xero.get_payment(results[0].remote_id)["PaymentID"] == results[0].remote_id
    gone = xero.delete_payment(results[0].remote_id, idempotency_key="unpay-" + _uid(), ref="p1")
    assert gone.ok and gone.remote_status == "DELETED"
    assert xero.get_invoice(inv.remote_id)["AmountDue"] == total


# ----------------------------------------------------------- credit notes

def test_credit_notes_allocate_refund_void(xero):
    cid = new_contact_id(xero)
    [inv] = xero.create_invoices([invoice(cid, amount="100.00")], idempotency_key="cinv-" + _uid())
    cn1, cn2 = credit_note(cid, amount="20.00"), credit_note(cid, amount="10.00")
    results = xero.create_credit_notes([cn1, cn2], idempotency_key="cn-" + _uid())
    assert all(r.ok for r in results)
    assert results[0].remote_number == cn1["CreditNoteNumber"]
    got = xero.get_credit_notes(ids=[r.remote_id for r in results])
    assert {c["CreditNoteID"] for c in got} == {r.remote_id for r in results}
    got = xero.get_credit_notes(numbers=[cn2["CreditNoteNumber"]])
    assert [c["CreditNoteID"] for c in got] == [results[1].remote_id]

    amount = results[0].details["element"]["Total"]
    [alloc] = xero.allocate_credit_note(
        results[0].remote_id,
        [{"Invoice": {"InvoiceID": inv.remote_id}, "Amount": amount, "Date": TODAY.isoformat()}],
        idempotency_key="alloc-" + _uid(), refs=["x"])
    assert alloc.ok, alloc.message
    assert xero.get_invoice(inv.remote_id)["AmountDue"] == inv.details["element"]["Total"] - amount

    # cash refund of the second credit note = a payment on the credit note
    refund_amount = results[1].details["element"]["Total"]
    [refund] = xero.create_payments([{"CreditNote": {"CreditNoteID": results[1].remote_id},
                                      "Account": {"Code": "090"}, "Date": TODAY.isoformat(),
                                      "Amount": refund_amount}], idempotency_key="refund-" + _uid())
    assert refund.ok, refund.message
    assert xero.get_credit_note(results[1].remote_id)["Status"] == "PAID"

    # update (POST) and void a fresh one
    [cn3] = xero.save_credit_notes([credit_note(cid)], idempotency_key="cn3-" + _uid())
    assert cn3.ok
    v = xero.void_credit_note(cn3.remote_id, idempotency_key="cnv-" + _uid())
    assert v.ok and v.remote_status == "VOIDED"
    # over-allocation is a per-element sentence
    [cn4] = xero.create_credit_notes([credit_note(cid, amount="500.00")], idempotency_key="cn4-" + _uid())
    [bad] = xero.allocate_credit_note(cn4.remote_id, [{"Invoice": {"InvoiceID": inv.remote_id},
                                                       "Amount": Decimal("550.00"), "Date": TODAY.isoformat()}],
                                      idempotency_key="alloc2-" + _uid())
    assert not bad.ok and bad.error_kind == "validation" and bad.message.startswith("Allocation")

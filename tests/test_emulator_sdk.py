"""Emulator wire shapes: the official xero-python SDK creates and reads back contacts, invoices,
payments, credit notes and reference data, fully deserialized."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import requests
from xero_python.accounting import (Account, AccountingApi, CurrencyCode, LineAmountTypes, Allocation, Allocations, Contact, Contacts, CreditNote,
                                    CreditNotes, Invoice, Invoices, LineItem, LineItemTracking, Payment, Payments)
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.identity import IdentityApi

from xero_emulator.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TENANT_AU


def _v(x):
    return getattr(x, "value", x)


def _sdk(emulator):
    tokens = requests.post(emulator.base_url + "/__emulator__/grant", json={}).json()
    store = {}
    config = Configuration()  # the SDK's metaclass may hand back a copy of a shared default: set fields after
    config.oauth2_token = OAuth2Token(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    client = ApiClient(config, pool_threads=1, oauth2_token_getter=lambda: store.get("token"),
                       oauth2_token_saver=lambda t: store.update(token=t))
    client.set_oauth2_token({k: v for k, v in tokens.items() if k != "connections"})
    return client, AccountingApi(client, base_url=emulator.base_url + "/api.xro/2.0")


def test_sdk_round_trip(emulator):
    client, api = _sdk(emulator)
    conns = IdentityApi(client, base_url=emulator.base_url).get_connections()
    assert TENANT_AU in {str(c.tenant_id) for c in conns}

    created = api.create_contacts(TENANT_AU, Contacts(contacts=[Contact(name="SDK Co", email_address="sdk@example.com",
                                                                        contact_number="res.partner,7")]),
                                  summarize_errors=False, idempotency_key="sdk-contact-1")
    contact = created.contacts[0]
    assert contact.name == "SDK Co" and contact.contact_id and contact.status_attribute_string == "OK"
    assert isinstance(contact.updated_date_utc, dt.datetime)

    inv = Invoice(type="ACCREC", contact=Contact(contact_id=contact.contact_id), date=dt.date(2024, 5, 1),
                  due_date=dt.date(2024, 5, 15), status="AUTHORISED", line_amount_types=LineAmountTypes.EXCLUSIVE,
                  reference="SO-1", currency_code=CurrencyCode.AUD,
                  line_items=[LineItem(description="Hot desk", quantity=Decimal("2"), unit_amount=Decimal("10.3333"),
                                       account_code="200", tax_type="OUTPUT", discount_rate=Decimal("10"),
                                       tracking=[LineItemTracking(name="Campus", option="Harbour")]),
                              LineItem(item_code="DAYPASS", quantity=Decimal("1"))])
    res = api.create_invoices(TENANT_AU, Invoices(invoices=[inv]), summarize_errors=False, unitdp=4,
                              idempotency_key="sdk-invoice-1")
    got = res.invoices[0]
    assert got.has_errors is False and got.invoice_number == "INV-0001"
    assert got.date == dt.date(2024, 5, 1) and got.due_date == dt.date(2024, 5, 15)
    assert got.line_items[0].unit_amount == Decimal("10.3333")
    assert got.line_items[0].line_amount == Decimal("18.6")        # 2 x 10.3333 x 0.9 = 18.59994
    assert got.total == Decimal("18.6") + Decimal("1.86") + Decimal("38.5")

    back = api.get_invoice(TENANT_AU, got.invoice_id).invoices[0]
    assert _v(back.status) == "AUTHORISED" and back.contact.name == "SDK Co"
    assert back.line_items[1].item_code == "DAYPASS" and back.line_items[0].tracking[0].option == "Harbour"
    listed = api.get_invoices(TENANT_AU, statuses=["AUTHORISED"], page=1)
    assert [str(i.invoice_id) for i in listed.invoices] == [str(got.invoice_id)]

    pay = api.create_payments(TENANT_AU, Payments(payments=[Payment(
        invoice=Invoice(invoice_id=got.invoice_id), account=Account(code="090"), date=dt.date(2024, 5, 3),
        amount=Decimal("10"))]), summarize_errors=False).payments[0]
    assert _v(pay.status) == "AUTHORISED" and _v(pay.payment_type) == "ACCRECPAYMENT"
    assert pay.date == dt.date(2024, 5, 3)
    bad = api.create_payments(TENANT_AU, Payments(payments=[Payment(
        invoice=Invoice(invoice_id=got.invoice_id), account=Account(code="090"), date=dt.date(2024, 5, 3),
        amount=Decimal("1000"))]), summarize_errors=False).payments[0]
    assert bad.has_validation_errors and bad.validation_errors[0].message.startswith("Payment amount exceeds")

    cn = api.create_credit_notes(TENANT_AU, CreditNotes(credit_notes=[CreditNote(
        type="ACCRECCREDIT", contact=Contact(contact_id=contact.contact_id), date=dt.date(2024, 5, 4),
        status="AUTHORISED", line_items=[LineItem(description="refund", quantity=Decimal("1"),
                                                  unit_amount=Decimal("5"), account_code="200")])]),
        summarize_errors=False).credit_notes[0]
    assert cn.remaining_credit == Decimal("5.5")
    alloc = api.create_credit_note_allocation(TENANT_AU, cn.credit_note_id, Allocations(allocations=[Allocation(
        invoice=Invoice(invoice_id=got.invoice_id), amount=Decimal("5.5"), date=dt.date(2024, 5, 4))]),
        summarize_errors=False).allocations[0]
    assert alloc.amount == Decimal("5.5")
    deleted = api.delete_credit_note_allocations(TENANT_AU, cn.credit_note_id, alloc.allocation_id)
    assert deleted.is_deleted is True
    from xero_python.accounting import PaymentDelete
    gone = api.delete_payment(TENANT_AU, pay.payment_id, PaymentDelete(status="DELETED")).payments[0]
    assert _v(gone.status) == "DELETED"

    # a failing element with summarize_errors=False deserializes too (dates echoed in Xero's format)
    dup = api.create_invoices(TENANT_AU, Invoices(invoices=[Invoice(
        type="ACCREC", contact=Contact(contact_id=contact.contact_id), invoice_number="INV-0001",
        date=dt.date(2024, 5, 1), line_items=[LineItem(description="x", quantity=Decimal(1), unit_amount=Decimal(1),
                                                       account_code="200")])]), summarize_errors=False).invoices[0]
    assert dup.has_errors and dup.validation_errors[0].message == "Invoice # must be unique."

    # reference data
    assert {a.code for a in api.get_accounts(TENANT_AU).accounts} >= {"200", "260", "090", "091", "860", "476"}
    assert {t.tax_type for t in api.get_tax_rates(TENANT_AU).tax_rates} >= {"OUTPUT", "EXEMPTOUTPUT", "NONE"}
    assert [c.name for c in api.get_tracking_categories(TENANT_AU).tracking_categories] == ["Campus", "Channel"]
    assert len(api.get_items(TENANT_AU).items) == 9
    org = api.get_organisations(TENANT_AU).organisations[0]
    assert _v(org.base_currency) == "AUD"
    assert {_v(c.code) for c in api.get_currencies(TENANT_AU).currencies} == {"AUD", "USD", "EUR"}
    contacts = api.get_contacts(TENANT_AU, where='EmailAddress=="sdk@example.com"', page=1).contacts
    assert [c.name for c in contacts] == ["SDK Co"] and contacts[0].is_customer is True
    assert api.get_payments(TENANT_AU).payments[0].invoice.invoice_number == "INV-0001"
    assert _v(api.get_credit_note(TENANT_AU, cn.credit_note_id).credit_notes[0].status) == "AUTHORISED"

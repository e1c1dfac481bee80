"""Emulator: contacts, invoices, credit notes — Xero's business rules, each failing and passing."""
from __future__ import annotations

from conftest import errors_of

from xero_emulator.seed import TENANT_UK


# ------------------------------------------------------------------------------------ contacts
def test_contact_name_unique_among_active(xero):
    xero.contact("Buzz Lightyear")
    r = xero.put("/Contacts", json={"Contacts": [{"Name": "buzz lightyear"}]})
    assert r.status_code == 400
    body = r.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert body["Message"] == "A validation exception occurred"
    assert errors_of(r) == ["The contact name buzz lightyear is already assigned to another contact. "
                            "The contact name must be unique across all active contacts."]


def test_archived_contact_name_can_be_reused(xero):
    c = xero.contact("Woody")
    r = xero.post(f"/Contacts/{c['ContactID']}", json={"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    assert r.status_code == 200, r.text
    c2 = xero.contact("Woody")
    assert c2["ContactID"] != c["ContactID"]
    # un-archiving the first now collides
    r = xero.post(f"/Contacts/{c['ContactID']}", json={"Contacts": [{"ContactStatus": "ACTIVE"}]})
    assert r.status_code == 400 and "must be unique" in errors_of(r)[0]


def test_contacts_list_filters(xero):
    a = xero.contact("Alpha Pty", EmailAddress="a@example.com", ContactNumber="res.partner,1")
    xero.contact("Beta Pty", EmailAddress="b@example.com")
    arch = xero.contact("Gamma Pty")
    xero.post(f"/Contacts/{arch['ContactID']}", json={"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    names = lambda r: sorted(c["Name"] for c in r.json()["Contacts"])  # noqa: E731
    assert names(xero.get("/Contacts")) == ["Alpha Pty", "Beta Pty"]
    assert names(xero.get("/Contacts", params={"includeArchived": "true"})) == ["Alpha Pty", "Beta Pty", "Gamma Pty"]
    assert names(xero.get("/Contacts", params={"where": 'EmailAddress=="b@example.com"'})) == ["Beta Pty"]
    assert names(xero.get("/Contacts", params={"searchTerm": "alpha"})) == ["Alpha Pty"]
    assert names(xero.get("/Contacts", params={"IDs": a["ContactID"]})) == ["Alpha Pty"]
    r = xero.get("/Contacts", params={"page": 1, "pageSize": 1})
    assert len(r.json()["Contacts"]) == 1 and r.json()["pagination"]["itemCount"] == 2
    assert xero.get(f"/Contacts/{a['ContactID']}").json()["Contacts"][0]["Name"] == "Alpha Pty"
    assert xero.get("/Contacts/res.partner,1").json()["Contacts"][0]["ContactID"] == a["ContactID"]
    assert xero.get("/Contacts", params={"where": 'Name=="x" AND ('}).status_code == 400


def test_contact_post_upsert_and_put_create_only(xero):
    c = xero.contact("Delta")
    r = xero.post("/Contacts", json={"Contacts": [{"ContactID": c["ContactID"], "EmailAddress": "d@example.com"}]})
    assert r.status_code == 200 and r.json()["Contacts"][0]["EmailAddress"] == "d@example.com"
    r = xero.put("/Contacts", json={"Contacts": [{"ContactID": c["ContactID"], "Name": "Other"}]})
    assert r.status_code == 400
    r = xero.put("/Contacts", json={"Contacts": [{"FirstName": "No name"}]})
    assert r.status_code == 400 and errors_of(r) == ["The contact name must be specified."]


# ------------------------------------------------------------------------------------ invoices
def test_invoice_number_unique_put_and_post_updates(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"], InvoiceNumber="OD-0001", status="DRAFT")
    r = xero.put("/Invoices", json={"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": c["ContactID"]},
                                                  "InvoiceNumber": "OD-0001", "LineItems": [
                                                      {"Description": "x", "Quantity": 1, "UnitAmount": 5,
                                                       "AccountCode": "200"}]}]})
    assert r.status_code == 400 and errors_of(r) == ["Invoice # must be unique."]
    # POST with the same number updates the existing invoice
    r = xero.post("/Invoices", json={"Invoices": [{"InvoiceNumber": "OD-0001", "Reference": "updated"}]})
    assert r.status_code == 200, r.text
    got = r.json()["Invoices"][0]
    assert got["InvoiceID"] == inv["InvoiceID"] and got["Reference"] == "updated"
    assert len(xero.get("/Invoices").json()["Invoices"]) == 1


def test_invoice_numbers_auto_generated(xero):
    c = xero.contact()
    a = xero.invoice(c["ContactID"])
    b = xero.invoice(c["ContactID"])
    assert (a["InvoiceNumber"], b["InvoiceNumber"]) == ("INV-0001", "INV-0002")


def test_status_transitions(xero):
    c = xero.contact()
    d = xero.invoice(c["ContactID"], status="DRAFT")
    r = xero.post(f"/Invoices/{d['InvoiceID']}", json={"Invoices": [{"Status": "SUBMITTED"}]})
    assert r.json()["Invoices"][0]["Status"] == "SUBMITTED"
    r = xero.post(f"/Invoices/{d['InvoiceID']}", json={"Invoices": [{"Status": "AUTHORISED"}]})
    assert r.json()["Invoices"][0]["Status"] == "AUTHORISED"
    # AUTHORISED -> DELETED refused
    r = xero.post(f"/Invoices/{d['InvoiceID']}", json={"Invoices": [{"Status": "DELETED"}]})
    assert r.status_code == 400 and errors_of(r) == ["Invoice not of valid status for modification"]
    # AUTHORISED -> DRAFT refused
    r = xero.post(f"/Invoices/{d['InvoiceID']}", json={"Invoices": [{"Status": "DRAFT"}]})
    assert r.status_code == 400
    # AUTHORISED -> VOIDED ok, then final
    r = xero.post(f"/Invoices/{d['InvoiceID']}", json={"Invoices": [{"Status": "VOIDED"}]})
    assert r.status_code == 200 and r.json()["Invoices"][0]["Status"] == "VOIDED"
    r = xero.post(f"/Invoices/{d['InvoiceID']}", json={"Invoices": [{"Status": "AUTHORISED"}]})
    assert r.status_code == 400 and errors_of(r) == ["Invoice not of valid status for modification"]
    # DRAFT -> DELETED ok, then final
    d2 = xero.invoice(c["ContactID"], status="DRAFT")
    r = xero.post(f"/Invoices/{d2['InvoiceID']}", json={"Invoices": [{"Status": "DELETED"}]})
    assert r.json()["Invoices"][0]["Status"] == "DELETED"
    r = xero.post(f"/Invoices/{d2['InvoiceID']}", json={"Invoices": [{"Reference": "x"}]})
    assert r.status_code == 400
    # PAID cannot be requested, nor created as VOIDED
    assert xero.invoice(c["ContactID"], status="PAID", expect=400)
    assert xero.invoice(c["ContactID"], status="VOIDED", expect=400)


def test_authorised_invoice_without_payment_can_be_edited(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    r = xero.post(f"/Invoices/{inv['InvoiceID']}", json={"Invoices": [{"Status": "AUTHORISED", "LineItems": [
        {"Description": "Dedicated desk", "Quantity": 2, "UnitAmount": 50, "AccountCode": "200", "TaxType": "OUTPUT"}]}]})
    assert r.status_code == 200, r.text
    assert r.json()["Invoices"][0]["Total"] == 110


def test_invoice_with_payment_cannot_be_edited_or_voided(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"])
    assert xero.pay(inv["InvoiceID"], 10).status_code == 200
    msg = "This document cannot be edited as it has a payment or credit note allocated to it."
    r = xero.post(f"/Invoices/{inv['InvoiceID']}", json={"Invoices": [{"Reference": "changed"}]})
    assert r.status_code == 400 and errors_of(r) == [msg]
    r = xero.post(f"/Invoices/{inv['InvoiceID']}", json={"Invoices": [{"Status": "VOIDED"}]})
    assert r.status_code == 400 and errors_of(r) == [msg]


def test_account_rules(xero):
    c = xero.contact()
    line = {"Description": "x", "Quantity": 1, "UnitAmount": 10, "TaxType": "OUTPUT"}
    r = xero.invoice(c["ContactID"], lines=[dict(line, AccountCode="476")], expect=400)
    assert "Account code '476' has been removed as it does not match a recognised account." in \
        [e["Message"] for e in r["Elements"][0]["ValidationErrors"]]
    r = xero.invoice(c["ContactID"], lines=[dict(line, AccountCode="999")], expect=400)
    assert "Account code '999'" in r["Elements"][0]["ValidationErrors"][0]["Message"]
    # a bank account is not a revenue line account
    xero.invoice(c["ContactID"], lines=[dict(line, AccountCode="090")], expect=400)
    assert xero.invoice(c["ContactID"], lines=[dict(line, AccountCode="260")])["Total"] == 11


def test_tax_type_rules(xero):
    c = xero.contact()
    line = {"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}
    for bad in ("OUTPUT2", "INPUT", "TAX001"):  # another region's / purchases-only / deleted
        r = xero.invoice(c["ContactID"], lines=[dict(line, TaxType=bad)], expect=400)
        assert f"The TaxType code '{bad}'" in r["Elements"][0]["ValidationErrors"][0]["Message"]
    assert xero.invoice(c["ContactID"], lines=[dict(line, TaxType="EXEMPTOUTPUT")])["TotalTax"] == 0
    # defaults to the account's tax type (200 Sales -> OUTPUT 10 %)
    assert xero.invoice(c["ContactID"], lines=[line])["TotalTax"] == 1


def test_item_rules(xero):
    c = xero.contact()
    inv = xero.invoice(c["ContactID"], lines=[{"ItemCode": "DAYPASS", "Quantity": 2}])
    ln = inv["LineItems"][0]
    assert (ln["UnitAmount"], ln["AccountCode"], ln["TaxType"], ln["Description"]) == (35, "200", "OUTPUT", "Day pass")
    assert inv["Total"] == 77
    r = xero.invoice(c["ContactID"], lines=[{"ItemCode": "NOPE", "Quantity": 1}], expect=400)
    assert r["Elements"][0]["ValidationErrors"][0]["Message"] == "Item code 'NOPE' is not valid."
    xero.invoice(c["ContactID"], lines=[{"ItemCode": "OLD-LOCKER", "Quantity": 1, "UnitAmount": 5,
                                          "AccountCode": "200"}], expect=400)


def test_tracking_rules(xero):
    c = xero.contact()
    base = {"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}
    ok = xero.invoice(c["ContactID"], lines=[dict(base, Tracking=[{"Name": "Campus", "Option": "Downtown"},
                                                                  {"Name": "Channel", "Option": "Direct"}])])
    assert [t["Option"] for t in ok["LineItems"][0]["Tracking"]] == ["Downtown", "Direct"]
    three = [{"Name": "Campus", "Option": "Downtown"}, {"Name": "Channel", "Option": "Direct"},
             {"Name": "Legacy Region", "Option": "North"}]
    xero.invoice(c["ContactID"], lines=[dict(base, Tracking=three)], expect=400)
    xero.invoice(c["ContactID"], lines=[dict(base, Tracking=[{"Name": "Campus", "Option": "Riverside"}])], expect=400)
    xero.invoice(c["ContactID"], lines=[dict(base, Tracking=[{"Name": "Campus", "Option": "Nowhere"}])], expect=400)
    xero.invoice(c["ContactID"], lines=[dict(base, Tracking=[{"Name": "Legacy Region", "Option": "North"}])], expect=400)


def test_currency_must_be_enabled(xero):
    c = xero.contact()
    r = xero.invoice(c["ContactID"], CurrencyCode="JPY", expect=400)
    assert r["Elements"][0]["ValidationErrors"][0]["Message"] == "Organisation is not subscribed to currency JPY"
    inv = xero.invoice(c["ContactID"], CurrencyCode="USD", CurrencyRate=0.66)
    assert inv["CurrencyCode"] == "USD" and inv["CurrencyRate"] == 0.66


def test_period_lock_date(xero):
    from xero_emulator.seed import TENANT_AU
    c = xero.contact()
    assert xero.control("POST", "organisation", {"tenant": TENANT_AU, "PeriodLockDate": "2024-04-30"}).ok
    xero.invoice(c["ContactID"], Date="2024-04-30", DueDate="2024-05-30", expect=400)
    xero.invoice(c["ContactID"], Date="2024-05-01")
    org = xero.get("/Organisation").json()["Organisations"][0]
    assert org["PeriodLockDate"].startswith("/Date(")


def test_rounding_per_line_half_up_and_totals(xero):
    c = xero.contact()
    # Xero's doc example: 25.06 / 25.61 / 25.63 at 15% -> per-line tax sums to 11.44 (UK 20%: see below)
    lines = [{"Description": f"l{i}", "Quantity": 1, "UnitAmount": u, "AccountCode": "200", "TaxType": "OUTPUT"}
             for i, u in enumerate((0.05, 0.15, 0.25))]
    inv = xero.invoice(c["ContactID"], lines=lines)
    # 10% of 0.05 = 0.005 -> 0.01 (half up) ; 0.015 -> 0.02 ; 0.025 -> 0.03
    assert [ln["TaxAmount"] for ln in inv["LineItems"]] == [0.01, 0.02, 0.03]
    assert (inv["SubTotal"], inv["TotalTax"], inv["Total"]) == (0.45, 0.06, 0.51)
    xero.control("POST", "config", {"tax_rounding": "half_even"})
    inv = xero.invoice(c["ContactID"], lines=lines)
    assert [ln["TaxAmount"] for ln in inv["LineItems"]] == [0.0, 0.02, 0.02]


def test_discount_and_unitdp(xero):
    c = xero.contact()
    line = {"Description": "x", "Quantity": 3, "UnitAmount": 10.3333, "AccountCode": "200", "TaxType": "OUTPUT",
            "DiscountRate": 12.5}
    inv = xero.invoice(c["ContactID"], lines=[line])
    ln = inv["LineItems"][0]
    assert ln["UnitAmount"] == 10.33          # 2 dp without unitdp
    assert ln["LineAmount"] == 27.12          # 3 x 10.33 x 0.875 = 27.116 -> 27.12
    inv = xero.invoice(c["ContactID"], lines=[line], params={"unitdp": 4})
    ln = inv["LineItems"][0]
    assert ln["UnitAmount"] == 10.3333
    assert ln["LineAmount"] == 27.12          # 3 x 10.3333 x 0.875 = 27.1249 -> 27.12
    assert inv["TotalDiscount"] == 3.88
    xero.invoice(c["ContactID"], lines=[dict(line, DiscountAmount=1)], expect=400)  # both kinds at once


def test_inclusive_notax_and_explicit_tax(xero):
    c = xero.contact()
    line = {"Description": "x", "Quantity": 1, "UnitAmount": 110, "AccountCode": "200", "TaxType": "OUTPUT"}
    inv = xero.invoice(c["ContactID"], lines=[line], LineAmountTypes="Inclusive")
    assert (inv["SubTotal"], inv["TotalTax"], inv["Total"]) == (100, 10, 110)
    inv = xero.invoice(c["ContactID"], lines=[line], LineAmountTypes="NoTax")
    assert (inv["TotalTax"], inv["Total"]) == (0, 110)
    inv = xero.invoice(c["ContactID"], lines=[dict(line, TaxAmount=11.01)])
    assert (inv["TotalTax"], inv["Total"]) == (11.01, 121.01)


def test_uk_org_tax_types(emulator):
    from conftest import XeroHTTP
    uk = XeroHTTP(emulator, tenant=TENANT_UK)
    c = uk.contact()
    line = {"Description": "x", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "OUTPUT2"}
    assert uk.invoice(c["ContactID"], lines=[line])["TotalTax"] == 20
    uk.invoice(c["ContactID"], lines=[dict(line, TaxType="OUTPUT")], expect=400)
    assert uk.invoice(c["ContactID"], lines=[dict(line, TaxType="ZERORATEDOUTPUT")])["TotalTax"] == 0
    uk.invoice(c["ContactID"], CurrencyCode="USD", expect=400)  # USD not enabled in the UK org


def test_summarize_errors_false_partial_success(xero):
    c = xero.contact()
    good = {"Type": "ACCREC", "Contact": {"ContactID": c["ContactID"]}, "Date": "2024-05-01",
            "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}
    bad = dict(good, LineItems=[{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "476"}])
    r = xero.put("/Invoices", json={"Invoices": [good, bad, good]}, params={"summarizeErrors": "false"})
    assert r.status_code == 200
    els = r.json()["Invoices"]
    assert [e["StatusAttributeString"] for e in els] == ["OK", "ERROR", "OK"]
    assert [e["HasErrors"] for e in els] == [False, True, False]
    assert els[1]["ValidationErrors"][0]["Message"].startswith("Account code '476'")
    assert els[1]["Date"].startswith("/Date(")   # echoed element uses Xero's date format
    assert len(xero.get("/Invoices").json()["Invoices"]) == 2
    # without the flag: the whole batch is refused and nothing is applied
    r = xero.put("/Invoices", json={"Invoices": [good, bad]})
    assert r.status_code == 400 and r.json()["Type"] == "ValidationException"
    assert len(xero.get("/Invoices").json()["Invoices"]) == 2


def test_summarize_rolls_back_contacts_created_on_the_fly(xero):
    good = {"Type": "ACCREC", "Contact": {"Name": "Brand New Co"}, "Date": "2024-05-01",
            "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}
    bad = dict(good, LineItems=[{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "476"}])
    assert xero.put("/Invoices", json={"Invoices": [good, bad]}).status_code == 400
    assert xero.get("/Contacts").json()["Contacts"] == []
    r = xero.put("/Invoices", json={"Invoices": [good]})
    assert r.status_code == 200
    assert [c["Name"] for c in xero.get("/Contacts").json()["Contacts"]] == ["Brand New Co"]


def test_invoices_list_filters_and_lines(xero):
    c = xero.contact()
    a = xero.invoice(c["ContactID"], status="DRAFT")
    b = xero.invoice(c["ContactID"])
    r = xero.get("/Invoices", params={"Statuses": "AUTHORISED"})
    assert [i["InvoiceID"] for i in r.json()["Invoices"]] == [b["InvoiceID"]]
    assert "LineItems" not in r.json()["Invoices"][0]      # no paging -> no lines, like Xero
    r = xero.get("/Invoices", params={"InvoiceNumbers": a["InvoiceNumber"], "page": 1})
    assert [i["InvoiceID"] for i in r.json()["Invoices"]] == [a["InvoiceID"]]
    assert r.json()["Invoices"][0]["LineItems"]
    r = xero.get("/Invoices", params={"IDs": f"{a['InvoiceID']},{b['InvoiceID']}", "ContactIDs": c["ContactID"]})
    assert len(r.json()["Invoices"]) == 2
    r = xero.get("/Invoices", params={"where": 'Status=="DRAFT" AND Contact.ContactID==Guid("%s")' % c["ContactID"]})
    assert [i["InvoiceID"] for i in r.json()["Invoices"]] == [a["InvoiceID"]]
    assert xero.get(f"/Invoices/{a['InvoiceID']}").json()["Invoices"][0]["LineItems"]


def test_if_modified_since(xero, emulator):
    c = xero.contact()
    old = xero.invoice(c["ContactID"])
    xero.control("POST", "clock", {"advance": 120})
    import datetime as dt
    now = dt.datetime.fromtimestamp(xero.control("GET", "clock").json()["now"], tz=dt.timezone.utc)
    mark = (now - dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S")
    new = xero.invoice(c["ContactID"])
    r = xero.get("/Invoices", headers={"If-Modified-Since": mark})
    ids = [i["InvoiceID"] for i in r.json()["Invoices"]]
    assert ids == [new["InvoiceID"]] and old["InvoiceID"] not in ids


# ------------------------------------------------------------------------------------ credit notes
def test_credit_note_rejects_discounts_and_numbers_unique(xero):
    c = xero.contact()
    r = xero.put("/CreditNotes", json={"CreditNotes": [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": c["ContactID"]},
                                                        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10,
                                                                       "AccountCode": "200", "DiscountRate": 10}]}]})
    assert r.status_code == 400 and "Discounts are not supported" in errors_of(r)[0]
    cn = xero.credit_note(c["ContactID"], CreditNoteNumber="CN-OD-1")
    assert cn["CreditNoteNumber"] == "CN-OD-1" and cn["RemainingCredit"] == 55
    r = xero.put("/CreditNotes", json={"CreditNotes": [{"Type": "ACCRECCREDIT", "CreditNoteNumber": "CN-OD-1",
                                                        "Contact": {"ContactID": c["ContactID"]},
                                                        "LineItems": [{"Description": "x", "Quantity": 1,
                                                                       "UnitAmount": 1, "AccountCode": "200"}]}]})
    assert r.status_code == 400 and errors_of(r) == ["Credit Note # must be unique."]

"""Payload builders: documents.* -> Xero JSON, validated against the official spec."""
from __future__ import annotations

import datetime
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS30WriteValidator

from coworks_xero.services import documents as docs
from coworks_xero.services.xero import payloads as P

D = Decimal
CONTACT_ID = "5b96e86b-418e-48e8-8949-308c14aec278"
INVOICE_ID = "4f7f6b2a-1c1e-4d3b-9a3e-0c6b1d2e3f40"
CREDIT_ID = "0e64a623-c2a1-446a-93ed-eb897f118cbc"


# --------------------------------------------------------------------------
# the official spec
# --------------------------------------------------------------------------
def _spec_path() -> Path:
    from xero_emulator.spec import spec_dir  # $XERO_OPENAPI_DIR, the verified cache, or a download
    return Path(spec_dir()) / "xero_accounting.yaml"


@pytest.fixture(scope="session")
def spec():
    path = _spec_path()
    if not path.exists():
        pytest.skip(f"official Xero spec not found at {path} (set XERO_OPENAPI_DIR)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


@pytest.fixture(scope="session")
def validate(spec):
    """validate(schema_name, instance): spec validation + every key must be a spec property."""
    schemas = spec["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def known_keys(instance, node, path):
        node = resolve(node)
        if isinstance(instance, dict):
            props = node.get("properties") or {}
            for key, value in instance.items():
                assert key in props, f"{path}.{key} is not a property of the spec schema"
                known_keys(value, props[key], f"{path}.{key}")
        elif isinstance(instance, list) and "items" in node:
            for i, value in enumerate(instance):
                known_keys(value, node["items"], f"{path}[{i}]")

    def _validate(schema_name, instance):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
        validator = OAS30WriteValidator(schema, format_checker=OAS30WriteValidator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
        known_keys(instance, {"$ref": f"#/components/schemas/{schema_name}"}, schema_name)

    return _validate


DP_LIMITS = {"UnitAmount": 4, "Quantity": 4, "CurrencyRate": 6}


def assert_number_precision(payload):
    """Every JSON number: money <= 2 dp, UnitAmount/Quantity <= 4, CurrencyRate <= 6."""
    text = json.dumps(payload)
    data = json.loads(text, parse_float=Decimal)

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, Decimal):
            assert P.decimals(node) <= DP_LIMITS.get(key, 2), f"{key}={node}"

    walk(data)


# --------------------------------------------------------------------------
# builders of test documents
# --------------------------------------------------------------------------
def customer(**kw):
    base = dict(ref="res.partner,42", name="ACME Ltd", email="acme@x.com", remote_id=CONTACT_ID)
    base.update(kw)
    return docs.Customer(**base)


def line(desc="Hot desk", q="1", u="100", disc="0", tax_type="OUTPUT", rate="15", mode="Exclusive",
         host_tax=None, host_subtotal=None, **kw):
    """A product line with the host's figures computed per line (Odoo 'round per line')."""
    q, u, disc = D(q), D(u), D(disc)
    raw = q * u * (100 - disc) / 100
    r = D(rate) if rate is not None else D(0)
    if mode == "Inclusive":
        total = P.round_half_up(raw, 2)
        tax = P.round_half_up(total * r / (100 + r), 2) if host_tax is None else D(host_tax)
        subtotal = total - tax
    else:
        subtotal = P.round_half_up(raw, 2) if host_subtotal is None else D(host_subtotal)
        tax = P.round_half_up(subtotal * r / 100, 2) if host_tax is None else D(host_tax)
        if mode == "NoTax":
            tax = D(0)
        total = subtotal + tax
    return docs.Line(description=desc, quantity=q, unit_price=u, discount_percent=disc,
                     account_code=kw.pop("account_code", "200"), tax_type=tax_type,
                     subtotal=subtotal, tax_amount=tax, total=total,
                     tax_rate=D(rate) if rate is not None else None, **kw)


def document(lines, kind=docs.KIND_INVOICE, mode="Exclusive", amount_tax=None, **kw):
    prod = [l for l in lines if l.display_type == docs.LINE_PRODUCT]
    untaxed = sum((l.subtotal for l in prod), D(0))
    tax = sum((l.tax_amount for l in prod), D(0)) if amount_tax is None else D(amount_tax)
    base = dict(
        ref="account.move,12", kind=kind, number="INV-0001" if kind == docs.KIND_INVOICE else "RINV-0001",
        date=datetime.date(2026, 11, 2), customer=customer(), lines=lines, currency_code="NZD",
        line_amount_types=mode, due_date=datetime.date(2026, 11, 30), reference="Nov 2026",
        amount_untaxed=untaxed, amount_tax=tax, amount_total=untaxed + tax,
        url="https://coworks.example.com/invoices/12", rounding_account_code="860",
    )
    base.update(kw)
    return docs.Document(**base)


def test_validator_rejects_what_the_spec_rejects(validate):
    with pytest.raises(AssertionError):
        validate("Invoice", {"Type": "ACCREC", "Status": "PENDING"})  # not in the enum
    with pytest.raises(AssertionError):
        validate("Invoice", {"Type": "ACCREC", "LineItem": []})  # misspelt key
    with pytest.raises(AssertionError):
        validate("Invoice", {"Type": "ACCREC", "SubTotal": 1.0})  # readOnly in a request
    with pytest.raises(AssertionError):
        validate("Allocation", {"Amount": 1.0})  # required Invoice and Date


# --------------------------------------------------------------------------
# Xero's arithmetic
# --------------------------------------------------------------------------
class TestRounding:
    def test_line_amount_rounds_half_up(self):
        assert P.xero_line_amount("2.5", "1.01") == D("2.53")  # 2.525
        assert P.xero_line_amount("1", "0.005") == D("0.01")
        assert P.xero_line_amount("-1", "0.005") == D("-0.01")  # away from zero
        assert P.xero_line_amount("3", "10", "10") == D("27.00")
        assert P.xero_line_amount("3", "3.33", "7.5") == D("9.24")  # 9.24075

    def test_line_tax_exclusive_inclusive_notax_given(self):
        assert P.xero_line_tax("25.06", "15") == D("3.76")
        assert P.xero_line_tax("10.00", "15", "Inclusive") == D("1.30")  # 1.3043
        assert P.xero_line_tax("10.00", "15", "NoTax") == D("0.00")
        assert P.xero_line_tax("10.00", "15", "Exclusive", given="1.234") == D("1.23")
        with pytest.raises(ValueError):
            P.xero_line_tax("10.00")

    def test_xero_rounding_guide_example(self):
        # developer.xero.com rounding guide: 25.06/25.61/25.63 @15%: Xero 11.44, global 11.45
        per_line = sum(P.xero_line_tax(a, 15) for a in ("25.06", "25.61", "25.63"))
        assert per_line == D("11.44")
        assert P.round_half_up(D("76.30") * D("0.15")) == D("11.45")

    def test_number_serialisation(self):
        assert P.number(D("12.345")) == 12.35
        assert P.number(D("-0.001")) == 0.0 and str(P.number(D("-0.001"))) == "0.0"
        assert P.number(D("1.23456"), 4) == 1.2346
        assert json.dumps(P.number(D("0.10"))) == "0.1"

    def test_decimals_and_to_decimal(self):
        assert P.decimals(D("1.2300")) == 2
        assert P.decimals(D("100")) == 0
        assert P.to_decimal(0.1) == D("0.1")
        assert P.to_decimal(None) == 0
        with pytest.raises(ValueError):
            P.to_decimal("abc")

    def test_parse_xero_dates(self):
        assert P.parse_xero_datetime("/Date(1573755038314+0000)/") == datetime.datetime(2019, 11, 14, 18, 10, 38, 314000)
        assert P.parse_xero_datetime("2019-11-14T18:10:38Z") == datetime.datetime(2019, 11, 14, 18, 10, 38)
        assert P.parse_xero_date("2013-07-31T00:00:00") == datetime.date(2013, 7, 31)
        assert P.parse_xero_date("") is None and P.parse_xero_date("garbage") is None


# --------------------------------------------------------------------------
# contacts
# --------------------------------------------------------------------------
class TestContact:
    def test_full_contact_validates(self, validate):
        c = customer(phone="+64 9 555 0100", mobile="021 555 0101", vat="123-456-789", currency_code="nzd",
                     address=docs.Address(street="1 Queen St", street2="Level 2", city="Auckland",
                                          zip="1010", state="Auckland", country_code="NZ"),
                     contact_number="CW-42")
        payload = P.contact_payload(c, name="ACME Ltd (acme@x.com)")
        assert payload == {
            "ContactID": CONTACT_ID,
            "Name": "ACME Ltd (acme@x.com)",
            "ContactNumber": "CW-42",
            "EmailAddress": "acme@x.com",
            "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "+64 9 555 0100"},
                       {"PhoneType": "MOBILE", "PhoneNumber": "021 555 0101"}],
            "Addresses": [{"AddressType": "STREET", "AddressLine1": "1 Queen St", "AddressLine2": "Level 2",
                           "City": "Auckland", "Region": "Auckland", "PostalCode": "1010", "Country": "NZ"}],
            "TaxNumber": "123-456-789",
            "DefaultCurrency": "NZD",
        }
        validate("Contacts", P.request_body("contact", [payload]))

    def test_minimal_new_contact(self, validate):
        c = docs.Customer(ref="res.partner,7", name="  Jane   Doe ")
        payload = P.contact_payload(c)
        assert payload == {"Name": "Jane Doe", "ContactNumber": "res.partner,7"}
        validate("Contact", payload)

    @pytest.mark.parametrize("raw,expected", [
        ("jürgen@example.de", ""),  # umlaut in local part: Xero rejects
        ("not-an-email", ""),
        ("a@b", ""),
        ("a..b@example.com", ""),
        ("Jane <jane@example.com>", "jane@example.com"),
        ("jane@example.com, bob@example.com", "jane@example.com"),
        ("broken, bob@example.com", "bob@example.com"),
        ("info@müller.de", "info@xn--mller-kva.de"),
        ("  jane@example.com ", "jane@example.com"),
    ])
    def test_sanitize_email(self, raw, expected):
        assert P.sanitize_email(raw) == expected

    def test_bad_optional_fields_are_dropped_with_warnings(self, validate):
        warnings = []
        c = customer(email="jürgen@example.de", vat="X" * 51, phone="1" * 51)
        payload = P.contact_payload(c, warnings=warnings)
        assert "EmailAddress" not in payload and "TaxNumber" not in payload and "Phones" not in payload
        assert len(warnings) == 3 and "ASCII" in warnings[0]
        validate("Contact", payload)

    def test_long_values_truncated_to_spec_limits(self, validate):
        c = docs.Customer(ref="res.partner,1", name="N" * 300, contact_number="C" * 60,
                          address=docs.Address(zip="9" * 60, city="C" * 300))
        payload = P.contact_payload(c)
        assert len(payload["Name"]) == 255 and len(payload["ContactNumber"]) == 50
        validate("Contact", payload)


class TestDisambiguate:
    def test_rule_sequence(self):
        c = customer(ref="res.partner,42")
        assert P.disambiguate_name("ACME Ltd", c, []) == "ACME Ltd"
        assert P.disambiguate_name("ACME Ltd", c, ["acme  LTD"]) == "ACME Ltd (acme@x.com)"
        assert P.disambiguate_name("ACME Ltd", c, ["ACME Ltd", "ACME Ltd (acme@x.com)"]) == "ACME Ltd (#42)"
        taken = ["ACME Ltd", "ACME Ltd (acme@x.com)", "ACME Ltd (#42)", "ACME Ltd (#42-2)"]
        assert P.disambiguate_name("ACME Ltd", c, taken) == "ACME Ltd (#42-3)"

    def test_no_email_uses_key_and_contact_number_wins(self):
        c = customer(email="", contact_number="CW-7")
        assert P.disambiguate_name("ACME Ltd", c, ["ACME Ltd"]) == "ACME Ltd (#CW-7)"
        c = customer(email="bad@@x")
        assert P.disambiguate_name("ACME Ltd", c, ["ACME Ltd"]) == "ACME Ltd (#42)"

    def test_deterministic_and_fits_255(self):
        c = customer()
        long = "A" * 255
        a = P.disambiguate_name(long, c, [long])
        assert a == P.disambiguate_name(long, c, {long})
        assert len(a) <= 255 and a.endswith("(acme@x.com)")


class TestPickContact:
    def c(self, cid, **kw):
        return {"ContactID": cid, "Name": kw.pop("Name", f"C{cid}"), "EmailAddress": "a@b.com", **kw}

    def test_active_first_then_oldest_then_id(self):
        cands = [
            self.c("3", ContactStatus="ARCHIVED", UpdatedDateUTC="/Date(1000000000000+0000)/"),
            self.c("2", ContactStatus="ACTIVE", UpdatedDateUTC="/Date(1600000000000+0000)/"),
            self.c("1", ContactStatus="ACTIVE", UpdatedDateUTC="/Date(1500000000000+0000)/"),
        ]
        pick = P.pick_contact(cands, "A@B.com")
        assert pick.contact["ContactID"] == "1"
        assert "active" in pick.reason and "2 other match" in pick.reason
        assert P.pick_contact(list(reversed(cands)), "a@b.com").contact["ContactID"] == "1"
        tie = [self.c("b"), self.c("a")]
        assert P.pick_contact(tie, "a@b.com").contact["ContactID"] == "a"

    def test_exact_email_before_others_and_archived_only(self):
        cands = [self.c("1", EmailAddress="other@b.com"), self.c("2", ContactStatus="ARCHIVED")]
        pick = P.pick_contact(cands, "a@b.com")
        assert pick.contact["ContactID"] == "2" and "un-archive" in pick.reason

    def test_contact_number_and_merged(self):
        cands = [self.c("1"), self.c("2", ContactNumber="42"), self.c("3", MergedToContactID="9")]
        assert P.pick_contact(cands, "a@b.com", contact_number="42").contact["ContactID"] == "2"
        pick = P.pick_contact(cands, "a@b.com")
        assert pick.contact["ContactID"] == "1" and "merged" in pick.reason
        only_merged = P.pick_contact([self.c("3", MergedToContactID="9")], "a@b.com")
        assert only_merged.contact is None and "9" in only_merged.reason
        assert P.pick_contact([], "a@b.com") == (None, "no Xero contact found for a@b.com")
        one = P.pick_contact([self.c("1")], "a@b.com")
        assert "only match" in one.reason


# --------------------------------------------------------------------------
# invoices and credit notes
# --------------------------------------------------------------------------
class TestInvoice:
    def test_basic_invoice_shape(self, validate):
        lines = [
            docs.Line(description="Members", display_type=docs.LINE_SECTION),
            line("Hot desk", q="2", u="150", tracking=[docs.Tracking("Campus", "Soho")], item_code="PLAN"),
            docs.Line(description="Thanks!", display_type=docs.LINE_NOTE),
            line("Free coffee", q="1", u="0"),
        ]
        doc = document(lines, currency_rate=D("0.612345678"))
        payload, report = P.invoice_payload(doc)
        assert payload == {
            "Type": "ACCREC",
            "Contact": {"ContactID": CONTACT_ID},
            "InvoiceNumber": "INV-0001",
            "Date": "2026-11-02",
            "DueDate": "2026-11-30",
            "Reference": "Nov 2026",
            "CurrencyCode": "NZD",
            "CurrencyRate": 0.612346,
            "LineAmountTypes": "Exclusive",
            "Status": "AUTHORISED",
            "Url": "https://coworks.example.com/invoices/12",
            "LineItems": [
                {"Description": "Members"},
                {"Description": "Hot desk", "Quantity": 2.0, "UnitAmount": 150.0, "ItemCode": "PLAN",
                 "AccountCode": "200", "TaxType": "OUTPUT", "LineAmount": 300.0,
                 "Tracking": [{"Name": "Campus", "Option": "Soho"}]},
                {"Description": "Thanks!"},
                {"Description": "Free coffee", "Quantity": 1.0, "UnitAmount": 0.0, "AccountCode": "200",
                 "TaxType": "OUTPUT", "LineAmount": 0.0},
            ],
        }
        assert report.explicit_tax_lines == [] and report.adjustment == 0
        assert report.expected.total == D("345.00") and report.remaining["Total"] == 0
        validate("Invoices", P.request_body("invoice", [payload]))
        assert_number_precision(payload)

    def test_remote_id_number_override_and_draft(self, validate):
        doc = document([line()], remote_id=INVOICE_ID, status="DRAFT", url="javascript:alert(1)")
        payload, _ = P.invoice_payload(doc, number="INV-0001-R1")
        assert payload["InvoiceID"] == INVOICE_ID and payload["InvoiceNumber"] == "INV-0001-R1"
        assert payload["Status"] == "DRAFT" and "Url" not in payload
        validate("Invoice", payload)

    def test_status_override_and_paid(self):
        assert P.invoice_payload(document([line()]), status="DRAFT")[0]["Status"] == "DRAFT"
        assert P.invoice_payload(document([line()], status="PAID"))[0]["Status"] == "AUTHORISED"
        cn = document([line()], kind=docs.KIND_CREDIT_NOTE)
        assert P.credit_note_payload(cn, status="SUBMITTED")[0]["Status"] == "SUBMITTED"

    def test_unlinked_contact_uses_contact_number(self):
        doc = document([line()], customer=customer(remote_id="", contact_number="CW-42"))
        payload, report = P.invoice_payload(doc)
        assert payload["Contact"] == {"ContactNumber": "CW-42"} and report.warnings

    def test_wrong_kind_refused(self):
        with pytest.raises(ValueError):
            P.invoice_payload(document([line()], kind=docs.KIND_CREDIT_NOTE))
        with pytest.raises(ValueError):
            P.credit_note_payload(document([line()]))

    def test_discount_on_invoice(self, validate):
        payload, report = P.invoice_payload(document([line(q="3", u="10", disc="10")]))
        li = payload["LineItems"][0]
        assert li["DiscountRate"] == 10.0 and li["UnitAmount"] == 10.0 and li["LineAmount"] == 27.0
        assert report.collapsed_lines == []
        validate("Invoice", payload)

    def test_per_line_rounding_no_adjustment(self):
        lines = [line(u=a) for a in ("25.06", "25.61", "25.63")]
        payload, report = P.invoice_payload(document(lines))
        assert "TaxAmount" not in json.dumps(payload)
        assert report.expected.total_tax == D("11.44") and report.adjustment == 0
        assert all(v == 0 for v in report.remaining.values())

    def test_global_rounding_tax_residue_is_spread_on_line_taxes(self, validate):
        # host rounds tax globally: 76.30 x 15% = 11.45; Xero per line = 11.44
        lines = [line(u=a) for a in ("25.06", "25.61", "25.63")]
        doc = document(lines, amount_tax="11.45")
        assert doc.amount_total == D("87.75")
        payload, report = P.invoice_payload(doc)
        assert len(payload["LineItems"]) == 3, "a tax residue needs no adjustment line"
        # the cent goes on the first line with the largest tax (25.61 and 25.63 -> 3.84; + 0.01)
        assert [li.get("TaxAmount") for li in payload["LineItems"]] == [None, 3.85, None]
        assert report.tax_spread == D("0.01") and report.spread_lines == [1]
        assert report.adjustment == 0
        assert report.expected.total_tax == D("11.45") and report.expected.total == D("87.75")
        assert report.remaining == {"SubTotal": D("0.00"), "TotalTax": D("0.00"), "Total": D("0.00")}
        validate("Invoice", payload)

    def test_spread_is_at_most_a_cent_per_taxed_line_and_can_be_negative(self):
        lines = [line(u=a) for a in ("10.005", "10.005")]  # per line 1.50 + 1.50 = 3.00
        payload, report = P.invoice_payload(document(lines, amount_tax="2.99"))
        assert report.tax_spread == D("-0.01") and report.expected.total_tax == D("2.99")
        # 3 cents over 2 taxed lines is no rounding residue: not spread, left to the adjustment line
        payload, report = P.invoice_payload(document(lines, amount_tax="3.03"))
        assert report.tax_spread == 0 and report.adjustment == D("0.03")

    def test_untaxed_residue_gets_one_adjustment_line(self, validate):
        # host's untaxed total is a cent above its rounded lines (e.g. global rounding of the base)
        lines = [line(u=a) for a in ("25.06", "25.61", "25.63")]
        doc = document(lines, amount_untaxed=D("76.31"), amount_total=D("87.75"), amount_tax=D("11.44"))
        payload, report = P.invoice_payload(doc)
        adj = payload["LineItems"][-1]
        assert adj == {"Description": "Rounding adjustment", "Quantity": 1.0, "UnitAmount": 0.01,
                       "AccountCode": "860", "LineAmount": 0.01, "TaxType": "NONE", "TaxAmount": 0.0}
        assert report.adjustment == D("0.01") and report.adjustment_line == 3
        assert report.expected.total == D("87.75")
        assert report.remaining == {"SubTotal": D("0.00"), "TotalTax": D("0.00"), "Total": D("0.00")}
        assert sum(1 for li in payload["LineItems"] if li["Description"] == "Rounding adjustment") == 1
        validate("Invoice", payload)

    def test_custom_no_tax_type_and_negative_adjustment(self):
        lines = [line(u=a) for a in ("10.005", "10.005")]  # lines sum 20.02 (10.01 each)
        doc = document(lines, amount_untaxed=D("20.01"), amount_total=D("23.01"))
        payload, report = P.invoice_payload(doc, no_tax_type="EXEMPTOUTPUT")
        assert payload["LineItems"][-1]["TaxType"] == "EXEMPTOUTPUT"
        assert report.adjustment == D("-0.01") and report.expected.total == doc.amount_total

    def test_no_rounding_account_warns(self):
        lines = [line(u=a) for a in ("25.06", "25.61", "25.63")]
        payload, report = P.invoice_payload(document(lines, amount_untaxed=D("76.31"), amount_total=D("87.75"),
                                                     amount_tax=D("11.44"), rounding_account_code=""))
        assert len(payload["LineItems"]) == 3 and report.adjustment == 0
        assert "ROUNDING" in report.warnings[0] and report.remaining["Total"] == D("0.01")

    def test_host_line_tax_differs_from_xero_is_sent_explicitly(self, validate):
        # host computed 3.75 on 25.06 @15% (e.g. a different rounding); Xero would say 3.76
        lines = [line(u="25.06", host_tax="3.75"), line(u="10")]
        payload, report = P.invoice_payload(document(lines))
        assert payload["LineItems"][0]["TaxAmount"] == 3.75
        assert "TaxAmount" not in payload["LineItems"][1]
        assert report.explicit_tax_lines == [0] and report.adjustment == 0
        assert report.expected.total_tax == D("5.25")
        validate("Invoice", payload)

    def test_unknown_rate_sends_host_tax(self):
        lines = [line(u="25.06", rate="15"), line(u="10")]
        for l in lines:
            l.tax_rate = None
        payload, report = P.invoice_payload(document(lines))
        assert [li.get("TaxAmount") for li in payload["LineItems"]] == [3.76, 1.5]
        assert report.explicit_tax_lines == [0, 1]
        # with a rate map nothing is explicit
        payload, report = P.invoice_payload(document(lines), tax_rates={"OUTPUT": D("15")})
        assert report.explicit_tax_lines == []

    def test_inclusive(self, validate):
        lines = [line(u="10", mode="Inclusive"), line(u="33.33", q="3", mode="Inclusive")]
        doc = document(lines, mode="Inclusive")
        payload, report = P.invoice_payload(doc)
        assert payload["LineAmountTypes"] == "Inclusive"
        assert [li["LineAmount"] for li in payload["LineItems"]] == [10.0, 99.99]
        assert report.expected.total == doc.amount_total == D("109.99")
        assert report.expected.total_tax == doc.amount_tax and report.adjustment == 0
        validate("Invoice", payload)

    def test_inclusive_global_residue(self):
        lines = [line(u=a, mode="Inclusive") for a in ("1.01", "1.01", "1.01")]
        # per line 0.13 each = 0.39; global 3.03*15/115 = 0.395 -> 0.40; host total stays 3.03
        doc = document(lines, mode="Inclusive")
        doc.amount_tax, doc.amount_untaxed = D("0.40"), D("2.63")
        payload, report = P.invoice_payload(doc)
        assert report.adjustment == 0  # totals already equal; the tax split is fixed by the spread
        assert report.tax_spread == D("0.01")
        assert report.remaining == {"SubTotal": D("0.00"), "TotalTax": D("0.00"), "Total": D("0.00")}

    def test_notax(self, validate):
        lines = [line(u="12.5", mode="NoTax", tax_type="NONE", rate=None)]
        payload, report = P.invoice_payload(document(lines, mode="NoTax"))
        assert "TaxAmount" not in payload["LineItems"][0] and report.expected.total == D("12.50")
        validate("Invoice", payload)

    def test_more_than_4dp_unit_price_collapses(self, validate):
        payload, report = P.invoice_payload(document([line("Minutes", q="10", u="1.23456")]))
        li = payload["LineItems"][0]
        assert li["Quantity"] == 1.0 and li["UnitAmount"] == 12.35 and li["LineAmount"] == 12.35
        assert li["Description"] == "Minutes (10 x 1.23456)"
        assert report.collapsed_lines == [0]
        validate("Invoice", payload)
        assert_number_precision(payload)

    def test_more_than_4dp_quantity_and_discount_collapse(self):
        payload, report = P.invoice_payload(document([line("Hours", q="1.33333", u="30", disc="12.5")]))
        li = payload["LineItems"][0]
        # 1.33333 x 30 x 0.875 = 34.9999125 -> 35.00 ; discount 12.5 fits 2 dp but qty does not
        assert li["Quantity"] == 1.0 and li["UnitAmount"] == 35.0 and "DiscountRate" not in li
        assert "1.33333 x 30 less 12.5% discount" in li["Description"]

    def test_host_line_amount_differs_collapses_to_host(self):
        # host computed 12.34 where Xero would compute 12.35: send the host's amount
        payload, report = P.invoice_payload(document([line(q="10", u="1.2345", host_subtotal="12.34")]))
        li = payload["LineItems"][0]
        assert li["UnitAmount"] == 12.34 and li["Quantity"] == 1.0 and report.collapsed_lines == [0]
        assert report.expected.sub_total == D("12.34") and report.adjustment == 0

    def test_host_figures_absent_uses_xero_figures(self):
        l = docs.Line(description="x", quantity=D("2"), unit_price=D("5"), tax_type="OUTPUT", account_code="200")
        doc = document([l])
        payload, report = P.invoice_payload(doc)
        assert payload["LineItems"][0]["LineAmount"] == 10.0 and "TaxAmount" not in payload["LineItems"][0]
        assert report.adjustment == 0 and report.remaining == {}  # host totals not given

    def test_tracking_more_than_two_is_truncated_with_warning(self, validate):
        tr = [docs.Tracking("Campus", "Soho"), docs.Tracking("Region", "North"), docs.Tracking("Team", "A")]
        payload, report = P.invoice_payload(document([line(tracking=tr)]))
        assert len(payload["LineItems"][0]["Tracking"]) == 2 and "2 tracking" in report.warnings[0]
        validate("Invoice", payload)

    def test_empty_description_and_item_only(self):
        l1 = line("", item_code="DAYPASS", account_code="")
        l2 = line("", account_code="200")
        payload, _ = P.invoice_payload(document([l1, l2, docs.Line("", display_type=docs.LINE_NOTE)]))
        assert "Description" not in payload["LineItems"][0] and payload["LineItems"][0]["ItemCode"] == "DAYPASS"
        assert payload["LineItems"][1]["Description"] == "-"
        assert len(payload["LineItems"]) == 2  # an empty note is not sent

    def test_negative_line(self, validate):
        lines = [line(u="100"), line("Promo", u="-20")]
        payload, report = P.invoice_payload(document(lines))
        assert payload["LineItems"][1]["LineAmount"] == -20.0 and report.expected.total == D("92.00")
        validate("Invoice", payload)


class TestCreditNote:
    def test_shape_and_discount_folded(self, validate):
        doc = document([line("Refund desk", q="2", u="10", disc="10")], kind=docs.KIND_CREDIT_NOTE,
                       remote_id=CREDIT_ID)
        payload, report = P.credit_note_payload(doc)
        assert payload["Type"] == "ACCRECCREDIT" and payload["CreditNoteNumber"] == "RINV-0001"
        assert payload["CreditNoteID"] == CREDIT_ID
        assert "InvoiceNumber" not in payload and "DueDate" not in payload and "Url" not in payload
        li = payload["LineItems"][0]
        assert "DiscountRate" not in li and "DiscountAmount" not in li
        assert li["Quantity"] == 2.0 and li["UnitAmount"] == 9.0 and li["LineAmount"] == 18.0
        assert li["Description"] == "Refund desk (10 less 10% discount)"
        assert report.folded_discount_lines == [0] and report.expected.total == doc.amount_total
        validate("CreditNotes", P.request_body("credit_note", [payload]))

    def test_fold_not_exact_collapses_to_quantity_one(self, validate):
        doc = document([line("Desk", q="3", u="3.33", disc="7.5")], kind=docs.KIND_CREDIT_NOTE)
        payload, report = P.credit_note_payload(doc)
        li = payload["LineItems"][0]
        assert li["Quantity"] == 1.0 and li["UnitAmount"] == 9.24 and "DiscountRate" not in li
        assert li["Description"] == "Desk (3 x 3.33 less 7.5% discount)"
        assert report.collapsed_lines == [0] and report.expected.total == doc.amount_total
        validate("CreditNote", payload)

    def test_fold_exact_at_4dp(self):
        # 7 x 1.15 x 0.85 = 6.8425 -> 6.84 (host); folded unit 0.9775, 7 x 0.9775 = 6.8425 -> 6.84 too
        doc = document([line("x", q="7", u="1.15", disc="15")], kind=docs.KIND_CREDIT_NOTE)
        payload, report = P.credit_note_payload(doc)
        assert payload["LineItems"][0]["UnitAmount"] == 0.9775 and report.folded_discount_lines == [0]

    def test_document_payload_dispatch(self):
        cn = document([line()], kind=docs.KIND_CREDIT_NOTE)
        assert P.document_payload(cn)[0]["Type"] == "ACCRECCREDIT"
        assert P.document_payload(document([line()]))[0]["Type"] == "ACCREC"


class TestExpectedAndReconcile:
    def test_expected_totals_from_payload_and_rates(self):
        payload = {"LineAmountTypes": "Exclusive", "LineItems": [
            {"Description": "note"},
            {"Quantity": 2, "UnitAmount": 12.5, "TaxType": "OUTPUT"},
            {"LineAmount": 10, "TaxType": "OUTPUT", "TaxAmount": 1.49},
            {"LineAmount": 5, "TaxType": "MYSTERY"},
        ]}
        t = P.expected_totals(payload, {"OUTPUT": 15})
        assert (t.sub_total, t.total_tax, t.total) == (D("40.00"), D("5.24"), D("45.24"))
        assert t.unknown_tax_lines == [3] and not t.exact

    def test_reconcile_totals(self):
        doc = document([line(u=a) for a in ("25.06", "25.61", "25.63")], amount_tax="11.45")
        assert P.reconcile_totals(doc, {"SubTotal": 76.31, "TotalTax": 11.44, "Total": 87.75}) == [
            P.TotalsDifference("SubTotal", D("76.30"), D("76.31")),
            P.TotalsDifference("TotalTax", D("11.45"), D("11.44")),
        ]
        diffs = P.reconcile_totals(doc, {"SubTotal": "76.30", "TotalTax": "11.44", "Total": "87.74"})
        assert [d.field for d in diffs] == ["TotalTax", "Total"] and diffs[1].diff == D("0.01")
        assert "Xero 87.74, host 87.75" in str(diffs[1])
        assert P.reconcile_totals(doc, {"SubTotal": 76.3, "TotalTax": 11.45, "Total": 87.75}) == []
        assert P.reconcile_totals(doc, {}) == []


class TestPaymentsAndAllocations:
    def pay(self, **kw):
        base = dict(ref="account.payment,5", document_ref="account.move,12", document_kind=docs.KIND_INVOICE,
                    document_remote_id=INVOICE_ID, amount=D("115.005"), date=datetime.date(2026, 11, 5),
                    bank_account_code="090", reference="DD 123", currency_rate=D("0.75"))
        base.update(kw)
        return docs.Payment(**base)

    def test_invoice_payment(self, validate):
        payload = P.payment_payload(self.pay())
        assert payload == {"Invoice": {"InvoiceID": INVOICE_ID}, "Account": {"Code": "090"},
                           "Date": "2026-11-05", "Amount": 115.01, "Reference": "DD 123", "CurrencyRate": 0.75}
        validate("Payments", P.request_body("payment", [payload]))

    def test_refund_on_credit_note(self, validate):
        payload = P.payment_payload(self.pay(document_kind=docs.KIND_CREDIT_NOTE, document_remote_id=CREDIT_ID,
                                             reference="", currency_rate=None, amount=D("20")))
        assert payload == {"CreditNote": {"CreditNoteID": CREDIT_ID}, "Account": {"Code": "090"},
                           "Date": "2026-11-05", "Amount": 20.0}
        validate("Payment", payload)

    def test_refund_out_of_an_overpayment(self, validate):
        payload = P.payment_payload(self.pay(document_kind=docs.KIND_OVERPAYMENT, document_remote_id=CREDIT_ID,
                                             reference="PBNK1/2026/00003", currency_rate=None, amount=D("42.5")))
        assert payload == {"Overpayment": {"OverpaymentID": CREDIT_ID}, "Account": {"Code": "090"},
                           "Date": "2026-11-05", "Amount": 42.5, "Reference": "PBNK1/2026/00003"}
        validate("Payments", P.request_body("payment", [payload]))

    def test_bad_payments_refused(self):
        with pytest.raises(ValueError):
            P.payment_payload(self.pay(amount=D("0")))
        with pytest.raises(ValueError):
            P.payment_payload(self.pay(amount=D("-5")))
        with pytest.raises(ValueError):
            P.payment_payload(self.pay(document_remote_id=""))

    def test_allocation(self, validate):
        a = docs.Allocation(ref="a,1", credit_note_remote_id=CREDIT_ID, invoice_remote_id=INVOICE_ID,
                            amount=D("10.5"), date=datetime.date(2026, 11, 6))
        payload = P.allocation_payload(a)
        assert payload == {"Invoice": {"InvoiceID": INVOICE_ID}, "Amount": 10.5, "Date": "2026-11-06"}
        validate("Allocations", P.request_body("allocation", [payload]))
        with pytest.raises(ValueError):
            P.allocation_payload(docs.Allocation("a", CREDIT_ID, INVOICE_ID, D("0"), datetime.date(2026, 1, 1)))

    def test_status_and_delete_payloads(self, validate):
        assert P.status_payload(docs.KIND_INVOICE, INVOICE_ID, "VOIDED") == {"InvoiceID": INVOICE_ID,
                                                                             "Status": "VOIDED"}
        validate("Invoice", P.status_payload(docs.KIND_INVOICE, INVOICE_ID, "VOIDED"))
        validate("CreditNote", P.status_payload(docs.KIND_CREDIT_NOTE, CREDIT_ID, "DELETED"))
        validate("PaymentDelete", P.payment_delete_payload())


# --------------------------------------------------------------------------
# randomised: whatever the host's rounding, Xero's Total equals the host's
# --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_random_documents_match_host_totals(seed, validate):
    rng = random.Random(seed)
    mode = rng.choice(["Exclusive", "Inclusive", "NoTax"])
    kind = rng.choice([docs.KIND_INVOICE, docs.KIND_CREDIT_NOTE])
    rates = {"OUTPUT": D("15"), "OUTPUT2": D("12.5"), "ZERO": D("0")}
    lines, raw_tax = [], D(0)
    for i in range(rng.randint(1, 8)):
        tt = rng.choice(list(rates))
        r = rates[tt] if mode != "NoTax" else D(0)
        q = D(rng.choice(["1", "2", "3", "0.5", "1.25", "7", "0.3333", "10.12345"]))
        u = D(rng.choice(["25.06", "25.61", "1.01", "33.33", "0.0125", "199.999", "1.23456", "-5", "0"]))
        disc = D(rng.choice(["0", "0", "10", "7.5", "33.33"]))
        raw = q * u * (100 - disc) / 100
        if mode == "Inclusive":
            total = P.round_half_up(raw)
            raw_line_tax = total * r / (100 + r)
            tax = P.round_half_up(raw_line_tax)
            sub = total - tax
        else:
            sub = P.round_half_up(raw)
            raw_line_tax = sub * r / 100
            tax = P.round_half_up(raw_line_tax)
            total = sub + tax
        raw_tax += raw_line_tax
        lines.append(docs.Line(description=f"L{i}", quantity=q, unit_price=u, discount_percent=disc,
                               account_code="200", tax_type=tt, subtotal=sub, tax_amount=tax, total=total,
                               tax_rate=r if rng.random() < 0.7 else None))
    global_rounding = rng.random() < 0.5
    amount_tax = P.round_half_up(raw_tax) if global_rounding else sum((l.tax_amount for l in lines), D(0))
    if mode == "Inclusive":
        amount_total = sum((l.total for l in lines), D(0))
        amount_untaxed = amount_total - amount_tax
    else:
        amount_untaxed = sum((l.subtotal for l in lines), D(0))
        amount_total = amount_untaxed + amount_tax
    doc = docs.Document(ref="m,1", kind=kind, number="N1", date=datetime.date(2026, 1, 1), customer=customer(),
                        lines=lines, currency_code="NZD", line_amount_types=mode, amount_untaxed=amount_untaxed,
                        amount_tax=amount_tax, amount_total=amount_total, rounding_account_code="860")
    payload, report = P.document_payload(doc)
    assert report.expected.total == amount_total
    assert report.remaining["Total"] == 0
    assert report.expected.exact
    # the split between SubTotal and TotalTax differs only by what was in the tax
    assert report.remaining["SubTotal"] == -report.remaining["TotalTax"]
    # recompute independently from the wire payload (what Xero sees)
    wire = json.loads(json.dumps(payload))
    again = P.expected_totals(wire, rates)
    assert again.total == amount_total
    for li in wire["LineItems"]:
        if "Quantity" in li and "LineAmount" in li:
            assert P.xero_line_amount(li["Quantity"], li["UnitAmount"], li.get("DiscountRate", 0)) == \
                P.to_decimal(li["LineAmount"])
    if kind == docs.KIND_CREDIT_NOTE:
        assert "DiscountRate" not in json.dumps(payload)
    validate("CreditNote" if kind == docs.KIND_CREDIT_NOTE else "Invoice", payload)
    assert_number_precision(payload)


def test_due_date_before_the_invoice_date_is_sent_as_the_invoice_date():
    """Odoo leaves today as the due date of an invoice dated ahead without payment terms; Xero
    refuses a due date before the invoice date, so it is sent as due on the invoice date, said."""
    doc = document([line()], date=datetime.date(2026, 12, 4), due_date=datetime.date(2026, 12, 1))
    payload, report = P.invoice_payload(doc)
    assert payload["Date"] == "2026-12-04" and payload["DueDate"] == "2026-12-04"
    assert any("before the invoice date" in w for w in report.warnings)
    on_time, report = P.invoice_payload(document([line()]))
    assert on_time["DueDate"] == "2026-11-30" and not any("before the invoice date" in w for w in report.warnings)

"""Pre-flight checks against cached Xero reference data: one test (at least) per check."""
from __future__ import annotations

import copy
import datetime
from decimal import Decimal

import pytest

from coworks_xero.services import documents as docs
from coworks_xero.services.xero import preflight as PF

D = Decimal

REFERENCE = {
    "Organisations": [{"Name": "Demo", "BaseCurrency": "NZD",
                       "PeriodLockDate": "/Date(1780185600000+0000)/",  # 2026-05-31
                       "EndOfYearLockDate": "2026-03-31T00:00:00"}],
    "Accounts": [
        {"Code": "200", "Name": "Sales", "Type": "REVENUE", "Status": "ACTIVE", "Class": "REVENUE"},
        {"Code": "260", "Name": "Other Revenue", "Type": "OTHERINCOME", "Status": "ACTIVE"},
        {"Code": "476", "Name": "Old sales", "Type": "REVENUE", "Status": "ARCHIVED"},
        {"Code": "090", "Name": "Business Bank", "Type": "BANK", "Status": "ACTIVE", "CurrencyCode": "NZD"},
        {"Code": "091", "Name": "Card Clearing", "Type": "CURRENT", "Status": "ACTIVE",
         "EnablePaymentsToAccount": True},
        {"Code": "092", "Name": "USD Bank", "Type": "BANK", "Status": "ACTIVE", "CurrencyCode": "USD"},
        {"Code": "093", "Name": "Old bank", "Type": "BANK", "Status": "ARCHIVED"},
        {"Code": "610", "Name": "Accounts Receivable", "Type": "CURRENT", "Status": "ACTIVE",
         "SystemAccount": "DEBTORS"},
        {"Code": "800", "Name": "Deposits held", "Type": "CURRLIAB", "Status": "ACTIVE", "Class": "LIABILITY"},
        {"Code": "860", "Name": "Rounding", "Type": "CURRENT", "Status": "ACTIVE", "SystemAccount": "ROUNDING"},
        {"Code": "861", "Name": "Old rounding", "Type": "CURRENT", "Status": "ARCHIVED"},
    ],
    "Items": [
        {"Code": "DAYPASS", "Name": "Day pass", "IsSold": True, "SalesDetails": {"AccountCode": "200",
                                                                                 "TaxType": "OUTPUT"}},
        {"Code": "PLAN", "Name": "Plan", "IsSold": True},
        {"Code": "PAPER", "Name": "Paper", "IsSold": False, "IsPurchased": True},
        {"Code": "OLDACC", "Name": "x", "IsSold": True, "SalesDetails": {"AccountCode": "476"}},
    ],
    "TaxRates": [
        {"TaxType": "OUTPUT", "Name": "GST on Income", "Status": "ACTIVE", "CanApplyToRevenue": True,
         "EffectiveRate": 15},
        {"TaxType": "NONE", "Name": "No GST", "Status": "ACTIVE", "CanApplyToRevenue": True},
        {"TaxType": "INPUT", "Name": "GST on Expenses", "Status": "ACTIVE", "CanApplyToRevenue": False},
        {"TaxType": "OLDTAX", "Name": "Old rate", "Status": "ARCHIVED", "CanApplyToRevenue": True},
    ],
    "TrackingCategories": [
        {"Name": "Campus", "Status": "ACTIVE", "Options": [
            {"Name": "Soho", "Status": "ACTIVE"}, {"Name": "Old Street", "Status": "ARCHIVED"}]},
        {"Name": "Region", "Status": "ACTIVE", "Options": [{"Name": "North", "Status": "ACTIVE"}]},
        {"Name": "Legacy", "Status": "ARCHIVED", "Options": [{"Name": "A", "Status": "ACTIVE"}]},
        {"Name": "Team", "Status": "ACTIVE", "Options": [{"Name": "A", "Status": "ACTIVE"}]},
    ],
    "Currencies": [{"Code": "NZD"}, {"Code": "USD"}],
}


def line(desc="Day pass", **kw):
    kw.setdefault("account_code", "200")
    kw.setdefault("tax_type", "OUTPUT")
    kw.setdefault("mapping_source", "item kind 'Day pass'")
    return docs.Line(description=desc, quantity=D("1"), unit_price=D("10"), subtotal=D("10"),
                     tax_amount=D("1.5"), total=D("11.5"), **kw)


def document(lines=None, **kw):
    base = dict(ref="account.move,1", kind=docs.KIND_INVOICE, number="INV-0001", date=datetime.date(2026, 11, 2),
                customer=docs.Customer(ref="res.partner,1", name="ACME", remote_id="C1"),
                lines=lines if lines is not None else [line()], currency_code="NZD", rounding_account_code="860")
    base.update(kw)
    return docs.Document(**base)


def codes(problems):
    return [p.code for p in problems]


def only(problems, severity=PF.ERROR):
    return [p for p in problems if p.severity == severity]


def test_clean_document_has_no_problems():
    lines = [docs.Line("Members", display_type=docs.LINE_SECTION),
             line(tracking=[docs.Tracking("Campus", "Soho"), docs.Tracking("Region", "North")]),
             line("Overage", account_code="", item_code="DAYPASS"),
             line("Other", account_code="260", tax_type=""),
             docs.Line("note", display_type=docs.LINE_NOTE)]
    assert PF.check_document(document(lines), REFERENCE) == []
    assert PF.check(document(lines), PF.ReferenceData.from_dict(REFERENCE)) == []


class TestAccount:
    def test_archived_message_names_what_to_map(self):
        [p] = PF.check_document(document([line("Hot desk"), line(account_code="476")]), REFERENCE)
        assert p.message == ("Line 2 'Day pass': account 476 is archived in Xero — map item kind 'Day pass' "
                             "to an active revenue account (Xero > Mappings).")
        assert (p.code, p.line, p.field, p.value, p.severity) == ("account_archived", 2, "account", "476", "error")
        assert str(p) == p.message

    def test_missing(self):
        [p] = PF.check_document(document([line(account_code="999")]), REFERENCE)
        assert p.code == "account_missing" and "does not exist" in p.message and "refresh" in p.message

    def test_bank_and_system_accounts_refused(self):
        assert codes(PF.check_document(document([line(account_code="090")]), REFERENCE)) == ["account_bank"]
        [p] = PF.check_document(document([line(account_code="610")]), REFERENCE)
        assert p.code == "account_system" and "DEBTORS" in p.message

    def test_non_revenue_is_a_warning(self):
        [p] = PF.check_document(document([line(account_code="800")]), REFERENCE)
        assert p.code == "account_not_revenue" and p.severity == PF.WARNING and "CURRLIAB" in p.message

    def test_no_account_no_item(self):
        [p] = PF.check_document(document([line(account_code="")]), REFERENCE)
        assert p.code == "account_none" and p.severity == PF.ERROR and "item kind 'Day pass'" in p.message
        [p] = PF.check_document(document([line(account_code="")], status="DRAFT"), REFERENCE)
        assert p.severity == PF.WARNING and "before the draft is approved" in p.message

    def test_default_source_text(self):
        [p] = PF.check_document(document([line(account_code="476", mapping_source="")]), REFERENCE)
        assert "this line's product (or its item kind)" in p.message

    def test_item_without_sales_account(self):
        [p] = PF.check_document(document([line(account_code="", item_code="PLAN")]), REFERENCE)
        assert p.code == "account_none"

    def test_item_sales_account_archived(self):
        [p] = PF.check_document(document([line(account_code="", item_code="OLDACC")]), REFERENCE)
        assert p.code == "account_archived" and "sales account of item 'OLDACC'" in p.message


class TestItem:
    def test_missing(self):
        [p] = PF.check_document(document([line(item_code="NOPE")]), REFERENCE)
        assert p.code == "item_missing" and "'NOPE'" in p.message and "item kind 'Day pass'" in p.message

    def test_not_sold(self):
        [p] = PF.check_document(document([line(item_code="PAPER")]), REFERENCE)
        assert p.code == "item_not_sold" and "I sell this item" in p.message

    def test_code_longer_than_30(self):
        code = "X" * 31
        [p] = PF.check_document(document([line(item_code=code, account_code="")]), REFERENCE)
        assert p.code == "item_code_too_long" and "31 characters" in p.message and "30" in p.message
        assert PF.check_document(document([line(item_code="DAYPASS")]), REFERENCE) == []


class TestTax:
    @pytest.mark.parametrize("tax_type,code", [("GST99", "tax_missing"), ("OLDTAX", "tax_inactive"),
                                               ("INPUT", "tax_not_for_sales")])
    def test_tax_problems(self, tax_type, code):
        [p] = PF.check_document(document([line(tax_type=tax_type, tax_source="tax 'GST 15%'")]), REFERENCE)
        assert p.code == code and "map tax 'GST 15%'" in p.message and p.field == "tax"

    def test_archived_names_the_rate(self):
        [p] = PF.check_document(document([line(tax_type="OLDTAX")]), REFERENCE)
        assert "Old rate (OLDTAX) is archived" in p.message and "this line's tax" in p.message


class TestTracking:
    def tr(self, *pairs):
        return [docs.Tracking(c, o, source=f"campus '{o}'") for c, o in pairs]

    def test_more_than_two(self):
        ps = PF.check_document(document([line(tracking=self.tr(("Campus", "Soho"), ("Region", "North"),
                                                                ("Team", "A")))]), REFERENCE)
        assert codes(ps) == ["tracking_too_many"] and "3 tracking categories" in ps[0].message

    def test_duplicate_category(self):
        ps = PF.check_document(document([line(tracking=self.tr(("Campus", "Soho"), ("Campus", "Soho")))]),
                               REFERENCE)
        assert codes(ps) == ["tracking_duplicate"]

    @pytest.mark.parametrize("pair,code", [
        (("Floor", "1"), "tracking_category_missing"),
        (("Legacy", "A"), "tracking_category_inactive"),
        (("Campus", "Mars"), "tracking_option_missing"),
        (("Campus", "Old Street"), "tracking_option_inactive"),
    ])
    def test_category_and_option(self, pair, code):
        [p] = PF.check_document(document([line(tracking=self.tr(pair))]), REFERENCE)
        assert p.code == code and p.severity == PF.ERROR and f"campus '{pair[1]}'" in p.message

    def test_case_mismatch_warns(self):
        ps = PF.check_document(document([line(tracking=self.tr(("campus", "soho")))]), REFERENCE)
        assert codes(ps) == ["tracking_category_case", "tracking_option_case"]
        assert all(p.severity == PF.WARNING for p in ps)


class TestDocumentLevel:
    def test_currency_not_enabled(self):
        [p] = PF.check_document(document(currency_code="EUR", currency_rate=D("0.55")), REFERENCE)
        assert p.code == "currency_not_enabled" and "EUR" in p.message and "issue it in NZD" in p.message

    def test_base_currency_always_enabled(self):
        ref = copy.deepcopy(REFERENCE)
        ref["Currencies"] = []
        assert PF.check_document(document(), ref) == []

    def test_foreign_currency_without_rate_warns(self):
        [p] = PF.check_document(document(currency_code="USD"), REFERENCE)
        assert p.code == "currency_rate_missing" and p.severity == PF.WARNING
        assert PF.check_document(document(currency_code="USD", currency_rate=D("0.6")), REFERENCE) == []

    @pytest.mark.parametrize("date,label", [
        (datetime.date(2026, 5, 31), "period lock date (2026-05-31)"),  # on the lock date: locked
        (datetime.date(2026, 4, 1), "period lock date"),
        (datetime.date(2026, 3, 1), "end of year lock date (2026-03-31)"),
    ])
    def test_lock_dates(self, date, label):
        [p] = PF.check_document(document(date=date), REFERENCE)
        assert p.code == "lock_date" and label in p.message and "change the date" in p.message

    def test_after_lock_date_ok_and_no_lock_dates(self):
        assert PF.check_document(document(date=datetime.date(2026, 6, 1)), REFERENCE) == []
        ref = copy.deepcopy(REFERENCE)
        ref["Organisations"][0].pop("PeriodLockDate")
        ref["Organisations"][0].pop("EndOfYearLockDate")
        assert PF.check_document(document(date=datetime.date(2000, 1, 1)), ref) == []

    def test_rounding_account(self):
        [p] = PF.check_document(document(rounding_account_code="861"), REFERENCE)
        assert p.code == "rounding_account" and p.severity == PF.WARNING and "archived" in p.message
        [p] = PF.check_document(document(rounding_account_code="999"), REFERENCE)
        assert "does not exist" in p.message

    def test_credit_note_label(self):
        [p] = PF.check_document(document(kind=docs.KIND_CREDIT_NOTE, number="CN-1", currency_code="EUR"),
                                REFERENCE)
        assert p.message.startswith("Credit note CN-1 is in EUR")

    def test_several_problems_in_order(self):
        doc = document([line(account_code="476"), line("B", tax_type="INPUT")], date=datetime.date(2026, 1, 1))
        ps = PF.check_document(doc, REFERENCE)
        assert codes(ps) == ["lock_date", "account_archived", "tax_not_for_sales"]
        assert [p.line for p in ps] == [None, 1, 2]
        text = PF.format_problems(ps + [PF.Problem("x", "just a warning", PF.WARNING)])
        assert text.splitlines()[-1] == "Warning: just a warning" and len(PF.errors(ps)) == 3


class TestPayment:
    def pay(self, **kw):
        base = dict(ref="account.payment,1", document_ref="account.move,1", document_kind=docs.KIND_INVOICE,
                    document_remote_id="X1", amount=D("11.5"), date=datetime.date(2026, 11, 5),
                    bank_account_code="090", account_source="journal 'Bank'")
        base.update(kw)
        return docs.Payment(**base)

    def test_bank_and_payments_enabled_ok(self):
        assert PF.check_payment(self.pay(), REFERENCE, currency_code="NZD") == []
        assert PF.check_payment(self.pay(bank_account_code="091"), REFERENCE) == []
        assert PF.check(self.pay(), REFERENCE) == []

    @pytest.mark.parametrize("code,problem", [
        ("200", "payment_account_not_payable"), ("093", "payment_account_archived"),
        ("999", "payment_account_missing"), ("", "payment_account_none"),
    ])
    def test_account_problems(self, code, problem):
        [p] = PF.check_payment(self.pay(bank_account_code=code), REFERENCE)
        assert p.code == problem and "journal 'Bank'" in p.message

    def test_not_payable_message(self):
        [p] = PF.check_payment(self.pay(bank_account_code="200"), REFERENCE)
        assert "Enable payments to this account" in p.message

    def test_bank_currency_mismatch(self):
        [p] = PF.check_payment(self.pay(bank_account_code="092", currency_rate=D("0.6")), REFERENCE,
                               currency_code="AUD")
        assert p.code == "payment_account_currency"
        assert PF.check_payment(self.pay(bank_account_code="092", currency_rate=D("0.6")), REFERENCE,
                                currency_code="USD") == []

    def test_foreign_without_rate_warns(self):
        [p] = PF.check_payment(self.pay(), REFERENCE, currency_code="USD")
        assert p.code == "currency_rate_missing" and p.severity == PF.WARNING

    def test_amount_and_lock_date(self):
        ps = PF.check_payment(self.pay(amount=D("0"), date=datetime.date(2026, 2, 1),
                                       document_kind=docs.KIND_CREDIT_NOTE, reference="R-9"), REFERENCE)
        assert codes(ps) == ["amount", "lock_date"] and ps[0].message.startswith("Refund R-9")


class TestAllocation:
    def test_allocation(self):
        ok = docs.Allocation("a,1", "CN1", "X1", D("5"), datetime.date(2026, 11, 5))
        assert PF.check_allocation(ok, REFERENCE) == [] and PF.check(ok, REFERENCE) == []
        bad = docs.Allocation("a,1", "CN1", "X1", D("-1"), datetime.date(2026, 1, 5))
        assert codes(PF.check_allocation(bad, REFERENCE)) == ["amount", "lock_date"]


def test_reference_data_shapes():
    ref = PF.ReferenceData.from_dict({"Organisation": {"BaseCurrency": "gbp"}})
    assert ref.base_currency == "GBP" and ref.lock_dates() == []
    ref = PF.ReferenceData.from_dict({"Organisation": [{"BaseCurrency": "AUD"}]})
    assert ref.base_currency == "AUD"
    assert PF.ReferenceData.from_dict(ref) is ref
    with pytest.raises(TypeError):
        PF.check(object(), REFERENCE)

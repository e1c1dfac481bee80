"""services/xero/rules.py: Xero's rules about accounts and tax rates, asked by the forms, the
pre-flight and the payload builder alike; and the builder/provider honouring a tax mapping."""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from coworks_xero.services import documents as docs
from coworks_xero.services.xero import payloads as P
from coworks_xero.services.xero import preflight as PF
from coworks_xero.services.xero import rules as R
from coworks_xero.services.xero.provider import XeroProvider
from xero_emulator import seed

D = Decimal


def _reference():
    """The seeded AU organisation's reference data, as the provider receives it."""
    org = seed.build_org(seed.TENANT_AU)
    return {"Organisation": org["organisation"], "Accounts": org["accounts"], "TaxRates": org["tax_rates"],
            "TrackingCategories": org["tracking"], "Items": org["items"], "Currencies": org["currencies"]}


AU = {a["Code"]: a for a in _reference()["Accounts"]}


def _usable(use):
    return sorted(code for code, acc in AU.items() if R.account_usable(acc, use))


# --------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------
def test_each_use_offers_what_xero_accepts_and_never_system_accounts():
    # the seeded AU organisation: 090 bank, 091 card clearing (payments on), 092 USD bank,
    # 200/260/270 revenue, 476 archived revenue, 610 DEBTORS, 800 CREDITORS, 820 GST, 860 ROUNDING,
    # 429 expense
    assert _usable(R.USE_SALES) == ["200", "260", "270"]
    assert _usable(R.USE_PAYMENT) == ["090", "091", "092"]
    assert _usable(R.USE_WRITEOFF) == ["090", "091", "092"]
    assert _usable(R.USE_ROUNDING) == ["200", "260", "270", "429", "860"]


@pytest.mark.parametrize("code, use, words", [
    ("610", R.USE_SALES, ["DEBTORS", "system account", "revenue"]),
    ("800", R.USE_SALES, ["CREDITORS", "system account"]),
    ("820", R.USE_SALES, ["GST", "system account"]),
    ("860", R.USE_SALES, ["ROUNDING", "system account"]),
    ("090", R.USE_SALES, ["bank account"]),
    ("429", R.USE_SALES, ["EXPENSE", "not revenue"]),
    ("476", R.USE_SALES, ["archived"]),
    ("200", R.USE_PAYMENT, ["neither a BANK account nor one with payments enabled", "Enable payments"]),
    ("610", R.USE_PAYMENT, ["DEBTORS"]),
    ("820", R.USE_ROUNDING, ["GST", "ROUNDING account"]),
    ("090", R.USE_ROUNDING, ["bank account"]),
])
def test_a_wrong_choice_says_why(code, use, words):
    reason = R.account_refusal(AU[code], use)
    assert reason and reason.startswith(f"{code} "), reason
    for word in words:
        assert word in reason, reason


def test_what_xero_itself_refuses_is_told_apart_from_what_only_looks_wrong():
    assert R.check_account(AU["610"], R.USE_SALES).xero_refuses  # Xero rejects DEBTORS on a line
    assert R.check_account(AU["090"], R.USE_SALES).xero_refuses
    assert not R.check_account(AU["429"], R.USE_SALES).xero_refuses  # Xero takes it; it is no sale
    assert not R.check_account(AU["860"], R.USE_SALES).xero_refuses
    with pytest.raises(ValueError):
        R.check_account(AU["200"], "purchases")


def test_preflight_and_rules_give_one_answer():
    """A line on each account: the pre-flight refuses exactly what rules say Xero refuses, and
    warns about what rules refuse for sales lines only."""
    ref = _reference()
    for code, acc in AU.items():
        line = docs.Line(description="x", account_code=code, subtotal=D(1), total=D(1))
        doc = docs.Document(ref="m", kind=docs.KIND_INVOICE, number="N", date=datetime.date(2026, 11, 2),
                            customer=docs.Customer(ref="p", name="P"), lines=[line], currency_code="AUD",
                            line_amount_types=docs.TAX_NONE)
        problems = [p for p in PF.check_document(doc, ref) if p.field == "account"]
        refusal = R.check_account(acc, R.USE_SALES)
        if refusal is None:
            assert not problems, (code, problems)
        else:
            [p] = problems
            assert p.severity == (PF.ERROR if refusal.xero_refuses else PF.WARNING), (code, p)
        payment = docs.Payment(ref="p", document_ref="m", document_kind=docs.KIND_INVOICE, document_remote_id="x",
                               amount=D(1), date=datetime.date(2026, 11, 2), bank_account_code=code)
        refused = any(p.field == "account" and p.severity == PF.ERROR for p in PF.check_payment(payment, ref))
        assert refused == (not R.can_receive_payments(acc) or not R.is_active(acc)), code


# --------------------------------------------------------------------------
# tax rates
# --------------------------------------------------------------------------
def test_rates_compare_to_four_decimals_and_unknown_never_agrees():
    assert not R.rates_differ(10, D("10.0000"))
    assert not R.rates_differ(12.5, "12.5")
    assert R.rates_differ(15, 10)
    assert R.rates_differ(None, 10)  # a fixed Odoo tax has no rate to compare
    assert R.rates_differ(10, None)
    assert R.format_rate(D("12.5000")) == "12.5" and R.format_rate(10.0) == "10"
    assert R.xero_rate({"EffectiveRate": D("10.0000"), "DisplayTaxRate": D("9")}) == D("10")
    assert R.xero_rate({"DisplayTaxRate": "20"}) == D("20")


def test_no_tax_type_is_the_organisations_zero_revenue_rate():
    au = _reference()["TaxRates"]
    assert R.no_tax_type(au) == "NONE"
    without_none = [t for t in au if t["TaxType"] != "NONE"]
    assert R.no_tax_type(without_none) == "EXEMPTOUTPUT"
    assert R.no_tax_type([{"TaxType": "ZERO", "EffectiveRate": 0}, {"TaxType": "OUTPUT", "EffectiveRate": 10}]) == "ZERO"
    assert R.no_tax_type([]) == "NONE"


# --------------------------------------------------------------------------
# the builder and the provider
# --------------------------------------------------------------------------
def _line(amount, host_tax, rate=None, send=False):
    amount, host_tax = D(amount), D(host_tax)
    return docs.Line(description="Hot desk", quantity=D(1), unit_price=amount, account_code="200",
                     tax_type="OUTPUT", subtotal=amount, tax_amount=host_tax, total=amount + host_tax,
                     tax_rate=D(rate) if rate is not None else None, send_tax_amount=send,
                     tax_override_reason="tax 'VAT 15%' is 15 % in Odoo, OUTPUT 10 % in Xero" if send else "")


def _doc(lines, amount_tax=None):
    untaxed = sum((l.subtotal for l in lines), D(0))
    tax = sum((l.tax_amount for l in lines), D(0)) if amount_tax is None else D(amount_tax)
    return docs.Document(ref="account.move,1", kind=docs.KIND_INVOICE, number="INV-1", date=datetime.date(2026, 11, 2),
                         customer=docs.Customer(ref="p", name="P", remote_id="c-1"), lines=lines, currency_code="AUD",
                         amount_untaxed=untaxed, amount_tax=tax, amount_total=untaxed + tax,
                         rounding_account_code="860")


def test_rates_agree_xero_computes_the_tax_except_where_its_rounding_differs():
    # Xero's rounding guide: 25.06 / 25.61 / 25.63 at 15 %. The host rounds per line here, as
    # Xero does, except on the middle line (host 3.85, Xero 3.84): only that line carries its tax.
    lines = [_line("25.06", "3.76", rate=15), _line("25.61", "3.85", rate=15), _line("25.63", "3.84", rate=15)]
    payload, report = P.invoice_payload(_doc(lines))
    assert ["TaxAmount" in li for li in payload["LineItems"]] == [False, True, False]
    assert report.explicit_tax_lines == [1] and not report.tax_override_lines
    assert report.remaining == {"SubTotal": 0, "TotalTax": 0, "Total": 0}


def test_override_sends_every_host_tax_and_says_so():
    lines = [_line("100.00", "15.00", send=True), _line("25.06", "3.76", send=True)]
    payload, report = P.invoice_payload(_doc(lines))
    assert [li["TaxAmount"] for li in payload["LineItems"]] == [15.0, 3.76]
    assert report.tax_override_lines == [0, 1]
    assert any("15 % in Odoo, OUTPUT 10 % in Xero" in w and "override" in w for w in report.warnings)
    assert report.remaining == {"SubTotal": 0, "TotalTax": 0, "Total": 0}
    # the same lines with a rate that agrees send no override, and say nothing
    payload, report = P.invoice_payload(_doc([_line("100.00", "15.00", rate=15)]))
    assert "TaxAmount" not in payload["LineItems"][0] and not report.warnings


class _NoClient:
    tenant_id = "t"


def test_provider_reads_the_organisations_rates_and_no_tax_type():
    ref = _reference()
    provider = XeroProvider(_NoClient(), reference=ref)
    assert provider.tax_rates["OUTPUT"] == D("10") and provider.no_tax_type == "NONE"
    ref["TaxRates"] = [t for t in ref["TaxRates"] if t["TaxType"] != "NONE"]
    assert XeroProvider(_NoClient(), reference=ref).no_tax_type == "EXEMPTOUTPUT"
    assert XeroProvider(_NoClient()).no_tax_type == "NONE"
    assert XeroProvider(_NoClient(), reference=ref, no_tax_type="BASEXCLUDED").no_tax_type == "BASEXCLUDED"

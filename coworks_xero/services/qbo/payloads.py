"""documents.* → QuickBooks Online JSON bodies (shapes of python-quickbooks' object models: Customer,
Invoice, CreditMemo, SalesItemLine, DescriptionOnlyLine, TxnTaxDetail, Payment, RefundReceipt).

Odoo's per-line percent discount is sent as the line's net amount (Odoo's own rounded subtotal) with
the discount named in the description, not as QBO's DiscountLineDetail: QBO allows one discount per
document and spreads it over the lines in proportion (cents on the last line), which moves each tax
code's base and would not reproduce Odoo's per-line figures to the cent.
"""
from __future__ import annotations

import dataclasses
import re
from decimal import ROUND_HALF_UP, Decimal

from .. import documents

CENT = Decimal("0.01")
US_TAXABLE, US_NON_TAXABLE = "TAX", "NON"


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class PayloadError(Exception):
    """The document cannot be sent as it is (a mapping or a figure): a VALIDATION/MAPPING Result."""

    def __init__(self, kind, message, **details):
        super().__init__(message)
        self.kind, self.message, self.details = kind, message, details


@dataclasses.dataclass
class CompanySetup:
    """What a document body needs to know of the company: US sales tax (one transaction code over
    TAX/NON lines) or codes per line (UK VAT and elsewhere); ``rates``: TaxCode Id → its component
    rates in percent (QBO rounds each once); ``class_ids``: the active Classes by name."""

    us: bool
    rates: dict
    class_ids: dict = dataclasses.field(default_factory=dict)  # Class name (lower) → Id


def ref(value, name=None):
    out = {"value": str(value)}
    if name:
        out["name"] = name
    return out


# ---------------------------------------------------------------------------- customer

def customer_body(customer: documents.Customer, display_name=None) -> dict:
    body = {"DisplayName": (display_name or customer.name)[:500]}
    if customer.email:
        body["PrimaryEmailAddr"] = {"Address": customer.email}
    if customer.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": customer.phone}
    a = customer.address
    bill = {k: v for k, v in (("Line1", a.street), ("Line2", a.street2), ("City", a.city),
                              ("PostalCode", a.zip), ("CountrySubDivisionCode", a.state),
                              ("Country", a.country_code)) if v}
    if bill:
        body["BillAddr"] = bill
    if customer.currency_code:
        body["CurrencyRef"] = ref(customer.currency_code)
    return body


def unique_display_name(name, taken_names, customer: documents.Customer):
    """``name`` unless another customer holds it (QBO's DisplayName is unique, case and spaces
    ignored): then suffixed with our own key, which no other customer has."""
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    if norm(name) not in {norm(t) for t in taken_names}:
        return name
    return f"{name} ({customer.contact_number or customer.ref})"


# ---------------------------------------------------------------------------- currencies
# QuickBooks keeps one currency per customer, fixed when the customer is made. A document in another
# currency than its customer's goes to a second QuickBooks customer, "<name> (<CUR>)", whose Notes name
# the Odoo customer's own QuickBooks customer (HOME_MARK), so reads map it back.
HOME_MARK = "coworks:home-customer="
_HOME_RE = re.compile(re.escape(HOME_MARK) + r"(\w+)")
EXCHANGE_RATE_DP = Decimal("0.000001")


def currency_customer_name(display_name, currency):
    return f"{display_name} ({currency})"[:500]


def home_customer_of(row) -> str:
    """The QuickBooks id of the customer a currency customer stands for ('' for another customer)."""
    found = _HOME_RE.search(str((row or {}).get("Notes") or ""))
    return found.group(1) if found else ""


def currency_customer_body(home: dict, currency, display_name) -> dict:
    """A copy of the QuickBooks customer ``home`` (its details, not its name) in ``currency``."""
    body = {k: home[k] for k in ("PrimaryEmailAddr", "PrimaryPhone", "Mobile", "BillAddr", "ShipAddr",
                                 "CompanyName", "GivenName", "FamilyName") if home.get(k)}
    body.update(DisplayName=display_name, CurrencyRef=ref(currency),
                Notes=f"Invoices in {currency} of customer {home.get('DisplayName', '')} "
                      f"({HOME_MARK}{home['Id']}): QuickBooks keeps one currency per customer.")
    return body


def exchange_rate(currency_rate) -> Decimal | None:
    """Odoo's rate (units of the document's currency per one home unit) as QuickBooks' ExchangeRate
    (home units per one unit of the document's currency)."""
    if currency_rate is None or Decimal(currency_rate) <= 0:
        return None
    return (Decimal(1) / Decimal(currency_rate)).quantize(EXCHANGE_RATE_DP, rounding=ROUND_HALF_UP)


def with_currency(body, currency="", currency_rate=None, rate=None) -> dict:
    """``body`` in ``currency`` (none: the customer's, which is the home one): CurrencyRef and the
    ExchangeRate from Odoo's ``currency_rate`` (or QuickBooks' own ``rate`` as it is)."""
    if currency:
        body["CurrencyRef"] = ref(currency)
        rate = exchange_rate(currency_rate) if currency_rate is not None else rate
        if rate is not None:
            body["ExchangeRate"] = rate
    return body


# ---------------------------------------------------------------------------- invoice / credit memo

def _line_amounts(line: documents.Line):
    """(Amount, Qty, UnitPrice or None): the amount is Odoo's rounded subtotal; the unit price is the
    net one when Qty × it rounds back to that amount (QBO checks it: 6070), else left out."""
    # the host's rounded subtotal is the truth; computed only when the host gave none
    amount = money(line.subtotal) if line.subtotal else money(
        line.quantity * line.unit_price * (100 - line.discount_percent) / 100)
    qty = Decimal(line.quantity)
    if not line.discount_percent:
        price = Decimal(line.unit_price)
        if money(qty * price) == amount:
            return amount, qty, price
    if qty:
        net = (amount / qty).quantize(Decimal("0.0000001"), rounding=ROUND_HALF_UP)
        if money(qty * net) == amount:
            return amount, qty, net.normalize()
    return amount, qty, None


def _description(line: documents.Line):
    text = line.description or ""
    if line.discount_percent:
        gross = money(line.quantity * line.unit_price)
        text = f"{text} ({line.discount_percent.normalize():f}% discount on {gross})".strip()
    return text[:4000]


def document_body(doc: documents.Document, customer_id, company: CompanySetup) -> dict:
    """Invoice / CreditMemo body, with the totals it will have checked against Odoo's first."""
    lines, taxed = [], {}  # taxed: line TaxCode Id → base (codes per line)
    us_code, us_taxable = None, Decimal(0)  # US: the one transaction tax code and its taxable base
    for n, line in enumerate(doc.lines, 1):
        if line.display_type in documents.TEXT_LINES:
            if line.description:
                lines.append({"DetailType": "DescriptionOnly", "Description": line.description[:4000],
                              "DescriptionLineDetail": {}})
            continue
        if not line.item_code:
            raise PayloadError("mapping", f"Line {n} ('{line.description}') has no QuickBooks item: map "
                               f"{line.mapping_source or 'its product'} to a QuickBooks Item.", line=n)
        amount, qty, price = _line_amounts(line)
        detail = {"ItemRef": ref(line.item_code), "Qty": qty}
        if price is not None:
            detail["UnitPrice"] = price
        code = line.tax_type or ""
        if company.us:
            if code and code not in (US_NON_TAXABLE,):
                if code != US_TAXABLE:
                    if us_code and us_code != code:
                        raise PayloadError("validation", "QuickBooks US sales tax takes one tax code per "
                                           f"document; this one has {us_code} and {code}.")
                    us_code = code
                detail["TaxCodeRef"] = ref(US_TAXABLE)
                us_taxable += amount
            else:
                detail["TaxCodeRef"] = ref(US_NON_TAXABLE)
        else:
            if not code:
                raise PayloadError("mapping", f"Line {n} ('{line.description}') has no QuickBooks VAT code: map "
                                   f"{line.tax_source or 'its tax'} to a QuickBooks TaxCode.", line=n)
            if code not in company.rates:
                raise PayloadError("mapping", f"Line {n}: tax code {code} is not a QuickBooks TaxCode of this "
                                   f"company (mapped from {line.tax_source or 'its tax'}).", line=n)
            detail["TaxCodeRef"] = ref(code)
            taxed[code] = taxed.get(code, Decimal(0)) + amount
        if line.tracking:
            name = line.tracking[0].option
            class_id = company.class_ids.get(name.lower())
            if not class_id:
                raise PayloadError("mapping", f"Line {n}: '{name}' is not an active QuickBooks Class "
                                   f"(mapped from {line.tracking[0].source or 'its analytic'}).", line=n)
            detail["ClassRef"] = ref(class_id)
        lines.append({"DetailType": "SalesItemLineDetail", "Amount": amount, "Description": _description(line),
                      "SalesItemLineDetail": detail})
    if not any(li["DetailType"] == "SalesItemLineDetail" for li in lines):
        raise PayloadError("validation", "QuickBooks needs at least one product line on a document.")
    body = {"CustomerRef": ref(customer_id), "DocNumber": (doc.number or "")[:21], "TxnDate": doc.date.isoformat(),
            "Line": lines}
    if doc.due_date and doc.kind == documents.KIND_INVOICE:
        # Odoo lets a due date precede the invoice date (an invoice dated ahead, no payment terms);
        # QuickBooks refuses it (6000): such an invoice is due on its date
        body["DueDate"] = max(doc.due_date, doc.date).isoformat()
    if doc.reference:
        body["PrivateNote"] = doc.reference[:4000]
    subtotal = money(sum((li["Amount"] for li in lines if "Amount" in li), Decimal(0)))
    override = any(li.send_tax_amount for li in doc.lines)
    if company.us:
        if us_code and us_code not in company.rates:
            raise PayloadError("mapping", f"Tax code {us_code} is not a QuickBooks sales tax code of this company.")
        if us_code:
            body["TxnTaxDetail"] = {"TxnTaxCodeRef": ref(us_code)}
        elif us_taxable and doc.amount_tax:
            raise PayloadError("mapping", "The document is taxed but its tax maps to no QuickBooks sales tax "
                               "code (a combined rate such as 'NYC combined').")
        # transaction-level rounding: each component rate on the taxable base, rounded once
        computed_tax = sum((money(us_taxable * r / 100) for r in company.rates.get(us_code, ())), Decimal(0))
    else:
        computed_tax = sum((money(base * r / 100) for code, base in taxed.items() for r in company.rates[code]),
                           Decimal(0))
    if override:
        # the host's tax is sent as it is (its rate and QBO's differ on purpose): QBO takes TotalTax
        body.setdefault("TxnTaxDetail", {})["TotalTax"] = money(doc.amount_tax)
        computed_tax = money(doc.amount_tax)
    total = money(subtotal + computed_tax)
    if total != money(doc.amount_total):
        raise PayloadError("validation", f"QuickBooks would total {doc.number} at {total} "
                           f"(net {subtotal}, tax {computed_tax}) where Odoo has {money(doc.amount_total)} "
                           f"(net {money(doc.amount_untaxed)}, tax {money(doc.amount_tax)}).",
                           qbo_total=str(total), odoo_total=str(money(doc.amount_total)))
    return body


# ---------------------------------------------------------------------------- payments

def payment_body(customer_id, amount, date, links, bank_account_id="", reference="", total=None) -> dict:
    """``links``: [(TxnType 'Invoice'|'CreditMemo', TxnId, amount)]. ``total`` defaults to ``amount``."""
    body = {"CustomerRef": ref(customer_id), "TotalAmt": money(amount if total is None else total),
            "TxnDate": date.isoformat(), "Line": payment_lines(links)}
    if bank_account_id:
        body["DepositToAccountRef"] = ref(bank_account_id)
    if reference:
        body["PaymentRefNum"] = reference[:21]
    return body


def payment_lines(links) -> list:
    """A Payment's lines: ``links`` [(TxnType, TxnId, amount)], one line each."""
    return [{"Amount": money(a), "LinkedTxn": [{"TxnId": str(tid), "TxnType": ttype}]} for ttype, tid, a in links]


def refund_expense_body(customer_id, amount, date, bank_account_id, receivable_account_id, reference="",
                        memo="") -> dict:
    """Money paid back to a customer against a credit memo: an expense from the bank whose line goes to
    Accounts Receivable for that customer. A Payment of 0 then links it to the credit memo
    (``payment_body`` with ("Expense", id) and ("CreditMemo", id)), which uses the credit up; a Refund
    Receipt would be a second sale and leave the credit open."""
    body = {"PaymentType": "Cash", "AccountRef": ref(bank_account_id),
            "EntityRef": {"value": str(customer_id), "type": "Customer"}, "TxnDate": date.isoformat(),
            "Line": [{"Amount": money(amount), "DetailType": "AccountBasedExpenseLineDetail",
                      "Description": memo[:4000],
                      "AccountBasedExpenseLineDetail": {"AccountRef": ref(receivable_account_id)}}]}
    if reference:
        body["DocNumber"] = reference[:21]
    return body

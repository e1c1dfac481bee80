"""Pre-flight: check a document against cached Xero reference data before sending.

Pure function of a ``documents.*`` object and the reference data as Xero
returns it (plain dicts of Accounts, Items, TaxRates, TrackingCategories with
Options, Currencies, Organisation). Returns a list of :class:`Problem` s, each
one readable sentence naming what to map or fix, e.g.::

    Line 2 'Day pass': account 476 is archived in Xero — map item kind 'Day pass'
    to an active revenue account (Xero > Mappings).

``severity`` "error" = Xero would refuse the document (do not send; the job
waits for a fix and a Retry); "warning" = Xero would accept it but something
looks wrong (shown, not blocking).

Checks
------
document   currency enabled (or the base currency); date after the period
           and end-of-year lock dates; foreign currency without a rate
           (warning); rounding account exists and is active (warning)
line       account exists, ACTIVE, usable on a sales line (not BANK, not a
           system account such as DEBTORS/GST; non-revenue types warn);
           item code <= 30 chars, exists, IsSold; an account from the line or
           the item's sales details (required to approve); tax type exists,
           ACTIVE, CanApplyToRevenue; <= 2 tracking categories, no category
           twice; category and option exist and are ACTIVE
payment    account exists, ACTIVE, type BANK or EnablePaymentsToAccount;
           bank account currency matches; date after lock dates; amount > 0;
           foreign currency without rate (warning)
allocation date after lock dates; amount > 0

Lock dates: Xero refuses changes "on and before" a lock date. Both
``PeriodLockDate`` (advisers may still post) and ``EndOfYearLockDate`` are
checked, since the connected user need not be an adviser.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Iterable, Mapping

from .. import documents as docs
from . import rules
from .payloads import MAX_ITEM_CODE, MAX_TRACKING_PER_LINE, parse_xero_date, to_decimal

ERROR = "error"
WARNING = "warning"

# Kept for importers; the rules themselves live in rules.py.
REVENUE_TYPES = rules.REVENUE_TYPES
FORBIDDEN_SYSTEM_ACCOUNTS = rules.LINE_REFUSED_SYSTEM_ACCOUNTS
MAPPINGS = "(Xero > Mappings)"


@dataclasses.dataclass(frozen=True)
class Problem:
    code: str  # stable identifier, e.g. "account_archived"
    message: str  # one readable sentence: what is wrong and what to map or fix
    severity: str = ERROR
    line: int | None = None  # 1-based position in the document's lines
    field: str = ""  # "account", "item", "tax", "tracking", "currency", "date", ...
    value: str = ""  # the offending value

    def __str__(self) -> str:
        return self.message


def _status(record: Mapping) -> str:
    return (record.get("Status") or "ACTIVE").upper()


class ReferenceData:
    """Indexes over the cached reference data (plain Xero dicts)."""

    def __init__(
        self,
        accounts: Iterable[Mapping] = (),
        items: Iterable[Mapping] = (),
        tax_rates: Iterable[Mapping] = (),
        tracking_categories: Iterable[Mapping] = (),
        currencies: Iterable[Mapping] = (),
        organisation: Mapping | None = None,
    ):
        self.accounts = {str(a.get("Code")).strip(): a for a in accounts if a.get("Code") not in (None, "")}
        self.items = {str(i.get("Code")).strip(): i for i in items if i.get("Code")}
        self.tax_rates = {str(t.get("TaxType")).strip(): t for t in tax_rates if t.get("TaxType")}
        self.tracking = {str(c.get("Name") or "").strip().casefold(): c for c in tracking_categories if c.get("Name")}
        self.currencies = {str(c.get("Code") or "").upper() for c in currencies if c.get("Code")}
        self.organisation = dict(organisation or {})

    @classmethod
    def from_dict(cls, data: "Mapping | ReferenceData") -> "ReferenceData":
        """From ``{"Accounts": [...], "Items": [...], "TaxRates": [...], "TrackingCategories": [...],
        "Currencies": [...], "Organisation": {...}}`` (``"Organisations": [{...}]`` also accepted)."""
        if isinstance(data, ReferenceData):
            return data
        org = data.get("Organisation")
        if org is None:
            orgs = data.get("Organisations") or []
            org = orgs[0] if orgs else {}
        elif isinstance(org, list):
            org = org[0] if org else {}
        return cls(
            accounts=data.get("Accounts") or (),
            items=data.get("Items") or (),
            tax_rates=data.get("TaxRates") or (),
            tracking_categories=data.get("TrackingCategories") or (),
            currencies=data.get("Currencies") or (),
            organisation=org,
        )

    @property
    def base_currency(self) -> str:
        return (self.organisation.get("BaseCurrency") or "").upper()

    def lock_dates(self) -> list[tuple[str, datetime.date]]:
        out = []
        for key, label in (("EndOfYearLockDate", "end of year lock date"), ("PeriodLockDate", "period lock date")):
            d = parse_xero_date(self.organisation.get(key))
            if d:
                out.append((label, d))
        return out


def _ref(reference: "Mapping | ReferenceData") -> ReferenceData:
    return ReferenceData.from_dict(reference)


def _line_label(index: int, line: docs.Line) -> str:
    desc = " ".join((line.description or "").split())
    if len(desc) > 40:
        desc = desc[:37] + "..."
    return f"Line {index} '{desc}'" if desc else f"Line {index}"


def _source(line: docs.Line) -> str:
    return line.mapping_source or "this line's product (or its item kind)"


def _lock_problems(ref: ReferenceData, date: datetime.date | None, what: str) -> list[Problem]:
    if not date:
        return []
    out = []
    for label, lock in ref.lock_dates():
        if date <= lock:
            out.append(Problem(
                "lock_date",
                f"{what} is dated {date.isoformat()}, on or before the Xero {label} "
                f"({lock.isoformat()}) — Xero refuses it: change the date to after {lock.isoformat()}, or ask the "
                f"accountant to move the lock date in Xero (Settings > Advanced > Financial settings).",
                field="date", value=date.isoformat()))
            break  # one lock-date problem is enough
    return out


def _currency_problems(ref: ReferenceData, code: str, rate: Any, what: str) -> list[Problem]:
    out = []
    code = (code or "").upper()
    base = ref.base_currency
    if not code:
        return out
    if code != base and code not in ref.currencies:
        out.append(Problem(
            "currency_not_enabled",
            f"{what} is in {code}, which is not enabled in Xero — add {code} in Xero (Settings > Currencies; the "
            f"plan must include multi-currency), then refresh the Xero reference data"
            + (f", or issue it in {base}." if base else "."),
            field="currency", value=code))
    elif base and code != base and (rate is None or to_decimal(rate) <= 0):
        out.append(Problem(
            "currency_rate_missing",
            f"{what} is in {code} (base {base}) without an exchange rate — Xero will use its own daily rate, "
            "so amounts in the base currency may differ from the host's.",
            WARNING, field="currency", value=code))
    return out


def _account_problems(ref: ReferenceData, code: str, where: str, line_no: int | None, source: str,
                      via_item: str = "") -> list[Problem]:
    code = (code or "").strip()
    acct = ref.accounts.get(code)
    origin = f" (the sales account of item '{via_item}')" if via_item else ""
    fix_target = f"item '{via_item}' in Xero, or map {source} to another account/item {MAPPINGS}" if via_item \
        else f"map {source} to an active revenue account {MAPPINGS}"
    if acct is None:
        return [Problem("account_missing",
                        f"{where}: account {code}{origin} does not exist in Xero — {fix_target}, or refresh the "
                        "Xero reference data if it was just created.",
                        line=line_no, field="account", value=code)]
    refusal = rules.check_account(acct, rules.USE_SALES)
    if refusal is None:
        return []
    severity = ERROR if refusal.xero_refuses else WARNING
    acct_type = (acct.get("Type") or "").upper()
    system = rules.system_account(acct)
    if refusal.code == "inactive":
        return [Problem("account_archived",
                        f"{where}: account {code}{origin} is {_status(acct).lower()} in Xero — {fix_target}.",
                        line=line_no, field="account", value=code)]
    if refusal.code == "bank":
        return [Problem("account_bank",
                        f"{where}: account {code}{origin} is a bank account and cannot be used on a sales line — "
                        f"{fix_target}.", line=line_no, field="account", value=code)]
    if refusal.code == "system":
        return [Problem("account_system",
                        f"{where}: account {code}{origin} is Xero's {system} system account and cannot be used on "
                        f"a sales line — {fix_target}.", severity, line=line_no, field="account", value=code)]
    return [Problem("account_not_revenue",
                    f"{where}: account {code}{origin} is a {acct_type or 'non-revenue'} account, not revenue — "
                    f"check the mapping of {source} {MAPPINGS}.", severity,
                    line=line_no, field="account", value=code)]


def _item_problems(ref: ReferenceData, line: docs.Line, where: str, line_no: int) -> tuple[list[Problem], Mapping | None]:
    code = line.item_code.strip()
    source = _source(line)
    if len(code) > MAX_ITEM_CODE:
        return [Problem("item_code_too_long",
                        f"{where}: item code '{code}' has {len(code)} characters; Xero allows {MAX_ITEM_CODE} — map "
                        f"{source} to a shorter Xero item code {MAPPINGS}.",
                        line=line_no, field="item", value=code)], None
    item = ref.items.get(code)
    if item is None:
        return [Problem("item_missing",
                        f"{where}: item '{code}' does not exist in Xero — create it in Xero (Business > Products "
                        f"and services) or map {source} to an existing item {MAPPINGS}, then refresh the Xero "
                        "reference data.", line=line_no, field="item", value=code)], None
    if item.get("IsSold") is False:
        return [Problem("item_not_sold",
                        f"{where}: item '{code}' is not sold in Xero (purchases only) — tick 'I sell this item' on "
                        f"it in Xero, or map {source} to another item {MAPPINGS}.",
                        line=line_no, field="item", value=code)], item
    return [], item


def _tax_problems(ref: ReferenceData, line: docs.Line, where: str, line_no: int) -> list[Problem]:
    tax_type = line.tax_type.strip()
    source = line.tax_source or "this line's tax"
    rate = ref.tax_rates.get(tax_type)
    if rate is None:
        return [Problem("tax_missing",
                        f"{where}: tax rate {tax_type} does not exist in Xero — map {source} to an active Xero tax "
                        f"rate {MAPPINGS}.", line=line_no, field="tax", value=tax_type)]
    status = _status(rate)
    name = rate.get("Name") or tax_type
    if status != "ACTIVE":
        return [Problem("tax_inactive",
                        f"{where}: tax rate {name} ({tax_type}) is {status.lower()} in Xero — map {source} to an "
                        f"active Xero tax rate {MAPPINGS}.", line=line_no, field="tax", value=tax_type)]
    if rate.get("CanApplyToRevenue") is False:
        return [Problem("tax_not_for_sales",
                        f"{where}: tax rate {name} ({tax_type}) cannot be used on sales in Xero — map {source} to a "
                        f"sales tax rate {MAPPINGS}.", line=line_no, field="tax", value=tax_type)]
    return []


def _tracking_problems(ref: ReferenceData, line: docs.Line, where: str, line_no: int) -> list[Problem]:
    out = []
    tracking = [t for t in line.tracking if t.category or t.option]
    names = [t.category for t in tracking]
    if len(tracking) > MAX_TRACKING_PER_LINE:
        out.append(Problem("tracking_too_many",
                           f"{where}: {len(tracking)} tracking categories ({', '.join(names)}); Xero allows "
                           f"{MAX_TRACKING_PER_LINE} per line — map tracking for at most "
                           f"{MAX_TRACKING_PER_LINE} categories {MAPPINGS}.",
                           line=line_no, field="tracking", value=", ".join(names)))
    seen = set()
    for t in tracking:
        source = t.source or f"option '{t.option}'"
        key = (t.category or "").strip().casefold()
        if key in seen:
            out.append(Problem("tracking_duplicate",
                               f"{where}: tracking category '{t.category}' is set twice — keep one option per "
                               f"category {MAPPINGS}.", line=line_no, field="tracking", value=t.category))
            continue
        seen.add(key)
        cat = ref.tracking.get(key)
        if cat is None:
            out.append(Problem("tracking_category_missing",
                               f"{where}: tracking category '{t.category}' does not exist in Xero — create it in "
                               f"Xero (Settings > Tracking categories) or fix the mapping of {source} {MAPPINGS}.",
                               line=line_no, field="tracking", value=t.category))
            continue
        cat_name = cat.get("Name") or t.category
        if _status(cat) != "ACTIVE":
            out.append(Problem("tracking_category_inactive",
                               f"{where}: tracking category '{cat_name}' is {_status(cat).lower()} in Xero — restore "
                               f"it in Xero or fix the mapping of {source} {MAPPINGS}.",
                               line=line_no, field="tracking", value=t.category))
            continue
        if cat_name != t.category:
            out.append(Problem("tracking_category_case",
                               f"{where}: tracking category is named '{cat_name}' in Xero, not '{t.category}' — "
                               f"fix the spelling in the mapping of {source} {MAPPINGS}.", WARNING,
                               line=line_no, field="tracking", value=t.category))
        options = {str(o.get("Name") or "").strip().casefold(): o for o in cat.get("Options") or []}
        opt = options.get((t.option or "").strip().casefold())
        if opt is None:
            out.append(Problem("tracking_option_missing",
                               f"{where}: option '{t.option}' of tracking category '{cat_name}' does not exist in "
                               f"Xero — add it in Xero (Settings > Tracking categories) or map {source} to an "
                               f"existing option {MAPPINGS}.", line=line_no, field="tracking", value=t.option))
        elif _status(opt) != "ACTIVE":
            out.append(Problem("tracking_option_inactive",
                               f"{where}: option '{opt.get('Name')}' of tracking category '{cat_name}' is "
                               f"{_status(opt).lower()} in Xero — restore it in Xero or map {source} to an active "
                               f"option {MAPPINGS}.", line=line_no, field="tracking", value=t.option))
        elif (opt.get("Name") or "") != t.option:
            out.append(Problem("tracking_option_case",
                               f"{where}: tracking option is named '{opt.get('Name')}' in Xero, not '{t.option}' — "
                               f"fix the spelling in the mapping of {source} {MAPPINGS}.", WARNING,
                               line=line_no, field="tracking", value=t.option))
    return out


def check_document(doc: docs.Document, reference: "Mapping | ReferenceData") -> list[Problem]:
    """Problems that would make Xero refuse (errors) or misfile (warnings) an invoice/credit note."""
    ref = _ref(reference)
    noun = "Credit note" if doc.kind == docs.KIND_CREDIT_NOTE else "Invoice"
    what = f"{noun} {doc.number}".strip()
    out: list[Problem] = []
    out += _currency_problems(ref, doc.currency_code, doc.currency_rate, what)
    out += _lock_problems(ref, doc.date, what)
    if doc.rounding_account_code:
        acct = ref.accounts.get(doc.rounding_account_code.strip())
        if acct is None or _status(acct) != "ACTIVE":
            state = "does not exist" if acct is None else f"is {_status(acct).lower()}"
            out.append(Problem(
                "rounding_account",
                f"{what}: the rounding account {doc.rounding_account_code} {state} in Xero — set the organisation's "
                f"ROUNDING account (usually 860) {MAPPINGS}; it is needed when totals differ by a cent.",
                WARNING, field="account", value=doc.rounding_account_code))
    approving = (doc.status or "AUTHORISED").upper() in ("AUTHORISED", "SUBMITTED")
    for index, line in enumerate(doc.lines, start=1):
        if line.display_type != docs.LINE_PRODUCT:
            continue
        where = _line_label(index, line)
        item = None
        if line.item_code.strip():
            problems, item = _item_problems(ref, line, where, index)
            out += problems
        if line.account_code.strip():
            out += _account_problems(ref, line.account_code, where, index, _source(line))
        elif item is not None and ((item.get("SalesDetails") or {}).get("AccountCode") or "").strip():
            out += _account_problems(ref, item["SalesDetails"]["AccountCode"], where, index, _source(line),
                                     via_item=line.item_code.strip())
        elif item is None and line.item_code.strip():
            pass  # the item problem already says what to fix
        else:
            out.append(Problem(
                "account_none",
                f"{where}: no Xero account — map {_source(line)} to a revenue account or to a Xero item with a "
                f"sales account {MAPPINGS}." + ("" if approving else " (Needed before the draft is approved.)"),
                ERROR if approving else WARNING, line=index, field="account"))
        if line.tax_type.strip():
            out += _tax_problems(ref, line, where, index)
        out += _tracking_problems(ref, line, where, index)
    return out


def check_payment(payment: docs.Payment, reference: "Mapping | ReferenceData", currency_code: str = "") -> list[Problem]:
    """Problems with a payment (receipt on an invoice, refund on a credit note).

    ``currency_code``: the document's currency, to check the bank account's.
    """
    ref = _ref(reference)
    what = {docs.KIND_CREDIT_NOTE: "Refund", docs.KIND_OVERPAYMENT: "Refund of customer credit"}.get(
        payment.document_kind, "Payment")
    what = f"{what} {payment.reference}".strip() if payment.reference else what
    source = payment.account_source or "the payment journal"
    out: list[Problem] = []
    if to_decimal(payment.amount) <= 0:
        out.append(Problem("amount", f"{what}: amount {payment.amount} is not positive — Xero takes only positive "
                                     "payment amounts.", field="amount", value=str(payment.amount)))
    code = (payment.bank_account_code or "").strip()
    acct = ref.accounts.get(code) if code else None
    if not code:
        out.append(Problem("payment_account_none",
                           f"{what}: no Xero bank account — map {source} to a Xero bank account {MAPPINGS}.",
                           field="account"))
    elif acct is None:
        out.append(Problem("payment_account_missing",
                           f"{what}: account {code} does not exist in Xero — map {source} to a Xero bank account "
                           f"{MAPPINGS}, or refresh the Xero reference data.", field="account", value=code))
    elif _status(acct) != "ACTIVE":
        out.append(Problem("payment_account_archived",
                           f"{what}: account {code} is {_status(acct).lower()} in Xero — map {source} to an active "
                           f"bank account {MAPPINGS}.", field="account", value=code))
    elif not rules.can_receive_payments(acct):
        out.append(Problem("payment_account_not_payable",
                           f"{what}: account {code} is not a bank account and does not accept payments in Xero — "
                           f"map {source} to a bank account {MAPPINGS}, or tick 'Enable payments to this account' "
                           f"on account {code} in Xero.", field="account", value=code))
    else:
        acct_cur = (acct.get("CurrencyCode") or "").upper()
        doc_cur = (currency_code or "").upper()
        base = ref.base_currency
        if acct_cur and doc_cur and acct_cur != doc_cur and acct_cur != base:
            out.append(Problem("payment_account_currency",
                               f"{what}: bank account {code} is in {acct_cur} but the document is in {doc_cur} — map "
                               f"{source} to a {doc_cur} or {base or 'base-currency'} bank account {MAPPINGS}.",
                               field="currency", value=acct_cur))
    if currency_code:
        base = ref.base_currency
        cur = currency_code.upper()
        if base and cur != base and (payment.currency_rate is None or to_decimal(payment.currency_rate) <= 0):
            out.append(Problem("currency_rate_missing",
                               f"{what}: the document is in {cur} (base {base}) and the payment has no exchange rate "
                               "— Xero may refuse it ('A currency rate must be specified') or use its own rate.",
                               WARNING, field="currency", value=cur))
    out += _lock_problems(ref, payment.date, what)
    return out


def check_allocation(allocation: docs.Allocation, reference: "Mapping | ReferenceData") -> list[Problem]:
    ref = _ref(reference)
    out: list[Problem] = []
    if to_decimal(allocation.amount) <= 0:
        out.append(Problem("amount", f"Credit allocation: amount {allocation.amount} is not positive.",
                           field="amount", value=str(allocation.amount)))
    out += _lock_problems(ref, allocation.date, "Credit allocation")
    return out


def check_overpayment(overpayment: docs.Overpayment, reference: "Mapping | ReferenceData") -> list[Problem]:
    """Problems with customer credit sent as an Overpayment: Xero receives it into a BANK account
    (payments-enabled accounts are not enough) and in that account's currency."""
    ref = _ref(reference)
    o = overpayment
    what = f"Overpayment {o.reference}".strip()
    source = o.account_source or "the payment journal"
    out: list[Problem] = []
    if to_decimal(o.amount) <= 0:
        out.append(Problem("amount", f"{what}: amount {o.amount} is not positive.", field="amount",
                           value=str(o.amount)))
    code = (o.bank_account_code or "").strip()
    acct = ref.accounts.get(code) if code else None
    if not code:
        out.append(Problem("payment_account_none",
                           f"{what}: no Xero bank account — map {source} to a Xero bank account {MAPPINGS}.",
                           field="account"))
    elif acct is None:
        out.append(Problem("payment_account_missing",
                           f"{what}: account {code} does not exist in Xero — map {source} to a Xero bank account "
                           f"{MAPPINGS}, or refresh the Xero reference data.", field="account", value=code))
    elif _status(acct) != "ACTIVE":
        out.append(Problem("payment_account_archived",
                           f"{what}: account {code} is {_status(acct).lower()} in Xero — map {source} to an active "
                           f"bank account {MAPPINGS}.", field="account", value=code))
    elif str(acct.get("Type") or "").upper() != "BANK":
        out.append(Problem("overpayment_account_not_bank",
                           f"{what}: account {code} is not a bank account — Xero receives a customer's credit "
                           f"(an overpayment) only into a bank account; map {source} to a Xero account of type "
                           f"Bank {MAPPINGS}.", field="account", value=code))
    else:
        acct_cur = (acct.get("CurrencyCode") or ref.base_currency or "").upper()
        cur = (o.currency_code or "").upper()
        if acct_cur and cur and acct_cur != cur:
            out.append(Problem("overpayment_account_currency",
                               f"{what}: bank account {code} is in {acct_cur} but the payment is in {cur} — Xero "
                               f"receives an overpayment in its bank account's currency; map {source} to a {cur} "
                               f"bank account {MAPPINGS}.", field="currency", value=acct_cur))
    if o.currency_code:
        out += _currency_problems(ref, o.currency_code, o.currency_rate, what)
    out += _lock_problems(ref, o.date, what)
    return out


def check_credit_allocation(allocation: docs.CreditAllocation, reference: "Mapping | ReferenceData") -> list[Problem]:
    ref = _ref(reference)
    out: list[Problem] = []
    if to_decimal(allocation.amount) <= 0:
        out.append(Problem("amount", f"Overpayment allocation: amount {allocation.amount} is not positive.",
                           field="amount", value=str(allocation.amount)))
    out += _lock_problems(ref, allocation.date, "Overpayment allocation")
    return out


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems that block sending."""
    return [p for p in problems if p.severity == ERROR]


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem, errors first (for the sync log / chatter)."""
    ps = list(problems)
    ordered = [p for p in ps if p.severity == ERROR] + [p for p in ps if p.severity != ERROR]
    return "\n".join(("" if p.severity == ERROR else "Warning: ") + p.message for p in ordered)


def check(obj: Any, reference: "Mapping | ReferenceData", **kwargs) -> list[Problem]:
    """check_document / check_payment / check_allocation according to the object's type."""
    if isinstance(obj, docs.Document):
        return check_document(obj, reference)
    if isinstance(obj, docs.Payment):
        return check_payment(obj, reference, **kwargs)
    if isinstance(obj, docs.Allocation):
        return check_allocation(obj, reference)
    if isinstance(obj, docs.Overpayment):
        return check_overpayment(obj, reference)
    if isinstance(obj, docs.CreditAllocation):
        return check_credit_allocation(obj, reference)
    raise TypeError(f"nothing to check on {type(obj).__name__}")

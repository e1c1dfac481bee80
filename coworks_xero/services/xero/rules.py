"""Xero's accounting rules about accounts and tax rates, in one place.

Pure functions of reference data as Xero returns it (``Account`` and ``TaxRate`` dicts, spelled as
in the spec). The mapping forms (which choices they offer, what they refuse on save), the
pre-flight checks and the payload builder all ask here, so a rule has one answer everywhere.

Account uses
------------
``sales``     a sales line (item mapping, the connection's default sales account): a revenue
              account (Type REVENUE/SALES/OTHERINCOME or Class REVENUE), ACTIVE, never a system
              account (DEBTORS, CREDITORS, GST, ROUNDING, ...) nor a bank account.
``payment``   where a payment is received (payment journals): Type BANK, or any account with
              "Enable payments to this account" (EnablePaymentsToAccount), ACTIVE, not a system
              account (developer.xero.com/documentation/api/payments "Elements for Payments").
``writeoff``  the account a write-off is paid from: the same rule as ``payment`` (Xero records a
              write-off as a payment from it), typically an expense account with payments enabled.
``rounding``  the adjustment line that makes totals equal to the cent: the organisation's
              ROUNDING system account, or an ACTIVE account that is neither another system
              account nor one taking payments (Xero's rounding guide books it on the ROUNDING
              account, usually 860).

Tax rates
---------
:func:`no_tax_type` is the TaxType of lines without tax; :func:`rates_differ` says whether the
host's rate and Xero's disagree (then Xero would compute another tax than the host's).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, NamedTuple

USE_SALES = "sales"
USE_PAYMENT = "payment"
USE_WRITEOFF = "writeoff"
USE_ROUNDING = "rounding"
ACCOUNT_USES = (USE_SALES, USE_PAYMENT, USE_WRITEOFF, USE_ROUNDING)

REVENUE_TYPES = frozenset({"REVENUE", "SALES", "OTHERINCOME"})
ROUNDING_SYSTEM_ACCOUNT = "ROUNDING"
# System accounts Xero rejects on a document line outright (others it takes, but no sale belongs there).
LINE_REFUSED_SYSTEM_ACCOUNTS = frozenset({"DEBTORS", "CREDITORS", "GST", "GSTONIMPORTS"})
# TaxTypes of a zero revenue rate, most neutral first (AU/NZ/UK organisations have "NONE").
NO_TAX_PREFERENCE = ("NONE", "EXEMPTOUTPUT", "ZERORATEDOUTPUT")
NO_TAX_TYPE = "NONE"
# Xero keeps rates with 4 decimals (TaxRate.EffectiveRate).
RATE_DP = Decimal("0.0001")


def _status(record: Mapping) -> str:
    return (record.get("Status") or "ACTIVE").upper()


def _label(account: Mapping) -> str:
    code, name = account.get("Code") or "", account.get("Name") or ""
    return " ".join(filter(None, [code, name])) or "this account"


def is_active(record: Mapping) -> bool:
    return _status(record) == "ACTIVE"


def system_account(account: Mapping) -> str:
    return (account.get("SystemAccount") or "").upper()


def can_receive_payments(account: Mapping) -> bool:
    """Xero takes a payment into a BANK account or one with payments enabled."""
    return (account.get("Type") or "").upper() == "BANK" or bool(account.get("EnablePaymentsToAccount"))


def is_revenue(account: Mapping) -> bool:
    return ((account.get("Type") or "").upper() in REVENUE_TYPES
            or (account.get("Class") or "").upper() == "REVENUE")


class Refusal(NamedTuple):
    """Why an account does not fit a use. ``xero_refuses``: Xero itself would reject the document
    (else Xero would take it, but books it where an accountant would not: our forms refuse it,
    the pre-flight warns when it reaches a line through an item's sales account set in Xero)."""

    code: str  # "inactive" | "system" | "bank" | "not_revenue" | "not_payable" | "payments"
    reason: str
    xero_refuses: bool


def check_account(account: Mapping, use: str) -> Refusal | None:
    """Whether ``account`` fits ``use`` (one of :data:`ACCOUNT_USES`): None, or a :class:`Refusal`
    whose reason names what to choose instead."""
    if use not in ACCOUNT_USES:
        raise ValueError(f"unknown account use {use!r}")
    label = _label(account)
    acct_type = (account.get("Type") or "").upper()
    system = system_account(account)
    if not is_active(account):
        return Refusal("inactive", f"{label} is {_status(account).lower()} in Xero: choose an active account.", True)
    if use == USE_SALES:
        if system:
            return Refusal("system", f"{label} is Xero's {system} system account: sales lines cannot go there. "
                                     "Choose a revenue account (e.g. 200 Sales).",
                           system in LINE_REFUSED_SYSTEM_ACCOUNTS)
        if acct_type == "BANK":
            return Refusal("bank", f"{label} is a bank account: sales lines go to a revenue account "
                                   "(e.g. 200 Sales).", True)
        if not is_revenue(account):
            return Refusal("not_revenue", f"{label} is a {acct_type or 'non-revenue'} account, not revenue: "
                                          "sales lines go to a revenue account (e.g. 200 Sales).", False)
        return None
    if use in (USE_PAYMENT, USE_WRITEOFF):
        if system:
            return Refusal("system", f"{label} is Xero's {system} system account: Xero takes payments only "
                                     "into a bank account or one with payments enabled.", True)
        if not can_receive_payments(account):
            return Refusal("not_payable", f"{label} is neither a BANK account nor one with payments enabled: "
                                          "Xero refuses payments into it. Choose a bank account, or tick "
                                          "'Enable payments to this account' on it in Xero and refresh the "
                                          "Xero reference data.", True)
        return None
    # rounding: Xero's rounding guide books the adjustment on the ROUNDING system account
    if system and system != ROUNDING_SYSTEM_ACCOUNT:
        return Refusal("system", f"{label} is Xero's {system} system account: a rounding adjustment goes to "
                                 "the ROUNDING account (usually 860 Rounding).",
                       system in LINE_REFUSED_SYSTEM_ACCOUNTS)
    if acct_type == "BANK":
        return Refusal("bank", f"{label} is a bank account: a rounding adjustment goes to the ROUNDING "
                               "account (usually 860 Rounding).", True)
    if not system and can_receive_payments(account):
        return Refusal("payments", f"{label} takes payments (a clearing account): a rounding adjustment goes "
                                   "to the ROUNDING account (usually 860 Rounding).", False)
    return None


def account_refusal(account: Mapping, use: str) -> str | None:
    """The sentence a form shows when ``account`` does not fit ``use``; None when it does."""
    refusal = check_account(account, use)
    return refusal.reason if refusal else None


def account_usable(account: Mapping, use: str) -> bool:
    return check_account(account, use) is None


# --------------------------------------------------------------------------
# tax rates
# --------------------------------------------------------------------------
def _rate(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(RATE_DP)
    except (InvalidOperation, ValueError):
        return None


def xero_rate(tax_rate: Mapping) -> Decimal | None:
    """A TaxRate's percentage: EffectiveRate (what Xero applies), else DisplayTaxRate."""
    value = tax_rate.get("EffectiveRate")
    if value is None:
        value = tax_rate.get("DisplayTaxRate")
    return _rate(value)


def rates_differ(host_rate: Any, remote_rate: Any) -> bool:
    """True when the host's percentage and Xero's are not the same rate (to Xero's 4 decimals),
    or either is unknown (a fixed or grouped host tax has no single percentage)."""
    host, remote = _rate(host_rate), _rate(remote_rate)
    return host is None or remote is None or host != remote


def format_rate(value: Any) -> str:
    """``10``, ``12.5``: a percentage as a person writes it (no trailing zeros)."""
    rate = _rate(value)
    if rate is None:
        return "?"
    text = format(rate.normalize(), "f")
    return text


def no_tax_type(tax_rates: Iterable[Mapping]) -> str:
    """The TaxType for lines without a host tax, so Xero does not apply the account's default tax:
    the organisation's zero-rate revenue tax, "NONE" first (AU/NZ/UK), then exempt, then zero
    rated; "NONE" when the organisation's rates are not known."""
    zero = [t for t in tax_rates or () if t.get("TaxType") and xero_rate(t) == 0
            and t.get("CanApplyToRevenue", True) is not False]
    active = [t for t in zero if is_active(t)] or zero
    types = [t["TaxType"] for t in active]
    for preferred in NO_TAX_PREFERENCE:
        if preferred in types:
            return preferred
    return types[0] if types else NO_TAX_TYPE


# ---------------------------------------------------------------------------- deep links
# Xero's own links into its app, as Xero's MCP server builds them (XeroAPI/xero-mcp-server,
# src/consts/deeplinks.ts): the organisation's ShortCode picks the organisation the user lands in.
_DEEP_LINKS = {
    "invoice": "https://go.xero.com/app/{short}/invoicing/view/{id}",
    "contact": "https://go.xero.com/app/{short}/contacts/contact/{id}",
    "credit_note": "https://go.xero.com/organisationlogin/default.aspx?shortcode={short}"
                   "&redirecturl=/AccountsPayable/ViewCreditNote.aspx?creditNoteID={id}",
    "payment": "https://go.xero.com/organisationlogin/default.aspx?shortcode={short}"
               "&redirecturl=/Bank/ViewTransaction.aspx?bankTransactionID={id}",
}


def deep_link(kind: str, short_code: str, remote_id: str) -> str:
    """The URL that opens ``remote_id`` (a document of ``kind``) in Xero, or "" when the
    organisation's ShortCode or the ID is unknown."""
    template = _DEEP_LINKS.get(kind)
    if not template or not short_code or not remote_id:
        return ""
    return template.format(short=short_code, id=remote_id)

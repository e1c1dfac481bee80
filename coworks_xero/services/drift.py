"""The drift report's comparison: a host document against what the provider reports for it.

Pure and provider-neutral: ``HostDocument`` is what Odoo knows, the remote side is any object
with ``status``, ``total``, ``amount_due``, ``contact_id``, ``currency_code`` and ``date`` (for
Xero, ``services.xero.inbound.RemoteDocument``). Each difference is one sentence a person can
act on, with both values.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

MISSING = "missing"
STATUS = "status"
TOTAL = "total"
PAID = "paid"
CONTACT = "contact"
CURRENCY = "currency"
DATE = "date"
PROBLEMS = (MISSING, STATUS, TOTAL, PAID, CONTACT, CURRENCY, DATE)

GONE = frozenset({"VOIDED", "DELETED"})
LIVE = frozenset({"AUTHORISED", "PAID", "SUBMITTED", "DRAFT"})
CENT = Decimal("0.01")


@dataclasses.dataclass(frozen=True)
class HostDocument:
    ref: str
    label: str  # e.g. "INV/2026/00012"
    posted: bool  # False: cancelled in the host
    total: Decimal
    paid: Decimal  # what is settled (payments, credit notes, write-offs), in the document's currency
    contact_id: str
    currency_code: str
    date: dt.date | None


@dataclasses.dataclass(frozen=True)
class Difference:
    problem: str
    host_value: str
    remote_value: str
    sentence: str


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def compare(host: HostDocument, remote) -> list:
    """The differences between ``host`` and ``remote`` (None: the provider does not have it)."""
    name = host.label
    if remote is None:
        if not host.posted:
            return []  # cancelled here and nowhere there: nothing to disagree about
        return [Difference(MISSING, "posted", "not found",
                           f"{name} is posted in Odoo but its Xero copy was not found: push it again "
                           f"(Odoo looks it up by number first), or re-link it.")]
    status = (remote.status or "").upper()
    if host.posted and status in GONE:
        return [Difference(STATUS, "posted", status,
                           f"{name} is posted in Odoo but {status.lower()} in Xero: accept Xero's (the "
                           f"void rule decides whether Odoo cancels it) or push it again to re-create it.")]
    if not host.posted:
        if status in GONE:
            return []
        return [Difference(STATUS, "cancelled", status,
                           f"{name} is cancelled in Odoo but {status.lower()} in Xero: push it again to void it there.")]
    out = []
    total, r_total = _money(host.total), _money(remote.total)
    if total != r_total:
        out.append(Difference(TOTAL, str(total), str(r_total),
                              f"{name} totals {total} {host.currency_code} in Odoo and {r_total} in Xero: "
                              f"push it again (Odoo's lines replace Xero's)."))
    paid, r_paid = _money(host.paid), _money(_money(remote.total) - _money(remote.amount_due))
    if paid != r_paid:
        out.append(Difference(PAID, str(paid), str(r_paid),
                              f"{name} has {paid} settled in Odoo and {r_paid} in Xero: check the payments "
                              f"entered on either side (the sync log shows those that failed)."))
    if host.contact_id and remote.contact_id and host.contact_id.lower() != remote.contact_id.lower():
        out.append(Difference(CONTACT, host.contact_id, remote.contact_id,
                              f"{name} is on another contact in Xero than the customer's: push it again, "
                              f"or re-link the customer if the contacts were merged in Xero."))
    if remote.currency_code and host.currency_code and remote.currency_code != host.currency_code:
        out.append(Difference(CURRENCY, host.currency_code, remote.currency_code,
                              f"{name} is in {host.currency_code} in Odoo and {remote.currency_code} in Xero: "
                              f"void it in Xero and push it again."))
    if host.date and remote.date and host.date != remote.date:
        out.append(Difference(DATE, host.date.isoformat(), remote.date.isoformat(),
                              f"{name} is dated {host.date.isoformat()} in Odoo and {remote.date.isoformat()} "
                              f"in Xero: push it again."))
    return out

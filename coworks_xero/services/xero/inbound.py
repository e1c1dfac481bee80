"""What happens in Xero, coming back: webhook signatures and events, and the reads that turn
them (or a pull with If-Modified-Since) into provider-neutral facts.

No odoo import: the controller verifies and parses with these functions, the Odoo models store
and apply what :class:`XeroInbound` returns.

Xero's rules (``../shared/reference/xero-api-facts.md`` §10, §12):
- ``x-xero-signature`` is base64(HMAC-SHA256(webhook key, raw body)); Intent-to-Receive sends
  empty, signed payloads and expects 200 for a good signature and 401 for a bad one;
- events carry IDs only (INVOICE, CREDITNOTE, CONTACT; CREATE/UPDATE); there is no payment event:
  a payment made in Xero is an INVOICE (or CREDITNOTE) UPDATE, and the payment itself is read
  from ``/Payments``;
- ``If-Modified-Since`` on GET Invoices/CreditNotes/Payments returns what changed since then.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

from .. import documents as d
from .payloads import parse_xero_date, parse_xero_datetime  # noqa: F401 (also this module's API)

SIGNATURE_HEADER = "x-xero-signature"
# Xero's categories this integration acts on; CONTACT events are stored but not applied yet.
DOCUMENT_CATEGORIES = {"INVOICE": d.KIND_INVOICE, "CREDITNOTE": d.KIND_CREDIT_NOTE}
HANDLED_CATEGORIES = set(DOCUMENT_CATEGORIES) | {"CONTACT"}
# Customer-side documents and money only (ACCPAY bills are not this integration's).
CUSTOMER_DOCUMENT_TYPES = {"ACCREC": d.KIND_INVOICE, "ACCRECCREDIT": d.KIND_CREDIT_NOTE}
CUSTOMER_PAYMENT_TYPES = {"ACCRECPAYMENT": d.KIND_INVOICE, "ARCREDITPAYMENT": d.KIND_CREDIT_NOTE}
VOID_STATUSES = ("VOIDED", "DELETED")
# The pull asks for a little more than the high-water mark: Xero's clock and commit order are not
# ours, and applying a change twice is harmless (every fact is applied once, by its Xero ID).
PULL_OVERLAP = dt.timedelta(minutes=5)
PAGE_SIZE = 100
MAX_PAGES = 20  # per kind and pull: the rest is read by the next pull (the mark only moves forward)
_ID_CHUNK = 40  # GUIDs per where filter (Xero answers 404 beyond ~52)


class WebhookError(ValueError):
    """A delivery that is signed correctly but is not a Xero webhook payload."""


def verify_signature(key: str | None, raw_body: bytes, signature: str | None) -> bool:
    """True only for a delivery signed with ``key``; always False without a key or signature.

    Constant-time comparison of the raw bytes' HMAC (never of a re-serialised body)."""
    if not key or not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode("utf-8"), raw_body or b"", hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    key: str  # stable per event: Xero redelivers the same events with the same fields
    tenant_id: str
    category: str
    event_type: str
    resource_id: str
    resource_url: str
    event_date: dt.datetime | None  # naive UTC


def parse_webhook(raw_body: bytes) -> list[WebhookEvent]:
    """The events of a (verified) delivery; an Intent-to-Receive payload has none."""
    try:
        payload = json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"not JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise WebhookError("no events list")
    out = []
    for ev in payload["events"]:
        if not isinstance(ev, dict):
            raise WebhookError("an event is not an object")
        fields = {k: str(ev.get(k) or "") for k in
                  ("tenantId", "eventCategory", "eventType", "resourceId", "resourceUrl", "eventDateUtc")}
        if not fields["tenantId"] or not fields["resourceId"] or not fields["eventCategory"]:
            raise WebhookError("an event lacks tenantId, resourceId or eventCategory")
        key = hashlib.sha256("|".join(fields[k] for k in (
            "tenantId", "eventCategory", "eventType", "resourceId", "eventDateUtc")).encode()).hexdigest()
        out.append(WebhookEvent(key=key, tenant_id=fields["tenantId"].lower(),
                                category=fields["eventCategory"].upper(), event_type=fields["eventType"].upper(),
                                resource_id=fields["resourceId"].lower(), resource_url=fields["resourceUrl"],
                                event_date=parse_xero_datetime(fields["eventDateUtc"])))
    return out


@dataclasses.dataclass(frozen=True)
class RemoteDocument:
    """A customer invoice or credit note as Xero last reported it."""
    remote_id: str
    kind: str
    number: str
    status: str
    total: Decimal
    amount_due: Decimal  # invoices: AmountDue; credit notes: RemainingCredit
    updated_at: dt.datetime | None
    payment_ids: tuple = ()
    credit_note_ids: tuple = ()  # invoices: the credit notes applied to it (their allocations say how)
    allocations: tuple = ()  # credit notes: RemoteAllocation
    contact_id: str = ""
    currency_code: str = ""
    date: dt.date | None = None
    # invoices: {OverpaymentID: amount applied} of the customer credit applied to it
    overpayments_applied: tuple = ()  # ((lower OverpaymentID, Decimal), ...)


@dataclasses.dataclass(frozen=True)
class RemoteCredit:
    """A customer's overpayment as Xero last reported it, with its live allocations."""
    remote_id: str
    status: str
    allocations: tuple = ()  # RemoteAllocation (credit_note_remote_id holds the OverpaymentID)
    updated_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class RemoteAllocation:
    """Part of a credit note applied to an invoice in Xero."""
    remote_id: str
    credit_note_remote_id: str
    invoice_remote_id: str
    amount: Decimal
    date: dt.date | None


@dataclasses.dataclass(frozen=True)
class RemotePayment:
    """A payment (or credit-note refund) made in Xero, with the bank account it went to."""
    remote_id: str
    document_kind: str
    document_remote_id: str
    amount: Decimal
    date: dt.date | None
    currency_rate: Decimal | None
    reference: str
    status: str
    account_id: str
    account_code: str
    account_name: str
    updated_at: dt.datetime | None


def _dec(value):
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def remote_document(data: dict, kind: str | None = None) -> RemoteDocument | None:
    """A RemoteDocument from Xero's Invoice/CreditNote JSON; None for bills and supplier credits."""
    kind = CUSTOMER_DOCUMENT_TYPES.get(data.get("Type") or "") or (kind if not data.get("Type") else None)
    if kind is None:
        return None
    is_invoice = kind == d.KIND_INVOICE
    remote_id = (data.get("InvoiceID" if is_invoice else "CreditNoteID") or "").lower()
    allocations = () if is_invoice else _live_allocations(data.get("Allocations"), remote_id)
    return RemoteDocument(
        remote_id=remote_id, kind=kind,
        number=data.get("InvoiceNumber" if is_invoice else "CreditNoteNumber") or "",
        status=data.get("Status") or "", total=_dec(data.get("Total")),
        amount_due=_dec(data.get("AmountDue" if is_invoice else "RemainingCredit")),
        updated_at=parse_xero_datetime(data.get("UpdatedDateUTC")),
        payment_ids=tuple((p.get("PaymentID") or "").lower() for p in data.get("Payments") or []
                          if p.get("PaymentID")),
        credit_note_ids=tuple((c.get("CreditNoteID") or "").lower() for c in data.get("CreditNotes") or []
                              if is_invoice and c.get("CreditNoteID")),
        allocations=allocations,
        contact_id=((data.get("Contact") or {}).get("ContactID") or "").lower(),
        currency_code=data.get("CurrencyCode") or "", date=parse_xero_date(data.get("Date")),
        overpayments_applied=_applied(data.get("Overpayments") if is_invoice else None, "OverpaymentID"))


def _applied(rows, key):
    totals = {}
    for row in rows or []:
        rid = (row.get(key) or "").lower()
        if rid:
            totals[rid] = totals.get(rid, Decimal(0)) + _dec(row.get("AppliedAmount"))
    return tuple(sorted(totals.items()))


def _live_allocations(rows, source_id):
    return tuple(
        RemoteAllocation(remote_id=(a.get("AllocationID") or "").lower(), credit_note_remote_id=source_id,
                         invoice_remote_id=((a.get("Invoice") or {}).get("InvoiceID") or "").lower(),
                         amount=_dec(a.get("Amount")), date=parse_xero_date(a.get("Date")))
        for a in rows or [] if a.get("AllocationID") and not a.get("IsDeleted"))


def remote_overpayment(data: dict) -> RemoteCredit | None:
    """A RemoteCredit from Xero's Overpayment JSON (customer credit only: RECEIVE-OVERPAYMENT)."""
    if (data.get("Type") or "RECEIVE-OVERPAYMENT") != "RECEIVE-OVERPAYMENT" or not data.get("OverpaymentID"):
        return None
    remote_id = data["OverpaymentID"].lower()
    return RemoteCredit(remote_id=remote_id, status=data.get("Status") or "",
                        allocations=_live_allocations(data.get("Allocations"), remote_id),
                        updated_at=parse_xero_datetime(data.get("UpdatedDateUTC")))


@dataclasses.dataclass(frozen=True)
class HeldAllocation:
    """An allocation this integration made in Xero and still holds as there (a link)."""
    remote_id: str  # AllocationID (lower case)
    credit_remote_id: str  # the credit note's or overpayment's ID (lower case)
    invoice_remote_id: str
    amount: Decimal


def credits_to_read(held, documents) -> tuple[set, set]:
    """(credit note IDs, overpayment IDs) to read to know whether Xero still has the allocations
    ``held`` (``(kind, HeldAllocation)``, kind ``credit_note`` or ``overpayment``), given the
    documents already read (the credit notes their invoices list are among them).

    A credit note already read says it itself. Otherwise, of the invoices read: a credit note
    not read (no longer listed on its invoice) is read, its allocation may be gone; an overpayment is read
    when what the invoice lists as applied from it differs from what this integration applied
    (one call per changed credit, none while the two agree)."""
    latest = _latest(documents)
    read_notes = {rid for rid, doc in latest.items() if doc.kind == d.KIND_CREDIT_NOTE}
    notes, overpayments = set(), set()
    held_ovp = {}
    for kind, h in held:
        invoice = latest.get(h.invoice_remote_id)
        if kind == d.KIND_CREDIT_NOTE:
            if h.credit_remote_id not in read_notes and invoice is not None:
                notes.add(h.credit_remote_id)  # no longer listed on the invoice read: ask the credit note
        elif invoice is not None:
            key = (h.invoice_remote_id, h.credit_remote_id)
            held_ovp[key] = held_ovp.get(key, Decimal(0)) + h.amount
    for (invoice_id, credit_id), amount in held_ovp.items():
        applied = dict(latest[invoice_id].overpayments_applied).get(credit_id, Decimal(0))
        if applied != amount:
            overpayments.add(credit_id)
    return notes, overpayments


def allocations_gone(held, documents, credits=()) -> list:
    """The HeldAllocation s of ``held`` (``(kind, held)`` pairs) that Xero no longer has: their
    credit note (in ``documents``) or overpayment (``credits``: RemoteCredit) was read and no
    longer lists them. A credit that was not read says nothing: nothing is concluded from it."""
    live = {}
    for rid, doc in _latest(documents).items():
        if doc.kind == d.KIND_CREDIT_NOTE:
            live[(d.KIND_CREDIT_NOTE, rid)] = {a.remote_id for a in doc.allocations}
    for credit in _latest(credits).values():
        live[("overpayment", credit.remote_id)] = {a.remote_id for a in credit.allocations}
    out = []
    for kind, h in held:
        have = live.get((kind, h.credit_remote_id))
        if have is not None and h.remote_id not in have:
            out.append((kind, h))
    return out


def _latest(reports):
    """{remote_id: the most recent report} (Xero's UpdatedDateUTC; ties: the later one read)."""
    latest = {}
    for rep in reports:
        prev = latest.get(rep.remote_id)
        if prev is None or (rep.updated_at or dt.datetime.min) >= (prev.updated_at or dt.datetime.min):
            latest[rep.remote_id] = rep
    return latest


def remote_payment(data: dict) -> RemotePayment | None:
    """A RemotePayment from Xero's Payment JSON; None for money this integration does not mirror
    (bills, overpayments, prepayments)."""
    kind = CUSTOMER_PAYMENT_TYPES.get(data.get("PaymentType") or "")
    if kind is None:
        return None
    doc = data.get("Invoice" if kind == d.KIND_INVOICE else "CreditNote") or {}
    doc_id = doc.get("InvoiceID" if kind == d.KIND_INVOICE else "CreditNoteID") or ""
    account = data.get("Account") or {}
    rate = data.get("CurrencyRate")
    return RemotePayment(
        remote_id=(data.get("PaymentID") or "").lower(), document_kind=kind, document_remote_id=doc_id.lower(),
        amount=_dec(data.get("Amount")), date=parse_xero_date(data.get("Date")),
        currency_rate=_dec(rate) if rate not in (None, "") else None, reference=data.get("Reference") or "",
        status=data.get("Status") or "", account_id=(account.get("AccountID") or "").lower(),
        account_code=account.get("Code") or "", account_name=account.get("Name") or "",
        updated_at=parse_xero_datetime(data.get("UpdatedDateUTC")))


@dataclasses.dataclass
class Changes:
    documents: list = dataclasses.field(default_factory=list)  # [RemoteDocument]
    payments: list = dataclasses.field(default_factory=list)  # [RemotePayment]
    merged_contacts: dict = dataclasses.field(default_factory=dict)  # {lower ContactID: lower surviving ContactID}
    high_water: dt.datetime | None = None  # the latest UpdatedDateUTC seen (naive UTC)
    complete: bool = True  # False when MAX_PAGES stopped a kind early

    def seen(self, when):
        if when and (self.high_water is None or when > self.high_water):
            self.high_water = when


def _guid_where(field, ids):
    return " OR ".join('%s==Guid("%s")' % (field, i.replace('"', "")) for i in ids)


def merged_contacts(rows) -> dict:
    """{lower ContactID: lower MergedToContactID} of the contacts Xero merged into another."""
    return {(r.get("ContactID") or "").lower(): r["MergedToContactID"].lower()
            for r in rows if r.get("ContactID") and r.get("MergedToContactID")}


class XeroInbound:
    """Reads of what changed in Xero, through the connection's XeroClient (its tokens, retries
    and the organisation's shared rate limiter)."""

    def __init__(self, client):
        self.client = client

    def _pages(self, op, method, key, since, changes, **params):
        """The rows of each page, yielded as the page is read. A pull after a big push reads
        back thousands of documents (up to MAX_PAGES of each kind, lines and all); the caller
        keeps only the facts it takes from each row, so one page of Xero's JSON is held at a
        time instead of all of them (the cron worker's peak memory grew with the backlog)."""
        for page in range(1, MAX_PAGES + 1):
            kw = dict(params, page=page, order="UpdatedDateUTC ASC")
            if since is not None:
                kw["if_modified_since"] = since.replace(tzinfo=dt.timezone.utc)
            rows = self.client._get(op, method, what=key, **kw).get(key) or []
            full = len(rows) >= PAGE_SIZE
            yield from rows
            rows = None  # this page is let go before the next is read
            if not full:
                return
        changes.complete = False

    def pull(self, since: dt.datetime | None) -> Changes:
        """Customer documents and payments changed in Xero since ``since`` (naive UTC; None = all)."""
        changes = Changes()
        since = since - PULL_OVERLAP if since else None
        for method, key, kind, where in (
                ("get_invoices", "Invoices", d.KIND_INVOICE, 'Type=="ACCREC"'),
                ("get_credit_notes", "CreditNotes", d.KIND_CREDIT_NOTE, 'Type=="ACCRECCREDIT"')):
            for row in self._pages(method, method, key, since, changes, where=where):
                doc = remote_document(row, kind)
                changes.seen(parse_xero_datetime(row.get("UpdatedDateUTC")))
                if doc:
                    changes.documents.append(doc)
        for row in self._pages("get_payments", "get_payments", "Payments", since, changes):
            pay = remote_payment(row)
            changes.seen(parse_xero_datetime(row.get("UpdatedDateUTC")))
            if pay:
                changes.payments.append(pay)
        # Contacts merged meanwhile (a merge archives the merged one and touches it).
        for row in self._pages("get_contacts", "get_contacts", "Contacts", since, changes, include_archived="true"):
            changes.seen(parse_xero_datetime(row.get("UpdatedDateUTC")))
            changes.merged_contacts.update(merged_contacts([row]))
        return changes

    def contacts_merged(self, contact_ids) -> dict:
        """Of these contacts (what webhooks named), those merged into another: {merged: surviving}."""
        return merged_contacts(self.client.get_contacts(sorted({i for i in contact_ids if i})))

    def documents(self, invoice_ids=(), credit_note_ids=()) -> list:
        """The current state of these documents (what a webhook named)."""
        out = []
        ids = sorted({i for i in invoice_ids if i})
        for start in range(0, len(ids), _ID_CHUNK):
            data = self.client._get("get_invoices", "get_invoices", what="Invoices",
                                    i_ds=ids[start:start + _ID_CHUNK], page=1)
            out += [doc for doc in (remote_document(r, d.KIND_INVOICE) for r in data.get("Invoices") or []) if doc]
        ids = sorted({i for i in credit_note_ids if i})
        for start in range(0, len(ids), _ID_CHUNK):
            data = self.client._get("get_credit_notes", "get_credit_notes", what="CreditNotes",
                                    where=_guid_where("CreditNoteID", ids[start:start + _ID_CHUNK]), page=1)
            out += [doc for doc in (remote_document(r, d.KIND_CREDIT_NOTE) for r in data.get("CreditNotes") or [])
                    if doc]
        return out

    def overpayments(self, overpayment_ids) -> list:
        """These overpayments (RemoteCredit) with their live allocations."""
        ids = sorted({i for i in overpayment_ids if i})
        if not ids:
            return []
        return [c for c in (remote_overpayment(r) for r in self.client.get_overpayments(ids)) if c]

    @contextlib.contextmanager
    def spaced_by_caller(self):
        """The reads made inside go unpaced by the limiter: the sync spaces its webhook runs
        itself (BUSY_READ_SPACING, while the minute's budget runs short), and a run's reads (the
        documents, the payments read alongside) belong together. Paced, the second waited ~2 s
        behind the first once half the minute was used: most of a payment's way to Odoo
        (bench/inbound.py). Xero's window, the day and the calls at once still hold."""
        self.client.paced = False
        try:
            yield
        finally:
            self.client.paced = True

    def ready_for_threads(self):
        """Load (and refresh if stale) the tokens on the calling thread, the one owning the
        database: a read from another thread then needs nothing from it."""
        self.client.refresh_tokens()

    def payments_changed_since(self, since: dt.datetime) -> list:
        """Payments Xero changed since ``since`` (naive UTC): one read of one page, which does not
        depend on the documents read, so it goes alongside theirs. A payment entered in Xero since
        the previous read is in it; what it lacks (older, or past the page) is read by id
        (``payments``)."""
        data = self.client._get("get_payments", "get_payments", what="Payments", page=1,
                                order="UpdatedDateUTC ASC", if_modified_since=since.replace(tzinfo=dt.timezone.utc))
        return [p for p in (remote_payment(r) for r in data.get("Payments") or []) if p]

    def payments(self, payment_ids) -> list:
        """These payments in full (a document lists its payments without their bank account)."""
        out = []
        ids = sorted({i for i in payment_ids if i})
        for start in range(0, len(ids), _ID_CHUNK):
            data = self.client._get("get_payments", "get_payments", what="Payments",
                                    where=_guid_where("PaymentID", ids[start:start + _ID_CHUNK]))
            out += [p for p in (remote_payment(r) for r in data.get("Payments") or []) if p]
        return out

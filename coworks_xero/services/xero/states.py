"""Xero's document state machine, in one place.

Given what Xero has (status, payments, allocations) and what the host wants
(posted with these contents / cancelled / reset to draft / deleted),
:func:`plan` returns an ordered list of :class:`Step` s, each with a reason
written for the accountant, e.g. "Xero does not allow editing an invoice
with payments: voided INV-1 and created INV-1-R1". Pure: no I/O.

Xero's rules (reference/xero-api-facts.md §6a-6b, §7, §8)
---------------------------------------------------------
* DRAFT/SUBMITTED can be updated freely and removed by Status DELETED (there
  is no HTTP DELETE); AUTHORISED cannot become DELETED, only VOIDED.
* AUTHORISED invoices without payments/allocations can be updated in place
  (lines too, keeping Status AUTHORISED). AUTHORISED credit notes allow only
  Date/Reference edits; their lines and contact are locked.
* Once a payment or credit note is applied, ANY API edit is refused ("This
  document cannot be edited as it has a payment or credit note allocated to
  it") and void is refused until the payments/allocations are removed.
  Payments cannot be edited, only deleted (Status DELETED).
* VOIDED and DELETED are final. A voided invoice keeps its number, and
  ACCREC numbers are unique, so a re-created document needs a new number.

Number rule for re-created documents (:func:`recreate_number`)
--------------------------------------------------------------
``<host number>-R1``; if the Xero copy already is ``<host number>-R<n>``, the
next is ``-R<n+1>``; numbers listed as taken are skipped. Applied after void
*and* after delete (whether Xero frees the number of a deleted draft is
unconfirmed, so we never reuse it). The host keeps its own number; the Xero
number is stored on the record and shown in the sync log.

Whose payments
--------------
Only payments/allocations the host says are ours (``our_payment_ids``,
``our_allocation_ids``: created by this integration) are removed
automatically. A payment entered by hand in Xero, a reconciled payment, a
payment from a batch, or an applied overpayment/prepayment blocks the plan
with a reason saying what to do in Xero. Removed payments are listed in a
final ``repush_payments`` step: after a re-creation the host's payments are
pushed again onto the new document.

"Reset to draft" in the host does not touch an approved Xero document: Xero
cannot turn it back into a draft; posting again updates it in place (or
voids and re-creates it when payments make that impossible) and cancelling
voids it. Voiding at reset would force a new number on every edit.

A Xero document that was voided/deleted *in Xero* (not by this plan) while
the host still wants it is not re-created silently (the accountant may have
voided it on purpose): the plan is blocked until a manager asks to
re-create (``allow_recreate=True``).

Transition table (invoice; credit note identical unless noted)
--------------------------------------------------------------
=====================  ======================  =============================================
Xero status            host wants              plan
=====================  ======================  =============================================
(absent)               post                    create (host number, host status)
(absent)               cancel/delete/draft     nothing
DRAFT/SUBMITTED        post, changed/approve   update (whole document, target status)
DRAFT/SUBMITTED        post, nothing changed   nothing
DRAFT/SUBMITTED        cancel/delete           delete (Status DELETED)
DRAFT/SUBMITTED        draft                   nothing
AUTHORISED, no pay     post, nothing changed   nothing
AUTHORISED, no pay     post, changed           update in place (Status stays AUTHORISED);
                                               credit note: only date/reference/number are
                                               updatable, other changes -> void + create -R1
AUTHORISED, no pay     cancel/delete           void
AUTHORISED, no pay     draft                   nothing (stays AUTHORISED, see above)
AUTHORISED/PAID + pay  post, nothing changed   nothing
AUTHORISED/PAID + pay  post, only date/due     nothing, warning: Xero refuses edits with
                       date/reference/number/  payments; the change is not sent
                       url changed
AUTHORISED/PAID + pay  post, other changes     delete our payments, remove our allocations,
                                               void, create -R<n>, re-push the payments
AUTHORISED/PAID + pay  cancel/delete           delete our payments, remove our allocations,
                                               void
AUTHORISED/PAID + pay  draft                   nothing (payments follow their own jobs)
  ... any of the above with a payment not ours, reconciled, batched, or an
      applied over/prepayment                  blocked, reason says what to do in Xero
PAID, no payment known any                     blocked: refresh the document from Xero
VOIDED/DELETED         post                    blocked unless allow_recreate; then create
                                               -R<n>
VOIDED/DELETED         cancel/delete/draft     nothing (already final)
=====================  ======================  =============================================
"""
from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any, Iterable, Mapping

from .. import documents as docs

# Xero statuses ("" = the document is not in Xero)
ABSENT = ""
DRAFT = "DRAFT"
SUBMITTED = "SUBMITTED"
AUTHORISED = "AUTHORISED"
PAID = "PAID"
VOIDED = "VOIDED"
DELETED = "DELETED"
STATUSES = (ABSENT, DRAFT, SUBMITTED, AUTHORISED, PAID, VOIDED, DELETED)
EDITABLE = (DRAFT, SUBMITTED)
FINAL = (VOIDED, DELETED)

# what the host wants
POST = "post"  # the document exists in the host with these contents and this status
CANCEL = "cancel"  # the host cancelled it
DRAFT_AGAIN = "draft"  # the host reset it to draft
DELETE = "delete"  # the host deleted it
WISHES = (POST, CANCEL, DRAFT_AGAIN, DELETE)

# fields that can change between two pushes (see changed_fields)
F_LINES = "lines"
F_CONTACT = "contact"
F_CURRENCY = "currency"
F_DATE = "date"
F_DUE_DATE = "due_date"
F_REFERENCE = "reference"
F_NUMBER = "number"
F_URL = "url"
ALL_FIELDS = frozenset({F_LINES, F_CONTACT, F_CURRENCY, F_DATE, F_DUE_DATE, F_REFERENCE, F_NUMBER, F_URL})
# header fields: cosmetic; not worth a void and re-create when payments block the edit
MINOR_FIELDS = frozenset({F_DATE, F_DUE_DATE, F_REFERENCE, F_NUMBER, F_URL})
# what an AUTHORISED credit note lets you change
CREDIT_NOTE_AUTHORISED_EDITABLE = frozenset({F_DATE, F_REFERENCE, F_NUMBER})

# step actions
A_DELETE_PAYMENT = "delete_payment"  # POST /Payments/{id} {"Status": "DELETED"}
A_REMOVE_ALLOCATION = "remove_allocation"  # DELETE /CreditNotes/{cn}/Allocations/{alloc}
A_UPDATE = "update"  # POST /Invoices/{id} with the document (or the status change)
A_VOID = "void"  # POST with Status VOIDED
A_DELETE = "delete"  # POST with Status DELETED
A_CREATE = "create"  # PUT /Invoices (new number when re-creating)
A_REPUSH_PAYMENTS = "repush_payments"  # push the host's payments/allocations again onto the new document

# plan outcomes
NOOP = "noop"
CREATE = "create"
UPDATE = "update"
REMOVE = "delete"
VOID = "void"
VOID_AND_RECREATE = "void_and_recreate"
RECREATE = "recreate"
NOT_EDITABLE = "not_editable"  # a change Xero will not take; nothing sent, warning
BLOCKED = "blocked"  # a person must act first

LEVEL_OK = "ok"
LEVEL_WARNING = "warning"
LEVEL_ERROR = "error"


@dataclasses.dataclass(frozen=True)
class RemotePayment:
    payment_id: str
    amount: Decimal = Decimal("0")
    is_reconciled: bool = False
    batch_payment_id: str = ""


@dataclasses.dataclass(frozen=True)
class RemoteAllocation:
    allocation_id: str
    credit_note_id: str  # the credit note the allocation belongs to
    invoice_id: str = ""
    amount: Decimal = Decimal("0")


@dataclasses.dataclass
class XeroDoc:
    """What Xero has for the document (from the last GET or push)."""

    kind: str = docs.KIND_INVOICE
    status: str = ABSENT
    remote_id: str = ""
    number: str = ""
    payments: list[RemotePayment] = dataclasses.field(default_factory=list)
    allocations: list[RemoteAllocation] = dataclasses.field(default_factory=list)
    # overpayments/prepayments applied to the invoice: never removed by us
    other_credits: int = 0
    # True when the void/delete was done by this integration (then a later
    # post re-creates without asking)
    closed_by_us: bool = False

    @classmethod
    def from_xero(cls, element: Mapping, kind: str = "", credit_notes: Iterable[Mapping] = ()) -> "XeroDoc":
        """Build from an Invoice/CreditNote element as Xero returns it.

        An invoice lists the credit notes applied to it (``CreditNotes``) but
        not the AllocationIDs needed to remove them: pass those credit notes'
        own elements (GET /CreditNotes/{id}) as ``credit_notes`` to resolve
        them. An applied credit note left unresolved is kept with an empty
        allocation id, which blocks plans that would need to remove it.
        """
        if not kind:
            kind = docs.KIND_CREDIT_NOTE if "CreditNoteID" in element or element.get("Type") in (
                "ACCRECCREDIT", "ACCPAYCREDIT") else docs.KIND_INVOICE
        is_credit = kind == docs.KIND_CREDIT_NOTE
        own_id = element.get("CreditNoteID" if is_credit else "InvoiceID") or ""
        payments = [
            RemotePayment(
                payment_id=p.get("PaymentID", ""),
                amount=Decimal(str(p.get("Amount") or 0)),
                is_reconciled=bool(p.get("IsReconciled")),
                batch_payment_id=p.get("BatchPaymentID") or "",
            )
            for p in element.get("Payments") or []
            if p.get("Status", "AUTHORISED") != "DELETED"
        ]
        allocations: list[RemoteAllocation] = []
        if is_credit:
            for a in element.get("Allocations") or []:
                if a.get("IsDeleted"):
                    continue
                allocations.append(RemoteAllocation(a.get("AllocationID", ""), own_id,
                                                    (a.get("Invoice") or {}).get("InvoiceID", ""),
                                                    Decimal(str(a.get("Amount") or 0))))
        else:
            known = {}
            for cn in credit_notes or ():
                cn_id = cn.get("CreditNoteID", "")
                for a in cn.get("Allocations") or []:
                    if a.get("IsDeleted") or (a.get("Invoice") or {}).get("InvoiceID", "") != own_id:
                        continue
                    known.setdefault(cn_id, []).append(RemoteAllocation(
                        a.get("AllocationID", ""), cn_id, own_id, Decimal(str(a.get("Amount") or 0))))
            for applied in element.get("CreditNotes") or []:
                cn_id = applied.get("CreditNoteID") or applied.get("ID") or ""
                if cn_id in known:
                    for alloc in known.pop(cn_id):
                        if alloc not in allocations:
                            allocations.append(alloc)
                elif not any(a.credit_note_id == cn_id for a in allocations):
                    allocations.append(RemoteAllocation("", cn_id, own_id,
                                                        Decimal(str(applied.get("AppliedAmount") or 0))))
        other = len(element.get("Overpayments") or []) + len(element.get("Prepayments") or [])
        return cls(
            kind=kind,
            status=element.get("Status") or ABSENT,
            remote_id=own_id,
            number=element.get("CreditNoteNumber" if is_credit else "InvoiceNumber") or "",
            payments=payments,
            allocations=allocations,
            other_credits=other,
        )


@dataclasses.dataclass
class HostWish:
    """What the host wants the Xero document to be."""

    action: str  # POST | CANCEL | DRAFT_AGAIN | DELETE
    number: str = ""  # the host's document number
    status: str = AUTHORISED  # for POST: DRAFT / SUBMITTED / AUTHORISED
    # fields that differ from what Xero has (see changed_fields); None = unknown = all
    changed: frozenset | set | None = None
    our_payment_ids: frozenset | set = frozenset()
    our_allocation_ids: frozenset | set = frozenset()
    allow_recreate: bool = False  # a manager confirmed re-creating a document closed in Xero
    taken_numbers: frozenset | set = frozenset()  # numbers known to exist in Xero


@dataclasses.dataclass(frozen=True)
class Step:
    action: str
    target: str = ""  # the id acted on: document, payment or allocation
    params: tuple = ()  # extra (key, value) pairs, e.g. (("credit_note_id", ...),)
    reason: str = ""

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    def as_tuple(self) -> tuple:
        """("delete_payment", id) / ("remove_allocation", cn_id, alloc_id) / ("update", doc_id, status)
        / ("void", doc_id) / ("delete", doc_id) / ("create", number, status) / ("repush_payments", ids)."""
        if self.action == A_REMOVE_ALLOCATION:
            return (self.action, self.param("credit_note_id"), self.target)
        if self.action == A_UPDATE:
            return (self.action, self.target, self.param("status"))
        if self.action == A_CREATE:
            return (self.action, self.param("number"), self.param("status"))
        if self.action == A_REPUSH_PAYMENTS:
            return (self.action, self.param("payment_ids"), self.param("allocation_ids"))
        return (self.action, self.target)


@dataclasses.dataclass
class Plan:
    outcome: str
    steps: list[Step]
    reason: str  # one sentence for the accountant (sync log / chatter)
    level: str = LEVEL_OK
    new_number: str = ""  # the Xero number of a (re-)created document

    @property
    def blocked(self) -> bool:
        return self.outcome == BLOCKED

    @property
    def needs_attention(self) -> bool:
        return self.level != LEVEL_OK

    def as_tuples(self) -> list[tuple]:
        return [s.as_tuple() for s in self.steps]

    def log_lines(self) -> list[str]:
        return [self.reason] + [s.reason for s in self.steps if s.reason]


_RECREATE_RE = re.compile(r"^(?P<base>.*)-R(?P<n>\d+)$")


def recreate_number(host_number: str, current_number: str = "", taken: Iterable[str] = ()) -> str:
    """The Xero number for a re-created document: ``<host>-R1``, ``-R2``... (see module doc)."""
    base = host_number or current_number or "DOC"
    n = 1
    m = _RECREATE_RE.match(current_number or "")
    if m and m.group("base") == base:
        n = int(m.group("n")) + 1
    taken_set = {t.casefold() for t in taken if t}
    taken_set.add((current_number or "").casefold())
    while f"{base}-R{n}".casefold() in taken_set:
        n += 1
    return f"{base}-R{n}"


def _noun(kind: str) -> str:
    return "credit note" if kind == docs.KIND_CREDIT_NOTE else "invoice"


def _label(xero: XeroDoc, host: HostWish) -> str:
    return xero.number or host.number or xero.remote_id or "the document"


def _fields_text(fields: Iterable[str]) -> str:
    return ", ".join(sorted(f.replace("_", " ") for f in fields))


def _blockers(xero: XeroDoc, host: HostWish) -> list[str]:
    """Why the payments/allocations on the document cannot be removed automatically."""
    out = []
    ours_p = set(host.our_payment_ids)
    ours_a = set(host.our_allocation_ids)
    for p in xero.payments:
        if p.payment_id not in ours_p:
            out.append(f"payment {p.payment_id} was not made by this integration: remove it in Xero "
                       "(or record it in the host) and retry")
        elif p.is_reconciled:
            out.append(f"payment {p.payment_id} is reconciled with a bank statement line: "
                       "unreconcile it in Xero and retry")
        elif p.batch_payment_id:
            out.append(f"payment {p.payment_id} belongs to batch payment {p.batch_payment_id}: "
                       "remove it from the batch in Xero and retry")
    for a in xero.allocations:
        if not a.allocation_id:
            out.append(f"credit note {a.credit_note_id} is applied to it but its allocation is not known: "
                       "refresh the document from Xero and retry")
        elif a.allocation_id not in ours_a:
            out.append(f"credit allocation {a.allocation_id} was not made by this integration: "
                       "remove it in Xero and retry")
    if xero.other_credits:
        out.append("an overpayment or prepayment is applied to it: remove that allocation in Xero and retry")
    return out


def _removal_steps(xero: XeroDoc, why: str) -> list[Step]:
    steps = []
    for p in xero.payments:
        steps.append(Step(A_DELETE_PAYMENT, p.payment_id, (("amount", p.amount),),
                          f"deleted payment {p.payment_id} in Xero: {why}"))
    for a in xero.allocations:
        steps.append(Step(A_REMOVE_ALLOCATION, a.allocation_id,
                          (("credit_note_id", a.credit_note_id), ("invoice_id", a.invoice_id),
                           ("amount", a.amount)),
                          f"removed credit allocation {a.allocation_id} in Xero: {why}"))
    return steps


def _has_applied(xero: XeroDoc) -> bool:
    return bool(xero.payments or xero.allocations or xero.other_credits)


def plan(xero: XeroDoc, host: HostWish) -> Plan:
    """What to do in Xero so that it reflects what the host wants (see the module's table)."""
    if host.action not in WISHES:
        raise ValueError(f"unknown host action {host.action!r}")
    status = (xero.status or ABSENT).upper()
    if status not in STATUSES:
        raise ValueError(f"unknown Xero status {xero.status!r}")
    noun = _noun(xero.kind)
    label = _label(xero, host)
    changed = ALL_FIELDS if host.changed is None else frozenset(host.changed)
    target = (host.status or AUTHORISED).upper()
    applied = _has_applied(xero)

    # ---- not in Xero ------------------------------------------------------
    if status == ABSENT:
        if host.action == POST:
            return Plan(CREATE, [Step(A_CREATE, "", (("number", host.number), ("status", target)),
                                      f"created {noun} {host.number} in Xero as {target}")],
                        f"{noun} {host.number} is not in Xero yet: creating it", new_number=host.number)
        return Plan(NOOP, [], f"{noun} {label} was never sent to Xero: nothing to do")

    if status == PAID and not applied:
        return Plan(BLOCKED, [], f"{noun} {label} is PAID in Xero but its payments are not known: "
                                 "refresh it from Xero and retry", LEVEL_ERROR)

    # ---- final states -------------------------------------------------------
    if status in FINAL:
        word = status.lower()
        if host.action != POST:
            return Plan(NOOP, [], f"{noun} {label} is already {word} in Xero: nothing to do")
        new = recreate_number(host.number, xero.number, host.taken_numbers)
        if not (host.allow_recreate or xero.closed_by_us):
            return Plan(BLOCKED, [], (
                f"{noun} {label} was {word} in Xero, but the host still has it. Xero keeps the number of a "
                f"{word} {noun}, so it can only be re-created under a new number ({new}): Retry after the "
                f"next pull from Xero has read that it is {word} to do so, or cancel it in the host"), LEVEL_ERROR)
        return Plan(RECREATE, [Step(A_CREATE, "", (("number", new), ("status", target)),
                                    f"created {noun} {new} in Xero: {label} is {word} there and Xero does not "
                                    f"reuse the number of a {word} {noun}")],
                    f"{noun} {label} is {word} in Xero: created it again as {new}", LEVEL_WARNING, new_number=new)

    # ---- DRAFT / SUBMITTED ---------------------------------------------------
    if status in EDITABLE:
        if host.action in (CANCEL, DELETE):
            what = "cancelled" if host.action == CANCEL else "deleted"
            return Plan(REMOVE, [Step(A_DELETE, xero.remote_id, (),
                                      f"deleted {status.lower()} {noun} {label} in Xero: it was {what} in the host")],
                        f"{noun} {label} was {what} in the host: deleting the {status.lower()} copy in Xero")
        if host.action == DRAFT_AGAIN:
            return Plan(NOOP, [], f"{noun} {label} is still {status.lower()} in Xero: it is updated when the "
                                  "host posts it again")
        if not changed and target == status:
            return Plan(NOOP, [], f"{noun} {label} is up to date in Xero")
        what = f"approved as {target}" if target != status else _fields_text(changed) + " changed"
        return Plan(UPDATE, [Step(A_UPDATE, xero.remote_id, (("status", target), ("fields", tuple(sorted(changed)))),
                                  f"updated {status.lower()} {noun} {label} in Xero ({what})")],
                    f"updating {noun} {label} in Xero ({what})")

    # ---- AUTHORISED / PAID -------------------------------------------------
    if host.action == DRAFT_AGAIN:
        return Plan(NOOP, [], (
            f"{noun} {label} was reset to draft in the host; Xero cannot turn an approved {noun} back into a "
            f"draft, so it stays {status} there until the host posts it again (then it is updated) or "
            "cancels it (then it is voided)"))

    if host.action in (CANCEL, DELETE):
        what = "cancelled" if host.action == CANCEL else "deleted"
        if not applied:
            return Plan(VOID, [Step(A_VOID, xero.remote_id, (),
                                    f"voided {noun} {label} in Xero: it was {what} in the host, and Xero cannot "
                                    f"delete an approved {noun}")],
                        f"{noun} {label} was {what} in the host: voiding it in Xero")
        blockers = _blockers(xero, host)
        if blockers:
            return Plan(BLOCKED, [], f"{noun} {label} was {what} in the host, but Xero cannot void it while "
                                     f"payments are applied: " + "; ".join(blockers), LEVEL_ERROR)
        why = f"Xero cannot void {noun} {label} while payments or credits are applied"
        steps = _removal_steps(xero, why)
        steps.append(Step(A_VOID, xero.remote_id, (),
                          f"voided {noun} {label} in Xero after removing its payments: it was {what} in the host"))
        return Plan(VOID, steps, f"{noun} {label} was {what} in the host: removed its payments and voided it "
                                 "in Xero")

    # host.action == POST
    if not changed:
        note = ""
        if target != AUTHORISED:
            note = f" (the host sends it as {target}, but Xero cannot un-approve it)"
        return Plan(NOOP, [], f"{noun} {label} is up to date in Xero{note}")

    is_credit = xero.kind == docs.KIND_CREDIT_NOTE
    if not applied:
        if is_credit and not changed <= CREDIT_NOTE_AUTHORISED_EDITABLE:
            locked = changed - CREDIT_NOTE_AUTHORISED_EDITABLE
            return _void_and_recreate(xero, host, changed, (
                f"Xero does not allow changing the {_fields_text(locked)} of an approved credit note"), [])
        note = "" if target == AUTHORISED else f"; Xero cannot un-approve it, it stays {status}"
        return Plan(UPDATE, [Step(A_UPDATE, xero.remote_id, (("status", status), ("fields", tuple(sorted(changed)))),
                                  f"updated approved {noun} {label} in place in Xero "
                                  f"({_fields_text(changed)} changed{note})")],
                    f"updating {noun} {label} in Xero ({_fields_text(changed)} changed)")

    if changed <= MINOR_FIELDS:
        return Plan(NOT_EDITABLE, [], (
            f"Xero does not allow editing {noun} {label} while it has payments or credits applied: the change "
            f"of {_fields_text(changed)} was not sent (it does not change any amount). Edit it in Xero by hand "
            "if it matters"), LEVEL_WARNING)

    blockers = _blockers(xero, host)
    if blockers:
        return Plan(BLOCKED, [], (
            f"{noun} {label} changed in the host ({_fields_text(changed)}), but Xero does not allow editing it "
            "while payments are applied and they cannot be removed automatically: " + "; ".join(blockers)),
            LEVEL_ERROR)
    why = f"Xero does not allow editing {noun} {label} while payments or credits are applied"
    article = "an" if noun == "invoice" else "a"
    return _void_and_recreate(xero, host, changed, f"Xero does not allow editing {article} {noun} with payments",
                              _removal_steps(xero, why))


def _void_and_recreate(xero: XeroDoc, host: HostWish, changed: frozenset, why: str, removals: list[Step]) -> Plan:
    noun = _noun(xero.kind)
    label = _label(xero, host)
    new = recreate_number(host.number, xero.number, host.taken_numbers)
    target = (host.status or AUTHORISED).upper()
    steps = list(removals)
    steps.append(Step(A_VOID, xero.remote_id, (), f"voided {noun} {label} in Xero: {why}"))
    steps.append(Step(A_CREATE, "", (("number", new), ("status", target)),
                      f"created {noun} {new} in Xero with the host's changes ({_fields_text(changed)}); "
                      f"the voided {label} keeps its number"))
    pay_ids = tuple(s.target for s in removals if s.action == A_DELETE_PAYMENT)
    alloc_ids = tuple(s.target for s in removals if s.action == A_REMOVE_ALLOCATION)
    if pay_ids or alloc_ids:
        steps.append(Step(A_REPUSH_PAYMENTS, "", (("payment_ids", pay_ids), ("allocation_ids", alloc_ids)),
                          f"applied the host's payments and credits again to {new}"))
    return Plan(VOID_AND_RECREATE, steps, f"{why}: voided {label} and created a new one, {new}", LEVEL_WARNING,
                new_number=new)


# --------------------------------------------------------------------------
# what changed between two pushes
# --------------------------------------------------------------------------
_FIELD_KEYS = {
    "LineItems": F_LINES,
    "LineAmountTypes": F_LINES,
    "Contact": F_CONTACT,
    "CurrencyCode": F_CURRENCY,
    "CurrencyRate": F_CURRENCY,
    "Date": F_DATE,
    "DueDate": F_DUE_DATE,
    "Reference": F_REFERENCE,
    "InvoiceNumber": F_NUMBER,
    "CreditNoteNumber": F_NUMBER,
    "Url": F_URL,
}


def _strip_line_ids(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    return [{k: v for k, v in li.items() if k != "LineItemID"} if isinstance(li, dict) else li for li in items]


def changed_fields(previous: Mapping | None, current: Mapping) -> frozenset | None:
    """Which fields (F_*) differ between the payload last pushed and the new one.

    Both are payloads built by payloads.invoice_payload/credit_note_payload.
    ``None`` when nothing was pushed before (unknown: treat as all).
    Status, IDs and Type are not content changes.
    """
    if previous is None:
        return None
    out = set()
    for key, field in _FIELD_KEYS.items():
        a, b = previous.get(key), current.get(key)
        if key == "LineItems":
            a, b = _strip_line_ids(a), _strip_line_ids(b)
        if a != b:
            out.add(field)
    return frozenset(out)


# --------------------------------------------------------------------------
# what differs between Xero's copy and the payload we would send
# --------------------------------------------------------------------------
_LINE_KEYS = ("Description", "Quantity", "UnitAmount", "DiscountRate", "ItemCode", "AccountCode",
              "TaxType", "TaxAmount", "LineAmount")


def _num(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).normalize()
    except Exception:  # noqa: BLE001 - not a number: compare as text
        return None


def _same(a: Any, b: Any) -> bool:
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na == nb
    return (a or "") == (b or "")


def _xero_date(value: Any, text: Any = None) -> str:
    if text:
        return str(text)[:10]
    from .payloads import parse_xero_date  # local: payloads imports nothing from here

    d = parse_xero_date(value)
    return d.isoformat() if d else ""


def _tracking_set(tracking: Any) -> set:
    return {((t.get("Name") or "").casefold(), (t.get("Option") or "").casefold())
            for t in tracking or [] if isinstance(t, Mapping)}


def _line_differs(sent: Mapping, have: Mapping) -> bool:
    for key in _LINE_KEYS:
        if key in sent:
            if not _same(sent.get(key), have.get(key)):
                return True
        elif key == "DiscountRate" and _num(have.get(key)) not in (None, Decimal(0)):
            return True
    if "Quantity" in sent or "UnitAmount" in sent or "LineAmount" in sent:
        return _tracking_set(sent.get("Tracking")) != _tracking_set(have.get("Tracking"))
    return False


def changed_against_xero(element: Mapping, payload: Mapping) -> frozenset:
    """Which fields (F_*) of ``payload`` (a document payload from payloads.py) differ from
    ``element`` (the document as Xero returns it). Only what the payload sets is compared, so
    values Xero fills in itself (an item's account, a computed tax) do not count as changes;
    amounts are compared as numbers and dates as days."""
    out = set()
    sent_lines = list(payload.get("LineItems") or [])
    have_lines = list(element.get("LineItems") or [])
    if len(sent_lines) != len(have_lines) or any(
            _line_differs(s, h) for s, h in zip(sent_lines, have_lines)):
        out.add(F_LINES)
    if (payload.get("LineAmountTypes") or "Exclusive") != (element.get("LineAmountTypes") or "Exclusive"):
        out.add(F_LINES)
    sent_contact = (payload.get("Contact") or {}).get("ContactID")
    if sent_contact and sent_contact.lower() != ((element.get("Contact") or {}).get("ContactID") or "").lower():
        out.add(F_CONTACT)
    if payload.get("CurrencyCode") and payload["CurrencyCode"] != element.get("CurrencyCode"):
        out.add(F_CURRENCY)
    if payload.get("CurrencyRate") is not None and not _same(payload["CurrencyRate"], element.get("CurrencyRate")):
        out.add(F_CURRENCY)
    if "Date" in payload and payload["Date"][:10] != _xero_date(element.get("Date"), element.get("DateString")):
        out.add(F_DATE)
    if "DueDate" in payload and payload["DueDate"][:10] != _xero_date(element.get("DueDate"),
                                                                      element.get("DueDateString")):
        out.add(F_DUE_DATE)
    if (payload.get("Reference") or "") != (element.get("Reference") or ""):
        out.add(F_REFERENCE)
    for key in ("InvoiceNumber", "CreditNoteNumber"):
        if key in payload and payload[key] != element.get(key):
            out.add(F_NUMBER)
    if (payload.get("Url") or "") != (element.get("Url") or ""):
        out.add(F_URL)
    return frozenset(out)

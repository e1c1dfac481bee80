"""The provider boundary: what the sync engine asks of any accounting provider.

The engine (an Odoo model) groups its jobs by connection, kind and operation, turns each job's
record into a ``documents`` object and hands a list of ``WorkItem`` to ``SyncProvider.run``. A
provider answers with one ``documents.Result`` per item, in order, and never raises for a
per-document failure. Connection-wide failures (the grant was revoked, the daily budget is
spent) are raised as ``ProviderError`` so the engine can pause the whole connection.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .documents import Result

KIND_CONTACT = "contact"
KIND_INVOICE = "invoice"
KIND_CREDIT_NOTE = "credit_note"
KIND_PAYMENT = "payment"
KIND_REFUND = "refund"
KIND_ALLOCATION = "allocation"
KIND_OVERPAYMENT = "overpayment"  # customer credit (money that settles nothing yet)
KIND_OVERPAYMENT_ALLOCATION = "overpayment_allocation"  # that credit applied to an invoice
KIND_OVERPAYMENT_REFUND = "overpayment_refund"  # that credit paid back to the customer

OP_UPSERT = "upsert"
OP_CANCEL = "cancel"

# Error kinds shared by every provider (the sync log shows them; the engine acts on them).
RETRYABLE = "retryable"  # retried automatically with backoff
REAUTH = "reauth"  # the connection must be re-authorised: pause it, keep the jobs
VALIDATION = "validation"  # the remote side refused the document: a person fixes and retries
MAPPING = "mapping"  # something is not mapped: a person maps it and retries
NOT_FOUND = "not_found"
CONFLICT = "conflict"
INTERNAL = "internal"

PERSON_NEEDED = {VALIDATION, MAPPING, NOT_FOUND, CONFLICT, INTERNAL}

# The stable error code of a failure whose provider gave none (Odoo-side outcomes: a mapping to
# make, a dependency not in the provider yet, a bug). A provider's own codes (what its API
# answered) come with its results, ``Result.details["error_code"]``; Xero's are decided in
# services/xero/errors.py.
DEFAULT_CODES = {
    RETRYABLE: "server_error",
    REAUTH: "token_revoked",
    VALIDATION: "validation",
    MAPPING: "mapping_missing",
    NOT_FOUND: "not_found",
    CONFLICT: "conflict",
    INTERNAL: "internal_error",
}
CODE_WAITING = "waiting_for_dependency"
CODE_NOT_SENT = "not_sent"


@dataclasses.dataclass
class WorkItem:
    key: str  # the job's idempotency key: stable across every retry of this job
    kind: str
    operation: str
    obj: Any  # documents.Customer | Document | Payment | Allocation
    # Answers recorded for this job: part of its Idempotency-Key, so a retry after an unknown
    # outcome (crash, timeout, lost response) repeats the same request with the same key, and a
    # retry after a known answer (a fix, then Retry) is a new request.
    attempt: int = 0
    # A send of this job was recorded (committed) before: Xero may already have it, whatever the
    # log says, so the provider looks it up before creating anything. None: derive from attempt.
    maybe_sent: bool | None = None

    @property
    def may_exist(self) -> bool:
        return self.attempt > 0 if self.maybe_sent is None else self.maybe_sent


class ProviderError(Exception):
    """A failure of the whole connection, not of one document."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, rate_limited: bool = False,
                 code: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code or DEFAULT_CODES.get(kind, kind)
        self.retry_after = retry_after
        # the provider's call budget is spent (Xero's 429 or our own limiter's refusal): nothing
        # is wrong with the documents, so waiting costs them no attempt
        self.rate_limited = rate_limited
        # set by a provider that knows no write of the run reached the service (a refusal before
        # any request, reads only): the jobs are not maybe-sent because of this run, so the
        # retry takes the first-send way again instead of looking each one up. A failed Result
        # says the same of its document with ``details[CODE_NOT_SENT]``.
        self.not_sent = False


class SyncProvider:
    """Base class; a provider implements ``run`` and ``fetch_reference_data``."""

    # ``run`` may be called on a thread of its own while the host prepares the next batch (it
    # then reads nothing from the host but the token store, which the host makes safe for it):
    # a provider says so, and keeps a single ``run`` at a time per provider object.
    send_in_thread = False

    def before_send_thread(self):
        """Called on the host's thread before ``run`` goes to a thread: load what a send needs
        (tokens), so that the thread seldom has to ask the host for it."""

    def run(self, items: list[WorkItem]) -> list[Result]:  # pragma: no cover - interface
        raise NotImplementedError

    def fetch_reference_data(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def remote_documents(self, kind: str, remote_ids: list) -> dict:  # pragma: no cover - interface
        """{lower-case remote id: the document as the provider reports it} (a
        ``services.xero.inbound.RemoteDocument``-shaped object: status, total, amount_due,
        contact_id, currency_code, date, number) for the drift report; ids it does not know
        are left out."""
        raise NotImplementedError

    @staticmethod
    def failed(items: list[WorkItem], kind: str, message: str) -> list[Result]:
        return [Result(ref=item.key, ok=False, error_kind=kind, message=message) for item in items]

"""Errors of the Xero client, classified for the sync engine.

Every failure that leaves the client is a :class:`XeroError` whose ``kind``
tells the engine what to do:

* ``retryable``  - 429, 5xx, timeouts, connection errors: try again later
  (``retry_after`` seconds when Xero or the limiter said how long);
* ``reauth``     - 401 (other than an expired access token, which the client
  handles itself), 403, ``invalid_grant``: a person must reconnect;
* ``validation`` - 400: the data must be fixed; the message is one readable
  sentence per failing document;
* ``not_found``  - 404;
* ``conflict``   - 409/412 and other state clashes.

Messages never contain tokens, secrets, authorization codes or headers: they
are built from Xero's response bodies only, and pass through :func:`redact`.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal

RETRYABLE = "retryable"
REAUTH = "reauth"
VALIDATION = "validation"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
KINDS = (RETRYABLE, REAUTH, VALIDATION, NOT_FOUND, CONFLICT)


class XeroError(Exception):
    """A classified Xero failure; ``str(err)`` is a sentence for a person."""

    def __init__(self, kind, message, status=None, retry_after=None, details=None, code=None):
        if kind not in KINDS:
            raise ValueError("unknown XeroError kind %r" % (kind,))
        message = redact(str(message))
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.details = details or {}
        # the stable machine-readable code (see "Stable error codes" below)
        self.code = code or self.details.get("error_code") or DEFAULT_CODE_BY_KIND.get(kind, VALIDATION_CODE)
        self.details["error_code"] = self.code

    @property
    def retryable(self):
        return self.kind == RETRYABLE

    def __repr__(self):
        return "XeroError(%r, %r, status=%r, retry_after=%r)" % (
            self.kind,
            self.message,
            self.status,
            self.retry_after,
        )


# --------------------------------------------------------------------------
# Redaction

_SECRET_PATTERNS = [
    # Authorization: Bearer <jwt> / Basic <b64>
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # key=value / "key": "value" for the OAuth secrets
    re.compile(
        r"(?i)(\"?(?:access_token|refresh_token|id_token|client_secret|code|code_verifier|token|authorization)\"?"
        r"\s*[:=]\s*\"?)([^\"&\s,}]+)"
    ),
    # JWT-looking strings
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
]

_registered_secrets: set = set()


def register_secret(value):
    """Remember a secret so :func:`redact` removes it wherever it shows up."""
    if value and isinstance(value, str) and len(value) >= 6:
        _registered_secrets.add(value)
        # bound the set: tokens rotate every 30 minutes
        if len(_registered_secrets) > 2000:
            _registered_secrets.clear()


def redact(text):
    if not text:
        return text
    text = str(text)
    for secret in list(_registered_secrets):
        if secret in text:
            text = text.replace(secret, "[redacted]")

    def _kv(match):
        return match.group(1) + "[redacted]"

    text = _SECRET_PATTERNS[0].sub(lambda m: m.group(1) + " [redacted]", text)
    text = _SECRET_PATTERNS[1].sub(_kv, text)
    text = _SECRET_PATTERNS[2].sub("[redacted]", text)
    return text


# --------------------------------------------------------------------------
# Bodies and element errors


def parse_body(body):
    """JSON body as Python data (floats as Decimal), or None."""
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        return body
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    body = body.strip()
    if not body or body[0] not in "{[":
        return None
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        return None


def _text(body, limit=300):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = (body or "").strip()
    if body.startswith("<"):  # HTML error page: say nothing of it
        return ""
    return body[:limit]


def element_messages(element):
    """Messages of Xero's ``ValidationErrors`` on one element (may be empty)."""
    if not isinstance(element, dict):
        return []
    messages = []
    for err in element.get("ValidationErrors") or []:
        msg = err.get("Message") if isinstance(err, dict) else str(err)
        if msg:
            messages.append(str(msg).strip())
    return messages


def element_has_errors(element):
    if not isinstance(element, dict):
        return True
    if element_messages(element):
        return True
    if element.get("HasErrors") or element.get("HasValidationErrors"):
        return True
    return str(element.get("StatusAttributeString") or "").upper() == "ERROR"


def _pick(*values):
    for v in values:
        if v not in (None, "", {}):
            return v
    return ""


def _nested(element, key, *subkeys):
    sub = element.get(key) if isinstance(element, dict) else None
    if not isinstance(sub, dict):
        return ""
    return _pick(*(sub.get(k) for k in subkeys))


def element_label(kind, element=None, sent=None, index=None):
    """A short name for a document in a message: "Invoice INV/2026/0001"."""
    element = element if isinstance(element, dict) else {}
    sent = sent if isinstance(sent, dict) else {}

    def get(key):
        return _pick(element.get(key), sent.get(key))

    position = "" if index is None else " #%d" % (index + 1)
    if kind == "contact":
        name = get("Name")
        return "Contact %s" % name if name else "Contact%s" % position
    if kind == "attachment":
        name, document = get("FileName"), get("Document")
        label = "The PDF %s" % name if name else "The attachment%s" % position
        return "%s of %s" % (label, document) if document else label
    if kind == "invoice":
        ref = _pick(get("InvoiceNumber"), get("InvoiceID"))
        return "Invoice %s" % ref if ref else "Invoice%s" % position
    if kind == "credit_note":
        ref = _pick(get("CreditNoteNumber"), get("CreditNoteID"))
        return "Credit note %s" % ref if ref else "Credit note%s" % position
    if kind == "payment":
        amount = get("Amount")
        target = _pick(
            _nested(element, "Invoice", "InvoiceNumber", "InvoiceID"),
            _nested(sent, "Invoice", "InvoiceNumber", "InvoiceID"),
        )
        what = "invoice"
        if not target:
            target = _pick(
                _nested(element, "CreditNote", "CreditNoteNumber", "CreditNoteID"),
                _nested(sent, "CreditNote", "CreditNoteNumber", "CreditNoteID"),
            )
            what = "credit note"
        if not target:
            target = _pick(_nested(element, "Overpayment", "OverpaymentID"), _nested(sent, "Overpayment", "OverpaymentID"))
            what = "overpayment"
        label = "Payment"
        if amount not in ("", None):
            label += " of %s" % amount
        if target:
            label += " on %s %s" % (what, target)
        return label if label != "Payment" else "Payment%s" % position
    if kind == "allocation":
        target = _pick(
            _nested(element, "Invoice", "InvoiceNumber", "InvoiceID"),
            _nested(sent, "Invoice", "InvoiceNumber", "InvoiceID"),
        )
        amount = get("Amount")
        label = "Allocation"
        if amount not in ("", None):
            label += " of %s" % amount
        if target:
            label += " to invoice %s" % target
        return label if label != "Allocation" else "Allocation%s" % position
    return (kind or "Document").replace("_", " ").capitalize() + position


def sentence(label, messages):
    """ONE readable sentence: "Invoice X: first problem; second problem."."""
    parts = []
    for msg in messages:
        msg = " ".join(str(msg).split()).rstrip(" .;")
        if msg and msg not in parts:
            parts.append(msg)
    if not parts:
        parts = ["Xero rejected it without saying why"]
    return redact("%s: %s." % (label, "; ".join(parts)))


# --------------------------------------------------------------------------
# Classification of HTTP answers


def header(headers, name):
    """Case-insensitive header lookup on any mapping / list of pairs."""
    if not headers:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    lname = name.lower()
    for key, value in items:
        if str(key).lower() == lname:
            return value
    return None


def retry_after_seconds(headers):
    value = header(headers, "Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def is_token_expired(status, body):
    """401 TokenExpired: the access token aged out (refresh and retry once).

    The status says 401; which 401 only Xero's ``Detail`` says ("TokenExpired: token expired at
    ..."): its 401 body has no code field, so this is the one place the client reads it."""
    if status != 401:
        return False
    data = parse_body(body)
    text = ""
    if isinstance(data, dict):
        text = " ".join(str(data.get(k) or "") for k in ("Detail", "Title", "Message", "error", "error_description"))
    else:
        text = _text(body)
    return "tokenexpired" in text.replace(" ", "").lower() or "token expired" in text.lower()


def classify(status, headers=None, body=None, *, kind=None, sent=None, what="Xero"):
    """Turn a non-2xx HTTP answer into a :class:`XeroError`.

    ``kind``/``sent`` name the document(s) for validation sentences
    (``sent`` is the element, or list of elements, that was sent).
    """
    data = parse_body(body)
    detail = ""
    if isinstance(data, dict):
        detail = str(
            _pick(
                data.get("Detail"),
                data.get("Message"),
                data.get("error_description"),
                data.get("error"),
                data.get("Title"),
            )
        )
    elif data is None:
        detail = _text(body)
    details = {"status": status, "error_code": http_code(status, headers, data)}
    correlation = header(headers, "Xero-Correlation-Id")
    if correlation:
        details["correlation_id"] = correlation

    if status == 429:
        problem = (header(headers, "X-Rate-Limit-Problem") or "").lower() or "minute"
        retry_after = retry_after_seconds(headers)
        details["rate_limit_problem"] = problem
        return XeroError(
            RETRYABLE,
            "Xero's %s rate limit was reached; retry in %s seconds." % (problem, _fmt_secs(retry_after)),
            status=status,
            retry_after=retry_after,
            details=details,
        )
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        details["oauth_error"] = data["error"]  # the identity server's code, e.g. invalid_client
    if status == 401:
        if isinstance(data, dict) and data.get("error") in ("invalid_client", "unauthorized_client"):
            msg = "Xero rejected the app's credentials (%s); check the client id and secret." % data.get("error")
        elif is_token_expired(status, body):
            msg = "The Xero access token has expired and could not be renewed; reconnect to Xero."
        else:
            msg = "Xero refused the connection (401%s); reconnect to Xero." % (": " + detail if detail else "")
        return XeroError(REAUTH, msg, status=status, details=details)
    if status == 403:
        msg = "Xero refused access to this organisation (403%s); reconnect to Xero or check the granted scopes." % (
            ": " + detail if detail else ""
        )
        return XeroError(REAUTH, msg, status=status, details=details)
    if status == 400 and isinstance(data, dict) and data.get("error"):
        # OAuth error from the identity server (token endpoint)
        err = str(data.get("error"))
        if err in ("invalid_grant", "invalid_client", "unauthorized_client", "access_denied"):
            return XeroError(
                REAUTH,
                "Xero refused the authorisation (%s); reconnect to Xero." % err,
                status=status,
                details=details,
            )
        return XeroError(VALIDATION, "Xero refused the OAuth request (%s)." % err, status=status, details=details)
    if status == 400:
        elements = data.get("Elements") if isinstance(data, dict) else None
        sentences = []
        if elements:
            sent_list = sent if isinstance(sent, list) else [sent] * len(elements)
            codes = []
            for i, element in enumerate(elements):
                msgs = element_messages(element)
                if msgs or element_has_errors(element):
                    s = sent_list[i] if i < len(sent_list) else None
                    code = element_code(kind, element, msgs)
                    codes.append(code)
                    sentences.append(with_advice(
                        sentence(element_label(kind, element, s, i if len(elements) > 1 else None), msgs), code))
            details["elements"] = elements
            if codes:
                details["error_code"] = codes[0]
        if not sentences:
            label = element_label(kind, None, sent if isinstance(sent, dict) else None) if kind else what
            details["error_code"] = message_code([detail], kind)
            sentences.append(with_advice(sentence(label, [detail or "Xero rejected the request as invalid"]),
                                         details["error_code"]))
        return XeroError(VALIDATION, " ".join(sentences), status=status, details=details)
    if status == 404:
        return XeroError(
            NOT_FOUND, "%s was not found in Xero%s." % (what, (" (" + detail + ")") if detail else ""), status=status,
            details=details,
        )
    if status in (409, 412):
        return XeroError(CONFLICT, "Xero reported a conflict (%s)%s." % (status, (": " + detail) if detail else ""),
                         status=status, details=details)
    if status in (500, 502, 503, 504) or (status >= 500 and status != 501):
        retry_after = retry_after_seconds(headers)
        return XeroError(
            RETRYABLE,
            "Xero is unavailable right now (HTTP %s%s); it will be retried." % (status, (": " + detail) if detail else ""),
            status=status,
            retry_after=retry_after,
            details=details,
        )
    return XeroError(
        VALIDATION,
        "Xero refused the request (HTTP %s%s)." % (status, (": " + detail) if detail else ""),
        status=status,
        details=details,
    )


def _fmt_secs(value):
    if value is None:
        return "a few"
    if float(value).is_integer():
        return "%d" % value
    return "%.1f" % value


# --------------------------------------------------------------------------
# Stable error codes
#
# Every failure carries one machine-readable code (the sync log stores it on the job and on each
# attempt, filters and groups by it, and the README's "When something goes wrong" page lists
# them). The codes are decided HERE and nowhere else, from what Xero answered, most structured
# first:
#
# 1. the HTTP status and headers: 429 with ``X-Rate-Limit-Problem`` (``day`` is the daily cap),
#    401/403, 5xx, 404, 409/412;
# 2. the identity server's OAuth ``error`` field (``invalid_grant``, ``invalid_client``);
# 3. the client's own network outcome (timeout, connection refused), no HTTP status at all;
# 4. the document's status as Xero returned it (VOIDED/DELETED/PAID), where the answer carries it;
# 5. only then the text of Xero's ``ValidationErrors``: Xero's 400 body has ``ErrorNumber`` (10)
#    and ``Type`` (``ValidationException``) for the whole request, but each element's errors are
#    ``[{"Message": "..."}]`` with no code of their own (SPEC ACC schema ``ValidationError``), so
#    which rule an element broke can only be read from that message. The phrases below are
#    Xero's documented wording (xero-api-facts.md §5-§8, the OpenAPI examples) and the
#    emulator's; a message none of them matches is plain ``validation``.

CONTACT_NAME_TAKEN = "contact_name_taken"
CONTACT_NUMBER_TAKEN = "contact_number_taken"
CONTACT_ARCHIVED = "contact_archived"
CONTACT_MERGED = "contact_merged"
CONTACT_FIELD_INVALID = "contact_field_invalid"
INVOICE_NUMBER_TAKEN = "invoice_number_taken"
ACCOUNT_INVALID = "account_invalid"
TAX_TYPE_INVALID = "tax_type_invalid"
TAX_RATE_MISMATCH = "tax_rate_mismatch"
TRACKING_INVALID = "tracking_invalid"
ITEM_INVALID = "item_invalid"
DISCOUNT_NOT_ALLOWED = "discount_not_allowed"
LOCK_DATE = "lock_date"
CURRENCY_NOT_ENABLED = "currency_not_enabled"
CURRENCY_RATE_MISSING = "currency_rate_missing"
PAYMENT_ACCOUNT_INVALID = "payment_account_invalid"
DOCUMENT_NOT_EDITABLE = "document_not_editable"
DOCUMENT_VOIDED_IN_XERO = "document_voided_in_xero"
DOCUMENT_NOT_APPROVED = "document_not_approved"
DOCUMENT_NOT_FOUND = "document_not_found"
ALREADY_PAID = "already_paid"
ALREADY_DELETED = "already_deleted"
RECONCILED_IN_XERO = "reconciled_in_xero"
OVERPAYMENT = "overpayment"
CREDIT_EXHAUSTED = "credit_exhausted"
ORGANISATION_LIMIT = "organisation_limit"
NO_ID_RETURNED = "no_id_returned"
TOKEN_REVOKED = "token_revoked"
ACCESS_DENIED = "access_denied"
APP_CREDENTIALS_INVALID = "app_credentials_invalid"
RATE_LIMITED = "rate_limited"
DAILY_LIMIT = "daily_limit"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
NETWORK_ERROR = "network_error"
NOT_FOUND_CODE = "not_found"
CONFLICT_CODE = "conflict"
VALIDATION_CODE = "validation"
MAPPING_MISSING = "mapping_missing"
# The Odoo PDF attached to the Xero document (its own job, kind "attachment")
ATTACHMENT_TOO_LARGE = "attachment_too_large"
ATTACHMENT_LIMIT = "attachment_limit"
ATTACHMENTS_SCOPE_MISSING = "attachments_scope_missing"
PDF_RENDERER_MISSING = "pdf_renderer_missing"
# Xero's limits on attachments (developer.xero.com, Attachments): the emulator enforces the same.
ATTACHMENT_MAX_BYTES = 25 * 1024 * 1024
ATTACHMENTS_PER_DOCUMENT = 10

DEFAULT_CODE_BY_KIND = {
    RETRYABLE: SERVER_ERROR,
    REAUTH: TOKEN_REVOKED,
    VALIDATION: VALIDATION_CODE,
    NOT_FOUND: NOT_FOUND_CODE,
    CONFLICT: CONFLICT_CODE,
}

# (code, pattern, kinds it applies to or None for any) - first match wins, so the specific
# phrases come before the general ones. See point 5 above: message text is the last resort.
_MESSAGE_CODES = [
    (ATTACHMENT_TOO_LARGE, r"attachments of up to \d+ ?MB|file size|too large", None),
    (ATTACHMENT_LIMIT, r"allows at most \d+ on one document|maximum (number )?of \d+ attachments", None),
    (CONTACT_NAME_TAKEN, r"contact name .* is already assigned to another contact", None),
    (CONTACT_NUMBER_TAKEN, r"contact number .* is already assigned to another contact", None),
    (CONTACT_MERGED, r"has been merged into another contact", None),
    (CONTACT_ARCHIVED, r"contact .* has been archived|must be un-?archived", None),
    (INVOICE_NUMBER_TAKEN, r"(invoice|credit ?note) # must be unique|number must be unique", None),
    (DOCUMENT_NOT_EDITABLE, r"cannot be edited as it has a payment or credit note allocated", None),
    (LOCK_DATE, r"lock date", None),
    (CURRENCY_NOT_ENABLED, r"not subscribed to currency|currency .* (is )?not (enabled|valid)", None),
    (CURRENCY_RATE_MISSING, r"currency ?rate must be (specified|greater)", None),
    (ALREADY_PAID, r"already been paid off", None),
    (ALREADY_PAID, r"only be (made against|applied to) authori[sz]ed documents.*\bPAID\b", None),
    (DOCUMENT_VOIDED_IN_XERO, r"only be (made against|applied to) authori[sz]ed documents.*\b(VOIDED|DELETED)\b", None),
    (DOCUMENT_NOT_APPROVED, r"only be (made against|applied to) authori[sz]ed documents", None),
    (DOCUMENT_VOIDED_IN_XERO, r"document of this payment has been voided|not of valid status for modification", None),
    (OVERPAYMENT, r"exceeds the amount outstanding|greater than amount outstanding", None),
    (CREDIT_EXHAUSTED, r"remaining credit", None),
    (ALREADY_DELETED, r"already been deleted", None),
    (RECONCILED_IN_XERO, r"has been reconciled|is reconciled", None),
    (PAYMENT_ACCOUNT_INVALID, r"not a bank account and does not have payments enabled|bank account currency", None),
    (PAYMENT_ACCOUNT_INVALID, r"account", ("payment", "refund")),
    (ACCOUNT_INVALID, r"account ?code|account code or id|not a recognised account|system account|bank account", None),
    (TAX_TYPE_INVALID, r"tax ?type|tax rate|taxamount", None),
    (TRACKING_INVALID, r"tracking", None),
    (ITEM_INVALID, r"item code|price list item", None),
    (DISCOUNT_NOT_ALLOWED, r"discount", None),
    (CONTACT_FIELD_INVALID, r"email address|web ?site|url .*format|utf-?8|phone", None),
    (ORGANISATION_LIMIT, r"trial|subscription limit|limit of invoices", None),
    (DOCUMENT_NOT_FOUND, r"could not be found|cannot find|not found", None),
]
_MESSAGE_CODES = [(code, re.compile(pattern, re.IGNORECASE), kinds) for code, pattern, kinds in _MESSAGE_CODES]

# What to do, per code: appended to Xero's own words so the sentence on the document says what
# to fix and where. Menus are Odoo's (Invoicing > Configuration > Xero > ...).
ADVICE = {
    CONTACT_NAME_TAKEN: "another active Xero contact has this name: rename the customer in Odoo or the other "
                        "contact in Xero, then Retry",
    CONTACT_NUMBER_TAKEN: "another Xero contact holds this contact number: clear it on that contact in Xero, "
                          "then Retry",
    CONTACT_ARCHIVED: "the customer's contact is archived in Xero: restore it in Xero (Contacts > Archived) or "
                      "save the customer in Odoo, which sends it again as active, then Retry",
    CONTACT_MERGED: "the customer's contact was merged into another in Xero: save the customer in Odoo so it is "
                    "linked to the surviving contact, then Retry",
    CONTACT_FIELD_INVALID: "correct the customer's email, website or phone in Odoo, then Retry",
    INVOICE_NUMBER_TAKEN: "Xero already has a document with this number for another customer: void or renumber "
                          "that one in Xero, or change the journal's sequence in Odoo, then Retry",
    ACCOUNT_INVALID: "map the product or item kind to an active revenue account in Invoicing > Configuration > "
                     "Xero > Item mappings (refresh the Xero reference data first), then Retry",
    TAX_TYPE_INVALID: "map the Odoo tax to an active Xero tax rate for sales in Invoicing > Configuration > "
                      "Xero > Tax mappings (refresh the Xero reference data first), then Retry",
    TRACKING_INVALID: "map the campus to an active tracking option in Invoicing > Configuration > Xero > "
                      "Campus mappings, or restore the option in Xero, then Retry",
    ITEM_INVALID: "map the product or item kind to an active, sold Xero item in Invoicing > Configuration > "
                  "Xero > Item mappings, then Retry",
    LOCK_DATE: "change the document's date to after Xero's lock date, or ask the accountant to move the lock date "
               "in Xero (Settings > Advanced > Financial settings), then Retry",
    CURRENCY_NOT_ENABLED: "add the currency in Xero (Settings > Currencies), refresh the Xero reference data, "
                          "then Retry",
    CURRENCY_RATE_MISSING: "set a rate for the currency in Odoo (Accounting > Configuration > Currencies), then "
                           "Retry",
    PAYMENT_ACCOUNT_INVALID: "map the payment journal to a Xero bank account, or to one with 'Enable payments to "
                             "this account', in Invoicing > Configuration > Xero > Payment journals, then Retry",
    DOCUMENT_NOT_EDITABLE: "a payment or credit note is applied to it in Xero: remove it in Xero (or issue a "
                           "credit note in Odoo instead of editing), then Retry",
    DOCUMENT_VOIDED_IN_XERO: "it was voided or deleted in Xero: cancel it in Odoo if it should stay void, or Retry "
                             "after the next pull from Xero has read the void, which re-creates it under a new "
                             "number",
    DOCUMENT_NOT_APPROVED: "approve the document in Xero (or post it in Odoo), then Retry",
    DOCUMENT_NOT_FOUND: "it no longer exists in Xero: Retry looks it up again; if it was deleted there, cancel "
                        "it in Odoo",
    ALREADY_PAID: "it is already paid in Xero: remove the payment entered there by hand (or don't record it in "
                  "Odoo), then Retry",
    OVERPAYMENT: "the payment is more than what is still due in Xero: check for a payment or credit entered in "
                 "Xero by hand and remove it there, then Retry",
    CREDIT_EXHAUSTED: "the credit note has no credit left in Xero: remove the allocation or refund entered there "
                      "by hand, then Retry",
    DISCOUNT_NOT_ALLOWED: "remove the discount from the credit note line in Odoo, then Retry",
    ORGANISATION_LIMIT: "the Xero organisation's plan refuses more documents: upgrade the plan in Xero, then Retry",
    ATTACHMENT_TOO_LARGE: "the document's PDF is larger than Xero accepts: shorten it (fewer lines, a lighter "
                          "report layout or logo), then Retry; the document itself is in Xero",
    ATTACHMENT_LIMIT: "the document already has as many attachments as Xero allows: remove one in Xero, then "
                      "Retry; the document itself is in Xero",
    ATTACHMENTS_SCOPE_MISSING: "this connection was authorised without access to attachments: Reconnect to Xero "
                               "(Invoicing > Configuration > Xero > Connections > Reconnect) to grant it, then "
                               "Retry; the document itself is in Xero",
}


def message_code(messages, kind=None):
    """The code of Xero's ``ValidationErrors`` messages (text only: see point 5 above)."""
    for message in messages or ():
        for code, pattern, kinds in _MESSAGE_CODES:
            if (kinds is None or kind in kinds) and pattern.search(str(message)):
                return code
    return VALIDATION_CODE


def status_code(status):
    """The code of a document Xero holds in ``status`` that refuses what was asked."""
    status = (status or "").upper()
    if status in ("VOIDED", "DELETED"):
        return DOCUMENT_VOIDED_IN_XERO
    if status == "PAID":
        return ALREADY_PAID
    return DOCUMENT_NOT_EDITABLE


def payment_refusal_code(document_status, amount_due, amount):
    """Why Xero refused a payment, from the document as Xero holds it (structured: its Status and
    AmountDue, read back after the refusal), or None when that does not explain it."""
    status = (document_status or "").upper()
    if status == "PAID":
        return ALREADY_PAID
    if status in ("VOIDED", "DELETED"):
        return DOCUMENT_VOIDED_IN_XERO
    if status in ("DRAFT", "SUBMITTED"):
        return DOCUMENT_NOT_APPROVED
    try:
        if amount_due is not None and amount is not None and Decimal(str(amount)) > Decimal(str(amount_due)):
            return OVERPAYMENT
    except ArithmeticError:
        pass
    return None


def element_code(kind, element, messages):
    """The code of one failed element of a batch answer (``element`` as Xero returned it)."""
    code = message_code(messages, kind)
    if code == DOCUMENT_VOIDED_IN_XERO and isinstance(element, dict):
        # "not of valid status for modification" also answers a PAID document: Xero's echo says which
        if str(element.get("Status") or "").upper() == "PAID":
            return ALREADY_PAID
    return code


def http_code(status, headers=None, data=None, network=None):
    """The code of a whole answer from its status, headers and OAuth ``error`` (points 1-3)."""
    if network == "timeout":
        return TIMEOUT
    if network:
        return NETWORK_ERROR
    oauth_error = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else None
    if status == 429:
        problem = str(header(headers, "X-Rate-Limit-Problem") or "").lower()
        return DAILY_LIMIT if problem == "day" else RATE_LIMITED
    if oauth_error in ("invalid_client", "unauthorized_client"):
        return APP_CREDENTIALS_INVALID
    if oauth_error in ("invalid_grant", "access_denied") or status == 401:
        return TOKEN_REVOKED
    if status == 403:
        return ACCESS_DENIED
    if status == 404:
        return NOT_FOUND_CODE
    if status in (409, 412):
        return CONFLICT_CODE
    if status is not None and status >= 500 and status != 501:
        return SERVER_ERROR
    return VALIDATION_CODE


def preflight_code(problem_code):
    """The stable code of a pre-flight :class:`preflight.Problem` (Xero would refuse the same)."""
    code = problem_code or ""
    if code.startswith("payment_account"):
        return PAYMENT_ACCOUNT_INVALID
    if code.startswith("account") or code == "rounding_account":
        return ACCOUNT_INVALID
    if code.startswith("tax"):
        return TAX_TYPE_INVALID
    if code.startswith("tracking"):
        return TRACKING_INVALID
    if code.startswith("item"):
        return ITEM_INVALID
    if code in (LOCK_DATE, CURRENCY_NOT_ENABLED, CURRENCY_RATE_MISSING):
        return code
    return VALIDATION_CODE


def with_advice(message, code):
    """``message`` (one sentence) followed by what to do for ``code``, still one sentence."""
    advice = ADVICE.get(code)
    if not advice or not message or advice in message:
        return message
    return "%s — %s." % (message.rstrip().rstrip("."), advice)

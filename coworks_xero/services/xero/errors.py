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

    def __init__(self, kind, message, status=None, retry_after=None, details=None):
        if kind not in KINDS:
            raise ValueError("unknown XeroError kind %r" % (kind,))
        message = redact(str(message))
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.details = details or {}

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
    """401 TokenExpired: the access token aged out (refresh and retry once)."""
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
    details = {"status": status}
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
            for i, element in enumerate(elements):
                msgs = element_messages(element)
                if msgs or element_has_errors(element):
                    s = sent_list[i] if i < len(sent_list) else None
                    sentences.append(sentence(element_label(kind, element, s, i if len(elements) > 1 else None), msgs))
            details["elements"] = elements
        if not sentences:
            label = element_label(kind, None, sent if isinstance(sent, dict) else None) if kind else what
            sentences.append(sentence(label, [detail or "Xero rejected the request as invalid"]))
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

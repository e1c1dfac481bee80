"""Transport-independent request/response, the emulator clock, JSON and Intuit's Fault format."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal

# Intuit answers times in the company's time zone; the emulator's companies are on US Pacific
# standard time (a fixed -08:00: no daylight saving).
PACIFIC = dt.timezone(dt.timedelta(hours=-8))
CENT = Decimal("0.01")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "raw_query")

    def __init__(self, method, path, raw_query, headers, body):
        self.method = method.upper()
        self.path = path
        self.raw_query = raw_query or ""
        self.query = {}
        for k, v in urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True):
            self.query[k] = v
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body or b""


class Response:
    __slots__ = ("status", "headers", "body", "drop")

    def __init__(self, status=200, body=b"", headers=None, content_type="application/json;charset=UTF-8"):
        self.status = status
        if not isinstance(body, (bytes, bytearray)):
            body = dumps(body)
        self.body = bytes(body)
        self.headers = dict(headers or {})
        if content_type and "Content-Type" not in self.headers:
            self.headers["Content-Type"] = content_type
        self.drop = False


class Clock:
    """Emulator time: real time, optionally sped up (scale) and advanced."""

    def __init__(self, scale=1.0):
        self._lock = threading.Lock()
        self.reset(scale)

    def reset(self, scale=1.0):
        with self._lock:
            self._real0 = time.time()
            self._emu0 = self._real0
            self.scale = float(scale)

    def now(self):
        return self._emu0 + (time.time() - self._real0) * self.scale

    def set_scale(self, scale):
        if scale <= 0:
            raise ValueError("scale must be > 0")
        with self._lock:
            now = self.now()
            self._real0 = time.time()
            self._emu0 = now
            self.scale = float(scale)

    def advance(self, seconds):
        with self._lock:
            self._emu0 += float(seconds)

    def to_real(self, emu_seconds):
        return emu_seconds / self.scale

    def stamp(self, at=None):
        """Intuit's date-time form: 2026-12-03T00:41:44-08:00."""
        return iso(self.now() if at is None else at)

    def today(self):
        return dt.datetime.fromtimestamp(self.now(), tz=PACIFIC).date()


def iso(epoch, ms=False):
    d = dt.datetime.fromtimestamp(epoch, tz=PACIFIC)
    return d.isoformat(timespec="milliseconds" if ms else "seconds")


def parse_datetime(text):
    """An ISO 8601 date or date-time (offset optional, UTC when missing) -> epoch seconds or None."""
    if not text:
        return None
    text = str(text).strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            d = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), PACIFIC)
        else:
            d = dt.datetime.fromisoformat(text)
            if d.tzinfo is None:
                d = d.replace(tzinfo=dt.timezone.utc)
        return d.timestamp()
    except ValueError:
        return None


def parse_date(text):
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text and len(str(text)) >= 10 else None
    except ValueError:
        return None


def dumps(data) -> bytes:
    return json.dumps(_prepare(data), separators=(",", ":")).encode("utf-8")


def _prepare(obj):
    if isinstance(obj, dict):
        return {k: _prepare(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_prepare(v) for v in obj]
    if isinstance(obj, Decimal):
        # a float prints the shortest form that reads back to the same value (12.34 -> 12.34)
        return int(obj) if obj == obj.to_integral_value() and obj.as_tuple().exponent >= 0 else float(obj)
    return obj


def loads(body):
    return json.loads(body, parse_float=Decimal, parse_int=Decimal)


class QBOError(Exception):
    """One or more Intuit errors (a Fault): ``errors`` = [(code, message, detail, element)]."""

    def __init__(self, code, message, detail="", element="", status=400, fault_type="ValidationFault"):
        super().__init__(f"{code} {message}: {detail}")
        self.errors = [(str(code), message, detail, element)]
        self.status = status
        self.fault_type = fault_type

    def fault(self, clock):
        return fault_body(self.errors, self.fault_type, clock)


def fault_body(errors, fault_type, clock):
    return {"Fault": {"Error": [{"Message": m, "Detail": d, "code": c, "element": e} for c, m, d, e in errors],
                      "type": fault_type}, "time": iso(clock.now(), ms=True)}


# --- the errors the emulator answers (codes and messages as Intuit publishes them; README cites them)

def required(element, entity=""):
    return QBOError(2020, "Required param missing, need to supply the required value for the API",
                    f"Required parameter {element} is missing in the request", element)


def invalid_reference(kind, value, element):
    return QBOError(2500, "Invalid Reference Id",
                    f"Invalid Reference Id : {kind} element id {value} not found", element)


def inactive_reference(element):
    return QBOError(610, "Object Not Found",
                    "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
                    "accounts, customers, items, vendors or employees.", element)


def not_found(entity, oid):
    return QBOError(610, "Object Not Found",
                    f"Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
                    f"accounts, customers, items, vendors or employees.", "")


def stale(entity=""):
    return QBOError(5010, "Stale Object Error",
                    "Stale Object Error : You and Emulator User were working on this at the same time. Emulator User "
                    "finished before you did, so your work was not saved.", "SyncToken")


def duplicate_name():
    return QBOError(6240, "Duplicate Name Exists Error",
                    "The name supplied already exists. : Another customer, vendor or employee is already using this "
                    "name. Please use a different name.", "")


def duplicate_doc_number(number, txn_type, txn_id):
    return QBOError(6140, "Duplicate Document Number Error",
                    f"Duplicate Document Number Error : You must specify a different number. This number has already "
                    f"been used. DocNumber={number} is assigned to TxnType={txn_type} with TxnId={txn_id}", "DocNumber")


def business(detail, element=""):
    return QBOError(6000, "A business validation error has occurred while processing your request",
                    f"Business Validation Error: {detail}", element)


def unsupported(detail):
    return QBOError(500, "Unsupported Operation", detail, "")


def invalid_field(detail, element=""):
    """A field of the wrong type or shape (Intuit: 2010 "Request has invalid or unsupported property")."""
    return QBOError(2010, "Request has invalid or unsupported property", detail, element)


def invalid_number(element, detail):
    return QBOError(2050, "Invalid String/Number", detail, element)

"""Xero wire formats: MS-JSON dates, money, JSON encoding, error bodies."""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

UTC = dt.timezone.utc
_MS_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")

CENT = Decimal("0.01")
ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


def ms_date(value) -> str:
    """date or aware datetime -> '/Date(1552435200000+0000)/'."""
    if isinstance(value, dt.datetime):
        ts = value.timestamp()
    else:
        ts = dt.datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    return "/Date(%d+0000)/" % int(round(ts * 1000))


def iso_date_string(value: dt.date) -> str:
    return "%04d-%02d-%02dT00:00:00" % (value.year, value.month, value.day)


def iso_datetime_string(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_date(value) -> dt.date | None:
    """Accept what Xero accepts for a Date: 'YYYY-MM-DD', 'YYYY-MM-DDThh:mm:ss', '/Date(ms+0000)/'."""
    if not isinstance(value, str):
        return None
    m = _MS_RE.match(value)
    if m:
        ms = int(m.group(1))
        offset = m.group(2)
        when = dt.datetime.fromtimestamp(ms / 1000.0, tz=UTC)
        if offset:
            sign = 1 if offset[0] == "+" else -1
            delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * sign
            when = when.astimezone(dt.timezone(delta))
        return when.date()
    m = _ISO_DATE_RE.match(value)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    return None


def parse_datetime(value: str) -> dt.datetime | None:
    """If-Modified-Since: ISO 8601 (naive = UTC) or RFC 1123."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def dec(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return Decimal(0)


def q2(value: Decimal, mode=ROUND_HALF_UP) -> Decimal:
    return value.quantize(CENT, rounding=mode)


def q(value: Decimal, places: int, mode=ROUND_HALF_UP) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=mode)


def _default(obj):
    if isinstance(obj, Decimal):
        f = float(obj)
        return int(f) if f.is_integer() and abs(f) < 1e15 else f
    if isinstance(obj, (dt.date, dt.datetime)):
        return ms_date(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps(obj) -> bytes:
    return json.dumps(obj, default=_default, separators=(",", ":")).encode("utf-8")


def validation_exception(elements):
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }


def problem(status: int, title: str, detail: str, instance: str = ""):
    return {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": instance, "Extensions": {}}

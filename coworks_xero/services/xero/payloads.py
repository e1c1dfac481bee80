"""documents.* -> Xero Accounting API JSON (plain dicts), and Xero's rounding.

Pure Python with no framework or SDK imports. Every builder returns plain dicts whose
keys are spelled exactly as in the official spec's schemas (``Contact``,
``Invoice``, ``CreditNote``, ``LineItem``, ``LineItemTracking``, ``Payment``,
``Allocation``); wrap them with :func:`request_body` for the request body
(``{"Invoices": [...]}``).

Numbers
-------
All arithmetic is ``Decimal``. Amounts are serialised as JSON numbers (Python
``float`` built from the quantised Decimal, so ``json.dumps`` prints at most
2 decimals for money, 4 for ``UnitAmount`` and ``Quantity`` and 6 for
``CurrencyRate``). Documents must be sent with ``?unitdp=4`` (:data:`UNIT_DP`).

Xero's rounding (developer.xero.com "Rounding in Xero")
-------------------------------------------------------
* ``LineAmount = round_half_up(Quantity x UnitAmount x (1 - DiscountRate/100), 2)``
  (:func:`xero_line_amount`).
* Tax is computed per line and rounded to 2 dp, then summed
  (:func:`xero_line_tax`): Exclusive ``LineAmount x r/100``; Inclusive
  ``LineAmount x r/(100+r)``; NoTax 0. A ``TaxAmount`` sent on the line
  overrides the computed one.

How the builder makes Xero's totals equal the host's, to the cent
-----------------------------------------------------------------
1. Each product line is sent with the host's own line amount (``subtotal``
   for Exclusive/NoTax, ``total`` for Inclusive). When Quantity x UnitAmount
   x discount cannot reproduce it exactly (unit price or quantity with more
   than 4 dp, a credit-note discount that does not fold into a 4-dp unit
   price, or a host that rounded the line differently) the line is sent as
   Quantity 1 and UnitAmount = the host's line amount, the quantity detail
   kept in the Description.
2. Per line, Xero's own tax (rate known from ``Line.tax_rate`` or the
   ``tax_rates`` map) is compared with the host's line tax; when they differ,
   or the rate is unknown, the host's ``TaxAmount`` is sent explicitly on
   that line (Xero allows overriding it).
3. :func:`expected_totals` computes the SubTotal/TotalTax/Total Xero will
   show. If Total still differs from ``doc.amount_total`` (e.g. the host
   rounds tax globally, so its line taxes do not add up to ``amount_tax``),
   ONE line "Rounding adjustment" is added on ``doc.rounding_account_code``
   (the organisation's ROUNDING system account, usually 860) with the
   no-tax TaxType (``NONE`` unless told otherwise) for the exact difference.
   Total then matches to the cent and the difference is visible to the
   accountant; a residue that was in the tax stays visible as the difference
   between Xero's TotalTax and the host's (reported, see
   :class:`PayloadReport`).

Host figures are considered *given* when they are non-zero or consistent
with a zero line: a line whose subtotal/tax/total are all 0 while
Quantity x UnitAmount is not is taken as "host did not compute" and Xero's
figures are used; likewise a document whose three totals are 0 while its
lines are not gets no adjustment line.

Contact names
-------------
:func:`disambiguate_name` (Xero requires names unique among *active*
contacts; comparison is case-insensitive and whitespace-collapsed):

1. the name itself, e.g. ``ACME Ltd``;
2. else the name with the customer's (sanitised) email: ``ACME Ltd (acme@x.com)``;
3. else the name with our key (ContactNumber, or the numeric id of the
   host ref ``res.partner,42``): ``ACME Ltd (#42)``;
4. else ``ACME Ltd (#42-2)``, ``ACME Ltd (#42-3)``, ... the first free one.

The base name is shortened so the result fits Xero's 255 characters.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, NamedTuple

from .. import documents as docs
from . import rules

UNIT_DP = 4  # send documents with ?unitdp=4
NO_TAX_TYPE = rules.NO_TAX_TYPE
ROUNDING_DESCRIPTION = "Rounding adjustment"

CENT = Decimal("0.01")
_Q = {0: Decimal("1"), 2: CENT, 4: Decimal("0.0001"), 6: Decimal("0.000001")}
HUNDRED = Decimal("100")

# Xero field limits (spec schemas Contact, Address, Phone, Item)
MAX_NAME = 255
MAX_CONTACT_NUMBER = 50
MAX_EMAIL = 255
MAX_TAX_NUMBER = 50
MAX_PHONE = 50
MAX_DESCRIPTION = 4000
MAX_ITEM_CODE = 30
MAX_TRACKING_PER_LINE = 2


# --------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------
def to_decimal(value: Any) -> Decimal:
    """Decimal from a Decimal/int/str/float (floats via str: 0.1 -> 0.1)."""
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def round_half_up(value: Any, dp: int = 2) -> Decimal:
    """Round like Xero: half away from zero (Decimal ROUND_HALF_UP)."""
    q = _Q.get(dp) or Decimal(1).scaleb(-dp)
    return to_decimal(value).quantize(q, rounding=ROUND_HALF_UP)


def decimals(value: Any) -> int:
    """Number of significant decimals of a value (1.2300 -> 2)."""
    d = to_decimal(value).normalize()
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def fits_dp(value: Any, dp: int) -> bool:
    return decimals(value) <= dp


def number(value: Any, dp: int = 2) -> float:
    """A JSON number with at most ``dp`` decimals (value rounded half-up)."""
    d = round_half_up(value, dp)
    if d == 0:
        return 0.0  # no "-0.0"
    return float(d)


def xero_line_amount(quantity: Any, unit_amount: Any, discount_rate: Any = 0) -> Decimal:
    """Xero's LineAmount: round_half_up(Q x U x (1 - D/100), 2)."""
    q, u, disc = to_decimal(quantity), to_decimal(unit_amount), to_decimal(discount_rate)
    return round_half_up(q * u * (HUNDRED - disc) / HUNDRED, 2)


def xero_line_tax(
    line_amount: Any,
    rate: Any = None,
    line_amount_types: str = docs.TAX_EXCLUSIVE,
    given: Any = None,
) -> Decimal:
    """Xero's tax on one line, rounded to 2 dp.

    ``given`` (an explicit TaxAmount) wins. ``rate`` is a percentage
    (TaxRate.EffectiveRate). Exclusive: amount x r/100; Inclusive: amount x
    r/(100+r) (the tax contained in the amount); NoTax: 0.
    """
    if line_amount_types == docs.TAX_NONE:
        return Decimal("0.00")
    if given is not None:
        return round_half_up(given, 2)
    if rate is None:
        raise ValueError("xero_line_tax needs a rate or a given tax amount")
    amount, r = to_decimal(line_amount), to_decimal(rate)
    if line_amount_types == docs.TAX_INCLUSIVE:
        if r == -HUNDRED:
            raise ValueError("invalid tax rate -100")
        return round_half_up(amount * r / (HUNDRED + r), 2)
    return round_half_up(amount * r / HUNDRED, 2)


def _iso(d: datetime.date | datetime.datetime | str | None) -> str:
    if d is None or d == "":
        return ""
    if isinstance(d, datetime.datetime):
        return d.date().isoformat()
    if isinstance(d, datetime.date):
        return d.isoformat()
    return str(d)[:10]


_MSDATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def parse_xero_datetime(value: Any) -> datetime.datetime | None:
    """Xero dates as returned: ``/Date(1573755038314+0000)/`` or ISO text; None if absent/unparseable.

    Naive datetimes in UTC.
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(
            datetime.timezone.utc).replace(tzinfo=None)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    text = str(value).strip()
    m = _MSDATE.fullmatch(text)
    if m:
        ms = int(m.group(1))
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt


def parse_xero_date(value: Any) -> datetime.date | None:
    dt = parse_xero_datetime(value)
    return dt.date() if dt else None


# --------------------------------------------------------------------------
# contacts
# --------------------------------------------------------------------------
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def sanitize_email(value: str | None) -> str:
    """The first address Xero would accept in ``value``, or "".

    Accepts "a@b.com", "Name <a@b.com>", "a@b.com, c@d.com" / ";"-separated
    lists. Internationalised domains are converted to their ASCII (IDNA)
    form; a non-ASCII local part (umlauts: Xero rejects them) or a malformed
    address yields "".
    """
    if not value:
        return ""
    for part in re.split(r"[,;\s]+(?![^<]*>)", str(value)):
        part = part.strip()
        m = re.search(r"<([^<>]+)>", part)
        if m:
            part = m.group(1).strip()
        part = part.strip("<>\"' ")
        if "@" not in part:
            continue
        local, _, domain = part.rpartition("@")
        if not local.isascii():
            continue
        if not domain.isascii():
            try:
                domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                continue
        candidate = f"{local}@{domain}"
        if len(candidate) <= MAX_EMAIL and _EMAIL_RE.match(candidate) and ".." not in candidate:
            return candidate
    return ""


def contact_number(customer: docs.Customer) -> str:
    """The ContactNumber we send (Xero's "Contact Code"): ``customer.contact_number``, else the host ref."""
    return (customer.contact_number or customer.ref or "").strip()[:MAX_CONTACT_NUMBER]


def customer_key(customer: docs.Customer) -> str:
    """Short key shown in disambiguated names: the ContactNumber, else the numeric id of the ref."""
    if customer.contact_number:
        return customer.contact_number.strip()[:MAX_CONTACT_NUMBER]
    ref = (customer.ref or "").strip()
    tail = ref.rsplit(",", 1)[-1].strip()
    return (tail or ref)[:MAX_CONTACT_NUMBER]


def normalised_name(name: str) -> str:
    return " ".join((name or "").split()).casefold()


def _with_suffix(base: str, suffix: str) -> str:
    room = MAX_NAME - len(suffix) - 1
    base = base[:room].rstrip() if len(base) > room else base
    return f"{base} {suffix}"


def disambiguate_name(name: str, customer: docs.Customer, taken_names: Iterable[str]) -> str:
    """A contact name not among ``taken_names`` (names of *other* active Xero contacts).

    Rule (documented in the module docstring): name; name (email);
    name (#key); name (#key-2), (#key-3), ... Pure and deterministic.
    """
    base = " ".join((name or customer.name or "").split()) or customer_key(customer) or "Customer"
    taken = {normalised_name(n) for n in taken_names if n}
    if len(base) <= MAX_NAME and normalised_name(base) not in taken:
        return base
    candidates = []
    email = sanitize_email(customer.email)
    if email:
        candidates.append(f"({email})")
    key = customer_key(customer)
    if key:
        candidates.append(f"(#{key})")
    for suffix in candidates:
        candidate = _with_suffix(base, suffix)
        if normalised_name(candidate) not in taken:
            return candidate
    stem = key or "1"
    n = 2
    while True:
        candidate = _with_suffix(base, f"(#{stem}-{n})")
        if normalised_name(candidate) not in taken:
            return candidate
        n += 1


class ContactPick(NamedTuple):
    contact: dict | None
    reason: str


def _contact_label(c: Mapping) -> str:
    return f"'{c.get('Name', '')}' ({c.get('ContactID', '?')})"


def pick_contact(candidates: Iterable[Mapping], email: str = "", contact_number: str = "") -> ContactPick:
    """Choose one Xero contact among several found for an email, deterministically.

    Order: a contact carrying our ContactNumber wins; contacts merged into
    another (``MergedToContactID``) are skipped; contacts whose EmailAddress
    equals ``email`` (case-insensitive) before others; ACTIVE before
    ARCHIVED/GDPRREQUEST; then the oldest ``UpdatedDateUTC``; then ContactID.
    Returns ``ContactPick(contact or None, reason)``.
    """
    cands = [c for c in candidates if c]
    if not cands:
        return ContactPick(None, f"no Xero contact found for {email or 'this customer'}")
    if contact_number:
        own = sorted(
            (c for c in cands if (c.get("ContactNumber") or "") == contact_number and not c.get("MergedToContactID")),
            key=lambda c: str(c.get("ContactID") or ""),
        )
        if own:
            return ContactPick(dict(own[0]), f"{_contact_label(own[0])} carries our contact number {contact_number}")
    live = [c for c in cands if not c.get("MergedToContactID")]
    merged = [c for c in cands if c.get("MergedToContactID")]
    if not live:
        target = sorted(merged, key=lambda c: str(c.get("ContactID") or ""))[0]
        return ContactPick(
            None,
            f"every match was merged in Xero; follow MergedToContactID {target.get('MergedToContactID')}",
        )
    wanted = (email or "").strip().casefold()

    def sort_key(c: Mapping):
        updated = parse_xero_datetime(c.get("UpdatedDateUTC")) or datetime.datetime.max
        return (
            0 if wanted and (c.get("EmailAddress") or "").strip().casefold() == wanted else 1,
            0 if (c.get("ContactStatus") or "ACTIVE") == "ACTIVE" else 1,
            updated,
            str(c.get("ContactID") or ""),
        )

    ranked = sorted(live, key=sort_key)
    chosen = ranked[0]
    why = []
    status = chosen.get("ContactStatus") or "ACTIVE"
    if len(ranked) == 1:
        why.append("the only match")
    else:
        why.append("active" if status == "ACTIVE" else f"{status.lower()} (no active match: un-archive it in Xero)")
        upd = parse_xero_datetime(chosen.get("UpdatedDateUTC"))
        if upd:
            why.append(f"least recently updated ({upd.date().isoformat()})")
        why.append(f"{len(ranked) - 1} other match(es): " + ", ".join(_contact_label(c) for c in ranked[1:]))
    if merged:
        why.append(f"{len(merged)} merged contact(s) skipped")
    reason = f"picked {_contact_label(chosen)} for {email or 'this customer'}: " + "; ".join(why)
    return ContactPick(dict(chosen), reason)


def _number_family(number: str) -> str:
    """``ODOO-42`` -> ``ODOO-``: contact numbers this integration stamps share the family."""
    number = (number or "").strip()
    return number.rsplit("-", 1)[0] + "-" if "-" in number else ""


def owned_by_another(contact: Mapping, customer: docs.Customer) -> bool:
    """Whether ``contact`` is already another host customer's: it carries a contact number of
    our family that is not this customer's (this integration stamps its number on every contact
    it links or creates)."""
    ours = contact_number(customer)
    theirs = (contact.get("ContactNumber") or "").strip()
    family = _number_family(ours)
    return bool(family and theirs and theirs != ours and theirs.startswith(family))


class ContactMatch(NamedTuple):
    contact: dict | None  # the Xero contact to update, or None to create one
    reason: str  # why (for the log), "" when nothing was found
    taken_names: list  # names of other active contacts the chosen name must avoid


def match_contact(customer: docs.Customer, found: Iterable[Mapping], claimed: Iterable[str] = ()) -> ContactMatch:
    """The Xero contact an unlinked customer is, among ``found`` (what a look-up by its name and
    email returned, plus what this run saved), deterministically.

    Order: our own contact number; then the email; then the normalised exact name, unless that
    contact is another customer's (our number on it, or ``claimed`` by another customer in this
    run); merged contacts lead to the contact they were merged into (``MergedToContactID``);
    nothing found: create. The returned names are those of the other active contacts."""
    claimed = {c.lower() for c in claimed if c}
    cands = [dict(c) for c in found if c and c.get("ContactID")]
    number = contact_number(customer)
    email = sanitize_email(customer.email).casefold()
    name = normalised_name(customer.name)

    def free(c):
        return str(c["ContactID"]).lower() not in claimed and not owned_by_another(c, customer)

    chosen, reason = None, ""
    steps = (
        ("our contact number", [c for c in cands if number and (c.get("ContactNumber") or "") == number]),
        ("email", [c for c in cands if email and free(c)
                   and str(c.get("EmailAddress") or "").strip().casefold() == email]),
        ("name", [c for c in cands if name and free(c) and normalised_name(c.get("Name") or "") == name]),
    )
    for how, group in steps:
        if not group:
            continue
        pick = pick_contact(group, customer.email, number)
        if pick.contact:
            chosen, reason = pick.contact, f"matched by {how}: {pick.reason}"
            break
        merged_into = next((c.get("MergedToContactID") for c in group if c.get("MergedToContactID")), None)
        if merged_into and str(merged_into).lower() not in claimed:
            chosen = {"ContactID": merged_into}
            reason = f"matched by {how} a contact merged in Xero into {merged_into}: linked to that contact"
            break
    chosen_id = str((chosen or {}).get("ContactID") or "").lower()
    taken = [c.get("Name") for c in cands
             if (c.get("ContactStatus") or "ACTIVE") == "ACTIVE" and str(c["ContactID"]).lower() != chosen_id]
    return ContactMatch(chosen, reason, taken)


def contact_lookup_terms(customer: docs.Customer) -> list:
    """``where`` conditions that find the Xero contacts an unlinked customer may be: its name and
    its email (both optimised filters on Xero's Contacts)."""
    # Whether Xero's ``where`` ignores case is not documented (UNCONFIRMED; the emulator assumes
    # it does not). Emails are looked up as typed and lower-cased, the form most are kept in; names
    # as typed only, since a second form per name would cost a third more requests for the rare
    # name that differs only in case (that one meets Xero's "name already assigned" answer and is
    # then sent under a distinct name, see provider.py).
    terms = []
    name = " ".join((customer.name or "").split())[:MAX_NAME]
    if name:
        terms.append(f"Name=={_where_string(name)}")
    email = sanitize_email(customer.email)
    for form in dict.fromkeys([email, email.lower()]):
        if form:
            terms.append(f"EmailAddress=={_where_string(form)}")
    return terms


def _where_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def contact_payload(customer: docs.Customer, name: str | None = None, warnings: list | None = None) -> dict:
    """Xero ``Contact`` for a customer. ``name``: the (disambiguated) name to send.

    Optional fields Xero would reject (bad or non-ASCII email, too long tax
    number or phone) are dropped, not failed; a sentence for each is appended
    to ``warnings`` when a list is given.
    """
    warn = warnings if warnings is not None else []
    payload: dict[str, Any] = {}
    if customer.remote_id:
        payload["ContactID"] = customer.remote_id
    contact_name = " ".join((name if name is not None else customer.name or "").split())
    payload["Name"] = contact_name[:MAX_NAME] or customer_key(customer) or "Customer"
    number_ = contact_number(customer)
    if number_:
        payload["ContactNumber"] = number_
    if customer.email:
        email = sanitize_email(customer.email)
        if email:
            payload["EmailAddress"] = email
        else:
            warn.append(f"email {customer.email!r} not sent: Xero accepts only plain ASCII addresses")
    phones = []
    for kind, value in (("DEFAULT", customer.phone), ("MOBILE", customer.mobile)):
        value = " ".join((value or "").split())
        if not value:
            continue
        if len(value) > MAX_PHONE:
            warn.append(f"{kind.lower()} phone not sent: longer than {MAX_PHONE} characters")
            continue
        phones.append({"PhoneType": kind, "PhoneNumber": value})
    if phones:
        payload["Phones"] = phones
    addr = customer.address
    if addr is not None:
        fields = {
            "AddressLine1": (addr.street, 500),
            "AddressLine2": (addr.street2, 500),
            "City": (addr.city, 255),
            "Region": (addr.state, 255),
            "PostalCode": (addr.zip, 50),
            "Country": (addr.country_code, 50),
        }
        address = {k: (v or "").strip()[:n] for k, (v, n) in fields.items() if (v or "").strip()}
        if address:
            payload["Addresses"] = [{"AddressType": "STREET", **address}]
    vat = (customer.vat or "").strip()
    if vat:
        if len(vat) > MAX_TAX_NUMBER:
            warn.append(f"tax number not sent: longer than {MAX_TAX_NUMBER} characters")
        else:
            payload["TaxNumber"] = vat
    cur = (customer.currency_code or "").strip().upper()
    if re.fullmatch(r"[A-Z]{3}", cur):
        payload["DefaultCurrency"] = cur
    return payload



def contact_fields_changed(existing: dict, payload: dict) -> list[str]:
    """What Xero's contact holds otherwise than ``payload`` sends, named for a person (only what
    the payload sends counts: what Odoo leaves out, Xero keeps)."""
    def same(a, b):
        return " ".join(str(a or "").split()).casefold() == " ".join(str(b or "").split()).casefold()

    changed = []
    for key, label in (("Name", "name"), ("EmailAddress", "email"), ("TaxNumber", "tax number"),
                       ("DefaultCurrency", "currency")):
        if key in payload and not same(payload[key], existing.get(key)):
            changed.append(label)
    theirs = {p.get("PhoneType"): p.get("PhoneNumber") for p in existing.get("Phones") or []}
    if any(not same(p["PhoneNumber"], theirs.get(p["PhoneType"])) for p in payload.get("Phones") or []):
        changed.append("phone")
    addresses = {a.get("AddressType"): a for a in existing.get("Addresses") or []}
    for ours in payload.get("Addresses") or []:
        held = addresses.get(ours["AddressType"]) or {}
        if any(not same(v, held.get(k)) for k, v in ours.items() if k != "AddressType"):
            changed.append("address")
            break
    return changed

# --------------------------------------------------------------------------
# invoices and credit notes
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Totals:
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal
    # indexes (into LineItems) of lines whose tax could not be predicted
    # (no TaxAmount sent and no rate known): totals then assume 0 tax there.
    unknown_tax_lines: list[int] = dataclasses.field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.unknown_tax_lines


@dataclasses.dataclass
class PayloadReport:
    """What the builder did to make Xero's totals equal the host's."""

    explicit_tax_lines: list[int] = dataclasses.field(default_factory=list)  # LineItems indexes
    # lines whose tax mapping sends the host's TaxAmount whatever Xero computes (rates differ)
    tax_override_lines: list[int] = dataclasses.field(default_factory=list)
    collapsed_lines: list[int] = dataclasses.field(default_factory=list)  # sent as Quantity 1
    folded_discount_lines: list[int] = dataclasses.field(default_factory=list)  # credit notes
    # cents of tax moved onto lines' TaxAmount so Xero's TotalTax equals a host that rounds tax
    # globally (its line taxes do not add up to its total tax)
    tax_spread: Decimal = Decimal("0.00")
    spread_lines: list[int] = dataclasses.field(default_factory=list)
    adjustment: Decimal = Decimal("0.00")  # amount of the "Rounding adjustment" line (0 = none)
    adjustment_line: int | None = None
    expected: Totals | None = None  # what Xero will show
    # host total minus expected, per total, after the adjustment (0 = to the cent)
    remaining: dict = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)


def _host_line_figures_given(line: docs.Line) -> bool:
    if any(to_decimal(v) != 0 for v in (line.subtotal, line.tax_amount, line.total)):
        return True
    # all zero: consistent only with a zero line
    return xero_line_amount(line.quantity, line.unit_price, line.discount_percent) == 0


def _host_totals_given(doc: docs.Document) -> bool:
    if any(to_decimal(v) != 0 for v in (doc.amount_untaxed, doc.amount_tax, doc.amount_total)):
        return True
    # all zero: consistent only with a document whose lines are all zero
    return all(
        xero_line_amount(l.quantity, l.unit_price, l.discount_percent) == 0
        for l in doc.lines if l.display_type == docs.LINE_PRODUCT
    )


def _fmt(value: Decimal) -> str:
    d = to_decimal(value).normalize()
    if d == d.to_integral():
        d = d.quantize(Decimal(1))
    return format(d, "f")


def _line_rate(line: docs.Line, tax_rates: Mapping[str, Any] | None) -> Decimal | None:
    if line.tax_rate is not None:
        return to_decimal(line.tax_rate)
    if tax_rates and line.tax_type and line.tax_type in tax_rates and tax_rates[line.tax_type] is not None:
        return to_decimal(tax_rates[line.tax_type])
    return None


def _product_line(
    doc: docs.Document,
    line: docs.Line,
    index: int,
    tax_rates: Mapping[str, Any] | None,
    report: PayloadReport,
    rates_used: dict[int, Decimal],
) -> dict:
    is_credit = doc.kind == docs.KIND_CREDIT_NOTE
    mode = doc.line_amount_types
    q = to_decimal(line.quantity)
    u = to_decimal(line.unit_price)
    disc = to_decimal(line.discount_percent)
    given = _host_line_figures_given(line)
    host_amount = round_half_up(line.total if mode == docs.TAX_INCLUSIVE else line.subtotal, 2)
    xero_amount = xero_line_amount(q, u, disc)
    target = host_amount if given else xero_amount

    description = (line.description or "").strip()
    item: dict[str, Any] = {}
    qty_out, unit_out, disc_out = q, u, disc
    collapse = False
    detail = ""
    if not fits_dp(q, 4) or not fits_dp(u, 4) or not fits_dp(disc, 2):
        collapse = True
    elif is_credit and disc != 0:
        folded = u * (HUNDRED - disc) / HUNDRED
        if fits_dp(folded, 4) and xero_line_amount(q, folded) == target:
            unit_out, disc_out = folded, Decimal(0)
            report.folded_discount_lines.append(index)
            detail = f"{_fmt(u)} less {_fmt(disc)}% discount"
        else:
            collapse = True
    elif xero_line_amount(q, u, disc) != target:
        collapse = True
    if collapse:
        parts = [f"{_fmt(q)} x {_fmt(u)}"]
        if disc:
            parts.append(f"less {_fmt(disc)}% discount")
        detail = " ".join(parts)
        qty_out, unit_out, disc_out = Decimal(1), target, Decimal(0)
        report.collapsed_lines.append(index)
    if detail:
        description = f"{description} ({detail})" if description else detail
    if description:
        item["Description"] = description[:MAX_DESCRIPTION]
    elif not line.item_code:
        item["Description"] = "-"
    item["Quantity"] = number(qty_out, 4)
    item["UnitAmount"] = number(unit_out, 4)
    if disc_out and not is_credit:
        item["DiscountRate"] = number(disc_out, 2)
    if line.item_code:
        item["ItemCode"] = line.item_code
    if line.account_code:
        item["AccountCode"] = line.account_code
    if line.tax_type:
        item["TaxType"] = line.tax_type
    amount = xero_line_amount(qty_out, unit_out, disc_out if not is_credit else 0)
    item["LineAmount"] = number(amount, 2)
    if mode != docs.TAX_NONE:
        rate = _line_rate(line, tax_rates)
        if rate is not None:
            rates_used[index] = rate
        host_tax = round_half_up(line.tax_amount, 2)
        if given:
            if line.send_tax_amount or rate is None or xero_line_tax(amount, rate, mode) != host_tax:
                item["TaxAmount"] = number(host_tax, 2)
                report.explicit_tax_lines.append(index)
            if line.send_tax_amount:
                report.tax_override_lines.append(index)
                label = (line.description or "").strip().splitlines()[0][:40] if line.description else ""
                report.warnings.append(
                    f"line {index + 1}{f' {label!r}' if label else ''}: the host's tax amount {_fmt(host_tax)} "
                    "sent as an override" + (f" ({line.tax_override_reason})" if line.tax_override_reason else ""))
    tracking = [{"Name": t.category, "Option": t.option} for t in line.tracking if t.category and t.option]
    if len(tracking) > MAX_TRACKING_PER_LINE:
        report.warnings.append(
            f"line {index + 1} '{line.description}': Xero allows {MAX_TRACKING_PER_LINE} tracking categories; "
            f"only {', '.join(t['Name'] for t in tracking[:2])} sent"
        )
        tracking = tracking[:MAX_TRACKING_PER_LINE]
    if tracking:
        item["Tracking"] = tracking
    return item


def _totals(line_items: list[dict], mode: str, rates: Mapping[int, Decimal]) -> Totals:
    sub = tax = total = Decimal("0.00")
    unknown: list[int] = []
    for i, li in enumerate(line_items):
        if "LineAmount" in li:
            amount = round_half_up(li["LineAmount"], 2)
        elif "Quantity" in li or "UnitAmount" in li:
            amount = xero_line_amount(li.get("Quantity", 1), li.get("UnitAmount", 0), li.get("DiscountRate", 0))
        else:
            continue  # description-only line
        if mode == docs.TAX_NONE:
            line_tax = Decimal("0.00")
        elif "TaxAmount" in li:
            line_tax = round_half_up(li["TaxAmount"], 2)
        elif i in rates:
            line_tax = xero_line_tax(amount, rates[i], mode)
        else:
            line_tax = Decimal("0.00")
            if amount != 0:
                unknown.append(i)
        if mode == docs.TAX_INCLUSIVE:
            sub += amount - line_tax
            total += amount
        else:
            sub += amount
            total += amount + line_tax
        tax += line_tax
    return Totals(sub, tax, total, unknown)


def expected_totals(payload: Mapping, tax_rates: Mapping[str, Any] | None = None) -> Totals:
    """SubTotal, TotalTax and Total Xero will compute for an Invoice/CreditNote payload.

    Lines with an explicit TaxAmount use it; others use ``tax_rates``
    (TaxType -> percent, e.g. from TaxRates' EffectiveRate); lines with
    neither are listed in ``unknown_tax_lines`` (counted with 0 tax).
    """
    mode = payload.get("LineAmountTypes") or docs.TAX_EXCLUSIVE
    items = list(payload.get("LineItems") or [])
    rates: dict[int, Decimal] = {}
    for i, li in enumerate(items):
        tt = li.get("TaxType")
        if tax_rates and tt in tax_rates and tax_rates[tt] is not None:
            rates[i] = to_decimal(tax_rates[tt])
    return _totals(items, mode, rates)


def _build_document(
    doc: docs.Document,
    kind: str,
    *,
    number_override: str | None,
    tax_rates: Mapping[str, Any] | None,
    no_tax_type: str,
    status: str | None = None,
) -> tuple[dict, PayloadReport]:
    if doc.kind != kind:
        raise ValueError(f"{doc.ref}: expected a {kind}, got {doc.kind}")
    report = PayloadReport()
    is_credit = kind == docs.KIND_CREDIT_NOTE
    payload: dict[str, Any] = {"Type": "ACCRECCREDIT" if is_credit else "ACCREC"}
    if doc.remote_id:
        payload["CreditNoteID" if is_credit else "InvoiceID"] = doc.remote_id
    customer = doc.customer
    if customer.remote_id:
        payload["Contact"] = {"ContactID": customer.remote_id}
    else:
        key = contact_number(customer)
        if key:
            payload["Contact"] = {"ContactNumber": key}
            report.warnings.append("contact not yet linked to Xero: referenced by ContactNumber " + key)
        else:
            payload["Contact"] = {"Name": customer.name}
            report.warnings.append("contact not yet linked to Xero: referenced by name")
    num = number_override if number_override is not None else doc.number
    if num:
        payload["CreditNoteNumber" if is_credit else "InvoiceNumber"] = num
    payload["Date"] = _iso(doc.date)
    if doc.due_date and not is_credit:
        due = doc.due_date
        if doc.date and due < doc.date:
            # Odoo dates an invoice ahead (billing next month) with today as due date when there
            # are no payment terms; Xero refuses a due date before the invoice date.
            report.warnings.append(f"due date {_iso(due)} is before the invoice date: sent as due on "
                                   f"{_iso(doc.date)}, as Xero requires")
            due = doc.date
        payload["DueDate"] = _iso(due)
    if doc.reference:
        payload["Reference"] = doc.reference
    payload["CurrencyCode"] = (doc.currency_code or "").upper()
    if not payload["CurrencyCode"]:
        del payload["CurrencyCode"]
    if doc.currency_rate is not None and to_decimal(doc.currency_rate) > 0:
        payload["CurrencyRate"] = number(doc.currency_rate, 6)
    mode = doc.line_amount_types or docs.TAX_EXCLUSIVE
    if mode not in (docs.TAX_EXCLUSIVE, docs.TAX_INCLUSIVE, docs.TAX_NONE):
        raise ValueError(f"{doc.ref}: unknown line amount type {mode!r}")
    payload["LineAmountTypes"] = mode
    wanted = (status if status is not None else doc.status or "").upper()
    if wanted == "PAID":
        wanted = "AUTHORISED"  # PAID results from payments; it is never set
    if wanted:
        payload["Status"] = wanted
    if doc.url and not is_credit and re.match(r"^https?://", doc.url):
        payload["Url"] = doc.url  # the spec's CreditNote has no Url

    items: list[dict] = []
    rates: dict[int, Decimal] = {}
    taxed: list[tuple[int, Decimal]] = []  # (LineItems index, host line tax) of lines with tax
    for line in doc.lines:
        if line.display_type in docs.TEXT_LINES:
            text = (line.description or "").strip()
            if text:
                items.append({"Description": text[:MAX_DESCRIPTION]})
            continue
        if to_decimal(line.tax_amount) != 0:
            taxed.append((len(items), round_half_up(line.tax_amount, 2)))
        items.append(_product_line(doc, line, len(items), tax_rates, report, rates))
    payload["LineItems"] = items

    expected = _totals(items, mode, rates)
    if _host_totals_given(doc) and mode != docs.TAX_NONE and taxed:
        _spread_tax(items, doc, expected, taxed, report, rates, mode)
        expected = _totals(items, mode, rates)
    if _host_totals_given(doc):
        diff = round_half_up(to_decimal(doc.amount_total) - expected.total, 2)
        if diff != 0:
            if doc.rounding_account_code:
                adj = {
                    "Description": ROUNDING_DESCRIPTION,
                    "Quantity": 1.0,
                    "UnitAmount": number(diff, 4),
                    "AccountCode": doc.rounding_account_code,
                    "LineAmount": number(diff, 2),
                }
                if mode != docs.TAX_NONE:
                    adj["TaxType"] = no_tax_type
                    adj["TaxAmount"] = 0.0
                items.append(adj)
                report.adjustment = diff
                report.adjustment_line = len(items) - 1
                expected = _totals(items, mode, rates)
            else:
                report.warnings.append(
                    f"totals differ from the host's by {_fmt(diff)} and no rounding account is mapped: "
                    "set the organisation's ROUNDING account (Xero > Mappings)"
                )
        report.remaining = {
            "SubTotal": round_half_up(to_decimal(doc.amount_untaxed) - expected.sub_total, 2),
            "TotalTax": round_half_up(to_decimal(doc.amount_tax) - expected.total_tax, 2),
            "Total": round_half_up(to_decimal(doc.amount_total) - expected.total, 2),
        }
    report.expected = expected
    return payload, report


def _spread_tax(items: list[dict], doc: docs.Document, expected: Totals,
                taxed: list[tuple[int, Decimal]], report: PayloadReport,
                rates: Mapping[int, Decimal], mode: str) -> None:
    """Host rounds tax globally: its ``amount_tax`` differs by a few cents from the sum of its
    line taxes. Move those cents onto the TaxAmount of the taxed lines (largest tax first, at
    most one cent per line), so Xero's TotalTax -- and with it SubTotal and Total -- equal the
    host's. A larger difference is not a rounding residue and is left to the adjustment line."""
    diff = round_half_up(to_decimal(doc.amount_tax) - expected.total_tax, 2)
    if diff == 0 or abs(diff) > CENT * len(taxed):
        return
    step = CENT if diff > 0 else -CENT
    order = sorted(taxed, key=lambda t: (-abs(t[1]), t[0]))
    remaining = diff
    for index, _host_tax in order:
        if remaining == 0:
            break
        li = items[index]
        if "TaxAmount" in li:
            current = round_half_up(li["TaxAmount"], 2)
        elif index in rates:
            current = xero_line_tax(li["LineAmount"], rates[index], mode)
        else:
            continue  # unknown rate: cannot say what Xero would compute
        li["TaxAmount"] = number(current + step, 2)
        if index not in report.explicit_tax_lines:
            report.explicit_tax_lines.append(index)
        report.spread_lines.append(index)
        remaining -= step
    report.tax_spread = diff - remaining


def invoice_payload(
    doc: docs.Document,
    *,
    number: str | None = None,
    tax_rates: Mapping[str, Any] | None = None,
    no_tax_type: str = NO_TAX_TYPE,
    status: str | None = None,
) -> tuple[dict, PayloadReport]:
    """Xero ``Invoice`` (Type ACCREC) for a host invoice, plus a :class:`PayloadReport`.

    ``number`` overrides the InvoiceNumber (re-creation under a suffix, see
    states.recreate_number); ``tax_rates`` maps TaxType -> percent for lines
    without ``tax_rate``; ``no_tax_type`` is the org's no-tax TaxType for the
    rounding adjustment line; ``status`` overrides ``doc.status`` (e.g. the
    status of a states.plan step; PAID is sent as AUTHORISED).
    """
    return _build_document(doc, docs.KIND_INVOICE, number_override=number, tax_rates=tax_rates,
                           no_tax_type=no_tax_type, status=status)


def credit_note_payload(
    doc: docs.Document,
    *,
    number: str | None = None,
    tax_rates: Mapping[str, Any] | None = None,
    no_tax_type: str = NO_TAX_TYPE,
    status: str | None = None,
) -> tuple[dict, PayloadReport]:
    """Xero ``CreditNote`` (Type ACCRECCREDIT); discounts folded into UnitAmount."""
    return _build_document(doc, docs.KIND_CREDIT_NOTE, number_override=number, tax_rates=tax_rates,
                           no_tax_type=no_tax_type, status=status)


def document_payload(doc: docs.Document, **kwargs) -> tuple[dict, PayloadReport]:
    """invoice_payload or credit_note_payload according to ``doc.kind``."""
    if doc.kind == docs.KIND_CREDIT_NOTE:
        return credit_note_payload(doc, **kwargs)
    return invoice_payload(doc, **kwargs)


@dataclasses.dataclass
class TotalsDifference:
    field: str  # "SubTotal" | "TotalTax" | "Total"
    host: Decimal
    xero: Decimal

    @property
    def diff(self) -> Decimal:
        return self.host - self.xero

    def __str__(self) -> str:
        return f"{self.field}: Xero {_fmt(self.xero)}, host {_fmt(self.host)} (difference {_fmt(self.diff)})"


def reconcile_totals(doc: docs.Document, xero_element: Mapping) -> list[TotalsDifference]:
    """Compare Xero's answer (an Invoice/CreditNote element) with the host's totals.

    Returns one :class:`TotalsDifference` per total that differs (empty list =
    equal to the cent). A total missing from the answer is not compared.
    """
    out = []
    for field, host in (("SubTotal", doc.amount_untaxed), ("TotalTax", doc.amount_tax), ("Total", doc.amount_total)):
        if xero_element.get(field) is None:
            continue
        xero = round_half_up(xero_element[field], 2)
        host_d = round_half_up(host, 2)
        if xero != host_d:
            out.append(TotalsDifference(field, host_d, xero))
    return out


# --------------------------------------------------------------------------
# payments and allocations
# --------------------------------------------------------------------------
def payment_payload(payment: docs.Payment) -> dict:
    """Xero ``Payment``: a receipt on an invoice, a refund on a credit note (ARCREDITPAYMENT) or a
    refund out of an overpayment (``Overpayment: {OverpaymentID}``, AROVERPAYMENTPAYMENT)."""
    amount = round_half_up(payment.amount, 2)
    if amount <= 0:
        raise ValueError(f"{payment.ref}: a Xero payment amount must be positive, got {payment.amount}")
    if not payment.document_remote_id:
        raise ValueError(f"{payment.ref}: the document is not in Xero yet")
    if payment.document_kind == docs.KIND_CREDIT_NOTE:
        payload: dict[str, Any] = {"CreditNote": {"CreditNoteID": payment.document_remote_id}}
    elif payment.document_kind == docs.KIND_OVERPAYMENT:
        payload = {"Overpayment": {"OverpaymentID": payment.document_remote_id}}
    else:
        payload = {"Invoice": {"InvoiceID": payment.document_remote_id}}
    payload["Account"] = {"Code": payment.bank_account_code}
    payload["Date"] = _iso(payment.date)
    payload["Amount"] = number(amount, 2)
    if payment.reference:
        payload["Reference"] = payment.reference
    if payment.currency_rate is not None and to_decimal(payment.currency_rate) > 0:
        payload["CurrencyRate"] = number(payment.currency_rate, 6)
    return payload


def payment_delete_payload() -> dict:
    """Body element of POST /Payments/{PaymentID} that deletes (reverses) a payment."""
    return {"Status": "DELETED"}


def allocation_payload(allocation: docs.Allocation) -> dict:
    """Xero ``Allocation`` for PUT /CreditNotes/{CreditNoteID}/Allocations."""
    amount = round_half_up(allocation.amount, 2)
    if amount <= 0:
        raise ValueError(f"{allocation.ref}: an allocation amount must be positive, got {allocation.amount}")
    return {
        "Invoice": {"InvoiceID": allocation.invoice_remote_id},
        "Amount": number(amount, 2),
        "Date": _iso(allocation.date),
    }


OVERPAYMENT_TYPE = "RECEIVE-OVERPAYMENT"


def overpayment_payload(overpayment: docs.Overpayment) -> dict:
    """Xero ``BankTransaction`` of Type RECEIVE-OVERPAYMENT: the customer's credit received into a
    bank account. One line without account or tax (Xero books it to the receivable), so the
    credit equals the host's to the cent; the reference is the host payment's number."""
    o = overpayment
    amount = round_half_up(o.amount, 2)
    if amount <= 0:
        raise ValueError(f"{o.ref}: an overpayment amount must be positive, got {o.amount}")
    if not o.contact_remote_id:
        raise ValueError(f"{o.ref}: the customer is not in Xero yet")
    payload: dict[str, Any] = {
        "Type": OVERPAYMENT_TYPE,
        "Contact": {"ContactID": o.contact_remote_id},
        "BankAccount": {"Code": o.bank_account_code},
        "Date": _iso(o.date),
        "LineAmountTypes": docs.TAX_NONE,
        "LineItems": [{"Description": (o.description or o.reference or "Overpayment")[:4000],
                       "Quantity": 1.0, "UnitAmount": number(amount, 2), "LineAmount": number(amount, 2)}],
    }
    if o.currency_code:
        payload["CurrencyCode"] = o.currency_code
    if o.reference:
        payload["Reference"] = o.reference[:255]
    if o.currency_rate is not None and to_decimal(o.currency_rate) > 0:
        payload["CurrencyRate"] = number(o.currency_rate, 6)
    return payload


def overpayment_void_payload(overpayment: docs.Overpayment) -> dict:
    """Body element of POST /BankTransactions/{BankTransactionID} that deletes the transaction
    (Xero voids its overpayment). The spec requires Type, LineItems and BankAccount on every
    BankTransaction, so the transaction is repeated as sent, with Status DELETED."""
    payload = overpayment_payload(overpayment)
    payload["BankTransactionID"] = overpayment.transaction_remote_id
    payload["Status"] = "DELETED"
    return payload


def credit_allocation_payload(allocation: docs.CreditAllocation) -> dict:
    """Xero ``Allocation`` for PUT /Overpayments/{OverpaymentID}/Allocations."""
    amount = round_half_up(allocation.amount, 2)
    if amount <= 0:
        raise ValueError(f"{allocation.ref}: an allocation amount must be positive, got {allocation.amount}")
    if not allocation.invoice_remote_id or not allocation.credit_remote_id:
        raise ValueError(f"{allocation.ref}: the invoice or the overpayment is not in Xero yet")
    return {
        "Invoice": {"InvoiceID": allocation.invoice_remote_id},
        "Amount": number(amount, 2),
        "Date": _iso(allocation.date),
    }


def status_payload(kind: str, remote_id: str, status: str) -> dict:
    """Invoice/CreditNote element changing only the status (VOIDED, DELETED, AUTHORISED...)."""
    key = "CreditNoteID" if kind == docs.KIND_CREDIT_NOTE else "InvoiceID"
    return {key: remote_id, "Status": status}


_BODY_KEYS = {
    "contact": "Contacts",
    "invoice": "Invoices",
    "credit_note": "CreditNotes",
    "payment": "Payments",
    "allocation": "Allocations",
}


def request_body(kind: str, elements: Iterable[Mapping]) -> dict:
    """``{"Invoices": [...]}`` etc. kind: contact|invoice|credit_note|payment|allocation."""
    return {_BODY_KEYS[kind]: [dict(e) for e in elements]}

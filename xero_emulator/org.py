"""One organisation's state and Xero's business rules for it.

Documents are stored as plain dicts and never mutated in place: every change builds a new dict and
stores it through a ``Txn``, which records the previous value so a batch that fails under
``summarizeErrors`` (the default) can be undone completely.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
import uuid
from decimal import Decimal

from . import seed
from .wire import UTC, dec, iso_date_string, iso_datetime_string, ms_date, parse_date, q, q2

ZERO = Decimal("0")
EDIT_LOCKED = "This document cannot be edited as it has a payment or credit note allocated to it."
EXCEEDS = "Payment amount exceeds the amount outstanding on this document"
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Xero's attachment rules (developer.xero.com, Attachments): at most 10 files on one document,
# each at most 25 MB.
ATTACHMENT_MAX_BYTES = 25 * 1024 * 1024
ATTACHMENTS_PER_DOCUMENT = 10

CONTACT_READONLY = {
    "ContactID", "IsCustomer", "IsSupplier", "UpdatedDateUTC", "Balances", "HasValidationErrors",
    "ValidationErrors", "StatusAttributeString", "Website", "Discount", "HasAttachments",
    "MergedToContactID", "Attachments", "BatchPayments", "ContactGroups", "BrandingTheme",
}


class ElementError(Exception):
    """Validation errors of one batch element (a list of messages)."""

    def __init__(self, messages):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class Txn:
    def __init__(self):
        self.undo_log = []
        self.events = []  # (category, resource id, CREATE|UPDATE)

    def set(self, mapping, key, value):
        self.undo_log.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def delete(self, mapping, key):
        if key in mapping:
            self.undo_log.append((mapping, key, mapping[key]))
            del mapping[key]

    def event(self, category, rid, kind):
        self.events.append((category, rid, kind))

    def mark(self):
        return (len(self.undo_log), len(self.events))

    def rollback_to(self, mark):
        n, e = mark
        while len(self.undo_log) > n:
            mapping, key, old = self.undo_log.pop()
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        del self.events[e:]

    def rollback(self):
        for mapping, key, old in reversed(self.undo_log):
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        self.undo_log.clear()
        self.events.clear()


_MISSING = object()


def new_id() -> str:
    return str(uuid.uuid4())


class Org:
    def __init__(self, tenant_id: str, clock, rounding=None, like=None, name=None):
        data = seed.build_org(tenant_id, like=like, name=name)
        self.tenant_id = tenant_id
        self.clock = clock
        self.rounding = rounding  # callable returning decimal rounding mode for tax
        self.organisation = data["organisation"]
        self.name = self.organisation["Name"]
        self.base = self.organisation["BaseCurrency"]
        self.accounts = {a["AccountID"]: a for a in data["accounts"]}
        self.tax_rates = {t["TaxType"]: t for t in data["tax_rates"]}
        self.tracking = {t["TrackingCategoryID"]: t for t in data["tracking"]}
        self.items = {i["ItemID"]: i for i in data["items"]}
        self.currencies = {c["Code"]: c for c in data["currencies"]}
        self.seeded_at = dt.datetime(2024, 1, 1, tzinfo=UTC)
        self.contacts: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.credit_notes: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.allocations: dict[str, dict] = {}
        # Money received as customer credit (PUT /BankTransactions RECEIVE-OVERPAYMENT / -PREPAYMENT)
        self.bank_transactions: dict[str, dict] = {}
        self.overpayments: dict[str, dict] = {}
        self.prepayments: dict[str, dict] = {}
        self.numbers: dict[str, str] = {}  # "INV:<casefolded number>" -> id
        self.counters = {"INV": 0, "CN": 0}
        self.idempotency: dict[str, tuple] = {}
        # document id (InvoiceID / CreditNoteID) -> its attachments, in upload order
        self.attachments: dict[str, list] = {}

    # -- helpers ------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.now(), tz=UTC).replace(microsecond=0)

    def today(self) -> dt.date:
        return self.now().date()

    def account_by_code(self, code):
        if not isinstance(code, str):
            return None
        for a in self.accounts.values():
            if a["Code"] == code:
                return a
        return None

    def item_by_code(self, code):
        for i in self.items.values():
            if i["Code"] == code:
                return i
        low = code.casefold()
        for i in self.items.values():
            if i["Code"].casefold() == low:
                return i
        return None

    def lock_date(self):
        value = self.organisation.get("PeriodLockDate")
        return parse_date(value) if isinstance(value, str) else value

    def _check_lock(self, date, errors, what="document"):
        lock = self.lock_date()
        eoy = self.organisation.get("EndOfYearLockDate")
        eoy = parse_date(eoy) if isinstance(eoy, str) else eoy
        for d in (lock, eoy):
            if d is not None and date is not None and date <= d:
                errors.append(f"The {what} date cannot be on or before the lock date ({d.isoformat()}).")
                return

    # ========================================================================= contacts =====
    def active_name_taken(self, name, exclude_id=None):
        key = name.strip().casefold()
        for c in self.contacts.values():
            if c["ContactID"] != exclude_id and c.get("ContactStatus", "ACTIVE") == "ACTIVE" \
                    and c["Name"].strip().casefold() == key:
                return True
        return False

    def find_contact_for_upsert(self, data):
        cid = data.get("ContactID")
        if cid:
            return self.contacts.get(cid.lower()) or _MISSING
        num = data.get("ContactNumber")
        if num:
            for c in self.contacts.values():
                if c.get("ContactNumber") == num:
                    return c
        return None

    def save_contact(self, data, txn, existing=None, create_only=False):
        errors = []
        if create_only and data.get("ContactID"):
            if data["ContactID"].lower() in self.contacts:
                raise ElementError([f"A contact with ContactID {data['ContactID']} already exists."])
        if existing is _MISSING:
            raise ElementError(["The contact could not be found (ContactID does not exist)."])
        fields = {k: v for k, v in data.items() if k not in CONTACT_READONLY}
        merged = dict(existing) if existing else {"ContactStatus": "ACTIVE", "IsCustomer": False, "IsSupplier": False,
                                                  "Addresses": [], "Phones": [], "ContactGroups": [],
                                                  "ContactPersons": [], "HasAttachments": False}
        merged.update(copy.deepcopy(fields))
        name = merged.get("Name")
        if not name or not str(name).strip():
            errors.append("The contact name must be specified.")
        status = merged.get("ContactStatus", "ACTIVE")
        if status == "GDPRREQUEST" and (not existing or existing.get("ContactStatus") != "GDPRREQUEST"):
            errors.append("ContactStatus GDPRREQUEST cannot be set through the API.")
        if name and status == "ACTIVE" and self.active_name_taken(name, existing and existing["ContactID"]):
            errors.append(f"The contact name {name} is already assigned to another contact. "
                          "The contact name must be unique across all active contacts.")
        email = merged.get("EmailAddress")
        if email and not _EMAIL_RE.match(email):
            errors.append("Email address must be valid.")
        cur = merged.get("DefaultCurrency")
        if cur and cur not in self.currencies:
            errors.append(f"Organisation is not subscribed to currency {cur}")
        if merged.get("ContactNumber"):
            for c in self.contacts.values():
                # A contact merged into another is gone from Xero's lists: its number is free.
                if c.get("ContactNumber") == merged["ContactNumber"] and not c.get("MergedToContactID") \
                        and (not existing or c["ContactID"] != existing["ContactID"]):
                    errors.append(f"The contact number {merged['ContactNumber']} is already assigned to another contact.")
                    break
        if errors:
            raise ElementError(errors)
        cid = existing["ContactID"] if existing else (data.get("ContactID") or new_id()).lower()
        merged["ContactID"] = cid
        merged["_updated"] = self.now()
        txn.set(self.contacts, cid, merged)
        txn.event("CONTACT", cid, "UPDATE" if existing else "CREATE")
        return merged

    def render_contact(self, c, summary=False):
        out = {k: v for k, v in c.items() if not k.startswith("_")}
        out["UpdatedDateUTC"] = ms_date(c["_updated"])
        out.setdefault("HasValidationErrors", False)
        if not summary:
            out["Balances"] = self._contact_balances(c["ContactID"])
        return out

    def _contact_balances(self, cid):
        outstanding = ZERO
        overdue = ZERO
        today = self.today()
        for inv in self.invoices.values():
            if inv["ContactID"] == cid and inv["Status"] == "AUTHORISED" and inv["CurrencyCode"] == self.base:
                outstanding += inv["AmountDue"]
                if inv.get("DueDate") and inv["DueDate"] < today:
                    overdue += inv["AmountDue"]
        return {"AccountsReceivable": {"Outstanding": outstanding, "Overdue": overdue},
                "AccountsPayable": {"Outstanding": ZERO, "Overdue": ZERO}}

    def resolve_doc_contact(self, ref, txn, errors):
        if not isinstance(ref, dict) or not any(ref.get(k) for k in ("ContactID", "Name", "ContactNumber")):
            errors.append("The Contact must contain at least 1 of the following elements to identify the contact: "
                          "Name, ContactID, ContactNumber")
            return None
        c = None
        if ref.get("ContactID"):
            c = self.contacts.get(ref["ContactID"].lower())
            if c is None:
                errors.append(f"Contact with ContactID {ref['ContactID']} could not be found.")
                return None
        elif ref.get("ContactNumber"):
            c = next((x for x in self.contacts.values() if x.get("ContactNumber") == ref["ContactNumber"]), None)
            if c is None and not ref.get("Name"):
                errors.append(f"Contact with ContactNumber {ref['ContactNumber']} could not be found.")
                return None
        if c is None and ref.get("Name"):
            key = ref["Name"].strip().casefold()
            c = next((x for x in self.contacts.values() if x.get("ContactStatus", "ACTIVE") == "ACTIVE"
                      and x["Name"].strip().casefold() == key), None)
            if c is None:
                # Xero creates a contact on the fly when a document names an unknown one
                data = {k: v for k, v in ref.items() if k not in CONTACT_READONLY}
                try:
                    c = self.save_contact(data, txn)
                except ElementError as exc:
                    errors.extend(exc.messages)
                    return None
        if c.get("ContactStatus") == "ARCHIVED":
            errors.append(f"The contact {c['Name']} has been archived and cannot be used on a new transaction.")
            return None
        if c.get("MergedToContactID"):
            errors.append(f"The contact {c['Name']} has been merged into another contact.")
            return None
        return c

    # ========================================================================= lines =======
    def _resolve_tracking(self, tracking, errors, where):
        if not tracking:
            return []
        if len(tracking) > 2:
            errors.append(f"{where}: a line item can have at most 2 tracking categories.")
            return []
        out = []
        seen = set()
        for t in tracking:
            cat = None
            if t.get("TrackingCategoryID"):
                cat = self.tracking.get(t["TrackingCategoryID"].lower())
            elif t.get("Name"):
                cat = next((c for c in self.tracking.values() if c["Name"].casefold() == t["Name"].strip().casefold()), None)
            label = t.get("Name") or t.get("TrackingCategoryID") or ""
            if cat is None or cat["Status"] != "ACTIVE":
                errors.append(f"{where}: the tracking category '{label}' does not exist or is not active.")
                continue
            if cat["TrackingCategoryID"] in seen:
                errors.append(f"{where}: the tracking category '{cat['Name']}' is used more than once.")
                continue
            seen.add(cat["TrackingCategoryID"])
            opt = None
            if t.get("TrackingOptionID"):
                opt = next((o for o in cat["Options"] if o["TrackingOptionID"] == t["TrackingOptionID"].lower()), None)
            elif t.get("Option"):
                opt = next((o for o in cat["Options"] if o["Name"].casefold() == t["Option"].strip().casefold()), None)
            olabel = t.get("Option") or t.get("TrackingOptionID") or ""
            if opt is None or opt["Status"] != "ACTIVE":
                errors.append(f"{where}: the tracking option '{olabel}' is not a valid active option of '{cat['Name']}'.")
                continue
            out.append({"TrackingCategoryID": cat["TrackingCategoryID"], "TrackingOptionID": opt["TrackingOptionID"],
                        "Name": cat["Name"], "Option": opt["Name"]})
        return out

    def _build_line(self, raw, idx, kind, lat, status, unitdp, errors, existing_lines):
        where = f"Line {idx + 1}"
        line_errors = []
        src = dict(raw)
        lid = src.get("LineItemID")
        if lid:
            prev = existing_lines.get(lid.lower())
            if prev is None:
                line_errors.append(f"{where}: LineItemID {lid} does not belong to this document.")
            else:
                merged = dict(prev["_input"])
                merged.update(src)
                src = merged
        line = {"LineItemID": (lid or new_id()).lower(), "_input": src}
        item = None
        if src.get("ItemCode"):
            item = self.item_by_code(src["ItemCode"])
            if item is None:
                line_errors.append(f"Item code '{src['ItemCode']}' is not valid.")
            elif not item.get("IsSold"):
                line_errors.append(f"Item code '{src['ItemCode']}' cannot be used on a sales transaction because it is not sold.")
                item = None
        sales = (item or {}).get("SalesDetails") or {}
        description = src.get("Description")
        if description is None and item is not None:
            description = item.get("Description") or item.get("Name")
        if kind == "CN" and (src.get("DiscountRate") not in (None, 0) or src.get("DiscountAmount") not in (None, 0)):
            line_errors.append("Discounts are not supported on credit notes (DiscountRate/DiscountAmount).")
        if src.get("DiscountRate") is not None and src.get("DiscountAmount") is not None:
            line_errors.append(f"{where}: only one of DiscountRate and DiscountAmount can be given.")
        # ---- amounts
        qty = src.get("Quantity")
        unit = src.get("UnitAmount")
        given_line = src.get("LineAmount")
        if unit is None and item is not None and sales.get("UnitPrice") is not None and given_line is None:
            unit = sales["UnitPrice"]
        has_amount = any(v is not None for v in (qty, unit, given_line))
        if qty is None:
            if unit is not None and given_line is not None and dec(unit) != 0:
                qty = dec(given_line) / dec(unit)
            else:
                qty = Decimal(1) if has_amount else ZERO
        qty = q(dec(qty), 4)
        if unit is None:
            if given_line is not None and qty != 0:
                unit = dec(given_line) / qty
            else:
                unit = ZERO
        unit = q(dec(unit), 4 if unitdp == 4 else 2)
        gross = qty * unit
        disc_rate = src.get("DiscountRate")
        disc_amt = src.get("DiscountAmount")
        if disc_rate is not None:
            dr = dec(disc_rate)
            if dr < 0 or dr > 100:
                line_errors.append(f"{where}: DiscountRate must be between 0 and 100.")
            amount = q2(gross * (Decimal(100) - dr) / Decimal(100))
        elif disc_amt is not None:
            amount = q2(gross - dec(disc_amt))
        else:
            amount = q2(gross)
        if given_line is not None and q2(dec(given_line)) != amount and src.get("Quantity") is not None \
                and src.get("UnitAmount") is not None:
            line_errors.append(f"{where}: the LineAmount {q2(dec(given_line))} does not match Quantity x UnitAmount "
                               f"less discount ({amount}).")
        # ---- account
        account = None
        code = src.get("AccountCode")
        if code is None and src.get("AccountID") is None and item is not None:
            code = sales.get("AccountCode")
        if src.get("AccountID"):
            account = self.accounts.get(src["AccountID"].lower())
            label = src["AccountID"]
        elif code:
            account = self.account_by_code(code)
            label = code
        if (code or src.get("AccountID")):
            if account is None or account["Status"] != "ACTIVE":
                line_errors.append(f"Account code '{label}' has been removed as it does not match a recognised account.")
                account = None
            elif account["Type"] == "BANK":
                line_errors.append(f"Account code '{label}' is a bank account and cannot be used on an invoice line.")
                account = None
            elif account.get("SystemAccount") in ("DEBTORS", "CREDITORS", "GST"):
                line_errors.append(f"Account code '{label}' is a system account and cannot be used on an invoice line.")
                account = None
        elif has_amount and status in ("SUBMITTED", "AUTHORISED"):
            line_errors.append(f"{where}: an AccountCode is required for a line with an amount when the document is {status}.")
        # ---- tax
        tax_type = src.get("TaxType")
        if tax_type is None:
            if item is not None and sales.get("TaxType") and src.get("AccountCode") is None:
                tax_type = sales["TaxType"]
            elif account is not None:
                tax_type = account.get("TaxType")
        rate = ZERO
        if tax_type:
            tr = self.tax_rates.get(tax_type)
            if tr is None or tr["Status"] != "ACTIVE" or not tr["CanApplyToRevenue"]:
                line_errors.append(f"The TaxType code '{tax_type}' does not exist or cannot be used with this type of transaction.")
            else:
                rate = tr["EffectiveRate"]
        mode = self.rounding() if self.rounding else None
        explicit_tax = src.get("TaxAmount")
        if lat == "NoTax":
            tax = ZERO
            if explicit_tax not in (None, 0):
                line_errors.append(f"{where}: a TaxAmount cannot be given when LineAmountTypes is NoTax.")
        elif explicit_tax is not None:
            tax = q2(dec(explicit_tax))
            if rate == 0 and tax != 0:
                line_errors.append(f"{where}: the TaxAmount must be zero for tax type '{tax_type}'.")
        elif lat == "Inclusive":
            tax = q2(amount * rate / (Decimal(100) + rate), mode) if mode else q2(amount * rate / (Decimal(100) + rate))
        else:
            tax = q2(amount * rate / Decimal(100), mode) if mode else q2(amount * rate / Decimal(100))
        tracking = self._resolve_tracking(src.get("Tracking") or [], line_errors, where)
        if line_errors:
            errors.extend(line_errors)
            return None
        line.update({
            "Description": description,
            "Quantity": qty,
            "UnitAmount": unit,
            "ItemCode": item["Code"] if item else None,
            "AccountCode": account["Code"] if account else None,
            "AccountID": account["AccountID"] if account else None,
            "TaxType": tax_type,
            "TaxAmount": tax,
            "LineAmount": amount,
            "DiscountRate": dec(disc_rate) if disc_rate is not None else None,
            "DiscountAmount": dec(disc_amt) if disc_amt is not None else None,
            "Tracking": tracking,
            "_gross": q2(gross),
        })
        if item is not None:
            line["Item"] = {"ItemID": item["ItemID"], "Name": item["Name"], "Code": item["Code"]}
        return line

    # ========================================================================= documents ===
    def _doc_cfg(self, kind):
        if kind == "INV":
            return {"store": self.invoices, "id": "InvoiceID", "num": "InvoiceNumber", "type": "ACCREC",
                    "label": "Invoice", "prefix": "INV-", "cat": "INVOICE"}
        return {"store": self.credit_notes, "id": "CreditNoteID", "num": "CreditNoteNumber", "type": "ACCRECCREDIT",
                "label": "Credit Note", "prefix": "CN-", "cat": "CREDITNOTE"}

    def find_document(self, kind, data):
        cfg = self._doc_cfg(kind)
        did = data.get(cfg["id"])
        if did:
            return cfg["store"].get(did.lower()) or _MISSING
        num = data.get(cfg["num"])
        if num:
            did = self.numbers.get(f"{kind}:{num.strip().casefold()}")
            if did:
                return cfg["store"][did]
        return None

    def _next_number(self, kind, txn):
        cfg = self._doc_cfg(kind)
        n = self.counters[kind]
        while True:
            n += 1
            number = "%s%04d" % (cfg["prefix"], n)
            if f"{kind}:{number.casefold()}" not in self.numbers:
                break
        txn.set(self.counters, kind, n)
        return number

    @staticmethod
    def is_settled(doc):
        return doc.get("AmountPaid", ZERO) != 0 or doc.get("AmountCredited", ZERO) != 0 \
            or bool(doc.get("_payments")) or bool(doc.get("_allocations"))

    def save_document(self, kind, data, txn, existing=None, create_only=False, unitdp=None):
        cfg = self._doc_cfg(kind)
        label = cfg["label"]
        errors = []
        if existing is _MISSING:
            raise ElementError([f"{label} could not be found."])
        if create_only:
            if data.get(cfg["id"]) and data[cfg["id"]].lower() in cfg["store"]:
                raise ElementError([f"{label} with {cfg['id']} {data[cfg['id']]} already exists."])
            num = data.get(cfg["num"])
            if num and f"{kind}:{num.strip().casefold()}" in self.numbers:
                raise ElementError([f"{'Invoice' if kind == 'INV' else 'Credit Note'} # must be unique."])
        dtype = data.get("Type")
        if existing is None and dtype is None:
            errors.append(f"{label} Type must be specified.")
        elif dtype is not None and dtype != cfg["type"]:
            if existing is not None and dtype != existing["Type"]:
                errors.append(f"The {label} Type cannot be changed.")
            else:
                errors.append(f"{label} Type '{dtype}' is not supported by the emulator (only {cfg['type']}).")
        if data.get("Allocations") and kind == "CN":
            errors.append("Allocations cannot be created with the credit note in the emulator; "
                          "use PUT /CreditNotes/{CreditNoteID}/Allocations.")
        if errors:
            raise ElementError(errors)

        new_status = data.get("Status")
        if existing is not None:
            cur = existing["Status"]
            if self.is_settled(existing):
                raise ElementError([EDIT_LOCKED])
            if cur in ("VOIDED", "DELETED", "PAID"):
                raise ElementError([f"{label} not of valid status for modification"])
            target = new_status or cur
            allowed = {"DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
                       "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
                       "AUTHORISED": {"AUTHORISED", "VOIDED"}}[cur]
            if target not in allowed:
                raise ElementError([f"{label} not of valid status for modification"])
            if target in ("VOIDED", "DELETED"):
                if target == "VOIDED":
                    lock_errors = []
                    self._check_lock(existing["Date"], lock_errors)
                    if lock_errors:
                        raise ElementError(lock_errors)
                doc = dict(existing)
                doc["Status"] = target
                doc["AmountDue"] = ZERO if target == "VOIDED" else doc["AmountDue"]
                if kind == "CN" and target == "VOIDED":
                    doc["RemainingCredit"] = ZERO
                doc["_updated"] = self.now()
                txn.set(cfg["store"], doc[cfg["id"]], doc)
                txn.event(cfg["cat"], doc[cfg["id"]], "UPDATE")
                return doc
            src = {k: v for k, v in existing["_input"].items()}
            for k, v in data.items():
                src[k] = v
            src["Status"] = target
            if "LineItems" not in data:
                src["LineItems"] = [dict(line["_input"], LineItemID=line["LineItemID"]) for line in existing["LineItems"]]
            status = target
        else:
            src = dict(data)
            status = new_status or "DRAFT"
            if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
                raise ElementError([f"{label} not of valid status for creation"])

        # ---- header
        contact = self.resolve_doc_contact(src.get("Contact"), txn, errors)
        date = None
        if src.get("Date") is not None:
            date = parse_date(src["Date"])
            if date is None:
                errors.append(f"'{src['Date']}' is not a valid date.")
        else:
            date = self.today()
        due = None
        if src.get("DueDate") is not None:
            due = parse_date(src["DueDate"])
            if due is None:
                errors.append(f"'{src['DueDate']}' is not a valid due date.")
        elif kind == "INV" and date is not None:
            terms = (self.organisation.get("PaymentTerms") or {}).get("Sales") or {}
            due = date + dt.timedelta(days=int(terms.get("Day", 0))) if terms.get("Type") == "DAYSAFTERBILLDATE" else date
        if due is not None and date is not None and due < date:
            errors.append("The due date cannot be before the document date.")
        lat = src.get("LineAmountTypes") or "Exclusive"
        currency = src.get("CurrencyCode") or self.base
        if currency not in self.currencies:
            errors.append(f"Organisation is not subscribed to currency {currency}")
        if currency == self.base:
            rate = Decimal(1)
        elif src.get("CurrencyRate") is not None:
            rate = q(dec(src["CurrencyRate"]), 6)
            if rate <= 0:
                errors.append("The CurrencyRate must be greater than zero.")
        else:
            rate = seed.FX_RATES.get(self.base, {}).get(currency, Decimal(1))
        number = src.get(cfg["num"])
        if number is not None:
            number = number.strip()
            if not number:
                errors.append(f"{cfg['num']} cannot be blank.")
            other = self.numbers.get(f"{kind}:{number.casefold()}")
            if other and (existing is None or other != existing[cfg["id"]]):
                errors.append(f"{'Invoice' if kind == 'INV' else 'Credit Note'} # must be unique.")
        if status in ("SUBMITTED", "AUTHORISED"):
            self._check_lock(date, errors)
        raw_lines = src.get("LineItems") or []
        if not raw_lines:
            errors.append(f"{label} must have at least one line item.")
        existing_lines = {line["LineItemID"]: line for line in (existing or {}).get("LineItems", [])}
        lines = []
        for idx, raw in enumerate(raw_lines):
            line = self._build_line(raw, idx, kind, lat, status, unitdp, errors, existing_lines)
            if line is not None:
                lines.append(line)
        if errors:
            raise ElementError(errors)
        total_lines = sum((l["LineAmount"] for l in lines), ZERO)
        total_tax = sum((l["TaxAmount"] for l in lines), ZERO)
        if lat == "Inclusive":
            total = total_lines
            subtotal = total - total_tax
        else:
            subtotal = total_lines
            total = subtotal + total_tax
        discount = sum((l["_gross"] - l["LineAmount"] for l in lines if l["DiscountRate"] is not None
                        or l["DiscountAmount"] is not None), ZERO)
        if status in ("SUBMITTED", "AUTHORISED") and total < 0:
            raise ElementError([f"The {label.lower()} total cannot be negative."])
        did = existing[cfg["id"]] if existing else (src.get(cfg["id"]) or new_id()).lower()
        if number is None:
            number = existing[cfg["num"]] if existing else self._next_number(kind, txn)
        now = self.now()
        doc = {
            cfg["id"]: did,
            "Type": cfg["type"],
            "ContactID": contact["ContactID"],
            cfg["num"]: number,
            "Reference": src.get("Reference", ""),
            "Date": date,
            "DueDate": due,
            "Status": status,
            "LineAmountTypes": lat,
            "LineItems": lines,
            "SubTotal": subtotal,
            "TotalTax": total_tax,
            "Total": total,
            "TotalDiscount": discount,
            "CurrencyCode": currency,
            "CurrencyRate": rate,
            "AmountPaid": ZERO,
            "AmountCredited": ZERO,
            "SentToContact": bool(src.get("SentToContact", False)),
            "Url": src.get("Url"),
            "BrandingThemeID": src.get("BrandingThemeID"),
            "_payments": [],
            "_allocations": [],
            "_input": {k: v for k, v in src.items() if k != "LineItems"},
            "_updated": now,
            "_created": existing["_created"] if existing else now,
        }
        if kind == "INV":
            doc["AmountDue"] = total
        else:
            doc["RemainingCredit"] = total
            doc["AmountDue"] = total
        if status == "AUTHORISED" and total == 0:
            doc["Status"] = "PAID"
            doc["FullyPaidOnDate"] = date
        if existing is not None and existing[cfg["num"]] != number:
            txn.delete(self.numbers, f"{kind}:{existing[cfg['num']].casefold()}")
        txn.set(self.numbers, f"{kind}:{number.casefold()}", did)
        txn.set(cfg["store"], did, doc)
        if kind == "INV" and not contact.get("IsCustomer"):
            c2 = dict(contact, IsCustomer=True, _updated=now)
            txn.set(self.contacts, c2["ContactID"], c2)
        txn.event(cfg["cat"], did, "UPDATE" if existing else "CREATE")
        return doc

    def render_line(self, line, unitdp=None):
        out = {
            "LineItemID": line["LineItemID"],
            "Description": line["Description"],
            "Quantity": line["Quantity"],
            "UnitAmount": line["UnitAmount"] if unitdp == 4 else q2(line["UnitAmount"]),
            "TaxType": line["TaxType"],
            "TaxAmount": line["TaxAmount"],
            "LineAmount": line["LineAmount"],
            "Tracking": [dict(t) for t in line["Tracking"]],
        }
        if line.get("AccountCode"):
            out["AccountCode"] = line["AccountCode"]
            out["AccountID"] = line["AccountID"]
        if line.get("ItemCode"):
            out["ItemCode"] = line["ItemCode"]
            out["Item"] = dict(line["Item"])
        if line.get("DiscountRate") is not None:
            out["DiscountRate"] = line["DiscountRate"]
        if line.get("DiscountAmount") is not None:
            out["DiscountAmount"] = line["DiscountAmount"]
        return {k: v for k, v in out.items() if v is not None}

    def _contact_ref(self, cid):
        c = self.contacts.get(cid)
        if not c:
            return {"ContactID": cid}
        out = {"ContactID": cid, "Name": c["Name"], "ContactStatus": c.get("ContactStatus", "ACTIVE"),
               "HasValidationErrors": False}
        for k in ("ContactNumber", "EmailAddress", "FirstName", "LastName", "AccountNumber"):
            if c.get(k):
                out[k] = c[k]
        return out

    def render_document(self, kind, doc, lines=True, unitdp=None):
        cfg = self._doc_cfg(kind)
        out = {
            "Type": doc["Type"],
            cfg["id"]: doc[cfg["id"]],
            cfg["num"]: doc[cfg["num"]],
            "Reference": doc.get("Reference") or "",
            "Contact": self._contact_ref(doc["ContactID"]),
            "Date": ms_date(doc["Date"]),
            "DateString": iso_date_string(doc["Date"]),
            "Status": doc["Status"],
            "LineAmountTypes": doc["LineAmountTypes"],
            "SubTotal": doc["SubTotal"],
            "TotalTax": doc["TotalTax"],
            "Total": doc["Total"],
            "UpdatedDateUTC": ms_date(doc["_updated"]),
            "CurrencyCode": doc["CurrencyCode"],
            "CurrencyRate": doc["CurrencyRate"],
            "HasAttachments": bool(self.attachments.get(doc[cfg["id"]])),
            "HasErrors": False,
            "IsDiscounted": bool(doc.get("TotalDiscount")),
            "SentToContact": doc.get("SentToContact", False),
        }
        if doc.get("DueDate"):
            out["DueDate"] = ms_date(doc["DueDate"])
            out["DueDateString"] = iso_date_string(doc["DueDate"])
        if doc.get("FullyPaidOnDate"):
            out["FullyPaidOnDate"] = ms_date(doc["FullyPaidOnDate"])
        if doc.get("TotalDiscount"):
            out["TotalDiscount"] = doc["TotalDiscount"]
        if doc.get("Url"):
            out["Url"] = doc["Url"]
        if doc.get("BrandingThemeID"):
            out["BrandingThemeID"] = doc["BrandingThemeID"]
        payments = [self.payments[p] for p in doc.get("_payments", []) if self.payments[p]["Status"] == "AUTHORISED"]
        out["Payments"] = [self._payment_summary(p) for p in payments]
        allocs = [self.allocations[a] for a in doc.get("_allocations", []) if not self.allocations[a]["IsDeleted"]]
        if kind == "INV":
            out["AmountDue"] = doc["AmountDue"]
            out["AmountPaid"] = doc["AmountPaid"]
            out["AmountCredited"] = doc["AmountCredited"]
            out["CreditNotes"] = []
            for a in allocs:
                if a.get("SourceKind"):  # an overpayment/prepayment applied: listed below
                    continue
                cn = self.credit_notes[a["CreditNoteID"]]
                out["CreditNotes"].append({
                    "CreditNoteID": cn["CreditNoteID"], "CreditNoteNumber": cn["CreditNoteNumber"],
                    "ID": cn["CreditNoteID"], "AppliedAmount": a["Amount"], "Date": ms_date(a["Date"]),
                    "Total": cn["Total"], "HasErrors": False,
                })
            out["Prepayments"] = self._credits_applied(allocs, "PRE")
            out["Overpayments"] = self._credits_applied(allocs, "OVP")
        else:
            out["RemainingCredit"] = doc["RemainingCredit"]
            out["Allocations"] = [{
                "AllocationID": a["AllocationID"], "Amount": a["Amount"], "Date": ms_date(a["Date"]),
                "Invoice": {"InvoiceID": a["InvoiceID"],
                            "InvoiceNumber": self.invoices[a["InvoiceID"]]["InvoiceNumber"]},
            } for a in allocs]
            if out["Allocations"]:
                out["AppliedAmount"] = sum((a["Amount"] for a in allocs), ZERO)
        if lines:
            out["LineItems"] = [self.render_line(l, unitdp) for l in doc["LineItems"]]
        return out

    # ========================================================================= payments ====
    def _payment_summary(self, p):
        return {"PaymentID": p["PaymentID"], "Date": ms_date(p["Date"]), "Amount": p["Amount"],
                "Reference": p.get("Reference") or "", "CurrencyRate": p["CurrencyRate"],
                "HasAccount": False, "HasValidationErrors": False}

    def create_payment(self, data, txn):
        errors = []
        if data.get("Status") not in (None, "AUTHORISED"):
            raise ElementError(["A payment can only be created with Status AUTHORISED."])
        if data.get("BatchPayment"):
            raise ElementError(["BatchPayment payments are not supported by the emulator."])
        if data.get("Overpayment") or data.get("Prepayment"):
            return self.create_credit_refund(data, txn)
        doc = None
        kind = None
        inv_ref = data.get("Invoice") or ({"InvoiceNumber": data["InvoiceNumber"]} if data.get("InvoiceNumber") else None)
        cn_ref = data.get("CreditNote") or ({"CreditNoteNumber": data["CreditNoteNumber"]} if data.get("CreditNoteNumber") else None)
        if inv_ref and cn_ref:
            errors.append("A payment can be applied to only one document.")
        elif inv_ref:
            kind = "INV"
            doc = self.find_document("INV", inv_ref)
            if doc is None or doc is _MISSING:
                errors.append("Invoice could not be found")
                doc = None
        elif cn_ref:
            kind = "CN"
            doc = self.find_document("CN", cn_ref)
            if doc is None or doc is _MISSING:
                errors.append("Credit Note could not be found")
                doc = None
        else:
            errors.append("You must specify either an Invoice, Credit Note, Prepayment or Overpayment to pay.")
        account, amount, date = self._payment_basics(data, errors)
        if doc is not None:
            if doc["Status"] != "AUTHORISED":
                if doc["Status"] == "PAID":
                    errors.append(EXCEEDS)
                else:
                    errors.append(f"Payments can only be applied to AUTHORISED documents (this one is {doc['Status']}).")
            elif amount is not None and amount > 0:
                outstanding = doc["AmountDue"] if kind == "INV" else doc["RemainingCredit"]
                if amount > outstanding:
                    errors.append(EXCEEDS)
            if account is not None and account.get("CurrencyCode") and account["CurrencyCode"] not in (self.base, doc["CurrencyCode"]):
                errors.append(f"The bank account currency ({account['CurrencyCode']}) does not match the document "
                              f"currency ({doc['CurrencyCode']}).")
            if account is not None and account.get("CurrencyCode") and account["CurrencyCode"] != self.base \
                    and account["CurrencyCode"] != doc["CurrencyCode"]:
                pass
        if errors:
            raise ElementError(errors)
        if doc["CurrencyCode"] == self.base:
            rate = Decimal(1)
        elif data.get("CurrencyRate") is not None:
            rate = q(dec(data["CurrencyRate"]), 6)
        else:
            rate = doc["CurrencyRate"]
        pid = new_id()
        now = self.now()
        bank_amount = amount if (account.get("CurrencyCode") in (None, doc["CurrencyCode"])) else q2(amount / rate)
        pay = {
            "PaymentID": pid, "Date": date, "Amount": amount, "BankAmount": bank_amount, "CurrencyRate": rate,
            "Reference": data.get("Reference") or "", "IsReconciled": bool(data.get("IsReconciled", False)),
            "Status": "AUTHORISED", "PaymentType": "ACCRECPAYMENT" if kind == "INV" else "ARCREDITPAYMENT",
            "AccountID": account["AccountID"], "DocKind": kind,
            "DocID": doc["InvoiceID"] if kind == "INV" else doc["CreditNoteID"], "_updated": now,
        }
        txn.set(self.payments, pid, pay)
        self._apply_to_doc(kind, doc, amount, date, pid, txn, paid=True)
        return pay

    def _payment_basics(self, data, errors):
        """(account, amount, date) of a payment to create, with what is wrong in ``errors``: the
        account must be ACTIVE and a BANK account or have payments enabled, the amount positive,
        the date valid and after the lock date."""
        acc_ref = data.get("Account") or ({"Code": data["Code"]} if data.get("Code") else None)
        account = None
        if not acc_ref or not (acc_ref.get("AccountID") or acc_ref.get("Code")):
            errors.append("You must specify an Account (AccountID or Code) for the payment.")
        else:
            account = self.accounts.get(acc_ref["AccountID"].lower()) if acc_ref.get("AccountID") else self.account_by_code(acc_ref["Code"])
            label = acc_ref.get("Code") or acc_ref.get("AccountID")
            if account is None or account["Status"] != "ACTIVE":
                errors.append(f"Account code '{label}' has been removed as it does not match a recognised account.")
                account = None
            elif account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
                errors.append(f"Account '{label}' is not a bank account and does not have payments enabled "
                              "(EnablePaymentsToAccount).")
                account = None
        amount = data.get("Amount")
        if amount is None:
            errors.append("The payment Amount must be specified.")
        else:
            amount = q2(dec(amount))
            if amount <= 0:
                errors.append("The payment Amount must be greater than zero.")
        date = parse_date(data["Date"]) if data.get("Date") is not None else None
        if date is None:
            errors.append("A valid payment Date must be specified.")
        else:
            self._check_lock(date, errors, "payment")
        return account, amount, date

    def create_credit_refund(self, data, txn):
        """PUT /Payments with ``Overpayment`` (or ``Prepayment``): money paid back to the customer
        out of their credit (Xero's AROVERPAYMENTPAYMENT / ARPREPAYMENTPAYMENT). Xero refunds at
        most the credit's RemainingCredit, only while it is AUTHORISED, from a bank account or one
        with payments enabled; a fully used credit becomes PAID."""
        if data.get("Overpayment") and data.get("Prepayment"):
            raise ElementError(["A payment can be applied to only one document."])
        kind = "OVP" if data.get("Overpayment") else "PRE"
        cfg = self._credit_cfg(kind)
        label = cfg["label"]
        if data.get("Invoice") or data.get("CreditNote") or data.get("InvoiceNumber") or data.get("CreditNoteNumber"):
            raise ElementError(["A payment can be applied to only one document."])
        ref = data.get("Overpayment") if kind == "OVP" else data.get("Prepayment")
        errors = []
        credit = cfg["store"].get(str((ref or {}).get(cfg["id"]) or "").lower())
        if credit is None:
            errors.append(f"{label} could not be found")
        account, amount, date = self._payment_basics(data, errors)
        if credit is not None:
            if credit["Status"] == "PAID":
                errors.append(EXCEEDS)
            elif credit["Status"] != "AUTHORISED":
                errors.append(f"Payments can only be applied to AUTHORISED documents (this one is {credit['Status']}).")
            elif amount is not None and amount > 0 and amount > credit["RemainingCredit"]:
                errors.append(EXCEEDS)
            if account is not None and account.get("CurrencyCode") \
                    and account["CurrencyCode"] not in (self.base, credit["CurrencyCode"]):
                errors.append(f"The bank account currency ({account['CurrencyCode']}) does not match the document "
                              f"currency ({credit['CurrencyCode']}).")
        if errors:
            raise ElementError(errors)
        if credit["CurrencyCode"] == self.base:
            rate = Decimal(1)
        elif data.get("CurrencyRate") is not None:
            rate = q(dec(data["CurrencyRate"]), 6)
        else:
            rate = credit["CurrencyRate"]
        pid = new_id()
        bank_amount = amount if (account.get("CurrencyCode") in (None, credit["CurrencyCode"])) else q2(amount / rate)
        pay = {
            "PaymentID": pid, "Date": date, "Amount": amount, "BankAmount": bank_amount, "CurrencyRate": rate,
            "Reference": data.get("Reference") or "", "IsReconciled": bool(data.get("IsReconciled", False)),
            "Status": "AUTHORISED", "PaymentType": "AROVERPAYMENTPAYMENT" if kind == "OVP" else "ARPREPAYMENTPAYMENT",
            "AccountID": account["AccountID"], "DocKind": kind, "DocID": credit[cfg["id"]], "_updated": self.now(),
        }
        txn.set(self.payments, pid, pay)
        self._apply_to_credit(kind, credit, amount, date, pid, txn, payment=True)
        return pay

    def _apply_to_doc(self, kind, doc, amount, date, ref_id, txn, paid, remove=False):
        cfg = self._doc_cfg(kind)
        d = dict(doc)
        sign = -1 if remove else 1
        listkey = "_payments" if paid else "_allocations"
        if remove:
            d[listkey] = [x for x in d[listkey] if x != ref_id]
        else:
            d[listkey] = list(d[listkey]) + [ref_id]
        if kind == "INV":
            if paid:
                d["AmountPaid"] = d["AmountPaid"] + sign * amount
            else:
                d["AmountCredited"] = d["AmountCredited"] + sign * amount
            d["AmountDue"] = d["Total"] - d["AmountPaid"] - d["AmountCredited"]
            remaining = d["AmountDue"]
        else:
            d["RemainingCredit"] = d["RemainingCredit"] - sign * amount
            d["AmountDue"] = d["RemainingCredit"]
            remaining = d["RemainingCredit"]
        if remaining == 0 and d["Status"] == "AUTHORISED":
            d["Status"] = "PAID"
            d["FullyPaidOnDate"] = date
        elif remaining != 0 and d["Status"] == "PAID":
            d["Status"] = "AUTHORISED"
            d.pop("FullyPaidOnDate", None)
        d["_updated"] = self.now()
        txn.set(cfg["store"], d[cfg["id"]], d)
        txn.event(cfg["cat"], d[cfg["id"]], "UPDATE")
        return d

    def delete_payment(self, pid, txn):
        pay = self.payments.get(pid.lower())
        if pay is None:
            raise ElementError(["Payment could not be found."])
        if pay["Status"] == "DELETED":
            raise ElementError(["This payment has already been deleted."])
        if pay.get("IsReconciled"):
            raise ElementError(["This payment has been reconciled and cannot be deleted."])
        if pay["DocKind"] in ("OVP", "PRE"):
            credit = self._credit_cfg(pay["DocKind"])["store"][pay["DocID"]]
            if credit["Status"] == "VOIDED":
                raise ElementError(["The document of this payment has been voided."])
            p2 = dict(pay, Status="DELETED", _updated=self.now())
            txn.set(self.payments, p2["PaymentID"], p2)
            self._apply_to_credit(pay["DocKind"], credit, pay["Amount"], pay["Date"], p2["PaymentID"], txn,
                                  remove=True, payment=True)
            return p2
        store = self.invoices if pay["DocKind"] == "INV" else self.credit_notes
        doc = store[pay["DocID"]]
        if doc["Status"] == "VOIDED":
            raise ElementError(["The document of this payment has been voided."])
        p2 = dict(pay, Status="DELETED", _updated=self.now())
        txn.set(self.payments, p2["PaymentID"], p2)
        self._apply_to_doc(pay["DocKind"], doc, pay["Amount"], pay["Date"], p2["PaymentID"], txn, paid=True, remove=True)
        return p2

    def render_payment(self, p):
        acc = self.accounts[p["AccountID"]]
        out = {
            "PaymentID": p["PaymentID"], "Date": ms_date(p["Date"]), "DateString": iso_date_string(p["Date"]),
            "Amount": p["Amount"], "BankAmount": p["BankAmount"], "CurrencyRate": p["CurrencyRate"],
            "Reference": p["Reference"], "IsReconciled": p["IsReconciled"], "Status": p["Status"],
            "PaymentType": p["PaymentType"], "UpdatedDateUTC": ms_date(p["_updated"]),
            "HasAccount": True, "HasValidationErrors": False,
            "Account": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
        }
        if p["DocKind"] == "INV":
            inv = self.invoices[p["DocID"]]
            out["Invoice"] = {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv["InvoiceNumber"], "Type": inv["Type"],
                              "Contact": self._contact_ref(inv["ContactID"]), "CurrencyCode": inv["CurrencyCode"],
                              "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                              "HasErrors": False, "IsDiscounted": False, "HasAttachments": False}
        elif p["DocKind"] in ("OVP", "PRE"):
            cfg = self._credit_cfg(p["DocKind"])
            c = cfg["store"][p["DocID"]]
            key = "Overpayment" if p["DocKind"] == "OVP" else "Prepayment"
            out[key] = {cfg["id"]: c[cfg["id"]], "Type": c["Type"], "Contact": self._contact_ref(c["ContactID"]),
                        "CurrencyCode": c["CurrencyCode"], "HasAttachments": False}
        else:
            cn = self.credit_notes[p["DocID"]]
            out["CreditNote"] = {"CreditNoteID": cn["CreditNoteID"], "CreditNoteNumber": cn["CreditNoteNumber"],
                                 "Type": cn["Type"], "Contact": self._contact_ref(cn["ContactID"]),
                                 "CurrencyCode": cn["CurrencyCode"], "HasErrors": False, "HasAttachments": False}
        return out

    # ========================================================================= allocations =
    def create_allocation(self, cnid, data, txn):
        cn = self.credit_notes.get(cnid.lower())
        if cn is None:
            raise ElementError(["Credit Note could not be found."])
        errors = []
        if cn["Status"] != "AUTHORISED":
            if cn["Status"] == "PAID":
                errors.append("Credit Note cannot be allocated as it has no remaining credit.")
            else:
                errors.append(f"Credit Note not of valid status for allocation ({cn['Status']}).")
        inv = self.find_document("INV", data.get("Invoice") or {})
        if inv is None or inv is _MISSING:
            errors.append("Invoice could not be found")
            inv = None
        amount = q2(dec(data.get("Amount")))
        if amount <= 0:
            errors.append("The allocation Amount must be greater than zero.")
        date = parse_date(data.get("Date"))
        if date is None:
            errors.append("A valid allocation Date must be specified.")
        else:
            self._check_lock(date, errors, "allocation")
        if inv is not None:
            if inv["Status"] == "PAID":
                errors.append("The invoice you are trying to allocate to has already been paid off")
            elif inv["Status"] != "AUTHORISED":
                errors.append(f"Invoice not of valid status for allocation ({inv['Status']}).")
            else:
                if inv["ContactID"] != cn["ContactID"]:
                    errors.append("The credit note and the invoice must belong to the same contact.")
                if inv["CurrencyCode"] != cn["CurrencyCode"]:
                    errors.append("The credit note and the invoice must be in the same currency.")
                if amount > cn["RemainingCredit"]:
                    errors.append("Credit Note cannot be allocated as amount is greater than remaining credit")
                if amount > inv["AmountDue"]:
                    errors.append("Credit Note cannot be allocated as amount is greater than amount outstanding")
        if errors:
            raise ElementError(errors)
        aid = new_id()
        alloc = {"AllocationID": aid, "CreditNoteID": cn["CreditNoteID"], "InvoiceID": inv["InvoiceID"],
                 "Amount": amount, "Date": date, "IsDeleted": False, "_updated": self.now()}
        txn.set(self.allocations, aid, alloc)
        self._apply_to_doc("CN", cn, amount, date, aid, txn, paid=False)
        self._apply_to_doc("INV", inv, amount, date, aid, txn, paid=False)
        return alloc

    def delete_allocation(self, cnid, aid, txn):
        cn = self.credit_notes.get(cnid.lower())
        alloc = self.allocations.get(aid.lower())
        if cn is None or alloc is None or alloc.get("CreditNoteID") != cn["CreditNoteID"]:
            raise ElementError(["Allocation could not be found."])
        if alloc["IsDeleted"]:
            raise ElementError(["This allocation has already been deleted."])
        if cn["Status"] == "VOIDED":
            raise ElementError(["Credit Note not of valid status for modification"])
        a2 = dict(alloc, IsDeleted=True, _updated=self.now())
        txn.set(self.allocations, a2["AllocationID"], a2)
        self._apply_to_doc("CN", cn, alloc["Amount"], alloc["Date"], a2["AllocationID"], txn, paid=False, remove=True)
        inv = self.invoices[alloc["InvoiceID"]]
        self._apply_to_doc("INV", inv, alloc["Amount"], alloc["Date"], a2["AllocationID"], txn, paid=False, remove=True)
        return a2

    def render_allocation(self, a):
        if a.get("SourceKind"):
            return self.render_credit_allocation(a)
        inv = self.invoices[a["InvoiceID"]]
        cn = self.credit_notes[a["CreditNoteID"]]
        return {"AllocationID": a["AllocationID"], "Amount": a["Amount"], "Date": ms_date(a["Date"]),
                "IsDeleted": a["IsDeleted"], "StatusAttributeString": "OK",
                "Invoice": {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv["InvoiceNumber"], "Type": inv["Type"],
                            "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                            "HasErrors": False, "IsDiscounted": False, "HasAttachments": False},
                "CreditNote": {"CreditNoteID": cn["CreditNoteID"], "CreditNoteNumber": cn["CreditNoteNumber"],
                               "Type": cn["Type"], "HasErrors": False, "HasAttachments": False}}

    # ================================================================ overpayments/prepayments =
    # Money a customer paid that is not (yet) for an invoice. Xero takes it only as a bank
    # transaction (PUT /BankTransactions, Type RECEIVE-OVERPAYMENT or RECEIVE-PREPAYMENT): /Payments
    # refuses an amount above what is outstanding. The transaction creates an Overpayment (no tax,
    # no account: the customer's receivable is implied) or a Prepayment (lines with accounts and tax,
    # like an invoice's), each with RemainingCredit, later allocated to the customer's invoices.
    CREDIT_TYPES = {"RECEIVE-OVERPAYMENT": "OVP", "RECEIVE-PREPAYMENT": "PRE"}

    def _credit_cfg(self, kind):
        if kind == "OVP":
            return {"store": self.overpayments, "id": "OverpaymentID", "label": "Overpayment"}
        return {"store": self.prepayments, "id": "PrepaymentID", "label": "Prepayment"}

    def find_bank_transaction(self, btid):
        return self.bank_transactions.get(str(btid or "").lower())

    def save_bank_transaction(self, data, txn, existing=None, create_only=False):
        """PUT (create_only) / POST /BankTransactions: create, or change an existing one (by ID)."""
        btid = data.get("BankTransactionID")
        if existing is None and btid:
            existing = self.find_bank_transaction(btid)
            if existing is None:
                raise ElementError([f"Bank Transaction with BankTransactionID {btid} could not be found."])
            if create_only:
                raise ElementError(["A bank transaction cannot be created with a BankTransactionID; "
                                    "use POST to change an existing one."])
        if existing is not None:
            return self.update_bank_transaction(existing, data, txn)
        return self.create_bank_transaction(data, txn)

    def _overpayment_lines(self, raw_lines, errors):
        debtors = next((a for a in self.accounts.values() if a.get("SystemAccount") == "DEBTORS"), None)
        lines = []
        for idx, raw in enumerate(raw_lines):
            where = f"Line {idx + 1}"
            bad = []
            code = raw.get("AccountCode")
            acc_id = raw.get("AccountID")
            if code or acc_id:
                acc = self.accounts.get(acc_id.lower()) if acc_id else self.account_by_code(code)
                if acc is None or acc.get("SystemAccount") != "DEBTORS":
                    bad.append(f"{where}: an overpayment line takes no account: Xero books it to the contact's "
                               f"accounts receivable ('{code or acc_id}' cannot be used).")
            if raw.get("ItemCode"):
                bad.append(f"{where}: items cannot be used on an overpayment.")
            tax_type = raw.get("TaxType")
            if tax_type and (self.tax_rates.get(tax_type) or {}).get("EffectiveRate", ZERO) != 0:
                bad.append(f"{where}: overpayments cannot have tax (TaxType '{tax_type}').")
            if raw.get("TaxAmount") not in (None, 0):
                bad.append(f"{where}: overpayments cannot have tax (TaxAmount).")
            if not (raw.get("Description") or "").strip():
                bad.append(f"{where}: a Description is required.")
            qty, unit, given = raw.get("Quantity"), raw.get("UnitAmount"), raw.get("LineAmount")
            if unit is None and given is None:
                bad.append(f"{where}: a UnitAmount or a LineAmount is required.")
                amount = ZERO
            else:
                qty = q(dec(qty if qty is not None else 1), 4)
                amount = q2(dec(given)) if given is not None else q2(qty * dec(unit))
                if given is not None and unit is not None and q2(qty * dec(unit)) != amount:
                    bad.append(f"{where}: the LineAmount {amount} does not match Quantity x UnitAmount "
                               f"({q2(qty * dec(unit))}).")
                unit = dec(unit) if unit is not None else (amount / qty if qty else amount)
            if bad:
                errors.extend(bad)
                continue
            lines.append({"LineItemID": new_id(), "_input": dict(raw), "Description": raw["Description"],
                          "Quantity": qty, "UnitAmount": q2(unit), "ItemCode": None,
                          "AccountCode": debtors["Code"] if debtors else None,
                          "AccountID": debtors["AccountID"] if debtors else None,
                          "TaxType": "NONE" if "NONE" in self.tax_rates else None, "TaxAmount": ZERO,
                          "LineAmount": amount, "DiscountRate": None, "DiscountAmount": None, "Tracking": [],
                          "_gross": amount})
        return lines

    def create_bank_transaction(self, data, txn):
        typ = data.get("Type")
        kind = self.CREDIT_TYPES.get(typ)
        if kind is None:
            raise ElementError([f"Bank transactions of Type {typ} are not supported by the emulator "
                                "(only RECEIVE-OVERPAYMENT and RECEIVE-PREPAYMENT)."])
        cfg = self._credit_cfg(kind)
        errors = []
        if data.get("Status") not in (None, "AUTHORISED"):
            errors.append("A bank transaction can only be created with Status AUTHORISED.")
        if not data.get("Contact"):
            errors.append(f"A Contact must be specified for a {cfg['label'].lower()}.")
            contact = None
        else:
            contact = self.resolve_doc_contact(data.get("Contact"), txn, errors)
        acc_ref = data.get("BankAccount") or {}
        label = acc_ref.get("Code") or acc_ref.get("AccountID")
        account = None
        if not label:
            errors.append("A BankAccount (AccountID or Code) must be specified.")
        else:
            account = (self.accounts.get(acc_ref["AccountID"].lower()) if acc_ref.get("AccountID")
                       else self.account_by_code(acc_ref["Code"]))
            if account is None or account["Status"] != "ACTIVE":
                errors.append(f"Account code '{label}' has been removed as it does not match a recognised account.")
                account = None
            elif account["Type"] != "BANK":
                errors.append(f"Account '{label}' is not a bank account: a {cfg['label'].lower()} is money "
                              "received into a bank account (Type BANK).")
                account = None
        currency = data.get("CurrencyCode") or (account or {}).get("CurrencyCode") or self.base
        if currency not in self.currencies:
            errors.append(f"Organisation is not subscribed to currency {currency}")
        elif account is not None and (account.get("CurrencyCode") or self.base) != currency:
            errors.append(f"The bank account '{label}' is in {account.get('CurrencyCode') or self.base}: money "
                          f"received into it cannot be in {currency}.")
        if currency == self.base:
            rate = Decimal(1)
        elif data.get("CurrencyRate") is not None:
            rate = q(dec(data["CurrencyRate"]), 6)
            if rate <= 0:
                errors.append("The CurrencyRate must be greater than zero.")
        else:
            rate = seed.FX_RATES.get(self.base, {}).get(currency, Decimal(1))
        date = parse_date(data["Date"]) if data.get("Date") is not None else self.today()
        if date is None:
            errors.append("The Date is not a valid date.")
        else:
            self._check_lock(date, errors, "transaction")
        lat = data.get("LineAmountTypes") or ("NoTax" if kind == "OVP" else "Exclusive")
        raw_lines = data.get("LineItems") or []
        if not raw_lines:
            errors.append("At least one line item is required.")
        if kind == "OVP":
            if lat != "NoTax":
                errors.append("Overpayments cannot have tax: LineAmountTypes must be NoTax.")
            lines = self._overpayment_lines(raw_lines, errors)
        else:
            lines = [ln for ln in (self._build_line(raw, i, "INV", lat, "AUTHORISED", None, errors, {})
                                   for i, raw in enumerate(raw_lines)) if ln is not None]
        if errors:
            raise ElementError(errors)
        total_lines = sum((ln["LineAmount"] for ln in lines), ZERO)
        tax = sum((ln["TaxAmount"] for ln in lines), ZERO)
        total = total_lines if lat == "Inclusive" else total_lines + tax
        if total <= 0:
            raise ElementError([f"The total of a {cfg['label'].lower()} must be greater than zero."])
        now = self.now()
        btid, cid = new_id(), new_id()
        common = {"Type": typ, "ContactID": contact["ContactID"], "Date": date, "CurrencyCode": currency,
                  "CurrencyRate": rate, "LineAmountTypes": lat, "LineItems": lines, "SubTotal": total - tax,
                  "TotalTax": tax, "Total": total, "_updated": now}
        bt = dict(common, BankTransactionID=btid, AccountID=account["AccountID"], Status="AUTHORISED",
                  Reference=data.get("Reference") or "", IsReconciled=bool(data.get("IsReconciled", False)),
                  Url=data.get("Url") or "", CreditKind=kind, CreditID=cid)
        credit = dict(common, Status="AUTHORISED", RemainingCredit=total, BankTransactionID=btid, _allocations=[], _payments=[])
        credit[cfg["id"]] = cid
        if kind == "OVP":
            credit["Reference"] = data.get("Reference") or ""
        txn.set(self.bank_transactions, btid, bt)
        txn.set(cfg["store"], cid, credit)
        return bt

    def update_bank_transaction(self, bt, data, txn):
        """Only deleting (Status DELETED) an overpayment/prepayment's transaction: Xero voids the
        credit, and refuses while any of it is allocated or the transaction is reconciled."""
        cfg = self._credit_cfg(bt["CreditKind"])
        label = cfg["label"]
        if data.get("Status") not in ("DELETED", "VOIDED"):
            raise ElementError([f"This bank transaction is a {label.lower()}: it cannot be edited, only deleted "
                                "(Status DELETED) while nothing of it is allocated."])
        if bt["Status"] == "DELETED":
            raise ElementError(["This bank transaction has already been deleted."])
        if bt.get("IsReconciled"):
            raise ElementError(["This bank transaction has been reconciled and cannot be deleted."])
        credit = cfg["store"][bt["CreditID"]]
        live = [a for a in credit["_allocations"] if not self.allocations[a]["IsDeleted"]]
        if live:
            raise ElementError([f"This {label.lower()} has been allocated to {len(live)} invoice(s) and cannot be "
                                "deleted. Remove the allocations first."])
        refunds = [p for p in credit.get("_payments") or () if self.payments[p]["Status"] == "AUTHORISED"]
        if refunds:
            raise ElementError([f"This {label.lower()} has {len(refunds)} refund payment(s) and cannot be "
                                "deleted. Remove the payments first."])
        now = self.now()
        txn.set(self.bank_transactions, bt["BankTransactionID"], dict(bt, Status="DELETED", _updated=now))
        txn.set(cfg["store"], bt["CreditID"], dict(credit, Status="VOIDED", RemainingCredit=ZERO, _updated=now))
        return self.bank_transactions[bt["BankTransactionID"]]

    def _apply_to_credit(self, kind, credit, amount, date, aid, txn, remove=False, payment=False):
        """Apply (or, ``remove``, take back) an allocation ``aid`` of the credit - or, ``payment``,
        a refund Payment out of it."""
        cfg = self._credit_cfg(kind)
        c = dict(credit)
        listkey = "_payments" if payment else "_allocations"
        c.setdefault("_payments", [])
        if remove:
            c[listkey] = [x for x in c[listkey] if x != aid]
            c["RemainingCredit"] = c["RemainingCredit"] + amount
        else:
            c[listkey] = list(c[listkey]) + [aid]
            c["RemainingCredit"] = c["RemainingCredit"] - amount
        if c["RemainingCredit"] == 0 and c["Status"] == "AUTHORISED":
            c["Status"] = "PAID"
        elif c["RemainingCredit"] != 0 and c["Status"] == "PAID":
            c["Status"] = "AUTHORISED"
        c["_updated"] = self.now()
        txn.set(cfg["store"], c[cfg["id"]], c)
        return c

    def create_credit_allocation(self, kind, cid, data, txn):
        """PUT /Overpayments|Prepayments/{id}/Allocations: apply the credit to one invoice."""
        cfg = self._credit_cfg(kind)
        label = cfg["label"]
        credit = cfg["store"].get(cid.lower())
        if credit is None:
            raise ElementError([f"{label} could not be found."])
        errors = []
        if credit["Status"] == "PAID":
            errors.append(f"{label} cannot be allocated as it has no remaining credit.")
        elif credit["Status"] != "AUTHORISED":
            errors.append(f"{label} not of valid status for allocation ({credit['Status']}).")
        inv = self.find_document("INV", data.get("Invoice") or {})
        if inv is None or inv is _MISSING:
            errors.append("Invoice could not be found")
            inv = None
        amount = q2(dec(data.get("Amount")))
        if amount <= 0:
            errors.append("The allocation Amount must be greater than zero.")
        date = parse_date(data.get("Date"))
        if date is None:
            errors.append("A valid allocation Date must be specified.")
        else:
            self._check_lock(date, errors, "allocation")
        if inv is not None:
            if inv["Type"] != "ACCREC":
                errors.append(f"A customer {label.lower()} can only be allocated to a sales invoice (ACCREC).")
            elif inv["Status"] == "PAID":
                errors.append("The invoice you are trying to allocate to has already been paid off")
            elif inv["Status"] != "AUTHORISED":
                errors.append(f"Invoice not of valid status for allocation ({inv['Status']}).")
            else:
                if inv["ContactID"] != credit["ContactID"]:
                    errors.append(f"The {label.lower()} and the invoice must belong to the same contact.")
                if inv["CurrencyCode"] != credit["CurrencyCode"]:
                    errors.append(f"The {label.lower()} and the invoice must be in the same currency.")
                if amount > credit["RemainingCredit"]:
                    errors.append(f"{label} cannot be allocated as amount is greater than remaining credit")
                if amount > inv["AmountDue"]:
                    errors.append(f"{label} cannot be allocated as amount is greater than amount outstanding")
        if errors:
            raise ElementError(errors)
        aid = new_id()
        alloc = {"AllocationID": aid, "SourceKind": kind, "SourceID": credit[cfg["id"]], "InvoiceID": inv["InvoiceID"],
                 "Amount": amount, "Date": date, "IsDeleted": False, "_updated": self.now()}
        txn.set(self.allocations, aid, alloc)
        self._apply_to_credit(kind, credit, amount, date, aid, txn)
        self._apply_to_doc("INV", inv, amount, date, aid, txn, paid=False)
        return alloc

    def delete_credit_allocation(self, kind, cid, aid, txn):
        cfg = self._credit_cfg(kind)
        credit = cfg["store"].get(str(cid).lower())
        alloc = self.allocations.get(str(aid).lower())
        if credit is None or alloc is None or alloc.get("SourceID") != credit[cfg["id"]]:
            raise ElementError(["Allocation could not be found."])
        if alloc["IsDeleted"]:
            raise ElementError(["This allocation has already been deleted."])
        if credit["Status"] == "VOIDED":
            raise ElementError([f"{cfg['label']} not of valid status for modification"])
        a2 = dict(alloc, IsDeleted=True, _updated=self.now())
        txn.set(self.allocations, aid.lower(), a2)
        self._apply_to_credit(kind, credit, alloc["Amount"], alloc["Date"], a2["AllocationID"], txn, remove=True)
        inv = self.invoices[alloc["InvoiceID"]]
        self._apply_to_doc("INV", inv, alloc["Amount"], alloc["Date"], a2["AllocationID"], txn, paid=False, remove=True)
        return a2

    def _credits_applied(self, allocs, kind):
        """An invoice's Overpayments / Prepayments: the credits applied to it."""
        cfg = self._credit_cfg(kind)
        out = []
        for a in allocs:
            if a.get("SourceKind") != kind:
                continue
            c = cfg["store"][a["SourceID"]]
            out.append({cfg["id"]: a["SourceID"], "AppliedAmount": a["Amount"], "Date": ms_date(a["Date"]),
                        "Total": c["Total"], "Type": c["Type"], "HasAttachments": False})
        return out

    def render_credit_allocation(self, a):
        cfg = self._credit_cfg(a["SourceKind"])
        inv = self.invoices[a["InvoiceID"]]
        c = cfg["store"][a["SourceID"]]
        key = "Overpayment" if a["SourceKind"] == "OVP" else "Prepayment"
        return {"AllocationID": a["AllocationID"], "Amount": a["Amount"], "Date": ms_date(a["Date"]),
                "IsDeleted": a["IsDeleted"], "StatusAttributeString": "OK",
                "Invoice": {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv["InvoiceNumber"], "Type": inv["Type"],
                            "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                            "HasErrors": False, "IsDiscounted": False, "HasAttachments": False},
                key: {cfg["id"]: c[cfg["id"]], "Type": c["Type"], "HasAttachments": False}}

    def render_credit(self, kind, c, unitdp=None):
        cfg = self._credit_cfg(kind)
        allocs = [self.allocations[a] for a in c["_allocations"] if not self.allocations[a]["IsDeleted"]]
        out = {
            "Type": c["Type"], cfg["id"]: c[cfg["id"]], "Contact": self._contact_ref(c["ContactID"]),
            "Date": ms_date(c["Date"]), "Status": c["Status"], "LineAmountTypes": c["LineAmountTypes"],
            "LineItems": [self.render_line(ln, unitdp) for ln in c["LineItems"]],
            "SubTotal": c["SubTotal"], "TotalTax": c["TotalTax"], "Total": c["Total"],
            "UpdatedDateUTC": ms_date(c["_updated"]), "UpdatedDateUTCString": iso_datetime_string(c["_updated"]),
            "CurrencyCode": c["CurrencyCode"], "CurrencyRate": c["CurrencyRate"],
            "RemainingCredit": c["RemainingCredit"], "HasAttachments": False,
            "Payments": [self._payment_summary(self.payments[p]) for p in c.get("_payments") or ()
                         if self.payments[p]["Status"] == "AUTHORISED"],
            "Allocations": [{"AllocationID": a["AllocationID"], "Amount": a["Amount"], "Date": ms_date(a["Date"]),
                             "Invoice": {"InvoiceID": a["InvoiceID"],
                                         "InvoiceNumber": self.invoices[a["InvoiceID"]]["InvoiceNumber"]}}
                            for a in allocs],
        }
        if kind == "OVP":
            out["Reference"] = c.get("Reference") or ""
        if allocs:
            out["AppliedAmount"] = sum((a["Amount"] for a in allocs), ZERO)
        return out

    def render_bank_transaction(self, bt, unitdp=None):
        acc = self.accounts[bt["AccountID"]]
        out = {
            "BankTransactionID": bt["BankTransactionID"], "Type": bt["Type"],
            "Contact": self._contact_ref(bt["ContactID"]),
            "BankAccount": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
            "Date": ms_date(bt["Date"]), "DateString": iso_date_string(bt["Date"]), "Reference": bt["Reference"],
            "CurrencyCode": bt["CurrencyCode"], "CurrencyRate": bt["CurrencyRate"], "Status": bt["Status"],
            "LineAmountTypes": bt["LineAmountTypes"],
            "LineItems": [self.render_line(ln, unitdp) for ln in bt["LineItems"]],
            "SubTotal": bt["SubTotal"], "TotalTax": bt["TotalTax"], "Total": bt["Total"],
            "IsReconciled": bt["IsReconciled"], "UpdatedDateUTC": ms_date(bt["_updated"]), "HasAttachments": False,
            self._credit_cfg(bt["CreditKind"])["id"]: bt["CreditID"],
        }
        if bt.get("Url"):
            out["Url"] = bt["Url"]
        return out

    # ========================================================================= reference ===
    def render_account(self, a):
        out = {k: v for k, v in a.items() if v is not None}
        out["UpdatedDateUTC"] = ms_date(self.seeded_at)
        return out

    def render_item(self, i):
        out = {k: v for k, v in i.items() if v is not None and not k.startswith("_")}
        out["UpdatedDateUTC"] = ms_date(i.get("_updated", self.seeded_at))
        return out

    def save_item(self, data, txn, existing=None, create_only=False):
        errors = []
        code = data.get("Code") if "Code" in data else (existing or {}).get("Code")
        if not code:
            errors.append("Item Code must be specified.")
        elif len(code) > 30:
            errors.append("Item Code must be 30 characters or fewer.")
        other = self.item_by_code(code) if code else None
        if other is not None and (existing is None or other["ItemID"] != existing["ItemID"]):
            if create_only or existing is not None:
                errors.append(f"Price List Item with Code '{code}' already exists")
            else:
                existing = other
        name = data.get("Name", (existing or {}).get("Name"))
        if name and len(name) > 50:
            errors.append("Item Name must be 50 characters or fewer.")
        sd = data.get("SalesDetails")
        if sd:
            if sd.get("AccountCode"):
                acc = self.account_by_code(sd["AccountCode"])
                if acc is None or acc["Status"] != "ACTIVE":
                    errors.append(f"Account code '{sd['AccountCode']}' has been removed as it does not match a recognised account.")
            if sd.get("TaxType") and sd["TaxType"] not in self.tax_rates:
                errors.append(f"The TaxType code '{sd['TaxType']}' does not exist or cannot be used with this type of transaction.")
        if errors:
            raise ElementError(errors)
        item = dict(existing) if existing else {"ItemID": (data.get("ItemID") or new_id()).lower(), "IsSold": True,
                                                "IsPurchased": True, "IsTrackedAsInventory": False,
                                                "SalesDetails": {}, "PurchaseDetails": {}}
        for k, v in data.items():
            if k in ("ItemID", "UpdatedDateUTC", "ValidationErrors", "StatusAttributeString", "IsTrackedAsInventory"):
                continue
            if k in ("SalesDetails", "PurchaseDetails") and isinstance(v, dict):
                v = {kk: (dec(vv) if kk == "UnitPrice" else vv) for kk, vv in v.items()}
            item[k] = v
        if item.get("IsSold") is False:
            item["Description"] = None
            item["SalesDetails"] = {}
        item["_updated"] = self.now()
        txn.set(self.items, item["ItemID"], item)
        return item

    def render_tracking(self, t, include_archived=False):
        out = dict(t)
        out["Options"] = [dict(o) for o in t["Options"] if include_archived or o["Status"] == "ACTIVE"]
        return out

    # ========================================================================= dump ========
    def merge_contacts(self, from_id, into_id, txn=None):
        """What an accountant's "Merge" in Xero's screens does (the API has no call for it): the
        documents of ``from_id`` move to ``into_id``, which survives; the other is archived with
        ``MergedToContactID``. Both contacts changed, so ``txn`` (when given) records a CONTACT
        UPDATE event for each, as Xero's webhooks report a merge (an archive is an UPDATE)."""
        src, dst = self.contacts.get((from_id or "").lower()), self.contacts.get((into_id or "").lower())
        if not src or not dst or src is dst:
            raise ValueError("merge needs two different existing contacts")
        now = self.now()
        for docs in (self.invoices, self.credit_notes):
            for doc in docs.values():
                if doc["ContactID"] == src["ContactID"]:
                    doc["ContactID"] = dst["ContactID"]
                    doc["_updated"] = now
        src.update(ContactStatus="ARCHIVED", MergedToContactID=dst["ContactID"], _updated=now)
        dst["_updated"] = now
        if txn is not None:
            txn.event("CONTACT", src["ContactID"], "UPDATE")
            txn.event("CONTACT", dst["ContactID"], "UPDATE")
        return {"from": src["ContactID"], "into": dst["ContactID"]}

    # -- attachments ---------------------------------------------------------------------------
    def document(self, kind, doc_id):
        store = self.invoices if kind == "INV" else self.credit_notes
        return store.get((doc_id or "").lower())

    def save_attachment(self, kind, doc_id, file_name, content, mime_type, include_online, txn, replace=False):
        """Attach ``content`` to the document as ``file_name``. PUT (``replace=False``) adds a file
        even when one of that name is there (Xero does not document what it does then: the
        emulator takes the stricter reading, so a second upload is a second file); POST
        (``replace=True``) replaces the file of that name, or adds it. Raises ElementError."""
        doc_id = (doc_id or "").lower()
        name = (file_name or "").strip()
        problems = []
        if not name:
            problems.append("A file name is required: it is the last part of the URL "
                            "(.../Attachments/{FileName}).")
        if not content:
            problems.append("The attachment is empty: the file's bytes are the request body.")
        elif len(content) > ATTACHMENT_MAX_BYTES:
            problems.append(f"The file is {len(content)} bytes: Xero accepts attachments of up to 25 MB "
                            f"({ATTACHMENT_MAX_BYTES} bytes).")
        current = list(self.attachments.get(doc_id, []))
        existing = next((i for i, a in enumerate(current) if a["FileName"] == name), None) if replace else None
        if existing is None and len(current) >= ATTACHMENTS_PER_DOCUMENT:
            problems.append(f"This document already has {len(current)} attachments: Xero allows at most "
                            f"{ATTACHMENTS_PER_DOCUMENT} on one document.")
        if problems:
            raise ElementError(problems)
        attachment = {"AttachmentID": current[existing]["AttachmentID"] if existing is not None else new_id(),
                      "FileName": name, "MimeType": mime_type or "application/octet-stream",
                      "ContentLength": len(content), "IncludeOnline": bool(include_online),
                      "_content": bytes(content)}
        if existing is not None:
            current[existing] = attachment
        else:
            current.append(attachment)
        txn.set(self.attachments, doc_id, current)
        return attachment

    def attachments_of(self, doc_id):
        return list(self.attachments.get((doc_id or "").lower(), []))

    @staticmethod
    def render_attachment(kind, doc_id, attachment, base=""):
        collection = "Invoices" if kind == "INV" else "CreditNotes"
        out = {k: v for k, v in attachment.items() if not k.startswith("_")}
        out["Url"] = f"{base}/api.xro/2.0/{collection}/{doc_id}/Attachments/{attachment['FileName']}"
        return out

    def dump(self):
        return {
            "tenant_id": self.tenant_id,
            "Organisation": self.organisation,
            "Contacts": [self.render_contact(c) for c in self.contacts.values()],
            "Invoices": [self.render_document("INV", d) for d in self.invoices.values()],
            "CreditNotes": [self.render_document("CN", d) for d in self.credit_notes.values()],
            "Payments": [self.render_payment(p) for p in self.payments.values()],
            "Allocations": [self.render_allocation(a) for a in self.allocations.values()],
            "BankTransactions": [self.render_bank_transaction(b) for b in self.bank_transactions.values()],
            "Overpayments": [self.render_credit("OVP", o) for o in self.overpayments.values()],
            "Prepayments": [self.render_credit("PRE", o) for o in self.prepayments.values()],
            # per document: what was attached, with the sha256 of the bytes (the bytes themselves
            # are served by GET .../Attachments/{FileName})
            "Attachments": {doc_id: [dict(self.render_attachment(
                "INV" if doc_id in self.invoices else "CN", doc_id, a),
                sha256=hashlib.sha256(a["_content"]).hexdigest()) for a in atts]
                for doc_id, atts in self.attachments.items() if atts},
            "Items": [self.render_item(i) for i in self.items.values()],
            "Accounts": [self.render_account(a) for a in self.accounts.values()],
            "TaxRates": list(self.tax_rates.values()),
            "TrackingCategories": [self.render_tracking(t, True) for t in self.tracking.values()],
            "Currencies": list(self.currencies.values()),
        }


def updated_since(obj_updated: dt.datetime, since: dt.datetime | None) -> bool:
    return since is None or obj_updated > since


__all__ = ["Org", "Txn", "ElementError", "updated_since", "iso_datetime_string"]

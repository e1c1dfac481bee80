"""One QuickBooks Online company (realm): entities, validation, totals, SyncToken, void/delete, CDC.

Every write validates completely before it changes anything, so a refused write (or a refused item of a
batch) leaves the company as it was. Amounts are Decimal; money is rounded half-up to the cent.
"""
from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from . import query as q
from . import seed
from .wire import (CENT, QBOError, business, duplicate_doc_number, duplicate_name, inactive_reference, invalid_field,
                   invalid_reference, money, not_found, parse_date, parse_datetime, required, stale, unsupported)

NAME_LISTS = ("Customer", "Item", "Account", "Class", "Department", "TaxCode", "TaxRate")
TXNS = ("Invoice", "CreditMemo", "Payment", "RefundReceipt", "Purchase")
QUERYABLE = NAME_LISTS + TXNS + ("CompanyInfo", "Preferences")
READ_ONLY = ("Account", "TaxCode", "TaxRate", "CompanyInfo", "Preferences")
SALES_DOCS = ("Invoice", "CreditMemo", "RefundReceipt")
VOIDABLE = ("Invoice", "Payment", "RefundReceipt")
DELETABLE = ("Invoice", "CreditMemo", "Payment", "RefundReceipt", "Purchase")
# A Purchase (expense or cheque) with a line to Accounts Receivable is a charge to its customer, which a
# Payment links as "Expense" (paid in cash or by transfer) or "Check": how money paid back to a customer
# against a credit memo is recorded (the credit memo and the charge linked by a Payment of 0).
PURCHASE_LINK_TYPES = {"Cash": "Expense", "Check": "Check", "CreditCard": "CreditCardCredit"}
MAX_DOC_NUMBER = 21
CDC_MAX_OBJECTS = 1000
CDC_LOOKBACK_DAYS = 30
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Writable top-level properties per entity (anything else is refused as Intuit refuses an unknown
# property). Read-only properties a client echoes back (Id, SyncToken, MetaData, domain, sparse, computed
# totals) are accepted and ignored.
_COMMON_RO = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
WRITABLE = {
    "Customer": {"DisplayName", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName",
                 "FullyQualifiedName", "PrintOnCheckName", "PrimaryEmailAddr", "PrimaryPhone", "Mobile", "Fax",
                 "WebAddr", "BillAddr", "ShipAddr", "Notes", "Active", "Taxable", "CurrencyRef", "ResaleNum",
                 "PreferredDeliveryMethod", "PrimaryTaxIdentifier", "DefaultTaxCodeRef", "SalesTermRef"},
    "Item": {"Name", "Sku", "Description", "Active", "Type", "IncomeAccountRef", "ExpenseAccountRef", "UnitPrice",
             "Taxable", "SalesTaxCodeRef", "PurchaseCost", "TrackQtyOnHand", "FullyQualifiedName"},
    "Class": {"Name", "Active", "SubClass", "ParentRef", "FullyQualifiedName"},
    "Department": {"Name", "Active", "SubDepartment", "ParentRef", "FullyQualifiedName"},
    "Invoice": {"DocNumber", "TxnDate", "DueDate", "CustomerRef", "Line", "TxnTaxDetail", "PrivateNote",
                "CustomerMemo", "BillEmail", "BillAddr", "ShipAddr", "ClassRef", "DepartmentRef", "CurrencyRef",
                "ExchangeRate", "ApplyTaxAfterDiscount", "GlobalTaxCalculation", "SalesTermRef",
                "EmailStatus", "PrintStatus", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
                "CustomField", "TrackingNum"},
    "CreditMemo": {"DocNumber", "TxnDate", "CustomerRef", "Line", "TxnTaxDetail", "PrivateNote", "CustomerMemo",
                   "BillEmail", "BillAddr", "ClassRef", "DepartmentRef", "CurrencyRef", "ExchangeRate",
                   "ApplyTaxAfterDiscount", "GlobalTaxCalculation", "EmailStatus", "PrintStatus", "CustomField"},
    "RefundReceipt": {"DocNumber", "TxnDate", "CustomerRef", "Line", "TxnTaxDetail", "PrivateNote", "CustomerMemo",
                      "BillEmail", "BillAddr", "ClassRef", "DepartmentRef", "CurrencyRef", "ExchangeRate",
                      "ApplyTaxAfterDiscount", "GlobalTaxCalculation", "DepositToAccountRef", "PaymentMethodRef",
                      "PaymentRefNum", "PrintStatus", "CustomField"},
    "Payment": {"TxnDate", "CustomerRef", "TotalAmt", "Line", "DepositToAccountRef", "PaymentMethodRef",
                "PaymentRefNum", "PrivateNote", "CurrencyRef", "ExchangeRate", "ARAccountRef"},
    "Purchase": {"PaymentType", "AccountRef", "EntityRef", "TxnDate", "DocNumber", "PrivateNote", "Line",
                 "CurrencyRef", "ExchangeRate", "PaymentMethodRef", "DepartmentRef", "Credit", "GlobalTaxCalculation"},
}
_COMPUTED = {"TotalAmt", "Balance", "RemainingCredit", "HomeBalance", "HomeTotalAmt", "UnappliedAmt", "LinkedTxn",
             "TxnStatus", "Deposit", "InvoiceLink", "BalanceWithJobs", "Job", "BillWithParent", "Level"}


def _seq_key(entity):
    return "txn" if entity in TXNS else entity


def _txn_entity(txn_type):
    """The entity a LinkedTxn type names: an Expense, Check or CreditCardCredit is a Purchase."""
    return "Purchase" if txn_type in PURCHASE_LINK_TYPES.values() else txn_type


def ref(value, name=None):
    out = {"value": str(value)}
    if name is not None:
        out["name"] = name
    return out


def _ref_value(obj, key):
    r = obj.get(key)
    if r is None:
        return None
    if not isinstance(r, dict) or not str(r.get("value") or "").strip():
        raise required(f"{key}.value")
    return str(r["value"]).strip()


def _dec(value, element):
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid_field(f"Property Name:{element} specified value is invalid : {value}", element)
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid_field(f"Property Name:{element} specified value is invalid : {value}", element) from None
    if not d.is_finite():
        raise invalid_field(f"Property Name:{element} specified value is invalid : {value}", element)
    return d


def _date(value, element):
    d = parse_date(value)
    if d is None or len(str(value)) != 10:
        raise invalid_field(f"Property Name:{element} specified value is invalid : {value}", element)
    return d


class Company:
    def __init__(self, realm_id, clock, like=None, name=None):
        self.realm_id = realm_id
        self.clock = clock
        spec = seed.COMPANIES[like or realm_id]
        self.country = spec["Country"]
        self.currency = spec["Currency"]
        self.currency_name = spec["CurrencyName"]
        self.name = name or spec["CompanyName"]
        self.us = self.country == "US"
        self.multicurrency = bool(spec.get("MultiCurrency"))
        self.objects = {e: {} for e in NAME_LISTS + TXNS}
        # Transactions share one Id sequence (an invoice and a credit memo never have the same Id, as in
        # QuickBooks); each name list has its own.
        self.seq = {e: 0 for e in NAME_LISTS + ("txn",)}
        self.tombstones = []  # (epoch, entity, id) of deleted objects, for CDC
        self.events = []  # (entity, id, operation, lastUpdated) for webhooks, drained by the app
        self.doc_seq = {"Invoice": 1000, "CreditMemo": 5000, "RefundReceipt": 8000}
        self._seed(spec)

    # ---------------------------------------------------------------------------------- seed
    def _meta(self, created=None):
        now = self.clock.stamp()
        return {"CreateTime": created or now, "LastUpdatedTime": now}

    def _put(self, entity, obj):
        oid = obj["Id"]
        self.objects[entity][oid] = obj
        self.seq[_seq_key(entity)] = max(self.seq[_seq_key(entity)], int(oid))

    def _seed(self, spec):
        for oid, name, atype, sub, cls in seed._ACCOUNTS:
            self._put("Account", {"Id": oid, "SyncToken": "0", "Name": name, "FullyQualifiedName": name,
                                  "AccountType": atype, "AccountSubType": sub, "Classification": cls,
                                  "Active": oid not in seed.INACTIVE_ACCOUNTS, "SubAccount": False,
                                  "CurrentBalance": Decimal("0"), "CurrencyRef": ref(self.currency, self.currency_name),
                                  "domain": "QBO", "sparse": False, "MetaData": self._meta()})
        for oid, name, itype, income, price, taxable in seed._ITEMS:
            item = {"Id": oid, "SyncToken": "0", "Name": name, "FullyQualifiedName": name, "Type": itype,
                    "Active": oid not in seed.INACTIVE_ITEMS, "IncomeAccountRef": ref(income, self._name("Account", income)),
                    "UnitPrice": price, "domain": "QBO", "sparse": False, "MetaData": self._meta()}
            if self.us:
                item["Taxable"] = taxable
            self._put("Item", item)
        for oid, name in seed._CLASSES:
            self._put("Class", {"Id": oid, "SyncToken": "0", "Name": name, "FullyQualifiedName": name, "SubClass": False,
                                "Active": oid not in seed.INACTIVE_CLASSES, "domain": "QBO", "sparse": False,
                                "MetaData": self._meta()})
        for oid, name in seed._DEPARTMENTS:
            self._put("Department", {"Id": oid, "SyncToken": "0", "Name": name, "FullyQualifiedName": name,
                                     "SubDepartment": False, "Active": True, "domain": "QBO", "sparse": False,
                                     "MetaData": self._meta()})
        for oid, name, rate, agency in spec["rates"]:
            self._put("TaxRate", {"Id": oid, "SyncToken": "0", "Name": name, "RateValue": rate, "Active": True,
                                  "AgencyRef": ref(agency), "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
                                  "domain": "QBO", "sparse": False, "MetaData": self._meta()})
        for oid, name, rates in spec["codes"]:
            self._put("TaxCode", {
                "Id": oid, "SyncToken": "0", "Name": name, "Description": name, "Active": True, "Taxable": bool(rates),
                "TaxGroup": len(rates) > 1 or self.us, "Hidden": False,
                "SalesTaxRateList": {"TaxRateDetail": [
                    {"TaxRateRef": ref(r, self._name("TaxRate", r)), "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
                    for r in rates]},
                "PurchaseTaxRateList": {"TaxRateDetail": []}, "domain": "QBO", "sparse": False, "MetaData": self._meta()})

    def _name(self, entity, oid):
        obj = self.objects[entity].get(str(oid))
        if not obj:
            return None
        return obj.get("DisplayName") or obj.get("Name")

    def company_info(self):
        return {"Id": "1", "SyncToken": "0", "CompanyName": self.name, "LegalName": self.name, "Country": self.country,
                "CompanyAddr": {"Country": self.country}, "FiscalYearStartMonth": "January",
                "SupportedLanguages": "en", "domain": "QBO", "sparse": False,
                "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
                "MetaData": {"CreateTime": self.clock.stamp(0), "LastUpdatedTime": self.clock.stamp(0)}}

    def preferences(self):
        return {"Id": "1", "SyncToken": "0", "domain": "QBO", "sparse": False,
                "AccountingInfoPrefs": {"TrackDepartments": True, "DepartmentTerminology": "Location",
                                        "ClassTrackingPerTxnLine": True, "ClassTrackingPerTxn": False,
                                        "CustomerTerminology": "Customers"},
                "SalesFormsPrefs": {"AllowDiscount": True, "CustomTxnNumbers": True, "AllowDeposit": False,
                                    "AllowShipping": False, "ETransactionEnabledStatus": "NotApplicable"},
                "CurrencyPrefs": {"MultiCurrencyEnabled": self.multicurrency, "HomeCurrency": ref(self.currency)},
                "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": not self.us},
                "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.WarnDuplicateDocNum", "Value": "true"}]},
                "MetaData": {"CreateTime": self.clock.stamp(0), "LastUpdatedTime": self.clock.stamp(0)}}

    # ---------------------------------------------------------------------------------- multicurrency
    def enable_multicurrency(self):
        """Settings > Account and settings > Advanced > Currency > Multicurrency: on. QuickBooks never
        turns it off again (the home currency is fixed from then on)."""
        self.multicurrency = True

    def _rate_of(self, currency):
        """QuickBooks' own rate for ``currency``: home units per one unit of it."""
        return (seed.USD_PER_UNIT[currency] / seed.USD_PER_UNIT[self.currency]).quantize(Decimal("0.0000001"))

    def _currency_ref(self, currency, element="CurrencyRef"):
        if currency == self.currency:
            return ref(self.currency, self.currency_name)
        if not self.multicurrency:
            raise business(f"Multicurrency is off: {currency} is not the company's home currency {self.currency}.",
                           element)
        if currency not in seed.CURRENCY_NAMES:
            raise invalid_field(f"Property Name:{element} specified value is invalid : {currency}", element)
        return ref(currency, seed.CURRENCY_NAMES[currency])

    def _txn_currency(self, obj, customer):
        """CurrencyRef and ExchangeRate of a transaction for ``customer`` (None: no customer).

        Multicurrency off: the home currency only, no ExchangeRate (today's rule). On: the transaction
        is in its customer's currency (CurrencyRef may be left out: it is the customer's; another one is
        refused); ExchangeRate is the number of home units per one unit of that currency, defaulted to
        QuickBooks' own rate of the day when left out (as Intuit does), and 1 for the home currency.
        Returns the rate."""
        given = _ref_value(obj, "CurrencyRef")
        if not self.multicurrency:
            if given and given != self.currency:
                raise business(f"Multicurrency is off: {given} is not the company's home currency {self.currency}.",
                               "CurrencyRef")
            obj["CurrencyRef"] = ref(self.currency, self.currency_name)
            obj.pop("ExchangeRate", None)
            return Decimal("1")
        own = (customer or {}).get("CurrencyRef", {}).get("value") or self.currency
        currency = given or own
        if customer is not None and currency != own:
            raise business(f"The currency of the transaction ({currency}) must be the currency of the customer "
                           f"{customer['DisplayName']} ({own}): QuickBooks keeps one currency per customer.",
                           "CurrencyRef")
        obj["CurrencyRef"] = self._currency_ref(currency)
        if currency == self.currency:
            rate = Decimal("1")
        else:
            rate = _dec(obj.get("ExchangeRate"), "ExchangeRate")
            if rate is None:
                rate = self._rate_of(currency)
            if rate <= 0:
                raise business("The exchange rate must be more than zero.", "ExchangeRate")
        obj["ExchangeRate"] = rate
        return rate

    def _deposit_currency(self, obj, account, element):
        """An account money goes to or comes from is in the transaction's currency or the home one."""
        mine = (account.get("CurrencyRef") or {}).get("value") or self.currency
        currency = obj["CurrencyRef"]["value"]
        if mine not in (currency, self.currency):
            raise business(f"The account {account['Name']} is in {mine}: choose an account in {currency} or in "
                           f"the home currency {self.currency}.", element)

    def _has_transactions(self, cid):
        for entity in TXNS:
            for obj in self.objects[entity].values():
                if (obj.get("CustomerRef") or obj.get("EntityRef") or {}).get("value") == cid:
                    return True
        return False

    # ---------------------------------------------------------------------------------- read
    def get(self, entity, oid):
        obj = self.objects.get(entity, {}).get(str(oid))
        if obj is None:
            raise not_found(entity, oid)
        return copy.deepcopy(obj)

    def all(self, entity):
        if entity == "CompanyInfo":
            return [self.company_info()]
        if entity == "Preferences":
            return [self.preferences()]
        return list(self.objects[entity].values())

    def query(self, text):
        parsed = q.parse(text, QUERYABLE)
        rows = [o for o in self.all(parsed.entity) if q.matches(o, parsed.conditions)]
        # name lists answer active objects only unless the query names Active (as Intuit does)
        if parsed.entity in NAME_LISTS and not parsed.mentions("Active"):
            rows = [o for o in rows if o.get("Active", True)]
        if parsed.count:
            return {"totalCount": len(rows)}
        for path, desc in reversed(parsed.order or [("Id", False)]):
            rows.sort(key=q.sort_key(path), reverse=desc)
        page = rows[parsed.start - 1: parsed.start - 1 + parsed.max_results]
        if not page:
            return {}
        if parsed.fields:
            keep = {f.lower() for f in parsed.fields} | {"id", "synctoken", "metadata", "domain", "sparse"}
            page = [{k: v for k, v in o.items() if k.lower() in keep} for o in page]
        return {parsed.entity: copy.deepcopy(page), "startPosition": parsed.start, "maxResults": len(page)}

    def cdc(self, entities, changed_since):
        since = parse_datetime(changed_since)
        if since is None:
            raise QBOError(2010, "Request has invalid or unsupported property",
                           f"Property Name:changedSince specified value is invalid : {changed_since}", "changedSince")
        if since < self.clock.now() - CDC_LOOKBACK_DAYS * 86400:
            raise QBOError(4001, "Invalid query",
                           f"changedSince must be within the last {CDC_LOOKBACK_DAYS} days", "changedSince")
        names = [e.strip() for e in (entities or "").split(",") if e.strip()]
        if not names:
            raise required("entities")
        out = []
        budget = CDC_MAX_OBJECTS
        for name in names:
            entity = next((e for e in NAME_LISTS + TXNS if e.lower() == name.lower()), None)
            if entity is None:
                raise QBOError(2010, "Request has invalid or unsupported property",
                               f"Property Name:entities specified value is invalid : {name}", "entities")
            changed = [o for o in self.objects[entity].values()
                       if (parse_datetime(o["MetaData"]["LastUpdatedTime"]) or 0) > since]
            changed += [{"Id": oid, "status": "Deleted", "domain": "QBO",
                         "MetaData": {"LastUpdatedTime": self.clock.stamp(at)}}
                        for at, ent, oid in self.tombstones if ent == entity and at > since]
            changed.sort(key=lambda o: parse_datetime(o["MetaData"]["LastUpdatedTime"]) or 0)
            changed = changed[:budget]
            budget -= len(changed)
            if changed:
                out.append({entity: copy.deepcopy(changed), "startPosition": 1, "maxResults": len(changed),
                            "totalCount": len(changed)})
            else:
                out.append({})
        return {"CDCResponse": [{"QueryResponse": out}]}

    # ---------------------------------------------------------------------------------- write entry points
    def create(self, entity, body):
        self._check_entity_writable(entity)
        body = self._clean(entity, body)
        if body.get("Id"):
            return self.update(entity, body)
        obj = getattr(self, f"_build_{entity.lower()}")(body, None)
        self.seq[_seq_key(entity)] += 1
        obj["Id"] = str(self.seq[_seq_key(entity)])
        obj["SyncToken"] = "0"
        obj["domain"] = "QBO"
        obj["sparse"] = False
        obj["MetaData"] = self._meta()
        self._commit(entity, obj, None)
        self.objects[entity][obj["Id"]] = obj
        self.events.append((entity, obj["Id"], "Create", obj["MetaData"]["LastUpdatedTime"]))
        return copy.deepcopy(obj)

    def update(self, entity, body):
        self._check_entity_writable(entity)
        body = self._clean(entity, body)
        current = self._current_for_write(entity, body)
        if body.get("sparse") is True:
            merged = copy.deepcopy(current)
            for k, v in body.items():
                if k in WRITABLE[entity]:
                    merged[k] = v
            if "Line" in body and "TxnTaxDetail" not in body and isinstance(merged.get("TxnTaxDetail"), dict):
                # new lines: the tax is computed again (the old total is not an override)
                merged["TxnTaxDetail"] = {k: v for k, v in merged["TxnTaxDetail"].items() if k == "TxnTaxCodeRef"}
        else:
            merged = {k: v for k, v in body.items() if k in WRITABLE[entity]}
            # a full update of a name list keeps what it does not send only for the fields Intuit calls
            # required-on-create; everything else omitted is cleared
        obj = getattr(self, f"_build_{entity.lower()}")(merged, current)
        for k in ("Id", "MetaData", "domain"):
            obj[k] = current[k]
        obj["SyncToken"] = str(int(current["SyncToken"]) + 1)
        obj["sparse"] = False
        obj["MetaData"] = dict(current["MetaData"], LastUpdatedTime=self.clock.stamp())
        self._commit(entity, obj, current)
        self.objects[entity][obj["Id"]] = obj
        op = "Update"
        if entity in NAME_LISTS and current.get("Active", True) and not obj.get("Active", True):
            op = "Delete"  # Intuit reports making a name-list object inactive as a Delete
        self.events.append((entity, obj["Id"], op, obj["MetaData"]["LastUpdatedTime"]))
        return copy.deepcopy(obj)

    def void(self, entity, body):
        if entity not in VOIDABLE:
            raise unsupported(f"Operation Void is not supported for {entity}.")
        current = self._current_for_write(entity, self._clean(entity, body, strict=False))
        if current.get("PrivateNote", "").startswith("Voided") and current.get("TotalAmt") == 0:
            raise business("This transaction has already been voided.")
        if entity == "Invoice" and self._applied_to(current["Id"], "Invoice"):
            raise business("You can't void this invoice because it has payments applied to it. Remove the payments "
                           "first.")
        obj = copy.deepcopy(current)
        if entity == "Payment":
            self._unapply_payment(current)
            obj["TotalAmt"] = Decimal("0")
            obj["UnappliedAmt"] = Decimal("0")
            for line in obj.get("Line") or []:
                line["Amount"] = Decimal("0")
        else:
            for line in obj.get("Line") or []:
                line["Amount"] = Decimal("0")
                detail = line.get("SalesItemLineDetail")
                if detail is not None:
                    detail["Qty"] = Decimal("0")
                    detail.pop("UnitPrice", None)
            if obj.get("TxnTaxDetail"):
                obj["TxnTaxDetail"]["TotalTax"] = Decimal("0")
                for tl in obj["TxnTaxDetail"].get("TaxLine") or []:
                    tl["Amount"] = Decimal("0")
                    (tl.get("TaxLineDetail") or {})["NetAmountTaxable"] = Decimal("0")
            obj["TotalAmt"] = Decimal("0")
            if "Balance" in obj:
                obj["Balance"] = Decimal("0")
        obj["PrivateNote"] = ("Voided" + (" - " + current["PrivateNote"] if current.get("PrivateNote") else ""))
        obj["SyncToken"] = str(int(current["SyncToken"]) + 1)
        obj["MetaData"] = dict(current["MetaData"], LastUpdatedTime=self.clock.stamp())
        self.objects[entity][obj["Id"]] = obj
        self.events.append((entity, obj["Id"], "Void", obj["MetaData"]["LastUpdatedTime"]))
        return copy.deepcopy(obj)

    def delete(self, entity, body):
        if entity not in DELETABLE:
            raise unsupported(f"Operation Delete is not supported for {entity}.")
        current = self._current_for_write(entity, self._clean(entity, body, strict=False))
        if entity in ("Invoice", "CreditMemo", "Purchase") and self._applied_to(current["Id"], entity):
            what = {"Invoice": "invoice", "CreditMemo": "credit memo", "Purchase": "expense"}[entity]
            raise business(f"You can't delete this {what} because it has payments or credits applied to it. "
                           "Remove them first.")
        if entity == "Payment":
            self._unapply_payment(current)
        del self.objects[entity][current["Id"]]
        now = self.clock.now()
        self.tombstones.append((now, entity, current["Id"]))
        self.events.append((entity, current["Id"], "Delete", self.clock.stamp(now)))
        return {"Id": current["Id"], "status": "Deleted", "domain": "QBO"}

    # ---------------------------------------------------------------------------------- write helpers
    def _check_entity_writable(self, entity):
        if entity in READ_ONLY:
            raise unsupported(f"Operation Create/Update is not supported for {entity}.")
        if entity not in WRITABLE:
            raise unsupported(f"Operation is not supported for {entity}.")

    def _clean(self, entity, body, strict=True):
        if not isinstance(body, dict):
            raise invalid_field(f"Request body for {entity} must be an object", entity)
        for k, v in body.items():
            if k in _COMMON_RO or k in _COMPUTED or k in WRITABLE.get(entity, ()):
                if v is None:
                    raise invalid_field(f"Property Name:{k} specified value is invalid : null", k)
                continue
            if strict:
                raise invalid_field(f"Property Name:Unrecognized field \"{k}\" specified value is invalid", k)
        return body

    def _current_for_write(self, entity, body):
        oid = str(body.get("Id") or "").strip()
        if not oid:
            raise required("Id")
        current = self.objects[entity].get(oid)
        if current is None:
            raise not_found(entity, oid)
        token = body.get("SyncToken")
        if token is None or str(token).strip() == "":
            raise required("SyncToken")
        if str(token).strip() != current["SyncToken"]:
            raise stale(entity)
        return current

    def _commit(self, entity, obj, current):
        """Side effects of a write, after its validation: payment applications."""
        if entity == "Payment":
            if current is not None:
                self._unapply_payment(current)
            self._apply_payment(obj)
        elif entity == "Purchase" and current is not None:
            obj["LinkedTxn"] = copy.deepcopy(current.get("LinkedTxn") or [])
        elif entity in ("Invoice", "CreditMemo") and current is not None:
            applied = self._applied_to(current["Id"], entity)
            key = "Balance" if entity == "Invoice" else "RemainingCredit"
            obj[key] = money(obj["TotalAmt"] - applied)
            if "HomeBalance" in obj:
                obj["Balance" if entity == "Invoice" else "RemainingCredit"] = obj[key]
                obj["HomeBalance"] = money(obj["Balance"] * obj.get("ExchangeRate", 1))
            obj["LinkedTxn"] = copy.deepcopy(current.get("LinkedTxn") or [])

    def _lookup(self, entity, element, value, kind_label, active=True):
        obj = self.objects[entity].get(str(value))
        if obj is None:
            raise invalid_reference(kind_label, value, element)
        if active and not obj.get("Active", True):
            raise inactive_reference(element)
        return obj

    # ---------------------------------------------------------------------------------- name lists
    def _unique_name(self, entity, field, name, own_id):
        key = " ".join(str(name).split()).lower()
        for obj in self.objects[entity].values():
            if obj["Id"] != own_id and " ".join(str(obj.get(field) or "").split()).lower() == key:
                raise duplicate_name()

    def _build_customer(self, body, current):
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE["Customer"]}
        if not any(str(obj.get(k) or "").strip() for k in
                   ("DisplayName", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix")):
            raise required("DisplayName")
        if not str(obj.get("DisplayName") or "").strip():
            obj["DisplayName"] = " ".join(str(obj.get(k)).strip() for k in
                                          ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix") if obj.get(k))
        obj["DisplayName"] = " ".join(str(obj["DisplayName"]).split())
        if len(obj["DisplayName"]) > 500:
            raise QBOError(2050, "Invalid String/Number",
                           f"String length is either shorter or longer than supported by specification. Min:1 Max:500 "
                           f"supplied:{len(obj['DisplayName'])}", "DisplayName")
        if ":" in obj["DisplayName"]:
            raise invalid_field("Property Name:DisplayName specified value is invalid : the name can't contain a colon",
                                "DisplayName")
        active = obj.get("Active", True)
        if not isinstance(active, bool):
            raise invalid_field(f"Property Name:Active specified value is invalid : {active}", "Active")
        if current is not None and current.get("Active", True) and not active \
                and not obj["DisplayName"].endswith(" (deleted)"):
            obj["DisplayName"] += " (deleted)"  # Intuit renames an inactive customer so its name is free again
        self._unique_name("Customer", "DisplayName", obj["DisplayName"], current["Id"] if current else None)
        email = obj.get("PrimaryEmailAddr")
        if email is not None:
            if not isinstance(email, dict):
                raise invalid_field("Property Name:PrimaryEmailAddr specified value is invalid", "PrimaryEmailAddr")
            address = str(email.get("Address") or "").strip()
            if address and (not EMAIL_RE.match(address) or len(address) > 100):
                raise invalid_field("Property Name:PrimaryEmailAddr.Address specified value is invalid : "
                                    f"Email Address does not conform to the syntax rules of RFC 822: {address}",
                                    "PrimaryEmailAddr.Address")
        # The customer's currency is set when it is created (the home currency unless multicurrency is
        # on and another is given) and stays: once it has transactions another one is refused.
        had = (current or {}).get("CurrencyRef", {}).get("value")
        currency = _ref_value(obj, "CurrencyRef") or had or self.currency
        if had and currency != had and self._has_transactions(current["Id"]):
            raise business(f"You can't change the currency of {current['DisplayName']} ({had}): it has "
                           "transactions.", "CurrencyRef")
        obj.setdefault("PrintOnCheckName", obj["DisplayName"])
        obj["FullyQualifiedName"] = obj["DisplayName"]
        obj["Active"] = active
        obj["CurrencyRef"] = self._currency_ref(currency)
        obj.setdefault("PreferredDeliveryMethod", "Print")
        if self.us:
            obj.setdefault("Taxable", True)
        obj["Job"] = False
        obj["BillWithParent"] = False
        obj["Balance"] = self._customer_balance(current["Id"]) if current else Decimal("0")
        obj["BalanceWithJobs"] = obj["Balance"]
        return obj

    def _customer_balance(self, cid):
        total = Decimal("0")
        for inv in self.objects["Invoice"].values():
            if inv["CustomerRef"]["value"] == cid:
                total += inv["Balance"]
        for cm in self.objects["CreditMemo"].values():
            if cm["CustomerRef"]["value"] == cid:
                total -= cm["RemainingCredit"]
        return money(total)

    def _build_item(self, body, current):
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE["Item"]}
        name = " ".join(str(obj.get("Name") or "").split())
        if not name:
            raise required("Name")
        if len(name) > 100:
            raise QBOError(2050, "Invalid String/Number", f"String length is either shorter or longer than supported "
                           f"by specification. Min:1 Max:100 supplied:{len(name)}", "Name")
        self._unique_name("Item", "Name", name, current["Id"] if current else None)
        obj["Name"] = name
        itype = obj.get("Type") or "Service"
        if itype not in ("Service", "NonInventory"):
            raise business(f"The emulator only keeps Service and NonInventory items, not {itype}.", "Type")
        obj["Type"] = itype
        income = _ref_value(obj, "IncomeAccountRef")
        if not income:
            raise required("IncomeAccountRef")
        account = self._lookup("Account", "IncomeAccountRef", income, "Account")
        if account["Classification"] != "Revenue":
            raise business("Income account is not valid: choose an income account for the item.", "IncomeAccountRef")
        obj["IncomeAccountRef"] = ref(income, account["Name"])
        obj["UnitPrice"] = _dec(obj.get("UnitPrice"), "UnitPrice") or Decimal("0")
        obj["Active"] = obj.get("Active", True) is not False
        obj["FullyQualifiedName"] = name
        if self.us:
            obj["Taxable"] = bool(obj.get("Taxable", True))
        return obj

    def _build_simple(self, entity, body, current):
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE[entity]}
        name = " ".join(str(obj.get("Name") or "").split())
        if not name:
            raise required("Name")
        self._unique_name(entity, "Name", name, current["Id"] if current else None)
        obj["Name"] = name
        obj["FullyQualifiedName"] = name
        obj["Active"] = obj.get("Active", True) is not False
        obj.setdefault("SubClass" if entity == "Class" else "SubDepartment", False)
        return obj

    def _build_class(self, body, current):
        return self._build_simple("Class", body, current)

    def _build_department(self, body, current):
        return self._build_simple("Department", body, current)

    # ---------------------------------------------------------------------------------- sales documents
    def _build_invoice(self, body, current):
        return self._build_sales("Invoice", body, current)

    def _build_creditmemo(self, body, current):
        return self._build_sales("CreditMemo", body, current)

    def _build_refundreceipt(self, body, current):
        return self._build_sales("RefundReceipt", body, current)

    def _build_sales(self, entity, body, current):
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE[entity]}
        cid = _ref_value(obj, "CustomerRef")
        customer = None
        if not cid:
            if entity != "RefundReceipt":
                raise required("CustomerRef")
        else:
            customer = self._lookup("Customer", "CustomerRef", cid, "Customers")
            obj["CustomerRef"] = ref(cid, customer["DisplayName"])
        rate = self._txn_currency(obj, customer)
        today = self.clock.today()
        txn_date = _date(obj["TxnDate"], "TxnDate") if obj.get("TxnDate") else today
        obj["TxnDate"] = txn_date.isoformat()
        if entity == "Invoice":
            due = _date(obj["DueDate"], "DueDate") if obj.get("DueDate") else txn_date + dt.timedelta(days=30)
            if due < txn_date:
                raise business("The due date can't be earlier than the invoice date.", "DueDate")
            obj["DueDate"] = due.isoformat()
        self._doc_number(entity, obj, current)
        dep = _ref_value(obj, "DepartmentRef")
        if dep:
            obj["DepartmentRef"] = ref(dep, self._lookup("Department", "DepartmentRef", dep, "Department")["Name"])
        cls = _ref_value(obj, "ClassRef")
        if cls:
            obj["ClassRef"] = ref(cls, self._lookup("Class", "ClassRef", cls, "Class")["Name"])
        if entity == "RefundReceipt":
            acc = _ref_value(obj, "DepositToAccountRef")
            if not acc:
                raise required("DepositToAccountRef")
            account = self._lookup("Account", "DepositToAccountRef", acc, "Account")
            if account["AccountType"] not in ("Bank", "Other Current Asset", "Credit Card"):
                raise business("Refund from must be a bank, credit card or other current asset account.",
                               "DepositToAccountRef")
            self._deposit_currency(obj, account, "DepositToAccountRef")
            obj["DepositToAccountRef"] = ref(acc, account["Name"])
        self._lines_and_totals(entity, obj)
        if entity == "Invoice":
            obj["Balance"] = obj["TotalAmt"]
            obj.setdefault("LinkedTxn", [])
            obj.setdefault("EmailStatus", "NotSet")
            obj.setdefault("PrintStatus", "NeedToPrint")
        elif entity == "CreditMemo":
            obj["RemainingCredit"] = obj["TotalAmt"]
            obj["Balance"] = obj["TotalAmt"]
        else:
            obj["Balance"] = Decimal("0")
        # amounts are in the transaction's currency; HomeTotalAmt is the total in the home currency
        obj["HomeTotalAmt"] = money(obj["TotalAmt"] * rate)
        if self.multicurrency and "Balance" in obj:
            obj["HomeBalance"] = money(obj["Balance"] * rate)
        return obj

    def _doc_number(self, entity, obj, current):
        number = obj.get("DocNumber")
        if number is None or str(number).strip() == "":
            if current is not None and current.get("DocNumber"):
                obj["DocNumber"] = current["DocNumber"]
                return
            while True:
                self.doc_seq[entity] += 1
                candidate = str(self.doc_seq[entity])
                if not any(o.get("DocNumber") == candidate for o in self.objects[entity].values()):
                    break
            obj["DocNumber"] = candidate
            return
        number = str(number).strip()
        if len(number) > MAX_DOC_NUMBER:
            raise QBOError(6000, "A business validation error has occurred while processing your request",
                           f"Business Validation Error: String length is either shorter or longer than supported by "
                           f"specification. Min:0 Max:{MAX_DOC_NUMBER} supplied:{len(number)}", "DocNumber")
        for other in self.objects[entity].values():
            if other.get("DocNumber") == number and (current is None or other["Id"] != current["Id"]):
                raise duplicate_doc_number(number, entity, other["Id"])
        obj["DocNumber"] = number

    def _lines_and_totals(self, entity, obj):
        lines = obj.get("Line")
        if not isinstance(lines, list) or not lines:
            raise required("Line")
        out = []
        sales = []  # (line, amount, tax code id)
        discount_line = None
        for n, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                raise invalid_field("Property Name:Line specified value is invalid", "Line")
            dtype = line.get("DetailType")
            if not dtype:
                raise required("Line.DetailType")
            if dtype == "SubTotalLineDetail":
                continue  # Intuit computes the subtotal line itself
            if dtype not in ("SalesItemLineDetail", "DiscountLineDetail", "DescriptionOnly"):
                raise invalid_field(f"Property Name:Line.DetailType specified value is invalid : {dtype}",
                                    "Line.DetailType")
            new = {"Id": str(len(out) + 1), "LineNum": len(out) + 1, "DetailType": dtype}
            if line.get("Description") is not None:
                desc = str(line["Description"])
                if len(desc) > 4000:
                    raise QBOError(2050, "Invalid String/Number", "String length is either shorter or longer than "
                                   f"supported by specification. Min:0 Max:4000 supplied:{len(desc)}", "Line.Description")
                new["Description"] = desc
            if dtype == "DescriptionOnly":
                new["DescriptionLineDetail"] = copy.deepcopy(line.get("DescriptionLineDetail") or {})
                if line.get("Amount") not in (None, 0):
                    amount = _dec(line["Amount"], "Line.Amount")
                    if amount != 0:
                        raise business("A description-only line can't have an amount.", "Line.Amount")
                out.append(new)
                continue
            if dtype == "DiscountLineDetail":
                if discount_line is not None:
                    raise business("Only one discount line is allowed on a transaction.", "Line")
                detail = line.get("DiscountLineDetail") or {}
                new["DiscountLineDetail"] = d = {}
                d["PercentBased"] = bool(detail.get("PercentBased", False))
                if d["PercentBased"]:
                    pct = _dec(detail.get("DiscountPercent"), "Line.DiscountLineDetail.DiscountPercent")
                    if pct is None:
                        raise required("Line.DiscountLineDetail.DiscountPercent")
                    if not 0 <= pct <= 100:
                        raise business("The discount percent must be between 0 and 100.", "Line")
                    d["DiscountPercent"] = pct
                else:
                    amount = _dec(line.get("Amount"), "Line.Amount")
                    if amount is None:
                        raise required("Line.Amount")
                    if amount < 0:
                        raise business("A discount can't be negative.", "Line.Amount")
                    new["Amount"] = money(amount)
                acc = _ref_value(detail, "DiscountAccountRef") or "86"
                account = self._lookup("Account", "Line.DiscountLineDetail.DiscountAccountRef", acc, "Account")
                d["DiscountAccountRef"] = ref(acc, account["Name"])
                discount_line = new
                out.append(new)
                continue
            # SalesItemLineDetail
            amount = _dec(line.get("Amount"), "Line.Amount")
            if amount is None:
                raise required("Line.Amount")
            detail = line.get("SalesItemLineDetail")
            if not isinstance(detail, dict):
                raise required("Line.SalesItemLineDetail")
            d = new["SalesItemLineDetail"] = {}
            item_id = _ref_value(detail, "ItemRef")
            if not item_id:
                raise required("Line.SalesItemLineDetail.ItemRef")
            item = self._lookup("Item", "Line.SalesItemLineDetail.ItemRef", item_id, "Item")
            d["ItemRef"] = ref(item_id, item["Name"])
            qty = _dec(detail.get("Qty"), "Line.SalesItemLineDetail.Qty")
            price = _dec(detail.get("UnitPrice"), "Line.SalesItemLineDetail.UnitPrice")
            if price is not None and price.as_tuple().exponent < -7:
                raise invalid_field("Property Name:UnitPrice specified value is invalid : more than 7 decimals",
                                    "Line.SalesItemLineDetail.UnitPrice")
            if qty is not None and price is not None and money(qty * price) != money(amount):
                raise QBOError(6070, "Amount is not equal to UnitPrice * Qty",
                               f"Amount is not equal to UnitPrice * Qty. Supplied value:{money(amount)}",
                               "Line.Amount")
            if qty is not None:
                d["Qty"] = qty
            if price is not None:
                d["UnitPrice"] = price
            new["Amount"] = money(amount)
            cls = _ref_value(detail, "ClassRef")
            if cls:
                d["ClassRef"] = ref(cls, self._lookup("Class", "Line.SalesItemLineDetail.ClassRef", cls, "Class")["Name"])
            if detail.get("ServiceDate"):
                d["ServiceDate"] = _date(detail["ServiceDate"], "Line.SalesItemLineDetail.ServiceDate").isoformat()
            code = _ref_value(detail, "TaxCodeRef")
            if self.us:
                if code is None:
                    code = "TAX" if item.get("Taxable") else "NON"
                if code not in ("TAX", "NON"):
                    raise invalid_reference("TaxCode", code, "Line.SalesItemLineDetail.TaxCodeRef")
            else:
                if code is None:
                    raise business("Make sure all your transactions have a VAT rate before you save.",
                                   "Line.SalesItemLineDetail.TaxCodeRef")
                self._lookup("TaxCode", "Line.SalesItemLineDetail.TaxCodeRef", code, "TaxCode")
            d["TaxCodeRef"] = ref(code)
            sales.append((new, new["Amount"], code))
            out.append(new)
        if not sales:
            raise required("Line.SalesItemLineDetail")
        subtotal = money(sum(a for _l, a, _c in sales))
        discount = Decimal("0")
        if discount_line is not None:
            d = discount_line["DiscountLineDetail"]
            if d["PercentBased"]:
                discount_line["Amount"] = money(subtotal * d["DiscountPercent"] / 100)
            discount = discount_line["Amount"]
            if discount > subtotal:
                raise business("The discount can't be more than the subtotal.", "Line")
        # the discount is spread over the lines in proportion (cents to the last line), so the tax base of
        # each tax code is known
        shares = {}
        remaining = discount
        for idx, (_line, amount, code) in enumerate(sales):
            share = remaining if idx == len(sales) - 1 else (money(discount * amount / subtotal) if subtotal else 0)
            remaining -= share
            shares[idx] = share
        apply_after = obj.get("ApplyTaxAfterDiscount")
        if apply_after is None:
            apply_after = True
        if not isinstance(apply_after, bool):
            raise invalid_field(f"Property Name:ApplyTaxAfterDiscount specified value is invalid : {apply_after}",
                                "ApplyTaxAfterDiscount")
        obj["ApplyTaxAfterDiscount"] = apply_after
        tax_detail, tax = self._tax(obj, sales, shares if apply_after else {})
        out.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        # Intuit keeps the discount line after the subtotal
        if discount_line is not None:
            out.remove(discount_line)
            out.append(discount_line)
        obj["Line"] = out
        obj["TxnTaxDetail"] = tax_detail
        obj["TotalAmt"] = money(subtotal - discount + tax)
        if obj["TotalAmt"] < 0:
            raise business("The transaction total can't be negative.", "Line")

    def _tax(self, obj, sales, shares):
        """TxnTaxDetail and the total tax. US: one tax code for the transaction (TxnTaxCodeRef), applied to
        the taxable (TAX) lines; elsewhere each line's tax code. Each tax rate's amount is its base times its
        rate, rounded to the cent once per rate (Intuit rounds the transaction's tax, not each line's). A
        TotalTax the request gives replaces the computed total (Intuit lets a person override sales tax);
        the difference goes on the last tax line."""
        given = obj.get("TxnTaxDetail") or {}
        if not isinstance(given, dict):
            raise invalid_field("Property Name:TxnTaxDetail specified value is invalid", "TxnTaxDetail")
        calc = obj.get("GlobalTaxCalculation")
        if not self.us:
            calc = calc or "TaxExcluded"
            if calc not in ("TaxExcluded", "NotApplicable", "TaxInclusive"):
                raise invalid_field(f"Property Name:GlobalTaxCalculation specified value is invalid : {calc}",
                                    "GlobalTaxCalculation")
            if calc == "TaxInclusive":
                raise unsupported("The emulator keeps TaxExcluded and NotApplicable transactions only "
                                  "(send net amounts with TaxExcluded).")
            obj["GlobalTaxCalculation"] = calc
        elif calc is not None:
            raise invalid_field("Property Name:GlobalTaxCalculation is not supported for a US company",
                                "GlobalTaxCalculation")
        bases = {}  # rate id -> base
        rate_values = {}
        detail = {}
        if self.us:
            code_id = _ref_value(given, "TxnTaxCodeRef")
            taxable = [(idx, a) for idx, (_l, a, c) in enumerate(sales) if c == "TAX"]
            if code_id:
                code = self._lookup("TaxCode", "TxnTaxDetail.TxnTaxCodeRef", code_id, "TaxCode")
                detail["TxnTaxCodeRef"] = ref(code_id, code["Name"])
                base = sum((a - shares.get(idx, 0) for idx, a in taxable), Decimal("0"))
                for r in code["SalesTaxRateList"]["TaxRateDetail"]:
                    rid = r["TaxRateRef"]["value"]
                    bases[rid] = base
        elif obj["GlobalTaxCalculation"] != "NotApplicable":
            for idx, (_l, a, code_id) in enumerate(sales):
                code = self.objects["TaxCode"][code_id]
                for r in code["SalesTaxRateList"]["TaxRateDetail"]:
                    rid = r["TaxRateRef"]["value"]
                    bases[rid] = bases.get(rid, Decimal("0")) + a - shares.get(idx, 0)
        tax_lines = []
        total = Decimal("0")
        for rid, base in bases.items():
            rate = self.objects["TaxRate"][rid]
            rate_values[rid] = rate["RateValue"]
            amount = money(base * rate["RateValue"] / 100)
            total += amount
            tax_lines.append({"Amount": amount, "DetailType": "TaxLineDetail", "TaxLineDetail": {
                "TaxRateRef": ref(rid), "PercentBased": True, "TaxPercent": rate["RateValue"],
                "NetAmountTaxable": money(base)}})
        override = _dec(given.get("TotalTax"), "TxnTaxDetail.TotalTax")
        if override is not None:
            override = money(override)
            if override < 0:
                raise business("Sales tax can't be negative.", "TxnTaxDetail.TotalTax")
            if override != total:
                if not tax_lines:
                    raise business("Tax can't be set on a transaction without taxable lines.", "TxnTaxDetail.TotalTax")
                tax_lines[-1]["Amount"] = money(tax_lines[-1]["Amount"] + override - total)
                total = override
        detail["TotalTax"] = money(total)
        detail["TaxLine"] = tax_lines
        return detail, money(total)

    # ---------------------------------------------------------------------------------- payments
    def _build_purchase(self, body, current):
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE["Purchase"]}
        kind = obj.get("PaymentType")
        if not kind:
            raise required("PaymentType")
        if kind not in PURCHASE_LINK_TYPES:
            raise invalid_field(f"Property Name:PaymentType specified value is invalid : {kind}", "PaymentType")
        acc = _ref_value(obj, "AccountRef")
        if not acc:
            raise required("AccountRef")
        account = self._lookup("Account", "AccountRef", acc, "Account")
        wanted = "Credit Card" if kind == "CreditCard" else "Bank"
        if account["AccountType"] != wanted:
            raise business(f"A {kind} purchase is paid from a {wanted} account, not {account['Name']}.", "AccountRef")
        obj["AccountRef"] = ref(acc, account["Name"])
        entity = obj.get("EntityRef") or {}
        customer = None
        if entity:
            if entity.get("type") not in (None, "Customer", "Vendor", "Employee"):
                raise invalid_field(f"Property Name:EntityRef.type specified value is invalid : {entity.get('type')}",
                                    "EntityRef.type")
            if entity.get("type", "Customer") == "Customer":
                customer = self._lookup("Customer", "EntityRef", str(entity.get("value") or ""), "Customers")
                obj["EntityRef"] = dict(ref(customer["Id"], customer["DisplayName"]), type="Customer")
        if obj.get("DocNumber") is not None and len(str(obj["DocNumber"])) > MAX_DOC_NUMBER:
            raise QBOError(2050, "Invalid String/Number", "String length is either shorter or longer than supported "
                           f"by specification. Min:0 Max:{MAX_DOC_NUMBER} supplied:{len(str(obj['DocNumber']))}",
                           "DocNumber")
        obj["TxnDate"] = (_date(obj["TxnDate"], "TxnDate") if obj.get("TxnDate") else self.clock.today()).isoformat()
        rate = self._txn_currency(obj, customer)
        self._deposit_currency(obj, account, "AccountRef")
        lines = obj.get("Line")
        if not isinstance(lines, list) or not lines:
            raise required("Line")
        total = receivable = Decimal("0")
        out = []
        for n, line in enumerate(lines, 1):
            if line.get("DetailType") != "AccountBasedExpenseLineDetail":
                raise invalid_field(f"Property Name:Line.DetailType specified value is invalid : "
                                    f"{line.get('DetailType')}", "Line.DetailType")
            amount = _dec(line.get("Amount"), "Line.Amount")
            if amount is None:
                raise required("Line.Amount")
            if amount <= 0:
                raise business("A purchase line's amount must be more than zero.", "Line.Amount")
            detail = line.get("AccountBasedExpenseLineDetail") or {}
            line_acc = _ref_value(detail, "AccountRef")
            if not line_acc:
                raise required("Line.AccountBasedExpenseLineDetail.AccountRef")
            line_account = self._lookup("Account", "Line.AccountBasedExpenseLineDetail.AccountRef", line_acc, "Account")
            if line_account["AccountType"] == "Accounts Receivable":
                if customer is None:
                    raise business("Choose a customer: a transaction posted to Accounts Receivable needs one.",
                                   "EntityRef")
                receivable += money(amount)
            total += money(amount)
            out.append({"Id": str(n), "Amount": money(amount), "DetailType": "AccountBasedExpenseLineDetail",
                        "Description": line.get("Description", ""),
                        "AccountBasedExpenseLineDetail": {"AccountRef": ref(line_acc, line_account["Name"])}})
        obj["Line"] = out
        obj["TotalAmt"] = money(total)
        if self.multicurrency:
            obj["HomeTotalAmt"] = money(total * rate)
        # what of it a Payment may still link (the charge to the customer)
        obj["Balance"] = money(receivable - (self._applied_to(current["Id"], "Purchase") if current else 0))
        if obj["Balance"] < 0:
            raise business("Payments link more of this purchase than its Accounts Receivable lines hold.", "Line")
        return obj

    def _build_payment(self, body, current):
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE["Payment"]}
        cid = _ref_value(obj, "CustomerRef")
        if not cid:
            raise required("CustomerRef")
        customer = self._lookup("Customer", "CustomerRef", cid, "Customers")
        obj["CustomerRef"] = ref(cid, customer["DisplayName"])
        total = _dec(obj.get("TotalAmt"), "TotalAmt")
        if total is None:
            raise required("TotalAmt")
        if total < 0:
            raise business("The payment amount can't be negative.", "TotalAmt")
        obj["TotalAmt"] = money(total)
        obj["TxnDate"] = (_date(obj["TxnDate"], "TxnDate") if obj.get("TxnDate") else self.clock.today()).isoformat()
        rate = self._txn_currency(obj, customer)
        acc = _ref_value(obj, "DepositToAccountRef") or "5"
        account = self._lookup("Account", "DepositToAccountRef", acc, "Account")
        if account["AccountType"] not in ("Bank", "Other Current Asset"):
            raise business("Deposit to must be a bank or other current asset account.", "DepositToAccountRef")
        self._deposit_currency(obj, account, "DepositToAccountRef")
        if self.multicurrency:
            obj["HomeTotalAmt"] = money(obj["TotalAmt"] * rate)
        obj["DepositToAccountRef"] = ref(acc, account["Name"])
        if obj.get("PaymentRefNum") is not None and len(str(obj["PaymentRefNum"])) > 21:
            raise QBOError(2050, "Invalid String/Number", "String length is either shorter or longer than supported "
                           f"by specification. Min:0 Max:21 supplied:{len(str(obj['PaymentRefNum']))}", "PaymentRefNum")
        lines = obj.get("Line") or []
        if not isinstance(lines, list):
            raise invalid_field("Property Name:Line specified value is invalid", "Line")
        own = {}  # what this payment already applies (an update gives it back first)
        if current is not None:
            for line in current.get("Line") or []:
                for lt in line.get("LinkedTxn") or []:
                    own[(lt["TxnType"], lt["TxnId"])] = own.get((lt["TxnType"], lt["TxnId"]), 0) + line["Amount"]
        applied_inv = Decimal("0")
        applied_cm = Decimal("0")
        out = []
        seen = set()
        for line in lines:
            amount = _dec(line.get("Amount"), "Line.Amount")
            if amount is None:
                raise required("Line.Amount")
            if amount <= 0:
                raise business("The amount applied to a transaction must be more than zero.", "Line.Amount")
            links = line.get("LinkedTxn") or []
            if len(links) != 1:
                raise required("Line.LinkedTxn")
            lt = links[0]
            tid = str(lt.get("TxnId") or "").strip()
            ttype = lt.get("TxnType")
            if not tid:
                raise required("Line.LinkedTxn.TxnId")
            if ttype not in ("Invoice", "CreditMemo") + tuple(PURCHASE_LINK_TYPES.values()):
                raise invalid_field(f"Property Name:Line.LinkedTxn.TxnType specified value is invalid : {ttype}",
                                    "Line.LinkedTxn.TxnType")
            if (ttype, tid) in seen:
                raise business(f"{ttype} {tid} is linked twice on this payment.", "Line.LinkedTxn")
            seen.add((ttype, tid))
            doc = self.objects[_txn_entity(ttype)].get(tid)
            if doc is not None and ttype in PURCHASE_LINK_TYPES.values() \
                    and PURCHASE_LINK_TYPES.get(doc.get("PaymentType")) != ttype:
                doc = None  # a Check is not an Expense: Intuit finds no such transaction
            if doc is None:
                raise invalid_reference(ttype, tid, "Line.LinkedTxn.TxnId")
            if (doc.get("CustomerRef") or doc.get("EntityRef") or {}).get("value") != cid:
                raise business(f"{ttype} {doc.get('DocNumber')} belongs to another customer.", "Line.LinkedTxn")
            open_amount = (doc["RemainingCredit"] if ttype == "CreditMemo" else doc["Balance"]) + own.get((ttype, tid), 0)
            if doc["TotalAmt"] == 0 and str(doc.get("PrivateNote", "")).startswith("Voided"):
                raise business(f"{ttype} {doc.get('DocNumber')} is void.", "Line.LinkedTxn")
            amount = money(amount)
            if amount > open_amount:
                raise business(f"The payment applies {amount} to {ttype} {doc.get('DocNumber')}, but only "
                               f"{money(open_amount)} is open on it.", "Line.Amount")
            if ttype != "CreditMemo":  # invoices and charges are what credits and money settle
                applied_inv += amount
            else:
                applied_cm += amount
            out.append({"Amount": amount, "LinkedTxn": [{"TxnId": tid, "TxnType": ttype}]})
        if applied_inv - applied_cm > obj["TotalAmt"]:
            raise business(f"The amounts applied ({money(applied_inv - applied_cm)}) are more than the payment "
                           f"total ({obj['TotalAmt']}).", "TotalAmt")
        if applied_cm > applied_inv:
            raise business("The credits applied are more than the invoices they are applied to.", "Line")
        obj["Line"] = out
        obj["UnappliedAmt"] = money(obj["TotalAmt"] - applied_inv + applied_cm)
        obj["ProcessPayment"] = False
        return obj

    def _apply_payment(self, payment, sign=1):
        for line in payment.get("Line") or []:
            for lt in line.get("LinkedTxn") or []:
                doc = self.objects[_txn_entity(lt["TxnType"])].get(lt["TxnId"])
                if doc is None:
                    continue
                key = "RemainingCredit" if lt["TxnType"] == "CreditMemo" else "Balance"
                doc[key] = money(doc[key] - sign * line["Amount"])
                if lt["TxnType"] == "CreditMemo":
                    doc["Balance"] = doc["RemainingCredit"]
                if "HomeBalance" in doc:
                    doc["HomeBalance"] = money(doc["Balance"] * doc.get("ExchangeRate", 1))
                links = [x for x in doc.get("LinkedTxn") or [] if x.get("TxnId") != payment["Id"]]
                if sign > 0:
                    links.append({"TxnId": payment["Id"], "TxnType": "Payment"})
                doc["LinkedTxn"] = links
                doc["SyncToken"] = str(int(doc["SyncToken"]) + 1)
                doc["MetaData"] = dict(doc["MetaData"], LastUpdatedTime=self.clock.stamp())

    def _unapply_payment(self, payment):
        self._apply_payment(payment, sign=-1)

    def _applied_to(self, doc_id, entity):
        total = Decimal("0")
        for p in self.objects["Payment"].values():
            for line in p.get("Line") or []:
                for lt in line.get("LinkedTxn") or []:
                    if _txn_entity(lt["TxnType"]) == entity and lt["TxnId"] == doc_id:
                        total += line["Amount"]
        return total

    # ---------------------------------------------------------------------------------- control
    def dump(self):
        return {"realmId": self.realm_id, "name": self.name, "country": self.country,
                "objects": copy.deepcopy(self.objects), "tombstones": list(self.tombstones)}

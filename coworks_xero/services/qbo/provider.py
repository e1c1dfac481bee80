"""QuickBooks Online as a SyncProvider: contacts, invoices, credit memos, payments, credit applied.

Per-document failures (a Fault, a mapping, a total that would differ from Odoo's) are Results;
connection-wide failures (401 after a refresh, 403, 429, QBO down) are raised as ProviderError by the
client and pass through. Idempotency: every write carries a requestid from the job's key and attempt
(services/qbo/client.py); a job that may have been sent before is also looked up by its number
(DocNumber / PaymentRefNum) first, as a requestid answer is only kept by Intuit for a while.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

from .. import documents, provider as base
from ..documents import Result
from ..xero.inbound import RemoteDocument
from . import inbound as qbo_inbound, payloads
from .client import BATCH_MAX, THROTTLE_WAIT, QboFault, request_id
from .payloads import PayloadError, money

ENTITY = {base.KIND_INVOICE: "Invoice", base.KIND_CREDIT_NOTE: "CreditMemo"}
MULTICURRENCY_OFF = ("This {what} is in {cur}, but the QuickBooks company keeps its books in {home} only: "
                     "Multicurrency is off. Turn on Multicurrency in QuickBooks (Settings > Account and settings > "
                     "Advanced > Currency), then Retry. (Once on, QuickBooks cannot turn it off again.)")


def _q(value):
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def _status(entity, row):
    if (row.get("PrivateNote") or "").startswith("Voided"):
        return "VOIDED"
    open_amount = Decimal(str(row.get("Balance" if entity == "Invoice" else "RemainingCredit", 0)))
    return "PAID" if open_amount == 0 and Decimal(str(row.get("TotalAmt", 0))) else "AUTHORISED"


# What a run reads of the company before its first document (CompanyInfo, the tax rates and codes,
# Preferences: four requests, ~2 s at Intuit's answer times), kept per QuickBooks company in the
# process: the engine makes a new provider for every run, and reading them again before each
# real-time document was most of its latency. Younger than COMPANY_TTL seconds, a run uses them;
# older (up to COMPANY_MAX_AGE), a run still sends with them and reads them again after its
# documents, for the next runs, so a document never waits for a periodic refresh (it was the
# latency's p95: one real-time invoice a minute waited ~2 s for it); older still, or dropped, they
# are read before the documents. Evidence that they changed drops them for the next run at once:
# a total QuickBooks computes differently from ours, a foreign document refused because
# multicurrency was off (the user turns it on, then retries), a refresh of the reference data.
COMPANY_TTL = 60.0
COMPANY_MAX_AGE = 600.0

_company_cache = {}  # (API base, realm) -> {name: (monotonic time read, value)}
_company_cache_lock = threading.Lock()


def forget_companies():
    """Drop every company's cached reads (tests reset their emulator's companies)."""
    with _company_cache_lock:
        _company_cache.clear()


class QboProvider(base.SyncProvider):
    def __init__(self, client, reference=None):
        """``reference``: a ``payloads.CompanySetup``; or the reference data the Odoo side stored (the
        ``fetch_reference_data`` shape), whose Class options name the Class ids (the tax setup is then
        read from the company: the stored EffectiveRate is a sum, and QBO rounds each component rate);
        or None: all read from the company once."""
        self.client = client
        self._reference = reference if isinstance(reference, payloads.CompanySetup) else None
        self._stored_classes = None
        if isinstance(reference, dict):
            self._stored_classes = {o["Name"].lower(): o["TrackingOptionID"]
                                    for cat in reference.get("TrackingCategories") or []
                                    if cat.get("TrackingCategoryID") == "class"
                                    for o in cat.get("Options") or [] if o.get("Status", "ACTIVE") == "ACTIVE"}
        self._companyinfo = None
        self._prefs = None
        self._currency_customers = {}  # (Odoo customer's QuickBooks id, currency) -> customer id to use
        self._read_after_run = {}  # name -> read: company reads used past COMPANY_TTL (see _company_read)
        self._company_key = (getattr(getattr(client, "config", None), "api_base", ""), str(client.realm_id))

    def _company_read(self, name, read):
        """``read()``, or what a recent run read for this company (see COMPANY_TTL)."""
        now = time.monotonic()
        with _company_cache_lock:
            at, value = _company_cache.get(self._company_key, {}).get(name, (None, None))
        if at is not None and now - at < COMPANY_MAX_AGE:
            if now - at >= COMPANY_TTL:
                self._read_after_run[name] = read
            return value
        value = read()
        self._keep_company_read(name, now, value)
        return value

    def _keep_company_read(self, name, at, value):
        with _company_cache_lock:
            _company_cache.setdefault(self._company_key, {})[name] = (at, value)

    def _read_company_again(self):
        """After a run's documents: read again what it used past COMPANY_TTL, for the next runs."""
        reads, self._read_after_run = self._read_after_run, {}
        for name, read in reads.items():
            now = time.monotonic()
            try:
                value = read()
            except Exception:  # noqa: BLE001 - the run's documents are sent; the next run reads it, before them if it must
                return
            self._keep_company_read(name, now, value)

    def forget_company(self):
        """The next run reads the company again (this one keeps what it read: one answer a run),
        before its documents: nothing is read again after this run (it could read what the user
        is about to change, such as multicurrency turned on)."""
        self._read_after_run = {}
        with _company_cache_lock:
            _company_cache.pop(self._company_key, None)

    # ------------------------------------------------------------------ reference
    def company_setup(self) -> payloads.CompanySetup:
        if self._reference is None:
            info = self.company_info()

            def tax_codes():
                rates = {r["Id"]: Decimal(str(r.get("RateValue", 0))) for r in self.client.query("SELECT * FROM TaxRate")}
                return {c["Id"]: [rates[d["TaxRateRef"]["value"]]
                                  for d in (c.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
                                  if d["TaxRateRef"]["value"] in rates]
                        for c in self.client.query("SELECT * FROM TaxCode")}

            codes = self._company_read("tax_codes", tax_codes)
            classes = self._stored_classes
            if classes is None:
                classes = {c["Name"].lower(): c["Id"] for c in self.client.query("SELECT * FROM Class")}
            self._reference = payloads.CompanySetup(us=info.get("Country") == "US", rates=codes, class_ids=classes)
        return self._reference

    def company_info(self):
        if self._companyinfo is None:
            self._companyinfo = self._company_read("info", lambda: self.client.read("CompanyInfo", self.client.realm_id))
        return self._companyinfo

    def fetch_reference_data(self) -> dict:
        """QBO's lists in the shape the Odoo side stores for Xero (models/sync_connection_xero.py
        ``_store_reference_data``): QBO Ids stand where Xero has codes, Active → ACTIVE/ARCHIVED."""
        c = self.client
        self.forget_company()  # a refresh reads everything again, and so does the next run
        self._companyinfo = self._prefs = None
        status = lambda row: "ACTIVE" if row.get("Active", True) else "ARCHIVED"  # noqa: E731
        active = " WHERE Active IN (true, false)"
        info = self.company_info()
        base_currency = (info.get("CurrencyRef") or {}).get("value") or self._home_currency()
        accounts = [{"AccountID": a["Id"], "Code": a["Id"], "Name": a.get("Name"), "Type": a.get("AccountType"),
                     "Class": (a.get("Classification") or "").upper(), "Status": status(a),
                     "EnablePaymentsToAccount": a.get("AccountType") in ("Bank", "Other Current Asset"),
                     "CurrencyCode": (a.get("CurrencyRef") or {}).get("value") or base_currency}
                    for a in c.query("SELECT * FROM Account" + active)]
        items = [{"ItemID": i["Id"], "Code": i["Id"], "Name": i.get("Name"), "IsSold": True, "Status": status(i),
                  "SalesDetails": {"AccountCode": (i.get("IncomeAccountRef") or {}).get("value"),
                                   "UnitPrice": float(i.get("UnitPrice") or 0)}}
                 for i in c.query("SELECT * FROM Item" + active)]
        rates = {r["Id"]: Decimal(str(r.get("RateValue", 0))) for r in c.query("SELECT * FROM TaxRate" + active)}
        taxes = [{"TaxType": t["Id"], "Name": t.get("Name"), "Status": status(t),
                  "EffectiveRate": float(sum((rates.get(d["TaxRateRef"]["value"], Decimal(0)) for d in
                                              (t.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []),
                                             Decimal(0)))}
                 for t in c.query("SELECT * FROM TaxCode" + active)]
        classes = c.query("SELECT * FROM Class" + active)
        return {
            "Organisation": {"BaseCurrency": base_currency, "Name": info.get("CompanyName"),
                             "CountryCode": info.get("Country")},
            "Accounts": accounts, "Items": items, "TaxRates": taxes,
            "TrackingCategories": [{"TrackingCategoryID": "class", "Name": "Class", "Status": "ACTIVE",
                                    "Options": [{"TrackingOptionID": k["Id"], "Name": k.get("Name"),
                                                 "Status": status(k)} for k in classes]}],
            "Currencies": [{"Code": base_currency, "Description": base_currency}],
        }

    def _currency_prefs(self):
        # CompanyInfo carries no currency: the home currency and the multicurrency switch are in
        # Preferences (read once per provider: a run's worth of documents)
        if self._prefs is None:
            def prefs():
                try:
                    rows = self.client.query("SELECT * FROM Preferences")
                    return (rows[0] if rows else {}).get("CurrencyPrefs") or {}
                except QboFault:
                    return {}
            self._prefs = self._company_read("prefs", prefs)
        return self._prefs

    def _home_currency(self):
        return str((self._currency_prefs().get("HomeCurrency") or {}).get("value") or "").upper()

    def _multicurrency(self):
        return bool(self._currency_prefs().get("MultiCurrencyEnabled"))

    def _foreign(self, currency):
        """``currency`` when it is not the company's home currency (else '')."""
        currency = (currency or "").strip().upper()
        home = self._home_currency()
        return currency if currency and home and currency != home else ""

    def _customer_in(self, item, customer_id, currency, what="document"):
        """The QuickBooks customer that takes the Odoo customer's (``customer_id``) transactions in
        ``currency``: that customer itself in the home currency; in another currency (multicurrency on,
        else a PayloadError saying to turn it on) the customer's copy in that currency, found or made
        once per provider. Home customers are made in the home currency (customer_body sends no other
        as the Odoo side gives none), so a home-currency document needs no read."""
        foreign = self._foreign(currency)
        if not foreign:
            return customer_id
        if not self._multicurrency():
            self.forget_company()  # the user may turn it on before retrying
            raise PayloadError(base.VALIDATION, MULTICURRENCY_OFF.format(what=what, cur=foreign,
                                                                         home=self._home_currency()),
                               error_code="multicurrency_off", currency=foreign)
        key = (str(customer_id), foreign)
        if key not in self._currency_customers:
            home = self.client.read("Customer", customer_id)
            if (home.get("CurrencyRef") or {}).get("value") == foreign:
                self._currency_customers[key] = home["Id"]
            else:
                self._currency_customers[key] = self._currency_customer(item, home, foreign)
        return self._currency_customers[key]

    def _find_currency_customer(self, item, home, currency, name):
        rows = self.client.query(f"SELECT * FROM Customer WHERE DisplayName = '{_q(name)}' AND Active IN (true, false)")
        for row in rows:
            if (payloads.home_customer_of(row) == str(home["Id"])
                    and (row.get("CurrencyRef") or {}).get("value") == currency):
                if not row.get("Active", True):
                    row = self.client.update("Customer", {"Id": row["Id"], "SyncToken": row["SyncToken"],
                                                          "Active": True, "DisplayName": name},
                                             self._rid(item, f"customer-{currency}-active"))
                return row["Id"], rows
        return None, rows

    def _currency_customer(self, item, home, currency):
        name = payloads.currency_customer_name(home["DisplayName"], currency)
        found, rows = self._find_currency_customer(item, home, currency, name)
        if found:
            return found
        if rows:  # the name is another customer's: ours carries the home customer's id too
            name = payloads.currency_customer_name(f"{home['DisplayName']} #{home['Id']}", currency)
            found, _rows = self._find_currency_customer(item, home, currency, name)
            if found:
                return found
        try:
            row = self.client.create("Customer", payloads.currency_customer_body(home, currency, name),
                                     self._rid(item, f"customer-{currency}"))
        except QboFault as fault:
            # another worker made it between the query and the create (QBO: the name is taken)
            found = fault.code == "6240" and self._find_currency_customer(item, home, currency, name)[0]
            if not found:
                raise
            return found
        return row["Id"]

    # ------------------------------------------------------------------ run
    def run(self, items):
        results = self._run(items)
        self._read_company_again()
        return results

    def _run(self, items):
        run_mark = self._writes()
        try:
            done = self._create_customers_in_batches(items)
            done.update(self._create_documents_in_batches(items))
            done.update(self._create_payments_in_batches(items, done))
        except base.ProviderError as exc:
            exc.not_sent = self._unwritten_since(run_mark)  # refused before anything could be applied
            raise
        results = []
        for n, item in enumerate(items):
            if item.key in done:
                results.append(done[item.key])
                continue
            mark = self._writes()
            try:
                results.append(self._one(item))
            except base.ProviderError as exc:
                if not results:
                    exc.not_sent = self._unwritten_since(run_mark)
                    raise  # nothing written yet: the whole connection failed (the engine waits, reconnects)
                # QuickBooks takes a batch one call at a time: what the earlier items wrote is kept.
                # Raising would lose their answers, and a rate limit or a re-authorisation costs no
                # attempt, so they would be sent again under the same requestids with bodies that
                # moved on (a SyncToken, an update instead of a create): Intuit's 600 Duplicate
                # Request ID, the job in error. The rest are retried, looked up first unless they
                # were never tried.
                results.append(self._retry_later(item, exc, not_sent=self._unwritten_since(mark)))
                results.extend(done.get(rest.key) or self._retry_later(rest, exc, not_sent=True)
                               for rest in items[n + 1:])
                return results
            except QboFault as fault:
                results.append(self._fault(item, fault))
            except PayloadError as exc:
                results.append(self._payload_error(item, exc))
        return results

    def _writes(self):
        """Writes of this provider's client that may have reached QuickBooks so far."""
        return getattr(self.client, "writes_out", None)

    def _unwritten_since(self, mark):
        """No write may have reached QuickBooks since ``_writes()`` said ``mark``."""
        return mark is not None and self._writes() == mark

    @staticmethod
    def _retry_later(item, exc, not_sent=False):
        """A retryable Result after a connection-wide failure. ``not_sent``: no write for this item
        reached QuickBooks (so its retry is a first send again, not a look-up)."""
        retry_after = exc.retry_after or (THROTTLE_WAIT if exc.rate_limited else None)
        details = {"error_code": exc.code, "retry_after": retry_after}
        if not_sent:
            details[base.CODE_NOT_SENT] = True
        return Result(ref=item.key, ok=False, error_kind=base.RETRYABLE, message=exc.message, details=details)

    @staticmethod
    def _payload_error(item, exc):
        return Result(ref=item.key, ok=False, error_kind=exc.kind, message=exc.message,
                      details={"error_code": "mapping_missing" if exc.kind == base.MAPPING else "validation",
                               **exc.details})

    def _query_batch(self, queries, action, items):
        """{bId: rows or QboFault} of ``queries`` [(bId, text)] asked in one batch request (Intuit's
        batch takes queries as well as writes). The entity of each answer is the one queried."""
        rid = request_id("|".join(i.key for i in items), sum(i.attempt for i in items), action)
        answers = self.client.batch([{"bId": bid, "Query": text} for bid, text in queries], rid)
        out = {}
        for bid, text in queries:
            answer = answers.get(bid)
            if isinstance(answer, QboFault):
                out[bid] = answer
            elif isinstance(answer, dict):
                entity = text.split(" FROM ", 1)[1].split()[0]
                out[bid] = answer.get(entity) or []
        return out

    def _create_customers_in_batches(self, items):
        """First sends of customers, up to BATCH_MAX at a time: the look-ups by email, then by name,
        each one batch request of queries, then one batch request of creates: three requests for
        thirty customers instead of ninety. Only customers never sent (no id, not maybe sent) with an
        email (how a lost answer finds the customer again); of customers sharing an email or a name,
        only the first. What is not simply new goes the plain way after: a customer found by its email
        (its update), a name QuickBooks refuses as taken after all (6240: it ignores case and spaces)
        and the others of a shared email, which then find the first one, as one by one they would.
        Returns {job key: Result}."""
        todo, emails, names = [], set(), set()
        norm = lambda text: " ".join(text.lower().split())  # noqa: E731
        for item in items:
            customer = item.obj
            if (item.kind == base.KIND_CONTACT and item.operation == base.OP_UPSERT and not item.may_exist
                    and not customer.remote_id and customer.email and norm(customer.email) not in emails
                    and norm(customer.name) not in names):
                todo.append(item)
                emails.add(norm(customer.email))
                names.add(norm(customer.name))
        out = {}
        for chunk in self._batch_chunks(todo):
            mark = self._writes()
            try:
                by_email = self._query_batch(
                    [(str(n), f"SELECT * FROM Customer WHERE PrimaryEmailAddr = '{_q(item.obj.email)}'")
                     for n, item in enumerate(chunk)], "batch-find-email", chunk)
                new = [(n, item) for n, item in enumerate(chunk) if by_email.get(str(n)) == []]
                if not new:
                    continue
                by_name = self._query_batch(
                    [(str(n), f"SELECT * FROM Customer WHERE DisplayName = '{_q(item.obj.name)}' AND Active IN (true, false)")
                     for n, item in new], "batch-find-name", [item for _n, item in new])
                requests_ = []
                for n, item in new:
                    same_name = by_name.get(str(n))
                    if isinstance(same_name, list):
                        name = payloads.unique_display_name(item.obj.name, [c["DisplayName"] for c in same_name],
                                                            item.obj)
                        requests_.append((item, {"bId": str(n), "operation": "create",
                                                 "Customer": payloads.customer_body(item.obj, name)}))
                if not requests_:
                    continue
                rid = request_id("|".join(i.key for i, _b in requests_),
                                 sum(i.attempt for i, _b in requests_), "batch-customers")
                answers = self.client.batch([b for _i, b in requests_], rid)
            except base.ProviderError as exc:
                if not any(r.ok for r in out.values()):
                    raise  # nothing written yet (see run)
                for item in chunk:  # an earlier chunk was written: keep its answers
                    out[item.key] = self._retry_later(item, exc, not_sent=self._unwritten_since(mark))
                continue
            except QboFault:
                continue  # a query QuickBooks refused as a whole: the plain way says what is wrong
            # a name taken after all (6240) is left to the plain way, which suffixes it
            out.update(self._batch_results(requests_, answers, "customer", lambda item, row: Result(
                ref=item.key, ok=True, remote_id=row["Id"], remote_status="ACTIVE",
                details={"created": True, "display_name": row["DisplayName"]}), left_to_plain=("6240",)))
        return out

    def _batch_chunks(self, todo):
        """``todo`` in chunks of up to BATCH_MAX, one batch request each, while Intuit's batch budget
        allows them (the rest then go one by one); none for a single item (the plain calls: the
        same answer for one request)."""
        if len(todo) < 2:
            return
        for start in range(0, len(todo), BATCH_MAX):
            if self._batch_budget_short():
                return
            yield todo[start:start + BATCH_MAX]

    def _batch_budget_short(self):
        """Intuit's batch budget (40 a minute) would refuse a batch request now: the run's next
        first sends go one by one within the realm's 500 calls (a first send is one create)
        instead of failing for the budget and waiting out the minute. A short wait for it is
        slept instead: a batch of thirty beats thirty creates one by one by far (bench/pipe.py
        --provider qbo: going one by one from a 1 s wait on, 316 s against 230 s)."""
        spent = getattr(self.client, "batch_budget_spent", None)
        return spent is not None and spent()

    def _batch_results(self, requests_, answers, what, on_answer, left_to_plain=()):
        """{job key: Result} of a batch request's answers, item by item: a Fault is that item's
        Result (those whose code is in ``left_to_plain`` go the one-by-one way instead), an
        answer goes through ``on_answer(item, row)``, and an item the answer leaves out is retried
        (QuickBooks may have made it: the retry looks it up first)."""
        out = {}
        for item, b in requests_:
            answer = answers.get(b["bId"])
            if isinstance(answer, QboFault):
                if answer.code not in left_to_plain:
                    out[item.key] = self._fault(item, answer)
            elif answer:
                out[item.key] = on_answer(item, answer)
            else:
                out[item.key] = Result(ref=item.key, ok=False, error_kind=base.RETRYABLE,
                                       message=f"QuickBooks' batch answer did not mention this {what}.",
                                       details={"error_code": "no_answer"})
        return out

    def _create_documents_in_batches(self, items):
        """First sends of invoices and credit memos, up to BATCH_MAX a call (Intuit's batch
        operation: one request of the realm's minute instead of thirty). Only documents that cannot
        be in QuickBooks yet (no id, never sent before): a retry looks each one up first, one by
        one. Returns {job key: Result}; what it leaves out goes the one-by-one way."""
        todo = {}
        for item in items:
            doc = item.obj
            if (item.kind in ENTITY and item.operation == base.OP_UPSERT and not doc.remote_id
                    and not item.may_exist and doc.customer.remote_id and not self._foreign(doc.currency_code)):
                todo.setdefault(ENTITY[item.kind], []).append(item)
        out = {}
        for entity, group in todo.items():
            for chunk in self._batch_chunks(group):
                requests_ = []
                for n, item in enumerate(chunk):
                    try:
                        body = payloads.document_body(item.obj, item.obj.customer.remote_id, self.company_setup())
                    except PayloadError as exc:
                        out[item.key] = self._payload_error(item, exc)
                        continue
                    requests_.append((item, {"bId": str(n), "operation": "create", entity: body}))
                if not requests_:
                    continue
                rid = request_id("|".join(i.key for i, _b in requests_),
                                 sum(i.attempt for i, _b in requests_), "batch-create")
                mark = self._writes()
                try:
                    answers = self.client.batch([b for _i, b in requests_], rid)
                except QboFault as fault:
                    for item, _b in requests_:
                        out[item.key] = self._fault(item, fault)
                    continue
                except base.ProviderError as exc:
                    if not any(r.ok for r in out.values()):
                        raise  # nothing written yet (see run)
                    for item, _b in requests_:  # an earlier chunk was written: keep its answers
                        out[item.key] = self._retry_later(item, exc, not_sent=self._unwritten_since(mark))
                    continue
                out.update(self._batch_results(requests_, answers, "document",
                                               lambda item, row: self._document_result(item, entity, row)))
        return out

    def _create_payments_in_batches(self, items, done):
        """First sends of invoice payments, up to BATCH_MAX a call: their invoices read by one query
        (``Id IN``) instead of a read each, the payments made by one batch request instead of a
        create each (two requests of the realm's minute for thirty payments instead of sixty).
        Only payments that cannot be in QuickBooks yet (never sent: no id, not maybe sent) of
        invoices already there, with a bank account mapped; a retry looks each one up first, one
        by one. ``done``: what this run wrote already. Returns {job key: Result}."""
        todo = [item for item in items
                if item.kind == base.KIND_PAYMENT and item.operation == base.OP_UPSERT and not item.may_exist
                and not item.obj.remote_id and item.obj.document_kind == documents.KIND_INVOICE
                and self._not_ready(item, "invoice") is None]
        out = {}
        for chunk in self._batch_chunks(todo):
            requests_ = []
            mark = self._writes()
            try:
                ids = ", ".join(f"'{_q(i)}'" for i in sorted({str(item.obj.document_remote_id) for item in chunk}))
                invoices = {str(row["Id"]): row for row in self.client.query(
                    f"SELECT * FROM Invoice WHERE Id IN ({ids}) MAXRESULTS {BATCH_MAX}")}
                for n, item in enumerate(chunk):
                    pay: documents.Payment = item.obj
                    invoice = invoices.get(str(pay.document_remote_id))
                    if invoice is None:
                        continue  # gone from QuickBooks: the one-by-one read says so
                    try:
                        body = payloads.payment_body(invoice["CustomerRef"]["value"], pay.amount, pay.date,
                                                     [("Invoice", invoice["Id"], pay.amount)], pay.bank_account_code,
                                                     pay.reference)
                        payloads.with_currency(body, self._foreign(_currency(invoice)), pay.currency_rate)
                    except PayloadError as exc:
                        out[item.key] = self._payload_error(item, exc)
                        continue
                    requests_.append((item, {"bId": str(n), "operation": "create", "Payment": body}))
                if not requests_:
                    continue
                rid = request_id("|".join(i.key for i, _b in requests_),
                                 sum(i.attempt for i, _b in requests_), "batch-pay")
                answers = self.client.batch([b for _i, b in requests_], rid)
            except QboFault as fault:
                for item, _b in requests_:
                    out[item.key] = self._fault(item, fault)
                continue
            except base.ProviderError as exc:
                if not any(r.ok for r in list(done.values()) + list(out.values())):
                    raise  # nothing written yet (see run)
                for item in chunk:  # an earlier chunk was written: keep its answers
                    out[item.key] = self._retry_later(item, exc, not_sent=self._unwritten_since(mark))
                continue
            out.update(self._batch_results(requests_, answers, "payment", lambda item, row: Result(
                ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED",
                details={"unapplied": str(row.get("UnappliedAmt", 0))})))
        return out

    def _document_result(self, item, entity, row):
        doc = item.obj
        total = money(Decimal(str(row.get("TotalAmt", 0))))
        if total != money(doc.amount_total):  # QBO's own arithmetic must agree with ours
            self.forget_company()  # its tax rates may have changed since they were read
            return Result(ref=item.key, ok=False, error_kind=base.VALIDATION, remote_id=row["Id"],
                          message=f"QuickBooks totals {doc.number} at {total}, Odoo at {money(doc.amount_total)}.",
                          details={"error_code": "total_mismatch", "qbo_total": str(total),
                                   "odoo_total": str(money(doc.amount_total))})
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_number=row.get("DocNumber", ""),
                      remote_status=_status(entity, row),
                      details={"sync_token": row.get("SyncToken"), "total": str(total)})

    @staticmethod
    def _fault(item, fault: QboFault):
        message = fault.sentence()
        refused = fault.element.split(".")[-1] if fault.element else ""
        if fault.code in ("2500", "610") and refused.endswith("Ref"):
            # the id QBO refused came from an Odoo mapping (item, tax code, class, account): name it
            what = refused[:-3]
            message = f"QuickBooks does not know (or has made inactive) the {what} this document names"
            source = _mapping_source(item.obj, refused, fault.detail)
            message += f": fix the mapping of {source}" if source else ": check its mapping"
            message += f" ({fault.sentence()})."
        return Result(ref=item.key, ok=False, error_kind=fault.kind, message=message,
                      details={"error_code": f"qbo_{fault.code}", "qbo_code": fault.code, "element": fault.element})

    def _one(self, item: base.WorkItem) -> Result:
        handler = {
            base.KIND_CONTACT: self._contact,
            base.KIND_INVOICE: self._document, base.KIND_CREDIT_NOTE: self._document,
            base.KIND_PAYMENT: self._payment, base.KIND_ALLOCATION: self._allocation,
            base.KIND_REFUND: self._refund, base.KIND_OVERPAYMENT: self._overpayment,
            base.KIND_OVERPAYMENT_ALLOCATION: self._credit_allocation, base.KIND_OVERPAYMENT_REFUND: self._credit_refund,
        }.get(item.kind)
        if handler is None:
            return Result(ref=item.key, ok=False, error_kind=base.VALIDATION,
                          message=f"QuickBooks sync does not handle '{item.kind}' documents.",
                          details={"error_code": "unsupported"})
        return handler(item)

    def _rid(self, item, action):
        return request_id(item.key, item.attempt, action)

    # ------------------------------------------------------------------ contacts
    def _contact(self, item):
        customer: documents.Customer = item.obj
        row = None
        if customer.remote_id:
            row = self.client.read("Customer", customer.remote_id)
        elif customer.email:
            found = self.client.query(f"SELECT * FROM Customer WHERE PrimaryEmailAddr = '{_q(customer.email)}'")
            row = found[0] if found else None
        if row is None:
            same_name = self.client.query(
                f"SELECT * FROM Customer WHERE DisplayName = '{_q(customer.name)}' AND Active IN (true, false)")
            name = payloads.unique_display_name(customer.name, [c["DisplayName"] for c in same_name], customer)
            if same_name and item.may_exist:
                # A send of this customer may have been applied (its answer lost). The name taken
                # may be our own create: the suffixed name (our key, no one else's) is ours for
                # sure; the plain one is replayed with the first create's request id, so Intuit
                # answers with that create's customer if it was ours, or refuses the name (6240)
                # if it is someone else's, and the suffixed create follows. Without this a
                # customer without an email (nothing else to find it by) was created twice.
                ours = self.client.query(
                    f"SELECT * FROM Customer WHERE DisplayName = '{_q(name)}' AND Active IN (true, false)")
                if ours:
                    row = ours[0]
                else:
                    name = customer.name
        if row is None:
            try:
                row = self.client.create("Customer", payloads.customer_body(customer, name),
                                         self._rid(item, "create"))
            except QboFault as fault:
                # QBO compares names ignoring case and spaces, which the query above cannot: the name
                # is someone else's after all
                if fault.code != "6240" or name != customer.name:
                    raise
                name = payloads.unique_display_name(customer.name, [customer.name], customer)
                row = self.client.create("Customer", payloads.customer_body(customer, name),
                                         self._rid(item, "create-suffixed"))
            return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="ACTIVE",
                          details={"created": True, "display_name": row["DisplayName"]})
        body = payloads.customer_body(customer, row["DisplayName"])  # keep its name: it is unique already
        body.pop("CurrencyRef", None)  # cannot change once set
        row = self.client.update("Customer", dict(body, Id=row["Id"], SyncToken=row["SyncToken"]),
                                 self._rid(item, "update"))
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="ACTIVE", details={"created": False})

    # ------------------------------------------------------------------ invoices / credit memos
    def _find_document(self, entity, number):
        if not number:
            return None
        rows = self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = '{_q(number[:21])}'")
        return rows[0] if rows else None

    def _document(self, item):
        doc: documents.Document = item.obj
        entity = ENTITY[item.kind]
        row = self.client.read(entity, doc.remote_id) if doc.remote_id else None
        if row is None and item.may_exist:
            row = self._find_document(entity, doc.number)
        if item.operation == base.OP_CANCEL:
            if row is None:
                return Result(ref=item.key, ok=True, remote_status="VOIDED", details={"absent": True})
            # QBO refuses to void or delete a document with payments or credits applied: ours go first
            # (payments entered by hand in QuickBooks still block, as they should)
            own = list(doc.remote_payment_ids) + list(doc.remote_allocation_ids)
            for pid in own:
                self._cancel_payment(item, pid, void=pid in doc.remote_payment_ids, action=f"release-{pid}")
            if own:
                row = self.client.read(entity, row["Id"])  # applying moved its SyncToken on
            # QBO voids invoices; credit memos can only be deleted
            if entity == "Invoice":
                done = self.client.void(entity, row["Id"], row["SyncToken"], self._rid(item, "void"))
                return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_number=row.get("DocNumber", ""),
                              remote_status="VOIDED", details={"sync_token": done.get("SyncToken")})
            self.client.delete(entity, row["Id"], row["SyncToken"], self._rid(item, "delete"))
            return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_number=row.get("DocNumber", ""),
                          remote_status="DELETED")
        customer_id = doc.customer.remote_id
        if not customer_id:
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message=f"The customer {doc.customer.name} is not in QuickBooks yet.",
                          details={"error_code": base.CODE_WAITING})
        foreign = self._foreign(doc.currency_code)
        customer_id = self._customer_in(item, customer_id, foreign,
                                        "invoice" if item.kind == base.KIND_INVOICE else "credit note")
        body = payloads.with_currency(payloads.document_body(doc, customer_id, self.company_setup()),
                                      foreign, doc.currency_rate)
        if row is None:
            row = self.client.create(entity, body, self._rid(item, "create"))
        else:
            row = self.client.update(entity, dict(body, Id=row["Id"], SyncToken=row["SyncToken"]),
                                     self._rid(item, "update"))
        return self._document_result(item, entity, row)

    # ------------------------------------------------------------------ payments
    def _find_payment(self, reference, txn_id, amount, known):
        if not reference:
            return None
        for row in self.client.query(f"SELECT * FROM Payment WHERE PaymentRefNum = '{_q(reference[:21])}'"):
            if row["Id"] in known or money(Decimal(str(row.get("TotalAmt", 0)))) != money(amount):
                continue
            if any(lt.get("TxnId") == str(txn_id) for ln in row.get("Line") or [] for lt in ln.get("LinkedTxn") or []):
                return row
        return None

    def _cancel_payment(self, item, remote_id, void=True, action=""):
        if not remote_id:
            return Result(ref=item.key, ok=True, remote_status="DELETED", details={"absent": True})
        row = self.client.read("Payment", remote_id)
        if void:
            if (row.get("PrivateNote") or "").startswith("Voided"):
                return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="VOIDED")
            self.client.void("Payment", row["Id"], row["SyncToken"], self._rid(item, action or "void"))
            return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="VOIDED")
        self.client.delete("Payment", row["Id"], row["SyncToken"], self._rid(item, action or "delete"))
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="DELETED")

    @staticmethod
    def _not_ready(item, document):
        """The Result of a payment or refund that cannot be sent yet (its document not in QuickBooks, or
        no bank account mapped), else None."""
        pay: documents.Payment = item.obj
        if not pay.document_remote_id:
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message=f"The {document} is not in QuickBooks yet.", details={"error_code": base.CODE_WAITING})
        if not pay.bank_account_code:
            return Result(ref=item.key, ok=False, error_kind=base.MAPPING,
                          message=f"No QuickBooks bank account: map {pay.account_source or 'the journal'} "
                                  "to a QuickBooks Bank account.", details={"error_code": "mapping_missing"})
        return None

    def _payment(self, item):
        pay: documents.Payment = item.obj
        if pay.document_kind != documents.KIND_INVOICE:
            return self._refund(item)
        if item.operation == base.OP_CANCEL:
            return self._cancel_payment(item, pay.remote_id)
        missing = self._not_ready(item, "invoice")
        if missing:
            return missing
        if item.may_exist:
            row = self._find_payment(pay.reference, pay.document_remote_id, pay.amount, set(pay.known_remote_ids))
            if row:
                return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED",
                              details={"found": True})
        invoice = self.client.read("Invoice", pay.document_remote_id)
        body = payloads.payment_body(invoice["CustomerRef"]["value"], pay.amount, pay.date,
                                     [("Invoice", invoice["Id"], pay.amount)], pay.bank_account_code, pay.reference)
        # a payment is in its invoice's currency (its customer's): the rate is Odoo's, else QuickBooks' own
        payloads.with_currency(body, self._foreign(_currency(invoice)), pay.currency_rate)
        row = self.client.create("Payment", body, self._rid(item, "create"))
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED",
                      details={"unapplied": str(row.get("UnappliedAmt", 0))})

    def _allocation(self, item):
        """A credit memo applied to an invoice: a Payment of 0 linking both, as QuickBooks records it."""
        alloc: documents.Allocation = item.obj
        if item.operation == base.OP_CANCEL:
            return self._cancel_payment(item, alloc.remote_id, void=False)
        if not (alloc.credit_note_remote_id and alloc.invoice_remote_id):
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message="The credit note or the invoice is not in QuickBooks yet.",
                          details={"error_code": base.CODE_WAITING})
        invoice = self.client.read("Invoice", alloc.invoice_remote_id)
        if item.may_exist:
            for row in self.client.query(f"SELECT * FROM Payment WHERE CustomerRef = '{invoice['CustomerRef']['value']}'"):
                links = {(lt.get("TxnType"), lt.get("TxnId")) for ln in row.get("Line") or []
                         for lt in ln.get("LinkedTxn") or []}
                if (row["Id"] not in alloc.known_remote_ids and Decimal(str(row.get("TotalAmt", 0))) == 0
                        and ("Invoice", invoice["Id"]) in links and ("CreditMemo", alloc.credit_note_remote_id) in links):
                    return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED",
                                  details={"found": True})
        body = payloads.payment_body(invoice["CustomerRef"]["value"], alloc.amount, alloc.date,
                                     [("Invoice", invoice["Id"], alloc.amount),
                                      ("CreditMemo", alloc.credit_note_remote_id, alloc.amount)], total=0)
        payloads.with_currency(body, self._foreign(_currency(invoice)), rate=invoice.get("ExchangeRate"))
        row = self.client.create("Payment", body, self._rid(item, "create"))
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED")

    def _refund(self, item):
        """Money paid back against a credit memo: an expense from the bank to Accounts Receivable for
        the customer (remote id), linked to the credit memo by a Payment of 0, so the credit is used
        up and the money leaves the bank once (payloads.refund_expense_body)."""
        pay: documents.Payment = item.obj
        if pay.document_kind == documents.KIND_OVERPAYMENT:
            return self._credit_refund(item)
        if item.operation == base.OP_CANCEL:
            return self._cancel_refund(item, pay.remote_id)
        missing = self._not_ready(item, "credit note")
        if missing:
            return missing
        memo = self.client.read("CreditMemo", pay.document_remote_id)
        customer_id = memo["CustomerRef"]["value"]
        expense = self._find_refund(pay, customer_id) if item.may_exist else None
        if expense is None:
            body = payloads.refund_expense_body(customer_id, pay.amount, pay.date, pay.bank_account_code,
                                                self._receivable_account(), pay.reference,
                                                memo=f"Refund of credit memo {memo.get('DocNumber', '')}")
            payloads.with_currency(body, self._foreign(_currency(memo)), pay.currency_rate)
            expense = self.client.create("Purchase", body, self._rid(item, "refund"))
        link = self._refund_link(customer_id, expense["Id"]) if item.may_exist else None
        if link is None:
            body = payloads.payment_body(customer_id, pay.amount, pay.date,
                                         [("Expense", expense["Id"], pay.amount), ("CreditMemo", memo["Id"], pay.amount)],
                                         total=0)
            payloads.with_currency(body, self._foreign(_currency(memo)), rate=memo.get("ExchangeRate"))
            try:
                link = self.client.create("Payment", body, self._rid(item, "refund-link"))
            except QboFault as fault:
                return self._undo_half_refund(item, fault, expense,
                                              f"apply the refund to credit memo {memo.get('DocNumber', '')}")
        return Result(ref=item.key, ok=True, remote_id=expense["Id"], remote_status="AUTHORISED",
                      details={"payment_id": link["Id"]})

    def _undo_half_refund(self, item, fault, expense, what):
        """QuickBooks refused to link the refund's expense: half a refund would show the money out and
        the credit still open, so the expense goes again (or the Result says it is still there)."""
        result = self._fault(item, fault)
        try:
            self.client.delete("Purchase", expense["Id"], expense["SyncToken"], self._rid(item, "undo"))
            kept = "nothing was recorded"
        except QboFault:
            kept = f"its expense {expense['Id']} is still in QuickBooks and Retry links it"
        result.message = f"QuickBooks refused to {what} ({result.message}); {kept}."
        return result

    def _receivable_account(self):
        if getattr(self, "_ar_account", None) is None:
            rows = self.client.query("SELECT * FROM Account WHERE AccountType = 'Accounts Receivable'")
            if not rows:
                raise QboFault(base.MAPPING, "610", "QuickBooks has no Accounts Receivable account")
            self._ar_account = rows[0]["Id"]
        return self._ar_account

    def _find_refund(self, pay, customer_id):
        if not pay.reference:
            return None
        for row in self.client.query(f"SELECT * FROM Purchase WHERE DocNumber = '{_q(pay.reference[:21])}'"):
            if (row["Id"] not in pay.known_remote_ids and (row.get("EntityRef") or {}).get("value") == customer_id
                    and money(Decimal(str(row.get("TotalAmt", 0)))) == money(pay.amount)):
                return row
        return None

    def _refund_link(self, customer_id, expense_id):
        for row in self.client.query(f"SELECT * FROM Payment WHERE CustomerRef = '{_q(customer_id)}'"):
            if any((lt.get("TxnType"), lt.get("TxnId")) == ("Expense", str(expense_id))
                   for ln in row.get("Line") or [] for lt in ln.get("LinkedTxn") or []):
                return row
        return None

    def _cancel_refund(self, item, remote_id):
        if not remote_id:
            return Result(ref=item.key, ok=True, remote_status="DELETED", details={"absent": True})
        expense = self.client.read("Purchase", remote_id)
        customer_id = (expense.get("EntityRef") or {}).get("value", "")
        link = self._refund_link(customer_id, remote_id)
        if link is not None:
            self.client.delete("Payment", link["Id"], link["SyncToken"], self._rid(item, "unlink"))
            expense = self.client.read("Purchase", remote_id)  # its SyncToken moved on
        self.client.delete("Purchase", expense["Id"], expense["SyncToken"], self._rid(item, "delete"))
        return Result(ref=item.key, ok=True, remote_id=expense["Id"], remote_status="DELETED")

    # ------------------------------------------------------------------ customer credit
    # QuickBooks keeps a customer's credit on the Payment itself: money received that applies to
    # nothing is a Payment without lines (its UnappliedAmt), and applying it later, or paying it back,
    # adds a line to that same Payment (an invoice, or the expense that paid the money back). So
    # the Odoo overpayment is that Payment, an allocation of it is its line for the invoice
    # ("{PaymentId}/{InvoiceId}", the id QuickBooks' own reads give a line when a payment has
    # several) and a refund of it is the expense its line links.

    def _overpayment(self, item):
        o: documents.Overpayment = item.obj
        if item.operation == base.OP_CANCEL:
            return self._overpayment_void(item)
        if not o.bank_account_code:
            return Result(ref=item.key, ok=False, error_kind=base.MAPPING,
                          message=f"No QuickBooks bank account: map {o.account_source or 'the journal'} "
                                  "to a QuickBooks Bank account.", details={"error_code": "mapping_missing"})
        if not o.contact_remote_id:
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message="The customer is not in QuickBooks yet.", details={"error_code": base.CODE_WAITING})
        foreign = self._foreign(o.currency_code)
        customer_id = self._customer_in(item, o.contact_remote_id, foreign, "customer credit")
        if item.may_exist:
            row = self._find_credit(o, customer_id)
            if row is not None:
                return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED",
                              details={"found": True})
        body = payloads.payment_body(customer_id, o.amount, o.date, [], o.bank_account_code, o.reference)
        payloads.with_currency(body, foreign, o.currency_rate)
        if o.description:
            body["PrivateNote"] = o.description[:4000]
        row = self.client.create("Payment", body, self._rid(item, "create"))
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="AUTHORISED",
                      details={"unapplied": str(row.get("UnappliedAmt", 0))})

    def _find_credit(self, o, customer_id):
        """A Payment of this customer sent for this credit before (its answer lost): same number,
        amount and no invoice it pays, not owned by another credit."""
        if not o.reference:
            return None
        query = (f"SELECT * FROM Payment WHERE CustomerRef = '{_q(customer_id)}' "
                 f"AND PaymentRefNum = '{_q(o.reference[:21])}'")
        for row in self.client.query(query):
            if (row["Id"] not in o.known_remote_ids and not (row.get("PrivateNote") or "").startswith("Voided")
                    and money(Decimal(str(row.get("TotalAmt", 0)))) == money(o.amount)):
                return row
        return None

    def _overpayment_void(self, item):
        o: documents.Overpayment = item.obj
        if not o.remote_id:
            return Result(ref=item.key, ok=True, details={"notes": ["never in QuickBooks: nothing to void"]})
        row = self._read_or_none("Payment", o.remote_id)
        if row is None or (row.get("PrivateNote") or "").startswith("Voided"):
            return Result(ref=item.key, ok=True, remote_id=o.remote_id, remote_status="VOIDED",
                          details={"notes": ["already voided in QuickBooks" if row else "not in QuickBooks any more"]})
        applied = [f"{t} {i} ({a})" for t, i, a in _payment_links(row)]
        if applied:
            # Odoo removes its own allocations and refunds first (their removals are sent before):
            # what is left was applied in QuickBooks by hand.
            return Result(ref=item.key, ok=False, error_kind=base.CONFLICT,
                          message=f"QuickBooks cannot void payment {o.reference or o.remote_id} while it is applied "
                                  f"to {', '.join(applied)}: Odoo no longer applies this credit there. Remove those "
                                  "lines from the payment in QuickBooks (open it in Receive Payment and untick them), "
                                  "then Retry.", details={"error_code": "credit_applied"})
        self.client.void("Payment", row["Id"], row["SyncToken"], self._rid(item, "void"))
        return Result(ref=item.key, ok=True, remote_id=row["Id"], remote_status="VOIDED")

    def _read_or_none(self, entity, remote_id):
        try:
            return self.client.read(entity, remote_id)
        except QboFault as fault:
            if fault.kind == base.NOT_FOUND:
                return None
            raise

    def _set_credit_line(self, item, payment_id, txn_type, txn_id, amount, action):
        """Make the customer credit's Payment apply ``amount`` (0: nothing) to ``txn_type`` ``txn_id``,
        keeping its other lines. Setting, not adding: a send repeated after a lost answer changes
        nothing. QuickBooks refuses a write on a stale SyncToken: read again and set again."""
        for attempt in range(3):
            row = self._read_or_none("Payment", payment_id)
            if row is None or (row.get("PrivateNote") or "").startswith("Voided"):
                return None
            others = [(t, i, a) for t, i, a in _payment_links(row) if (t, i) != (txn_type, str(txn_id))]
            current = sum((a for t, i, a in _payment_links(row) if (t, i) == (txn_type, str(txn_id))), Decimal(0))
            if money(current) == money(amount):
                return row
            lines = others + ([(txn_type, str(txn_id), amount)] if amount > 0 else [])
            body = {"Id": row["Id"], "SyncToken": row["SyncToken"],
                    "Line": payloads.payment_lines(lines)}
            try:
                return self.client.update("Payment", body, self._rid(item, f"{action}-{attempt}"))
            except QboFault as fault:
                if fault.code != "5010" or attempt == 2:
                    raise
        return None

    def _credit_allocation(self, item):
        a: documents.CreditAllocation = item.obj
        remote_id = f"{a.credit_remote_id}/{a.invoice_remote_id}"
        held = a.others_on_invoice or Decimal(0)
        if item.operation == base.OP_CANCEL:
            if not a.remote_id:
                return Result(ref=item.key, ok=True, details={"notes": ["never in QuickBooks: nothing to remove"]})
            row = self._set_credit_line(item, a.credit_remote_id, "Invoice", a.invoice_remote_id, held, "unapply")
            return Result(ref=item.key, ok=True, remote_id=a.remote_id, remote_status="DELETED",
                          details={} if row else {"notes": ["the credit is not in QuickBooks any more"]})
        if not (a.credit_remote_id and a.invoice_remote_id):
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message="The customer credit or the invoice is not in QuickBooks yet.",
                          details={"error_code": base.CODE_WAITING})
        row = self._set_credit_line(item, a.credit_remote_id, "Invoice", a.invoice_remote_id, held + a.amount, "apply")
        if row is None:
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message=f"The customer credit (QuickBooks payment {a.credit_remote_id}) is no longer in "
                                  "QuickBooks (deleted or voided there): nothing to apply it from. Re-send the "
                                  "payment's credit from Odoo (Retry on the payment) or cancel this entry.",
                          details={"error_code": "credit_gone"})
        return Result(ref=item.key, ok=True, remote_id=remote_id, remote_status="AUTHORISED")

    def _credit_refund(self, item):
        """Customer credit paid back: an expense from the bank to Accounts Receivable for the customer
        (as a credit memo's refund is), which the credit's Payment then applies to."""
        pay: documents.Payment = item.obj
        if item.operation == base.OP_CANCEL:
            if not pay.remote_id:
                return Result(ref=item.key, ok=True, details={"notes": ["never in QuickBooks: nothing to remove"]})
            self._set_credit_line(item, pay.document_remote_id, "Expense", pay.remote_id, Decimal(0), "unlink")
            expense = self._read_or_none("Purchase", pay.remote_id)
            if expense is not None:
                self.client.delete("Purchase", expense["Id"], expense["SyncToken"], self._rid(item, "delete"))
            return Result(ref=item.key, ok=True, remote_id=pay.remote_id, remote_status="DELETED")
        missing = self._not_ready(item, "customer credit")
        if missing:
            return missing
        credit = self._read_or_none("Payment", pay.document_remote_id)
        if credit is None or (credit.get("PrivateNote") or "").startswith("Voided"):
            return Result(ref=item.key, ok=False, error_kind=base.NOT_FOUND,
                          message=f"The customer credit (QuickBooks payment {pay.document_remote_id}) is no longer "
                                  "in QuickBooks: nothing to pay back out of. Cancel this entry, or send the credit "
                                  "again from Odoo and Retry.", details={"error_code": "credit_gone"})
        customer_id = credit["CustomerRef"]["value"]
        expense = self._find_refund(pay, customer_id) if item.may_exist else None
        if expense is None:
            body = payloads.refund_expense_body(
                customer_id, pay.amount, pay.date, pay.bank_account_code, self._receivable_account(), pay.reference,
                memo=f"Customer credit paid back (payment {credit.get('PaymentRefNum') or credit['Id']})")
            payloads.with_currency(body, self._foreign(_currency(credit)), pay.currency_rate)
            expense = self.client.create("Purchase", body, self._rid(item, "refund"))
        try:
            self._set_credit_line(item, credit["Id"], "Expense", expense["Id"], pay.amount, "refund-link")
        except QboFault as fault:
            return self._undo_half_refund(item, fault, expense, "pay the refund out of the customer's credit "
                                                                f"(payment {credit.get('PaymentRefNum') or credit['Id']})")
        return Result(ref=item.key, ok=True, remote_id=expense["Id"], remote_status="AUTHORISED",
                      details={"payment_id": credit["Id"]})

    # ------------------------------------------------------------------ drift
    def remote_documents(self, kind, remote_ids):
        entity = ENTITY[kind]
        out = {}
        ids = [str(r) for r in remote_ids if r]
        rows = []
        for start in range(0, len(ids), 100):  # one query per hundred, not one read per document
            chunk = ", ".join(f"'{_q(i)}'" for i in ids[start:start + 100])
            rows.extend(self.client.query(f"SELECT * FROM {entity} WHERE Id IN ({chunk})"))
        home_of = qbo_inbound.home_customer_ids(self.client, rows)
        for row in rows:
            total = Decimal(str(row.get("TotalAmt", 0)))
            due = Decimal(str(row.get("Balance" if entity == "Invoice" else "RemainingCredit", 0)))
            out[str(row["Id"]).lower()] = RemoteDocument(
                remote_id=row["Id"], kind=kind, number=row.get("DocNumber", ""), status=_status(entity, row),
                total=total, amount_due=due,
                updated_at=_parse_time((row.get("MetaData") or {}).get("LastUpdatedTime")),
                contact_id=home_of.get(str((row.get("CustomerRef") or {}).get("value", "")),
                                       (row.get("CustomerRef") or {}).get("value", "")),
                currency_code=(row.get("CurrencyRef") or {}).get("value", ""),
                date=dt.date.fromisoformat(row["TxnDate"]) if row.get("TxnDate") else None)
        return out


def _currency(row):
    return str((row.get("CurrencyRef") or {}).get("value") or "")


def _payment_links(row):
    """[(TxnType, TxnId, amount)] a Payment applies."""
    return [(lt.get("TxnType"), str(lt.get("TxnId")), Decimal(str(line.get("Amount", 0))))
            for line in row.get("Line") or [] for lt in line.get("LinkedTxn") or []]


def _mapping_source(obj, refused, detail):
    """What the refused id was mapped from on the document's lines (named for a person), when the
    fault's detail quotes the id (Intuit: "... element id 4242 not found")."""
    lines = getattr(obj, "lines", None) or []
    field, source = {"ItemRef": ("item_code", "mapping_source"), "TaxCodeRef": ("tax_type", "tax_source")}.get(
        refused, (None, None))
    if field is None:
        return ""
    words = set((detail or "").replace(":", " ").split())
    for n, line in enumerate(lines, 1):
        value = getattr(line, field)
        if value and value in words:
            named = getattr(line, source) or f"line {n} ('{line.description}')"
            return f"{named} (QuickBooks id {value})"
    return ""


def _parse_time(text):
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None

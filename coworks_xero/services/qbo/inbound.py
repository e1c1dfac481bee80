"""What changes in QuickBooks Online comes back: signed webhooks and Change Data Capture, read into the
provider-neutral shapes the Odoo side applies (``services/xero/inbound.py``: RemoteDocument,
RemotePayment, RemoteAllocation, Changes).

QuickBooks records money differently from Xero, and this module is where that is translated:

- a Payment with money links one or more invoices: one RemotePayment per invoice it pays (its
  remote id is the Payment Id when it pays one invoice, as the payments this integration sends do;
  ``<Id>/<invoice Id>`` per invoice otherwise);
- a Payment of 0 linking an invoice and a credit memo is a credit applied: a RemoteAllocation on the
  credit memo (remote id = the Payment Id, as this integration's allocations are sent);
- a Payment of 0 linking a credit memo and an Expense is a refund (services/qbo/provider.py): a
  RemotePayment on the credit memo whose remote id is the Expense (Purchase) Id;
- voided transactions (``PrivateNote`` "Voided…", amounts 0) are VOIDED, deleted ones DELETED.

QuickBooks has no contact merge (customers are made inactive), so ``contacts_merged`` is empty.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from decimal import Decimal

from .. import documents as d
from ..xero import inbound as xin
from . import payloads as qbo_payloads
from ..xero.inbound import Changes, RemoteAllocation, RemoteDocument, RemotePayment, WebhookError, WebhookEvent

SIGNATURE_HEADER = "intuit-signature"
# Intuit's entity names → the categories the Odoo side acts on (xero/inbound.py HANDLED_CATEGORIES);
# a Payment event names the documents it links (``documents(payment_ids=…)``).
CATEGORIES = {"Invoice": "INVOICE", "CreditMemo": "CREDITNOTE", "Customer": "CONTACT", "Payment": "PAYMENT"}
CDC_ENTITIES = ("Invoice", "CreditMemo", "Payment")
CDC_LOOKBACK = dt.timedelta(days=29)  # Intuit answers changes of the last 30 days
PULL_OVERLAP = xin.PULL_OVERLAP
_ID_CHUNK = 100
# The signature is the same as Xero's (base64 of the body's HMAC-SHA256), keyed with the app's
# verifier token: one implementation, constant-time.
verify_signature = xin.verify_signature


def parse_time(text) -> dt.datetime | None:
    """Intuit's ISO times (offsets such as -0700 or -07:00, or Z) → naive UTC."""
    if not text:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def _date(text):
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def _dec(value):
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def parse_webhook(raw_body: bytes) -> list[WebhookEvent]:
    """The events of a (verified) delivery, one per entity change."""
    try:
        payload = json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"not JSON: {exc}") from None
    notes = payload.get("eventNotifications") if isinstance(payload, dict) else None
    if not isinstance(notes, list):
        raise WebhookError("no eventNotifications list")
    out = []
    for note in notes:
        realm = str((note or {}).get("realmId") or "")
        entities = ((note or {}).get("dataChangeEvent") or {}).get("entities")
        if not realm or not isinstance(entities, list):
            raise WebhookError("a notification lacks realmId or dataChangeEvent.entities")
        for ent in entities:
            if not isinstance(ent, dict) or not ent.get("name") or not ent.get("id"):
                raise WebhookError("an entity lacks name or id")
            name, rid = str(ent["name"]), str(ent["id"])
            operation, when = str(ent.get("operation") or ""), str(ent.get("lastUpdated") or "")
            key = hashlib.sha256("|".join((realm, name, rid, operation, when)).encode()).hexdigest()
            out.append(WebhookEvent(key=key, tenant_id=realm, category=CATEGORIES.get(name, name.upper()),
                                    event_type=operation.upper(), resource_id=rid, resource_url="",
                                    event_date=parse_time(when)))
    return out


def _voided(row):
    return str(row.get("PrivateNote") or "").startswith("Voided")


def _links(row):
    """[(TxnType, TxnId, amount)] of a Payment's lines."""
    return [(lt.get("TxnType"), str(lt.get("TxnId")), _dec(line.get("Amount")))
            for line in row.get("Line") or [] for lt in line.get("LinkedTxn") or []]


def remote_document(row: dict, kind: str, payments=()) -> RemoteDocument:
    """A RemoteDocument from an Invoice or CreditMemo (or a CDC deletion) and the Payments linking it."""
    is_invoice = kind == d.KIND_INVOICE
    meta = row.get("MetaData") or {}
    if row.get("status") == "Deleted":
        return RemoteDocument(remote_id=str(row["Id"]), kind=kind, number="", status="DELETED", total=Decimal(0),
                              amount_due=Decimal(0), updated_at=parse_time(meta.get("LastUpdatedTime")))
    total = _dec(row.get("TotalAmt"))
    due = _dec(row.get("Balance" if is_invoice else "RemainingCredit"))
    status = "VOIDED" if _voided(row) else ("PAID" if due == 0 and total else "AUTHORISED")
    own = ("Invoice" if is_invoice else "CreditMemo", str(row["Id"]))
    paid_by, notes, allocations = [], [], []
    for pay in payments:
        links = _links(pay)
        if own[:2] not in [(t, i) for t, i, _a in links] or _voided(pay):
            continue
        if _dec(pay.get("TotalAmt")):
            paid_by.append(str(pay["Id"]))
            continue
        credit = [(i, a) for t, i, a in links if t == "CreditMemo"]
        charged = [(i, a) for t, i, a in links if t == "Invoice"]
        if is_invoice:
            notes += [i for i, _a in credit]
        elif charged:  # a credit applied to an invoice, as this integration's allocations are sent
            allocations += [RemoteAllocation(remote_id=str(pay["Id"]), credit_note_remote_id=own[1],
                                             invoice_remote_id=inv, amount=amount, date=_date(pay.get("TxnDate")))
                            for inv, amount in charged]
        else:  # a refund: the payment links the credit memo and an expense
            paid_by += [i for t, i, _a in links if t in ("Expense", "Check")]
    return RemoteDocument(
        remote_id=own[1], kind=kind, number=row.get("DocNumber") or "", status=status, total=total, amount_due=due,
        updated_at=parse_time(meta.get("LastUpdatedTime")), payment_ids=tuple(paid_by),
        credit_note_ids=tuple(dict.fromkeys(notes)), allocations=tuple(allocations),
        contact_id=str((row.get("CustomerRef") or {}).get("value") or ""),
        currency_code=(row.get("CurrencyRef") or {}).get("value") or "", date=_date(row.get("TxnDate")))


def home_customer_ids(client, rows) -> dict:
    """{currency customer id: the Odoo customer's own QuickBooks id} for the transactions ``rows`` made
    on a customer's copy in another currency (services/qbo/payloads.py HOME_MARK in its Notes). Only
    customers named "… (<the row's currency>)" are read, in one query a hundred."""
    ids = set()
    for row in rows:
        cref, cur = row.get("CustomerRef") or {}, (row.get("CurrencyRef") or {}).get("value") or ""
        if cur and str(cref.get("name") or "").endswith(f"({cur})"):
            ids.add(str(cref.get("value")))
    out = {}
    ids = sorted(ids)
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ", ".join("'%s'" % i.replace("'", "") for i in ids[start:start + _ID_CHUNK])
        for cust in client.query(f"SELECT * FROM Customer WHERE Id IN ({chunk}) AND Active IN (true, false)"):
            home = qbo_payloads.home_customer_of(cust)
            if home:
                out[str(cust["Id"])] = home
    return out


def remote_payments(row: dict, accounts=None) -> list[RemotePayment]:
    """The money of one Payment, one RemotePayment per invoice it pays (none for a credit applied)."""
    meta = row.get("MetaData") or {}
    status = "DELETED" if row.get("status") == "Deleted" else ("VOIDED" if _voided(row) else "AUTHORISED")
    if status == "DELETED":  # Intuit reports only the Id of what was deleted
        return [RemotePayment(remote_id=str(row["Id"]), document_kind=d.KIND_INVOICE, document_remote_id="",
                              amount=Decimal(0), date=None, currency_rate=None, reference="", status=status,
                              account_id="", account_code="", account_name="",
                              updated_at=parse_time(meta.get("LastUpdatedTime")))]
    links = [(t, i, a) for t, i, a in _links(row) if t == "Invoice"]
    if status == "AUTHORISED" and not _dec(row.get("TotalAmt")):
        return []  # a credit applied, not money: an allocation (remote_document)
    account = row.get("DepositToAccountRef") or {}
    out = []
    for txn_type, invoice_id, amount in links:
        out.append(RemotePayment(
            remote_id=str(row["Id"]) if len(links) == 1 else f"{row['Id']}/{invoice_id}",
            document_kind=d.KIND_INVOICE, document_remote_id=invoice_id, amount=amount,
            date=_date(row.get("TxnDate")), currency_rate=_dec(row["ExchangeRate"]) if row.get("ExchangeRate") else None,
            reference=row.get("PaymentRefNum") or "", status=status, account_id=str(account.get("value") or ""),
            account_code=str(account.get("value") or ""), account_name=account.get("name") or "",
            updated_at=parse_time(meta.get("LastUpdatedTime"))))
    return out


def remote_refund(expense: dict, link: dict) -> RemotePayment | None:
    """A refund of a credit memo: the expense the payment of 0 ``link`` ties to it."""
    memo = next((i for t, i, _a in _links(link) if t == "CreditMemo"), None)
    if memo is None:
        return None
    account = expense.get("AccountRef") or {}
    return RemotePayment(
        remote_id=str(expense["Id"]), document_kind=d.KIND_CREDIT_NOTE, document_remote_id=memo,
        amount=_dec(expense.get("TotalAmt")), date=_date(expense.get("TxnDate")), currency_rate=None,
        reference=expense.get("DocNumber") or "", status="VOIDED" if _voided(expense) else "AUTHORISED",
        account_id=str(account.get("value") or ""), account_code=str(account.get("value") or ""),
        account_name=account.get("name") or "", updated_at=parse_time((expense.get("MetaData") or {}).get("LastUpdatedTime")))


@dataclasses.dataclass
class QboInbound:
    """Reads of what changed in QuickBooks, through the connection's QboClient (its tokens, retries and
    the realm's shared limiter): the interface of ``xero.inbound.XeroInbound``."""

    client: object

    def _in(self, entity, ids):
        ids = sorted({str(i) for i in ids if i})
        rows = []
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ", ".join("'%s'" % i.replace("'", "") for i in ids[start:start + _ID_CHUNK])
            rows += self.client.query(f"SELECT * FROM {entity} WHERE Id IN ({chunk})")
        return rows

    def _linking(self, rows, known=()):
        """The Payments that rows list in their LinkedTxn (QuickBooks lists them on each document it
        links), read in one query a hundred; ``known`` rows are not read again."""
        have = {str(p["Id"]): p for p in known}
        ids = {str(lt.get("TxnId")) for r in rows for lt in r.get("LinkedTxn") or [] if lt.get("TxnType") == "Payment"}
        return list(have.values()) + self._in("Payment", ids - set(have))

    def _read(self, invoices, memos, payments=()):
        """RemoteDocuments of these rows, each with the payments linking it."""
        linking = self._linking(invoices + memos, payments)
        docs = ([remote_document(r, d.KIND_INVOICE, linking) for r in invoices]
                + [remote_document(r, d.KIND_CREDIT_NOTE, linking) for r in memos])
        home_of = home_customer_ids(self.client, invoices + memos)
        # a document on a customer's copy in its currency is that customer's
        return [dataclasses.replace(doc, contact_id=home_of[doc.contact_id]) if doc.contact_id in home_of else doc
                for doc in docs]

    def documents(self, invoice_ids=(), credit_note_ids=(), payment_ids=()) -> list:
        """The current state of these documents, and of those the payments ``payment_ids`` link."""
        invoice_ids, credit_note_ids = set(invoice_ids), set(credit_note_ids)
        for pay in self._in("Payment", payment_ids):
            for txn_type, txn_id, _amount in _links(pay):
                (invoice_ids if txn_type == "Invoice" else credit_note_ids if txn_type == "CreditMemo"
                 else set()).add(txn_id)
        invoices, memos = self._in("Invoice", invoice_ids), self._in("CreditMemo", credit_note_ids)
        return self._read(invoices, memos) if invoices or memos else []

    def payments(self, payment_ids) -> list:
        """These payments (ids as RemoteDocument.payment_ids name them: Payment Ids, Payment/invoice
        pairs, or refund Expense Ids)."""
        wanted = {str(i) for i in payment_ids if i}
        payment_rows = self._in("Payment", {i.split("/")[0] for i in wanted})
        out = [p for row in payment_rows for p in remote_payments(row) if p.remote_id in wanted]
        refunds = wanted - {str(r["Id"]) for r in payment_rows} - {p.remote_id for p in out}
        expenses = self._in("Purchase", refunds)
        for link in self._linking(expenses):
            for expense in expenses:
                if ("Expense", str(expense["Id"])) in [(t, i) for t, i, _a in _links(link)]:
                    refund = remote_refund(expense, link)
                    if refund:
                        out.append(refund)
        return out

    def overpayments(self, overpayment_ids) -> list:
        return []  # QuickBooks keeps unapplied money on the Payment itself (UnappliedAmt)

    def contacts_merged(self, contact_ids) -> dict:
        return {}  # QuickBooks has no contact merge

    def pull(self, since: dt.datetime | None) -> Changes:
        """Invoices, credit memos and payments changed since ``since`` (naive UTC; None = all), through
        Change Data Capture within its 30 days, by query beyond."""
        changes = Changes()
        since = since - PULL_OVERLAP if since else None
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        if since is not None and now - since < CDC_LOOKBACK:
            rows = self.client.cdc(CDC_ENTITIES, since.strftime("%Y-%m-%dT%H:%M:%SZ"))
        else:
            where = f" WHERE MetaData.LastUpdatedTime > '{since:%Y-%m-%dT%H:%M:%SZ}'" if since else ""
            rows = {e: self.client.query(f"SELECT * FROM {e}{where}") for e in CDC_ENTITIES}
        for entity_rows in rows.values():
            for row in entity_rows:
                changes.seen(parse_time((row.get("MetaData") or {}).get("LastUpdatedTime")))
        payments = rows.get("Payment") or []
        for row in payments:
            changes.payments += remote_payments(row)
        # the documents changed, and those the changed payments link (QuickBooks does not report an
        # invoice as changed when a payment is applied to it)
        linked = {(t, i) for row in payments for t, i, _a in _links(row)}
        invoices = list(rows.get("Invoice") or [])
        memos = list(rows.get("CreditMemo") or [])
        have = {("Invoice", str(r["Id"])) for r in invoices} | {("CreditMemo", str(r["Id"])) for r in memos}
        invoices += self._in("Invoice", [i for t, i in linked - have if t == "Invoice"])
        memos += self._in("CreditMemo", [i for t, i in linked - have if t == "CreditMemo"])
        changes.documents = self._read(invoices, memos, payments)
        return changes

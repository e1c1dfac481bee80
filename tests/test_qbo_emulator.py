"""qbo_emulator: Intuit's rules (SyncToken, required fields, references, duplicates, totals, payments,
void/delete, query, batch, CDC, requestid, limits, faults, OAuth with the realm choice, signed webhooks)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import urllib.parse
from decimal import Decimal

import pytest
import requests

from conftest import QBOHTTP, qbo_errors
from qbo_emulator import seed


def codes(resp):
    return [c for c, _m, _e in qbo_errors(resp)]


# ------------------------------------------------------------------------------ name lists

def test_customer_create_read_and_duplicate_name(qbo):
    c = qbo.customer("Blue Door Studio", PrimaryEmailAddr={"Address": "hi@bluedoor.test"})
    assert c["Id"] and c["SyncToken"] == "0" and c["Active"] is True
    assert qbo.get(f"customer/{c['Id']}").json()["Customer"]["DisplayName"] == "Blue Door Studio"
    r = qbo.post("customer", json={"DisplayName": "  blue door   studio "})
    assert r.status_code == 400 and codes(r) == ["6240"]
    assert r.json()["Fault"]["type"] == "ValidationFault" and "time" in r.json()


def test_customer_requires_a_name_and_refuses_unknown_fields(qbo):
    r = qbo.post("customer", json={"PrimaryEmailAddr": {"Address": "x@y.test"}})
    assert codes(r) == ["2020"] and qbo_errors(r)[0][2] == "DisplayName"
    r = qbo.post("customer", json={"DisplayName": "X", "Nickname": "y"})
    assert codes(r) == ["2010"]
    r = qbo.post("customer", json={"DisplayName": "X", "PrimaryEmailAddr": {"Address": "not-an-email"}})
    assert codes(r) == ["2010"]


def test_sync_token_optimistic_locking(qbo):
    c = qbo.customer("Lock Test")
    r = qbo.post("customer", json={"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "first"})
    assert r.status_code == 200 and r.json()["Customer"]["SyncToken"] == "1"
    assert r.json()["Customer"]["DisplayName"] == "Lock Test"  # sparse keeps what it does not send
    stale = qbo.post("customer", json={"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "second"})
    assert stale.status_code == 400 and codes(stale) == ["5010"]
    assert qbo_errors(stale)[0][1] == "Stale Object Error"
    missing = qbo.post("customer", json={"Id": c["Id"], "sparse": True, "Notes": "third"})
    assert codes(missing) == ["2020"]
    assert qbo.get(f"customer/{c['Id']}").json()["Customer"]["Notes"] == "first"


def test_inactive_customer_is_renamed_and_refused_on_documents(qbo):
    c = qbo.customer("Gone Ltd")
    r = qbo.post("customer", json={"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert r.json()["Customer"]["DisplayName"] == "Gone Ltd (deleted)"
    assert qbo.customer("Gone Ltd")["Id"] != c["Id"]  # the name is free again
    r = qbo.invoice(c["Id"], expect=400)
    assert r["Fault"]["Error"][0]["code"] == "610"


def test_read_of_unknown_id_and_unknown_reference(qbo):
    r = qbo.get("invoice/99999")
    assert r.status_code == 400 and codes(r) == ["610"]
    r = qbo.invoice("4242", expect=400)
    assert r["Fault"]["Error"][0]["code"] == "2500"


# ------------------------------------------------------------------------------ invoices and totals

def _line(amount, item="2", qty=None, price=None, tax="TAX", **detail):
    d = {"ItemRef": {"value": item}, "TaxCodeRef": {"value": tax}, **detail}
    if qty is not None:
        d["Qty"] = qty
    if price is not None:
        d["UnitPrice"] = price
    return {"DetailType": "SalesItemLineDetail", "Amount": amount, "SalesItemLineDetail": d}


def test_invoice_required_fields(qbo):
    c = qbo.customer()
    assert codes(qbo.post("invoice", json={"Line": [_line(10)]})) == ["2020"]
    assert codes(qbo.post("invoice", json={"CustomerRef": {"value": c["Id"]}, "Line": []})) == ["2020"]
    r = qbo.post("invoice", json={"CustomerRef": {"value": c["Id"]}, "Line": [{"DetailType": "SalesItemLineDetail",
                                                                              "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}]})
    assert codes(r) == ["2020"] and qbo_errors(r)[0][2] == "Line.Amount"
    r = qbo.post("invoice", json={"CustomerRef": {"value": c["Id"]}, "Line": [_line(10, qty=2, price=4)]})
    assert codes(r) == ["6070"]
    r = qbo.post("invoice", json={"CustomerRef": {"value": c["Id"]}, "Line": [_line(10, item="11")]})
    assert codes(r) == ["610"]  # inactive item


def test_us_sales_tax_with_discount_to_the_cent(qbo):
    c = qbo.customer()
    inv = qbo.invoice(c["Id"], DocNumber="INV-1", lines=[
        _line(Decimal("100.00"), qty=1, price=100),
        _line(Decimal("33.33"), item="4", qty=1, price=Decimal("33.33")),
        _line(Decimal("12.00"), item="8", tax="NON"),
        {"DetailType": "DiscountLineDetail", "Amount": 10, "DiscountLineDetail": {"PercentBased": False}}],
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}})
    # subtotal 145.33; discount 10 spread 6.88/2.29/0.83: taxable base 100+33.33-6.88-2.29 = 124.16
    tax = inv["TxnTaxDetail"]
    assert [Decimal(str(t["Amount"])) for t in tax["TaxLine"]] == [Decimal("4.97"), Decimal("6.05")]
    assert Decimal(str(tax["TotalTax"])) == Decimal("11.02")
    assert Decimal(str(inv["TotalAmt"])) == Decimal("146.35") == Decimal(str(inv["Balance"]))
    subtotal = [ln for ln in inv["Line"] if ln["DetailType"] == "SubTotalLineDetail"]
    assert Decimal(str(subtotal[0]["Amount"])) == Decimal("145.33")
    # a person's (or an integration's) tax override is kept
    inv2 = qbo.invoice(c["Id"], DocNumber="INV-2", lines=[_line(Decimal("100.00"))],
                       TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}, "TotalTax": Decimal("8.87")})
    assert Decimal(str(inv2["TotalAmt"])) == Decimal("108.87")


def test_uk_vat_per_line_tax_codes(qbo_emulator):
    uk = QBOHTTP(qbo_emulator, realm=seed.REALM_UK)
    c = uk.customer("Harbour Ltd")
    r = uk.post("invoice", json={"CustomerRef": {"value": c["Id"]}, "Line": [_line(50, tax=None) | {
        "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}]})
    assert codes(r) == ["6000"]  # a UK line needs its VAT code
    inv = uk.invoice(c["Id"], lines=[_line(Decimal("99.99"), tax="2"), _line(Decimal("20.00"), tax="3"),
                                     _line(Decimal("5.00"), tax="5"),
                                     {"DetailType": "DiscountLineDetail", "Amount": 0, "DiscountLineDetail": {
                                         "PercentBased": True, "DiscountPercent": 10}}])
    # subtotal 124.99, 10 % = 12.50; 20 % on 99.99-10.00, 5 % on 20.00-2.00
    assert Decimal(str(inv["TxnTaxDetail"]["TotalTax"])) == Decimal("18.90")
    assert Decimal(str(inv["TotalAmt"])) == Decimal("131.39")
    assert inv["GlobalTaxCalculation"] == "TaxExcluded"


def test_duplicate_doc_number(qbo):
    c = qbo.customer()
    first = qbo.invoice(c["Id"], DocNumber="INV/2026/0001")
    r = qbo.invoice(c["Id"], DocNumber="INV/2026/0001", expect=400)
    assert r["Fault"]["Error"][0]["code"] == "6140" and first["Id"] in r["Fault"]["Error"][0]["Detail"]
    r = qbo.invoice(c["Id"], DocNumber="X" * 22, expect=400)
    assert r["Fault"]["Error"][0]["element"] == "DocNumber"
    assert qbo.invoice(c["Id"])["DocNumber"]  # numbered by QuickBooks when none is given


# ------------------------------------------------------------------------------ payments, credit, void, delete

def test_partial_payment_over_two_invoices_and_credit_memo(qbo):
    c = qbo.customer()
    a = qbo.invoice(c["Id"], DocNumber="A", lines=[_line(100, tax="NON")])
    b = qbo.invoice(c["Id"], DocNumber="B", lines=[_line(50, tax="NON")])
    pay = qbo.create("Payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 120, "DepositToAccountRef": {"value": "35"},
                                 "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": a["Id"], "TxnType": "Invoice"}]},
                                          {"Amount": 20, "LinkedTxn": [{"TxnId": b["Id"], "TxnType": "Invoice"}]}]})
    assert Decimal(str(pay["UnappliedAmt"])) == 0
    assert qbo.get(f"invoice/{a['Id']}").json()["Invoice"]["Balance"] == 0
    assert Decimal(str(qbo.get(f"invoice/{b['Id']}").json()["Invoice"]["Balance"])) == 30
    over = qbo.post("payment", json={"CustomerRef": {"value": c["Id"]}, "TotalAmt": 40, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": b["Id"], "TxnType": "Invoice"}]}]})
    assert codes(over) == ["6000"]
    cm = qbo.create("CreditMemo", {"CustomerRef": {"value": c["Id"]}, "Line": [_line(30, tax="NON")]})
    assert Decimal(str(cm["RemainingCredit"])) == 30
    apply = qbo.create("Payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 0, "Line": [
        {"Amount": 30, "LinkedTxn": [{"TxnId": b["Id"], "TxnType": "Invoice"}]},
        {"Amount": 30, "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]}]})
    assert apply["TotalAmt"] == 0
    assert qbo.get(f"invoice/{b['Id']}").json()["Invoice"]["Balance"] == 0
    assert qbo.get(f"creditmemo/{cm['Id']}").json()["CreditMemo"]["RemainingCredit"] == 0


def test_void_invoice_needs_its_payments_voided_first(qbo):
    c = qbo.customer()
    inv = qbo.invoice(c["Id"], lines=[_line(100, tax="NON")])
    pay = qbo.create("Payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 40, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    current = qbo.get(f"invoice/{inv['Id']}").json()["Invoice"]
    r = qbo.post("invoice", params={"operation": "void"}, json={"Id": inv["Id"], "SyncToken": current["SyncToken"]})
    assert codes(r) == ["6000"]
    r = qbo.post("payment", params={"operation": "void"}, json={"Id": pay["Id"], "SyncToken": pay["SyncToken"],
                                                                "sparse": True})
    assert r.status_code == 200 and r.json()["Payment"]["TotalAmt"] == 0
    current = qbo.get(f"invoice/{inv['Id']}").json()["Invoice"]
    assert current["Balance"] == 100
    stale = qbo.post("invoice", params={"operation": "void"}, json={"Id": inv["Id"], "SyncToken": "0"})
    assert codes(stale) == ["5010"]
    r = qbo.post("invoice", params={"operation": "void"}, json={"Id": inv["Id"], "SyncToken": current["SyncToken"]})
    voided = r.json()["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and voided["PrivateNote"].startswith("Voided")
    assert voided["DocNumber"] == inv["DocNumber"]


def test_delete_and_refund_receipt(qbo):
    c = qbo.customer()
    cm = qbo.create("CreditMemo", {"CustomerRef": {"value": c["Id"]}, "Line": [_line(25, tax="NON")]})
    r = qbo.post("creditmemo", params={"operation": "void"}, json={"Id": cm["Id"], "SyncToken": "0"})
    assert codes(r) == ["500"]
    r = qbo.post("creditmemo", params={"operation": "delete"}, json={"Id": cm["Id"], "SyncToken": "0"})
    assert r.json()["CreditMemo"] == {"Id": cm["Id"], "status": "Deleted", "domain": "QBO"}
    assert codes(qbo.get(f"creditmemo/{cm['Id']}")) == ["610"]
    r = qbo.post("refundreceipt", json={"CustomerRef": {"value": c["Id"]}, "Line": [_line(25, item="10", tax="NON")]})
    assert codes(r) == ["2020"]  # DepositToAccountRef
    rr = qbo.create("RefundReceipt", {"CustomerRef": {"value": c["Id"]}, "DepositToAccountRef": {"value": "35"},
                                      "Line": [_line(25, item="10", tax="NON")]})
    assert rr["TotalAmt"] == 25


def test_credit_memo_refunded_by_an_expense_to_receivable(qbo):
    """Money paid back against a credit memo: a Purchase from the bank with its line to A/R and the
    customer, linked to the credit memo by a Payment of 0 (QuickBooks' own way)."""
    c, other = qbo.customer("Refund Co"), qbo.customer("Other Co")
    cm = qbo.create("CreditMemo", {"CustomerRef": {"value": c["Id"]}, "Line": [_line(60, tax="NON")]})
    line = {"Amount": 40, "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "4"}}}
    no_customer = qbo.post("purchase", json={"PaymentType": "Cash", "AccountRef": {"value": "35"}, "Line": [line]})
    assert codes(no_customer) == ["6000"]  # A/R needs a customer
    not_bank = qbo.post("purchase", json={"PaymentType": "Cash", "AccountRef": {"value": "4"}, "Line": [line],
                                          "EntityRef": {"value": c["Id"], "type": "Customer"}})
    assert codes(not_bank) == ["6000"]
    exp = qbo.create("Purchase", {"PaymentType": "Cash", "AccountRef": {"value": "35"}, "DocNumber": "RF-1",
                                  "EntityRef": {"value": c["Id"], "type": "Customer"}, "Line": [line]})
    assert Decimal(str(exp["TotalAmt"])) == 40 and Decimal(str(exp["Balance"])) == 40
    wrong_type = qbo.post("payment", json={"CustomerRef": {"value": c["Id"]}, "TotalAmt": 0, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": exp["Id"], "TxnType": "Check"}]},
        {"Amount": 40, "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]}]})
    assert codes(wrong_type) == ["2500"]  # a cash purchase is an Expense, not a Check
    not_theirs = qbo.post("payment", json={"CustomerRef": {"value": other["Id"]}, "TotalAmt": 0, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": exp["Id"], "TxnType": "Expense"}]}]})
    assert codes(not_theirs) == ["6000"]
    link = qbo.create("Payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 0, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": exp["Id"], "TxnType": "Expense"}]},
        {"Amount": 40, "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]}]})
    assert link["TotalAmt"] == 0
    assert Decimal(str(qbo.get(f"creditmemo/{cm['Id']}").json()["CreditMemo"]["RemainingCredit"])) == 20
    assert qbo.get(f"purchase/{exp['Id']}").json()["Purchase"]["Balance"] == 0
    current = qbo.get(f"purchase/{exp['Id']}").json()["Purchase"]
    linked = qbo.post("purchase", params={"operation": "delete"},
                      json={"Id": exp["Id"], "SyncToken": current["SyncToken"]})
    assert codes(linked) == ["6000"]  # remove the payment first
    qbo.post("payment", params={"operation": "delete"}, json={"Id": link["Id"], "SyncToken": link["SyncToken"]})
    assert Decimal(str(qbo.get(f"creditmemo/{cm['Id']}").json()["CreditMemo"]["RemainingCredit"])) == 60
    current = qbo.get(f"purchase/{exp['Id']}").json()["Purchase"]
    assert Decimal(str(current["Balance"])) == 40
    gone = qbo.post("purchase", params={"operation": "delete"}, json={"Id": exp["Id"], "SyncToken": current["SyncToken"]})
    assert gone.json()["Purchase"]["status"] == "Deleted"


# ------------------------------------------------------------------------------ query, batch, cdc, requestid

def test_query_language(qbo):
    c = qbo.customer("Query Co", PrimaryEmailAddr={"Address": "billing@query.test"})
    found = qbo.query("select * from Customer where PrimaryEmailAddr = 'BILLING@query.test'")
    assert [x["Id"] for x in found["Customer"]] == [c["Id"]]
    for n in range(3):
        qbo.invoice(c["Id"], DocNumber=f"Q-{n}")
    page = qbo.query("SELECT * FROM Invoice WHERE DocNumber IN ('Q-0', 'Q-2') ORDERBY DocNumber DESC "
                     "STARTPOSITION 1 MAXRESULTS 1")
    assert [x["DocNumber"] for x in page["Invoice"]] == ["Q-2"] and page["maxResults"] == 1
    assert qbo.query("select count(*) from Invoice") == {"totalCount": 3}
    assert qbo.query("select * from Invoice where DocNumber = 'nope'") == {}
    assert "Item" in qbo.query("select * from Item where Name like 'Plan%'")
    r = qbo.get("query", params={"query": "select * from Invoice where DocNumber = 'a' or DocNumber = 'b'"})
    assert r.status_code == 400 and codes(r) == ["4000"]
    assert "Class" in qbo.query("select * from Class") and len(qbo.query("select * from Class")["Class"]) == 2


def test_batch_limit_and_per_item_results(qbo):
    c = qbo.customer()
    items = [{"bId": f"b{n}", "operation": "create", "Customer": {"DisplayName": f"Batch {n}"}} for n in range(31)]
    r = qbo.post("batch", json={"BatchItemRequest": items})
    assert r.status_code == 400 and codes(r) == ["1040"]
    assert "Customer" not in qbo.query("select * from Customer where DisplayName = 'Batch 0'")
    items = items[:28] + [{"bId": "dup", "operation": "create", "Customer": {"DisplayName": "Batch 3"}},
                          {"bId": "q", "Query": f"select * from Customer where Id = '{c['Id']}'"}]
    assert len(items) == 30
    r = qbo.post("batch", json={"BatchItemRequest": items})
    assert r.status_code == 200
    out = {x["bId"]: x for x in r.json()["BatchItemResponse"]}
    assert out["b0"]["Customer"]["Id"] and out["dup"]["Fault"]["Error"][0]["code"] == "6240"
    assert out["q"]["QueryResponse"]["Customer"][0]["Id"] == c["Id"]


def test_cdc_reports_changes_and_deletions(qbo):
    since = qbo.control("GET", "clock").json()["now"] - 1
    import datetime as dt
    stamp = dt.datetime.fromtimestamp(since, tz=dt.timezone.utc).isoformat()
    c = qbo.customer()
    inv = qbo.invoice(c["Id"])
    qbo.post("invoice", params={"operation": "delete"}, json={"Id": inv["Id"], "SyncToken": inv["SyncToken"]})
    r = qbo.get("cdc", params={"entities": "Customer,Invoice", "changedSince": stamp})
    assert r.status_code == 200
    groups = r.json()["CDCResponse"][0]["QueryResponse"]
    assert groups[0]["Customer"][0]["Id"] == c["Id"]
    assert groups[1]["Invoice"] == [{"Id": inv["Id"], "status": "Deleted", "domain": "QBO",
                                     "MetaData": groups[1]["Invoice"][0]["MetaData"]}]
    old = dt.datetime.fromtimestamp(since - 31 * 86400, tz=dt.timezone.utc).isoformat()
    assert qbo.get("cdc", params={"entities": "Invoice", "changedSince": old}).status_code == 400


def test_requestid_replays_the_same_answer(qbo):
    body = {"DisplayName": "Once Only"}
    r1 = qbo.post("customer", json=body, params={"requestid": "job-1"})
    r2 = qbo.post("customer", json=body, params={"requestid": "job-1"})
    assert r1.json()["Customer"]["Id"] == r2.json()["Customer"]["Id"]
    assert len(qbo.query("select * from Customer where DisplayName = 'Once Only'")["Customer"]) == 1
    r3 = qbo.post("customer", json={"DisplayName": "Other"}, params={"requestid": "job-1"})
    assert codes(r3) == ["600"]


# ------------------------------------------------------------------------------ limits and faults

def test_per_realm_minute_and_batch_limits(qbo):
    qbo.control("POST", "limits", {"minute": 5, "batch_minute": 2})
    statuses = [qbo.get("customer/1").status_code for _ in range(6)]
    assert statuses.count(429) == 1
    qbo.control("POST", "clock", {"advance": 61})
    b = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Class"}]}
    assert [qbo.post("batch", json=b).status_code for _ in range(3)] == [200, 200, 429]
    r = qbo.post("batch", json=b)
    assert "ThrottleExceeded" in r.json()["fault"]["error"][0]["message"]


def test_faults_status_latency_and_lost_answer(qbo):
    c = qbo.customer()
    qbo.control("POST", "faults", {"kind": "status", "status": 503, "route": "POST /customer", "count": 1})
    assert qbo.post("customer", json={"DisplayName": "A"}).status_code == 503
    assert qbo.post("customer", json={"DisplayName": "A"}).status_code == 200
    qbo.control("POST", "faults", {"kind": "drop_after_write", "route": "POST /invoice", "count": 1})
    with pytest.raises(requests.ConnectionError):
        qbo.invoice(c["Id"], DocNumber="LOST-1")
    assert qbo.query("select * from Invoice where DocNumber = 'LOST-1'")["Invoice"]  # it was written
    qbo.control("POST", "faults", {"kind": "latency", "seconds": 0.3, "route": "GET /customer", "count": 1})
    started = time.monotonic()
    qbo.get(f"customer/{c['Id']}")
    assert time.monotonic() - started >= 0.3
    qbo.control("POST", "faults", {"kind": "expire_tokens", "route": "GET /customer", "count": 1})
    r = qbo.get(f"customer/{c['Id']}")
    assert r.status_code == 401 and r.json()["fault"]["error"][0]["code"] == "3200"


# ------------------------------------------------------------------------------ OAuth

def test_oauth_realm_choice_rotation_and_revoke(qbo_emulator):
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes
    from intuitlib.exceptions import AuthClientError

    srv = qbo_emulator
    redirect = "http://127.0.0.1:8069/coworks/qbo/callback"
    auth = AuthClient(seed.DEMO_CLIENT_ID, seed.DEMO_CLIENT_SECRET, redirect, srv.discovery_url)
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token="st-1")
    page = requests.get(url, allow_redirects=False)
    assert page.status_code == 200 and seed.REALM_UK in page.text  # the person picks the company
    form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query), realm=seed.REALM_UK, action="allow")
    answer = requests.post(srv.base_url + "/connect/oauth2", data=form, allow_redirects=False)
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))
    assert back["state"] == "st-1" and back["realmId"] == seed.REALM_UK
    auth.get_bearer_token(back["code"], realm_id=back["realmId"])
    first_refresh = auth.refresh_token
    assert auth.access_token and auth.expires_in == 3600 and auth.x_refresh_token_expires_in == 8726400
    with pytest.raises(AuthClientError):
        auth.get_bearer_token(back["code"])  # a code works once
    auth.refresh()
    assert auth.refresh_token != first_refresh  # rotated
    second = auth.refresh_token
    # the previous one still works while its successor is unused (a lost answer), and then dies
    auth.refresh(refresh_token=first_refresh)
    with pytest.raises(AuthClientError):
        auth.refresh(refresh_token=second)
    api = srv.base_url + f"/v3/company/{seed.REALM_UK}/companyinfo/{seed.REALM_UK}"
    h = {"Authorization": "Bearer " + auth.access_token, "Accept": "application/json"}
    assert requests.get(api, headers=h).json()["CompanyInfo"]["Country"] == "GB"
    other = srv.base_url + f"/v3/company/{seed.REALM_US}/companyinfo/{seed.REALM_US}"
    assert requests.get(other, headers=h).status_code == 403  # granted for one realm only
    auth.revoke()
    assert requests.get(api, headers=h).status_code == 401
    with pytest.raises(AuthClientError):
        auth.refresh()


# ------------------------------------------------------------------------------ webhooks

class _Receiver(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = base64.b64encode(hmac.new(seed.DEMO_VERIFIER_TOKEN.encode(), body, hashlib.sha256).digest()).decode()
        ok = hmac.compare_digest(expected, self.headers.get("intuit-signature", ""))
        self.server.received.append((ok, json.loads(body)))
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    srv.received = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _wait(pred, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_signed_webhooks(qbo, receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/qbo/webhook"
    assert qbo.control("POST", "webhook", {"url": url}).ok
    c = qbo.customer()
    inv = qbo.invoice(c["Id"])
    qbo.post("invoice", params={"operation": "void"}, json={"Id": inv["Id"], "SyncToken": inv["SyncToken"]})
    assert _wait(lambda: len(receiver.received) >= 3)
    assert all(ok for ok, _ in receiver.received)
    events = [(e["name"], e["id"], e["operation"]) for _, p in receiver.received
              for n in p["eventNotifications"] for e in n["dataChangeEvent"]["entities"]]
    assert ("Customer", c["Id"], "Create") in events and ("Invoice", inv["Id"], "Void") in events
    assert receiver.received[0][1]["eventNotifications"][0]["realmId"] == seed.REALM_US
    # a wrong verifier token: the receiver refuses, the emulator retries and gives up
    qbo.control("POST", "webhook", {"url": url, "verifier_token": "wrong", "retry_delays": [0.05]})
    qbo.customer("Another")
    assert _wait(lambda: qbo.control("GET", "webhook").json()["failed"] == 1)


def test_requests_tail_answers_only_the_last_calls(qbo):
    qbo.customer("Tail One")
    qbo.customer("Tail Two")
    everything = qbo.control("GET", "requests").json()["requests"]
    last = qbo.control("GET", "requests", params={"tail": 1}).json()["requests"]
    assert len(everything) >= 2 and len(last) == 1
    assert last == everything[-1:] and last[0]["route"] == "POST /customer" and last[0]["ts"] <= time.time()


# ------------------------------------------------------------------------------ multicurrency

def _detail(resp):
    return " ".join(e.get("Detail", "") for e in resp.json()["Fault"]["Error"])


def _prefs(qbo):
    return qbo.query("SELECT * FROM Preferences")["Preferences"][0]["CurrencyPrefs"]


def test_multicurrency_off_refuses_a_foreign_customer_and_invoice(qbo):
    assert _prefs(qbo)["MultiCurrencyEnabled"] is False and _prefs(qbo)["HomeCurrency"]["value"] == "USD"
    r = qbo.post("customer", json={"DisplayName": "Euro Co", "CurrencyRef": {"value": "EUR"}})
    assert codes(r) == ["6000"] and "Multicurrency is off" in _detail(r)
    c = qbo.customer()
    r = qbo.post("invoice", json={"CustomerRef": {"value": c["Id"]}, "CurrencyRef": {"value": "EUR"},
                                  "Line": [_line(10, tax="NON")]})
    assert codes(r) == ["6000"]
    inv = qbo.invoice(c["Id"], lines=[_line(10, tax="NON")], ExchangeRate=2)
    assert "ExchangeRate" not in inv and inv["HomeTotalAmt"] == inv["TotalAmt"] == 10


def test_multicurrency_switch_stays_on(qbo):
    r = qbo.control("POST", "multicurrency", json={"realm": qbo.realm, "enabled": True})
    assert r.status_code == 200 and r.json()["MultiCurrencyEnabled"] is True
    assert _prefs(qbo)["MultiCurrencyEnabled"] is True
    assert qbo.control("POST", "multicurrency", json={"realm": qbo.realm, "enabled": False}).status_code == 400
    assert _prefs(qbo)["MultiCurrencyEnabled"] is True
    assert _prefs(QBOHTTP(qbo.srv, seed.REALM_UK))["MultiCurrencyEnabled"] is False  # per realm


def test_multicurrency_customer_currency_is_fixed_and_transactions_follow_it(qbo):
    qbo.control("POST", "multicurrency", json={"realm": qbo.realm})
    eur = qbo.customer("Euro Co", CurrencyRef={"value": "EUR"})
    usd = qbo.customer("Home Co")
    assert eur["CurrencyRef"]["value"] == "EUR" and usd["CurrencyRef"]["value"] == "USD"
    # an invoice is in its customer's currency: another one is refused, none given is the customer's
    r = qbo.post("invoice", json={"CustomerRef": {"value": eur["Id"]}, "CurrencyRef": {"value": "USD"},
                                  "Line": [_line(10, tax="NON")]})
    assert codes(r) == ["6000"] and "currency of the customer" in _detail(r)
    r = qbo.post("invoice", json={"CustomerRef": {"value": usd["Id"]}, "CurrencyRef": {"value": "EUR"},
                                  "Line": [_line(10, tax="NON")]})
    assert codes(r) == ["6000"]
    inv = qbo.invoice(eur["Id"], lines=[_line(100, tax="NON"), _line(33.33, tax="NON")], ExchangeRate="1.0815")
    assert inv["CurrencyRef"]["value"] == "EUR" and Decimal(str(inv["ExchangeRate"])) == Decimal("1.0815")
    assert Decimal(str(inv["TotalAmt"])) == Decimal("133.33")  # amounts in the transaction's currency
    assert Decimal(str(inv["HomeTotalAmt"])) == Decimal("144.20")  # 133.33 x 1.0815 = 144.196...
    # ExchangeRate left out: QuickBooks' own rate of the day (seed: 1.08 USD per EUR)
    dflt = qbo.invoice(eur["Id"], lines=[_line(50, tax="NON")])
    assert Decimal(str(dflt["ExchangeRate"])) == Decimal("1.08") and Decimal(str(dflt["HomeTotalAmt"])) == 54
    assert qbo.post("invoice", json={"CustomerRef": {"value": eur["Id"]}, "ExchangeRate": 0,
                                     "Line": [_line(10, tax="NON")]}).status_code == 400
    home = qbo.invoice(usd["Id"], lines=[_line(10, tax="NON")], ExchangeRate=3)
    assert Decimal(str(home["ExchangeRate"])) == 1 and Decimal(str(home["HomeTotalAmt"])) == 10
    # the customer's currency cannot change once it has transactions
    r = qbo.post("customer", json={"Id": eur["Id"], "SyncToken": eur["SyncToken"], "DisplayName": "Euro Co",
                                   "CurrencyRef": {"value": "USD"}})
    assert codes(r) == ["6000"] and "currency" in _detail(r)
    # a full update that leaves CurrencyRef out keeps it
    kept = qbo.create("Customer", {"Id": eur["Id"], "SyncToken": eur["SyncToken"], "DisplayName": "Euro Co SARL"})
    assert kept["CurrencyRef"]["value"] == "EUR"
    # a credit memo too
    cm = qbo.create("CreditMemo", {"CustomerRef": {"value": eur["Id"]}, "ExchangeRate": 1.1,
                                   "Line": [_line(20, tax="NON")]})
    assert cm["CurrencyRef"]["value"] == "EUR" and Decimal(str(cm["HomeTotalAmt"])) == 22
    r = qbo.post("creditmemo", json={"CustomerRef": {"value": eur["Id"]}, "CurrencyRef": {"value": "GBP"},
                                     "Line": [_line(20, tax="NON")]})
    assert codes(r) == ["6000"]


def test_multicurrency_payment_in_the_customer_currency(qbo):
    qbo.control("POST", "multicurrency", json={"realm": qbo.realm})
    eur = qbo.customer("Euro Co", CurrencyRef={"value": "EUR"})
    inv = qbo.invoice(eur["Id"], lines=[_line(100, tax="NON")], ExchangeRate="1.1")
    link = [{"Amount": 100, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
    r = qbo.post("payment", json={"CustomerRef": {"value": eur["Id"]}, "TotalAmt": 100, "CurrencyRef": {"value": "USD"},
                                  "DepositToAccountRef": {"value": "35"}, "Line": link})
    assert codes(r) == ["6000"]
    pay = qbo.create("Payment", {"CustomerRef": {"value": eur["Id"]}, "TotalAmt": 100, "ExchangeRate": "1.12",
                                 "DepositToAccountRef": {"value": "35"}, "Line": link})
    assert pay["CurrencyRef"]["value"] == "EUR" and Decimal(str(pay["ExchangeRate"])) == Decimal("1.12")
    assert Decimal(str(pay["HomeTotalAmt"])) == 112  # the deposit account (USD, the home currency) is allowed
    got = qbo.get(f"invoice/{inv['Id']}").json()["Invoice"]
    assert got["Balance"] == 0 and got["HomeBalance"] == 0


def test_multicurrency_deposit_account_in_another_currency_is_refused(qbo_emulator):
    qbo = QBOHTTP(qbo_emulator)
    qbo.control("POST", "multicurrency", json={"realm": qbo.realm})
    company = qbo_emulator.app.companies[qbo.realm]
    company.objects["Account"]["35"]["CurrencyRef"] = {"value": "GBP", "name": "British Pound Sterling"}
    eur = qbo.customer("Euro Co", CurrencyRef={"value": "EUR"})
    inv = qbo.invoice(eur["Id"], lines=[_line(10, tax="NON")])
    r = qbo.post("payment", json={"CustomerRef": {"value": eur["Id"]}, "TotalAmt": 10,
                                  "DepositToAccountRef": {"value": "35"},
                                  "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert codes(r) == ["6000"] and "GBP" in _detail(r)

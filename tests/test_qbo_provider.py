"""services/qbo against the in-process qbo_emulator: OAuth, client failure handling, payloads and the
provider's results (pure Python, no Odoo)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from decimal import Decimal

import pytest
import requests

from coworks_xero.services import documents, provider as base
from coworks_xero.services.provider import ProviderError, WorkItem
from coworks_xero.services.qbo import oauth as qbo_oauth
from coworks_xero.services.qbo.client import QboClient, QboConfig
from coworks_xero.services.qbo.provider import QboProvider
from coworks_xero.services.xero.oauth import InMemoryTokenStore, TokenSet
from qbo_emulator import seed

D = Decimal
DAY = dt.date(2026, 11, 2)


def _config(srv):
    return QboConfig.for_emulator(srv.base_url, seed.DEMO_CLIENT_ID, seed.DEMO_CLIENT_SECRET, backoff=0)


def _connect(srv, realm=seed.REALM_US):
    grant = requests.post(srv.base_url + "/__emulator__/grant", json={"realm_id": realm}).json()
    store = InMemoryTokenStore(TokenSet.from_response(grant))
    client = QboClient(_config(srv), realm, store)
    return client, store


@pytest.fixture
def us(qbo_emulator):
    client, store = _connect(qbo_emulator)
    return QboProvider(client)


@pytest.fixture
def uk(qbo_emulator):
    client, store = _connect(qbo_emulator, seed.REALM_UK)
    return QboProvider(client)


def fault(srv, **spec):
    r = requests.post(srv.base_url + "/__emulator__/faults", json=spec)
    assert r.status_code == 200, r.text


def writes(srv, route):
    log = requests.get(srv.base_url + "/__emulator__/requests").json()
    return [r for r in log["requests"] if r["method"] == "POST" and r["path"].endswith(route)]


def one(prov, kind, obj, op=base.OP_UPSERT, **kw):
    [result] = prov.run([WorkItem(key=f"job-{kind}-{obj.ref}", kind=kind, operation=op, obj=obj, **kw)])
    return result


def customer(name="Blue Door Studio", email="hi@bluedoor.test", remote_id=""):
    return documents.Customer(ref=f"res.partner,{abs(hash(name)) % 1000}", name=name, email=email,
                              contact_number="C-1", remote_id=remote_id)


def line(price, qty=1, item="2", tax="TAX", discount=0, **kw):
    price, qty, discount = D(str(price)), D(str(qty)), D(str(discount))
    subtotal = (qty * price * (100 - discount) / 100).quantize(D("0.01"))
    return documents.Line(description=kw.pop("description", "Hot desk"), quantity=qty, unit_price=price,
                          discount_percent=discount, item_code=item, tax_type=tax, subtotal=subtotal, **kw)


def invoice(cust, lines, total, number="INV/2026/0001", tax=None, kind=documents.KIND_INVOICE):
    untaxed = sum((li.subtotal for li in lines), D(0))
    return documents.Document(ref=f"account.move,{number}", kind=kind, number=number, date=DAY, customer=cust,
                              lines=lines, currency_code="USD", due_date=DAY + dt.timedelta(days=14),
                              amount_untaxed=untaxed, amount_tax=D(total) - untaxed if tax is None else D(tax),
                              amount_total=D(total))


def created_customer(prov, name="Blue Door Studio", email="hi@bluedoor.test"):
    c = customer(name, email)
    r = one(prov, base.KIND_CONTACT, c)
    assert r.ok, r.message
    c.remote_id = r.remote_id
    return c


# ------------------------------------------------------------------------------ OAuth

def test_oauth_exchange_keeps_the_chosen_realm_and_rotates_refresh_tokens(qbo_emulator):
    srv = qbo_emulator
    config = _config(srv)
    redirect = "http://127.0.0.1:8069/coworks/qbo/callback"
    url = qbo_oauth.authorization_url(config, redirect, "st-9")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["scope"] == "com.intuit.quickbooks.accounting" and query["state"] == "st-9"
    answer = requests.post(srv.base_url + "/connect/oauth2", data=dict(query, realm=seed.REALM_UK, action="allow"),
                           allow_redirects=False)
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))
    with pytest.raises(ProviderError) as wrong_state:
        qbo_oauth.exchange_code(config, redirect, back["code"], back["realmId"], state="forged", expected_state="st-9")
    assert wrong_state.value.kind == base.REAUTH
    conn = qbo_oauth.exchange_code(config, redirect, back["code"], back["realmId"], state=back["state"],
                                   expected_state="st-9")
    assert conn.realm_id == seed.REALM_UK and conn.tokens.access_token
    store = InMemoryTokenStore(conn.tokens)
    first_refresh = conn.tokens.refresh_token
    fresh = qbo_oauth.refresh(config, store)
    assert fresh.refresh_token != first_refresh and store.load().refresh_token == fresh.refresh_token
    # the rotated one is what works now: the client on the stored tokens reads the UK company
    client = QboClient(config, conn.realm_id, store)
    assert client.read("CompanyInfo", conn.realm_id)["Country"] == "GB"
    assert qbo_oauth.revoke(config, store.load())
    with pytest.raises(ProviderError) as dead:
        client.read("CompanyInfo", conn.realm_id)
    assert dead.value.kind == base.REAUTH


def test_expired_access_token_is_refreshed_once_and_saved(qbo_emulator):
    client, store = _connect(qbo_emulator)
    before = store.load()
    fault(qbo_emulator, kind="expire_tokens", route="*", count=1)
    assert client.read("CompanyInfo", seed.REALM_US)["Country"] == "US"
    after = store.load()
    assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
    assert store.saves == 1


def test_dead_refresh_token_is_reauth(qbo_emulator):
    client, _store = _connect(qbo_emulator)
    fault(qbo_emulator, kind="expire_tokens", route="*", count=1)
    fault(qbo_emulator, kind="refresh_token_dead", route="*", count=1)
    with pytest.raises(ProviderError) as exc:
        client.read("CompanyInfo", seed.REALM_US)
    assert exc.value.kind == base.REAUTH


# ------------------------------------------------------------------------------ client failures

def test_429_is_a_rate_limited_provider_error(us, qbo_emulator):
    fault(qbo_emulator, kind="status", status=429, route="GET /query", count=1)
    with pytest.raises(ProviderError) as exc:
        us.run([WorkItem(key="c1", kind=base.KIND_CONTACT, operation=base.OP_UPSERT, obj=customer())])
    assert exc.value.rate_limited and exc.value.kind == base.RETRYABLE and exc.value.retry_after == 60


def test_5xx_is_retried_in_the_call(us, qbo_emulator):
    fault(qbo_emulator, kind="status", status=503, route="POST /customer", count=1)
    r = one(us, base.KIND_CONTACT, customer())
    assert r.ok and r.details["created"]
    assert len(us.client.query("SELECT * FROM Customer WHERE DisplayName = 'Blue Door Studio'")) == 1


def test_lost_answer_is_retried_with_the_same_requestid_and_creates_once(us, qbo_emulator):
    cust = created_customer(us)
    doc = invoice(cust, [line(100)], "108.88", tax="8.88")
    doc.lines[0].tax_type = "2"  # NYC combined: 4 % + 4.875 % of 100
    fault(qbo_emulator, kind="drop_after_write", route="POST /invoice", count=1)
    r = one(us, base.KIND_INVOICE, doc)
    assert r.ok, r.message
    sent = writes(qbo_emulator, "/invoice")
    assert len(sent) == 2  # the dropped answer, then the same request again
    ids = {urllib.parse.parse_qs(w["query"])["requestid"][0] for w in sent}
    assert len(ids) == 1
    rows = us.client.query("SELECT * FROM Invoice WHERE DocNumber = 'INV/2026/0001'")
    assert len(rows) == 1 and rows[0]["Id"] == r.remote_id
    # a later run of the same job (maybe sent) finds it by number and updates, never duplicates
    again = one(us, base.KIND_INVOICE, doc, attempt=1)
    assert again.ok and again.remote_id == r.remote_id
    assert len(us.client.query("SELECT * FROM Invoice WHERE DocNumber = 'INV/2026/0001'")) == 1


def test_a_429_mid_batch_keeps_what_the_earlier_items_wrote(us, qbo, qbo_emulator):
    """QuickBooks takes a batch one call at a time: a throttled call after the first item was written
    must not lose its answer (the engine resends a rate-limited batch under the same attempt, so the
    first item's update would go again with the same requestid and a newer SyncToken: 600)."""
    existing = qbo.customer("Blue Door (old name)", PrimaryEmailAddr={"Address": "hi@bluedoor.test"})
    other = qbo.customer("Harbour Labs", PrimaryEmailAddr={"Address": "team@harbour.test"})
    items = [WorkItem(key="c-first", kind=base.KIND_CONTACT, operation=base.OP_UPSERT, obj=customer()),
             WorkItem(key="c-second", kind=base.KIND_CONTACT, operation=base.OP_UPSERT,
                      obj=customer("Harbour Labs", "team@harbour.test", remote_id=other["Id"]))]
    fault(qbo_emulator, kind="status", status=429, route="GET /customer", count=1)  # the second's read
    first, second = us.run(items)
    assert first.ok and first.remote_id == existing["Id"] and not first.details["created"]
    assert not second.ok and second.error_kind == base.RETRYABLE and second.details["retry_after"] == 60
    assert second.details[base.CODE_NOT_SENT], "its only call was a throttled read: a first send again"
    assert len(writes(qbo_emulator, "/customer")) == 3  # two made here, one update: not sent again
    client, _store = _connect(qbo_emulator)  # a later run (the realm's 60 s block is this client's)
    [again] = QboProvider(client).run([dataclasses.replace(items[1], attempt=1)])
    assert again.ok and again.remote_id == other["Id"], again.message


def test_a_connection_wide_failure_says_whether_any_write_could_have_reached_quickbooks(us, qbo_emulator):
    """A run that fails for the whole connection says (ProviderError.not_sent) whether QuickBooks can
    hold any of it: a 429 answers nothing, a 5xx after the request left may have been applied."""
    cust = created_customer(us)
    docs = [invoice(cust, [line("100", tax="NON")], "100", number=f"INV-N{n}") for n in range(3)]
    items = [WorkItem(key=f"job-{d.number}", kind=base.KIND_INVOICE, operation=base.OP_UPSERT, obj=d) for d in docs]
    fault(qbo_emulator, kind="status", status=429, route="POST /batch", count=1)
    with pytest.raises(ProviderError) as throttled:
        us.run(items)
    assert throttled.value.rate_limited and throttled.value.not_sent
    client, _store = _connect(qbo_emulator)  # a later run (the realm's 60 s block is the first client's)
    fault(qbo_emulator, kind="status", status=503, route="POST /batch", count=10)
    with pytest.raises(ProviderError) as failed:
        QboProvider(client).run(items)
    assert not failed.value.rate_limited and not failed.value.not_sent, "QuickBooks may have made them"


# ------------------------------------------------------------------------------ customers

def test_customer_found_by_email_or_created_with_a_unique_name(us, qbo):
    existing = qbo.customer("Blue Door (old name)", PrimaryEmailAddr={"Address": "hi@bluedoor.test"})
    found = one(us, base.KIND_CONTACT, customer())
    assert found.ok and found.remote_id == existing["Id"] and not found.details["created"]
    qbo.customer("Harbour Labs")  # same name, another customer (no email)
    made = one(us, base.KIND_CONTACT, customer("Harbour Labs", "team@harbour.test"))
    assert made.ok and made.details["created"] and made.remote_id != existing["Id"]
    assert made.details["display_name"] == "Harbour Labs (C-1)"
    qbo.customer("studio  NINE")  # the same name to QBO (case and spaces ignored), not to a query
    nine = one(us, base.KIND_CONTACT, customer("Studio Nine", "nine@studio.test"))
    assert nine.ok and nine.details["display_name"] == "Studio Nine (C-1)"
    fresh = one(us, base.KIND_CONTACT, customer("Quiet Room", "q@quiet.test"))
    assert fresh.details["display_name"] == "Quiet Room"  # no suffix when the name is free


def test_a_customer_without_email_sent_again_after_its_answer_was_lost_is_created_once(us, qbo):
    """Nothing but its name finds a customer without an email: a retry of a send that QuickBooks
    applied (the worker died before recording the answer) finds its own create, plain or suffixed,
    and a name someone else holds still gets the suffixed create."""
    def names(name):
        return sorted(c["DisplayName"] for c in us.client.query(
            f"SELECT * FROM Customer WHERE DisplayName LIKE '{name}%' AND Active IN (true, false)"))

    first = one(us, base.KIND_CONTACT, customer("Quiet Room", email=""))  # its answer "lost"
    again = one(us, base.KIND_CONTACT, customer("Quiet Room", email=""), maybe_sent=True)
    assert again.ok, again.message
    assert again.remote_id == first.remote_id and names("Quiet Room") == ["Quiet Room"]

    qbo.customer("Harbour Labs")  # someone else's, no email
    first = one(us, base.KIND_CONTACT, customer("Harbour Labs", email=""))
    assert first.details["display_name"] == "Harbour Labs (C-1)"
    again = one(us, base.KIND_CONTACT, customer("Harbour Labs", email=""), maybe_sent=True)
    assert again.ok and again.remote_id == first.remote_id
    assert names("Harbour Labs") == ["Harbour Labs", "Harbour Labs (C-1)"]

    qbo.customer("Studio Nine")  # maybe sent, but the send never reached QuickBooks
    made = one(us, base.KIND_CONTACT, customer("Studio Nine", email=""), maybe_sent=True)
    assert made.ok and made.details["created"] and made.details["display_name"] == "Studio Nine (C-1)"
    assert names("Studio Nine") == ["Studio Nine", "Studio Nine (C-1)"]


def test_first_sends_of_several_customers_go_in_three_batch_requests_and_agree_with_one_by_one(us, qbo, qbo_emulator):
    """New customers: one batch of look-ups by email, one by name, one of creates. What is not simply
    new takes the plain way after, with the plain way's answer: found by email (updated), a name
    someone entered in QuickBooks between the look-up and the create (QuickBooks' 6240: suffixed), and
    a second Odoo customer with the first's email (found by it). A name the look-up sees is suffixed
    in the batch itself."""
    existing = qbo.customer("Blue Door (old name)", PrimaryEmailAddr={"Address": "hi@bluedoor.test"})
    qbo.customer("Harbour Labs")  # the same name, another customer
    custs = [customer(), customer("Harbour Labs", "team@harbour.test"), customer("Quiet Room", "q@quiet.test"),
             customer("Loft Five", "five@loft.test"), customer("Quiet Room annex", "q@quiet.test")]  # Quiet Room's email
    real_batch = us.client.batch

    def batch_while_someone_types_in_quickbooks(items, requestid=None):
        if any(i.get("operation") == "create" for i in items):
            qbo.customer("loft  FIVE")  # the same name to QuickBooks (case and spaces ignored)
        return real_batch(items, requestid)

    us.client.batch = batch_while_someone_types_in_quickbooks
    before = {route: len(writes(qbo_emulator, route)) for route in ("/batch", "/customer")}
    results = us.run([WorkItem(key=f"job-c{n}", kind=base.KIND_CONTACT, operation=base.OP_UPSERT, obj=c)
                      for n, c in enumerate(custs)])
    assert all(r.ok for r in results), [r.message for r in results]
    found, harbour, quiet, loft, annex = results
    assert len(writes(qbo_emulator, "/batch")) == before["/batch"] + 3
    assert found.remote_id == existing["Id"] and not found.details["created"]
    assert harbour.details["display_name"] == "Harbour Labs (C-1)" and harbour.details["created"]
    assert quiet.details["display_name"] == "Quiet Room" and quiet.details["created"]
    assert loft.details["display_name"] == "Loft Five (C-1)" and loft.details["created"]
    assert annex.remote_id == quiet.remote_id and not annex.details["created"]
    # one by one: the update of the one found by email, Loft Five's create after the 6240, the annex's
    # update of the customer its email found (and the customer typed into QuickBooks)
    assert len(writes(qbo_emulator, "/customer")) == before["/customer"] + 1 + 3
    rows = us.client.query("SELECT * FROM Customer")
    assert len(rows) == 3 + 3 and len({" ".join(r["DisplayName"].lower().split()) for r in rows}) == 6


# ------------------------------------------------------------------------------ invoices

def test_us_invoice_with_line_discount_and_sales_tax_equals_odoo_to_the_cent(us):
    cust = created_customer(us)
    # 3 × 33.33 at 12.5 % off = 87.49 (Odoo rounds the line); a non-taxable fee; a section line
    lines = [documents.Line(description="Desks", display_type=documents.LINE_SECTION),
             line("33.33", 3, item="2", tax="2", discount="12.5"),
             line("2.50", 1, item="8", tax="NON", description="Card fee")]
    # NYC combined on 87.49: 4 % = 3.50, 4.875 % = 4.27 (each rate rounded once) → 7.77
    doc = invoice(cust, lines, "97.76", tax="7.77")
    r = one(us, base.KIND_INVOICE, doc)
    assert r.ok, r.message
    row = us.client.read("Invoice", r.remote_id)
    assert D(str(row["TotalAmt"])) == D("97.76") and D(str(row["TxnTaxDetail"]["TotalTax"])) == D("7.77")
    assert row["TxnTaxDetail"]["TxnTaxCodeRef"]["value"] == "2"
    sold = [li for li in row["Line"] if li.get("DetailType") == "SalesItemLineDetail"]
    assert D(str(sold[0]["Amount"])) == D("87.49") and "12.5% discount on 99.99" in sold[0]["Description"]
    assert [li["DetailType"] for li in row["Line"]].count("DescriptionOnly") == 1
    assert row["DocNumber"] == "INV/2026/0001" and row["DueDate"] == "2026-11-16"


def test_due_date_before_the_invoice_date_is_sent_as_the_invoice_date(us):
    # Odoo allows it (an invoice dated ahead of its computed due date); QuickBooks refuses it (6000)
    cust = created_customer(us)
    doc = invoice(cust, [line("100", 1, item="2", tax="NON")], "100", tax="0")
    doc = dataclasses.replace(doc, due_date=DAY - dt.timedelta(days=3))
    r = one(us, base.KIND_INVOICE, doc)
    assert r.ok, r.message
    assert us.client.read("Invoice", r.remote_id)["DueDate"] == DAY.isoformat()


def test_total_mismatch_is_a_validation_result_with_both_figures(us):
    cust = created_customer(us)
    doc = invoice(cust, [line("100", tax="2")], "108.87", tax="8.87")  # QBO makes 8.88
    r = one(us, base.KIND_INVOICE, doc)
    assert not r.ok and r.error_kind == base.VALIDATION
    assert "108.88" in r.message and "108.87" in r.message
    assert us.client.query("SELECT * FROM Invoice WHERE DocNumber = 'INV/2026/0001'") == []  # nothing sent


def test_uk_invoice_vat_codes_per_line(uk):
    cust = created_customer(uk)
    lines = [line("100", tax="2"), line("40", tax="3", item="4"), line("10", tax="4", item="8")]
    doc = invoice(cust, lines, "172.00", tax="22.00")  # 20 % of 100 + 5 % of 40
    doc.currency_code = "GBP"
    r = one(uk, base.KIND_INVOICE, doc)
    assert r.ok, r.message
    row = uk.client.read("Invoice", r.remote_id)
    codes = [li["SalesItemLineDetail"]["TaxCodeRef"]["value"] for li in row["Line"]
             if li.get("DetailType") == "SalesItemLineDetail"]
    assert codes == ["2", "3", "4"] and D(str(row["TotalAmt"])) == D("172.00")
    missing = invoice(cust, [line("100", tax="")], "120", number="INV/2026/0002")
    missing.currency_code = "GBP"  # (a USD document would be refused first: multicurrency is off)
    r2 = one(uk, base.KIND_INVOICE, missing)
    assert not r2.ok and r2.error_kind == base.MAPPING and "VAT code" in r2.message


def test_bad_item_id_names_the_mapping(us):
    cust = created_customer(us)
    doc = invoice(cust, [line("100", item="4242", tax="NON", mapping_source="product 'Locker'")], "100")
    r = one(us, base.KIND_INVOICE, doc)
    assert not r.ok and r.error_kind == base.VALIDATION and r.details["qbo_code"] == "2500"
    assert "fix the mapping of product 'Locker' (QuickBooks id 4242)" in r.message, r.message
    inactive = invoice(cust, [line("10", item="11", tax="NON")], "10", number="INV/2026/0003")
    r2 = one(us, base.KIND_INVOICE, inactive)
    assert not r2.ok and r2.details["qbo_code"] == "610" and "Item" in r2.message


def test_class_from_tracking_and_sparse_update_with_sync_token(us):
    cust = created_customer(us)
    li = line("100", tax="NON")
    li.tracking = [documents.Tracking(category="Class", option="Harbour")]
    doc = invoice(cust, [li], "100")
    r = one(us, base.KIND_INVOICE, doc)
    assert r.ok, r.message
    row = us.client.read("Invoice", r.remote_id)
    assert row["Line"][0]["SalesItemLineDetail"]["ClassRef"]["value"] == "2"
    doc.remote_id = r.remote_id
    doc.lines = [line("120", tax="NON")]
    doc.amount_total = doc.amount_untaxed = D("120")
    r2 = one(us, base.KIND_INVOICE, doc, attempt=1)
    assert r2.ok and r2.remote_id == r.remote_id
    assert int(us.client.read("Invoice", r.remote_id)["SyncToken"]) == int(row["SyncToken"]) + 1


def test_void_invoice(us):
    cust = created_customer(us)
    r = one(us, base.KIND_INVOICE, invoice(cust, [line("50", tax="NON")], "50"))
    doc = invoice(cust, [line("50", tax="NON")], "50")
    doc.remote_id = r.remote_id
    v = one(us, base.KIND_INVOICE, doc, op=base.OP_CANCEL)
    assert v.ok and v.remote_status == "VOIDED"
    row = us.client.read("Invoice", r.remote_id)
    assert D(str(row["TotalAmt"])) == 0 and row["DocNumber"] == "INV/2026/0001"
    assert us.remote_documents(base.KIND_INVOICE, [r.remote_id])[r.remote_id].status == "VOIDED"


# ------------------------------------------------------------------------------ payments and credits

def _pay(doc_id, amount, ref="PAY/0001", account="35"):
    return documents.Payment(ref=f"account.payment,{ref}:{doc_id}", document_ref="account.move,1",
                             document_kind=documents.KIND_INVOICE, document_remote_id=doc_id, amount=D(amount),
                             date=DAY, bank_account_code=account, reference=ref)


def test_first_sends_of_several_payments_read_their_invoices_once_and_go_in_one_batch_call(us, qbo_emulator):
    cust = created_customer(us)
    docs = [one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100", number=f"INV-P{n}"))
            for n in range(3)]
    pays = [_pay(d.remote_id, "40" if n == 0 else "100", ref=f"PAY/B{n}") for n, d in enumerate(docs)]
    pays.append(_pay(docs[0].remote_id, "60", ref="PAY/NOBANK", account=""))  # no bank account mapped
    pays.append(_pay(docs[1].remote_id, "500", ref="PAY/TOO-MUCH", account="4242"))  # no such account
    before = {route: len(writes(qbo_emulator, route)) for route in ("/batch", "/payment")}
    log = requests.get(qbo_emulator.base_url + "/__emulator__/requests").json()["requests"]
    reads_before = sum(1 for r in log if r["method"] == "GET")
    results = us.run([WorkItem(key=f"job-{p.reference}", kind=base.KIND_PAYMENT, operation=base.OP_UPSERT, obj=p)
                      for p in pays])
    log = requests.get(qbo_emulator.base_url + "/__emulator__/requests").json()["requests"]
    assert sum(1 for r in log if r["method"] == "GET") == reads_before + 1, "the invoices read by one query"
    assert len(writes(qbo_emulator, "/batch")) == before["/batch"] + 1
    assert len(writes(qbo_emulator, "/payment")) == before["/payment"], "none sent one by one"
    ok, no_bank, bad = results[:3], results[3], results[4]
    assert all(r.ok for r in ok), [r.message for r in ok]
    for r, p, d in zip(ok, pays, docs):
        row = us.client.read("Payment", r.remote_id)
        assert D(str(row["TotalAmt"])) == p.amount and row["PaymentRefNum"] == p.reference
        assert row["Line"][0]["LinkedTxn"][0]["TxnId"] == d.remote_id
    assert [D(str(us.client.read("Invoice", d.remote_id)["Balance"])) for d in docs] == [D(60), D(0), D(0)]
    assert not no_bank.ok and no_bank.error_kind == base.MAPPING  # never sent: the plain path's answer
    assert not bad.ok and bad.details["error_code"].startswith("qbo_") and "4242" in bad.message
    # the same payments again after a lost answer (maybe sent): looked up one by one, none twice
    again = us.run([WorkItem(key=f"job-{p.reference}", kind=base.KIND_PAYMENT, operation=base.OP_UPSERT, obj=p,
                             attempt=1) for p in pays[:3]])
    assert [r.remote_id for r in again] == [r.remote_id for r in ok]
    assert len(us.client.query("SELECT * FROM Payment")) == 3


def test_partial_payment_and_one_payment_over_two_invoices(us):
    cust = created_customer(us)
    a = one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100", number="INV-A"))
    b = one(us, base.KIND_INVOICE, invoice(cust, [line("60", tax="NON")], "60", number="INV-B"))
    part = one(us, base.KIND_PAYMENT, _pay(a.remote_id, "40"))
    assert part.ok, part.message
    assert D(str(us.client.read("Invoice", a.remote_id)["Balance"])) == D("60")
    # one host payment of 120 reconciling both: one item per invoice, same reference
    p1 = one(us, base.KIND_PAYMENT, _pay(a.remote_id, "60", ref="PAY/0002"))
    p2 = one(us, base.KIND_PAYMENT, _pay(b.remote_id, "60", ref="PAY/0002"))
    assert p1.ok and p2.ok and p1.remote_id != p2.remote_id
    docs = us.remote_documents(base.KIND_INVOICE, [a.remote_id, b.remote_id])
    assert docs[a.remote_id].amount_due == 0 and docs[b.remote_id].amount_due == 0
    assert docs[a.remote_id].status == "PAID"
    assert us.client.read("Payment", p1.remote_id)["DepositToAccountRef"]["value"] == "35"
    # a maybe-sent retry of the second finds it by PaymentRefNum + invoice, instead of paying twice
    again = one(us, base.KIND_PAYMENT, _pay(b.remote_id, "60", ref="PAY/0002"), attempt=1)
    assert again.ok and again.remote_id == p2.remote_id and again.details["found"]


def test_credit_memo_applied_to_invoice(us):
    cust = created_customer(us)
    inv = one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100"))
    cm = one(us, base.KIND_CREDIT_NOTE, invoice(cust, [line("30", tax="NON")], "30", number="RINV/0001",
                                                kind=documents.KIND_CREDIT_NOTE))
    assert inv.ok and cm.ok, (inv.message, cm.message)
    alloc = documents.Allocation(ref="alloc-1", credit_note_remote_id=cm.remote_id, invoice_remote_id=inv.remote_id,
                                 amount=D("30"), date=DAY)
    r = one(us, base.KIND_ALLOCATION, alloc)
    assert r.ok, r.message
    pay = us.client.read("Payment", r.remote_id)
    assert D(str(pay["TotalAmt"])) == 0
    assert D(str(us.client.read("Invoice", inv.remote_id)["Balance"])) == D("70")
    assert D(str(us.client.read("CreditMemo", cm.remote_id)["RemainingCredit"])) == 0
    again = one(us, base.KIND_ALLOCATION, alloc, attempt=1)
    assert again.remote_id == r.remote_id and again.details["found"]


def test_credit_memo_refund_uses_the_credit_up_and_cancels_cleanly(us):
    """A refund of a credit memo: the money leaves the bank once (an expense to A/R), the credit memo's
    remaining credit is used up, a maybe-sent retry finds both instead of refunding twice, and
    cancelling gives the credit back."""
    cust = created_customer(us)
    cm = one(us, base.KIND_CREDIT_NOTE, invoice(cust, [line("80", tax="NON")], "80", number="RINV/0002",
                                                kind=documents.KIND_CREDIT_NOTE))
    assert cm.ok, cm.message
    pay = _pay(cm.remote_id, "50", ref="RFND/0001")
    pay.document_kind = documents.KIND_CREDIT_NOTE
    r = one(us, base.KIND_PAYMENT, pay)
    assert r.ok, r.message
    expense = us.client.read("Purchase", r.remote_id)
    assert (D(str(expense["TotalAmt"])), expense["AccountRef"]["value"], expense["EntityRef"]["value"]) == (
        D("50"), "35", cust.remote_id)
    assert expense["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] == "4"  # A/R
    assert D(str(us.client.read("CreditMemo", cm.remote_id)["RemainingCredit"])) == D("30")
    again = one(us, base.KIND_PAYMENT, pay, attempt=1)
    assert again.ok and again.remote_id == r.remote_id and again.details["payment_id"] == r.details["payment_id"]
    assert len(us.client.query("SELECT * FROM Purchase WHERE DocNumber = 'RFND/0001'")) == 1
    cancel = one(us, base.KIND_PAYMENT, dataclasses.replace(pay, remote_id=r.remote_id), op=base.OP_CANCEL)
    assert cancel.ok and cancel.remote_status == "DELETED", cancel.message
    assert D(str(us.client.read("CreditMemo", cm.remote_id)["RemainingCredit"])) == D("80")
    assert us.client.query("SELECT * FROM Purchase WHERE DocNumber = 'RFND/0001'") == []


def test_refund_larger_than_the_credit_left_says_so_and_retry_links_it(us):
    cust = created_customer(us)
    cm = one(us, base.KIND_CREDIT_NOTE, invoice(cust, [line("20", tax="NON")], "20", number="RINV/0003",
                                                kind=documents.KIND_CREDIT_NOTE))
    pay = _pay(cm.remote_id, "25", ref="RFND/0002")
    pay.document_kind = documents.KIND_CREDIT_NOTE
    r = one(us, base.KIND_PAYMENT, pay)
    assert not r.ok and "refused to apply the refund to credit memo RINV/0003" in r.message, r.message
    assert "nothing was recorded" in r.message
    assert us.client.query("SELECT * FROM Purchase WHERE DocNumber = 'RFND/0002'") == []  # no half refund
    # the refund was for 20 after all (fixed in the host)
    fixed = one(us, base.KIND_PAYMENT, dataclasses.replace(pay, amount=D("20")), attempt=1)
    assert fixed.ok, fixed.message
    assert D(str(us.client.read("CreditMemo", cm.remote_id)["RemainingCredit"])) == 0
    assert len(us.client.query("SELECT * FROM Purchase WHERE DocNumber = 'RFND/0002'")) == 1


def _credit(contact_id, amount, ref="PAY/0009", currency="USD"):
    return documents.Overpayment(ref=f"coworks.xero.payment.link,{ref}", contact_remote_id=contact_id,
                                 amount=D(amount), date=DAY, bank_account_code="35", currency_code=currency,
                                 reference=ref, description=f"Customer credit: payment {ref}")


def _lines(prov, payment_id):
    row = prov.client.read("Payment", payment_id)
    return sorted((lt["TxnType"], lt["TxnId"], D(str(ln["Amount"]))) for ln in row.get("Line") or []
                  for lt in ln["LinkedTxn"]), D(str(row["UnappliedAmt"]))


def test_customer_credit_applied_repeatedly_paid_back_and_unapplied(us):
    cust = created_customer(us)
    credit = one(us, base.KIND_OVERPAYMENT, _credit(cust.remote_id, "500"))
    assert credit.ok, credit.message
    assert _lines(us, credit.remote_id) == ([], D("500"))
    inv = one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100", number="INV-C"))
    alloc = documents.CreditAllocation(ref="coworks.xero.payment.link,A1", credit_remote_id=credit.remote_id,
                                       invoice_remote_id=inv.remote_id, amount=D("60"), date=DAY)
    for _send in range(2):  # sent again after a lost answer: applied once
        r = one(us, base.KIND_OVERPAYMENT_ALLOCATION, alloc)
        assert r.ok and r.remote_id == f"{credit.remote_id}/{inv.remote_id}", r.message
    assert _lines(us, credit.remote_id) == ([("Invoice", inv.remote_id, D("60"))], D("440"))
    # a second allocation of the same credit to the same invoice adds to the first
    more = dataclasses.replace(alloc, ref="coworks.xero.payment.link,A2", amount=D("40"), others_on_invoice=D("60"))
    assert one(us, base.KIND_OVERPAYMENT_ALLOCATION, more).ok
    assert D(str(us.client.read("Invoice", inv.remote_id)["Balance"])) == D("0")
    refund = dataclasses.replace(_pay(credit.remote_id, "150", ref="PAY/0010"),
                                 document_kind=documents.KIND_OVERPAYMENT)
    r = one(us, base.KIND_OVERPAYMENT_REFUND, refund)
    assert r.ok, r.message
    expense = us.client.read("Purchase", r.remote_id)
    assert D(str(expense["TotalAmt"])) == D("150") and expense["AccountRef"]["value"] == "35"
    assert _lines(us, credit.remote_id) == (sorted([("Invoice", inv.remote_id, D("100")),
                                                    ("Expense", r.remote_id, D("150"))]), D("250"))
    # the first allocation removed (the second stays), twice: removed once
    gone = dataclasses.replace(alloc, remote_id=f"{credit.remote_id}/{inv.remote_id}", others_on_invoice=D("40"))
    for _send in range(2):
        assert one(us, base.KIND_OVERPAYMENT_ALLOCATION, gone, op=base.OP_CANCEL).ok
    assert D(str(us.client.read("Invoice", inv.remote_id)["Balance"])) == D("60")
    # the credit cannot be voided while it is applied; the refund undone, then it can
    void = dataclasses.replace(_credit(cust.remote_id, "500"), remote_id=credit.remote_id)
    refused = one(us, base.KIND_OVERPAYMENT, void, op=base.OP_CANCEL)
    assert not refused.ok and refused.error_kind == base.CONFLICT and inv.remote_id in refused.message
    assert one(us, base.KIND_OVERPAYMENT_REFUND, dataclasses.replace(refund, remote_id=r.remote_id),
               op=base.OP_CANCEL).ok
    assert one(us, base.KIND_OVERPAYMENT_ALLOCATION, dataclasses.replace(more, remote_id=gone.remote_id,
                                                                         others_on_invoice=D("0")),
               op=base.OP_CANCEL).ok
    voided = one(us, base.KIND_OVERPAYMENT, void, op=base.OP_CANCEL)
    assert voided.ok and voided.remote_status == "VOIDED"
    assert D(str(us.client.read("Invoice", inv.remote_id)["Balance"])) == D("100")


def test_customer_credit_sent_again_after_a_lost_answer_is_found(us, qbo_emulator):
    cust = created_customer(us)
    fault(qbo_emulator, kind="drop_after_write", route="POST /payment", count=1)
    first = one(us, base.KIND_OVERPAYMENT, _credit(cust.remote_id, "75"))  # asked again, same requestid
    assert first.ok and len(writes(qbo_emulator, "/payment")) == 2
    again = one(us, base.KIND_OVERPAYMENT, _credit(cust.remote_id, "75"), maybe_sent=True)
    assert again.ok and again.details.get("found") and again.remote_id == first.remote_id, again
    assert len(us.client.query("SELECT * FROM Payment")) == 1
    # another credit of the same number and amount (another host credit owns the first): a new one
    other = one(us, base.KIND_OVERPAYMENT, dataclasses.replace(_credit(cust.remote_id, "75"), ref="link,other",
                                                               known_remote_ids=(first.remote_id,)), maybe_sent=True)
    assert other.ok and other.remote_id != first.remote_id


def test_customer_credit_in_another_currency_or_unmapped_is_refused_readably(us):
    cust = created_customer(us)
    r = one(us, base.KIND_OVERPAYMENT, _credit(cust.remote_id, "10", currency="EUR"))
    assert not r.ok and r.details["error_code"] == "multicurrency_off" and "USD" in r.message
    r = one(us, base.KIND_OVERPAYMENT, dataclasses.replace(_credit(cust.remote_id, "10"), bank_account_code="",
                                                           account_source="journal 'Cash'"))
    assert not r.ok and r.error_kind == base.MAPPING and "journal 'Cash'" in r.message
    refund = dataclasses.replace(_pay("999", "10"), document_kind=documents.KIND_OVERPAYMENT)
    r = one(us, base.KIND_OVERPAYMENT_REFUND, refund)
    assert not r.ok and r.details["error_code"] == "credit_gone"


# ------------------------------------------------------------------------------ reference data

def test_fetch_reference_data_has_the_xero_stored_shape(us):
    data = us.fetch_reference_data()
    assert data["Organisation"]["BaseCurrency"] == "USD"
    accounts = {a["Code"]: a for a in data["Accounts"]}
    assert accounts["35"]["EnablePaymentsToAccount"] and accounts["35"]["Type"] == "Bank"
    assert accounts["88"]["Status"] == "ARCHIVED" and accounts["1"]["Status"] == "ACTIVE"
    assert set(accounts["1"]) == {"AccountID", "Code", "Name", "Type", "Class", "Status",
                                  "EnablePaymentsToAccount", "CurrencyCode"}
    items = {i["Code"]: i for i in data["Items"]}
    assert items["2"]["SalesDetails"] == {"AccountCode": "2", "UnitPrice": 350.0} and items["2"]["IsSold"]
    taxes = {t["TaxType"]: t for t in data["TaxRates"]}
    assert taxes["2"]["EffectiveRate"] == pytest.approx(8.875)
    [classes] = data["TrackingCategories"]
    assert classes["TrackingCategoryID"] == "class" and classes["Name"] == "Class"
    opts = {o["Name"]: o["Status"] for o in classes["Options"]}
    assert opts == {"Downtown": "ACTIVE", "Harbour": "ACTIVE", "Riverside": "ARCHIVED"}
    assert data["Currencies"] == [{"Code": "USD", "Description": "USD"}]


# ------------------------------------------------------------------------------ client calls and tokens

def test_batch_answers_per_bid_and_cdc_reports_changes(us):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    answers = us.client.batch([
        {"bId": "a", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
        {"bId": "b", "operation": "create", "Customer": {"DisplayName": "batch  one"}},  # duplicate name
    ], requestid="batch-test-1")
    assert answers["a"]["DisplayName"] == "Batch One"
    assert answers["b"].code == "6240" and answers["b"].kind == base.CONFLICT
    changed = us.client.cdc(["Customer"], before.isoformat())
    assert [c["Id"] for c in changed["Customer"]] == [answers["a"]["Id"]]
    with pytest.raises(ValueError):
        us.client.batch([{"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"N{n}"}}
                         for n in range(31)])


def test_concurrent_refresh_rotates_once(qbo_emulator):
    import threading

    client, store = _connect(qbo_emulator)
    twin = QboClient(_config(qbo_emulator), seed.REALM_US, store)
    fault(qbo_emulator, kind="expire_tokens", route="*", count=1)
    answers = []
    threads = [threading.Thread(target=lambda c=c: answers.append(c.read("CompanyInfo", seed.REALM_US)["Country"]))
               for c in (client, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == ["US", "US"]
    assert store.saves == 1  # the second waited for the lock and took the first one's tokens


def test_still_refused_after_refresh_is_reauth(qbo_emulator):
    client, _store = _connect(qbo_emulator)
    fault(qbo_emulator, kind="status", status=401, route="GET /companyinfo", count=2)
    with pytest.raises(ProviderError) as exc:
        client.read("CompanyInfo", seed.REALM_US)
    assert exc.value.kind == base.REAUTH


def test_payment_void_and_credit_memo_cancel_give_the_amounts_back(us):
    cust = created_customer(us)
    inv = one(us, base.KIND_INVOICE, invoice(cust, [line("100", tax="NON")], "100"))
    pay = _pay(inv.remote_id, "100")
    paid = one(us, base.KIND_PAYMENT, pay)
    pay.remote_id = paid.remote_id
    voided = one(us, base.KIND_PAYMENT, pay, op=base.OP_CANCEL)
    assert voided.ok and voided.remote_status == "VOIDED"
    assert D(str(us.client.read("Invoice", inv.remote_id)["Balance"])) == D("100")
    credit = invoice(cust, [line("30", tax="NON")], "30", number="RINV/0002", kind=documents.KIND_CREDIT_NOTE)
    cm = one(us, base.KIND_CREDIT_NOTE, credit)
    credit.remote_id = cm.remote_id
    gone = one(us, base.KIND_CREDIT_NOTE, credit, op=base.OP_CANCEL)
    assert gone.ok and gone.remote_status == "DELETED"
    assert us.remote_documents(base.KIND_CREDIT_NOTE, [cm.remote_id]) == {}


def test_invoice_body_reads_as_a_python_quickbooks_invoice(us):
    """The JSON we send has the shape of python-quickbooks' object model (the payloads follow it)."""
    from quickbooks.objects.invoice import Invoice

    from coworks_xero.services.qbo import payloads

    cust = created_customer(us)
    li = line("33.33", 3, tax="2", discount="12.5")
    body = payloads.document_body(invoice(cust, [li], "95.26", tax="7.77"), cust.remote_id, us.company_setup())
    parsed = Invoice.from_json(body)
    assert parsed.CustomerRef.value == cust.remote_id and parsed.DocNumber == "INV/2026/0001"
    assert parsed.TxnTaxDetail.TxnTaxCodeRef.value == "2"
    [sold] = parsed.Line
    assert sold.SalesItemLineDetail.ItemRef.value == "2" and sold.Amount == D("87.49")


def test_us_taxable_base_counts_every_taxable_line_whatever_their_order(us):
    cust = created_customer(us)
    # a line mapped to plain "TAX" before one naming the combined code: both are on the 2 (NYC) base
    lines = [line("50", tax="TAX"), line("50", tax="2", item="4"), line("10", tax="NON", item="8")]
    r = one(us, base.KIND_INVOICE, invoice(cust, lines, "118.88", tax="8.88"))
    assert r.ok, r.message
    row = us.client.read("Invoice", r.remote_id)
    assert D(str(row["TxnTaxDetail"]["TotalTax"])) == D("8.88")
    two_codes = [line("50", tax="2"), line("50", tax="3", item="4")]
    r2 = one(us, base.KIND_INVOICE, invoice(cust, two_codes, "108.63", number="INV/2026/0009"))
    assert not r2.ok and r2.error_kind == base.VALIDATION and "one tax code per document" in r2.message


def test_shared_limiter_refuses_before_calling_and_a_429_blocks_the_realm(qbo_emulator):
    from coworks_xero.services.qbo.client import qbo_limiter

    grant = requests.post(qbo_emulator.base_url + "/__emulator__/grant", json={"realm_id": seed.REALM_US}).json()
    limiter = qbo_limiter(minute_limit=2, max_wait=0)
    client = QboClient(_config(qbo_emulator), seed.REALM_US, InMemoryTokenStore(TokenSet.from_response(grant)),
                       limiter=limiter)
    client.read("CompanyInfo", seed.REALM_US)
    client.read("CompanyInfo", seed.REALM_US)
    calls = len(requests.get(qbo_emulator.base_url + "/__emulator__/requests").json()["requests"])
    with pytest.raises(ProviderError) as spent:
        client.read("CompanyInfo", seed.REALM_US)
    assert spent.value.rate_limited and spent.value.retry_after > 0
    assert calls == 2  # the refused third call never reached QuickBooks
    assert len(requests.get(qbo_emulator.base_url + "/__emulator__/requests").json()["requests"]) == calls
    # a 429 from QBO blocks the realm for Intuit's 60 s: the next call is refused here
    roomy = qbo_limiter(max_wait=0)
    client.limiter = roomy
    fault(qbo_emulator, kind="status", status=429, route="GET /companyinfo", count=1)
    with pytest.raises(ProviderError):
        client.read("CompanyInfo", seed.REALM_US)
    with pytest.raises(ProviderError) as blocked:
        client.read("CompanyInfo", seed.REALM_US)
    assert blocked.value.rate_limited and 55 < blocked.value.retry_after <= 60


def test_batch_requests_keep_to_intuits_batch_budget_before_calling(qbo_emulator):
    """Intuit allows 40 batch requests a minute per realm besides its 500 calls: a batch past that
    budget is refused here (a retryable rate limit, nothing sent), while single calls go on."""
    from coworks_xero.services.qbo.client import qbo_batch_limiter, qbo_limiter

    grant = requests.post(qbo_emulator.base_url + "/__emulator__/grant", json={"realm_id": seed.REALM_US}).json()
    realm_budget = qbo_limiter(max_wait=0)
    client = QboClient(_config(qbo_emulator), seed.REALM_US, InMemoryTokenStore(TokenSet.from_response(grant)),
                       limiter=realm_budget, batch_limiter=qbo_batch_limiter(minute_limit=2, max_wait=0))
    item = {"bId": "0", "operation": "create", "Customer": {"DisplayName": "Batch budget"}}
    client.batch([dict(item, Customer={"DisplayName": "Batch budget 1"})])
    client.batch([dict(item, Customer={"DisplayName": "Batch budget 2"})])
    sent = len(writes(qbo_emulator, "/batch"))
    with pytest.raises(ProviderError) as spent:
        client.batch([dict(item, Customer={"DisplayName": "Batch budget 3"})])
    assert spent.value.rate_limited and spent.value.retry_after > 0
    assert len(writes(qbo_emulator, "/batch")) == sent, "the refused batch never reached QuickBooks"
    held = realm_budget.stats(seed.REALM_US)
    assert held["in_flight"] == 0 and held["calls"] == 2, "the refused batch spent none of the realm's calls"
    assert client.read("CompanyInfo", seed.REALM_US)["Country"] == "US"  # a single call is not held up


def test_with_the_batch_budget_spent_first_sends_go_one_by_one_rather_than_wait(qbo_emulator):
    """Intuit's 40 batch requests of the minute are used: the run's next first sends go one by one
    within the realm's 500 calls instead of waiting out the minute (or being refused)."""
    from coworks_xero.services.qbo.client import qbo_batch_limiter, qbo_limiter

    grant = requests.post(qbo_emulator.base_url + "/__emulator__/grant", json={"realm_id": seed.REALM_US}).json()
    client = QboClient(_config(qbo_emulator), seed.REALM_US, InMemoryTokenStore(TokenSet.from_response(grant)),
                       limiter=qbo_limiter(max_wait=0), batch_limiter=qbo_batch_limiter(minute_limit=1, max_wait=0))
    prov = QboProvider(client)
    cust = created_customer(prov)
    items = lambda tag: [WorkItem(key=f"job-{tag}{n}", kind=base.KIND_INVOICE, operation=base.OP_UPSERT,  # noqa: E731
                                  obj=invoice(cust, [line("100", tax="NON")], "100", number=f"INV-{tag}{n}"))
                         for n in range(3)]
    assert all(r.ok for r in prov.run(items("A")))  # the minute's one batch request
    batches, singles = len(writes(qbo_emulator, "/batch")), len(writes(qbo_emulator, "/invoice"))
    results = prov.run(items("B"))
    assert all(r.ok for r in results), [r.message for r in results]
    assert len(writes(qbo_emulator, "/batch")) == batches and len(writes(qbo_emulator, "/invoice")) == singles + 3
    assert len(client.query("SELECT * FROM Invoice")) == 6


def test_void_of_a_paid_invoice_voids_our_own_payment_first(us):
    cust = created_customer(us)
    doc = invoice(cust, [line("100", tax="NON")], "100")
    inv = one(us, base.KIND_INVOICE, doc)
    paid = one(us, base.KIND_PAYMENT, _pay(inv.remote_id, "40"))
    doc.remote_id = inv.remote_id
    refused = one(us, base.KIND_INVOICE, doc, op=base.OP_CANCEL)
    assert not refused.ok and refused.details["qbo_code"] == "6000"  # not ours to remove: it blocks
    doc.remote_payment_ids = [paid.remote_id]
    v = one(us, base.KIND_INVOICE, doc, op=base.OP_CANCEL, attempt=1)
    assert v.ok and v.remote_status == "VOIDED", v.message
    assert D(str(us.client.read("Payment", paid.remote_id)["TotalAmt"])) == 0


def test_classes_come_from_the_stored_reference_data(us):
    stored = us.fetch_reference_data()
    prov = QboProvider(us.client, reference=stored)
    cust = created_customer(prov)
    li = line("10", tax="NON")
    li.tracking = [documents.Tracking(category="Class", option="Downtown")]
    r = one(prov, base.KIND_INVOICE, invoice(cust, [li], "10"))
    assert r.ok and us.client.read("Invoice", r.remote_id)["Line"][0]["SalesItemLineDetail"]["ClassRef"]["value"] == "1"
    gone = line("10", tax="NON")
    gone.tracking = [documents.Tracking(category="Class", option="Riverside", source="campus 'Riverside'")]
    r2 = one(prov, base.KIND_INVOICE, invoice(cust, [gone], "10", number="INV/2026/0002"))
    assert not r2.ok and r2.error_kind == base.MAPPING and "campus 'Riverside'" in r2.message


def test_access_token_about_to_expire_is_refreshed_before_the_call(qbo_emulator):
    client, store = _connect(qbo_emulator)
    tokens = store.load()
    tokens.expires_at = 0  # as stored an hour ago
    store.save(tokens)
    assert client.read("CompanyInfo", seed.REALM_US)["Country"] == "US"
    log = requests.get(qbo_emulator.base_url + "/__emulator__/requests").json()["requests"]
    assert [r["status"] for r in log if "/v3/" in r["path"]] == [200]  # no 401 first
    assert store.load().expires_at > 0 and store.load().refresh_token != tokens.refresh_token


def test_first_sends_of_several_invoices_go_in_one_batch_call_each_with_its_own_result(us, qbo_emulator):
    cust = created_customer(us)
    docs = [invoice(cust, [line("100", tax="NON")], "100", number=f"INV-B{n}") for n in range(3)]
    docs.append(invoice(cust, [line("50", item="4242", tax="NON")], "50", number="INV-BAD"))  # no such item
    before_batch, before_one = len(writes(qbo_emulator, "/batch")), len(writes(qbo_emulator, "/invoice"))
    results = us.run([WorkItem(key=f"job-{d.number}", kind=base.KIND_INVOICE, operation=base.OP_UPSERT, obj=d)
                      for d in docs])
    assert len(writes(qbo_emulator, "/batch")) == before_batch + 1
    assert len(writes(qbo_emulator, "/invoice")) == before_one, "none sent one by one"
    ok, bad = results[:3], results[3]
    assert all(r.ok for r in ok), [r.message for r in ok]
    assert len({r.remote_id for r in ok}) == 3
    for r, d in zip(ok, docs):
        row = us.client.read("Invoice", r.remote_id)
        assert row["DocNumber"] == d.number and D(str(row["TotalAmt"])) == D("100")
    assert not bad.ok and bad.details["error_code"].startswith("qbo_") and "4242" in bad.message
    # the same documents again after a lost answer (maybe sent): looked up one by one, none twice
    again = us.run([WorkItem(key=f"job-{d.number}", kind=base.KIND_INVOICE, operation=base.OP_UPSERT, obj=d,
                             attempt=1) for d in docs[:3]])
    assert [r.remote_id for r in again] == [r.remote_id for r in ok]
    assert len(us.client.query("SELECT * FROM Invoice")) == 3


def _company_reads(srv):
    log = requests.get(srv.base_url + "/__emulator__/requests").json()["requests"]
    return sum(1 for r in log if r["route"] == "GET /companyinfo"
               or any(name in (r.get("query") or "") for name in ("TaxRate", "TaxCode", "Preferences")))


def test_a_run_reuses_the_company_reads_of_the_last_minute_and_a_sign_of_change_drops_them(us, qbo_emulator,
                                                                                           monkeypatch):
    """The engine makes a provider a run: the next runs within COMPANY_TTL send their documents
    without reading CompanyInfo, the tax codes and Preferences again (four requests before each
    real-time document); a foreign document refused for multicurrency off, a refresh of the
    reference data or the TTL make the next run read them again: past COMPANY_TTL after its
    documents (they do not wait for it), past COMPANY_MAX_AGE before them."""
    from coworks_xero.services.qbo import provider as qbo_provider
    cust = created_customer(us)
    doc = lambda n: invoice(cust, [line("100", tax="NON")], "100", number=f"INV-C{n}")  # noqa: E731
    assert one(us, base.KIND_INVOICE, doc(1)).ok
    read = _company_reads(qbo_emulator)
    assert read >= 3
    assert one(QboProvider(us.client), base.KIND_INVOICE, doc(2)).ok
    assert _company_reads(qbo_emulator) == read, "the next run read the company again"
    refused = one(QboProvider(us.client), base.KIND_INVOICE, _eur(doc(3)))
    assert refused.details["error_code"] == "multicurrency_off"
    read = _company_reads(qbo_emulator)
    _multicurrency(qbo_emulator)  # what the error tells the user to do; then Retry
    again = one(QboProvider(us.client), base.KIND_INVOICE, _eur(doc(3)))
    assert again.ok, again.message
    assert _company_reads(qbo_emulator) > read
    read = _company_reads(qbo_emulator)
    QboProvider(us.client).fetch_reference_data()  # Refresh in Odoo
    read = _company_reads(qbo_emulator)
    assert one(QboProvider(us.client), base.KIND_INVOICE, doc(4)).ok
    assert _company_reads(qbo_emulator) > read, "a refresh makes the next run read the company again"
    read = _company_reads(qbo_emulator)
    monkeypatch.setattr(qbo_provider, "COMPANY_TTL", 0.0)
    requests.delete(qbo_emulator.base_url + "/__emulator__/requests")
    assert one(QboProvider(us.client), base.KIND_INVOICE, doc(5)).ok
    order = _routes(qbo_emulator)
    assert order.index("POST /invoice") < order.index("company") and order.count("company") >= 3, (
        "past the TTL the document goes first, with what was read, and the company is read again after it")
    monkeypatch.setattr(qbo_provider, "COMPANY_MAX_AGE", 0.0)
    requests.delete(qbo_emulator.base_url + "/__emulator__/requests")
    assert one(QboProvider(us.client), base.KIND_INVOICE, doc(6)).ok
    order = _routes(qbo_emulator)
    assert order[-1] == "POST /invoice" and order.count("company") >= 3, (
        "past the longest age the company is read before the document, and not again after it")


def _routes(srv):
    """The routes of the requests so far, the company reads (see _company_reads) as 'company'."""
    return ["company" if r["route"] == "GET /companyinfo"
            or any(name in (r.get("query") or "") for name in ("TaxRate", "TaxCode", "Preferences")) else r["route"]
            for r in requests.get(srv.base_url + "/__emulator__/requests").json()["requests"]]


# ------------------------------------------------------------------------------ foreign currency

def _multicurrency(srv, realm=seed.REALM_US):
    r = requests.post(srv.base_url + "/__emulator__/multicurrency", json={"realm": realm})
    assert r.status_code == 200, r.text


def _eur(doc, rate="0.925"):
    doc.currency_code, doc.currency_rate = "EUR", D(rate)  # Odoo: EUR per one USD
    return doc


def test_foreign_invoice_needs_multicurrency_read_once(us, qbo_emulator):
    cust = created_customer(us)
    docs = [_eur(invoice(cust, [line("100", tax="NON")], "100", number=f"INV-E{n}")) for n in (1, 2)]
    results = us.run([WorkItem(key=f"job-{d.number}", kind=base.KIND_INVOICE, operation=base.OP_UPSERT, obj=d)
                      for d in docs])
    for r in results:
        assert not r.ok and r.error_kind == base.VALIDATION and r.details["error_code"] == "multicurrency_off"
        assert "Settings > Account and settings > Advanced > Currency" in r.message and "EUR" in r.message
    log = requests.get(qbo_emulator.base_url + "/__emulator__/requests").json()["requests"]
    assert sum("Preferences" in (q.get("query") or "") for q in log) == 1  # once per provider
    assert us.client.query("SELECT * FROM Invoice") == []
    # a credit in EUR likewise
    r = one(us, base.KIND_OVERPAYMENT, _credit(cust.remote_id, "10", currency="EUR"))
    assert not r.ok and r.details["error_code"] == "multicurrency_off"


def test_foreign_invoice_payment_and_drift_on_the_currency_customer(us, qbo_emulator):
    cust = created_customer(us)
    _multicurrency(qbo_emulator)
    prov = QboProvider(us.client)  # a new run reads the switch again
    doc = _eur(invoice(cust, [line("99.99", tax="NON"), line("0.02", tax="NON", item="4")], "100.01"))
    r = one(prov, base.KIND_INVOICE, doc)
    assert r.ok, r.message
    row = prov.client.read("Invoice", r.remote_id)
    assert row["CurrencyRef"]["value"] == "EUR" and D(str(row["TotalAmt"])) == D("100.01")
    assert D(str(row["ExchangeRate"])) == D("1.081081")  # 1 / 0.925: USD per one EUR
    assert D(str(row["HomeTotalAmt"])) == D("108.12")
    eur_cust = prov.client.read("Customer", row["CustomerRef"]["value"])
    assert eur_cust["Id"] != cust.remote_id and eur_cust["DisplayName"] == "Blue Door Studio (EUR)"
    assert eur_cust["CurrencyRef"]["value"] == "EUR" and eur_cust["PrimaryEmailAddr"]["Address"] == "hi@bluedoor.test"
    # a second document uses the same currency customer: found by a query in a new provider, cached in one
    doc2 = _eur(invoice(cust, [line("50", tax="NON")], "50", number="INV/2026/0002"))
    other = QboProvider(us.client)
    r2 = one(other, base.KIND_INVOICE, doc2)
    assert r2.ok and other.client.read("Invoice", r2.remote_id)["CustomerRef"]["value"] == eur_cust["Id"]
    assert len(other.client.query("SELECT * FROM Customer")) == 2
    # a home-currency document stays on the customer itself
    r3 = one(other, base.KIND_INVOICE, invoice(cust, [line("10", tax="NON")], "10", number="INV/2026/0003"))
    assert other.client.read("Invoice", r3.remote_id)["CustomerRef"]["value"] == cust.remote_id
    # the payment: in EUR, Odoo's rate inverted, the invoice paid
    pay = dataclasses.replace(_pay(r.remote_id, "100.01"), currency_rate=D("0.9"))
    p = one(other, base.KIND_PAYMENT, pay)
    assert p.ok, p.message
    prow = other.client.read("Payment", p.remote_id)
    assert prow["CurrencyRef"]["value"] == "EUR" and D(str(prow["ExchangeRate"])) == D("1.111111")
    assert D(str(other.client.read("Invoice", r.remote_id)["Balance"])) == 0
    # drift and inbound name the Odoo customer's own QuickBooks id
    remote = other.remote_documents(base.KIND_INVOICE, [r.remote_id])[r.remote_id.lower()]
    assert remote.contact_id == cust.remote_id and remote.currency_code == "EUR" and remote.total == D("100.01")
    from coworks_xero.services.qbo.inbound import QboInbound
    [seen] = QboInbound(us.client).documents(invoice_ids=[r.remote_id])
    assert seen.contact_id == cust.remote_id and seen.amount_due == 0


def test_foreign_credit_memo_allocation_and_customer_credit(us, qbo_emulator):
    cust = created_customer(us)
    _multicurrency(qbo_emulator)
    inv = one(us, base.KIND_INVOICE, _eur(invoice(cust, [line("100", tax="NON")], "100", number="INV-C1")))
    cm = one(us, base.KIND_CREDIT_NOTE, _eur(invoice(cust, [line("30", tax="NON")], "30", number="CN-1",
                                                     kind=documents.KIND_CREDIT_NOTE)))
    assert inv.ok and cm.ok, (inv.message, cm.message)
    memo = us.client.read("CreditMemo", cm.remote_id)
    assert memo["CurrencyRef"]["value"] == "EUR" and D(str(memo["HomeTotalAmt"])) == D("32.43")
    alloc = documents.Allocation(ref="alloc,1", credit_note_remote_id=cm.remote_id, invoice_remote_id=inv.remote_id,
                                 amount=D("30"), date=DAY)
    a = one(us, base.KIND_ALLOCATION, alloc)
    assert a.ok, a.message
    assert D(str(us.client.read("Invoice", inv.remote_id)["Balance"])) == D("70")
    credit = dataclasses.replace(_credit(cust.remote_id, "15", currency="EUR"), currency_rate=D("0.925"))
    c = one(us, base.KIND_OVERPAYMENT, credit)
    assert c.ok, c.message
    crow = us.client.read("Payment", c.remote_id)
    assert crow["CurrencyRef"]["value"] == "EUR" and D(str(crow["UnappliedAmt"])) == 15
    assert crow["CustomerRef"]["value"] == memo["CustomerRef"]["value"] != cust.remote_id
    again = one(us, base.KIND_OVERPAYMENT, credit, maybe_sent=True)
    assert again.ok and again.remote_id == c.remote_id  # found on the currency customer


def test_foreign_documents_of_one_run_share_one_currency_customer(us, qbo_emulator):
    cust = created_customer(us)
    _multicurrency(qbo_emulator)
    prov = QboProvider(us.client)
    docs = [_eur(invoice(cust, [line("10", tax="NON")], "10", number=f"INV-R{n}")) for n in range(3)]
    results = prov.run([WorkItem(key=f"job-{d.number}", kind=base.KIND_INVOICE, operation=base.OP_UPSERT, obj=d)
                        for d in docs])
    assert all(r.ok for r in results), [r.message for r in results]
    customers = prov.client.query("SELECT * FROM Customer")
    assert sorted(c["DisplayName"] for c in customers) == ["Blue Door Studio", "Blue Door Studio (EUR)"]
    assert len(writes(qbo_emulator, "/customer")) == 2  # the home customer, then its EUR copy once
    # another customer already holds the name "<name> (EUR)": ours is told apart by the home id
    other = created_customer(us, name="Harbour Loft", email="h@loft.test")
    us.client.create("Customer", {"DisplayName": "Harbour Loft (EUR)"})
    r = one(QboProvider(us.client), base.KIND_INVOICE,
            _eur(invoice(other, [line("10", tax="NON")], "10", number="INV-H1")))
    assert r.ok, r.message
    row = us.client.read("Customer", us.client.read("Invoice", r.remote_id)["CustomerRef"]["value"])
    assert row["DisplayName"] == f"Harbour Loft #{other.remote_id} (EUR)" and row["CurrencyRef"]["value"] == "EUR"
    again = one(QboProvider(us.client), base.KIND_INVOICE,
                _eur(invoice(other, [line("10", tax="NON")], "10", number="INV-H2")))
    assert us.client.read("Invoice", again.remote_id)["CustomerRef"]["value"] == row["Id"]


def test_foreign_credit_memo_refund_in_its_currency(us, qbo_emulator):
    cust = created_customer(us)
    _multicurrency(qbo_emulator)
    cm = one(us, base.KIND_CREDIT_NOTE, _eur(invoice(cust, [line("80", tax="NON")], "80", number="RINV/E1",
                                                     kind=documents.KIND_CREDIT_NOTE)))
    assert cm.ok, cm.message
    pay = dataclasses.replace(_pay(cm.remote_id, "50", ref="RFND/E1"), document_kind=documents.KIND_CREDIT_NOTE,
                              currency_rate=D("0.8"))
    r = one(us, base.KIND_PAYMENT, pay)
    assert r.ok, r.message
    expense = us.client.read("Purchase", r.remote_id)
    assert expense["CurrencyRef"]["value"] == "EUR" and D(str(expense["ExchangeRate"])) == D("1.25")
    assert D(str(expense["HomeTotalAmt"])) == D("62.50")
    memo = us.client.read("CreditMemo", cm.remote_id)
    assert expense["EntityRef"]["value"] == memo["CustomerRef"]["value"] != cust.remote_id
    assert D(str(memo["RemainingCredit"])) == D("30")
    link = us.client.read("Payment", r.details["payment_id"])
    assert link["CurrencyRef"]["value"] == "EUR"

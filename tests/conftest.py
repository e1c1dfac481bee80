"""Shared pytest fixtures for the pure-Python suite (no Odoo)."""
from __future__ import annotations

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from xero_emulator import EmulatorServer  # noqa: E402


@pytest.fixture(scope="session")
def _emulator_server():
    srv = EmulatorServer(host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def emulator(_emulator_server):
    """A running EmulatorServer (one per session), reset to the seeded state for each test."""
    _emulator_server.app.reset()
    yield _emulator_server


class XeroHTTP:
    """Plain-requests helper for emulator tests: one grant, one tenant, JSON in and out."""

    def __init__(self, srv, tenant=None, scopes=None):
        import requests

        from xero_emulator.seed import TENANT_AU

        self.srv = srv
        self.base = srv.base_url
        self.session = requests.Session()
        self.tenant = tenant or TENANT_AU
        body = {"tenant_ids": [self.tenant]} if tenant is not False else {}
        if scopes:
            body["scopes"] = scopes
        self.tokens = self.session.post(self.base + "/__emulator__/grant", json=body).json()

    def headers(self, **extra):
        h = {"Authorization": "Bearer " + self.tokens["access_token"], "xero-tenant-id": self.tenant,
             "Accept": "application/json"}
        h.update(extra)
        return h

    def call(self, method, path, json=None, params=None, headers=None, **kw):
        h = self.headers()
        h.update(headers or {})
        return self.session.request(method, self.base + "/api.xro/2.0" + path, json=json, params=params,
                                    headers=h, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def put(self, path, json=None, **kw):
        return self.call("PUT", path, json=json, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def control(self, method, name, json=None, params=None):
        return self.session.request(method, self.base + "/__emulator__/" + name, json=json, params=params)

    # shortcuts -------------------------------------------------------------------------------
    def contact(self, name="ACME Coworking Ltd", **fields):
        r = self.put("/Contacts", json={"Contacts": [dict(Name=name, **fields)]})
        assert r.status_code == 200, r.text
        return r.json()["Contacts"][0]

    def invoice(self, contact_id, lines=None, status="AUTHORISED", expect=200, params=None, **fields):
        lines = lines or [{"Description": "Hot desk", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200",
                           "TaxType": "OUTPUT"}]
        inv = dict(Type="ACCREC", Contact={"ContactID": contact_id}, Date="2024-05-01", DueDate="2024-05-15",
                   Status=status, LineItems=lines)
        inv.update(fields)
        r = self.put("/Invoices", json={"Invoices": [inv]}, params=params)
        assert r.status_code == expect, r.text
        return r.json()["Invoices"][0] if expect == 200 else r.json()

    def credit_note(self, contact_id, amount=50, status="AUTHORISED", **fields):
        cn = dict(Type="ACCRECCREDIT", Contact={"ContactID": contact_id}, Date="2024-05-02", Status=status,
                  LineItems=[{"Description": "Refund", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200",
                              "TaxType": "OUTPUT"}])
        cn.update(fields)
        r = self.put("/CreditNotes", json={"CreditNotes": [cn]})
        assert r.status_code == 200, r.text
        return r.json()["CreditNotes"][0]

    def pay(self, invoice_id, amount, account="090", date="2024-05-03", **fields):
        return self.put("/Payments", json={"Payments": [dict(Invoice={"InvoiceID": invoice_id},
                                                              Account={"Code": account}, Date=date, Amount=amount,
                                                              **fields)]})


def errors_of(resp):
    """All ValidationErrors messages in a Xero 400 or summarizeErrors=false response."""
    body = resp.json()
    out = []
    for key in ("Elements", "Invoices", "Contacts", "CreditNotes", "Payments", "Allocations", "Items"):
        for el in body.get(key) or []:
            out.extend(e["Message"] for e in el.get("ValidationErrors") or [])
    return out


@pytest.fixture
def xero(emulator):
    return XeroHTTP(emulator)


# ------------------------------------------------------------------------------ QuickBooks Online emulator

@pytest.fixture(scope="session")
def _qbo_server():
    from qbo_emulator import EmulatorServer as QBOServer

    srv = QBOServer(host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def qbo_emulator(_qbo_server):
    """A running qbo_emulator server (one per session), reset to the seeded companies for each test
    (and the provider's reads of them forgotten)."""
    from coworks_xero.services.qbo.provider import forget_companies
    _qbo_server.app.reset()
    forget_companies()
    yield _qbo_server


class QBOHTTP:
    """Plain-requests helper for QBO emulator tests: one grant for one realm, JSON in and out."""

    def __init__(self, srv, realm=None):
        import requests

        from qbo_emulator.seed import REALM_US

        self.srv = srv
        self.base = srv.base_url
        self.realm = realm or REALM_US
        self.session = requests.Session()
        self.tokens = self.session.post(self.base + "/__emulator__/grant", json={"realm_id": self.realm}).json()

    def url(self, path):
        return f"{self.base}/v3/company/{self.realm}/{path.lstrip('/')}"

    def headers(self):
        return {"Authorization": "Bearer " + self.tokens["access_token"], "Accept": "application/json"}

    def get(self, path, **kw):
        return self.session.get(self.url(path), headers=self.headers(), **kw)

    def post(self, path, json=None, **kw):
        import json as _json
        from decimal import Decimal

        def _num(o):
            if isinstance(o, Decimal):
                return float(o)
            raise TypeError(type(o).__name__)

        headers = dict(self.headers(), **{"Content-Type": "application/json"})
        data = _json.dumps(json, default=_num) if json is not None else None
        return self.session.post(self.url(path), data=data, headers=headers, **kw)

    def query(self, text):
        r = self.get("query", params={"query": text})
        assert r.status_code == 200, r.text
        return r.json()["QueryResponse"]

    def control(self, method, name, json=None, params=None):
        return self.session.request(method, self.base + "/__emulator__/" + name, json=json, params=params)

    def create(self, entity, body, expect=200):
        r = self.post(entity.lower(), json=body)
        assert r.status_code == expect, r.text
        return r.json()[entity] if expect == 200 else r.json()

    def customer(self, name="ACME Coworking LLC", **fields):
        return self.create("Customer", dict(DisplayName=name, **fields))

    def invoice(self, customer_id, lines=None, expect=200, **fields):
        lines = lines or [{"DetailType": "SalesItemLineDetail", "Amount": 100, "SalesItemLineDetail": {
            "ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 100, "TaxCodeRef": {"value": "TAX"}}}]
        body = dict(CustomerRef={"value": customer_id}, TxnDate="2026-11-02", Line=lines)
        body.update(fields)
        return self.create("Invoice", body, expect)


def qbo_errors(resp):
    """[(code, Message, element)] of an Intuit Fault answer."""
    fault = resp.json().get("Fault") or {}
    return [(e.get("code"), e.get("Message"), e.get("element")) for e in fault.get("Error") or []]


@pytest.fixture
def qbo(qbo_emulator):
    return QBOHTTP(qbo_emulator)

"""Emulator: spec validation, auth, rate limits, idempotency, faults, request log, control endpoints."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import XeroHTTP, errors_of

from xero_emulator import EmulatorServer
from xero_emulator.seed import TENANT_AU, TENANT_UK


# ------------------------------------------------------------------------------ spec validation
@pytest.mark.parametrize("body, needle", [
    ({"Contacts": [{"Name": 123}]}, "Contacts[0].Name: expected string"),
    ({"Contacts": [{"Name": "x", "ContactStatus": "DORMANT"}]}, "Contacts[0].ContactStatus: 'DORMANT' is not one of"),
    ({"Contacts": [{"Name": "x" * 256}]}, "longer than 255"),
    ({"Contacts": [{"Name": "x", "ContactID": "not-a-guid"}]}, "is not a valid uuid"),
    ({"Contacts": [{"Name": None}]}, "null is not allowed"),
    ({"Contacts": {"Name": "x"}}, "Contacts: expected array"),
])
def test_spec_invalid_contact_bodies(xero, body, needle):
    r = xero.put("/Contacts", json=body)
    assert r.status_code == 400
    assert r.json()["Type"] == "ValidationException" and r.json()["ErrorNumber"] == 10
    assert any(needle in m for m in errors_of(r)), errors_of(r)
    assert xero.get("/Contacts").json()["Contacts"] == []


@pytest.mark.parametrize("mutate, needle", [
    (lambda i: i.update(Type="ACCRECX"), "Invoices[0].Type"),
    (lambda i: i["LineItems"][0].update(Quantity="1"), "Invoices[0].LineItems[0].Quantity: expected number"),
    (lambda i: i.update(LineAmountTypes="Gross"), "LineAmountTypes"),
    (lambda i: i.update(Status="APPROVED"), "Invoices[0].Status"),
    (lambda i: i["LineItems"][0].update(Tracking={"Name": "Campus"}), "Tracking: expected array"),
    (lambda i: i.update(SentToContact="yes"), "SentToContact: expected boolean"),
])
def test_spec_invalid_invoice_bodies(xero, mutate, needle):
    c = xero.contact()
    inv = {"Type": "ACCREC", "Contact": {"ContactID": c["ContactID"]},
           "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}]}
    mutate(inv)
    r = xero.put("/Invoices", json={"Invoices": [inv]}, params={"summarizeErrors": "false"})
    assert r.status_code == 400 and r.json()["Type"] == "ValidationException"
    assert any(needle in m for m in errors_of(r)), errors_of(r)


def test_spec_required_and_params(xero):
    c = xero.contact()
    cn = xero.credit_note(c["ContactID"])
    r = xero.put(f"/CreditNotes/{cn['CreditNoteID']}/Allocations", json={"Allocations": [{"Amount": 1}]})
    assert r.status_code == 400
    assert {"Allocations[0].Invoice: is required", "Allocations[0].Date: is required"} <= set(errors_of(r))
    assert xero.get("/Invoices", params={"page": "one"}).status_code == 400
    assert xero.put("/Contacts", json={"Contacts": []}, params={"summarizeErrors": "maybe"}).status_code == 400
    assert xero.get("/Invoices/not-a-guid").status_code == 400
    r = xero.call("PUT", "/Contacts", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["Type"] == "PostDataInvalidException"
    assert xero.put("/Contacts", json={"Contacts": [{"Name": "ok"}]},
                    headers={"Idempotency-Key": "k" * 129}).status_code == 400


def test_unknown_and_unimplemented_routes(xero):
    assert xero.get("/NoSuchThing").status_code == 404
    assert xero.get("/ManualJournals").status_code == 501


# ------------------------------------------------------------------------------ auth
def test_auth_required(emulator, xero):
    base = emulator.base_url + "/api.xro/2.0/Contacts"
    r = requests.get(base, headers={"xero-tenant-id": TENANT_AU})
    assert r.status_code == 401 and r.json()["Title"] == "Unauthorized"
    r = requests.get(base, headers={"Authorization": "Bearer nope", "xero-tenant-id": TENANT_AU})
    assert r.status_code == 401
    # the grant covers AU only: UK and unknown tenants are forbidden
    for tenant in (TENANT_UK, "00000000-0000-0000-0000-000000000000", ""):
        r = requests.get(base, headers={"Authorization": "Bearer " + xero.tokens["access_token"],
                                        "xero-tenant-id": tenant})
        assert r.status_code == 403
        assert r.json() == {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful",
                            "Instance": "", "Extensions": {}}


def test_token_expiry_on_emulator_clock(xero):
    assert xero.get("/Contacts").status_code == 200
    xero.control("POST", "clock", {"advance": 1801})
    r = xero.get("/Contacts")
    assert r.status_code == 401
    body = r.json()
    assert (body["Type"], body["Title"], body["Status"]) == (None, "Unauthorized", 401)
    assert body["Detail"].startswith("TokenExpired: token expired at ")


def test_scope_enforced(emulator):
    ro = XeroHTTP(emulator, scopes="offline_access accounting.contacts.read")
    assert ro.get("/Contacts").status_code == 200
    assert ro.put("/Contacts", json={"Contacts": [{"Name": "x"}]}).status_code == 403
    assert ro.get("/Invoices").status_code == 403
    granular = XeroHTTP(emulator, scopes="offline_access accounting.invoices accounting.contacts")
    c = granular.contact()
    assert granular.invoice(c["ContactID"])
    assert granular.get("/Payments").status_code == 403


# ------------------------------------------------------------------------------ rate limits
def test_rate_limit_headers_and_minute_429(xero):
    r = xero.get("/Contacts")
    assert r.headers["X-MinLimit-Remaining"] == "59"
    assert r.headers["X-DayLimit-Remaining"] == "4999"
    assert r.headers["X-AppMinLimit-Remaining"] == "9999"
    xero.control("POST", "clock", {"scale": 10})      # ten emulator seconds per real second
    for _ in range(59):
        assert xero.get("/Contacts").status_code == 200
    r = xero.get("/Contacts")
    assert r.status_code == 429
    assert r.headers["X-Rate-Limit-Problem"] == "minute"
    assert r.headers["X-MinLimit-Remaining"] == "0"
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 6                              # < 60 emulator seconds = 6 real seconds at scale 10
    xero.control("POST", "clock", {"advance": 60})
    assert xero.get("/Contacts").status_code == 200


def test_day_and_app_limits(emulator, xero):
    xero.control("POST", "limits", {"day": 3})
    for _ in range(3):
        assert xero.get("/Contacts").status_code == 200
    r = xero.get("/Contacts")
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "day"
    assert int(r.headers["Retry-After"]) > 80000        # scale 1: a day in real seconds
    xero.control("POST", "limits", {"day": 5000, "app_minute": 5})
    uk = XeroHTTP(emulator, tenant=TENANT_UK)
    codes = [uk.get("/Contacts").status_code for _ in range(3)]
    assert codes[-1] == 429


def test_concurrent_limit(xero):
    xero.control("POST", "faults", {"route": "GET /Contacts", "kind": "latency", "seconds": 0.6, "count": 5})
    results = []

    def call():
        results.append(requests.get(xero.base + "/api.xro/2.0/Contacts", headers=xero.headers()))

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.25)
    r = xero.get("/Contacts")
    for t in threads:
        t.join()
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert [x.status_code for x in results] == [200] * 5


# ------------------------------------------------------------------------------ idempotency
def test_idempotent_replay(xero):
    c = xero.contact()
    body = {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": c["ContactID"]},
                          "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}]}
    r1 = xero.put("/Invoices", json=body, headers={"Idempotency-Key": "job-42-create"})
    r2 = xero.put("/Invoices", json=body, headers={"Idempotency-Key": "job-42-create"})
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()
    assert len(xero.get("/Invoices").json()["Invoices"]) == 1
    # a different request under the same key is refused
    body["Invoices"][0]["Reference"] = "other"
    assert xero.put("/Invoices", json=body, headers={"Idempotency-Key": "job-42-create"}).status_code == 400
    # keys are per tenant and a new key creates again
    assert xero.put("/Invoices", json=body, headers={"Idempotency-Key": "job-43-create"}).status_code == 200
    assert len(xero.get("/Invoices").json()["Invoices"]) == 2


def test_idempotent_replay_of_error(xero):
    r1 = xero.put("/Contacts", json={"Contacts": [{"FirstName": "x"}]}, headers={"Idempotency-Key": "k1"})
    r2 = xero.put("/Contacts", json={"Contacts": [{"FirstName": "x"}]}, headers={"Idempotency-Key": "k1"})
    assert r1.status_code == r2.status_code == 400 and r1.content == r2.content


# ------------------------------------------------------------------------------ faults
def test_fault_status_n_times(xero):
    xero.control("POST", "faults", {"route": "PUT /Contacts", "kind": "status", "status": 503, "count": 2})
    assert xero.put("/Contacts", json={"Contacts": [{"Name": "a"}]}).status_code == 503
    assert xero.put("/Contacts", json={"Contacts": [{"Name": "a"}]}).status_code == 503
    assert xero.put("/Contacts", json={"Contacts": [{"Name": "a"}]}).status_code == 200
    xero.control("POST", "faults", {"route": "*", "kind": "status", "status": 500})
    r = xero.get("/Invoices")
    assert r.status_code == 500
    assert xero.get("/Invoices").status_code == 200


def test_fault_drop_after_write_then_idempotent_retry(xero):
    c = xero.contact()
    xero.control("POST", "faults", {"route": "PUT /Invoices", "kind": "drop_after_write"})
    body = {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": c["ContactID"]},
                          "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}]}
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.put(xero.base + "/api.xro/2.0/Invoices", json=body, headers=xero.headers(**{"Idempotency-Key": "k"}))
    assert len(xero.get("/Invoices").json()["Invoices"]) == 1      # the write was applied
    r = xero.put("/Invoices", json=body, headers={"Idempotency-Key": "k"})
    assert r.status_code == 200
    assert len(xero.get("/Invoices").json()["Invoices"]) == 1      # and not applied twice


def test_fault_latency_and_expire_tokens(xero):
    xero.control("POST", "faults", {"route": "GET /Items", "kind": "latency", "seconds": 0.3})
    t0 = time.time()
    assert xero.get("/Items").status_code == 200
    assert time.time() - t0 >= 0.3
    xero.control("POST", "faults", {"route": "GET /Accounts", "kind": "expire_tokens"})
    assert xero.get("/Items").status_code == 200
    r = xero.get("/Accounts")
    assert r.status_code == 401 and r.json()["Detail"].startswith("TokenExpired")


# ------------------------------------------------------------------------------ control
def test_request_log_state_and_reset(xero):
    c = xero.contact()
    xero.invoice(c["ContactID"])
    xero.invoice(c["ContactID"])
    xero.get(f"/Contacts/{c['ContactID']}")
    log = xero.control("GET", "requests").json()
    assert log["counts"]["PUT /Invoices"] == 2
    assert log["counts"]["PUT /Contacts"] == 1
    assert log["counts"]["GET /Contacts/{ContactID}"] == 1
    entry = [e for e in log["requests"] if e["route"] == "PUT /Invoices"][0]
    assert entry["tenant"] == TENANT_AU and entry["status"] == 200 and entry["method"] == "PUT"
    state = xero.control("GET", "state", params={"tenant": TENANT_AU}).json()
    assert len(state["Invoices"]) == 2 and state["Contacts"][0]["Name"] == c["Name"]
    assert xero.control("DELETE", "requests").ok
    assert xero.control("GET", "requests").json()["counts"] == {}
    assert xero.control("POST", "reset").ok
    assert xero.control("GET", "state", params={"tenant": TENANT_AU}).json()["Invoices"] == []


def test_reference_data(xero):
    accounts = {a["Code"]: a for a in xero.get("/Accounts").json()["Accounts"]}
    assert accounts["860"]["SystemAccount"] == "ROUNDING"
    assert accounts["091"]["EnablePaymentsToAccount"] is True
    assert accounts["476"]["Status"] == "ARCHIVED"
    assert accounts["090"]["Type"] == "BANK" and accounts["090"]["CurrencyCode"] == "AUD"
    r = xero.get("/Accounts", params={"where": 'Type=="BANK"'})
    assert {a["Code"] for a in r.json()["Accounts"]} == {"090", "092"}
    taxes = {t["TaxType"]: t for t in xero.get("/TaxRates").json()["TaxRates"]}
    assert taxes["OUTPUT"]["EffectiveRate"] == 10
    cats = xero.get("/TrackingCategories").json()["TrackingCategories"]
    assert [c["Name"] for c in cats] == ["Campus", "Channel"]
    assert [o["Name"] for o in cats[0]["Options"]] == ["Downtown", "Harbour"]
    cats = xero.get("/TrackingCategories", params={"includeArchived": "true"}).json()["TrackingCategories"]
    assert len(cats) == 3
    items = {i["Code"]: i for i in xero.get("/Items").json()["Items"]}
    assert items["OLD-LOCKER"]["IsSold"] is False and all(len(code) <= 30 for code in items)
    org = xero.get("/Organisation").json()["Organisations"][0]
    assert (org["BaseCurrency"], org["Name"]) == ("AUD", "Coworks Demo AU")
    assert {c["Code"] for c in xero.get("/Currencies").json()["Currencies"]} == {"AUD", "USD", "EUR"}
    r = xero.put("/Items", json={"Items": [{"Code": "DAYPASS", "Name": "dup"}]})
    assert r.status_code == 400 and errors_of(r) == ["Price List Item with Code 'DAYPASS' already exists"]


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError):
        EmulatorServer(host="0.0.0.0", port=0)
    r = subprocess.run([sys.executable, "-m", "xero_emulator", "--port", "0", "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "non-loopback" in r.stderr


def test_cli_serves(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "xero_emulator", "--port", str(port), "--time-scale", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        r = requests.get(f"http://127.0.0.1:{port}/__emulator__/clock", timeout=5)
        assert r.json()["scale"] == 10
    finally:
        proc.terminate()
        proc.wait(timeout=10)

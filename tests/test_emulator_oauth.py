"""Emulator: OAuth 2.0 code flow with PKCE, refresh rotation, revocation, connections."""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import urllib.parse

import requests

from xero_emulator.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TENANT_AU, TENANT_UK

REDIRECT = "http://127.0.0.1:8069/coworks_xero/oauth/callback"
SCOPE = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings"


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(base, tenants=(TENANT_AU,), challenge=None, redirect=REDIRECT, state="st-123", scope=SCOPE):
    params = {"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": redirect, "scope": scope,
              "state": state}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = requests.get(base + "/identity/connect/authorize", params=params)
    assert page.status_code == 200 and "Coworks Demo AU" in page.text and "Coworks Demo UK" in page.text
    form = [(k, v) for k, v in params.items()] + [("tenant", t) for t in tenants] + [("action", "allow")]
    r = requests.post(base + "/identity/connect/authorize", data=form, allow_redirects=False)
    assert r.status_code == 302, r.text
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == redirect
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert q["state"] == state
    return q["code"]


def _token(base, data, basic=True):
    auth = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) if basic else None
    if not basic:
        data = dict(data, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    return requests.post(base + "/connect/token", data=data, auth=auth)


def _api(base, token, tenant=TENANT_AU, path="/Organisation"):
    return requests.get(base + "/api.xro/2.0" + path,
                        headers={"Authorization": "Bearer " + token, "xero-tenant-id": tenant})


def test_code_flow_with_pkce_two_orgs(emulator):
    base = emulator.base_url
    verifier, challenge = _pkce()
    code = _authorize(base, tenants=(TENANT_AU, TENANT_UK), challenge=challenge)
    r = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                      "code_verifier": verifier})
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["expires_in"] == 1800 and tok["token_type"] == "Bearer"
    assert tok["refresh_token"] and tok["id_token"] and tok["access_token"].count(".") == 2
    conns = requests.get(base + "/Connections", headers={"Authorization": "Bearer " + tok["access_token"]})
    assert conns.status_code == 200 and "X-AppMinLimit-Remaining" in conns.headers
    body = conns.json()
    assert {c["tenantId"] for c in body} == {TENANT_AU, TENANT_UK}
    assert set(body[0]) == {"id", "authEventId", "tenantId", "tenantType", "tenantName", "createdDateUtc",
                            "updatedDateUtc"}
    assert body[0]["tenantType"] == "ORGANISATION"
    assert _api(base, tok["access_token"], TENANT_UK).json()["Organisations"][0]["BaseCurrency"] == "GBP"


def test_pkce_verifier_checked(emulator):
    base = emulator.base_url
    _, challenge = _pkce()
    code = _authorize(base, challenge=challenge)
    r = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                      "code_verifier": "wrong-verifier-wrong-verifier-wrong-verifier-123"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_code_single_use_and_reuse_revokes(emulator):
    base = emulator.base_url
    code = _authorize(base)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    r1 = _token(base, data, basic=False)          # client auth in form fields
    assert r1.status_code == 200
    assert _api(base, r1.json()["access_token"]).status_code == 200
    r2 = _token(base, data)
    assert r2.status_code == 400 and r2.json()["error"] == "invalid_grant"
    assert _api(base, r1.json()["access_token"]).status_code == 401
    r = _token(base, {"grant_type": "refresh_token", "refresh_token": r1.json()["refresh_token"]})
    assert r.status_code == 400


def test_code_expires_after_five_minutes_and_redirect_must_match(emulator):
    base = emulator.base_url
    code = _authorize(base)
    r = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT + "x"})
    assert r.status_code == 400
    code = _authorize(base)
    requests.post(base + "/__emulator__/clock", json={"advance": 301})
    r = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_bad_client_and_authorize_errors(emulator):
    base = emulator.base_url
    code = _authorize(base)
    r = requests.post(base + "/connect/token", data={"grant_type": "authorization_code", "code": code,
                                                      "redirect_uri": REDIRECT}, auth=(DEMO_CLIENT_ID, "wrong"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    # unknown redirect: error page, never a redirect
    r = requests.get(base + "/identity/connect/authorize", params={
        "response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": "http://evil.example/cb",
        "scope": SCOPE, "state": "s"}, allow_redirects=False)
    assert r.status_code == 400
    # the demo app accepts any loopback port on the callback path, nothing else
    _authorize(base, redirect="http://localhost:18069/coworks_xero/oauth/callback")
    r = requests.get(base + "/identity/connect/authorize", params={
        "response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": "http://127.0.0.1:8069/other",
        "scope": SCOPE}, allow_redirects=False)
    assert r.status_code == 400
    # bad scope / response type: redirected back with an error and the state
    for extra in ({"scope": "accounting.everything"}, {"response_type": "token"}):
        params = {"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT,
                  "scope": SCOPE, "state": "s9", **extra}
        r = requests.get(base + "/identity/connect/authorize", params=params, allow_redirects=False)
        assert r.status_code == 302 and "error=" in r.headers["Location"] and "state=s9" in r.headers["Location"]
    # deny
    params = {"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT, "scope": SCOPE,
              "state": "d", "action": "deny"}
    r = requests.post(base + "/identity/connect/authorize", data=params, allow_redirects=False)
    assert "error=access_denied" in r.headers["Location"]


def test_registered_app_needs_exact_redirect(emulator):
    base = emulator.base_url
    requests.post(base + "/__emulator__/apps", json={"client_id": "other-app", "client_secret": "s3",
                                                     "redirect_uris": ["http://127.0.0.1:9000/cb"]})
    ok = requests.get(base + "/identity/connect/authorize", params={
        "response_type": "code", "client_id": "other-app", "redirect_uri": "http://127.0.0.1:9000/cb", "scope": SCOPE})
    assert ok.status_code == 200
    bad = requests.get(base + "/identity/connect/authorize", params={
        "response_type": "code", "client_id": "other-app", "redirect_uri": "http://127.0.0.1:9001/cb", "scope": SCOPE})
    assert bad.status_code == 400


def test_refresh_rotation_and_grace(emulator):
    base = emulator.base_url
    code = _authorize(base)
    t0 = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()
    t1 = _token(base, {"grant_type": "refresh_token", "refresh_token": t0["refresh_token"]}).json()
    assert t1["refresh_token"] != t0["refresh_token"] and t1["access_token"] != t0["access_token"]
    # response lost: the old token may be retried while its successor is unused (Xero's 30-minute grace)
    t1b = _token(base, {"grant_type": "refresh_token", "refresh_token": t0["refresh_token"]})
    assert t1b.status_code == 200
    t1b = t1b.json()
    # the superseded successor is dead; the newest one works and then the old one is refused
    assert _token(base, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]}).status_code == 400
    t2 = _token(base, {"grant_type": "refresh_token", "refresh_token": t1b["refresh_token"]})
    assert t2.status_code == 200
    r = _token(base, {"grant_type": "refresh_token", "refresh_token": t0["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # after 30 minutes no grace even if the successor is unused
    t3 = _token(base, {"grant_type": "refresh_token", "refresh_token": t2.json()["refresh_token"]}).json()
    requests.post(base + "/__emulator__/clock", json={"advance": 1801})
    assert _token(base, {"grant_type": "refresh_token",
                         "refresh_token": t2.json()["refresh_token"]}).status_code == 400
    assert _token(base, {"grant_type": "refresh_token", "refresh_token": t3["refresh_token"]}).status_code == 200


def test_revocation_removes_connections(emulator):
    base = emulator.base_url
    code = _authorize(base, tenants=(TENANT_AU, TENANT_UK))
    tok = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()
    r = requests.post(base + "/connect/revocation", data={"token": tok["refresh_token"]},
                      auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
    assert r.status_code == 200
    assert _token(base, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status_code == 400
    assert _api(base, tok["access_token"]).status_code == 401
    # a new authorisation starts with only what it grants
    code = _authorize(base, tenants=(TENANT_UK,))
    tok = _token(base, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()
    conns = requests.get(base + "/Connections", headers={"Authorization": "Bearer " + tok["access_token"]}).json()
    assert [c["tenantId"] for c in conns] == [TENANT_UK]


def test_delete_connection(emulator):
    base = emulator.base_url
    g = requests.post(base + "/__emulator__/grant", json={"tenant_ids": [TENANT_AU, TENANT_UK]}).json()
    h = {"Authorization": "Bearer " + g["access_token"]}
    conns = requests.get(base + "/Connections", headers=h).json()
    au = next(c for c in conns if c["tenantId"] == TENANT_AU)
    assert requests.delete(base + f"/Connections/{TENANT_AU}", headers=h).status_code == 404   # id, not tenantId
    r = requests.delete(base + f"/Connections/{au['id']}", headers=h)
    assert r.status_code == 204 and r.content == b""
    assert [c["tenantId"] for c in requests.get(base + "/Connections", headers=h).json()] == [TENANT_UK]
    assert _api(base, g["access_token"], TENANT_AU).status_code == 403
    assert _api(base, g["access_token"], TENANT_UK).status_code == 200
    assert requests.get(base + "/Connections").status_code == 401
    assert re.match(r"^[0-9a-f-]{36}$", au["authEventId"])


def test_pre_answered_consent_redirects_once_then_shows_the_page(emulator):
    """Browser tours cannot click a page outside Odoo: the control endpoint answers the next
    authorize page as a person would; the page after it is shown again."""
    base = emulator.base_url
    r = requests.post(base + "/__emulator__/consent", json={"tenant_ids": [TENANT_UK], "count": 1})
    assert r.status_code == 200
    verifier, challenge = _pkce()
    params = {"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT, "scope": SCOPE,
              "state": "st-auto", "code_challenge": challenge, "code_challenge_method": "S256"}
    first = requests.get(base + "/identity/connect/authorize", params=params, allow_redirects=False)
    assert first.status_code == 302
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(first.headers["Location"]).query))
    assert q["state"] == "st-auto"
    tokens = requests.post(base + "/connect/token", data={
        "grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)).json()
    conns = requests.get(base + "/Connections", headers={"Authorization": "Bearer " + tokens["access_token"]}).json()
    assert [c["tenantId"] for c in conns] == [TENANT_UK]
    second = requests.get(base + "/identity/connect/authorize", params=params, allow_redirects=False)
    assert second.status_code == 200 and "Allow access" in second.text
    bad = requests.post(base + "/__emulator__/consent", json={"tenant_ids": ["nope"]})
    assert bad.status_code == 400

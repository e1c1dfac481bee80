"""Pure tests of the connect-flow helpers in services/xero/oauth.py."""
import base64
import json

from coworks_xero.services.xero.oauth import organisation_candidates, token_claims

AU = {"id": "c-au", "tenantId": "b7d2f4a0-6c1e-4f3a-9a2e-0c5d1a7e2a01", "tenantName": "AU", "tenantType": "ORGANISATION"}
UK = {"id": "c-uk", "tenantId": "c3e8a5b1-2d4f-4b6a-8c7d-1e9f0a2b3c02", "tenantName": "UK", "tenantType": "ORGANISATION"}
PRACTICE = {"id": "c-p", "tenantId": "d0000000-0000-0000-0000-000000000001", "tenantName": "Practice",
            "tenantType": "PRACTICEMANAGER"}


def _jwt(payload):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'HS256'})}.{enc(payload)}.sig"


def test_token_claims_reads_the_payload_and_tolerates_garbage():
    assert token_claims(_jwt({"xero_userid": "u-1", "scope": ["openid"]}))["xero_userid"] == "u-1"
    for bad in (None, "", "opaque-token", "a.b", "a.!!!.c", _jwt(["not", "a", "dict"])):
        assert token_claims(bad) == {}


def test_only_organisation_is_picked_without_asking():
    assert organisation_candidates([UK]) == (UK, [UK])


def test_several_organisations_need_a_choice():
    chosen, candidates = organisation_candidates([AU, UK])
    assert chosen is None and candidates == [AU, UK]


def test_organisations_of_other_companies_and_non_organisations_are_left_out():
    assert organisation_candidates([AU, UK, PRACTICE], taken={AU["tenantId"].upper()}) == (UK, [UK])
    assert organisation_candidates([AU], taken={AU["tenantId"]}) == (None, [])


def test_reconnect_keeps_the_organisation_or_finds_none():
    assert organisation_candidates([AU, UK], preferred=UK["tenantId"]) == (UK, [AU, UK])
    # The authorisation does not reach the organisation this company syncs with: no silent switch.
    assert organisation_candidates([AU], preferred=UK["tenantId"]) == (None, [AU])

"""Extra organisations and faults aimed at one of them (the many-organisations benchmark)."""
def test_emulator_extra_organisations_and_faults_for_one_of_them():
    """What the many-organisations benchmark needs: more organisations, a 429 storm on one."""
    import json
    import urllib.error
    import urllib.request

    from xero_emulator import EmulatorServer, seed
    server = EmulatorServer(host="127.0.0.1", port=0)
    server.start()
    try:
        def ctl(method, name, body=None):
            req = urllib.request.Request(f"{server.base_url}/__emulator__/{name}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as resp:
                return json.loads(resp.read() or b"{}")
        added = ctl("POST", "tenants", {"count": 3})["tenants"]
        assert [t["tenantId"] for t in added] == [seed.extra_tenant(n) for n in (1, 2, 3)]
        token = ctl("POST", "grant", {"client_id": seed.DEMO_CLIENT_ID,
                                      "tenant_ids": [t["tenantId"] for t in added]})["access_token"]
        ctl("POST", "faults", {"route": "*", "kind": "status", "status": 429, "count": 5, "tenant": added[0]["tenantId"]})

        def org(tenant):
            req = urllib.request.Request(f"{server.base_url}/api.xro/2.0/Organisation",
                                         headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant,
                                                  "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req) as resp:
                    return resp.status, json.loads(resp.read())["Organisations"][0]
            except urllib.error.HTTPError as exc:
                return exc.code, None
        status, body = org(added[1]["tenantId"])
        assert status == 200 and body["Name"] == "Coworks Extra 2" and body["BaseCurrency"] == "AUD"
        assert org(added[0]["tenantId"])[0] == 429
        assert org(added[2]["tenantId"])[0] == 200
    finally:
        server.stop()

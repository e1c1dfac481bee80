"""The demo's "admin connects to Xero", by HTTP through the real OAuth flow.

Logs into Odoo as the demo admin, starts the flow from Odoo's start route (PKCE + signed state),
consents on the sandbox's authorize page ticking every demo organisation (as a person with access to
several would), comes back through Odoo's callback and, on the organisation choice page, picks the
one asked for. Exits non-zero with the page's text when any step is refused.
``--provider <code>``: another provider's flow, in its own ``scripts/demo_connect_<code>.py`` (``connect``).
"""
import argparse
import importlib
import sys
import urllib.parse

import requests
from lxml import html


def fail(step, resp):
    text = " ".join(html.fromstring(resp.text or "<p></p>").text_content().split())[:400]
    sys.exit(f"demo_connect: {step} failed ({resp.status_code}): {text}")


def form_of(page):
    form = html.fromstring(page.text).xpath("//form")[0]
    return form, [(i.get("name"), i.get("value") or "") for i in form.xpath(".//input[@type='hidden']")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--odoo", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--login", default="admin")
    ap.add_argument("--password", default="admin")
    ap.add_argument("--organisation", required=True, help="name of the Xero organisation to sync with")
    ap.add_argument("--provider", default="xero", help="xero, or a provider with its own demo_connect_<provider>.py")
    args = ap.parse_args()

    odoo = requests.Session()
    login = odoo.get(f"{args.odoo}/web/login", params={"db": args.db}, timeout=30)
    _form, hidden = form_of(login)
    resp = odoo.post(f"{args.odoo}/web/login", data=dict(hidden, login=args.login, password=args.password),
                     timeout=30, allow_redirects=False)
    if resp.status_code not in (302, 303):
        fail("Odoo login", resp)
    company_id = odoo.post(f"{args.odoo}/web/session/get_session_info", json={}, timeout=30).json()[
        "result"]["user_companies"]["current_company"]

    if args.provider != "xero":
        return importlib.import_module(f"demo_connect_{args.provider}").connect(args, odoo, company_id)
    start = odoo.get(f"{args.odoo}/coworks_xero/oauth/start", params={"company_id": company_id},
                     allow_redirects=False, timeout=30)
    if start.status_code not in (302, 303):
        fail("starting the OAuth flow", start)
    authorize_url = start.headers["Location"]

    # The person on Xero's consent page: tick every organisation offered, press "Allow access".
    page = requests.get(authorize_url, timeout=30)
    if page.status_code != 200:
        fail("Xero's consent page", page)
    form, hidden = form_of(page)
    tenants = [i.get("value") for i in form.xpath(".//input[@name='tenant']")]
    consent = requests.post(urllib.parse.urljoin(authorize_url, form.get("action")),
                            data=hidden + [("tenant", t) for t in tenants] + [("action", "allow")],
                            allow_redirects=False, timeout=30)
    if consent.status_code != 302:
        fail("consent", consent)

    back = odoo.get(consent.headers["Location"], timeout=60)
    if back.status_code != 200:
        fail("Odoo's callback", back)
    if "/coworks_xero/oauth/choose" in back.url:
        form, hidden = form_of(back)
        offered = {" ".join(label.text_content().split()): form.xpath(f".//input[@id='{label.get('for')}']")[0].get("value")
                   for label in form.xpath(".//label[@for]")}
        choice = offered.get(args.organisation)
        if not choice:
            sys.exit(f"demo_connect: organisation {args.organisation!r} not offered: {sorted(offered)}")
        chosen = odoo.post(urllib.parse.urljoin(back.url, form.get("action") or back.url),
                           data=hidden + [("tenant_id", choice)], timeout=60)
        if chosen.status_code != 200:
            fail("choosing the organisation", chosen)
    print(f"demo: connected to {args.organisation!r} through OAuth ({len(tenants)} organisations consented)")


if __name__ == "__main__":
    main()

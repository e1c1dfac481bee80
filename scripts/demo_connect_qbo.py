"""``demo_connect.py --provider qbo``: the demo's "admin connects to QuickBooks Online", by HTTP
through the real OAuth flow (Intuit's company choice, the callback with its realmId)."""
import sys

import requests

from demo_connect import fail, form_of


def connect(args, odoo, company_id):
    """QuickBooks Online: Intuit's page offers the companies (realms); the person picks one, the
    callback carries its realmId."""
    start = odoo.get(f"{args.odoo}/coworks_xero/qbo/oauth/start", params={"company_id": company_id},
                     allow_redirects=False, timeout=30)
    if start.status_code not in (302, 303):
        fail("starting the QuickBooks OAuth flow", start)
    authorize_url = start.headers["Location"]
    page = requests.get(authorize_url, timeout=30)
    if page.status_code != 200:
        fail("Intuit's consent page", page)
    form, hidden = form_of(page)
    offered = {" ".join(label.text_content().split()): label.xpath(".//input[@name='realm']")[0].get("value")
               for label in form.xpath(".//label[.//input[@name='realm']]")}
    realm = next((r for name, r in offered.items() if name.startswith(args.organisation + " (")), None)
    if not realm:
        sys.exit(f"demo_connect: company {args.organisation!r} not offered: {sorted(offered)}")
    consent = requests.post(authorize_url.split("?")[0], data=hidden + [("realm", realm), ("action", "allow")],
                            allow_redirects=False, timeout=30)
    if consent.status_code != 302:
        fail("consent", consent)
    back = odoo.get(consent.headers["Location"], timeout=60)
    if back.status_code != 200 or "/coworks_xero/qbo/oauth/callback" in back.url:
        fail("Odoo's callback", back)
    print(f"demo: connected to the QuickBooks company {args.organisation!r} (realm {realm}) through OAuth")

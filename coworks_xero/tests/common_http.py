"""HttpCase + the Xero emulator: drive the real OAuth flow by HTTP (Odoo's start route, the
emulator's authorize page, Odoo's callback)."""
import urllib.parse

import requests
from lxml import html as lxml_html

from odoo.tests import HttpCase, new_test_user

from xero_emulator import seed

from .common import CoworksXeroEmulatorCase

START = "/coworks_xero/oauth/start"
CALLBACK = "/coworks_xero/oauth/callback"
CHOOSE = "/coworks_xero/oauth/choose"


class CoworksXeroHttpCase(CoworksXeroEmulatorCase, HttpCase):
    """The emulator case (main company connected to the AU organisation, mappings set) served over
    HTTP, with a second company and a system administrator of both."""

    # CoworksXeroEmulatorCase puts the registry in test mode itself.
    registry_test_mode = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.setup_other_company(name="Coworks Two")["company"]
        cls.xero_admin = new_test_user(
            cls.env, login="xero_admin", groups="base.group_system,account.group_account_manager",
            company_id=cls.company.id, company_ids=[(6, 0, (cls.company | cls.company_2).ids)])

    # ------------------------------------------------------------------ the flow by HTTP

    def oauth_start(self, company):
        """Odoo's start route -> (authorize URL, its query parameters)."""
        resp = self.url_open(f"{START}?company_id={company.id}", allow_redirects=False)
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        url = resp.headers["Location"]
        self.assertTrue(url.startswith(self.emulator.base_url + "/identity/connect/authorize"), url)
        return url, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

    def oauth_consent(self, authorize_url, tenants, action="allow"):
        """The person on Xero's page: tick ``tenants``, press Allow. -> the callback URL."""
        page = requests.get(authorize_url, timeout=10)
        self.assertEqual(page.status_code, 200, page.text[:300])
        form = lxml_html.fromstring(page.text).xpath("//form")[0]
        data = [(i.get("name"), i.get("value") or "") for i in form.xpath(".//input[@type='hidden']")]
        data += [("tenant", t) for t in tenants] + [("action", action)]
        resp = requests.post(urllib.parse.urljoin(self.emulator.base_url, form.get("action")),
                             data=data, allow_redirects=False, timeout=10)
        self.assertEqual(resp.status_code, 302, resp.text[:300])
        return resp.headers["Location"]

    def oauth_callback(self, callback_url):
        self.assertTrue(urllib.parse.urlsplit(callback_url).path == CALLBACK, callback_url)
        # The callback exchanges the code and loads the reference data: generous on a loaded machine.
        resp = self.url_open(callback_url, allow_redirects=False, timeout=60)
        self.env.invalidate_all()
        return resp

    def oauth_connect(self, company, tenants):
        """Start -> consent -> callback; returns the callback's response."""
        url, _params = self.oauth_start(company)
        return self.oauth_callback(self.oauth_consent(url, tenants))

    def connection_of(self, company):
        return self.env["coworks.sync.connection"].sudo().with_context(active_test=False).search(
            [("company_id", "=", company.id)], order="id desc", limit=1)

    def revoke_at_xero(self, refresh_token):
        """What revoking the app in Xero's own screens does."""
        resp = requests.post(f"{self.emulator.base_url}/connect/revocation",
                             data={"token": refresh_token}, auth=(seed.DEMO_CLIENT_ID, seed.DEMO_CLIENT_SECRET),
                             timeout=10)
        self.assertEqual(resp.status_code, 200, resp.text)

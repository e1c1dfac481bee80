"""Real Odoo + PostgreSQL + the QuickBooks Online emulator (qbo_emulator) on loopback, as
``common.CoworksXeroEmulatorCase`` is for Xero: the same engine (jobs, sync log), the same mapping
models, only the connection's provider differs."""
import datetime
import json
import urllib.parse
import urllib.request

import requests
from lxml import html as lxml_html

from odoo import Command
from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.tests import HttpCase, new_test_user

from qbo_emulator import EmulatorServer, seed

from ..models.sync_connection_qbo import QBO_CALLBACK_PATH, QBO_START_PATH
from ..services.qbo.provider import forget_companies

REALM_US, REALM_UK = seed.REALM_US, seed.REALM_UK


class CoworksQboEmulatorCase(AccountTestInvoicingCommon):
    """The main company syncs with the emulator's US company (USD, NYC combined sales tax), with
    mappings on the QuickBooks ids the refresh cached."""

    realm_id = REALM_US

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.write({"coworks_xero_sync_enabled": True, "coworks_sync_provider": "qbo"})
        cls.emulator = EmulatorServer(host="127.0.0.1", port=0)
        cls.emulator.start()
        cls.addClassCleanup(cls.emulator.stop)
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("coworks_xero.qbo_sandbox_url", cls.emulator.base_url)
        params.set_param("coworks_xero.qbo_client_id", seed.DEMO_CLIENT_ID)
        params.set_param("coworks_xero.qbo_client_secret", seed.DEMO_CLIENT_SECRET)
        params.set_param("coworks_xero.client_backoff_base", "0.01")
        cls.registry_enter_test_mode_cls()
        cls.connection = cls.env["coworks.sync.connection"].sudo().create({
            "company_id": cls.company.id, "provider": "qbo", "state": "connected",
            "tenant_id": cls.realm_id, "tenant_name": "Coworks Demo US"})
        cls._grant_tokens(cls.connection, cls.realm_id)
        cls.connection.action_xero_refresh()
        cls.campus_dtn = cls.env["coworks.campus"].create({"name": "Downtown", "code": "DTN"})
        cls.setup_mappings()

    def setUp(self):
        super().setUp()
        self.emu("POST", "reset")
        forget_companies()  # the emulator's companies are seeded again
        self.emu("DELETE", "faults")
        client = self.connection._qbo_client()
        client.limiter.reset()
        client.batch_limiter.reset()
        self._grant_tokens(self.connection, self.realm_id)

    @classmethod
    def emu(cls, method, name, body=None, query=""):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{cls.emulator.base_url}/__emulator__/{name}{query}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    @classmethod
    def _grant_tokens(cls, conn, realm_id):
        from ..services.xero.oauth import TokenSet
        grant = cls.emu("POST", "grant", {"client_id": seed.DEMO_CLIENT_ID, "realm_id": realm_id})
        cls.env.flush_all()
        conn._qbo_token_store().save(TokenSet.from_response(dict(grant, scope="com.intuit.quickbooks.accounting")))
        conn.invalidate_recordset()

    @classmethod
    def qref(cls, model, **domain):
        return cls.env[model].with_context(active_test=False).search(
            [("connection_id", "=", cls.connection.id)] + [(k, "=", v) for k, v in domain.items()], limit=1)

    @classmethod
    def setup_mappings(cls):
        conn = cls.connection
        Mapping = cls.env["coworks.xero.product.mapping"]
        # QuickBooks Item ids (qbo_emulator/seed.py): 2 Plan - Hot desk, 4 Day pass, 6 One-off
        for kind, item in [("plan", "2"), ("day_pass", "4"), ("external_booking", "5"), ("one_off", "6"),
                           ("booking_overage", "7"), ("transaction_fee", "8"), ("custom_fee", "9")]:
            Mapping.create({"connection_id": conn.id, "item_kind": kind,
                            "xero_item_id": cls.qref("coworks.xero.item", code=item).id})
        # Odoo's test tax (15 %) on the NYC combined code (8.875 %): Odoo's tax amounts are sent.
        cls.env["coworks.xero.tax.mapping"].create({
            "connection_id": conn.id, "tax_id": cls.tax_sale_a.id, "send_odoo_tax_amounts": True,
            "tax_rate_id": cls.qref("coworks.xero.tax.rate", tax_type="2").id})
        cls.env["coworks.xero.campus.mapping"].create({
            "connection_id": conn.id, "campus_id": cls.campus_dtn.id,
            "tracking_option_id": cls.qref("coworks.xero.tracking.option", name="Downtown").id})
        cls.env["coworks.xero.journal.mapping"].create({
            "connection_id": conn.id, "journal_id": cls.company_data["default_journal_bank"].id,
            "bank_account_id": cls.qref("coworks.xero.account", code="35").id})
        cls.plan_product = cls._kind_product("plan", "Hot desk", 350.0, cls.tax_sale_a)
        cls.day_pass = cls._kind_product("day_pass", "Day pass", 35.0, cls.tax_sale_a)

    @classmethod
    def _kind_product(cls, kind, name, price, taxes):
        return cls.env["product.product"].create({
            "name": name, "type": "service", "lst_price": price, "coworks_item_kind": kind,
            "taxes_id": [Command.set(taxes.ids)]})

    # ------------------------------------------------------------ helpers

    def run_worker(self):
        self.env.flush_all()
        self.env.ref("coworks_xero.ir_cron_sync").sudo().method_direct_trigger()
        self.env.invalidate_all()

    def run_worker_at(self, when):
        """The cron as it runs once the clock reached ``when`` (a backed-off retry due)."""
        from freezegun import freeze_time
        with freeze_time(when + datetime.timedelta(seconds=1), tick=True):
            self.run_worker()

    def _run_deferred_work(self, rounds=10):
        for _round in range(rounds):
            due = self.env["coworks.sync.job"].search([("state", "=", "pending"), ("next_attempt_at", "!=", False)],
                                                      order="next_attempt_at", limit=1).next_attempt_at
            if not due:
                return
            self.run_worker_at(due)

    def qbo_state(self, realm=None):
        return self.emu("GET", "state", query=f"?realm={realm or self.realm_id}")["objects"]

    def qbo_docs(self, entity, **match):
        return [o for o in self.qbo_state()[entity].values() if all(o.get(k) == v for k, v in match.items())]

    def qbo_requests(self, method=None, suffix=""):
        return [r for r in self.emu("GET", "requests")["requests"]
                if (method is None or r["method"] == method) and r["path"].endswith(suffix)]

    def _pay(self, moves, **vals):
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=moves.ids).create({
                "journal_id": self.company_data["default_journal_bank"].id, **vals})
        return wizard._create_payments()

    def jobs_of(self, record):
        return self.env["coworks.sync.job"].search([("res_model", "=", record._name), ("res_id", "=", record.id)])


class CoworksQboHttpCase(CoworksQboEmulatorCase, HttpCase):
    """The emulator case served over HTTP, with a second company (no connection yet) and a system
    administrator of both, to drive Odoo's start route, Intuit's page and Odoo's callback."""

    registry_test_mode = False  # the emulator case enters test mode itself

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.setup_other_company(name="Coworks Two QBO")["company"]
        cls.company_2.coworks_sync_provider = "qbo"
        cls.qbo_admin = new_test_user(
            cls.env, login="qbo_admin", groups="base.group_system,account.group_account_manager",
            company_id=cls.company.id, company_ids=[(6, 0, (cls.company | cls.company_2).ids)])

    def oauth_start(self, company):
        resp = self.url_open(f"{QBO_START_PATH}?company_id={company.id}", allow_redirects=False)
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        url = resp.headers["Location"]
        self.assertTrue(url.startswith(self.emulator.base_url + "/connect/oauth2"), url)
        return url, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

    def oauth_consent(self, authorize_url, realm, action="allow"):
        """The person on Intuit's page: picks ``realm`` (one company), presses Connect."""
        page = requests.get(authorize_url, timeout=10)
        self.assertEqual(page.status_code, 200, page.text[:300])
        form = lxml_html.fromstring(page.text).xpath("//form")[0]
        offered = form.xpath(".//input[@name='realm']/@value")
        data = [(i.get("name"), i.get("value") or "") for i in form.xpath(".//input[@type='hidden']")]
        data += [("realm", realm), ("action", action)]
        resp = requests.post(authorize_url.split("?")[0], data=data, allow_redirects=False, timeout=10)
        self.assertEqual(resp.status_code, 302, resp.text[:300])
        return resp.headers["Location"], offered

    def oauth_callback(self, callback_url):
        self.assertEqual(urllib.parse.urlsplit(callback_url).path, QBO_CALLBACK_PATH, callback_url)
        resp = self.url_open(callback_url, allow_redirects=False, timeout=60)
        self.env.invalidate_all()
        return resp

    def connection_of(self, company):
        return self.env["coworks.sync.connection"].sudo().with_context(active_test=False).search(
            [("company_id", "=", company.id)], order="id desc", limit=1)

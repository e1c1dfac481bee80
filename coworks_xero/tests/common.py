import datetime
import json
import threading
import urllib.request
import uuid
from unittest.mock import patch

import urllib3

from odoo import Command, fields
from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.orm.registry import Registry
from odoo.tests import BaseCase

from xero_emulator import EmulatorServer, seed

from ..services.xero.ratelimit import RateLimiter

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def invoice_webhook_body(invoice_id, tenant_id):
    """The signed body's bytes Xero posts when an invoice of that organisation changed."""
    return json.dumps({"events": [{
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice_id}",
        "resourceId": invoice_id, "eventDateUtc": fields.Datetime.now().isoformat(), "eventType": "UPDATE",
        "eventCategory": "INVOICE", "tenantId": tenant_id, "tenantType": "ORGANISATION"}],
        "firstEventSequence": 1, "lastEventSequence": 1, "entropy": uuid.uuid4().hex[:20]}).encode()


class RealTransactionsCase(BaseCase):
    """Tests on real, committed transactions opened from several threads (no test cursor).

    ``odoo-bin --test-enable`` runs the post-install tests while its main thread holds
    ``Registry._lock`` (``ThreadedServer.run``), so another thread opening an Environment on its
    own cursor would wait for it until the end of the run; under pytest-odoo nothing holds it. The
    test gets a lock of its own, as HttpCase's test mode does (with a dummy lock), so the threads
    still serialise among themselves."""

    def setUp(self):
        super().setUp()
        self.patch(Registry, "_lock", threading.RLock())


class CoworksXeroCommon(AccountTestInvoicingCommon):
    """A company with sync on, a connection, and reference data as a refresh would cache it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.coworks_xero_sync_enabled = True
        cls.connection = cls._make_connection(cls.company)
        cls.campus_dtn = cls.env["coworks.campus"].create({"name": "Downtown", "code": "DTN"})
        cls.campus_hbr = cls.env["coworks.campus"].create({"name": "Harbour", "code": "HBR"})

    @classmethod
    def _make_connection(cls, company, tenant="t-1"):
        conn = cls.env["coworks.sync.connection"].sudo().create({
            "company_id": company.id, "state": "connected", "tenant_id": tenant,
            "tenant_name": f"Org {tenant}", "base_currency_code": company.currency_id.name,
        })
        cache = cls._seed_reference_data(conn)
        conn.write({"default_account_id": cache["acc_200"].id, "rounding_account_id": cache["acc_860"].id,
                    "campus_tracking_category_id": cache["cat_campus"].id})
        if company == cls.env.company:
            for key, rec in cache.items():
                setattr(cls, key, rec)
        return conn

    @classmethod
    def _seed_reference_data(cls, conn):
        env = cls.env(su=True)
        acc = env["coworks.xero.account"]
        out = {}
        for code, name, typ, extra in [
            ("200", "Sales", "REVENUE", {}),
            ("260", "Other Revenue", "OTHERINCOME", {}),
            ("270", "Fee income", "REVENUE", {}),
            ("090", "Business Bank", "BANK", {}),
            ("091", "Card Clearing", "CURRENT", {"enable_payments": True}),
            ("860", "Rounding", "CURRLIAB", {"system_account": "ROUNDING"}),
            ("476", "Old sales", "REVENUE", {"status": "ARCHIVED"}),
        ]:
            out[f"acc_{code}"] = acc.create({"connection_id": conn.id, "xero_id": f"{conn.tenant_id}-a{code}",
                                             "code": code, "name": name, "account_type": typ, **extra})
        item = env["coworks.xero.item"]
        for code in ["PLAN", "DAYPASS", "BOOKING", "ONEOFF", "OVERAGE"]:
            out[f"item_{code.lower()}"] = item.create({
                "connection_id": conn.id, "xero_id": f"{conn.tenant_id}-i{code}", "code": code,
                "name": code.title(), "sales_account_code": "200"})
        out["rate_output"] = env["coworks.xero.tax.rate"].create({
            "connection_id": conn.id, "tax_type": "OUTPUT", "name": "GST on Income", "rate": 10.0})
        out["rate_none"] = env["coworks.xero.tax.rate"].create({
            "connection_id": conn.id, "tax_type": "NONE", "name": "No GST", "rate": 0.0})
        cat = env["coworks.xero.tracking.category"].create({
            "connection_id": conn.id, "xero_id": f"{conn.tenant_id}-cCampus", "name": "Campus"})
        out["cat_campus"] = cat
        for name, status in [("Downtown", "ACTIVE"), ("Harbour", "ACTIVE"), ("Closed site", "ARCHIVED")]:
            out[f"opt_{name.split()[0].lower()}"] = env["coworks.xero.tracking.option"].create({
                "connection_id": conn.id, "category_id": cat.id, "name": name, "status": status,
                "xero_id": f"{conn.tenant_id}-o{name}"})
        cat2 = env["coworks.xero.tracking.category"].create({
            "connection_id": conn.id, "xero_id": f"{conn.tenant_id}-cChannel", "name": "Channel"})
        out["opt_online"] = env["coworks.xero.tracking.option"].create({
            "connection_id": conn.id, "category_id": cat2.id, "name": "Online", "xero_id": f"{conn.tenant_id}-oOnline"})
        return out

    @classmethod
    def _kind_product(cls, kind, name=None, price=100.0, taxes=None):
        return cls.env["product.product"].create({
            "name": name or f"{kind} product", "type": "service", "lst_price": price,
            "coworks_item_kind": kind,
            "taxes_id": [Command.set((taxes or cls.env["account.tax"]).ids)],
        })


_real_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen


def _loopback_only_urlopen(pool, *args, **kwargs):
    # Odoo's test guard watches `requests`, but xero-python sends through urllib3: no test may
    # reach anything but the local emulator.
    if pool.host not in LOOPBACK:
        raise AssertionError(f"test tried to reach {pool.host}: only the local Xero emulator is allowed")
    return _real_urlopen(pool, *args, **kwargs)


class CoworksXeroEmulatorCase(CoworksXeroCommon):
    """Real Odoo + PostgreSQL + the Xero emulator on loopback; the registry is in test mode for
    the whole class, so the worker's own cursors (cron commits, token writes) share the test
    transaction."""

    tenant_id = seed.TENANT_AU

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.object(urllib3.connectionpool.HTTPConnectionPool, "urlopen",
                                           _loopback_only_urlopen))
        cls.emulator = EmulatorServer(host="127.0.0.1", port=0)
        cls.emulator.start()
        cls.addClassCleanup(cls.emulator.stop)
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("coworks_xero.sandbox_url", cls.emulator.base_url)
        params.set_param("coworks_xero.client_id", seed.DEMO_CLIENT_ID)
        params.set_param("coworks_xero.client_secret", seed.DEMO_CLIENT_SECRET)
        # The client's in-call retries wait 10 ms instead of 1 s, 2 s, 4 s…: the same attempts,
        # the same outcomes, without the suite sleeping through them.
        params.set_param("coworks_xero.client_backoff_base", "0.01")
        cls.registry_enter_test_mode_cls()
        cls._connect(cls.connection, cls.tenant_id)
        cls.setup_mappings()

    def setUp(self):
        super().setUp()
        # Odoo rolls each test back; Xero must forget it too.
        self.emu("POST", "reset")
        # The emulator forgot its rate-limit windows: so does the client's limiter for it.
        RateLimiter.shared(name=self.connection._xero_client_config().accounting_url).reset()
        self.emu("DELETE", "faults")
        self._grant_tokens(self.connection, self.tenant_id)

    @classmethod
    def _grant_tokens(cls, conn, tenant_id):
        from ..models.sync_connection_xero import OdooTokenStore
        from ..services.xero.oauth import TokenSet
        grant = cls.emu("POST", "grant", {"client_id": seed.DEMO_CLIENT_ID, "tenant_ids": [tenant_id]})
        cls.env.flush_all()
        OdooTokenStore(cls.env, conn.id).save(TokenSet.from_response(grant))
        conn.invalidate_recordset()

    @classmethod
    def _make_connection(cls, company, tenant="t-1"):
        if company != cls.env.company:
            return super()._make_connection(company, tenant)
        return cls.env["coworks.sync.connection"].sudo().create({
            "company_id": company.id, "state": "draft", "tenant_id": False})

    @classmethod
    def emu(cls, method, name, body=None, query=""):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{cls.emulator.base_url}/__emulator__/{name}{query}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    @classmethod
    def _connect(cls, conn, tenant_id):
        conn.sudo().write({"state": "connected", "tenant_id": tenant_id, "tenant_name": "Emulated org"})
        cls._grant_tokens(conn, tenant_id)
        conn.action_xero_refresh()
        for key in ("acc_200", "acc_260", "acc_090", "acc_091", "acc_476", "acc_860"):
            setattr(cls, key, cls.env["coworks.xero.account"].with_context(active_test=False).search(
                [("connection_id", "=", conn.id), ("code", "=", key[4:])]))

    @classmethod
    def xref(cls, model, **domain):
        return cls.env[model].with_context(active_test=False).search(
            [("connection_id", "=", cls.connection.id)] + [(k, "=", v) for k, v in domain.items()], limit=1)

    @classmethod
    def setup_mappings(cls):
        conn = cls.connection
        Mapping = cls.env["coworks.xero.product.mapping"]
        for kind, code in [("plan", "PLAN-HOTDESK"), ("day_pass", "DAYPASS"), ("external_booking", "EXT-BOOKING"),
                           ("one_off", "ONEOFF"), ("booking_overage", "OVERAGE")]:
            Mapping.create({"connection_id": conn.id, "item_kind": kind,
                            "xero_item_id": cls.xref("coworks.xero.item", code=code).id})
        for kind in ("transaction_fee", "custom_fee"):
            Mapping.create({"connection_id": conn.id, "item_kind": kind, "xero_account_id": cls.acc_260.id})
        # Odoo's test tax is 15 %, the organisation's GST 10 %: deliberately, Odoo's amounts are
        # sent (the tests of amounts and rounding are about Odoo's figures reaching Xero).
        cls.env["coworks.xero.tax.mapping"].create({
            "connection_id": conn.id, "tax_id": cls.tax_sale_a.id, "send_odoo_tax_amounts": True,
            "tax_rate_id": cls.xref("coworks.xero.tax.rate", tax_type="OUTPUT").id})
        for campus, option in [(cls.campus_dtn, "Downtown"), (cls.campus_hbr, "Harbour")]:
            cls.env["coworks.xero.campus.mapping"].create({
                "connection_id": conn.id, "campus_id": campus.id,
                "tracking_option_id": cls.xref("coworks.xero.tracking.option", name=option).id})
        cls.env["coworks.xero.journal.mapping"].create({
            "connection_id": conn.id, "journal_id": cls.company_data["default_journal_bank"].id,
            "bank_account_id": cls.acc_090.id})
        cls.plan_product = cls._kind_product("plan", "Hot desk", 350.0, cls.tax_sale_a)
        cls.day_pass = cls._kind_product("day_pass", "Day pass", 35.0, cls.tax_sale_a)

    @classmethod
    def use_usd_bank(cls):
        """Map the bank journal to the organisation's USD bank account (092). The test company
        keeps its books in USD and the organisation in AUD: a payment of a USD invoice may go
        through the AUD account, but money that settles nothing (customer credit, which Xero
        holds as an Overpayment, a bank transaction) only through an account in its currency."""
        cls.acc_092 = cls.xref("coworks.xero.account", code="092")
        cls.env["coworks.xero.journal.mapping"].search([
            ("connection_id", "=", cls.connection.id),
            ("journal_id", "=", cls.company_data["default_journal_bank"].id)]).bank_account_id = cls.acc_092

    # ------------------------------------------------------------ helpers for tests

    def _invoice(self, price=350.0, partner=None, **kw):
        """A posted hot-desk invoice (the plan product, the mapped tax)."""
        return self._create_invoice_one_line(
            product_id=self.plan_product, price_unit=price, tax_ids=self.tax_sale_a,
            partner_id=partner or self.partner_a, post=True, **kw)

    def _pay(self, moves, **vals):
        """Register a payment on ``moves`` through Odoo's wizard, from the mapped bank journal."""
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=moves.ids).create({
                "journal_id": self.company_data["default_journal_bank"].id, **vals})
        return wizard._create_payments()

    def run_worker_at(self, when):
        """Run the sync cron as it runs once the clock has reached ``when`` (a backed-off retry
        becoming due, a worker woken for the call budget): the clock moves, nothing of the
        engine's state is written by hand."""
        from freezegun import freeze_time
        moved_to = when + datetime.timedelta(seconds=1)
        jump = (moved_to - fields.Datetime.now()).total_seconds()
        if jump > 0:
            self._move_limiter_clock(jump)
        with freeze_time(moved_to, tick=True):
            self.run_worker()

    def _move_limiter_clock(self, seconds):
        """The client's limiter keeps its own clock (freezegun does not move an instance's
        function): move it as far ahead of the real clock as the test's clock moves (for the
        rest of the test: the calls it counts in the moved run keep their age), so that
        its windows age exactly as Xero's would. (Resetting it instead forgets a wait that the
        move does not cover, and keeping a wait that it does, as a trigger's time rounded to the
        second can, holds the woken run.)"""
        limiter = RateLimiter.shared(name=self.connection._xero_client_config().accounting_url)
        if not hasattr(self, "_limiter_clock_offset"):
            real_clock = limiter.clock
            self._limiter_clock_offset = 0.0
            limiter.clock = lambda: real_clock() + self._limiter_clock_offset

            def restore():
                limiter.clock = real_clock
                limiter.reset()
            self.addCleanup(restore)
        # never back: what it counted in a moved run stays as old as it was then
        self._limiter_clock_offset = max(self._limiter_clock_offset, seconds)

    def _run_deferred_work(self, log=None, rounds=10):
        """Run the cron again at each due time of work deferred to later (a rate-limited
        organisation's next window, a backed-off retry), as Odoo's cron wakes at it."""
        for _round in range(rounds):
            due = self.env["coworks.sync.job"].search([("state", "=", "pending"), ("next_attempt_at", "!=", False)],
                                                      order="next_attempt_at", limit=1).next_attempt_at
            if not due:
                return
            self.run_worker_at(due)
            if log is not None:
                log.append(("worker at", str(due)))

    def run_worker(self):
        """Run the sync cron the way Odoo's cron runner does (it commits as it goes)."""
        self.env.flush_all()
        self.env.ref("coworks_xero.ir_cron_sync").sudo().method_direct_trigger()
        self.env.invalidate_all()

    def xero_state(self):
        return self.emu("GET", "state", query=f"?tenant={self.tenant_id}")

    def xero_requests(self):
        return self.emu("GET", "requests")

    def xero_invoice(self, number):
        found = [i for i in self.xero_state()["Invoices"] if i.get("InvoiceNumber") == number]
        return found[0] if found else None

    def jobs_of(self, record):
        return self.env["coworks.sync.job"].search([("res_model", "=", record._name), ("res_id", "=", record.id)])


class CoworksXeroCreditCase(CoworksXeroEmulatorCase):
    """Customer credit (overpayments, their allocations and refunds) against the emulator: the
    mapped USD bank journal and the reads the credit tests share."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.use_usd_bank()

    @staticmethod
    def _receivable(record):
        """The receivable lines of a move, or of a payment's move."""
        move = record.move_id if record._name == "account.payment" else record
        return move.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")

    def xero_overpayments(self, status=None):
        return [o for o in self.xero_state()["Overpayments"] if status is None or o["Status"] == status]

    def xero_payments(self, status="AUTHORISED"):
        return [p for p in self.xero_state()["Payments"] if p["Status"] == status]

    def xero_live_allocations(self):
        return [a for a in self.xero_state()["Allocations"] if not a["IsDeleted"] and a.get("Overpayment")]

    def credit_links(self, owner, kind="overpayment"):
        """The links of the credit a payment or a bank statement line leaves."""
        return owner.xero_credit_link_ids.filtered(lambda l: l.kind == kind)

    def link_jobs(self, links):
        return self.env["coworks.sync.job"].search(
            [("res_model", "=", "coworks.xero.payment.link"), ("res_id", "in", links.ids)])

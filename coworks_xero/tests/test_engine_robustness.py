"""The worker against the world: money made while sync was off, and a user who changes a document
while the worker is writing that document's Xero ID."""
import threading
import time
import uuid
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.orm.registry import Registry
from odoo.tests import tagged
from odoo.tests.common import get_db_name

from xero_emulator import EmulatorServer, seed

from ..models import sync_engine
from .common import CoworksXeroEmulatorCase, RealTransactionsCase, invoice_webhook_body


@tagged("post_install", "-at_install")
class TestCatchUpMoney(CoworksXeroEmulatorCase):

    def test_payment_made_while_sync_was_off_reaches_xero_with_its_invoice(self):
        self.company.coworks_xero_sync_enabled = False
        invoice = self._create_invoice_one_line(product_id=self.plan_product, price_unit=350.0,
                                                tax_ids=self.tax_sale_a, partner_id=self.partner_a, post=True)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({})._create_payments()
        self.assertEqual(invoice.payment_state, "paid")
        self.assertFalse(self.env["coworks.sync.job"].search([]), "nothing may be queued while sync is off")

        self.company.coworks_xero_sync_enabled = True
        self.run_worker()  # the catch-up scan queues the invoice and its reconciliation
        xero = self.xero_invoice(invoice.name)
        self.assertEqual(xero["Status"], "PAID")
        self.assertEqual(float(xero["AmountPaid"]), invoice.amount_total)
        self.assertEqual(len([p for p in self.xero_state()["Payments"] if p.get("Status") != "DELETED"]), 1)
        # A second catch-up finds nothing more to queue.
        self.assertEqual(self.env["coworks.sync.job"]._catch_up(sync_engine.CATCH_UP_PAGE)[0], 0)

    def test_a_backlog_larger_than_a_page_is_queued_and_sent_in_one_run(self):
        self.company.coworks_xero_sync_enabled = False
        invoices = self.env["account.move"]
        for price in (110.0, 120.0, 130.0, 140.0, 150.0):
            invoices |= self._create_invoice_one_line(product_id=self.plan_product, price_unit=price,
                                                      tax_ids=self.tax_sale_a, partner_id=self.partner_a, post=True)
        cron = self.env.ref("coworks_xero.ir_cron_sync")
        self.env.cr.flush()
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()

        self.company.coworks_xero_sync_enabled = True
        self.env.cr.flush()  # the wake-up is written at commit (its pre-commit hook)
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]),
                        "switching sync on must wake the worker, not wait for the scheduled run")
        with patch.object(sync_engine, "CATCH_UP_PAGE", 2):  # five invoices: three pages
            self.run_worker()
        in_xero = {i["InvoiceNumber"] for i in self.xero_state()["Invoices"]}
        self.assertEqual(set(invoices.mapped("name")) - in_xero, set(), "every page is sent in the same run")
        self.assertEqual(self.env["coworks.sync.job"]._catch_up(sync_engine.CATCH_UP_PAGE)[0], 0)


@tagged("post_install", "-at_install")
class TestUserWriteDuringPush(RealTransactionsCase):
    """Real transactions (no test cursor): the worker's snapshot predates a user's committed
    change of the customer it is about to mark as synced. Odoo runs REPEATABLE READ, so the
    worker's write-back is a serialization failure; Xero's answer, kept on the job first, must be
    applied again in a fresh transaction, without sending anything twice and without failing the
    cron."""

    def _committed_customer(self, prefix, **partner_vals):
        """A fresh emulator, and committed in the real database: a company with sync on, its
        connection to the emulator's AU organisation (tokens from the emulator's grant) and a
        customer queued for Xero. Returns (emulator, registry, name, (company, connection,
        partner) ids); everything is removed after the test."""
        emulator = EmulatorServer(host="127.0.0.1", port=0)
        emulator.start()
        self.addCleanup(emulator.stop)
        registry = Registry(get_db_name())
        name = f"{prefix} {uuid.uuid4().hex[:8]}"
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            params = env["ir.config_parameter"]
            saved = {k: params.get_param(k) for k in ("coworks_xero.sandbox_url", "coworks_xero.client_id",
                                                       "coworks_xero.client_secret")}
            params.set_param("coworks_xero.sandbox_url", emulator.base_url)
            params.set_param("coworks_xero.client_id", seed.DEMO_CLIENT_ID)
            params.set_param("coworks_xero.client_secret", seed.DEMO_CLIENT_SECRET)
            company = env["res.company"].create({"name": name, "coworks_xero_sync_enabled": True})
            conn = env["coworks.sync.connection"].create({
                "company_id": company.id, "state": "connected", "tenant_id": seed.TENANT_AU})
            partner = env["res.partner"].create(dict({"name": name}, **partner_vals))
            env["coworks.sync.job"]._enqueue(partner, "contact", company_getter=lambda p: company, trigger=False)
            ids = company.id, conn.id, partner.id
        self.addCleanup(self._cleanup, registry, saved, *ids)
        from ..models.sync_connection_xero import OdooTokenStore
        from ..services.xero.oauth import TokenSet
        grant = _emu_post(emulator, "grant", {"client_id": seed.DEMO_CLIENT_ID, "tenant_ids": [seed.TENANT_AU]})
        with registry.cursor() as cr:
            OdooTokenStore(api.Environment(cr, SUPERUSER_ID, {}), ids[1]).save(TokenSet.from_response(grant))
        return emulator, registry, name, ids

    def test_serialization_failure_retries_the_write_back_alone(self):
        emulator, registry, name, (company_id, conn_id, partner_id) = self._committed_customer(
            "Concurrent Co", email="ops@concurrent.example.com")

        # Xero takes its time to answer the contact push; meanwhile a user edits the customer.
        _emu_post(emulator, "faults", {"route": "POST /Contacts", "kind": "latency", "seconds": 1.5, "count": 1})
        worker_started, user_done = threading.Event(), threading.Event()

        def user_edits_the_customer():
            worker_started.wait(20)
            time.sleep(0.5)  # the request is out
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["res.partner"].browse(partner_id).write({"comment": "Prefers invoices by post"})
                env.flush_all()  # the user's row lock: the worker's write-back waits for it
                deadline = time.monotonic() + 20
                while not _emu_get(emulator, "requests")["counts"].get("POST /Contacts") \
                        and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)  # Xero has answered; the worker is writing the Xero ID
            user_done.set()  # committed: the worker's snapshot predates it

        user = threading.Thread(target=user_edits_the_customer)
        user.start()
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            Job = env["coworks.sync.job"]
            env["res.partner"].browse(partner_id).read(["name"])  # the worker's snapshot includes the partner
            worker_started.set()
            _jobs, claimed = Job._claim_ready(10)
            mine = claimed.filtered(lambda j: j.connection_id.id == conn_id)
            Job._release_claims((claimed - mine).ids)
            self.assertEqual(len(mine), 1)
            self.assertTrue(mine._process(commit=lambda n: (cr.commit(), True)[1]))
            Job._release_claims(mine.ids)
        user.join(30)
        self.assertTrue(user_done.is_set())

        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            job = env["coworks.sync.job"].search([("connection_id", "=", conn_id)])
            self.assertEqual(job.state, "done", job.error_message)
            partner = env["res.partner"].browse(partner_id).with_company(company_id)
            contact_id = partner.xero_contact_id
            self.assertTrue(contact_id)
            self.assertEqual(partner.comment and "post" in str(partner.comment), True, "the user's edit was lost")
        # The first write-back collided with the user's commit: it was done again from the
        # answer kept on the job; Xero saw one push and has one contact.
        self.assertEqual(_emu_get(emulator, "requests")["counts"].get("POST /Contacts"), 1)
        state = _emu_get(emulator, f"state?tenant={seed.TENANT_AU}")
        self.assertEqual([c["ContactID"] for c in state["Contacts"] if c["Name"] == name], [contact_id])

    def test_a_change_committed_while_the_worker_prepares_is_sent_too(self):
        """The worker has marked the job as being prepared and read the customer; a user changes
        the customer's phone and commits before Xero is called. Xero must end with the new phone:
        the user's re-queue rewrites the marked job (even though nothing the job row shows, such
        as its title, changed), so the worker cannot record the stale push as the last word, and
        the preparation runs again on fresh facts."""
        emulator, registry, name, (company_id, conn_id, partner_id) = self._committed_customer(
            "Rephoned Co", email="desk@rephoned.example.com", phone="+61 2 5550 0100")

        def user_changes_the_phone():
            with registry.cursor() as cr:  # commits on exit: a real user's request
                user_env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [company_id]})
                user_env["res.partner"].browse(partner_id).with_company(company_id).write({"phone": "+61 2 5550 0199"})

        job_class = registry["coworks.sync.job"]
        snapshot = job_class._snapshot
        changed = []

        def snapshot_then_user_commits(job, record, conn):
            obj = snapshot(job, record, conn)  # the worker's facts: the old phone
            if not changed:
                changed.append(True)
                user = threading.Thread(target=user_changes_the_phone)
                user.start()
                user.join(30)  # the user is not blocked by the worker: it only marked the job
                self.assertFalse(user.is_alive(), "the user's save waited for the worker")
            return obj

        with patch.object(job_class, "_snapshot", snapshot_then_user_commits), \
                registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            Job = env["coworks.sync.job"]
            for _run in range(3):  # the cron's runs until nothing is ready
                _jobs, claimed = Job._claim_ready(10)
                mine = claimed.filtered(lambda j: j.connection_id.id == conn_id)
                Job._release_claims((claimed - mine).ids)
                if not mine:
                    break
                mine._process(commit=lambda n: (cr.commit(), True)[1])
                Job._release_claims(mine.ids)
                cr.commit()
        self.assertTrue(changed)

        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            jobs = env["coworks.sync.job"].search([("connection_id", "=", conn_id)])
            self.assertEqual(set(jobs.mapped("state")), {"done"}, jobs.mapped("error_message"))
            contact_id = env["res.partner"].browse(partner_id).with_company(company_id).xero_contact_id
        state = _emu_get(emulator, f"state?tenant={seed.TENANT_AU}")
        ours = [c for c in state["Contacts"] if c["Name"] == name]
        self.assertEqual([c["ContactID"] for c in ours], [contact_id], "one contact in Xero")
        phones = [p for p in ours[0].get("Phones", []) if p.get("PhoneNumber")]
        self.assertTrue(phones and all("0199" in p["PhoneNumber"] for p in phones),
                        f"Xero kept the phone the worker read first: {phones}")
        # The collision came before the request left: the stale version was never sent.
        self.assertEqual(_emu_get(emulator, "requests")["counts"].get("POST /Contacts"), 1)

    def test_webhook_events_stored_while_a_run_waits_for_its_spacing_are_read_by_that_run(self):
        """While the minute's budget runs short a webhook run waits for its read spacing, then
        reads every event stored meanwhile: committed by the webhook route during the wait, they
        are newer than the run's first snapshot (REPEATABLE READ), and were left for a run later
        (2.5 s more on their way to Odoo, bench/inbound.py)."""
        from ..models import xero_inbound
        from ..services.xero import inbound as xin
        emulator, registry, _name, (_company_id, conn_id, _partner_id) = self._committed_customer("Spaced Co")
        self.addCleanup(self._delete_events, registry, conn_id)
        with registry.cursor() as cr:  # the pull is not due: only what webhooks named is read
            cr.execute("UPDATE coworks_sync_connection SET inbound_pulled_at = now() at time zone 'UTC' WHERE id = %s",
                       [conn_id])

        def store(resource_id):
            body = invoice_webhook_body(resource_id, seed.TENANT_AU)
            with registry.cursor() as cr:  # the webhook route's own transaction
                self.assertEqual(api.Environment(cr, SUPERUSER_ID, {})["coworks.sync.inbound.event"]._store(
                    xin.parse_webhook(body)), 1)

        store(str(uuid.uuid4()))
        late = threading.Timer(0.6, store, [str(uuid.uuid4())])  # a webhook arriving during the wait
        self.addCleanup(xero_inbound._last_webhook_read.pop, (registry.db_name, conn_id), None)
        with patch.object(xero_inbound, "BUSY_READ_SPACING", 1.5):
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                conn = env["coworks.sync.connection"].browse(conn_id)
                # The minute's budget runs short (this process's calls), and a webhook read has
                # just gone: the next run waits for its spacing.
                client = conn._xero_client()
                client.paced = False  # quickly: the pacing would spread the calls over ~20 s
                for _i in range(xero_inbound.BUSY_MINUTE_CALLS):
                    client.get_contacts([str(uuid.uuid4())])
                self.assertTrue(conn._coworks_budget_short())
                conn._coworks_xero_wait_for_budget()
                late.start()
                conn._coworks_xero_inbound_sync()  # its first statement takes the snapshot, then it waits
                cr.commit()
        late.join(10)
        with registry.cursor() as cr:
            cr.execute("SELECT state FROM coworks_sync_inbound_event WHERE connection_id = %s", [conn_id])
            self.assertEqual(sorted(r[0] for r in cr.fetchall()), ["done", "done"],
                             "the event stored during the wait is read by the run that waited")
        reads = [r for r in _emu_get(emulator, "requests")["requests"] if r["route"] == "GET /Invoices"]
        self.assertEqual(len(reads), 1, "both in one read")

    @staticmethod
    def _delete_events(registry, conn_id):
        with registry.cursor() as cr:
            cr.execute("DELETE FROM coworks_sync_inbound_event WHERE connection_id = %s", [conn_id])

    @staticmethod
    def _cleanup(registry, saved, company_id, conn_id, partner_id):
        with registry.cursor() as cr:
            cr.execute("DELETE FROM coworks_sync_job WHERE connection_id = %s", [conn_id])
            cr.execute("DELETE FROM coworks_sync_connection WHERE id = %s", [conn_id])
            cr.execute("UPDATE res_partner SET active = false WHERE id = %s", [partner_id])
            cr.execute("UPDATE res_company SET coworks_xero_sync_enabled = false, active = false WHERE id = %s",
                       [company_id])
            params = api.Environment(cr, SUPERUSER_ID, {})["ir.config_parameter"]
            for key, value in saved.items():
                params.set_param(key, value or False)


def _emu_post(emulator, name, body):
    import json
    import urllib.request
    req = urllib.request.Request(f"{emulator.base_url}/__emulator__/{name}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def _emu_get(emulator, name):
    import json
    import urllib.request
    with urllib.request.urlopen(f"{emulator.base_url}/__emulator__/{name}", timeout=30) as resp:
        return json.loads(resp.read())

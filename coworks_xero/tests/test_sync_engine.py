import collections
import datetime
import threading
import uuid
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.orm.registry import Registry
from odoo.tests import tagged
from odoo.tests.common import get_db_name

from .common import CoworksXeroEmulatorCase, RealTransactionsCase


@tagged("post_install", "-at_install")
class TestSyncEngine(CoworksXeroEmulatorCase):

    def _invoice(self, post=True, **kw):
        return self._create_invoice_one_line(
            product_id=self.plan_product, price_unit=350.0, tax_ids=self.tax_sale_a,
            partner_id=kw.pop("partner", self.partner_a), post=post, **kw)

    # ---------------------------------------------------------------- enqueue, then push

    def test_post_queues_without_network_then_worker_pushes(self):
        self.emu("DELETE", "requests")
        invoice = self._invoice()
        self.env.flush_all()
        # Inside the posting transaction: jobs queued, nothing sent.
        self.assertEqual(self.xero_requests()["counts"], {})
        jobs = self.env["coworks.sync.job"].search([("state", "=", "pending")])
        self.assertEqual(sorted(jobs.mapped("kind")), ["contact", "invoice"])
        self.assertEqual(invoice.xero_sync_state, "pending")

        self.run_worker()

        xero = self.xero_invoice(invoice.name)
        self.assertTrue(xero, "invoice not in Xero")
        self.assertEqual(xero["Status"], "AUTHORISED")
        self.assertEqual(xero["Contact"]["ContactID"], self.partner_a.with_company(self.company).xero_contact_id)
        self.assertEqual(float(xero["Total"]), invoice.amount_total)
        self.assertEqual(invoice.xero_id, xero["InvoiceID"])
        self.assertEqual(invoice.xero_sync_state, "done")
        self.assertEqual(set(self.jobs_of(invoice).mapped("state")), {"done"})
        self.assertIn("InvoiceNumber", self.jobs_of(invoice).request_body)

    def test_rolled_back_transaction_leaves_nothing_queued(self):
        before = self.env["coworks.sync.job"].search_count([])
        try:
            with self.env.cr.savepoint():
                self._invoice()
                self.env.flush_all()
                self.assertGreater(self.env["coworks.sync.job"].search_count([]), before)
                raise RuntimeError("user cancels")
        except RuntimeError:
            pass
        self.env.invalidate_all()
        self.assertEqual(self.env["coworks.sync.job"].search_count([]), before)

    def test_repost_coalesces_into_one_open_job(self):
        invoice = self._invoice()
        invoice.button_draft()
        invoice.action_post()
        self.env.flush_all()
        open_jobs = self.jobs_of(invoice).filtered(lambda j: j.state == "pending")
        self.assertEqual(len(open_jobs), 1)

    def test_sync_off_queues_nothing_and_catch_up_sends_it_later(self):
        self.company.coworks_xero_sync_enabled = False
        invoice = self._invoice()
        self.env.flush_all()
        self.assertFalse(self.jobs_of(invoice))
        self.company.coworks_xero_sync_enabled = True
        self.run_worker()  # the catch-up scan finds the posted invoice without a job
        self.assertTrue(invoice.xero_id)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_paused_connection_keeps_jobs(self):
        invoice = self._invoice()
        self.connection.sudo().state = "needs_reconnect"
        self.run_worker()
        self.assertEqual(self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice").state, "pending")
        self.assertIsNone(self.xero_invoice(invoice.name))
        self.connection.sudo().state = "connected"
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    # ---------------------------------------------------------------- failures

    def test_mapping_error_needs_a_person_then_retry_succeeds(self):
        tax = self.tax_sale_b  # not mapped to a Xero tax rate
        invoice = self._create_invoice_one_line(product_id=self.day_pass, price_unit=35.0, tax_ids=tax,
                                                partner_id=self.partner_a, post=True)
        self.run_worker()
        job = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn(tax.name, job.error_message)
        self.assertIn("Tax mappings", job.error_message)
        self.assertEqual(invoice.xero_sync_state, "error")
        self.assertIn(tax.name, invoice.xero_sync_error)
        self.assertIn("needs attention", invoice.message_ids[0].body)
        self.assertIsNone(self.xero_invoice(invoice.name))

        self.env["coworks.xero.tax.mapping"].create({
            "connection_id": self.connection.id, "tax_id": tax.id, "send_odoo_tax_amounts": True,  # 15 % vs 10 %
            "tax_rate_id": self.xref("coworks.xero.tax.rate", tax_type="OUTPUT").id})
        job.action_retry()
        self.assertEqual(job.state, "pending")
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.assertIn("again", invoice.message_ids[0].body)

    def test_xero_validation_error_is_readable_and_bulk_retry_fixes_all(self):
        # Map day passes to an account Xero has archived: Xero rejects the line.
        mapping = self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", self.connection.id), ("item_kind", "=", "day_pass")])
        # The cache is stale: it still shows the account as active, so only Xero can refuse it.
        self.acc_476.sudo().status = "ACTIVE"
        mapping.write({"xero_item_id": False, "xero_account_id": self.acc_476.id})
        self.connection.sudo().reference_data_refreshed_at = False  # let Xero judge (no pre-flight)
        invoices = [self._create_invoice_one_line(product_id=self.day_pass, price_unit=35.0,
                                                  tax_ids=self.tax_sale_a, partner_id=self.partner_a, post=True)
                    for _ in range(2)]
        self.run_worker()
        jobs = self.env["coworks.sync.job"].union(*(self.jobs_of(i).filtered(lambda j: j.kind == "invoice")
                                                    for i in invoices))
        self.assertEqual(set(jobs.mapped("state")), {"error"})
        self.assertEqual(set(jobs.mapped("error_kind")), {"validation"})
        self.assertIn("476", jobs[0].error_message)
        self.assertNotIn("Traceback", jobs[0].error_message)

        mapping.write({"xero_account_id": False, "xero_item_id": self.xref("coworks.xero.item", code="DAYPASS").id})
        jobs.action_retry()
        self.run_worker()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        for invoice in invoices:
            self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_server_errors_are_retried_with_backoff(self):
        invoice = self._invoice()
        self.run_worker()  # the contact and the invoice go through
        self.emu("POST", "faults", {"route": "POST /Contacts", "kind": "status", "status": 503, "count": 50})
        self.partner_a.write({"phone": "+61 400 000 000"})  # an update of a synced contact
        self.run_worker()
        job = self.env["coworks.sync.job"].search([("res_model", "=", "res.partner"), ("res_id", "=", self.partner_a.id),
                                                   ("state", "=", "pending")])
        self.assertEqual(len(job), 1)
        self.assertEqual(job.error_kind, "retryable")
        self.assertGreater(job.next_attempt_at, fields.Datetime.now())
        self.assertTrue(job.error_message)
        self.emu("DELETE", "faults")
        self.run_worker_at(job.next_attempt_at)
        self.assertEqual(job.state, "done")
        self.assertTrue(invoice.xero_id)

    def test_lost_response_after_create_does_not_duplicate(self):
        self.run_worker()
        # Xero applies the write, then the connection drops before the answer arrives.
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "drop_after_write", "count": 1})
        invoice = self._invoice()
        self.run_worker()
        self.run_worker()
        matches = [i for i in self.xero_state()["Invoices"] if i["InvoiceNumber"] == invoice.name]
        self.assertEqual(len(matches), 1)
        self.assertEqual(invoice.xero_id, matches[0]["InvoiceID"])

    def test_earlier_attempt_reached_xero_is_linked_not_recreated(self):
        """Xero created the invoice but its answer, and every retry's, was lost: Odoo does not
        know the ID. Re-posted by the user (the job due again, its attempts back to 0), the
        invoice is found in Xero by number and linked, not created twice."""
        self.run_worker()
        invoice = self._invoice()
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "drop_after_write", "count": 5})
        self.run_worker()
        self.emu("DELETE", "faults")
        job = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertFalse(invoice.xero_id)
        self.assertEqual(job.state, "pending")
        [xero] = [i for i in self.xero_state()["Invoices"] if i["InvoiceNumber"] == invoice.name]
        invoice.button_draft()
        invoice.action_post()
        self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(invoice.xero_id, xero["InvoiceID"])
        self.assertEqual(len([i for i in self.xero_state()["Invoices"] if i["InvoiceNumber"] == invoice.name]), 1)

    def test_a_spent_minute_ends_the_run_and_nothing_is_left_maybe_sent(self):
        """Xero's answer says the organisation's minute is spent (other apps count too): the run
        does not sleep in the limiter holding the cron worker, nor send into a refusal that would
        leave the invoice "maybe sent" (looked up in Xero before its next send). The invoice
        stays ready, untouched, and the worker is woken when the budget is back."""
        from ..models.sync_engine import BUDGET_WAIT_IN_RUN
        self.run_worker()
        cron = self.env.ref("coworks_xero.ir_cron_sync")
        # the calls made since the emulator's reset (all within its minute), and one more
        used = sum(n for route, n in self.xero_requests()["counts"].items() if "/__emulator__" not in route)
        self.emu("POST", "limits", {"minute": used + 1})
        self.connection._xero_client().find_contacts_by_email("nobody@example.com")  # answered: 0 left
        invoice = self._invoice()
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        self.emu("DELETE", "requests")
        self.run_worker()
        self.assertNotIn("PUT /Invoices", self.xero_requests()["counts"])
        [job] = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((job.state, job.maybe_sent, job.send_count, job.attempt_count), ("pending", False, 0, 0))
        self.assertFalse(job.error_message)
        wake = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)], order="call_at desc", limit=1)
        self.assertTrue(wake, "nobody wakes the worker when the budget is back")
        self.assertGreater(wake.call_at, fields.Datetime.now() + datetime.timedelta(seconds=BUDGET_WAIT_IN_RUN))
        self.emu("POST", "limits", {"minute": 60})
        self.run_worker_at(wake.call_at)
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(self.xero_requests()["counts"].get("PUT /Invoices"), 1)
        self.assertEqual(job.send_count, 1)

    def test_a_cron_job_ends_at_its_own_limit_however_often_odoo_calls_it_again(self):
        """Odoo calls a cron callback again and again (up to 10 times) while it reports work done
        and work left, each call after the first with no time left: the sync's job still ends at
        RUN_WALL_LIMIT, so that the other crons of the cron worker's pass fit in its
        limit_time_real_cron (a killed worker leaves its batch maybe sent, looked up again). What
        is left goes at the next run, woken at once. Odoo's time budget and the limit are scaled
        down (1 s, 2 s) and every Xero answer takes 0.7 s."""
        from odoo.addons.base.models import ir_cron
        from ..models import sync_engine
        self.run_worker()
        partners = self.env["res.partner"].create([{"name": f"Wall {i}", "email": f"wall{i}@example.com"}
                                                   for i in range(6)])
        self.env["coworks.sync.job"]._enqueue(partners, "contact", company_getter=lambda p: self.company)
        jobs = self.env["coworks.sync.job"].search([("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)])
        self.assertEqual(len(jobs), 6)
        cron = self.env.ref("coworks_xero.ir_cron_sync")
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        self.emu("POST", "faults", {"route": "*", "kind": "latency", "seconds": 0.7, "count": 0})
        with patch.object(ir_cron, "MIN_TIME_PER_JOB", 1), patch.object(sync_engine, "MIN_TIME_PER_JOB", 1), \
                patch.object(sync_engine, "RUN_WALL_LIMIT", 2), patch.object(sync_engine, "BATCH_SIZE", 1):
            self.run_worker()
        done = jobs.filtered(lambda j: j.state == "done")
        self.assertTrue(done, "the run did some of the work")
        self.assertTrue(jobs - done, "the run went on past its limit: Odoo's ten calls sent everything")
        self.assertFalse((jobs - done).filtered("maybe_sent"), "what is left was never sent")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id),
                                                            ("call_at", "<=", fields.Datetime.now())]),
                        "the next run is not woken at once")
        self.emu("DELETE", "faults")
        self.run_worker()
        self.assertEqual(set(jobs.mapped("state")), {"done"})

    def test_cancel_job_and_retention(self):
        invoice = self._invoice()
        self.run_worker()
        job = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        failed = self.env["coworks.sync.job"].sudo().create({
            "company_id": self.company.id, "connection_id": self.connection.id, "res_model": "res.partner",
            "res_id": self.partner_b.id, "kind": "contact", "state": "error", "error_message": "x"})
        old = fields.Datetime.now() - datetime.timedelta(days=self.company.coworks_xero_job_retention_days + 1)
        job.sudo().date_done = old  # as if synced long ago (only the sync itself writes the log)
        failed.date_done = old
        self.env["coworks.sync.job"]._gc_done_jobs()
        self.assertFalse(job.exists())
        self.assertTrue(failed.exists())
        failed.action_cancel()
        self.assertEqual(failed.state, "cancelled")


@tagged("post_install", "-at_install")
class TestClaimConcurrency(RealTransactionsCase):
    """Two workers on two real database connections, with committed data: no test transaction
    holds locks here, so the row locks behave exactly as between two Odoo cron workers."""

    def test_two_workers_claim_disjoint_jobs_and_a_killed_worker_releases_them(self):
        registry = Registry(get_db_name())
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].create({"name": f"Race Co {uuid.uuid4().hex[:8]}"})
            company.coworks_xero_sync_enabled = True
            conn = env["coworks.sync.connection"].create({"company_id": company.id, "state": "connected",
                                                          "tenant_id": "race"})
            partners = env["res.partner"].create([{"name": f"Race {i}"} for i in range(20)])
            env["coworks.sync.job"]._enqueue(partners, "contact", company_getter=lambda p: company, trigger=False)
            job_ids = set(env["coworks.sync.job"].search([("connection_id", "=", conn.id)]).ids)
            ids = (company.id, conn.id, partners.ids)
        self.addCleanup(self._cleanup, registry, *ids)
        self.assertEqual(len(job_ids), 20)

        claims = {}
        a_holds_locks, b_done = threading.Event(), threading.Event()
        cursors = {name: registry.cursor() for name in ("a", "b")}
        for cr in cursors.values():  # closed even when an assertion fails, or cleanup would wait on their locks
            self.addCleanup(cr.close)

        def claim(name):
            Job = api.Environment(cursors[name], SUPERUSER_ID, {})["coworks.sync.job"]
            if name == "b":
                a_holds_locks.wait(20)
            _jobs, claimed = Job._claim_ready(15)
            claims[name] = set(claimed.ids) & job_ids
            if name == "a":
                a_holds_locks.set()
                b_done.wait(20)
            else:
                b_done.set()

        threads = [threading.Thread(target=claim, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(claims["a"]), 15)
        self.assertFalse(claims["a"] & claims["b"], "the same job was claimed twice")
        self.assertEqual(claims["a"] | claims["b"], job_ids)

        # Worker a's database session dies (its backend is terminated): its claims go with it.
        cursors["a"].execute("SELECT pg_backend_pid()")
        pid_a = cursors["a"].fetchone()[0]
        with registry.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", [pid_a])
        for name in ("a", "b"):
            try:
                cursors[name].close()
            except Exception:  # noqa: BLE001 - a's connection is gone
                pass
        self._release(registry, claims["b"])
        with registry.cursor() as cr:
            Job = api.Environment(cr, SUPERUSER_ID, {})["coworks.sync.job"]
            _jobs, claimed = Job._claim_ready(50)
            Job._release_claims(claimed.ids)
            self.assertTrue(claims["a"] <= set(claimed.ids))

    def test_two_lanes_work_on_two_organisations_at_once_and_never_on_the_same(self):
        """The sync's two crons (on one server's two cron workers, or on two servers) each take
        one connection per round under a session lock: never the same one at the same time."""
        registry = Registry(get_db_name())
        made = []
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            for n in range(2):
                company = env["res.company"].create({"name": f"Lane Co {n} {uuid.uuid4().hex[:8]}"})
                company.coworks_xero_sync_enabled = True
                conn = env["coworks.sync.connection"].create({"company_id": company.id, "state": "connected",
                                                              "tenant_id": f"lane-{n}"})
                partners = env["res.partner"].create([{"name": f"Lane {n}.{i}"} for i in range(3)])
                env["coworks.sync.job"]._enqueue(partners, "contact", company_getter=lambda p, c=company: c,
                                                 trigger=False)
                made.append((company.id, conn.id, partners.ids))
        for ids in made:
            self.addCleanup(self._cleanup, registry, *ids)
        ours = {conn_id for _c, conn_id, _p in made}
        cursors = {name: registry.cursor() for name in ("a", "b")}
        for cr in cursors.values():
            self.addCleanup(cr.close)
        jobs = {name: api.Environment(cr, SUPERUSER_ID, {})["coworks.sync.job"] for name, cr in cursors.items()}
        # other connections' ready jobs (demo data) are skipped: only ours compete here
        others = set(jobs["a"].search(jobs["a"]._ready_domain()).connection_id.ids) - ours
        got_a, waiting_a = jobs["a"]._lock_next_connection(collections.Counter(), skip=others)
        got_b, waiting_b = jobs["b"]._lock_next_connection(collections.Counter(), skip=others)
        self.assertIn(got_a, ours)
        self.assertIn(got_b, ours)
        self.assertNotEqual(got_a, got_b, "two lanes took the same organisation")
        self.assertEqual((waiting_a, waiting_b), (1, 1), "each lane sees that another organisation has work")
        # While a and b each hold one, a third lane finds nothing to take, and says so.
        self.assertEqual(jobs["b"]._lock_next_connection(collections.Counter(), skip=others | {got_b}),
                         (None, 1))
        # a lets its organisation go at the end of its round: b can take it next.
        jobs["a"]._unlock_connection(got_a)
        again, _w = jobs["b"]._lock_next_connection(collections.Counter({got_b: 1}), skip=others | {got_b})
        self.assertEqual(again, got_a)
        jobs["b"]._unlock_connection(got_a)
        jobs["b"]._unlock_connection(got_b)

    @staticmethod
    def _release(registry, ids):
        """Claims are session locks of the claimer; b's pooled connection may still hold them."""
        with registry.cursor() as cr:
            cr.execute("""SELECT pg_terminate_backend(pid) FROM pg_locks
                           WHERE locktype = 'advisory' AND objid = ANY(%s) AND pid != pg_backend_pid()""",
                       [list(ids)])

    @staticmethod
    def _cleanup(registry, company_id, conn_id, partner_ids):
        with registry.cursor() as cr:
            cr.execute("DELETE FROM coworks_sync_job WHERE connection_id = %s", [conn_id])
            cr.execute("DELETE FROM coworks_sync_connection WHERE id = %s", [conn_id])
            cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [partner_ids])
            cr.execute("UPDATE res_company SET coworks_xero_sync_enabled = false, active = false WHERE id = %s",
                       [company_id])


# A second Odoo server, as small as it gets: its own process, its own registry and database
# session, claiming ready jobs the way the sync cron does, holding them until told or killed.
_OTHER_SERVER = r"""
import json, sys
from odoo.tools import config
config.parse_config(json.loads(sys.argv[1]), setup_logging=False)
from odoo import SUPERUSER_ID, api
from odoo.orm.registry import Registry
with Registry(sys.argv[2]).cursor() as cr:
    Job = api.Environment(cr, SUPERUSER_ID, {})["coworks.sync.job"]
    _jobs, claimed = Job._claim_ready(int(sys.argv[3]))
    cr.commit()
    cr.execute("SELECT pg_backend_pid()")
    print(json.dumps({"ids": claimed.ids, "pid": cr.fetchone()[0]}), flush=True)
    sys.stdin.readline()
"""


@tagged("post_install", "-at_install")
class TestClaimsAcrossProcesses(RealTransactionsCase):
    """Two real Odoo processes on one database: what one holds, the other never takes; when the
    holder is killed (SIGKILL, no cleanup of its own), its jobs are free again."""

    def test_a_job_held_by_another_server_process_is_not_taken_until_it_dies(self):
        import json
        import os
        import select
        import signal
        import subprocess
        import sys
        import tempfile
        import time

        import odoo
        from odoo.tools import config

        registry = Registry(get_db_name())
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].create({"name": f"Two servers {uuid.uuid4().hex[:8]}",
                                                 "coworks_xero_sync_enabled": True})
            conn = env["coworks.sync.connection"].create({"company_id": company.id, "state": "connected",
                                                          "tenant_id": "two-servers"})
            partners = env["res.partner"].create([{"name": f"Two servers {i}"} for i in range(12)])
            env["coworks.sync.job"]._enqueue(partners, "contact", company_getter=lambda p: company, trigger=False)
            ours = set(env["coworks.sync.job"].search([("connection_id", "=", conn.id)]).ids)
        self.addCleanup(TestClaimConcurrency._cleanup, registry, company.id, conn.id, partners.ids)
        self.assertEqual(len(ours), 12)

        args = ["--addons-path", ",".join(odoo.addons.__path__), "--data-dir", config["data_dir"]]
        for option in ("db_host", "db_port", "db_user", "db_password"):
            if config.get(option):
                args += [f"--{option.replace('_', '-')}", str(config[option])]
        env_vars = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [os.path.dirname(list(odoo.__path__)[0]), os.environ.get("PYTHONPATH", "")]))
        errors = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: its log never blocks it
        self.addCleanup(errors.close)
        other = subprocess.Popen([sys.executable, "-c", _OTHER_SERVER, json.dumps(args), get_db_name(), "500"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                 env=env_vars, text=True)
        self.addCleanup(lambda: other.poll() is None and other.kill())
        ready, _, _ = select.select([other.stdout], [], [], 120)
        line = other.stdout.readline() if ready else ""
        if not line:
            errors.seek(0)
            self.fail(f"the other server did not start: {errors.read()[-2000:]}")
        held = json.loads(line)
        self.assertEqual(set(held["ids"]) & ours, ours, "the other server claims every ready job")
        self.assertNotEqual(held["pid"], os.getpid())

        with registry.cursor() as cr:
            Job = api.Environment(cr, SUPERUSER_ID, {})["coworks.sync.job"]
            candidates, claimed = Job._claim_ready(50)
            self.assertTrue(ours <= set(candidates.ids), "they are ready, only held")
            self.assertFalse(set(claimed.ids) & ours, "a job held by the other server was taken")
            Job._release_claims(claimed.ids)

        other.send_signal(signal.SIGKILL)  # the server dies mid-batch; its session goes with it
        other.wait(30)
        taken = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not ours <= taken:
            with registry.cursor() as cr:
                Job = api.Environment(cr, SUPERUSER_ID, {})["coworks.sync.job"]
                _candidates, claimed = Job._claim_ready(50)
                taken = set(claimed.ids)
                Job._release_claims(claimed.ids)
            time.sleep(0.2)
        self.assertTrue(ours <= taken, "the killed server's claims were never released")

"""The sync log as an admin sees it, and the engine's guarantees behind it (issue 4)."""
import datetime

from lxml import etree

from odoo import fields
from odoo.tests import tagged

from ..models.sync_engine import BATCH_SIZE, MAX_ATTEMPTS
from ..models.sync_job import REDACTED, redact, summarize_error
from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestSyncLog(CoworksXeroEmulatorCase):

    def _invoice(self, product=None, price=350.0, partner=None, tax=None):
        return self._create_invoice_one_line(
            product_id=product or self.plan_product, price_unit=price, tax_ids=tax or self.tax_sale_a,
            partner_id=partner or self.partner_a, post=True)

    def _invoice_job(self, invoice):
        return self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")

    def _reject_day_passes_in_xero(self):
        """Day passes go to account 476, archived in Xero while the cache still shows it active:
        only Xero can refuse those lines (no pre-flight)."""
        mapping = self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", self.connection.id), ("item_kind", "=", "day_pass")])
        self.acc_476.sudo().status = "ACTIVE"
        mapping.write({"xero_item_id": False, "xero_account_id": self.acc_476.id})
        self.connection.sudo().reference_data_refreshed_at = False
        return mapping

    def _cron(self):
        return self.env.ref("coworks_xero.ir_cron_sync").sudo()

    # ---------------------------------------------------------------- trigger and schedule

    def test_post_triggers_the_cron_which_also_runs_on_a_schedule(self):
        cron = self._cron()
        self.assertTrue(cron.active, "an inactive cron drops _trigger() calls")
        self.assertEqual((cron.interval_number, cron.interval_type), (10, "minutes"))
        self.assertEqual(cron.code.strip(), "model._cron_process_jobs()")
        Trigger = self.env["ir.cron.trigger"].sudo()
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        self.env.cr.flush()  # (what the test's transaction had asked for at its commit so far)
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        self._invoice()
        self.env.flush_all()
        self.assertFalse(Trigger.search([("cron_id", "=", cron.id)]),
                         "the wake-up is written when the transaction commits, not by each hook")
        self.env.cr.flush()  # what a commit runs first: the pre-commit hooks
        triggers = Trigger.search([("cron_id", "=", cron.id)])
        self.assertEqual(len(triggers), 1)
        self.assertLessEqual(triggers.call_at, fields.Datetime.now())
        # More documents in the same transaction: its one trigger covers them.
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        self._invoice()
        self._invoice(partner=self.partner_b)
        self.env.cr.flush()
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), 1)
        self.assertEqual(len(self.env["coworks.sync.job"].search([("state", "=", "pending")])), 5)

    def test_wake_up_reaches_listening_cron_workers(self):
        """The post-commit wake-up is the NOTIFY Odoo's cron workers LISTEN to (on "postgres")."""
        import select

        import psycopg2

        from odoo import sql_db

        from ..models.sync_job import _notify_cron_workers
        _name, info = sql_db.connection_info_for("postgres")
        listener = psycopg2.connect(**info)
        self.addCleanup(listener.close)
        listener.autocommit = True
        listener.cursor().execute("LISTEN cron_trigger")
        for _attempt in range(2):  # the second call reuses the kept-open connection
            _notify_cron_workers(self.env.cr.dbname)
            select.select([listener], [], [], 5)
            listener.poll()
            payloads = [n.payload for n in listener.notifies]
            listener.notifies.clear()
            self.assertIn(self.env.cr.dbname, payloads)

    def test_cron_reports_progress(self):
        invoices = [self._invoice() for _ in range(3)]
        self.run_worker()
        progress = self.env["ir.cron.progress"].sudo().search([("cron_id", "=", self._cron().id)],
                                                              order="id desc", limit=1)
        self.assertTrue(progress, "the cron did not report progress through _commit_progress")
        self.assertGreaterEqual(progress.done, 4)  # the customer and three invoices
        self.assertEqual(progress.remaining, 0)
        self.assertTrue(all(i.xero_id for i in invoices))

    # ---------------------------------------------------------------- batches

    def test_first_push_sends_three_invoices_in_one_call_and_one_rejection_stays_alone(self):
        self._reject_day_passes_in_xero()
        self.emu("DELETE", "requests")
        good = [self._invoice(), self._invoice()]
        bad = self._invoice(self.day_pass, 35.0)
        self.run_worker()
        counts = self.xero_requests()["counts"]
        self.assertEqual(counts.get("PUT /Invoices"), 1, counts)  # one batch, summarizeErrors=false
        self.assertEqual(counts.get("POST /Contacts"), 1, counts)  # the customer went first
        for inv in good:
            self.assertEqual(self._invoice_job(inv).state, "done")
            self.assertEqual(self.xero_invoice(inv.name)["Status"], "AUTHORISED")
            self.assertEqual(inv.xero_sync_state, "done")
        bad_job = self._invoice_job(bad)
        self.assertEqual((bad_job.state, bad_job.error_kind), ("error", "validation"))
        self.assertEqual(bad.xero_sync_state, "error")
        self.assertIn("needs attention", bad.message_ids[0].body)
        self.assertIsNone(self.xero_invoice(bad.name))
        # The person fixes the mapping and retries: the document recovers, with a note.
        self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", self.connection.id), ("item_kind", "=", "day_pass")]).write(
            {"xero_account_id": False, "xero_item_id": self.xref("coworks.xero.item", code="DAYPASS").id})
        bad_job.action_retry()
        self.run_worker()
        self.assertEqual(bad_job.state, "done")
        self.assertEqual(self.xero_invoice(bad.name)["Status"], "AUTHORISED")
        self.assertIn("again", bad.message_ids[0].body)

    def test_batches_hold_at_most_fifty_documents(self):
        self.emu("DELETE", "requests")
        moves = self.env["account.move"].create([{
            "move_type": "out_invoice", "partner_id": self.partner_a.id, "invoice_date": "2026-01-15",
            "invoice_line_ids": [(0, 0, {"product_id": self.day_pass.id, "price_unit": 35.0,
                                         "tax_ids": [(6, 0, self.tax_sale_a.ids)]})],
        } for _ in range(BATCH_SIZE + 3)])
        moves.action_post()
        self.run_worker()
        counts = self.xero_requests()["counts"]
        self.assertEqual(counts.get("PUT /Invoices"), 2, counts)
        self.assertEqual(len(self.xero_state()["Invoices"]), BATCH_SIZE + 3)

    def test_targeted_contact_lookups_and_batches_see_each_others_contacts(self):
        """A backfill of many customers: Xero's contacts are looked up by name and email, one
        few requests per batch of 50 customers (never the whole directory), and a later batch knows
        the names an earlier batch just took."""
        partners = self.env["res.partner"].create(
            [{"name": "Same Name Pty"}] + [{"name": f"Member {i:03d}"} for i in range(BATCH_SIZE * 2)]
            + [{"name": "Same Name Pty", "email": "other@same.example"}])
        self.env["coworks.sync.job"]._enqueue(partners, "contact", company_getter=lambda p: self.company)
        self.emu("DELETE", "requests")
        self.run_worker()
        counts = self.xero_requests()["counts"]
        # Three batches; a batch's names and emails (as typed and lower-cased) fit two requests.
        self.assertGreaterEqual(counts.get("GET /Contacts"), 3, counts)
        self.assertLessEqual(counts.get("GET /Contacts"), 6, counts)
        self.assertEqual(counts.get("POST /Contacts"), 3, counts)  # no rename retry either
        jobs = self.env["coworks.sync.job"].search([("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)])
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        names = [c["Name"] for c in self.xero_state()["Contacts"] if c["Name"].startswith("Same Name Pty")]
        self.assertEqual(len(names), 2)
        self.assertEqual(len(set(names)), 2, names)

    # ---------------------------------------------------------------- retries

    def test_temporary_failures_back_off_then_need_a_person(self):
        self.run_worker()  # the customer is in Xero
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "status", "status": 503, "count": 1000})
        invoice = self._invoice()
        self.run_worker()
        job = self._invoice_job(invoice)
        self.assertEqual((job.state, job.error_kind, job.attempt_count), ("pending", "retryable", 1))
        first_delay = job.next_attempt_at - job.last_attempt_at
        self.assertGreater(first_delay, datetime.timedelta(seconds=20))
        self.assertFalse([m for m in invoice.message_ids if "needs attention" in (m.body or "")])
        # Not due yet: the next run leaves it alone.
        self.run_worker()
        self.assertEqual(job.attempt_count, 1)
        # Due again: a second failure waits longer.
        self.run_worker_at(job.next_attempt_at)
        self.assertEqual((job.state, job.attempt_count), ("pending", 2))
        self.assertGreater(job.next_attempt_at - job.last_attempt_at, first_delay)
        # The last allowed attempt fails: a person is needed, and the document says so.
        while job.state == "pending":
            self.run_worker_at(job.next_attempt_at)
        self.assertEqual((job.state, job.attempt_count), ("error", MAX_ATTEMPTS))
        self.assertFalse(job.next_attempt_at)
        self.assertIn(f"Gave up after {MAX_ATTEMPTS} attempts", job.error_message)
        self.assertEqual(invoice.xero_sync_state, "error")
        self.assertIn("needs attention", invoice.message_ids[0].body)
        # Xero is back; the person retries.
        self.emu("DELETE", "faults")
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertTrue(invoice.xero_id)
        self.assertIn("again", invoice.message_ids[0].body)

    def test_person_needed_failure_is_not_retried_automatically(self):
        invoice = self._invoice(self.day_pass, 35.0, tax=self.tax_sale_b)  # tax not mapped
        self.run_worker()
        job = self._invoice_job(invoice)
        self.assertEqual((job.state, job.error_kind, job.attempt_count), ("error", "mapping", 1))
        self.assertFalse(job.next_attempt_at)
        self.emu("DELETE", "requests")
        self.run_worker()
        self.run_worker()
        self.assertEqual((job.state, job.attempt_count), ("error", 1))
        self.assertFalse(self.xero_requests()["counts"].get("PUT /Invoices"))

    # ---------------------------------------------------------------- the log itself

    def test_similar_errors_group_under_one_cause(self):
        unmapped = [self._invoice(self.day_pass, 35.0, tax=self.tax_sale_b),
                    self._invoice(self.plan_product, 350.0, tax=self.tax_sale_b)]
        self.run_worker()
        jobs = self.env["coworks.sync.job"].union(*(self._invoice_job(i) for i in unmapped))
        self.assertEqual(set(jobs.mapped("state")), {"error"})
        self.assertEqual(len(set(jobs.mapped("error_message"))), 2, "messages name their line")
        self.assertEqual(len(set(jobs.mapped("error_summary"))), 1)
        summary = jobs[0].error_summary
        self.assertIn(self.tax_sale_b.name, summary)
        self.assertNotIn("Line", summary)
        groups = self.env["coworks.sync.job"]._read_group(
            [("state", "=", "error")], ["error_summary"], ["__count"])
        self.assertIn((summary, 2), groups)
        # The group-by is offered in the search view and the column is indexed.
        search = self.env["coworks.sync.job"].get_views([(False, "search")])["views"]["search"]["arch"]
        self.assertIn("'group_by': 'error_summary'", search)
        self.assertTrue(self.env["coworks.sync.job"]._fields["error_summary"].index)
        self.assertTrue(self.env["coworks.sync.job"]._fields["error_summary"].store)

    def test_summary_drops_what_is_specific_to_one_document(self):
        self.assertEqual(summarize_error("Gave up after 8 attempts: Waiting for the customer Azure to reach Xero."),
                         summarize_error("Waiting for the customer Deco Addict to reach Xero."))
        self.assertEqual(summarize_error("Invoice INV/2026/00012 must be unique."),
                         summarize_error("Invoice INV/2026/00977 must be unique."))
        self.assertNotEqual(summarize_error("The tax “Tax 15%” has no Xero tax rate"),
                            summarize_error("The tax “Tax 0%” has no Xero tax rate"))
        self.assertFalse(summarize_error(False))
        self.assertLessEqual(len(summarize_error("x" * 500)), 120)

    def test_secrets_never_reach_the_log(self):
        access = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlLXZhbHVl"
        job = self.env["coworks.sync.job"].sudo().create({
            "company_id": self.company.id, "connection_id": self.connection.id, "res_model": "res.partner",
            "res_id": self.partner_b.id, "kind": "contact", "state": "error",
            "error_message": f"HTTP 401 with headers {{'Authorization': 'Bearer {access}'}}",
            "request_body": '{"Name": "Token Holder Ltd", "access_token": "%s", "refresh_token": "r-123456789"}' % access,
            "response_body": "Authorization: Bearer plainopaquetoken123\nclient_secret=%s&x=1" % "s3cr3t-value",
        })
        job.write({"log_note": f"retried with Bearer {access}"})
        self.env.flush_all()
        self.env.cr.execute("SELECT error_message, request_body, response_body, log_note FROM coworks_sync_job "
                            "WHERE id = %s", [job.id])
        stored = "\n".join(self.env.cr.fetchone())
        for secret in (access, "r-123456789", "plainopaquetoken123", "s3cr3t-value"):
            self.assertNotIn(secret, stored)
        self.assertIn(REDACTED, stored)
        self.assertIn("Token Holder Ltd", stored, "ordinary data is kept")
        # The app's client secret is removed wherever it appears.
        secret = self.env["ir.config_parameter"].sudo().get_param("coworks_xero.client_secret")
        job.write({"error_message": f"refused: {secret}"})
        self.assertNotIn(secret, job.error_message)
        self.assertEqual(redact("Authorization=Basic abc:def"), f"Authorization={REDACTED}")

    def test_real_push_logs_bodies_without_the_access_token(self):
        from ..models.sync_connection_xero import OdooTokenStore
        invoice = self._invoice()
        self.run_worker()
        token = OdooTokenStore(self.env, self.connection.id).load().access_token
        self.assertTrue(token)
        jobs = self.jobs_of(invoice) | self.jobs_of(self.partner_a)
        self.assertTrue(jobs)
        for job in jobs:
            self.assertTrue(job.request_body)
            text = "".join(filter(None, [job.request_body, job.response_body, job.error_message, job.log_note]))
            self.assertNotIn(token, text)
            self.assertNotIn("Authorization", text)

    def test_bulk_retry_from_the_list(self):
        self._reject_day_passes_in_xero()
        invoices = [self._invoice(self.day_pass, 35.0) for _ in range(3)]
        self.run_worker()
        Job = self.env["coworks.sync.job"]
        failed = Job.union(*(self._invoice_job(i) for i in invoices))
        self.assertEqual(set(failed.mapped("state")), {"error"})
        # What the list offers on a selection: its header buttons.
        arch = etree.fromstring(Job.get_views([(False, "list")])["views"]["list"]["arch"])
        header_buttons = [b.get("name") for b in arch.iterfind("header/button")]
        self.assertIn("action_retry", header_buttons)
        self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", self.connection.id), ("item_kind", "=", "day_pass")]).write(
            {"xero_account_id": False, "xero_item_id": self.xref("coworks.xero.item", code="DAYPASS").id})
        Trigger = self.env["ir.cron.trigger"].sudo()
        self.env.cr.flush()
        Trigger.search([("cron_id", "=", self._cron().id)]).unlink()
        result = Job.browse(failed.ids).action_retry()  # the web client calls the button on the selection
        self.assertEqual(result["params"]["type"], "info")
        self.assertEqual(set(failed.mapped("state")), {"pending"})
        self.env.cr.flush()  # the wake-up is written at commit
        self.assertEqual(Trigger.search_count([("cron_id", "=", self._cron().id)]), 1)
        self.run_worker()
        self.assertEqual(set(failed.mapped("state")), {"done"})
        for inv in invoices:
            self.assertEqual(self.xero_invoice(inv.name)["Status"], "AUTHORISED")
        # Cancel from the list too.
        self.assertIn("action_cancel", header_buttons)

    def test_menu_opens_the_log_on_failures_when_there_are_some(self):
        menu = self.env.ref("coworks_xero.menu_sync_job")
        self.assertEqual(menu.parent_id.parent_id, self.env.ref("account.menu_finance_configuration"))
        server_action = self.env.ref("coworks_xero.action_sync_job_menu")
        self.assertEqual(menu.action, server_action)
        action = server_action.sudo().run()
        self.assertEqual(action["res_model"], "coworks.sync.job")
        self.assertNotIn("search_default_needs_attention", action["context"])
        self._invoice(self.day_pass, 35.0, tax=self.tax_sale_b)
        self.run_worker()
        action = server_action.sudo().run()
        self.assertEqual(action["context"].get("search_default_needs_attention"), 1)

    def test_form_shows_document_attempts_timings_and_bodies(self):
        invoice = self._invoice()
        self.run_worker()
        job = self._invoice_job(invoice)
        form = self.env["coworks.sync.job"].get_views([(False, "form")])["views"]["form"]["arch"]
        for fname in ("attempt_count", "last_attempt_at", "date_done", "duration_ms", "request_body",
                      "response_body", "error_message", "action_retry", "action_cancel", "action_open_record"):
            self.assertIn(f'name="{fname}"', form)
        self.assertEqual(job.attempt_count, 1)
        self.assertTrue(job.last_attempt_at and job.date_done)
        self.assertIn(invoice.name, job.request_body)
        self.assertIn(invoice.xero_id, job.response_body)
        opened = job.action_open_record()
        self.assertEqual((opened["res_model"], opened["res_id"]), ("account.move", invoice.id))

    # ---------------------------------------------------------------- the documents' side

    def test_badges_smart_buttons_and_banners(self):
        invoice = self._invoice()
        self.env.flush_all()
        self.assertEqual((invoice.xero_sync_state, invoice.xero_job_count), ("pending", 1))
        self.assertEqual(self.partner_a.xero_sync_state, "pending")
        move_form = self.env["account.move"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("will be sent to Xero shortly", move_form)
        self.assertIn("Xero sync needs attention", move_form)
        self.assertIn('name="action_open_xero_jobs"', move_form)
        self.run_worker()
        invoice.invalidate_recordset()
        self.assertEqual(invoice.xero_sync_state, "done")
        self.assertEqual(self.partner_a.xero_sync_state, "done")
        self.assertEqual(self.partner_a.xero_job_count, 1)
        action = invoice.action_open_xero_jobs()
        self.assertEqual(self.env["coworks.sync.job"].search(action["domain"]), self._invoice_job(invoice))
        partner_form = self.env["res.partner"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="xero_sync_state"', partner_form)

        # Payments: the badge reads the jobs of the payment's links (one per document it pays).
        payment = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({})._create_payments()
        job = self.env["coworks.sync.job"].sudo().search([
            ("res_model", "=", "coworks.xero.payment.link"),
            ("res_id", "in", payment.xero_payment_link_ids.ids)], limit=1)
        self.assertTrue(job, "registering the payment queued no job")
        job.write({"state": "error", "error_message": "Xero refused the payment"})
        payment.invalidate_recordset()
        self.assertEqual(payment.xero_sync_state, "error")
        self.assertGreaterEqual(payment.xero_job_count, 1)
        payment_form = self.env["account.payment"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="action_open_xero_jobs"', payment_form)
        self.assertIn(job, self.env["coworks.sync.job"].search(payment.action_open_xero_jobs()["domain"]))

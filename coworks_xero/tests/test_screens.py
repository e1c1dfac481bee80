"""Screens that tell the truth (issue 14): what documents, the sync log, the settings and the
mapping forms say, against real jobs run by the real worker and the Xero emulator."""
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestScreens(CoworksXeroEmulatorCase):

    def _form_arch(self, model):
        return self.env[model].get_views([(False, "form")])["views"]["form"]["arch"]

    def _pay_unmapped(self, invoice):
        """A payment from the cash journal, which has no Xero bank account: it fails (mapping)."""
        return self._pay(invoice, journal_id=self.company_data["default_journal_cash"].id)

    # ---------------------------------------------------------------- 1. the document banner

    def test_failed_payment_shows_on_its_invoice_which_retries_it(self):
        invoice = self._invoice()
        self.run_worker()
        self.assertEqual(invoice.xero_sync_state, "done")
        payment = self._pay_unmapped(invoice)
        self.run_worker()
        [pay_job] = self.env["coworks.sync.job"].search([
            ("res_model", "=", "coworks.xero.payment.link"), ("res_id", "in", payment.xero_payment_link_ids.ids)])
        self.assertEqual((pay_job.state, pay_job.error_kind), ("error", "mapping"))
        # The invoice itself went through, but its payment did not: the invoice says so.
        self.assertEqual(self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice").state, "done")
        invoice.invalidate_recordset()
        self.assertEqual(invoice.xero_sync_state, "error")
        self.assertIn("Payment: ", invoice.xero_sync_error)
        self.assertIn(self.company_data["default_journal_cash"].name, invoice.xero_sync_error)
        self.assertEqual(invoice.xero_job_count, 2)
        # "Open the sync log" lists the invoice's entries and its payment's.
        opened = self.env["coworks.sync.job"].search(invoice.action_open_xero_jobs()["domain"])
        self.assertEqual(opened, self.jobs_of(invoice) | pay_job)
        arch = self._form_arch("account.move")
        self.assertIn('name="action_xero_retry"', arch)
        self.assertIn('name="action_open_xero_jobs"', arch)
        # The person maps the journal and presses Retry on the invoice: the payment goes.
        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": self.company_data["default_journal_cash"].id,
            "bank_account_id": self.acc_091.id})
        action = invoice.action_xero_retry()
        self.assertEqual(action["params"]["next"]["tag"], "soft_reload")
        self.assertEqual(pay_job.state, "pending")
        self.run_worker()
        self.assertEqual(pay_job.state, "done")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        invoice.invalidate_recordset()
        self.assertEqual((invoice.xero_sync_state, invoice.xero_sync_error), ("done", False))
        # Nothing left to retry: the button says so rather than doing nothing.
        with self.assertRaises(UserError):
            invoice.action_xero_retry()

    def test_payment_and_customer_banners_retry_their_own_failures(self):
        invoice = self._invoice()
        payment = self._pay_unmapped(invoice)
        self.run_worker()
        payment.invalidate_recordset()
        self.assertEqual(payment.xero_sync_state, "error")
        self.assertIn('name="action_xero_retry"', self._form_arch("account.payment"))
        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": self.company_data["default_journal_cash"].id,
            "bank_account_id": self.acc_091.id})
        payment.action_xero_retry()
        self.run_worker()
        payment.invalidate_recordset()
        self.assertEqual(payment.xero_sync_state, "done")

        # A customer Xero refuses (the emulator answers 400 to its contact), retried from its form.
        partner = self.env["res.partner"].create({"name": "Refused Contact Ltd"})
        self.emu("POST", "faults", {"route": "POST /Contacts", "kind": "status", "status": 400, "count": 1})
        self.env["coworks.sync.job"]._enqueue(partner, "contact", company_getter=lambda p: self.company)
        self.run_worker()
        partner.invalidate_recordset()
        self.assertEqual(partner.xero_sync_state, "error")
        self.assertTrue(partner.xero_sync_error)
        self.assertIn('name="action_xero_retry"', self._form_arch("res.partner"))
        partner.action_xero_retry()
        self.run_worker()
        partner.invalidate_recordset()
        self.assertEqual(partner.xero_sync_state, "done")
        self.assertTrue(partner.with_company(self.company).xero_contact_id)

    # ---------------------------------------------------------------- 2. paused, not "shortly"

    def test_paused_sync_says_so_on_documents_and_in_the_log(self):
        invoice = self._invoice()
        self.env.flush_all()
        job = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((invoice.xero_sync_state, invoice.xero_sync_paused, job.paused_reason),
                         ("pending", False, False))
        # The grant is gone: nothing is sent, and the screens say why and where to go.
        self.connection.sudo().state = "needs_reconnect"
        self.env.invalidate_all()
        self.assertEqual(invoice.xero_sync_paused, "reconnect")
        self.assertEqual(job.paused_reason, "reconnect")
        self.assertEqual(dict(job._fields["paused_reason"]._description_selection(self.env))["reconnect"],
                         "Paused — Reconnect")
        self.assertEqual(self.partner_a.xero_sync_paused, "reconnect")
        self.run_worker()
        self.assertEqual(job.state, "pending")
        # Sync switched off weighs more: switching it on is the first step.
        self.company.coworks_xero_sync_enabled = False
        self.env.invalidate_all()
        self.assertEqual((invoice.xero_sync_paused, job.paused_reason), ("off", "off"))
        self.company.coworks_xero_sync_enabled = True
        self.connection.sudo().write({"state": "connected"})
        self.env.invalidate_all()
        self.assertFalse(invoice.xero_sync_paused)
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertFalse(job.paused_reason, "only waiting entries are paused")
        # The banners: "shortly" only when it is true, a way to the settings otherwise.
        arch = self._form_arch("account.move")
        self.assertIn("will be sent to Xero shortly", arch)
        self.assertIn("xero_sync_paused", arch)
        settings = 'name="%d" type="action"' % self.env.ref("account.action_account_config").id
        self.assertIn(settings, arch)
        self.assertIn(settings, self._form_arch("coworks.sync.job"))

    # ---------------------------------------------------------------- 6. the sync log

    def test_log_titles_status_order_and_attempts_history(self):
        invoice = self._invoice()
        self.run_worker()
        payment = self._pay(invoice)
        self.env.flush_all()
        [pay_job] = self.env["coworks.sync.job"].search([
            ("res_model", "=", "coworks.xero.payment.link"), ("res_id", "in", payment.xero_payment_link_ids.ids)])
        self.assertTrue(pay_job.display_name.startswith("Payment "), pay_job.display_name)
        self.assertNotIn("Payment Payment", pay_job.display_name)
        inv_job = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual(inv_job.display_name, f"Invoice {invoice.name}")
        states = [key for key, _label in self.env["coworks.sync.job"]._fields["state"].selection]
        self.assertEqual(states[:3], ["pending", "error", "done"])
        self.assertIn('statusbar_visible="pending,error,done"', self._form_arch("coworks.sync.job"))

        # Every attempt is kept, not only the last.
        self.emu("POST", "faults", {"route": "PUT /Payments", "kind": "status", "status": 503, "count": 1000})
        self.run_worker()
        self.assertEqual((pay_job.state, pay_job.attempt_count), ("pending", 1))
        self.run_worker_at(pay_job.next_attempt_at)
        self.assertEqual(pay_job.attempt_count, 2)
        self.emu("DELETE", "faults")
        self.run_worker_at(pay_job.next_attempt_at)
        self.assertEqual(pay_job.state, "done")
        history = pay_job.attempt_ids.sorted(lambda a: (a.date, a.id))
        self.assertEqual(history.mapped("outcome"), ["retry", "retry", "done"])
        self.assertTrue(all(a.error_message for a in history[:2]))
        self.assertEqual(history[:2].mapped("error_kind"), ["retryable", "retryable"])
        self.assertFalse(history[2].error_message)
        self.assertTrue(history[0].next_attempt_at)
        self.assertLess(history[0].date, history[1].date)
        self.assertIn('name="attempt_ids"', self._form_arch("coworks.sync.job"))

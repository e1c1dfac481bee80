"""Screens that tell the truth (issue 14): what documents, the sync log, the settings and the
mapping forms say, against real jobs run by the real worker and the Xero emulator."""
import datetime

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

    # ---------------------------------------------------------------- 4. the settings block

    def _settings(self):
        return self.env["res.config.settings"].create({})

    def test_settings_show_one_alert_and_no_unknown_figure(self):
        conn = self.connection
        conn.sudo().write({"daily_calls_remaining": 0, "daily_calls_known_at": False,
                           "last_success_at": "2026-01-01 10:00:00"})
        self.env.flush_all()
        settings = self._settings()
        self.assertFalse(settings.coworks_xero_alert)
        self.assertFalse(settings.coworks_xero_daily_calls_known, "0 left, while Xero never said so")
        # Xero said so: a real 0 is shown.
        conn._note_call_success(daily_remaining=0)
        self.env.invalidate_all()
        self.assertTrue(self._settings().coworks_xero_daily_calls_known)
        # A failing entry, a failed call and a paused connection: only the most important shows.
        invoice = self._create_invoice_one_line(
            product_id=self.plan_product, price_unit=10.0, tax_ids=self.tax_sale_b, partner_id=self.partner_a, post=True)
        self.run_worker()
        self.assertEqual(self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice").state, "error")
        self.assertEqual(self._settings().coworks_xero_alert, "failures")
        conn._note_call_failure("Xero's minute rate limit was reached")
        self.env.invalidate_all()
        self.assertEqual(self._settings().coworks_xero_alert, "error")
        # A call that succeeds afterwards: the failure is history, the failing entry shows again.
        conn.sudo().write({"last_success_at": conn.last_error_at + datetime.timedelta(seconds=5)})
        self.assertEqual(self._settings().coworks_xero_alert, "failures")
        conn.sudo().write({"last_error_at": conn.last_success_at + datetime.timedelta(seconds=5)})
        self.assertEqual(self._settings().coworks_xero_alert, "error")
        conn.sudo().state = "needs_reconnect"
        self.assertEqual(self._settings().coworks_xero_alert, "reconnect")
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertEqual(arch.count("o_coworks_xero_alert"), 4)
        for alert in ("reconnect", "error", "failures", "missing"):
            self.assertIn(f"coworks_xero_alert != '{alert}'", arch)
        self.assertRegex(arch, r'name="coworks_xero_redirect_uri"[^>]*widget="CopyClipboardChar"')
        self.assertIn("not coworks_xero_daily_calls_known", arch)

    def test_settings_list_what_is_not_mapped_yet(self):
        settings = self._settings()
        self.assertFalse(settings.coworks_xero_unmapped_kinds)
        self.assertNotIn(self.tax_sale_a.display_name, (settings.coworks_xero_unmapped_taxes or "").split(", "))
        cash = self.company_data["default_journal_cash"]
        self.assertIn(cash.name, settings.coworks_xero_unmapped_journals)
        self.assertNotIn(self.company_data["default_journal_bank"].name, settings.coworks_xero_unmapped_journals)
        self.assertFalse(settings.coworks_xero_unmapped_campuses)
        self.assertFalse(settings.coworks_xero_all_mapped)
        # A sale tax nobody uses is not asked for; once used on a sale, it is.
        tax = self.tax_sale_a.copy({"name": "Event GST"})
        self.assertNotIn("Event GST", self._settings().coworks_xero_unmapped_taxes or "")
        self._create_invoice_one_line(product_id=self.plan_product, price_unit=10.0, tax_ids=tax,
                                      partner_id=self.partner_a)
        campus = self.env["coworks.campus"].create({"name": "Riverside", "code": "RVS"})
        self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", self.connection.id), ("item_kind", "=", "custom_fee")]).unlink()
        settings = self._settings()
        self.assertEqual(settings.coworks_xero_unmapped_kinds, "Custom fee")
        self.assertIn(tax.display_name, settings.coworks_xero_unmapped_taxes)
        self.assertEqual(settings.coworks_xero_unmapped_campuses, campus.display_name)
        # Mapped, it leaves the list.
        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": cash.id, "bank_account_id": self.acc_091.id})
        self.assertNotIn(cash.name, self._settings().coworks_xero_unmapped_journals or "")
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        for xmlid in ("action_xero_product_mapping", "action_xero_tax_mapping", "action_xero_journal_mapping",
                      "action_xero_campus_mapping"):
            self.assertIn('name="%d" type="action"' % self.env.ref(f"coworks_xero.{xmlid}").id, arch)

    # ---------------------------------------------------------------- 5. mapping forms

    def test_mapping_forms_offer_only_what_is_not_mapped(self):
        conn = self.connection
        Tax = self.env["coworks.xero.tax.mapping"]
        new = Tax.new({"connection_id": conn.id})
        self.assertEqual(new.mapped_tax_ids._origin, self.tax_sale_a)
        domain = Tax._fields["tax_id"].domain
        self.assertIn("mapped_tax_ids", domain)
        offered = self.env["account.tax"].search([("type_tax_use", "=", "sale"), ("id", "not in", new.mapped_tax_ids.ids),
                                                  ("company_id", "=", self.company.id)])
        self.assertNotIn(self.tax_sale_a, offered)
        self.assertIn(self.tax_sale_b, offered)
        existing = Tax.search([("connection_id", "=", conn.id), ("tax_id", "=", self.tax_sale_a.id)])
        self.assertFalse(existing.mapped_tax_ids, "a mapping's own tax stays offered")
        Product = self.env["coworks.xero.product.mapping"]
        # (never empty: the selection widget reads it as a list)
        self.assertEqual(Product.new({"connection_id": conn.id}).available_item_kinds, [""])
        day_pass = Product.search([("connection_id", "=", conn.id), ("item_kind", "=", "day_pass")])
        self.assertEqual(day_pass.available_item_kinds, ["day_pass"])
        arch = Product.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("'whitelist_fname': 'available_item_kinds'", arch)
        self.assertIn(self.campus_dtn, self.env["coworks.xero.campus.mapping"].new(
            {"connection_id": conn.id}).mapped_campus_ids._origin)
        self.assertEqual(self.env["coworks.xero.journal.mapping"].new(
            {"connection_id": conn.id}).mapped_journal_ids._origin, self.company_data["default_journal_bank"])

    def test_deleting_a_mapping_in_use_is_refused_with_the_documents(self):
        conn = self.connection
        invoice = self._invoice()  # hot desk (plan), tax A, campus of the customer: not in Xero yet
        tax_map = self.env["coworks.xero.tax.mapping"].search([("connection_id", "=", conn.id),
                                                              ("tax_id", "=", self.tax_sale_a.id)])
        plan_map = self.env["coworks.xero.product.mapping"].search([("connection_id", "=", conn.id),
                                                                   ("item_kind", "=", "plan")])
        fee_map = self.env["coworks.xero.product.mapping"].search([("connection_id", "=", conn.id),
                                                                  ("item_kind", "=", "custom_fee")])
        for mapping in (tax_map, plan_map):
            with self.assertRaisesRegex(UserError, invoice.name.replace("/", ".")):
                mapping.unlink()
        self.assertTrue(tax_map.exists() and plan_map.exists())
        fee_map.unlink()  # nothing uses it
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        # Once in Xero, the invoice no longer needs them; a payment not sent yet needs its journal.
        payment = self._pay(invoice)
        journal_map = self.env["coworks.xero.journal.mapping"].search([("connection_id", "=", conn.id)])
        with self.assertRaisesRegex(UserError, "still needed"):
            journal_map.unlink()
        self.assertTrue(payment.xero_payment_link_ids)
        tax_map.unlink()
        self.assertFalse(tax_map.exists())

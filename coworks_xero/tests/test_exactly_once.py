"""Exactly once, whatever fails: lost answers, re-queues, awkward documents, cancellations of
documents whose fate in Xero is unknown, wake-ups, and the cron's time budget.

Every failure here is one the product really meets: the emulator loses Xero's answers (on the
first request and on every retry of the client), users re-queue and cancel through Odoo's own
actions. Nothing writes the engine's own bookkeeping by hand."""
from odoo import Command, fields
from odoo.tests import tagged

from ..models.sync_engine import MAX_ATTEMPTS
from .common import CoworksXeroEmulatorCase

CLIENT_ATTEMPTS = 5  # the client's own retries of one call (const.DEFAULT_MAX_ATTEMPTS)


@tagged("post_install", "-at_install")
class TestExactlyOnce(CoworksXeroEmulatorCase):

    def _lose_answers(self, route):
        """Xero applies the write, and its answer (and every replay of it) never arrives."""
        self.emu("POST", "faults", {"route": route, "kind": "drop_after_write", "count": CLIENT_ATTEMPTS})

    def _payments_on(self, invoice):
        xero = self.xero_invoice(invoice.name)
        return [p for p in self.xero_state()["Payments"]
                if (p.get("Invoice") or {}).get("InvoiceID") == xero["InvoiceID"] and p.get("Status") != "DELETED"]

    def test_a_payment_whose_answer_was_lost_is_not_sent_twice_after_a_requeue(self):
        first, second = self._invoice(price=100.0), self._invoice(price=60.0)
        self.run_worker()
        payment = self._pay(first, amount=40.0)
        self._lose_answers("PUT /Payments")
        self.run_worker()
        link = payment.xero_payment_link_ids
        [job] = self.jobs_of(link)
        self.assertEqual(job.state, "pending", job.error_message)
        self.assertTrue(job.maybe_sent, "the send must be recorded before the request left")
        self.assertEqual(len(self._payments_on(first)), 1, "Xero did receive it")
        self.emu("DELETE", "faults")

        # Re-queued (attempts back to 0) and sent in another batch, with another payment.
        link._coworks_xero_enqueue("upsert")
        self._pay(second, amount=second.amount_total)
        self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(len(self._payments_on(first)), 1)
        self.assertEqual(float(self.xero_invoice(first.name)["AmountPaid"]), 40.0)
        self.assertEqual(link.xero_id, self._payments_on(first)[0]["PaymentID"])
        self.assertEqual(self.xero_invoice(second.name)["Status"], "PAID")

    def test_two_equal_payments_after_a_lost_answer_are_two_payments_in_xero(self):
        """The look-up never takes a payment another Odoo payment owns for this one."""
        invoice = self._invoice(price=100.0)
        self.run_worker()
        self._pay(invoice, amount=30.0)
        self.run_worker()
        self._pay(invoice, amount=30.0)  # same amount, date and memo
        self._lose_answers("PUT /Payments")
        self.run_worker()
        self.emu("DELETE", "faults")
        self.env["coworks.xero.payment.link"].search([("move_id", "=", invoice.id)])._coworks_xero_enqueue("upsert")
        self.run_worker()
        self.assertEqual(len(self._payments_on(invoice)), 2)
        self.assertEqual(float(self.xero_invoice(invoice.name)["AmountPaid"]), 60.0)

    def test_cancelled_while_its_creation_was_unanswered_is_voided_in_xero(self):
        """The issue's case: the invoice reached Xero, Odoo never learnt its ID, the user reset
        and cancelled it. Xero must not keep a live receivable."""
        self.run_worker()
        invoice = self._invoice()
        self._lose_answers("PUT /Invoices")
        self.run_worker()
        self.assertFalse(invoice.xero_id)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.emu("DELETE", "faults")
        invoice.button_draft()
        invoice.button_cancel()
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "VOIDED")
        self.assertEqual([j.state for j in self.jobs_of(invoice).filtered(lambda j: j.operation == "cancel")], ["done"])

    def test_catch_up_voids_a_cancelled_document_whose_upsert_was_sent(self):
        self.run_worker()
        invoice = self._invoice()
        self._lose_answers("PUT /Invoices")
        self.run_worker()
        self.emu("DELETE", "faults")
        invoice.button_draft()
        invoice.with_context(coworks_xero_no_trigger=True).button_cancel()
        # Whatever queued it is gone (a manager cancelled the entry): the catch-up finds it again.
        self.jobs_of(invoice).filtered(lambda j: j.operation == "cancel").unlink()
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "VOIDED")

    def test_deleted_while_its_creation_was_unanswered_is_voided_in_xero(self):
        """Reset to draft and deleted before Odoo learnt its Xero ID: the cancel finds it by
        its number and its customer, both kept on the job once the document is gone."""
        self.run_worker()
        invoice = self._invoice()
        number = invoice.name
        self._lose_answers("PUT /Invoices")
        self.run_worker()
        self.emu("DELETE", "faults")
        self.assertFalse(invoice.xero_id)
        self.assertEqual(self.xero_invoice(number)["Status"], "AUTHORISED")
        invoice.button_draft()
        invoice.unlink()
        self.run_worker()
        self.assertEqual(self.xero_invoice(number)["Status"], "VOIDED")
        [cancel] = self.env["coworks.sync.job"].search([("record_name", "=", number), ("operation", "=", "cancel")])
        self.assertEqual(cancel.state, "done", cancel.error_message)
        self.assertEqual(cancel.remote_id, self.xero_invoice(number)["InvoiceID"])

    def test_awkward_documents_fail_alone_and_the_ordinary_ones_sync(self):
        unmapped_tax = self.env["account.tax"].create({"name": "Unmapped 7%", "amount": 7.0, "type_tax_use": "sale"})
        second_tax = self.env["account.tax"].create({"name": "Levy 2%", "amount": 2.0, "type_tax_use": "sale"})
        jpy = self.setup_other_currency("JPY", rates=[("2020-01-01", 100.0)])
        ordinary = [self._invoice(price=100.0 + i) for i in range(3)]
        no_label = self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.partner_a.id, "invoice_date": fields.Date.today(),
            "invoice_line_ids": [Command.create({"product_id": self.plan_product.id, "name": False,
                                                 "price_unit": 10.0, "tax_ids": [Command.set(unmapped_tax.ids)]})]})
        no_label.action_post()
        two_taxes = self._create_invoice_one_line(product_id=self.plan_product, price_unit=80.0, post=True,
                                                  tax_ids=self.tax_sale_a | second_tax, partner_id=self.partner_a)
        zero = self._invoice(price=0.0)
        in_yen = self._create_invoice_one_line(product_id=self.plan_product, price_unit=5000.0, post=True,
                                               tax_ids=self.tax_sale_a, partner_id=self.partner_a, currency_id=jpy.id)
        ordinary += [self._invoice(price=200.0 + i) for i in range(3)]
        self.run_worker()
        for move in ordinary:
            self.assertTrue(move.xero_id, f"{move.name} did not sync behind the awkward documents")
        def job(move):
            return self.jobs_of(move).filtered(lambda j: j.kind == "invoice")
        self.assertEqual(job(no_label).state, "error")
        self.assertIn("Unmapped 7%", job(no_label).error_message)
        self.assertIn("Hot desk", job(no_label).error_message, "the line is named by its product")
        self.assertEqual(job(in_yen).state, "error")
        self.assertIn("JPY", job(in_yen).error_message)
        for move in (two_taxes, zero):
            self.assertIn(job(move).state, ("done", "error"))
            if job(move).state == "error":
                self.assertTrue(job(move).error_message)
        # Mapped, the unlabelled line's invoice goes through on Retry.
        self.env["coworks.xero.tax.mapping"].create({"connection_id": self.connection.id, "tax_id": unmapped_tax.id,
                                                     "send_odoo_tax_amounts": True,  # 7 % vs Xero's 10 %
                                                     "tax_rate_id": self.xref("coworks.xero.tax.rate", tax_type="OUTPUT").id})
        job(no_label).action_retry()
        self.run_worker()
        self.assertTrue(no_label.xero_id)

    def test_a_rate_limit_storm_costs_the_documents_no_attempt(self):
        """Xero answering 429 run after run says nothing about the documents: they wait as long
        as Xero asks, and never end as "needs a person" however long the storm lasts."""
        self.run_worker()
        # The storm is the fault's 429s: the ten runs' calls must not also spend Xero's real minute.
        self.emu("POST", "limits", {"minute": 10000})
        invoice = self._invoice()
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "status", "status": 429,
                                    "retry_after": 0.2, "count": 0})
        self.run_worker()
        [job] = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        for _run in range(MAX_ATTEMPTS + 2):
            self.assertEqual(job.state, "pending", job.error_message)
            self.assertTrue(job.next_attempt_at)
            self.run_worker_at(job.next_attempt_at)
        self.assertEqual(job.state, "pending", job.error_message)
        self.assertEqual(job.attempt_count, 0, "a rate limit is not an attempt")
        self.emu("DELETE", "faults")
        self.run_worker_at(job.next_attempt_at)
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_a_backed_off_retry_is_woken_at_its_due_time(self):
        cron = self.env.ref("coworks_xero.ir_cron_sync")
        # Wake-ups other tests committed (those on real transactions) would stand in for ours.
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        self.emu("POST", "faults", {"route": "PUT /Contacts", "kind": "status", "status": 503, "count": 0})
        self.emu("POST", "faults", {"route": "POST /Contacts", "kind": "status", "status": 503, "count": 0})
        self._invoice()
        self.run_worker()
        job = self.env["coworks.sync.job"].search([("kind", "=", "contact"), ("state", "=", "pending")])
        self.assertTrue(job)
        self.assertGreater(min(job.mapped("next_attempt_at")), fields.Datetime.now())
        # The invoice waiting for its contact is backed off too: the wake-up is the earliest due time.
        waiting = self.env["coworks.sync.job"].search([("state", "=", "pending"),
                                                        ("next_attempt_at", ">", fields.Datetime.now())])
        due = min(waiting.mapped("next_attempt_at"))
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id), ("call_at", ">", fields.Datetime.now())])
        self.assertTrue(triggers.filtered(lambda t: abs((t.call_at - due).total_seconds()) <= 1),
                        f"no wake-up at {due}: {triggers.mapped('call_at')}")
        # Xero is back: the run the wake-up starts sends the contact, then the invoice.
        self.emu("DELETE", "faults")
        self.run_worker_at(max(waiting.mapped("next_attempt_at")))
        self.assertEqual(job.state, "done", job.error_message)

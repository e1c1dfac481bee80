"""Money in Xero exactly as in Odoo: payments, refunds, credit allocations, write-offs.

Every test drives Odoo's own wizards and actions, runs the committing sync cron, and reads the
result from the Xero emulator's state."""
from odoo import Command, fields
from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestPayments(CoworksXeroEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.eur = cls.setup_other_currency("EUR", rates=[("2020-01-01", 2.0), ("2024-06-01", 2.5)])

    # ---------------------------------------------------------------- helpers

    def _reverse(self, invoice, modify=False):
        wizard = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({
                "journal_id": invoice.journal_id.id, "reason": "customer refund",
                "date": invoice.invoice_date})
        wizard.modify_moves() if modify else wizard.refund_moves()
        return self.env["account.move"].search([("reversed_entry_id", "=", invoice.id)], order="id desc", limit=1)

    @staticmethod
    def _receivable(move):
        return move.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")

    def xero_payments(self, status="AUTHORISED"):
        return [p for p in self.xero_state()["Payments"] if status is None or p["Status"] == status]

    def xero_credit_note(self, number):
        found = [c for c in self.xero_state()["CreditNotes"] if c.get("CreditNoteNumber") == number]
        return found[0] if found else None

    def link_jobs(self, links):
        return self.env["coworks.sync.job"].search(
            [("res_model", "=", "coworks.xero.payment.link"), ("res_id", "in", links.ids)])

    def payment_puts(self):
        return [r for r in self.xero_requests()["requests"]
                if r["method"] == "PUT" and r["path"].rstrip("/").endswith("/Payments")]

    # ---------------------------------------------------------------- payments

    def test_full_payment_in_the_same_run_as_its_invoice(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.env.flush_all()
        self.assertEqual(invoice.payment_state, "paid")
        link = payment.xero_payment_link_ids
        self.assertEqual(len(link), 1)
        self.assertEqual(link.state, "pending")
        self.assertEqual(self.xero_payments(), [], "nothing may be sent inside the user's transaction")

        self.run_worker()

        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "PAID")
        [xp] = self.xero_payments()
        self.assertEqual(xp["Invoice"]["InvoiceID"], invoice.xero_id)
        self.assertEqual(float(xp["Amount"]), invoice.amount_total)
        self.assertEqual(xp["Account"]["Code"], "090")
        self.assertEqual(xp["PaymentType"], "ACCRECPAYMENT")
        self.assertEqual(xp["Reference"], payment.name)
        self.assertEqual(link.state, "synced")
        self.assertEqual(link.xero_id, xp["PaymentID"])
        self.assertEqual(payment.xero_sync_state, "done")
        self.assertEqual(invoice._coworks_xero_remote_links(), ([xp["PaymentID"]], []))

    def test_partial_payments_then_paid(self):
        invoice = self._invoice()
        self._pay(invoice, amount=100.0)
        self.run_worker()
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "AUTHORISED")
        self.assertAlmostEqual(float(xero_inv["AmountDue"]), invoice.amount_total - 100.0, places=2)
        self.assertEqual(float(xero_inv["AmountDue"]), invoice.amount_residual)

        self._pay(invoice)  # the rest
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        amounts = sorted(float(p["Amount"]) for p in self.xero_payments())
        self.assertEqual(amounts, sorted([100.0, round(invoice.amount_total - 100.0, 2)]))

    def test_one_payment_for_several_invoices_is_one_xero_payment_each_in_one_call(self):
        invoices = self._invoice(350.0) + self._invoice(35.0) + self._invoice(120.0)
        self.run_worker()
        self.emu("DELETE", "requests")
        payment = self._pay(invoices, group_payment=True)
        self.assertEqual(len(payment), 1)
        self.assertEqual(len(payment.xero_payment_link_ids), 3)
        self.run_worker()

        by_invoice = {p["Invoice"]["InvoiceID"]: p for p in self.xero_payments()}
        self.assertEqual(len(by_invoice), 3)
        for invoice in invoices:
            self.assertEqual(float(by_invoice[invoice.xero_id]["Amount"]), invoice.amount_total)
            self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        self.assertEqual(len(self.payment_puts()), 1, "the payments of one run go in one PUT /Payments")
        self.assertEqual(set(payment.xero_payment_link_ids.mapped("state")), {"synced"})

    def test_foreign_currency_payment_carries_the_payment_date_rate(self):
        invoice = self._invoice(200.0, currency_id=self.eur.id, invoice_date="2024-01-15")
        self.assertEqual(invoice.currency_id, self.eur)
        self._pay(invoice, currency_id=self.eur.id, payment_date="2024-07-01")
        self.run_worker()
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["CurrencyCode"], "EUR")
        self.assertEqual(xero_inv["Status"], "PAID")
        [xp] = self.xero_payments()
        self.assertEqual(float(xp["Amount"]), invoice.amount_total)  # in the invoice's currency
        self.assertEqual(float(xp["CurrencyRate"]), 2.5)  # EUR per company currency unit on 2024-07-01

    def test_payment_waits_for_its_invoice_across_runs(self):
        self.connection.default_account_id = False
        blocked = self._create_invoice_one_line(
            product_id=self.product_a, price_unit=80.0, tax_ids=self.tax_sale_a, partner_id=self.partner_a,
            post=True)
        payment = self._pay(blocked)
        self.run_worker()
        self.assertFalse(blocked.xero_id)
        job = self.link_jobs(payment.xero_payment_link_ids)
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.error_kind, "retryable")
        self.assertIn("Waiting for", job.error_message)
        self.assertEqual(self.xero_payments(), [])

        # The manager maps the product and retries the invoice: the waiting payment follows in the
        # same run, without waiting for its backoff.
        self.connection.default_account_id = self.acc_200
        self.jobs_of(blocked).filtered(lambda j: j.state == "error").action_retry()
        self.run_worker()
        self.assertTrue(blocked.xero_id)
        self.assertEqual(job.state, "done")
        self.assertEqual(self.xero_invoice(blocked.name)["Status"], "PAID")

    def test_unmapped_journal_is_a_clear_error_and_retry_after_mapping_sends(self):
        cash = self.company_data["default_journal_cash"]
        invoice = self._invoice()
        payment = self._pay(invoice, journal_id=cash.id)
        self.run_worker()
        job = self.link_jobs(payment.xero_payment_link_ids)
        self.assertEqual(job.state, "error")
        self.assertEqual(job.error_kind, "mapping")
        self.assertIn(cash.name, job.error_message)
        self.assertIn("Payment journals", job.error_message)
        self.assertEqual(payment.xero_sync_state, "error")
        self.assertIn("Xero sync needs attention", payment.message_ids[0].body)

        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": cash.id, "bank_account_id": self.acc_091.id})
        job.action_retry()
        self.run_worker()
        [xp] = self.xero_payments()
        self.assertEqual(xp["Account"]["Code"], "091")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

    # ---------------------------------------------------------------- undo

    def test_cancelled_payment_is_deleted_in_xero(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

        payment.action_cancel()
        self.assertEqual(invoice.payment_state, "not_paid")
        self.run_worker()
        self.assertEqual(self.xero_payments(), [])
        self.assertEqual(len(self.xero_payments("DELETED")), 1)
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "AUTHORISED")
        self.assertEqual(float(xero_inv["AmountDue"]), invoice.amount_total)
        self.assertEqual(payment.xero_payment_link_ids.state, "deleted")
        self.assertEqual(invoice._coworks_xero_remote_links(), ([], []))

    def test_reset_to_draft_removes_and_reposting_sends_again(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.run_worker()
        first_id = payment.xero_payment_link_ids.xero_id

        payment.action_draft()
        self.run_worker()
        self.assertEqual(self.xero_payments(), [])
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

        payment.action_post()
        self.run_worker()
        [xp] = self.xero_payments()
        self.assertNotEqual(xp["PaymentID"], first_id)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        live = payment.xero_payment_link_ids.filtered(lambda l: l.state == "synced")
        self.assertEqual(live.xero_id, xp["PaymentID"])

    def test_unreconcile_deletes_the_xero_payment(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.run_worker()
        self._receivable(invoice).remove_move_reconcile()
        self.run_worker()
        self.assertEqual(self.xero_payments(), [])
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.assertEqual(payment.xero_payment_link_ids.state, "deleted")

    def test_unreconciled_before_sending_sends_nothing(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self._receivable(invoice).remove_move_reconcile()
        self.run_worker()
        self.assertEqual(self.xero_payments(None), [])
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.assertEqual(payment.xero_payment_link_ids.state, "deleted")
        self.assertEqual(set(self.link_jobs(payment.xero_payment_link_ids).mapped("state")), {"skipped"})

    # ---------------------------------------------------------------- credit notes

    def test_partial_credit_note_is_allocated_then_payment_closes_invoice(self):
        invoice = self._invoice(350.0)
        credit = self._reverse(invoice)
        self.assertEqual(credit.state, "draft")
        credit.invoice_line_ids[0].price_unit = 100.0
        credit.action_post()
        invoice.js_assign_outstanding_line(self._receivable(credit).id)
        self.assertEqual(invoice.amount_residual, invoice.amount_total - credit.amount_total)
        self._pay(invoice)  # the rest, in the same run: the allocation goes first
        self.run_worker()

        xero_cn = self.xero_credit_note(credit.name)
        self.assertEqual(xero_cn["Type"], "ACCRECCREDIT")
        self.assertEqual(xero_cn["Status"], "PAID")
        [alloc] = [a for a in self.xero_state()["Allocations"] if not a["IsDeleted"]]
        self.assertEqual(alloc["Invoice"]["InvoiceID"], invoice.xero_id)
        self.assertEqual(alloc["CreditNote"]["CreditNoteID"], credit.xero_id)
        self.assertEqual(float(alloc["Amount"]), credit.amount_total)
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "PAID")
        self.assertEqual(float(xero_inv["AmountCredited"]), credit.amount_total)
        [xp] = self.xero_payments()
        self.assertEqual(float(xp["Amount"]), round(invoice.amount_total - credit.amount_total, 2))
        self.assertEqual(invoice._coworks_xero_remote_links(), ([xp["PaymentID"]], [alloc["AllocationID"]]))
        self.assertEqual(credit._coworks_xero_remote_links(), ([], [alloc["AllocationID"]]))

        # Un-applying the credit note in Odoo removes the allocation in Xero.
        partial = (self._receivable(credit).matched_debit_ids)
        invoice.js_remove_outstanding_partial(partial.id)
        self.run_worker()
        self.assertFalse([a for a in self.xero_state()["Allocations"] if not a["IsDeleted"]])
        self.assertEqual(self.xero_credit_note(credit.name)["Status"], "AUTHORISED")

    def test_full_reversal_allocates_the_whole_credit_note(self):
        invoice = self._invoice(120.0)
        self.run_worker()
        credit = self._reverse(invoice, modify=True)
        self.assertEqual(credit.state, "posted")
        self.assertEqual(invoice.payment_state, "reversed")
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        self.assertEqual(self.xero_credit_note(credit.name)["Status"], "PAID")
        [alloc] = self.xero_state()["Allocations"]
        self.assertEqual(float(alloc["Amount"]), invoice.amount_total)

    def test_allocation_waits_for_its_credit_note(self):
        invoice = self._invoice(350.0)
        self.run_worker()
        credit = self._reverse(invoice)
        credit.invoice_line_ids[0].write({"product_id": self.product_a.id, "price_unit": 50.0,
                                          "tax_ids": [Command.set(self.tax_sale_a.ids)]})
        self.connection.default_account_id = False  # product_a has no mapping: the credit note fails
        credit.action_post()
        invoice.js_assign_outstanding_line(self._receivable(credit).id)
        self.run_worker()
        self.assertFalse(credit.xero_id)
        link = self.env["coworks.xero.payment.link"].search([("credit_note_id", "=", credit.id)])
        job = self.link_jobs(link)
        self.assertEqual((job.state, job.error_kind), ("pending", "retryable"))
        self.assertIn(credit.name, job.error_message)

        self.connection.default_account_id = self.acc_200
        self.jobs_of(credit).filtered(lambda j: j.state == "error").action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertEqual(float(self.xero_invoice(invoice.name)["AmountCredited"]), credit.amount_total)

    def test_allocation_to_an_invoice_paid_in_xero_is_a_clear_error(self):
        invoice = self._invoice(120.0)
        self.run_worker()
        # Someone records the full payment in Xero by hand.
        client = self.connection._xero_client()
        [res] = client.create_payments([{"Invoice": {"InvoiceID": invoice.xero_id}, "Account": {"Code": "090"},
                                         "Date": str(fields.Date.today()), "Amount": invoice.amount_total}],
                                       "test-manual-payment")
        self.assertTrue(res.ok, res.message)
        credit = self._reverse(invoice, modify=True)
        self.run_worker()
        link = self.env["coworks.xero.payment.link"].search([("credit_note_id", "=", credit.id)])
        job = self.link_jobs(link)
        self.assertEqual(job.state, "error")
        self.assertEqual(job.error_kind, "conflict")
        self.assertIn("already fully paid in Xero", job.error_message)
        self.assertFalse([a for a in self.xero_state()["Allocations"] if not a["IsDeleted"]])
        self.assertIn("Xero sync needs attention", invoice.message_ids[0].body)

    def test_refund_paid_out_is_a_refund_payment_on_the_credit_note(self):
        invoice = self._invoice(350.0)
        self._pay(invoice)
        credit = self._reverse(invoice)
        credit.action_post()
        refund = self._pay(credit)
        self.assertEqual(refund.payment_type, "outbound")
        self.assertEqual(credit.payment_state, "paid")
        self.run_worker()

        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        xero_cn = self.xero_credit_note(credit.name)
        self.assertEqual(xero_cn["Status"], "PAID")
        [xr] = [p for p in self.xero_payments() if p.get("CreditNote")]
        self.assertEqual(xr["PaymentType"], "ARCREDITPAYMENT")
        self.assertEqual(xr["CreditNote"]["CreditNoteID"], credit.xero_id)
        self.assertEqual(float(xr["Amount"]), credit.amount_total)
        self.assertEqual(xr["Account"]["Code"], "090")
        self.assertEqual(refund.xero_payment_link_ids.kind, "refund")

        refund.action_cancel()
        self.run_worker()
        self.assertEqual(self.xero_credit_note(credit.name)["Status"], "AUTHORISED")
        self.assertFalse([p for p in self.xero_payments() if p.get("CreditNote")])

    # ---------------------------------------------------------------- write-offs

    def _journal_entry_closing(self, invoice, amount, account, journal=None):
        """A journal entry crediting the customer's receivable by ``amount``, reconciled with
        the invoice (a bad-debt write-off, a netting): no payment, no credit note."""
        receivable = invoice.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")
        entry = self.env["account.move"].create({
            "move_type": "entry", "journal_id": (journal or self.company_data["default_journal_misc"]).id,
            "date": invoice.invoice_date, "ref": "Bad debt",
            "line_ids": [
                (0, 0, {"account_id": account.id, "debit": amount, "name": "Bad debt"}),
                (0, 0, {"account_id": receivable.account_id.id, "partner_id": invoice.commercial_partner_id.id,
                        "credit": amount, "name": "Bad debt"}),
            ]})
        entry.action_post()
        (receivable + entry.line_ids.filtered(lambda l: l.account_id == receivable.account_id)).reconcile()
        return entry

    def test_journal_entry_closing_an_invoice_reaches_xero(self):
        """Closed in Odoo by a journal entry: Xero gets a payment from the write-off account
        naming the entry (or the job says which account to choose), never silence."""
        invoice = self._invoice(350.0)
        self.run_worker()
        entry = self._journal_entry_closing(invoice, invoice.amount_total, self.company_data["default_account_expense"])
        self.assertEqual(invoice.payment_state, "paid")
        links = self.env["coworks.xero.payment.link"].search([("money_move_id", "=", entry.id)])
        self.assertEqual((links.kind, links.role), ("payment", "writeoff"))
        self.run_worker()
        job = self.link_jobs(links)
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn(f"Journal entry {entry.name}", job.error_message)
        self.assertIn("Write-off account", job.error_message)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

        self.connection.writeoff_account_id = self.acc_091
        job.action_retry()
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        [xp] = [p for p in self.xero_payments() if p["Account"]["Code"] == "091"]
        self.assertEqual(float(xp["Amount"]), invoice.amount_total)
        self.assertIn(entry.name, xp["Reference"])

        # Undone in Odoo: undone in Xero.
        entry.line_ids.remove_move_reconcile()
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_entry_in_a_bank_journal_is_money_on_its_bank_account(self):
        invoice = self._invoice(350.0)
        bank = self.company_data["default_journal_bank"]
        self._journal_entry_closing(invoice, 100.0, bank.default_account_id, journal=bank)
        self.run_worker()
        [xp] = self.xero_payments()
        self.assertEqual((float(xp["Amount"]), xp["Account"]["Code"]), (100.0, "090"))

    def test_write_off_needs_the_write_off_account_then_closes_the_invoice(self):
        invoice = self._invoice(350.0)
        payment = self._pay(invoice, amount=300.0, payment_difference_handling="reconcile",
                            writeoff_account_id=self.company_data["default_account_expense"].id,
                            writeoff_label="Bank fees")
        self.assertEqual(invoice.payment_state, "paid")
        written_off = round(invoice.amount_total - 300.0, 2)
        links = payment.xero_payment_link_ids
        self.assertEqual(sorted(links.mapped("role")), ["cash", "writeoff"])
        self.run_worker()

        # The cash is in Xero; the write-off waits for a person to choose the account.
        [xp] = self.xero_payments()
        self.assertEqual(float(xp["Amount"]), 300.0)
        self.assertEqual(xp["Account"]["Code"], "090")
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "AUTHORISED")
        self.assertEqual(float(xero_inv["AmountDue"]), written_off)
        job = self.link_jobs(links.filtered(lambda l: l.role == "writeoff"))
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("Write-off account", job.error_message)

        self.connection.writeoff_account_id = self.acc_091
        job.action_retry()
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        wo = [p for p in self.xero_payments() if p["Account"]["Code"] == "091"]
        self.assertEqual([float(p["Amount"]) for p in wo], [written_off])
        self.assertTrue(wo[0]["Reference"].startswith("Write-off"))

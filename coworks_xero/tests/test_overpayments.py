"""Customer credit in Xero as in Odoo: a payment larger than what it settles, or a deposit that
settles nothing, is an Overpayment in Xero (a RECEIVE-OVERPAYMENT bank transaction from the
journal's bank account); applying that credit to an invoice later is an allocation of it, not a
second payment; un-applying removes the allocation; cancelling the payment voids the overpayment.

Every test drives Odoo's own wizards and actions, runs the committing sync cron, and reads the
result from the Xero emulator's state."""
import datetime

from odoo import fields
from odoo.tests import tagged

from .common import CoworksXeroCreditCase


@tagged("post_install", "-at_install")
class TestOverpayments(CoworksXeroCreditCase):

    # ---------------------------------------------------------------- helpers

    def _deposit(self, amount, journal=None, partner=None, date=None):
        """A customer payment registered on its own (a deposit, money on account)."""
        payment = self.env["account.payment"].create({
            "payment_type": "inbound", "partner_type": "customer", "partner_id": (partner or self.partner_a).id,
            "amount": amount, "journal_id": (journal or self.bank_journal).id,
            "date": date or fields.Date.today()})
        payment.action_post()
        return payment

    # ---------------------------------------------------------------- overpaid invoice

    def test_overpaid_invoice_is_paid_and_the_difference_is_an_overpayment(self):
        invoice = self._invoice()
        paid = round(invoice.amount_total + 15.37, 2)
        payment = self._pay(invoice, amount=paid)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertAlmostEqual(payment._coworks_xero_credit_left(), 15.37)
        self.assertEqual(self.xero_overpayments(), [], "nothing may be sent inside the user's transaction")

        self.run_worker()

        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "PAID")
        [xp] = self.xero_payments()
        self.assertEqual(float(xp["Amount"]), invoice.amount_total, "the invoice is paid, not overpaid")
        [ovp] = self.xero_overpayments()
        self.assertEqual(ovp["Type"], "RECEIVE-OVERPAYMENT")
        self.assertEqual(ovp["Status"], "AUTHORISED")
        self.assertEqual(float(ovp["Total"]), 15.37)
        self.assertEqual(float(ovp["RemainingCredit"]), 15.37)
        self.assertEqual(float(ovp["TotalTax"]), 0.0)
        self.assertEqual(ovp["Contact"]["ContactID"], self.partner_a.xero_contact_id)
        self.assertEqual(ovp["Reference"], payment.name)
        self.assertEqual(ovp["CurrencyCode"], self.company.currency_id.name)
        [bt] = self.xero_state()["BankTransactions"]
        self.assertEqual(bt["BankAccount"]["Code"], "092")
        self.assertEqual(bt["OverpaymentID"], ovp["OverpaymentID"])
        self.assertEqual(bt["DateString"][:10], str(payment.date))
        link = self.credit_links(payment)
        self.assertEqual((link.state, link.xero_id, link.xero_transaction_id),
                         ("synced", ovp["OverpaymentID"], bt["BankTransactionID"]))
        self.assertEqual(payment.xero_sync_state, "done")

    def test_payment_applied_before_it_is_sent_is_a_payment_and_an_overpayment_of_the_rest(self):
        deposit = self._deposit(500.0)
        invoice = self._invoice()
        invoice.js_assign_outstanding_line(self._receivable(deposit).id)
        self.assertEqual(invoice.payment_state, "paid")
        self.run_worker()

        [xp] = self.xero_payments()
        self.assertEqual(float(xp["Amount"]), invoice.amount_total)
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["Total"]), round(500.0 - invoice.amount_total, 2))
        self.assertEqual(self.xero_live_allocations(), [])
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

    def test_payment_settling_exactly_leaves_no_overpayment(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.assertFalse(self.credit_links(payment))
        self.run_worker()
        self.assertEqual(self.xero_overpayments(), [])
        self.assertEqual(len(self.xero_payments()), 1)

    # ---------------------------------------------------------------- deposits and their use

    def test_deposit_is_an_overpayment_then_allocated_unallocated_and_voided(self):
        deposit = self._deposit(500.0)
        self.run_worker()
        [ovp] = self.xero_overpayments()
        self.assertEqual((float(ovp["Total"]), float(ovp["RemainingCredit"])), (500.0, 500.0))
        self.assertEqual(ovp["Contact"]["ContactID"], self.partner_a.xero_contact_id,
                         "the customer reached Xero first, in the same run")

        # The credit applied to a later invoice in Odoo: an allocation in Xero, not a second payment.
        invoice = self._invoice()
        self.emu("DELETE", "requests")
        invoice.js_assign_outstanding_line(self._receivable(deposit).id)
        self.assertEqual(invoice.payment_state, "paid")
        self.run_worker()
        [alloc] = self.xero_live_allocations()
        self.assertEqual(alloc["Invoice"]["InvoiceID"], invoice.xero_id)
        self.assertEqual(alloc["Overpayment"]["OverpaymentID"], ovp["OverpaymentID"])
        self.assertEqual(float(alloc["Amount"]), invoice.amount_total)
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual(xero_inv["Status"], "PAID")
        self.assertEqual(float(xero_inv["AmountCredited"]), invoice.amount_total)
        self.assertEqual(self.xero_payments(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), round(500.0 - invoice.amount_total, 2))
        routes = self.xero_requests()["counts"]
        self.assertFalse([r for r in routes if r.startswith("PUT /Payments")], routes)
        link = self.credit_links(deposit, "overpayment_allocation")
        self.assertEqual((link.state, link.xero_id, link.move_id), ("synced", alloc["AllocationID"], invoice))

        # Un-applied in Odoo: the allocation goes, the credit comes back, no second overpayment.
        partial = self._receivable(deposit).matched_debit_ids
        invoice.js_remove_outstanding_partial(partial.id)
        self.run_worker()
        self.assertEqual(self.xero_live_allocations(), [])
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual((xero_inv["Status"], float(xero_inv["AmountDue"])), ("AUTHORISED", invoice.amount_total))
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), 500.0)
        self.assertEqual(link.state, "deleted")
        self.assertEqual(len(self.credit_links(deposit)), 1)

        # Cancelled in Odoo: the overpayment is voided.
        deposit.action_cancel()
        self.run_worker()
        [ovp] = self.xero_overpayments()
        self.assertEqual(ovp["Status"], "VOIDED")
        self.assertEqual(self.credit_links(deposit).state, "deleted")
        self.assertEqual(self.xero_state()["BankTransactions"][0]["Status"], "DELETED")

    def test_credit_allocation_deleted_in_xero_is_unmatched_in_odoo_without_echo(self):
        deposit = self._deposit(500.0)
        self.run_worker()
        invoice = self._invoice()
        invoice.js_assign_outstanding_line(self._receivable(deposit).id)
        self.run_worker()
        link = self.credit_links(deposit, "overpayment_allocation")
        self.assertEqual(link.state, "synced")
        [ovp] = self.xero_overpayments()
        result = self.connection._xero_client().delete_overpayment_allocation(
            ovp["OverpaymentID"], link.xero_id, ref="by hand")
        self.assertTrue(result.ok, result.message)
        self.emu("DELETE", "requests")

        # The catch-up pull, once due: the invoice changed, its credit applied no longer agrees.
        self.connection.invalidate_recordset(["inbound_pulled_at"])
        self.run_worker_at(max(fields.Datetime.now(), self.connection.inbound_pulled_at or fields.Datetime.now())
                           + datetime.timedelta(minutes=61))

        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertAlmostEqual(self._receivable(deposit).amount_residual, -500.0)
        self.assertEqual(link.state, "deleted")
        change = self.env["coworks.sync.inbound.change"].search([("kind", "=", "allocation_deleted")])
        self.assertRecordValues(change, [{"state": "applied", "move_id": invoice.id, "payment_id": deposit.id}])
        self.assertTrue([m for m in invoice.message_ids if "was removed from" in (m.body or "")])
        self.assertTrue([m for m in deposit.message_ids if "was removed from" in (m.body or "")])
        self.run_worker()
        writes = [r for r in self.xero_requests()["requests"] if r["method"] in ("PUT", "POST", "DELETE")
                  and r["route"] != "POST /connect/token"]
        self.assertFalse(writes, "nothing is sent back: no removal, no second overpayment")
        self.assertEqual(len(self.credit_links(deposit)), 1, "the credit is the same overpayment, whole again")
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), 500.0)

    def test_cancelling_a_payment_whose_credit_is_applied_removes_the_allocation_then_voids(self):
        deposit = self._deposit(450.0)
        self.run_worker()
        invoice = self._invoice()
        invoice.js_assign_outstanding_line(self._receivable(deposit).id)
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

        deposit.action_cancel()
        self.assertEqual(invoice.payment_state, "not_paid")
        self.run_worker()
        self.assertEqual(self.xero_live_allocations(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual(ovp["Status"], "VOIDED", "the void waited for the allocation's removal, in the same run")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.assertFalse(self.link_jobs(deposit.xero_credit_link_ids).filtered(lambda j: j.state != "done"))
        self.assertEqual(deposit.xero_sync_state, "done")

    def test_void_refused_in_xero_says_what_to_do_there(self):
        deposit = self._deposit(300.0)
        self.run_worker()
        [ovp] = self.xero_overpayments()
        # Someone applies the credit in Xero itself.
        other = self._invoice(100.0)
        self.run_worker()
        org_alloc = self._xero_allocate(ovp["OverpaymentID"], other.xero_id, 50.0)
        self.assertEqual(org_alloc.get("StatusAttributeString"), "OK", org_alloc)

        deposit.action_cancel()
        self.run_worker()
        job = self.link_jobs(self.credit_links(deposit)).filtered(lambda j: j.operation == "cancel")
        self.assertEqual(job.state, "error")
        self.assertEqual(job.error_kind, "conflict")
        self.assertIn(other.name, job.error_message)
        self.assertIn("remove those allocations in Xero", job.error_message)
        self.assertEqual(self.xero_overpayments()[0]["Status"], "AUTHORISED")

    def _xero_allocate(self, overpayment_id, invoice_id, amount):
        """An allocation made in Xero by a person (through the API, as Xero's screens would)."""
        client = self.connection._xero_client()
        [result] = client.allocate_overpayment(overpayment_id, [{
            "Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": str(fields.Date.today())}],
            "by-hand-" + overpayment_id)
        return result.details.get("element") or {}

    # ---------------------------------------------------------------- what needs a person

    def test_unmapped_journal_is_a_clear_error_others_go_and_retry_after_mapping_sends(self):
        cash = self.company_data["default_journal_cash"]
        deposit = self._deposit(200.0, journal=cash)
        invoice = self._invoice()
        self.run_worker()
        job = self.link_jobs(self.credit_links(deposit))
        self.assertEqual(job.state, "error")
        self.assertEqual(job.error_kind, "mapping")
        self.assertIn(cash.name, job.error_message)
        self.assertEqual(deposit.xero_sync_state, "error")
        self.assertTrue(self.xero_invoice(invoice.name), "nothing else is blocked")
        self.assertEqual(self.xero_overpayments(), [])

        # A payments-enabled account is not enough for an overpayment: Xero takes it into a bank account.
        mapping = self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": cash.id, "bank_account_id": self.acc_091.id})
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "error")
        self.assertIn("only into a bank account", job.error_message)
        self.assertEqual(self.xero_overpayments(), [])

        # ...and in its own currency: the AUD account cannot receive the USD payment.
        mapping.bank_account_id = self.acc_090
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "error")
        self.assertIn("bank account's currency", job.error_message)

        mapping.bank_account_id = self.acc_092
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        [ovp] = self.xero_overpayments()
        self.assertEqual((float(ovp["Total"]), ovp["CurrencyCode"]), (200.0, "USD"))
        [bt] = self.xero_state()["BankTransactions"]
        self.assertEqual(bt["BankAccount"]["Code"], "092")

    def test_unapplying_a_sent_payment_makes_its_money_credit_in_xero(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.run_worker()
        self.assertEqual(self.xero_overpayments(), [])
        self._receivable(invoice).remove_move_reconcile()
        self.assertAlmostEqual(payment._coworks_xero_credit_left(), invoice.amount_total)
        self.run_worker()
        self.assertEqual(self.xero_payments(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["Total"]), invoice.amount_total)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_reset_to_draft_voids_and_posting_again_sends_a_new_overpayment(self):
        deposit = self._deposit(120.0)
        self.run_worker()
        [first] = self.xero_overpayments()
        deposit.action_draft()
        self.run_worker()
        self.assertEqual(self.xero_overpayments()[0]["Status"], "VOIDED")
        deposit.action_post()
        self.run_worker()
        live = self.xero_overpayments("AUTHORISED")
        self.assertEqual(len(live), 1)
        self.assertNotEqual(live[0]["OverpaymentID"], first["OverpaymentID"])
        self.assertEqual(float(live[0]["Total"]), 120.0)
        self.assertEqual(self.credit_links(deposit).filtered(lambda l: l.state == "synced").xero_id,
                         live[0]["OverpaymentID"])

"""Customer credit left by a bank statement line, in Xero as in Odoo: money received on the bank
statement and matched with a customer's receivable for more than the invoices it settles (or with
the receivable alone: a deposit) is an Overpayment in Xero from the statement journal's bank
account, as a payment's unapplied money is; applying it to an invoice later is an allocation of
it, un-applying removes the allocation, undoing the statement line's matching (or deleting the
line) voids the overpayment, money paid back to the customer is a refund out of it.

Statement lines are matched the way Odoo's own community code does it (no accounting app's
widget): the line's suspense counterpart is moved onto the customer's receivable, then reconciled.
Every test runs the committing sync cron and reads the result from the Xero emulator's state."""
from odoo import fields
from odoo.tests import tagged

from .common import CoworksXeroCreditCase


@tagged("post_install", "-at_install")
class TestStatementCredit(CoworksXeroCreditCase):

    # ---------------------------------------------------------------- helpers

    def _statement_line(self, amount, ref, journal=None, partner=None, match=None):
        """Money on the bank statement, its counterpart moved onto the customer's receivable
        (a deposit) and, with ``match``, reconciled with those invoices' receivable lines."""
        partner = partner or self.partner_a
        st_line = self.env["account.bank.statement.line"].create({
            "journal_id": (journal or self.bank_journal).id, "partner_id": partner.id, "amount": amount,
            "payment_ref": ref, "date": fields.Date.today()})
        _liquidity, suspense, _other = st_line._seek_for_lines()
        suspense.account_id = partner.property_account_receivable_id
        if match:
            (suspense + self._receivable(match)).reconcile()
        return st_line

    # ---------------------------------------------------------------- excess over an invoice

    def test_statement_line_paying_more_than_its_invoice_pays_it_and_the_rest_is_an_overpayment(self):
        invoice = self._invoice()
        received = round(invoice.amount_total + 47.13, 2)
        st_line = self._statement_line(received, "Transfer from Partner A", match=invoice)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertAlmostEqual(st_line._coworks_xero_credit_left(), 47.13)
        # Queued by the matching itself (not left to the next catch-up), the worker woken.
        link = self.credit_links(st_line)
        self.assertEqual((link.state, self.link_jobs(link).state), ("pending", "pending"))
        self.assertEqual(self.xero_overpayments(), [], "nothing may be sent inside the user's transaction")

        self.run_worker()

        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual((xero_inv["Status"], float(xero_inv["AmountDue"])), ("PAID", 0.0))
        [xp] = self.xero_payments()
        self.assertEqual((float(xp["Amount"]), xp["Account"]["Code"]), (invoice.amount_total, "092"))
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Type"], ovp["Status"]), ("RECEIVE-OVERPAYMENT", "AUTHORISED"))
        self.assertEqual((float(ovp["Total"]), float(ovp["RemainingCredit"])), (47.13, 47.13))
        self.assertEqual(ovp["Contact"]["ContactID"], self.partner_a.xero_contact_id)
        self.assertEqual(ovp["Reference"], "Transfer from Partner A")
        self.assertEqual(ovp["CurrencyCode"], self.company.currency_id.name)
        [bt] = self.xero_state()["BankTransactions"]
        self.assertEqual((bt["BankAccount"]["Code"], bt["OverpaymentID"]), ("092", ovp["OverpaymentID"]))
        self.assertEqual(bt["DateString"][:10], str(st_line.date))
        # Xero's bank account received what the statement line did, to the cent.
        self.assertEqual(round(float(xp["Amount"]) + float(bt["Total"]), 2), received)
        link = self.credit_links(st_line)
        self.assertEqual((link.state, link.xero_id, link.xero_transaction_id, link.credit_payment_id),
                         ("synced", ovp["OverpaymentID"], bt["BankTransactionID"], self.env["account.payment"]))
        self.assertFalse(self.link_jobs(st_line.xero_credit_link_ids).filtered(lambda j: j.state != "done"))

        # Exactly once: another run sends nothing more.
        self.emu("DELETE", "requests")
        self.run_worker()
        self.assertEqual(len(self.xero_overpayments()), 1)
        self.assertFalse([r for r in self.xero_requests()["requests"]
                          if r["method"] in ("PUT", "POST") and r["route"] != "POST /connect/token"])

    def test_statement_line_settling_exactly_is_one_payment_and_no_overpayment(self):
        invoice = self._invoice()
        st_line = self._statement_line(invoice.amount_total, "Exact transfer", match=invoice)
        self.assertAlmostEqual(st_line._coworks_xero_credit_left(), 0.0)
        self.run_worker()
        self.assertEqual(self.xero_overpayments(), [])
        self.assertEqual(self.xero_state()["BankTransactions"], [])
        [xp] = self.xero_payments()
        self.assertEqual((float(xp["Amount"]), xp["Account"]["Code"]), (invoice.amount_total, "092"))
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        # (matched the community way, the line was a deposit for a moment: that credit, applied
        # before it was sent, is nothing to send, and no job is left for a person)
        self.assertFalse(self.link_jobs(st_line.xero_credit_link_ids).filtered(
            lambda j: j.state not in ("done", "skipped")))

    def test_statement_entry_reset_to_draft_removes_its_money_and_posting_again_sends_it_again(self):
        invoice = self._invoice()
        st_line = self._statement_line(round(invoice.amount_total + 12.5, 2), "Reset me", match=invoice)
        self.run_worker()
        [first] = self.xero_overpayments()
        st_line.move_id.button_draft()
        self.run_worker()
        self.assertEqual(self.xero_payments(), [])
        self.assertEqual(self.xero_overpayments()[0]["Status"], "VOIDED")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

        st_line.move_id.action_post()
        self.run_worker()
        [xp] = self.xero_payments()
        self.assertEqual(float(xp["Amount"]), invoice.amount_total)
        [live] = self.xero_overpayments("AUTHORISED")
        self.assertNotEqual(live["OverpaymentID"], first["OverpaymentID"])
        self.assertEqual(float(live["Total"]), 12.5)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

    # ---------------------------------------------------------------- a deposit and its use

    def test_deposit_on_a_statement_line_then_applied_allocated_unallocated_and_voided(self):
        st_line = self._statement_line(500.0, "Deposit desk 12")
        self.assertEqual(self.link_jobs(self.credit_links(st_line)).state, "pending")
        self.run_worker()
        [ovp] = self.xero_overpayments()
        self.assertEqual((float(ovp["Total"]), float(ovp["RemainingCredit"])), (500.0, 500.0))
        self.assertEqual(ovp["Reference"], "Deposit desk 12")

        # The credit applied to a later invoice: an allocation of the overpayment, not a payment.
        invoice = self._invoice()
        self.emu("DELETE", "requests")
        invoice.js_assign_outstanding_line(self._receivable(st_line.move_id).id)
        self.assertEqual(invoice.payment_state, "paid")
        self.run_worker()
        [alloc] = self.xero_live_allocations()
        self.assertEqual((alloc["Invoice"]["InvoiceID"], alloc["Overpayment"]["OverpaymentID"]),
                         (invoice.xero_id, ovp["OverpaymentID"]))
        self.assertEqual(float(alloc["Amount"]), invoice.amount_total)
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual((xero_inv["Status"], float(xero_inv["AmountCredited"])), ("PAID", invoice.amount_total))
        self.assertEqual(self.xero_payments(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), round(500.0 - invoice.amount_total, 2))
        routes = self.xero_requests()["counts"]
        self.assertFalse([r for r in routes if r.startswith("PUT /Payments")], routes)
        alloc_link = self.credit_links(st_line, "overpayment_allocation")
        self.assertEqual((alloc_link.state, alloc_link.xero_id, alloc_link.move_id),
                         ("synced", alloc["AllocationID"], invoice))

        # Un-applied in Odoo: the allocation goes, the credit is whole again, no second overpayment.
        partial = self._receivable(st_line.move_id).matched_debit_ids
        invoice.js_remove_outstanding_partial(partial.id)
        self.run_worker()
        self.assertEqual(self.xero_live_allocations(), [])
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual((xero_inv["Status"], float(xero_inv["AmountDue"])), ("AUTHORISED", invoice.amount_total))
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), 500.0)
        self.assertEqual(alloc_link.state, "deleted")
        self.assertEqual(len(self.credit_links(st_line)), 1)

        # Applied again, then the statement line's matching undone: allocation removed, then voided.
        invoice.js_assign_outstanding_line(self._receivable(st_line.move_id).id)
        self.run_worker()
        self.assertEqual(len(self.xero_live_allocations()), 1)
        st_line.action_undo_reconciliation()
        self.assertEqual(invoice.payment_state, "not_paid")
        self.run_worker()
        self.assertEqual(self.xero_live_allocations(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual(ovp["Status"], "VOIDED", "the void waited for the allocation's removal, in the same run")
        self.assertEqual(self.xero_state()["BankTransactions"][0]["Status"], "DELETED")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.assertEqual(set(st_line.xero_credit_link_ids.mapped("state")), {"deleted"})
        self.assertFalse(self.link_jobs(st_line.xero_credit_link_ids).filtered(lambda j: j.state != "done"))

    def test_deleting_a_statement_line_removes_its_payment_and_voids_its_overpayment(self):
        invoice = self._invoice()
        st_line = self._statement_line(round(invoice.amount_total + 20.0, 2), "Overpaid transfer", match=invoice)
        self.run_worker()
        self.assertEqual(len(self.xero_payments()), 1)
        self.assertEqual(len(self.xero_overpayments("AUTHORISED")), 1)
        links = st_line.xero_credit_link_ids | self.env["coworks.xero.payment.link"].search(
            [("money_move_id", "=", st_line.move_id.id)])

        st_line.unlink()
        self.run_worker()
        self.assertEqual(self.xero_payments(), [])
        self.assertEqual([o["Status"] for o in self.xero_overpayments()], ["VOIDED"])
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        self.assertEqual(set(links.mapped("state")), {"deleted"})

    # ---------------------------------------------------------------- paid back

    def test_credit_paid_back_on_an_outgoing_statement_line_is_a_refund_out_of_the_overpayment(self):
        deposit = self._statement_line(300.0, "Deposit")
        self.run_worker()
        [ovp] = self.xero_overpayments()
        out = self._statement_line(-120.0, "Deposit returned")
        (self._receivable(deposit.move_id) + self._receivable(out.move_id)).reconcile()
        self.run_worker()
        [xr] = [p for p in self.xero_payments() if p.get("Overpayment")]
        self.assertEqual((xr["PaymentType"], xr["Overpayment"]["OverpaymentID"]),
                         ("AROVERPAYMENTPAYMENT", ovp["OverpaymentID"]))
        self.assertEqual((float(xr["Amount"]), xr["Account"]["Code"]), (120.0, "092"))
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Status"], float(ovp["RemainingCredit"])), ("AUTHORISED", 180.0))
        self.assertEqual(len(self.xero_overpayments()), 1, "the outgoing line makes no credit of its own")
        refund = self.credit_links(deposit, "overpayment_refund")
        self.assertEqual((refund.state, refund.credit_link_id), ("synced", self.credit_links(deposit)))

    def test_credit_paid_back_by_an_outbound_payment_is_a_refund_out_of_the_overpayment(self):
        deposit = self._statement_line(200.0, "Deposit to refund")
        self.run_worker()
        [ovp] = self.xero_overpayments()
        out = self.env["account.payment"].create({
            "payment_type": "outbound", "partner_type": "customer", "partner_id": self.partner_a.id,
            "amount": 80.0, "journal_id": self.bank_journal.id, "date": fields.Date.today()})
        out.action_post()
        (self._receivable(deposit.move_id) + self._receivable(out.move_id)).reconcile()
        self.run_worker()
        [xr] = [p for p in self.xero_payments() if p.get("Overpayment")]
        self.assertEqual((xr["Overpayment"]["OverpaymentID"], float(xr["Amount"]), xr["Reference"]),
                         (ovp["OverpaymentID"], 80.0, out.name))
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Status"], float(ovp["RemainingCredit"])), ("AUTHORISED", 120.0))
        refund = self.credit_links(deposit, "overpayment_refund")
        self.assertEqual((refund.state, refund.payment_id), ("synced", out))
        self.assertEqual(out.xero_sync_state, "done")

        # Cancelled: the refund is deleted in Xero and the credit is whole again.
        out.action_cancel()
        self.run_worker()
        self.assertFalse([p for p in self.xero_payments() if p.get("Overpayment")])
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), 200.0)
        self.assertEqual(len(self.xero_overpayments()), 1)

    # ---------------------------------------------------------------- what needs a person

    def test_unmapped_statement_journal_is_a_clear_error_and_retry_after_mapping_sends(self):
        journal = self.env["account.journal"].create({"name": "Second bank", "type": "bank", "code": "BNK9"})
        st_line = self._statement_line(250.0, "Deposit on second bank", journal=journal)
        invoice = self._invoice()
        self.run_worker()
        job = self.link_jobs(self.credit_links(st_line))
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("Second bank", job.error_message)
        self.assertTrue(self.xero_invoice(invoice.name), "nothing else is blocked")
        self.assertEqual(self.xero_overpayments(), [])

        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": journal.id, "bank_account_id": self.acc_092.id})
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        [ovp] = self.xero_overpayments()
        self.assertEqual((float(ovp["Total"]), ovp["CurrencyCode"]), (250.0, "USD"))
        [bt] = self.xero_state()["BankTransactions"]
        self.assertEqual(bt["BankAccount"]["Code"], "092")

    # ---------------------------------------------------------------- the catch-up

    def test_statement_credit_received_while_sync_was_off_is_caught_up(self):
        from ..models import sync_engine
        self.company.coworks_xero_sync_enabled = False
        invoice = self._invoice()
        st_line = self._statement_line(round(invoice.amount_total + 33.33, 2), "Paid while off", match=invoice)
        deposit = self._statement_line(75.5, "Deposit while off")
        self.env.flush_all()
        self.assertFalse((st_line | deposit).xero_credit_link_ids)

        self.company.coworks_xero_sync_enabled = True
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        got = sorted((o["Reference"], float(o["Total"])) for o in self.xero_overpayments("AUTHORISED"))
        self.assertEqual(got, [("Deposit while off", 75.5), ("Paid while off", 33.33)])
        self.assertEqual(self.env["coworks.sync.job"]._catch_up(sync_engine.CATCH_UP_PAGE)[0], 0,
                         "a second catch-up finds nothing more")

"""Customer credit on QuickBooks Online (issue #16: "payments ..., refunds", the same engine as Xero's
overpayments): money that settles nothing is an unapplied QuickBooks Payment; applying it later in
Odoo adds the invoice to that Payment, un-applying removes it; paying it back is an expense to
Accounts Receivable the Payment applies to; cancelling the money voids the Payment. Real Odoo, the
QuickBooks emulator on loopback."""
import datetime
from decimal import Decimal

from odoo import Command, fields
from odoo.tests import tagged

from .common_qbo import CoworksQboEmulatorCase


def cents(value):
    return Decimal(str(value)).quantize(Decimal("0.01"))


def links_of(payment_row):
    return sorted((lt["TxnType"], lt["TxnId"], cents(line["Amount"]))
                  for line in payment_row.get("Line") or [] for lt in line["LinkedTxn"])


@tagged("post_install", "-at_install")
class TestQboCustomerCredit(CoworksQboEmulatorCase):

    def setUp(self):
        super().setUp()
        self.customer = self.env["res.partner"].create({"name": "Lantern Labs", "email": "desk@lantern.test"})
        self.bank_journal = self.company_data["default_journal_bank"]

    # ---------------------------------------------------------------- helpers

    def _invoice(self, price=350.0):
        move = self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.customer.id, "invoice_date": fields.Date.today(),
            "invoice_line_ids": [Command.create({"product_id": self.plan_product.id, "quantity": 1,
                                                 "price_unit": price, "tax_ids": [Command.set(self.tax_sale_a.ids)]})]})
        move.action_post()
        return move

    @staticmethod
    def _receivable(record):
        move = record.move_id if record._name == "account.payment" else record
        return move.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")

    def _customer_payment(self, amount, payment_type="inbound"):
        payment = self.env["account.payment"].create({
            "payment_type": payment_type, "partner_type": "customer", "partner_id": self.customer.id,
            "amount": amount, "journal_id": self.bank_journal.id, "date": fields.Date.today()})
        payment.action_post()
        return payment

    def _credit_links(self, payment, kind):
        return payment.xero_credit_link_ids.filtered(lambda l: l.kind == kind)

    def _link_jobs(self, links):
        return self.env["coworks.sync.job"].search(
            [("res_model", "=", "coworks.xero.payment.link"), ("res_id", "in", links.ids)])

    def _all_done(self, links):
        jobs = self._link_jobs(links)
        self.assertTrue(jobs)
        self.assertEqual(set(jobs.mapped("state")), {"done"},
                         [(j.kind, j.operation, j.state, j.error_message) for j in jobs])

    def _qbo_payment(self, remote_id):
        return self.qbo_state()["Payment"][remote_id]

    def _qbo_invoice(self, move):
        [row] = self.qbo_docs("Invoice", DocNumber=move.name)
        return row

    # ---------------------------------------------------------------- tests

    def test_overpaid_invoice_is_a_payment_and_an_unapplied_payment_of_the_rest(self):
        invoice = self._invoice()
        paid = invoice.amount_total + 50.0
        payment = self._pay(invoice, amount=paid, payment_difference_handling="open")
        self.run_worker()
        [credit] = self._credit_links(payment, "overpayment")
        self._all_done(credit)
        self.assertEqual(cents(credit.amount), cents(50))
        qbo_invoice = self._qbo_invoice(invoice)
        self.assertEqual(cents(qbo_invoice["Balance"]), cents(0))
        unapplied = self._qbo_payment(credit.xero_id)
        self.assertEqual((cents(unapplied["TotalAmt"]), cents(unapplied["UnappliedAmt"])), (cents(50), cents(50)))
        self.assertEqual(links_of(unapplied), [], "credit applies to nothing yet")
        self.assertEqual(unapplied["DepositToAccountRef"]["value"], "35", "received into the mapped bank account")
        self.assertEqual(unapplied["CustomerRef"]["value"], self.customer.xero_contact_id)
        total_in = sum(cents(p["TotalAmt"]) for p in self.qbo_state()["Payment"].values())
        self.assertEqual(total_in, cents(paid), "QuickBooks received what Odoo received, once")

    def test_deposit_applied_unapplied_and_cancelled(self):
        deposit = self._customer_payment(500.0)
        self.run_worker()
        [credit] = self._credit_links(deposit, "overpayment")
        self._all_done(credit)
        self.assertEqual(cents(self._qbo_payment(credit.xero_id)["UnappliedAmt"]), cents(500))

        # Applied to a later invoice in Odoo: the same QuickBooks payment now pays it, no new payment.
        invoice = self._invoice()
        invoice.js_assign_outstanding_line(self._receivable(deposit).id)
        self.assertEqual(invoice.payment_state, "paid")
        self.run_worker()
        [alloc] = self._credit_links(deposit, "overpayment_allocation")
        self._all_done(alloc)
        qbo_invoice = self._qbo_invoice(invoice)
        self.assertEqual(alloc.xero_id, f"{credit.xero_id}/{qbo_invoice['Id']}")
        self.assertEqual(cents(qbo_invoice["Balance"]), cents(0))
        row = self._qbo_payment(credit.xero_id)
        self.assertEqual(links_of(row), [("Invoice", qbo_invoice["Id"], cents(invoice.amount_total))])
        self.assertEqual(cents(row["UnappliedAmt"]), cents(500) - cents(invoice.amount_total))
        self.assertEqual(len(self.qbo_state()["Payment"]), 1)

        # The pull reads that payment (its invoice changed): nothing comes back into Odoo.
        self.run_worker_at(fields.Datetime.now() + datetime.timedelta(minutes=61))
        self.assertFalse(self.env["coworks.sync.inbound.change"].sudo().search([("move_id", "=", invoice.id)]))
        self.assertEqual(len(invoice._get_reconciled_payments()), 1)

        # Un-applied in Odoo: the invoice is open again in QuickBooks, the credit whole again.
        invoice.js_remove_outstanding_partial(self._receivable(deposit).matched_debit_ids.id)
        self.run_worker()
        self.assertEqual(alloc.state, "deleted")
        self.assertEqual(cents(self._qbo_invoice(invoice)["Balance"]), cents(invoice.amount_total))
        row = self._qbo_payment(credit.xero_id)
        self.assertEqual((links_of(row), cents(row["UnappliedAmt"])), ([], cents(500)))

        # Cancelled in Odoo: the QuickBooks payment is voided.
        deposit.action_cancel()
        self.run_worker()
        self.assertEqual(credit.state, "deleted")
        row = self._qbo_payment(credit.xero_id)
        self.assertTrue(row["PrivateNote"].startswith("Voided"), row.get("PrivateNote"))
        self.assertEqual(cents(row["TotalAmt"]), cents(0))

    def test_credit_applied_to_two_invoices_and_a_lost_answer_applies_it_once(self):
        deposit = self._customer_payment(1000.0)
        self.run_worker()
        [credit] = self._credit_links(deposit, "overpayment")
        first, second = self._invoice(100.0), self._invoice(200.0)
        self.run_worker()
        # QuickBooks applies the first and its answer is lost: the retry finds it applied and
        # applies nothing twice.
        self.emu("POST", "faults", {"kind": "drop_after_write", "route": "POST /payment", "count": 1})
        first.js_assign_outstanding_line(self._receivable(deposit).id)
        second.js_assign_outstanding_line(self._receivable(deposit).id)
        self.run_worker()
        self._run_deferred_work()
        allocs = self._credit_links(deposit, "overpayment_allocation")
        self.assertEqual(len(allocs), 2)
        self._all_done(allocs)
        row = self._qbo_payment(credit.xero_id)
        ids = {m: self._qbo_invoice(m)["Id"] for m in (first, second)}
        self.assertEqual(links_of(row), sorted([("Invoice", ids[first], cents(first.amount_total)),
                                                ("Invoice", ids[second], cents(second.amount_total))]))
        self.assertEqual(cents(row["UnappliedAmt"]),
                         cents(1000) - cents(first.amount_total) - cents(second.amount_total))
        for move in (first, second):
            self.assertEqual(cents(self._qbo_invoice(move)["Balance"]), cents(0))

    def test_credit_paid_back_is_an_expense_the_payment_applies_to_and_undone_when_cancelled(self):
        deposit = self._customer_payment(500.0)
        self.run_worker()
        [credit] = self._credit_links(deposit, "overpayment")
        out = self._customer_payment(120.0, "outbound")
        (self._receivable(deposit) + self._receivable(out)).reconcile()
        self.run_worker()
        [refund] = out.xero_payment_link_ids.filtered(lambda l: l.kind == "overpayment_refund")
        self._all_done(refund)
        [expense] = self.qbo_state()["Purchase"].values()
        self.assertEqual(refund.xero_id, expense["Id"])
        self.assertEqual(cents(expense["TotalAmt"]), cents(120))
        self.assertEqual(expense["AccountRef"]["value"], "35", "the money leaves the mapped bank account")
        self.assertEqual(expense["EntityRef"]["value"], self.customer.xero_contact_id)
        row = self._qbo_payment(credit.xero_id)
        self.assertEqual(links_of(row), [("Expense", expense["Id"], cents(120))])
        self.assertEqual(cents(row["UnappliedAmt"]), cents(380), "what is left of the credit")

        out.action_draft()
        out.action_cancel()
        self.run_worker()
        self.assertEqual(refund.state, "deleted")
        self.assertEqual(self.qbo_state()["Purchase"], {})
        row = self._qbo_payment(credit.xero_id)
        self.assertEqual((links_of(row), cents(row["UnappliedAmt"])), ([], cents(500)))

    def test_void_refused_while_applied_in_quickbooks_says_what_to_do_there(self):
        deposit = self._customer_payment(300.0)
        invoice = self._invoice(100.0)
        self.run_worker()
        [credit] = self._credit_links(deposit, "overpayment")
        # An accountant applies the credit to the invoice in QuickBooks by hand.
        client = self.connection._qbo_client()
        row = self._qbo_payment(credit.xero_id)
        client.update("Payment", {"Id": row["Id"], "SyncToken": row["SyncToken"], "Line": [
            {"Amount": "50.00", "LinkedTxn": [{"TxnId": self._qbo_invoice(invoice)["Id"], "TxnType": "Invoice"}]}]})
        deposit.action_cancel()
        self.run_worker()
        [job] = self._link_jobs(credit).filtered(lambda j: j.operation == "cancel")
        self.assertEqual(job.state, "error")
        self.assertIn(self._qbo_invoice(invoice)["Id"], job.error_message)
        self.assertIn("untick", job.error_message)
        self.assertFalse(self._qbo_payment(credit.xero_id)["PrivateNote"].startswith("Voided"))
        # Removed in QuickBooks, then Retry: voided.
        row = self._qbo_payment(credit.xero_id)
        client.update("Payment", {"Id": row["Id"], "SyncToken": row["SyncToken"], "Line": []})
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertTrue(self._qbo_payment(credit.xero_id)["PrivateNote"].startswith("Voided"))

"""Customer credit paid back in Xero as in Odoo: an outbound customer payment reconciled with an
inbound payment's unapplied money (Xero's overpayment) is a refund Payment out of that
overpayment (``Overpayment: {OverpaymentID}``); an outbound payment reconciled with a credit note
is a cash refund on the credit note. Each reaches Xero once; un-reconciling or cancelling the
refund deletes the Xero payment; what Xero cannot show is a job that says why.

Every test drives Odoo's own actions, runs the committing sync cron, and reads the result from the
Xero emulator's state."""
from odoo import fields
from odoo.tests import tagged

from .common import CoworksXeroCreditCase


@tagged("post_install", "-at_install")
class TestCreditRefunds(CoworksXeroCreditCase):

    # ---------------------------------------------------------------- helpers

    def _customer_payment(self, amount, payment_type="inbound", partner=None):
        payment = self.env["account.payment"].create({
            "payment_type": payment_type, "partner_type": "customer", "partner_id": (partner or self.partner_a).id,
            "amount": amount, "journal_id": self.bank_journal.id, "date": fields.Date.today()})
        payment.action_post()
        return payment

    def _refund_credit(self, credit, amount):
        """Pay ``amount`` back to the customer and reconcile it with ``credit`` (a payment or a
        credit note) the way the reconciliation widget does."""
        out = self._customer_payment(amount, "outbound")
        (self._receivable(credit) + self._receivable(out)).reconcile()
        return out

    def xero_refunds(self, status="AUTHORISED"):
        return [p for p in self.xero_state()["Payments"] if p.get("Overpayment") and p["Status"] == status]

    def payment_puts(self):
        return [r for r in self.xero_requests()["requests"]
                if r["method"] == "PUT" and r["path"].rstrip("/").endswith("/Payments")]

    def refund_links(self, payment):
        return payment.xero_payment_link_ids.filtered(lambda l: l.kind == "overpayment_refund")

    # ---------------------------------------------------------------- refunds of an overpayment

    def test_credit_refunded_is_a_refund_out_of_the_overpayment_once_and_deleted_when_cancelled(self):
        deposit = self._customer_payment(500.0)
        self.run_worker()
        [ovp] = self.xero_overpayments()
        self.assertEqual(float(ovp["RemainingCredit"]), 500.0)

        out = self._refund_credit(deposit, 180.0)
        self.assertAlmostEqual(deposit._coworks_xero_credit_left(), 320.0)
        self.assertEqual(self.xero_refunds(), [], "nothing may be sent inside the user's transaction")
        self.emu("DELETE", "requests")
        self.run_worker()

        [xr] = self.xero_refunds()
        self.assertEqual(xr["PaymentType"], "AROVERPAYMENTPAYMENT")
        self.assertEqual(xr["Overpayment"]["OverpaymentID"], ovp["OverpaymentID"])
        self.assertEqual((float(xr["Amount"]), xr["Account"]["Code"], xr["Reference"]), (180.0, "092", out.name))
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Status"], float(ovp["RemainingCredit"])), ("AUTHORISED", 320.0))
        self.assertEqual(len(self.xero_overpayments()), 1, "no second overpayment")
        link = self.refund_links(out)
        self.assertEqual((link.state, link.xero_id, link.credit_payment_id), ("synced", xr["PaymentID"], deposit))
        self.assertIn(link, deposit.xero_credit_link_ids, "the refund shows on the payment whose credit it is")
        self.assertEqual((out.xero_sync_state, deposit.xero_sync_state), ("done", "done"))

        # Exactly once: another run sends nothing.
        self.emu("DELETE", "requests")
        self.run_worker()
        self.assertEqual(self.payment_puts(), [])
        self.assertEqual(len(self.xero_refunds()), 1)

        # Cancelled in Odoo: the Xero payment is deleted and the credit comes back.
        out.action_cancel()
        self.assertAlmostEqual(deposit._coworks_xero_credit_left(), 500.0)
        self.run_worker()
        self.assertEqual(self.xero_refunds(), [])
        self.assertEqual([p["PaymentID"] for p in self.xero_refunds("DELETED")], [xr["PaymentID"]])
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Status"], float(ovp["RemainingCredit"])), ("AUTHORISED", 500.0))
        self.assertEqual(link.state, "deleted")
        self.assertEqual(len(self.xero_overpayments()), 1, "the credit that came back was already in Xero")

    def test_whole_credit_refunded_then_unreconciled(self):
        deposit = self._customer_payment(250.0)
        self.run_worker()
        out = self._refund_credit(deposit, 250.0)
        self.run_worker()
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Status"], float(ovp["RemainingCredit"])), ("PAID", 0.0))

        self._receivable(out).remove_move_reconcile()
        self.run_worker()
        self.assertEqual(self.xero_refunds(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual((ovp["Status"], float(ovp["RemainingCredit"])), ("AUTHORISED", 250.0))
        # reconciled again: a new refund, the first stays deleted
        (self._receivable(deposit) + self._receivable(out)).reconcile()
        self.run_worker()
        [xr] = self.xero_refunds()
        self.assertEqual(float(xr["Amount"]), 250.0)
        self.assertEqual(len(self.xero_refunds("DELETED")), 1)

    def test_credit_refunded_before_it_reached_xero_is_an_overpayment_and_its_refund(self):
        invoice = self._invoice()
        payment = self._pay(invoice, amount=round(invoice.amount_total + 60.0, 2))
        out = self._refund_credit(payment, 60.0)
        self.assertAlmostEqual(payment._coworks_xero_credit_left(), 0.0)
        self.run_worker()

        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        [ovp] = self.xero_overpayments()
        self.assertEqual((float(ovp["Total"]), ovp["Status"]), (60.0, "PAID"),
                         "Xero receives the money as credit, then pays it back, as Odoo did")
        [xr] = self.xero_refunds()
        self.assertEqual((float(xr["Amount"]), xr["Overpayment"]["OverpaymentID"]), (60.0, ovp["OverpaymentID"]))
        self.assertEqual(self.refund_links(out).state, "synced")

    def test_credit_of_a_payment_posted_before_sync_refunded_makes_its_overpayment(self):
        self.company.coworks_xero_sync_enabled = False
        deposit = self._customer_payment(90.0)
        self.company.coworks_xero_sync_enabled = True
        self.assertFalse(deposit.xero_credit_link_ids)
        out = self._refund_credit(deposit, 90.0)
        self.run_worker()
        [ovp] = self.xero_overpayments()
        self.assertEqual((float(ovp["Total"]), ovp["Status"]), (90.0, "PAID"))
        [xr] = self.xero_refunds()
        self.assertEqual(float(xr["Amount"]), 90.0)
        self.assertEqual(self.refund_links(out).credit_link_id.xero_id, ovp["OverpaymentID"])

    def test_cancelling_the_credited_payment_removes_the_refund_then_voids(self):
        deposit = self._customer_payment(300.0)
        self.run_worker()
        self._refund_credit(deposit, 100.0)
        self.run_worker()
        self.assertEqual(len(self.xero_refunds()), 1)

        deposit.action_cancel()
        self.run_worker()
        self.assertEqual(self.xero_refunds(), [])
        [ovp] = self.xero_overpayments()
        self.assertEqual(ovp["Status"], "VOIDED", "the void waited for the refund's removal, in the same run")
        self.assertFalse(self.link_jobs(deposit.xero_credit_link_ids).filtered(lambda j: j.state != "done"))

    def test_refund_xero_refuses_says_why_on_the_payment(self):
        deposit = self._customer_payment(100.0)
        other = self._invoice(80.0)
        self.run_worker()
        [ovp] = self.xero_overpayments()
        # Someone applies most of the credit in Xero itself.
        client = self.connection._xero_client()
        [res] = client.allocate_overpayment(ovp["OverpaymentID"], [{
            "Invoice": {"InvoiceID": other.xero_id}, "Amount": 80.0, "Date": str(fields.Date.today())}],
            "by-hand-" + ovp["OverpaymentID"])
        self.assertTrue(res.ok, res.message)

        out = self._refund_credit(deposit, 50.0)
        self.run_worker()
        job = self.link_jobs(self.refund_links(out))
        self.assertEqual((job.state, job.error_code), ("error", "credit_exhausted"))
        self.assertIn(f"out of overpayment {deposit.name}: only 20", job.error_message)
        self.assertIn("applied to an invoice or refunded in Xero by hand", job.error_message)
        self.assertEqual(out.xero_sync_state, "error")
        self.assertIn("Xero sync needs attention", out.message_ids[0].body)
        self.assertEqual(self.xero_refunds(), [])

    def test_credit_written_off_by_a_journal_entry_is_a_refund_from_the_write_off_account(self):
        deposit = self._customer_payment(40.0)
        self.run_worker()
        receivable = self._receivable(deposit)
        entry = self.env["account.move"].create({
            "move_type": "entry", "journal_id": self.company_data["default_journal_misc"].id,
            "date": fields.Date.today(), "ref": "Small credit kept",
            "line_ids": [
                (0, 0, {"account_id": receivable.account_id.id, "partner_id": self.partner_a.id, "debit": 40.0,
                        "name": "Credit written off"}),
                (0, 0, {"account_id": self.company_data["default_account_revenue"].id, "credit": 40.0,
                        "name": "Credit written off"}),
            ]})
        entry.action_post()
        (receivable + entry.line_ids.filtered(lambda l: l.account_id == receivable.account_id)).reconcile()
        self.run_worker()
        link = deposit.xero_credit_link_ids.filtered(lambda l: l.kind == "overpayment_refund")
        self.assertEqual(link.role, "writeoff")
        job = self.link_jobs(link)
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("Write-off account", job.error_message)

        self.connection.writeoff_account_id = self.acc_091
        job.action_retry()
        self.run_worker()
        [xr] = self.xero_refunds()
        self.assertEqual((float(xr["Amount"]), xr["Account"]["Code"]), (40.0, "091"))
        self.assertIn(entry.name, xr["Reference"])
        self.assertEqual(self.xero_overpayments()[0]["Status"], "PAID")

    # ---------------------------------------------------------------- what Xero cannot show

    def test_refund_of_credit_xero_does_not_hold_is_a_job_that_says_why(self):
        # Credit booked by a journal entry (not money received): Xero has no overpayment for it.
        receivable_account = self.partner_a.property_account_receivable_id
        entry = self.env["account.move"].create({
            "move_type": "entry", "journal_id": self.company_data["default_journal_misc"].id,
            "date": fields.Date.today(), "ref": "Goodwill credit",
            "line_ids": [
                (0, 0, {"account_id": self.company_data["default_account_expense"].id, "debit": 25.0, "name": "x"}),
                (0, 0, {"account_id": receivable_account.id, "partner_id": self.partner_a.id, "credit": 25.0,
                        "name": "Goodwill credit"}),
            ]})
        entry.action_post()
        out = self._refund_credit(entry, 25.0)
        self.run_worker()
        link = self.refund_links(out)
        self.assertEqual(len(link), 1, "the reconciliation is not dropped silently")
        job = self.link_jobs(link)
        self.assertEqual((job.state, job.error_kind, job.error_code), ("error", "mapping", "not_representable"))
        self.assertIn("not one in Xero", job.error_message)
        self.assertIn(entry.name, job.error_message)
        self.assertEqual(out.xero_sync_state, "error")
        self.assertIn("Xero sync needs attention", out.message_ids[0].body)
        self.assertEqual(self.xero_refunds(), [])

        # Un-reconciled in Odoo: the job ends, nothing to remove.
        self._receivable(out).remove_move_reconcile()
        self.run_worker()
        self.assertFalse(self.link_jobs(link).filtered(lambda j: j.state == "error"))

    # ---------------------------------------------------------------- refunds of a credit note

    def test_credit_note_refunded_by_an_outbound_payment_reconciled_later(self):
        credit = self._create_invoice_one_line(
            product_id=self.plan_product, price_unit=100.0, tax_ids=self.tax_sale_a, partner_id=self.partner_a,
            move_type="out_refund", post=True)
        self.run_worker()
        out = self._customer_payment(credit.amount_total, "outbound")
        credit.js_assign_outstanding_line(self._receivable(out).id)
        self.assertEqual(credit.payment_state, "paid")
        self.emu("DELETE", "requests")
        self.run_worker()
        [xr] = [p for p in self.xero_state()["Payments"] if p.get("CreditNote") and p["Status"] == "AUTHORISED"]
        self.assertEqual((xr["PaymentType"], xr["CreditNote"]["CreditNoteID"]), ("ARCREDITPAYMENT", credit.xero_id))
        self.assertEqual(float(xr["Amount"]), credit.amount_total)
        [cn] = [c for c in self.xero_state()["CreditNotes"] if c["CreditNoteNumber"] == credit.name]
        self.assertEqual((cn["Status"], float(cn["RemainingCredit"])), ("PAID", 0.0))
        self.assertEqual(len(self.payment_puts()), 1)
        self.run_worker()
        self.assertEqual(len(self.payment_puts()), 1, "exactly once")

        out.action_cancel()
        self.run_worker()
        [cn] = [c for c in self.xero_state()["CreditNotes"] if c["CreditNoteNumber"] == credit.name]
        self.assertEqual((cn["Status"], float(cn["RemainingCredit"])), ("AUTHORISED", credit.amount_total))
        self.assertFalse([p for p in self.xero_state()["Payments"] if p.get("CreditNote") and p["Status"] == "AUTHORISED"])

    # ---------------------------------------------------------------- the catch-up

    def _catch_up_queues(self):
        from ..models import sync_engine
        return self.env["coworks.sync.job"]._catch_up(sync_engine.CATCH_UP_PAGE)[0]

    def test_credit_received_while_sync_was_off_is_caught_up(self):
        self.company.coworks_xero_sync_enabled = False
        deposit = self._customer_payment(400.0)
        invoice = self._invoice()
        overpaid = self._pay(invoice, amount=round(invoice.amount_total + 25.0, 2))
        self.env.flush_all()
        self.assertFalse(self.env["coworks.sync.job"].search([]), "nothing may be queued while sync is off")
        self.assertFalse((deposit | overpaid).xero_credit_link_ids)

        self.company.coworks_xero_sync_enabled = True
        self.run_worker()  # the catch-up finds the invoice, its payment and both payments' credit
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        got = sorted((o["Reference"], float(o["Total"]), o["Status"]) for o in self.xero_overpayments())
        self.assertEqual(got, sorted([(deposit.name, 400.0, "AUTHORISED"), (overpaid.name, 25.0, "AUTHORISED")]))
        self.assertEqual(self._catch_up_queues(), 0, "a second catch-up finds nothing more")
        self.run_worker()
        self.assertEqual(len(self.xero_overpayments()), 2)

    def test_credit_refunded_and_applied_while_sync_was_off_is_caught_up(self):
        self.company.coworks_xero_sync_enabled = False
        deposit = self._customer_payment(600.0)
        out = self._refund_credit(deposit, 100.0)
        invoice = self._invoice()
        invoice.js_assign_outstanding_line(self._receivable(deposit).id)
        left = round(600.0 - 100.0 - invoice.amount_total, 2)
        self.assertAlmostEqual(deposit._coworks_xero_credit_left(), left)

        self.company.coworks_xero_sync_enabled = True
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        [ovp] = self.xero_overpayments()
        # Xero holds what Odoo holds: the credit left, after its refund (the invoice is paid)
        self.assertEqual(float(ovp["RemainingCredit"]), left)
        self.assertEqual(float(ovp["Total"]), round(left + 100.0, 2))
        [xr] = self.xero_refunds()
        self.assertEqual((float(xr["Amount"]), xr["Reference"]), (100.0, out.name))
        self.assertEqual(self._catch_up_queues(), 0)

    def test_credit_whose_overpayment_is_in_xero_and_grew_while_sync_was_off(self):
        invoice = self._invoice()
        payment = self._pay(invoice, amount=round(invoice.amount_total + 10.0, 2))
        self.run_worker()
        self.assertEqual([float(o["Total"]) for o in self.xero_overpayments()], [10.0])
        self.company.coworks_xero_sync_enabled = False
        self._receivable(invoice).remove_move_reconcile()  # while off: its Xero payment stays
        self.company.coworks_xero_sync_enabled = True
        # the credit grew by the invoice's amount; Xero holds 10 as credit: the difference is caught up
        self.assertAlmostEqual(payment._coworks_xero_credit_left(), round(invoice.amount_total + 10.0, 2))
        self.run_worker()
        xero_inv = self.xero_invoice(invoice.name)
        self.assertEqual((xero_inv["Status"], float(xero_inv["AmountDue"])), ("AUTHORISED", invoice.amount_total),
                         "the payment Odoo un-applied while sync was off is removed from Xero")
        self.assertEqual(sorted(float(o["Total"]) for o in self.xero_overpayments()),
                         sorted([10.0, invoice.amount_total]))
        self.assertEqual(self._catch_up_queues(), 0)

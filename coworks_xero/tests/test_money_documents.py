"""Where documents and money meet: cancelling or editing an invoice that has payments or credits,
un-applying a credit note from a paid invoice, and money registered before its invoice reached
Xero. Every test drives Odoo's own actions and wizards, runs the committing sync cron and reads
the result from the Xero emulator's state."""
from decimal import Decimal

from odoo import Command
from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase


def cents(value):
    return Decimal(str(value)).quantize(Decimal("0.01"))


@tagged("post_install", "-at_install")
class TestMoneyDocuments(CoworksXeroEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank_journal = cls.company_data["default_journal_bank"]
        # un-reconciled payments become customer credit, which Xero receives in USD
        cls.use_usd_bank()

    # ---------------------------------------------------------------- helpers

    def _reverse(self, invoice, price=None):
        wizard = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({
                "journal_id": invoice.journal_id.id, "reason": "customer refund"})
        credit = self.env["account.move"].browse(wizard.refund_moves()["res_id"])
        if price is not None:
            credit.invoice_line_ids[0].price_unit = price
        credit.action_post()
        return credit

    @staticmethod
    def _receivable(move):
        return move.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")

    def _state(self):
        state = self.xero_state()
        docs = {d["InvoiceID"]: d for d in state["Invoices"]}
        docs.update({d["CreditNoteID"]: d for d in state["CreditNotes"]})
        return state, docs

    def live_payments(self, move, state=None):
        state = state or self.xero_state()
        key = "CreditNote" if move.move_type == "out_refund" else "Invoice"
        id_key = key + "ID"
        return [p for p in state["Payments"] if p["Status"] == "AUTHORISED"
                and (p.get(key) or {}).get(id_key) == move.xero_id]

    def live_allocations(self, state=None):
        state = state or self.xero_state()
        return [a for a in state["Allocations"] if not a["IsDeleted"]]

    def doc_job(self, move, operation="upsert"):
        return self.jobs_of(move).filtered(lambda j: j.kind in ("invoice", "credit_note")
                                           and j.operation == operation)[:1]

    def assertNoOpenJobs(self):
        jobs = self.env["coworks.sync.job"].search([("state", "in", ("pending", "error"))])
        self.assertFalse(jobs, [(j.display_name, j.error_message) for j in jobs])

    def assertMoneyAgrees(self, invoice, doc=None):
        """Xero's paid/credited/due figures and status equal Odoo's for an invoice."""
        doc = doc or self._state()[1][invoice.xero_id]
        credited = sum(p.debit_amount_currency for p in self._receivable(invoice).matched_credit_ids
                       if p.credit_move_id.move_id.move_type == "out_refund")
        paid = invoice.amount_total - invoice.amount_residual - credited
        self.assertEqual(cents(doc["AmountDue"]), cents(invoice.amount_residual), invoice.name)
        self.assertEqual(cents(doc["AmountCredited"]), cents(credited), invoice.name)
        self.assertEqual(cents(doc["AmountPaid"]), cents(paid), invoice.name)
        want = "PAID" if invoice.currency_id.is_zero(invoice.amount_residual) else "AUTHORISED"
        self.assertEqual(doc["Status"], want, invoice.name)

    # ---------------------------------------------------------------- cancel a paid invoice

    def test_cancel_after_unreconciling_deletes_the_payment_then_voids(self):
        invoice = self._invoice()
        payment = self._pay(invoice)
        self.run_worker()
        [xp] = self.live_payments(invoice)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

        # What Odoo asks a user to do: un-reconcile the payment, then cancel the invoice; the
        # worker runs once for both.
        invoice.js_remove_outstanding_partial(self._receivable(invoice).matched_credit_ids.id)
        self.assertEqual(invoice.payment_state, "not_paid")
        invoice.button_cancel()
        self.assertEqual(invoice.state, "cancel")
        self.run_worker()

        state, docs = self._state()
        self.assertEqual(docs[invoice.xero_id]["Status"], "VOIDED")
        self.assertEqual([p["Status"] for p in state["Payments"] if p["PaymentID"] == xp["PaymentID"]],
                         ["DELETED"])
        self.assertEqual(invoice.xero_status, "VOIDED")
        self.assertEqual(payment.xero_payment_link_ids.state, "deleted")
        self.assertEqual(invoice._coworks_xero_remote_links(), ([], []))
        self.assertIn("voided", self.doc_job(invoice, "cancel").log_note)
        self.assertNoOpenJobs()

    def test_cancel_paid_invoice_directly(self):
        """Odoo 19 cancels a paid invoice directly: button_cancel resets it to draft (which keeps
        the reconciliation) and then removes the reconciliation itself."""
        invoice = self._invoice()
        payment = self._pay(invoice, amount=150.0)
        self._pay(invoice)  # the rest, a second payment
        self.run_worker()
        self.assertEqual(len(self.live_payments(invoice)), 2)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

        invoice.button_cancel()
        self.assertEqual(invoice.state, "cancel")
        self.assertFalse(self._receivable(invoice).matched_credit_ids, "Odoo removed the reconciliation")
        self.assertEqual(payment.state, "in_process")  # the money is still received, just not applied
        self.run_worker()

        state, docs = self._state()
        self.assertEqual(docs[invoice.xero_id]["Status"], "VOIDED")
        self.assertEqual(self.live_payments(invoice, state), [])
        self.assertEqual(len([p for p in state["Payments"] if p["Status"] == "DELETED"]), 2)
        links = self.env["coworks.xero.payment.link"].search([("move_id", "=", invoice.id)])
        self.assertEqual(set(links.mapped("state")), {"deleted"})
        self.assertNoOpenJobs()

    def test_cancel_invoice_with_a_credit_note_applied(self):
        invoice = self._invoice(350.0)
        credit = self._reverse(invoice, price=100.0)
        invoice.js_assign_outstanding_line(self._receivable(credit).id)
        self._pay(invoice, amount=50.0)
        self.run_worker()
        self.assertEqual(len(self.live_allocations()), 1)
        self.assertEqual(len(self.live_payments(invoice)), 1)

        invoice.button_cancel()
        self.run_worker()
        state, docs = self._state()
        self.assertEqual(docs[invoice.xero_id]["Status"], "VOIDED")
        self.assertEqual(self.live_allocations(state), [])
        self.assertEqual(self.live_payments(invoice, state), [])
        # the credit note is whole again, as in Odoo
        self.assertEqual(docs[credit.xero_id]["Status"], "AUTHORISED")
        self.assertEqual(cents(docs[credit.xero_id]["RemainingCredit"]), cents(credit.amount_residual))
        self.assertNoOpenJobs()

    # ---------------------------------------------------------------- edit a partly paid invoice

    def test_edit_keeping_the_payment_voids_recreates_and_pays_again(self):
        """Reset to draft, change a line without changing the amount (Odoo keeps the payment
        matched), post again: Xero refuses edits on an invoice with payments, so the integration
        removes its payment, voids, creates -R1 and applies the payment again."""
        invoice = self._invoice()
        payment = self._pay(invoice, amount=100.0)
        self.run_worker()
        first_id = invoice.xero_id
        [old] = self.live_payments(invoice)

        invoice.button_draft()
        self.assertTrue(self._receivable(invoice).matched_credit_ids, "Odoo 19 keeps the match in draft")
        invoice.invoice_line_ids[0].name = "Hot desk, November (corrected)"
        self.assertTrue(self._receivable(invoice).matched_credit_ids)
        invoice.action_post()
        self.assertEqual(invoice.payment_state, "partial")
        self.run_worker()

        state, docs = self._state()
        self.assertEqual(docs[first_id]["Status"], "VOIDED")
        self.assertNotEqual(invoice.xero_id, first_id)
        new = docs[invoice.xero_id]
        self.assertEqual(new["InvoiceNumber"], f"{invoice.name}-R1")
        self.assertEqual(invoice.xero_number, f"{invoice.name}-R1")
        self.assertEqual(new["LineItems"][0]["Description"], "Hot desk, November (corrected)")
        self.assertEqual([p["Status"] for p in state["Payments"] if p["PaymentID"] == old["PaymentID"]],
                         ["DELETED"])
        [again] = self.live_payments(invoice, state)
        self.assertEqual(cents(again["Amount"]), cents(100.0))
        self.assertEqual(again["Reference"], payment.name)
        self.assertMoneyAgrees(invoice, new)
        link = payment.xero_payment_link_ids
        self.assertEqual((link.state, link.xero_id), ("synced", again["PaymentID"]))
        self.assertEqual(invoice._coworks_xero_remote_links(), ([again["PaymentID"]], []))
        note = self.doc_job(invoice).log_note
        self.assertIn("does not allow editing an invoice with payments", note)
        self.assertIn(f"{invoice.name}-R1", note)
        self.assertIn(f"{invoice.name}-R1", invoice.message_ids[0].body,
                      "the accountant sees on the invoice why its Xero number changed")
        self.assertNoOpenJobs()

    def test_a_slow_answer_to_odoos_payment_is_not_an_edit_made_in_xero(self):
        """Xero moves an invoice's UpdatedDateUTC when a payment lands on it, and Odoo records the
        payment after Xero's answer: a payment whose answer took a while is still Odoo's own change,
        so an edit in Odoo afterwards is not "also edited in Xero"."""
        invoice = self._invoice()
        self.run_worker()
        self._pay(invoice, amount=100.0)
        self.emu("POST", "faults", {"route": "PUT /Payments", "kind": "latency", "seconds": 2.5, "count": 1})
        self.run_worker()
        self.assertEqual(len(self.live_payments(invoice)), 1)
        invoice.button_draft()
        invoice.invoice_line_ids[0].name = "Hot desk, November (corrected)"
        invoice.action_post()
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.xero_number or invoice.name)["LineItems"][0]["Description"],
                         "Hot desk, November (corrected)")
        self.assertFalse([m for m in invoice.message_ids if "also edited in Xero" in (m.body or "")])
        self.assertNotIn("also edited in Xero", self.doc_job(invoice).log_note or "")
        self.assertNoOpenJobs()

    def test_edit_changing_the_amount_unmatches_the_payment(self):
        """Changing an amount in draft makes Odoo drop the match with the payment; Xero ends
        with the edited invoice unpaid, then paid again once the user re-applies the payment."""
        invoice = self._invoice()
        payment = self._pay(invoice, amount=100.0)
        self.run_worker()
        first_id = invoice.xero_id

        invoice.button_draft()
        invoice.write({"invoice_line_ids": [Command.update(invoice.invoice_line_ids[0].id, {"price_unit": 400.0})]})
        self.assertFalse(self._receivable(invoice).matched_credit_ids, "Odoo drops the match")
        invoice.action_post()
        self.assertEqual(invoice.payment_state, "not_paid")
        self.run_worker()

        state, docs = self._state()
        current = docs[invoice.xero_id]
        self.assertEqual(cents(current["Total"]), cents(invoice.amount_total))
        self.assertEqual(self.live_payments(invoice, state), [])
        self.assertMoneyAgrees(invoice, current)
        if invoice.xero_id != first_id:  # re-created while the payment was still there
            self.assertEqual(docs[first_id]["Status"], "VOIDED")
            self.assertEqual(current["InvoiceNumber"], f"{invoice.name}-R1")
        self.assertFalse([p for p in state["Payments"] if p["Status"] == "AUTHORISED"])
        self.assertNoOpenJobs()

        # The unapplied payment is the customer's credit: Xero holds it as an overpayment.
        [ovp] = [o for o in state["Overpayments"] if o["Status"] == "AUTHORISED"]
        self.assertEqual(cents(ovp["RemainingCredit"]), cents(100.0))

        # the user applies the outstanding payment again: the credit is allocated to the invoice
        invoice.js_assign_outstanding_line(self._receivable(payment.move_id).id)
        self.assertEqual(invoice.payment_state, "partial")
        self.run_worker()
        state, docs = self._state()
        self.assertEqual(self.live_payments(invoice, state), [])
        [alloc] = [a for a in state["Allocations"] if not a["IsDeleted"] and a.get("Overpayment")
                   and a["Invoice"]["InvoiceID"] == invoice.xero_id]
        self.assertEqual(cents(alloc["Amount"]), cents(100.0))
        # Xero counts an applied overpayment as credit, not as a payment
        doc = docs[invoice.xero_id]
        self.assertEqual((cents(doc["AmountDue"]), cents(doc["AmountCredited"]), cents(doc["AmountPaid"]),
                          doc["Status"]),
                         (cents(invoice.amount_residual), cents(100.0), cents(0), "AUTHORISED"))
        self.assertNoOpenJobs()

    def test_edit_with_the_worker_running_in_between(self):
        """The worker runs while the invoice is in draft (the payment is removed in Xero), then
        the edited invoice is updated in place under its own number."""
        invoice = self._invoice()
        self._pay(invoice, amount=100.0)
        self.run_worker()
        first_id = invoice.xero_id
        invoice.button_draft()
        invoice.write({"invoice_line_ids": [Command.update(invoice.invoice_line_ids[0].id, {"price_unit": 300.0})]})
        self.run_worker()
        self.assertEqual(self.live_payments(invoice), [])
        invoice.action_post()
        self.run_worker()
        self.assertEqual(invoice.xero_id, first_id)
        doc = self.xero_invoice(invoice.name)
        self.assertEqual(doc["Status"], "AUTHORISED")
        self.assertEqual(cents(doc["Total"]), cents(invoice.amount_total))
        self.assertMoneyAgrees(invoice, doc)
        self.assertNoOpenJobs()

    def test_edit_of_an_invoice_with_a_credit_note_applied_applies_it_again(self):
        invoice = self._invoice(350.0)
        credit = self._reverse(invoice, price=100.0)
        invoice.js_assign_outstanding_line(self._receivable(credit).id)
        self.run_worker()
        [old_alloc] = self.live_allocations()

        invoice.button_draft()
        invoice.invoice_line_ids[0].name = "Hot desk (renamed)"
        invoice.action_post()
        self.run_worker()

        state, docs = self._state()
        self.assertEqual(docs[invoice.xero_id]["InvoiceNumber"], f"{invoice.name}-R1")
        [alloc] = self.live_allocations(state)
        self.assertNotEqual(alloc["AllocationID"], old_alloc["AllocationID"])
        self.assertEqual(alloc["Invoice"]["InvoiceID"], invoice.xero_id)
        self.assertEqual(cents(alloc["Amount"]), cents(credit.amount_total))
        self.assertMoneyAgrees(invoice, docs[invoice.xero_id])
        self.assertEqual(docs[credit.xero_id]["Status"], "PAID")
        self.assertNoOpenJobs()

    # ---------------------------------------------------------------- un-apply a credit note

    def test_unapplying_a_credit_note_from_a_paid_invoice(self):
        invoice = self._invoice(350.0)
        credit = self._reverse(invoice, price=100.0)
        invoice.js_assign_outstanding_line(self._receivable(credit).id)
        self.run_worker()
        self.assertEqual(len(self.live_allocations()), 1)
        self._pay(invoice)  # the rest, in a later run
        self.assertEqual(invoice.payment_state, "paid")
        self.run_worker()
        self.assertMoneyAgrees(invoice)

        partial = self._receivable(credit).matched_debit_ids
        invoice.js_remove_outstanding_partial(partial.id)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(invoice.amount_residual, credit.amount_total)
        self.run_worker()

        state, docs = self._state()
        self.assertEqual(self.live_allocations(state), [])
        doc = docs[invoice.xero_id]
        self.assertEqual(doc["Status"], "AUTHORISED")
        self.assertMoneyAgrees(invoice, doc)
        self.assertEqual(len(self.live_payments(invoice, state)), 1)
        cn = docs[credit.xero_id]
        self.assertEqual((cn["Status"], cents(cn["RemainingCredit"])), ("AUTHORISED", cents(credit.amount_total)))
        self.assertNoOpenJobs()

    # ---------------------------------------------------------------- before the worker ran

    def test_payment_right_after_posting_one_run_sends_contact_invoice_payment_in_order(self):
        partner = self.env["res.partner"].create({"name": "Walk-in Member", "email": "walkin@example.com"})
        invoice = self._invoice(partner=partner)
        payment = self._pay(invoice)
        self.assertFalse(partner.xero_contact_id)
        self.emu("DELETE", "requests")
        self.run_worker()

        writes = [(r["method"], r["route"]) for r in self.xero_requests()["requests"]
                  if r["method"] in ("PUT", "POST")]
        routes = [route for _m, route in writes]
        for name in ("Contacts", "Invoices", "Payments"):
            self.assertEqual(sum(name in r for r in routes), 1, writes)
        self.assertLess(next(i for i, r in enumerate(routes) if "Contacts" in r),
                        next(i for i, r in enumerate(routes) if "Invoices" in r))
        self.assertLess(next(i for i, r in enumerate(routes) if "Invoices" in r),
                        next(i for i, r in enumerate(routes) if "Payments" in r))
        self.assertTrue(partner.xero_contact_id)
        doc = self.xero_invoice(invoice.name)
        self.assertEqual(doc["Contact"]["ContactID"], partner.xero_contact_id)
        self.assertEqual(doc["Status"], "PAID")
        self.assertMoneyAgrees(invoice, doc)
        self.assertEqual(payment.xero_payment_link_ids.state, "synced")
        self.assertNoOpenJobs()

    def test_credit_note_and_payment_before_the_worker_ran(self):
        invoice = self._invoice(350.0)
        credit = self._reverse(invoice, price=50.0)
        invoice.js_assign_outstanding_line(self._receivable(credit).id)
        self._pay(invoice)
        self.run_worker()
        state, docs = self._state()
        self.assertMoneyAgrees(invoice, docs[invoice.xero_id])
        self.assertEqual(docs[credit.xero_id]["Status"], "PAID")
        self.assertNoOpenJobs()

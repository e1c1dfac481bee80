"""What happens in Xero comes back: payments and voids entered in Xero (through the emulator's
API, as a person or another app would) reach Odoo through the catch-up pull, once, without echo.

The webhook route itself (signatures, Intent-to-Receive, replays) is tested over real HTTP in
test_inbound_webhooks.py."""
import datetime
import time
import uuid
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase, invoice_webhook_body


class InboundCase(CoworksXeroEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank_journal = cls.company_data["default_journal_bank"]

    def pay_in_xero(self, move, amount, code="090", reference="Bank transfer 4711", date=None):
        """A payment someone enters in Xero (not through this integration)."""
        [result] = self.connection._xero_client().create_payments([{
            "Invoice": {"InvoiceID": move.xero_id}, "Account": {"Code": code},
            "Date": (date or fields.Date.today()).isoformat(), "Amount": amount, "Reference": reference}],
            uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def void_in_xero(self, move):
        result = self.connection._xero_client().void_invoice(move.xero_id, uuid.uuid4().hex, ref="by hand")
        self.assertTrue(result.ok, result.message)

    def run_pull(self):
        """The sync cron once the pull is due again (every 15 minutes, hourly while webhooks arrive)."""
        self.connection.invalidate_recordset(["inbound_pulled_at"])
        last = max(fields.Datetime.now(), self.connection.inbound_pulled_at or fields.Datetime.now())
        self.run_worker_at(last + datetime.timedelta(minutes=61))

    def changes(self, move):
        return self.env["coworks.sync.inbound.change"].sudo().search([("move_id", "=", move.id)])

    def change_jobs(self, changes):
        return self.env["coworks.sync.job"].sudo().search(
            [("res_model", "=", "coworks.sync.inbound.change"), ("res_id", "in", changes.ids)])

    def payment_writes(self):
        reqs = self.emu("GET", "requests")["requests"]
        return [r for r in reqs if r["method"] in ("PUT", "POST") and "/Payments" in r["path"]]

    def sent_invoice(self, price=350.0):
        invoice = self._invoice(price)
        self.run_worker()
        self.assertTrue(invoice.xero_id, "the invoice must be in Xero first")
        return invoice

    def sent_invoice_with_terms(self, terms, price=1000.0):
        invoice = self._invoice(price, invoice_payment_term_id=terms.id)
        self.run_worker()
        self.assertTrue(invoice.xero_id, "the invoice must be in Xero first")
        return invoice


@tagged("post_install", "-at_install")
class TestInboundPayments(InboundCase):

    def test_payment_made_in_xero_is_registered_and_reconciled_without_echo(self):
        invoice = self.sent_invoice(350.0)
        amount = invoice.amount_total
        payment_id = self.pay_in_xero(invoice, amount, reference="Bank transfer 4711")
        self.emu("DELETE", "requests")

        self.run_pull()

        self.assertEqual(invoice.payment_state, "paid", "the Xero payment must reconcile the invoice in Odoo")
        change = self.changes(invoice)
        self.assertRecordValues(change, [{"kind": "payment", "state": "applied", "remote_id": payment_id.lower()}])
        payment = change.payment_id
        self.assertRecordValues(payment, [{"journal_id": self.bank_journal.id, "amount": amount,
                                           "date": fields.Date.today()}])
        self.assertIn("Bank transfer 4711", payment.memo or "")
        self.assertEqual(payment.currency_id, invoice.currency_id)
        # No echo: the reconciliation's link is this Xero payment; nothing was sent to Xero.
        link = payment.xero_payment_link_ids
        self.assertRecordValues(link, [{"xero_id": payment_id.lower(), "state": "synced"}])
        self.assertFalse(self.payment_writes(), "a payment that came from Xero must not be sent back")
        self.run_worker()
        self.assertFalse(self.payment_writes())
        xero = [p for p in self.xero_state()["Payments"] if p["Status"] == "AUTHORISED"]
        self.assertEqual(len(xero), 1, "Xero keeps exactly the one payment entered there")
        job = self.change_jobs(change)
        self.assertRecordValues(job, [{"kind": "inbound", "state": "done"}])
        self.assertIn(payment.name, job.log_note)
        # True state: Xero's status and amount due as Xero reported them.
        self.assertEqual(invoice.xero_status, "PAID")
        self.assertEqual(invoice.xero_amount_due, 0.0)
        self.assertTrue(invoice.xero_status_at)

    def test_partial_payment_in_xero_and_amount_due(self):
        invoice = self.sent_invoice(350.0)
        self.pay_in_xero(invoice, 100.0)
        self.run_pull()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertAlmostEqual(invoice.amount_residual, invoice.amount_total - 100.0)
        self.assertEqual(invoice.xero_status, "AUTHORISED")
        self.assertAlmostEqual(invoice.xero_amount_due, invoice.amount_total - 100.0)

    def test_payments_in_xero_on_an_invoice_in_installments_pay_the_earliest_first(self):
        """An invoice in installments (30 % now, 70 % at the end of next month) has two open
        receivable lines in Odoo and one amount due in Xero. A payment of the first installment
        entered in Xero is registered through Odoo's wizard, as a person would, and reconciled with
        the earliest installment; a second one for the rest pays the invoice. Nothing echoes."""
        invoice = self.sent_invoice_with_terms(self.pay_terms_b)
        installments = invoice.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable").sorted("date_maturity")
        self.assertEqual(len(installments), 2)
        first, rest = installments[0].amount_residual, installments[1].amount_residual
        self.pay_in_xero(invoice, first, reference="Deposit")
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertTrue(installments[0].reconciled, "the Xero payment goes to the earliest installment")
        self.assertFalse(installments[1].reconciled)
        [change] = self.changes(invoice)
        self.assertEqual(change.state, "applied")
        self.assertRecordValues(change.payment_id, [{"amount": first, "journal_id": self.bank_journal.id}])
        self.assertRecordValues(change.payment_id.xero_payment_link_ids, [{"state": "synced"}])
        self.pay_in_xero(invoice, rest, reference="Balance")
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(sorted(self.changes(invoice).payment_id.mapped("amount")), sorted([first, rest]))
        self.run_worker()
        self.assertFalse(self.payment_writes(), "payments that came from Xero must not be sent back")
        self.assertEqual(len([p for p in self.xero_state()["Payments"] if p["Status"] == "AUTHORISED"]), 2)
        self.assertEqual(invoice.xero_status, "PAID")

    def test_unmapped_bank_account_is_a_job_that_says_what_to_do(self):
        invoice = self.sent_invoice(350.0)
        self.pay_in_xero(invoice, 50.0, code="091")  # Card Clearing: payments enabled, no journal mapped
        self.run_pull()

        self.assertEqual(invoice.payment_state, "not_paid", "nothing is registered without a journal")
        change = self.changes(invoice)
        job = self.change_jobs(change)
        self.assertRecordValues(job, [{"state": "error", "error_kind": "mapping"}])
        self.assertIn("091 Card Clearing", job.error_message)
        self.assertIn("Payment journals", job.error_message)
        self.assertTrue(any("091 Card Clearing" in (m.body or "") for m in invoice.message_ids),
                        "the document says it too")
        # The fix: map a journal to that account, then Retry.
        card_journal = self.env["account.journal"].create({"name": "Card clearing", "type": "bank", "code": "CRD"})
        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": card_journal.id, "bank_account_id": self.acc_091.id})
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(change.payment_id.journal_id, card_journal)

    def test_payment_on_a_document_odoo_has_closed(self):
        invoice = self.sent_invoice(350.0)
        self._pay(invoice)  # paid in Odoo, not yet sent
        self.pay_in_xero(invoice, invoice.amount_total, reference="Paid twice?")
        self.run_pull()
        change = self.changes(invoice)
        job = self.change_jobs(change)
        self.assertRecordValues(job, [{"state": "error", "error_kind": "conflict"}])
        self.assertIn("double payment", job.error_message)
        self.assertEqual(len(invoice._get_reconciled_payments()), 1, "no second payment in Odoo")

    def test_refund_made_in_xero_on_a_credit_note(self):
        credit = self._invoice(100.0, move_type="out_refund")
        self.run_worker()
        self.assertTrue(credit.xero_id)
        [result] = self.connection._xero_client().create_payments([{
            "CreditNote": {"CreditNoteID": credit.xero_id}, "Account": {"Code": "090"},
            "Date": fields.Date.today().isoformat(), "Amount": credit.amount_total, "Reference": "Refund by transfer"}],
            uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(result.ok, result.message)
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(credit.payment_state, "paid")
        [refund] = credit._get_reconciled_payments()
        self.assertEqual(refund.payment_type, "outbound")
        self.assertRecordValues(refund.xero_payment_link_ids, [{"kind": "refund", "xero_id": result.remote_id.lower()}])
        self.assertFalse(self.payment_writes(), "the refund that came from Xero is not sent back")
        self.assertEqual(credit.xero_status, "PAID")

    def test_lost_event_is_found_by_the_pull(self):
        """No webhook reached Odoo (none configured, or lost): the pull finds the payment."""
        invoice = self.sent_invoice(350.0)
        self.assertFalse(self.env["coworks.sync.inbound.event"].search([]))
        before = self.connection.inbound_modified_since
        self.pay_in_xero(invoice, invoice.amount_total)
        self.run_worker()  # the pull is not due yet: nothing seen
        self.assertEqual(invoice.payment_state, "not_paid")
        self.run_pull()
        self.assertEqual(invoice.payment_state, "paid")
        self.assertGreater(self.connection.inbound_modified_since, before or datetime.datetime.min)
        # The next pull reads only what changed since (If-Modified-Since) and applies nothing twice.
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(len(self.changes(invoice)), 1)
        self.assertEqual(len(invoice._get_reconciled_payments()), 1)
        pulls = [r for r in self.emu("GET", "requests")["requests"] if r["method"] == "GET"]
        self.assertTrue(pulls, "the pull ran")

    def allocate_in_xero(self, credit, invoice, amount):
        [result] = self.connection._xero_client().allocate_credit_note(credit.xero_id, [{
            "Invoice": {"InvoiceID": invoice.xero_id}, "Amount": amount,
            "Date": fields.Date.today().isoformat()}], uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def test_credit_note_applied_in_xero_is_matched_in_odoo_without_echo(self):
        invoice = self._invoice(350.0)
        credit = self._invoice(100.0, move_type="out_refund")
        self.run_worker()
        allocation_id = self.allocate_in_xero(credit, invoice, credit.amount_total)
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(credit.payment_state, "paid")
        self.assertAlmostEqual(invoice.amount_residual, invoice.amount_total - credit.amount_total)
        link = self.env["coworks.xero.payment.link"].search([("credit_note_id", "=", credit.id)])
        self.assertRecordValues(link, [{"kind": "allocation", "xero_id": allocation_id.lower(), "state": "synced",
                                        "move_id": invoice.id}])
        writes = [r for r in self.emu("GET", "requests")["requests"] if "/Allocations" in r["path"]]
        self.assertFalse(writes, "the allocation that came from Xero is not sent back")
        self.assertAlmostEqual(invoice.xero_amount_due, invoice.amount_total - credit.amount_total)

    def test_part_of_a_credit_note_applied_in_xero_asks_for_a_person(self):
        invoice = self._invoice(350.0)
        credit = self._invoice(100.0, move_type="out_refund")
        self.run_worker()
        self.allocate_in_xero(credit, invoice, 10.0)
        self.run_pull()
        self.assertEqual(credit.payment_state, "not_paid", "Odoo cannot match a part of what is left")
        job = self.change_jobs(self.env["coworks.sync.inbound.change"].search([("credit_note_id", "=", credit.id)]))
        self.assertRecordValues(job, [{"state": "error", "error_kind": "conflict"}])
        self.assertIn("Match them in Odoo as Xero did", job.error_message)

    def test_a_failed_read_stops_nothing_and_misses_nothing(self):
        invoice = self.sent_invoice(350.0)
        self.pay_in_xero(invoice, 120.0)
        mark = self.connection.inbound_modified_since
        self.emu("POST", "faults", {"route": "GET /Payments", "kind": "status", "status": 500, "count": 0})
        other = self._invoice(99.0)
        self.run_pull()
        self.assertTrue(other.xero_id, "the push goes on while reading Xero fails")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.connection.invalidate_recordset()
        self.assertIn("Reading changes from Xero failed", self.connection.last_error or "")
        self.assertEqual(self.connection.inbound_modified_since, mark, "the mark does not move past a failed read")
        self.emu("DELETE", "faults")
        self.run_pull()
        self.assertEqual(invoice.payment_state, "partial")

    def test_own_payment_is_not_taken_for_one_made_in_xero(self):
        invoice = self.sent_invoice(350.0)
        payment = self._pay(invoice)
        self.run_worker()
        self.assertEqual(payment.xero_payment_link_ids.state, "synced")
        self.run_pull()
        self.assertFalse(self.changes(invoice), "Odoo's own payment read back from Xero is no change")
        self.assertEqual(len(invoice._get_reconciled_payments()), 1)


@tagged("post_install", "-at_install")
class TestInboundPaymentsTogether(InboundCase):

    def test_several_xero_payments_of_one_run_are_registered_together(self):
        """One run's Xero payments are created, posted and reconciled together (one batch),
        each as the wizard registers it alone: its amount, journal, date, memo, reconciled with
        its document, its link that Xero payment (no echo: no job, nothing sent)."""
        card_journal = self.env["account.journal"].create({"name": "Card clearing", "type": "bank", "code": "CRD"})
        self.env["coworks.xero.journal.mapping"].create({
            "connection_id": self.connection.id, "journal_id": card_journal.id, "bank_account_id": self.acc_091.id})
        invoices = [self._invoice(price) for price in (350.0, 120.0, 80.0)]
        self.run_worker()
        self.assertTrue(all(inv.xero_id for inv in invoices))
        earlier = fields.Date.today() - datetime.timedelta(days=3)
        paid = [(invoices[0], 100.0, "090", "Transfer A", None),
                (invoices[1], invoices[1].amount_total, "091", "Card B", earlier),
                (invoices[2], 30.0, "090", "Transfer C", None)]
        xero_ids = [self.pay_in_xero(inv, amount, code=code, reference=ref, date=date)
                    for inv, amount, code, ref, date in paid]
        self.emu("DELETE", "requests")
        Change = self.env.registry["coworks.sync.inbound.change"]
        batches = []
        register = Change._register_payments

        def spy(changes, items):
            batches.append([change.remote_id for change, _move, _journal in items])
            return register(changes, items)
        with patch.object(Change, "_register_payments", spy):
            self.run_pull()

        self.assertEqual(len(batches), 1, "the run's payments are registered in one batch")
        self.assertEqual(sorted(batches[0]), sorted(x.lower() for x in xero_ids))
        for (inv, amount, code, ref, date), xero_id in zip(paid, xero_ids):
            change = self.changes(inv)
            self.assertRecordValues(change, [{"kind": "payment", "state": "applied", "remote_id": xero_id.lower()}])
            payment = change.payment_id
            self.assertRecordValues(payment, [{
                "journal_id": (card_journal if code == "091" else self.bank_journal).id, "amount": amount,
                "date": date or fields.Date.today(),
                "partner_id": inv.commercial_partner_id.id, "currency_id": inv.currency_id.id,
                "payment_type": "inbound"}])
            self.assertIn(ref, payment.memo or "")
            self.assertEqual(payment.move_id.state, "posted")
            self.assertEqual(payment.reconciled_invoice_ids, inv, "reconciled with its own document")
            self.assertEqual(inv.matched_payment_ids, payment, "listed on its document, as the wizard lists it")
            self.assertEqual(inv.reconciled_payment_ids, payment)
            self.assertAlmostEqual(inv.amount_residual, inv.amount_total - amount)
            self.assertEqual(inv.payment_state, "paid" if amount == inv.amount_total else "partial")
            link = payment.xero_payment_link_ids
            self.assertRecordValues(link, [{"xero_id": xero_id.lower(), "state": "synced", "move_id": inv.id,
                                            "amount": amount}])
            self.assertFalse(self.env["coworks.sync.job"].sudo().search_count(
                [("res_model", "=", link._name), ("res_id", "in", link.ids)]), "no job: it is in Xero already")
            job = self.change_jobs(change)
            self.assertRecordValues(job, [{"state": "done"}])
            self.assertIn(payment.name, job.log_note)
            self.assertTrue(any(payment.name in (m.body or "") for m in inv.message_ids))
        self.assertFalse(self.payment_writes(), "payments that came from Xero are not sent back")
        self.run_worker()
        self.assertFalse(self.payment_writes())
        self.assertEqual(len([p for p in self.xero_state()["Payments"] if p["Status"] == "AUTHORISED"]), 3)

    def test_a_change_that_cannot_be_registered_does_not_stop_the_others(self):
        """In one run: an unmapped bank account and a payment beyond what Odoo has left are
        reported on their own jobs; the others of the batch are registered."""
        invoices = [self._invoice(price) for price in (200.0, 150.0, 90.0, 60.0)]
        self.run_worker()
        self._pay(invoices[3])  # paid in Odoo, not yet sent: the Xero payment would be a second one
        self.pay_in_xero(invoices[0], 50.0)
        self.pay_in_xero(invoices[1], 20.0, code="091")  # no journal mapped
        self.pay_in_xero(invoices[2], 40.0)
        self.pay_in_xero(invoices[3], invoices[3].amount_total, reference="Paid twice?")
        self.run_pull()
        states = [self.change_jobs(self.changes(inv)).state for inv in invoices]
        self.assertEqual(states, ["done", "error", "done", "error"])
        self.assertEqual(self.change_jobs(self.changes(invoices[1])).error_kind, "mapping")
        self.assertEqual(self.change_jobs(self.changes(invoices[3])).error_kind, "conflict")
        self.assertEqual([inv.payment_state for inv in invoices[:3]], ["partial", "not_paid", "partial"])
        self.assertEqual(len(invoices[3]._get_reconciled_payments()), 1, "no second payment in Odoo")


@tagged("post_install", "-at_install")
class TestInboundReadBudget(InboundCase):

    def _webhook_for(self, move):
        """What Odoo's webhook route stores when Xero says the invoice changed."""
        from ..services.xero import inbound as xin
        body = invoice_webhook_body(move.xero_id, self.connection.tenant_id)
        self.assertEqual(self.env["coworks.sync.inbound.event"].sudo()._store(xin.parse_webhook(body)), 1)

    def _reads(self, route):
        return [r for r in self.emu("GET", "requests")["requests"] if r["route"] == route]

    def test_payments_entered_one_after_another_are_read_alongside_their_invoice(self):
        """Someone enters payments in Xero one after another: the first run reads the invoice,
        then the payment it lists; from the next run on, the payments Xero changed since are read
        at the same time as the invoice (no wait for its answer), and each is registered once.
        A run that needed no payment read stops that: an edit's webhook spends one call."""
        from ..models import xero_inbound
        first, second = self.sent_invoice(350.0), self.sent_invoice(200.0)
        self.run_pull()  # the pull is not due in the runs below
        xero_inbound._payments_ahead.pop((self.env.cr.dbname, self.connection.id), None)
        self.emu("POST", "faults", {"route": "GET /Invoices", "kind": "latency", "seconds": 1.0, "count": 0})

        for move, amount in ((first, 100.0), (second, 50.0)):
            self.pay_in_xero(move, amount)
            self._webhook_for(move)
            self.emu("DELETE", "requests")
            self.run_worker()
            self.assertEqual(move.amount_residual, move.amount_total - amount)
            [invoices], [payments] = self._reads("GET /Invoices"), self._reads("GET /Payments")
            if move == first:
                self.assertGreaterEqual(payments["arrived"], invoices["ts"], "after the invoice's answer")
            else:
                self.assertLess(payments["arrived"], invoices["ts"], "alongside the invoice's read")
        self.assertEqual(len(self.changes(first) | self.changes(second)), 2)

        # An edit made in Xero (no payment): the read ahead still goes once, then no more.
        for _run in range(2):
            self._webhook_for(first)
            self.emu("DELETE", "requests")
            self.run_worker()
        self.assertEqual((len(self._reads("GET /Invoices")), len(self._reads("GET /Payments"))), (1, 0))
        self.emu("DELETE", "faults")

    def test_past_half_the_minute_a_run_s_reads_still_go_together(self):
        """Past half of Xero's minute the client's limiter spreads calls about 2 s apart; a
        webhook run, spaced by the sync itself, reads the invoice and the payments alongside it
        at the same time still (paced, the second waited behind the first)."""
        from ..models import xero_inbound
        from ..services.xero.ratelimit import RateLimiter
        limiter = RateLimiter.shared(name=self.connection._xero_client_config().accounting_url)
        first, second = self.sent_invoice(350.0), self.sent_invoice(200.0)
        self.run_pull()
        xero_inbound._payments_ahead.pop((self.env.cr.dbname, self.connection.id), None)
        self.pay_in_xero(first, 100.0)
        self._webhook_for(first)
        self.run_worker()  # it needed the payment's read: the next run reads payments ahead
        client = self.connection._xero_client()
        while limiter.wait_estimate(self.connection.tenant_id) < 1:  # until the limiter paces
            client.get_contacts([str(uuid.uuid4())])
        self.assertLess(self.connection._coworks_minute_calls_used(), xero_inbound.BUSY_MINUTE_CALLS,
                        "not short yet: the run does not wait for its spacing")
        self.pay_in_xero(second, 50.0)
        self._webhook_for(second)
        self.emu("DELETE", "requests")
        self.run_worker()
        self.assertEqual(second.amount_residual, second.amount_total - 50.0)
        [invoices], [payments] = self._reads("GET /Invoices"), self._reads("GET /Payments")
        self.assertLess(abs(invoices["arrived"] - payments["arrived"]), 0.5, "the two reads went together")
        self.assertGreaterEqual(self.connection._coworks_minute_calls_used(), limiter.pace_after,
                                "past half the minute still: other calls are paced")

    def test_changes_from_xero_are_applied_while_the_minute_budget_is_spent(self):
        """Applying what came from Xero calls nothing: an organisation's spent minute (the
        outbound sync's sends, a 429) does not hold back a payment entered in Xero."""
        from ..services.xero.ratelimit import RateLimiter
        limiter = RateLimiter.shared(name=self.connection._xero_client_config().accounting_url)
        move = self.sent_invoice(350.0)
        self.run_pull()  # the pull is not due in the run below
        self.pay_in_xero(move, 100.0)
        self._webhook_for(move)
        Connection = type(self.connection)
        store = Connection._coworks_xero_store_reads
        waits = []

        def store_then_spent(conn, *args, **kwargs):
            queued = store(conn, *args, **kwargs)
            limiter.block(conn.tenant_id, 120)  # then Xero says: no call for two minutes
            waits.append(conn._coworks_call_wait())
            return queued

        with patch.object(Connection, "_coworks_xero_store_reads", store_then_spent):
            self.run_worker()  # reads and queues the payment, then applies it
        self.assertTrue(waits and waits[0] > 60, waits)
        [change] = self.changes(move)
        self.assertEqual(move.amount_residual, move.amount_total - 100.0, "applied in the same run")
        self.assertEqual(self.change_jobs(change).state, "done")
        limiter.reset()

    def test_webhook_reads_are_spaced_only_while_the_minute_budget_runs_short(self):
        from ..models import xero_inbound
        from ..services.xero.ratelimit import RateLimiter
        limiter = RateLimiter.shared(name=self.connection._xero_client_config().accounting_url)
        limiter.reset()
        conn = self.connection
        xero_inbound._last_webhook_read.pop((self.env.cr.dbname, conn.id), None)
        self.assertFalse(conn._coworks_xero_wait_for_budget(), "the first read goes at once")
        start = time.monotonic()
        self.assertFalse(conn._coworks_xero_wait_for_budget(), "budget untouched: no wait")
        self.assertLess(time.monotonic() - start, 0.5)
        client = conn._xero_client()
        for _i in range(xero_inbound.BUSY_MINUTE_CALLS):
            client.get_contacts([str(uuid.uuid4())])
        self.assertGreaterEqual(conn._coworks_minute_calls_used(), xero_inbound.BUSY_MINUTE_CALLS)
        conn._coworks_xero_wait_for_budget()  # a read now (it waits, or not, by how long the calls took)
        start = time.monotonic()
        self.assertTrue(conn._coworks_xero_wait_for_budget(), "budget short: the next read waits")
        self.assertGreaterEqual(time.monotonic() - start, xero_inbound.BUSY_READ_SPACING - 0.3)
        limiter.reset()


@tagged("post_install", "-at_install")
class TestInboundAllocationsDeleted(InboundCase):
    """A credit note Odoo applied (its allocation pushed by this integration) and an accountant
    removed in Xero: un-matched in Odoo too, once, nothing sent back."""

    @staticmethod
    def receivable(move):
        return move.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")

    def applied_in_odoo(self, price=350.0, credit_price=100.0):
        invoice = self._invoice(price)
        credit = self._invoice(credit_price, move_type="out_refund")
        invoice.js_assign_outstanding_line(self.receivable(credit).id)
        self.run_worker()
        link = self.env["coworks.xero.payment.link"].search([("credit_note_id", "=", credit.id)])
        self.assertRecordValues(link, [{"kind": "allocation", "state": "synced", "move_id": invoice.id}])
        self.assertTrue(link.xero_id)
        return invoice, credit, link

    def delete_in_xero(self, credit, link):
        result = self.connection._xero_client().delete_credit_note_allocation(credit.xero_id, link.xero_id, ref="by hand")
        self.assertTrue(result.ok, result.message)

    def allocation_writes(self):
        return [r for r in self.emu("GET", "requests")["requests"]
                if "/Allocations" in r["path"] and r["method"] in ("PUT", "POST", "DELETE")]

    def test_allocation_deleted_in_xero_is_unmatched_in_odoo_without_echo(self):
        invoice, credit, link = self.applied_in_odoo()
        self.assertEqual(credit.payment_state, "paid")
        self.delete_in_xero(credit, link)
        self.emu("DELETE", "requests")

        self.run_pull()

        self.assertEqual(credit.payment_state, "not_paid", "the credit note is whole again in Odoo, as in Xero")
        self.assertAlmostEqual(invoice.amount_residual, invoice.amount_total)
        self.assertFalse(self.receivable(invoice).matched_credit_ids)
        self.assertEqual(link.state, "deleted")
        change = self.env["coworks.sync.inbound.change"].search([("kind", "=", "allocation_deleted")])
        self.assertRecordValues(change, [{"state": "applied", "remote_id": link.xero_id.lower(),
                                          "move_id": invoice.id, "credit_note_id": credit.id}])
        job = self.change_jobs(change)
        self.assertRecordValues(job, [{"state": "done"}])
        self.assertIn("un-matched in Odoo too", job.log_note)
        for move in (invoice, credit):
            self.assertTrue([m for m in move.message_ids if "was removed from" in (m.body or "")],
                            "both documents say what happened")
        cancel = self.env["coworks.sync.job"].search([("res_model", "=", link._name), ("res_id", "=", link.id),
                                                       ("operation", "=", "cancel")])
        self.assertRecordValues(cancel, [{"state": "done"}])
        self.assertIn("not sent back", cancel.log_note)
        self.run_worker()
        self.assertFalse(self.allocation_writes(), "the removal that came from Xero is not sent back")
        self.assertAlmostEqual(invoice.xero_amount_due, invoice.amount_total)
        # Read again (the next pull overlaps): applied once.
        self.run_pull()
        self.assertEqual(len(self.env["coworks.sync.inbound.change"].search([("kind", "=", "allocation_deleted")])), 1)
        # Applied again in Odoo: a new allocation goes to Xero.
        invoice.js_assign_outstanding_line(self.receivable(credit).id)
        self.run_worker()
        live = [a for a in self.xero_state()["Allocations"] if not a["IsDeleted"]]
        self.assertEqual(len(live), 1)
        self.assertEqual(self.xero_invoice(invoice.name)["AmountCredited"], credit.amount_total)

    def test_one_of_two_allocations_deleted_keeps_the_other(self):
        invoice_a, credit_a, link_a = self.applied_in_odoo(350.0, 100.0)
        invoice_b, credit_b, link_b = self.applied_in_odoo(200.0, 50.0)
        self.delete_in_xero(credit_b, link_b)
        self.run_pull()
        self.assertEqual((link_a.state, link_b.state), ("synced", "deleted"))
        self.assertEqual(credit_a.payment_state, "paid")
        self.assertEqual(credit_b.payment_state, "not_paid")

    def test_allocation_deleted_in_xero_in_a_period_odoo_has_locked_asks_a_person(self):
        invoice, credit, link = self.applied_in_odoo()
        self.delete_in_xero(credit, link)
        self.company.sudo().sale_lock_date = fields.Date.today()
        self.run_pull()
        change = self.env["coworks.sync.inbound.change"].search([("kind", "=", "allocation_deleted")])
        job = self.change_jobs(change)
        self.assertRecordValues(job, [{"state": "error", "error_kind": "conflict"}])
        self.assertIn("locked", job.error_message)
        self.assertIn("re-apply it in Xero", job.error_message)
        self.assertEqual(credit.payment_state, "paid", "Odoo keeps them matched")
        self.assertEqual(link.state, "synced")
        # The accountant reopens the period and retries: applied, nothing sent.
        self.company.sudo().sale_lock_date = False
        self.emu("DELETE", "requests")
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertEqual(credit.payment_state, "not_paid")
        self.assertFalse(self.allocation_writes())


@tagged("post_install", "-at_install")
class TestInboundVoids(InboundCase):

    def test_void_in_xero_flag_only_by_default(self):
        self.assertEqual(self.connection.inbound_void_rule, "flag")
        invoice = self.sent_invoice()
        self.void_in_xero(invoice)
        self.run_pull()
        self.assertEqual(invoice.state, "posted", "flag only: Odoo's document is not changed")
        self.assertEqual(invoice.xero_status, "VOIDED")
        change = self.changes(invoice)
        self.assertRecordValues(change, [{"kind": "void", "state": "flagged"}])
        job = self.change_jobs(change)
        self.assertRecordValues(job, [{"state": "done"}])
        self.assertIn("flag only", job.log_note)
        self.assertTrue(any("Voided in Xero" in (m.body or "") for m in invoice.message_ids))
        # Read again: applied once.
        self.run_pull()
        self.assertEqual(len(self.changes(invoice)), 1)

    def test_void_in_xero_cancels_in_odoo_when_nothing_is_paid(self):
        self.connection.inbound_void_rule = "cancel_unpaid"
        invoice = self.sent_invoice()
        self.void_in_xero(invoice)
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(invoice.state, "cancel")
        self.assertEqual(invoice.xero_status, "VOIDED")
        self.assertRecordValues(self.changes(invoice), [{"state": "applied"}])
        # No echo: the void Odoo queued when it cancelled is not sent to Xero.
        self.run_worker()
        writes = [r for r in self.emu("GET", "requests")["requests"]
                  if r["method"] in ("PUT", "POST") and r["route"] != "POST /connect/token"]
        self.assertFalse(writes, writes)
        cancel_job = self.env["coworks.sync.job"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", invoice.id), ("operation", "=", "cancel")])
        self.assertRecordValues(cancel_job, [{"state": "done"}])

    def test_void_in_xero_of_a_paid_document_is_not_cancelled(self):
        self.connection.inbound_void_rule = "cancel_unpaid"
        invoice = self.sent_invoice()
        self._pay(invoice, amount=100.0)  # paid in Odoo only (Xero could not void a paid invoice)
        self.void_in_xero(invoice)
        self.run_pull()
        self.assertEqual(invoice.state, "posted")
        job = self.change_jobs(self.changes(invoice))
        self.assertRecordValues(job, [{"state": "error", "error_kind": "conflict"}])
        self.assertIn("payments or credit notes", job.error_message)


@tagged("post_install", "-at_install")
class TestInboundDeletions(InboundCase):

    def delete_in_xero(self, payment_id):
        result = self.connection._xero_client().delete_payment(payment_id, uuid.uuid4().hex, ref="by hand")
        self.assertTrue(result.ok, result.message)

    def test_odoo_payment_deleted_in_xero_asks_then_retry_sends_it_again(self):
        invoice = self.sent_invoice(350.0)
        payment = self._pay(invoice)
        self.run_worker()
        link = payment.xero_payment_link_ids
        old_id = link.xero_id
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")
        self.delete_in_xero(old_id)
        self.run_pull()
        change = self.changes(invoice).filtered(lambda c: c.kind == "payment_deleted")
        job = self.change_jobs(change)
        self.assertEqual((job.state, job.error_kind), ("error", "conflict"))
        self.assertIn(f"cancel {payment.name} in Odoo", job.error_message)
        self.assertEqual(invoice.payment_state, invoice._get_invoice_in_payment_state(), "Odoo is left as it was")
        # The person keeps the Odoo payment: Retry sends it to Xero again.
        job.action_retry()
        self.run_worker()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertNotEqual(link.xero_id, old_id)
        self.assertTrue(link.xero_id)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

    def test_odoo_payment_deleted_in_xero_then_cancelled_in_odoo_sends_nothing(self):
        invoice = self.sent_invoice(200.0)
        payment = self._pay(invoice)
        self.run_worker()
        self.delete_in_xero(payment.xero_payment_link_ids.xero_id)
        self.run_pull()
        job = self.change_jobs(self.changes(invoice).filtered(lambda c: c.kind == "payment_deleted"))
        self.assertEqual(job.state, "error")
        payment.action_draft()
        payment.action_cancel()
        self.run_worker()  # Odoo's own removal: the Xero payment is gone already
        self.emu("DELETE", "requests")
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertFalse(self.payment_writes())
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_payment_from_xero_deleted_there_is_cancelled_in_odoo_without_echo(self):
        invoice = self.sent_invoice(120.0)
        payment_id = self.pay_in_xero(invoice, invoice.amount_total)
        self.run_pull()
        self.assertEqual(invoice.payment_state, "paid")
        payment = self.changes(invoice).filtered(lambda c: c.kind == "payment").payment_id
        self.delete_in_xero(payment_id)
        self.emu("DELETE", "requests")
        self.run_pull()
        self.assertEqual(payment.state, "canceled")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.run_worker()
        self.assertFalse(self.payment_writes(), "a deletion that came from Xero must not be sent back")
        self.assertTrue([m for m in invoice.message_ids if "deleted there" in (m.body or "")], invoice.message_ids.mapped("body"))

"""The failure-mode catalogue (peers-and-failure-modes.md §4), mode by mode, against the emulator.

For each mode that can fail: one readable sentence on the document saying what to fix and where,
the stable error code on the job (and on its attempt), another document of the same run synced
all the same, and the document's Retry after the fix. Modes the product handles without failing
get a test proving the handling. The README's "When something goes wrong" page is the table of
all 35; the modes covered by other tests name them there.

What someone does in Xero by hand goes through Xero's API where Xero's API can do it (payments,
voids, contacts, invoices), and into the emulator's organisation directly where only Xero's web
app can (lock dates, archiving an account, tax rate or tracking option, merging contacts,
enabling a currency).
"""
import datetime
import uuid

from odoo import Command, fields
from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestFailureModes(CoworksXeroEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fee = cls._kind_product("transaction_fee", "Card fee", 2.5, cls.tax_sale_a)
        cls.exempt = cls.env["account.tax"].create({
            "name": "Exempt 0%", "amount": 0.0, "type_tax_use": "sale", "company_id": cls.company.id})
        cls.env["coworks.xero.tax.mapping"].create({
            "connection_id": cls.connection.id, "tax_id": cls.exempt.id,
            "tax_rate_id": cls.xref("coworks.xero.tax.rate", tax_type="EXEMPTOUTPUT").id})

    # ------------------------------------------------------------------ helpers

    def in_xero(self, change):
        """``change(org)``: what a person does in Xero's web app, on the emulator's organisation."""
        app = self.emulator.app
        with app.org_locks[self.tenant_id]:
            change(app.orgs[self.tenant_id])

    def client(self):
        return self.connection._xero_client()

    def line_invoice(self, product, price, tax=None, partner=None, move_type="out_invoice", **vals):
        move = self.env["account.move"].create({
            "move_type": move_type, "partner_id": (partner or self.partner_a).id,
            "invoice_date": vals.pop("invoice_date", fields.Date.today()),
            "invoice_line_ids": [Command.create({
                "product_id": product.id, "quantity": 1, "price_unit": price,
                "tax_ids": [Command.set((tax if tax is not None else self.tax_sale_a).ids)]})], **vals})
        move.action_post()
        return move

    def other_invoice(self):
        """Another customer's ordinary invoice, sent in the same run as the failing document."""
        return self._invoice(120.0, partner=self.partner_b)

    def failed_job(self, record):
        Job = self.env["coworks.sync.job"]
        if record._name == "account.payment":
            domain = record._xero_jobs_domain()
        else:
            kinds = {"account.move": ["invoice", "credit_note"], "res.partner": ["contact"]}[record._name]
            domain = Job._document_jobs_domain(record, kinds)
        return Job.search(domain).filtered(lambda j: j.state == "error")

    def assertNeedsAttention(self, record, code, *where):
        """``record`` shows one sentence saying what to fix and ``where``; its job has ``code``."""
        record.invalidate_recordset()
        job = self.failed_job(record)
        self.assertEqual(len(job), 1, f"one failing job expected on {record.display_name}")
        self.assertEqual(job.error_code, code, job.error_message)
        self.assertEqual(job.attempt_ids[:1].error_code, code, "the attempt keeps the code too")
        self.assertEqual(record.xero_sync_state, "error")
        sentence = record.xero_sync_error
        self.assertTrue(sentence, "the document says what went wrong")
        self.assertEqual(len(sentence.strip().splitlines()), 1, sentence)
        self.assertTrue(sentence.rstrip().endswith("."), sentence)
        for words in where:
            self.assertIn(words, sentence)
        return job

    def assertSynced(self, move):
        move.invalidate_recordset()
        self.assertTrue(move.xero_id, move.xero_sync_error)
        self.assertEqual(move.xero_sync_state, "done", move.xero_sync_error)

    def retry(self, record):
        record.action_xero_retry()
        self.run_worker()

    def hand_payment(self, move, amount, **target):
        [result] = self.client().create_payments([{
            **(target or {"Invoice": {"InvoiceID": move.xero_id}}), "Account": {"Code": "090"},
            "Date": fields.Date.today().isoformat(), "Amount": amount}], uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def delete_in_xero(self, payment_id):
        result = self.client().delete_payment(payment_id, uuid.uuid4().hex, ref="by hand")
        self.assertTrue(result.ok, result.message)

    def contact(self, partner):
        contact_id = partner.with_company(self.company).xero_contact_id
        return next(c for c in self.xero_state()["Contacts"] if c["ContactID"] == contact_id)

    # ------------------------------------------------------------------ "Not sent" is not "Synced"

    def test_not_sent_is_its_own_state_with_its_reason_and_never_counts_as_synced(self):
        invoice = self._invoice()
        invoice.button_draft()
        self.run_worker()
        [job] = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual(job.state, "skipped")
        self.assertEqual(dict(job._fields["state"]._description_selection(self.env))[job.state], "Not sent")
        self.assertIn("Draft", job.log_note)
        self.assertEqual((job.attempt_ids[:1].outcome, job.error_code), ("skipped", False))
        invoice.invalidate_recordset()
        self.assertEqual((invoice.xero_sync_state, invoice.xero_sync_note), ("skipped", job.log_note))
        self.assertFalse(self.env["coworks.sync.job"].search_count([("state", "=", "done"), ("kind", "=", "invoice")]))
        # Posted again while sync is off: nothing is queued, and the settings count it as missing.
        self.company.coworks_xero_sync_enabled = False
        invoice.action_post()
        self.assertEqual(len(self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")), 1)
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.missing_document_count, 1)
        # Back on: the catch-up sends it (a "Not sent" entry is no manager's decision to skip it).
        self.company.coworks_xero_sync_enabled = True
        self.run_worker()
        self.assertSynced(invoice)
        self.assertEqual(job.state, "skipped", "the earlier entry keeps saying what happened then")

    # ------------------------------------------------------------------ customers (#1, #3, #26)

    def test_01_a_name_taken_in_xero_meanwhile_is_renamed_and_never_blocks_the_invoice(self):
        first = self._invoice()
        self.run_worker()
        self.assertSynced(first)
        # Someone creates a contact in Xero under the name the customer is about to take.
        [made] = self.client().save_contacts([{"Name": "Harbourside Studio"}], uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(made.ok, made.message)
        self.partner_a.name = "Harbourside Studio"
        invoice = self._invoice(200.0)
        self.run_worker()
        contact_job = self.jobs_of(self.partner_a).filtered(lambda j: j.state == "done")[:1]
        self.assertIn("name already taken in Xero", contact_job.log_note)
        names = [c["Name"] for c in self.xero_state()["Contacts"] if c["Name"].startswith("Harbourside Studio")]
        self.assertEqual(len(names), 2, "a distinct name, not a second contact under the same name")
        self.assertEqual(self.contact(self.partner_a)["Name"], [n for n in names if n != "Harbourside Studio"][0])
        self.assertSynced(invoice)

    def test_03a_a_contact_archived_in_xero_blocks_only_its_invoices_until_restored(self):
        self.run_worker()
        first = self._invoice()
        self.run_worker()
        contact_id = self.partner_a.with_company(self.company).xero_contact_id
        [archived] = self.client().save_contacts([{"ContactID": contact_id, "ContactStatus": "ARCHIVED"}],
                                                 uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(archived.ok, archived.message)
        invoice, other = self._invoice(90.0), self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "contact_archived", "archived", "save the customer in Odoo")
        self.assertSynced(other)
        # The fix the sentence names: saving the customer sends it again as active.
        self.partner_a.phone = "+61 2 5550 1234"
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(self.contact(self.partner_a)["ContactStatus"], "ACTIVE")
        self.assertTrue(first.xero_id)

    def test_03b_a_contact_merged_in_xero_is_followed_to_the_surviving_contact(self):
        self._invoice()
        self.run_worker()
        [survivor] = self.client().save_contacts([{"Name": "Azure Interior Group"}], uuid.uuid4().hex,
                                                 refs=["by hand"])
        self.assertTrue(survivor.ok, survivor.message)
        old_id = self.partner_a.with_company(self.company).xero_contact_id
        self.in_xero(lambda org: org.contacts[old_id.lower()].update(MergedToContactID=survivor.remote_id))
        invoice, other = self._invoice(75.0), self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "contact_merged", "merged", "save the customer in Odoo")
        self.assertSynced(other)
        self.partner_a.phone = "+61 2 5550 9876"
        self.retry(invoice)
        self.assertSynced(invoice)
        self.partner_a.invalidate_recordset()
        self.assertEqual(self.partner_a.with_company(self.company).xero_contact_id, survivor.remote_id)
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], survivor.remote_id)

    def test_26_invalid_optional_contact_fields_are_dropped_not_fatal(self):
        customer = self.env["res.partner"].create({
            "name": "Jürgen Müller", "email": "jürgen@müller.example", "phone": "+49 " + "1" * 60})
        invoice = self._invoice(50.0, partner=customer)
        self.run_worker()
        self.assertSynced(invoice)
        contact = self.contact(customer)
        self.assertFalse(contact.get("EmailAddress"), "Xero refuses non-ASCII email addresses")
        note = self.jobs_of(customer).filtered(lambda j: j.kind == "contact").log_note or ""
        self.assertIn("not sent", note)

    def test_32_the_customers_tax_id_goes_to_the_contact(self):
        customer = self.env["res.partner"].create({"name": "Acme Inc", "is_company": True, "vat": "12-3456789"})
        invoice = self._invoice(60.0, partner=customer)
        self.run_worker()
        self.assertSynced(invoice)
        self.assertEqual(self.contact(customer).get("TaxNumber"), "12-3456789")

    # ------------------------------------------------------------------ numbers (#4)

    def test_04_an_invoice_number_another_customer_holds_in_xero(self):
        self.run_worker()
        invoice = self._invoice()
        [hand] = self.client().create_invoices([{
            "Type": "ACCREC", "Contact": {"Name": "Walk-in customer"}, "InvoiceNumber": invoice.name,
            "Date": fields.Date.today().isoformat(), "DueDate": fields.Date.today().isoformat(),
            "Status": "AUTHORISED", "LineItems": [{"Description": "Typed in Xero", "Quantity": 1,
                                                  "UnitAmount": 10, "AccountCode": "200"}]}],
            uuid.uuid4().hex, refs=["by hand"])
        self.assertTrue(hand.ok, hand.message)
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "invoice_number_taken", "must be unique", "in Xero", "Retry")
        self.assertSynced(other)
        # The fix: renumber the hand-typed invoice in Xero.
        fixed = self.client().update_invoice(hand.remote_id, {"InvoiceNumber": "HAND-1", "Status": "AUTHORISED"},
                                             uuid.uuid4().hex, ref="by hand")
        self.assertTrue(fixed.ok, fixed.message)
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"],
                         self.partner_a.with_company(self.company).xero_contact_id)

    # ------------------------------------------------------------------ money (#6, #7, #18, #20, #21, #33)

    def test_06_a_payment_already_entered_in_xero_by_hand(self):
        invoice = self._invoice()
        self.run_worker()
        hand = self.hand_payment(invoice, invoice.amount_total)
        payment = self._pay(invoice)
        other = self.other_invoice()
        self.run_worker()
        job = self.assertNeedsAttention(payment, "already_paid", "already fully paid in Xero",
                                        "remove the payment entered there by hand")
        self.assertIn(job.error_message, invoice.xero_sync_error, "the invoice shows its payment's problem too")
        self.assertSynced(other)
        self.delete_in_xero(hand)
        self.retry(payment)
        payment.invalidate_recordset()
        self.assertEqual(payment.xero_sync_state, "done", payment.xero_sync_error)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

    def test_07_a_zero_invoice_is_sent_and_no_payment_is(self):
        zero = self._invoice(0.0)
        self.run_worker()
        self.assertSynced(zero)
        self.assertEqual(zero.payment_state, "paid")
        self.assertFalse(self.env["coworks.xero.payment.link"].search([("move_id", "=", zero.id)]))
        self.assertFalse([p for p in self.xero_state()["Payments"]
                          if (p.get("Invoice") or {}).get("InvoiceID") == zero.xero_id])

    def test_18_a_bank_account_archived_in_xero_after_it_was_mapped(self):
        invoice = self._invoice()
        self.run_worker()
        self.in_xero(lambda org: org.account_by_code("090").update(Status="ARCHIVED"))
        payment = self._pay(invoice)
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(payment, "payment_account_invalid", "'090'", "Payment journals")
        self.assertSynced(other)
        self.env["coworks.xero.journal.mapping"].search([("connection_id", "=", self.connection.id)]).write(
            {"bank_account_id": self.acc_091.id})
        self.retry(payment)
        payment.invalidate_recordset()
        self.assertEqual(payment.xero_sync_state, "done", payment.xero_sync_error)
        [xp] = [p for p in self.xero_state()["Payments"] if p["Invoice"]["InvoiceID"] == invoice.xero_id]
        self.assertEqual(xp["Account"]["Code"], "091")

    def test_20_a_credit_note_refunded_in_xero_cannot_be_applied_again(self):
        invoice = self._invoice(200.0)
        credit = self.line_invoice(self.plan_product, 100.0, move_type="out_refund")
        self.run_worker()
        self.assertSynced(credit)
        hand = self.hand_payment(credit, credit.amount_total, CreditNote={"CreditNoteID": credit.xero_id})
        receivable = (invoice | credit).line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")
        receivable.reconcile()
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "credit_exhausted", "remaining credit", "refund entered there by hand")
        self.assertSynced(other)
        self.delete_in_xero(hand)
        self.retry(invoice)
        invoice.invalidate_recordset()
        self.assertEqual(invoice.xero_sync_state, "done", invoice.xero_sync_error)
        [alloc] = [a for a in self.xero_state()["Allocations"] if not a.get("IsDeleted")]
        self.assertEqual(alloc["Invoice"]["InvoiceID"], invoice.xero_id)

    def test_21_an_overpayment_settles_the_invoice_and_never_blocks_it(self):
        """What is due is a payment on the invoice; the excess is customer credit (a Xero
        overpayment, test_overpayments.py), whose own outcome never holds the invoice's payment."""
        invoice = self._invoice()
        payment = self._pay(invoice, amount=invoice.amount_total + 100, payment_difference_handling="open")
        self.run_worker()
        self.assertSynced(invoice)
        link = payment.xero_payment_link_ids.filtered(lambda l: l.move_id == invoice)
        self.assertEqual(self.env["coworks.sync.job"].search([
            ("res_model", "=", link._name), ("res_id", "=", link.id)]).state, "done")
        [xp] = [p for p in self.xero_state()["Payments"] if p["Invoice"]["InvoiceID"] == invoice.xero_id]
        self.assertEqual(float(xp["Amount"]), invoice.amount_total, "Xero's /Payments never takes more than is due")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "PAID")

    def test_33_a_late_payment_of_an_old_invoice_goes_to_the_stored_invoice(self):
        old = self._invoice(invoice_date=fields.Date.today() - datetime.timedelta(days=200))
        self.run_worker()
        self.assertSynced(old)
        payment = self._pay(old)
        self.run_worker()
        payment.invalidate_recordset()
        self.assertEqual(payment.xero_sync_state, "done", payment.xero_sync_error)
        [xp] = [p for p in self.xero_state()["Payments"] if p["Invoice"]["InvoiceID"] == old.xero_id]
        self.assertEqual(float(xp["Amount"]), old.amount_total)

    # ------------------------------------------------------------------ documents in Xero (#8, #9, #35)

    def test_08_an_edit_of_an_invoice_someone_paid_in_xero(self):
        invoice = self._invoice()
        self.run_worker()
        hand = self.hand_payment(invoice, 50.0)
        invoice.button_draft()
        invoice.invoice_line_ids.price_unit = 360.0
        invoice.action_post()
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "document_not_editable", "was not made by this integration")
        self.assertSynced(other)
        self.delete_in_xero(hand)
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(float(self.xero_invoice(invoice.name)["Total"]), invoice.amount_total)

    def test_09_an_invoice_voided_in_xero_then_changed_in_odoo(self):
        invoice = self._invoice()
        self.run_worker()
        voided = self.client().void_invoice(invoice.xero_id, uuid.uuid4().hex, ref="by hand")
        self.assertTrue(voided.ok, voided.message)
        invoice.button_draft()
        invoice.invoice_line_ids.price_unit = 360.0
        invoice.action_post()
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "document_voided_in_xero", "voided in Xero", "next pull from Xero",
                                  "cancel it in the host")
        self.assertSynced(other)
        # The fix: the next pull from Xero reads the void; Retry then re-creates it under a new number.
        self.run_worker_at(fields.Datetime.now() + datetime.timedelta(minutes=61))
        self.assertEqual(invoice.xero_status, "VOIDED")
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(invoice.xero_number, f"{invoice.name}-R1")

    def test_35_a_credit_note_cancelled_in_odoo_is_voided_in_xero(self):
        credit = self.line_invoice(self.plan_product, 100.0, move_type="out_refund")
        self.run_worker()
        self.assertSynced(credit)
        credit.button_cancel()
        self.run_worker()
        [xcn] = [c for c in self.xero_state()["CreditNotes"] if c["CreditNoteID"] == credit.xero_id]
        self.assertEqual(xcn["Status"], "VOIDED")
        self.assertEqual(xcn["RemainingCredit"] in (0, 0.0, "0", "0.00") or float(xcn["RemainingCredit"]) == 0, True)

    # ------------------------------------------------------------------ organisation settings (#10, #11, #12, #16, #17)

    def test_10_a_lock_date_set_in_xero(self):
        self.run_worker()
        lock = fields.Date.today() - datetime.timedelta(days=10)
        self.in_xero(lambda org: org.organisation.update(PeriodLockDate=lock.isoformat()))
        invoice = self._invoice(invoice_date=lock - datetime.timedelta(days=10))
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "lock_date", "lock date", "Financial settings")
        self.assertSynced(other)
        self.in_xero(lambda org: org.organisation.pop("PeriodLockDate"))
        self.retry(invoice)
        self.assertSynced(invoice)

    def test_11_an_account_archived_in_xero_after_it_was_mapped(self):
        self.run_worker()
        self.in_xero(lambda org: org.account_by_code("260").update(Status="ARCHIVED"))
        invoice = self.line_invoice(self.fee, 2.5)
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "account_invalid", "'260'", "Item mappings")
        self.assertSynced(other)
        self.env["coworks.xero.product.mapping"].search([
            ("connection_id", "=", self.connection.id), ("item_kind", "=", "transaction_fee")]).xero_account_id = \
            self.acc_200
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(self.xero_invoice(invoice.name)["LineItems"][0]["AccountCode"], "200")

    def test_12a_a_tax_rate_deleted_in_xero_after_it_was_mapped(self):
        self.run_worker()
        self.in_xero(lambda org: org.tax_rates["EXEMPTOUTPUT"].update(Status="DELETED"))
        invoice = self.line_invoice(self.day_pass, 35.0, tax=self.exempt)
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "tax_type_invalid", "EXEMPTOUTPUT", "Tax mappings")
        self.assertSynced(other)
        self.in_xero(lambda org: org.tax_rates["EXEMPTOUTPUT"].update(Status="ACTIVE"))
        self.retry(invoice)
        self.assertSynced(invoice)

    def test_12b_odoo_and_xero_rates_that_differ(self):
        mapping = self.env["coworks.xero.tax.mapping"].search([
            ("connection_id", "=", self.connection.id), ("tax_id", "=", self.tax_sale_a.id)])
        mapping.send_odoo_tax_amounts = False
        invoice = self._invoice()
        other = self.line_invoice(self.day_pass, 35.0, tax=self.exempt, partner=self.partner_b)
        self.run_worker()
        self.assertNeedsAttention(invoice, "tax_rate_mismatch", "15", "10")
        self.assertSynced(other)
        mapping.send_odoo_tax_amounts = True
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(float(self.xero_invoice(invoice.name)["TotalTax"]), invoice.amount_tax)

    def test_16_a_tracking_option_archived_in_xero(self):
        self.run_worker()
        self.partner_a.coworks_campus_id = self.campus_dtn

        def archive(org, status="ARCHIVED"):
            for category in org.tracking.values():
                for option in category["Options"]:
                    if option["Name"] == "Downtown":
                        option["Status"] = status
        self.in_xero(archive)
        invoice = self._invoice()
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "tracking_invalid", "Downtown", "Campus mappings")
        self.assertSynced(other)
        self.env["coworks.xero.campus.mapping"].search([("campus_id", "=", self.campus_dtn.id)]).tracking_option_id = \
            self.xref("coworks.xero.tracking.option", name="Harbour")
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(self.xero_invoice(invoice.name)["LineItems"][0]["Tracking"][0]["Option"], "Harbour")

    def test_17_a_currency_not_enabled_in_xero(self):
        gbp = self.setup_other_currency("GBP", rates=[("2020-01-01", 0.5)])
        invoice = self._invoice(currency_id=gbp.id)
        other = self.other_invoice()
        self.run_worker()
        self.assertNeedsAttention(invoice, "currency_not_enabled", "GBP", "Settings > Currencies")
        self.assertSynced(other)
        self.in_xero(lambda org: org.currencies.update(GBP={"Code": "GBP", "Description": "British Pound"}))
        self.connection.action_xero_refresh()
        self.retry(invoice)
        self.assertSynced(invoice)
        self.assertEqual(self.xero_invoice(invoice.name)["CurrencyCode"], "GBP")

    # ------------------------------------------------------------------ the connection (#22, #23, #24)

    def test_22_a_revoked_authorisation_pauses_everything_and_loses_nothing(self):
        self._invoice(80.0)
        self.run_worker()
        self.emu("POST", "faults", {"route": "*", "kind": "expire_tokens", "count": 1})
        self.emu("POST", "faults", {"route": "POST /connect/token", "kind": "refresh_token_dead", "count": 1})
        invoice = self._invoice()
        self.run_worker()
        [job] = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((job.state, job.error_code, job.attempt_count), ("pending", "token_revoked", 0))
        self.assertEqual(self.connection.state, "needs_reconnect")
        invoice.invalidate_recordset()
        self.assertEqual(invoice.xero_sync_paused, "reconnect", "the invoice says it waits for a reconnect")
        self.emu("DELETE", "faults")
        self._connect(self.connection, self.tenant_id)
        self.run_worker()
        self.assertSynced(invoice)

    def test_23_the_daily_limit_waits_for_the_window_without_spending_attempts(self):
        self._invoice(80.0)
        self.run_worker()
        self.addCleanup(self.emu, "POST", "limits", {"day": 5000})
        # the day's calls so far (the first invoice's) already spent the whole budget
        self.emu("POST", "limits", {"day": 1})
        invoice = self._invoice()
        self.run_worker()
        [job] = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((job.state, job.error_code, job.attempt_count), ("pending", "daily_limit", 0),
                         job.error_message)
        self.assertTrue(job.next_attempt_at)
        self.emu("POST", "limits", {"day": 5000})
        self.run_worker_at(job.next_attempt_at)
        self.assertSynced(invoice)

    def test_24_xero_unavailable_then_a_lost_answer_are_retried_without_a_duplicate(self):
        self._invoice(80.0)
        self.run_worker()
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "status", "status": 503, "count": 50})
        invoice = self._invoice()
        self.run_worker()
        [job] = self.jobs_of(invoice).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((job.state, job.error_code), ("pending", "server_error"), job.error_message)
        self.emu("DELETE", "faults")
        # Xero takes the write and the answer is lost: the client asks again with the same key.
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "drop_after_write", "count": 1})
        self.run_worker_at(job.next_attempt_at)
        self.assertSynced(invoice)
        self.assertEqual(len([i for i in self.xero_state()["Invoices"] if i["InvoiceNumber"] == invoice.name]), 1)

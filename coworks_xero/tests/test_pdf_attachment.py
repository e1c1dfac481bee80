"""The Odoo PDF attached to the Xero invoice or credit note (an option, off by default): its own job
after the document's, exactly once, a failure that holds nothing else, a Retry that works.

Real Odoo, real PostgreSQL, the Xero emulator on loopback. The PDF is the one Odoo keeps on the
document once it is sent (``invoice_pdf_report_id``, created here the way the Send wizard creates
it), so the tests run with or without wkhtmltopdf on the machine; without it, the document that
has no PDF yet says that Odoo cannot render one."""
import hashlib
import shutil

from odoo.tests import tagged

from xero_emulator import seed

from ..services.xero import errors
from .common import CoworksXeroEmulatorCase

ATTACH_SCOPES = ("openid profile email offline_access accounting.transactions accounting.contacts "
                 "accounting.settings accounting.attachments")
INVOICE_ROUTE = "PUT /Invoices/{InvoiceID}/Attachments/{FileName}"
CREDIT_NOTE_ROUTE = "PUT /CreditNotes/{CreditNoteID}/Attachments/{FileName}"


@tagged("post_install", "-at_install")
class TestPdfAttachment(CoworksXeroEmulatorCase):

    @classmethod
    def _grant_tokens(cls, conn, tenant_id, scopes=ATTACH_SCOPES):
        from ..models.sync_connection_xero import OdooTokenStore
        from ..services.xero.oauth import TokenSet
        grant = cls.emu("POST", "grant", {"client_id": seed.DEMO_CLIENT_ID, "tenant_ids": [tenant_id],
                                          "scopes": scopes})
        cls.env.flush_all()
        OdooTokenStore(cls.env, conn.id).save(TokenSet.from_response(grant))
        conn.invalidate_recordset()

    def setUp(self):
        super().setUp()
        self.company.coworks_xero_attach_pdf = True

    # ------------------------------------------------------------ helpers

    def _with_pdf(self, move, text="the invoice"):
        """Keep a PDF on the document as Odoo's Send & Print does (account.move.send
        ``_link_invoice_documents``): the attachment behind ``invoice_pdf_report_file``."""
        content = b"%PDF-1.4\n% " + f"{move.name}: {text}".encode() + b"\n" + bytes(range(256)) + b"\n%%EOF\n"
        self.env["ir.attachment"].sudo().create({
            "name": move._get_invoice_report_filename(), "raw": content, "mimetype": "application/pdf",
            "res_model": move._name, "res_id": move.id, "res_field": "invoice_pdf_report_file"})
        move.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])
        self.assertEqual(move.invoice_pdf_report_id.raw, content)
        return content

    def _attachments(self, move):
        return self.xero_state().get("Attachments", {}).get((move.xero_id or "").lower(), [])

    def _pdf_jobs(self, move):
        return self.jobs_of(move).filtered(lambda j: j.kind == "attachment")

    def _uploads(self, route=INVOICE_ROUTE):
        return self.xero_requests()["counts"].get(route, 0)

    # ------------------------------------------------------------ tests

    def test_option_off_uploads_nothing(self):
        self.company.coworks_xero_attach_pdf = False
        invoice = self._invoice()
        self._with_pdf(invoice)
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        self.assertFalse(self._pdf_jobs(invoice))
        self.assertEqual(self._attachments(invoice), [])
        self.assertEqual(self._uploads(), 0)

    def test_invoice_gets_exactly_one_attachment_with_the_pdf(self):
        invoice = self._invoice()
        content = self._with_pdf(invoice)
        self.run_worker()
        [job] = self._pdf_jobs(invoice)
        self.assertEqual(job.state, "done", job.error_message)
        [att] = self._attachments(invoice)
        self.assertEqual(att["FileName"], invoice._get_invoice_report_filename())
        self.assertEqual(att["sha256"], hashlib.sha256(content).hexdigest())
        self.assertEqual(att["ContentLength"], len(content))
        self.assertTrue(att["IncludeOnline"], "the customer sees it with the online invoice")
        self.assertEqual(att["MimeType"], "application/pdf")
        self.assertEqual(job.remote_id, att["AttachmentID"])
        self.assertIn(att["FileName"], job.request_body)
        self.assertNotIn("%PDF", job.request_body or "", "the log keeps what was sent, not the file")
        # The document's own link is untouched by its PDF's job.
        self.assertEqual(invoice.xero_number, invoice.name)
        self.assertEqual(invoice.xero_sync_state, "done")
        # The document's sync log lists its PDF's entry; its badge is the document's own.
        self.assertIn(job, self.env["coworks.sync.job"].search(invoice.action_open_xero_jobs()["domain"]))
        self.assertNotIn(job, self.env["coworks.sync.job"].search(
            self.env["coworks.sync.job"]._document_jobs_domain(invoice, ("invoice",))))
        # The bytes Xero serves are Odoo's.
        self.assertEqual(self._content(invoice, att["FileName"]), content)

        # A second run (and the catch-up it makes) uploads nothing again.
        self.run_worker()
        self.assertEqual(len(self._attachments(invoice)), 1)
        self.assertEqual(self._uploads(), 1)
        self.assertEqual(len(self._pdf_jobs(invoice)), 1)

    def test_many_documents_one_upload_each_in_small_batches(self):
        """A run with more documents than one attachment batch (10): each PDF one PUT, no list
        read (nothing may be there yet), the documents themselves in one batch call."""
        invoices = self.env["account.move"].union(*[self._invoice(price=100.0 + n) for n in range(12)])
        for invoice in invoices:
            self._with_pdf(invoice)
        self.emu("DELETE", "requests")
        self.run_worker()
        counts = self.xero_requests()["counts"]
        self.assertEqual(counts.get(INVOICE_ROUTE), 12)
        self.assertNotIn("GET /Invoices/{InvoiceID}/Attachments", counts)
        self.assertEqual(counts.get("PUT /Invoices"), 1)
        for invoice in invoices:
            self.assertEqual(len(self._attachments(invoice)), 1, invoice.name)
        self.assertEqual(set(self.env["coworks.sync.job"].search([("kind", "=", "attachment")]).mapped("state")),
                         {"done"})

    def _content(self, move, file_name):
        import urllib.request
        from ..models.sync_connection_xero import OdooTokenStore
        token = OdooTokenStore(self.env, self.connection.id).load().access_token
        collection = "CreditNotes" if move.move_type == "out_refund" else "Invoices"
        req = urllib.request.Request(
            f"{self.emulator.base_url}/api.xro/2.0/{collection}/{move.xero_id}/Attachments/{file_name}",
            headers={"Authorization": f"Bearer {token}", "xero-tenant-id": self.tenant_id,
                     "contentType": "application/pdf"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def test_credit_note_gets_its_pdf(self):
        invoice = self._invoice()
        refund = self._reverse(invoice)
        content = self._with_pdf(refund, "the credit note")
        self._with_pdf(invoice)
        self.run_worker()
        self.assertTrue(refund.xero_id)
        [att] = self._attachments(refund)
        self.assertEqual(att["sha256"], hashlib.sha256(content).hexdigest())
        self.assertEqual(self._uploads(CREDIT_NOTE_ROUTE), 1)
        self.assertEqual(len(self._attachments(invoice)), 1)

    def _reverse(self, invoice):
        wizard = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({
                "journal_id": invoice.journal_id.id, "reason": "refund"})
        refund = self.env["account.move"].browse(wizard.refund_moves()["res_id"])
        refund.action_post()
        return refund

    def test_recreated_document_gets_the_pdf_on_its_new_copy(self):
        """Xero refuses to edit an invoice with a payment: it is voided and re-created as -R1,
        and the new copy gets the PDF of the corrected document."""
        invoice = self._invoice()
        self._with_pdf(invoice, "first version")
        self._pay(invoice, amount=100.0)
        self.run_worker()
        first_id = invoice.xero_id
        self.assertEqual(len(self._attachments(invoice)), 1)

        invoice.button_draft()  # Odoo detaches the PDF it made: a new one is made on posting
        invoice.invoice_line_ids[0].name = "Hot desk, November (corrected)"
        invoice.action_post()
        content = self._with_pdf(invoice, "corrected")
        self.run_worker()
        self.assertNotEqual(invoice.xero_id, first_id)
        self.assertEqual(invoice.xero_number, f"{invoice.name}-R1")
        [att] = self._attachments(invoice)
        self.assertEqual(att["sha256"], hashlib.sha256(content).hexdigest())
        self.assertEqual(len(self.xero_state()["Attachments"][first_id.lower()]), 1, "the voided copy keeps its own")
        self.assertEqual(self._pdf_jobs(invoice).mapped("state"), ["done", "done"])

    def test_failed_upload_is_its_own_job_and_retry_attaches_it(self):
        invoice = self._invoice()
        other = self._invoice(price=120.0)
        content = self._with_pdf(invoice)
        self._with_pdf(other)
        # Xero refuses the first upload (a 400 answer): a person must look, nothing else waits.
        self.emu("POST", "faults", {"route": INVOICE_ROUTE, "kind": "status", "status": 400, "count": 1})
        self.run_worker()
        self.assertTrue(invoice.xero_id and other.xero_id)
        self.assertEqual(invoice.xero_sync_state, "done", "the invoice itself is synced")
        jobs = self._pdf_jobs(invoice) | self._pdf_jobs(other)
        failed = jobs.filtered(lambda j: j.state == "error")
        self.assertEqual(len(failed), 1)
        self.assertEqual(len(jobs.filtered(lambda j: j.state == "done")), 1, "the other document's PDF went")
        self.assertEqual(failed.error_kind, "validation")
        self.assertEqual(failed.error_code, "validation")
        self.assertIn("The PDF", failed.error_message)
        self.assertIn("injected fault", failed.error_message)
        failed_move = self.env["account.move"].browse(failed.res_id)
        self.assertEqual(self._attachments(failed_move), [])
        self.assertFalse(failed_move.xero_sync_error, "the document's banner is about the document")

        failed.action_retry()
        self.run_worker()
        self.assertEqual(failed.state, "done")
        self.assertEqual(len(self._attachments(failed_move)), 1)
        self.assertEqual(len(self._attachments(invoice if failed_move == invoice else other)), 1)
        if failed_move == invoice:
            self.assertEqual(self._attachments(invoice)[0]["sha256"], hashlib.sha256(content).hexdigest())

    def test_xero_unavailable_backs_off_then_attaches(self):
        invoice = self._invoice()
        self._with_pdf(invoice)
        self.emu("POST", "faults", {"route": INVOICE_ROUTE, "kind": "status", "status": 503, "count": 0})
        self.run_worker()
        [job] = self._pdf_jobs(invoice)
        self.assertEqual(invoice.xero_sync_state, "done")
        self.assertEqual((job.state, job.error_kind, job.error_code), ("pending", "retryable", "server_error"))
        self.assertTrue(job.next_attempt_at)
        self.emu("DELETE", "faults")
        self.run_worker_at(job.next_attempt_at)
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(len(self._attachments(invoice)), 1)

    def test_answer_lost_after_the_upload_is_not_uploaded_twice(self):
        invoice = self._invoice()
        self._with_pdf(invoice)
        # Every attempt of the client's loses its answer: the upload is in Xero, Odoo does not know.
        self.emu("POST", "faults", {"route": INVOICE_ROUTE, "kind": "drop_after_write", "count": 0})
        self.run_worker()
        [job] = self._pdf_jobs(invoice)
        self.assertNotEqual(job.state, "done")
        self.assertTrue(job.maybe_sent)
        self.assertEqual(len(self._attachments(invoice)), 1, "the same key: one file whatever the retries")
        self.emu("DELETE", "faults")
        if job.next_attempt_at:
            self.run_worker_at(job.next_attempt_at)
        else:
            job.action_retry()
            self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertIn("already in Xero", job.log_note)
        self.assertEqual(len(self._attachments(invoice)), 1)

    def test_connection_without_the_attachments_scope_says_reconnect(self):
        self._grant_tokens(self.connection, self.tenant_id,
                           scopes="openid profile email offline_access accounting.transactions "
                                  "accounting.contacts accounting.settings")
        invoice = self._invoice()
        self._with_pdf(invoice)
        self.run_worker()
        [job] = self._pdf_jobs(invoice)
        self.assertEqual(invoice.xero_sync_state, "done")
        self.assertEqual((job.state, job.error_code), ("error", errors.ATTACHMENTS_SCOPE_MISSING))
        self.assertIn("Reconnect", job.error_message)
        self.assertEqual(self.connection.state, "connected", "documents and payments go on")
        self.assertEqual(self._uploads(), 0, "refused before anything is sent")

    def test_no_pdf_and_no_renderer_says_so(self):
        if shutil.which("wkhtmltopdf") or self.env["ir.actions.report"].get_wkhtmltopdf_state() != "install":
            self.skipTest("wkhtmltopdf is installed here: Odoo renders the PDF")
        invoice = self._invoice()  # never sent from Odoo: no PDF kept on it
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        self.assertEqual(invoice.xero_sync_state, "done")
        [job] = self._pdf_jobs(invoice)
        self.assertEqual((job.state, job.error_code), ("error", errors.PDF_RENDERER_MISSING))
        self.assertIn("Odoo cannot render PDFs on this server (wkhtmltopdf missing)", job.error_message)
        self.assertEqual(self._uploads(), 0)
        # Once Odoo has a PDF of it (sent from Odoo), Retry attaches it.
        self._with_pdf(invoice)
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(len(self._attachments(invoice)), 1)

    def test_settings_show_the_option(self):
        settings = self.env["res.config.settings"].create({})
        self.assertTrue(settings.coworks_xero_attach_pdf)
        settings.coworks_xero_attach_pdf = False
        settings.execute()
        self.assertFalse(self.company.coworks_xero_attach_pdf)
        self.assertFalse(self.env["res.company"].new({}).coworks_xero_attach_pdf, "off by default")

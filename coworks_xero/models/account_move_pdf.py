"""The Odoo PDF of an invoice or credit note, attached to its Xero copy (an option of the company).

Its own job (kind ``attachment``, on the document), queued when the document's own job has
created it in Xero (or re-created it, ``-R1``): an upload that fails never blocks or fails the
document, shows in the sync log with its reason, and is retried like any job. Exactly once: the
job's Idempotency-Key, and a job that may have uploaded before (or a document that had such a job)
lists the Xero document's attachments before uploading (``services/xero/provider.py``).
"""
from odoo import _, fields, models
from odoo.exceptions import UserError

from ..services import documents as d
from ..services.xero import const
from ..services.xero import errors as xero_errors
from .sync_engine import DependencyPending, _Skip
from .sync_job import KIND_PRIORITY
from .xero_mapping import MappingError

# After its document (20) and the money on it (30): it needs the document's Xero ID and nothing
# waits for it.
KIND_PRIORITY.setdefault("attachment", 35)
INVOICE_REPORT = "account.account_invoices"
CODE_PDF_RENDER_FAILED = "pdf_render_failed"


class CoworksSyncJob(models.Model):
    _inherit = "coworks.sync.job"

    kind = fields.Selection(selection_add=[("attachment", "Document PDF")], ondelete={"attachment": "cascade"})


class CoworksSyncRequest(models.Model):
    _inherit = "coworks.sync.request"

    kind = fields.Selection(selection_add=[("attachment", "Document PDF")], ondelete={"attachment": "cascade"})


class ResCompany(models.Model):
    _inherit = "res.company"

    coworks_xero_attach_pdf = fields.Boolean(
        "Attach the Odoo PDF to Xero invoices and credit notes", default=False,
        help="When an invoice or credit note is created in Xero (or re-created), its Odoo PDF is attached "
             "to it there, shown to the customer with the online invoice. Documents already in Xero when "
             "this is switched on keep what they have.")


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    coworks_xero_attach_pdf = fields.Boolean(related="company_id.coworks_xero_attach_pdf", readonly=False)


class AccountMove(models.Model):
    _inherit = "account.move"

    # ------------------------------------------------------------------ queueing

    def _coworks_xero_apply_result(self, job, result):
        if job.kind == "attachment":
            return self._coworks_xero_pdf_attached(job, result)
        before = self.xero_id
        res = super()._coworks_xero_apply_result(job, result)
        if (job.operation == "upsert" and result.remote_id and result.remote_id != before
                and job.connection_id.provider == "xero" and job.connection_id.company_id.coworks_xero_attach_pdf):
            # Created in Xero (or voided and re-created under a new ID): its PDF goes on it. Queued
            # in the transaction that records the document's ID, so it is neither lost nor doubled;
            # the running worker takes it in its next round (no new trigger needed).
            self.env["coworks.sync.job"].sudo()._enqueue(self, "attachment", trigger=False)
        return res

    def _coworks_xero_pdf_attached(self, job, result):
        """The attachment's outcome is the job's (the sync log keeps the AttachmentID): the
        document's own link, status, number and badge stay as its own job left them, and the
        chatter speaks only when a person is needed (the engine's "needs attention")."""
        self.ensure_one()

    def action_open_xero_jobs(self):
        """The document's sync log shows its PDF's entries too."""
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_open_for(self, ["invoice", "credit_note", "attachment"])

    # ------------------------------------------------------------------ the snapshot

    def _coworks_xero_snapshot(self, job, conn):
        if job.kind == "attachment":
            return self._coworks_xero_pdf_snapshot(job, conn)
        return super()._coworks_xero_snapshot(job, conn)

    def _coworks_xero_pdf_label(self):
        kind = _("credit note") if self.move_type == "out_refund" else _("invoice")
        return f"{kind} {self.name}"

    def _coworks_xero_pdf_snapshot(self, job, conn):
        self.ensure_one()
        label = self._coworks_xero_pdf_label()
        if self.state != "posted":
            raise _Skip(_("Not sent: %(doc)s is no longer posted in Odoo; its PDF is not attached.", doc=label))
        if (self.xero_status or "") in ("VOIDED", "DELETED"):
            raise _Skip(_("Not sent: %(doc)s is voided in Xero; its PDF is not attached.", doc=label))
        if not self.xero_id:
            raise DependencyPending(_("Waiting for %(doc)s to reach Xero before its PDF is attached.", doc=label))
        granted = set((conn.scopes or "").split())
        if granted and not granted & set(const.ATTACHMENT_SCOPES):
            code = xero_errors.ATTACHMENTS_SCOPE_MISSING
            raise MappingError(xero_errors.with_advice(
                _("The PDF of %(doc)s cannot be attached in Xero.", doc=label), code), code=code)
        file_name, content = self._coworks_xero_pdf()
        # An earlier job of this document may have uploaded the file already (its answer lost, or
        # the job closed by hand): the provider looks before it uploads.
        earlier = self.env["coworks.sync.job"].sudo().search_count([
            ("res_model", "=", self._name), ("res_id", "=", self.id), ("kind", "=", "attachment"),
            ("connection_id", "=", conn.id), ("id", "!=", job.id), ("maybe_sent", "=", True)], limit=1)
        return d.Attachment(
            ref=f"account.move,{self.id}",
            document_kind=d.KIND_CREDIT_NOTE if self.move_type == "out_refund" else d.KIND_INVOICE,
            document_remote_id=self.xero_id, file_name=file_name, content=content, document_label=label,
            mime_type="application/pdf", include_online=True, check_existing=bool(earlier))

    def _coworks_xero_pdf(self):
        """(file name, bytes) of the document's Odoo PDF: the one Odoo made when the document was
        sent (``invoice_pdf_report_id``, what the customer received), else the invoice report
        rendered now. Without wkhtmltopdf Odoo renders no PDF: a readable error, never an HTML
        page sent as a PDF."""
        self.ensure_one()
        made = self.sudo().invoice_pdf_report_id
        if made and made.raw:
            return made.name or self._get_invoice_report_filename(), made.raw
        report = self.partner_id.invoice_template_pdf_report_id or self.env.ref(INVOICE_REPORT)
        Report = self.env["ir.actions.report"].sudo().with_company(self.company_id)
        missing = _("Odoo cannot render PDFs on this server (wkhtmltopdf missing): the PDF of %(doc)s is not "
                    "attached in Xero — install wkhtmltopdf on the Odoo server (or send the document from Odoo "
                    "once, which keeps its PDF), then Retry; the document itself is in Xero.",
                    doc=self._coworks_xero_pdf_label())
        if Report.get_wkhtmltopdf_state() == "install":
            raise MappingError(missing, code=xero_errors.PDF_RENDERER_MISSING)
        try:
            content, report_type = Report.with_context(force_report_rendering=True)._render_qweb_pdf(
                report.report_name, self.ids)
        except UserError as exc:
            raise MappingError(_("Odoo could not render the PDF of %(doc)s (%(err)s): fix the report, then Retry; "
                                 "the document itself is in Xero.", doc=self._coworks_xero_pdf_label(), err=exc),
                               code=CODE_PDF_RENDER_FAILED) from None
        if report_type != "pdf" or not (content or b"").startswith(b"%PDF"):
            raise MappingError(missing, code=xero_errors.PDF_RENDERER_MISSING)
        return self._get_invoice_report_filename(report=report), content

from odoo import models


class AccountMove(models.Model):
    """The money side of a customer document: which Xero payments/allocations this integration
    made for it (so a void can remove them first), and re-sending money once the document is in
    Xero."""

    _inherit = "account.move"

    def _coworks_xero_links(self):
        """The payment links of this document in the organisation it is read for."""
        self.ensure_one()
        conn = self._coworks_link_connections().get(self.id)
        return self.env["coworks.xero.payment.link"].sudo().search([
            "|", ("move_id", "=", self.id), ("credit_note_id", "=", self.id),
            ("xero_id", "!=", False), ("state", "in", ("synced", "to_delete"))]
            + ([("connection_id", "=", conn.id)] if conn else []))

    def _coworks_xero_remote_links(self):
        """(payment_ids, allocation_ids) in Xero that this integration created for this document
        and has not removed yet."""
        links = self._coworks_xero_links()
        payments = links.filtered(lambda l: l.kind in ("payment", "refund")).mapped("xero_id")
        allocations = links.filtered(lambda l: l.kind == "allocation").mapped("xero_id")
        return payments, allocations

    def _coworks_xero_changed_by_us_at(self):
        # Paying, applying or removing money changes the document in Xero too (its UpdatedDateUTC
        # moves): the latest of those, ours or registered from Xero, is not an edit made there.
        # A link's write_date is its transaction's start, before Xero answered (and moved the
        # document's UpdatedDateUTC): the time its job recorded Xero's answer is what counts.
        stamps = [super()._coworks_xero_changed_by_us_at()]
        conn = self._coworks_link_connections().get(self.id)
        Link = self.env["coworks.xero.payment.link"].sudo()
        links = Link.search(["|", ("move_id", "=", self.id), ("credit_note_id", "=", self.id)]
                            + ([("connection_id", "=", conn.id)] if conn else []))
        stamps += links.sorted("write_date", reverse=True)[:1].mapped("write_date")
        if links:
            stamps += self.env["coworks.sync.job"].sudo().search(
                [("res_model", "=", Link._name), ("res_id", "in", links.ids), ("state", "=", "done")],
                order="date_done desc", limit=1).mapped("date_done")
        return max(filter(None, stamps), default=None)

    def _coworks_xero_apply_result(self, job, result):
        super()._coworks_xero_apply_result(job, result)
        Link = self.env["coworks.xero.payment.link"].sudo()
        details = result.details or {}
        removed = set(details.get("repush_payments") or []) | set(details.get("repush_allocations") or [])
        if removed:
            # The document was voided and re-created in Xero: its payments were removed there and
            # go again onto the new document; those Odoo no longer has are simply gone.
            links = self._coworks_xero_links().filtered(lambda l: l.xero_id in removed)
            links.filtered(lambda l: l.state == "to_delete").write({"state": "deleted", "xero_id": False})
            again = links.filtered(lambda l: l.state == "synced")
            again.write({"state": "pending", "xero_id": False})
            again._coworks_xero_enqueue("upsert", trigger=False)
        if job.operation == "upsert" and self.xero_id:
            # Money that was waiting for this document is sent in this run, not after its backoff.
            waiting = Link.search(["|", ("move_id", "=", self.id), ("credit_note_id", "=", self.id),
                                   ("state", "=", "pending"), ("xero_id", "=", False),
                                   ("connection_id", "=", job.connection_id.id)])
            if waiting:
                Job = self.env["coworks.sync.job"].sudo()
                base = [("res_model", "=", Link._name), ("res_id", "in", waiting.ids), ("operation", "=", "upsert")]
                Job.search(base + [("state", "=", "pending"), ("next_attempt_at", "!=", False)]).write(
                    {"next_attempt_at": False})
                # ...and money that gave up waiting is tried again without a click.
                Job.search(base + [("state", "=", "error"), ("error_kind", "=", "retryable")]).write(
                    {"state": "pending", "next_attempt_at": False, "attempt_count": 0})

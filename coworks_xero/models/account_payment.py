from odoo import api, fields, models

from .common import DOCUMENT_SYNC_STATES


class AccountPayment(models.Model):
    _inherit = "account.payment"

    xero_payment_link_ids = fields.One2many(
        "coworks.xero.payment.link", "payment_id", "Xero payments", readonly=True)
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")
    xero_sync_error = fields.Text(compute="_compute_xero_sync")

    @api.depends("xero_payment_link_ids.state")
    def _compute_xero_sync(self):
        """A payment's Xero state is that of the jobs of its links (one per document it pays)."""
        links = self.sudo().xero_payment_link_ids
        by_link = {}
        ids = [i for i in links.ids if isinstance(i, int)]
        if ids:
            for job in self.env["coworks.sync.job"].sudo().search_read(
                    [("res_model", "=", "coworks.xero.payment.link"), ("res_id", "in", ids)],
                    ["res_id", "state", "error_message"], order="id desc"):
                by_link.setdefault(job["res_id"], []).append(job)
        for pay in self:
            jobs = [j for link in pay.sudo().xero_payment_link_ids for j in by_link.get(link.id, [])]
            states = {j["state"] for j in jobs}
            pay.xero_sync_state = next((s for s in ("error", "pending", "done") if s in states), "none")
            pay.xero_job_count = len(jobs)
            pay.xero_sync_error = "\n".join(
                j["error_message"] for j in jobs if j["state"] == "error" and j["error_message"]) or False

    def action_open_xero_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("coworks_xero.action_sync_job")
        action["domain"] = [("res_model", "=", "coworks.xero.payment.link"),
                            ("res_id", "in", self.sudo().xero_payment_link_ids.ids)]
        action["context"] = {}
        return action

    # ------------------------------------------------------------------ sync triggers

    def action_draft(self):
        """Odoo 19 keeps a draft payment matched with its invoices; Xero has no draft payments,
        so its Xero payments are removed (and sent again when it is posted again)."""
        self.xero_payment_link_ids._coworks_xero_undo()
        return super().action_draft()

    def action_post(self):
        res = super().action_post()
        self._coworks_xero_track_matched()
        return res

    def _coworks_xero_track_matched(self):
        """Payments posted again while still matched: their reconciliations have no live link."""
        partials = self.move_id.line_ids.matched_debit_ids | self.move_id.line_ids.matched_credit_ids
        if not partials:
            return
        live = self.env["coworks.xero.payment.link"].sudo().search(
            [("partial_id", "in", partials.ids), ("state", "in", ("pending", "synced"))]).partial_id
        self.env["coworks.xero.payment.link"]._coworks_xero_track(partials - live)

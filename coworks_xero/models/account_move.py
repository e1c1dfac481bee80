from odoo import api, fields, models

from .common import DOCUMENT_SYNC_STATES


class AccountMove(models.Model):
    _inherit = "account.move"

    coworks_campus_id = fields.Many2one(
        "coworks.campus", "Campus", index=True, check_company=True,
        compute="_compute_coworks_campus_id", store=True, readonly=False, precompute=True,
        help="Xero tracking of this invoice's lines; defaults to the customer's campus.")
    xero_id = fields.Char("Xero ID", copy=False, readonly=True, index="btree_not_null",
                          help="Xero InvoiceID or CreditNoteID.")
    xero_number = fields.Char("Xero number", copy=False, readonly=True)
    xero_status = fields.Char("Xero status", copy=False, readonly=True)
    xero_last_sync = fields.Datetime("Last synced to Xero", copy=False, readonly=True)
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")
    xero_sync_error = fields.Text(compute="_compute_xero_sync")

    @api.depends("partner_id")
    def _compute_coworks_campus_id(self):
        for move in self:
            if not move.coworks_campus_id and move.partner_id:
                move.coworks_campus_id = move.partner_id.commercial_partner_id.coworks_campus_id \
                    or move.partner_id.coworks_campus_id

    def _compute_xero_sync(self):
        self.env["coworks.sync.job"]._compute_document_sync(self, ("invoice", "credit_note"))

    def action_open_xero_jobs(self):
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_open_for(self, ["invoice", "credit_note"])

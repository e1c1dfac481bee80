from odoo import api, fields, models

from .common import DOCUMENT_SYNC_STATES


class ResPartner(models.Model):
    _inherit = "res.partner"

    coworks_campus_id = fields.Many2one(
        "coworks.campus", "Campus", index=True,
        help="Default campus of this member's invoices (Xero tracking).")
    # One Xero contact per commercial partner and company (each company has its own organisation).
    xero_contact_id = fields.Char("Xero ContactID", company_dependent=True, copy=False, readonly=True)
    xero_contact_name = fields.Char("Name in Xero", company_dependent=True, copy=False, readonly=True,
                                    help="Differs from the partner's name when Xero already had a "
                                         "contact with that name.")
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")

    @api.depends_context("company")
    def _compute_xero_sync(self):
        self.env["coworks.sync.job"]._compute_document_sync(self, "contact")

    def action_open_xero_jobs(self):
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_open_for(self.commercial_partner_id, ["contact"])

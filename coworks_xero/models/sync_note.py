"""Why a document was deliberately not sent ("Not sent" badge): the job's reason, next to the
badge. Its own file so that the document models' files stay about their documents; the field is
filled by the same compute as the badge (``coworks.sync.job._compute_document_sync``)."""
from odoo import fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    xero_sync_note = fields.Text("Not sent to Xero because", compute="_compute_xero_sync")


class ResPartner(models.Model):
    _inherit = "res.partner"

    xero_sync_note = fields.Text("Not sent to Xero because", compute="_compute_xero_sync")


class AccountPayment(models.Model):
    _inherit = "account.payment"

    xero_sync_note = fields.Text("Not sent to Xero because", compute="_compute_xero_sync")

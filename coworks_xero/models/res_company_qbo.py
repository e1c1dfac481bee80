from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    # QuickBooks Online as a company's accounting provider (the engine's list is common.PROVIDERS).
    coworks_sync_provider = fields.Selection(
        selection_add=[("qbo", "QuickBooks Online")], ondelete={"qbo": "set default"})

from odoo import fields, models

from .common import ITEM_KINDS


class ProductTemplate(models.Model):
    _inherit = "product.template"

    coworks_item_kind = fields.Selection(
        ITEM_KINDS, "Item kind", index=True,
        help="What this product is in the coworking billing; decides its default Xero mapping.")
    coworks_xero_mapping_ids = fields.One2many(
        "coworks.xero.product.mapping", "product_tmpl_id", "Xero overrides")

"""Local cache of the organisation's reference data, so mapping forms offer real choices and
documents are checked before they are sent. Rows are written by "Refresh from Xero" only."""
from odoo import api, fields, models


class XeroReferenceMixin(models.AbstractModel):
    _name = "coworks.xero.reference.mixin"
    _description = "Xero reference data (cached)"

    connection_id = fields.Many2one(
        "coworks.sync.connection", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    xero_id = fields.Char("Xero ID", index=True)
    status = fields.Char(default="ACTIVE", help="Xero's status: ACTIVE, ARCHIVED, DELETED…")
    active = fields.Boolean(compute="_compute_active", store=True)

    @api.depends("status")
    def _compute_active(self):
        for rec in self:
            rec.active = rec.status in (False, "ACTIVE")


class XeroAccount(models.Model):
    _name = "coworks.xero.account"
    _inherit = ["coworks.xero.reference.mixin"]
    _description = "Xero account"
    _order = "code, name"
    _rec_names_search = ["code", "name"]

    code = fields.Char()
    name = fields.Char(required=True)
    account_type = fields.Char("Type", help="REVENUE, SALES, BANK, CURRENT…")
    account_class = fields.Char("Class")
    tax_type = fields.Char("Default tax type")
    enable_payments = fields.Boolean("Payments enabled")
    system_account = fields.Char()
    currency_code = fields.Char()
    can_receive_payments = fields.Boolean(compute="_compute_can_receive_payments", store=True)

    _xero_id_uniq = models.Constraint(
        "UNIQUE(connection_id, xero_id)", "This Xero account is already cached.")

    @api.depends("account_type", "enable_payments")
    def _compute_can_receive_payments(self):
        for rec in self:
            rec.can_receive_payments = rec.account_type == "BANK" or rec.enable_payments

    @api.depends("code", "name")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = f"{rec.code} {rec.name}" if rec.code else rec.name


class XeroItem(models.Model):
    _name = "coworks.xero.item"
    _inherit = ["coworks.xero.reference.mixin"]
    _description = "Xero item (product/service)"
    _order = "code"
    _rec_names_search = ["code", "name"]

    code = fields.Char(required=True)
    name = fields.Char()
    is_sold = fields.Boolean(default=True)
    sales_account_code = fields.Char()
    sales_tax_type = fields.Char()
    sales_unit_price = fields.Float()

    _xero_id_uniq = models.Constraint(
        "UNIQUE(connection_id, xero_id)", "This Xero item is already cached.")

    @api.depends("code", "name")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = f"[{rec.code}] {rec.name}" if rec.name else rec.code


class XeroTaxRate(models.Model):
    _name = "coworks.xero.tax.rate"
    _inherit = ["coworks.xero.reference.mixin"]
    _description = "Xero tax rate"
    _order = "name"
    _rec_names_search = ["tax_type", "name"]

    tax_type = fields.Char("Tax type", required=True)
    name = fields.Char()
    rate = fields.Float("Rate (%)", digits=(16, 4))
    can_apply_to_revenue = fields.Boolean(default=True)

    _tax_type_uniq = models.Constraint(
        "UNIQUE(connection_id, tax_type)", "This Xero tax type is already cached.")

    @api.depends("tax_type", "name", "rate")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = f"{rec.name or rec.tax_type} ({rec.tax_type}, {rec.rate:g}%)"


class XeroTrackingCategory(models.Model):
    _name = "coworks.xero.tracking.category"
    _inherit = ["coworks.xero.reference.mixin"]
    _description = "Xero tracking category"
    _order = "name"

    name = fields.Char(required=True)
    option_ids = fields.One2many("coworks.xero.tracking.option", "category_id", "Options")

    _xero_id_uniq = models.Constraint(
        "UNIQUE(connection_id, xero_id)", "This tracking category is already cached.")


class XeroTrackingOption(models.Model):
    _name = "coworks.xero.tracking.option"
    _inherit = ["coworks.xero.reference.mixin"]
    _description = "Xero tracking option"
    _order = "category_id, name"

    name = fields.Char(required=True)
    category_id = fields.Many2one(
        "coworks.xero.tracking.category", required=True, index=True, ondelete="cascade")

    _xero_id_uniq = models.Constraint(
        "UNIQUE(connection_id, xero_id)", "This tracking option is already cached.")

    @api.depends("name", "category_id.name")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = f"{rec.category_id.name}: {rec.name}"


class XeroCurrency(models.Model):
    _name = "coworks.xero.currency"
    _inherit = ["coworks.xero.reference.mixin"]
    _description = "Xero currency"
    _order = "code"
    _rec_name = "code"

    code = fields.Char(required=True)
    description = fields.Char()

    _code_uniq = models.Constraint(
        "UNIQUE(connection_id, code)", "This currency is already cached.")

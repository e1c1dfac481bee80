"""Local cache of the organisation's reference data, so mapping forms offer real choices and
documents are checked before they are sent. Rows are written by "Refresh from Xero" only."""
from odoo import api, fields, models

from ..services.xero import rules


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
    can_receive_payments = fields.Boolean(compute="_compute_uses", store=True,
                                          help="A BANK account, or one with payments enabled in Xero.")
    # What each account choice may offer (services/xero/rules.py decides; the domains of the
    # mapping fields read these, the constraints ask rules.account_refusal why not).
    usable_on_sales_lines = fields.Boolean("Usable on sales lines", compute="_compute_uses", store=True)
    usable_for_payments = fields.Boolean("Usable for payments", compute="_compute_uses", store=True)
    usable_for_rounding = fields.Boolean("Usable for rounding", compute="_compute_uses", store=True)

    _xero_id_uniq = models.Constraint(
        "UNIQUE(connection_id, xero_id)", "This Xero account is already cached.")

    def _xero_dict(self):
        """This cached account in Xero's own shape (what services/ reads)."""
        self.ensure_one()
        return {"AccountID": self.xero_id, "Code": self.code, "Name": self.name, "Type": self.account_type,
                "Class": self.account_class, "Status": self.status or "ACTIVE",
                "EnablePaymentsToAccount": self.enable_payments, "SystemAccount": self.system_account or None,
                "CurrencyCode": self.currency_code or None}

    def _refusal_for(self, use):
        """Why Xero would not take this account for ``use`` (rules.ACCOUNT_USES), or None."""
        self.ensure_one()
        return rules.account_refusal(self._xero_dict(), use)

    @api.depends("account_type", "account_class", "enable_payments", "system_account", "status")
    def _compute_uses(self):
        for rec in self:
            xero = rec._xero_dict()
            rec.can_receive_payments = rules.can_receive_payments(xero)
            rec.usable_on_sales_lines = rules.account_usable(xero, rules.USE_SALES)
            rec.usable_for_payments = rules.account_usable(xero, rules.USE_PAYMENT)
            rec.usable_for_rounding = rules.account_usable(xero, rules.USE_ROUNDING)

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

    def _xero_dict(self):
        self.ensure_one()
        return {"TaxType": self.tax_type, "Name": self.name, "Status": self.status or "ACTIVE",
                "EffectiveRate": self.rate, "DisplayTaxRate": self.rate,
                "CanApplyToRevenue": self.can_apply_to_revenue}

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

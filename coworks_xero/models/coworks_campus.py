from odoo import fields, models


class CoworksCampus(models.Model):
    _name = "coworks.campus"
    _description = "Coworking campus"
    _order = "sequence, name"
    _check_company_auto = True

    name = fields.Char(required=True, translate=False)
    code = fields.Char(required=True, help="Short code, unique per company (e.g. DTN).")
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company)
    partner_count = fields.Integer(compute="_compute_partner_count")

    _code_company_uniq = models.Constraint(
        "UNIQUE(company_id, code)", "A campus code must be unique per company.")

    def _compute_partner_count(self):
        counts = dict(self.env["res.partner"]._read_group(
            [("coworks_campus_id", "in", self.ids)], ["coworks_campus_id"], ["__count"]))
        for campus in self:
            campus.partner_count = counts.get(campus, 0)

"""What each Odoo thing becomes in Xero. Managers edit these in ordinary list/form views; the
choices come from the cached reference data of the same connection."""
import contextlib
import copy
import functools
import threading

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..services.xero import rules
from .common import ITEM_KINDS, ITEM_KINDS_AS_ACCOUNTS

_MEMO = threading.local()


@contextlib.contextmanager
def batch_memo():
    """While a batch is prepared (one transaction), what a connection resolves for a product, a
    set of taxes or a campus is looked up once, not once per line: 50 invoices of one product
    made 50 x 3 mapping searches (bench/pipe.py's batch profile, "prepare")."""
    _MEMO.cache = {}
    try:
        yield
    finally:
        _MEMO.cache = None


def _memoised(kind):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, records):
            cache = getattr(_MEMO, "cache", None)
            if cache is None:
                return fn(self, records)
            key = (kind, self.id, records._name if records is not None else None,
                   tuple(records.ids) if records else ())
            if key not in cache:
                try:
                    cache[key] = (True, fn(self, records))
                except MappingError as exc:
                    cache[key] = (False, exc)
            ok, value = cache[key]
            if not ok:
                raise value
            return copy.deepcopy(value)
        return wrapper
    return deco


class MappingError(Exception):
    """A mapping is missing or unusable: the message names what a person must map.

    ``code``: the stable error code the sync log keeps (default ``mapping_missing``)."""

    def __init__(self, *args, code=None):
        super().__init__(*args)
        if code:
            self.code = code


class XeroMappingMixin(models.AbstractModel):
    _name = "coworks.xero.mapping.mixin"
    _description = "Xero mapping"
    _check_company_auto = True

    connection_id = fields.Many2one(
        "coworks.sync.connection", required=True, index=True, ondelete="cascade",
        default=lambda self: self.env["coworks.sync.connection"]._for_company(self.env.company))
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    note = fields.Char()

    # ------------------------------------------------------------------ in use

    def _in_use_moves_domain(self):
        """Customer documents whose sync still needs this mapping (extra conditions on
        account.move), or None when the mapping applies to payments instead."""
        return None

    def _in_use_documents(self, limit=4):
        """Names of up to ``limit`` documents that still need this mapping (not in Xero yet, or
        with an open entry in the sync log), and how many there are in all."""
        self.ensure_one()
        extra = self._in_use_moves_domain()
        if extra is None:
            return [], 0
        env = self.env(su=True)
        open_ids = env["coworks.sync.job"].search([
            ("connection_id", "=", self.connection_id.id), ("res_model", "=", "account.move"),
            ("state", "in", ("pending", "error")), ("operation", "=", "upsert")]).mapped("res_id")
        domain = [("company_id", "=", self.connection_id.company_id.id),
                  ("move_type", "in", ("out_invoice", "out_refund")),
                  "|", "&", ("state", "=", "posted"), ("xero_id", "=", False), ("id", "in", open_ids)] + extra
        Move = env["account.move"]
        return Move.search(domain, limit=limit, order="id").mapped("display_name"), Move.search_count(domain)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_in_use(self):
        for rec in self:
            names, count = rec._in_use_documents()
            if count:
                more = _(" and %s more", count - len(names)) if count > len(names) else ""
                raise UserError(_(
                    "The mapping of %(what)s is still needed: %(docs)s%(more)s are not in Xero yet. "
                    "Map it to something else instead of deleting it, or delete it once they are synced "
                    "(or cancelled).", what=rec.display_name, docs=", ".join(names), more=more))

    def _mapped_on_connection(self, fname):
        """What the other mappings of the same connection already map in ``fname``."""
        self.ensure_one()
        conn = self.connection_id
        if not conn:
            return self.env[self._fields[fname].comodel_name] if self._fields[fname].type == "many2one" else []
        domain = [("connection_id", "=", conn.id), (fname, "!=", False)]
        if self._origin.id:
            domain.append(("id", "!=", self._origin.id))
        others = self.sudo().search(domain)
        return others[fname] if self._fields[fname].type == "many2one" else others.mapped(fname)

    def _check_same_connection(self, *field_names):
        for rec in self:
            for name in field_names:
                target = rec[name]
                if target and target.connection_id != rec.connection_id:
                    raise ValidationError(_(
                        "%(field)s must come from the same Xero organisation as the mapping.",
                        field=rec._fields[name].string))


class XeroProductMapping(models.Model):
    _name = "coworks.xero.product.mapping"
    _inherit = ["coworks.xero.mapping.mixin"]
    _description = "Xero mapping of an item kind or a product"
    _order = "product_tmpl_id desc, item_kind"

    item_kind = fields.Selection(ITEM_KINDS, help="Default for every product of this kind.")
    product_tmpl_id = fields.Many2one(
        "product.template", "Product override", index=True, ondelete="cascade",
        domain="[('id', 'not in', mapped_product_tmpl_ids)]",
        help="Overrides the item kind's default for this product only.")
    # What the form may still offer: kinds and products not mapped yet on this connection.
    available_item_kinds = fields.Json(compute="_compute_available")
    mapped_product_tmpl_ids = fields.Many2many("product.template", compute="_compute_available")
    xero_item_id = fields.Many2one(
        "coworks.xero.item", "Xero item", ondelete="restrict",
        domain="[('connection_id', '=', connection_id), ('is_sold', '=', True)]")
    xero_account_id = fields.Many2one(
        "coworks.xero.account", "Xero account", ondelete="restrict",
        domain="[('connection_id', '=', connection_id), ('usable_on_sales_lines', '=', True)]",
        help="A revenue account of the organisation (never a bank or system account).")
    tracking_option_id = fields.Many2one(
        "coworks.xero.tracking.option", "Tracking option", ondelete="restrict",
        domain="[('connection_id', '=', connection_id)]",
        help="Optional tracking applied to these lines (besides the campus).")

    _kind_xor_product = models.Constraint(
        "CHECK((item_kind IS NULL) != (product_tmpl_id IS NULL))",
        "A mapping is either for an item kind or for one product, not both.")
    _kind_uniq = models.UniqueIndex(
        "(connection_id, item_kind) WHERE item_kind IS NOT NULL",
        "This item kind is already mapped for this organisation.")
    _product_uniq = models.UniqueIndex(
        "(connection_id, product_tmpl_id) WHERE product_tmpl_id IS NOT NULL",
        "This product already has an override for this organisation.")

    @api.constrains("xero_item_id", "xero_account_id", "item_kind", "product_tmpl_id",
                    "tracking_option_id", "connection_id")
    def _check_target(self):
        self._check_same_connection("xero_item_id", "xero_account_id", "tracking_option_id")
        for rec in self:
            if not rec.xero_item_id and not rec.xero_account_id:
                raise ValidationError(_("Choose a Xero item or a Xero account to map to."))
            if rec.xero_account_id:
                refusal = rec.xero_account_id._refusal_for(rules.USE_SALES)
                if refusal:
                    raise ValidationError(_("%(what)s cannot be mapped to this account: %(why)s",
                                            what=rec.display_name or _("This item"), why=refusal))
            kind = rec.item_kind or rec.product_tmpl_id.coworks_item_kind
            if kind in ITEM_KINDS_AS_ACCOUNTS and not rec.xero_account_id and rec.connection_id._fees_need_account():
                raise ValidationError(_(
                    "Fees (%(kind)s) are booked to a Xero account: choose one.",
                    kind=dict(ITEM_KINDS)[kind]))

    @api.depends("connection_id", "item_kind", "product_tmpl_id")
    def _compute_available(self):
        for rec in self:
            taken = set(rec._mapped_on_connection("item_kind"))
            # Never empty: the form's selection widget (filterable_selection) reads it as a list.
            rec.available_item_kinds = [key for key, _label in ITEM_KINDS if key not in taken] or [""]
            rec.mapped_product_tmpl_ids = rec._mapped_on_connection("product_tmpl_id")

    def _in_use_moves_domain(self):
        if self.product_tmpl_id:
            return [("invoice_line_ids.product_id.product_tmpl_id", "=", self.product_tmpl_id.id)]
        overridden = self.search([("connection_id", "=", self.connection_id.id),
                                  ("product_tmpl_id", "!=", False)]).product_tmpl_id
        return [("invoice_line_ids", "any", [
            ("display_type", "=", "product"),
            ("product_id.product_tmpl_id.coworks_item_kind", "=", self.item_kind),
            ("product_id.product_tmpl_id", "not in", overridden.ids)])]

    @api.depends("item_kind", "product_tmpl_id")
    def _compute_display_name(self):
        kinds = dict(ITEM_KINDS)
        for rec in self:
            rec.display_name = rec.product_tmpl_id.display_name or kinds.get(rec.item_kind, "")


class XeroCampusMapping(models.Model):
    _name = "coworks.xero.campus.mapping"
    _inherit = ["coworks.xero.mapping.mixin"]
    _description = "Xero mapping of a campus to a tracking option"
    _order = "campus_id"

    campus_id = fields.Many2one("coworks.campus", required=True, ondelete="cascade", check_company=True,
                                domain="[('id', 'not in', mapped_campus_ids)]")
    mapped_campus_ids = fields.Many2many("coworks.campus", compute="_compute_mapped")

    @api.depends("connection_id", "campus_id")
    def _compute_mapped(self):
        for rec in self:
            rec.mapped_campus_ids = rec._mapped_on_connection("campus_id")

    def _in_use_moves_domain(self):
        return ["|", ("coworks_campus_id", "=", self.campus_id.id),
                ("invoice_line_ids.coworks_campus_id", "=", self.campus_id.id)]

    @api.depends("campus_id")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = _("campus %s", rec.campus_id.name or "")

    tracking_option_id = fields.Many2one(
        "coworks.xero.tracking.option", "Tracking option", required=True, ondelete="restrict",
        domain="[('connection_id', '=', connection_id)]")

    _campus_uniq = models.Constraint(
        "UNIQUE(connection_id, campus_id)", "This campus is already mapped for this organisation.")

    @api.constrains("tracking_option_id", "connection_id")
    def _check_option(self):
        self._check_same_connection("tracking_option_id")


class XeroTaxMapping(models.Model):
    _name = "coworks.xero.tax.mapping"
    _inherit = ["coworks.xero.mapping.mixin"]
    _description = "Xero mapping of a tax to a tax rate"
    _order = "tax_id"

    tax_id = fields.Many2one(
        "account.tax", required=True, ondelete="cascade", check_company=True,
        domain="[('type_tax_use', '=', 'sale'), ('id', 'not in', mapped_tax_ids)]")
    mapped_tax_ids = fields.Many2many("account.tax", compute="_compute_mapped",
                                      help="Taxes other mappings of this connection already map.")

    @api.depends("connection_id", "tax_id")
    def _compute_mapped(self):
        for rec in self:
            rec.mapped_tax_ids = rec._mapped_on_connection("tax_id")

    def _in_use_moves_domain(self):
        return [("invoice_line_ids.tax_ids", "in", self.tax_id.ids)]

    @api.depends("tax_id")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = _("the tax “%s”", rec.tax_id.name or "")

    tax_rate_id = fields.Many2one(
        "coworks.xero.tax.rate", "Xero tax rate", required=True, ondelete="restrict",
        domain="[('connection_id', '=', connection_id), ('can_apply_to_revenue', '=', True)]")
    odoo_rate = fields.Char("Odoo rate", compute="_compute_rate_check")
    xero_rate = fields.Float("Xero rate (%)", related="tax_rate_id.rate", digits=(16, 4))
    rates_differ = fields.Boolean(
        compute="_compute_rate_check",
        help="Odoo's rate and Xero's are not the same: Xero would compute another tax than Odoo's.")
    rate_warning = fields.Char(compute="_compute_rate_check")
    send_odoo_tax_amounts = fields.Boolean(
        "Send Odoo's tax amounts",
        help="Odoo's rate and the Xero rate differ on purpose: send Odoo's tax amount on every line as "
             "an override of what Xero would compute (noted in the sync log). Without it, documents with "
             "this tax stop with a message naming both rates.")

    _tax_uniq = models.Constraint(
        "UNIQUE(connection_id, tax_id)", "This tax is already mapped for this organisation.")

    @api.constrains("tax_rate_id", "connection_id")
    def _check_rate(self):
        self._check_same_connection("tax_rate_id")

    @api.depends("tax_id.amount", "tax_id.amount_type", "tax_id.children_tax_ids.amount",
                 "tax_rate_id.rate", "tax_rate_id.name", "tax_rate_id.tax_type")
    def _compute_rate_check(self):
        for rec in self:
            host = rec.tax_id._coworks_xero_percentage() if rec.tax_id else None
            rec.odoo_rate = (f"{rules.format_rate(host)} %" if host is not None
                             else (rec.tax_id and _("not a percentage")) or False)
            rec.rates_differ = bool(rec.tax_id and rec.tax_rate_id
                                    and rules.rates_differ(host, rec.tax_rate_id.rate))
            rec.rate_warning = rec._rate_mismatch_message() if rec.rates_differ else False

    def _rate_mismatch_message(self):
        """Both rates, and the two ways out (for the form, and for the sync log when it stops)."""
        self.ensure_one()
        host = self.tax_id._coworks_xero_percentage()
        rate = self.tax_rate_id
        xero = _("%(name)s (%(type)s) at %(rate)s %%", name=rate.name or rate.tax_type, type=rate.tax_type,
                 rate=rules.format_rate(rate.rate))
        if host is None:
            odoo = _("The tax “%s” is not a single percentage in Odoo (fixed, grouped or tax-on-total)",
                     self.tax_id.name)
        else:
            odoo = _("The tax “%(tax)s” is %(rate)s %% in Odoo", tax=self.tax_id.name,
                     rate=rules.format_rate(host))
        return _("%(odoo)s but is mapped to Xero's %(xero)s: Xero would compute a different tax. Map it to a "
                 "Xero tax rate of the same rate, or tick “Send Odoo's tax amounts” on the tax mapping "
                 "(Invoicing > Configuration > Xero > Tax mappings) to send Odoo's amounts as overrides.",
                 odoo=odoo, xero=xero)


class XeroJournalMapping(models.Model):
    _name = "coworks.xero.journal.mapping"
    _inherit = ["coworks.xero.mapping.mixin"]
    _description = "Xero mapping of a payment journal to a bank account"
    _order = "journal_id"

    journal_id = fields.Many2one(
        "account.journal", required=True, ondelete="cascade", check_company=True,
        domain="[('type', 'in', ('bank', 'cash', 'credit')), ('id', 'not in', mapped_journal_ids)]")
    mapped_journal_ids = fields.Many2many("account.journal", compute="_compute_mapped")

    @api.depends("connection_id", "journal_id")
    def _compute_mapped(self):
        for rec in self:
            rec.mapped_journal_ids = rec._mapped_on_connection("journal_id")

    @api.depends("journal_id")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = _("the journal “%s”", rec.journal_id.name or "")

    def _in_use_documents(self, limit=4):
        """Payments from this journal that are not in Xero yet."""
        self.ensure_one()
        env = self.env(su=True)
        domain = [("connection_id", "=", self.connection_id.id), ("journal_id", "=", self.journal_id.id),
                  ("state", "=", "pending")]
        Link = env["coworks.xero.payment.link"]
        return Link.search(domain, limit=limit, order="id").mapped("display_name"), Link.search_count(domain)
    bank_account_id = fields.Many2one(
        "coworks.xero.account", "Xero bank account", required=True, ondelete="restrict",
        domain="[('connection_id', '=', connection_id), ('usable_for_payments', '=', True)]",
        help="A BANK account, or an account with payments enabled (e.g. a card clearing account).")

    _journal_uniq = models.Constraint(
        "UNIQUE(connection_id, journal_id)", "This journal is already mapped for this organisation.")

    @api.constrains("bank_account_id", "connection_id")
    def _check_bank(self):
        self._check_same_connection("bank_account_id")
        for rec in self:
            refusal = rec.bank_account_id._refusal_for(rules.USE_PAYMENT)
            if refusal:
                raise ValidationError(_("Payments of %(journal)s cannot go to this account: %(why)s",
                                        journal=rec.journal_id.display_name, why=refusal))


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    # ------------------------------------------------------------------ what is not mapped yet

    def _xero_unmapped(self):
        """What this connection's documents may need and no mapping covers yet:
        {"kinds": [labels], "taxes": account.tax, "journals": account.journal, "campuses": coworks.campus,
         "rates": account.tax mapped to a Xero rate that differs from theirs}.

        Item kinds: all of them (each is a kind of line Coworks bills). Taxes: sale taxes of the
        company used on customer invoices or set on products. Journals: the company's bank and
        cash journals. Campuses: the company's active campuses."""
        self.ensure_one()
        env = self.env(su=True)
        company = self.company_id
        on_conn = [("connection_id", "=", self.id)]
        mapped_kinds = set(env["coworks.xero.product.mapping"].search(
            on_conn + [("item_kind", "!=", False)]).mapped("item_kind"))
        kinds = [label for key, label in self.env["coworks.xero.product.mapping"]._fields["item_kind"]
                 ._description_selection(self.env) if key not in mapped_kinds]
        used = env["account.tax"]
        for [taxes] in env["account.move.line"]._read_group(
                [("company_id", "=", company.id), ("move_id.move_type", "in", ("out_invoice", "out_refund")),
                 ("display_type", "=", "product"), ("tax_ids", "!=", False)], ["tax_ids"]):
            used |= taxes
        used |= env["product.template"].search([("taxes_id", "!=", False)]).taxes_id
        used = used.filtered(lambda t: t.type_tax_use == "sale" and t.company_id == company and t.active)
        taxes = used - env["coworks.xero.tax.mapping"].search(on_conn).tax_id
        journals = env["account.journal"].search([("company_id", "=", company.id), ("type", "in", ("bank", "cash"))])
        journals -= env["coworks.xero.journal.mapping"].search(on_conn).journal_id
        campuses = env["coworks.campus"].search(["|", ("company_id", "=", False), ("company_id", "=", company.id)])
        campuses -= env["coworks.xero.campus.mapping"].search(on_conn).campus_id
        # Mapped, but to a Xero rate other than Odoo's, without "Send Odoo's tax amounts": their
        # documents stop until someone decides.
        rates = env["coworks.xero.tax.mapping"].search(on_conn + [("send_odoo_tax_amounts", "=", False)]).filtered(
            "rates_differ").tax_id
        return {"kinds": kinds, "taxes": taxes, "journals": journals, "campuses": campuses, "rates": rates}

    @_memoised("product_mapping")
    def _resolve_product_mapping(self, product):
        """Where a line of ``product`` goes in Xero: product override, else the item kind's
        default, else the connection's default account. Raises MappingError naming what to map.

        Returns a dict: item_code, account_code, tracking (list of (category, option)), source.
        """
        self.ensure_one()
        Mapping = self.env["coworks.xero.product.mapping"].sudo()
        template = product.product_tmpl_id if product._name == "product.product" else product
        kind = template.coworks_item_kind
        mapping = source = None
        if template:
            mapping = Mapping.search([("connection_id", "=", self.id),
                                      ("product_tmpl_id", "=", template.id)], limit=1)
            source = "product" if mapping else None
        if not mapping and kind:
            mapping = Mapping.search([("connection_id", "=", self.id), ("item_kind", "=", kind)], limit=1)
            source = "kind" if mapping else None
        if mapping:
            item, account = mapping.xero_item_id, mapping.xero_account_id
            if item and not item.active:
                raise MappingError(_("Xero item %(item)s (mapped for %(what)s) is no longer active: map "
                                     "another item.", item=item.display_name, what=mapping.display_name),
                                   code="item_invalid")
            if account and not account.active:
                raise MappingError(_("Xero account %(acc)s (mapped for %(what)s) is archived: map an "
                                     "active account.", acc=account.display_name, what=mapping.display_name),
                                   code="account_invalid")
            tracking = []
            if mapping.tracking_option_id:
                opt = mapping.tracking_option_id
                tracking.append((opt.category_id.name, opt.name))
            return {
                "item_code": item.code or "",
                "account_code": account.code or item.sales_account_code or "",
                "tracking": tracking,
                "source": source,
                "label": (_("product “%s”", template.display_name) if source == "product"
                          else _("item kind “%s”", dict(ITEM_KINDS)[kind])),
            }
        if kind in ITEM_KINDS_AS_ACCOUNTS or not self.default_account_id:
            what = (_("the item kind “%s”", dict(ITEM_KINDS)[kind]) if kind
                    else _("the product “%s” (it has no item kind)", template.display_name or _("(none)")))
            raise MappingError(_(
                "No Xero mapping for %(what)s: map it in Invoicing > Configuration > Xero > "
                "Item mappings, or set a default sales account on the Xero connection.", what=what))
        return {"item_code": "", "account_code": self.default_account_id.code,
                "tracking": [], "source": "default", "label": _("the connection's default sales account")}

    def _fees_need_account(self):
        """Whether a fee item kind (``ITEM_KINDS_AS_ACCOUNTS``) must be mapped to an account: Xero
        books fees to an account; a provider that books every line through an item overrides this."""
        return True

    def _coworks_xero_no_tax_type(self):
        """The TaxType of lines without an Odoo tax (rules.no_tax_type: the organisation's
        zero-rate revenue tax, "NONE" in AU/NZ/UK orgs), so Xero does not apply the account's
        default tax."""
        self.ensure_one()
        rates = self.env["coworks.xero.tax.rate"].sudo().with_context(active_test=False).search(
            [("connection_id", "=", self.id)])
        return rules.no_tax_type([r._xero_dict() for r in rates])

    @_memoised("campus_tracking")
    def _resolve_campus_tracking(self, campus):
        """(category, option) for ``campus``, or None when the campus is not mapped."""
        self.ensure_one()
        if not campus:
            return None
        mapping = self.env["coworks.xero.campus.mapping"].sudo().search(
            [("connection_id", "=", self.id), ("campus_id", "=", campus.id)], limit=1)
        if not mapping:
            return None
        opt = mapping.tracking_option_id
        if not opt.active:
            raise MappingError(_("The tracking option %(opt)s of campus %(campus)s is archived in Xero: "
                                 "map the campus to an active option.", opt=opt.display_name,
                                 campus=campus.name), code="tracking_invalid")
        return (opt.category_id.name, opt.name)

    def _tax_mapping_of(self, taxes):
        """The tax mapping of a line's Odoo taxes (one tax per line in Xero); MappingError when
        there is none."""
        self.ensure_one()
        if len(taxes) > 1:
            raise MappingError(_("Xero takes one tax rate per line; this line has %s. Use a single "
                                 "(group) tax and map it.", ", ".join(taxes.mapped("name"))),
                               code="tax_type_invalid")
        mapping = self.env["coworks.xero.tax.mapping"].sudo().search(
            [("connection_id", "=", self.id), ("tax_id", "=", taxes.id)], limit=1)
        if not mapping:
            raise MappingError(_("The tax “%s” has no Xero tax rate: map it in Invoicing > "
                                 "Configuration > Xero > Tax mappings.", taxes.name))
        return mapping

    def _resolve_tax_type(self, taxes):
        """The Xero TaxType for a line's Odoo taxes (one tax per line in Xero)."""
        self.ensure_one()
        if not taxes:
            return ""
        return self._tax_mapping_of(taxes).tax_rate_id.tax_type

    @_memoised("tax")
    def _resolve_tax(self, taxes):
        """What a line with Odoo ``taxes`` sends: {"tax_type", "rate" (Xero's, Decimal, None when
        the line sends Odoo's amount), "send_tax_amount", "reason"}; ``taxes`` empty: the no-tax
        TaxType. Raises MappingError naming both rates when Odoo's rate and the mapped Xero rate
        differ and the mapping does not say to send Odoo's tax amounts."""
        self.ensure_one()
        if not taxes:
            return {"tax_type": self._coworks_xero_no_tax_type(), "rate": None,
                    "send_tax_amount": False, "reason": ""}
        mapping = self._tax_mapping_of(taxes)
        rate = mapping.tax_rate_id
        result = {"tax_type": rate.tax_type, "rate": rules.xero_rate(rate._xero_dict()),
                  "send_tax_amount": False, "reason": ""}
        if mapping.rates_differ:
            if not mapping.send_odoo_tax_amounts:
                raise MappingError(mapping._rate_mismatch_message(), code="tax_rate_mismatch")
            host = taxes._coworks_xero_percentage()
            result.update(rate=None, send_tax_amount=True, reason=_(
                "“%(tax)s” is %(odoo)s in Odoo, %(type)s %(xero)s %% in Xero: its mapping sends Odoo's tax amounts",
                tax=taxes.name, odoo=f"{rules.format_rate(host)} %" if host is not None else _("not a percentage"),
                type=rate.tax_type, xero=rules.format_rate(rate.rate)))
        return result

    def _resolve_bank_account(self, journal):
        self.ensure_one()
        mapping = self.env["coworks.xero.journal.mapping"].sudo().search(
            [("connection_id", "=", self.id), ("journal_id", "=", journal.id)], limit=1)
        if not mapping:
            raise MappingError(_("The payment journal “%s” has no Xero bank account: map it in "
                                 "Invoicing > Configuration > Xero > Payment journals.", journal.name))
        return mapping.bank_account_id.code


class AccountTax(models.Model):
    _inherit = "account.tax"

    def _coworks_xero_percentage(self):
        """This tax as the single percentage Xero would apply, or None when it has none: a
        percent tax (price included or not: Xero's Inclusive applies r/(100+r) like Odoo), or a
        group of plain percent taxes that do not tax each other. Fixed, tax-on-total ('division')
        and Python taxes compute otherwise."""
        self.ensure_one()
        if self.amount_type == "percent":
            return self.amount
        if self.amount_type == "group":
            children = self.children_tax_ids
            if children and all(c.amount_type == "percent" and not c.include_base_amount
                                and c.price_include == self.children_tax_ids[:1].price_include for c in children):
                return sum(children.mapped("amount"))
        return None


class CoworksSyncConnectionAccounts(models.Model):
    _inherit = "coworks.sync.connection"

    @api.constrains("default_account_id", "rounding_account_id")
    def _check_account_uses(self):
        """Each account of the connection must be one Xero accepts for its use (rules.py)."""
        for conn in self:
            for fname, use in (("default_account_id", rules.USE_SALES), ("rounding_account_id", rules.USE_ROUNDING)):
                account = conn[fname]
                if account:
                    if account.connection_id != conn:
                        raise ValidationError(_("%(field)s must come from the same Xero organisation as the "
                                                "connection.", field=conn._fields[fname].string))
                    refusal = account._refusal_for(use)
                    if refusal:
                        raise ValidationError(_("%(field)s: %(why)s", field=conn._fields[fname].string, why=refusal))

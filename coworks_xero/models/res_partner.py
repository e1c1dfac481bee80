from odoo import _, api, fields, models

from .common import DOCUMENT_SYNC_STATES
from .sync_job import KIND_PRIORITY, PAUSE_REASONS


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "coworks.sync.linked.mixin"]

    coworks_campus_id = fields.Many2one(
        "coworks.campus", "Campus", index=True,
        help="Default campus of this member's invoices (Xero tracking).")
    # One Xero contact per commercial partner and organisation (each company has its own
    # connection; coworks.sync.link): shown for the current company's connection.
    xero_contact_id = fields.Char("Xero ContactID", compute="_compute_xero_link", search="_search_xero_contact_id")
    xero_url = fields.Char("Open in Xero", compute="_compute_xero_link")
    xero_contact_name = fields.Char("Name in Xero", compute="_compute_xero_link",
                                    help="Differs from the partner's name when Xero already had another "
                                         "active contact with that name (Xero requires unique names). "
                                         "Then the name is followed by the customer's email, e.g. "
                                         "“ACME (ap@acme.com)”; without an email by its contact code, "
                                         "“ACME (#ODOO-42)”; and if that is taken too, “ACME (#ODOO-42-2)”…")
    xero_last_sync = fields.Datetime("Last sent to Xero", compute="_compute_xero_link")
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")
    xero_sync_error = fields.Text(compute="_compute_xero_sync")
    xero_sync_paused = fields.Selection(PAUSE_REASONS, compute="_compute_xero_sync", string="Xero sync paused")

    @api.depends_context("company", "coworks_sync_connection_id")
    def _compute_xero_link(self):
        links = self._coworks_links()
        for partner in self:
            link = links.get(partner.id)
            partner.xero_url = link.connection_id._remote_url("contact", link.remote_id) or False if link else False
            partner.xero_contact_id = link.remote_id if link else False
            partner.xero_contact_name = link.remote_name if link else False
            partner.xero_last_sync = link.synced_at if link else False

    def _search_xero_contact_id(self, operator, value):
        return self._coworks_search_linked(operator, value)

    def _coworks_link_company(self):
        # A customer is shared by the companies of the database; each shows its own contact.
        return self.env.company

    @api.depends_context("company")
    def _compute_xero_sync(self):
        self.env["coworks.sync.job"]._compute_document_sync(self, "contact")

    def action_open_xero_jobs(self):
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_open_for(self.commercial_partner_id, ["contact"])

    def action_xero_retry(self):
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_retry_for(self.commercial_partner_id, ["contact"])

    # ------------------------------------------------------------------ sync

    # Changes to these fields reach the Xero contact.
    _COWORKS_XERO_SYNCED_FIELDS = frozenset({
        "name", "email", "phone", "street", "street2", "city", "zip", "state_id",
        "country_id", "vat", "is_company", "ref", "property_product_pricelist",
        "specific_property_product_pricelist",
    })

    def write(self, vals):
        res = super().write(vals)
        if self._COWORKS_XERO_SYNCED_FIELDS & vals.keys():
            self._coworks_xero_enqueue_known_contacts()
        return res

    def _coworks_xero_enqueue_known_contacts(self):
        """Queue an update for commercial partners already pushed to Xero (in any company whose
        sync is on): which ones, and under which connection, is one indexed read of the log and
        the links (old log entries may have been cleaned up); the upsert is a second statement."""
        commercial = self.commercial_partner_id
        if not commercial:
            return
        Job = self.env["coworks.sync.job"].sudo()
        Job.flush_model(["res_model", "res_id", "kind", "company_id"])
        self.env["coworks.sync.link"].flush_model(["res_model", "res_id", "remote_id", "company_id", "connection_id"])
        self.env["coworks.sync.connection"].flush_model(["company_id", "active"])
        self.env["res.company"].flush_model(["coworks_xero_sync_enabled"])
        self.env.cr.execute("""
            WITH known AS (
                SELECT res_id, company_id FROM coworks_sync_job
                 WHERE res_model = 'res.partner' AND kind = 'contact' AND res_id = ANY(%s)
                UNION
                SELECT l.res_id, l.company_id FROM coworks_sync_link l
                  JOIN coworks_sync_connection c ON c.id = l.connection_id AND c.active
                 WHERE l.res_model = 'res.partner' AND l.res_id = ANY(%s) AND l.remote_id IS NOT NULL
            )
            SELECT k.res_id, k.company_id, conn.id
              FROM known k
              JOIN res_company co ON co.id = k.company_id AND co.coworks_xero_sync_enabled
              CROSS JOIN LATERAL (SELECT id FROM coworks_sync_connection
                                   WHERE company_id = k.company_id AND active ORDER BY id LIMIT 1) conn
        """, [commercial.ids, commercial.ids])
        found = self.env.cr.fetchall()
        if not found:
            return
        names = {p.id: (p.display_name or "")[:250] for p in self.browse({r[0] for r in found})}
        now = fields.Datetime.now()
        Job._enqueue_rows([(company_id, conn_id, "res.partner", partner_id, names[partner_id], "contact", "upsert",
                            KIND_PRIORITY["contact"], self.env.uid, now)
                           for partner_id, company_id, conn_id in sorted(found)])

    def _coworks_xero_email(self):
        """The contact's email: the partner's own, else its first member's (Coworks' "team
        admin" semantics)."""
        self.ensure_one()
        if self.email:
            return self.email
        member = self.child_ids.filtered("email")[:1]
        return member.email or ""

    def _coworks_xero_currency(self, conn):
        """The contact's default currency in Xero: the currency of the customer's pricelist,
        when the organisation has it enabled (else Xero would refuse the contact)."""
        self.ensure_one()
        pricelist = self.with_company(conn.company_id).property_product_pricelist
        code = pricelist.currency_id.name or ""
        if not code or code == conn.company_id.currency_id.name:
            return ""
        enabled = self.env["coworks.xero.currency"].sudo().search_count(
            [("connection_id", "=", conn.id), ("code", "=", code)])
        return code if enabled or code == conn.base_currency_code else ""

    def _coworks_xero_prefetch(self, conn):
        """What the contact snapshots of a batch read, read once for all of them."""
        partners = self.with_company(conn.company_id)
        partners.mapped("property_product_pricelist.currency_id.name")
        partners.mapped("xero_contact_id")
        partners.mapped("state_id.name")
        partners.mapped("country_id.code")

    def _coworks_xero_snapshot(self, job, conn):
        from ..services.documents import Address, Customer
        self.ensure_one()
        partner = self.with_company(conn.company_id)
        return Customer(
            ref=f"res.partner,{self.id}",
            name=(self.name or "").strip() or _("Customer %s", self.id),
            email=(self._coworks_xero_email() or "").strip(),
            phone=self.phone or "",
            vat=self.vat or "",
            address=Address(street=self.street or "", street2=self.street2 or "",
                            city=self.city or "", zip=self.zip or "",
                            state=self.state_id.name or "", country_code=self.country_id.code or ""),
            currency_code=partner._coworks_xero_currency(conn),
            contact_number=f"ODOO-{self.id}",
            remote_id=partner.xero_contact_id or "",
            active=self.active,
            synced_at=partner._coworks_xero_changed_by_us_at(conn) if partner.xero_contact_id else None,
        )

    def _coworks_xero_changed_by_us_at(self, conn):
        """The last time this integration changed the contact in Xero (naive UTC): a change Xero
        reports after it was made by someone else (documents.edited_on_both_sides). Sending a
        customer's documents changes its contact too: Xero marks it a customer at its first invoice
        and moves its UpdatedDateUTC, maybe seconds after the contact was sent (a slow answer, a
        later batch). So the time Xero answered the customer's latest document counts as well.
        One statement, on the job table's (res_model, res_id) and the moves' partner."""
        self.ensure_one()
        self.env["coworks.sync.job"].flush_model(["res_model", "res_id", "connection_id", "state", "date_done"])
        self.env["account.move"].flush_model(["commercial_partner_id"])
        self.env.cr.execute("""
            SELECT max(job.date_done) FROM coworks_sync_job job
              JOIN account_move move ON move.id = job.res_id
             WHERE job.res_model = 'account.move' AND job.connection_id = %s AND job.state = 'done'
               AND move.commercial_partner_id = %s
        """, [conn.id, self.commercial_partner_id.id])
        documents_at = self.env.cr.fetchone()[0]
        return max(filter(None, [self.xero_last_sync, documents_at]), default=None)

    def _coworks_xero_apply_result(self, job, result):
        self.ensure_one()
        both_sides = (result.details or {}).get("edited_on_both_sides")
        if both_sides:
            # Both sides edited the contact: Odoo's version now stands in Xero; say so on the customer.
            self.sudo()._message_log(body=both_sides)
        self._coworks_link_write(job.connection_id, {
            "remote_id": result.remote_id, "synced_at": fields.Datetime.now(),
            "remote_name": (result.details or {}).get("name") or self.name,
        })

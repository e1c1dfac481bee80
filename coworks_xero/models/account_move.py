from odoo import _, api, fields, models

from .sync_engine import DependencyPending, _Skip
from .xero_mapping import MappingError

from .common import DOCUMENT_SYNC_STATES
from .sync_job import PAUSE_REASONS


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "coworks.sync.linked.mixin"]

    coworks_campus_id = fields.Many2one(
        "coworks.campus", "Campus", index=True, check_company=True,
        compute="_compute_coworks_campus_id", store=True, readonly=False, precompute=True,
        help="Xero tracking of this invoice's lines; defaults to the customer's campus.")
    # What Xero holds for this document, in the organisation of the company's connection
    # (coworks.sync.link): another organisation's IDs are never shown nor sent.
    xero_id = fields.Char("Xero ID", compute="_compute_xero_link", search="_search_xero_id",
                          help="Xero InvoiceID or CreditNoteID.")
    xero_number = fields.Char("Xero number", compute="_compute_xero_link")
    xero_status = fields.Char("Xero status", compute="_compute_xero_link", search="_search_xero_status")
    xero_last_sync = fields.Datetime("Last synced to Xero", compute="_compute_xero_link")
    xero_amount_due = fields.Monetary("Amount due in Xero", compute="_compute_xero_link",
                                      currency_field="currency_id",
                                      help="As Xero last reported it (credit notes: the credit left).")
    xero_status_at = fields.Datetime("Xero status as of", compute="_compute_xero_link",
                                     help="When Xero last changed what it reported here.")
    xero_url = fields.Char("Open in Xero", compute="_compute_xero_link",
                           help="Xero's own link to this document, in its organisation.")
    xero_sync_state = fields.Selection(DOCUMENT_SYNC_STATES, compute="_compute_xero_sync",
                                       string="Xero sync")
    xero_job_count = fields.Integer(compute="_compute_xero_sync")
    xero_sync_error = fields.Text(compute="_compute_xero_sync")
    xero_sync_paused = fields.Selection(PAUSE_REASONS, compute="_compute_xero_sync", string="Xero sync paused")

    @api.depends("partner_id")
    def _compute_coworks_campus_id(self):
        for move in self:
            if not move.coworks_campus_id and move.partner_id:
                move.coworks_campus_id = move.partner_id.commercial_partner_id.coworks_campus_id \
                    or move.partner_id.coworks_campus_id

    @api.depends_context("coworks_sync_connection_id")
    def _compute_xero_link(self):
        links = self._coworks_links()
        for move in self:
            link = links.get(move.id)
            move.xero_url = link.connection_id._remote_url(move._coworks_xero_kind() or "",
                                                           link.remote_id) or False if link else False
            move.xero_id = link.remote_id if link else False
            move.xero_number = link.remote_number if link else False
            move.xero_status = link.remote_status if link else False
            move.xero_last_sync = link.synced_at if link else False
            move.xero_amount_due = link.remote_amount_due if link and link.remote_status_at else 0.0
            move.xero_status_at = link.remote_status_at if link else False

    def _search_xero_id(self, operator, value):
        return self._coworks_search_linked(operator, value)

    def _search_xero_status(self, operator, value):
        return self._coworks_search_linked(operator, value, column="remote_status")

    def _compute_xero_sync(self):
        self.env["coworks.sync.job"]._compute_document_sync(self, ("invoice", "credit_note"))

    def action_open_xero_jobs(self):
        """The sync log of this document: its own entries and those of its payments."""
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_open_for(self, ["invoice", "credit_note"])

    def action_xero_retry(self):
        """Send this document's failed entries (its own and its payments') again."""
        self.ensure_one()
        return self.env["coworks.sync.job"]._action_retry_for(self, ["invoice", "credit_note"])

    # ------------------------------------------------------------------ sync triggers

    def _coworks_xero_kind(self):
        return {"out_invoice": "invoice", "out_refund": "credit_note"}.get(self.move_type)

    def _post(self, soft=True):
        posted = super()._post(soft)
        posted._coworks_xero_enqueue("upsert")
        return posted

    def button_cancel(self):
        to_void = self.filtered(lambda m: m.state == "posted")
        # Also a draft that reached Xero (linked under its company's active connection), or whose
        # earlier send may have reached it without Odoo learning its ID: one read, none when its
        # company does not sync.
        drafts = (self - to_void).filtered(lambda m: m._coworks_xero_kind() and m.company_id.coworks_xero_sync_enabled)
        if drafts:
            self.env["coworks.sync.job"].flush_model(["res_model", "res_id", "operation", "maybe_sent"])
            self.env["coworks.sync.link"].flush_model(["connection_id", "res_model", "res_id", "remote_id"])
            self.env["coworks.sync.connection"].flush_model(["company_id", "active"])
            self.env.cr.execute("""
                SELECT res_id FROM coworks_sync_job
                 WHERE res_model = 'account.move' AND res_id = ANY(%s) AND operation = 'upsert' AND maybe_sent
                UNION
                SELECT l.res_id FROM coworks_sync_link l
                  JOIN account_move m ON m.id = l.res_id
                  JOIN LATERAL (SELECT id FROM coworks_sync_connection
                                 WHERE company_id = m.company_id AND active ORDER BY id LIMIT 1) c ON c.id = l.connection_id
                 WHERE l.res_model = 'account.move' AND l.res_id = ANY(%s) AND COALESCE(l.remote_id, '') != ''
            """, [drafts.ids, drafts.ids])
            to_void |= self.browse(r[0] for r in self.env.cr.fetchall())
        res = super().button_cancel()
        cancelled = to_void.filtered(lambda m: m.state == "cancel")
        cancelled._coworks_xero_enqueue("cancel")
        # A create/update that was waiting for a person is moot once the document is cancelled.
        if cancelled:
            self.env["coworks.sync.job"].sudo().search([
                ("res_model", "=", self._name), ("res_id", "in", cancelled.ids),
                ("operation", "=", "upsert"), ("state", "=", "error"),
            ]).write({"state": "skipped", "log_note": _("Not sent: the document was cancelled in Odoo.")})
        return res

    def unlink(self):
        # A document deleted in Odoo after it reached Xero, or after a push whose answer never
        # came (it may be in Xero without Odoo knowing its ID), is voided there: Xero keeps
        # numbers and never forgets a receivable.
        Job = self.env["coworks.sync.job"].sudo()
        candidates = self.filtered(lambda m: m._coworks_xero_kind()
                                   and (m.xero_status or "") not in ("VOIDED", "DELETED"))
        maybe_sent = set(Job.search([
            ("res_model", "=", self._name), ("res_id", "in", candidates.filtered(lambda m: not m.xero_id).ids),
            ("operation", "=", "upsert"), ("maybe_sent", "=", True)]).mapped("res_id"))
        doomed = candidates.filtered(lambda m: m.xero_id or m.id in maybe_sent)
        if doomed:
            # What the cancel needs once the document is gone: its Xero ID, or its number and
            # customer's contact to find it by.
            facts = {}
            for move in doomed:
                contact = move.commercial_partner_id.with_company(move.company_id).xero_contact_id
                facts[move.id] = {"remote_id": move.xero_id or False, "record_name": move.name,
                                  "remote_contact_id": contact or False}
            doomed._coworks_xero_enqueue("cancel")
            for job in Job.search([("res_model", "=", self._name), ("res_id", "in", doomed.ids),
                                   ("operation", "=", "cancel"), ("state", "=", "pending")]):
                job.write(facts[job.res_id])
        return super().unlink()

    @api.model
    def _coworks_xero_deleted_snapshot(self, job, conn):
        """The cancel of a document deleted in Odoo: its Xero ID, or its number and its customer's
        Xero contact, are all that is left (on the job)."""
        from ..services import documents as d
        kind = d.KIND_CREDIT_NOTE if job.kind == "credit_note" else d.KIND_INVOICE
        return d.Document(ref=f"account.move,{job.res_id}", kind=kind, number=job.record_name or "",
                          date=fields.Date.context_today(self),
                          customer=d.Customer(ref="", name="", remote_id=job.remote_contact_id or ""),
                          lines=[], currency_code="", remote_id=job.remote_id or "", status="VOIDED")

    def _coworks_xero_remote_links(self):
        """(payment_ids, allocation_ids): the Xero PaymentIDs and AllocationIDs this integration
        created on this document. Only those may be removed automatically (e.g. to void or to
        re-create the document); anything else found in Xero blocks with a clear error. The
        payments part of the addon overrides this."""
        self.ensure_one()
        return [], []

    def _coworks_xero_changed_by_us_at(self):
        """The last time this integration changed the document in Xero (naive UTC): a change
        Xero reports after it was made by someone else. The payments part adds its money."""
        self.ensure_one()
        return self.xero_last_sync or None

    def _coworks_xero_enqueue(self, operation):
        """Queue these documents (and, for an upsert, their customers not in Xero yet: the worker
        sends contacts first) in one statement of the user's transaction."""
        moves = self.filtered(lambda m: m._coworks_xero_kind())
        if not moves:
            return
        Job = self.env["coworks.sync.job"].sudo()
        if not Job._sync_connections_by_company(moves.company_id):
            return  # sync off (or no connection): nothing to read, nothing to queue
        kinds = {kind: moves.filtered(lambda m, k=kind: m._coworks_xero_kind() == k)
                 for kind in ("invoice", "credit_note")}
        parts = [(recs, kind, operation, None, False) for kind, recs in kinds.items() if recs]
        if operation == "upsert":
            companies_of = {}
            for move in moves:
                companies_of.setdefault(move.commercial_partner_id, self.env["res.company"])
                companies_of[move.commercial_partner_id] |= move.company_id
            partners = self.env["res.partner"].union(*companies_of)
            parts.append((partners, "contact", "upsert", lambda p: companies_of[p], True))
        Job._enqueue_parts(parts)

    # ------------------------------------------------------------------ snapshots

    def _coworks_xero_prefetch(self, conn):
        """What the document snapshots of a batch read, read once for all of them."""
        self.commercial_partner_id._coworks_xero_prefetch(conn)
        # The links under this connection for the whole batch (one search), not one a document
        self.mapped("xero_id")
        self.mapped("invoice_line_ids.tax_ids")
        self.mapped("invoice_line_ids.product_id.product_tmpl_id")

    def _coworks_xero_snapshot(self, job, conn):
        """The invoice or credit note as a provider-neutral document, with mappings applied."""
        from ..services import documents as d
        self.ensure_one()
        partner = self.commercial_partner_id.with_company(conn.company_id)
        kind = d.KIND_INVOICE if self.move_type == "out_invoice" else d.KIND_CREDIT_NOTE
        customer = partner._coworks_xero_snapshot(job, conn)
        payment_ids, allocation_ids = self._coworks_xero_remote_links()
        if job.operation == "cancel":
            return d.Document(ref=f"account.move,{self.id}", kind=kind, number=self.name,
                              date=self.invoice_date or self.date, customer=customer, lines=[],
                              currency_code=self.currency_id.name, remote_id=self.xero_id or "",
                              status="VOIDED", remote_payment_ids=list(payment_ids),
                              remote_allocation_ids=list(allocation_ids))
        if self.state != "posted":
            # Reset to draft (it is sent again when re-posted) or cancelled (the cancel job
            # voids it): nothing to create or update now.
            raise _Skip(_("Not sent: the document is %s in Odoo.", dict(
                self._fields["state"]._description_selection(self.env)).get(self.state, self.state)))
        if not customer.remote_id:
            raise DependencyPending(_("Waiting for the customer %s to reach Xero.", partner.display_name))
        campus = self.coworks_campus_id or partner.coworks_campus_id
        digits = self.currency_id.decimal_places
        no_tax = None
        lines = []
        price_modes = set()
        for line in self.invoice_line_ids.sorted("sequence"):
            if line.display_type in d.TEXT_LINES:
                lines.append(d.Line(description=line.name or "-", display_type=line.display_type,
                                    ref=f"account.move.line,{line.id}"))
                continue
            if line.display_type != "product":
                continue
            try:
                mapping = conn._resolve_product_mapping(line.product_id)
                if line.tax_ids:
                    tax = conn._resolve_tax(line.tax_ids)
                else:
                    no_tax = no_tax or conn._resolve_tax(line.tax_ids)
                    tax = no_tax
                tracking = []
                line_campus = line._coworks_xero_campus() or campus
                campus_tracking = conn._resolve_campus_tracking(line_campus)
                if campus_tracking:
                    tracking.append(d.Tracking(*campus_tracking, source=_("campus %s", line_campus.name)))
                # self.env._: a comprehension's frame does not tell _() the language
                tracking += [d.Tracking(*t, source=self.env._("item mapping %s", mapping.get("label") or ""))
                             for t in mapping["tracking"]
                             if not campus_tracking or t[0] != campus_tracking[0]]
            except MappingError as exc:
                label = ((line.name or "").strip().splitlines() or [line.product_id.display_name or _("line %s", line.sequence)])[0]
                raise MappingError(_("Line “%(line)s”: %(err)s", line=label[:60], err=exc)) from None
            price_modes.update(line.tax_ids.mapped("price_include"))
            lines.append(d.Line(
                description=line.name or line.product_id.display_name or "-",
                quantity=_dec(line.quantity).normalize(), unit_price=_dec(line.price_unit).normalize(),
                discount_percent=_dec(line.discount).normalize(),
                account_code=mapping["account_code"], item_code=mapping["item_code"], tax_type=tax["tax_type"],
                # Xero's rate when it agrees with Odoo's: the tax is sent only where Xero's per-line
                # rounding would differ; the mapping may instead send Odoo's amounts as they are.
                tax_rate=tax["rate"], send_tax_amount=tax["send_tax_amount"],
                tax_override_reason=tax["reason"],
                subtotal=_dec(line.price_subtotal, digits),
                tax_amount=_dec(line.price_total, digits) - _dec(line.price_subtotal, digits),
                total=_dec(line.price_total, digits), tracking=tracking[:2], ref=f"account.move.line,{line.id}",
                mapping_source=mapping.get("label") or "", tax_source=line.tax_ids[:1].name or "",
            ))
        # Xero has one LineAmountTypes per document. Mixed tax-included and tax-excluded lines are
        # sent as tax-exclusive with Odoo's own untaxed amounts and taxes; the included-price
        # lines then show their quantity x price in the description (see payloads.py).
        if not any(line.tax_ids for line in self.invoice_line_ids):
            amount_types = d.TAX_NONE
        elif price_modes == {True}:
            amount_types = d.TAX_INCLUSIVE
        else:
            amount_types = d.TAX_EXCLUSIVE
        foreign = self.currency_id != self.company_id.currency_id
        return d.Document(
            ref=f"account.move,{self.id}", kind=kind, number=self.name,
            date=self.invoice_date or self.date, due_date=self.invoice_date_due,
            customer=customer, lines=lines, currency_code=self.currency_id.name,
            line_amount_types=amount_types,
            reference=(self.ref or self.payment_reference or "")[:255],
            currency_rate=_dec(self.invoice_currency_rate, 6) if foreign and self.invoice_currency_rate else None,
            amount_untaxed=_dec(self.amount_untaxed, self.currency_id.decimal_places), amount_tax=_dec(self.amount_tax, self.currency_id.decimal_places),
            amount_total=_dec(self.amount_total, self.currency_id.decimal_places), status="AUTHORISED",
            remote_id=self.xero_id or "",
            url=self._coworks_xero_backlink(),
            rounding_account_code=conn.rounding_account_id.code or "",
            remote_payment_ids=list(payment_ids), remote_allocation_ids=list(allocation_ids),
            # Only this integration writes VOIDED/DELETED here (from its own cancel job).
            allow_recreate=(self.xero_status or "") in ("VOIDED", "DELETED"),
            synced_at=self._coworks_xero_changed_by_us_at(),
        )

    def _coworks_xero_backlink(self):
        """The Odoo document's address, shown in Xero as a link back ("Go to …"). Only over
        https: Xero is a public service, and an address it cannot open helps no one."""
        base = self.get_base_url() or ""
        return f"{base.rstrip('/')}/odoo/account.move/{self.id}" if base.startswith("https://") else ""

    def _coworks_xero_apply_result(self, job, result):
        self.ensure_one()
        vals = {"synced_at": fields.Datetime.now(), "remote_status": result.remote_status or None}
        if result.remote_id:
            vals["remote_id"] = result.remote_id
            if self.xero_id and result.remote_id != self.xero_id and job.operation == "upsert":
                # Voided and re-created under a new number: say why where the accountant looks.
                notes = (result.details or {}).get("notes") or []
                self.sudo()._message_log(body=_(
                    "Re-created in Xero as %(number)s (the earlier copy %(old)s is voided there): %(why)s",
                    number=result.remote_number or "", old=self.xero_number or self.name,
                    why=notes[0] if notes else _("Xero could not update it in place.")))
        if result.remote_number:
            vals["remote_number"] = result.remote_number
        both_sides = (result.details or {}).get("edited_on_both_sides")
        if both_sides:
            # Both sides edited it: Odoo's version now stands in Xero; say so where people look.
            self.sudo()._message_log(body=both_sides)
        # The link row is this integration's own bookkeeping: one SQL upsert, without
        # account.move.write's line synchronisation, balance checks and mail tracking, which
        # have nothing to check here and cost about 60 ms an invoice, more than building and
        # sending it (docs/architecture.md, "Write-back").
        self._coworks_link_write(job.connection_id, vals)


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    coworks_campus_id = fields.Many2one(
        "coworks.campus", "Campus", index="btree_not_null",
        help="Campus of this line when it differs from the invoice's (Xero tracking).")

    def _coworks_xero_campus(self):
        self.ensure_one()
        return self.coworks_campus_id


def _dec(value, digits=None):
    """A float from the ORM as a Decimal, rounded half-up to ``digits`` like Odoo's float_round."""
    from decimal import ROUND_HALF_UP, Decimal
    d = Decimal(repr(float(value or 0.0)))
    return d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP) if digits is not None else d

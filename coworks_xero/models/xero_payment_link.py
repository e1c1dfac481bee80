"""Money moves in Xero, one per Odoo reconciliation part.

Odoo records money against a customer document as a reconciliation (``account.partial.reconcile``)
between the document's receivable line and the receivable line of a payment, a bank statement
line or a credit note. Each such part becomes one ``coworks.xero.payment.link`` and one sync job
whose record is the link:

- invoice ↔ inbound payment (or bank statement line) → a Xero Payment on the invoice (``payment``);
- credit note ↔ outbound payment → a Xero refund Payment on the credit note (``refund``, Xero's
  ARCREDITPAYMENT);
- invoice ↔ credit note → a Xero credit note Allocation (``allocation``).

Customer credit (a payment larger than what it reconciles, or reconciled with nothing: a deposit;
or money received on a bank statement line and matched with the customer's receivable for more
than the invoices it settles, or with the receivable alone) is money Xero cannot take as a Payment
(``/Payments`` refuses more than is outstanding): it becomes a Xero *Overpayment*
(``overpayment``: a RECEIVE-OVERPAYMENT bank transaction from the payment's or statement line's
journal's bank account), and each later reconciliation of that credit with an invoice an
allocation of it (``overpayment_allocation``), never a second payment. The credit's *owner* is
``credit_payment_id`` or ``credit_statement_line_id`` (exactly one is set); both models offer the
same ``_coworks_xero_credit_*`` methods. See ``_coworks_xero_sync_credit``.

Customer credit paid back (an outbound customer payment, or money paid out on a bank statement
line, reconciled with the receipt whose credit it is) is a Xero refund Payment out of that
overpayment (``overpayment_refund``: ``Overpayment: {OverpaymentID}``, AROVERPAYMENTPAYMENT); the
credit written off by a journal entry is the same refund from the connection's write-off account.
Credit Xero does not hold as an overpayment (left by a journal entry, not by money received)
cannot be refunded there: its refund link is a job that says so.

So a payment that settles three invoices is three Xero payments (Xero pays one document per
Payment), and undoing one reconciliation undoes exactly its Xero counterpart. The link outlives
the reconciliation (state ``to_delete``) until the Xero side is removed.

Write-offs ("Mark as fully paid" in the payment wizard with a write-off account): Odoo books the
payment for the cash received plus a write-off line, and reconciles the invoice in full. In Xero
the invoice is closed the way Xero's own guidance for small write-offs does it: the cash part is a
payment from the journal's bank account, the written-off part is a second payment from the
connection's *write-off account* (an expense account with "Enable payments to this account"
turned on, e.g. "Bad debts" or "Bank fees"). Like Odoo's write-off line it carries no tax, so both
ledgers agree; a credit note would instead adjust sales tax, which Odoo did not. When no write-off
account is set the write-off part waits as "Mapping to fix" and names the setting to fill.
"""
from decimal import ROUND_HALF_UP, Decimal

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..services.xero import rules
from .sync_engine import DependencyPending, _Skip
from .sync_job import KIND_PRIORITY
from .xero_mapping import MappingError

LINK_KINDS = [("payment", "Payment"), ("refund", "Refund"), ("allocation", "Credit allocation"),
              ("overpayment", "Overpayment"), ("overpayment_allocation", "Overpayment allocation"),
              ("overpayment_refund", "Refund of customer credit")]
ACTIVE_STATES = ("pending", "synced")
# Customer credit: the overpayment after its contact (10) and before money on documents (30),
# so a credit made and applied in one run is sent in that order.
CREDIT_KINDS = ("overpayment", "overpayment_allocation", "overpayment_refund")
KIND_PRIORITY.setdefault("overpayment", 25)
KIND_PRIORITY.setdefault("overpayment_allocation", 30)
KIND_PRIORITY.setdefault("overpayment_refund", 30)
# Why a reconciliation Odoo made has no counterpart in Xero (its job says so): the stable code.
NOT_REPRESENTABLE = "not_representable"


def _dec(value, digits):
    return Decimal(repr(float(value or 0.0))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


class XeroPaymentLink(models.Model):
    """One Xero Payment (or credit-note allocation) that mirrors part of an Odoo reconciliation.

    An Odoo payment that settles several invoices is several Xero payments, and an allocation of
    a credit note to an invoice has no Odoo payment at all, so the link lives here rather than on
    ``account.payment``; it survives unreconciliation so the Xero side can be undone.
    """

    _name = "coworks.xero.payment.link"
    _description = "Xero payment link"
    _order = "id desc"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True)
    connection_id = fields.Many2one("coworks.sync.connection", required=True, index=True,
                                    ondelete="cascade")
    kind = fields.Selection(LINK_KINDS, required=True)
    role = fields.Selection([("cash", "Money received/paid"), ("writeoff", "Write-off")],
                            default="cash", required=True,
                            help="Write-off: the part of the document closed with a write-off in Odoo.")
    payment_id = fields.Many2one("account.payment", index=True, ondelete="set null")
    money_move_id = fields.Many2one("account.move", "Money entry", ondelete="set null",
                                    help="The payment's or bank statement line's journal entry.")
    journal_id = fields.Many2one("account.journal", ondelete="set null")
    move_id = fields.Many2one("account.move", "Document", index=True, ondelete="set null",
                              help="The invoice paid, or the credit note refunded.")
    credit_note_id = fields.Many2one("account.move", "Credit note", index="btree_not_null",
                                     ondelete="set null")
    partial_id = fields.Many2one("account.partial.reconcile", index="btree_not_null", ondelete="set null")
    partial_key = fields.Char(index=True, help="Which Odoo reconciliation this mirrors.")
    amount = fields.Monetary(currency_field="currency_id")
    currency_id = fields.Many2one("res.currency")
    currency_rate = fields.Float(digits=(16, 6), help="Units of the document's currency per unit of "
                                                      "the company currency on the payment date.")
    reference = fields.Char()
    date = fields.Date()
    xero_id = fields.Char("Xero PaymentID / AllocationID", index="btree_not_null", readonly=True)
    # Customer credit (kinds overpayment / overpayment_allocation / overpayment_refund): the payment
    # whose credit it is (not ``payment_id``: that payment's Xero payments stay what
    # ``xero_payment_link_ids`` lists)...
    credit_payment_id = fields.Many2one("account.payment", "Payment (credit)", index="btree_not_null",
                                        ondelete="set null")
    # ...or the bank statement line whose credit it is (money received on the statement and matched
    # with the customer's receivable beyond its invoices): exactly one of the two is set.
    credit_statement_line_id = fields.Many2one("account.bank.statement.line", "Statement line (credit)",
                                               index="btree_not_null", ondelete="set null")
    partner_id = fields.Many2one("res.partner", "Customer", index="btree_not_null", ondelete="set null",
                                 help="Overpayment: the customer whose credit it is.")
    credit_link_id = fields.Many2one("coworks.xero.payment.link", "Overpayment", index="btree_not_null",
                                     ondelete="set null", help="Overpayment allocation: the overpayment applied.")
    xero_transaction_id = fields.Char("Xero BankTransactionID", readonly=True,
                                      help="Overpayment: the bank transaction that created it in Xero "
                                           "(deleted to void it).")
    state = fields.Selection([("pending", "To send"), ("synced", "In Xero"),
                              ("to_delete", "To delete"), ("deleted", "Deleted")],
                             default="pending", required=True)

    @api.depends("kind", "role", "move_id", "credit_note_id", "payment_id", "reference", "credit_payment_id",
                 "credit_statement_line_id")
    def _compute_display_name(self):
        kinds = dict(LINK_KINDS)
        for link in self:
            what = _("Write-off") if link.role == "writeoff" else kinds.get(link.kind, "")
            if link.kind == "allocation":
                link.display_name = f"{what} {link.credit_note_id.name or ''} → {link.move_id.name or ''}"
            elif link.kind == "overpayment":
                link.display_name = f"{what} {link.reference or ''} ({link.partner_id.name or ''})"
            elif link.kind == "overpayment_allocation":
                link.display_name = f"{what} {link.credit_link_id.reference or ''} → {link.move_id.name or ''}"
            elif link.kind == "overpayment_refund":
                link.display_name = f"{what} {link.reference or ''} ← {link._coworks_xero_credit_owner().name or ''}"
            else:
                link.display_name = f"{what} {link.reference or ''} → {link.move_id.name or ''}"

    # ------------------------------------------------------------------ from reconciliations

    @api.model
    def _coworks_xero_track(self, partials):
        """Create links (and queue their jobs) for the reconciliation parts Xero must mirror."""
        if not partials:
            return self.browse()
        Job = self.env["coworks.sync.job"].sudo()
        conns = Job._sync_connections_by_company(partials.company_id)
        if not conns:
            return self.browse()
        vals_list = []
        tally = {}  # credit link id -> amount allocated by the partials of this call
        for partial in partials:
            conn = conns.get(partial.company_id)
            if conn:
                vals_list += self._coworks_xero_link_vals(partial, conn, tally=tally)
        # Payments registered from Xero (``coworks_xero_from_xero``: ((payment id, document id,
        # Xero PaymentID), ...)): their links are that Xero payment already, synced, with no job
        # to send them (no echo), instead of a job queued and marked done at once.
        from_xero = {(pay, move): xid for pay, move, xid in self.env.context.get("coworks_xero_from_xero") or ()}
        if from_xero:
            for vals in vals_list:
                xid = from_xero.get((vals.get("payment_id"), vals.get("move_id")))
                if xid and vals.get("kind") in ("payment", "refund"):
                    vals.update(xero_id=xid, state="synced")
        links = self.sudo().create(vals_list)
        links.filtered(lambda l: l.state != "synced")._coworks_xero_enqueue("upsert")
        return links

    @api.model
    def _coworks_xero_link_vals(self, partial, conn, tally=None):
        dl, cl = partial.debit_move_id, partial.credit_move_id
        dm, cm = dl.move_id, cl.move_id
        if dm.state != "posted" or cm.state != "posted":
            return []
        base = {"company_id": partial.company_id.id, "connection_id": conn.id, "partial_id": partial.id,
                "partial_key": f"account.partial.reconcile,{partial.id}"}
        if dm.move_type == "out_invoice" and cm.move_type == "out_refund":
            return [dict(base, kind="allocation", move_id=dm.id, credit_note_id=cm.id,
                         amount=partial.debit_amount_currency, currency_id=dl.currency_id.id,
                         date=max(dm.date, cm.date), reference=cm.name)]
        if dm.move_type == "out_invoice" and _is_money(cm):
            # The payment's credit already in Xero (an overpayment) is applied, not paid again.
            out, rest = self._coworks_xero_credit_allocation_vals(base, partial, dl, cl, conn, tally)
            if rest is not None:
                out += self._coworks_xero_money_vals(base, "payment", partial, dl, rest, cl)
            return out
        if cm.move_type == "out_refund" and _is_money(dm):
            return self._coworks_xero_money_vals(base, "refund", partial, cl, partial.credit_amount_currency, dl)
        # Closed by another journal entry (a write-off entry, netting against a vendor bill, a
        # manual entry): Xero has no journal entries on invoices, so it is a payment from the
        # connection's write-off account, naming the entry. Exchange differences carry no
        # amount in the document's currency and make nothing.
        if dm.move_type == "out_invoice" and cm.move_type not in ("out_invoice", "out_refund"):
            return self._coworks_xero_entry_vals(base, "payment", partial, dl, partial.debit_amount_currency, cl)
        if cm.move_type == "out_refund" and dm.move_type not in ("out_invoice", "out_refund"):
            return self._coworks_xero_entry_vals(base, "refund", partial, cl, partial.credit_amount_currency, dl)
        # Customer credit paid back (or written off): the receivable's credit (a payment's) against
        # money paid out to the customer (or a journal entry), no invoice or credit note involved.
        if dl.account_id.account_type == "asset_receivable" and cl.account_id.account_type == "asset_receivable" \
                and (_is_money(dm) or _is_money(cm)):
            return self._coworks_xero_credit_refund_vals(base, partial, dl, cl, conn, tally)
        return []

    @api.model
    def _coworks_xero_entry_vals(self, base, kind, partial, doc_line, amount, entry_line):
        entry = entry_line.move_id
        currency = doc_line.currency_id
        if currency.compare_amounts(amount, 0) <= 0:
            return []
        if entry.journal_id.type in ("bank", "cash"):
            # Money booked by hand in a bank journal: the journal's Xero bank account.
            return self._coworks_xero_money_vals(base, kind, partial, doc_line, amount, entry_line)
        rate = 0.0
        if currency != partial.company_id.currency_id and partial.amount:
            rate = amount / partial.amount
        return [dict(base, kind=kind, role="writeoff", money_move_id=entry.id, journal_id=entry.journal_id.id,
                     move_id=doc_line.move_id.id, currency_id=currency.id, currency_rate=rate,
                     date=entry.date, amount=currency.round(amount),
                     reference=_("Journal entry %s", entry.name))]

    @api.model
    def _coworks_xero_money_vals(self, base, kind, partial, doc_line, amount, money_line):
        money = money_line.move_id
        payment = money.origin_payment_id
        currency = doc_line.currency_id
        company_currency = partial.company_id.currency_id
        rate = 0.0
        if currency != company_currency:
            if money_line.currency_id == currency and money_line.balance:
                rate = abs(money_line.amount_currency / money_line.balance)
            elif partial.amount:
                rate = amount / partial.amount
        writeoff = 0.0
        if payment:
            _liquidity, counterpart, writeoff_lines = payment._seek_for_lines()
            if writeoff_lines and counterpart:
                same = all(line.currency_id == currency for line in counterpart + writeoff_lines)
                field = "amount_currency" if same else "balance"
                c_total = sum(counterpart.mapped(field))
                w_total = sum(writeoff_lines.mapped(field))
                share = -w_total / c_total if c_total else 0.0
                if share > 0:  # written off in the customer's favour (an overpayment kept as income is not)
                    writeoff = currency.round(amount * share)
        reference = (payment.name if payment else money.name) or ""
        common = dict(base, kind=kind, payment_id=payment.id, money_move_id=money.id,
                      journal_id=(payment.journal_id or money.journal_id).id, move_id=doc_line.move_id.id,
                      currency_id=currency.id, currency_rate=rate, date=payment.date or money.date)
        out = []
        cash = currency.round(amount - writeoff)
        if currency.compare_amounts(cash, 0) > 0:
            out.append(dict(common, role="cash", amount=cash, reference=reference))
        if currency.compare_amounts(writeoff, 0) > 0:
            out.append(dict(common, role="writeoff", amount=writeoff,
                            reference=_("Write-off %s", reference)))
        return out

    @api.model
    def _coworks_xero_credit_refund_vals(self, base, partial, out_line, credit_line, conn, tally):
        """Links for a reconciliation of customer credit (``credit_line``, the receivable credit of
        an inbound payment) with money paid back to the customer (``out_line``, an outbound
        payment's or a bank statement line's receivable debit) or with a journal entry that writes
        the credit off: refunds out of the payment's overpayments in Xero, oldest first; what no
        overpayment in Xero covers yet is refunded out of the one still to send (which then
        includes it), or out of a new one."""
        credit_move, out_move = credit_line.move_id, out_line.move_id
        currency = credit_line.currency_id
        amount = currency.round(partial.credit_amount_currency)
        if currency.compare_amounts(amount, 0) <= 0:
            return []  # an exchange difference: Xero computes its own
        money = out_move.origin_payment_id
        rate = 0.0
        if currency != partial.company_id.currency_id:
            if out_line.currency_id == currency and out_line.balance:
                rate = abs(out_line.amount_currency / out_line.balance)
            elif partial.amount:
                rate = amount / partial.amount
        common = dict(base, kind="overpayment_refund", money_move_id=out_move.id, payment_id=money.id,
                      journal_id=(money.journal_id or out_move.journal_id).id, currency_id=currency.id,
                      currency_rate=rate, date=max(out_move.date, credit_move.date),
                      role="cash" if _is_money(out_move) else "writeoff",
                      reference=(money.name or out_move.name or "")
                      if _is_money(out_move) else _("Journal entry %s", out_move.name))
        pay = _credit_owner_of(credit_move)
        if not pay or not pay._coworks_xero_credit_eligible():
            # Credit Xero does not hold as an overpayment: the job says why (see the snapshot).
            return [dict(common, amount=amount, partner_id=credit_line.partner_id.commercial_partner_id.id)]
        common.update(pay._coworks_xero_credit_owner_vals(), partner_id=pay._coworks_xero_credit_partner().id)
        credits = pay._coworks_xero_credits(conn)
        fixed = credits.filtered(lambda l: l._coworks_xero_credit_fixed())
        tally = {} if tally is None else tally
        out = []
        left = amount
        for credit in fixed:
            if currency.compare_amounts(left, 0) <= 0:
                break
            take = currency.round(min(credit._coworks_xero_credit_remaining(tally), left))
            if currency.compare_amounts(take, 0) > 0:
                out.append(dict(common, credit_link_id=credit.id, amount=take))
                tally[credit.id] = tally.get(credit.id, 0.0) + take
                left = currency.round(left - take)
        if currency.compare_amounts(left, 0) > 0:
            # Not in Xero as credit yet: the overpayment still to send carries it too (it is decided
            # when sent: what is left plus what its refunds pay back), or a new one is made for it.
            target = (credits - fixed)[:1] or self._coworks_xero_new_credit(pay, conn, left)
            out.append(dict(common, credit_link_id=target.id, amount=left))
        return out

    @api.model
    def _coworks_xero_credit_vals(self, pay, conn, amount):
        """An overpayment link for the credit of ``pay`` (its owner: an ``account.payment`` or an
        ``account.bank.statement.line``, which offer the same ``_coworks_xero_credit_*`` methods)."""
        return {
            "company_id": pay.company_id.id, "connection_id": conn.id, "kind": "overpayment",
            **pay._coworks_xero_credit_owner_vals(), "money_move_id": pay.move_id.id,
            "journal_id": pay.journal_id.id, "partner_id": pay._coworks_xero_credit_partner().id,
            "currency_id": pay._coworks_xero_credit_currency().id,
            "currency_rate": pay._coworks_xero_credit_rate(), "date": pay.date, "amount": amount,
            "reference": pay._coworks_xero_credit_reference(), "partial_key": pay._coworks_xero_credit_key()}

    @api.model
    def _coworks_xero_new_credit(self, pay, conn, amount):
        """A new overpayment link for ``pay``'s credit (a payment's or a statement line's), queued
        with its customer when not in Xero."""
        link = self.sudo().create(self._coworks_xero_credit_vals(pay, conn, amount))
        link._coworks_xero_enqueue_credit()
        return link

    def _coworks_xero_enqueue_credit(self):
        """Queue these overpayment links, and their customers first where not in Xero yet (one
        statement)."""
        companies_of = {}
        for link in self:
            if link.partner_id:
                companies_of.setdefault(link.partner_id, self.env["res.company"])
                companies_of[link.partner_id] |= link.company_id
        partners = self.env["res.partner"].union(*companies_of)
        self._coworks_xero_enqueue("upsert", also=[(partners, "contact", "upsert", lambda p: companies_of[p], True)])

    def _coworks_xero_undo(self):
        """The reconciliation behind these links is gone (or its payment left the posted state):
        remove their Xero counterparts. A job never sent is skipped; one that failed is cancelled."""
        links = self.filtered(lambda l: l.state in ACTIVE_STATES)
        if not links:
            return
        links.sudo().write({"state": "to_delete"})
        self.env["coworks.sync.job"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "in", links.ids),
            ("operation", "=", "upsert"), ("state", "=", "error")]).write({
                "state": "skipped", "log_note": _("Not sent: unreconciled in Odoo before it reached Xero.")})
        links._coworks_xero_enqueue("cancel")

    def _coworks_xero_enqueue(self, operation, trigger=True, also=()):
        """Queue these links' jobs (and ``also``, see ``coworks.sync.job._enqueue``) in one statement."""
        Job = self.env["coworks.sync.job"].sudo()
        if not trigger:
            Job = Job.with_context(coworks_xero_no_trigger=True)
        parts = [(self.filtered(lambda l, k=kind: l.kind == k), kind, operation, None, False)
                 for kind in ("allocation", "overpayment_allocation", "overpayment_refund", "payment", "refund",
                              "overpayment")]
        parts = [p for p in parts if p[0]] + list(also)
        Job._enqueue_parts(parts, trigger=trigger)

    # ------------------------------------------------------------------ sync engine hooks

    def _coworks_xero_prefetch(self, conn):
        """What the money snapshots of a batch read, read once for all of them: their
        documents' links under this connection (one search, not one a payment)."""
        moves = self.move_id | self.credit_note_id
        moves.mapped("xero_id")
        moves.commercial_partner_id._coworks_xero_prefetch(conn)

    def _coworks_xero_snapshot(self, job, conn):
        """The link as a documents.Payment / documents.Allocation.

        Money waits (retryable) until its documents are in Xero; a payment also waits while a
        credit allocation on the same invoice is still to be sent, because Xero refuses to
        allocate a credit note to an invoice that a payment has already paid off."""
        from ..services import documents as d
        self.ensure_one()
        if job.operation == "cancel":
            if not self.xero_id:
                # (an upsert that never sent anything will skip: the link is to_delete)
                if self.env["coworks.sync.job"].sudo().search_count([
                        ("res_model", "=", self._name), ("res_id", "=", self.id),
                        ("operation", "=", "upsert"), ("state", "=", "pending"), ("maybe_sent", "=", True)]):
                    raise DependencyPending(_("Waiting for the earlier send of %s to finish before removing it.",
                                              self.display_name))
                self.sudo().state = "deleted"
                self._coworks_xero_wake_waiting()
                if self.kind in ("overpayment_allocation", "overpayment_refund"):
                    self.credit_link_id._coworks_xero_wake_credit_jobs("cancel")  # a void waiting for it
                raise _Skip(_("It never reached Xero: nothing to remove."))
        else:
            if self.state in ("to_delete", "deleted") and not job.maybe_sent:
                raise _Skip(_("Unreconciled in Odoo before it was sent: nothing to send."))
            if self.xero_id:
                raise _Skip(_("Already in Xero (%s).", self.xero_id), sent=True)
            removing = self._coworks_xero_pending_removals()
            if removing:
                # Xero checks the amount still due: what Odoo un-applied must leave Xero first.
                raise DependencyPending(_("Waiting for %s to be removed from Xero first.",
                                          removing[:1].display_name))
        if self.kind == "overpayment":
            return self._coworks_xero_overpayment_snapshot(job, conn)
        if self.kind == "overpayment_allocation":
            return self._coworks_xero_credit_allocation_snapshot(job, conn)
        if self.kind == "overpayment_refund":
            return self._coworks_xero_credit_refund_snapshot(job, conn)
        amount = _dec(self.amount, self.currency_id.decimal_places)
        ref = f"{self._name},{self.id}"
        if self.kind == "allocation":
            invoice, credit = self.move_id, self.credit_note_id
            if job.operation == "upsert":
                for doc in (invoice, credit):
                    if not doc.xero_id:
                        raise DependencyPending(_("Waiting for %s to reach Xero.", doc.display_name))
                if invoice.currency_id != credit.currency_id:
                    raise MappingError(_("Xero applies a credit note only to an invoice in the same currency: "
                                         "%(cn)s is in %(c1)s, %(inv)s in %(c2)s.", cn=credit.name,
                                         c1=credit.currency_id.name, inv=invoice.name, c2=invoice.currency_id.name))
            return d.Allocation(ref=ref, credit_note_remote_id=credit.xero_id or "",
                                invoice_remote_id=invoice.xero_id or "", amount=amount, date=self.date,
                                remote_id=self.xero_id or "",
                                known_remote_ids=tuple(self._coworks_xero_sibling_ids("credit_note_id", credit)))
        doc = self.move_id
        is_refund = self.kind == "refund"
        if job.operation == "upsert":
            if not doc.xero_id:
                raise DependencyPending(_("Waiting for %s to reach Xero.", doc.display_name))
            earlier = not is_refund and self.search([
                ("move_id", "=", doc.id), ("kind", "=", "allocation"), ("state", "=", "pending"),
                ("id", "!=", self.id), ("create_date", "<=", self.create_date)])
            if earlier and self.env["coworks.sync.job"].sudo().search_count([
                    ("res_model", "=", self._name), ("res_id", "in", earlier.ids),
                    ("operation", "=", "upsert"), ("state", "=", "pending")]):
                raise DependencyPending(_("Waiting for the credit note applied earlier to %s to reach Xero "
                                          "(Xero cannot apply a credit note to an invoice already paid off).",
                                          doc.display_name))
        if self.role == "writeoff":
            account = conn.writeoff_account_id
            if not account:
                raise MappingError(_(
                    "%(doc)s was closed in Odoo with a write-off of %(amount)s %(cur)s (%(what)s). Xero records it "
                    "as a payment from a write-off account: choose a Xero account with payments enabled as "
                    "“Write-off account” on the Xero connection (Invoicing > Configuration > Xero > "
                    "Connections), then Retry.", doc=doc.display_name, amount=amount, cur=self.currency_id.name,
                    what=self.reference or _("payment")))
            code, source = account.code, _("the connection's write-off account")
        else:
            journal = self.journal_id
            code = conn._resolve_bank_account(journal)
            source = _("journal “%s”", journal.name)
        foreign = self.currency_id != self.company_id.currency_id
        return d.Payment(
            ref=ref, document_ref=f"account.move,{doc.id}",
            document_kind=d.KIND_CREDIT_NOTE if is_refund else d.KIND_INVOICE,
            document_remote_id=doc.xero_id or "", amount=amount, date=self.date, bank_account_code=code,
            reference=(self.reference or "")[:255],
            currency_rate=_dec(self.currency_rate, 6) if foreign and self.currency_rate else None,
            remote_id=self.xero_id or "", account_source=source,
            known_remote_ids=tuple(self._coworks_xero_sibling_ids("move_id", doc)))

    def _coworks_xero_sibling_ids(self, field, doc):
        """Xero IDs that other links on the same document own (never this link's answer)."""
        return self.sudo().search([(field, "=", doc.id), ("id", "!=", self.id), ("kind", "=", self.kind),
                                   ("xero_id", "!=", False)]).mapped("xero_id")

    def _coworks_xero_pending_removals(self):
        """Other links on the same documents whose removal from Xero is still to be sent (and, for
        an overpayment allocation, other allocations of the same overpayment)."""
        docs = self.move_id | self.credit_note_id
        same_doc = ["|", ("move_id", "in", docs.ids), ("credit_note_id", "in", docs.ids)]
        if self.credit_link_id:
            same_doc = ["|", ("credit_link_id", "=", self.credit_link_id.id)] + same_doc
        others = self.sudo().search([("id", "!=", self.id), ("state", "=", "to_delete")] + same_doc)
        if not others:
            return others
        jobs = self.env["coworks.sync.job"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "in", others.ids),
            ("operation", "=", "cancel"), ("state", "=", "pending")])
        return others.browse(jobs.mapped("res_id"))

    def _coworks_xero_wake_waiting(self):
        """Money on the same documents that waited for this link is sent in this run."""
        docs = self.move_id | self.credit_note_id
        waiting = self.sudo().search([("id", "!=", self.id), ("state", "=", "pending"), ("xero_id", "=", False),
                                      "|", ("move_id", "in", docs.ids), ("credit_note_id", "in", docs.ids)])
        if waiting:
            self.env["coworks.sync.job"].sudo().search([
                ("res_model", "=", self._name), ("res_id", "in", waiting.ids), ("operation", "=", "upsert"),
                ("state", "=", "pending"), ("next_attempt_at", "!=", False)]).write({"next_attempt_at": False})

    def _coworks_xero_apply_result(self, job, result):
        self.ensure_one()
        if job.operation == "cancel":
            self.sudo().write({"state": "deleted"})
            self._coworks_xero_wake_waiting()
            if self.kind in ("overpayment_allocation", "overpayment_refund"):
                self.credit_link_id._coworks_xero_wake_credit_jobs("cancel")  # a void waiting for it
            return
        vals = {"xero_id": result.remote_id or self.xero_id}
        if self.kind == "overpayment":
            vals["xero_transaction_id"] = (result.details or {}).get("bank_transaction_id") or self.xero_transaction_id
        if self.state == "pending":
            vals["state"] = "synced"
        self.sudo().write(vals)  # a link unreconciled meanwhile stays to_delete: its cancel job removes it
        if self.kind == "allocation":
            self._coworks_xero_wake_waiting()  # payments that waited for this allocation
        if self.kind == "overpayment":
            self._coworks_xero_wake_credit_jobs("upsert")  # its allocations

    # ------------------------------------------------------------------ customer credit (overpayments)

    @api.model
    def _coworks_xero_sync_credit(self, payments, unapplied=False):
        """Keep each payment's customer credit in Xero as Odoo has it (``payments``: customer
        payments, or bank statement lines: what is said of a payment holds for a line).

        Odoo's truth is the payment's receivable residual (what it paid and applies to nothing).
        Xero's, as this integration made it, is the credit of the payment's live overpayment
        links (their amount less their live allocations). When Odoo's credit is larger (a payment
        posted with nothing to settle, paid beyond the invoice, or a payment un-applied from an
        invoice whose Xero payment is then deleted), a new overpayment link carries the
        difference. An overpayment not sent yet takes, when it is sent, whatever is left then
        (so a payment registered on an invoice becomes one payment and one overpayment of the
        rest, not an overpayment of all of it); nothing is made while one waits.

        ``unapplied``: the credit grew because a reconciliation was removed. Xero holds money on
        account only in the bank account's own currency; where the journal's Xero account is in
        another currency than the payment (an organisation whose base currency is not the
        company's, paid through a base-currency account), that money cannot be credit there: as
        before overpayments existed, its Xero payment is deleted and re-applying the money pays
        again. Money received unapplied (posting) always gets its overpayment, or a job saying
        which bank account it needs."""
        payments = payments.filtered(lambda p: p._coworks_xero_credit_eligible())
        if not payments:
            return self.browse()
        Job = self.env["coworks.sync.job"].sudo()
        conns = Job._sync_connections_by_company(payments.company_id)
        vals_list = []
        for pay in payments:
            conn = conns.get(pay.company_id)
            if not conn:
                continue
            live = pay._coworks_xero_credits(conn)
            if any(not link._coworks_xero_credit_fixed() for link in live):
                continue
            if unapplied and not pay._coworks_xero_credit_fits_bank(conn):
                continue
            currency = pay._coworks_xero_credit_currency()
            gap = currency.round(pay._coworks_xero_credit_left()
                                 - sum(link._coworks_xero_credit_remaining() for link in live))
            if currency.compare_amounts(gap, 0) <= 0:
                continue
            vals_list.append(self._coworks_xero_credit_vals(pay, conn, gap))
        links = self.sudo().create(vals_list)
        if links:
            links._coworks_xero_enqueue_credit()
        return links

    def _coworks_xero_credit_owner(self):
        """The payment or bank statement line whose customer credit this link is part of."""
        self.ensure_one()
        return self.credit_payment_id or self.credit_statement_line_id

    def _coworks_xero_credit_fixed(self):
        """Is this overpayment's amount decided (in Xero, or sent and maybe there)?"""
        self.ensure_one()
        if self.xero_id:
            return True
        return bool(self.env["coworks.sync.job"].sudo().search_count([
            ("res_model", "=", self._name), ("res_id", "=", self.id), ("operation", "=", "upsert"),
            ("maybe_sent", "=", True), ("state", "in", ("pending", "error", "done"))]))

    def _coworks_xero_credit_remaining(self, tally=None):
        """What is left of this overpayment once its live allocations and refunds (and those of
        ``tally``, made in the same call and not created yet) are applied, in its currency."""
        self.ensure_one()
        allocated = sum(self.sudo().search([("credit_link_id", "=", self.id),
                                            ("kind", "in", ("overpayment_allocation", "overpayment_refund")),
                                            ("state", "in", ACTIVE_STATES)]).mapped("amount"))
        return self.currency_id.round(self.amount - allocated - (tally or {}).get(self.id, 0.0))

    @api.model
    def _coworks_xero_credit_allocation_vals(self, base, partial, doc_line, money_line, conn, tally):
        """(vals, rest): the part of an invoice ↔ payment reconciliation that applies the
        payment's credit already in Xero (overpayment allocations), and the rest, to be paid as
        a Xero payment (None when nothing is)."""
        amount = partial.debit_amount_currency
        payment = _credit_owner_of(money_line.move_id)
        if not payment or not payment._coworks_xero_credit_eligible():
            return [], amount
        credits = payment._coworks_xero_credits(conn)
        credits = credits.filtered(lambda l: l._coworks_xero_credit_fixed())
        if not credits:
            return [], amount
        invoice = doc_line.move_id
        currency = doc_line.currency_id
        tally = {} if tally is None else tally
        common = dict(base, kind="overpayment_allocation", **payment._coworks_xero_credit_owner_vals(),
                      money_move_id=payment.move_id.id, journal_id=payment.journal_id.id, move_id=invoice.id,
                      currency_id=currency.id,
                      date=max(invoice.date, payment.date), reference=payment._coworks_xero_credit_reference())
        out = []
        left = amount
        for credit in credits:
            if currency.compare_amounts(left, 0) <= 0:
                break
            if credit.currency_id != currency:
                # Xero cannot apply it across currencies: the allocation's job says so.
                out.append(dict(common, credit_link_id=credit.id, amount=currency.round(left)))
                left = 0.0
                break
            room = credit._coworks_xero_credit_remaining(tally)
            take = currency.round(min(room, left))
            if currency.compare_amounts(take, 0) > 0:
                out.append(dict(common, credit_link_id=credit.id, amount=take))
                tally[credit.id] = tally.get(credit.id, 0.0) + take
                left -= take
        rest = currency.round(left)
        return out, (rest if currency.compare_amounts(rest, 0) > 0 else None)

    def _coworks_xero_overpayment_snapshot(self, job, conn):
        from ..services import documents as d
        pay = self._coworks_xero_credit_owner()
        partner = self.partner_id.with_company(conn.company_id)
        if job.operation == "cancel":
            removing = self.sudo().search([("credit_link_id", "=", self.id), ("state", "=", "to_delete")])
            if removing and self.env["coworks.sync.job"].sudo().search_count([
                    ("res_model", "=", self._name), ("res_id", "in", removing.ids), ("operation", "=", "cancel"),
                    ("state", "=", "pending")]):
                raise DependencyPending(_("Waiting for the allocations of %s to be removed from Xero first.",
                                          self.display_name))
        else:
            missing_grant = conn._coworks_credit_grant_missing()
            if missing_grant:
                raise MappingError(_("%(what)s is customer credit: %(why)s", what=self.display_name, why=missing_grant))
            if not partner.xero_contact_id:
                raise DependencyPending(_("Waiting for the customer %s to reach Xero.", partner.display_name))
            if not job.maybe_sent:
                # Decided now: what the payment still leaves as credit, less what is already in Xero.
                if not pay or not pay._coworks_xero_credit_eligible():
                    self.state = "deleted"
                    raise _Skip(_("The money received is no longer posted: no credit to send."))
                others = self.sudo().search(_owner_domain(pay) + [("kind", "=", "overpayment"),
                                             ("id", "!=", self.id), ("connection_id", "=", conn.id),
                                             ("state", "in", ACTIVE_STATES)])
                others = others.filtered(lambda l: l._coworks_xero_credit_fixed())
                # ...plus what Odoo already paid back out of it (its refunds, sent after it).
                refunded = sum(self.sudo().search([("credit_link_id", "=", self.id), ("kind", "=", "overpayment_refund"),
                                                   ("state", "in", ACTIVE_STATES)]).mapped("amount"))
                currency = pay._coworks_xero_credit_currency()
                amount = currency.round(pay._coworks_xero_credit_left() + refunded
                                        - sum(l._coworks_xero_credit_remaining() for l in others))
                if currency.compare_amounts(amount, 0) <= 0:
                    self.state = "deleted"
                    raise _Skip(_("Nothing of %s is left as credit: Odoo applied it all before it was sent, "
                                  "so it went to Xero as payments.", pay._coworks_xero_credit_reference()))
                self.write({"amount": amount, "currency_id": currency.id, "date": pay.date,
                            "currency_rate": pay._coworks_xero_credit_rate(),
                            "reference": pay._coworks_xero_credit_reference()})
        journal = self.journal_id
        code = conn._resolve_bank_account(journal)
        foreign = self.currency_id != self.company_id.currency_id
        return d.Overpayment(
            ref=f"{self._name},{self.id}", contact_remote_id=partner.xero_contact_id or "",
            amount=_dec(self.amount, self.currency_id.decimal_places), date=self.date, bank_account_code=code,
            currency_code=self.currency_id.name, reference=(self.reference or "")[:255],
            description=(_("Customer credit: bank statement line %s", self.reference or "")
                         if self.credit_statement_line_id else _("Customer credit: payment %s", self.reference or "")),
            currency_rate=_dec(self.currency_rate, 6) if foreign and self.currency_rate else None,
            remote_id=self.xero_id or "", transaction_remote_id=self.xero_transaction_id or "",
            account_source=_("journal “%s”", journal.name),
            known_remote_ids=tuple(self._coworks_xero_sibling_ids("partner_id", self.partner_id)))

    def _coworks_xero_credit_allocation_snapshot(self, job, conn):
        from ..services import documents as d
        invoice, credit = self.move_id, self.credit_link_id
        if job.operation == "upsert":
            if not invoice.xero_id:
                raise DependencyPending(_("Waiting for %s to reach Xero.", invoice.display_name))
            if not credit.xero_id:
                raise DependencyPending(_("Waiting for %s to reach Xero.", credit.display_name))
            if invoice.currency_id != credit.currency_id:
                raise MappingError(_(
                    "Xero applies a customer's credit only to an invoice in the same currency: payment %(pay)s left "
                    "%(c1)s credit, %(inv)s is in %(c2)s. Odoo reconciled them across currencies, which Xero cannot "
                    "show: un-reconcile them in Odoo and register the payment in %(c2)s (or apply the credit to an "
                    "invoice in %(c1)s); this entry can then be cancelled.", pay=credit.reference,
                    c1=credit.currency_id.name, inv=invoice.name, c2=invoice.currency_id.name))
        # Live in the provider: synced, or un-applied in Odoo with its removal still to send.
        others = self.sudo().search([("credit_link_id", "=", credit.id), ("move_id", "=", invoice.id),
                                     ("kind", "=", self.kind), ("id", "!=", self.id), ("xero_id", "!=", False),
                                     ("state", "in", ("synced", "to_delete"))])
        return d.CreditAllocation(
            ref=f"{self._name},{self.id}", credit_remote_id=credit.xero_id or "",
            invoice_remote_id=invoice.xero_id or "", amount=_dec(self.amount, self.currency_id.decimal_places),
            date=self.date, remote_id=self.xero_id or "",
            known_remote_ids=tuple(self._coworks_xero_sibling_ids("credit_link_id", credit)),
            others_on_invoice=sum((_dec(o.amount, o.currency_id.decimal_places) for o in others), Decimal(0)))

    def _coworks_xero_credit_refund_snapshot(self, job, conn):
        """A refund of customer credit as a documents.Payment out of the overpayment it is paid from."""
        from ..services import documents as d
        credit = self.credit_link_id
        amount = _dec(self.amount, self.currency_id.decimal_places)
        if job.operation == "upsert":
            if not credit:
                source = self.partial_id.credit_move_id.move_id or self.money_move_id
                raise MappingError(_(
                    "Odoo pays %(amount)s %(cur)s back to %(partner)s (%(what)s) out of credit that %(source)s left "
                    "on the customer's receivable. Xero pays a customer's credit back only out of an overpayment, "
                    "and that credit is not one in Xero (only money received and left unapplied, by a customer "
                    "payment or a bank statement line, is sent as an overpayment): nothing was sent. Record the "
                    "money received as a customer payment or a bank statement line in Odoo, or record the refund "
                    "in Xero by hand; this entry can then be cancelled.", amount=amount, cur=self.currency_id.name,
                    partner=self.partner_id.display_name or "", what=self.reference or "",
                    source=source.display_name or _("a journal entry")), code=NOT_REPRESENTABLE)
            if not credit.xero_id:
                raise DependencyPending(_("Waiting for %s to reach Xero.", credit.display_name))
            if credit.currency_id != self.currency_id:
                raise MappingError(_(
                    "Xero pays a customer's credit back in the overpayment's currency: %(pay)s left %(c1)s credit, "
                    "this refund is in %(c2)s. Un-reconcile them in Odoo and refund in %(c1)s; this entry can then "
                    "be cancelled.", pay=credit.reference, c1=credit.currency_id.name, c2=self.currency_id.name),
                    code=NOT_REPRESENTABLE)
        if self.role == "writeoff":
            account = conn.writeoff_account_id
            if not account and job.operation == "upsert":
                raise MappingError(_(
                    "%(what)s writes off %(amount)s %(cur)s of the credit of payment %(pay)s. Xero records it as a "
                    "refund of the overpayment from a write-off account: choose a Xero account with payments "
                    "enabled as “Write-off account” on the Xero connection (Invoicing > Configuration > Xero > "
                    "Connections), then Retry.", what=self.reference, amount=amount, cur=self.currency_id.name,
                    pay=credit.reference))
            code, source = account.code or "", _("the connection's write-off account")
        else:
            journal = self.journal_id
            code = conn._resolve_bank_account(journal) if job.operation == "upsert" else ""
            source = _("journal “%s”", journal.name)
        foreign = self.currency_id != self.company_id.currency_id
        return d.Payment(
            ref=f"{self._name},{self.id}", document_ref=f"{self._name},{credit.id}",
            document_kind=d.KIND_OVERPAYMENT, document_remote_id=credit.xero_id or "", amount=amount,
            date=self.date, bank_account_code=code, reference=(self.reference or "")[:255],
            currency_rate=_dec(self.currency_rate, 6) if foreign and self.currency_rate else None,
            remote_id=self.xero_id or "", account_source=source,
            known_remote_ids=tuple(self._coworks_xero_sibling_ids("credit_link_id", credit)))

    def _coworks_xero_wake_credit_jobs(self, operation):
        """Jobs waiting on this overpayment are sent in this run: its allocations once it is in
        Xero (``upsert``), its void once its allocations are removed (``cancel``)."""
        Job = self.env["coworks.sync.job"].sudo()
        if operation == "upsert":
            waiting = self.sudo().search([("credit_link_id", "in", self.ids), ("state", "=", "pending")])
            domain = [("res_id", "in", waiting.ids), ("operation", "=", "upsert")]
        else:
            domain = [("res_id", "in", self.ids), ("operation", "=", "cancel")]
        Job.search([("res_model", "=", self._name), ("state", "=", "pending"),
                    ("next_attempt_at", "!=", False)] + domain).write({"next_attempt_at": False})
        # ...and those that gave up waiting (e.g. while its bank account was being mapped) try again.
        Job.search([("res_model", "=", self._name), ("state", "=", "error"),
                    ("error_kind", "=", "retryable")] + domain).write(
            {"state": "pending", "next_attempt_at": False, "attempt_count": 0})

    @api.model
    def _coworks_xero_deleted_snapshot(self, job, conn):
        raise _Skip(_("The link was deleted; nothing to do."))

    def _message_log(self, **kwargs):
        """Failures that need a person are logged on the Odoo payment and on the document."""
        for link in self:
            for target in (link.payment_id, link.credit_payment_id, link.credit_statement_line_id.move_id,
                           link.move_id):
                if target:
                    target.sudo()._message_log(**kwargs)


def _is_money(move):
    return bool(move.origin_payment_id or move.statement_line_id)


def _credit_owner_of(move):
    """Whose customer credit a receivable line of ``move`` is: its payment, or its bank statement
    line (an empty recordset when neither: a journal entry's credit is no overpayment)."""
    return move.origin_payment_id or move.statement_line_id


def _owner_domain(owner):
    return [(field, "=", value) for field, value in owner._coworks_xero_credit_owner_vals().items()]


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    writeoff_account_id = fields.Many2one(
        "coworks.xero.account", "Write-off account", check_company=True,
        domain="[('connection_id', '=', id), ('usable_for_payments', '=', True)]",
        help="Where the part of an invoice closed with a write-off in Odoo (payment wizard, "
             "“Mark as fully paid”) is recorded in Xero: a payment from this account. Choose an expense "
             "account (e.g. Bad debts, Bank fees) with “Enable payments to this account” turned on in Xero.")

    @api.constrains("writeoff_account_id")
    def _check_writeoff_account(self):
        for conn in self.filtered("writeoff_account_id"):
            refusal = conn.writeoff_account_id._refusal_for(rules.USE_WRITEOFF)
            if refusal:
                raise ValidationError(_("Write-off account: %s", refusal))


class CoworksSyncJob(models.Model):
    _inherit = "coworks.sync.job"

    kind = fields.Selection(selection_add=[("overpayment", "Overpayment"),
                                           ("overpayment_allocation", "Overpayment allocation"),
                                           ("overpayment_refund", "Refund of customer credit")],
                            ondelete={"overpayment": "cascade", "overpayment_allocation": "cascade",
                                      "overpayment_refund": "cascade"})


class CoworksSyncRequest(models.Model):
    _inherit = "coworks.sync.request"

    kind = fields.Selection(selection_add=[("overpayment", "Overpayment"),
                                           ("overpayment_allocation", "Overpayment allocation"),
                                           ("overpayment_refund", "Refund of customer credit")],
                            ondelete={"overpayment": "cascade", "overpayment_allocation": "cascade",
                                      "overpayment_refund": "cascade"})

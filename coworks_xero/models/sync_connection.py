import datetime
import logging
import re

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from .common import PROVIDERS

_logger = logging.getLogger(__name__)

# Calls of the organisation's 60 a minute this process may use before the reads that can wait
# (webhook reads, the drift comparison) give way to the outbound sync.
BUSY_MINUTE_CALLS = 40

CONNECTION_STATES = [
    ("draft", "Not connected"),
    ("connected", "Connected"),
    ("needs_reconnect", "Needs reconnect"),
    ("disconnected", "Disconnected"),
]


# "Xero" as a word, not as a step of a menu path ("Configuration > Xero > Tax mappings").
_XERO_WORD = re.compile(r"(?<!> )\bXero\b(?! >)")


class CoworksSyncConnection(models.Model):
    """One company's link to one accounting organisation (a Xero tenant).

    Provider-neutral on purpose: ``provider`` picks the services/ package that talks to the
    remote side, the way ``payment.provider.code`` does; a second provider adds a
    selection value (``selection_add``) and its own services, and reuse jobs, mappings and screens.
    """

    _name = "coworks.sync.connection"
    _description = "Accounting connection"
    _inherit = ["mail.thread"]
    _check_company_auto = True
    _order = "company_id, id"

    name = fields.Char(compute="_compute_name", store=True)
    active = fields.Boolean(default=True)
    provider = fields.Selection(PROVIDERS, required=True, default="xero")
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company)
    state = fields.Selection(CONNECTION_STATES, required=True, default="draft", tracking=True)

    # The organisation (Xero: tenant) this company syncs with.
    tenant_id = fields.Char("Organisation ID", copy=False, index=True)
    tenant_name = fields.Char("Organisation", copy=False)
    remote_connection_id = fields.Char(
        "Connection ID", copy=False, help="Xero's id of this app-to-organisation connection.")
    base_currency_code = fields.Char("Base currency", copy=False)
    short_code = fields.Char("Organisation short code", copy=False, readonly=True,
                             help="Xero's ShortCode of the organisation: its links open documents there.")
    currency_warning = fields.Char(
        compute="_compute_currency_warning",
        help="Set when the company keeps its books in another currency than the organisation's.")
    scopes = fields.Char(copy=False, readonly=True)

    # Secrets: readable by system administrators only, never shown in a view.
    access_token = fields.Char(copy=False, groups="base.group_system")
    refresh_token = fields.Char(copy=False, groups="base.group_system")
    token_expires_at = fields.Datetime(copy=False, groups="base.group_system")

    # Health line on the settings page.
    last_success_at = fields.Datetime("Last successful call", copy=False, readonly=True)
    last_error = fields.Text(copy=False, readonly=True)
    last_error_at = fields.Datetime(copy=False, readonly=True)
    daily_calls_remaining = fields.Integer(copy=False, readonly=True)
    daily_calls_known_at = fields.Datetime(
        copy=False, readonly=True, help="When Xero last said how many calls are left today.")
    daily_calls_known = fields.Boolean(
        compute="_compute_daily_calls_known",
        help="Xero said how many calls are left within the last day (else the figure is unknown).")
    reference_data_refreshed_at = fields.Datetime("Reference data loaded", copy=False, readonly=True)

    # Defaults the mappings fall back on (chosen from the cached reference data).
    default_account_id = fields.Many2one(
        "coworks.xero.account", "Default sales account", check_company=True,
        domain="[('connection_id', '=', id), ('usable_on_sales_lines', '=', True)]",
        help="Used for invoice lines whose product and item kind have no mapping: a revenue account.")
    rounding_account_id = fields.Many2one(
        "coworks.xero.account", "Rounding account", check_company=True,
        domain="[('connection_id', '=', id), ('usable_for_rounding', '=', True)]",
        help="Where a cent difference between Odoo's and Xero's tax rounding is booked visibly. "
             "Defaults to the organisation's ROUNDING system account.")
    campus_tracking_category_id = fields.Many2one(
        "coworks.xero.tracking.category", "Campus tracking category", check_company=True,
        domain="[('connection_id', '=', id)]")

    job_ids = fields.One2many("coworks.sync.job", "connection_id")
    job_error_count = fields.Integer(compute="_compute_job_counts")
    job_pending_count = fields.Integer(compute="_compute_job_counts")

    _one_active_per_company = models.UniqueIndex(
        "(company_id, provider) WHERE (active IS TRUE)",
        "A company can be connected to one organisation per provider.",
    )

    # ------------------------------------------------------------------ rights

    @api.model
    def _manager_writable_fields(self):
        """What a Xero manager may change on a connection: the accounts and tracking the mappings
        fall back on. Everything else (organisation, state, tokens, health) is written by the
        OAuth flow and the worker (as superuser) or by a system administrator: ``readonly`` in a
        view does not stop an RPC call, this does."""
        return {"default_account_id", "rounding_account_id", "campus_tracking_category_id",
                "writeoff_account_id"}

    def write(self, vals):
        if not self.env.su and not self.env.user._is_system():
            refused = set(vals) - self._manager_writable_fields()
            if refused:
                labels = sorted(self._fields[f].string if f in self._fields else f for f in refused)
                raise AccessError(_(
                    "Only an administrator (Settings rights) can change a connection's %s: connect, "
                    "reconnect or disconnect from Settings.", ", ".join(labels)))
        if {"active", "company_id"} & vals.keys():
            self._forget_active_connections()
        return super().write(vals)

    @api.depends("tenant_name", "provider", "company_id.name")
    def _compute_name(self):
        labels = dict(self._fields["provider"].selection)
        for conn in self:
            conn.name = conn.tenant_name or _("%(provider)s (%(company)s)",
                                              provider=labels.get(conn.provider, conn.provider),
                                              company=conn.company_id.name)

    def _compute_job_counts(self):
        Job = self.env["coworks.sync.job"]
        groups = Job._read_group([("connection_id", "in", self.ids)],
                                 ["connection_id", "state"], ["__count"])
        counts = {(conn.id, state): n for conn, state, n in groups}
        for conn in self:
            conn.job_error_count = counts.get((conn.id, "error"), 0)
            conn.job_pending_count = counts.get((conn.id, "pending"), 0)

    @api.depends("base_currency_code", "company_id.currency_id", "tenant_name")
    def _compute_currency_warning(self):
        for conn in self:
            ours, theirs = conn.company_id.currency_id.name, conn.base_currency_code
            conn.currency_warning = _(
                "%(company)s keeps its books in %(ours)s and %(org)s in %(theirs)s: every invoice, credit "
                "note and payment reaches Xero in %(ours)s at Odoo's rate, as a foreign-currency document, "
                "and Xero's reports show it converted to %(theirs)s. If that is not what you want, connect "
                "an organisation whose base currency is %(ours)s before the first sync.",
                company=conn.company_id.name, ours=ours, org=conn.tenant_name or _("the organisation"),
                theirs=theirs) if theirs and ours and theirs != ours else False

    @api.depends("daily_calls_known_at")
    def _compute_daily_calls_known(self):
        since = fields.Datetime.now() - datetime.timedelta(days=1)
        for conn in self:
            conn.daily_calls_known = bool(conn.daily_calls_known_at and conn.daily_calls_known_at >= since)

    _ACTIVE_MEMO = "coworks_xero.active_connections"

    @api.model
    def _active_by_company(self, company_ids):
        """{company id: its active connection (sudo)} for ``company_ids``.

        Asked by every hook of a user's operation and for every batch of documents read: one
        indexed SQL read per transaction for the companies not asked about yet, kept in the
        cursor's per-transaction cache (``cr.cache``: cleared at commit and rollback). Within a
        transaction the answer cannot change but by this transaction's own writes to
        connections (a REPEATABLE READ snapshot), which drop the memo (``create``, ``write`` of
        ``active``/``company_id``, ``unlink``)."""
        if not company_ids:
            return {}
        Conn = self.sudo()
        memo = self.env.cr.cache.setdefault(self._ACTIVE_MEMO, {})
        missing = [cid for cid in company_ids if cid not in memo]
        if missing:
            Conn.flush_model(["company_id", "active"])
            self.env.cr.execute("""
                SELECT DISTINCT ON (company_id) company_id, id FROM coworks_sync_connection
                 WHERE company_id = ANY(%s) AND active ORDER BY company_id, id
            """, [missing])
            memo.update(dict.fromkeys(missing))
            memo.update(self.env.cr.fetchall())
        return {cid: Conn.browse(memo[cid]) for cid in company_ids if memo.get(cid)}

    def _forget_active_connections(self):
        self.env.cr.cache.pop(self._ACTIVE_MEMO, None)

    @api.model_create_multi
    def create(self, vals_list):
        self._forget_active_connections()
        return super().create(vals_list)

    def unlink(self):
        self._forget_active_connections()
        return super().unlink()

    @api.model
    def _for_company(self, company):
        """The active connection of ``company`` (empty if none)."""
        return self.search([("company_id", "=", company.id), ("active", "=", True)], limit=1)

    def _is_usable(self):
        self.ensure_one()
        return self.state == "connected" and bool(self.tenant_id)

    def _provider_label(self):
        """The provider's name for a person (its label in ``provider``'s selection, e.g. "Xero")."""
        self.ensure_one()
        return dict(self._fields["provider"].selection).get(self.provider, self.provider or "")

    def _get_provider(self):
        """The services/ object that talks to the remote side (extension point per provider)."""
        self.ensure_one()
        method = getattr(self, f"_get_provider_{self.provider}", None)
        if not method:
            raise UserError(_("No implementation for provider %s.", self.provider))
        return method()

    def _coworks_inbound_reader(self):
        """What reads the changes made on the remote side (services/<provider>/inbound.py), or
        None when the provider has none."""
        self.ensure_one()
        method = getattr(self, f"_get_inbound_reader_{self.provider}", None)
        return method() if method else None

    def _coworks_words(self, text):
        """``text``, an engine message written with Xero's name, in this connection's provider's words.

        The engine's messages (waiting for a document, a mapping to fix, customer credit, ...) are
        the same for every provider and are written once, naming Xero; for another provider its name
        stands instead. Menu paths keep the word: the menu is called Xero whatever the provider."""
        if not text or len(self) != 1 or self.provider == "xero":
            return text
        return _XERO_WORD.sub(self._provider_label(), text)

    def _coworks_credit_grant_missing(self):
        """Why this connection may not record customer credit (a grant it lacks), for a person;
        "" when it may (extension point per provider: ``_credit_grant_missing_<provider>``)."""
        self.ensure_one()
        method = getattr(self, f"_credit_grant_missing_{self.provider}", None)
        return method() if method else ""

    def _coworks_budget_short(self):
        """This process has used BUSY_MINUTE_CALLS of the provider's calls within the last minute:
        the outbound sync goes first (webhook reads are spaced, the drift comparison waits).
        False when the budget is not a minute's or is unknown."""
        try:
            used = self._coworks_minute_calls_used()
        except Exception:  # noqa: BLE001 - unknown budget: not short
            return False
        return used is not None and used >= BUSY_MINUTE_CALLS

    def _coworks_call_budget(self):
        """(limiter, tenant key) of the provider's call budget in this process (extension point
        ``_coworks_call_budget_<provider>``, a services rate limiter); None when it has none."""
        self.ensure_one()
        method = getattr(self, f"_coworks_call_budget_{self.provider}", None)
        return method() if method else None

    def _coworks_minute_calls_used(self):
        """Calls made to the provider within the last minute, when its budget is a minute's;
        None when unknown."""
        budget = self._coworks_call_budget()
        if not budget:
            return None
        limiter, tenant = budget
        return limiter.stats(tenant)["minute_used"]

    def _coworks_call_wait(self):
        """Seconds the provider's next call would wait now for the call budget (0 when none or
        unknown). A cron run asks before it prepares a batch: a wait longer than the run has
        left ends the run instead, see ``coworks.sync.job._process_groups``."""
        try:
            budget = self._coworks_call_budget()
            return budget[0].wait_estimate(budget[1]) if budget else 0.0
        except Exception:  # noqa: BLE001 - unknown budget: the call itself waits or fails
            _logger.info("Sync: could not read the call budget", exc_info=True)
            return 0.0

    def _coworks_reads_changes(self):
        return hasattr(self, f"_get_inbound_reader_{self.provider}")

    def action_open_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("coworks_xero.action_sync_job")
        action["domain"] = [("connection_id", "=", self.id)]
        return action

"""The outbox that doubles as the sync log: one row per (record, kind, operation, connection)
while it is open. Host-model overrides only insert/coalesce rows here; the cron sends them."""
import logging
import os
import re
import threading
import uuid

from odoo import Command, _, api, fields, models, sql_db
from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL

from .common import SYNC_STATES

JOB_KINDS = [
    ("contact", "Customer"),
    ("invoice", "Invoice"),
    ("credit_note", "Credit note"),
    ("payment", "Payment"),
    ("refund", "Refund"),
    ("allocation", "Credit allocation"),
    ("inbound", "Change from Xero"),  # applied in Odoo, never sent (models/xero_inbound.py)
]
# Dependencies first: a contact before its documents, documents before money moves on them.
KIND_PRIORITY = {"contact": 10, "invoice": 20, "credit_note": 20,
                 "payment": 30, "refund": 30, "allocation": 30, "inbound": 40}
OPERATIONS = [("upsert", "Create/update"), ("cancel", "Void/delete")]
ERROR_KINDS = [
    ("retryable", "Temporary (retried automatically)"),
    ("reauth", "Connection needs re-authorisation"),
    ("validation", "Rejected by Xero"),
    ("mapping", "Mapping to fix"),
    ("not_found", "Not found in Xero"),
    ("conflict", "Conflict"),
    ("internal", "Internal error"),
]
OPEN_STATES = ("pending", "error")
# Why queued work is not being sent (documents and the sync log say so, with a way out).
PAUSE_REASONS = [
    ("off", "Paused — sync is off"),
    ("reconnect", "Paused — Reconnect"),
    ("connect", "Paused — Connect to Xero"),
]
ATTEMPT_OUTCOMES = [
    ("done", "Synced"),
    ("skipped", "Not sent"),
    ("resend", "Synced, sent again (changed meanwhile)"),
    ("retry", "Failed, retried automatically"),
    ("error", "Failed, needs attention"),
]
# Money moves on a document: a failure there is the document's too.
MONEY_KINDS = ("payment", "refund", "allocation")
_logger = logging.getLogger(__name__)
# Text fields of the log that may carry what was sent or received: secrets are removed from them
# whenever they are written, whatever code path writes them.
REDACTED_FIELDS = ("request_body", "response_body", "error_message", "log_note")
REDACTED = "[redacted]"
_SECRET_KEYS = (r"access_token|refresh_token|id_token|client_secret|client_assertion|code_verifier|"
                r"password|authorization|proxy-authorization|x-api-key|api_key|secret|token")
_REDACT_PATTERNS = [
    # "Authorization: Bearer abc" / Authorization=Basic abc (headers, logs, reprs)
    (re.compile(r"(?i)\b((?:proxy-)?authorization)(\s*[:=]\s*)([\"']?)(?:bearer|basic|token)?\s*[^\s\"',;}]+"),
     lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}"),
    # JSON / Python-repr key-value pairs: "access_token": "abc", 'refresh_token': 'abc'
    (re.compile(r"(?i)([\"'](?:%s)[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2" % _SECRET_KEYS),
     lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}"),
    # form-encoded / query strings: access_token=abc&...
    (re.compile(r"(?i)\b(%s)=([^&\s\"']+)" % _SECRET_KEYS), lambda m: f"{m.group(1)}={REDACTED}"),
    # a bare bearer token anywhere
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"), lambda m: f"Bearer {REDACTED}"),
    # JWT-shaped values (Xero access and id tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), lambda m: REDACTED),
]


_notify_lock = threading.Lock()
_notify_conn = {}  # {"pid": ..., "cnx": ...}: this process's connection to the "postgres" database


class IrCron(models.Model):
    _inherit = "ir.cron"

    @api.model
    def _notifydb(self):
        """The wake-up of the sync's own triggers (``coworks.sync.job._trigger_worker``) goes
        through one kept-open connection per process (``_notify_cron_workers``): Odoo's opens a
        new connection to "postgres" each time, ~3 ms in every user's posting request."""
        if self.env.context.get("coworks_xero_wake"):
            _notify_cron_workers(self.env.cr.dbname)
            return
        super()._notifydb()


def _notify_cron_workers(dbname):
    """What ``ir.cron._notifydb`` does (wake the cron workers, which LISTEN on the "postgres"
    database), on one kept-open autocommit connection per process instead of a new one per
    call: Odoo never pools "postgres" connections, and opening one costs the user posting an
    invoice ~3 ms. Any failure falls back to Odoo's own method."""
    try:
        with _notify_lock:
            cnx = _notify_conn.get("cnx")
            if cnx is None or cnx.closed or _notify_conn.get("pid") != os.getpid():
                import psycopg2
                _name, info = sql_db.connection_info_for("postgres")
                cnx = psycopg2.connect(**info)
                cnx.autocommit = True
                _notify_conn.update(pid=os.getpid(), cnx=cnx)
            try:
                with cnx.cursor() as cr:
                    from psycopg2.extensions import quote_ident
                    cr.execute("SELECT %s('cron_trigger', %%s)" % quote_ident(ODOO_NOTIFY_FUNCTION, cnx), [dbname])
            except Exception:
                _notify_conn.pop("cnx", None)
                cnx.close()
                raise
    except Exception:  # noqa: BLE001 - fall back to Odoo's way; a missed wake-up only delays to the next poll
        _logger.info("Sync: kept-open notify connection failed, using ir.cron's", exc_info=True)
        try:
            with sql_db.db_connect("postgres").cursor() as cr:
                cr.execute(SQL("SELECT %s('cron_trigger', %s)", SQL.identifier(ODOO_NOTIFY_FUNCTION), dbname))
        except Exception:  # noqa: BLE001
            _logger.warning("Could not wake the cron workers for the Xero sync", exc_info=True)


def redact(text, secrets=()):
    """``text`` without credentials: header values, token/secret fields, bearer and JWT-shaped
    strings, and any of the known ``secrets`` (e.g. the app's client secret) verbatim."""
    if not text or not isinstance(text, str):
        return text
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    for pattern, repl in _REDACT_PATTERNS:
        text = pattern.sub(repl, text)
    return text


_SUMMARY_RULES = [
    (re.compile(r"^Gave up after \d+ attempts:\s*"), ""),
    (re.compile(r"^Line “[^”]*”:\s*"), ""),  # which line of which document: not the cause
    (re.compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "…"),
    (re.compile(r"(Waiting for the customer ).+?( to reach)"), r"\1…\2"),
    (re.compile(r"\b[\w.-]*\d[\w.-]*(?:/[\w.-]+)+"), "…"),  # document numbers like INV/2026/00012
    (re.compile(r"\b\d+(?:[.,]\d+)+\b"), "#"),  # amounts
    (re.compile(r"\s+"), " "),
]
SUMMARY_LENGTH = 120


def summarize_error(message):
    """The cause of an error without what is specific to one document, so that the log can be
    grouped by it: first line, no line/document/customer names, ids or amounts."""
    if not message:
        return False
    text = message.strip().splitlines()[0]
    for pattern, repl in _SUMMARY_RULES:
        text = pattern.sub(repl, text)
    text = text.strip()
    return (text[:SUMMARY_LENGTH - 1] + "…") if len(text) > SUMMARY_LENGTH else text


class CoworksSyncJob(models.Model):
    _name = "coworks.sync.job"
    _description = "Sync log entry"
    _order = "id desc"
    _check_company_auto = True
    _rec_name = "display_name"

    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    connection_id = fields.Many2one(
        "coworks.sync.connection", required=True, index=True, readonly=True, ondelete="cascade")
    res_model = fields.Char("Model", required=True, index=True, readonly=True)
    res_id = fields.Many2oneReference("Record ID", model_field="res_model", required=True,
                                      index=True, readonly=True)
    record_name = fields.Char("Document", readonly=True)
    kind = fields.Selection(JOB_KINDS, required=True, readonly=True, index=True)
    operation = fields.Selection(OPERATIONS, required=True, default="upsert", readonly=True)
    priority = fields.Integer(readonly=True, default=20)
    state = fields.Selection(SYNC_STATES, required=True, default="pending", index=True, readonly=True,
                             help="Pending: waiting to be sent (or retried automatically).\n"
                                  "Synced: Xero accepted it.\n"
                                  "Needs attention: a person must fix something, then Retry.\n"
                                  "Not sent: deliberately not sent (e.g. the document is a draft or "
                                  "cancelled in Odoo); the reason is in the notes.\n"
                                  "Cancelled: will not be sent.")
    error_kind = fields.Selection(ERROR_KINDS, readonly=True)
    error_code = fields.Char(
        "Error code", readonly=True, index="btree_not_null",
        help="Stable machine-readable cause of the failure (e.g. account_invalid, lock_date, "
             "rate_limited), decided from Xero's answer: see the README page \"When something goes wrong\".")
    error_message = fields.Text("Error", readonly=True)
    error_summary = fields.Char(
        "Error cause", compute="_compute_error_summary", store=True, index=True, readonly=True,
        help="The error without what is specific to one document, to group similar failures.")
    attempt_count = fields.Integer("Attempts", readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", readonly=True, index=True)
    last_attempt_at = fields.Datetime("Last attempt", readonly=True)
    date_done = fields.Datetime("Synced on", readonly=True, index=True)
    duration_ms = fields.Integer("Duration (ms)", readonly=True)
    idempotency_key = fields.Char(readonly=True, copy=False, default=lambda self: uuid.uuid4().hex)
    payload_hash = fields.Char(readonly=True, copy=False)
    remote_id = fields.Char("Xero ID", readonly=True)
    remote_contact_id = fields.Char(
        "Xero contact ID", readonly=True, copy=False,
        help="The customer's Xero contact of a document deleted in Odoo: with its number, what finds "
             "the Xero copy whose ID Odoo never learnt.")
    request_body = fields.Text("Request", readonly=True, help="What was sent, secrets removed.")
    response_body = fields.Text("Response", readonly=True, help="What came back, secrets removed.")
    person_notified = fields.Boolean(
        readonly=True, copy=False,
        help="The document's chatter said this sync needs attention; it will say when it recovers.")
    log_note = fields.Text("Notes", readonly=True, help="Decisions taken, e.g. a void-and-recreate.")
    # Exactly once (see sync_engine): each is committed in its own short transaction.
    maybe_sent = fields.Boolean(
        "May be in Xero", readonly=True, copy=False,
        help="A send of this entry was recorded before its request left Odoo: Xero may have it "
             "whatever happened next, so it is looked up in Xero before anything is created again.")
    send_count = fields.Integer("Sends", readonly=True, copy=False)
    answer_count = fields.Integer(
        readonly=True, copy=False,
        help="Answers of Xero recorded for this entry: part of its Idempotency-Key, so a request "
             "whose answer was lost is repeated with the same key.")
    inflight_since = fields.Datetime("Sending since", readonly=True, copy=False)
    answer = fields.Text(readonly=True, copy=False,
                         help="Xero's answer, kept until it is applied to the document.")
    revision = fields.Integer(readonly=True, copy=False,
                              help="Raised whenever the record is queued again (it changed).")
    sent_revision = fields.Integer(readonly=True, copy=False)

    attempt_ids = fields.One2many("coworks.sync.job.attempt", "job_id", "Attempts history", readonly=True)
    paused_reason = fields.Selection(
        PAUSE_REASONS, "Paused", compute="_compute_paused_reason",
        help="Why this entry is not being sent now: it waits, nothing is lost.")

    _idempotency_key_uniq = models.Constraint(
        "UNIQUE(idempotency_key)", "Idempotency keys must be unique.")
    _one_open_job = models.UniqueIndex(
        "(connection_id, res_model, res_id, kind, operation) WHERE state IN ('pending', 'error')",
        "This record already has an open sync job for this operation.")
    _claim_idx = models.Index("(state, next_attempt_at, priority, id)")

    @api.depends("state", "connection_id.state", "connection_id.active", "company_id.coworks_xero_sync_enabled")
    def _compute_paused_reason(self):
        for job in self:
            job.paused_reason = job.state == "pending" and self._pause_reason(
                job.company_id, job.connection_id)

    @api.model
    def _pause_reason(self, company, connection=None):
        """Why ``company``'s queued syncs wait (a PAUSE_REASONS key), or False when they go.

        ``connection``: the one the job belongs to (default: the company's active one)."""
        company = company.sudo()
        if not company.coworks_xero_sync_enabled:
            return "off"
        conn = (connection or self.env["coworks.sync.connection"]._for_company(company)).sudo()
        if not conn:
            return "connect"
        if conn.state in ("needs_reconnect", "disconnected") or not conn.active:
            return "reconnect"
        if conn.state != "connected" or not conn.tenant_id:
            return "connect"
        return False

    @api.depends("error_message")
    def _compute_error_summary(self):
        for job in self:
            job.error_summary = summarize_error(job.error_message)

    # ------------------------------------------------------------------ secrets never stored

    @api.model
    def _redact_vals(self, vals):
        if not any(vals.get(f) for f in REDACTED_FIELDS):
            return vals
        params = self.env["ir.config_parameter"].sudo()
        secrets = (params.get_param("coworks_xero.client_secret"),)
        vals = dict(vals)
        for fname in REDACTED_FIELDS:
            if vals.get(fname):
                vals[fname] = redact(vals[fname], secrets)
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._redact_vals(vals) for vals in vals_list])

    def write(self, vals):
        return super().write(self._redact_vals(vals))

    @api.depends("kind", "operation", "record_name")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for job in self:
            kind, name = kinds.get(job.kind, ""), (job.record_name or "").strip()
            # Payment links name themselves ("Payment X → INV/1"): the kind is not said twice.
            title = name if kind and name.lower().startswith(kind.lower()) else " ".join(filter(None, [kind, name]))
            if job.operation == "cancel":
                title = _("%s (void/delete)", title)
            job.display_name = title

    # ------------------------------------------------------------------ attempts history

    def _attempt_vals(self, vals):
        """What to add to the ``vals`` that record an attempt's outcome on this job (the engine
        calls it right before writing them): one more line of the attempts history."""
        self.ensure_one()
        state = vals.get("state", self.state)
        if state in ("done", "skipped"):
            outcome = state
        elif state == "error":
            outcome = "error"
        elif vals.get("error_kind"):
            outcome = "retry"
        else:
            outcome = "resend"
        return {"attempt_ids": [Command.create({
            "date": vals.get("last_attempt_at") or fields.Datetime.now(),
            "outcome": outcome,
            "error_kind": vals.get("error_kind") or False,
            "error_code": vals.get("error_code") or False,
            "error_message": vals.get("error_message") or vals.get("log_note") if state == "skipped"
            else vals.get("error_message") or False,
            "next_attempt_at": vals.get("next_attempt_at") or False,
        })]}

    # ------------------------------------------------------------------ UI actions

    @api.model
    def _action_sync_log(self):
        """The sync log as the menu opens it: on "Needs attention" when anything does, so
        failures come first; otherwise everything, newest first."""
        action = self.env["ir.actions.act_window"]._for_xml_id("coworks_xero.action_sync_job")
        context = {}
        if self.search_count([("state", "=", "error"), ("company_id", "in", self.env.companies.ids)], limit=1):
            context["search_default_needs_attention"] = 1
        action["context"] = context
        return action

    def action_open_record(self):
        self.ensure_one()
        return {"type": "ir.actions.act_window", "res_model": self.res_model,
                "res_id": self.res_id, "view_mode": "form"}

    def action_retry(self):
        """Requeue failed, not sent or cancelled jobs; the worker picks them up after commit (a job
        not sent is looked at again: sent if the document can be sent now, else not sent again)."""
        jobs = self.filtered(lambda j: j.state in ("error", "skipped", "cancelled"))
        if not jobs:
            raise UserError(_("Only failed, not sent or cancelled entries can be retried."))
        for job in jobs:
            # A closed job may have been superseded by a newer open one for the same record.
            if job.state in ("skipped", "cancelled") and self.search_count([
                    ("connection_id", "=", job.connection_id.id), ("res_model", "=", job.res_model),
                    ("res_id", "=", job.res_id), ("kind", "=", job.kind),
                    ("operation", "=", job.operation), ("state", "in", OPEN_STATES)]):
                continue
            # error_kind/error_message stay until the outcome is known: the log keeps showing why
            # the job was retried, and a success after a person's fix is noted on the document.
            job.write({"state": "pending", "next_attempt_at": False, "attempt_count": 0})
        self._trigger_worker()
        return {"type": "ir.actions.client", "tag": "display_notification", "params": {
            "type": "info", "sticky": False,
            "message": _("%s entries queued; they are sent in the background.", len(jobs)),
            "next": {"type": "ir.actions.act_window_close"}}}

    def action_cancel(self):
        self.filtered(lambda j: j.state in OPEN_STATES).write({"state": "cancelled"})

    @api.model
    def _trigger_worker(self, at=None):
        """Wake the worker once this transaction commits, through Odoo's own ``ir.cron._trigger``.

        A trigger left by an earlier transaction is not enough: the worker it wakes may run
        before this transaction commits, and would not see its jobs. So each transaction that
        queues work writes one trigger row of its own, however many hooks asked: the first
        call registers a pre-commit hook (``cr.precommit``, run by the commit, after the ORM's
        last flush) that calls ``_trigger()`` on the sync cron; later calls find it registered.
        A rolled-back transaction (or savepoint that registered it) drops the hook with its jobs.
        ``ir.cron`` then sends the NOTIFY after the commit; for this cron it goes through the
        kept-open connection of ``_notify_cron_workers`` (see ``ir.cron._notifydb`` below).
        ``at``: a later wake-up, written now (``_trigger(at)``)."""
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id("coworks_xero.ir_cron_sync", raise_if_not_found=False)
        if not cron_id:
            return
        cron = self.env["ir.cron"].sudo().browse(cron_id).with_context(coworks_xero_wake=True)
        if at is not None:
            cron._trigger(at)
            return
        precommit = self.env.cr.precommit
        if precommit.data.get("coworks_xero.wake"):
            return
        precommit.data["coworks_xero.wake"] = True
        precommit.add(cron._trigger)

    # ------------------------------------------------------------------ document badges

    @api.model
    def _document_sources(self, records, kinds):
        """Where the jobs of host ``records`` are: [(res_model, kinds, {res_id: [record ids]})].

        A customer document's own jobs, and those of the money moved on it (payments, refunds,
        credit allocations): a failed payment is a problem of its invoice too."""
        ids = [rid for rid in records.ids if isinstance(rid, int)]
        sources = [(records._name, tuple(kinds), {rid: [rid] for rid in ids})]
        if records._name == "account.move" and ids:
            owners = {}
            for link in self.env["coworks.xero.payment.link"].sudo().search_read(
                    ["|", ("move_id", "in", ids), ("credit_note_id", "in", ids)], ["move_id", "credit_note_id"]):
                docs = {f[0] for f in (link["move_id"], link["credit_note_id"]) if f and f[0] in ids}
                owners[link["id"]] = sorted(docs)
            sources.append(("coworks.xero.payment.link", MONEY_KINDS, owners))
        return sources

    @api.model
    def _document_jobs_domain(self, record, kinds):
        """The sync log entries of ``record`` (its own and its money moves'), as a domain."""
        parts = []
        for res_model, src_kinds, owners in self._document_sources(record, kinds):
            res_ids = [rid for rid, docs in owners.items() if record.id in docs]
            if res_ids:
                parts.append([("res_model", "=", res_model), ("res_id", "in", res_ids), ("kind", "in", list(src_kinds))])
        return Domain.OR(parts) if parts else Domain.FALSE

    @api.model
    def _compute_document_sync(self, records, kinds, sources=None):
        """Fill xero_sync_state / xero_job_count (/ xero_sync_error, xero_sync_paused) on host
        ``records`` from the jobs of ``sources`` (default: :meth:`_document_sources`)."""
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        if sources is None:
            sources = self._document_sources(records, kinds)
        labels = dict(self._fields["kind"]._description_selection(self.env))
        by_record = {}
        for res_model, src_kinds, owners in sources:
            if not owners:
                continue
            domain = [("res_model", "=", res_model), ("res_id", "in", list(owners)),
                      ("company_id", "in", self.env.companies.ids)]
            if src_kinds:
                domain.append(("kind", "in", list(src_kinds)))
            for job in self.sudo().search_read(domain, ["res_id", "state", "error_message", "kind", "log_note"],
                                               order="id desc"):
                for rec_id in owners.get(job["res_id"], ()):
                    by_record.setdefault(rec_id, []).append(job)
        has_error_field = "xero_sync_error" in records._fields
        has_paused_field = "xero_sync_paused" in records._fields
        has_note_field = "xero_sync_note" in records._fields
        pause_by_company = {}
        for rec in records:
            jobs = by_record.get(rec.id, [])
            states = {j["state"] for j in jobs}
            state = next((s for s in ("error", "pending") if s in states), None)
            # Otherwise the document's own latest outcome says it: synced, or deliberately not sent
            # (a money move that was not sent is no outcome of the document itself).
            latest = next((j for j in jobs if j["state"] in ("done", "skipped")
                           and (j["kind"] in kinds or j["state"] == "done")), None)
            if state is None:
                state = latest["state"] if latest else "none"
            rec.xero_sync_state = state
            if has_note_field:
                rec.xero_sync_note = (latest["log_note"] or False) if state == "skipped" else False
            rec.xero_job_count = len(jobs)
            if has_error_field:
                errors = []
                for j in jobs:
                    if j["state"] == "error" and j["error_message"]:
                        own = j["kind"] in kinds
                        errors.append(j["error_message"] if own else f"{labels.get(j['kind'], '')}: {j['error_message']}")
                rec.xero_sync_error = "\n".join(dict.fromkeys(errors)) or False
            if has_paused_field:
                company = rec.company_id if "company_id" in rec._fields and rec.company_id else self.env.company
                if company not in pause_by_company:
                    pause_by_company[company] = self._pause_reason(company)
                rec.xero_sync_paused = pause_by_company[company] if state == "pending" else False

    @api.model
    def _action_open_for(self, record, kinds):
        action = self.env["ir.actions.act_window"]._for_xml_id("coworks_xero.action_sync_job")
        action["domain"] = list(self._document_jobs_domain(record, kinds))
        action["context"] = {}
        return action

    @api.model
    def _action_retry_for(self, record, kinds):
        """The document's Retry: its failed entries (its own and its money moves') go again."""
        jobs = self.search(Domain.AND([self._document_jobs_domain(record, kinds), [("state", "=", "error")]]))
        if not jobs:
            raise UserError(_("Nothing of %s is waiting for a retry.", record.display_name))
        action = jobs.action_retry()
        action["params"]["next"] = {"type": "ir.actions.client", "tag": "soft_reload"}
        return action


class CoworksSyncJobAttempt(models.Model):
    """One attempt to send a sync log entry: when, what came of it, why it failed."""
    _name = "coworks.sync.job.attempt"
    _description = "Sync log attempt"
    _order = "date desc, id desc"

    job_id = fields.Many2one("coworks.sync.job", required=True, index=True, ondelete="cascade")
    date = fields.Datetime("When", required=True, default=fields.Datetime.now)
    outcome = fields.Selection(ATTEMPT_OUTCOMES, required=True)
    error_kind = fields.Selection(ERROR_KINDS, "Error type")
    error_code = fields.Char("Error code")
    error_message = fields.Text("Error")
    next_attempt_at = fields.Datetime("Retried at")

    @api.model_create_multi
    def create(self, vals_list):
        secrets = (self.env["ir.config_parameter"].sudo().get_param("coworks_xero.client_secret"),)
        for vals in vals_list:
            if vals.get("error_message"):
                vals["error_message"] = redact(vals["error_message"], secrets)
        return super().create(vals_list)


class CoworksSyncRequest(models.Model):
    """A user's request to sync a record that met the worker on its open job.

    Queuing normally updates the open job in place. When the worker has just written that job
    (Odoo runs REPEATABLE READ, so updating it would be a serialization failure in the user's
    posting or payment), the request is appended here instead, a plain insert nobody else
    updates; the worker folds these rows into jobs at the start of every run."""
    _name = "coworks.sync.request"
    _description = "Sync request waiting to be merged into the sync log"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, ondelete="cascade")
    connection_id = fields.Many2one("coworks.sync.connection", required=True, ondelete="cascade")
    res_model = fields.Char(required=True)
    res_id = fields.Integer(required=True)
    record_name = fields.Char()
    kind = fields.Selection(JOB_KINDS, required=True)
    operation = fields.Selection(OPERATIONS, required=True)
    priority = fields.Integer()
    user_id = fields.Integer()
    create_date = fields.Datetime()


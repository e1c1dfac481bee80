"""The sync engine: enqueue in the user's transaction, send from the cron.

Pattern (see docs/architecture.md and ../shared/reference/odoo-patterns.md §1, §5):
- host overrides call ``_enqueue``: one SQL upsert per record into the outbox, coalesced with the
  open job for the same record and operation; no network I/O, and a rolled-back transaction
  leaves nothing behind. The cron is triggered; workers wake only after the commit.
- ``_cron_process_jobs`` claims ready jobs with ``try_lock_for_update`` (rows another worker holds
  are skipped), re-filters them, sends them in batches grouped by connection/kind/operation with
  dependencies first, writes one result per job and commits with ``_commit_progress``.
"""
import datetime
import json
import logging
import random
import time
import uuid

from odoo import _, api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import groupby

from ..services import provider as prov
from .sync_job import KIND_PRIORITY
from .xero_mapping import MappingError

_logger = logging.getLogger(__name__)

BATCH_SIZE = 50  # Xero takes up to 50 documents per call comfortably
CLAIM_SIZE = 200  # jobs claimed per round of the cron loop
CONCURRENCY_RETRIES = 3  # a batch whose outcomes collide with a user's write is sent again
CLAIM_LOOKAHEAD = 4  # candidates read per claimed job, so concurrent workers find free rows
MAX_ATTEMPTS = 8  # automatic retries before a temporary failure needs a person
BACKOFF_BASE = 30  # seconds; doubled per attempt, with jitter
BACKOFF_CAP = 6 * 3600
BODY_LIMIT = 20000  # characters of request/response kept in the log
# Host models and the kinds they sync, for the catch-up scan.
SYNCED_MOVE_TYPES = {"out_invoice": "invoice", "out_refund": "credit_note"}


class CoworksSyncJob(models.Model):
    _inherit = "coworks.sync.job"

    # ------------------------------------------------------------------ enqueue

    @api.model
    def _sync_connections_by_company(self, companies):
        """{company: connection} for companies whose sync is on and that have a connection.

        Called in every posting transaction: one indexed SQL read instead of an ORM search."""
        enabled = companies.filtered("coworks_xero_sync_enabled")
        if not enabled:
            return {}
        Conn = self.env["coworks.sync.connection"].sudo()
        Conn.flush_model(["company_id", "active"])
        self.env.cr.execute("""
            SELECT DISTINCT ON (company_id) company_id, id FROM coworks_sync_connection
             WHERE company_id = ANY(%s) AND active ORDER BY company_id, id
        """, [enabled.ids])
        rows = self.env.cr.fetchall()
        return {companies.browse(cid): Conn.browse(conn_id) for cid, conn_id in rows}

    @api.model
    def _enqueue(self, records, kind, operation="upsert", company_getter=None, trigger=True):
        """Queue ``records`` for ``kind``/``operation``; returns how many rows were queued.

        Coalesces with an open (pending or failed) job of the same record: that job goes back to
        pending with its attempts reset, so a fix made in Odoo is retried without a click.
        """
        if not records:
            return 0
        company_getter = company_getter or (lambda rec: rec.company_id)
        by_company = {}
        for rec in records:
            for company in company_getter(rec):  # a partner may be synced for several companies
                by_company.setdefault(company, []).append(rec)
        conns = self._sync_connections_by_company(
            self.env["res.company"].browse(c.id for c in by_company if c))
        rows = []
        now = fields.Datetime.now()
        priority = KIND_PRIORITY[kind]
        for company, recs in by_company.items():
            conn = conns.get(company)
            if not conn:
                continue
            for rec in recs:
                rows.append((company.id, conn.id, rec._name, rec.id, (rec.display_name or "")[:250],
                             kind, operation, priority, uuid.uuid4().hex, self.env.uid, now))
        if not rows:
            return 0
        # One statement per call; ON CONFLICT targets the partial unique index of open jobs, so
        # two transactions queuing the same record end with one job (the second waits, then
        # updates it) instead of a unique violation in the user's request.
        self.flush_model()  # the upsert below must see this transaction's pending job writes
        values_sql = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s, %s)"] * len(rows))
        params = []
        for r in rows:
            params.extend(r[:9] + (r[9], r[10], r[9], r[10]))
        self.env.cr.execute(f"""
            INSERT INTO coworks_sync_job
                (company_id, connection_id, res_model, res_id, record_name, kind, operation, priority,
                 idempotency_key, state, attempt_count, create_uid, create_date, write_uid, write_date)
            VALUES {values_sql}
            ON CONFLICT (connection_id, res_model, res_id, kind, operation)
                WHERE state IN ('pending', 'error')
            DO UPDATE SET state = 'pending', attempt_count = 0, next_attempt_at = NULL,
                          record_name = EXCLUDED.record_name,
                          write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
            -- a pending job never tried is already what we want: no row rewrite
            WHERE coworks_sync_job.state = 'error' OR coworks_sync_job.attempt_count > 0
               OR coworks_sync_job.record_name IS DISTINCT FROM EXCLUDED.record_name
        """, params)
        self.invalidate_model()
        if trigger and not self.env.context.get("coworks_xero_no_trigger"):
            self._trigger_worker()
        return len(rows)

    # ------------------------------------------------------------------ the worker

    @api.model
    def _ready_domain(self):
        return [
            ("state", "=", "pending"),
            "|", ("next_attempt_at", "=", False), ("next_attempt_at", "<=", fields.Datetime.now()),
            ("connection_id.state", "=", "connected"),
            ("connection_id.active", "=", True),
            ("company_id.coworks_xero_sync_enabled", "=", True),
        ]

    @api.model
    def _cron_process_jobs(self):
        """Catch-up scan, then send ready jobs until none are left or the cron's time is up."""
        Cron = self.env["ir.cron"]
        self._enqueue_missing()
        Cron._commit_progress()
        providers = {}  # one provider per connection for the whole run: its contact directory is read once
        while True:
            jobs, claimed = self._claim_ready(CLAIM_SIZE)
            if not claimed:
                if jobs:  # everything is held by another worker: come back shortly
                    self._trigger_worker(fields.Datetime.now() + datetime.timedelta(minutes=1))
                Cron._commit_progress(remaining=0)
                return
            remaining = self.search_count(self._ready_domain()) if len(jobs) > len(claimed) else len(claimed)
            Cron._commit_progress(remaining=remaining)
            if not claimed._process(providers, commit=Cron._commit_progress):
                return

    @api.model
    def _claim_ready(self, limit):
        """(candidates, claimed): ready jobs, and those of them this transaction now holds.

        Rows locked by another worker (or a manual Retry in a request) are skipped, and the
        claimed rows are re-checked after locking, since the search ran before the lock."""
        domain = self._ready_domain()
        # Look further than ``limit`` and let SKIP LOCKED apply before the limit: another worker
        # holding the first rows must not leave this one empty-handed.
        jobs = self.search(domain, order="priority, id", limit=limit * CLAIM_LOOKAHEAD)
        return jobs, jobs.try_lock_for_update(limit=limit).filtered_domain(domain)

    def _process(self, providers=None, commit=None):
        """Send these (locked) jobs; every outcome is written on its job, nothing is raised.

        ``providers``: {connection id: provider} kept by the caller across rounds, so that what
        a provider learnt (Xero's contact directory) is not fetched again for every batch.
        ``commit(n)``: commits after each batch (``ir.cron._commit_progress``), so a batch's
        outcomes are kept as soon as Xero has answered; returns False when the cron's time is up
        (then so does this method).

        Writing an outcome touches the document (its Xero ID), which a user may be changing at the
        same moment (posting an invoice updates its customer, a payment updates the invoice):
        under Odoo's REPEATABLE READ that is a serialization failure. The batch is then rolled
        back and sent again in a new transaction; the same Idempotency-Keys make Xero replay its
        first answers instead of writing twice."""
        providers = {} if providers is None else providers
        # Dependencies first (priority: contacts, documents, money); within money, removals
        # before new money and credit allocations before payments: Xero checks each against the
        # document's amount due at that moment.
        order = lambda j: (j.connection_id.id, j.priority, j.operation != "cancel", j.kind != "allocation",  # noqa: E731
                           j.kind, j.id)
        for (conn, kind, operation), jobs in groupby(
                self.sorted(order), key=lambda j: (j.connection_id, j.kind, j.operation)):
            jobs = self.browse().union(*jobs)
            for start in range(0, len(jobs), BATCH_SIZE):
                batch = jobs[start:start + BATCH_SIZE]
                for attempt in range(1, CONCURRENCY_RETRIES + 1):
                    try:
                        connection_failed = batch._process_batch_once(conn, kind, operation, providers)
                        time_left = commit(len(batch)) if commit else True
                        break
                    except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                        if not commit or attempt == CONCURRENCY_RETRIES:
                            raise
                        _logger.info("Xero sync: a user changed a document of this batch meanwhile; "
                                     "sending the batch again (attempt %s)", attempt + 1)
                        self.env.cr.rollback()
                        self.env.invalidate_all()
                        # The rollback released the row locks: take back what is still ours to send.
                        batch = batch.try_lock_for_update().filtered_domain(self._ready_domain())
                        if not batch:
                            connection_failed, time_left = False, True
                            break
                if not time_left:
                    return False
                if connection_failed:
                    break
        return True

    def _process_batch_once(self, conn, kind, operation, providers):
        """One batch; True when the whole connection failed (the rest of its group waits)."""
        try:
            self._process_batch(conn, kind, operation, providers)
        except prov.ProviderError as exc:
            providers.pop(conn.id, None)  # start afresh (new tokens, new directory)
            self._handle_connection_failure(conn, exc)
            return True
        return False

    def _process_batch(self, conn, kind, operation, providers=None):
        started = time.monotonic()
        items, jobs_with_items = [], self.browse()
        for job in self:
            record = job._get_record()
            try:
                obj = job._snapshot(record, conn)
            except MappingError as exc:
                job._record_failure(prov.MAPPING, str(exc))
                continue
            except DependencyPending as exc:
                job._record_failure(prov.RETRYABLE, str(exc))
                continue
            except _Skip as skip:
                job._record_success(None, note=skip.reason)
                continue
            items.append(prov.WorkItem(key=job.idempotency_key, kind=kind, operation=operation,
                                       obj=obj, attempt=job.attempt_count))
            jobs_with_items |= job
        if not items:
            return
        provider = providers.get(conn.id) if providers is not None else None
        if provider is None:
            provider = conn._get_provider()
            if providers is not None:
                providers[conn.id] = provider
        results = provider.run(items)
        elapsed_ms = int((time.monotonic() - started) * 1000 / max(len(items), 1))
        by_key = {r.ref: r for r in results}
        for job in jobs_with_items:
            result = by_key.get(job.idempotency_key)
            job.duration_ms = elapsed_ms
            if result is None:
                job._record_failure(prov.INTERNAL, _("The provider returned no result for this document."))
            elif result.ok:
                job._record_success(result)
            else:
                job._record_failure(result.error_kind or prov.INTERNAL, result.message, result)
        conn._note_call_success(getattr(provider, "daily_remaining", None))

    def _get_record(self):
        self.ensure_one()
        return self.env[self.res_model].browse(self.res_id).exists()

    def _snapshot(self, record, conn):
        """The documents.* object for this job; the host model builds it."""
        self.ensure_one()
        if not record:
            if self.operation == "cancel" and self.remote_id:
                return self.env[self.res_model]._coworks_xero_deleted_snapshot(self, conn)
            raise _Skip(_("The record was deleted before it was sent; nothing to do."))
        return record._coworks_xero_snapshot(self, conn)

    # ------------------------------------------------------------------ outcomes

    def _record_success(self, result, note=None):
        self.ensure_one()
        was_error = self.person_notified
        vals = {"state": "done", "date_done": fields.Datetime.now(), "error_kind": False, "person_notified": False,
                "error_message": False, "next_attempt_at": False,
                "attempt_count": self.attempt_count + 1, "last_attempt_at": fields.Datetime.now()}
        if result is not None:
            vals.update(remote_id=result.remote_id or self.remote_id,
                        **self._bodies(result))
            notes = result.details.get("notes") if result.details else None
            if notes:
                vals["log_note"] = "\n".join(notes)
        if note:
            vals["log_note"] = note
        self.write(vals)
        record = self._get_record()
        if record and result is not None:
            record._coworks_xero_apply_result(self, result)
            if was_error and hasattr(record, "_message_log"):
                record._message_log(body=_("Synced to Xero again after the earlier failure was fixed."))

    def _record_failure(self, kind, message, result=None, retry_after=None):
        self.ensure_one()
        attempts = self.attempt_count + 1
        now = fields.Datetime.now()
        vals = {"attempt_count": attempts, "last_attempt_at": now, "error_kind": kind,
                "error_message": message or _("Unknown error.")}
        if result is not None:
            vals.update(self._bodies(result))
        retry = kind == prov.RETRYABLE and attempts < MAX_ATTEMPTS
        if retry:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
            if result is not None:
                retry_after = (result.details or {}).get("retry_after") or retry_after
            delay = max(delay, retry_after or 0) * random.uniform(1.0, 1.25)
            vals.update(state="pending", next_attempt_at=now + datetime.timedelta(seconds=delay))
        else:
            if kind == prov.RETRYABLE:
                vals["error_message"] = _("Gave up after %(n)s attempts: %(msg)s", n=attempts, msg=message)
            vals.update(state="error", next_attempt_at=False)
        already_error = self.state == "error"
        self.write(vals)
        if not retry and not already_error:
            record = self._get_record()
            if record and hasattr(record, "_message_log"):
                record._message_log(body=_("Xero sync needs attention: %s", vals["error_message"]))
                self.person_notified = True

    def _handle_connection_failure(self, conn, exc):
        """The whole connection failed: keep the jobs, pause or delay the connection.

        Re-authorisation pauses the connection without spending attempts. A rate limit waits as
        long as Xero says, without spending attempts either (nothing is wrong with the
        documents). Any other temporary failure (Xero unavailable, timeouts) is an attempt of
        each job: it backs off exponentially and, after MAX_ATTEMPTS, needs a person."""
        if exc.kind == prov.REAUTH:
            conn._mark_needs_reconnect(exc.message)
            self.write({"error_message": exc.message, "error_kind": prov.REAUTH})
            return
        conn._note_call_failure(exc.message)
        if exc.retry_after and "rate limit" in (exc.message or "").lower():
            delay = exc.retry_after * random.uniform(1.0, 1.1)
            self.write({"next_attempt_at": fields.Datetime.now() + datetime.timedelta(seconds=delay),
                        "error_message": exc.message, "error_kind": exc.kind})
            return
        for job in self:
            job._record_failure(prov.RETRYABLE, exc.message, retry_after=exc.retry_after)

    @staticmethod
    def _bodies(result):
        details = result.details or {}
        out = {}
        for key, field in (("request", "request_body"), ("response", "response_body")):
            if details.get(key) is not None:
                text = details[key] if isinstance(details[key], str) else json.dumps(
                    details[key], indent=1, default=str)
                out[field] = text[:BODY_LIMIT]
        return out

    # ------------------------------------------------------------------ catch-up

    @api.model
    def _enqueue_missing(self, limit=500):
        """Queue what should be in Xero but has neither a Xero ID nor a job: invoices and credit
        notes imported or posted before the connection existed or while sync was off, and the
        payments, refunds and credit allocations (reconciliations) made meanwhile."""
        conns = self._sync_connections_by_company(self.env["res.company"].sudo().search([]))
        queued = 0
        for company, conn in conns.items():
            if conn.state != "connected":
                continue
            query, params = conn._missing_moves_query(open_jobs_only=False)
            self.env.cr.execute(f"SELECT m.id {query} ORDER BY m.id LIMIT %s", params + [limit])
            moves = self.env["account.move"].browse([r[0] for r in self.env.cr.fetchall()])
            if moves:
                moves.with_context(coworks_xero_no_trigger=True)._coworks_xero_enqueue("upsert")
                queued += len(moves)
            # Reconciliations of customer documents that no link mirrors yet (a link is made when
            # the reconciliation is, while sync is on).
            self.env.cr.execute("""
                SELECT p.id FROM account_partial_reconcile p
                  JOIN account_move_line dl ON dl.id = p.debit_move_id
                  JOIN account_move dm ON dm.id = dl.move_id
                  JOIN account_move_line cl ON cl.id = p.credit_move_id
                  JOIN account_move cm ON cm.id = cl.move_id
                 WHERE p.company_id = %s AND dm.state = 'posted' AND cm.state = 'posted'
                   AND (dm.move_type = 'out_invoice' OR cm.move_type = 'out_refund')
                   AND NOT EXISTS (SELECT 1 FROM coworks_xero_payment_link l WHERE l.partial_id = p.id)
                 ORDER BY p.id LIMIT %s
            """, [company.id, limit])
            partials = self.env["account.partial.reconcile"].browse([r[0] for r in self.env.cr.fetchall()])
            if partials:
                links = self.env["coworks.xero.payment.link"].with_context(
                    coworks_xero_no_trigger=True)._coworks_xero_track(partials)
                queued += len(links)
        return queued

    @api.autovacuum
    def _gc_done_jobs(self):
        """Remove successful log entries older than each company's retention; keep failures."""
        for company in self.env["res.company"].sudo().search([]):
            days = company.coworks_xero_job_retention_days
            if days <= 0:
                continue
            limit = fields.Datetime.now() - datetime.timedelta(days=days)
            self.sudo().search([("company_id", "=", company.id), ("state", "=", "done"),
                                ("date_done", "<", limit)]).unlink()


class DependencyPending(Exception):
    """A document waits for another record (its customer) to reach the provider first."""


class _Skip(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


"""The sync engine: enqueue in the user's transaction, send from the cron.

Pattern (see docs/architecture.md and ../shared/reference/odoo-patterns.md §1, §5):
- host overrides call ``_enqueue``: one SQL upsert per record into the outbox, coalesced with the
  open job for the same record and operation; no network I/O, and a rolled-back transaction
  leaves nothing behind. The cron is triggered; workers wake only after the commit.
- ``_cron_process_jobs`` claims ready jobs with advisory locks (held by the worker's session
  across its commits; what another worker holds is skipped), re-filters them, and sends them in
  batches grouped by connection/kind/operation with dependencies first, each batch in short
  transactions of its own: record the send, send, keep Xero's answers, apply them (see
  ``_process_batch``).
"""
import collections
import dataclasses
import datetime
import json
import logging
import random
import time

from odoo import _, api, fields, models
from odoo.addons.base.models.ir_cron import MIN_TIME_PER_JOB
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import groupby

from ..services import provider as prov
from ..services.documents import Result
from ..services import send_thread
from .sync_job import KIND_PRIORITY
from .xero_mapping import MappingError, batch_memo

_logger = logging.getLogger(__name__)

BATCH_SIZE = 50  # Xero takes up to 50 documents per call comfortably
# Kinds sent one call per record (a file a call): smaller batches, so that a batch the connection's
# budget cuts short (its answers are then looked up again) is a short one.
# Changes from Xero are applied in Odoo (no call): a batch is one transaction of Odoo's accounting
# (~0.2-1 s a payment, by load), so ten a batch commit every few seconds and let the cron's time
# budget end a run between batches; fifty (up to a minute under load) once overran
# limit_time_real_cron and the whole batch was done again (bench/inbound.py, pull phase).
BATCH_SIZE_BY_KIND = {"attachment": 10, "inbound": 10}
# Kinds whose batches make no call to the provider (what came from Xero, applied in Odoo): they do
# not wait for the organisation's call budget, which the outbound sends may have spent.
NO_CALL_KINDS = frozenset({"inbound"})
CLAIM_SIZE = 200  # jobs claimed per round of the cron loop
CONCURRENCY_RETRIES = 5  # a step whose writes collide with a user's is run again (never the send)
CLAIM_LOCK_SPACE = 0x58e0  # advisory-lock namespace of claimed jobs (first key; the job id is the second)
CONNECTION_LOCK_SPACE = 0x58e1  # ... of the connection a lane works on (second key: the connection id)
# The sync's crons, "lanes": each round of each works on one connection (see _cron_process_jobs).
SYNC_LANES = ("coworks_xero.ir_cron_sync", "coworks_xero.ir_cron_sync_lane_2")
INFLIGHT_GRACE = 90  # seconds a recorded send may still be on its way (the client's time per request)
CLAIM_LOOKAHEAD = 4  # candidates read per claimed job, so concurrent workers find free rows
MAX_ATTEMPTS = 8  # automatic retries before a temporary failure needs a person
BACKOFF_BASE = 30  # seconds; doubled per attempt, with jitter
BACKOFF_CAP = 6 * 3600
# Seconds a sync cron job may run in all (Odoo calls its callback up to MIN_RUNS_PER_JOB times
# while it reports work done and left, each call after the first with no time left): the cron
# worker runs every ready job of the database in one pass under one limit_time_real_cron (120 s
# by default), so a lane, the other lane and the inbound crons must all fit in it.
RUN_WALL_LIMIT = 30
# A wait for the call budget longer than this ends the run (woken when the budget is back)
# rather than holding the cron worker; shorter waits are slept in the limiter, within the run.
BUDGET_WAIT_IN_RUN = 8
# Documents of each kind the catch-up queues per connection at a time (then sends them, then the next page).
CATCH_UP_PAGE = 500
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
        by_id = self.env["coworks.sync.connection"]._active_by_company(enabled.ids)
        return {companies.browse(cid): conn for cid, conn in by_id.items()}

    @api.model
    def _enqueue(self, records, kind, operation="upsert", company_getter=None, trigger=True, also=()):
        """Queue ``records`` for ``kind``/``operation``; returns how many rows were queued.

        ``also``: more ``(records, kind, operation, company_getter, unless_linked)`` to queue in
        the same statement, e.g. a document's customer with it (``unless_linked``: only a
        record without a remote ID under that connection, decided in the statement itself).

        Coalesces with an open (pending or failed) job of the same record: that job goes back to
        pending with its attempts reset, so a fix made in Odoo is retried without a click.
        """
        return self._enqueue_parts([(records, kind, operation, company_getter, False)] + list(also), trigger=trigger)

    @api.model
    def _enqueue_parts(self, parts, trigger=True):
        """``_enqueue`` of several ``(records, kind, operation, company_getter, unless_linked)``
        at once: one statement for all (``company_getter`` None: the record's company)."""
        parts = [p for p in parts if p[0]]
        if not parts:
            return 0
        wanted = []  # (company, rec, kind, operation, unless_linked)
        for recs, p_kind, p_operation, getter, unless_linked in parts:
            getter = getter or (lambda rec: rec.company_id)
            for rec in recs:
                for company in getter(rec):  # a partner may be synced for several companies
                    if company:
                        wanted.append((company, rec, p_kind, p_operation, unless_linked))
        conns = self._sync_connections_by_company(self.env["res.company"].browse({w[0].id for w in wanted}))
        if not conns:
            return 0
        now = fields.Datetime.now()
        rows, seen = [], set()
        for company, rec, p_kind, p_operation, unless_linked in wanted:
            conn = conns.get(company)
            if conn and (conn.id, rec._name, rec.id, p_kind, p_operation) not in seen:
                seen.add((conn.id, rec._name, rec.id, p_kind, p_operation))
                rows.append((company.id, conn.id, rec._name, rec.id, (rec.display_name or "")[:250],
                             p_kind, p_operation, KIND_PRIORITY[p_kind], self.env.uid, now, unless_linked))
        return self._enqueue_rows(rows, trigger=trigger)

    @api.model
    def _enqueue_rows(self, rows, trigger=True):
        """Upsert ``rows`` (see ``_upsert_jobs``) in the user's transaction, and wake the worker
        at commit. Returns ``len(rows)``."""
        if not rows:
            return 0
        self.flush_model()  # the upsert below must see this transaction's pending job writes
        if any(len(row) > 10 and row[10] for row in rows):
            self.env["coworks.sync.link"].flush_model(["connection_id", "res_model", "res_id", "remote_id"])
        try:
            self._upsert_jobs(rows, savepoint=True)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            # The worker wrote one of these open jobs after this transaction began: updating it
            # would fail the user's posting or payment. A plain insert elsewhere cannot collide;
            # the worker merges it into the job at its next run (triggered below).
            _logger.info("Sync: an open job was being written by the worker; request appended")
            self._append_requests(rows)
        self.invalidate_model()
        if trigger and not self.env.context.get("coworks_xero_no_trigger"):
            self._trigger_worker()
        return len(rows)

    @api.model
    def _upsert_jobs(self, rows, savepoint=False):
        """One statement for ``rows`` of (company, connection, model, id, name, kind, operation,
        priority, uid, now[, unless_linked]). ON CONFLICT targets the partial unique index of open
        jobs, so two transactions queuing the same record end with one job instead of a unique
        violation. A job that was ever sent gets a new revision: if it is in flight right now, the
        worker sees on its answer that the record changed meanwhile and sends it again. A row
        ``unless_linked`` is left out when its record has a remote ID under that connection.

        ``savepoint``: the upsert runs in a savepoint, sent with it in one round trip (``SAVEPOINT;
        INSERT; RELEASE``); on a failure the savepoint is rolled back and the error raised, the
        transaction still usable."""
        values_sql = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        params = []
        for row in rows:
            company_id, conn_id, model, res_id, name, kind, operation, priority, uid, now = row[:10]
            params.extend((company_id, conn_id, model, res_id, name, kind, operation, priority, uid, now,
                           bool(row[10]) if len(row) > 10 else False))
        upsert = f"""
            INSERT INTO coworks_sync_job
                (company_id, connection_id, res_model, res_id, record_name, kind, operation, priority,
                 idempotency_key, state, attempt_count, revision, create_uid, create_date, write_uid, write_date)
            SELECT v.company_id::int4, v.connection_id::int4, v.res_model::varchar, v.res_id::int4,
                   v.record_name::varchar, v.kind::varchar, v.operation::varchar, v.priority::int4,
                   replace(gen_random_uuid()::text, '-', ''), 'pending', 0, 0,
                   v.uid::int4, v.now::timestamp, v.uid::int4, v.now::timestamp
              FROM (VALUES {values_sql}) AS v(company_id, connection_id, res_model, res_id, record_name, kind,
                                              operation, priority, uid, now, unless_linked)
             WHERE NOT (v.unless_linked::bool AND EXISTS (
                        SELECT 1 FROM coworks_sync_link l
                         WHERE l.connection_id = v.connection_id::int4 AND l.res_model = v.res_model::varchar
                           AND l.res_id = v.res_id::int4 AND COALESCE(l.remote_id, '') != ''))
            ON CONFLICT (connection_id, res_model, res_id, kind, operation)
                WHERE state IN ('pending', 'error')
            DO UPDATE SET state = 'pending', attempt_count = 0, next_attempt_at = NULL,
                          record_name = EXCLUDED.record_name,
                          revision = COALESCE(coworks_sync_job.revision, 0) + 1,
                          write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
            -- a pending job never sent is already what we want: no row rewrite
            WHERE coworks_sync_job.state = 'error' OR coworks_sync_job.attempt_count > 0
               OR COALESCE(coworks_sync_job.send_count, 0) > 0
               OR coworks_sync_job.inflight_since IS NOT NULL  -- a worker is reading it right now
               OR coworks_sync_job.record_name IS DISTINCT FROM EXCLUDED.record_name
        """
        if not savepoint:
            self.env.cr.execute(upsert, params)
            return
        try:
            self.env.cr.execute(f"SAVEPOINT coworks_sync_enqueue; {upsert}; RELEASE SAVEPOINT coworks_sync_enqueue",
                                params, log_exceptions=False)
        except Exception:
            self.env.cr.execute("ROLLBACK TO SAVEPOINT coworks_sync_enqueue; RELEASE SAVEPOINT coworks_sync_enqueue")
            raise

    @api.model
    def _append_requests(self, rows):
        # A customer queued only if not linked yet: left out when it is (its request would make
        # the worker update the contact for nothing).
        linked = set()
        checks = [(row[1], row[2], row[3]) for row in rows if len(row) > 10 and row[10]]
        if checks:
            self.env.cr.execute("""
                SELECT connection_id, res_model, res_id FROM coworks_sync_link
                 WHERE (connection_id, res_model, res_id) IN %s AND COALESCE(remote_id, '') != ''
            """, [tuple(checks)])
            linked = set(self.env.cr.fetchall())
        rows = [row[:10] for row in rows
                if not (len(row) > 10 and row[10] and (row[1], row[2], row[3]) in linked)]
        if not rows:
            return
        values_sql = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        self.env.cr.execute(f"""
            INSERT INTO coworks_sync_request
                (company_id, connection_id, res_model, res_id, record_name, kind, operation, priority,
                 user_id, create_date)
            VALUES {values_sql}
        """, [v for row in rows for v in row])

    @api.model
    def _fold_requests(self, limit=5000):
        """Merge the requests users appended (see ``_enqueue``) into the sync log."""
        self.env.cr.execute("""
            DELETE FROM coworks_sync_request WHERE id IN (
                SELECT id FROM coworks_sync_request ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING id, company_id, connection_id, res_model, res_id, record_name, kind, operation,
                      priority, user_id, create_date
        """, [limit])
        latest = {}
        for row in sorted(self.env.cr.fetchall()):
            latest[(row[2], row[3], row[4], row[6], row[7])] = row[1:]
        if latest:
            self._upsert_jobs(list(latest.values()))
            self.invalidate_model()
        return len(latest)

    # ------------------------------------------------------------------ the worker

    @api.model
    def _ready_domain(self):
        now = fields.Datetime.now()
        return [
            ("state", "=", "pending"),
            "|", ("next_attempt_at", "=", False), ("next_attempt_at", "<=", now),
            # A send whose worker vanished without its lock being released by a crash of the
            # process (its database connection was cut while the request may still be on its
            # way) is given the time a request can take before anyone looks it up and resends.
            "|", ("inflight_since", "=", False),
            ("inflight_since", "<=", now - datetime.timedelta(seconds=INFLIGHT_GRACE)),
            ("connection_id.state", "=", "connected"),
            ("connection_id.active", "=", True),
            ("company_id.coworks_xero_sync_enabled", "=", True),
        ]

    @api.model
    def _cron_process_jobs(self, lane=1):
        """Catch-up scan, then send ready jobs until none are left or the cron's time is up.

        Odoo gives a cron callback a time budget (``_commit_progress`` returns what is left):
        when it is spent with work left, the run ends and wakes the next one at once, so a
        backlog never holds a cron worker past ``limit_time_real_cron`` and never waits for the
        10-minute schedule.

        ``lane``: the sync has more than one cron (``ir_cron_sync``, ``ir_cron_sync_lane_2``):
        Odoo runs one cron at a time in one cron worker, so one cron could never use a second
        cron worker or a second server. Each round of a run works on ONE connection, held by a
        session lock, so the lanes (on one server or several) serve different organisations at
        once and one organisation's documents still go in their order (contacts before their
        invoices) and within its own Xero budget. Lane 1 also folds requests, applies inbound
        changes and queues the catch-up; it wakes the other lanes when more than one
        organisation has work."""
        Cron = self.env["ir.cron"]
        deadline = self._run_deadline()
        if deadline is not None and time.monotonic() >= deadline:
            # Odoo calls a callback that reports progress again and again: past the job's own
            # limit, the job ends here and the next one starts at once.
            self._trigger_worker()
            Cron._commit_progress(remaining=0)
            return
        catch_up_left = False
        if lane == 1:
            self._in_own_transaction(self._fold_requests)
            # What happened in Xero (webhook events, the If-Modified-Since pull) becomes "inbound"
            # jobs, applied below like any other; it commits itself and never raises.
            self.env["coworks.sync.inbound.change"]._coworks_xero_inbound_run()
            catch_up_left = self._enqueue_missing_page()
        Cron._commit_progress()
        providers = {}  # one provider per connection for the whole run: its contact directory is read once
        claimed_ids = []
        served = collections.Counter()  # rounds given to each connection: the others go first
        held_elsewhere = set()  # connections whose ready jobs another worker holds right now
        budget_waits = {}  # connection id: seconds until its call budget lets this run go on
        lanes_woken = lane != 1
        try:
            while True:
                conn_id, others = self._lock_next_connection(served, held_elsewhere | set(budget_waits))
                if others and not lanes_woken:
                    self._wake_other_lanes()
                    lanes_woken = True
                if conn_id is None:
                    if budget_waits:
                        self._wake_for_budget(min(budget_waits.values()))
                    if held_elsewhere:  # everything is held by another worker: come back shortly
                        self._trigger_worker(fields.Datetime.now() + datetime.timedelta(seconds=30))
                    elif catch_up_left:
                        # The catch-up queues a page at a time (a book imported or posted while
                        # sync was off can be thousands of documents): the next page is queued
                        # as soon as this one is sent, not at the next scheduled run.
                        catch_up_left = self._enqueue_missing_page()
                        if Cron._commit_progress(remaining=1) > 0:
                            continue
                        self._trigger_worker()
                        Cron._commit_progress()
                        return
                    Cron._commit_progress(remaining=0)
                    return
                try:
                    served[conn_id] += 1
                    jobs, claimed = self._claim_ready(CLAIM_SIZE, connection_id=conn_id)
                    claimed_ids += claimed.ids
                    if not claimed:
                        held_elsewhere.add(conn_id)
                        continue
                    remaining = (self.search_count(self._ready_domain()) if len(jobs) > len(claimed) or others
                                 else len(claimed))
                    Cron._commit_progress(remaining=remaining)  # also a fresh snapshot for the re-check
                    if not claimed._process(providers, commit=Cron._commit_progress, deadline=deadline,
                                            budget_waits=budget_waits):
                        if conn_id in budget_waits:  # its budget is spent: the other organisations go on
                            continue
                        self._trigger_worker()  # time is up with work left: the next run starts at once
                        Cron._commit_progress()
                        return
                finally:
                    self._unlock_connection(conn_id)
        finally:
            self._release_claims(claimed_ids)
            self._wake_at_next_retry()

    @api.model
    def _run_deadline(self):
        """The monotonic time this cron job must end by (RUN_WALL_LIMIT after Odoo started it),
        or None outside a cron job (a manual run, a test: no limit of Odoo's to keep)."""
        end = self.env.context.get("cron_end_time")
        if end is None:
            return None
        return end - MIN_TIME_PER_JOB + RUN_WALL_LIMIT

    @api.model
    def _wake_for_budget(self, wait):
        """This run stopped for the call budget, ``wait`` seconds away: a wait short enough to
        sleep in a run is left to the next run, which starts at once and sleeps it in the limiter;
        a longer one (Xero's 429, the day's budget, other processes' calls) wakes the worker then."""
        if wait <= BUDGET_WAIT_IN_RUN:
            self._trigger_worker()
        else:
            self._trigger_worker(fields.Datetime.now() + datetime.timedelta(seconds=wait))

    @api.model
    def _lock_next_connection(self, served, skip=()):
        """(connection id, others): the connection this run works on next, locked for this
        database session (``None`` when every connection with ready jobs is another lane's),
        and how many other connections have ready jobs. The connection served least in this run
        goes first, then the one whose ready work is the most urgent and the oldest."""
        domain = self._ready_domain()
        if skip:
            domain = [("connection_id", "not in", list(skip))] + domain
        groups = self._read_group(domain, ["connection_id"], ["priority:min", "id:min"])
        order = sorted(groups, key=lambda g: (served[g[0].id], g[1], g[2]))
        for conn, _priority, _first in order:
            self.env.cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [CONNECTION_LOCK_SPACE, conn.id])
            if self.env.cr.fetchone()[0]:
                return conn.id, len(order) - 1
        return None, len(order)

    @api.model
    def _unlock_connection(self, conn_id):
        self._release_claims([conn_id], space=CONNECTION_LOCK_SPACE)

    @api.model
    def _wake_other_lanes(self):
        """More than one organisation has work: the other lanes' crons start now (Odoo's own
        trigger; a lane already running finds the next organisation, or nothing, and ends)."""
        try:
            for xmlid in SYNC_LANES[1:]:
                cron = self.env.ref(xmlid, raise_if_not_found=False)
                if cron and cron.active:
                    cron.sudo()._trigger()
            self.env.cr.commit()
        except Exception:  # noqa: BLE001 - lane 1 still does all the work, only slower
            _logger.info("Sync: could not wake the other lanes", exc_info=True)

    @api.model
    def _claim_ready(self, limit, connection_id=None):
        """(candidates, claimed): ready jobs (of ``connection_id`` when given), and those of them
        this worker now holds.

        A claim is a PostgreSQL advisory lock of this worker's database session, held across
        its commits until the outcome is recorded: another worker, another Odoo server or a
        manual run skips what is held, and a worker that dies (killed process, cut connection)
        releases everything at once. Rows are re-checked after the lock (``_process`` reads
        them again in a fresh snapshot), since the search ran before it."""
        domain = self._ready_domain()
        if connection_id:
            domain = [("connection_id", "=", connection_id)] + domain
        # Look further than ``limit``: another worker holding the first rows must not leave this
        # one empty-handed.
        jobs = self.search(domain, order="priority, id", limit=limit * CLAIM_LOOKAHEAD)
        if not jobs:
            return jobs, jobs
        self.env.cr.execute("""
            SELECT id FROM unnest(%s::int[]) WITH ORDINALITY AS c(id, n)
             WHERE pg_try_advisory_lock(%s, id) ORDER BY n
        """, [jobs.ids, CLAIM_LOCK_SPACE])
        got = [r[0] for r in self.env.cr.fetchall()]
        self._release_claims(got[limit:])
        return jobs, self.browse(got[:limit])

    @api.model
    def _release_claims(self, ids, space=CLAIM_LOCK_SPACE):
        """Release claims (session locks survive commits and rollbacks, and Odoo pools its
        connections: a claim left behind would hold its jobs for the life of the process), or
        with ``space=CONNECTION_LOCK_SPACE`` a lane's hold on its connections."""
        if not ids:
            return
        cr = self.env.cr
        query = "SELECT pg_advisory_unlock(%s, id) FROM unnest(%s::int[]) AS c(id)"
        try:
            cr.execute(query, [space, list(ids)])
            return
        except Exception:  # noqa: BLE001 - e.g. the transaction is aborted: roll it back and retry
            _logger.info("Sync: releasing claims after a failure", exc_info=True)
        try:
            cr.rollback()
            cr.execute(query, [space, list(ids)])
        except Exception:  # noqa: BLE001 - last resort: a closed session holds no lock
            _logger.warning("Sync: could not release claims; closing the database connection", exc_info=True)
            try:
                cr._cnx.close()
            except Exception:  # noqa: BLE001
                pass

    @api.model
    def _wake_at_next_retry(self):
        """A job backed off until a given time is woken then, not at the next schedule."""
        try:
            cron = self.env.ref("coworks_xero.ir_cron_sync", raise_if_not_found=False)
            if not cron:
                return
            self.flush_model(["state", "next_attempt_at"])
            now = fields.Datetime.now()
            self.env.cr.execute("""
                SELECT min(next_attempt_at) FROM coworks_sync_job
                 WHERE state = 'pending' AND next_attempt_at > %s""", [now])
            due = self.env.cr.fetchone()[0]
            if not due:
                return
            # A later wake-up no later than ``due`` is enough (the run it starts schedules the
            # next one); one due now may be the wake-up of the run in progress, so it is not.
            self.env.cr.execute("""SELECT 1 FROM ir_cron_trigger WHERE cron_id = %s AND call_at <= %s
                                    AND call_at > %s LIMIT 1""", [cron.id, due, now])
            if not self.env.cr.fetchone():
                cron.sudo()._trigger(due)
            self.env.cr.commit()
        except Exception:  # noqa: BLE001 - the 10-minute schedule still comes
            _logger.info("Sync: could not schedule the next retry", exc_info=True)

    def _in_own_transaction(self, fn, *args, give_up=False):
        """``fn(*args)`` then commit; a serialization failure (a user wrote the same rows
        meanwhile) rolls back and runs it again in a fresh snapshot. Returns ``fn``'s result,
        or ``give_up`` when the collisions went on (the caller leaves the work for later)."""
        cr = self.env.cr
        for attempt in range(1, CONCURRENCY_RETRIES + 1):
            try:
                out = fn(*args)
                cr.commit()
                return out
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                cr.rollback()
                self.env.invalidate_all()
                _logger.info("Sync: a user changed the same records meanwhile; trying %s again (%s)",
                             getattr(fn, "__name__", "it"), attempt)
                time.sleep(random.uniform(0.02, 0.1) * attempt)
        return give_up

    def _process(self, providers=None, commit=None, deadline=None, budget_waits=None):
        """Send these (claimed) jobs; every outcome is written on its job, nothing is raised.

        ``deadline`` (monotonic): before a batch is prepared, the connection's call budget is
        asked how long the batch would wait; a wait that would pass the deadline, or is longer
        than BUDGET_WAIT_IN_RUN, stops the connection's work here, with nothing recorded as sent
        (a send refused by the limiter would leave its jobs "maybe sent", looked up again later):
        ``budget_waits[connection id]`` is that wait and the method returns False.

        ``providers``: {connection id: provider} kept by the caller across rounds, so that what
        a provider learnt (Xero's contact directory) is not fetched again for every batch.
        ``commit(n)``: commits after each batch (``ir.cron._commit_progress``) and returns the
        time left; when none is left, this method returns False.

        Batches of one group (connection, kind, operation) overlap: while batch k's request is
        out (a thread, network only: see ``_BatchSend``), batch k+1 is prepared; batch k's
        answers are kept and applied once it is back, then batch k+1 leaves. One request per
        connection is out at a time, as before, and each job's steps keep their order (its send
        recorded and committed before its request leaves, its answer kept before it is
        applied). A group waits for its last answer before the next group is prepared:
        contacts before the invoices that need their IDs, removals before new money."""
        providers = {} if providers is None else providers
        self.invalidate_recordset()
        jobs = self.filtered_domain(self._ready_domain())  # fresh: the claim came after the search
        # Dependencies first (priority: contacts, documents, money); within money, removals
        # before new money and credit allocations before payments: Xero checks each against the
        # document's amount due at that moment.
        order = lambda j: (j.connection_id.id, j.priority, j.operation != "cancel", j.kind != "allocation",  # noqa: E731
                           j.kind, j.id)
        out_box = []  # the batch whose request is out, if any
        try:
            return self._process_groups(jobs.sorted(order), providers, commit, out_box, deadline,
                                        {} if budget_waits is None else budget_waits)
        except BaseException:
            # Something broke on this thread while a request was out: its answers are still
            # kept and applied (the send thread waits on this one for any database access).
            out = out_box[0] if out_box else None
            if out is not None and not out.finished:
                try:
                    self.env.cr.rollback()
                    out.finish()
                except Exception:  # noqa: BLE001 - the jobs stay maybe_sent: looked up next time
                    _logger.exception("Sync: could not keep the answers of a batch in flight")
            raise

    def _process_groups(self, jobs, providers, commit, out_box, deadline, budget_waits):
        for (conn, kind, operation), group in groupby(
                jobs, key=lambda j: (j.connection_id, j.kind, j.operation)):
            group = self.browse().union(*group)
            out = None  # the batch whose request is out
            size = BATCH_SIZE_BY_KIND.get(kind, BATCH_SIZE)
            for start in range(0, len(group), size):
                batch = group[start:start + size]
                wait = 0 if kind in NO_CALL_KINDS else self._budget_wait_past(conn, deadline)
                if wait:
                    if out is not None:
                        out.finish()
                        if commit:
                            commit(len(out.jobs))
                    budget_waits[conn.id] = wait
                    return False
                ready = batch._prepare_batch(conn, kind, operation, providers)
                if out is not None:
                    connection_failed = out.finish()
                    time_left = commit(len(out.jobs)) if commit else True
                    if connection_failed:
                        if ready is not None and not ready.failed_to_start:
                            ready.withdraw()  # never left: as if it had not been prepared
                        out = None
                        break
                    if not time_left:
                        # The run's time is up (Odoo gives a cron callback 10 s a run): the batch
                        # already prepared still goes, a few seconds more, rather than being
                        # prepared again by the next run.
                        if ready is not None and not ready.failed_to_start:
                            out_box[:] = [ready.start()]
                            ready.finish()
                            commit(len(ready.jobs))
                        return False
                out = None
                if ready is None:
                    time_left = commit(len(batch)) if commit else True
                    if not time_left:
                        return False
                    continue
                if ready.failed_to_start:
                    time_left = commit(len(batch)) if commit else True
                    if not time_left:
                        return False
                    break
                out = ready.start()
                out_box[:] = [out]
            if out is not None:
                connection_failed = out.finish()
                if commit and not commit(len(out.jobs)):
                    return False
        return True

    @api.model
    def _budget_wait_past(self, conn, deadline):
        """The wait for ``conn``'s call budget when it is too long for this run (see
        ``_process``), else 0. Without a deadline, only a wait longer than a run's is."""
        wait = conn._coworks_call_wait()
        if wait <= 0:
            return 0
        left = BUDGET_WAIT_IN_RUN if deadline is None else min(BUDGET_WAIT_IN_RUN, deadline - time.monotonic())
        return wait if wait > left else 0

    def _process_batch(self, conn, kind, operation, providers=None):
        """One batch from start to end (``_process`` overlaps them); True when the whole
        connection failed."""
        ready = self._prepare_batch(conn, kind, operation, providers)
        if ready is None:
            return False
        if ready.failed_to_start:
            return True
        return ready.start().finish()

    def _prepare_batch(self, conn, kind, operation, providers=None):
        """The first steps of a batch, in short transactions of its own: a ``_BatchSend``
        ready to leave, or None when nothing is to be sent.

        1. prepare: build each document (a failure fails that job alone) and record the send
           (``maybe_sent``, ``inflight_since``, the revision sent), committed before the request
           leaves, so that whatever happens next, the next attempt looks the document up first;
        then (``_BatchSend``):
        2. send: one request per group, its Idempotency-Key derived from the members, their
           recorded answers and contents (a request whose answer was lost is repeated as it was);
        3. keep Xero's answers on the jobs, committed;
        4. apply them to the documents (Xero IDs, statuses); a collision with a user's write
           retries this step alone, and if it keeps colliding the stored answers are applied by
           the next run, never sent again."""
        providers = {} if providers is None else providers
        t0 = time.monotonic()
        answered = self.filtered("answer")
        if answered:  # Xero answered an earlier run that could not record it: apply, don't send
            stored = {job.id: job._stored_answer() for job in answered}
            self._in_own_transaction(answered._apply_answers, stored)
        jobs = self - answered
        if not jobs:
            return None
        # Mark the jobs as being prepared, committed before their documents are read: a user who
        # re-queues one from now on rewrites its row (see ``_upsert_jobs``), so recording an
        # outcome from a snapshot that predates the user's change (say "nothing to send: it is a
        # draft" while it was just posted again) is a serialization failure, and the preparation
        # runs again on a fresh snapshot instead of closing the job on stale facts.
        self._in_own_transaction(jobs._mark_preparing)
        # what a send record replaces, should the request never leave (``_withdraw_send``)
        before = {job.id: {"maybe_sent": job.maybe_sent, "send_count": job.send_count,
                           "sent_revision": job.sent_revision, "last_attempt_at": job.last_attempt_at}
                  for job in jobs}
        prepared = self._in_own_transaction(jobs._prepare_send, conn, kind, operation, give_up=None)
        if prepared is None:  # kept colliding: leave the jobs to the next run, ready at once
            self._in_own_transaction(jobs._mark_preparing, False)
            return None
        if not prepared:
            return None
        sent = self.browse([job.id for job, _item in prepared])
        ready = _BatchSend(sent, conn, kind, operation, [item for _job, item in prepared], providers)
        ready.before = before
        ready.prepare_s = time.monotonic() - t0
        return ready

    def _withdraw_send(self, before):
        """The recorded send of these prepared jobs never left (the batch before failed for the
        whole connection, or the run's time was up): back to what they were before it."""
        for job in self:
            vals = before[job.id]  # as the ORM read them: False for NULL
            self.env.cr.execute("""
                UPDATE coworks_sync_job SET maybe_sent = %s, send_count = %s, inflight_since = NULL,
                       sent_revision = %s, last_attempt_at = %s WHERE id = %s""",
                                [bool(vals["maybe_sent"]), vals["send_count"] or 0, vals["sent_revision"] or 0,
                                 vals["last_attempt_at"] or None, job.id])
        self.invalidate_model(["maybe_sent", "send_count", "inflight_since", "sent_revision", "last_attempt_at"])

    def _mark_preparing(self, on=True):
        self.env.cr.execute("UPDATE coworks_sync_job SET inflight_since = %s WHERE id = ANY(%s)",
                            [fields.Datetime.now() if on else None, self.ids])
        self.invalidate_model(["inflight_since"])

    def _prefetch_records(self, conn):
        """Let each host model read what its snapshots need for the whole batch at once (the
        ORM computes company-dependent fields such as a customer's pricelist record by record
        when read one snapshot at a time). A failure here is no one's: the snapshots then read
        the same fields one by one, and fail alone if they must."""
        by_model = {}
        for job in self:
            by_model.setdefault(job.res_model, []).append(job.res_id)
        for model, ids in by_model.items():
            records = self.env[model].with_context(coworks_sync_connection_id=conn.id).browse(ids)
            if hasattr(records, "_coworks_xero_prefetch"):
                try:
                    with self.env.cr.savepoint():
                        records.exists()._coworks_xero_prefetch(conn)
                except Exception:  # noqa: BLE001 - see above
                    _logger.info("Sync: prefetching %s failed; reading one by one", model, exc_info=True)

    def _prepare_send(self, conn, kind, operation):
        """[(job, WorkItem)] for the jobs that have something to send; the others get their
        outcome (mapping missing, waiting, nothing to do, or a readable internal error)."""
        with batch_memo():
            return self._prepare_send_memoised(conn, kind, operation)

    def _prepare_send_memoised(self, conn, kind, operation):
        self._prefetch_records(conn)
        prepared = []
        for job in self:
            outcome = {}

            def build(job=job, outcome=outcome):
                try:
                    outcome["obj"] = job._snapshot(job._get_record(), conn)
                except (MappingError, DependencyPending, _Skip) as exc:
                    # What the snapshot wrote before an expected outcome stays (e.g. a link
                    # marked deleted before "nothing to remove").
                    outcome["expected"] = exc
            if not job._isolated(build, "build", _(
                    "Odoo could not prepare this document for Xero (%(err)s). Check the document, then "
                    "Retry; if it keeps failing, report it with this message.")):
                continue
            expected, obj = outcome.get("expected"), outcome.get("obj")
            if isinstance(expected, MappingError):
                job._record_failure(getattr(expected, "error_kind", prov.MAPPING), str(expected),
                                    code=_error_code(expected))
                continue
            if isinstance(expected, DependencyPending):
                job._record_failure(prov.RETRYABLE, str(expected), code=prov.CODE_WAITING)
                continue
            if isinstance(expected, _Skip):
                if expected.sent:
                    job._record_success(None, note=expected.reason)
                else:
                    job._record_skipped(expected.reason)
                continue
            prepared.append((job, prov.WorkItem(key=job.idempotency_key, kind=kind, operation=operation, obj=obj,
                                                attempt=job.answer_count, maybe_sent=job.maybe_sent)))
        if prepared:
            now = fields.Datetime.now()
            self.flush_model()
            self.env.cr.execute("""
                UPDATE coworks_sync_job SET maybe_sent = true, send_count = COALESCE(send_count, 0) + 1,
                       inflight_since = %s, sent_revision = COALESCE(revision, 0), last_attempt_at = %s
                 WHERE id = ANY(%s)""", [now, now, [j.id for j, _i in prepared]])
            self.invalidate_model(["maybe_sent", "send_count", "inflight_since", "sent_revision", "last_attempt_at"])
        return prepared  # the others' outcomes (recorded above) cleared their inflight_since

    def _isolated(self, fn, what, message):
        """``fn()`` in a savepoint. An unexpected error undoes what it wrote and fails this job
        alone with ``message`` (its ``%(err)s`` is the error), logged with its traceback; the run
        goes on. A serialization failure is the caller's (its whole step is run again). True when
        ``fn`` ran through."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                fn()
            return True
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception as exc:  # noqa: BLE001 - this document alone fails, the run goes on
            _logger.exception("Sync: could not %s %s", what, self.display_name)
            self._record_failure(prov.INTERNAL, message % {"err": f"{type(exc).__name__}: {exc}"},
                                 code="internal_error")
            return False

    def _store_answers(self, answers, elapsed_ms):
        for job in self:
            result = answers[job.id]
            job.write({"answer": json.dumps(dataclasses.asdict(result), default=str),
                       "inflight_since": False, "answer_count": job.answer_count + 1, "duration_ms": elapsed_ms})

    def _stored_answer(self):
        self.ensure_one()
        try:
            data = json.loads(self.answer)
            return Result(**{k: v for k, v in data.items() if k in Result.__dataclass_fields__})
        except (ValueError, TypeError):
            return Result(ref=self.idempotency_key, ok=False, error_kind=prov.RETRYABLE,
                          message=_("Xero's earlier answer could not be read; looking the document up again."))

    def _apply_answers(self, answers, daily_remaining=None):
        self.invalidate_recordset()  # revisions may have moved while the request was out
        if self:
            self._prefetch_records(self[:1].connection_id)
        for job in self:
            result = answers[job.id]
            if result.ok:
                apply = lambda job=job, result=result: job._record_success(result)  # noqa: E731
            else:
                apply = lambda job=job, result=result: job._record_failure(  # noqa: E731
                    result.error_kind or prov.INTERNAL, result.message, result,
                    code=(result.details or {}).get("error_code"))
            job._isolated(apply, "record Xero's answer for", _(
                "Xero answered, but Odoo could not record the answer (%(err)s). Retry looks the document "
                "up in Xero first, so nothing is created twice."))
        if self:
            self[:1].connection_id._note_call_success(daily_remaining)

    def _get_record(self):
        """The job's record, reading its remote links (and its customer's) under the job's
        connection: another organisation's IDs never reach this one."""
        self.ensure_one()
        return self.env[self.res_model].with_context(
            coworks_sync_connection_id=self.connection_id.id).browse(self.res_id).exists()

    def _snapshot(self, record, conn):
        """The documents.* object for this job; the host model builds it."""
        self.ensure_one()
        if not record:
            if self.operation == "cancel" and (self.remote_id or self.remote_contact_id):
                return self.env[self.res_model]._coworks_xero_deleted_snapshot(self, conn)
            raise _Skip(_("The record was deleted before it was sent; nothing to do."))
        return record._coworks_xero_snapshot(self, conn)

    # ------------------------------------------------------------------ outcomes

    def _record_success(self, result, note=None):
        self.ensure_one()
        if result is not None and (result.details or {}).get("not_sent") and not result.remote_id:
            # the provider looked and had nothing to do (e.g. a void of what never reached it)
            self._record_skipped("\n".join((result.details or {}).get("notes") or []) or note)
            record = self._get_record()
            if record:
                record._coworks_xero_apply_result(self, result)
            return
        was_error = self.person_notified
        now = fields.Datetime.now()
        # Queued again while its request was out: what was sent is not the latest; the answer
        # (the Xero ID) is kept and the record is sent once more.
        changed = result is not None and self.operation == "upsert" and self.revision != self.sent_revision
        vals = {"state": "pending" if changed else "done", "date_done": now, "error_kind": False, "error_code": False,
                "person_notified": False, "error_message": False, "next_attempt_at": False, "answer": False,
                "inflight_since": False, "attempt_count": 0 if changed else self.attempt_count + 1,
                "last_attempt_at": now}
        if result is not None:
            vals.update(remote_id=result.remote_id or self.remote_id,
                        **self._bodies(result))
            notes = result.details.get("notes") if result.details else None
            if notes:
                vals["log_note"] = "\n".join(notes)
        if note:
            vals["log_note"] = note
        if changed:
            vals["log_note"] = "\n".join(filter(None, [vals.get("log_note"), _(
                "Changed in Odoo while it was being sent: sent again with the latest version.")]))
        if vals.get("log_note"):
            vals["log_note"] = self.connection_id._coworks_words(vals["log_note"])
        vals.update(self._attempt_vals(vals))  # the attempts history (sync_job.py)
        self.write(vals)
        record = self._get_record()
        if record and result is not None:
            record._coworks_xero_apply_result(self, result)
            if was_error and hasattr(record, "_message_log"):
                record._message_log(body=self.connection_id._coworks_words(
                    _("Synced to Xero again after the earlier failure was fixed.")))

    def _record_skipped(self, reason):
        """Deliberately not sent (a draft or cancelled document, a record gone before it left):
        the job ends as "Not sent" with the reason, never as "Synced". Not an open state: a later
        change of the record queues a new job."""
        self.ensure_one()
        now = fields.Datetime.now()
        vals = {"state": "skipped", "date_done": now, "last_attempt_at": now,
                "log_note": self.connection_id._coworks_words(reason),
                "error_kind": False, "error_code": False, "error_message": False, "next_attempt_at": False,
                "answer": False, "inflight_since": False, "person_notified": False}
        vals.update(self._attempt_vals(vals))  # the attempts history (sync_job.py)
        self.write(vals)

    def _record_failure(self, kind, message, result=None, retry_after=None, code=None):
        self.ensure_one()
        attempts = self.attempt_count + 1
        now = fields.Datetime.now()
        if not code and result is not None:
            code = (result.details or {}).get("error_code")
        vals = {"attempt_count": attempts, "last_attempt_at": now, "error_kind": kind, "answer": False,
                "inflight_since": False, "error_message": self.connection_id._coworks_words(message) or _("Unknown error."),
                "error_code": code or prov.DEFAULT_CODES.get(kind, kind)}
        if result is not None:
            vals.update(self._bodies(result))
        retry = kind == prov.RETRYABLE and attempts < MAX_ATTEMPTS
        if retry:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
            if result is not None:
                retry_after = (result.details or {}).get("retry_after") or retry_after
            delay = max(delay, float(retry_after or 0)) * random.uniform(1.0, 1.25)
            vals.update(state="pending", next_attempt_at=now + datetime.timedelta(seconds=delay))
        else:
            if kind == prov.RETRYABLE:
                vals["error_message"] = _("Gave up after %(n)s attempts: %(msg)s", n=attempts, msg=vals["error_message"])
            vals.update(state="error", next_attempt_at=False)
        already_error = self.state == "error"
        vals.update(self._attempt_vals(vals))  # the attempts history (sync_job.py)
        self.write(vals)
        if not retry and not already_error:
            record = self._get_record()
            if record and hasattr(record, "_message_log"):
                record._message_log(body=self.connection_id._coworks_words(
                    _("Xero sync needs attention: %s", vals["error_message"])))
                self.person_notified = True

    def _handle_connection_failure(self, conn, exc):
        """The whole connection failed: keep the jobs, pause or delay the connection.

        Re-authorisation pauses the connection without spending attempts. A rate limit waits as
        long as Xero says, without spending attempts either (nothing is wrong with the
        documents). Any other temporary failure (Xero unavailable, timeouts) is an attempt of
        each job: it backs off exponentially and, after MAX_ATTEMPTS, needs a person. The
        outcome of the request is unknown, so the jobs stay ``maybe_sent``, unless the provider
        said nothing reached the service (``ProviderError.not_sent``: their send records were
        withdrawn before this)."""
        self.write({"inflight_since": False})
        code = getattr(exc, "code", None) or prov.DEFAULT_CODES.get(exc.kind)
        if exc.kind == prov.REAUTH:
            conn._mark_needs_reconnect(exc.message)
            self.write({"error_message": exc.message, "error_kind": prov.REAUTH, "error_code": code})
            return
        conn._note_call_failure(exc.message)
        if exc.rate_limited:
            # Xero's Retry-After, or a whole minute window when it gave none
            delay = (exc.retry_after or 60) * random.uniform(1.0, 1.1)
            self.write({"next_attempt_at": fields.Datetime.now() + datetime.timedelta(seconds=delay),
                        "error_message": exc.message, "error_kind": exc.kind, "error_code": code})
            return
        for job in self:
            job._record_failure(prov.RETRYABLE, exc.message, retry_after=exc.retry_after, code=code)

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
    def _enqueue_missing_page(self, limit=None):
        """Queue a page of the catch-up; True when some page was full, i.e. there may be more."""
        limit = limit or CATCH_UP_PAGE
        queued, pages = self._catch_up(limit)
        return bool(queued) and any(n >= limit for n in pages.values())

    @api.model
    def _catch_up(self, limit):
        """Queue what should be in Xero but has neither a Xero ID nor a job, at most ``limit`` of
        each kind per connection; returns (queued, {(connection id, what): page length}): invoices
        and credit notes imported or posted before the connection existed or while sync was off,
        cancelled documents that may be live in Xero, customer credit (overpayments) received or
        un-applied meanwhile, and the payments, refunds and credit allocations (reconciliations)
        made meanwhile, including refunds of customer credit."""
        conns = self._sync_connections_by_company(self.env["res.company"].sudo().search([]))
        pages = {}
        queued = 0
        for company, conn in conns.items():
            if conn.state != "connected":
                continue
            query, params = conn._missing_moves_query(open_jobs_only=False)
            self.env.cr.execute(f"SELECT m.id {query} ORDER BY m.id LIMIT %s", params + [limit])
            moves = self.env["account.move"].browse([r[0] for r in self.env.cr.fetchall()])
            pages[conn.id, "moves"] = len(moves)
            if moves:
                moves.with_context(coworks_xero_no_trigger=True)._coworks_xero_enqueue("upsert")
                queued += len(moves)
            # Cancelled documents that may be live in Xero (an upsert was sent, whatever Odoo
            # recorded of its answer) and have no void since: the void is queued.
            self.env.cr.execute("""
                WITH sent AS (
                    SELECT j.res_id, max(j.id) AS last_id FROM coworks_sync_job j
                     WHERE j.connection_id = %s AND j.res_model = 'account.move' AND j.operation = 'upsert'
                       AND j.kind IN ('invoice', 'credit_note') AND j.maybe_sent GROUP BY j.res_id)
                SELECT m.id FROM account_move m LEFT JOIN sent ON sent.res_id = m.id
                  LEFT JOIN coworks_sync_link l ON l.connection_id = %s AND l.res_model = 'account.move'
                                               AND l.res_id = m.id
                 WHERE m.company_id = %s AND m.state = 'cancel' AND m.move_type IN ('out_invoice', 'out_refund')
                   AND COALESCE(l.remote_status, '') NOT IN ('VOIDED', 'DELETED')
                   AND (l.remote_id IS NOT NULL OR sent.last_id IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM coworks_sync_job c
                                    WHERE c.connection_id = %s AND c.res_model = 'account.move'
                                      AND c.res_id = m.id AND c.operation = 'cancel'
                                      AND c.id > COALESCE(sent.last_id, 0))
                 ORDER BY m.id LIMIT %s
            """, [conn.id, conn.id, company.id, conn.id, limit])
            cancelled = self.env["account.move"].browse([r[0] for r in self.env.cr.fetchall()])
            pages[conn.id, "cancelled"] = len(cancelled)
            if cancelled:
                cancelled.with_context(coworks_xero_no_trigger=True)._coworks_xero_enqueue("cancel")
                queued += len(cancelled)
            # Money in Xero whose reconciliation Odoo removed while sync was off: its removal (no
            # job could be queued then) is queued now, unless a manager stopped one.
            self.env.cr.execute("""
                SELECT l.id FROM coworks_xero_payment_link l
                 WHERE l.connection_id = %s AND l.state = 'to_delete' AND l.xero_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM coworks_sync_job j
                                    WHERE j.res_model = 'coworks.xero.payment.link' AND j.res_id = l.id
                                      AND j.connection_id = %s AND j.operation = 'cancel')
                 ORDER BY l.id LIMIT %s
            """, [conn.id, conn.id, limit])
            undone = self.env["coworks.xero.payment.link"].browse([r[0] for r in self.env.cr.fetchall()])
            pages[conn.id, "undone"] = len(undone)
            if undone:
                undone._coworks_xero_enqueue("cancel", trigger=False)
                queued += len(undone)
            # Customer credit (money received that settles nothing, or less than it paid) that Xero
            # does not hold as overpayments yet: posted, or un-applied, while sync was off. Before
            # the reconciliations below, so a refund or an application of that credit finds it.
            # (a customer payment's, or a bank statement line's matched with the receivable)
            for what, owner_model in (("credit", "account.payment"),
                                      ("statement_credit", "account.bank.statement.line")):
                owners = self._catch_up_credit(conn, limit, owner_model)
                pages[conn.id, what] = len(owners)
                if owners:
                    links = self.env["coworks.xero.payment.link"].with_context(
                        coworks_xero_no_trigger=True)._coworks_xero_sync_credit(owners)
                    queued += len(links)
            # Reconciliations of customer documents that no link mirrors yet (a link is made when
            # the reconciliation is, while sync is on), and of customer credit with money paid back.
            self.env.cr.execute("""
                SELECT p.id FROM account_partial_reconcile p
                  JOIN account_move_line dl ON dl.id = p.debit_move_id
                  JOIN account_move dm ON dm.id = dl.move_id
                  JOIN account_move_line cl ON cl.id = p.credit_move_id
                  JOIN account_move cm ON cm.id = cl.move_id
                 WHERE p.company_id = %s AND dm.state = 'posted' AND cm.state = 'posted'
                   AND (dm.move_type = 'out_invoice' OR cm.move_type = 'out_refund'
                        OR (dm.move_type = 'entry' AND cm.move_type = 'entry'
                            AND (cm.origin_payment_id IS NOT NULL OR dm.origin_payment_id IS NOT NULL
                                 OR dm.statement_line_id IS NOT NULL OR cm.statement_line_id IS NOT NULL)
                            AND EXISTS (SELECT 1 FROM account_account a
                                         WHERE a.id = dl.account_id AND a.account_type = 'asset_receivable')
                            AND EXISTS (SELECT 1 FROM account_account a
                                         WHERE a.id = cl.account_id AND a.account_type = 'asset_receivable')))
                   AND NOT EXISTS (SELECT 1 FROM coworks_xero_payment_link l
                                    WHERE l.partial_id = p.id AND l.connection_id = %s)
                 ORDER BY p.id LIMIT %s
            """, [company.id, conn.id, limit])
            partials = self.env["account.partial.reconcile"].browse([r[0] for r in self.env.cr.fetchall()])
            pages[conn.id, "partials"] = len(partials)
            if partials:
                links = self.env["coworks.xero.payment.link"].with_context(
                    coworks_xero_no_trigger=True)._coworks_xero_track(partials)
                queued += len(links)
        return queued, pages

    # Owners of customer credit, as the catch-up reads them: their table, the currency their
    # credit is counted in (see ``_coworks_xero_credit_left``), what makes them eligible, and the
    # link field that names them.
    _CREDIT_OWNERS = {
        "account.payment": (
            "account_payment o", "o.currency_id",
            "o.payment_type = 'inbound' AND o.partner_type = 'customer' AND o.partner_id IS NOT NULL",
            "credit_payment_id"),
        "account.bank.statement.line": (
            "account_bank_statement_line o", "COALESCE(o.foreign_currency_id, o.currency_id)",
            "o.amount > 0", "credit_statement_line_id"),
    }

    @api.model
    def _catch_up_credit(self, conn, limit, owner_model="account.payment"):
        """Posted customer receipts (``account.payment``), or money received on bank statement
        lines (``account.bank.statement.line``), whose credit on the receivable (what they paid
        and apply to nothing, in their currency as ``_coworks_xero_credit_left`` reads it) is
        more than what their live overpayment links hold in Xero (their amount less their live
        allocations and refunds). One whose overpayment is still to be sent is left to it (it
        takes what is left when sent), and so is one a manager stopped."""
        table, currency, eligible, field = self._CREDIT_OWNERS[owner_model]
        self.env.flush_all()
        self.env.cr.execute(f"""
            WITH credit AS (
                SELECT o.id AS owner_id,
                       CASE WHEN bool_or(l.currency_id != {currency}) THEN -SUM(l.amount_residual)
                            ELSE -SUM(l.amount_residual_currency) END AS left_amount
                  FROM {table}
                  JOIN account_move m ON m.id = o.move_id
                  JOIN account_move_line l ON l.move_id = m.id
                  JOIN account_account a ON a.id = l.account_id
                 WHERE m.company_id = %(company)s AND m.state = 'posted' AND {eligible}
                   AND a.account_type = 'asset_receivable' AND l.partner_id IS NOT NULL AND NOT l.reconciled
                 GROUP BY o.id
                HAVING SUM(l.amount_residual) < 0
            ), held AS (
                SELECT o.{field} AS owner_id,
                       SUM(o.amount - COALESCE((SELECT SUM(x.amount) FROM coworks_xero_payment_link x
                                                 WHERE x.credit_link_id = o.id
                                                   AND x.kind IN ('overpayment_allocation', 'overpayment_refund')
                                                   AND x.state IN ('pending', 'synced')), 0)) AS amount
                  FROM coworks_xero_payment_link o
                 WHERE o.connection_id = %(conn)s AND o.kind = 'overpayment' AND o.state IN ('pending', 'synced')
                   AND o.{field} IS NOT NULL
                 GROUP BY o.{field}
            )
            SELECT c.owner_id FROM credit c LEFT JOIN held h ON h.owner_id = c.owner_id
             WHERE c.left_amount - COALESCE(h.amount, 0) > 0.005
               AND NOT EXISTS (SELECT 1 FROM coworks_xero_payment_link o
                                WHERE o.connection_id = %(conn)s AND o.{field} = c.owner_id
                                  AND o.kind = 'overpayment' AND o.state = 'pending' AND o.xero_id IS NULL)
             ORDER BY c.owner_id LIMIT %(limit)s
        """, {"company": conn.company_id.id, "conn": conn.id, "limit": limit})
        return self.env[owner_model].browse([r[0] for r in self.env.cr.fetchall()])

    @api.autovacuum
    def _gc_done_jobs(self):
        """Remove successful log entries older than each company's retention; keep failures."""
        for company in self.env["res.company"].sudo().search([]):
            days = company.coworks_xero_job_retention_days
            if days <= 0:
                continue
            limit = fields.Datetime.now() - datetime.timedelta(days=days)
            self.sudo().search([("company_id", "=", company.id), ("state", "in", ("done", "skipped")),
                                ("date_done", "<", limit)]).unlink()


class _BatchSend:
    """A prepared batch (its send recorded and committed): ``start`` sends it (on a thread when
    the provider allows, see services/send_thread.py: the worker prepares the next batch
    meanwhile), ``finish`` waits for Xero's answers, keeps them (committed) and applies them,
    on the worker's thread. ``finish`` returns True when the whole connection failed."""

    def __init__(self, jobs, conn, kind, operation, items, providers):
        self.jobs, self.conn, self.kind, self.operation = jobs, conn, kind, operation
        self.items, self.providers = items, providers
        self.provider = self.thread = self.bridge = None
        self.results = self.error = None
        self.failed_to_start = self.finished = False
        self.before = {}
        self.prepare_s = self.send_s = self.wait_s = self.finish_s = 0.0
        try:
            self.provider = providers.get(conn.id)
            if self.provider is None:
                self.provider = providers[conn.id] = conn._get_provider()
        except prov.ProviderError as exc:
            self._connection_failed(exc)

    def _connection_failed(self, exc):
        self.providers.pop(self.conn.id, None)  # start afresh (new tokens, new directory)
        self.jobs._in_own_transaction(self.jobs._handle_connection_failure, self.conn, exc)
        self.failed_to_start = True

    def _run(self):
        started = time.monotonic()
        try:
            return self.provider.run(self.items)
        finally:
            self.send_s = time.monotonic() - started

    def start(self):
        if getattr(self.provider, "send_in_thread", False):
            self.provider.before_send_thread()
            self.bridge = send_thread.Bridge()
            self.thread = send_thread.Send(self.bridge, self._run)
            self.thread.start()
        else:
            try:
                self.results = self._run()
            except Exception as exc:  # noqa: BLE001 - handled in finish, on this thread
                self.error = exc
        return self

    def withdraw(self):
        """Never sent: the jobs' send records are undone (nothing left Odoo)."""
        self.jobs._in_own_transaction(self.jobs._withdraw_send, self.before)

    def finish(self):
        self.finished = True
        jobs, kind, operation = self.jobs, self.kind, self.operation
        t0 = time.monotonic()
        if self.thread is not None:
            try:
                self.results = self.bridge.wait(self.thread)
            except Exception as exc:  # noqa: BLE001 - handled below
                self.error = exc
            self.wait_s = time.monotonic() - t0
        results, exc = self.results, self.error
        if isinstance(exc, prov.ProviderError):
            self.providers.pop(self.conn.id, None)  # start afresh (new tokens, new directory)
            if getattr(exc, "not_sent", False) and self.before:  # none of it reached the service
                self.withdraw()
            jobs._in_own_transaction(jobs._handle_connection_failure, self.conn, exc)
            return True
        if exc is not None:  # one batch's bug must not stop the run
            _logger.error("Sync: sending %s %s failed inside Odoo", kind, operation, exc_info=exc)
            message = _("Sending failed inside Odoo (%(err)s). Xero may have received it: the next attempt "
                        "looks it up before sending again.", err=f"{type(exc).__name__}: {exc}")
            results = [Result(ref=item.key, ok=False, error_kind=prov.RETRYABLE, message=message)
                       for item in self.items]
        elapsed_ms = int(self.send_s * 1000 / max(len(self.items), 1))
        by_key = {r.ref: r for r in results}
        answers = {}
        for job in jobs:
            answers[job.id] = by_key.get(job.idempotency_key) or Result(
                ref=job.idempotency_key, ok=False, error_kind=prov.INTERNAL,
                message=_("The provider returned no result for this document."))
        # Documents the provider did not send after all (a rate limit reached before their turn):
        # their send records are undone, so the retry sends them as first sends, not look-ups.
        unsent = jobs.filtered(lambda job: job.id in self.before and not answers[job.id].ok
                               and (answers[job.id].details or {}).get(prov.CODE_NOT_SENT))
        if unsent:
            unsent._in_own_transaction(unsent._withdraw_send, self.before)
        t1 = time.monotonic()
        if jobs._in_own_transaction(jobs._store_answers, answers, elapsed_ms, give_up=False) is False:
            _logger.warning("Sync: could not keep Xero's answers for %s jobs; they will be looked up", len(jobs))
        t2 = time.monotonic()
        jobs._in_own_transaction(jobs._apply_answers, answers, getattr(self.provider, "daily_remaining", None))
        t3 = time.monotonic()
        # One line a batch (INFO): where a batch's time goes (bench/pipe.py sums them).
        _logger.info("Sync: batch %s %s of %d: prepare %.3f s, send %.3f s (waited %.3f s after "
                     "preparing the next), store %.3f s, apply %.3f s", kind, operation, len(jobs),
                     self.prepare_s, self.send_s, self.wait_s, t2 - t1, t3 - t2)
        return False


class DependencyPending(Exception):
    """A document waits for another record (its customer) to reach the provider first."""


class _Skip(Exception):
    """Nothing to send for this job. By default it ends "Not sent" (``skipped``) with ``reason``:
    the record is not in the provider because of a deliberate decision (a draft, a cancelled or
    deleted record). ``sent=True`` when what the job stands for is already in the provider (an
    ID already there, a change that came from Xero itself, an inbound change applied): "Synced"."""

    def __init__(self, reason, sent=False):
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


def _error_code(exc):
    """The stable code an Odoo-side failure carries (``MappingError(..., code=...)``), also when it
    was re-raised with more context (``raise MappingError(...) from None`` keeps the original as
    ``__context__``)."""
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "code", None)
        if code:
            return code
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


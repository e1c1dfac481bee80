"""Fault soak: exactly once, whatever fails. Prints figures; it is NOT a test (nothing asserted).

Each scenario runs on a fresh copy of a base database (the bench template plus a soak company,
AUD, generic chart) with a fresh Xero emulator (loopback, real 1x clock, Xero's default limits):
real Odoo servers (``odoo-bin --workers=2 --max-cron-threads=1``) push to it while a workload
made through XML-RPC, as users would, runs and faults are injected:

  5xx           5-10 % of every call (token endpoint and /Connections included) answer 500/502/503
  lost_answers  writes are committed and their answers dropped (connection closed, no status)
  429_storm     a quarter of the calls answer 429 with Retry-After, on top of Xero's 60/min
  token_death   access tokens expire, the refresh token is dead; then Reconnect (real OAuth flow)
  kill_cron     SIGKILL of the cron worker while it talks to Xero, a few times
  kill_server   SIGKILL of the whole server (master and workers), restarted
  two_servers   two servers (each 2 workers + 1 cron worker) on one database, slow Xero
  pg_terminate  pg_terminate_backend() of Odoo's database connections, a few times

Workload: --invoices customer invoices (posted in small groups), full payments, partial payments,
group payments (one payment for two invoices), credit notes applied to their invoice (reconciled)
and credit notes refunded in money, cancellations of posted invoices (some already in Xero),
reset-to-draft + edit + post again.

Then the faults stop and the soak waits until no job is pending (--drain-timeout). Meanwhile it
wakes the cron every --wake seconds as users' activity would (0 = never: only the cron's own
interval and Odoo's triggers). Then it reads Xero through its API (GET /Invoices, /CreditNotes,
/Payments with a bearer token and xero-tenant-id) and compares with Odoo:

  scenario=NAME duplicates=D lost=L mismatched=M stuck=S drain_s=T

  lost        an Odoo document that should be in Xero is not (or is cancelled in Odoo but live in Xero)
  duplicates  more than one live Xero document for one Odoo document, or more paid in Xero than in Odoo
  mismatched  total, amount due or status differs (to the cent)
  stuck       jobs still pending or in error after the drain (their messages are listed)
  drain_s     seconds from faults off to nothing pending

    bash bench/run.sh soak [--scenario 5xx] [--invoices 60]
    $PY bench/fault_soak.py --template cx_bench_tpl [--scenario NAME ...] [--invoices 300]
"""
import argparse
import collections
import datetime
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xmlrpc.client

import psutil
import psycopg2

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo19")
sys.path.insert(0, REPO_ROOT)
from xero_emulator import EmulatorServer  # noqa: E402
from xero_emulator.seed import DEMO_CLIENT_ID, TENANT_AU  # noqa: E402

SCENARIOS = ["5xx", "lost_answers", "429_storm", "token_death", "kill_cron", "kill_server", "two_servers",
             "pg_terminate"]
LIVE = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID")
APP_NAME = "fault_soak"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ============================================================================ databases
def psql(db, sql):
    return subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atqd", db, "-c", sql], check=True,
                          capture_output=True, text=True).stdout


# Databases the benches make are named <name><RUN_SUFFIX>: bench/run.sh sets BENCH_RUN_SUFFIX from
# BENCH_DB, so two people benching on one PostgreSQL server (each with their own BENCH_DB) never
# drop each other's pipe_run / soak_* / memory_run_* databases.
RUN_SUFFIX = os.environ.get("BENCH_RUN_SUFFIX", "")


def run_db(name):
    return f"{name}{RUN_SUFFIX}"


def copy_db(src, dst):
    subprocess.run(["dropdb", "--if-exists", "--force", dst], check=True)
    subprocess.run(["createdb", "-T", src, dst], check=True)


def fresh_run(name, template, db):
    """var/<name> without the logs of an earlier run, and ``db`` a fresh copy of ``template``."""
    workdir = os.path.join(REPO_ROOT, "var", name)
    os.makedirs(workdir, exist_ok=True)
    for f in os.listdir(workdir):
        if f.endswith((".log", ".stderr")):
            os.unlink(os.path.join(workdir, f))
    copy_db(template, db)
    return workdir


def pg(db):
    cnx = psycopg2.connect(dbname=db, application_name=APP_NAME)
    cnx.autocommit = True
    return cnx


def query(db, sql, args=()):
    with pg(db) as cnx, cnx.cursor() as cr:
        cr.execute(sql, args)
        rows = cr.fetchall() if cr.description else []
    cnx.close()
    return rows


# ============================================================================ Odoo
class OdooServer:
    """One ``odoo-bin`` server (master + 2 HTTP workers + 1 cron worker) in its own process group."""

    def __init__(self, args, db, workdir, tag, options=""):
        self.args, self.db, self.tag = args, db, tag
        self.port, self.gevent_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = os.path.join(workdir, f"odoo-{tag}.log")
        self.conf = os.path.join(workdir, f"odoo-{tag}.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[options]
addons_path = {ODOO_PATH}/addons,{ODOO_PATH}/odoo/addons,{REPO_ROOT}
db_name = {db}
dbfilter = ^{db}$
list_db = False
http_interface = 127.0.0.1
http_port = {self.port}
gevent_port = {self.gevent_port}
data_dir = {workdir}/data
workers = 2
max_cron_threads = 1
log_level = warn
log_handler = odoo.addons.coworks_xero:INFO,odoo.service.server:INFO,odoo.addons.base.models.ir_cron:INFO
logfile = {self.logfile}
{options}""")
        self.proc = None
        self.starts = 0

    def start(self):
        env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT}:{ODOO_PATH}")
        self.proc = subprocess.Popen([self.args.python, f"{ODOO_PATH}/odoo-bin", "-c", self.conf],
                                     env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=open(self.logfile + ".stderr", "a"))
        self.starts += 1
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/web/health", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"odoo server {self.tag} did not start, see {self.logfile}")

    def pids(self):
        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid] + [c.pid for c in master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cron_worker_pid(self):
        """The cron worker: the child connected to the "postgres" database to LISTEN on
        cron_trigger (its last query may be that LISTEN or a later COMMIT), not the bus's imbus."""
        children = set(self.pids()[1:])
        for (app,) in query("postgres", "SELECT application_name FROM pg_stat_activity WHERE datname = 'postgres' "
                                        "AND application_name LIKE 'odoo-%%' AND query NOT ILIKE '%%imbus%%' "
                                        "ORDER BY (query ILIKE 'LISTEN%%cron_trigger%%') DESC"):
            try:
                pid = int(app.split("-", 1)[1])
            except ValueError:
                continue
            if pid in children:
                return pid
        return None

    def kill(self):
        """SIGKILL of the master and every worker (only this server's process group)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def shell(args, db, env_extra, script_name="_soak_setup.py", timeout=900):
    env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT}:{ODOO_PATH}", **env_extra)
    with open(os.path.join(REPO_ROOT, "bench", script_name)) as script:
        out = subprocess.run([args.python, f"{ODOO_PATH}/odoo-bin", "shell", "-d", db, "--no-http", "--log-level=warn",
                              f"--addons-path={ODOO_PATH}/addons,{ODOO_PATH}/odoo/addons,{REPO_ROOT}"],
                             stdin=script, capture_output=True, text=True, env=env, timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith("SOAK "):
            return json.loads(line[5:])
    raise RuntimeError(f"soak set-up ({env_extra.get('SOAK_STEP')}) failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


class Rpc:
    """XML-RPC as a user (admin) would call, surviving server restarts and dropped connections."""

    RETRY_FAULTS = ("OperationalError", "InterfaceError", "terminating connection", "server closed the connection",
                    "could not serialize", "SerializationFailure", "connection already closed", "deadlock")

    def __init__(self, servers, db, company_id, patience=90):
        self.servers, self.db, self.company_id, self.patience = servers, db, company_id, patience
        self.uid = None
        self.calls = 0
        self.errors = collections.Counter()
        self.ctx = {"allowed_company_ids": [company_id], "tz": "UTC"}

    def _proxy(self):
        server = self.servers[self.calls % len(self.servers)]
        return xmlrpc.client.ServerProxy(server.url + "/xmlrpc/2/object", allow_none=True)

    def __call__(self, model, method, *args, **kw):
        kw.setdefault("context", self.ctx)
        deadline = time.time() + self.patience
        while True:
            self.calls += 1
            try:
                if self.uid is None:
                    common = xmlrpc.client.ServerProxy(self.servers[0].url + "/xmlrpc/2/common")
                    self.uid = common.authenticate(self.db, "admin", "admin", {})
                return self._proxy().execute_kw(self.db, self.uid, "admin", model, method, list(args), kw)
            except xmlrpc.client.Fault as exc:
                if "cannot marshal None" in exc.faultString:
                    return None  # the method ran (button_draft, button_cancel return None); only its answer failed
                if not any(s in exc.faultString for s in self.RETRY_FAULTS) or time.time() > deadline:
                    raise
                self.errors["retried: " + exc.faultString.strip().splitlines()[-1][:100]] += 1
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
                if time.time() > deadline:
                    raise
                self.errors[f"retried: {type(exc).__name__}"] += 1
            time.sleep(1)


# ============================================================================ workload
class Workload:
    """Invoices posted in groups of 10; what users do with them, some while they are being synced."""

    def __init__(self, rpc, ids, n_invoices, seed=7):
        self.rpc, self.ids, self.n = rpc, ids, n_invoices
        self.rng = random.Random(seed)
        self.counts = collections.Counter()
        self.failures = collections.Counter()
        self.today = datetime.date.today().isoformat()

    def op(self, name, fn, *a, **kw):
        try:
            fn(*a, **kw)
            self.counts[name] += 1
        except Exception as exc:  # noqa: BLE001 - a refused user action is reported, the soak goes on
            msg = exc.faultString.strip().splitlines()[-1] if isinstance(exc, xmlrpc.client.Fault) else repr(exc)
            self.failures[f"{name}: {msg[:160]}"] += 1

    def register(self, move_ids, **vals):
        ctx = dict(self.rpc.ctx, active_model="account.move", active_ids=move_ids)
        vals.setdefault("journal_id", self.ids["bank_journal"])
        vals.setdefault("payment_date", self.today)
        wiz = self.rpc("account.payment.register", "create", vals, context=ctx)
        self.rpc("account.payment.register", "action_create_payments", [wiz], context=ctx)

    def credit_note(self, inv, half=False):
        ctx = dict(self.rpc.ctx, active_model="account.move", active_ids=[inv])
        wiz = self.rpc("account.move.reversal", "create",
                       {"reason": "soak credit", "journal_id": self.ids["sale_journal"]}, context=ctx)
        action = self.rpc("account.move.reversal", "refund_moves", [wiz], context=ctx)
        cn = action.get("res_id") or self.rpc("account.move", "search", [("reversed_entry_id", "=", inv)],
                                               order="id desc", limit=1)[0]
        if half:
            lines = self.rpc("account.move.line", "search", [("move_id", "=", cn), ("display_type", "=", "product")])
            self.rpc("account.move", "write", [cn], {"invoice_line_ids": [(1, lines[0], {"price_unit": 175.0})]})
        self.rpc("account.move", "action_post", [cn])
        return cn

    def apply_credit(self, inv, half):
        cn = self.credit_note(inv, half)
        state = self.rpc("account.move", "read", [inv], ["payment_state"])[0]["payment_state"]
        if state == "not_paid":  # not reconciled by posting: assign it as a user does on the invoice
            line = self.rpc("account.move.line", "search", [("move_id", "=", cn), ("account_id.account_type", "=",
                                                                                   "asset_receivable")])[0]
            self.rpc("account.move", "js_assign_outstanding_line", [inv], line)

    def refund(self, inv):
        self.register([inv])
        cn = self.credit_note(inv)
        self.register([cn])

    def redo(self, inv):
        self.rpc("account.move", "button_draft", [inv])
        lines = self.rpc("account.move.line", "search", [("move_id", "=", inv), ("display_type", "=", "product")])
        self.rpc("account.move", "write", [inv], {"invoice_line_ids": [(1, lines[0], {"price_unit": 360.0, "quantity": 2})]})
        self.rpc("account.move", "action_post", [inv])

    def run(self):
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001
            self.failures[f"workload aborted: {exc!r}"[:200]] += 1

    def _run(self):
        ids, partners = self.ids, self.ids["partners"]
        later = collections.deque()  # (due chunk, name, fn, args): done a few groups later, often once synced
        for chunk_no, start in enumerate(range(0, self.n, 10)):
            idx = list(range(start, min(start + 10, self.n)))
            vals = [{"move_type": "out_invoice", "partner_id": partners[(i // 2) % len(partners)],
                     "journal_id": ids["sale_journal"], "invoice_date": self.today,
                     "invoice_line_ids": [(0, 0, {"product_id": ids["product"], "quantity": 1, "price_unit": 350.0,
                                                  "tax_ids": [(6, 0, [ids["tax"]])]})]} for i in idx]
            try:
                moves = self.rpc("account.move", "create", vals)
                self.rpc("account.move", "action_post", moves)
                self.counts["invoices_posted"] += len(moves)
            except Exception as exc:  # noqa: BLE001
                self.failures[f"post: {exc!r}"[:160]] += 1
                continue
            by = dict(zip(idx, moves))
            for i, inv in by.items():
                slot, variant = i % 10, (i // 10) % 3
                if slot in (0, 1, 2):
                    self.op("full_payment", self.register, [inv])
                elif slot == 3:
                    later.append((chunk_no + 2, "full_payment_late", self.register, ([inv],)))
                elif slot == 4:
                    self.op("partial_payment", self.register, [inv], amount=150.0)
                elif slot == 5:
                    self.op("redo_draft_edit_post", self.redo, inv)
                elif slot == 6 and i + 1 in by:
                    self.op("group_payment", self.register, [inv, by[i + 1]], group_payment=True)
                elif slot == 8:
                    later.append((chunk_no + 1, "credit_note_applied", self.apply_credit, (inv, variant == 1)))
                elif slot == 9:
                    if variant == 0:
                        self.op("cancel_at_once", lambda m: self.rpc("account.move", "button_cancel", [m]), inv)
                    elif variant == 1:
                        later.append((chunk_no + 2, "cancel_later", lambda m: self.rpc("account.move", "button_cancel",
                                                                                       [m]), (inv,)))
                    else:
                        later.append((chunk_no + 1, "credit_note_refunded", self.refund, (inv,)))
            while later and later[0][0] <= chunk_no:
                _due, name, fn, a = later.popleft()
                self.op(name, fn, *a)
        while later:
            _due, name, fn, a = later.popleft()
            self.op(name, fn, *a)


# ============================================================================ Xero through its API
class XeroReader:
    def __init__(self, base):
        self.base = base
        req = urllib.request.Request(base + "/__emulator__/grant", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"client_id": DEMO_CLIENT_ID, "tenant_ids": [TENANT_AU]}).encode())
        self.token = json.loads(urllib.request.urlopen(req, timeout=30).read())["access_token"]

    def get(self, path, **params):
        url = f"{self.base}/api.xro/2.0{path}?{urllib.parse.urlencode(params)}"
        for _ in range(30):
            req = urllib.request.Request(url, headers={"Authorization": "Bearer " + self.token,
                                                       "xero-tenant-id": TENANT_AU, "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        raise RuntimeError("Xero kept answering 429")

    def all(self, path, key):
        out, page = [], 1
        while True:
            items = self.get(path, page=page).get(key) or []
            out.extend(items)
            if len(items) < 100:
                return out
            page += 1


def compare(db, company_id, base):
    xero = XeroReader(base)
    docs = {"out_invoice": collections.defaultdict(list), "out_refund": collections.defaultdict(list)}
    for inv in xero.all("/Invoices", "Invoices"):
        docs["out_invoice"][inv.get("InvoiceNumber")].append(inv)
    for cn in xero.all("/CreditNotes", "CreditNotes"):
        docs["out_refund"][cn.get("CreditNoteNumber")].append(cn)
    payments = [p for p in xero.all("/Payments", "Payments") if p.get("Status") != "DELETED"]
    moves = query(db, """SELECT m.id, m.name, m.move_type, m.state, m.amount_total, m.amount_residual, m.payment_state,
                                l.remote_id
                           FROM account_move m
                           LEFT JOIN coworks_sync_link l ON l.res_model = 'account.move' AND l.res_id = m.id
                                AND l.connection_id = (SELECT id FROM coworks_sync_connection c
                                                        WHERE c.company_id = m.company_id AND c.active
                                                        ORDER BY id LIMIT 1)
                          WHERE m.company_id = %s AND m.move_type IN ('out_invoice', 'out_refund')
                          ORDER BY m.id""", [company_id])
    problems = {"lost": [], "duplicates": [], "mismatched": []}
    cents = lambda v: round(float(v or 0) * 100)  # noqa: E731
    for mid, name, mtype, state, total, residual, pay_state, xero_id in moves:
        found = docs[mtype].get(name, [])
        live = [d for d in found if d.get("Status") in LIVE]
        label = f"{name} (id {mid}, {state}, {pay_state})"
        if state == "cancel":
            if live:
                problems["lost"].append(f"{label}: cancelled in Odoo, {live[0]['Status']} in Xero")
            continue
        if state != "posted":
            continue
        if not live:
            problems["lost"].append(f"{label}: not in Xero" + (f" (found {[d['Status'] for d in found]})" if found else ""))
            continue
        if len(live) > 1:
            problems["duplicates"].append(f"{label}: {len(live)} live documents in Xero")
        doc = live[0]
        due_x, due_o = cents(doc.get("AmountDue")), cents(residual)
        if due_x < due_o:
            problems["duplicates"].append(f"{label}: Xero due {due_x / 100:.2f} < Odoo {due_o / 100:.2f} "
                                          f"(paid {doc.get('AmountPaid')} credited {doc.get('AmountCredited')})")
            continue
        diffs = []
        if cents(doc.get("Total")) != cents(total):
            diffs.append(f"total Xero {doc.get('Total')} Odoo {total}")
        if due_x != due_o:
            diffs.append(f"due Xero {due_x / 100:.2f} Odoo {due_o / 100:.2f}")
        want = "PAID" if due_o == 0 else "AUTHORISED"
        if doc.get("Status") != want:
            diffs.append(f"status Xero {doc.get('Status')} expected {want}")
        if diffs:
            problems["mismatched"].append(f"{label}: " + "; ".join(diffs))
    stuck = query(db, """SELECT kind, state, coalesce(error_kind, ''), coalesce(error_summary, error_message, ''),
                                count(*), min(next_attempt_at)
                           FROM coworks_sync_job WHERE state IN ('pending', 'error')
                          GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC""")
    info = {"xero_invoices": sum(len(v) for v in docs["out_invoice"].values()),
            "xero_credit_notes": sum(len(v) for v in docs["out_refund"].values()),
            "xero_payments": len(payments), "odoo_documents": len(moves)}
    return problems, stuck, info


# ============================================================================ scenarios
def emu_ctl(base, method, name, body=None):
    req = urllib.request.Request(f"{base}/__emulator__/{name}", method=method, headers={"Content-Type": "application/json"},
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def arm_faults(name, base, seed):
    faults = {
        "5xx": [{"route": "*", "kind": "status", "status": 500, "probability": 0.04},
                {"route": "*", "kind": "status", "status": 503, "probability": 0.02},
                {"route": "*", "kind": "status", "status": 502, "probability": 0.015}],
        "lost_answers": [{"route": "*", "kind": "drop_after_write", "probability": 0.12}],
        "429_storm": [{"route": "*", "kind": "status", "status": 429, "probability": 0.25, "retry_after": 2}],
        "two_servers": [{"route": "*", "kind": "latency", "seconds_min": 0.05, "seconds_max": 0.4}],
        "kill_cron": [{"route": "*", "kind": "latency", "seconds_min": 0.1, "seconds_max": 0.5}],
        "kill_server": [{"route": "*", "kind": "latency", "seconds_min": 0.05, "seconds_max": 0.3}],
        "pg_terminate": [{"route": "*", "kind": "latency", "seconds_min": 0.05, "seconds_max": 0.3}],
    }.get(name, [])
    for i, f in enumerate(faults):
        emu_ctl(base, "POST", "faults", dict(f, count=0, seed=seed + i))


def busy(emulator, within=1.0):
    """Did Odoo call Xero within the last ``within`` seconds (i.e. is a batch being sent)?"""
    with emulator.lock:
        return bool(emulator.log) and time.time() - emulator.log[-1]["ts"] < within


class Disruptor(threading.Thread):
    """kill_cron / kill_server / pg_terminate: a few hits while Odoo is talking to Xero."""

    def __init__(self, name, servers, db, emulator, hits, interval):
        super().__init__(daemon=True)
        self.kind, self.servers, self.db, self.emulator = name, servers, db, emulator
        self.hits, self.interval = hits, interval
        self.done = []
        self.stop_flag = threading.Event()

    def run(self):
        while len(self.done) < self.hits and not self.stop_flag.is_set():
            if self.stop_flag.wait(self.interval):
                return
            for _ in range(40):  # wait for a moment when a batch is on the wire
                if self.busy():
                    break
                time.sleep(0.25)
            try:
                self.done.append(self.hit())
            except Exception as exc:  # noqa: BLE001
                self.done.append(f"failed: {exc!r}")

    def busy(self):
        """Is Odoo calling the emulator right now? (an emulator run in another process overrides this)"""
        return busy(self.emulator, 0.5)

    def hit(self):
        server = self.servers[0]
        if self.kind == "kill_cron":
            pid = server.cron_worker_pid()
            if not pid:
                return "no cron worker found"
            os.kill(pid, signal.SIGKILL)
            return f"SIGKILL cron worker {pid}"
        if self.kind == "kill_server":
            server.kill()
            time.sleep(1)
            server.start()
            return f"SIGKILL server pgid {server.proc.pid} (restart #{server.starts})"
        if self.kind == "pg_terminate":
            rows = query(self.db, "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s",
                         [self.db, APP_NAME])
            return f"pg_terminate_backend x{len(rows)}"
        raise ValueError(self.kind)


def reconnect_oauth(server, db, company_id):
    """What an admin does: Reconnect in Settings, consent on Xero's page, back through the callback
    (and the organisation choice page when shown), all over HTTP."""
    import requests
    from lxml import html
    s = requests.Session()
    page = s.get(f"{server.url}/web/login", params={"db": db}, timeout=30)
    form = html.fromstring(page.text).xpath("//form")[0]
    hidden = {i.get("name"): i.get("value") or "" for i in form.xpath(".//input[@type='hidden']")}
    s.post(f"{server.url}/web/login", data=dict(hidden, login="admin", password="admin"), timeout=30)
    start = s.get(f"{server.url}/coworks_xero/oauth/start", params={"company_id": company_id},
                  allow_redirects=False, timeout=30)
    if start.status_code not in (302, 303):
        raise RuntimeError(f"oauth start answered {start.status_code}: {start.text[:300]}")
    auth_url = start.headers["Location"]
    page = requests.get(auth_url, timeout=30)
    form = html.fromstring(page.text).xpath("//form")[0]
    hidden = [(i.get("name"), i.get("value") or "") for i in form.xpath(".//input[@type='hidden']")]
    consent = requests.post(urllib.parse.urljoin(auth_url, form.get("action")),
                            data=hidden + [("tenant", TENANT_AU), ("action", "allow")], allow_redirects=False, timeout=30)
    back = s.get(consent.headers["Location"], timeout=60)
    if "/coworks_xero/oauth/choose" in back.url:
        form = html.fromstring(back.text).xpath("//form")[0]
        hidden = [(i.get("name"), i.get("value") or "") for i in form.xpath(".//input[@type='hidden']")]
        back = s.post(urllib.parse.urljoin(back.url, form.get("action") or back.url),
                      data=hidden + [("tenant_id", TENANT_AU)], timeout=60)
    return back.status_code


def wake_cron(db):
    """What any user's posting does: a cron trigger for now, and the NOTIFY the cron workers listen to."""
    psql(db, "INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date) "
             "SELECT res_id, now() at time zone 'utc', now() at time zone 'utc', now() at time zone 'utc' "
             "FROM ir_model_data WHERE module = 'coworks_xero' AND name = 'ir_cron_sync'")
    psql("postgres", f"SELECT pg_notify('cron_trigger', '{db}')")


def pending_count(db):
    return query(db, "SELECT count(*) FROM coworks_sync_job WHERE state = 'pending'")[0][0]


def run_scenario(name, args, base_db, ids):
    db = run_db(f"soak_{name}")
    workdir = os.path.join(REPO_ROOT, "var", "soak", name)
    os.makedirs(workdir, exist_ok=True)
    for f in os.listdir(workdir):
        if f.endswith((".log", ".stderr")):
            os.unlink(os.path.join(workdir, f))
    t_start = time.time()
    copy_db(base_db, db)
    emulator_srv = EmulatorServer(host="127.0.0.1", port=0, time_scale=1.0).start()
    base, emulator = emulator_srv.base_url, emulator_srv.app
    servers = [OdooServer(args, db, workdir, "a")]
    if name == "two_servers":
        servers.append(OdooServer(args, db, workdir, "b"))
    notes = []
    try:
        ids = shell(args, db, {"SOAK_STEP": "connect", "SOAK_EMU": base, "SOAK_ODOO_URL": servers[0].url,
                         "SOAK_TENANT": TENANT_AU, "SOAK_CUSTOMERS": "0"})
        for s in servers:
            s.start()
        rpc = Rpc(servers, db, ids["company_id"])
        arm_faults(name, base, args.seed)
        disruptor = None
        if name in ("kill_cron", "kill_server", "pg_terminate"):
            disruptor = Disruptor(name, servers, db, emulator, hits=args.hits, interval=args.hit_interval)
            disruptor.start()
        work = Workload(rpc, ids, args.invoices, seed=args.seed)
        t_work = time.time()
        work_thread = threading.Thread(target=work.run, daemon=True)
        work_thread.start()
        if name == "token_death":
            time.sleep(min(20, 2 + args.invoices / 10))
            emu_ctl(base, "POST", "faults", {"route": "*", "kind": "expire_tokens", "count": 1})
            emu_ctl(base, "POST", "faults", {"route": "POST /connect/token", "kind": "refresh_token_dead", "count": 1})
            state, t_dead = None, time.time()
            while time.time() - t_dead < 120:
                state = query(db, "SELECT state FROM coworks_sync_connection WHERE active")[0][0]
                if state == "needs_reconnect":
                    break
                time.sleep(1)
            notes.append(f"connection state after token death: {state} ({time.time() - t_dead:.0f} s)")
            time.sleep(10)  # the admin notices a bit later; users keep working meanwhile
            status = reconnect_oauth(servers[0], db, ids["company_id"])
            state = query(db, "SELECT state FROM coworks_sync_connection WHERE active")[0][0]
            notes.append(f"reconnect through OAuth: callback {status}, connection {state}")
        workload_done(work_thread, work, t_work, rpc, disruptor, args, notes)
        # ---------------------------------------------------------------- faults off, drain
        emu_ctl(base, "DELETE", "faults")
        faults_log = collections.Counter(r["status"] for r in list(emulator.log))
        notes.append(f"xero answers during faults by status: {dict(sorted(faults_log.items()))}")
        for s in servers:  # a server killed by a disruption is up again for the drain
            if s.proc.poll() is not None:
                s.start()
        drain_s, drain_txt = drain(db, args)
        problems, stuck, info = compare(db, ids["company_id"], base)
        conn_state = query(db, "SELECT state, coalesce(last_error, '') FROM coworks_sync_connection WHERE active")
        n_stuck = report(name, args, problems, stuck, info, notes, conn_state, drain_txt, workdir, t_start)
        return {"scenario": name, "problems": problems, "stuck": n_stuck, "drain_s": drain_s}
    finally:
        for s in servers:
            s.stop()
        emulator_srv.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


def workload_done(work_thread, work, t_work, rpc, disruptor, args, notes):
    """Wait for the users' workload (and the disruptions) to end; note what they did."""
    work_thread.join()
    notes.append(f"workload {time.time() - t_work:.0f} s: {dict(work.counts)}")
    if work.failures:
        notes.append(f"user actions refused: {dict(work.failures)}")
    if rpc.errors:
        notes.append(f"xml-rpc retried: {dict(rpc.errors)}")
    if disruptor:
        disruptor.join(timeout=args.hits * (args.hit_interval + 15) + 60)
        disruptor.stop_flag.set()
        notes.append(f"disruptions: {disruptor.done}")


def drain(db, args):
    """(seconds from now until no job is pending or None, as text): the faults are off, the cron
    is woken every --wake seconds as users' activity would."""
    t_off = time.time()
    last_wake = 0
    while time.time() - t_off < args.drain_timeout:
        if not pending_count(db):
            drain_s = time.time() - t_off
            return drain_s, f"{drain_s:.1f}"
        if args.wake and time.time() - last_wake >= args.wake:
            wake_cron(db)
            last_wake = time.time()
        time.sleep(1)
    return None, f">{args.drain_timeout:.0f}"


def report(name, args, problems, stuck, info, notes, conn_state, drain_txt, workdir, t_start, provider=""):
    """The scenario's line (``scenario=… duplicates= lost= mismatched= stuck= drain_s=``) and, when
    something is wrong or --verbose, what was seen; returns the number of stuck jobs."""
    n_stuck = sum(r[4] for r in stuck)
    tag = f" provider={provider}" if provider else ""
    print(f"scenario={name}{tag} duplicates={len(problems['duplicates'])} lost={len(problems['lost'])} "
          f"mismatched={len(problems['mismatched'])} stuck={n_stuck} drain_s={drain_txt}", flush=True)
    detail = args.verbose or any(problems.values()) or n_stuck
    if detail:
        for note in notes:
            print(f"  - {note}")
        print(f"  - {info}; connection: {conn_state}; total {time.time() - t_start:.0f} s; logs: {workdir}")
    for key in ("lost", "duplicates", "mismatched"):
        for line in problems[key][:args.detail]:
            print(f"  {key}: {line}")
        if len(problems[key]) > args.detail:
            print(f"  {key}: ... {len(problems[key]) - args.detail} more")
    for kind, state, ekind, msg, count, nxt in stuck[:args.detail]:
        print(f"  stuck: {count} x {kind} {state} {ekind} next={nxt}: {msg[:200]}")
    if detail:
        errs = subprocess.run(f"grep -hE ' (ERROR|CRITICAL) ' {workdir}/odoo-*.log | cut -c1-260 | sort | uniq -c "
                              f"| sort -rn | head -5", shell=True, capture_output=True, text=True).stdout
        for line in errs.splitlines():
            print(f"  log: {line.strip()}")
    sys.stdout.flush()
    return n_stuck


def arguments(description):
    """The options every soak takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--template", default=os.environ.get("BENCH_TPL", "cx_bench_tpl"),
                    help="database with coworks_xero installed (bench/run.sh's template)")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these (repeatable)")
    ap.add_argument("--invoices", type=int, default=300)
    ap.add_argument("--customers", type=int, default=40)
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument("--wake", type=float, default=20, help="wake the cron every N s during the drain (0: never)")
    ap.add_argument("--hits", type=int, default=3, help="kills / terminations per disruptive scenario")
    ap.add_argument("--hit-interval", type=float, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--detail", type=int, default=6, help="example lines per problem kind")
    ap.add_argument("--verbose", action="store_true", help="details even when everything matched")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--python", default=sys.executable)
    return ap


def soak(args, label, base_name, run_one, setup_script="_soak_setup.py", provider=""):
    """Every scenario asked for, each on a copy of one base database: ``run_one(name, args,
    base_db, ids)``; one broken scenario never hides the others."""
    base_db = run_db(base_name)
    t0 = time.time()
    log(f"{label}: base database {base_db} from {args.template}")
    copy_db(args.template, base_db)
    ids = shell(args, base_db, {"SOAK_STEP": "base", "SOAK_CUSTOMERS": str(args.customers)}, script_name=setup_script)
    results = []
    tag = f" provider={provider}" if provider else ""
    for name in args.scenario or SCENARIOS:
        log(f"{label}: scenario {name} ({args.invoices} invoices)")
        try:
            results.append(run_one(name, args, base_db, ids))
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
            print(f"scenario={name}{tag} FAILED: {exc!r}", flush=True)
    subprocess.run(["dropdb", "--if-exists", "--force", base_db], check=False)
    print(f"{label}: {len(results)} scenarios, {args.invoices} invoices each, {time.time() - t0:.0f} s", flush=True)
    return results


def main():
    soak(arguments(__doc__.split("\n")[0]).parse_args(), "fault_soak", "soak_base", run_scenario)

if __name__ == "__main__":
    main()

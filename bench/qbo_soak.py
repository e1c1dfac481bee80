"""Fault soak for QuickBooks Online: exactly once, whatever fails. Prints figures; NOT a test.

bench/fault_soak.py's soak (same Odoo servers, same XML-RPC workload, same disruptions, same
report line) against the QuickBooks Online emulator (qbo_emulator, run as its own process on
loopback, real 1x clock, Intuit's limits: 500/min and 10 in flight per realm and app): a soak
company (USD, United States, generic chart, 8.875 % sales tax mapped to the "NYC combined" tax
code) syncs with the emulator's US company (seed.REALM_US). Scenarios:

  5xx           5-10 % of every call (token endpoint included) answer 500/502/503
  lost_answers  writes are committed and their answers dropped (connection closed, no status)
  429_storm     a quarter of the calls answer 429 (with Retry-After: 2), on top of Intuit's limits
  token_death   access tokens expire, the refresh token is dead; then Reconnect (Intuit's OAuth flow)
  kill_cron     SIGKILL of the cron worker while it talks to QuickBooks, a few times
  kill_server   SIGKILL of the whole server (master and workers), restarted
  two_servers   two servers (each 2 workers + 1 cron worker) on one database, slow QuickBooks
  pg_terminate  pg_terminate_backend() of Odoo's database connections, a few times

Then the faults stop, the soak waits until no job is pending, and reads QuickBooks through its API
(``query`` of Invoice, CreditMemo, Payment and Purchase with a bearer token on the realm) to compare
with Odoo document by document:

  scenario=NAME provider=qbo duplicates=D lost=L mismatched=M stuck=S drain_s=T

  lost        an Odoo document that should be in QuickBooks is not (or is cancelled in Odoo but not
              voided/deleted in QuickBooks)
  duplicates  more than one live QuickBooks document for one Odoo document (by DocNumber), more paid
              or credited in QuickBooks than in Odoo, one Odoo payment or refund recorded twice
              (PaymentRefNum / DocNumber and the invoice it pays)
  mismatched  total, balance / remaining credit or status differs (to the cent); money received or
              paid back in QuickBooks differs from Odoo's payments; a payment with unapplied money, a
              refund expense no payment links to its credit memo
  stuck       jobs still pending or in error after the drain (their messages are listed)
  drain_s     seconds from faults off to nothing pending

    bash bench/run.sh qbo_soak [--scenario 5xx] [--invoices 60]
    $PY bench/qbo_soak.py --template cx_bench_tpl [--scenario NAME ...] [--invoices 300]
"""
import collections
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
from fault_soak import (Disruptor, OdooServer, Rpc, Workload, arguments, arm_faults, drain, emu_ctl,  # noqa: E402
                        fresh_run, free_port, log, query, report, run_db, shell, soak, workload_done)
from qbo_emulator.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REALM_US  # noqa: E402

SETUP = "_qbo_soak_setup.py"
TOKEN_ROUTE = "POST /oauth2/v1/tokens/bearer"


# ============================================================================ the emulator, its own process
class QboEmulatorProcess:
    """``python -m qbo_emulator`` on a free loopback port, in its own process group."""

    def __init__(self, args, workdir):
        self.args, self.port = args, free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.logfile = os.path.join(workdir, "qbo-emulator.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.args.python, "-m", "qbo_emulator", "--port", str(self.port)],
                                     cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT), start_new_session=True,
                                     stdout=open(self.logfile, "a"), stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base_url + "/__emulator__/limits", timeout=2).read()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"qbo_emulator did not start, see {self.logfile}")

    def busy(self, within=0.5):
        """Did Odoo call QuickBooks within the last ``within`` seconds?"""
        last = emu_ctl(self.base_url, "GET", "requests?tail=1")["requests"]
        return bool(last) and time.time() - last[-1]["ts"] < within

    def requests(self):
        return emu_ctl(self.base_url, "GET", "requests")["requests"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class QboDisruptor(Disruptor):
    def busy(self):
        return self.emulator.busy(0.5)


# ============================================================================ QuickBooks through its API
class QboReader:
    def __init__(self, base, realm=REALM_US):
        self.base, self.realm = base, realm
        self.token = emu_ctl(base, "POST", "grant", {"client_id": DEMO_CLIENT_ID, "realm_id": realm})["access_token"]

    def query(self, text):
        url = f"{self.base}/v3/company/{self.realm}/query?{urllib.parse.urlencode({'query': text, 'minorversion': 75})}"
        for _ in range(60):
            req = urllib.request.Request(url, headers={"Authorization": "Bearer " + self.token,
                                                       "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return json.loads(resp.read())["QueryResponse"]
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 2))
        raise RuntimeError("QuickBooks kept answering 429")

    def all(self, entity):
        out, start = [], 1
        while True:
            rows = self.query(f"SELECT * FROM {entity} STARTPOSITION {start} MAXRESULTS 1000").get(entity) or []
            out.extend(rows)
            if len(rows) < 1000:
                return out
            start += 1000


def _voided(row):
    return (row.get("PrivateNote") or "").startswith("Voided")


def compare(db, company_id, base):
    qbo = QboReader(base)
    cents = lambda v: round(float(v or 0) * 100)  # noqa: E731
    docs = {"out_invoice": collections.defaultdict(list), "out_refund": collections.defaultdict(list)}
    for inv in qbo.all("Invoice"):
        docs["out_invoice"][inv.get("DocNumber")].append(inv)
    for cm in qbo.all("CreditMemo"):  # a deleted credit memo is not answered any more
        docs["out_refund"][cm.get("DocNumber")].append(cm)
    payments = [p for p in qbo.all("Payment") if not _voided(p)]
    purchases = qbo.all("Purchase")
    moves = query(db, """SELECT m.id, m.name, m.move_type, m.state, m.amount_total, m.amount_residual, m.payment_state
                           FROM account_move m
                          WHERE m.company_id = %s AND m.move_type IN ('out_invoice', 'out_refund')
                          ORDER BY m.id""", [company_id])
    problems = {"lost": [], "duplicates": [], "mismatched": []}
    by_id = {}
    for mid, name, mtype, state, total, residual, pay_state in moves:
        found = docs[mtype].get(name[:21], [])
        live = [d for d in found if not _voided(d)]
        label = f"{name} (id {mid}, {state}, {pay_state})"
        if state == "cancel":
            if live:
                problems["lost"].append(f"{label}: cancelled in Odoo, live in QuickBooks (Id {live[0]['Id']})")
            continue
        if state != "posted":
            continue
        if not live:
            problems["lost"].append(f"{label}: not in QuickBooks" + (" (voided there)" if found else ""))
            continue
        if len(live) > 1:
            problems["duplicates"].append(f"{label}: {len(live)} live documents in QuickBooks "
                                          f"(Ids {[d['Id'] for d in live]})")
        doc = live[0]
        by_id[doc["Id"]] = label
        due_x = cents(doc.get("Balance" if mtype == "out_invoice" else "RemainingCredit"))
        due_o = cents(residual)
        if due_x < due_o:
            problems["duplicates"].append(f"{label}: QuickBooks open {due_x / 100:.2f} < Odoo {due_o / 100:.2f} "
                                          f"(Id {doc['Id']}, total {doc.get('TotalAmt')})")
            continue
        diffs = []
        if cents(doc.get("TotalAmt")) != cents(total):
            diffs.append(f"total QuickBooks {doc.get('TotalAmt')} Odoo {total}")
        if due_x != due_o:
            diffs.append(f"open QuickBooks {due_x / 100:.2f} Odoo {due_o / 100:.2f}")
        if diffs:
            problems["mismatched"].append(f"{label} (Id {doc['Id']}): " + "; ".join(diffs))

    # money: each Odoo payment (and refund) once, all of it applied
    seen = collections.Counter()
    received = 0
    for p in payments:
        received += cents(p.get("TotalAmt"))
        links = tuple(sorted((lt.get("TxnType"), lt.get("TxnId")) for ln in p.get("Line") or []
                             for lt in ln.get("LinkedTxn") or []))
        seen[(p.get("PaymentRefNum") or "", cents(p.get("TotalAmt")), links)] += 1
        if cents(p.get("UnappliedAmt")):
            problems["mismatched"].append(f"payment {p.get('PaymentRefNum')} (Id {p['Id']}): "
                                          f"{p.get('UnappliedAmt')} unapplied")
    for (ref, amount, links), n in seen.items():
        if n > 1:
            names = [by_id.get(i, f"{t} {i}") for t, i in links]
            problems["duplicates"].append(f"payment {ref or '(no ref)'} of {amount / 100:.2f} recorded {n} times "
                                          f"for {names}")
    refunds = collections.Counter(p.get("DocNumber") for p in purchases)
    for ref, n in refunds.items():
        if n > 1:
            problems["duplicates"].append(f"refund expense {ref} recorded {n} times")
    for p in purchases:
        if cents(p.get("Balance")):
            problems["mismatched"].append(f"refund expense {p.get('DocNumber')} (Id {p['Id']}): {p.get('Balance')} "
                                          "not linked to its credit memo")
    paid_back = sum(cents(p.get("TotalAmt")) for p in purchases)
    odoo_in, odoo_out = query(db, """SELECT coalesce(sum(amount) FILTER (WHERE payment_type = 'inbound'), 0),
                                            coalesce(sum(amount) FILTER (WHERE payment_type = 'outbound'), 0)
                                       FROM account_payment
                                      WHERE company_id = %s AND partner_type = 'customer'
                                        AND state NOT IN ('draft', 'canceled', 'rejected')""", [company_id])[0]
    if cents(odoo_in) != received:
        problems["mismatched"].append(f"money received: QuickBooks {received / 100:.2f}, Odoo {odoo_in}")
    if cents(odoo_out) != paid_back:
        problems["mismatched"].append(f"money paid back: QuickBooks {paid_back / 100:.2f}, Odoo {odoo_out}")
    stuck = query(db, """SELECT kind, state, coalesce(error_kind, ''), coalesce(error_summary, error_message, ''),
                                count(*), min(next_attempt_at)
                           FROM coworks_sync_job WHERE state IN ('pending', 'error')
                          GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC""")
    info = {"qbo_invoices": sum(len(v) for v in docs["out_invoice"].values()),
            "qbo_credit_memos": sum(len(v) for v in docs["out_refund"].values()),
            "qbo_payments": len(payments), "qbo_refund_expenses": len(purchases), "odoo_documents": len(moves)}
    return problems, stuck, info


# ============================================================================ scenarios
def reconnect_oauth(server, db, company_id, base):
    """What an admin does: Reconnect in Settings, pick the company on Intuit's page (pre-answered
    through the emulator's consent control), back through Odoo's callback with code and realmId."""
    import requests
    from lxml import html
    s = requests.Session()
    page = s.get(f"{server.url}/web/login", params={"db": db}, timeout=30)
    form = html.fromstring(page.text).xpath("//form")[0]
    hidden = {i.get("name"): i.get("value") or "" for i in form.xpath(".//input[@type='hidden']")}
    s.post(f"{server.url}/web/login", data=dict(hidden, login="admin", password="admin"), timeout=30)
    start = s.get(f"{server.url}/coworks_xero/qbo/oauth/start", params={"company_id": company_id},
                  allow_redirects=False, timeout=30)
    if start.status_code not in (302, 303):
        raise RuntimeError(f"oauth start answered {start.status_code}: {start.text[:300]}")
    emu_ctl(base, "POST", "consent", {"realm_id": REALM_US, "count": 1})
    consent = requests.get(start.headers["Location"], allow_redirects=False, timeout=30)
    back = s.get(consent.headers["Location"], timeout=60)
    return back.status_code


def connection_state(db):
    return query(db, "SELECT state, coalesce(last_error, '') FROM coworks_sync_connection "
                     "WHERE active AND provider = 'qbo' AND tenant_id = %s", [REALM_US])


def run_scenario(name, args, base_db):
    db = run_db(f"qsoak_{name}")
    workdir = fresh_run(os.path.join("qbo_soak", name), base_db, db)
    t_start = time.time()
    emulator = QboEmulatorProcess(args, workdir).start()
    base = emulator.base_url
    servers = [OdooServer(args, db, workdir, "a")]
    if name == "two_servers":
        servers.append(OdooServer(args, db, workdir, "b"))
    notes = []
    try:
        ids = shell(args, db, {"SOAK_STEP": "connect", "SOAK_EMU": base, "SOAK_ODOO_URL": servers[0].url,
                               "SOAK_REALM": REALM_US, "SOAK_CLIENT_ID": DEMO_CLIENT_ID,
                               "SOAK_CLIENT_SECRET": DEMO_CLIENT_SECRET, "SOAK_CUSTOMERS": "0"}, script_name=SETUP)
        for s in servers:
            s.start()
        rpc = Rpc(servers, db, ids["company_id"])
        arm_faults(name, base, args.seed)  # the same fault kinds as the Xero soak, on every route
        disruptor = None
        if name in ("kill_cron", "kill_server", "pg_terminate"):
            disruptor = QboDisruptor(name, servers, db, emulator, hits=args.hits, interval=args.hit_interval)
            disruptor.start()
        work = Workload(rpc, ids, args.invoices, seed=args.seed)
        t_work = time.time()
        work_thread = threading.Thread(target=work.run, daemon=True)
        work_thread.start()
        if name == "token_death":
            time.sleep(min(20, 2 + args.invoices / 10))
            emu_ctl(base, "POST", "faults", {"route": "*", "kind": "expire_tokens", "count": 1})
            emu_ctl(base, "POST", "faults", {"route": TOKEN_ROUTE, "kind": "refresh_token_dead", "count": 1})
            state, t_dead = None, time.time()
            while time.time() - t_dead < 120:
                state = connection_state(db)[0][0]
                if state == "needs_reconnect":
                    break
                time.sleep(1)
            notes.append(f"connection state after token death: {state} ({time.time() - t_dead:.0f} s)")
            time.sleep(10)  # the admin notices a bit later; users keep working meanwhile
            status = reconnect_oauth(servers[0], db, ids["company_id"], base)
            notes.append(f"reconnect through OAuth: callback {status}, connection {connection_state(db)[0][0]}")
        workload_done(work_thread, work, t_work, rpc, disruptor, args, notes)
        # ---------------------------------------------------------------- faults off, drain
        hits = collections.Counter()
        for f in emu_ctl(base, "GET", "faults")["faults"]:
            hits[f["kind"] + (f" {f['status']}" if f.get("status") else "")] += f["hits"]
        notes.append(f"faults injected: {dict(hits)}")
        emu_ctl(base, "DELETE", "faults")
        answers = collections.Counter(r["status"] for r in emulator.requests())
        notes.append(f"quickbooks answers during faults by status: {dict(sorted(answers.items()))}")
        for s in servers:  # a server killed by a disruption is up again for the drain
            if s.proc.poll() is not None:
                s.start()
        drain_s, drain_txt = drain(db, args)
        problems, stuck, info = compare(db, ids["company_id"], base)
        n_stuck = report(name, args, problems, stuck, info, notes, connection_state(db), drain_txt, workdir, t_start,
                         provider="qbo")
        return {"scenario": name, "problems": problems, "stuck": n_stuck, "drain_s": drain_s}
    finally:
        for s in servers:
            s.stop()
        emulator.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


def main():
    soak(arguments(__doc__.split("\n")[0]).parse_args(), "qbo_soak", "qsoak_base",
         lambda name, args, base_db, _ids: run_scenario(name, args, base_db), setup_script=SETUP, provider="qbo")

if __name__ == "__main__":
    main()

"""Latency: from a user's post to Xero's (or QuickBooks Online's) acceptance, measured from outside. Prints figures; NOT a test.

--provider xero (the default): a fresh copy of the bench template with the soak company (AUD, 10 %
sales tax) connected to a fresh Xero emulator (in-process, loopback, real 1x clock, Xero's limits,
every call answered after --latency-min..--latency-max s). --provider qbo: the same with the
QuickBooks Online soak company of bench/qbo_soak.py (USD, 8.875 % sales tax mapped to "NYC combined")
connected to the emulator's US company (qbo_emulator run as its own process on loopback, real 1x
clock, Intuit's limits: 500 calls a minute and 10 in flight per realm and app, the same latency on
every call). Real Odoo runs as in production: ``--workers=2`` HTTP workers and one cron worker,
woken by Odoo's own ``ir.cron`` trigger. The customers are synced first (one warm-up invoice each,
not measured). Then --invoices invoices are posted over XML-RPC at human pace (one every
--pace-min..--pace-max s, the next one not waiting for the sync), and a poller reads the provider's
API every --poll s until each invoice is there, as an observer app of its own so that it spends none
of Odoo's calls: for Xero ``GET /Invoices?InvoiceNumbers=...`` (Odoo's 60 calls a minute), for
QuickBooks one ``query`` per poll, ``SELECT Id, DocNumber FROM Invoice WHERE DocNumber IN (...)``
(Odoo's 500 a minute and 10 in flight); the QuickBooks DocNumber is the Odoo number.

The latency of an invoice runs from the moment the ``action_post`` call was sent (before Odoo's
commit, so a little more than from the commit) to the first poll that finds it in Xero / QuickBooks
(so up to one poll interval, and one emulated answer time, more than the acceptance): both ends err
on the long side.

Prints (the QuickBooks lines start with ``provider=qbo``):
  latency_p50_ms=<...> latency_p95_ms=<...> latency_p99_ms=<...> latency_max_ms=<...>  (targets p95 <= 2000, p99 <= 4000)
  invoices=<posted> found=<seen in Xero> http_429=<...> odoo_calls=<Odoo's accounting calls during the run>

http_429 and odoo_calls are Odoo's alone: the emulator's request log during the posting, less the
observer's polls and the 429s they got. For QuickBooks Odoo's calls by route (one POST /invoice
an invoice, or POST /batch when several wait together) are logged on stderr.

    bash bench/run.sh latency [--invoices 200 --pace-min 1 --pace-max 3]
    bash bench/run.sh latency --provider qbo [--invoices 200 --customers 20]
"""
import argparse
import collections
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from fault_soak import REPO_ROOT, OdooServer, Rpc, emu_ctl, log, query, shell, fresh_run, run_db

sys.path.insert(0, REPO_ROOT)
from xero_emulator import EmulatorServer  # noqa: E402
from xero_emulator.seed import TENANT_AU  # noqa: E402
from qbo_emulator.seed import DEMO_CLIENT_ID as QBO_CLIENT_ID, DEMO_CLIENT_SECRET as QBO_CLIENT_SECRET, REALM_US  # noqa: E402
from qbo_soak import SETUP as QBO_SETUP, QboEmulatorProcess  # noqa: E402

ACCOUNTING = "/api.xro/2.0/"
OBSERVERS = 6  # observer apps, each with its own 60 calls a minute: polls of 0.25 s stay under it
QBO_ACCOUNTING = "/v3/company/"
QBO_OBSERVER = "latency-observer-qbo"  # one app: its 500 calls a minute hold polls of 0.25 s


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[k]


class Observer(threading.Thread):
    """Polls Xero's API for the invoices posted and not yet seen; records when each appears."""

    def __init__(self, base, poll):
        super().__init__(daemon=True)
        self.base, self.poll = base, poll
        self.tokens = self._tokens()
        self.waiting = {}  # number -> posted at
        self.seen = {}  # number -> latency (s)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.requests = self.polls = self.throttled = 0

    def _tokens(self):
        tokens = []
        for i in range(OBSERVERS):
            client_id = f"latency-observer-{i}"
            emu_ctl(self.base, "POST", "apps", {"client_id": client_id, "client_secret": "observer-secret",
                                                "redirect_uris": ["http://127.0.0.1/observer"]})
            tokens.append(emu_ctl(self.base, "POST", "grant", {"client_id": client_id,
                                                               "tenant_ids": [TENANT_AU]})["access_token"])
        return tokens

    def expect(self, number, posted_at):
        with self.lock:
            self.waiting[number] = posted_at

    def _request(self, numbers, token):
        url = (f"{self.base}/api.xro/2.0/Invoices?"
               + urllib.parse.urlencode({"InvoiceNumbers": ",".join(numbers), "summaryOnly": "true"}))
        return urllib.request.Request(url, headers={"Authorization": "Bearer " + token,
                                                    "xero-tenant-id": TENANT_AU, "Accept": "application/json"})

    @staticmethod
    def _seen_numbers(answer):
        """The invoice numbers an answer shows as accepted."""
        return [inv.get("InvoiceNumber") for inv in answer.get("Invoices") or []
                if inv.get("Status") in ("AUTHORISED", "PAID")]

    def run(self):
        n = 0
        while not self.stop_flag.wait(self.poll):
            with self.lock:
                numbers = sorted(self.waiting)[:40]
            if not numbers:
                continue
            token = self.tokens[n % len(self.tokens)]
            n += 1
            self.requests += 1
            try:
                with urllib.request.urlopen(self._request(numbers, token), timeout=30) as resp:
                    seen = self._seen_numbers(json.loads(resp.read()))
            except urllib.error.HTTPError as exc:
                self.throttled += exc.code == 429
                continue
            now = time.time()
            self.polls += 1
            with self.lock:
                for number in seen:
                    if number in self.waiting:
                        self.seen[number] = now - self.waiting.pop(number)


class QboObserver(Observer):
    """Polls QuickBooks' query API (an observer app of its own on the US realm: none of Odoo's 500
    calls a minute or 10 in flight) for the invoices posted and not yet seen, by DocNumber."""

    def _tokens(self):
        emu_ctl(self.base, "POST", "apps", {"client_id": QBO_OBSERVER, "client_secret": "observer-secret",
                                            "redirect_uris": ["http://127.0.0.1/observer"]})
        return [emu_ctl(self.base, "POST", "grant", {"client_id": QBO_OBSERVER, "realm_id": REALM_US})["access_token"]]

    def expect(self, number, posted_at):
        super().expect(number[:21], posted_at)  # QuickBooks keeps 21 characters of a DocNumber

    def _request(self, numbers, token):
        text = ("SELECT Id, DocNumber FROM Invoice WHERE DocNumber IN ("
                + ", ".join("'" + n.replace("'", "''") + "'" for n in numbers) + ") MAXRESULTS 1000")
        url = (f"{self.base}{QBO_ACCOUNTING}{REALM_US}/query?"
               + urllib.parse.urlencode({"query": text, "minorversion": 75}))
        return urllib.request.Request(url, headers={"Authorization": "Bearer " + token, "Accept": "application/json"})

    @staticmethod
    def _seen_numbers(answer):
        return [inv.get("DocNumber") for inv in (answer.get("QueryResponse") or {}).get("Invoice") or []]


def post_and_observe(args, rnd, db, server, ids, make_observer):
    """The warm-up, then --invoices invoices posted at human pace while ``make_observer()`` watches.
    -> (drafts, observer, t_start): the observer stopped, ``t_start`` when the posting began."""
    rpc = Rpc([server], db, ids["company_id"])
    partners = ids["partners"]

    def draft(i):
        return rpc("account.move", "create", {
            "move_type": "out_invoice", "partner_id": partners[i % len(partners)],
            "journal_id": ids["sale_journal"], "invoice_date": "2026-11-02",
            "invoice_line_ids": [(0, 0, {"product_id": ids["product"], "quantity": 1,
                                         "price_unit": 300.0 + i % 97, "tax_ids": [(6, 0, [ids["tax"]])]})]})

    log(f"latency: warming up ({len(partners)} customers synced through one invoice each)")
    warm = [draft(i) for i in range(len(partners))]
    rpc("account.move", "action_post", warm)
    deadline = time.time() + 300
    while time.time() < deadline:
        (left,), = query(db, "SELECT count(*) FROM coworks_sync_job WHERE state = 'pending'")
        if not left:
            break
        time.sleep(0.5)
    drafts = [draft(len(partners) + i) for i in range(args.invoices)]
    observer = make_observer()
    observer.start()
    t_start = time.time()
    log(f"latency: posting {args.invoices} invoices, one every {args.pace_min}-{args.pace_max} s")
    for move_id in drafts:
        sent_at = time.time()
        rpc("account.move", "action_post", [move_id])
        number = rpc("account.move", "read", [move_id], ["name"])[0]["name"]
        observer.expect(number, sent_at)
        time.sleep(rnd.uniform(args.pace_min, args.pace_max))
    deadline = time.time() + 120
    while observer.waiting and time.time() < deadline:
        time.sleep(0.2)
    observer.stop_flag.set()
    return drafts, observer, t_start


def print_figures(args, drafts, observer, http_429, odoo_calls, prefix=""):
    latencies_ms = [v * 1000 for v in observer.seen.values()]
    print(f"{prefix}latency_p50_ms={percentile(latencies_ms, 50):.0f} latency_p95_ms={percentile(latencies_ms, 95):.0f} "
          f"latency_p99_ms={percentile(latencies_ms, 99):.0f} latency_max_ms={max(latencies_ms, default=0):.0f}")
    print(f"{prefix}invoices={len(drafts)} found={len(observer.seen)} http_429={http_429} "
          f"odoo_calls={odoo_calls} observer_polls={observer.polls} observer_429={observer.throttled} "
          f"(answers {args.latency_min}-{args.latency_max} s, pace {args.pace_min}-{args.pace_max} s, "
          f"poll {args.poll} s)")


def run_xero(args, rnd):
    db = run_db("latency_run")
    workdir = fresh_run("latency", args.template, db)
    emulator_srv = EmulatorServer(host="127.0.0.1", port=0, time_scale=1.0).start()
    base, emulator = emulator_srv.base_url, emulator_srv.app
    server = OdooServer(args, db, workdir, "a")
    try:
        shell(args, db, {"SOAK_STEP": "base", "SOAK_CUSTOMERS": str(args.customers)})
        ids = shell(args, db, {"SOAK_STEP": "connect", "SOAK_EMU": base, "SOAK_ODOO_URL": server.url,
                               "SOAK_TENANT": TENANT_AU, "SOAK_CUSTOMERS": "0"})
        server.start()
        emu_ctl(base, "POST", "faults", {"route": "*", "kind": "latency", "seconds_min": args.latency_min,
                                         "seconds_max": args.latency_max, "count": 0})
        drafts, observer, t_start = post_and_observe(args, rnd, db, server, ids, lambda: Observer(base, args.poll))
        with emulator.lock:
            calls = [r for r in emulator.log if r["path"].startswith(ACCOUNTING) and r["ts"] >= t_start]
        # the observer's polls are in the log too: what is left is Odoo's
        odoo_calls = len(calls) - observer.requests
        http_429 = sum(1 for r in calls if r["status"] == 429) - observer.throttled
        print_figures(args, drafts, observer, http_429, odoo_calls)
    finally:
        server.stop()
        emulator_srv.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


def run_qbo(args, rnd):
    db = run_db("latency_qbo_run")
    workdir = fresh_run("latency_qbo", args.template, db)
    emulator = QboEmulatorProcess(args, workdir).start()
    base = emulator.base_url
    server = OdooServer(args, db, workdir, "a")
    try:
        shell(args, db, {"SOAK_STEP": "base", "SOAK_CUSTOMERS": str(args.customers)}, script_name=QBO_SETUP)
        ids = shell(args, db, {"SOAK_STEP": "connect", "SOAK_EMU": base, "SOAK_ODOO_URL": server.url,
                               "SOAK_REALM": REALM_US, "SOAK_CLIENT_ID": QBO_CLIENT_ID,
                               "SOAK_CLIENT_SECRET": QBO_CLIENT_SECRET, "SOAK_CUSTOMERS": "0"}, script_name=QBO_SETUP)
        server.start()
        emu_ctl(base, "POST", "faults", {"route": "*", "kind": "latency", "seconds_min": args.latency_min,
                                         "seconds_max": args.latency_max, "count": 0})
        drafts, observer, t_start = post_and_observe(args, rnd, db, server, ids, lambda: QboObserver(base, args.poll))
        observer.join(timeout=60)  # its last poll is in the log before the log is read
        calls = [r for r in emulator.requests() if r["path"].startswith(QBO_ACCOUNTING) and r["ts"] >= t_start]
        # the observer's polls (GET /query on its own app) are in the log too: what is left is Odoo's
        odoo_calls = len(calls) - observer.requests
        http_429 = sum(1 for r in calls if r["status"] == 429) - observer.throttled
        routes = collections.Counter(r["route"] for r in calls)
        routes["GET /query"] -= observer.requests
        log(f"latency: Odoo's QuickBooks calls by route: {dict(sorted((k, v) for k, v in routes.items() if v))}")
        print_figures(args, drafts, observer, http_429, odoo_calls, prefix="provider=qbo ")
    finally:
        server.stop()
        emulator.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--provider", choices=("xero", "qbo"), default="xero",
                    help="the accounting system the soak company syncs to (its emulator)")
    ap.add_argument("--template", default=os.environ.get("BENCH_TPL", "cx_bench_tpl"))
    ap.add_argument("--customers", type=int, default=20)
    ap.add_argument("--invoices", type=int, default=200)
    ap.add_argument("--pace-min", type=float, default=1.0)
    ap.add_argument("--pace-max", type=float, default=3.0)
    ap.add_argument("--latency-min", type=float, default=0.25)
    ap.add_argument("--latency-max", type=float, default=0.8)
    ap.add_argument("--poll", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    (run_qbo if args.provider == "qbo" else run_xero)(args, rnd)


if __name__ == "__main__":
    main()

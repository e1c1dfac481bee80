"""Inbound: payments entered in Xero (or QuickBooks) reach Odoo by webhook and by the pull. Prints figures; NOT a test.

--provider xero (the default) is described first; --provider qbo runs the same two phases against
QuickBooks Online (see the end of this text).

A fresh copy of the bench template with the soak company (AUD, generic chart, 10 % sales tax)
connected to a fresh Xero emulator (loopback, real 1x clock, Xero's limits; every call answered
after --latency-min..--latency-max s). --invoices invoices are posted and synced by real Odoo
(``--workers=2 --max-cron-threads=1``). Then:

1. Webhooks on (the emulator delivers signed webhooks to Odoo's route, retried as Xero retries;
   Intent-to-Receive first). A person at the front desk enters, in Xero, a part payment on each
   invoice, one every --pace-min..--pace-max s (through the emulator's API as a separate app, so
   the person's clicks do not spend this integration's 60 calls a minute, as in Xero's UI).
   Each latency: from Xero's answer to that payment to the moment Odoo shows it reconciled
   (the invoice's amount_residual, polled over XML-RPC every --poll s).
2. Webhooks off (the emulator's drop switch). The remainders of all invoices are entered in Xero
   at once (a bank-reconciliation session: batches of 50). Only the catch-up pull
   (If-Modified-Since) can find them: the time from the last of them to all reconciled in Odoo.
   Production runs the sync cron every 10 minutes and pulls every 15 minutes (hourly while
   webhooks arrive), so a missed payment is found within about 25 (70) minutes; the bench scales
   that down to a cron every --cron-minutes and a pull every --pull-minutes (system parameters
   coworks_xero.inbound_pull_minutes[_with_webhooks]), so pull_catch_up_s is to be read against
   pull_interval_s + cron_interval_s: the pull is due at most one pull interval after the last one
   and runs at the next cron tick (Odoo's cron worker wakes at least every 60 s).

Prints:
  inbound_n=<payments measured> inbound_p50_ms= inbound_p95_ms= (target <= 5000) inbound_p99_ms= inbound_max_ms=
  webhook_deliveries=<ok> webhook_retried=<attempts beyond the first> webhook_failed=<given up>
  odoo_calls_per_payment=<Odoo's accounting calls in phase 1 / payments> odoo_max_calls_in_60s=<...>
      (Xero allows this integration 60 calls a minute: at a payment every ~1.3 s, reading each
      change already takes most of them, and the client's limiter then delays reads) http_429=<...>
  pull_catch_up_s=<last change in Xero -> all reconciled> (target <= one catch-up interval)
  pull_interval_s= cron_interval_s= pull_wait_s=<last change -> the first pull read after it>
  pull_apply_s=<that read -> all reconciled> dropped=<deliveries the switch lost>
  odoo_payments=<payments in Odoo> (expected 2 x invoices: none twice, none missing)
  cron_worker_killed=<cron workers Odoo killed for overrunning limit_time_real_cron>

--provider qbo (bench/_qbo_inbound_helpers.py): the USD soak company of bench/qbo_soak.py
(bench/_qbo_soak_setup.py) connected to the QuickBooks Online emulator's US company, the emulator
in its own process (loopback, real 1x clock, Intuit's limits: 500 calls a minute and 10 in flight
per realm and app; the same --latency-min..--latency-max on every call). Webhooks are Intuit's
signed data-change notifications to /coworks_xero/qbo/webhook (the verifier token in
coworks_xero.qbo_webhook_verifier; no Intent-to-Receive), naming the Payment made, not the
invoice; the pull is Change Data Capture (changedSince) on the same pull parameters and cron. The
front desk is its own app: POST /payment for each part payment in phase 1, POST /batch (30
payments a request, Intuit's most) for the remainders in phase 2, deposited to account 35
Checking (mapped to the bank journal). Same figures, each line ending in provider=qbo;
odoo_max_calls_in_60s is to be read against QuickBooks' 500; the breakdown's read is Odoo's first
read of the invoices after the delivery (its read of the Payment named falls in to_read); dropped
counts notifications (one a request: a batch of 30 payments is one). The emulator's webhook
status keeps the last 200 deliveries only, so at more than ~200 invoices webhook_retried and the
breakdown count those only (webhook_deliveries/failed/dropped are totals).

    bash bench/run.sh inbound [--invoices 200 --pace-min 0.5 --pace-max 1.0] [--provider qbo]
    $PY bench/inbound.py --template cx_bench_tpl --invoices 20     (a smoke run)
    BENCH_TPL=cx_tpl_inb BENCH_DB=cx_inbq bash bench/run.sh inbound --provider qbo --invoices 20
"""
import argparse
import datetime
import json
import math
import os
import random
import subprocess
import sys
import threading
import time

import requests

from fault_soak import REPO_ROOT, OdooServer, Rpc, emu_ctl, log, query, shell, fresh_run, run_db

sys.path.insert(0, REPO_ROOT)
from xero_emulator import EmulatorServer  # noqa: E402
from xero_emulator.seed import TENANT_AU  # noqa: E402

ACCOUNTING = "/api.xro/2.0/"
WEBHOOK_KEY = "bench-inbound-webhook-key-0123456789"
FRONT_DESK = ("bench-front-desk", "bench-front-desk-secret")  # the person in Xero, as another app


class FrontDesk:
    """A person entering payments in Xero (the emulator's API, its own app and budget)."""

    def __init__(self, base):
        self.base = base
        emu_ctl(base, "POST", "apps", {"client_id": FRONT_DESK[0], "client_secret": FRONT_DESK[1],
                                       "redirect_uris": []})
        self.session = requests.Session()
        self._grant()

    def _grant(self):
        self.token = emu_ctl(self.base, "POST", "grant", {"client_id": FRONT_DESK[0],
                                                          "tenant_ids": [TENANT_AU]})["access_token"]

    def pay(self, payments):
        """PUT /Payments; -> the time Xero answered (the change is made then)."""
        body = {"Payments": [{"Invoice": {"InvoiceID": inv}, "Account": {"Code": "090"}, "Amount": amount,
                              "Date": datetime.date.today().isoformat(), "Reference": ref}
                             for inv, amount, ref in payments]}
        for _try in range(20):
            resp = self.session.put(self.base + ACCOUNTING + "Payments", json=body, params={"summarizeErrors": "false"},
                                    headers={"Authorization": "Bearer " + self.token, "xero-tenant-id": TENANT_AU,
                                             "Accept": "application/json"}, timeout=60)
            answered = time.time()
            if resp.status_code == 401:
                self._grant()
                continue
            if resp.status_code == 429:
                time.sleep(int(resp.headers.get("Retry-After", "1")))
                continue
            resp.raise_for_status()
            bad = [p for p in resp.json()["Payments"] if p.get("HasValidationErrors") or p.get("ValidationErrors")]
            if bad:
                raise RuntimeError(f"Xero refused payments: {bad[:2]}")
            return answered
        raise RuntimeError("the front desk could not enter its payments")


class XeroSide:
    """What the bench needs of a provider, for Xero (its emulator in this process; for QuickBooks
    Online see bench/_qbo_inbound_helpers.py's QboSide)."""
    name, label, allows = "xero", "Xero", "(Xero allows 60)"
    desk_routes = ("PUT /Payments",)  # the front desk's writes, not Odoo's calls
    next_read = "Odoo's next read of the invoices"

    def __init__(self, args, workdir):
        self.srv = EmulatorServer(host="127.0.0.1", port=0, time_scale=1.0).start()
        self.base, self.app = self.srv.base_url, self.srv.app

    def setup(self, args, db, odoo_url, customers):
        shell(args, db, {"SOAK_STEP": "base", "SOAK_CUSTOMERS": str(customers)})
        return shell(args, db, {"SOAK_STEP": "connect", "SOAK_EMU": self.base, "SOAK_ODOO_URL": odoo_url,
                                "SOAK_TENANT": TENANT_AU, "SOAK_CUSTOMERS": "0"})

    def webhooks_on(self, rpc, odoo_url):
        rpc("ir.config_parameter", "set_param", "coworks_xero.webhook_key", WEBHOOK_KEY)
        emu_ctl(self.base, "POST", "webhook", {"url": odoo_url + "/coworks_xero/webhook", "key": WEBHOOK_KEY})
        itr = emu_ctl(self.base, "POST", "webhook", {"intent_to_receive": True})
        if not itr["ok"]:
            raise RuntimeError(f"Intent-to-Receive failed: {itr}")

    def front_desk(self):
        return FrontDesk(self.base)

    def calls(self):
        with self.app.lock:
            return [r for r in self.app.log if r["path"].startswith(ACCOUNTING)]

    @staticmethod
    def delivered(deliveries):
        """-> {InvoiceID: when Odoo answered the first delivery naming it}."""
        delivered = {}
        for d in deliveries:
            if d["ok"]:
                for rid in d.get("resource_ids", ()):
                    delivered.setdefault(rid, d["at"] + d["elapsed_ms"] / 1000)
        return delivered

    @staticmethod
    def is_read(call):
        """Is this logged call Odoo reading invoices?"""
        return call["route"] == "GET /Invoices"

    @staticmethod
    def is_pull_read(route):
        return route in ("GET /Payments", "GET /Invoices")

    def stop(self):
        self.srv.stop()


class Watcher(threading.Thread):
    """Polls Odoo over XML-RPC (as a user's screen would show it) for each invoice's residual;
    records when it first drops to the target."""

    def __init__(self, rpc, poll):
        super().__init__(daemon=True)
        self.rpc, self.poll = rpc, poll
        self.lock = threading.Lock()
        self.targets = {}  # (phase, move id) -> residual to reach
        self.seen = {}     # (phase, move id) -> time it was reached
        self.stop_flag = threading.Event()

    def expect(self, key, residual):
        with self.lock:
            self.targets[key] = residual

    def run(self):
        while not self.stop_flag.is_set():
            with self.lock:
                waiting = [k for k in self.targets if k not in self.seen]
            if waiting:
                rows = self.rpc("account.move", "read", sorted({m for _p, m in waiting}), ["amount_residual"])
                now = time.time()
                residual = {row["id"]: row["amount_residual"] for row in rows}
                with self.lock:
                    for key in waiting:
                        if residual[key[1]] <= self.targets[key] + 0.005:
                            self.seen[key] = now
            self.stop_flag.wait(self.poll)

    def wait_all(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if len(self.seen) == len(self.targets):
                    return True
            time.sleep(0.1)
        return False


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, math.ceil(p / 100 * len(values)) - 1)
    return values[k]


def latency_breakdown(side, order, changed_at, watcher, deliveries, calls, dump=None):
    """Medians of where each payment's latency went: to the webhook's delivery (answered by
    Odoo), from there to the start of Odoo's next read of the invoices (the cron waking, the read
    spacing; for QuickBooks also the read of the Payment the notification names), that read, and
    from its answer to the payment seen reconciled (the apply, its commit and the XML-RPC poll)."""
    delivered = side.delivered(deliveries)
    reads = sorted((r["arrived"], r["ts"]) for r in calls if side.is_read(r))
    parts = {"webhook": [], "to_read": [], "read": [], "apply_and_poll": []}
    rows = []
    with watcher.lock:
        seen = dict(watcher.seen)
    for move_id, xero_id, _total in order:
        key = (1, move_id)
        hook = delivered.get(xero_id)
        if key not in seen or hook is None:
            continue
        read = next(((a, t) for a, t in reads if a >= hook), None)
        if read is None or read[1] > seen[key]:
            continue
        rows.append({"move": move_id, "change": changed_at[key], "hook": hook, "read_start": read[0],
                     "read_end": read[1], "seen": seen[key]})
        parts["webhook"].append(hook - changed_at[key])
        parts["to_read"].append(read[0] - hook)
        parts["read"].append(read[1] - read[0])
        parts["apply_and_poll"].append(seen[key] - read[1])
    if dump:
        with open(dump, "w") as f:
            json.dump({"payments": rows, "calls": [{k: r[k] for k in ("route", "arrived", "ts", "status")}
                                                   for r in calls]}, f)
    return {k: percentile(v, 50) * 1000 for k, v in parts.items()} | {"n": len(parts["webhook"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--provider", choices=("xero", "qbo"), default="xero",
                    help="the accounting system the payments are entered in (qbo: QuickBooks Online)")
    ap.add_argument("--template", default=os.environ.get("BENCH_TPL", "cx_bench_tpl"))
    ap.add_argument("--invoices", type=int, default=200)
    ap.add_argument("--customers", type=int, default=50)
    ap.add_argument("--pace-min", type=float, default=0.5, help="seconds between two payments entered in Xero (min)")
    ap.add_argument("--pace-max", type=float, default=1.0)
    ap.add_argument("--latency-min", type=float, default=0.25)
    ap.add_argument("--latency-max", type=float, default=0.8)
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between two XML-RPC reads of Odoo")
    ap.add_argument("--pull-minutes", type=float, default=1.0, help="pull interval in phase 2 (production: 15 / 60)")
    ap.add_argument("--cron-minutes", type=int, default=1, help="sync cron interval in phase 2 (production: 10)")
    ap.add_argument("--cron-limit", type=int, default=120, help="limit_time_real_cron of the server (s)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--db", default=run_db("inbound_run"), help="the bench's copy of the template (dropped at the end)")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    db = args.db
    workdir = fresh_run("inbound", args.template, db)
    if args.provider == "qbo":
        from _qbo_inbound_helpers import QboSide
        side = QboSide(args, workdir)
    else:
        side = XeroSide(args, workdir)
    base = side.base
    tag = f" provider={side.name}" if side.name != "xero" else ""  # on every printed line
    server = None
    watcher = None
    try:
        server = OdooServer(args, db, workdir, "a", options=f"limit_time_real_cron = {args.cron_limit}\n")
        log(f"inbound: {args.invoices} invoices over {args.customers} customers{tag}")
        ids = side.setup(args, db, server.url, args.customers)
        made = shell(args, db, {"PIPE_COMPANY": str(ids["company_id"]), "PIPE_CUSTOMERS": str(args.customers),
                                "PIPE_INVOICES": str(args.invoices), "PIPE_PAID": "0",
                                "PIPE_PRODUCT": str(ids["product"]), "PIPE_TAX": str(ids["tax"]),
                                "PIPE_SALE_JOURNAL": str(ids["sale_journal"]),
                                "PIPE_BANK_JOURNAL": str(ids["bank_journal"])}, script_name="_pipe_backlog.py")
        server.start()
        emu_ctl(base, "POST", "faults", {"route": "*", "kind": "latency", "seconds_min": args.latency_min,
                                         "seconds_max": args.latency_max, "count": 0})
        rpc = Rpc([server], db, ids["company_id"])
        company = ids["company_id"]
        t_on = time.time()
        rpc("res.company", "write", [company], {"coworks_xero_sync_enabled": True})
        in_xero = [("company_id", "=", company), ("move_type", "=", "out_invoice"), ("xero_id", "!=", False)]
        while time.time() - t_on < 900:
            if rpc("account.move", "search_count", in_xero) >= made["invoices"]:
                break
            time.sleep(1)
        invoices = [(r["id"], r["xero_id"], r["amount_total"]) for r in rpc(
            "account.move", "search_read", in_xero, ["xero_id", "amount_total"], order="id")]
        log(f"inbound: {len(invoices)} invoices in {side.label} after {time.time() - t_on:.0f} s")
        while query(db, "SELECT count(*) FROM coworks_sync_job WHERE state = 'pending'")[0][0]:
            time.sleep(1)

        # -------------------------------------------------------------- 1. webhooks on
        side.webhooks_on(rpc, server.url)
        desk = side.front_desk()
        watcher = Watcher(rpc, args.poll)
        watcher.start()
        part = {}
        changed_at = {}
        order = list(invoices)
        rng.shuffle(order)
        t1 = time.time()
        calls_before = len(side.calls())
        log(f"inbound: phase 1, webhooks on: a payment every {args.pace_min}-{args.pace_max} s")
        for i, (move_id, xero_id, total) in enumerate(order):
            part[move_id] = round(float(total) * 0.4, 2)
            watcher.expect((1, move_id), float(total) - part[move_id])
            changed_at[(1, move_id)] = desk.pay([(xero_id, part[move_id], f"Front desk {i}")])
            time.sleep(rng.uniform(args.pace_min, args.pace_max))
        entered_s = time.time() - t1
        complete = watcher.wait_all(300)
        with watcher.lock:
            latencies = [(watcher.seen[k] - changed_at[k]) * 1000 for k in changed_at if k in watcher.seen]
            missing1 = len(watcher.targets) - len(watcher.seen)
        calls1 = side.calls()[calls_before:]
        hooks = emu_ctl(base, "GET", "webhook")
        retried = sum(1 for d in hooks["deliveries"] if d["attempt"] > 1)
        odoo1 = sorted(r["ts"] for r in calls1 if r["route"] not in side.desk_routes)  # not the front desk's
        odoo_calls1 = len(odoo1)
        max_in_60, j = 0, 0
        for i, ts in enumerate(odoo1):
            while odoo1[j] < ts - 60:
                j += 1
            max_in_60 = max(max_in_60, i - j + 1)
        breakdown = latency_breakdown(side, order, changed_at, watcher, hooks["deliveries"], calls1,
                                      dump=os.path.join(workdir, "inbound-phase1.json"))
        log(f"inbound: phase 1 entered in {entered_s:.0f} s, all seen: {complete}")
        http_429 = sum(1 for r in calls1 if r["status"] == 429)
        print(f"invoices={len(invoices)} pace_s={args.pace_min}-{args.pace_max} xero_latency_s="
              f"{args.latency_min}-{args.latency_max} poll_s={args.poll}{tag}")
        print(f"inbound_n={len(latencies)} missing={missing1 if not complete else 0} "
              f"inbound_p50_ms={percentile(latencies, 50):.0f} inbound_p95_ms={percentile(latencies, 95):.0f} "
              f"inbound_p99_ms={percentile(latencies, 99):.0f} inbound_max_ms={max(latencies, default=0):.0f} "
              f"(target p95 <= 5000){tag}")
        print(f"webhook_deliveries={hooks['delivered']} webhook_retried={retried} webhook_failed={hooks['failed']} "
              f"odoo_calls_per_payment={odoo_calls1 / max(len(order), 1):.2f} odoo_max_calls_in_60s={max_in_60} "
              f"{side.allows} http_429={http_429}{tag}")
        print("inbound_breakdown_p50_ms " + " ".join(f"{k}={v:.0f}" for k, v in breakdown.items())
              + f" ({side.label}'s change -> webhook answered by Odoo -> {side.next_read} starts -> "
              f"that read answered -> the payment seen reconciled over XML-RPC){tag}")
        sys.stdout.flush()

        # -------------------------------------------------------------- 2. webhooks off: the pull alone
        while query(db, "SELECT count(*) FROM coworks_sync_job WHERE state = 'pending'")[0][0]:
            time.sleep(1)
        emu_ctl(base, "POST", "webhook", {"drop": True})
        for name in ("coworks_xero.inbound_pull_minutes", "coworks_xero.inbound_pull_minutes_with_webhooks"):
            rpc("ir.config_parameter", "set_param", name, str(args.pull_minutes))
        (cron_id,), = query(db, "SELECT res_id FROM ir_model_data WHERE module = 'coworks_xero' AND name = 'ir_cron_sync'")
        # From now on (nextcall too: a cron's triggered runs leave its next planned run as it was).
        rpc("ir.cron", "write", [cron_id], {"interval_number": args.cron_minutes, "interval_type": "minutes",
                                            "nextcall": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})
        log(f"inbound: phase 2, webhooks dropped: the remainders of {len(order)} invoices entered at once")
        changed2 = {}
        for start in range(0, len(order), 50):
            chunk = order[start:start + 50]
            for move_id, _xid, _total in chunk:
                watcher.expect((2, move_id), 0.0)
            answered = desk.pay([(xid, round(float(total) - part[m], 2), f"Bank feed {m}") for m, xid, total in chunk])
            for move_id, _xid, _total in chunk:
                changed2[(2, move_id)] = answered
        t_last = max(changed2.values())
        pull_interval_s, cron_interval_s = args.pull_minutes * 60, args.cron_minutes * 60
        complete2 = watcher.wait_all(3 * (pull_interval_s + cron_interval_s) + 300)
        with watcher.lock:
            reached = [watcher.seen[k] for k in changed2 if k in watcher.seen]
            t_all = max(reached) if len(reached) == len(changed2) else None
            missing2 = len(watcher.targets) - len(watcher.seen)
        reads_after = [r["ts"] for r in side.calls() if r["ts"] >= t_last and r["method"] == "GET"
                       and side.is_pull_read(r["route"])]
        dropped = emu_ctl(base, "GET", "webhook")["dropped"]
        (odoo_payments,), = query(db, "SELECT count(*) FROM account_payment WHERE company_id = %s AND state != 'canceled'",
                                  [company])

        if complete2 and t_all:
            wait = (min(reads_after) - t_last) if reads_after else float("nan")
            print(f"pull_catch_up_s={t_all - t_last:.1f} (target <= one catch-up interval: pull_interval_s="
                  f"{pull_interval_s:.0f} + cron_interval_s={cron_interval_s:.0f}) pull_wait_s={wait:.1f} "
                  f"pull_apply_s={t_all - t_last - wait:.1f} dropped={dropped}{tag}")
        else:
            print(f"pull_catch_up_s=>{time.time() - t_last:.0f} missing={missing2} dropped={dropped}{tag}")
        killed = subprocess.run(f"grep -chE 'WorkerCron .* timeout after|CPU time limit|virtual real time limit|"
                                f"memory limit' {workdir}/odoo-a.log", shell=True, capture_output=True,
                                text=True).stdout.strip() or "0"
        print(f"odoo_payments={odoo_payments} (expected {2 * len(invoices)}) cron_worker_killed={killed} "
              f"(limit_time_real_cron={args.cron_limit}){tag}")
    finally:
        if watcher:
            watcher.stop_flag.set()
        if server:
            server.stop()
        side.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


if __name__ == "__main__":
    main()

"""More than one server: two Odoo servers on one PostgreSQL against one. Prints figures; NOT a test.

2 x --orgs companies, each connected to an organisation of its own in the provider's emulator (in
process, reachable over loopback by the Odoo servers; real clock, the provider's limits per
organisation, answers after --latency-min..--latency-max s), each with a backlog of --docs
invoices over --customers customers made while its sync was off. ``--provider`` picks the
accounting provider (default ``xero``), as bench/multi_org.py does:

  xero  AUD companies (generic chart, GST 10 %), each connected to an organisation of the Xero
        emulator (xero_emulator; Xero's limits per organisation: 60 calls a minute, 5 at once);
  qbo   USD companies in the United States (generic chart, an 8.875 % sales tax mapped to tax
        code 2 "NYC combined" with Odoo's amounts, the plan item kind to Item 2, the bank journal
        to account 35 "Checking"), each connected to a realm of its own in the QuickBooks Online
        emulator (qbo_emulator; Intuit's limits per realm and app: 500 requests a minute, 10 in
        flight).

With that many organisations the provider's limits are far away: the backlog is bound by Odoo's
CPU (and PostgreSQL's).

1. the first --orgs companies switch sync on with ONE real Odoo server running (``--workers=2``,
   one cron worker): the time until their backlog is drained;
2. the other --orgs companies switch sync on with TWO such servers on the same database.

Prints ``two_server_speedup=<one server's drain / two servers' drain>`` (target >= 1.4 on this
2-core machine, PostgreSQL and the emulator included), ``sent_twice`` (jobs sent more than once:
target 0), ``held_twice_in_xero`` (invoice numbers the provider holds more than once, read from
the Xero emulator's organisations, or for qbo through each realm's QuickBooks query API by
DocNumber: target 0) and ``jobs_in_error``. With ``--provider qbo`` every figure line ends with
``provider=qbo`` (the Xero lines stay as they always were).

    bash bench/run.sh two_servers [--orgs 4 --docs 400]
    bash bench/run.sh two_servers --provider qbo [--orgs 4 --docs 400]
"""
import argparse
import collections
import os
import subprocess
import sys
import time

from _env import environment, registry_for
from fault_soak import OdooServer, emu_ctl, log, query, fresh_run, run_db
from multi_org import PROVIDERS, make_org


def drained(db, conn_ids, expected_invoices):
    (pending, invoices_done), = query(db, """
        SELECT count(*) FILTER (WHERE state = 'pending'),
               count(*) FILTER (WHERE state = 'done' AND kind = 'invoice')
          FROM coworks_sync_job WHERE connection_id = ANY(%s)""", [conn_ids])
    (requests,), = query(db, "SELECT count(*) FROM coworks_sync_request")
    return not pending and not requests and invoices_done >= expected_invoices


def clear_log(prov):
    """Forget the emulator's request log (both emulators keep one under their app's lock)."""
    app = prov.server.app
    with app.lock:
        app.log.clear()


def held_twice(prov, base, tenants):
    """Invoice numbers the provider holds more than once, summed over the organisations."""
    twice = 0
    if prov.name == "qbo":
        from qbo_soak import QboReader  # QuickBooks through its query API, as an outside observer
        held = 0
        for realm in tenants:
            numbers = collections.Counter(i.get("DocNumber") for i in QboReader(base, realm).all("Invoice"))
            twice += sum(n - 1 for n in numbers.values() if n > 1)
            held += sum(numbers.values())
        log(f"two_servers: QuickBooks holds {held} invoices over {len(tenants)} realms (query API) provider=qbo")
        return twice
    app = prov.server.app
    with app.lock:
        for tenant in tenants:
            numbers = collections.Counter(i.get("InvoiceNumber") for i in app.orgs[tenant].invoices.values())
            twice += sum(n - 1 for n in numbers.values() if n > 1)
    return twice


def run_round(args, registry, db, workdir, servers_n, companies, conn_ids, prov):
    servers = [OdooServer(args, db, workdir, f"{servers_n}-{i}") for i in range(servers_n)]
    for s in servers:
        s.start()
    try:
        time.sleep(3)  # the cron workers are up and listening
        clear_log(prov)
        t0 = time.time()
        with environment(registry) as env:  # the settings' switch: it wakes the sync (Odoo's cron trigger)
            env["res.company"].browse(companies).write({"coworks_xero_sync_enabled": True})
            env.cr.commit()
        while time.time() - t0 < args.timeout:
            if drained(db, conn_ids, args.orgs * args.docs):
                break
            time.sleep(0.5)
        return time.time() - t0
    finally:
        for s in servers:
            s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--template", default=os.environ.get("BENCH_TPL", "cx_bench_tpl"))
    ap.add_argument("--conf")
    ap.add_argument("--provider", choices=sorted(PROVIDERS), default="xero",
                    help="xero: the Xero emulator's organisations; qbo: the QuickBooks Online emulator's realms")
    ap.add_argument("--orgs", type=int, default=4)
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--customers", type=int, default=30)
    ap.add_argument("--latency-min", type=float, default=0.02)
    ap.add_argument("--latency-max", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    prov = PROVIDERS[args.provider]()
    sfx = prov.suffix
    db = run_db("two_servers_run")
    workdir = fresh_run("two_servers" if prov.name == "xero" else f"two_servers_{prov.name}", args.template, db)
    base = prov.start()
    try:
        tenants = prov.organisations(base, 2 * args.orgs)
        registry = registry_for(db, args.conf)
        t_setup = time.time()
        with environment(registry) as env:
            prov.configure(env, base)
            env["coworks.sync.connection"].search([]).write({"active": False})
            env["res.company"].search([]).write({"coworks_xero_sync_enabled": False})
            env.cr.commit()
            made = [make_org(env, prov, base, tenant, n + 1, args) for n, tenant in enumerate(tenants)]
            env["res.company"].browse([c.id for c, _ in made]).write({"coworks_xero_sync_enabled": False})
            env.cr.commit()
            companies = [c.id for c, _ in made]
            conns = [c.id for _, c in made]
        log(f"two_servers: {2 * args.orgs} organisations x {args.docs} invoices made in "
            f"{time.time() - t_setup:.0f} s{sfx}")
        emu_ctl(base, "POST", "faults", {"route": "*", "kind": "latency", "seconds_min": args.latency_min,
                                         "seconds_max": args.latency_max, "count": 0})
        k = args.orgs
        one_s = run_round(args, registry, db, workdir, 1, companies[:k], conns[:k], prov)
        log(f"two_servers: one server drained {k * args.docs} invoices in {one_s:.1f} s{sfx}")
        two_s = run_round(args, registry, db, workdir, 2, companies[k:], conns[k:], prov)
        log(f"two_servers: two servers drained {k * args.docs} invoices in {two_s:.1f} s{sfx}")
        emu_ctl(base, "DELETE", "faults")  # the observer reads without the added latency
        (twice,), = query(db, "SELECT count(*) FROM coworks_sync_job WHERE send_count > 1")
        held = held_twice(prov, base, tenants)
        (errors,), = query(db, "SELECT count(*) FROM coworks_sync_job WHERE state = 'error'")
        print(f"one_server_drain_s={one_s:.1f} two_servers_drain_s={two_s:.1f} "
              f"({k} organisations x {args.docs} invoices each round; answers "
              f"{args.latency_min}-{args.latency_max} s){sfx}")
        print(f"two_server_speedup={one_s / two_s:.2f}{sfx}")
        print(f"sent_twice={twice} held_twice_in_xero={held} jobs_in_error={errors}{sfx}")
    finally:
        prov.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


if __name__ == "__main__":
    main()

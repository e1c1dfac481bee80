"""More than one server: two Odoo servers on one PostgreSQL against one. Prints figures; NOT a test.

2 x --orgs companies, each connected to an organisation of its own in the emulator (real clock,
Xero's limits per organisation, answers after --latency-min..--latency-max s), each with a backlog
of --docs invoices over --customers customers made while its sync was off. With that many
organisations Xero's limits are far away: the backlog is bound by Odoo's CPU (and PostgreSQL's).

1. the first --orgs companies switch sync on with ONE real Odoo server running (``--workers=2``,
   one cron worker): the time until their backlog is drained;
2. the other --orgs companies switch sync on with TWO such servers on the same database.

Prints ``two_server_speedup=<one server's drain / two servers' drain>`` (target >= 1.4 on this
2-core machine, PostgreSQL and the emulator included) and ``sent_twice`` (jobs sent more than once, and documents Xero holds twice: target 0).

    bash bench/run.sh two_servers [--orgs 4 --docs 400]
"""
import argparse
import collections
import os
import subprocess
import sys
import time

from _env import environment, registry_for
from fault_soak import REPO_ROOT, OdooServer, emu_ctl, log, query, fresh_run, run_db
from multi_org import make_org


def drained(db, conn_ids, expected_invoices):
    (pending, invoices_done), = query(db, """
        SELECT count(*) FILTER (WHERE state = 'pending'),
               count(*) FILTER (WHERE state = 'done' AND kind = 'invoice')
          FROM coworks_sync_job WHERE connection_id = ANY(%s)""", [conn_ids])
    (requests,), = query(db, "SELECT count(*) FROM coworks_sync_request")
    return not pending and not requests and invoices_done >= expected_invoices


def run_round(args, registry, db, workdir, servers_n, companies, conn_ids, emulator):
    servers = [OdooServer(args, db, workdir, f"{servers_n}-{i}") for i in range(servers_n)]
    for s in servers:
        s.start()
    try:
        time.sleep(3)  # the cron workers are up and listening
        with emulator.lock:
            emulator.log.clear()
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
    ap.add_argument("--orgs", type=int, default=4)
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--customers", type=int, default=30)
    ap.add_argument("--latency-min", type=float, default=0.02)
    ap.add_argument("--latency-max", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    db = run_db("two_servers_run")
    workdir = fresh_run("two_servers", args.template, db)
    from xero_emulator import EmulatorServer, seed
    emulator_srv = EmulatorServer(host="127.0.0.1", port=0).start()
    base, emulator = emulator_srv.base_url, emulator_srv.app
    try:
        tenants = [t["tenantId"] for t in emu_ctl(base, "POST", "tenants", {"count": 2 * args.orgs})["tenants"]]
        registry = registry_for(db, args.conf)
        t_setup = time.time()
        with environment(registry) as env:
            params = env["ir.config_parameter"].sudo()
            params.set_param("coworks_xero.sandbox_url", base)
            params.set_param("coworks_xero.client_id", seed.DEMO_CLIENT_ID)
            params.set_param("coworks_xero.client_secret", seed.DEMO_CLIENT_SECRET)
            env["coworks.sync.connection"].search([]).write({"active": False})
            env["res.company"].search([]).write({"coworks_xero_sync_enabled": False})
            env.cr.commit()
            made = [make_org(env, base, tenant, n + 1, args) for n, tenant in enumerate(tenants)]
            env["res.company"].browse([c.id for c, _ in made]).write({"coworks_xero_sync_enabled": False})
            env.cr.commit()
            companies = [c.id for c, _ in made]
            conns = [c.id for _, c in made]
        log(f"two_servers: {2 * args.orgs} organisations x {args.docs} invoices made in {time.time() - t_setup:.0f} s")
        emu_ctl(base, "POST", "faults", {"route": "*", "kind": "latency", "seconds_min": args.latency_min,
                                         "seconds_max": args.latency_max, "count": 0})
        k = args.orgs
        one_s = run_round(args, registry, db, workdir, 1, companies[:k], conns[:k], emulator)
        log(f"two_servers: one server drained {k * args.docs} invoices in {one_s:.1f} s")
        two_s = run_round(args, registry, db, workdir, 2, companies[k:], conns[k:], emulator)
        log(f"two_servers: two servers drained {k * args.docs} invoices in {two_s:.1f} s")
        (twice,), = query(db, "SELECT count(*) FROM coworks_sync_job WHERE send_count > 1")
        held_twice = 0
        with emulator.lock:
            for tenant in tenants:
                numbers = collections.Counter(i.get("InvoiceNumber") for i in emulator.orgs[tenant].invoices.values())
                held_twice += sum(n - 1 for n in numbers.values() if n > 1)
        (errors,), = query(db, "SELECT count(*) FROM coworks_sync_job WHERE state = 'error'")
        print(f"one_server_drain_s={one_s:.1f} two_servers_drain_s={two_s:.1f} "
              f"({k} organisations x {args.docs} invoices each round; answers "
              f"{args.latency_min}-{args.latency_max} s)")
        print(f"two_server_speedup={one_s / two_s:.2f}")
        print(f"sent_twice={twice} held_twice_in_xero={held_twice} jobs_in_error={errors}")
    finally:
        emulator_srv.stop()
        if not args.keep_db:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


if __name__ == "__main__":
    main()

"""Issue 15 benchmark: one Odoo serving many organisations, one of them under a 429 storm.

N companies, each connected to an organisation of its own in the provider's emulator (in process,
real clock), each with a backlog of D invoices over C customers made while its sync was off.
``--provider`` picks the accounting provider (default ``xero``):

  xero  AUD companies (generic chart, GST 10 %), each connected to an organisation of the Xero
        emulator (xero_emulator; Xero's limits per organisation: 60 calls a minute, 5 at once);
  qbo   USD companies in the United States (generic chart, an 8.875 % sales tax mapped to tax
        code 2 "NYC combined" with Odoo's amounts, the plan item kind to Item 2, the bank journal
        to account 35 "Checking"), each connected to a realm of its own in the QuickBooks Online
        emulator (qbo_emulator; realms made like its US company; Intuit's limits per realm and
        app: 500 requests a minute, 10 in flight).

Measured with the sync cron's method, run in a loop as Odoo's cron runner would (in process):

1. one organisation alone: the time its backlog takes to drain (``single_org_drain_s``);
2. all N at once, the first one answered 429 on every call for the first ``--storm`` seconds
   (xero: Retry-After 30 s; qbo: no Retry-After, as Intuit sends none, so the client waits the
   60 s Intuit documents): the time until the N-1 others are drained (``others_drain_s``), then
   until the throttled one is too, and whether it lost a job.

Prints ``multi_org_efficiency=<(N-1) x single / others>`` (1.0: the others drain as fast as
they would alone, one after the other on Odoo's CPU; target >= 0.8), ``longest_cron_run_s`` (no
single connection holds a run), ``throttled_done`` / ``throttled_lost``, the 429s and the calls
(``calls_by_tenant``: by Xero organisation, or by QuickBooks realm). With ``--provider qbo``
every line ends with ``provider=qbo``. Figures, never asserted. The data is committed: use
``bash bench/run.sh multi_org`` or ``bash bench/run.sh multi_org --provider qbo`` (a fresh copy
of the template database each time), or by hand:

    $PY bench/multi_org.py --db cx_bench --conf var/odoo-bench-cx_bench.conf [--provider qbo] [--orgs 10 --docs 300]
"""
import argparse
import collections
import json
import time
import urllib.request
import uuid

from _env import connect_to_emulator, connect_to_qbo_emulator, environment, map_demo_organisation, registry_for


def emu(base_url, method, name, body=None, query=""):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base_url}/__emulator__/{name}{query}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


# ============================================================================ the two providers
class XeroBench:
    """Xero: AUD companies, organisations of the Xero emulator."""
    name = "xero"
    suffix = ""  # the Xero lines stay as they always were

    def start(self):
        from xero_emulator import EmulatorServer
        self.server = EmulatorServer(host="127.0.0.1", port=0)
        self.server.start()
        return self.server.base_url

    def stop(self):
        self.server.stop()

    def organisations(self, base, count):
        return [t["tenantId"] for t in emu(base, "POST", "tenants", {"count": count})["tenants"]]

    def configure(self, env, base):
        from xero_emulator import seed
        params = env["ir.config_parameter"].sudo()
        params.set_param("coworks_xero.sandbox_url", base)
        params.set_param("coworks_xero.client_id", seed.DEMO_CLIENT_ID)
        params.set_param("coworks_xero.client_secret", seed.DEMO_CLIENT_SECRET)

    def company(self, env, n):
        aud = env.ref("base.AUD")
        aud.active = True
        return env["res.company"].create({"name": f"Location {n} {uuid.uuid4().hex[:4]}", "currency_id": aud.id,
                                          "country_id": env.ref("base.au").id})

    def connect(self, cenv, base, company, tenant, n):
        conn = connect_to_emulator(cenv, base, company, tenant, name=f"Extra {n}")
        tax = cenv["account.tax"].create({"name": "GST 10% (bench)", "amount": 10.0, "type_tax_use": "sale",
                                          "company_id": company.id})
        map_demo_organisation(cenv, conn, company, tax)
        return conn, tax

    def storm(self, base, tenant):
        emu(base, "POST", "faults", {"route": "*", "kind": "status", "status": 429, "retry_after": 30,
                                     "count": 0, "tenant": tenant})

    @staticmethod
    def tenant_of(request):
        return request.get("tenant")


class QboBench:
    """QuickBooks Online: USD companies in the United States, realms of the QBO emulator."""
    name = "qbo"
    suffix = " provider=qbo"

    def start(self):
        from qbo_emulator.server import EmulatorServer
        self.server = EmulatorServer(host="127.0.0.1", port=0, time_scale=1.0)
        self.server.start()
        return self.server.base_url

    def stop(self):
        self.server.stop()

    def organisations(self, base, count):
        # extra realms, each a copy of the seeded US company (USD, NYC combined sales tax)
        return [r["realmId"] for r in emu(base, "POST", "realms", {"count": count})["realms"]]

    def configure(self, env, base):
        from qbo_emulator import seed
        params = env["ir.config_parameter"].sudo()
        params.set_param("coworks_xero.qbo_sandbox_url", base)
        params.set_param("coworks_xero.qbo_client_id", seed.DEMO_CLIENT_ID)
        params.set_param("coworks_xero.qbo_client_secret", seed.DEMO_CLIENT_SECRET)

    def company(self, env, n):
        usd = env.ref("base.USD")
        usd.active = True
        return env["res.company"].create({"name": f"Location {n} {uuid.uuid4().hex[:4]}", "currency_id": usd.id,
                                          "country_id": env.ref("base.us").id})

    def connect(self, cenv, base, company, realm, n):
        return connect_to_qbo_emulator(cenv, base, company, realm, name=f"Coworks Extra {n}")

    def storm(self, base, realm):
        # Intuit answers 429 ThrottleExceeded without a Retry-After: the client waits its 60 s
        emu(base, "POST", "faults", {"route": "*", "kind": "status", "status": 429, "count": 0, "realm": realm})

    @staticmethod
    def tenant_of(request):
        return request.get("realm")


PROVIDERS = {"xero": XeroBench, "qbo": QboBench}


def make_org(env, prov, base, tenant, n, args):
    company = prov.company(env, n)
    env.user.company_ids |= company
    env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    cenv = env(context=dict(env.context, allowed_company_ids=[company.id]))
    company = company.with_env(cenv)
    conn, tax = prov.connect(cenv, base, company, tenant, n)
    product = cenv["product.product"].create({"name": "Hot desk (bench)", "type": "service", "lst_price": 350.0,
                                              "coworks_item_kind": "plan", "taxes_id": [(6, 0, tax.ids)],
                                              "company_id": company.id})
    partners = cenv["res.partner"].create([{"name": f"Member {i:03d} of {n}", "email": f"m{i}.{company.id}@bench.example",
                                            "company_id": company.id} for i in range(args.customers)])
    journal = cenv["account.journal"].search([("type", "=", "sale"), ("company_id", "=", company.id)], limit=1)
    for start in range(0, args.docs, 100):
        moves = cenv["account.move"].create([{
            "move_type": "out_invoice", "partner_id": partners[i % len(partners)].id, "journal_id": journal.id,
            "invoice_date": "2026-11-02",
            "invoice_line_ids": [(0, 0, {"product_id": product.id, "price_unit": 350.0, "tax_ids": [(6, 0, tax.ids)]})],
        } for i in range(start, min(start + 100, args.docs))])
        moves.action_post()
        cenv.cr.commit()
    return company, conn


def drain(env, conns, until, timeout, runs):
    """Run the sync cron's method until ``until()`` holds; returns the seconds it took."""
    Job = env["coworks.sync.job"].sudo()
    t0 = time.perf_counter()
    while not until() and time.perf_counter() - t0 < timeout:
        r0 = time.perf_counter()
        Job._cron_process_jobs()
        env.cr.commit()
        runs.append(time.perf_counter() - r0)
        if not until():
            nxt = Job.search([("connection_id", "in", conns.ids), ("state", "=", "pending")],
                             order="next_attempt_at", limit=1).next_attempt_at
            from odoo import fields
            wait = (nxt - fields.Datetime.now()).total_seconds() if nxt else 0
            time.sleep(min(max(wait, 0.2), 5))
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--provider", choices=sorted(PROVIDERS), default="xero",
                    help="xero: the Xero emulator's organisations; qbo: the QuickBooks Online emulator's realms")
    ap.add_argument("--orgs", type=int, default=10)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--customers", type=int, default=30)
    ap.add_argument("--storm", type=float, default=90, help="seconds the first organisation answers 429")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    registry = registry_for(args.db, args.conf)
    prov = PROVIDERS[args.provider]()
    sfx = prov.suffix
    base = prov.start()
    try:
        tenants = prov.organisations(base, args.orgs)
        with environment(registry) as env:
            prov.configure(env, base)
            env["coworks.sync.connection"].search([]).write({"active": False})
            env["res.company"].search([]).write({"coworks_xero_sync_enabled": False})
            env.cr.commit()
            t_setup = time.perf_counter()
            made = [make_org(env, prov, base, tenant, n + 1, args) for n, tenant in enumerate(tenants)]
            companies = env["res.company"].browse([c.id for c, _ in made])
            conns = env["coworks.sync.connection"].browse([c.id for _, c in made])
            env = env(context=dict(env.context, allowed_company_ids=companies.ids))
            print(f"data: organisations={args.orgs} invoices_each={args.docs} customers_each={args.customers} "
                  f"(made in {time.perf_counter() - t_setup:.0f} s){sfx}")
            Job = env["coworks.sync.job"].sudo()

            def done(conn):
                missing = conn.with_env(env)._missing_moves_query()
                env.cr.execute("SELECT count(*) " + missing[0], missing[1])
                left = env.cr.fetchone()[0]
                return not left and not Job.search_count([("connection_id", "=", conn.id),
                                                          ("state", "=", "pending")])

            # 1. one organisation alone
            runs = []
            companies[1].coworks_xero_sync_enabled = True
            env.cr.commit()
            emu(base, "DELETE", "requests")
            single = drain(env, conns[1], lambda: done(conns[1]), args.timeout, runs)
            single_calls = sum(emu(base, "GET", "requests")["counts"].values())

            # 2. all of them, the first one under a 429 storm
            prov.storm(base, tenants[0])
            storm_until = time.perf_counter() + args.storm
            others = conns - conns[0] - conns[1]
            (companies - companies[1]).write({"coworks_xero_sync_enabled": True})
            env.cr.commit()
            emu(base, "DELETE", "requests")
            runs_all = []
            t0 = time.perf_counter()

            def lift_storm():
                if time.perf_counter() >= storm_until:
                    emu(base, "DELETE", "faults")
                return all(done(c) for c in others)
            others_s = drain(env, others, lift_storm, args.timeout, runs_all)
            while time.perf_counter() < storm_until:  # the storm lasts as long as it lasts
                time.sleep(1)
            emu(base, "DELETE", "faults")
            drain(env, conns[0], lambda: done(conns[0]), args.timeout, runs_all)
            throttled_s = time.perf_counter() - t0  # storm included
            log = emu(base, "GET", "requests")
            http_429 = sum(1 for r in log["requests"] if r.get("status") == 429)
            by_tenant = collections.Counter(prov.tenant_of(r) for r in log["requests"])
            throttled_done = Job.search_count([("connection_id", "=", conns[0].id), ("state", "=", "done"),
                                               ("kind", "=", "invoice")])
            errors = Job.search_count([("connection_id", "in", conns.ids), ("state", "=", "error")])
            print(f"single_org_drain_s={single:.1f} (calls {single_calls}, cron runs {len(runs)}){sfx}")
            print(f"others_drain_s={others_s:.1f} ({len(others)} organisations besides the throttled one and the "
                  f"one already drained) throttled_org_drained_after_s={throttled_s:.1f} (its storm lasted {args.storm:.0f} s){sfx}")
            print(f"multi_org_efficiency={len(others) * single / others_s:.2f}{sfx}")
            print(f"longest_cron_run_s={max(runs_all):.1f} cron_runs={len(runs_all)} "
                  f"(elapsed {time.perf_counter() - t0:.1f} s){sfx}")
            print(f"throttled_done={throttled_done} throttled_lost={args.docs - throttled_done} jobs_in_error={errors}{sfx}")
            print(f"http_429={http_429} calls_by_tenant={dict(by_tenant)}{sfx}")
            companies.write({"coworks_xero_sync_enabled": False})
            conns.write({"active": False})
            env.cr.commit()
    finally:
        prov.stop()


if __name__ == "__main__":
    main()

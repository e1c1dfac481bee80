"""Issue 5 benchmark: a first push of a whole book to an empty Xero.

In a new company (AUD, generic chart, a 10 % sales tax mapped to Xero's OUTPUT): C customers,
N posted invoices spread over them, P of them paid through Odoo (``account.payment.register``,
one payment per invoice, reconciled). Everything is queued by the addon's own hooks while the
data is made (sync on, the cron not running). Then the Xero emulator (in-process, loopback,
Xero's default limits: 60 calls/min and 5,000/day per organisation, 5 concurrent; its clock sped
up by --scale, and the addon's shared rate limiter on the same clock) receives the push: the sync
cron's method runs until no job is left pending.

Prints the jobs per kind and state (payment jobs appear once the payment hooks queue them), the
emulator's request counts per route, and:
  api_calls_per_record=<requests / records pushed>   (target <= 0.05)
  http_429=<responses with status 429>               (target 0)
  records_per_min=<records pushed per real minute>   (and per emulated minute)

With ``--existing-contacts K --existing-invoices M`` the organisation is not empty: before the push
it already holds K contacts and M invoices entered there (through the emulator's API, outside
the measured window), among them half of the C customers (a quarter with the same name and
email, a quarter with the same name and another email, as an accountant's own entries would be).
Then it also prints ``duplicate_contacts=`` (customers that got a second contact; target 0).
``bash bench/run.sh backfill`` runs both: the empty organisation, then K=5,000 and M=3,000.

The data is committed: use a throw-away database (``bash bench/run.sh backfill`` copies a fresh
one from a template), or run by hand:

    source scripts/env.sh
    $PY bench/backfill.py --db cx_bench --conf var/odoo-bench-cx_bench.conf \
        [--customers 400 --invoices 2000 --paid 1500 --scale 10]
"""
import argparse
import collections
import json
import time
import urllib.request
import uuid

from _env import connect_to_emulator, environment, map_demo_organisation, registry_for


def emu(base_url, method, name, body=None, query=""):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base_url}/__emulator__/{name}{query}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def xero_api(base, token, tenant, method, path, body):
    req = urllib.request.Request(f"{base}/api.xro/2.0/{path}", data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          "Authorization": f"Bearer {token}", "xero-tenant-id": tenant})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def seed_existing_organisation(base, tenant, client_id, customers, contacts, invoices):
    """What the organisation held before the integration: ``contacts`` contacts (half of
    ``customers`` among them) and ``invoices`` invoices on them, entered through the API with
    the emulator's limits lifted, then its clock moved a day on so the push meets fresh limits."""
    limits = emu(base, "GET", "limits")
    emu(base, "POST", "limits", {"minute": 10 ** 6, "day": 10 ** 6, "app_minute": 10 ** 6})
    token = emu(base, "POST", "grant", {"client_id": client_id, "tenant_ids": [tenant]})["access_token"]
    known = customers[: len(customers) // 2]
    rows = []
    for n, (name, email) in enumerate(known):
        # every other one as the accountant typed it: same name, another email
        rows.append({"Name": name, "EmailAddress": email if n % 2 == 0 else f"accounts{n}@elsewhere.example"})
    rows += [{"Name": f"Existing contact {i:05d}", "EmailAddress": f"existing{i}@org.example"}
             for i in range(max(contacts - len(rows), 0))]
    ids = []
    for start in range(0, len(rows), 50):
        got = xero_api(base, token, tenant, "POST", "Contacts?summarizeErrors=false", {"Contacts": rows[start:start + 50]})
        ids += [c["ContactID"] for c in got["Contacts"]]
    for start in range(0, invoices, 50):
        batch = [{"Type": "ACCREC", "Contact": {"ContactID": ids[i % len(ids)]}, "Date": "2025-06-30",
                  "DueDate": "2025-07-30", "InvoiceNumber": f"XERO-{i:05d}", "Status": "AUTHORISED",
                  "LineAmountTypes": "Exclusive",
                  "LineItems": [{"Description": "Earlier membership", "Quantity": 1, "UnitAmount": 200,
                                 "AccountCode": "200", "TaxType": "OUTPUT"}]}
                 for i in range(start, min(start + 50, invoices))]
        xero_api(base, token, tenant, "PUT", "Invoices?summarizeErrors=false", {"Invoices": batch})
    emu(base, "POST", "limits", {k: limits[k] for k in ("minute", "day", "app_minute") if k in limits})
    emu(base, "POST", "clock", {"advance": 86400 + 60})
    return len(rows), invoices


def make_company(env, tag):
    aud = env.ref("base.AUD")
    aud.active = True
    company = env["res.company"].create({"name": f"Backfill bench {tag}", "currency_id": aud.id,
                                         "country_id": env.ref("base.au").id})
    env.user.company_ids |= company
    env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    return company


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--invoices", type=int, default=2000)
    ap.add_argument("--paid", type=int, default=1500)
    ap.add_argument("--scale", type=float, default=10.0, help="emulator clock speed-up")
    ap.add_argument("--timeout", type=float, default=1800, help="real seconds before giving up the push")
    ap.add_argument("--existing-contacts", type=int, default=0, help="contacts the organisation already holds")
    ap.add_argument("--existing-invoices", type=int, default=0, help="invoices the organisation already holds")
    args = ap.parse_args()

    registry = registry_for(args.db, args.conf)
    from odoo import fields
    from odoo.addons.coworks_xero.services.xero.ratelimit import RateLimiter
    from odoo.addons.coworks_xero.services.xero import const
    from xero_emulator import EmulatorServer, seed

    server = EmulatorServer(host="127.0.0.1", port=0)
    server.start()
    base = server.base_url
    try:
        emu(base, "POST", "clock", {"scale": args.scale})
        clock = server.app.clock
        # The addon's process-wide limiter on the emulator's clock, as it is on real time with Xero.
        RateLimiter._registry[base.rstrip("/") + const.ACCOUNTING_PATH] = RateLimiter(
            clock=clock.now, sleep=lambda s: time.sleep(s / args.scale), retry_after_scale=args.scale)
        tenant = seed.TENANT_AU
        with environment(registry) as env:
            t_setup = time.perf_counter()
            params = env["ir.config_parameter"].sudo()
            params.set_param("coworks_xero.sandbox_url", base)
            params.set_param("coworks_xero.client_id", seed.DEMO_CLIENT_ID)
            params.set_param("coworks_xero.client_secret", seed.DEMO_CLIENT_SECRET)
            # Earlier runs' connections (other emulators) must not take part.
            env["coworks.sync.connection"].search([]).write({"active": False})
            company = make_company(env, uuid.uuid4().hex[:6])
            env = env(context=dict(env.context, allowed_company_ids=[company.id]))
            company = company.with_env(env)
            conn = connect_to_emulator(env, base, company, tenant)
            tax = env["account.tax"].create({"name": "GST 10% (bench)", "amount": 10.0, "type_tax_use": "sale",
                                             "company_id": company.id})
            map_demo_organisation(env, conn, company, tax)
            product = env["product.product"].create({"name": "Hot desk (bench)", "type": "service", "lst_price": 350.0,
                                                     "coworks_item_kind": "plan", "taxes_id": [(6, 0, tax.ids)],
                                                     "company_id": company.id})
            company.coworks_xero_sync_enabled = True
            env.cr.commit()

            partners = env["res.partner"].create([{
                "name": f"Bench member {i:04d} {company.id}", "email": f"member{i}.{company.id}@bench.example",
                "company_id": company.id} for i in range(args.customers)])
            journal = env["account.journal"].search([("type", "=", "sale"), ("company_id", "=", company.id)], limit=1)
            bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)
            invoices = env["account.move"]
            for start in range(0, args.invoices, 200):
                moves = env["account.move"].create([{
                    "move_type": "out_invoice", "partner_id": partners[i % len(partners)].id, "journal_id": journal.id,
                    "invoice_date": "2026-01-15",
                    "invoice_line_ids": [(0, 0, {"product_id": product.id, "quantity": 1, "price_unit": 350.0,
                                                 "tax_ids": [(6, 0, tax.ids)]})],
                } for i in range(start, min(start + 200, args.invoices))])
                moves.action_post()
                env.cr.commit()
                invoices |= moves
            paid = invoices[:args.paid]
            for start in range(0, len(paid), 100):
                chunk = paid[start:start + 100]
                env["account.payment.register"].with_context(
                    active_model="account.move", active_ids=chunk.ids).create(
                    {"journal_id": bank.id, "group_payment": False, "payment_date": "2026-01-20"})._create_payments()
                env.cr.commit()
            payments = env["account.payment"].search([("company_id", "=", company.id)])
            if args.existing_contacts or args.existing_invoices:
                t_seed = time.perf_counter()
                held = seed_existing_organisation(
                    base, tenant, seed.DEMO_CLIENT_ID, [(p.name, p.email) for p in partners],
                    args.existing_contacts, args.existing_invoices)
                # The addon's limiter forgets the seeding's calls, as Xero's windows did a day later.
                RateLimiter._registry[base.rstrip("/") + const.ACCOUNTING_PATH] = RateLimiter(
                    clock=clock.now, sleep=lambda s: time.sleep(s / args.scale), retry_after_scale=args.scale)
                # The history predates the integration: the pull's high-water mark starts after it
                # (the emulator's clock runs ahead of Odoo's here, so the connection's creation is
                # no measure of it).
                import datetime as _dt
                conn.sudo().write({"inbound_modified_since": _dt.datetime.fromtimestamp(
                    clock.now(), _dt.timezone.utc).replace(tzinfo=None)})
                env.cr.commit()
                print(f"organisation_before: contacts={held[0]} invoices={held[1]} "
                      f"(customers among them={len(partners) // 2}; seeded in {time.perf_counter() - t_seed:.0f} s)")
            Job = env["coworks.sync.job"].sudo()
            queued = dict(Job._read_group([("connection_id", "=", conn.id)], ["kind"], ["__count"]))
            print(f"data: customers={len(partners)} invoices_posted={len(invoices)} "
                  f"invoices_paid={sum(1 for i in paid if i.payment_state in ('paid', 'in_payment'))} "
                  f"payments={len(payments)} (made in {time.perf_counter() - t_setup:.0f} s)")
            print(f"jobs_queued_by_kind={queued}")

            # ---------------------------------------------------------------- the push
            emu(base, "DELETE", "requests")
            emu_t0, t0 = clock.now(), time.perf_counter()
            runs = 0
            while True:
                Job._cron_process_jobs()
                env.cr.commit()
                runs += 1
                pending = Job.search_count([("connection_id", "=", conn.id), ("state", "=", "pending")])
                if not pending or time.perf_counter() - t0 > args.timeout:
                    break
                nxt = Job.search([("connection_id", "=", conn.id), ("state", "=", "pending")],
                                 order="next_attempt_at", limit=1).next_attempt_at
                wait = (nxt - fields.Datetime.now()).total_seconds() if nxt else 0  # retries waiting
                time.sleep(min(max(wait, 0.5), 30))
            elapsed, emu_elapsed = time.perf_counter() - t0, clock.now() - emu_t0
            log = emu(base, "GET", "requests")
            states = collections.defaultdict(dict)
            for kind, state, count in Job._read_group([("connection_id", "=", conn.id)], ["kind", "state"], ["__count"]):
                states[kind][state] = count
            pushed = Job.search_count([("connection_id", "=", conn.id), ("state", "=", "done")])
            requests = sum(log["counts"].values())
            http_429 = sum(1 for r in log["requests"] if r.get("status") == 429)
            errors = Job.search([("connection_id", "=", conn.id), ("state", "=", "error")], limit=3)
            print(f"jobs_by_kind_and_state={dict(states)}")
            print(f"cron_runs={runs} pending_left={pending}")
            print(f"requests_by_route={dict(log['counts'])}")
            for job in errors:
                print(f"  example error: {job.kind} {job.record_name}: {job.error_message[:200]}")
            if args.existing_contacts:
                state = emu(base, "GET", "state", query=f"?tenant={tenant}")
                per_customer = collections.Counter()
                names = {p.name: p for p in partners}
                for c in state["Contacts"]:
                    base_name = c["Name"].split(" (")[0]
                    if base_name in names and c.get("ContactStatus") == "ACTIVE":
                        per_customer[base_name] += 1
                print(f"duplicate_contacts={sum(n - 1 for n in per_customer.values() if n > 1)}")
            print(f"records_pushed={pushed} requests={requests}")
            print(f"api_calls_per_record={requests / max(pushed, 1):.4f}")
            print(f"http_429={http_429}")
            print(f"records_per_min={pushed / elapsed * 60:.0f} (real {elapsed:.1f} s)")
            print(f"calls_per_emulated_minute={requests / max(emu_elapsed / 60, 1e-9):.1f} (Xero allows 60; "
                  f"emulated {emu_elapsed:.0f} s at clock scale {args.scale:g})")
            company.coworks_xero_sync_enabled = False
            conn.active = False
            env.cr.commit()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

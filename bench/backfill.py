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
        [--provider qbo] [--customers 400 --invoices 2000 --paid 1500 --scale 10]

``--provider`` picks the accounting provider (default ``xero``, as above):

  xero  the Xero emulator's demo organisation (xero_emulator), as described above;
  qbo   QuickBooks Online: the company is in USD in the United States (generic chart, an 8.875 %
        sales tax mapped to tax code 2 "NYC combined" with Odoo's amounts, the plan item kind to
        Item 2, the bank journal to account 35 "Checking"), connected to the US realm of the
        in-process QuickBooks Online emulator (qbo_emulator; Intuit's limits per realm and app:
        500 requests a minute, 10 in flight, 40 batch requests a minute; its clock sped up by
        --scale, the addon's shared QBO limiters on the same clock). Tokens come from the
        emulator's grant, saved through the connection's token store. The existing customers
        and invoices are entered into the realm's company directly (in process, outside the
        measured window and the emulator's limits and request log). ``duplicate_contacts=``
        then counts the Odoo customers held by more than one QuickBooks customer with their
        email, plus those matched to none. Every printed line ends with ``provider=qbo``:

    bash bench/run.sh backfill --provider qbo --existing-contacts N --existing-invoices M
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


def make_company(env, tag, provider="xero"):
    if provider == "qbo":
        currency, country = env.ref("base.USD"), env.ref("base.us")
    else:
        currency, country = env.ref("base.AUD"), env.ref("base.au")
    currency.active = True
    company = env["res.company"].create({"name": f"Backfill bench {tag}", "currency_id": currency.id,
                                         "country_id": country.id})
    env.user.company_ids |= company
    env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    return company


# ============================================================================ QuickBooks Online
def qbo_limiters(base, clock, scale):
    """The addon's process-wide QBO limiters (per API base, as sync_connection_qbo names them) on
    the emulator's clock, as they are on real time with Intuit."""
    from odoo.addons.coworks_xero.models.sync_connection_qbo import CALL_MAX_WAIT
    from odoo.addons.coworks_xero.services.qbo.client import QboConfig, qbo_batch_limiter, qbo_limiter
    from odoo.addons.coworks_xero.services.xero.ratelimit import RateLimiter
    api_base = QboConfig.for_emulator(base, "x", "y").api_base
    kw = dict(clock=clock.now, sleep=lambda s: time.sleep(s / scale), retry_after_scale=scale, max_wait=CALL_MAX_WAIT)
    RateLimiter._registry["qbo:" + api_base] = qbo_limiter(**kw)
    RateLimiter._registry["qbo-batch:" + api_base] = qbo_batch_limiter(**kw)


def seed_existing_qbo_company(server, realm, customers, contacts, invoices):
    """What the QuickBooks company held before the integration, as seed_existing_organisation does
    for Xero (half of ``customers`` among ``contacts`` customers, every other one with another
    email; ``invoices`` invoices on them), entered into the emulator's company object directly
    (in process: no limits spent, nothing in the request log), then its clock moved a day on."""
    app = server.app
    company = app.companies[realm]
    known = customers[: len(customers) // 2]
    rows = []
    for n, (name, email) in enumerate(known):
        rows.append({"DisplayName": name,
                     "PrimaryEmailAddr": {"Address": email if n % 2 == 0 else f"accounts{n}@elsewhere.example"}})
    rows += [{"DisplayName": f"Existing contact {i:05d}", "PrimaryEmailAddr": {"Address": f"existing{i}@org.example"}}
             for i in range(max(contacts - len(rows), 0))]
    ids = []
    with app.company_locks[realm]:
        for row in rows:
            ids.append(company.create("Customer", row)["Id"])
        for i in range(invoices):
            company.create("Invoice", {
                "CustomerRef": {"value": ids[i % len(ids)]}, "TxnDate": "2025-06-30", "DueDate": "2025-07-30",
                "DocNumber": f"QBO-{i:05d}",
                "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 200, "Description": "Earlier membership",
                          "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 200,
                                                  "TaxCodeRef": {"value": "NON"}}}]})
        company.events = []  # no webhooks for the history
    emu(server.base_url, "POST", "clock", {"advance": 86400 + 60})
    return len(rows), invoices


def qbo_duplicate_contacts(base, realm, partners):
    """(duplicates, unmatched): Odoo customers whose email more than one active QuickBooks customer
    holds (counted once per extra customer), and Odoo customers no QuickBooks customer holds."""
    objects = emu(base, "GET", "state", query=f"?realm={realm}")["objects"]
    by_email = collections.Counter(
        str((c.get("PrimaryEmailAddr") or {}).get("Address") or "").strip().lower()
        for c in objects.get("Customer", {}).values() if c.get("Active", True))
    held = [by_email.get((p.email or "").strip().lower(), 0) for p in partners]
    return sum(n - 1 for n in held if n > 1), sum(1 for n in held if n == 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--provider", choices=("xero", "qbo"), default="xero",
                    help="xero: the Xero emulator's demo organisation; qbo: the QuickBooks Online emulator's US realm")
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--invoices", type=int, default=2000)
    ap.add_argument("--paid", type=int, default=1500)
    ap.add_argument("--scale", type=float, default=10.0, help="emulator clock speed-up")
    ap.add_argument("--timeout", type=float, default=1800, help="real seconds before giving up the push")
    ap.add_argument("--existing-contacts", type=int, default=0, help="contacts the organisation already holds")
    ap.add_argument("--existing-invoices", type=int, default=0, help="invoices the organisation already holds")
    args = ap.parse_args()
    qbo = args.provider == "qbo"
    sfx = " provider=qbo" if qbo else ""  # the Xero lines stay as they always were

    registry = registry_for(args.db, args.conf)
    from odoo import fields
    from odoo.addons.coworks_xero.services.xero.ratelimit import RateLimiter
    from odoo.addons.coworks_xero.services.xero import const
    if qbo:
        from qbo_emulator import seed as qseed
        from qbo_emulator.server import EmulatorServer as QboEmulatorServer
        server = QboEmulatorServer(host="127.0.0.1", port=0, time_scale=1.0)
    else:
        from xero_emulator import EmulatorServer, seed
        server = EmulatorServer(host="127.0.0.1", port=0)
    server.start()
    base = server.base_url
    try:
        emu(base, "POST", "clock", {"scale": args.scale})
        clock = server.app.clock

        def fresh_limiter():
            if qbo:
                qbo_limiters(base, clock, args.scale)
            else:
                # The addon's process-wide limiter on the emulator's clock, as it is on real time with Xero.
                RateLimiter._registry[base.rstrip("/") + const.ACCOUNTING_PATH] = RateLimiter(
                    clock=clock.now, sleep=lambda s: time.sleep(s / args.scale), retry_after_scale=args.scale)
        fresh_limiter()
        tenant = qseed.REALM_US if qbo else seed.TENANT_AU
        with environment(registry) as env:
            t_setup = time.perf_counter()
            if not qbo:
                params = env["ir.config_parameter"].sudo()
                params.set_param("coworks_xero.sandbox_url", base)
                params.set_param("coworks_xero.client_id", seed.DEMO_CLIENT_ID)
                params.set_param("coworks_xero.client_secret", seed.DEMO_CLIENT_SECRET)
            # Earlier runs' connections (other emulators) must not take part.
            env["coworks.sync.connection"].search([]).write({"active": False})
            company = make_company(env, uuid.uuid4().hex[:6], args.provider)
            env = env(context=dict(env.context, allowed_company_ids=[company.id]))
            company = company.with_env(env)
            if qbo:
                conn, tax = connect_to_qbo_emulator(env, base, company, tenant)
            else:
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
                known = [(p.name, p.email) for p in partners]
                if qbo:
                    held = seed_existing_qbo_company(server, tenant, known, args.existing_contacts,
                                                     args.existing_invoices)
                else:
                    held = seed_existing_organisation(base, tenant, seed.DEMO_CLIENT_ID, known,
                                                      args.existing_contacts, args.existing_invoices)
                # The addon's limiter forgets the seeding's calls, as Xero's windows did a day later.
                fresh_limiter()
                # The history predates the integration: the pull's high-water mark starts after it
                # (the emulator's clock runs ahead of Odoo's here, so the connection's creation is
                # no measure of it).
                import datetime as _dt
                conn.sudo().write({"inbound_modified_since": _dt.datetime.fromtimestamp(
                    clock.now(), _dt.timezone.utc).replace(tzinfo=None)})
                env.cr.commit()
                print(f"organisation_before: contacts={held[0]} invoices={held[1]} "
                      f"(customers among them={len(partners) // 2}; seeded in {time.perf_counter() - t_seed:.0f} s){sfx}")
            Job = env["coworks.sync.job"].sudo()
            queued = dict(Job._read_group([("connection_id", "=", conn.id)], ["kind"], ["__count"]))
            print(f"data: customers={len(partners)} invoices_posted={len(invoices)} "
                  f"invoices_paid={sum(1 for i in paid if i.payment_state in ('paid', 'in_payment'))} "
                  f"payments={len(payments)} (made in {time.perf_counter() - t_setup:.0f} s){sfx}")
            print(f"jobs_queued_by_kind={queued}{sfx}")

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
            print(f"jobs_by_kind_and_state={dict(states)}{sfx}")
            print(f"cron_runs={runs} pending_left={pending}{sfx}")
            print(f"requests_by_route={dict(log['counts'])}{sfx}")
            for job in errors:
                print(f"  example error: {job.kind} {job.record_name}: {job.error_message[:200]}")
            if args.existing_contacts:
                if qbo:
                    dups, unmatched = qbo_duplicate_contacts(base, tenant, partners)
                    print(f"duplicate_contacts={dups + unmatched} (email held twice or more {dups}, "
                          f"customers matched to none {unmatched}){sfx}")
                else:
                    state = emu(base, "GET", "state", query=f"?tenant={tenant}")
                    per_customer = collections.Counter()
                    names = {p.name: p for p in partners}
                    for c in state["Contacts"]:
                        base_name = c["Name"].split(" (")[0]
                        if base_name in names and c.get("ContactStatus") == "ACTIVE":
                            per_customer[base_name] += 1
                    print(f"duplicate_contacts={sum(n - 1 for n in per_customer.values() if n > 1)}")
            print(f"records_pushed={pushed} requests={requests}{sfx}")
            print(f"api_calls_per_record={requests / max(pushed, 1):.4f}{sfx}")
            print(f"http_429={http_429}{sfx}")
            print(f"records_per_min={pushed / elapsed * 60:.0f} (real {elapsed:.1f} s){sfx}")
            allowed = "QuickBooks allows 500" if qbo else "Xero allows 60"
            print(f"calls_per_emulated_minute={requests / max(emu_elapsed / 60, 1e-9):.1f} ({allowed}; "
                  f"emulated {emu_elapsed:.0f} s at clock scale {args.scale:g}){sfx}")
            company.coworks_xero_sync_enabled = False
            conn.active = False
            env.cr.commit()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

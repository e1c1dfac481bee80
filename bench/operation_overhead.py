"""What the sync adds to a user's everyday operations, one by one. Prints figures; NOT a test.

``bench/post_overhead.py`` times posting; this times the rest of what users do to customer
documents, each operation with the company's sync on (jobs queued in the user's transaction,
nothing sent: the cron is not run) and off, alternating blocks in an ABBA pattern in one database
and one run, each operation its own transaction timed up to and including its commit, as a
user's request would be; after each, the cron's wake-up triggers are removed (untimed), as a
running worker would consume them:

  pay_single      one full payment of one invoice (account.payment.register)
  pay_partial     half of one invoice
  pay_group       one payment for two invoices of the same customer
  credit_reconcile  a posted credit note reconciled with its invoice
  cancel          a posted invoice reset to draft and cancelled
  edit_customer   a customer already queued for Xero gets a new phone number

The subjects (posted invoices, credit notes, customers) are made first, untimed, with sync on,
so that they are queued for Xero as in real use. The data is committed: use a throw-away database
(``bench/run.sh post`` copies a fresh one from the template).

Prints, per operation: ``<op>_ms_on=… <op>_ms_off=… <op>_overhead_ratio=<on/off>`` (target
<= 1.05 each) and the jobs each queued.

    $PY bench/operation_overhead.py --db cx_bench --conf var/odoo-bench-cx_bench.conf [--per-op 100]
"""
import argparse
import functools
import time

from _env import (add_provider_argument, bench_connection, ensure_accounting, environment, make_invoices,
                  receivable_lines, register_payment, registry_for, service_product)

OPERATIONS = ("pay_single", "pay_partial", "pay_group", "credit_reconcile", "cancel", "edit_customer")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--per-op", type=int, default=100, help="operations timed per side and per kind")
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--only", action="append", choices=OPERATIONS)
    add_provider_argument(ap)
    args = ap.parse_args()
    registry = registry_for(args.db, args.conf)
    with environment(registry) as env:
        company = env.company
        journal = ensure_accounting(env, company)
        bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)
        bench_connection(env, company, "bench-ops", args.provider)
        print(f"provider={args.provider} (the provider of the company's connection)", flush=True)
        product, tax = service_product(env, company)
        cron = env.ref("coworks_xero.ir_cron_sync")
        Job = env["coworks.sync.job"]
        n = 2 * args.per_op + 2  # both sides, and one warm-up each way

        invoices = functools.partial(make_invoices, env, journal, product, tax)
        receivable = receivable_lines
        register = functools.partial(register_payment, env, bank)

        customers = env["res.partner"].create([{"name": f"Ops bench customer {i}", "email": f"ops{i}@bench.example"}
                                               for i in range(n)])
        subjects = {}
        wanted = args.only or OPERATIONS
        t_setup = time.perf_counter()
        if "pay_single" in wanted:
            subjects["pay_single"] = [(m,) for m in invoices(n, customers)]
        if "pay_partial" in wanted:
            subjects["pay_partial"] = [(m,) for m in invoices(n, customers)]
        if "pay_group" in wanted:
            pairs = invoices(2 * n, customers)  # invoice i and i + n share a customer
            subjects["pay_group"] = [(pairs[i] | pairs[i + n],) for i in range(n)]
        if "credit_reconcile" in wanted:
            invs = invoices(n, customers)
            cns = invoices(n, customers, move_type="out_refund")
            subjects["credit_reconcile"] = list(zip(invs, cns))
        if "cancel" in wanted:
            subjects["cancel"] = [(m,) for m in invoices(n, customers)]
        if "edit_customer" in wanted:
            subjects["edit_customer"] = [(c,) for c in customers]
        env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
        env.cr.commit()
        print(f"subjects made in {time.perf_counter() - t_setup:.0f} s; jobs queued meanwhile: {Job.search_count([])}")

        ops = {
            "pay_single": lambda m: register(m),
            "pay_partial": lambda m: register(m, amount=round(m.amount_total / 2, 2)),
            "pay_group": lambda ms: register(ms, group_payment=True),
            "credit_reconcile": lambda inv, cn: receivable(inv | cn).reconcile(),
            "cancel": lambda m: (m.button_draft(), m.button_cancel()),
            "edit_customer": lambda c: c.write({"phone": f"+61 2 5550 {c.id % 10000:04d}"}),
        }
        for name in wanted:
            items = subjects[name]
            times = {True: [], False: []}
            max_job = Job.search([], order="id desc", limit=1).id or 0
            queued = {True: 0, False: 0}
            pattern = [True, False, False, True]  # ABBA; each side's first operation is a warm-up
            pos, block_no = 0, 0
            while min(len(times[True]), len(times[False])) < args.per_op + 1 and pos < len(items):
                on = pattern[block_no % 4]
                block_no += 1
                if len(times[on]) >= args.per_op + 1:
                    continue
                company.coworks_xero_sync_enabled = on
                env.flush_all()
                env.cr.commit()
                for item in items[pos:pos + min(args.block, args.per_op + 1 - len(times[on]))]:
                    before = Job.search([], order="id desc", limit=1).id or 0
                    t0 = time.perf_counter()
                    ops[name](*item)
                    env.flush_all()
                    env.cr.commit()
                    times[on].append(time.perf_counter() - t0)
                    env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
                    env.cr.execute("SELECT count(*) FROM coworks_sync_job WHERE id > %s", [before])
                    queued[on] += env.cr.fetchone()[0]
                    env.cr.commit()
                    pos += 1
            on_ms = 1000 * sum(times[True][1:]) / max(len(times[True]) - 1, 1)
            off_ms = 1000 * sum(times[False][1:]) / max(len(times[False]) - 1, 1)
            print(f"{name}_ms_on={on_ms:.2f} {name}_ms_off={off_ms:.2f} {name}_overhead_ratio={on_ms / off_ms:.3f} "
                  f"(n={len(times[True]) - 1} each way; jobs queued on={queued[True]} off={queued[False]}; "
                  f"jobs since start {Job.search_count([('id', '>', max_job)])})")
        company.coworks_xero_sync_enabled = False
        env.cr.commit()


if __name__ == "__main__":
    main()

"""SQL statements the sync adds to each user operation (sync on minus sync off). Prints counts; NOT a test.

The time benches (``post_overhead.py``, ``operation_overhead.py``) say what the sync costs a
user; this says where: every statement the operation's transaction runs, up to and including
what its commit runs (the pre-commit hooks, where the cron's wake-up is written), counted on the
cursor, with the company's sync on and off, alternating, on subjects made alike. The operations
are those of ``operation_overhead.py`` plus posting:

  post  pay_single  pay_partial  pay_group  credit_reconcile  cancel  edit_customer

Prints per operation ``<op>_statements_off=… <op>_statements_on=… <op>_statements_added=…``
(the median of ``--per-op`` operations each way, after one warm-up each way) and, with
``--show``, the statements one operation with sync on ran that the one before it with sync off
did not (the sync's, as far as two alike operations tell). The data is committed: use a throw-away database (``bench/run.sh post`` copies a
fresh one from the template and runs this after the time benches).

    $PY bench/hook_queries.py --db cx_bench --conf var/odoo-bench-cx_bench.conf [--per-op 5] [--show]
"""
import argparse
import collections
import functools
import re
import statistics

from _env import (add_provider_argument, bench_connection, ensure_accounting, environment, make_invoices,
                  receivable_lines, register_payment, registry_for, service_product)

OPERATIONS = ("post", "pay_single", "pay_partial", "pay_group", "credit_reconcile", "cancel", "edit_customer")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--per-op", type=int, default=5)
    ap.add_argument("--only", action="append", choices=OPERATIONS)
    ap.add_argument("--show", action="store_true", help="print the sync's statements of one operation")
    add_provider_argument(ap)
    args = ap.parse_args()
    registry = registry_for(args.db, args.conf)
    with environment(registry) as env:
        company = env.company
        journal = ensure_accounting(env, company)
        bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)
        bench_connection(env, company, "bench-queries", args.provider)
        print(f"provider={args.provider} (the provider of the company's connection)", flush=True)
        product, tax = service_product(env, company, name="Query bench desk")
        cron = env.ref("coworks_xero.ir_cron_sync")
        n = 2 * args.per_op + 2

        invoices = functools.partial(make_invoices, env, journal, product, tax)
        receivable = receivable_lines
        register = functools.partial(register_payment, env, bank)

        customers = env["res.partner"].create([{"name": f"Query bench customer {i}", "email": f"q{i}@bench.example"}
                                               for i in range(n)])
        # The customers are known to Xero's side of the sync (a job each), as in real use.
        invoices(n, customers)
        wanted = args.only or OPERATIONS
        subjects = {}
        if "post" in wanted:
            subjects["post"] = [(m,) for m in invoices(n, customers, post=False)]
        if "pay_single" in wanted:
            subjects["pay_single"] = [(m,) for m in invoices(n, customers)]
        if "pay_partial" in wanted:
            subjects["pay_partial"] = [(m,) for m in invoices(n, customers)]
        if "pay_group" in wanted:
            pairs = invoices(2 * n, customers)
            subjects["pay_group"] = [(pairs[i] | pairs[i + n],) for i in range(n)]
        if "credit_reconcile" in wanted:
            subjects["credit_reconcile"] = list(zip(invoices(n, customers),
                                                    invoices(n, customers, move_type="out_refund")))
        if "cancel" in wanted:
            subjects["cancel"] = [(m,) for m in invoices(n, customers)]
        if "edit_customer" in wanted:
            subjects["edit_customer"] = [(c,) for c in customers]
        env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
        env.cr.commit()

        ops = {
            "post": lambda m: m.action_post(),
            "pay_single": lambda m: register(m),
            "pay_partial": lambda m: register(m, amount=round(m.amount_total / 2, 2)),
            "pay_group": lambda ms: register(ms, group_payment=True),
            "credit_reconcile": lambda inv, cn: receivable(inv | cn).reconcile(),
            "cancel": lambda m: (m.button_draft(), m.button_cancel()),
            "edit_customer": lambda c: c.write({"phone": f"+61 2 5550 {c.id % 10000:04d}"}),
        }
        cr = env.cr
        real_execute = cr.execute
        for name in wanted:
            counts = {True: [], False: []}
            logs = {}
            for pos, item in enumerate(subjects[name]):
                on = pos % 2 == 0
                company.coworks_xero_sync_enabled = on
                env.flush_all()
                cr.commit()
                log = []

                def execute(query, params=None, log_exceptions=True, _log=log):
                    _log.append(str(getattr(query, "code", query)))
                    return real_execute(query, params, log_exceptions)
                cr.execute = execute
                try:
                    c0 = cr.sql_log_count
                    ops[name](*item)
                    env.flush_all()
                    cr.flush()  # what the commit runs first: pre-commit hooks
                    c1 = cr.sql_log_count
                finally:
                    del cr.execute
                cr.commit()
                cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
                cr.commit()
                counts[on].append(c1 - c0)
                logs[on] = log
            if args.show:
                def shape(q):  # savepoint names and inlined ids differ between two alike operations
                    return re.sub(r'"[0-9a-f-]{36}"|\b\d+\b', "?", " ".join(q.split()))
                added = collections.Counter(shape(q) for q in logs[True])
                added.subtract(shape(q) for q in logs[False])
                print(f"-- {name}: statements with sync on and not off")
                for q, k in added.items():
                    for _i in range(k):
                        print("   ", q[:200])
            on_n = statistics.median(counts[True][1:])
            off_n = statistics.median(counts[False][1:])
            print(f"{name}_statements_off={off_n:g} {name}_statements_on={on_n:g} "
                  f"{name}_statements_added={on_n - off_n:g} (on {counts[True][1:]}, off {counts[False][1:]})")
        company.coworks_xero_sync_enabled = False
        env.cr.commit()


if __name__ == "__main__":
    main()

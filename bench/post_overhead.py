"""Issue 4 benchmark: what queuing sync jobs adds to posting an invoice.

Posts N customer invoices one by one with the addon's sync on (jobs queued in the posting
transaction, nothing sent: the cron is not run) and N with the company's sync off
(``coworks_xero_sync_enabled = False``), in one database and one run, alternating blocks in an
ABBA pattern so that drift (caches warming, table growth) hits both sides alike. Each post is
its own transaction, timed up to and including its commit, as a user's request would be; after
each, the cron's wake-up triggers are removed (untimed), as a running worker would consume them,
so every post pays for its own trigger. The data is committed: use a throw-away database
(``bench/run.sh`` copies a fresh one from a template for every run).

Prints ``post_overhead_ratio=<on/off>`` (target <= 1.10) and the counts.

Run (from the repository root, against a database with coworks_xero installed, e.g. the one
``bench/run.sh`` creates, or a test database made by scripts/test.sh):

    source scripts/env.sh
    $PY bench/post_overhead.py --db cx_bench [--conf var/odoo-test-cx_bench.conf] [--invoices 500]
"""
import argparse
import statistics
import time

from _env import (add_provider_argument, bench_connection, ensure_accounting, environment, registry_for,
                  service_product)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--invoices", type=int, default=500, help="invoices posted per side")
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--partners", type=int, default=50)
    ap.add_argument("--keep-triggers", action="store_true",
                    help="leave the cron's wake-up triggers in place (a burst before the worker runs: "
                         "only the first post of the run creates one)")
    add_provider_argument(ap)
    args = ap.parse_args()

    registry = registry_for(args.db, args.conf)
    with environment(registry) as env:
        company = env.company
        journal = ensure_accounting(env, company)
        bench_connection(env, company, "bench-post", args.provider)
        print(f"provider={args.provider} (the provider of the company's connection)", flush=True)
        product, tax = service_product(env, company)
        partners = env["res.partner"].create([{"name": f"Post bench customer {i}"} for i in range(args.partners)])
        warm = 4  # posts before measuring, two each way
        total = 2 * args.invoices + warm
        moves = env["account.move"].create([{
            "move_type": "out_invoice", "partner_id": partners[i % len(partners)].id, "journal_id": journal.id,
            "invoice_date": "2026-01-15",
            "invoice_line_ids": [(0, 0, {"product_id": product.id, "quantity": 1, "price_unit": 350.0,
                                         "tax_ids": [(6, 0, tax.ids)]})],
        } for i in range(total)])
        env.flush_all()
        cron = env.ref("coworks_xero.ir_cron_sync")
        Job = env["coworks.sync.job"]
        jobs_before = Job.search_count([])
        max_id = Job.search([], order="id desc", limit=1).id or 0
        # Warm-up (not measured).
        for i, move in enumerate(moves[:warm]):
            company.coworks_xero_sync_enabled = bool(i % 2)
            move.action_post()
            env.flush_all()
        moves = moves[warm:]
        times = {True: [], False: []}
        posted_on = env["account.move"]
        counts = {True: 0, False: 0}
        pattern = [True, False, False, True]  # ABBA
        pos, block_no = 0, 0
        while pos < len(moves) and min(counts.values()) < args.invoices:
            on = pattern[block_no % 4]
            block_no += 1
            if counts[on] >= args.invoices:
                continue
            n = min(args.block, args.invoices - counts[on])
            company.coworks_xero_sync_enabled = on
            env.flush_all()
            block = moves[pos:pos + n]
            assert len(block) == n
            env.cr.commit()
            for move in block:
                t0 = time.perf_counter()
                move.action_post()
                env.cr.commit()
                times[on].append(time.perf_counter() - t0)
                if not args.keep_triggers:
                    env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
                    env.cr.commit()
                if on:
                    posted_on |= move
            pos += n
            counts[on] += n
        env.flush_all()
        jobs_queued = Job.search_count([]) - jobs_before
        by_kind = dict(Job._read_group([("id", ">", max_id)], ["kind"], ["__count"]))
        env.cr.execute("SELECT count(DISTINCT res_id) FROM coworks_sync_job WHERE res_model = 'account.move' "
                       "AND res_id = ANY(%s)", [posted_on.ids])
        on_with_job = env.cr.fetchone()[0]
        print(f"invoices_posted_sync_on_with_a_job={on_with_job}")
        on_total, off_total = sum(times[True]), sum(times[False])
        print(f"invoices_posted_sync_on={counts[True]}")
        print(f"invoices_posted_sync_off={counts[False]}")
        print(f"jobs_queued={jobs_queued} (by kind: {by_kind})")
        print(f"ms_per_post_on={1000 * on_total / counts[True]:.2f} ms_per_post_off={1000 * off_total / counts[False]:.2f}")
        print(f"median_ms_on={1000 * statistics.median(times[True]):.2f} "
              f"median_ms_off={1000 * statistics.median(times[False]):.2f}")
        print(f"post_overhead_ratio={on_total / off_total:.3f}")
        company.coworks_xero_sync_enabled = False
        env.cr.commit()


if __name__ == "__main__":
    main()

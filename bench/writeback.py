"""What writing Xero's answer back on an invoice costs: account.move.write against the base ORM
write the sync uses (``AccountMove._coworks_xero_apply_result``). Prints figures; NOT a test.

N posted invoices (one line, one tax) in a new company; each gets the same four fields
(``xero_id``, ``xero_status``, ``xero_number``, ``xero_last_sync``) written one invoice at a time,
as the worker does, first through ``account.move.write`` then through ``BaseModel.write``
(alternating blocks, so both meet the same machine); everything is rolled back.

  writeback_ms_per_invoice_account_write=<...>  writeback_ms_per_invoice_base_write=<...>
  writeback_speedup=<account / base>

    bash bench/run.sh writeback
    $PY bench/writeback.py --db cx_bench --conf var/odoo-bench-cx_bench.conf [--invoices 200]
"""
import argparse
import time
import uuid

from _env import ensure_accounting, environment, registry_for, service_product


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--invoices", type=int, default=200)
    ap.add_argument("--block", type=int, default=25)
    args = ap.parse_args()
    registry = registry_for(args.db, args.conf)
    from odoo import fields, models
    with environment(registry) as env:
        company = env["res.company"].create({"name": f"Write-back bench {uuid.uuid4().hex[:6]}"})
        env.user.company_ids |= company
        env = env(context=dict(env.context, allowed_company_ids=[company.id]))
        journal = ensure_accounting(env, company)
        product, tax = service_product(env, company)
        partner = env["res.partner"].create({"name": "Write-back member", "company_id": company.id})
        moves = env["account.move"].create([{
            "move_type": "out_invoice", "partner_id": partner.id, "journal_id": journal.id,
            "invoice_date": "2026-11-02",
            "invoice_line_ids": [(0, 0, {"product_id": product.id, "price_unit": 300.0 + i,
                                         "tax_ids": [(6, 0, tax.ids)]})]} for i in range(args.invoices)])
        moves.action_post()
        env.flush_all()
        spent = {"account": 0.0, "base": 0.0}
        count = {"account": 0, "base": 0}
        for n, start in enumerate(range(0, len(moves), args.block)):
            way = "account" if n % 2 == 0 else "base"
            block = moves[start:start + args.block]
            t0 = time.perf_counter()
            for move in block:
                vals = {"xero_id": str(uuid.uuid4()), "xero_status": "AUTHORISED", "xero_number": move.name,
                        "xero_last_sync": fields.Datetime.now()}
                if way == "account":
                    move.sudo().write(vals)
                else:
                    models.BaseModel.write(move.sudo(), vals)
                env.flush_all()  # the worker commits after each batch: the write reaches the table
            spent[way] += time.perf_counter() - t0
            count[way] += len(block)
        env.cr.rollback()
    a = spent["account"] / max(count["account"], 1) * 1000
    b = spent["base"] / max(count["base"], 1) * 1000
    print(f"invoices={args.invoices} (alternating blocks of {args.block})")
    print(f"writeback_ms_per_invoice_account_write={a:.2f} writeback_ms_per_invoice_base_write={b:.2f}")
    print(f"writeback_speedup={a / b:.1f}")


if __name__ == "__main__":
    main()

"""What writing Xero's answer back on an invoice costs: the link upsert the sync uses
(``coworks.sync.link._upsert``, one SQL statement, ``AccountMove._coworks_xero_apply_result``)
against the ORM way (search the link, then ``write`` or ``create``), and against what the
worker did before links existed, ``account.move.write`` of the document itself (measured on a
stored field of the invoice, ``ref``, as a stand-in for the columns the links replaced). Prints
figures; NOT a test.

N posted invoices (one line, one tax) in a new company with a connection; each gets Xero's ID,
number, status and sync time written one invoice at a time, as the worker does, in alternating
blocks so each way meets the same machine; everything is rolled back.

  writeback_ms_per_invoice_link_upsert=<...>  writeback_ms_per_invoice_orm_link=<...>
  writeback_ms_per_invoice_account_write=<...>
  writeback_speedup_vs_orm_link=<orm / upsert>  writeback_speedup_vs_account_write=<account / upsert>

    bash bench/run.sh writeback
    $PY bench/writeback.py --db cx_bench --conf var/odoo-bench-cx_bench.conf [--invoices 200]
"""
import argparse
import time
import uuid

from _env import ensure_accounting, environment, registry_for, service_product

WAYS = ("link_upsert", "orm_link", "account_write")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="cx_bench")
    ap.add_argument("--conf")
    ap.add_argument("--invoices", type=int, default=210)
    ap.add_argument("--block", type=int, default=10)
    args = ap.parse_args()
    registry = registry_for(args.db, args.conf)
    from odoo import fields
    with environment(registry) as env:
        company = env["res.company"].create({"name": f"Write-back bench {uuid.uuid4().hex[:6]}"})
        env.user.company_ids |= company
        env = env(context=dict(env.context, allowed_company_ids=[company.id]))
        journal = ensure_accounting(env, company)
        product, tax = service_product(env, company)
        conn = env["coworks.sync.connection"].sudo().create({"company_id": company.id, "tenant_id": "bench"})
        partner = env["res.partner"].create({"name": "Write-back member", "company_id": company.id})
        moves = env["account.move"].create([{
            "move_type": "out_invoice", "partner_id": partner.id, "journal_id": journal.id,
            "invoice_date": "2026-11-02",
            "invoice_line_ids": [(0, 0, {"product_id": product.id, "price_unit": 300.0 + i,
                                         "tax_ids": [(6, 0, tax.ids)]})]} for i in range(args.invoices)])
        moves.action_post()
        env.flush_all()
        Link = env["coworks.sync.link"].sudo()
        spent = dict.fromkeys(WAYS, 0.0)
        count = dict.fromkeys(WAYS, 0)
        for n, start in enumerate(range(0, len(moves), args.block)):
            way = WAYS[n % len(WAYS)]
            block = moves[start:start + args.block]
            t0 = time.perf_counter()
            for move in block:
                vals = {"remote_id": str(uuid.uuid4()), "remote_status": "AUTHORISED", "remote_number": move.name,
                        "synced_at": fields.Datetime.now()}
                if way == "link_upsert":
                    move._coworks_link_write(conn, vals)
                elif way == "orm_link":
                    link = Link.search([("connection_id", "=", conn.id), ("res_model", "=", "account.move"),
                                        ("res_id", "=", move.id)])
                    if link:
                        link.write(vals)
                    else:
                        Link.create(dict(vals, connection_id=conn.id, res_model="account.move", res_id=move.id))
                else:
                    move.sudo().write({"ref": vals["remote_id"]})
                env.flush_all()  # the worker commits after each batch: the write reaches the table
            spent[way] += time.perf_counter() - t0
            count[way] += len(block)
        env.cr.rollback()
    ms = {w: spent[w] / max(count[w], 1) * 1000 for w in WAYS}
    print(f"invoices={args.invoices} (alternating blocks of {args.block})")
    print(" ".join(f"writeback_ms_per_invoice_{w}={ms[w]:.2f}" for w in WAYS))
    print(f"writeback_speedup_vs_orm_link={ms['orm_link'] / ms['link_upsert']:.1f} "
          f"writeback_speedup_vs_account_write={ms['account_write'] / ms['link_upsert']:.1f}")


if __name__ == "__main__":
    main()

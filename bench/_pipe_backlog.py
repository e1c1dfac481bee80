# Run by bench/pipe.py inside `odoo-bin shell` (an `env` is given), never imported.
# With the soak company's sync switched off (nothing is queued meanwhile), posts PIPE_INVOICES
# invoices spread over its customers and pays PIPE_PAID of them (one payment each, reconciled),
# as a book imported or billed while sync was off. Prints one line "SOAK {json}".
import json
import os
import time

import sys

company = env["res.company"].browse(int(os.environ["PIPE_COMPANY"]))  # noqa: F821
# Bench data, made as fast as Odoo allows: no chatter tracking or creation messages on the
# thousands of moves and payments (nothing the drain reads), large batches, one commit a batch.
env = env(context=dict(env.context, allowed_company_ids=[company.id], tracking_disable=True,  # noqa: F821
                       mail_create_nolog=True, mail_notrack=True, mail_create_nosubscribe=True))
company = company.with_env(env)
company.coworks_xero_sync_enabled = False
env.cr.commit()

n_invoices, n_paid = int(os.environ["PIPE_INVOICES"]), int(os.environ["PIPE_PAID"])
customers = int(os.environ["PIPE_CUSTOMERS"])
partners = env["res.partner"].search([("name", "=like", "Soak member %"), ("company_id", "=", company.id)],
                                     order="id", limit=customers)
product = env["product.product"].browse(int(os.environ["PIPE_PRODUCT"]))
tax = env["account.tax"].browse(int(os.environ["PIPE_TAX"]))
sale = env["account.journal"].browse(int(os.environ["PIPE_SALE_JOURNAL"]))
bank = env["account.journal"].browse(int(os.environ["PIPE_BANK_JOURNAL"]))
t0 = time.time()
invoices = env["account.move"]
INVOICE_CHUNK, PAYMENT_CHUNK = 500, 300
for start in range(0, n_invoices, INVOICE_CHUNK):
    moves = env["account.move"].create([{
        "move_type": "out_invoice", "partner_id": partners[i % len(partners)].id, "journal_id": sale.id,
        "invoice_date": "2026-11-02",
        "invoice_line_ids": [(0, 0, {"product_id": product.id, "quantity": 1, "price_unit": 300.0 + i % 97,
                                     "tax_ids": [(6, 0, tax.ids)]})],
    } for i in range(start, min(start + INVOICE_CHUNK, n_invoices))])
    moves.action_post()
    env.cr.commit()
    env.invalidate_all()  # keep the cache (and the shell's memory) to one batch
    invoices |= moves
    print(f"backlog: {len(invoices)} invoices posted, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
t1 = time.time()
paid = invoices[:n_paid]
for start in range(0, len(paid), PAYMENT_CHUNK):
    chunk = paid[start:start + PAYMENT_CHUNK]
    env["account.payment.register"].with_context(active_model="account.move", active_ids=chunk.ids).create(
        {"journal_id": bank.id, "group_payment": False, "payment_date": "2026-11-20"})._create_payments()
    env.cr.commit()
    env.invalidate_all()
    print(f"backlog: {start + len(chunk)} paid, {time.time() - t1:.0f} s", file=sys.stderr, flush=True)
queued = env["coworks.sync.job"].sudo().search_count([("company_id", "=", company.id)])
print("SOAK " + json.dumps({"customers": len(partners), "invoices": len(invoices),
                            "paid": sum(1 for m in paid if m.payment_state in ("paid", "in_payment")),
                            "queued_while_off": queued, "made_s": round(time.time() - t0, 1),
                            "invoices_s": round(t1 - t0, 1), "payments_s": round(time.time() - t1, 1)}))

# Run by scripts/demo.sh inside `odoo-bin shell` (an `env` is given): maps the demo company to the
# sandbox organisation as a manager would in the mapping forms, then posts a month of coworking
# billing. Nothing here talks to Xero: the sync cron of the running Odoo server pushes it all.
import datetime
import os
import random
import time

import psycopg2

from odoo import Command

# The demo company is the one connected to the sandbox (scripts/demo.sh: Odoo's Australian demo company).
conn = env["coworks.sync.connection"].search([("state", "=", "connected")], limit=1)  # noqa: F821
company = conn.company_id
env = env(context=dict(env.context, allowed_company_ids=[company.id]))  # noqa: F821
assert conn and conn.state == "connected", "the demo company is not connected to the sandbox"


def xref(model, **domain):
    return env[model].with_context(active_test=False).search(  # noqa: F821
        [("connection_id", "=", conn.id)] + [(k, "=", v) for k, v in domain.items()], limit=1)


def ensure(model, key, vals):
    Model = env[model]  # noqa: F821
    found = Model.search([("connection_id", "=", conn.id)] + [(k, "=", v) for k, v in key.items()], limit=1)
    return found.write(vals) if found else Model.create(dict(key, connection_id=conn.id, **vals))


# ---------------------------------------------------------------- mappings (the manager's forms)
def map_the_organisation():
    """The manager's mapping forms, for the Xero sandbox's "Coworks Demo AU": Xero items for the
    plans and passes, an account (with a tracking option) for the fees, the campuses' tracking
    options, GST, and the bank account. :return: (the sales tax the billing uses, the bank journal)"""
    for kind, code in [("plan", "PLAN-HOTDESK"), ("day_pass", "DAYPASS"), ("external_booking", "EXT-BOOKING"),
                       ("one_off", "ONEOFF"), ("booking_overage", "OVERAGE")]:
        ensure("coworks.xero.product.mapping", {"item_kind": kind}, {"xero_item_id": xref("coworks.xero.item", code=code).id})
    channel_online = xref("coworks.xero.tracking.option", name="Online")
    for kind in ("transaction_fee", "custom_fee"):
        ensure("coworks.xero.product.mapping", {"item_kind": kind},
               {"xero_account_id": xref("coworks.xero.account", code="260").id,
                "tracking_option_id": channel_online.id if kind == "transaction_fee" else False})
    office = env.ref("coworks_xero.demo_product_plan_office")  # noqa: F821
    ensure("coworks.xero.product.mapping", {"product_tmpl_id": office.id},
           {"xero_item_id": xref("coworks.xero.item", code="PLAN-DEDICATED").id})
    for campus, option in [("coworks_xero.demo_campus_downtown", "Downtown"), ("coworks_xero.demo_campus_harbour", "Harbour")]:
        ensure("coworks.xero.campus.mapping", {"campus_id": env.ref(campus).id},  # noqa: F821
               {"tracking_option_id": xref("coworks.xero.tracking.option", name=option).id})
    # The sandbox organisation is Australian, like the demo company: GST on Income is 10 %, and so is
    # the GST of Odoo's Australian chart that the billing below (and Odoo's own demo invoices) use, so
    # Xero computes the tax itself (the line tax is sent only where its per-line rounding would
    # differ from Odoo's). A sales tax at another rate would send Odoo's amounts as overrides, and say
    # why; none is used here.
    output, no_tax = xref("coworks.xero.tax.rate", tax_type="OUTPUT"), xref("coworks.xero.tax.rate", tax_type="NONE")
    gst = env["account.tax"].search([("company_id", "=", company.id), ("type_tax_use", "=", "sale"),  # noqa: F821
                                     ("amount_type", "=", "percent"), ("amount", "=", output.rate),
                                     ("price_include", "=", False)], limit=1)
    if not gst:
        gst = env["account.tax"].create({"name": f"GST {output.rate:g}%", "amount": output.rate,  # noqa: F821
                                         "type_tax_use": "sale", "company_id": company.id})
    sale_taxes = env["account.tax"].search([("company_id", "=", company.id), ("type_tax_use", "=", "sale")])  # noqa: F821
    for tax in sale_taxes:
        if tax.amount_type == "percent" and tax.amount == 0:
            ensure("coworks.xero.tax.mapping", {"tax_id": tax.id}, {"tax_rate_id": no_tax.id})
        elif tax == gst:
            ensure("coworks.xero.tax.mapping", {"tax_id": tax.id}, {"tax_rate_id": output.id})
        elif tax.amount_type == "percent" and not tax.price_include:
            ensure("coworks.xero.tax.mapping", {"tax_id": tax.id}, {
                "tax_rate_id": output.id, "send_odoo_tax_amounts": True,
                "note": f"Odoo's demo {tax.name} tax has no Australian rate: its amounts are sent as they are."})
    bank_journal = env["account.journal"].search([("company_id", "=", company.id), ("type", "=", "bank")], limit=1)  # noqa: F821
    ensure("coworks.xero.journal.mapping", {"journal_id": bank_journal.id},
           {"bank_account_id": xref("coworks.xero.account", code="090").id})
    return gst, bank_journal


def set_default_accounts():
    vals = {"default_account_id": xref("coworks.xero.account", code="200").id}
    if "writeoff_account_id" in conn._fields and not conn.writeoff_account_id:
        vals["writeoff_account_id"] = xref("coworks.xero.account", code="091").id
    conn.write(vals)


# Whether the billing includes an invoice in EUR (enabled in Xero's sandbox organisation).
FOREIGN_CURRENCY = True

# Another provider's own demo file (scripts/demo_billing_<provider>.py) redefines the steps above
# that differ for its sandbox; the billing below is the same for every provider.
if conn.provider != "xero":
    _own = os.path.join(os.environ.get("COWORKS_REPO_ROOT", "."), "scripts", f"demo_billing_{conn.provider}.py")
    with open(_own) as _f:
        exec(compile(_f.read(), _own, "exec"), globals())
gst, bank_journal = map_the_organisation()
env.cr.commit()  # noqa: F821 - the mappings are kept whatever follows


def retrying(step):
    """Run ``step`` in a transaction of its own, again on a fresh snapshot when it collides with
    the running server's sync worker (it records its calls on the connection and its outcomes on
    the jobs), as Odoo's HTTP layer replays a user's request on a serialization failure."""
    for attempt in range(10):
        try:
            out = step()
            env.flush_all()  # noqa: F821
            env.cr.commit()  # noqa: F821
            return out
        except psycopg2.errors.SerializationFailure:
            env.cr.rollback()  # noqa: F821
            env.invalidate_all()  # noqa: F821
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"{step.__name__} kept colliding with the sync worker")


def retry_what_waited_for_a_mapping():
    # Odoo's own demo invoices (furniture) were queued by the catch-up sync as soon as the company
    # connected, and stopped for want of a mapping; with the default sales account set, retry them
    # as a manager would from the sync log.
    failed = env["coworks.sync.job"].search([("state", "=", "error"), ("error_kind", "=", "mapping")])  # noqa: F821
    if failed:
        failed.action_retry()


retrying(set_default_accounts)
retrying(retry_what_waited_for_a_mapping)

# ---------------------------------------------------------------- a month of billing
def post_a_month():
    """The month's billing in one transaction (replayed whole if it meets the worker)."""
    rng = random.Random(2026)
    tax = gst
    products = {x: env.ref(f"coworks_xero.demo_product_{x}").product_variant_id for x in (  # noqa: F821
        "plan_hotdesk", "plan_office", "day_pass", "meeting_room", "one_off", "overage", "transaction_fee", "custom_fee")}
    members = [env.ref(f"coworks_xero.demo_partner_{x}") for x in ("factory", "pixel", "freelancer", "no_email")]  # noqa: F821
    extra = env["res.partner"].search([("email", "=like", "member%@coworks-demo.example.com")])  # noqa: F821
    if not extra:
        campuses = [env.ref("coworks_xero.demo_campus_downtown"), env.ref("coworks_xero.demo_campus_harbour")]  # noqa: F821
        extra = env["res.partner"].create([{  # noqa: F821
            "name": f"Member {i:02d}", "email": f"member{i:02d}@coworks-demo.example.com",
            "coworks_campus_id": campuses[i % 2].id} for i in range(1, 13)])
    members += list(extra)
    month_start = datetime.date.today().replace(day=1)

    def line(product, qty=1.0, price=None, discount=0.0):
        return Command.create({"product_id": products[product].id, "quantity": qty,
                               "price_unit": products[product].lst_price if price is None else price,
                               "discount": discount, "tax_ids": [Command.set(tax.ids)]})

    invoices = env["account.move"]  # noqa: F821
    for i, member in enumerate(members):
        lines = [line("plan_office" if i % 5 == 0 else "plan_hotdesk", discount=10.0 if i % 4 == 0 else 0.0)]
        if rng.random() < 0.5:
            lines.append(line("day_pass", qty=rng.randint(1, 4)))
        if rng.random() < 0.4:
            lines.append(line("meeting_room", qty=rng.randint(1, 3)))
        if rng.random() < 0.4:
            lines.append(line("overage", qty=rng.choice([0.5, 1.5, 2.0])))
        if rng.random() < 0.3:
            lines.append(line("custom_fee"))
        lines.append(line("transaction_fee", price=round(rng.uniform(1, 6), 2)))
        invoices |= env["account.move"].create({  # noqa: F821
            "move_type": "out_invoice", "partner_id": member.id,
            "invoice_date": month_start + datetime.timedelta(days=i % 20), "invoice_line_ids": lines})
    # Booking charges raised by automation (no UI), and a one-off.
    invoices |= env["account.move"].create([{  # noqa: F821
        "move_type": "out_invoice", "partner_id": members[1].id, "invoice_date": month_start + datetime.timedelta(days=21),
        "ref": "Bookings week 3", "invoice_line_ids": [line("meeting_room", qty=6), line("overage", qty=3)]}, {
        "move_type": "out_invoice", "partner_id": members[2].id, "invoice_date": month_start + datetime.timedelta(days=22),
        "invoice_line_ids": [line("one_off")]}])
    # A foreign-currency invoice (EUR is enabled in the sandbox organisation) where the provider's
    # sandbox has the currency (FOREIGN_CURRENCY), else the same invoice in the company's currency.
    eur = env.ref("base.EUR")  # noqa: F821
    eur.active = True
    if not eur.rate_ids.filtered(lambda r: r.company_id == company):
        env["res.currency.rate"].create({"currency_id": eur.id, "company_id": company.id,  # noqa: F821
                                         "name": month_start, "rate": 0.92})
    invoices |= env["account.move"].create({  # noqa: F821
        "move_type": "out_invoice", "partner_id": members[0].id, "currency_id": eur.id if FOREIGN_CURRENCY else company.currency_id.id,
        "invoice_date": month_start + datetime.timedelta(days=5), "invoice_line_ids": [line("plan_office", price=1100.0)]})
    invoices.action_post()

    # Most members pay; one pays part; one invoice is cancelled; one is refunded with a credit note.
    paid = invoices[: len(invoices) * 2 // 3]
    for invoice in paid:
        env["account.payment.register"].with_context(  # noqa: F821
            active_model="account.move", active_ids=invoice.ids).create({"journal_id": bank_journal.id})._create_payments()
    partial = invoices[len(paid)]
    env["account.payment.register"].with_context(active_model="account.move", active_ids=partial.ids).create(  # noqa: F821
        {"journal_id": bank_journal.id, "amount": round(partial.amount_total / 2, 2)})._create_payments()
    cancelled = invoices[len(paid) + 1]
    cancelled.button_cancel()

    def credit_note_for(invoice, reason):
        wizard = env["account.move.reversal"].with_context(  # noqa: F821
            active_model="account.move", active_ids=invoice.ids).create({"reason": reason, "journal_id": invoice.journal_id.id})
        credit_note = env["account.move"].browse(wizard.refund_moves()["res_id"])  # noqa: F821
        credit_note.action_post()
        return credit_note

    # A member left before the month started: a credit note, which Odoo applies to their unpaid invoice.
    left = invoices[len(paid) + 2]
    applied = credit_note_for(left, "Member left before the month started")
    assert left.payment_state in ("paid", "reversed"), left.payment_state
    # A member who had paid is refunded in money: a credit note, paid out from the bank.
    refunded = credit_note_for(paid[0], "Refund: room closed for maintenance")
    env["account.payment.register"].with_context(  # noqa: F821
        active_model="account.move", active_ids=refunded.ids).create({"journal_id": bank_journal.id})._create_payments()
    return len(invoices), len(paid)


n_invoices, n_paid = retrying(post_a_month)
print(f"demo billing: {n_invoices} invoices posted, {n_paid + 1} paid (one in part), 1 cancelled, "
      f"2 credit notes (one applied to its invoice, one refunded in money)")
# Odoo's own demo invoices may have been in the sync worker's hands (read before the mappings above
# were committed) when they were retried: whatever still waits for a mapping goes again, as a
# manager would retry it from the sync log.
retrying(retry_what_waited_for_a_mapping)

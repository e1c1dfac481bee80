# PROVIDER=qbo for scripts/demo_billing.py, which runs this file in its own namespace (``env``,
# ``conn``, ``company``, ``ensure``, ``xref`` are its): the steps that differ for QuickBooks Online.


def map_the_organisation():
    """The manager's mapping forms, for the emulator's "Coworks Demo US" (qbo_emulator/seed.py):
    every line goes through an Item (ids as QuickBooks gives them), campuses are Classes, and the
    company's sales taxes go to the NYC combined sales tax code with Odoo's amounts (Odoo's demo
    rates are not NYC's). :return: (the sales tax the billing uses, the bank journal)"""
    bank_journal = env["account.journal"].search([("company_id", "=", company.id), ("type", "=", "bank")], limit=1)  # noqa: F821
    for kind, item in [("plan", "2"), ("day_pass", "4"), ("external_booking", "5"), ("one_off", "6"),
                       ("booking_overage", "7"), ("transaction_fee", "8"), ("custom_fee", "9")]:
        ensure("coworks.xero.product.mapping", {"item_kind": kind}, {"xero_item_id": xref("coworks.xero.item", code=item).id})
    office = env.ref("coworks_xero.demo_product_plan_office")  # noqa: F821
    ensure("coworks.xero.product.mapping", {"product_tmpl_id": office.id},
           {"xero_item_id": xref("coworks.xero.item", code="3").id})
    for campus, option in [("coworks_xero.demo_campus_downtown", "Downtown"), ("coworks_xero.demo_campus_harbour", "Harbour")]:
        ensure("coworks.xero.campus.mapping", {"campus_id": env.ref(campus).id},  # noqa: F821
               {"tracking_option_id": xref("coworks.xero.tracking.option", name=option).id})
    nyc = xref("coworks.xero.tax.rate", tax_type="2")
    for tax in env["account.tax"].search([("company_id", "=", company.id), ("type_tax_use", "=", "sale"),  # noqa: F821
                                          ("amount_type", "=", "percent")]):
        ensure("coworks.xero.tax.mapping", {"tax_id": tax.id}, {
            "tax_rate_id": nyc.id, "send_odoo_tax_amounts": True,
            "note": f"Odoo's demo {tax.name} tax: its amounts are sent as they are."})
    gst = env["account.tax"].search([("company_id", "=", company.id), ("type_tax_use", "=", "sale"),  # noqa: F821
                                     ("amount_type", "=", "percent"), ("amount", ">", 0)], limit=1)
    # Odoo's own demo invoices sell furniture (products of no item kind): a product mapping each,
    # to QuickBooks' generic "Services" item, as a manager would from the sync log.
    services = xref("coworks.xero.item", code="1")
    for tmpl in env["account.move.line"].search([  # noqa: F821
            ("company_id", "=", company.id), ("move_id.move_type", "in", ("out_invoice", "out_refund")),
            ("product_id", "!=", False), ("product_id.coworks_item_kind", "=", False)]).product_id.product_tmpl_id:
        ensure("coworks.xero.product.mapping", {"product_tmpl_id": tmpl.id}, {"xero_item_id": services.id})
    ensure("coworks.xero.journal.mapping", {"journal_id": bank_journal.id},
           {"bank_account_id": xref("coworks.xero.account", code="35").id})
    return gst, bank_journal


def set_default_accounts():
    """Every QuickBooks line names an Item: no default account."""


# The QuickBooks company's multicurrency is off.
FOREIGN_CURRENCY = False

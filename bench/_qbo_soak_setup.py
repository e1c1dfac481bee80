# Run by bench/qbo_soak.py inside `odoo-bin shell` (an `env` is given), never imported: the
# QuickBooks Online counterpart of bench/_soak_setup.py.
# SOAK_STEP=base: a soak company (USD, United States, generic chart, customers) in the base
#                 database every scenario copies.
# SOAK_STEP=connect: that company connected to the emulator's US company (seed.REALM_US: USD, NYC
#                 combined sales tax), tokens from the emulator's grant saved through the
#                 connection's token store as the OAuth callback saves them, reference data read,
#                 mappings (hot-desk plan -> Item 2, the 8.875 % sales tax -> tax code 2 "NYC
#                 combined" with Odoo's amounts, bank journal -> 35 Checking), sync on.
# Prints one line "SOAK {json}" with the ids the workload needs (the same keys as _soak_setup.py).
import json
import os
import urllib.request

STEP = os.environ["SOAK_STEP"]
NAME = "Soak Coworks US"
company = env["res.company"].search([("name", "=", NAME)], limit=1)  # noqa: F821

if STEP == "base":
    usd = env.ref("base.USD")  # noqa: F821
    usd.active = True
    if not company:
        company = env["res.company"].create({"name": NAME, "currency_id": usd.id,  # noqa: F821
                                             "country_id": env.ref("base.us").id})  # noqa: F821
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)  # noqa: F821
    admin = env.ref("base.user_admin")  # noqa: F821
    admin.company_ids |= company
    env = env(context=dict(env.context, allowed_company_ids=[company.id]))  # noqa: F821
    partners = env["res.partner"].create([{"name": f"Soak member {i:03d}", "email": f"member{i}@soak.example",
                                           "company_id": company.id} for i in range(int(os.environ["SOAK_CUSTOMERS"]))])
    env.cr.commit()
    tax = product = env["account.tax"]  # made in the scenario's copy (see below)
else:
    emu = os.environ["SOAK_EMU"]
    realm = os.environ["SOAK_REALM"]
    client_id, secret = os.environ["SOAK_CLIENT_ID"], os.environ["SOAK_CLIENT_SECRET"]
    params = env["ir.config_parameter"].sudo()  # noqa: F821
    params.set_param("web.base.url", os.environ["SOAK_ODOO_URL"])
    params.set_param("web.base.url.freeze", "True")
    params.set_param("coworks_xero.qbo_sandbox_url", emu)
    params.set_param("coworks_xero.qbo_client_id", client_id)
    params.set_param("coworks_xero.qbo_client_secret", secret)
    env = env(context=dict(env.context, allowed_company_ids=[company.id]))  # noqa: F821
    company = company.with_env(env)
    company.coworks_sync_provider = "qbo"
    conn = env["coworks.sync.connection"].create({"company_id": company.id, "provider": "qbo", "state": "connected",
                                                  "tenant_id": realm, "tenant_name": "Coworks Demo US"})
    env.cr.commit()
    req = urllib.request.Request(emu + "/__emulator__/grant", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"client_id": client_id, "realm_id": realm}).encode())
    grant = json.loads(urllib.request.urlopen(req, timeout=30).read())
    from odoo.addons.coworks_xero.services.xero.oauth import TokenSet
    conn._qbo_token_store().save(TokenSet.from_response(dict(grant, scope="com.intuit.quickbooks.accounting")))
    env.cr.commit()
    conn.invalidate_recordset()
    conn.action_xero_refresh()

    # Made here rather than in the base database, as _soak_setup.py does (a chart loaded in the same
    # shell session may drop records made before it).
    tax = env["account.tax"].search([("company_id", "=", company.id), ("name", "=", "NYC sales tax (soak)")], limit=1)
    if not tax:
        tax = env["account.tax"].create({"name": "NYC sales tax (soak)", "amount": 8.875, "type_tax_use": "sale",
                                         "company_id": company.id})
    product = env["product.product"].search([("name", "=", "Hot desk (soak)"), ("company_id", "=", company.id)], limit=1)
    if not product:
        product = env["product.product"].create({"name": "Hot desk (soak)", "type": "service", "lst_price": 350.0,
                                                 "coworks_item_kind": "plan", "company_id": company.id})
    product.taxes_id = [(6, 0, tax.ids)]
    env.cr.commit()

    # (bench/_env.py; PYTHONPATH holds the repository)
    from bench._env import map_qbo_demo_company
    map_qbo_demo_company(env, conn, tax)
    company.coworks_xero_sync_enabled = True
    env.cr.commit()
    partners = env["res.partner"].search([("name", "=like", "Soak member %"), ("company_id", "=", company.id)])

bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)  # noqa: F821
sale = env["account.journal"].search([("type", "=", "sale"), ("company_id", "=", company.id)], limit=1)  # noqa: F821
print("SOAK " + json.dumps({"company_id": company.id, "bank_journal": bank.id, "sale_journal": sale.id,
                            "product": product.id, "tax": tax.id, "partners": partners.ids}))

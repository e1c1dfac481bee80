# Run by bench/fault_soak.py inside `odoo-bin shell` (an `env` is given), never imported.
# SOAK_STEP=base: a soak company (AUD, generic chart, 10 % sales tax, a hot-desk product,
#                 customers) in the base database every scenario copies.
# SOAK_STEP=connect: that company connected to the emulator's AU organisation (tokens from the
#                 emulator's grant, stored the way the OAuth callback stores them), mappings, sync on.
# Prints one line "SOAK {json}" with the ids the workload needs.
import json
import os
import urllib.request

STEP = os.environ["SOAK_STEP"]
NAME = "Soak Coworks"
company = env["res.company"].search([("name", "=", NAME)], limit=1)  # noqa: F821

if STEP == "base":
    aud = env.ref("base.AUD")  # noqa: F821
    aud.active = True
    if not company:
        company = env["res.company"].create({"name": NAME, "currency_id": aud.id,  # noqa: F821
                                             "country_id": env.ref("base.au").id})  # noqa: F821
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
    params = env["ir.config_parameter"].sudo()  # noqa: F821
    params.set_param("web.base.url", os.environ["SOAK_ODOO_URL"])
    params.set_param("web.base.url.freeze", "True")
    params.set_param("coworks_xero.sandbox_url", emu)
    params.set_param("coworks_xero.client_id", "coworks-demo-client")
    params.set_param("coworks_xero.client_secret", "coworks-demo-secret")
    env = env(context=dict(env.context, allowed_company_ids=[company.id]))  # noqa: F821
    company = company.with_env(env)
    tenant = os.environ["SOAK_TENANT"]
    conn = env["coworks.sync.connection"].create({"company_id": company.id, "state": "draft"})
    env.cr.commit()
    req = urllib.request.Request(emu + "/__emulator__/grant", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"client_id": "coworks-demo-client", "tenant_ids": [tenant]}).encode())
    grant = json.loads(urllib.request.urlopen(req, timeout=30).read())
    from odoo.addons.coworks_xero.models.sync_connection_xero import OdooTokenStore
    from odoo.addons.coworks_xero.services.xero import oauth as xoauth
    from odoo.addons.coworks_xero.services.xero.oauth import TokenSet
    OdooTokenStore(env, conn.id).save(TokenSet.from_response(grant))
    org = grant["connections"][0]
    conn.write({"state": "connected", "tenant_id": tenant, "tenant_name": org["tenantName"],
                "remote_connection_id": org["id"],
                "xero_user_id": xoauth.token_claims(grant["access_token"]).get("xero_userid") or False})
    env.cr.commit()
    conn.invalidate_recordset()
    conn.action_xero_refresh()

    # Made here rather than in the base database: creating an AU company there installs the AU
    # localisation, whose chart loading dropped records made in the same shell session.
    tax = env["account.tax"].search([("company_id", "=", company.id), ("name", "=", "GST 10% (soak)")], limit=1)
    if not tax:
        tax = env["account.tax"].create({"name": "GST 10% (soak)", "amount": 10.0, "type_tax_use": "sale",
                                         "company_id": company.id})
    product = env["product.product"].search([("name", "=", "Hot desk (soak)"), ("company_id", "=", company.id)], limit=1)
    if not product:
        product = env["product.product"].create({"name": "Hot desk (soak)", "type": "service", "lst_price": 350.0,
                                                 "coworks_item_kind": "plan", "company_id": company.id})
    product.taxes_id = [(6, 0, tax.ids)]
    env.cr.commit()
    from bench._env import map_demo_organisation  # the repository is on PYTHONPATH (fault_soak.shell)
    xref = map_demo_organisation(env, conn, company, tax)
    conn.default_account_id = xref("coworks.xero.account", code="200")
    company.coworks_xero_sync_enabled = True
    env.cr.commit()
    partners = env["res.partner"].search([("name", "=like", "Soak member %"), ("company_id", "=", company.id)])

bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)  # noqa: F821
sale = env["account.journal"].search([("type", "=", "sale"), ("company_id", "=", company.id)], limit=1)  # noqa: F821
print("SOAK " + json.dumps({"company_id": company.id, "bank_journal": bank.id, "sale_journal": sale.id,
                            "product": product.id, "tax": tax.id, "partners": partners.ids}))

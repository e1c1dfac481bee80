"""Shared set-up for the benchmarks: an Odoo environment on an existing database.

Not a test: the benches print measured figures; nothing here asserts timings."""
import contextlib
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo19")
for path in (REPO_ROOT, ODOO_PATH):
    if path not in sys.path:
        sys.path.insert(0, path)


def registry_for(db, conf=None):
    """The Odoo registry of ``db`` (coworks_xero installed), configured like odoo-bin -c conf."""
    import odoo  # noqa: F401
    from odoo.tools import config
    args = ["-d", db, "--log-level=warn"]
    if conf:
        args = ["-c", conf] + args
    else:
        args += [f"--addons-path={ODOO_PATH}/addons,{ODOO_PATH}/odoo/addons,{REPO_ROOT}"]
    config.parse_config(args)
    from odoo.orm.registry import Registry
    return Registry(db)


@contextlib.contextmanager
def environment(registry):
    from odoo import SUPERUSER_ID, api
    with registry.cursor() as cr:
        yield api.Environment(cr, SUPERUSER_ID, {})


def ensure_accounting(env, company):
    """A chart of accounts on ``company`` (the generic one) if it has none yet."""
    if not env["account.journal"].search_count([("type", "=", "sale"), ("company_id", "=", company.id)]):
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    return env["account.journal"].search([("type", "=", "sale"), ("company_id", "=", company.id)], limit=1)


def bench_connection(env, company, tenant, provider="xero"):
    """An active connection of ``company`` (made if it has none) to ``provider``, as the posting
    benches need it: the hooks only read that one exists, nothing is sent (the cron is not run)."""
    company.coworks_xero_sync_enabled = True
    if provider != "xero":
        company.coworks_sync_provider = provider
    Conn = env["coworks.sync.connection"].with_context(active_test=False)
    conn = Conn.search([("company_id", "=", company.id), ("active", "=", True)], limit=1)
    if not conn:
        conn = Conn.create({"company_id": company.id, "provider": provider, "state": "connected",
                            "tenant_id": f"{tenant}-{provider}"})
    return conn


def add_provider_argument(ap):
    ap.add_argument("--provider", choices=("xero", "qbo"), default="xero",
                    help="the provider of the company's connection (the hooks are the engine's, for both)")


def service_product(env, company, name="Bench hot desk", price=350.0, kind="plan"):
    tax = env["account.tax"].search([("company_id", "=", company.id), ("type_tax_use", "=", "sale"),
                                     ("amount_type", "=", "percent"), ("price_include", "=", False)], limit=1)
    vals = {"name": name, "type": "service", "lst_price": price, "taxes_id": [(6, 0, tax.ids)],
            "company_id": company.id}
    if "coworks_item_kind" in env["product.product"]._fields:
        vals["coworks_item_kind"] = kind
    return env["product.product"].create(vals), tax


def map_demo_organisation(env, conn, company, tax):
    """The mappings a manager makes for the emulator's demo organisation: ``tax`` -> OUTPUT, the
    plan item kind -> PLAN-HOTDESK, the company's bank journal -> account 090."""
    def xref(model, **dom):
        return env[model].with_context(active_test=False).search(
            [("connection_id", "=", conn.id)] + [(k, "=", v) for k, v in dom.items()], limit=1)
    env["coworks.xero.tax.mapping"].create({"connection_id": conn.id, "tax_id": tax.id,
                                            "tax_rate_id": xref("coworks.xero.tax.rate", tax_type="OUTPUT").id})
    env["coworks.xero.product.mapping"].create({"connection_id": conn.id, "item_kind": "plan",
                                                "xero_item_id": xref("coworks.xero.item", code="PLAN-HOTDESK").id})
    bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)
    env["coworks.xero.journal.mapping"].create({"connection_id": conn.id, "journal_id": bank.id,
                                                "bank_account_id": xref("coworks.xero.account", code="090").id})
    return xref


def connect_to_emulator(env, base_url, company, tenant, name="Emulated org"):
    """A connection of ``company`` to the emulator's organisation ``tenant``, with tokens granted
    as the OAuth flow would and the reference data loaded (commits)."""
    import json
    import urllib.request
    from odoo.addons.coworks_xero.models.sync_connection_xero import OdooTokenStore
    from odoo.addons.coworks_xero.services.xero.oauth import TokenSet
    from xero_emulator import seed
    conn = env["coworks.sync.connection"].create({"company_id": company.id, "state": "draft"})
    env.cr.commit()
    conn.write({"state": "connected", "tenant_id": tenant, "tenant_name": name})
    req = urllib.request.Request(f"{base_url}/__emulator__/grant", method="POST",
                                 data=json.dumps({"client_id": seed.DEMO_CLIENT_ID, "tenant_ids": [tenant]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        grant = json.loads(resp.read())
    env.cr.commit()
    OdooTokenStore(env, conn.id).save(TokenSet.from_response(grant))
    conn.invalidate_recordset()
    conn.action_xero_refresh()
    return conn


def make_invoices(env, journal, product, tax, count, partners, move_type="out_invoice", price=350.0, post=True):
    """``count`` one-line customer documents, one per partner in turn (posted unless ``post`` is False)."""
    moves = env["account.move"].create([{
        "move_type": move_type, "partner_id": partners[i % len(partners)].id, "journal_id": journal.id,
        "invoice_date": "2026-11-02",
        "invoice_line_ids": [(0, 0, {"product_id": product.id, "quantity": 1, "price_unit": price,
                                     "tax_ids": [(6, 0, tax.ids)]})]} for i in range(count)])
    if post:
        moves.action_post()
    return moves


def receivable_lines(moves):
    return moves.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")


def register_payment(env, bank, moves, **vals):
    """A payment of ``moves`` through Odoo's wizard, from ``bank``."""
    env["account.payment.register"].with_context(active_model="account.move", active_ids=moves.ids).create(
        dict({"journal_id": bank.id, "payment_date": "2026-11-20"}, **vals))._create_payments()


def connect_to_qbo_emulator(env, base_url, company, realm, name="Coworks Demo US"):
    """A connection of ``company`` (USD, United States) to the QuickBooks emulator's company
    ``realm``, as bench/_qbo_soak_setup.py connects (commits): tokens from the emulator's grant
    saved through the connection's token store (as the OAuth callback saves them), the reference
    data read, and the mappings a manager makes (hot-desk plan -> Item 2 "Plan - Hot desk", an
    8.875 % sales tax -> tax code 2 "NYC combined" with Odoo's amounts, the bank journal -> account
    35 "Checking"). Returns (connection, tax)."""
    import json
    import urllib.request
    from odoo.addons.coworks_xero.services.xero.oauth import TokenSet
    from qbo_emulator import seed
    params = env["ir.config_parameter"].sudo()
    params.set_param("coworks_xero.qbo_sandbox_url", base_url)
    params.set_param("coworks_xero.qbo_client_id", seed.DEMO_CLIENT_ID)
    params.set_param("coworks_xero.qbo_client_secret", seed.DEMO_CLIENT_SECRET)
    company.coworks_sync_provider = "qbo"
    conn = env["coworks.sync.connection"].create({"company_id": company.id, "provider": "qbo", "state": "connected",
                                                  "tenant_id": realm, "tenant_name": name})
    env.cr.commit()
    req = urllib.request.Request(f"{base_url}/__emulator__/grant", method="POST",
                                 headers={"Content-Type": "application/json"},
                                 data=json.dumps({"client_id": seed.DEMO_CLIENT_ID, "realm_id": realm}).encode())
    grant = json.loads(urllib.request.urlopen(req, timeout=30).read())
    conn._qbo_token_store().save(TokenSet.from_response(dict(grant, scope="com.intuit.quickbooks.accounting")))
    env.cr.commit()
    conn.invalidate_recordset()
    conn.action_xero_refresh()
    tax = env["account.tax"].create({"name": "NYC sales tax (bench)", "amount": 8.875, "type_tax_use": "sale",
                                     "company_id": company.id})
    map_qbo_demo_company(env, conn, tax)
    return conn, tax


def map_qbo_demo_company(env, conn, tax):
    """The mappings a manager makes for the QuickBooks emulator's US company (qbo_emulator/seed.py),
    from ``conn``'s reference data: the hot-desk plan -> Item 2 "Plan - Hot desk", ``tax`` -> tax
    code 2 "NYC combined" (NY State 4 % + NYC 4.875 %) with Odoo's amounts, the company's bank
    journal -> account 35 "Checking" (Bank)."""
    def xref(model, **dom):
        return env[model].with_context(active_test=False).search(
            [("connection_id", "=", conn.id)] + [(k, "=", v) for k, v in dom.items()], limit=1)
    env["coworks.xero.product.mapping"].create({"connection_id": conn.id, "item_kind": "plan",
                                                "xero_item_id": xref("coworks.xero.item", code="2").id})
    env["coworks.xero.tax.mapping"].create({"connection_id": conn.id, "tax_id": tax.id, "send_odoo_tax_amounts": True,
                                            "tax_rate_id": xref("coworks.xero.tax.rate", tax_type="2").id})
    bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", conn.company_id.id)], limit=1)
    env["coworks.xero.journal.mapping"].create({"connection_id": conn.id, "journal_id": bank.id,
                                                "bank_account_id": xref("coworks.xero.account", code="35").id})

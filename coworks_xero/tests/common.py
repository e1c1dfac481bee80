from odoo import Command
from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class CoworksXeroCommon(AccountTestInvoicingCommon):
    """A company with sync on, a connection, and reference data as a refresh would cache it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.coworks_xero_sync_enabled = True
        cls.connection = cls._make_connection(cls.company)
        cls.campus_dtn = cls.env["coworks.campus"].create({"name": "Downtown", "code": "DTN"})
        cls.campus_hbr = cls.env["coworks.campus"].create({"name": "Harbour", "code": "HBR"})

    @classmethod
    def _make_connection(cls, company, tenant="t-1"):
        conn = cls.env["coworks.sync.connection"].sudo().create({
            "company_id": company.id, "state": "connected", "tenant_id": tenant,
            "tenant_name": f"Org {tenant}", "base_currency_code": company.currency_id.name,
        })
        cache = cls._seed_reference_data(conn)
        conn.write({"default_account_id": cache["acc_200"].id, "rounding_account_id": cache["acc_860"].id,
                    "campus_tracking_category_id": cache["cat_campus"].id})
        if company == cls.env.company:
            for key, rec in cache.items():
                setattr(cls, key, rec)
        return conn

    @classmethod
    def _seed_reference_data(cls, conn):
        env = cls.env(su=True)
        acc = env["coworks.xero.account"]
        out = {}
        for code, name, typ, extra in [
            ("200", "Sales", "REVENUE", {}),
            ("260", "Other Revenue", "OTHERINCOME", {}),
            ("270", "Fee income", "REVENUE", {}),
            ("090", "Business Bank", "BANK", {}),
            ("091", "Card Clearing", "CURRENT", {"enable_payments": True}),
            ("860", "Rounding", "CURRLIAB", {"system_account": "ROUNDING"}),
            ("476", "Old sales", "REVENUE", {"status": "ARCHIVED"}),
        ]:
            out[f"acc_{code}"] = acc.create({"connection_id": conn.id, "xero_id": f"{conn.tenant_id}-a{code}",
                                             "code": code, "name": name, "account_type": typ, **extra})
        item = env["coworks.xero.item"]
        for code in ["PLAN", "DAYPASS", "BOOKING", "ONEOFF", "OVERAGE"]:
            out[f"item_{code.lower()}"] = item.create({
                "connection_id": conn.id, "xero_id": f"{conn.tenant_id}-i{code}", "code": code,
                "name": code.title(), "sales_account_code": "200"})
        out["rate_output"] = env["coworks.xero.tax.rate"].create({
            "connection_id": conn.id, "tax_type": "OUTPUT", "name": "GST on Income", "rate": 10.0})
        out["rate_none"] = env["coworks.xero.tax.rate"].create({
            "connection_id": conn.id, "tax_type": "NONE", "name": "No GST", "rate": 0.0})
        cat = env["coworks.xero.tracking.category"].create({
            "connection_id": conn.id, "xero_id": f"{conn.tenant_id}-cCampus", "name": "Campus"})
        out["cat_campus"] = cat
        for name, status in [("Downtown", "ACTIVE"), ("Harbour", "ACTIVE"), ("Closed site", "ARCHIVED")]:
            out[f"opt_{name.split()[0].lower()}"] = env["coworks.xero.tracking.option"].create({
                "connection_id": conn.id, "category_id": cat.id, "name": name, "status": status,
                "xero_id": f"{conn.tenant_id}-o{name}"})
        cat2 = env["coworks.xero.tracking.category"].create({
            "connection_id": conn.id, "xero_id": f"{conn.tenant_id}-cChannel", "name": "Channel"})
        out["opt_online"] = env["coworks.xero.tracking.option"].create({
            "connection_id": conn.id, "category_id": cat2.id, "name": "Online", "xero_id": f"{conn.tenant_id}-oOnline"})
        return out

    @classmethod
    def _kind_product(cls, kind, name=None, price=100.0, taxes=None):
        return cls.env["product.product"].create({
            "name": name or f"{kind} product", "type": "service", "lst_price": price,
            "coworks_item_kind": kind,
            "taxes_id": [Command.set((taxes or cls.env["account.tax"]).ids)],
        })

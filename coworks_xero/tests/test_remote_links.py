"""Remote IDs belong to one organisation: coworks.sync.link ties each to its connection."""
import json
import uuid

from odoo.tests import tagged

from xero_emulator import seed

from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestRemoteLinks(CoworksXeroEmulatorCase):

    def _org_state(self, tenant):
        return self.emu("GET", "state", query=f"?tenant={tenant}")

    def _connect_uk(self):
        """The company starts over with the UK organisation, as an admin would: the old
        connection archived, a new one connected, its mappings made."""
        self.connection.sudo().active = False
        self.env.flush_all()  # the admin's archiving is a request of its own
        Conn = self.env["coworks.sync.connection"].sudo()
        conn = Conn.create({"company_id": self.company.id, "state": "draft"})
        self._grant_tokens(conn, seed.TENANT_UK)
        conn._xero_oauth_finish({"tenantId": seed.TENANT_UK, "tenantName": "Coworks Demo UK", "id": str(uuid.uuid4())})
        # The company bills in USD: the organisation adds it, as its accountant would.
        from xero_python.accounting import Currency, CurrencyCode
        client = conn._xero_client()
        currency = Currency(code=CurrencyCode.USD, description="US Dollar")
        client._request("create_currency", lambda **kw: client.accounting.create_currency(
            seed.TENANT_UK, currency, **kw))
        conn.action_xero_refresh()

        def ref(model, **domain):
            return self.env[model].with_context(active_test=False).search(
                [("connection_id", "=", conn.id)] + [(k, "=", v) for k, v in domain.items()], limit=1)
        conn.write({"default_account_id": ref("coworks.xero.account", code="200").id,
                    "rounding_account_id": ref("coworks.xero.account", code="860").id})
        self.env["coworks.xero.product.mapping"].create({
            "connection_id": conn.id, "item_kind": "plan",
            "xero_item_id": ref("coworks.xero.item", code="PLAN-HOTDESK").id})
        self.env["coworks.xero.tax.mapping"].create({
            "connection_id": conn.id, "tax_id": self.tax_sale_a.id, "send_odoo_tax_amounts": True,
            "tax_rate_id": ref("coworks.xero.tax.rate", tax_type="OUTPUT2").id})
        return conn

    def test_another_organisation_never_gets_the_old_ones_ids_and_coming_back_finds_them(self):
        invoice = self._invoice()
        partner = invoice.commercial_partner_id
        self.run_worker()
        au_invoice_id = invoice.xero_id
        au_contact_id = partner.with_company(self.company).xero_contact_id
        self.assertTrue(au_invoice_id and au_contact_id)

        uk = self._connect_uk()
        self.env.invalidate_all()
        # Nothing of the Australian organisation shows, nor counts as "in Xero".
        self.assertFalse(invoice.xero_id)
        self.assertFalse(invoice.xero_status)
        self.assertFalse(partner.with_company(self.company).xero_contact_id)
        self.assertEqual(uk.missing_document_count, 1)
        self.assertFalse(self.env["account.move"].search_count([("id", "=", invoice.id), ("xero_id", "!=", False)]))

        self.emu("DELETE", "requests")
        self.run_worker()  # the catch-up queues what the new organisation lacks
        [uk_invoice] = [i for i in self._org_state(seed.TENANT_UK)["Invoices"] if i["InvoiceNumber"] == invoice.name]
        self.assertNotEqual(uk_invoice["InvoiceID"].lower(), au_invoice_id.lower())
        self.assertNotEqual(uk_invoice["Contact"]["ContactID"].lower(), au_contact_id.lower())
        self.assertEqual(invoice.xero_id.lower(), uk_invoice["InvoiceID"].lower())
        sent = [r for r in self.xero_requests()["requests"] if au_invoice_id.lower() in json.dumps(r).lower()]
        self.assertFalse(sent, "an Australian InvoiceID was sent to the UK organisation")
        self.assertEqual(len(self._org_state(seed.TENANT_AU)["Invoices"]), 1)

        # Back to the Australian organisation: its IDs are found again, nothing is duplicated.
        uk.sudo().active = False
        self.env.flush_all()
        back = self.env["coworks.sync.connection"].sudo().create({"company_id": self.company.id, "state": "draft"})
        self._grant_tokens(back, self.tenant_id)
        back._xero_oauth_finish({"tenantId": self.tenant_id, "tenantName": "Coworks Demo AU", "id": str(uuid.uuid4())})
        self.env.invalidate_all()
        self.assertEqual(invoice.xero_id, au_invoice_id)
        self.assertEqual(partner.with_company(self.company).xero_contact_id, au_contact_id)
        self.assertEqual(back.missing_document_count, 0)

    def test_the_worker_reads_the_links_of_the_jobs_connection(self):
        """Links are per connection even for the same record: the document reads the one of the
        connection it is being sent with."""
        invoice = self._invoice()
        self.run_worker()
        Link = self.env["coworks.sync.link"].sudo()
        other = self.env["coworks.sync.connection"].sudo().create({
            "company_id": self.company.id, "state": "draft", "active": False})
        Link._upsert(other, "account.move", {invoice.id: {"remote_id": "other-org-id", "remote_status": "PAID"}})
        self.assertNotEqual(invoice.xero_id, "other-org-id")
        self.assertEqual(invoice.with_context(coworks_sync_connection_id=other.id).xero_id, "other-org-id")
        self.assertEqual(Link.search_count([("res_model", "=", "account.move"), ("res_id", "=", invoice.id)]), 2)
        # Domains read the links of active connections only.
        self.assertFalse(self.env["account.move"].search_count([("xero_status", "=", "PAID"), ("id", "=", invoice.id)]))

    def test_nobody_writes_links_over_rpc(self):
        invoice = self._invoice()
        self.run_worker()
        link = self.env["coworks.sync.link"].search([("res_model", "=", "account.move"), ("res_id", "=", invoice.id)])
        self.assertEqual(len(link), 1)
        from odoo.exceptions import AccessError
        manager = self.env["res.users"].create({
            "name": "Xero manager", "login": "xero-link-manager", "company_id": self.company.id,
            "company_ids": [(6, 0, self.company.ids)],
            "group_ids": [(6, 0, [self.env.ref("coworks_xero.group_xero_manager").id,
                                  self.env.ref("account.group_account_manager").id])]})
        with self.assertRaises(AccessError):
            link.with_user(manager).write({"remote_id": "forged"})
        with self.assertRaises(AccessError):
            self.env["coworks.sync.link"].with_user(manager).create({
                "connection_id": self.connection.id, "res_model": "account.move", "res_id": invoice.id})
        self.assertEqual(invoice.with_user(manager).xero_id, link.remote_id)

    def test_base_currency_is_checked_at_connect(self):
        """The test company keeps its books in USD, the Australian organisation in AUD: one clear
        warning, on the connection and the settings page, from the moment it connects."""
        self.connection.sudo().active = False
        self.env.flush_all()
        conn = self.env["coworks.sync.connection"].sudo().create({"company_id": self.company.id, "state": "draft"})
        self._grant_tokens(conn, self.tenant_id)
        conn._xero_oauth_finish({"tenantId": self.tenant_id, "tenantName": "Coworks Demo AU", "id": str(uuid.uuid4())})
        self.assertEqual(conn.base_currency_code, "AUD")
        self.assertIn("in USD and Coworks Demo AU in AUD", conn.currency_warning)
        self.assertIn("in USD and Coworks Demo AU in AUD", conn.message_ids[0].body)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.coworks_xero_base_currency, "AUD")
        self.assertEqual(settings.coworks_xero_currency_warning, conn.currency_warning)
        # Same currency: nothing to say.
        conn.base_currency_code = self.company.currency_id.name
        self.assertFalse(conn.currency_warning)

    def test_open_in_xero_and_the_link_back(self):
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://coworks.example")
        invoice = self._invoice()
        self.run_worker()
        short = self.connection.short_code
        self.assertTrue(short, "the organisation's ShortCode is loaded with the reference data")
        self.assertEqual(invoice.xero_url, f"https://go.xero.com/app/{short}/invoicing/view/{invoice.xero_id}")
        partner = invoice.commercial_partner_id.with_company(self.company)
        self.assertTrue(partner.xero_url.endswith(f"/contacts/contact/{partner.xero_contact_id}"))
        # Xero's invoice links back to the Odoo document.
        self.assertEqual(self.xero_invoice(invoice.name)["Url"], f"https://coworks.example/odoo/account.move/{invoice.id}")
        # Over plain http (a local server) no link is sent: Xero could not open it.
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "http://127.0.0.1:8069")
        other = self._invoice(120.0)
        self.run_worker()
        self.assertFalse(self.xero_invoice(other.name).get("Url"))

"""Issue #12, accountant-grade: tax mappings compare Odoo's rate with Xero's, account choices offer
and accept only what Xero takes for their use, and rights hold on the server (ORM with_user, and
over JSON-RPC/XML-RPC), not just in the views."""
import contextlib
import json
import xmlrpc.client
from decimal import Decimal

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException, get_db_name
from odoo.tools.safe_eval import safe_eval

from .common import CoworksXeroCommon, CoworksXeroEmulatorCase
from ..models.xero_mapping import MappingError


def _job_vals(company, conn, partner, **vals):
    return {"company_id": company.id, "connection_id": conn.id, "res_model": "res.partner", "res_id": partner.id,
            "kind": "contact", "state": "error", "error_kind": "validation", "error_message": "Xero refused", **vals}


@tagged("post_install", "-at_install")
class TestAccountChoices(CoworksXeroCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Account = cls.env["coworks.xero.account"].sudo()
        for code, name, typ, system in [("610", "Accounts Receivable", "CURRENT", "DEBTORS"),
                                        ("800", "Accounts Payable", "CURRLIAB", "CREDITORS"),
                                        ("820", "GST", "CURRLIAB", "GST"),
                                        ("429", "General Expenses", "EXPENSE", False)]:
            setattr(cls, f"acc_{code}", Account.create({
                "connection_id": cls.connection.id, "xero_id": f"t-1-a{code}", "code": code, "name": name,
                "account_type": typ, "system_account": system}))

    @contextlib.contextmanager
    def refused(self, words):
        """A ValidationError naming ``words``; the refused write rolled back (assertRaises takes a
        savepoint, assertRaisesRegex does not)."""
        with self.assertRaises(ValidationError) as caught:
            yield
        self.assertIn(words, str(caught.exception))

    def offered(self, model, fname):
        """The codes an account field's own domain offers on this connection."""
        domain = safe_eval(self.env[model]._fields[fname].domain,
                           {"connection_id": self.connection.id, "id": self.connection.id})
        return set(self.env["coworks.xero.account"].search(domain).mapped("code"))

    def test_each_choice_offers_what_xero_accepts_for_its_use_and_never_system_accounts(self):
        sales = {"200", "260", "270"}  # REVENUE / OTHERINCOME, active
        self.assertEqual(self.offered("coworks.xero.product.mapping", "xero_account_id"), sales)
        self.assertEqual(self.offered("coworks.sync.connection", "default_account_id"), sales)
        self.assertEqual(self.offered("coworks.xero.journal.mapping", "bank_account_id"), {"090", "091"})
        self.assertEqual(self.offered("coworks.sync.connection", "writeoff_account_id"), {"090", "091"})
        self.assertEqual(self.offered("coworks.sync.connection", "rounding_account_id"), sales | {"429", "860"})

    def test_a_wrong_account_is_refused_when_saved_with_the_reason(self):
        Mapping = self.env["coworks.xero.product.mapping"]
        for account, words in [(self.acc_610, "DEBTORS system account"), (self.acc_800, "CREDITORS system account"),
                               (self.acc_820, "GST system account"), (self.acc_090, "bank account"),
                               (self.acc_429, "not revenue"), (self.acc_476, "archived")]:
            with self.subTest(account=account.code), self.refused(words):
                Mapping.create({"connection_id": self.connection.id, "item_kind": "custom_fee",
                                "xero_account_id": account.id})
        Mapping.create({"connection_id": self.connection.id, "item_kind": "custom_fee",
                        "xero_account_id": self.acc_270.id})
        journal = self.company_data["default_journal_bank"]
        Journal = self.env["coworks.xero.journal.mapping"]
        for account, words in [(self.acc_200, "neither a BANK account nor one with payments enabled"),
                               (self.acc_610, "DEBTORS")]:
            with self.subTest(account=account.code), self.refused(words):
                Journal.create({"connection_id": self.connection.id, "journal_id": journal.id,
                                "bank_account_id": account.id})
        conn = self.connection
        for fname, account, words in [("default_account_id", self.acc_610, "DEBTORS"),
                                      ("default_account_id", self.acc_090, "bank account"),
                                      ("rounding_account_id", self.acc_820, "ROUNDING account"),
                                      ("rounding_account_id", self.acc_091, "takes payments"),
                                      ("writeoff_account_id", self.acc_200, "Enable payments")]:
            with self.subTest(field=fname, account=account.code), self.refused(words):
                conn.write({fname: account.id})
        conn.write({"rounding_account_id": self.acc_860.id, "writeoff_account_id": self.acc_091.id,
                    "default_account_id": self.acc_260.id})
        self.assertEqual((conn.rounding_account_id, conn.writeoff_account_id), (self.acc_860, self.acc_091))


@tagged("post_install", "-at_install")
class TestTaxRates(CoworksXeroCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Tax = cls.env["account.tax"]
        cls.vat15 = cls.tax_sale_a  # 15 %
        cls.gst = Tax.create({"name": "GST 10%", "amount": 10.0, "type_tax_use": "sale"})
        cls.levy = Tax.create({"name": "Levy 2.00", "amount": 2.0, "amount_type": "fixed", "type_tax_use": "sale"})
        Mapping = cls.env["coworks.xero.tax.mapping"]
        cls.map15, cls.map_gst, cls.map_levy = (
            Mapping.create({"connection_id": cls.connection.id, "tax_id": tax.id, "tax_rate_id": cls.rate_output.id})
            for tax in (cls.vat15, cls.gst, cls.levy))

    def test_the_mapping_compares_odoo_and_xero_rates(self):
        self.assertTrue(self.map15.rates_differ)
        self.assertEqual(self.map15.odoo_rate, "15 %")
        self.assertEqual(self.map15.xero_rate, 10.0)
        self.assertIn("15 % in Odoo", self.map15.rate_warning)
        self.assertIn("GST on Income (OUTPUT) at 10 %", self.map15.rate_warning)
        self.assertIn("Send Odoo's tax amounts", self.map15.rate_warning)
        self.assertFalse(self.map_gst.rates_differ)
        self.assertFalse(self.map_gst.rate_warning)
        self.assertTrue(self.map_levy.rates_differ)
        self.assertIn("not a single percentage", self.map_levy.rate_warning)
        # The settings' checklist names the taxes still to decide on, until someone does.
        self.assertEqual(self.connection._xero_unmapped()["rates"], self.vat15 | self.levy)
        self.map15.send_odoo_tax_amounts = True
        self.assertEqual(self.connection._xero_unmapped()["rates"], self.levy)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.coworks_xero_rate_mismatches, self.levy.display_name)
        self.assertFalse(settings.coworks_xero_all_mapped)
        # The form warns as soon as both are chosen, before saving.
        other = self.env["account.tax"].create({"name": "VAT 20%", "amount": 20.0, "type_tax_use": "sale"})
        with Form(self.env["coworks.xero.tax.mapping"]) as form:
            form.tax_id = other
            form.tax_rate_id = self.rate_output
            self.assertTrue(form.rates_differ)
            self.assertIn("20 % in Odoo", form.rate_warning)
            form.tax_rate_id = self.rate_none
            self.assertIn("0 %", form.rate_warning)
        arch = self.env["coworks.xero.tax.mapping"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="rate_warning"', arch)
        self.assertIn('name="send_odoo_tax_amounts"', arch)

    def test_the_sync_stops_naming_both_rates_unless_odoos_amounts_are_sent(self):
        conn = self.connection
        with self.assertRaisesRegex(MappingError, r"15 % in Odoo.*OUTPUT\) at 10 %"):
            conn._resolve_tax(self.vat15)
        with self.assertRaisesRegex(MappingError, "not a single percentage"):
            conn._resolve_tax(self.levy)
        self.assertEqual(conn._resolve_tax(self.gst), {"tax_type": "OUTPUT", "rate": Decimal("10.0000"),
                                                        "send_tax_amount": False, "reason": ""})
        self.map15.send_odoo_tax_amounts = True
        resolved = conn._resolve_tax(self.vat15)
        self.assertEqual((resolved["tax_type"], resolved["rate"], resolved["send_tax_amount"]), ("OUTPUT", None, True))
        self.assertIn("15 % in Odoo, OUTPUT 10 % in Xero", resolved["reason"])
        self.assertEqual(conn._resolve_tax(self.env["account.tax"])["tax_type"], "NONE")


@tagged("post_install", "-at_install")
class TestTaxSync(CoworksXeroEmulatorCase):
    """Against the emulator's AU organisation (GST on Income, OUTPUT, 10 %)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Tax = cls.env["account.tax"]
        cls.gst = Tax.create({"name": "GST 10%", "amount": 10.0, "type_tax_use": "sale"})
        cls.vat15 = Tax.create({"name": "VAT 15%", "amount": 15.0, "type_tax_use": "sale"})
        output = cls.xref("coworks.xero.tax.rate", tax_type="OUTPUT")
        Mapping = cls.env["coworks.xero.tax.mapping"]
        cls.map_gst = Mapping.create({"connection_id": cls.connection.id, "tax_id": cls.gst.id, "tax_rate_id": output.id})
        cls.map15 = Mapping.create({"connection_id": cls.connection.id, "tax_id": cls.vat15.id, "tax_rate_id": output.id})

    def post(self, tax, prices):
        move = self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.partner_a.id, "invoice_date": "2026-11-20",
            "invoice_line_ids": [Command.create({"product_id": self.day_pass.id, "name": f"Day pass {i}",
                                                 "quantity": 1, "price_unit": price, "tax_ids": [Command.set(tax.ids)]})
                                 for i, price in enumerate(prices)]})
        move.action_post()
        return move

    def invoice_job(self, move):
        return self.jobs_of(move).filtered(lambda j: j.kind == "invoice")

    def assert_same_totals(self, move):
        xero = self.xero_invoice(move.name)
        self.assertEqual((Decimal(str(xero["SubTotal"])), Decimal(str(xero["TotalTax"])), Decimal(str(xero["Total"]))),
                         (Decimal(str(move.amount_untaxed)), Decimal(str(move.amount_tax)),
                          Decimal(str(move.amount_total))))
        return xero

    def test_a_different_rate_stops_the_sync_naming_both_then_odoos_amounts_are_sent_and_logged(self):
        wrong = self.post(self.vat15, [35.0, 12.34])
        fine = self.post(self.gst, [35.0])
        self.run_worker()
        job = self.invoice_job(wrong)
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("15 % in Odoo", job.error_message)
        self.assertIn("at 10 %", job.error_message)
        self.assertIn("Send Odoo's tax amounts", job.error_message)
        self.assertIn("15 % in Odoo", wrong.xero_sync_error)
        self.assertIsNone(self.xero_invoice(wrong.name))
        self.assertEqual(self.invoice_job(fine).state, "done", "one document's tax blocks nothing else")

        self.map15.send_odoo_tax_amounts = True
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        xero = self.assert_same_totals(wrong)
        sent = json.loads(job.request_body)
        sent = sent.get("Invoices", [sent])[0] if isinstance(sent, dict) else sent[0]
        odoo_taxes = [round(line.price_total - line.price_subtotal, 2) for line in wrong.invoice_line_ids]
        self.assertEqual([li.get("TaxAmount") for li in sent["LineItems"]], odoo_taxes)
        self.assertEqual(float(xero["TotalTax"]), wrong.amount_tax)
        self.assertIn("override", job.log_note)
        self.assertIn("VAT 15%", job.log_note)

    def test_agreeing_rates_let_xero_compute_the_tax(self):
        move = self.post(self.gst, [35.0, 12.34, 20.0])
        self.run_worker()
        job = self.invoice_job(move)
        self.assertEqual(job.state, "done", job.error_message)
        sent = json.loads(job.request_body)
        sent = sent.get("Invoices", [sent])[0] if isinstance(sent, dict) else sent[0]
        self.assertFalse([li for li in sent["LineItems"] if "TaxAmount" in li], "Xero computes the tax itself")
        self.assert_same_totals(move)

    def test_agreeing_rates_with_global_rounding_send_tax_only_where_xero_would_differ(self):
        # Three lines of 0.15 at 10 %: Xero rounds each line's 0.015 to 0.02 (0.06); Odoo rounding
        # globally has 0.045 -> 0.05. One line carries its tax, one cent less: totals still agree.
        self.company.tax_calculation_rounding_method = "round_globally"
        move = self.post(self.gst, [0.15, 0.15, 0.15])
        self.assertEqual(move.amount_tax, 0.05)
        self.run_worker()
        job = self.invoice_job(move)
        self.assertEqual(job.state, "done", job.error_message)
        sent = json.loads(job.request_body)
        sent = sent.get("Invoices", [sent])[0] if isinstance(sent, dict) else sent[0]
        self.assertEqual(len([li for li in sent["LineItems"] if "TaxAmount" in li]), 1, sent["LineItems"])
        self.assertFalse([li for li in sent["LineItems"] if li.get("Description") == "Rounding adjustment"])
        self.assert_same_totals(move)


@tagged("post_install", "-at_install")
class TestRights(CoworksXeroCommon):
    """Each group tries, over the ORM as that user."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.company
        cls.accounting_manager = new_test_user(cls.env, login="acc_manager", groups="account.group_account_manager",
                                               company_id=company.id)
        cls.xero_manager = new_test_user(cls.env, login="x_manager", groups="coworks_xero.group_xero_manager",
                                         company_id=company.id)
        cls.plain_user = new_test_user(cls.env, login="plain_user", groups="account.group_account_invoice",
                                       company_id=company.id)
        cls.sysadmin = new_test_user(cls.env, login="sysadmin", groups="base.group_system,account.group_account_manager",
                                     company_id=company.id)
        cls.non_admins = (cls.accounting_manager, cls.xero_manager, cls.plain_user)
        cls.everyone = cls.non_admins + (cls.sysadmin,)
        cls.Job = cls.env["coworks.sync.job"].sudo()

    def test_the_xero_manager_group_comes_with_accounting_admins(self):
        self.assertTrue(self.accounting_manager.has_group("coworks_xero.group_xero_manager"))
        self.assertFalse(self.plain_user.has_group("coworks_xero.group_xero_manager"))

    def test_only_system_administrators_change_a_connection(self):
        conn = self.connection
        for user in self.non_admins:
            for vals in ({"tenant_id": "someone-else"}, {"tenant_name": "Other org"}, {"state": "disconnected"},
                         {"remote_connection_id": "x"}, {"refresh_token": "stolen"}, {"access_token": "x"},
                         {"active": False}, {"company_id": self.company.id}):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    conn.with_user(user).write(vals)
        conn.invalidate_recordset()
        self.assertEqual((conn.tenant_id, conn.state), ("t-1", "connected"))
        # Managers still choose the defaults the mappings fall back on; a plain user cannot.
        for user in (self.accounting_manager, self.xero_manager):
            conn.with_user(user).write({"default_account_id": self.acc_270.id, "rounding_account_id": self.acc_860.id})
        with self.assertRaises(AccessError):
            conn.with_user(self.plain_user).write({"default_account_id": self.acc_200.id})
        with self.assertRaises(AccessError):
            conn.with_user(self.xero_manager).read(["refresh_token"])
        conn.with_user(self.sysadmin).write({"tenant_name": "Renamed org", "state": "needs_reconnect",
                                             "refresh_token": "new"})
        self.assertEqual(conn.state, "needs_reconnect")
        self.assertEqual(conn.sudo().refresh_token, "new")

    def test_nobody_writes_the_sync_log_but_managers_retry_and_cancel(self):
        job = self.Job.create(_job_vals(self.company, self.connection, self.partner_a))
        for user in self.everyone:
            for vals in ({"state": "done"}, {"remote_id": "f00"}, {"request_body": "{}"}, {"response_body": "{}"},
                         {"answer": "{}"}, {"error_message": False}, {"maybe_sent": False}):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    job.with_user(user).write(vals)
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["coworks.sync.job"].with_user(user).create(
                    _job_vals(self.company, self.connection, self.partner_b, state="done"))
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["coworks.sync.job.attempt"].with_user(user).create({"job_id": job.id, "outcome": "done"})
        self.assertEqual((job.state, job.remote_id), ("error", False))
        with self.assertRaises(AccessError):
            job.with_user(self.plain_user).action_retry()
        job.with_user(self.xero_manager).action_retry()
        self.assertEqual(job.state, "pending")
        job.with_user(self.accounting_manager).action_cancel()
        self.assertEqual(job.state, "cancelled")
        job.with_user(self.sysadmin).action_retry()
        self.assertEqual(job.state, "pending")

    def test_one_companys_connections_jobs_and_mappings_stay_out_of_another_companys_reach(self):
        other = self.setup_other_company(name="Other Co")["company"]
        other_conn = self._make_connection(other, tenant="t-2")
        other_tax = self.env["account.tax"].sudo().create({"name": "GST (other)", "amount": 10.0,
                                                           "type_tax_use": "sale", "company_id": other.id})
        other_rate = self.env["coworks.xero.tax.rate"].sudo().search([("connection_id", "=", other_conn.id),
                                                                     ("tax_type", "=", "OUTPUT")])
        mapping = self.env["coworks.xero.tax.mapping"].sudo().create(
            {"connection_id": other_conn.id, "tax_id": other_tax.id, "tax_rate_id": other_rate.id})
        job = self.Job.create(_job_vals(other, other_conn, self.partner_a))
        for user in self.everyone:  # all of them work in the first company only
            env = self.env(user=user)
            with self.subTest(user=user.login):
                self.assertFalse(env["coworks.sync.connection"].search([("id", "=", other_conn.id)]))
                self.assertFalse(env["coworks.sync.job"].search([("id", "=", job.id)]))
                self.assertFalse(env["coworks.xero.tax.mapping"].search([("id", "=", mapping.id)]))
                self.assertFalse(env["coworks.xero.account"].search([("connection_id", "=", other_conn.id)]))
                with self.assertRaises(AccessError):
                    other_conn.with_user(user).read(["tenant_name"])
                with self.assertRaises(AccessError):
                    job.with_user(user).action_retry()
                with self.assertRaises(AccessError):
                    mapping.with_user(user).write({"note": "mine now"})
        with self.assertRaises(UserError):  # the record rule (AccessError) or the company check
            self.env["coworks.xero.tax.mapping"].with_user(self.xero_manager).create(
                {"connection_id": other_conn.id, "tax_id": other_tax.copy().id, "tax_rate_id": other_rate.id})
        self.assertEqual(job.state, "error")
        # An administrator of both companies, working in both, reaches both.
        self.sysadmin.company_ids = [Command.link(other.id)]
        both = self.env(user=self.sysadmin, context={"allowed_company_ids": [self.company.id, other.id]})
        self.assertIn(other_conn, both["coworks.sync.connection"].search([]))
        self.assertIn(job, both["coworks.sync.job"].search([]))


@tagged("post_install", "-at_install")
class TestRightsOverRpc(CoworksXeroCommon, HttpCase):
    """``readonly`` in a view is no guard: the same writes, sent as a client would send them."""

    def test_rpc_cannot_rewrite_a_connection_or_the_log_but_retry_works(self):
        new_test_user(self.env, login="rpc_manager", groups="account.group_account_manager",
                      company_id=self.company.id)
        job = self.env["coworks.sync.job"].sudo().create(_job_vals(self.company, self.connection, self.partner_a))
        self.authenticate("rpc_manager", "rpc_manager")

        def call(model, method, args, route="call_kw"):
            return self.make_jsonrpc_request(f"/web/dataset/{route}/{model}/{method}", {
                "model": model, "method": method, "args": args, "kwargs": {}})

        for model, rec_id, vals in [("coworks.sync.connection", self.connection.id, {"tenant_id": "evil"}),
                                    ("coworks.sync.connection", self.connection.id, {"state": "disconnected"}),
                                    ("coworks.sync.job", job.id, {"state": "done", "remote_id": "f00"}),
                                    ("coworks.sync.job", job.id, {"response_body": "{}"})]:
            with self.subTest(model=model, vals=vals), self.assertRaises(JsonRpcException):
                call(model, "write", [[rec_id], vals])
        db = get_db_name()
        uid = self.xmlrpc_common.authenticate(db, "rpc_manager", "rpc_manager", {})
        self.assertTrue(uid)
        with self.assertRaisesRegex(xmlrpc.client.Fault, "written by the sync itself"):
            self.xmlrpc_object.execute_kw(db, uid, "rpc_manager", "coworks.sync.job", "write",
                                          [[job.id], {"state": "done"}])
        with self.assertRaisesRegex(xmlrpc.client.Fault, "Only an administrator"):
            self.xmlrpc_object.execute_kw(db, uid, "rpc_manager", "coworks.sync.connection", "write",
                                          [[self.connection.id], {"tenant_id": "evil"}])
        self.env.invalidate_all()
        self.assertEqual((job.state, job.remote_id, self.connection.tenant_id), ("error", False, "t-1"))
        call("coworks.sync.job", "action_retry", [[job.id]], route="call_button")
        self.env.invalidate_all()
        self.assertEqual(job.state, "pending")

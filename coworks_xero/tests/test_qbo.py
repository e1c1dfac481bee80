"""QuickBooks Online on the Odoo side (issue #16): connecting through the OAuth routes, the token
store, and the engine's jobs reaching the QBO emulator (qbo_emulator) - the same jobs, sync log and
mappings as Xero."""
import urllib.parse
from decimal import Decimal

import requests

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from qbo_emulator import seed

from ..models.sync_connection_qbo import QBO_CALLBACK_PATH
from .common_qbo import REALM_UK, REALM_US, CoworksQboEmulatorCase, CoworksQboHttpCase


def cents(value):
    return Decimal(str(value)).quantize(Decimal("0.01"))


@tagged("post_install", "-at_install")
class TestQboSync(CoworksQboEmulatorCase):

    def setUp(self):
        super().setUp()
        self.customer = self.env["res.partner"].create({"name": "Blue Door Studio", "email": "hi@bluedoor.test"})

    def _invoice(self, lines=None, partner=None, move_type="out_invoice", post=True):
        lines = lines or [{"product_id": self.plan_product.id, "quantity": 1, "price_unit": 350.0,
                           "tax_ids": [Command.set(self.tax_sale_a.ids)]}]
        move = self.env["account.move"].create({
            "move_type": move_type, "partner_id": (partner or self.customer).id,
            "invoice_date": fields.Date.today(),
            "invoice_line_ids": [Command.create(vals) for vals in lines]})
        if post:
            move.action_post()
        return move

    def _synced(self, record):
        jobs = self.jobs_of(record)
        self.assertTrue(jobs, f"nothing queued for {record.display_name}")
        self.assertEqual(set(jobs.mapped("state")), {"done"},
                         [(j.kind, j.operation, j.state, j.error_message) for j in jobs])
        return jobs

    def test_reference_data_cached_from_quickbooks(self):
        conn = self.connection
        self.assertTrue(conn.reference_data_refreshed_at)
        self.assertEqual(conn.base_currency_code, "USD")
        self.assertEqual(self.qref("coworks.xero.account", code="35").name, "Checking")
        self.assertEqual(self.qref("coworks.xero.item", code="11").status, "ARCHIVED")
        self.assertEqual(self.qref("coworks.xero.tax.rate", tax_type="2").rate, 8.875)
        self.assertEqual(conn.campus_tracking_category_id.xero_id, "class",
                         "QuickBooks Classes are the campus tracking")
        self.assertEqual(self.qref("coworks.xero.tracking.option", name="Riverside").status, "ARCHIVED")
        from ..services.qbo.provider import QboProvider
        provider = conn._get_provider()
        self.assertIsInstance(provider, QboProvider)
        self.assertEqual(provider.client.realm_id, REALM_US)

    def test_invoice_lines_discount_tax_reach_quickbooks_to_the_cent(self):
        move = self._invoice([
            {"product_id": self.plan_product.id, "quantity": 1, "price_unit": 350.0, "discount": 12.5,
             "tax_ids": [Command.set(self.tax_sale_a.ids)]},
            {"product_id": self.day_pass.id, "quantity": 3, "price_unit": 35.55,
             "tax_ids": [Command.set(self.tax_sale_a.ids)]},
            {"product_id": self.day_pass.id, "quantity": 7, "price_unit": 1.13, "tax_ids": [Command.clear()]},
        ])
        move.coworks_campus_id = self.campus_dtn
        self.run_worker()
        self._synced(move)
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(cents(qbo["TotalAmt"]), cents(move.amount_total))
        self.assertEqual(cents(qbo["TxnTaxDetail"]["TotalTax"]), cents(move.amount_tax))
        self.assertEqual(cents(qbo["Balance"]), cents(move.amount_total))
        sales = [ln for ln in qbo["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
        self.assertEqual([cents(ln["Amount"]) for ln in sales],
                         [cents(ln.price_subtotal) for ln in move.invoice_line_ids])
        self.assertEqual([ln["SalesItemLineDetail"]["ItemRef"]["value"] for ln in sales], ["2", "4", "4"])
        self.assertEqual([ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] for ln in sales], ["TAX", "TAX", "NON"])
        self.assertIn("12.5% discount", sales[0]["Description"])
        self.assertEqual(qbo["TxnTaxDetail"]["TxnTaxCodeRef"]["value"], "2")
        self.assertEqual(move.xero_id, qbo["Id"], "the QuickBooks id is the document's link")
        self.assertEqual(move.xero_url, f"https://app.qbo.intuit.com/app/invoice?txnId={qbo['Id']}")
        customer = self.qbo_state()["Customer"][qbo["CustomerRef"]["value"]]
        self.assertEqual(customer["PrimaryEmailAddr"]["Address"], "hi@bluedoor.test")

    def test_customer_created_once_found_by_email_on_retry(self):
        # QuickBooks creates the customer and the answer is lost: the retry creates no second one.
        self.emu("POST", "faults", {"kind": "drop_after_write", "route": "POST /customer", "count": 1})
        move = self._invoice()
        self.run_worker()
        self._run_deferred_work()
        self._synced(self.customer)
        self._synced(move)
        sent = self.qbo_requests("POST", "/customer")
        self.assertEqual(len(sent), 2, "the lost answer was asked again")
        self.assertEqual(sent[0]["query"], sent[1]["query"], "with the same requestid")
        [created] = self.qbo_docs("Customer", DisplayName="Blue Door Studio")
        self.assertEqual(self.customer.xero_contact_id, created["Id"])
        # Another invoice for the same customer: no second customer either.
        second = self._invoice()
        self.run_worker()
        self._synced(second)
        self.assertEqual(len(self.qbo_state()["Customer"]), 1)

    def test_customer_already_in_quickbooks_is_found_by_email(self):
        # Entered by hand in QuickBooks under another name: matched by email, not created again.
        existing = self.connection._qbo_client().create(
            "Customer", {"DisplayName": "Blue Door (QB)", "PrimaryEmailAddr": {"Address": "hi@bluedoor.test"}})
        move = self._invoice()
        self.run_worker()
        self._synced(move)
        self.assertEqual(list(self.qbo_state()["Customer"]), [existing["Id"]])
        self.assertEqual(self.customer.xero_contact_id, existing["Id"])
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(qbo["CustomerRef"]["value"], existing["Id"])

    def test_payments_of_several_invoices_reach_quickbooks_in_one_batch_request(self):
        """A run's first sends of payments: their invoices read by one query and the payments made by
        one batch request, each job with its own QuickBooks id, each invoice paid to the cent."""
        moves = self._invoice() | self._invoice() | self._invoice()
        self.run_worker()
        for move in moves:
            self._synced(move)
        before = len(self.qbo_requests("POST", "/batch")), len(self.qbo_requests("POST", "/payment"))
        payments = self.env["account.payment"]
        for move in moves:
            payments |= self._pay(move)
        self.run_worker()
        self.assertEqual(len(self.qbo_requests("POST", "/batch")), before[0] + 1)
        self.assertEqual(len(self.qbo_requests("POST", "/payment")), before[1], "none sent one by one")
        links = payments.xero_payment_link_ids
        for link in links:
            self._synced(link)
        self.assertEqual(len(set(links.mapped("xero_id"))), 3)
        for move in moves:
            [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
            self.assertEqual(cents(qbo["Balance"]), 0)
        self.assertEqual(sorted(cents(p["TotalAmt"]) for p in self.qbo_state()["Payment"].values()),
                         sorted(cents(m.amount_total) for m in moves))

    def test_invoices_throttled_before_their_batch_left_go_as_first_sends_again(self):
        """QuickBooks answers the batch request of three first sends 429: none of them reached it,
        so the jobs are not "may be in QuickBooks", and once the realm's wait is over they go in one
        batch request again instead of being looked up and sent one by one."""
        self.customer.company_id = self.env.company
        warm = self._invoice()  # the customer is in QuickBooks first
        self.run_worker()
        self._synced(warm)
        moves = self._invoice() | self._invoice() | self._invoice()
        self.emu("POST", "faults", {"kind": "status", "status": 429, "route": "POST /batch", "count": 1})
        self.run_worker()
        jobs = self.env["coworks.sync.job"].search([("res_model", "=", "account.move"), ("res_id", "in", moves.ids)])
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(jobs.mapped("maybe_sent"), [False] * 3, "a throttled request was not applied")
        self.assertTrue(all(jobs.mapped("next_attempt_at")), "they wait for the realm's minute")
        before = len(self.qbo_requests("POST", "/batch")), len(self.qbo_requests("POST", "/invoice"))
        looked_up = lambda: sum("DocNumber" in (r.get("query") or "") for r in self.qbo_requests("GET", "/query"))  # noqa: E731
        before_look_ups = looked_up()
        self.connection._qbo_client().limiter.reset()  # Intuit's 60 s are over
        self._run_deferred_work()
        for move in moves:
            self._synced(move)
        self.assertEqual(len(self.qbo_requests("POST", "/batch")), before[0] + 1)
        self.assertEqual(len(self.qbo_requests("POST", "/invoice")), before[1], "none sent one by one")
        self.assertEqual(looked_up(), before_look_ups, "none looked up by its number first")
        self.assertEqual(len(self.qbo_docs("Invoice")), 4)

    def test_partial_then_full_payment(self):
        move = self._invoice()
        self.run_worker()
        self._synced(move)
        total = move.amount_total
        first = self._pay(move, amount=100.0, payment_date=fields.Date.today())
        self.run_worker()
        self._synced(first.xero_payment_link_ids)
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(cents(qbo["Balance"]), cents(total - 100))
        second = self._pay(move, amount=total - 100.0)
        self.run_worker()
        self._synced(second.xero_payment_link_ids)
        self.assertIn(move.payment_state, ("paid", "in_payment"))
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(cents(qbo["Balance"]), cents(0))
        payments = self.qbo_state()["Payment"].values()
        self.assertEqual(sorted(cents(p["TotalAmt"]) for p in payments), sorted([cents(100), cents(total - 100)]))
        for p in payments:
            self.assertEqual(p["DepositToAccountRef"]["value"], "35")
            self.assertEqual(p["Line"][0]["LinkedTxn"][0], {"TxnId": qbo["Id"], "TxnType": "Invoice"})

    def test_credit_note_becomes_credit_memo(self):
        refund = self._invoice([
            {"product_id": self.day_pass.id, "quantity": 2, "price_unit": 35.0,
             "tax_ids": [Command.set(self.tax_sale_a.ids)]}], move_type="out_refund")
        self.run_worker()
        self._synced(refund)
        [memo] = self.qbo_docs("CreditMemo", DocNumber=refund.name)
        self.assertEqual(cents(memo["TotalAmt"]), cents(refund.amount_total))
        self.assertEqual(cents(memo["RemainingCredit"]), cents(refund.amount_total))
        self.assertFalse(self.qbo_docs("Invoice", DocNumber=refund.name))
        self.assertEqual(refund.xero_id, memo["Id"])

    def test_paid_invoice_refunded_with_a_credit_note_paid_out(self):
        move = self._invoice()
        self._pay(move)
        self.run_worker()
        self._synced(move)
        reversal = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=move.ids).create(
                {"reason": "Room closed", "journal_id": move.journal_id.id})
        credit = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        credit.action_post()
        refund = self._pay(credit)
        self.run_worker()
        self._synced(credit)
        self._synced(refund.xero_payment_link_ids)
        [memo] = self.qbo_docs("CreditMemo", DocNumber=credit.name)
        self.assertEqual(cents(memo["TotalAmt"]), cents(credit.amount_total))
        self.assertEqual(cents(memo["RemainingCredit"]), cents(0), "the credit is used up by the refund")
        [expense] = self.qbo_state()["Purchase"].values()
        self.assertEqual(cents(expense["TotalAmt"]), cents(credit.amount_total))
        self.assertEqual(expense["AccountRef"]["value"], "35", "the money leaves the mapped bank account")
        [inv] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(cents(inv["Balance"]), cents(0))

    def test_cancel_voids_the_invoice(self):
        move = self._invoice()
        self.run_worker()
        self._synced(move)
        move.button_draft()
        move.button_cancel()
        self.run_worker()
        self._synced(move)
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertTrue(qbo["PrivateNote"].startswith("Voided"), qbo.get("PrivateNote"))
        self.assertEqual(cents(qbo["TotalAmt"]), cents(0))
        self.assertEqual(move.xero_status, "VOIDED")

    def test_fault_is_readable_on_the_job_and_retry_after_the_fix_succeeds(self):
        # The plan item is made inactive in QuickBooks after the refresh: Odoo's cache still
        # offers it, QuickBooks refuses the invoice (610).
        client = self.connection._qbo_client()
        item = client.read("Item", "2")
        client.update("Item", {"Id": "2", "SyncToken": item["SyncToken"], "Active": False})
        move = self._invoice()
        self.run_worker()
        job = self.jobs_of(move)
        self.assertEqual(job.state, "error")
        self.assertIn("QuickBooks does not know (or has made inactive) the Item", job.error_message)
        self.assertIn("[QBO 610]", job.error_message)
        self.assertEqual(job.error_code, "qbo_610")
        self.assertNotIn("Traceback", job.error_message)
        self.assertFalse(self.qbo_docs("Invoice", DocNumber=move.name))
        # The fix: map the kind to another item, then Retry.
        mapping = self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", self.connection.id), ("item_kind", "=", "plan")])
        mapping.xero_item_id = self.qref("coworks.xero.item", code="3")
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(cents(qbo["TotalAmt"]), cents(move.amount_total))
        self.assertEqual(qbo["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"], "3")

    def test_drift_report_compares_with_quickbooks(self):
        agree, changed = self._invoice(), self._invoice()
        self.run_worker()
        self._synced(agree)
        self._synced(changed)
        self.assertFalse(self.connection.last_error)
        self.assertTrue(self.connection.last_success_at, "the health line counts QuickBooks calls too")
        # An accountant voids one of them in QuickBooks.
        client = self.connection._qbo_client()
        row = client.read("Invoice", changed.xero_id)
        client.void("Invoice", row["Id"], row["SyncToken"])
        differ = self.connection.sudo()._coworks_check_drift()
        self.assertEqual(differ, 1)
        self.assertEqual(self.connection.drift_agree_count, 1)
        drift = self.env["coworks.sync.drift"].sudo().search([("connection_id", "=", self.connection.id)])
        self.assertEqual(drift.move_id, changed)

    def test_payment_made_in_quickbooks_comes_back_once_without_echo(self):
        """A person records a part payment in QuickBooks: the pull (Change Data Capture) registers it on
        the journal mapped to that bank account, reconciled, and nothing goes back; a second pull adds
        nothing."""
        import datetime
        move = self._invoice()
        self.run_worker()
        self._synced(move)
        [qbo] = self.qbo_docs("Invoice", DocNumber=move.name)
        client = self.connection._qbo_client()
        paid = client.create("Payment", {
            "CustomerRef": qbo["CustomerRef"], "TotalAmt": "100.00", "TxnDate": fields.Date.today().isoformat(),
            "DepositToAccountRef": {"value": "35"}, "PaymentRefNum": "CHQ 4711",
            "Line": [{"Amount": "100.00", "LinkedTxn": [{"TxnId": qbo["Id"], "TxnType": "Invoice"}]}]})
        before = len(self.qbo_requests("POST", "/payment"))
        for minutes in (61, 122):  # the pull when due, then again
            self.run_worker_at(fields.Datetime.now() + datetime.timedelta(minutes=minutes))
            self.env.invalidate_all()
            self.assertEqual(move.payment_state, "partial")
            self.assertAlmostEqual(move.amount_residual, move.amount_total - 100.0)
        [change] = self.env["coworks.sync.inbound.change"].sudo().search([("move_id", "=", move.id)])
        self.assertRecordValues(change, [{"kind": "payment", "state": "applied", "remote_id": paid["Id"]}])
        self.assertEqual(change.payment_id.amount, 100.0)
        self.assertIn("CHQ 4711", change.payment_id.memo or "")
        self.assertEqual(len(self.qbo_requests("POST", "/payment")), before, "a payment from QuickBooks is not sent back")
        self.assertEqual(len(self.qbo_state()["Payment"]), 1)

    def test_refresh_rotates_the_refresh_token_and_stores_it(self):
        conn = self.connection.sudo()
        before = conn.refresh_token
        self.emu("POST", "faults", {"kind": "expire_tokens", "route": "GET /query", "count": 1})
        conn.action_xero_refresh()
        conn.invalidate_recordset()
        after = conn.refresh_token
        self.assertTrue(after and after != before, "Intuit's rotated refresh token is kept")
        # The stored one is the live one: the next refresh uses it and rotates again.
        self.emu("POST", "faults", {"kind": "expire_tokens", "route": "GET /query", "count": 1})
        conn.action_xero_refresh()
        conn.invalidate_recordset()
        self.assertNotIn(conn.refresh_token, (before, after))
        self.assertEqual(conn.state, "connected")
        refreshes = self.qbo_requests("POST", "/oauth2/v1/tokens/bearer")
        self.assertEqual(len(refreshes), 2)

    def test_dead_grant_pauses_the_connection_and_keeps_the_jobs(self):
        self.emu("POST", "faults", {"kind": "refresh_token_dead", "route": "*", "count": 1})
        self.emu("POST", "faults", {"kind": "expire_tokens", "route": "*", "count": 1})
        move = self._invoice()
        self.run_worker()
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.state, "needs_reconnect")
        self.assertIn("QuickBooks", self.connection.last_error)
        self.assertIn(self.jobs_of(self.customer).state, ("pending", "error"))
        self.assertFalse(self.qbo_docs("Invoice", DocNumber=move.name))


@tagged("post_install", "-at_install")
class TestQboConnect(CoworksQboHttpCase):

    def setUp(self):
        super().setUp()
        self.authenticate("qbo_admin", "qbo_admin")

    def test_connect_through_the_routes_with_the_realm_chosen(self):
        url, params = self.oauth_start(self.company_2)
        self.assertEqual(params["scope"], "com.intuit.quickbooks.accounting")
        self.assertEqual(params["redirect_uri"], self.base_url() + QBO_CALLBACK_PATH)
        self.assertEqual(params["client_id"], seed.DEMO_CLIENT_ID)
        callback, offered = self.oauth_consent(url, REALM_UK)
        self.assertIn(REALM_US, offered)
        self.assertIn(REALM_UK, offered)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
        self.assertEqual(query["realmId"], REALM_UK)
        resp = self.oauth_callback(callback)
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        self.assertIn("action_xero_connected", resp.headers["Location"])
        conn = self.connection_of(self.company_2)
        self.assertEqual((conn.provider, conn.state, conn.tenant_id), ("qbo", "connected", REALM_UK))
        self.assertEqual(conn.tenant_name, "Coworks Demo UK")
        self.assertEqual(conn.base_currency_code, "GBP")
        self.assertTrue(conn.access_token and conn.refresh_token)
        self.assertTrue(conn.reference_data_refreshed_at)
        self.assertEqual(self.env["coworks.xero.tax.rate"].search_count(
            [("connection_id", "=", conn.id), ("tax_type", "=", "2"), ("rate", "=", 20.0)]), 1)
        # The callback is single use.
        again = self.oauth_callback(callback)
        self.assertEqual(again.status_code, 400)
        self.assertIn("already used", again.text)

    def test_webhook_is_verified_stored_once_and_read(self):
        """Intuit's signed notification: 401 without the verifier token or with a bad signature; a good
        one is stored once per event (redeliveries add nothing) for this realm's connection."""
        import json
        from qbo_emulator.webhooks import sign
        from ..models.sync_connection_qbo import QBO_WEBHOOK_PATH
        conn = self.env["coworks.sync.connection"].sudo().create({
            "company_id": self.company_2.id, "provider": "qbo", "tenant_id": "9341000000001", "state": "connected"})
        body = json.dumps({"eventNotifications": [{"realmId": "9341000000001", "dataChangeEvent": {"entities": [
            {"name": "Payment", "id": "77", "operation": "Create", "lastUpdated": "2026-12-03T08:41:44-0800"}]}}]})

        def post(signature):
            return self.url_open(QBO_WEBHOOK_PATH, data=body, headers={
                "intuit-signature": signature, "Content-Type": "application/json"}).status_code

        Event = self.env["coworks.sync.inbound.event"].sudo()
        self.assertEqual(post(sign("verifier-1", body.encode())), 401, "no verifier token set: nothing accepted")
        self.env["ir.config_parameter"].sudo().set_param("coworks_xero.qbo_webhook_verifier", "verifier-1")
        self.assertEqual(post(sign("another", body.encode())), 401)
        self.assertEqual(post(sign("verifier-1", body.encode())), 200)
        self.assertEqual(post(sign("verifier-1", body.encode())), 200)  # a redelivery
        events = Event.search([("connection_id", "=", conn.id)])
        self.assertRecordValues(events, [{"category": "PAYMENT", "resource_id": "77", "state": "new"}])

    def test_forged_state_and_non_admin_are_refused(self):
        _url, params = self.oauth_start(self.company_2)
        forged = self.url_open(f"{QBO_CALLBACK_PATH}?code=x&realmId={REALM_UK}&state={params['state']}x",
                               allow_redirects=False)
        self.assertEqual(forged.status_code, 400)
        self.assertIn("invalid or has expired", forged.text)
        self.assertEqual(self.connection_of(self.company_2).state, "draft")
        # A Xero state is no QuickBooks state.
        self.authenticate(None, None)
        new_test_user(self.env, login="qbo_accountant", groups="account.group_account_manager",
                      company_id=self.company.id)
        self.authenticate("qbo_accountant", "qbo_accountant")
        resp = self.url_open(f"/coworks_xero/qbo/oauth/start?company_id={self.company.id}", allow_redirects=False)
        self.assertEqual(resp.status_code, 403)

    def test_the_realm_of_another_company_and_another_realm_are_refused(self):
        # The main company syncs with the US realm: company 2 may not take it.
        url, _params = self.oauth_start(self.company_2)
        callback, _offered = self.oauth_consent(url, REALM_US)
        resp = self.oauth_callback(callback)
        self.assertEqual(resp.status_code, 400)
        self.assertIn("already syncs with this QuickBooks company", resp.text)
        self.assertFalse(self.connection_of(self.company_2).sudo().refresh_token,
                         "the code was not exchanged: no tokens of another company's realm kept")
        # Reconnecting the main company to another realm than its own is refused too.
        url, _params = self.oauth_start(self.company)
        callback, _offered = self.oauth_consent(url, REALM_UK)
        resp = self.oauth_callback(callback)
        self.assertEqual(resp.status_code, 400)
        self.assertIn("Coworks Demo US", resp.text)
        self.assertEqual(self.connection.tenant_id, REALM_US)

    def test_disconnect_revokes_the_grant(self):
        conn = self.connection.sudo()
        access = conn.access_token
        settings = self.env["res.config.settings"].with_user(self.qbo_admin).create({})
        self.assertEqual(settings.coworks_sync_provider, "qbo")
        settings.action_coworks_xero_disconnect()
        conn.invalidate_recordset()
        self.assertEqual(conn.state, "disconnected")
        self.assertFalse(conn.access_token or conn.refresh_token)
        self.assertEqual(len(self.qbo_requests("POST", "/oauth2/v1/tokens/revoke")), 1)
        # The revoked grant's token no longer reads the company.
        resp = requests.get(f"{self.emulator.base_url}/v3/company/{REALM_US}/companyinfo/{REALM_US}",
                            headers={"Authorization": "Bearer " + access, "Accept": "application/json"},
                            timeout=10)
        self.assertEqual(resp.status_code, 401)
        # Reconnecting the same realm carries on with the same connection and its links.
        url, _params = self.oauth_start(self.company)
        callback, _offered = self.oauth_consent(url, REALM_US)
        resp = self.oauth_callback(callback)
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        conn.invalidate_recordset()
        self.assertEqual((conn.state, conn.tenant_id), ("connected", REALM_US))

    def test_provider_cannot_change_while_connected(self):
        with self.assertRaisesRegex(UserError, "disconnect it first"):
            self.company.coworks_sync_provider = "xero"
        # A company never connected switches freely; its connection follows at connect time.
        self.company_2.coworks_sync_provider = "xero"
        self.company_2.coworks_sync_provider = "qbo"
        _url, _params = self.oauth_start(self.company_2)
        self.assertEqual(self.connection_of(self.company_2).provider, "qbo")

    def test_settings_choose_the_provider_and_connect(self):
        from ..models.sync_connection_qbo import QBO_START_PATH
        Settings = self.env["res.config.settings"].with_user(self.qbo_admin).with_company(self.company_2)
        settings = Settings.create({})
        self.assertEqual(settings.coworks_sync_provider, "qbo")
        self.assertEqual(settings.coworks_qbo_client_id, seed.DEMO_CLIENT_ID)
        self.assertTrue(settings.coworks_qbo_redirect_uri.endswith(QBO_CALLBACK_PATH))
        action = settings.action_coworks_xero_connect()
        self.assertEqual(action["url"], f"{QBO_START_PATH}?company_id={self.company_2.id}")
        self.assertEqual(self.connection_of(self.company_2).provider, "qbo")
        # No secret: refused before the admin leaves Odoo.
        settings = Settings.create({"coworks_qbo_client_secret": False})
        with self.assertRaisesRegex(UserError, "QuickBooks app's client ID and client secret"):
            settings.action_coworks_xero_connect()
        self.env["ir.config_parameter"].sudo().set_param("coworks_xero.qbo_client_secret", seed.DEMO_CLIENT_SECRET)
        # Pasted with a space and a line break: saved trimmed, as the Xero app's are.
        Settings.create({"coworks_qbo_client_id": f" {seed.DEMO_CLIENT_ID}\n"}).set_values()
        self.assertEqual(self.env["ir.config_parameter"].sudo().get_param("coworks_xero.qbo_client_id"),
                         seed.DEMO_CLIENT_ID)
        # Back to Xero: the Xero flow, with its own app (none entered in this database).
        settings = Settings.create({"coworks_sync_provider": "xero"})
        settings.set_values()
        self.assertEqual(self.company_2.coworks_sync_provider, "xero")
        with self.assertRaisesRegex(UserError, "Xero app's client ID"):
            settings.action_coworks_xero_connect()
        # The view offers the choice and keeps each provider's app fields apart.
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="coworks_sync_provider"', arch)
        self.assertIn("Connect to QuickBooks", arch)
        self.assertIn("Connect to Xero", arch)
        # The QuickBooks block is its own view's (res_config_settings_qbo_views.xml), placed before the
        # Xero app's block, and each shows for its provider only.
        from lxml import etree
        tree = etree.fromstring(arch)
        [qbo_block] = tree.xpath("//div[contains(@class, 'o_coworks_qbo_app')]")
        [xero_block] = tree.xpath("//div[@name='coworks_xero_app']")
        self.assertIs(qbo_block.getnext(), xero_block)
        self.assertEqual(qbo_block.get("invisible"), "coworks_sync_provider != 'qbo'")
        self.assertEqual(xero_block.get("invisible"), "coworks_sync_provider and coworks_sync_provider != 'xero'")
        self.assertTrue(qbo_block.xpath(".//field[@name='coworks_qbo_client_id']"))
        self.assertFalse(xero_block.xpath(".//field[starts-with(@name, 'coworks_qbo_')]"))

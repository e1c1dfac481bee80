"""The admin's first hour, in headless Chromium: connect, map, post, read the log, break a mapping,
see the failure on the invoice, fix it, retry, see it synced. Between tours the test runs the sync
cron, as Odoo's cron runner would after each commit, and checks what Xero (the emulator) holds.

With COWORKS_TOUR_SCREENSHOTS=1 it also takes the README's screenshots (docs/screenshots/): a test
run does not rewrite the clone's files, and each screenshot costs a browser of its own."""
import base64
import json
import os
import pathlib
from urllib.parse import urljoin

from odoo import Command
from odoo.tests import tagged
from odoo.tests.common import ChromeBrowser

from xero_emulator import seed

from .common_http import CoworksXeroHttpCase

SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SETTINGS = "/odoo/action-account.action_account_config"
ITEM_MAPPINGS = "/odoo/action-coworks_xero.action_xero_product_mapping"
TAX_MAPPINGS = "/odoo/action-coworks_xero.action_xero_tax_mapping"
SYNC_LOG = "/odoo/action-coworks_xero.action_sync_job"


@tagged("post_install", "-at_install")
class TestAdminTour(CoworksXeroHttpCase):

    def tour(self, url, name):
        self.start_tour(url, name, login="xero_admin", timeout=90)
        self.env.invalidate_all()

    def screenshot(self, url, ready_selector, filename, scroll_to=None):
        """A PNG of ``url`` once ``ready_selector`` is on the page, for the README."""
        if os.environ.get("COWORKS_TOUR_SCREENSHOTS") != "1":
            return
        browser = ChromeBrowser(self, headless=True, success_signal="test successful")
        try:
            with self.allow_requests(browser=browser):
                self.authenticate("xero_admin", "xero_admin", browser=browser)
                self.cr.flush()
                self.cr.clear()
                browser.navigate_to(urljoin(self.base_url(), url))
                ready = f"!!document.querySelector({json.dumps(ready_selector)})"
                self.assertTrue(browser._wait_ready(ready, timeout=30), f"{ready_selector} never appeared on {url}")
                # Bring the subject into view (the Xero block is far down the settings page).
                browser._websocket_request("Runtime.evaluate", params={"expression": (
                    f"document.querySelector({json.dumps(scroll_to or ready_selector)})"
                    ".scrollIntoView({block: 'start'}); new Promise(r => setTimeout(r, 300))"), "awaitPromise": True})
                shot = browser._websocket_request("Page.captureScreenshot", params={"format": "png"})
        finally:
            browser.stop()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / filename).write_bytes(base64.b64decode(shot["data"]))

    def draft_invoice(self):
        return self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.partner_a.id, "invoice_date": "2026-11-20",
            "invoice_line_ids": [Command.create({"product_id": self.day_pass.id, "quantity": 2,
                                                 "price_unit": 35.0, "tax_ids": [Command.set(self.tax_sale_a.ids)]})],
        })

    def test_admin_first_hour(self):
        conn = self.connection
        # A company that has never connected (its mappings were prepared, as a consultant might).
        conn.sudo().write({"state": "draft", "tenant_id": False, "tenant_name": False, "remote_connection_id": False,
                           "access_token": False, "refresh_token": False, "token_expires_at": False})
        # The operator's GST is the organisation's: 10 % in Odoo and in Xero (the tour maps it again
        # without "Send Odoo's tax amounts", and Xero computes the tax).
        self.tax_sale_a.write({"name": "Coworking GST 10%", "amount": 10.0})
        self.partner_a.coworks_campus_id = self.campus_hbr
        # The test chart has cash-basis taxes: without this, opening Settings warns about it.
        self.company.tax_exigibility = True
        # Xero's consent page lives outside Odoo, where a tour cannot click: pre-answer it with
        # both organisations ticked, so Odoo asks which one this company syncs with.
        self.emu("POST", "consent", {"tenant_ids": [seed.TENANT_AU, seed.TENANT_UK]})

        self.tour(SETTINGS, "coworks_xero_connect")
        self.assertEqual((conn.state, conn.tenant_id), ("connected", seed.TENANT_AU))
        self.screenshot(SETTINGS, "#coworks_xero button[name=action_coworks_xero_disconnect]", "settings.png",
                        scroll_to="#coworks_xero")

        self.tour(ITEM_MAPPINGS, "coworks_xero_edit_mapping")
        day_pass_mapping = self.env["coworks.xero.product.mapping"].search(
            [("connection_id", "=", conn.id), ("item_kind", "=", "day_pass")])
        self.assertEqual(day_pass_mapping.tracking_option_id.name, "Online")
        self.screenshot(f"{ITEM_MAPPINGS}/{day_pass_mapping.id}", ".o_form_view .o_field_widget[name=tracking_option_id]",
                        "mapping_form.png")

        invoice = self.draft_invoice()
        self.tour(f"/odoo/action-account.action_move_out_invoice_type/{invoice.id}", "coworks_xero_post_invoice")
        self.assertEqual(invoice.state, "posted")
        self.run_worker()
        xero = self.xero_invoice(invoice.name)
        self.assertEqual(xero["Status"], "AUTHORISED")
        self.assertEqual(float(xero["Total"]), invoice.amount_total)
        tracking = {(t["Name"], t["Option"]) for t in xero["LineItems"][0]["Tracking"]}
        self.assertEqual(tracking, {("Campus", "Harbour"), ("Channel", "Online")})
        self.tour(SYNC_LOG, "coworks_xero_log_synced")

        # A hurried manager removes the tax mapping; the next invoice cannot be sent.
        self.tour(TAX_MAPPINGS, "coworks_xero_break_mapping")
        self.assertFalse(self.env["coworks.xero.tax.mapping"].search([("tax_id", "=", self.tax_sale_a.id)]))
        second = self.draft_invoice()
        self.tour(f"/odoo/action-account.action_move_out_invoice_type/{second.id}", "coworks_xero_post_invoice")
        self.run_worker()
        job = self.jobs_of(second).filtered(lambda j: j.kind == "invoice")
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIsNone(self.xero_invoice(second.name))
        self.tour(f"/odoo/action-account.action_move_out_invoice_type/{second.id}", "coworks_xero_see_failure")
        self.screenshot(SYNC_LOG, ".o_list_view .o_data_row", "sync_log.png")

        self.tour(TAX_MAPPINGS, "coworks_xero_fix_mapping")
        self.tour(SYNC_LOG, "coworks_xero_retry")
        self.assertEqual(job.state, "pending")
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertEqual(self.xero_invoice(second.name)["Status"], "AUTHORISED")
        self.tour(f"/odoo/action-account.action_move_out_invoice_type/{second.id}", "coworks_xero_invoice_synced")

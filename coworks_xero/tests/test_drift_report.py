"""The drift report: a difference made behind the addon's back is found, fixed in one click."""
import datetime
import uuid
from unittest.mock import patch

from odoo import Command, fields
from odoo.tests import tagged

from ..services.xero.ratelimit import RateLimiter
from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestDriftReport(CoworksXeroEmulatorCase):

    def _edit_in_xero(self, invoice, unit_amount):
        """An accountant changes the invoice's price in Xero."""
        xero = self.xero_invoice(invoice.name)
        lines = [{k: line[k] for k in ("Description", "Quantity", "AccountCode", "TaxType") if k in line}
                 for line in xero["LineItems"]]
        lines[0]["UnitAmount"] = unit_amount
        client = self.connection._xero_client()
        [res] = client.save_invoices([{"InvoiceID": xero["InvoiceID"], "LineItems": lines}], uuid.uuid4().hex,
                                     refs=["edit"])
        self.assertTrue(res.ok, res.message)

    def _both_sides_notes(self, invoice):
        return [m.body for m in invoice.message_ids if "also edited in Xero" in (m.body or "")]

    def test_edited_on_both_sides_ends_with_odoos_version_and_a_note(self):
        """The accountant changes the price in Xero while a user edits the invoice in Odoo: the
        next push leaves Odoo's version in Xero (the document of record) and says on the
        document and in the log what it replaced; an edit made in Odoo alone says nothing."""
        invoice, alone = self._invoice(350.0), self._invoice(200.0)
        self.run_worker()
        self.emu("POST", "clock", {"advance": 120})  # the accountant's edit, two minutes later
        self._edit_in_xero(invoice, 99.0)
        for move, price in ((invoice, 400.0), (alone, 210.0)):
            move.button_draft()
            move.write({"invoice_line_ids": [Command.update(move.invoice_line_ids[0].id, {"price_unit": price})]})
            move.action_post()
        self.run_worker()
        for move in (invoice, alone):
            xero = self.xero_invoice(move.name)
            self.assertEqual((float(xero["Total"]), xero["InvoiceID"]), (move.amount_total, move.xero_id))
        [note] = self._both_sides_notes(invoice)
        self.assertIn("lines", note)
        self.assertIn("document of record", note)
        self.assertFalse(self._both_sides_notes(alone))
        job = self.env["coworks.sync.job"].search([("res_model", "=", "account.move"), ("res_id", "=", invoice.id),
                                                   ("kind", "=", "invoice"), ("state", "=", "done")],
                                                  order="id desc", limit=1)
        self.assertIn("also edited in Xero", job.log_note or "")

    def test_difference_made_in_xero_is_found_and_pushing_again_fixes_it(self):
        self._invoice(350.0)  # one that stays as sent
        edited = self._invoice(120.0)
        self.run_worker()
        conn = self.connection
        conn._coworks_check_drift()
        self.assertEqual((conn.drift_agree_count, conn.drift_differ_count), (2, 0))

        self._edit_in_xero(edited, 99.0)
        self.emu("DELETE", "requests")
        conn._coworks_check_drift()
        self.assertEqual((conn.drift_agree_count, conn.drift_differ_count), (1, 1))
        [row] = self.env["coworks.sync.drift"].search([("connection_id", "=", conn.id)])
        self.assertEqual((row.move_id, row.problem), (edited, "total"))
        self.assertEqual(row.odoo_value, f"{edited.amount_total:.2f}")
        self.assertIn(edited.name, row.note)
        # Read back in pages: one request per kind for a handful of documents.
        self.assertEqual(self.xero_requests()["counts"].get("GET /Invoices"), 1)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual((settings.coworks_xero_drift_agree_count, settings.coworks_xero_drift_differ_count), (1, 1))

        row.action_push_again()
        self.run_worker()
        self.assertEqual(float(self.xero_invoice(edited.name)["Total"]), edited.amount_total)
        conn._coworks_check_drift()
        self.assertEqual((conn.drift_agree_count, conn.drift_differ_count), (2, 0))
        self.assertFalse(self.env["coworks.sync.drift"].search([("connection_id", "=", conn.id)]))

    def test_void_in_xero_can_be_accepted_and_other_rows_ignored(self):
        invoice = self._invoice(200.0)
        self.run_worker()
        client = self.connection._xero_client()
        [res] = client.save_invoices([{"InvoiceID": invoice.xero_id, "Status": "VOIDED"}], uuid.uuid4().hex,
                                     refs=["void"])
        self.assertTrue(res.ok, res.message)
        self.connection._coworks_check_drift()
        [row] = self.env["coworks.sync.drift"].search([("move_id", "=", invoice.id)])
        self.assertEqual((row.problem, row.remote_value), ("status", "VOIDED"))
        row.action_accept_xero()
        change = self.env["coworks.sync.inbound.change"].search([("move_id", "=", invoice.id), ("kind", "=", "void")])
        self.assertEqual(len(change), 1)
        self.assertFalse(row.exists())

        other = self._invoice(75.0)
        self.run_worker()
        self._edit_in_xero(other, 10.0)
        self.connection._coworks_check_drift()
        [row] = self.env["coworks.sync.drift"].search([("move_id", "=", other.id)])
        from odoo.exceptions import UserError
        with self.assertRaises(UserError):
            row.action_accept_xero()  # only a void can be accepted
        row.action_ignore()
        self.connection._coworks_check_drift()
        self.assertEqual(row.state, "ignored", "an ignored difference stays ignored")
        # What still differs: the voided invoice, which the default void rule only flags in Odoo.
        self.assertEqual(self.connection.drift_differ_count, 1)
        self.assertEqual(self.env["coworks.sync.drift"].search([("state", "=", "open")]).move_id, invoice)

    def test_documents_still_being_sent_are_not_reported(self):
        invoice = self._invoice(90.0)
        self.run_worker()
        self._edit_in_xero(invoice, 5.0)
        invoice.button_draft()
        invoice.action_post()  # queued again: its job is open
        self.connection._coworks_check_drift()
        self.assertFalse(self.env["coworks.sync.drift"].search([("move_id", "=", invoice.id)]))

    def test_a_failing_connection_never_fails_the_cron(self):
        self._invoice(60.0)
        self.run_worker()
        self.emu("POST", "faults", {"route": "GET /Invoices", "kind": "status", "status": 500, "count": 100})
        self.run_drift_cron()
        self.assertTrue(self.connection.drift_error)
        self.emu("DELETE", "faults")
        self.run_drift_cron()
        self.assertFalse(self.connection.drift_error)
        self.assertEqual(self.connection.drift_agree_count, 1)

    def run_drift_cron(self):
        """Run the drift cron the way Odoo's cron runner does (it commits a page at a time)."""
        self.env.flush_all()
        self.env.ref("coworks_xero.ir_cron_drift").sudo().method_direct_trigger()
        self.env.invalidate_all()

    def _invoice_reads(self):
        return [r for r in self.xero_requests()["requests"] if r["method"] == "GET" and r["path"].endswith("/Invoices")]

    def test_a_round_goes_on_from_the_page_where_the_last_run_stopped(self):
        """A big book is compared a page at a time, each page committed: a run whose time was up
        after a page leaves the round under way, and the next run compares only what is left."""
        from ..models import sync_drift
        invoices = [self._invoice(10.0 + i) for i in range(5)]
        self.run_worker()
        self._edit_in_xero(invoices[4], 1.0)
        with patch.object(sync_drift, "DRIFT_PAGE", 2):
            compared, finished = self.connection._coworks_drift_step()  # one page, as a run out of time leaves it
            self.assertEqual((compared, finished), (2, False))
            self.assertTrue(self.connection.drift_round_started_at)
            self.assertFalse(self.connection.drift_checked_at, "the figures wait for the round's end")
            self.emu("DELETE", "requests")
            self.run_drift_cron()
        # Pages of two: the three left are two pages, one read each; the two compared before are
        # not read again (a round started over would read three times).
        self.assertEqual(len(self._invoice_reads()), 2, self._invoice_reads())
        self.assertEqual((self.connection.drift_agree_count, self.connection.drift_differ_count), (4, 1))
        self.assertFalse(self.connection.drift_round_started_at)
        self.assertEqual(self.env["coworks.sync.drift"].search([("state", "=", "open")]).move_id, invoices[4])

    def test_a_spent_call_budget_puts_the_round_off_without_an_error(self):
        """Xero refuses calls for a while (429): the comparison waits, says nothing is wrong, and
        the cron comes back for it; the round then ends with its figures."""
        self._invoice(70.0)
        self.run_worker()
        self.emu("POST", "faults", {"route": "GET /Invoices", "kind": "status", "status": 429,
                                    "retry_after": 0.2, "count": 0})
        before = fields.Datetime.now()
        self.run_drift_cron()
        self.assertFalse(self.connection.drift_error)
        self.assertTrue(self.connection.drift_round_started_at, "the round is under way, not given up")
        self.assertFalse(self.connection.drift_checked_at)
        cron = self.env.ref("coworks_xero.ir_cron_drift")
        trigger = self.env["ir.cron.trigger"].sudo().search([("cron_id", "=", cron.id)], order="call_at desc", limit=1)
        self.assertTrue(trigger and trigger.call_at >= before + datetime.timedelta(seconds=50), trigger.call_at)
        self.emu("DELETE", "faults")
        RateLimiter.shared(name=self.connection._xero_client_config().accounting_url).reset()
        self.run_drift_cron()
        self.assertEqual((self.connection.drift_agree_count, self.connection.drift_differ_count), (1, 0))
        self.assertFalse(self.connection.drift_round_started_at)

    def test_compare_now_hands_a_big_book_to_the_cron(self):
        """A book too big to compare within a request: the button starts the round (its first
        page), says it goes on in the background, and the cron finishes it."""
        from ..models import sync_drift
        for price in (10.0, 20.0, 30.0):
            self._invoice(price)
        self.run_worker()
        cron = self.env.ref("coworks_xero.ir_cron_drift")
        with patch.object(sync_drift, "DRIFT_INLINE", 2), patch.object(sync_drift, "DRIFT_PAGE", 2):
            action = self.connection.action_coworks_check_drift()
            self.assertEqual(action["tag"], "display_notification")
            self.assertIn("in the background", action["params"]["message"])
            self.assertEqual(self.connection.drift_round_compared, 2)
            self.assertTrue(self.env["ir.cron.trigger"].sudo().search([("cron_id", "=", cron.id)]))
            self.run_drift_cron()
        self.assertEqual((self.connection.drift_agree_count, self.connection.drift_differ_count), (3, 0))
        self.assertFalse(self.connection.drift_round_started_at)

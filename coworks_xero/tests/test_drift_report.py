"""The drift report: a difference made behind the addon's back is found, fixed in one click."""
import uuid

from odoo import Command
from odoo.tests import tagged

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
        kept, edited = self._invoice(350.0), self._invoice(120.0)
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
        self.env["coworks.sync.drift"]._cron_check_drift()
        self.assertTrue(self.connection.drift_error)
        self.emu("DELETE", "faults")
        self.env["coworks.sync.drift"]._cron_check_drift()
        self.assertFalse(self.connection.drift_error)
        self.assertEqual(self.connection.drift_agree_count, 1)

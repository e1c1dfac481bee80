"""Invoices and credit notes in Xero exactly as in Odoo: fields, lines, mappings, totals to the
cent, edits, closures and credit notes, driven through Odoo's own actions and wizards."""
import uuid
from decimal import Decimal

from odoo import Command, fields
from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase


def cents(value):
    return Decimal(str(value)).quantize(Decimal("0.01"))


@tagged("post_install", "-at_install")
class DocumentsCase(CoworksXeroEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.ref("uom.decimal_product_uom").digits = 3
        cls.connection.sudo().write({"default_account_id": cls.acc_200.id})
        if not cls.connection.rounding_account_id:
            cls.connection.sudo().rounding_account_id = cls.acc_860
        Tax = cls.env["account.tax"]
        cls.gst = Tax.create({"name": "GST 10%", "amount": 10.0, "type_tax_use": "sale",
                              "company_id": cls.company.id})
        cls.gst_incl = Tax.create({"name": "GST 10% incl.", "amount": 10.0, "type_tax_use": "sale",
                                   "price_include_override": "tax_included", "company_id": cls.company.id})
        cls.vat15 = Tax.create({"name": "Tax 15%", "amount": 15.0, "type_tax_use": "sale",
                                "company_id": cls.company.id})
        cls.vat125_incl = Tax.create({"name": "Tax 12.5% incl.", "amount": 12.5, "type_tax_use": "sale",
                                      "price_include_override": "tax_included", "company_id": cls.company.id})
        output = cls.xref("coworks.xero.tax.rate", tax_type="OUTPUT")
        # GST agrees with Xero's 10 %; the 15 % and 12.5 % taxes differ on purpose and send Odoo's
        # amounts (the tests of foreign rates are about Odoo's figures reaching Xero).
        for tax in cls.gst | cls.gst_incl | cls.vat15 | cls.vat125_incl:
            cls.env["coworks.xero.tax.mapping"].create({
                "connection_id": cls.connection.id, "tax_id": tax.id, "tax_rate_id": output.id,
                "send_odoo_tax_amounts": tax.amount != 10.0})
        cls.overage = cls._kind_product("booking_overage", "Meeting room overage", 20.0, cls.gst)
        cls.booking = cls._kind_product("external_booking", "Event space booking", 500.0, cls.gst)
        cls.tx_fee = cls._kind_product("transaction_fee", "Card fee", 2.5, cls.gst)
        cls.custom_fee = cls._kind_product("custom_fee", "Key replacement", 15.0, cls.gst)
        cls.one_off = cls._kind_product("one_off", "Locker", 30.0, cls.gst)
        cls.no_kind = cls._kind_product(False, "Coffee", 4.5, cls.gst)
        cls.member = cls.env["res.partner"].create({"name": "Member One", "email": "one@example.com",
                                                    "coworks_campus_id": cls.campus_hbr.id})

    # ---------------------------------------------------------------- helpers

    def invoice(self, lines, partner=None, post=True, move_type="out_invoice", **vals):
        """``lines``: (product, qty, price, discount, taxes) tuples, or ("section"/"note", text)."""
        cmds = []
        for spec in lines:
            if isinstance(spec[0], str):
                cmds.append(Command.create({"display_type": spec[0], "name": spec[1]}))
                continue
            product, qty, price, disc, taxes = spec
            cmds.append(Command.create({
                "product_id": product.id, "quantity": qty, "price_unit": price, "discount": disc or 0.0,
                "tax_ids": [Command.set((taxes if taxes is not None else self.gst).ids)]}))
        move = self.env["account.move"].create({
            "move_type": move_type, "partner_id": (partner or self.member).id,
            "invoice_date": vals.pop("invoice_date", fields.Date.today()), "invoice_line_ids": cmds, **vals})
        if post:
            move.action_post()
        return move

    def xero_doc(self, move):
        """The Xero copy of ``move`` (by its stored ID), as Xero lists it."""
        key = "CreditNotes" if move.move_type == "out_refund" else "Invoices"
        id_key = "CreditNoteID" if move.move_type == "out_refund" else "InvoiceID"
        found = [d for d in self.xero_state()[key] if d[id_key] == move.xero_id]
        return found[0] if found else None

    def xero_lines_4dp(self, move):
        client = self.connection._xero_client()
        getter = client.get_credit_notes if move.move_type == "out_refund" else client.get_invoices
        return getter(ids=[move.xero_id])[0]["LineItems"]

    def assertTotalsMatch(self, move, doc=None):
        doc = doc or self.xero_doc(move)
        self.assertTrue(doc, f"{move.name} is not in Xero")
        got = (cents(doc["SubTotal"]), cents(doc["TotalTax"]), cents(doc["Total"]))
        want = (cents(move.amount_untaxed), cents(move.amount_tax), cents(move.amount_total))
        self.assertEqual(got, want, f"{move.name}: Xero (untaxed, tax, total) {got} != Odoo {want}")

    def doc_job(self, move, operation="upsert"):
        return self.jobs_of(move).filtered(lambda j: j.kind in ("invoice", "credit_note")
                                           and j.operation == operation)[:1]

    def hand_payment(self, move, amount):
        """A payment someone enters in Xero by hand (not through this integration)."""
        client = self.connection._xero_client()
        [result] = client.create_payments([{
            "Invoice": {"InvoiceID": move.xero_id}, "Account": {"Code": "090"},
            "Date": fields.Date.today().isoformat(), "Amount": amount}], uuid.uuid4().hex, refs=["hand"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def reverse(self, invoice, post=True):
        wizard = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({
                "journal_id": invoice.journal_id.id, "reason": "Member left early"})
        action = wizard.refund_moves()
        credit = self.env["account.move"].browse(action["res_id"])
        if post:
            credit.action_post()
        return credit


@tagged("post_install", "-at_install")
class TestInvoicePush(DocumentsCase):

    def test_posting_pushes_every_field_and_line(self):
        move = self.invoice([
            ("line_section", "November membership"),
            (self.plan_product, 2, 350.0, 10.0, self.gst),
            (self.day_pass, 3, 35.0, 0.0, self.gst),
            ("line_note", "Thanks for being a member"),
            ("line_subsection", "Extras"),  # Odoo 19's section within a section
            (self.one_off, 1, 0.0, 0.0, self.gst),  # zero-amount line is kept
            (self.no_kind, 4, 4.5, 0.0, self.env["account.tax"]),  # no tax, no kind
        ], ref="PO-778", invoice_date_due=fields.Date.add(fields.Date.today(), days=14),
            coworks_campus_id=self.campus_dtn.id)
        self.env.flush_all()
        self.run_worker()
        doc = self.xero_doc(move)
        self.assertEqual(doc["Status"], "AUTHORISED")
        self.assertEqual(doc["Type"], "ACCREC")
        self.assertEqual(doc["InvoiceNumber"], move.name)
        self.assertEqual(move.xero_number, move.name)
        self.assertEqual(doc["DateString"][:10], move.invoice_date.isoformat())
        self.assertEqual(doc["DueDateString"][:10], move.invoice_date_due.isoformat())
        self.assertEqual(doc["Reference"], "PO-778")
        self.assertEqual(doc["CurrencyCode"], move.currency_id.name)
        self.assertEqual(doc["LineAmountTypes"], "Exclusive")
        lines = doc["LineItems"]
        self.assertEqual(len(lines), len(move.invoice_line_ids))
        section, plan, day, note, subsection, zero, coffee = lines
        self.assertEqual(section["Description"], "November membership")
        self.assertEqual(subsection["Description"], "Extras")
        self.assertEqual(subsection["LineAmount"], 0)
        self.assertEqual(section["LineAmount"], 0)
        self.assertEqual(note["Description"], "Thanks for being a member")
        self.assertEqual((plan["Quantity"], plan["UnitAmount"], plan["DiscountRate"]), (2, 350, 10))
        self.assertEqual(plan["ItemCode"], "PLAN-HOTDESK")
        self.assertEqual(plan["TaxType"], "OUTPUT")
        self.assertEqual(plan["LineAmount"], 630)
        self.assertEqual(plan["TaxAmount"], 63)
        self.assertEqual(plan["Description"], move.invoice_line_ids[1].name)
        self.assertEqual(plan["Tracking"][0]["Name"], "Campus")
        self.assertEqual(plan["Tracking"][0]["Option"], "Downtown")  # the invoice's campus wins
        self.assertEqual((day["ItemCode"], day["Quantity"], day["LineAmount"]), ("DAYPASS", 3, 105))
        self.assertEqual((zero["ItemCode"], zero["LineAmount"]), ("ONEOFF", 0))
        # no kind, no mapping: the connection's default account; no tax: the no-tax TaxType
        self.assertEqual((coffee["AccountCode"], coffee["TaxType"], coffee["TaxAmount"]), ("200", "NONE", 0))
        self.assertNotIn("ItemCode", coffee)
        self.assertTotalsMatch(move, doc)
        self.assertEqual(move.xero_status, "AUTHORISED")

    def test_mapping_order_and_tracking(self):
        Mapping = self.env["coworks.xero.product.mapping"]
        online = self.xref("coworks.xero.tracking.option", name="Online")
        direct = self.xref("coworks.xero.tracking.option", name="Direct")
        # product override (account + second tracking category) beats the kind default
        special = self._kind_product("day_pass", "Weekend pass", 50.0, self.gst)
        Mapping.create({"connection_id": self.connection.id, "product_tmpl_id": special.product_tmpl_id.id,
                        "xero_account_id": self.acc_260.id, "tracking_option_id": online.id})
        # the kind default may carry a tracking option of another category too
        Mapping.search([("connection_id", "=", self.connection.id), ("item_kind", "=", "booking_overage")]).write(
            {"tracking_option_id": direct.id})
        # a mapping's option in the campus category does not override the campus
        Mapping.search([("connection_id", "=", self.connection.id), ("item_kind", "=", "one_off")]).write(
            {"tracking_option_id": self.xref("coworks.xero.tracking.option", name="Downtown").id})
        move = self.invoice([
            (special, 1, 50.0, 0.0, self.gst),
            (self.day_pass, 1, 35.0, 0.0, self.gst),
            (self.overage, 2, 20.0, 0.0, self.gst),
            (self.one_off, 1, 30.0, 0.0, self.gst),
        ])  # no campus on the invoice: the customer's (Harbour)
        self.assertEqual(move.coworks_campus_id, self.campus_hbr)
        move.invoice_line_ids[1].coworks_campus_id = self.campus_dtn  # per-line campus
        self.run_worker()
        special_l, day_l, overage_l, one_off_l = self.xero_doc(move)["LineItems"]

        def tracking(line):
            return sorted((t["Name"], t["Option"]) for t in line["Tracking"])

        self.assertEqual(special_l["AccountCode"], "260")
        self.assertNotIn("ItemCode", special_l)
        self.assertEqual(tracking(special_l), [("Campus", "Harbour"), ("Channel", "Online")])
        self.assertEqual(day_l["ItemCode"], "DAYPASS")
        self.assertEqual(tracking(day_l), [("Campus", "Downtown")])
        self.assertEqual(overage_l["ItemCode"], "OVERAGE")
        self.assertEqual(tracking(overage_l), [("Campus", "Harbour"), ("Channel", "Direct")])
        self.assertEqual(tracking(one_off_l), [("Campus", "Harbour")])

    def test_fees_go_to_their_account_with_tracking(self):
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst),
                             (self.tx_fee, 1, 2.5, 0.0, self.gst),
                             (self.custom_fee, 1, 15.0, 0.0, self.gst)], coworks_campus_id=self.campus_dtn.id)
        self.run_worker()
        _plan, tx, custom = self.xero_doc(move)["LineItems"]
        for line in (tx, custom):
            self.assertEqual(line["AccountCode"], "260")
            self.assertNotIn("ItemCode", line)
            self.assertEqual([(t["Name"], t["Option"]) for t in line["Tracking"]], [("Campus", "Downtown")])
        self.assertTotalsMatch(move)

    def test_missing_mapping_names_what_to_map_then_retry_succeeds(self):
        Mapping = self.env["coworks.xero.product.mapping"]
        Mapping.search([("connection_id", "=", self.connection.id), ("item_kind", "=", "custom_fee")]).unlink()
        self.connection.sudo().default_account_id = False
        move = self.invoice([(self.custom_fee, 1, 15.0, 0.0, self.gst), (self.no_kind, 1, 4.5, 0.0, self.gst)])
        self.run_worker()
        job = self.doc_job(move)
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("Custom fee", job.error_message)
        self.assertIn("Item mappings", job.error_message)
        self.assertIn("Key replacement", job.error_message, "the line must be named")
        self.assertEqual(move.xero_sync_state, "error")
        self.assertFalse(move.xero_id)

        Mapping.create({"connection_id": self.connection.id, "item_kind": "custom_fee",
                        "xero_account_id": self.acc_260.id})
        job.action_retry()
        self.run_worker()
        job = self.doc_job(move)
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("Coffee", job.error_message)
        self.assertIn("no item kind", job.error_message)

        self.connection.sudo().default_account_id = self.acc_200
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        lines = self.xero_doc(move)["LineItems"]
        self.assertEqual([l["AccountCode"] for l in lines], ["260", "200"])
        self.assertTotalsMatch(move)

    def test_archived_tracking_option_is_a_mapping_error(self):
        mapping = self.env["coworks.xero.campus.mapping"].search(
            [("connection_id", "=", self.connection.id), ("campus_id", "=", self.campus_hbr.id)])
        mapping.tracking_option_id = self.xref("coworks.xero.tracking.option", name="Riverside")
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        self.run_worker()
        job = self.doc_job(move)
        self.assertEqual((job.state, job.error_kind), ("error", "mapping"))
        self.assertIn("Riverside", job.error_message)
        self.assertIn("Harbour", job.error_message)

    def test_charges_created_by_automation_are_pushed(self):
        """Overage and booking charges created without the UI (billing engine, import)."""
        moves = self.env["account.move"].create([{
            "move_type": "out_invoice", "partner_id": self.member.id, "invoice_date": fields.Date.today(),
            "invoice_line_ids": [Command.create({"product_id": self.overage.id, "quantity": 3.5,
                                                "price_unit": 20.0, "tax_ids": [Command.set(self.gst.ids)]})],
        }, {
            "move_type": "out_invoice", "partner_id": self.partner_a.id, "invoice_date": fields.Date.today(),
            "coworks_campus_id": self.campus_dtn.id,
            "invoice_line_ids": [Command.create({"product_id": self.booking.id, "quantity": 1,
                                                "price_unit": 480.0, "tax_ids": [Command.set(self.gst.ids)]})],
        }])
        moves.action_post()
        self.run_worker()
        overage_doc, booking_doc = (self.xero_doc(m) for m in moves)
        self.assertEqual(overage_doc["LineItems"][0]["ItemCode"], "OVERAGE")
        self.assertEqual(overage_doc["LineItems"][0]["Quantity"], 3.5)
        self.assertEqual(overage_doc["LineItems"][0]["Tracking"][0]["Option"], "Harbour")
        self.assertEqual(booking_doc["LineItems"][0]["ItemCode"], "EXT-BOOKING")
        self.assertEqual(booking_doc["LineItems"][0]["Tracking"][0]["Option"], "Downtown")
        for move, doc in zip(moves, (overage_doc, booking_doc)):
            self.assertEqual(doc["InvoiceNumber"], move.name)
            self.assertTotalsMatch(move, doc)

    def test_reset_to_draft_before_the_worker_sends_nothing(self):
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        move.button_draft()
        self.run_worker()
        self.assertFalse(move.xero_id)
        job = self.doc_job(move)
        self.assertEqual(job.state, "skipped")  # "Not sent", never "Synced"
        self.assertIn("draft", job.log_note.lower())
        self.assertEqual(move.xero_sync_state, "skipped")
        self.assertIn("draft", move.xero_sync_note.lower())
        move.action_post()
        self.run_worker()
        self.assertEqual(self.xero_doc(move)["Status"], "AUTHORISED")


@tagged("post_install", "-at_install")
class TestTotals(DocumentsCase):

    CASES = [
        # (label, lines as (product attr, qty, price, discount, tax attr))
        ("thirds", [("day_pass", 3, 0.333, 0, "gst"), ("day_pass", 1, 0.335, 0, "gst")]),
        ("discounts", [("plan_product", 1, 99.99, 7, "gst"), ("day_pass", 3, 33.33, 7, "gst"),
                       ("overage", 0.333, 20.0, 12.5, "gst")]),
        ("15 percent", [("day_pass", 1, 25.06, 0, "vat15"), ("day_pass", 1, 25.61, 0, "vat15"),
                        ("day_pass", 1, 25.63, 0, "vat15")]),
        ("included 10", [("day_pass", 3, 1.01, 0, "gst_incl"), ("day_pass", 1, 9.99, 7, "gst_incl"),
                         ("overage", 2.5, 3.33, 0, "gst_incl")]),
        ("included 12.5", [("day_pass", 1, 1.01, 0, "vat125_incl"), ("day_pass", 1, 1.01, 0, "vat125_incl"),
                           ("day_pass", 1, 1.01, 0, "vat125_incl"), ("plan_product", 7, 0.07, 3, "vat125_incl")]),
        ("many lines", [("day_pass", 1, 1.05 + i / 100, 0, "vat15") for i in range(13)]),
        ("mixed with untaxed", [("day_pass", 1, 10.01, 0, "vat15"), ("no_kind", 3, 0.335, 0, None)]),
    ]

    def _make(self, spec, **vals):
        lines = [(getattr(self, p), q, u, d, getattr(self, t) if t else self.env["account.tax"])
                 for p, q, u, d, t in spec]
        return self.invoice(lines, **vals)

    def _check_all(self, method):
        self.company.tax_calculation_rounding_method = method
        moves = [(label, self._make(spec)) for label, spec in self.CASES]
        self.run_worker()
        for label, move in moves:
            with self.subTest(case=label, rounding=method):
                self.assertEqual(self.doc_job(move).state, "done", self.doc_job(move).error_message)
                self.assertTotalsMatch(move)
        return moves

    def test_round_per_line(self):
        moves = self._check_all("round_per_line")
        # no adjustment line is needed when Odoo rounds per line like Xero
        for _label, move in moves:
            self.assertNotIn("Rounding adjustment", [l.get("Description") for l in self.xero_doc(move)["LineItems"]])

    def test_round_globally(self):
        moves = dict(self._check_all("round_globally"))
        # the 15% case is the classic one: per line 11.44, globally 11.45
        move = moves["15 percent"]
        self.assertEqual(cents(move.amount_tax), Decimal("11.45"))
        self.assertIn("moved", self.doc_job(move).log_note)

    def test_quantity_and_price_detail_is_kept(self):
        move = self._make([("day_pass", 3, 0.333, 7, "gst")])
        self.run_worker()
        [line] = self.xero_lines_4dp(move)
        self.assertEqual((float(line["Quantity"]), float(line["UnitAmount"]), float(line["DiscountRate"])),
                         (3, 0.333, 7))
        self.assertTotalsMatch(move)

    def test_foreign_currency_with_odoo_rate(self):
        eur = self.setup_other_currency("EUR", rates=[(fields.Date.today(), 0.61)])
        move = self._make([("plan_product", 1, 333.33, 7, "gst"), ("day_pass", 3, 0.333, 0, "gst")],
                          currency_id=eur.id)
        self.company.tax_calculation_rounding_method = "round_globally"
        move2 = self._make([("day_pass", 1, 25.06, 0, "vat15"), ("day_pass", 1, 25.61, 0, "vat15"),
                            ("day_pass", 1, 25.63, 0, "vat15")], currency_id=eur.id)
        self.run_worker()
        for m in (move, move2):
            doc = self.xero_doc(m)
            self.assertEqual(doc["CurrencyCode"], "EUR")
            self.assertAlmostEqual(float(doc["CurrencyRate"]), m.invoice_currency_rate, places=6)
            self.assertTotalsMatch(m, doc)

    def test_credit_note_discount_folded_into_unit_amount(self):
        invoice = self._make([("plan_product", 2, 350.0, 10, "gst"), ("day_pass", 3, 33.33, 7, "gst")])
        credit = self.reverse(invoice)
        self.run_worker()
        doc = self.xero_doc(credit)
        self.assertEqual(doc["Type"], "ACCRECCREDIT")
        self.assertEqual(doc["CreditNoteNumber"], credit.name)
        self.assertEqual(len(doc["LineItems"]), 2)
        for line in doc["LineItems"]:
            self.assertNotIn("DiscountRate", line)
        self.assertEqual(doc["LineItems"][0]["UnitAmount"], 315)  # 350 less 10%
        self.assertTotalsMatch(credit, doc)
        self.assertTotalsMatch(invoice)


@tagged("post_install", "-at_install")
class TestEditsAndClosures(DocumentsCase):

    def _synced(self, lines=None, **vals):
        move = self.invoice(lines or [(self.plan_product, 1, 350.0, 0.0, self.gst)], **vals)
        self.run_worker()
        self.assertTrue(move.xero_id)
        return move

    def _edit(self, move, price=None, add=None):
        move.button_draft()
        commands = []
        if price is not None:
            commands.append(Command.update(move.invoice_line_ids[0].id, {"price_unit": price}))
        if add:
            commands.append(Command.create({"product_id": add.id, "quantity": 1, "price_unit": add.lst_price,
                                            "tax_ids": [Command.set(self.gst.ids)]}))
        move.write({"invoice_line_ids": commands})
        move.action_post()

    def test_edit_updates_the_same_xero_invoice(self):
        move = self._synced()
        xero_id = move.xero_id
        self._edit(move, price=400.0, add=self.day_pass)
        self.run_worker()
        self.assertEqual(move.xero_id, xero_id)
        docs = [d for d in self.xero_state()["Invoices"] if d["InvoiceNumber"].startswith(move.name)]
        self.assertEqual(len(docs), 1, "an edit without payments must not create a second invoice")
        doc = docs[0]
        self.assertEqual(doc["Status"], "AUTHORISED")
        self.assertEqual(len(doc["LineItems"]), 2)
        self.assertEqual(doc["LineItems"][0]["UnitAmount"], 400)
        self.assertTotalsMatch(move, doc)
        self.assertIn("updated approved invoice", self.doc_job(move).log_note)

    def test_repost_without_change_sends_no_write(self):
        move = self._synced()
        self.emu("DELETE", "requests")
        move.button_draft()
        move.action_post()
        self.run_worker()
        writes = [r for r in self.xero_requests()["requests"] if r["method"] in ("POST", "PUT")]
        self.assertEqual(writes, [])
        self.assertEqual(self.doc_job(move).state, "done")

    def test_edit_with_hand_entered_payment_is_blocked_clearly(self):
        move = self._synced()
        payment_id = self.hand_payment(move, 100.0)
        self._edit(move, price=420.0)
        self.run_worker()
        job = self.doc_job(move)
        self.assertEqual((job.state, job.error_kind), ("error", "conflict"))
        self.assertIn(payment_id, job.error_message)
        self.assertIn("not made by this integration", job.error_message)
        self.assertEqual(move.xero_sync_state, "error")
        doc = self.xero_doc(move)
        self.assertEqual((doc["Status"], cents(doc["Total"])), ("AUTHORISED", Decimal("385.00")))

        # the accountant removes the payment in Xero, then retries: the edit goes through in place
        client = self.connection._xero_client()
        self.assertTrue(client.delete_payment(payment_id, uuid.uuid4().hex, ref="hand").ok)
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done")
        self.assertTotalsMatch(move)

    def test_credit_note_edit_voids_and_recreates_with_a_reason(self):
        invoice = self._synced([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        credit = self.reverse(invoice)
        self.run_worker()
        first_id = credit.xero_id
        self.assertTrue(first_id)
        self._edit(credit, price=200.0)
        self.run_worker()
        job = self.doc_job(credit)
        self.assertEqual(job.state, "done", job.error_message)
        by_id = {d["CreditNoteID"]: d for d in self.xero_state()["CreditNotes"]}
        self.assertEqual(by_id[first_id]["Status"], "VOIDED")
        self.assertEqual(by_id[first_id]["CreditNoteNumber"], credit.name)
        self.assertNotEqual(credit.xero_id, first_id)
        new = by_id[credit.xero_id]
        self.assertEqual(new["CreditNoteNumber"], f"{credit.name}-R1")
        self.assertEqual(credit.xero_number, f"{credit.name}-R1")
        # Odoo applies a posted reversal to its invoice: the new copy is allocated again
        self.assertEqual(new["Status"], "PAID" if credit.currency_id.is_zero(credit.amount_residual) else "AUTHORISED")
        self.assertEqual(cents(new["RemainingCredit"]), cents(credit.amount_residual))
        self.assertTotalsMatch(credit, new)
        self.assertIn("Xero does not allow", job.log_note)  # its allocation (Odoo applies reversals) or its lines
        self.assertIn(f"{credit.name}-R1", job.log_note)

        # a second edit updates the re-created copy (numbered -R1) again, not the voided one
        self._edit(credit, price=210.0)
        self.run_worker()
        numbers = sorted(d["CreditNoteNumber"] for d in self.xero_state()["CreditNotes"]
                         if d["Status"] in ("AUTHORISED", "PAID"))
        self.assertEqual(numbers, [f"{credit.name}-R2"])
        self.assertTotalsMatch(credit)

    def test_cancel_voids_the_xero_invoice(self):
        move = self._synced()
        move.button_cancel()
        self.run_worker()
        self.assertEqual(self.xero_doc(move)["Status"], "VOIDED")
        self.assertEqual(move.xero_status, "VOIDED")
        self.assertIn("voided", self.doc_job(move, "cancel").log_note)

    def test_cancel_with_hand_entered_payment_is_blocked_clearly(self):
        move = self._synced()
        payment_id = self.hand_payment(move, 50.0)
        move.button_cancel()
        self.run_worker()
        job = self.doc_job(move, "cancel")
        self.assertEqual((job.state, job.error_kind), ("error", "conflict"))
        self.assertIn(payment_id, job.error_message)
        self.assertIn("cannot void", job.error_message)
        self.assertEqual(self.xero_doc(move)["Status"], "AUTHORISED")
        self.assertIn("needs attention", move.message_ids[0].body)

    def test_cancel_before_the_worker_sends_nothing(self):
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        move.button_cancel()
        self.run_worker()
        self.assertIsNone(self.xero_invoice(move.name))
        self.assertEqual(set(self.jobs_of(move).filtered(lambda j: j.kind == "invoice").mapped("state")), {"skipped"})
        self.assertEqual(move.xero_sync_state, "skipped")

    def test_cancelled_then_reposted_is_recreated_under_a_new_number(self):
        move = self._synced()
        first_id = move.xero_id
        move.button_cancel()
        self.run_worker()
        move.button_draft()
        move.action_post()
        self.run_worker()
        job = self.doc_job(move)
        self.assertEqual(job.state, "done", job.error_message)
        self.assertNotEqual(move.xero_id, first_id)
        self.assertEqual(self.xero_doc(move)["InvoiceNumber"], f"{move.name}-R1")
        self.assertEqual(self.xero_doc(move)["Status"], "AUTHORISED")
        self.assertEqual(self.xero_invoice(move.name)["Status"], "VOIDED")

    def test_invoice_voided_by_hand_in_xero_is_not_silently_recreated(self):
        move = self._synced()
        client = self.connection._xero_client()
        self.assertTrue(client.void_invoice(move.xero_id, uuid.uuid4().hex, ref="hand").ok)
        self._edit(move, price=360.0)
        self.run_worker()
        job = self.doc_job(move)
        self.assertEqual((job.state, job.error_kind), ("error", "conflict"))
        self.assertIn("was voided in Xero", job.error_message)

    def test_cancel_clears_a_failed_create(self):
        self.connection.sudo().default_account_id = False
        move = self.invoice([(self.no_kind, 1, 4.5, 0.0, self.gst)])
        self.run_worker()
        self.assertEqual(self.doc_job(move).state, "error")
        move.button_cancel()
        self.run_worker()
        failed = self.jobs_of(move).filtered(lambda j: j.operation == "upsert")
        self.assertEqual(failed.state, "skipped")
        self.assertIn("cancelled in Odoo", failed.log_note)
        self.assertNotEqual(move.xero_sync_state, "error")


@tagged("post_install", "-at_install")
class TestDraftsInXero(DocumentsCase):
    """Documents that exist in Xero as drafts carrying the Odoo number (an earlier attempt, or
    someone preparing it in Xero) for the same customer."""

    def _xero_draft(self, move, partner=None):
        client = self.connection._xero_client()
        partner = partner or move.commercial_partner_id
        contact_id = partner.with_company(self.company).xero_contact_id
        [result] = client.create_invoices([{
            "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": move.name,
            "Date": fields.Date.today().isoformat(), "Status": "DRAFT",
            "LineItems": [{"Description": "draft", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}],
        }], uuid.uuid4().hex, refs=["draft"])
        self.assertTrue(result.ok, result.message)
        return result.remote_id

    def _customer_synced(self):
        self.invoice([(self.day_pass, 1, 35.0, 0.0, self.gst)])
        self.run_worker()

    def test_posting_adopts_and_approves_the_draft(self):
        self._customer_synced()
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        draft_id = self._xero_draft(move)
        self.run_worker()
        self.assertEqual(move.xero_id, draft_id)
        doc = self.xero_doc(move)
        self.assertEqual(doc["Status"], "AUTHORISED")
        self.assertTotalsMatch(move, doc)
        self.assertIn("already existed in Xero", self.doc_job(move).log_note)

    def test_cancel_deletes_a_draft_copy(self):
        self._customer_synced()
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        draft_id = self._xero_draft(move)
        move.button_cancel()  # before the worker: the create is never sent, the cancel finds the draft
        self.run_worker()
        doc = next(d for d in self.xero_state()["Invoices"] if d["InvoiceID"] == draft_id)
        self.assertEqual(doc["Status"], "DELETED")
        self.assertIn("deleted draft invoice", self.doc_job(move, "cancel").log_note)

    def test_same_number_for_another_customer_is_left_alone(self):
        self._customer_synced()
        other = self.env["res.partner"].create({"name": "Other", "email": "other@example.com"})
        self.invoice([(self.day_pass, 1, 35.0, 0.0, self.gst)], partner=other)
        self.run_worker()
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)], partner=other)
        draft_id = self._xero_draft(move, partner=self.member)  # the member's draft, the other's number
        move.button_cancel()
        self.run_worker()
        doc = next(d for d in self.xero_state()["Invoices"] if d["InvoiceID"] == draft_id)
        self.assertEqual(doc["Status"], "DRAFT")


@tagged("post_install", "-at_install")
class TestDeletion(DocumentsCase):

    def test_deleting_a_synced_document_voids_it_in_xero(self):
        move = self.invoice([(self.plan_product, 1, 350.0, 0.0, self.gst)])
        self.run_worker()
        xero_id = move.xero_id
        move.button_draft()
        move.unlink()
        self.run_worker()
        job = self.env["coworks.sync.job"].search([("remote_id", "=", xero_id), ("operation", "=", "cancel")])
        self.assertEqual(job.state, "done", job.error_message)
        doc = next(d for d in self.xero_state()["Invoices"] if d["InvoiceID"] == xero_id)
        self.assertEqual(doc["Status"], "VOIDED")


@tagged("post_install", "-at_install")
class TestMixedTaxModes(DocumentsCase):

    def test_mixed_included_and_excluded_lines_match_to_the_cent(self):
        move = self.invoice([(self.plan_product, 1, 333.33, 7.0, self.gst),
                             (self.day_pass, 3, 11.11, 0.0, self.gst_incl)])
        self.run_worker()
        doc = self.xero_doc(move)
        self.assertEqual(doc["LineAmountTypes"], "Exclusive")
        plan_line, day_line = doc["LineItems"]
        self.assertEqual((plan_line["Quantity"], plan_line["UnitAmount"]), (1, 333.33))
        # the tax-included line is sent as its untaxed amount; its detail stays readable
        self.assertEqual(cents(day_line["LineAmount"]), cents(move.invoice_line_ids[1].price_subtotal))
        self.assertIn("3 x 11.11", day_line["Description"])
        self.assertTotalsMatch(move, doc)

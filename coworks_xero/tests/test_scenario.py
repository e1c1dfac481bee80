"""A randomized, seeded billing month: invoices with random lines, edits, cancellations and
credit notes, with the worker running at random moments; in the end Odoo and Xero agree on
every document."""
import os
import random

from odoo import Command, fields
from odoo.tests import tagged

from .test_documents import DocumentsCase, cents

# Another seed explores other paths: COWORKS_SCENARIO_SEED=7 pytest ... test_scenario.py
SEED = int(os.environ.get("COWORKS_SCENARIO_SEED", "20261201"))
ACTIONS = 34


@tagged("post_install", "-at_install")
class TestRandomScenario(DocumentsCase):

    def test_random_month_ends_in_agreement(self):
        rng = random.Random(SEED)
        eur = self.setup_other_currency("EUR", rates=[(fields.Date.today(), 0.61)])
        customers = [self.member, self.partner_a, self.partner_b] + [
            self.env["res.partner"].create({"name": f"Member {i}", "email": f"m{i}@example.com" if i % 2 else False,
                                            "coworks_campus_id": self.campus_dtn.id if i == 1 else False})
            for i in range(1, 4)]
        products = [self.plan_product, self.day_pass, self.overage, self.booking, self.tx_fee, self.custom_fee,
                    self.one_off, self.no_kind]
        excluded, included = [self.gst, self.vat15, self.env["account.tax"]], [self.gst_incl, self.vat125_incl]
        moves = self.env["account.move"]
        log = []

        def random_lines(taxes):
            return [Command.create({
                "product_id": rng.choice(products).id,
                "quantity": rng.choice([1, 1, 2, 3, 0.5, 0.333, 7]),
                "price_unit": rng.choice([35.0, 350.0, 0.333, 19.99, 1.05, 25.63, 99.99]),
                "discount": rng.choice([0, 0, 0, 7, 12.5]),
                "tax_ids": [Command.set(rng.choice(taxes).ids)],
            }) for _ in range(rng.randint(1, 4))]

        def create_invoice():
            taxes = rng.choice([excluded, excluded, included, excluded + included])
            lines = random_lines(taxes)
            if rng.random() < 0.3:
                lines.insert(0, Command.create({"display_type": "line_section", "name": "Membership"}))
            vals = {"move_type": "out_invoice", "partner_id": rng.choice(customers).id,
                    "invoice_date": fields.Date.today(), "invoice_line_ids": lines}
            if rng.random() < 0.3:
                vals["coworks_campus_id"] = rng.choice([self.campus_dtn, self.campus_hbr]).id
            if rng.random() < 0.15:
                vals["currency_id"] = eur.id
            move = self.env["account.move"].create(vals)
            move.action_post()
            return move

        for step in range(ACTIONS):
            posted = moves.filtered(lambda m: m.state == "posted")
            invoices = posted.filtered(lambda m: m.move_type == "out_invoice" and not m.reversal_move_ids)
            roll = rng.random()
            if step == ACTIONS // 2:
                self.company.tax_calculation_rounding_method = "round_globally"
            if not posted or roll < 0.4:
                moves |= create_invoice()
                log.append(("create", moves[-1].id))
            elif roll < 0.6:
                move = rng.choice(posted)
                move.button_draft()
                line = move.invoice_line_ids.filtered(lambda l: l.display_type == "product")[:1]
                taxes = included if line.tax_ids.price_include else excluded
                commands = [Command.update(line.id, {"price_unit": rng.choice([12.34, 0.335, 410.0]),
                                                     "discount": rng.choice([0, 7])})]
                if rng.random() < 0.5:
                    commands += random_lines([line.tax_ids] if line.tax_ids else taxes)[:1]
                move.write({"invoice_line_ids": commands})
                move.action_post()
                log.append(("edit", move.id))
            elif roll < 0.72:
                move = rng.choice(posted)
                move.button_cancel()
                log.append(("cancel", move.id))
            elif roll < 0.9 and invoices:
                invoice = rng.choice(invoices)
                wizard = self.env["account.move.reversal"].with_context(
                    active_model="account.move", active_ids=invoice.ids).create(
                        {"journal_id": invoice.journal_id.id, "reason": "credit"})
                credit = self.env["account.move"].browse(wizard.refund_moves()["res_id"])
                credit.action_post()
                moves |= credit
                log.append(("reverse", invoice.id))
            else:
                cancelled = moves.filtered(lambda m: m.state == "cancel")
                if cancelled:
                    move = rng.choice(cancelled)
                    move.button_draft()
                    move.action_post()
                    log.append(("repost", move.id))
            if rng.random() < 0.3:
                self.run_worker()
                log.append(("worker",))
        self.run_worker()

        state = self.xero_state()
        by_id = {d["InvoiceID"]: d for d in state["Invoices"]}
        by_id.update({d["CreditNoteID"]: d for d in state["CreditNotes"]})
        numbers = {}
        for d in state["Invoices"]:
            numbers[("out_invoice", d["InvoiceNumber"])] = d
        for d in state["CreditNotes"]:
            numbers[("out_refund", d["CreditNoteNumber"])] = d
        self.assertGreaterEqual(len(moves), 12, log)
        for move in moves:
            with self.subTest(move=move.name, state=move.state):
                jobs = self.jobs_of(move).filtered(lambda j: j.kind in ("invoice", "credit_note"))
                self.assertFalse(jobs.filtered(lambda j: j.state in ("pending", "error")),
                                 [(j.operation, j.error_message) for j in jobs])
                doc = by_id.get(move.xero_id) if move.xero_id else None
                if move.state == "posted":
                    self.assertTrue(doc, f"{move.name} posted in Odoo but not in Xero")
                    self.assertEqual(doc["Status"], "AUTHORISED")
                    number = doc.get("InvoiceNumber") or doc.get("CreditNoteNumber")
                    self.assertTrue(number == move.name or number.startswith(f"{move.name}-R"), number)
                    self.assertEqual(move.xero_number, number)
                    lines = [l for l in doc["LineItems"] if l.get("Description") != "Rounding adjustment"]
                    self.assertEqual(len(lines), len(move.invoice_line_ids))
                    self.assertEqual(
                        (cents(doc["SubTotal"]), cents(doc["TotalTax"]), cents(doc["Total"])),
                        (cents(move.amount_untaxed), cents(move.amount_tax), cents(move.amount_total)))
                else:
                    self.assertEqual(move.state, "cancel")
                    if doc:
                        self.assertIn(doc["Status"], ("VOIDED", "DELETED"))
                    else:
                        self.assertNotIn((move.move_type, move.name), numbers)
        # nothing else is live in Xero: one approved document per posted Odoo document
        live = [d for d in state["Invoices"] + state["CreditNotes"] if d["Status"] in ("AUTHORISED", "PAID")]
        posted = moves.filtered(lambda m: m.state == "posted")
        self.assertEqual(sorted(d.get("InvoiceID") or d.get("CreditNoteID") for d in live),
                         sorted(posted.mapped("xero_id")))
        self.assertTrue(any(a[0] == "edit" for a in log) and any(a[0] == "cancel" for a in log)
                        and any(a[0] == "reverse" for a in log), log)

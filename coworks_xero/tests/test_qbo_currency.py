"""Foreign-currency documents on QuickBooks Online (issue #16): an EUR invoice and its payment reach
the emulator's US company (USD) with Multicurrency on, on the customer's EUR copy ("<name> (EUR)",
QuickBooks keeping one currency per customer), at Odoo's rate; the drift report agrees; with
Multicurrency off the job says how to turn it on and Retry then succeeds."""
from decimal import Decimal

from odoo import Command, fields
from odoo.tests import tagged

from .common_qbo import CoworksQboEmulatorCase

RATE = 0.9  # EUR per one USD in Odoo: QuickBooks' ExchangeRate is 1 / 0.9 USD per EUR


def cents(value):
    return Decimal(str(value)).quantize(Decimal("0.01"))


@tagged("post_install", "-at_install")
class TestQboForeignCurrency(CoworksQboEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR", rates=[("2020-01-01", RATE)])

    def setUp(self):
        super().setUp()
        self.customer = self.env["res.partner"].create({"name": "Maison Bleue", "email": "bonjour@maison.test"})

    def _multicurrency(self):
        self.emu("POST", "multicurrency", {"realm": self.realm_id})

    def _eur_invoice(self):
        move = self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.customer.id, "currency_id": self.eur.id,
            "invoice_date": fields.Date.today(),
            "invoice_line_ids": [Command.create({"product_id": self.plan_product.id, "quantity": 3,
                                                 "price_unit": 333.33,
                                                 "tax_ids": [Command.set(self.tax_sale_a.ids)]})]})
        move.action_post()
        return move

    def _done(self, record):
        jobs = self.jobs_of(record)
        self.assertTrue(jobs)
        self.assertEqual(set(jobs.mapped("state")), {"done"}, [(j.kind, j.state, j.error_message) for j in jobs])

    def test_eur_invoice_and_payment_on_the_eur_customer(self):
        self._multicurrency()
        move = self._eur_invoice()
        self.assertEqual(move.currency_id, self.eur)
        self.run_worker()
        self._done(move)
        [inv] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(inv["CurrencyRef"]["value"], "EUR")
        self.assertEqual(cents(inv["TotalAmt"]), cents(move.amount_total))  # in EUR, to the cent
        self.assertEqual(Decimal(str(inv["ExchangeRate"])),
                         (Decimal(1) / Decimal(str(move.invoice_currency_rate))).quantize(Decimal("0.000001")))
        self.assertEqual(Decimal(str(inv["ExchangeRate"])), Decimal("1.111111"))
        self.assertEqual(cents(inv["HomeTotalAmt"]), cents(Decimal(str(inv["TotalAmt"])) * Decimal("1.111111")))
        home_id = self.customer.xero_contact_id
        self.assertTrue(home_id)
        state = self.qbo_state()
        eur_customer = state["Customer"][inv["CustomerRef"]["value"]]
        self.assertNotEqual(eur_customer["Id"], home_id)
        self.assertEqual(eur_customer["DisplayName"], "Maison Bleue (EUR)")
        self.assertEqual(eur_customer["CurrencyRef"]["value"], "EUR")
        self.assertEqual(state["Customer"][home_id]["CurrencyRef"]["value"], "USD")
        # the payment, in EUR
        payment = self._pay(move, currency_id=self.eur.id)
        self.run_worker()
        self._done(move)
        [pay] = self.qbo_docs("Payment")
        self.assertEqual(pay["CurrencyRef"]["value"], "EUR")
        self.assertEqual(pay["CustomerRef"]["value"], eur_customer["Id"])
        self.assertEqual(cents(pay["TotalAmt"]), cents(move.amount_total))
        # Odoo's own rate of the payment (its amounts' ratio, rounded to 6 places), inverted
        link = payment.xero_payment_link_ids
        self.assertAlmostEqual(link.currency_rate, RATE, places=4)
        self.assertEqual(Decimal(str(pay["ExchangeRate"])),
                         (Decimal(1) / Decimal(str(link.currency_rate))).quantize(Decimal("0.000001")))
        [inv] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(cents(inv["Balance"]), cents(0))
        # the drift report: the document is on the customer's EUR copy, and that is not a difference
        differ = self.connection.sudo()._coworks_check_drift()
        self.assertEqual(differ, 0, self.env["coworks.sync.drift"].sudo().search(
            [("connection_id", "=", self.connection.id)]).mapped("display_name"))
        self.assertEqual(self.connection.drift_agree_count, 1)

    def test_multicurrency_off_is_a_readable_error_and_retry_after_turning_it_on(self):
        move = self._eur_invoice()
        self.run_worker()
        job = self.jobs_of(move).filtered(lambda j: j.kind == "invoice")
        self.assertEqual(job.state, "error")
        self.assertEqual(job.error_code, "multicurrency_off")
        self.assertIn("Settings > Account and settings > Advanced > Currency", job.error_message)
        self.assertIn("EUR", job.error_message)
        self.assertNotIn("Traceback", job.error_message)
        self.assertFalse(self.qbo_docs("Invoice", DocNumber=move.name))
        self._multicurrency()
        job.action_retry()
        self.run_worker()
        self.assertEqual(job.state, "done", job.error_message)
        [inv] = self.qbo_docs("Invoice", DocNumber=move.name)
        self.assertEqual(inv["CurrencyRef"]["value"], "EUR")
        self.assertEqual(cents(inv["TotalAmt"]), cents(move.amount_total))

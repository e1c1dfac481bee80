"""What the sync's hooks add to a user's transaction, in SQL statements (sync on minus off).

Each operation runs on two subjects made alike, one with the company's sync on and one off, the
record cache emptied first as a new request would find it, and is counted up to what its commit
would run first (``cr.flush()``: the ORM's last writes and the pre-commit hooks, where the
worker's wake-up is written). The bounds are what the hooks need: one read of the company's
active connection per transaction, one upsert per hook (the customer queued with its document
in the same statement), the money's link itself, and Odoo's ``ir.cron._trigger`` at commit (it
reads the cron, then writes the trigger row). A hook that searches again, or queues kind by
kind, goes over them."""
import uuid

from odoo import SUPERUSER_ID, api, fields
from odoo.orm.registry import Registry
from odoo.tests import tagged
from odoo.tests.common import get_db_name

from .common import CoworksXeroCommon, RealTransactionsCase

# Statements Odoo's _trigger() runs once per transaction at commit: the cron's read and the row.
TRIGGER = 2


@tagged("post_install", "-at_install")
class TestEnqueueCost(CoworksXeroCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank = cls.company_data["default_journal_bank"]
        cls.customers = cls.env["res.partner"].create(
            [{"name": f"Cost customer {i}", "email": f"cost{i}@example.com"} for i in range(8)])

    # ---------------------------------------------------------------- helpers

    def _count(self, on, operation, *args):
        """Statements ``operation(*args)`` runs with sync ``on``, up to its commit's pre-commit hooks."""
        self.company.coworks_xero_sync_enabled = on
        self.env.cr.flush()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        operation(*args)
        self.env.cr.flush()
        return self.env.cr.sql_log_count - before

    def _added(self, operation, subjects):
        """Statements the sync adds to ``operation``: on minus off, after one warm-up each way.
        ``subjects``: four argument tuples made alike."""
        self._count(True, operation, *subjects[0])
        self._count(False, operation, *subjects[1])
        on = self._count(True, operation, *subjects[2])
        off = self._count(False, operation, *subjects[3])
        return on - off

    def _invoices(self, count, move_type="out_invoice", post=True, partners=None):
        partners = partners or self.customers
        moves = self.env["account.move"].create([{
            "move_type": move_type, "partner_id": partners[i % len(partners)].id,
            "invoice_date": fields.Date.today(),
            "invoice_line_ids": [(0, 0, {"name": "Desk", "quantity": 1, "price_unit": 100.0,
                                         "tax_ids": [(6, 0, self.tax_sale_a.ids)]})]} for i in range(count)])
        if post:
            moves.action_post()
        return moves

    def _register(self, moves, **vals):
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=moves.ids).create(
            dict({"journal_id": self.bank.id, "payment_date": fields.Date.today()}, **vals))._create_payments()

    @staticmethod
    def _receivable(moves):
        return moves.line_ids.filtered(lambda l: l.account_id.account_type == "asset_receivable")

    def _jobs(self, records, **domain):
        return self.env["coworks.sync.job"].search(
            [("res_model", "=", records._name), ("res_id", "in", records.ids)]
            + [(k, "=", v) for k, v in domain.items()])

    # ---------------------------------------------------------------- the bounds

    def test_posting_adds_one_read_one_upsert_and_the_trigger(self):
        moves = self._invoices(4, post=False, partners=self.customers[:4])
        added = self._added(lambda m: m.action_post(), [(m,) for m in moves])
        self.assertLessEqual(added, 2 + TRIGGER)
        # ... and the one upsert queued the invoice and its customer (the worker sends it first).
        self.assertEqual(len(self._jobs(moves[2], kind="invoice")), 1)
        self.assertEqual(len(self._jobs(moves[2].partner_id, kind="contact")), 1)
        self.assertFalse(self._jobs(moves[3]), "sync off queues nothing")

    def test_paying_adds_one_read_the_link_one_upsert_and_the_trigger(self):
        for name, vals, per_subject in (("one invoice", {}, 1), ("part of one", {"amount": 50.0}, 1),
                                        ("two at once", {"group_payment": True}, 2)):
            with self.subTest(name):
                moves = self._invoices(4 * per_subject, partners=self.customers[:4])
                subjects = [(moves[i::4],) for i in range(4)]  # two of the same customer when grouped
                added = self._added(lambda m, v=vals: self._register(m, **v), subjects)
                self.assertLessEqual(added, 3 + TRIGGER, name)
                self.assertEqual(len(self.env["coworks.xero.payment.link"].search(
                    [("move_id", "in", subjects[2][0].ids)])), per_subject)

    def test_reconciling_a_credit_note_adds_the_link_one_upsert_and_the_trigger(self):
        invoices = self._invoices(4, partners=self.customers[:4])
        credit_notes = self._invoices(4, move_type="out_refund", partners=self.customers[:4])
        added = self._added(lambda inv, cn: self._receivable(inv | cn).reconcile(),
                            list(zip(invoices, credit_notes)))
        # the link's insert, and the ORM's read of its currency after it
        self.assertLessEqual(added, 4 + TRIGGER)
        link = self.env["coworks.xero.payment.link"].search([("credit_note_id", "=", credit_notes[2].id)])
        self.assertEqual(link.kind, "allocation")
        self.assertEqual(len(self._jobs(link, kind="allocation")), 1)

    def test_cancelling_a_posted_invoice_adds_one_read_one_upsert_and_the_trigger(self):
        # (not the last of the sequence: Odoo does more to cancel that one, sync or not)
        moves = self._invoices(5, partners=self.customers[:4])[:4]
        added = self._added(lambda m: m.button_cancel(), [(m,) for m in moves])
        self.assertLessEqual(added, 2 + TRIGGER)
        self.assertEqual(len(self._jobs(moves[2], operation="cancel")), 1)

    def test_editing_a_known_customer_adds_one_upsert_and_the_trigger(self):
        # Customers the sync knows (each has a job): the look-up runs with sync off too.
        self._invoices(4, partners=self.customers[4:8])
        added = self._added(lambda p: p.write({"phone": f"+61 2 5550 {p.id % 10000:04d}"}),
                            [(p,) for p in self.customers[4:8]])
        self.assertLessEqual(added, 1 + TRIGGER)

    # ---------------------------------------------------------------- what the short cuts keep

    def test_a_customer_already_in_xero_is_not_queued_with_its_invoice(self):
        known, new = self.customers[0], self.customers[1]
        known._coworks_link_write(self.connection, {"remote_id": "c-known"})
        self.env["coworks.sync.job"].search([]).unlink()
        moves = self._invoices(2, partners=known | new)
        self.assertFalse(self._jobs(known), "a linked customer is not sent again with each invoice")
        self.assertEqual(len(self._jobs(new, kind="contact")), 1)
        self.assertEqual(len(self._jobs(moves, kind="invoice")), 2)

    def test_a_connection_archived_in_the_same_transaction_queues_nothing_more(self):
        self._invoices(1)  # the active connection is now known to this transaction
        self.connection.sudo().action_archive()
        moves = self._invoices(1)
        self.assertFalse(self._jobs(moves), "the transaction's memo of active connections was kept stale")

    def test_one_wake_up_per_transaction_however_many_hooks(self):
        Trigger = self.env["ir.cron.trigger"].sudo()
        cron = self.env.ref("coworks_xero.ir_cron_sync")
        self.env.cr.flush()
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        moves = self._invoices(3)
        self._register(moves[0])
        moves[1].button_cancel()
        self.customers[0].write({"phone": "+61 2 5550 0000"})
        self.assertFalse(Trigger.search([("cron_id", "=", cron.id)]), "written at commit, not by each hook")
        self.env.cr.flush()
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), 1)


@tagged("post_install", "-at_install")
class TestEnqueueCollision(RealTransactionsCase):
    """Real transactions: the user's upsert meets an open job the worker rewrote after the user's
    snapshot (REPEATABLE READ: a serialization failure). The savepoint sent with the upsert is
    rolled back, the request appended instead, and the user's transaction goes on and commits."""

    def test_a_collision_appends_the_request_and_the_users_transaction_commits(self):
        registry = Registry(get_db_name())
        name = f"Collision Co {uuid.uuid4().hex[:8]}"
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].create({"name": name, "coworks_xero_sync_enabled": True})
            conn = env["coworks.sync.connection"].create({"company_id": company.id, "state": "connected",
                                                          "tenant_id": f"t-{name}"})
            partner = env["res.partner"].create({"name": name})
            env["coworks.sync.job"]._enqueue(partner, "contact", company_getter=lambda p: company, trigger=False)
            company_id, conn_id, partner_id = company.id, conn.id, partner.id
        self.addCleanup(self._cleanup, registry, company_id, conn_id, partner_id)

        with registry.cursor() as user_cr:
            user_env = api.Environment(user_cr, SUPERUSER_ID, {})
            user_cr.execute("SELECT count(*) FROM coworks_sync_job")  # the user's snapshot starts
            with registry.cursor() as worker_cr:  # the worker tries the job, and commits
                worker_cr.execute("UPDATE coworks_sync_job SET attempt_count = 1 WHERE connection_id = %s", [conn_id])
            partner = user_env["res.partner"].browse(partner_id)
            queued = user_env["coworks.sync.job"]._enqueue(
                partner, "contact", company_getter=lambda p: user_env["res.company"].browse(company_id))
            self.assertEqual(queued, 1)
            partner.write({"comment": "still usable"})  # the transaction was not aborted
            user_env.flush_all()
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute("SELECT count(*) FROM coworks_sync_request WHERE connection_id = %s AND res_id = %s",
                       [conn_id, partner_id])
            self.assertEqual(cr.fetchone()[0], 1, "the request was appended")
            self.assertIn("still usable", str(env["res.partner"].browse(partner_id).comment))
            env["coworks.sync.job"]._fold_requests()
            job = env["coworks.sync.job"].search([("connection_id", "=", conn_id)])
            self.assertEqual(len(job), 1)
            self.assertEqual((job.state, job.attempt_count, job.revision), ("pending", 0, 1))

    @staticmethod
    def _cleanup(registry, company_id, conn_id, partner_id):
        with registry.cursor() as cr:
            cr.execute("DELETE FROM coworks_sync_request WHERE connection_id = %s", [conn_id])
            cr.execute("DELETE FROM coworks_sync_job WHERE connection_id = %s", [conn_id])
            cr.execute("DELETE FROM coworks_sync_connection WHERE id = %s", [conn_id])
            cr.execute("UPDATE res_partner SET active = false WHERE id = %s", [partner_id])
            cr.execute("UPDATE res_company SET coworks_xero_sync_enabled = false, active = false WHERE id = %s",
                       [company_id])

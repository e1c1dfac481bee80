"""Customers: the commercial partner is the Xero contact; matching, disambiguation, updates."""
import uuid

from odoo.tests import tagged

from .common import CoworksXeroEmulatorCase


@tagged("post_install", "-at_install")
class TestCustomers(CoworksXeroEmulatorCase):

    def _partner(self, name, email=None, **vals):
        return self.env["res.partner"].create({"name": name, "email": email, **vals})

    def _bill(self, partner):
        return self._create_invoice_one_line(product_id=self.plan_product, price_unit=350.0,
                                             tax_ids=self.tax_sale_a, partner_id=partner, post=True)

    def _xero_contacts(self, **match):
        return [c for c in self.xero_state()["Contacts"]
                if all(c.get(k) == v for k, v in match.items())]

    def _contact(self, contact_id):
        return next(c for c in self.xero_state()["Contacts"] if c["ContactID"] == contact_id)

    def _put_contacts(self, *contacts):
        """Contacts someone entered in Xero by hand, before this integration existed."""
        client = self.connection._xero_client()
        results = client.save_contacts(list(contacts), uuid.uuid4().hex, refs=[str(i) for i in range(len(contacts))])
        self.assertTrue(all(r.ok for r in results), [r.message for r in results])
        return [r.remote_id for r in results]

    def _contact_job(self, partner):
        """The customer's latest contact job."""
        return self.jobs_of(partner.commercial_partner_id).filtered(lambda j: j.kind == "contact").sorted("id")[-1:]

    # ---------------------------------------------------------------- matching

    def test_found_by_email_ignoring_case_before_creating(self):
        [existing] = self._put_contacts({"Name": "Acme Pty (old)", "EmailAddress": "billing@acme.example"})
        before = len(self.xero_state()["Contacts"])
        partner = self._partner("Acme Pty", "Billing@ACME.example")
        invoice = self._bill(partner)
        self.run_worker()
        self.assertEqual(partner.with_company(self.company).xero_contact_id, existing)
        self.assertEqual(len(self.xero_state()["Contacts"]), before, "a duplicate contact was created")
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], existing)
        # linked, then updated to Odoo's data
        self.assertEqual(self._contact(existing)["Name"], "Acme Pty")
        self.assertEqual(self._contact(existing)["ContactNumber"], f"ODOO-{partner.id}")

    def test_several_matches_pick_is_deterministic_and_logged(self):
        older = self._put_contacts({"Name": "Twin B", "EmailAddress": "twin@example.com"})
        self.emu("POST", "clock", {"advance": 120})  # the other one is entered two minutes later
        newer = self._put_contacts({"Name": "Twin A", "EmailAddress": "twin@example.com"})
        ids = older + newer
        partner = self._partner("Twin Holdings", "twin@example.com")
        self._bill(partner)
        self.run_worker()
        picked = partner.with_company(self.company).xero_contact_id
        # same email, both active: the least recently updated one wins
        self.assertEqual(picked, ids[0])
        job = self._contact_job(partner)
        self.assertEqual(job.state, "done")
        self.assertIn("picked", job.log_note)
        self.assertIn(ids[1], job.log_note, "the log must name the contact that was not picked")

    def test_same_name_other_email_is_linked_not_duplicated(self):
        """An accountant's "Jane Doe" with another email is this customer: linked by the name,
        no second contact, no suffix printed on the invoices."""
        [other] = self._put_contacts({"Name": "Jane Doe", "EmailAddress": "jane@elsewhere.example"})
        before = len(self.xero_state()["Contacts"])
        partner = self._partner("Jane Doe", "jane@coworks.example")
        invoice = self._bill(partner)
        self.run_worker()
        self.assertEqual(partner.with_company(self.company).xero_contact_id, other)
        self.assertEqual(len(self.xero_state()["Contacts"]), before, "a duplicate contact was created")
        self.assertEqual(self._contact(other)["Name"], "Jane Doe")
        self.assertIn("matched by name", self._contact_job(partner).log_note)
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], other)

    def test_name_owned_by_another_customer_gets_a_distinct_name(self):
        first = self._partner("Jane Doe", "jane@coworks.example")
        self._bill(first)
        self.run_worker()
        taken = first.with_company(self.company).xero_contact_id
        second = self._partner("Jane Doe", "jane.d@other.example")
        invoice = self._bill(second)
        self.run_worker()
        contact_id = second.with_company(self.company).xero_contact_id
        self.assertTrue(contact_id)
        self.assertNotEqual(contact_id, taken, "linked to another customer's contact")
        self.assertEqual(self._contact(contact_id)["Name"], "Jane Doe (jane.d@other.example)")
        self.assertEqual(second.with_company(self.company).xero_contact_name, "Jane Doe (jane.d@other.example)")
        self.assertIn("already has an active contact", self._contact_job(second).log_note)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_same_name_without_email_uses_the_partner_key(self):
        # Another Odoo customer's contact (our contact number on it) keeps its name.
        self._put_contacts({"Name": "Walk-in", "ContactNumber": "ODOO-0"})
        partner = self._partner("Walk-in")
        self._bill(partner)
        self.run_worker()
        contact = self._contact(partner.with_company(self.company).xero_contact_id)
        self.assertEqual(contact["Name"], f"Walk-in (#ODOO-{partner.id})")

    def test_two_new_customers_of_one_name_never_share_a_contact(self):
        [existing] = self._put_contacts({"Name": "Desk Co"})
        a, b = self._partner("Desk Co"), self._partner("Desk Co")
        self._bill(a)
        self._bill(b)
        self.run_worker()
        ids = {a.with_company(self.company).xero_contact_id, b.with_company(self.company).xero_contact_id}
        self.assertEqual(len(ids), 2, "two customers were linked to one contact")
        self.assertIn(existing, ids)

    def test_merged_contact_is_followed(self):
        """Merged in Xero: the customer's next update goes to the surviving contact, and its
        invoices follow."""
        partner = self._partner("Merge Me", "merge@example.com")
        self._bill(partner)
        self.run_worker()
        old = partner.with_company(self.company).xero_contact_id
        [survivor] = self._put_contacts({"Name": "Merge Me Ltd", "EmailAddress": "accounts@merge.example"})
        self.emu("POST", "merge_contacts", {"tenant": self.tenant_id, "from": old, "into": survivor})
        partner.phone = "+61 2 5550 1234"
        invoice = self._bill(partner)
        self.run_worker()
        self.assertEqual(partner.with_company(self.company).xero_contact_id, survivor)
        self.assertIn("merged in Xero", self._contact_job(partner).log_note)
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], survivor)

    def test_contact_archived_in_xero_is_restored(self):
        partner = self._partner("Sleepy Co", "sleepy@example.com")
        self._bill(partner)
        self.run_worker()
        contact_id = partner.with_company(self.company).xero_contact_id
        client = self.connection._xero_client()
        [res] = client.save_contacts([{"ContactID": contact_id, "ContactStatus": "ARCHIVED"}], uuid.uuid4().hex, refs=["a"])
        self.assertTrue(res.ok, res.message)
        invoice = self._bill(partner)
        partner.phone = "+61 2 5550 9999"
        self.run_worker()
        self.assertEqual(self._contact(contact_id)["ContactStatus"], "ACTIVE")
        self.assertIn("archived in Xero", self._contact_job(partner).log_note)
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")

    def test_partner_without_email_syncs(self):
        partner = self._partner("No Mail Co")
        invoice = self._bill(partner)
        self.run_worker()
        contact = self._contact(partner.with_company(self.company).xero_contact_id)
        self.assertEqual(contact["Name"], "No Mail Co")
        self.assertNotIn("EmailAddress", {k for k, v in contact.items() if v})
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], contact["ContactID"])

    def test_commercial_partner_is_the_contact(self):
        company = self._partner("Orbit Labs", "accounts@orbit.example", is_company=True)
        member = self._partner("Ana Member", "ana@orbit.example", parent_id=company.id)
        invoice = self._bill(member)
        self.run_worker()
        self.assertFalse(member.with_company(self.company).xero_contact_id)
        contact_id = company.with_company(self.company).xero_contact_id
        self.assertEqual(self._contact(contact_id)["Name"], "Orbit Labs")
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], contact_id)
        self.assertFalse(self._xero_contacts(Name="Ana Member"))

    # ---------------------------------------------------------------- changes

    def test_changes_propagate_to_the_same_contact(self):
        eur = self.env.ref("base.EUR")
        eur.active = True
        partner = self._partner("Delta Ltd", "delta@example.com")
        self._bill(partner)
        self.run_worker()
        contact_id = partner.with_company(self.company).xero_contact_id
        count = len(self.xero_state()["Contacts"])

        pricelist = self.env["product.pricelist"].create({"name": "EUR list", "currency_id": eur.id})
        partner.write({
            "name": "Delta Limited", "email": "ap@delta.example", "phone": "+61 2 5550 1234",
            "street": "1 George St", "city": "Sydney", "zip": "2000",
            "country_id": self.env.ref("base.au").id, "vat": "51824753556",
            "property_product_pricelist": pricelist.id,
        })
        self.env.flush_all()
        job = self._contact_job(partner).filtered(lambda j: j.state == "pending")
        self.assertEqual(len(job), 1, "an edit of a synced customer must queue an update")
        self.run_worker()

        self.assertEqual(len(self.xero_state()["Contacts"]), count, "the update created a new contact")
        contact = self._contact(contact_id)
        self.assertEqual(contact["Name"], "Delta Limited")
        self.assertEqual(contact["EmailAddress"], "ap@delta.example")
        self.assertEqual(contact["Phones"][0]["PhoneNumber"], "+61 2 5550 1234")
        self.assertEqual(contact["Addresses"][0]["AddressLine1"], "1 George St")
        self.assertEqual(contact["Addresses"][0]["City"], "Sydney")
        self.assertEqual(contact["Addresses"][0]["Country"], "AU")
        self.assertEqual(contact["TaxNumber"], "51824753556")
        self.assertEqual(contact["DefaultCurrency"], "EUR")

    def test_member_edit_updates_the_company_contact(self):
        company = self._partner("Vega Co", is_company=True)
        member = self._partner("Vic", "vic@vega.example", parent_id=company.id)
        self._bill(member)
        self.run_worker()
        contact_id = company.with_company(self.company).xero_contact_id
        # the company has no email of its own: its first member's is used
        self.assertEqual(self._contact(contact_id)["EmailAddress"], "vic@vega.example")
        company.write({"street": "9 Quay St"})
        self.run_worker()
        self.assertEqual(self._contact(contact_id)["Addresses"][0]["AddressLine1"], "9 Quay St")

    def test_unsynced_partner_edit_queues_nothing(self):
        partner = self._partner("Never Billed", "nb@example.com")
        partner.write({"name": "Never Billed Ltd"})
        self.env.flush_all()
        self.assertFalse(self._contact_job(partner))

    def test_archiving_deletes_nothing_in_xero(self):
        partner = self._partner("Leaving Co", "leaving@example.com")
        invoice = self._bill(partner)
        self.run_worker()
        contact_id = partner.with_company(self.company).xero_contact_id
        self.emu("DELETE", "requests")
        partner.action_archive()
        self.run_worker()
        self.assertFalse(self._contact_job(partner).filtered(lambda j: j.state == "pending"))
        self.assertEqual(self._contact(contact_id)["ContactStatus"], "ACTIVE")
        self.assertEqual(self.xero_invoice(invoice.name)["Status"], "AUTHORISED")
        writes = [r for r in self.xero_requests()["requests"] if r["method"] in ("POST", "PUT", "DELETE")]
        self.assertEqual(writes, [])

    def test_contact_changed_in_xero_to_a_taken_name_is_renamed_deterministically(self):
        partner = self._partner("Kappa", "kappa@example.com")
        self._bill(partner)
        self.run_worker()
        contact_id = partner.with_company(self.company).xero_contact_id
        # someone creates another active "Kappa Group" in Xero; Odoo renames ours to it
        self._put_contacts({"Name": "Kappa Group", "EmailAddress": "other@example.com"})
        partner.write({"name": "Kappa Group"})
        self.run_worker()
        job = self._contact_job(partner)[:1]
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(self._contact(contact_id)["Name"], "Kappa Group (kappa@example.com)")
        self.assertEqual(partner.with_company(self.company).xero_contact_name, "Kappa Group (kappa@example.com)")

    def test_invoice_for_a_new_customer_waits_for_the_contact(self):
        partner = self._partner("Sigma", "sigma@example.com")
        invoice = self._bill(partner)
        self.env.flush_all()
        kinds = sorted(self.env["coworks.sync.job"].search([("state", "=", "pending")]).mapped("kind"))
        self.assertEqual(kinds, ["contact", "invoice"])
        self.run_worker()
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"],
                         partner.with_company(self.company).xero_contact_id)
        # a second invoice of the same customer does not queue the contact again
        self._bill(partner)
        self.env.flush_all()
        self.assertFalse(self.env["coworks.sync.job"].search([("state", "=", "pending"), ("kind", "=", "contact")]))

    def test_edit_after_the_log_was_cleaned_still_updates(self):
        partner = self._partner("Omega", "omega@example.com")
        self._bill(partner)
        self.run_worker()
        contact_id = partner.with_company(self.company).xero_contact_id
        self._contact_job(partner).sudo().unlink()  # retention removed the old entries
        partner.write({"phone": "+61 400 000 000"})
        self.run_worker()
        self.assertEqual(self._contact(contact_id)["Phones"][0]["PhoneNumber"], "+61 400 000 000")

    def test_merge_in_xero_is_found_by_the_pull_without_any_change_in_odoo(self):
        import datetime
        from odoo import fields
        partner = self._partner("Merged Quietly", "quiet@example.com")
        self._bill(partner)
        self.run_worker()
        old = partner.with_company(self.company).xero_contact_id
        [survivor] = self._put_contacts({"Name": "Merged Quietly Pty", "EmailAddress": "ap@quiet.example"})
        self.emu("POST", "merge_contacts", {"tenant": self.tenant_id, "from": old, "into": survivor})
        invoice = self._bill(partner)
        jobs_before = self.jobs_of(partner).filtered(lambda j: j.kind == "contact")
        # The next pull (webhooks off) reads the contacts Xero changed; the invoice then goes to the survivor.
        self.run_worker_at(fields.Datetime.now() + datetime.timedelta(minutes=16))
        self.assertEqual(partner.with_company(self.company).xero_contact_id, survivor)
        self.assertEqual(self.xero_invoice(invoice.name)["Contact"]["ContactID"], survivor)
        self.assertIn("Merged in Xero", partner.message_ids[0].body)
        contact_jobs = self.jobs_of(partner).filtered(lambda j: j.kind == "contact")
        self.assertEqual(contact_jobs, jobs_before, "following a merge sends nothing back")

    def test_a_first_invoice_sent_later_is_not_an_edit_of_the_contact_made_in_xero(self):
        """Xero marks a contact as a customer when its first invoice arrives, which moves the
        contact's UpdatedDateUTC: when that invoice went a while after the contact (a slow answer,
        a later batch), an edit of the customer in Odoo afterwards is still not "also edited in
        Xero"."""
        partner = self._partner("Golf Pty", "ap@golf.example")
        self._bill(partner)
        self.emu("POST", "faults", {"route": "PUT /Invoices", "kind": "latency", "seconds": 2.5, "count": 1})
        self.run_worker()
        contact_id = partner.with_company(self.company).xero_contact_id
        self.assertTrue(self._contact(contact_id)["IsCustomer"])
        partner.phone = "+61 2 5550 1234"
        self.run_worker()
        self.assertEqual(self._contact(contact_id)["Phones"][0]["PhoneNumber"], "+61 2 5550 1234")
        self.assertFalse([m for m in partner.message_ids if "also edited in Xero" in (m.body or "")])
        self.assertNotIn("also edited in Xero", self._contact_job(partner).log_note or "")

    def test_contact_edited_in_xero_and_in_odoo_ends_with_odoos_version_and_a_note(self):
        """The accountant fixes the email in Xero while a manager edits the customer in Odoo: the
        next push leaves Odoo's version (the record of reference) and says so on the customer and
        in the log; a customer edited in Odoo alone gets no note."""
        import time
        # Earlier tests of the class may have moved the emulator's clock on: the rule needs both clocks
        # to agree (as Xero's and Odoo's do), so start level with Odoo's.
        self.emu("POST", "clock", {"advance": time.time() - self.emu("GET", "clock")["now"]})
        edited, alone = self._partner("Echo Pty", "ap@echo.example"), self._partner("Foxtrot Pty", "ap@fox.example")
        self._bill(edited)
        self._bill(alone)
        self.run_worker()
        self.emu("POST", "clock", {"advance": 120})  # the accountant's edit, two minutes later
        contact_id = edited.with_company(self.company).xero_contact_id
        client = self.connection._xero_client()
        [res] = client.save_contacts([{"ContactID": contact_id, "EmailAddress": "accounts@echo.example"}],
                                     uuid.uuid4().hex, refs=["e"])
        self.assertTrue(res.ok, res.message)
        edited.phone = "+61 2 5550 4321"
        alone.phone = "+61 2 5550 8765"
        self.run_worker()
        self.assertEqual(self._contact(contact_id)["EmailAddress"], "ap@echo.example")
        notes = [m.body for m in edited.message_ids if "also edited in Xero" in (m.body or "")]
        self.assertEqual(len(notes), 1, notes)
        self.assertIn("email", notes[0])
        self.assertIn("also edited in Xero", self._contact_job(edited).log_note or "")
        self.assertFalse([m for m in alone.message_ids if "also edited in Xero" in (m.body or "")])
        self.assertNotIn("also edited in Xero", self._contact_job(alone).log_note or "")

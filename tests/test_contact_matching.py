"""Which Xero contact an unlinked customer is: number, email, name, merges; and the look-ups
that find the candidates without reading the whole directory."""
from __future__ import annotations

from urllib.parse import quote

from coworks_xero.services import documents as docs
from coworks_xero.services.xero import payloads as P
from coworks_xero.services.xero.client import XeroClient


def customer(name="ACME Ltd", email="ap@acme.com", pid=42):
    return docs.Customer(ref=f"res.partner,{pid}", name=name, email=email, contact_number=f"ODOO-{pid}")


def contact(cid, name, email="", number="", status="ACTIVE", merged=None):
    c = {"ContactID": cid, "Name": name, "EmailAddress": email, "ContactNumber": number, "ContactStatus": status}
    if merged:
        c["MergedToContactID"] = merged
    return c


def test_existing_contact_with_the_same_name_and_another_email_is_linked_not_duplicated():
    found = [contact("c-1", "ACME  ltd", email="accounts@acme.com")]
    match = P.match_contact(customer(), found)
    assert match.contact["ContactID"] == "c-1"
    assert "matched by name" in match.reason
    assert P.disambiguate_name("ACME Ltd", customer(), match.taken_names) == "ACME Ltd"


def test_email_wins_over_name_and_the_name_holder_makes_the_name_taken():
    found = [contact("c-name", "ACME Ltd"), contact("c-mail", "Acme Trading", email="AP@acme.com")]
    match = P.match_contact(customer(), found)
    assert match.contact["ContactID"] == "c-mail"
    assert "matched by email" in match.reason
    assert match.taken_names == ["ACME Ltd"]
    assert P.disambiguate_name("ACME Ltd", customer(), match.taken_names) == "ACME Ltd (ap@acme.com)"


def test_our_contact_number_wins_over_everything():
    found = [contact("c-mail", "Other", email="ap@acme.com"), contact("c-ours", "ACME Ltd old", number="ODOO-42")]
    assert P.match_contact(customer(), found).contact["ContactID"] == "c-ours"


def test_a_name_held_by_another_odoo_customer_is_not_taken_over():
    found = [contact("c-7", "ACME Ltd", number="ODOO-7")]
    match = P.match_contact(customer(email=""), found)
    assert match.contact is None
    assert match.taken_names == ["ACME Ltd"]
    # Another integration's or the accountant's own numbering is not ours: linked.
    found = [contact("c-x", "ACME Ltd", number="CUST-7")]
    assert P.match_contact(customer(email=""), found).contact["ContactID"] == "c-x"


def test_a_contact_claimed_by_another_customer_of_this_run_is_not_linked_twice():
    found = [contact("c-1", "ACME Ltd")]
    match = P.match_contact(customer(email="", pid=43), found, claimed=["C-1"])
    assert match.contact is None
    assert match.taken_names == ["ACME Ltd"]


def test_merged_contacts_lead_to_the_surviving_contact():
    found = [contact("c-old", "ACME Ltd", email="ap@acme.com", status="ARCHIVED", merged="c-new")]
    match = P.match_contact(customer(), found)
    assert match.contact == {"ContactID": "c-new"}
    assert "merged" in match.reason


def test_archived_contacts_are_linked_when_nothing_active_matches():
    found = [contact("c-arch", "ACME Ltd", email="ap@acme.com", status="ARCHIVED")]
    match = P.match_contact(customer(), found)
    assert match.contact["ContactID"] == "c-arch"
    assert match.taken_names == []  # an archived contact's name is free in Xero


def test_nothing_found_creates():
    match = P.match_contact(customer(), [contact("c-9", "Someone Else", email="x@y.z")])
    assert (match.contact, match.reason) == (None, "")


def test_lookup_terms_escape_quotes_and_keep_accents():
    terms = P.contact_lookup_terms(customer(name='Café "Le" \\ Bar', email="ap@café.com"))
    assert terms[0] == 'Name=="Café \\"Le\\" \\\\ Bar"'
    assert terms[1].startswith('EmailAddress=="ap@')
    assert P.contact_lookup_terms(customer(name="ACME", email="AP@acme.com")) == [
        'Name=="ACME"', 'EmailAddress=="AP@acme.com"', 'EmailAddress=="ap@acme.com"']
    assert P.contact_lookup_terms(customer(name="acme", email="a@b.co")) == ['Name=="acme"', 'EmailAddress=="a@b.co"']


class _Recorder(XeroClient):
    """Only the request-building part of the client: find_contacts answers from a list."""

    def __init__(self, contacts, page_size=100):  # noqa: D107 - no network, no tokens
        self.contacts = contacts
        self.page_size = page_size
        self.calls = []

    def find_contacts(self, where=None, search_term=None, include_archived=True, page=None):
        self.calls.append((where, page))
        names = {t.split("==", 1)[1].strip('"') for t in where.split(" OR ")}
        hits = [c for c in self.contacts if c["Name"] in names or c["EmailAddress"] in names]
        start = ((page or 1) - 1) * self.page_size
        return hits[start:start + self.page_size]


def test_lookups_pack_conditions_into_few_requests_within_the_query_limit():
    people = [customer(name=f"Member {i:03d}", email=f"m{i}@example.com", pid=i) for i in range(200)]
    client = _Recorder([contact(f"c-{i}", f"Member {i:03d}") for i in range(0, 200, 3)])
    found = client.lookup_contacts([P.contact_lookup_terms(p) for p in people])
    assert {c["ContactID"] for c in found} == {f"c-{i}" for i in range(0, 200, 3)}
    assert all(len(quote(where)) <= 1800 for where, _page in client.calls)
    # 400 conditions of about 45 encoded characters: a handful of requests, not one per customer.
    assert 8 <= len(client.calls) <= 16, len(client.calls)


def test_lookups_read_every_page():
    people = [customer(name="Same", email="", pid=1)]
    client = _Recorder([contact(f"c-{i}", "Same") for i in range(250)])
    found = client.lookup_contacts([P.contact_lookup_terms(p) for p in people])
    assert len(found) == 250
    assert [page for _w, page in client.calls] == [1, 2, 3]


def test_deep_links_open_the_document_in_its_organisation():
    from coworks_xero.services.xero import rules
    assert rules.deep_link("invoice", "!AU123", "i-1") == "https://go.xero.com/app/!AU123/invoicing/view/i-1"
    assert "shortcode=!AU123" in rules.deep_link("credit_note", "!AU123", "c-1")
    assert rules.deep_link("credit_note", "!AU123", "c-1").endswith("creditNoteID=c-1")
    assert rules.deep_link("contact", "!AU123", "k-1").endswith("/contacts/contact/k-1")
    assert rules.deep_link("invoice", "", "i-1") == "" and rules.deep_link("invoice", "!AU123", "") == ""

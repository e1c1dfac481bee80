"""XeroProvider contacts against the emulator: a name Xero holds typed otherwise is this customer's
contact (Xero's names are unique ignoring case, its ``where`` look-up is not), unless another
customer owns it."""
from __future__ import annotations

from test_client_helpers import (  # noqa: F401
    client_emulator_server, env, xero,
)
from test_client_ops import _uid

from coworks_xero.services import documents as docs
from coworks_xero.services import provider as prov
from coworks_xero.services.xero.provider import XeroProvider


def _customer_item(name, pid, email=""):
    obj = docs.Customer(ref=f"res.partner,{pid}", name=name, email=email, contact_number=f"ODOO-{pid}")
    return prov.WorkItem(key=f"contact-{pid}-{_uid()}", kind=prov.KIND_CONTACT, operation=prov.OP_UPSERT, obj=obj)


def _active_named(xero, name):
    return [c for c in xero.find_contacts(search_term=name, include_archived=False)
            if c["Name"].casefold() == name.casefold()]


def test_a_contact_named_otherwise_in_case_is_linked_not_suffixed(env, xero):
    name = f"ACME Ltd {_uid()}"
    [held] = xero.save_contacts([{"Name": name, "EmailAddress": "accounts@acme.example"}],
                                idempotency_key="c-" + _uid())
    [result] = XeroProvider(xero).run([_customer_item(name.lower(), 42, email="ap@acme.example")])
    assert result.ok, result.message
    assert result.remote_id.lower() == held.remote_id.lower()
    # one contact of that name, still under the accountant's spelling, now carrying our number
    [contact] = _active_named(xero, name)
    assert (contact["Name"], contact.get("ContactNumber")) == (name, "ODOO-42")


def test_a_name_owned_by_another_customer_in_another_case_gets_a_distinct_name(env, xero):
    name = f"Bravo Pty {_uid()}"
    [other] = xero.save_contacts([{"Name": name, "ContactNumber": "ODOO-7"}], idempotency_key="c-" + _uid())
    [result] = XeroProvider(xero).run([_customer_item(name.upper(), 43, email="ap@bravo.example")])
    assert result.ok, result.message
    assert result.remote_id.lower() != other.remote_id.lower()
    names = {c["Name"] for c in xero.find_contacts(search_term=name, include_archived=False)}
    assert names == {name, f"{name.upper()} (ap@bravo.example)"}


def test_a_contact_edited_in_xero_and_in_odoo_ends_with_odoos_version_and_a_note(env, xero):
    import datetime
    from coworks_xero.services.xero import payloads
    name = f"Delta Co {_uid()}"
    item = _customer_item(name, 44, email="ap@delta.example")
    [first] = XeroProvider(xero).run([item])
    assert first.ok, first.message
    # the accountant changes the email in Xero
    [edit] = xero.save_contacts([{"ContactID": first.remote_id, "EmailAddress": "billing@delta.example"}],
                                idempotency_key="e-" + _uid())
    assert edit.ok
    [held] = xero.get_contacts([first.remote_id])
    edited_at = payloads.parse_xero_datetime(held["UpdatedDateUTC"])

    def push(synced_at, phone):
        obj = docs.Customer(ref=item.obj.ref, name=name, email="ap@delta.example", phone=phone,
                            contact_number="ODOO-44", remote_id=first.remote_id, synced_at=synced_at)
        [result] = XeroProvider(xero).run([prov.WorkItem(key=f"contact-44-{_uid()}", kind=prov.KIND_CONTACT,
                                                         operation=prov.OP_UPSERT, obj=obj)])
        assert result.ok, result.message
        return result

    # Odoo sent it in the same second as Xero's change: Xero's copy is Odoo's own send, no note
    quiet = push(edited_at, "+61 2 5550 1000")
    assert not quiet.details.get("edited_on_both_sides")
    # Odoo last sent it before the change made in Xero, and the user changed the phone since
    [held] = xero.get_contacts([first.remote_id])
    before = payloads.parse_xero_datetime(held["UpdatedDateUTC"]) - datetime.timedelta(seconds=1)
    xero.save_contacts([{"ContactID": first.remote_id, "EmailAddress": "billing@delta.example"}],
                       idempotency_key="e-" + _uid())
    noted = push(before, "+61 2 5550 2000")
    note = noted.details.get("edited_on_both_sides")
    # Xero's email differed from Odoo's (changed there) and so did its phone (changed in Odoo)
    assert note and "Xero's email, phone replaced by Odoo's" in note
    assert note in noted.details["notes"]
    [held] = xero.get_contacts([first.remote_id])
    assert held["EmailAddress"] == "ap@delta.example"  # Odoo's version stands


def test_contact_fields_changed_names_only_what_odoo_sends():
    from coworks_xero.services.xero.payloads import contact_fields_changed
    existing = {"Name": "Acme  Ltd", "EmailAddress": "AP@acme.example",
                "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "1"}, {"PhoneType": "FAX", "PhoneNumber": "9"}],
                "Addresses": [{"AddressType": "STREET", "City": "Sydney"}, {"AddressType": "POBOX", "City": "X"}]}
    assert contact_fields_changed(existing, {"Name": "acme ltd", "EmailAddress": "ap@acme.example",
                                             "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "1"}],
                                             "Addresses": [{"AddressType": "STREET", "City": "Sydney"}]}) == []
    assert contact_fields_changed(existing, {"Name": "Acme Ltd", "EmailAddress": "ar@acme.example",
                                             "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "2"}],
                                             "Addresses": [{"AddressType": "STREET", "City": "Perth"}]}) == [
        "email", "phone", "address"]
    assert contact_fields_changed(existing, {"TaxNumber": "12"}) == ["tax number"]

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

"""XeroProvider and the host's PDF: uploaded once onto the Xero document (also after a lost answer),
refusals are the item's own, a missing attachments scope is no failure of the connection."""
from __future__ import annotations

from test_client_helpers import (  # noqa: F401
    client_emulator_server, env, xero,
)
from test_provider_overpayments import _customer_and_invoice

from coworks_xero.services import documents as docs
from coworks_xero.services import provider as prov
from coworks_xero.services.xero import errors
from coworks_xero.services.xero.provider import XeroProvider

PDF = b"%PDF-1.4\nthe invoice\n%%EOF\n"
ROUTE = "PUT /Invoices/{InvoiceID}/Attachments/{FileName}"


def _item(doc_id, key, attempt=0, maybe_sent=None, content=PDF, check=False, name="INV_2026_00001.pdf"):
    obj = docs.Attachment(ref="account.move,1", document_kind=docs.KIND_INVOICE, document_remote_id=doc_id,
                          file_name=name, content=content, document_label="invoice INV/2026/00001",
                          check_existing=check)
    return prov.WorkItem(key=key, kind="attachment", operation=prov.OP_UPSERT, obj=obj, attempt=attempt,
                         maybe_sent=maybe_sent)


def test_uploaded_once_then_found_not_uploaded_again(env, xero):
    _contact, inv_id = _customer_and_invoice(xero)
    provider = XeroProvider(xero)
    env.clear_log()
    [first] = provider.run([_item(inv_id, "j1")])
    assert first.ok, first.message
    assert first.details["request"]["ContentLength"] == len(PDF)
    assert env.requests_log()["counts"] == {ROUTE: 1}  # a fresh job does not list first
    # the answer was lost: the job is sent again (maybe_sent) and finds its file
    [again] = provider.run([_item(inv_id, "j1", attempt=1, maybe_sent=True)])
    assert again.ok and again.remote_id == first.remote_id
    assert "already in Xero" in again.details["notes"][0]
    assert len(xero.get_attachments("invoice", inv_id)) == 1
    assert env.requests_log()["counts"][ROUTE] == 1


def test_lost_answer_after_the_upload_is_not_a_second_file(env, xero):
    _contact, inv_id = _customer_and_invoice(xero)
    env.fault(ROUTE, "drop_after_write")
    provider = XeroProvider(xero)
    try:
        results = provider.run([_item(inv_id, "j2")])
    except prov.ProviderError:
        results = None  # the client gave up on the connection: the engine backs off
    if results is not None:  # the client's own retry replayed the key
        assert results[0].ok
    [retry] = provider.run([_item(inv_id, "j2", attempt=1, maybe_sent=True, content=PDF + b"re-rendered")])
    assert retry.ok, retry.message
    assert len(xero.get_attachments("invoice", inv_id)) == 1


def test_too_large_is_refused_before_sending(env, xero):
    _contact, inv_id = _customer_and_invoice(xero)
    env.clear_log()
    [big] = XeroProvider(xero).run([_item(inv_id, "j3", content=b"x" * (errors.ATTACHMENT_MAX_BYTES + 1))])
    assert not big.ok and big.error_kind == prov.VALIDATION
    assert big.details["error_code"] == errors.ATTACHMENT_TOO_LARGE and "25 MB" in big.message
    assert ROUTE not in env.requests_log()["counts"]


def test_missing_scope_is_the_items_problem_not_the_connections(env):
    from coworks_xero.services.xero.oauth import InMemoryTokenStore
    store = InMemoryTokenStore(env.grant(scopes="openid offline_access accounting.transactions "
                                                "accounting.contacts accounting.settings"))
    client = env.client(store=store)
    _contact, inv_id = _customer_and_invoice(client)
    [res] = XeroProvider(client).run([_item(inv_id, "j4")])
    assert not res.ok and res.error_kind == prov.MAPPING
    assert res.details["error_code"] == errors.ATTACHMENTS_SCOPE_MISSING and "Reconnect" in res.message


def test_unknown_document_is_not_found(env, xero):
    [res] = XeroProvider(xero).run([_item("00000000-0000-0000-0000-000000000000", "j5")])
    assert not res.ok and res.error_kind == prov.NOT_FOUND
    assert res.details["error_code"] == errors.DOCUMENT_NOT_FOUND

"""XeroClient attachments against the emulator (xero-python's attachment calls, octet-stream bodies)."""
from __future__ import annotations

import pytest

from test_client_helpers import client_emulator_server, env, xero  # noqa: F401
from test_client_ops import _uid, credit_note, invoice, new_contact_id

from coworks_xero.services.xero import errors

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # binary bytes: sent as they are


@pytest.mark.parametrize("kind", ["invoice", "credit_note"])
def test_upload_then_list(env, xero, kind):
    cid = new_contact_id(xero)
    if kind == "invoice":
        [doc] = xero.create_invoices([invoice(cid)], idempotency_key="i-" + _uid())
    else:
        [doc] = xero.create_credit_notes([credit_note(cid)], idempotency_key="c-" + _uid())
    assert doc.ok, doc.message
    assert xero.get_attachments(kind, doc.remote_id) == []
    result = xero.upload_attachment(kind, doc.remote_id, "INV_2026_0001.pdf", PDF, idempotency_key="a-" + _uid(),
                                    ref="job-1")
    assert result.ok, result.message
    assert result.ref == "job-1" and result.remote_number == "INV_2026_0001.pdf"
    [listed] = xero.get_attachments(kind, doc.remote_id)
    assert listed["AttachmentID"] == result.remote_id and listed["ContentLength"] == len(PDF)
    assert listed["IncludeOnline"] is True and listed["MimeType"] == "application/pdf"
    import hashlib
    collection = "Invoices" if kind == "invoice" else "CreditNotes"
    state = env.state()["Attachments"][doc.remote_id.lower()]
    assert state[0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    id_name = "InvoiceID" if kind == "invoice" else "CreditNoteID"
    route = f"PUT /{collection}/{{{id_name}}}/Attachments/{{FileName}}"
    assert route in env.requests_log()["counts"]


def test_same_key_is_one_file(env, xero):
    cid = new_contact_id(xero)
    [doc] = xero.create_invoices([invoice(cid)], idempotency_key="i-" + _uid())
    key = "a-" + _uid()
    first = xero.upload_attachment("invoice", doc.remote_id, "a.pdf", PDF, idempotency_key=key)
    again = xero.upload_attachment("invoice", doc.remote_id, "a.pdf", PDF, idempotency_key=key)
    assert first.remote_id == again.remote_id
    assert len(xero.get_attachments("invoice", doc.remote_id)) == 1


def test_refusals_are_results_with_codes(env, xero):
    cid = new_contact_id(xero)
    [doc] = xero.create_invoices([invoice(cid, number="INV-ATT-" + _uid())], idempotency_key="i-" + _uid())
    big = xero.upload_attachment("invoice", doc.remote_id, "big.pdf", b"x" * (errors.ATTACHMENT_MAX_BYTES + 1),
                                 idempotency_key="a-" + _uid(), label="invoice INV/1")
    assert not big.ok and big.error_kind == "validation"
    assert big.details["error_code"] == errors.ATTACHMENT_TOO_LARGE
    assert big.message.startswith("The PDF big.pdf of invoice INV/1: ")
    assert "25 MB" in big.message and "then Retry" in big.message
    for n in range(errors.ATTACHMENTS_PER_DOCUMENT):
        assert xero.upload_attachment("invoice", doc.remote_id, f"f{n}.pdf", PDF, idempotency_key="a-" + _uid()).ok
    full = xero.upload_attachment("invoice", doc.remote_id, "more.pdf", PDF, idempotency_key="a-" + _uid())
    assert not full.ok and full.details["error_code"] == errors.ATTACHMENT_LIMIT


def test_unknown_document_raises_not_found(env, xero):
    with pytest.raises(errors.XeroError) as exc:
        xero.upload_attachment("invoice", "00000000-0000-0000-0000-000000000000", "a.pdf", PDF,
                               idempotency_key="a-" + _uid())
    assert exc.value.kind == "not_found"


def test_file_name_with_spaces_and_signs_reaches_xero_as_it_is(env, xero):
    cid = new_contact_id(xero)
    [doc] = xero.create_invoices([invoice(cid)], idempotency_key="i-" + _uid())
    name = "Invoice INV_2026 #7 (é).pdf"
    result = xero.upload_attachment("invoice", doc.remote_id, name, PDF, idempotency_key="a-" + _uid())
    assert result.ok, result.message
    assert [a["FileName"] for a in xero.get_attachments("invoice", doc.remote_id)] == [name]

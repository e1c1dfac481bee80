"""Emulator: attachments of invoices and credit notes (PUT/POST by file name, GET list, GET content),
validated against the spec's octet-stream body, with Xero's rules (10 a document, 25 MB, a file name)."""
from __future__ import annotations

import pytest

from conftest import XeroHTTP, errors_of

from xero_emulator.org import ATTACHMENT_MAX_BYTES, ATTACHMENTS_PER_DOCUMENT

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SCOPES = ("openid offline_access accounting.transactions accounting.contacts accounting.settings "
          "accounting.attachments")


@pytest.fixture
def xa(emulator):
    return XeroHTTP(emulator, scopes=SCOPES)


def _upload(xa, collection, doc_id, name, content=PDF, method="PUT", online=True, **headers):
    return xa.call(method, f"/{collection}/{doc_id}/Attachments/{name}", data=content,
                   params={"IncludeOnline": "true"} if online else None,
                   headers={"Content-Type": "application/octet-stream", **headers})


def _documents(xa):
    contact = xa.contact("Attach Ltd")
    inv = xa.invoice(contact["ContactID"])
    cn = xa.credit_note(contact["ContactID"])
    return inv["InvoiceID"], cn["CreditNoteID"]


@pytest.mark.parametrize("collection", ["Invoices", "CreditNotes"])
def test_upload_list_and_read_back(xa, collection):
    inv_id, cn_id = _documents(xa)
    doc_id = inv_id if collection == "Invoices" else cn_id
    r = _upload(xa, collection, doc_id, "INV_0001.pdf")
    assert r.status_code == 200, r.text
    att = r.json()["Attachments"][0]
    assert att["FileName"] == "INV_0001.pdf" and att["MimeType"] == "application/pdf"
    assert att["ContentLength"] == len(PDF) and att["IncludeOnline"] is True
    listed = xa.get(f"/{collection}/{doc_id}/Attachments").json()["Attachments"]
    assert [a["AttachmentID"] for a in listed] == [att["AttachmentID"]]
    body = xa.get(f"/{collection}/{doc_id}/Attachments/INV_0001.pdf", headers={"contentType": "application/pdf"})
    assert body.status_code == 200 and body.content == PDF
    assert body.headers["Content-Type"] == "application/pdf"
    by_id = xa.get(f"/{collection}/{doc_id}/Attachments/{att['AttachmentID']}",
                   headers={"contentType": "application/pdf"})
    assert by_id.status_code == 200 and by_id.content == PDF
    # the document says it has attachments; the other kind's list is its own
    key = collection
    assert xa.get(f"/{collection}/{doc_id}").json()[key][0]["HasAttachments"] is True
    other = cn_id if collection == "Invoices" else inv_id
    other_collection = "CreditNotes" if collection == "Invoices" else "Invoices"
    assert xa.get(f"/{other_collection}/{other}/Attachments").json()["Attachments"] == []


def test_put_twice_is_two_files_post_replaces(xa):
    inv_id, _cn = _documents(xa)
    assert _upload(xa, "Invoices", inv_id, "a.pdf").status_code == 200
    assert _upload(xa, "Invoices", inv_id, "a.pdf").status_code == 200
    assert len(xa.get(f"/Invoices/{inv_id}/Attachments").json()["Attachments"]) == 2
    r = _upload(xa, "Invoices", inv_id, "b.pdf", content=b"%PDF-1 first", method="POST")
    assert r.status_code == 200, r.text
    r2 = _upload(xa, "Invoices", inv_id, "b.pdf", content=b"%PDF-1 second", method="POST")
    assert r2.json()["Attachments"][0]["AttachmentID"] == r.json()["Attachments"][0]["AttachmentID"]
    listed = xa.get(f"/Invoices/{inv_id}/Attachments").json()["Attachments"]
    assert len(listed) == 3
    assert xa.get(f"/Invoices/{inv_id}/Attachments/b.pdf", headers={"contentType": "application/pdf"}).content \
        == b"%PDF-1 second"


def test_at_most_ten_attachments_a_document(xa):
    inv_id, _cn = _documents(xa)
    for n in range(ATTACHMENTS_PER_DOCUMENT):
        assert _upload(xa, "Invoices", inv_id, f"f{n}.pdf").status_code == 200
    r = _upload(xa, "Invoices", inv_id, "eleventh.pdf")
    assert r.status_code == 400
    assert errors_of(r) == ["This document already has 10 attachments: Xero allows at most 10 on one document."]
    # replacing one of the ten is still allowed
    assert _upload(xa, "Invoices", inv_id, "f3.pdf", method="POST").status_code == 200


def test_size_limit_is_told(xa):
    inv_id, _cn = _documents(xa)
    r = _upload(xa, "Invoices", inv_id, "big.pdf", content=b"x" * (ATTACHMENT_MAX_BYTES + 1))
    assert r.status_code == 400
    assert "up to 25 MB (26214400 bytes)" in errors_of(r)[0]
    assert _upload(xa, "Invoices", inv_id, "limit.pdf", content=b"x" * ATTACHMENT_MAX_BYTES).status_code == 200


def test_file_name_and_bytes_are_required(xa):
    inv_id, _cn = _documents(xa)
    r = xa.call("PUT", f"/Invoices/{inv_id}/Attachments", data=PDF,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400 and "A file name is required" in errors_of(r)[0]
    r = _upload(xa, "Invoices", inv_id, "%20")
    assert r.status_code == 400 and "A file name is required" in errors_of(r)[0]
    r = _upload(xa, "Invoices", inv_id, "empty.pdf", content=b"")
    assert r.status_code == 400 and "empty" in errors_of(r)[0]
    assert xa.get(f"/Invoices/{inv_id}/Attachments").json()["Attachments"] == []


def test_spec_checks_parameters_and_unknown_documents(xa):
    inv_id, _cn = _documents(xa)
    r = _upload(xa, "Invoices", inv_id, "x.pdf", online=False)
    assert r.status_code == 200 and r.json()["Attachments"][0]["IncludeOnline"] is False
    r = xa.call("PUT", f"/Invoices/{inv_id}/Attachments/y.pdf", data=PDF, params={"IncludeOnline": "maybe"},
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400 and "IncludeOnline" in errors_of(r)[0]
    r = _upload(xa, "Invoices", "00000000-0000-0000-0000-000000000000", "x.pdf")
    assert r.status_code == 404
    assert xa.get(f"/Invoices/{inv_id}/Attachments/nothere.pdf").status_code == 404


def test_needs_the_attachments_scope(emulator):
    plain = XeroHTTP(emulator)  # the default grant: no accounting.attachments
    inv_id, _cn = _documents(plain)
    r = _upload(plain, "Invoices", inv_id, "x.pdf")
    assert r.status_code == 403
    assert plain.get(f"/Invoices/{inv_id}/Attachments").status_code == 403


def test_idempotency_key_replays_and_refuses_other_bytes(xa):
    inv_id, _cn = _documents(xa)
    first = _upload(xa, "Invoices", inv_id, "k.pdf", **{"Idempotency-Key": "att-1"})
    again = _upload(xa, "Invoices", inv_id, "k.pdf", **{"Idempotency-Key": "att-1"})
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["Attachments"][0]["AttachmentID"] == first.json()["Attachments"][0]["AttachmentID"]
    assert len(xa.get(f"/Invoices/{inv_id}/Attachments").json()["Attachments"]) == 1
    other = _upload(xa, "Invoices", inv_id, "k.pdf", content=PDF + b" ", **{"Idempotency-Key": "att-1"})
    assert other.status_code == 400


def test_state_and_faults_name_the_route(xa):
    inv_id, _cn = _documents(xa)
    route = "PUT /Invoices/{InvoiceID}/Attachments/{FileName}"
    xa.control("POST", "faults", json={"route": route, "kind": "status", "status": 500})
    assert _upload(xa, "Invoices", inv_id, "f.pdf").status_code == 500
    assert _upload(xa, "Invoices", inv_id, "f.pdf").status_code == 200
    state = xa.control("GET", "state", params={"tenant": xa.tenant}).json()
    (att,) = state["Attachments"][inv_id]
    assert att["FileName"] == "f.pdf" and len(att["sha256"]) == 64
    counts = xa.control("GET", "requests").json()["counts"]
    assert counts[route] == 2

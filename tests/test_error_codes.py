"""The stable error codes: decided in one place (services/xero/errors.py) from Xero's status,
headers and structured fields first, from ValidationErrors' text only where Xero gives nothing else."""
import json

import pytest

from coworks_xero.services.xero import client as client_mod
from coworks_xero.services.xero import errors as E
from coworks_xero.services.xero import preflight


def _validation_body(*messages, **element):
    return json.dumps({"ErrorNumber": 10, "Type": "ValidationException",
                       "Message": "A validation exception occurred",
                       "Elements": [dict(element, ValidationErrors=[{"Message": m} for m in messages])]}).encode()


@pytest.mark.parametrize("status,headers,body,code,kind", [
    (429, {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"}, b"", E.RATE_LIMITED, E.RETRYABLE),
    (429, {"Retry-After": "7", "X-Rate-Limit-Problem": "concurrent"}, b"", E.RATE_LIMITED, E.RETRYABLE),
    (429, {"Retry-After": "3600", "X-Rate-Limit-Problem": "Day"}, b"", E.DAILY_LIMIT, E.RETRYABLE),
    # a 429 without the header is still a rate limit: the status says so, not the words
    (429, {}, b"whatever the body says", E.RATE_LIMITED, E.RETRYABLE),
    (401, {}, json.dumps({"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"}).encode(),
     E.TOKEN_REVOKED, E.REAUTH),
    (400, {}, json.dumps({"error": "invalid_grant"}).encode(), E.TOKEN_REVOKED, E.REAUTH),
    (400, {}, json.dumps({"error": "invalid_client"}).encode(), E.APP_CREDENTIALS_INVALID, E.REAUTH),
    (401, {}, json.dumps({"error": "invalid_client"}).encode(), E.APP_CREDENTIALS_INVALID, E.REAUTH),
    (403, {}, json.dumps({"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}).encode(),
     E.ACCESS_DENIED, E.REAUTH),
    (500, {}, b"<html>oops</html>", E.SERVER_ERROR, E.RETRYABLE),
    (503, {}, b"The Xero API is currently offline for maintenance", E.SERVER_ERROR, E.RETRYABLE),
    (404, {}, b"", E.NOT_FOUND_CODE, E.NOT_FOUND),
    (409, {}, b"", E.CONFLICT_CODE, E.CONFLICT),
])
def test_whole_answers_are_coded_from_status_headers_and_oauth_fields(status, headers, body, code, kind):
    err = E.classify(status, headers, body)
    assert (err.code, err.kind) == (code, kind)
    assert err.details["error_code"] == code


def test_a_400_that_talks_of_rate_limits_is_not_taken_for_one():
    err = E.classify(400, {}, _validation_body("Your rate limit of patience was reached."), kind="invoice")
    assert err.kind == E.VALIDATION and err.code == E.VALIDATION_CODE


def test_network_outcomes_have_their_own_codes():
    assert E.http_code(None, network="timeout") == E.TIMEOUT
    assert E.http_code(None, network="connection") == E.NETWORK_ERROR
    err = E.XeroError(E.RETRYABLE, "Xero did not answer in time.", code=E.http_code(None, network="timeout"))
    assert err.code == E.TIMEOUT


@pytest.mark.parametrize("kind,message,code", [
    ("contact", "The contact name Buzz Lightyear is already assigned to another contact. The contact name must be "
                "unique across all active contacts.", E.CONTACT_NAME_TAKEN),
    ("contact", "The contact number C-12 is already assigned to another contact.", E.CONTACT_NUMBER_TAKEN),
    ("contact", "Email address must be valid.", E.CONTACT_FIELD_INVALID),
    ("contact", "Web Site URL does not have the correct format", E.CONTACT_FIELD_INVALID),
    ("invoice", "The contact ACME has been archived and cannot be used on a new transaction.", E.CONTACT_ARCHIVED),
    ("invoice", "The contact ACME has been merged into another contact.", E.CONTACT_MERGED),
    ("invoice", "Invoice # must be unique.", E.INVOICE_NUMBER_TAKEN),
    ("credit_note", "Credit Note # must be unique.", E.INVOICE_NUMBER_TAKEN),
    ("invoice", "Account code '476' has been removed as it does not match a recognised account.", E.ACCOUNT_INVALID),
    ("invoice", "Account code 'xxxx' is not a valid code for this document.", E.ACCOUNT_INVALID),
    ("invoice", "The TaxType code 'OUTPUT9' does not exist or cannot be used with this type of transaction.",
     E.TAX_TYPE_INVALID),
    ("invoice", "Line 1: the tracking option 'Closed' is not a valid active option of 'Campus'.", E.TRACKING_INVALID),
    ("invoice", "Item code 'GONE' is not valid.", E.ITEM_INVALID),
    ("invoice", "Price List Item Code must not be more than 30 characters long", E.ITEM_INVALID),
    ("credit_note", "Discounts are not supported on credit notes (DiscountRate/DiscountAmount).",
     E.DISCOUNT_NOT_ALLOWED),
    ("invoice", "The document date cannot be before the end of year lock date, currently set at 31-Jul-2013",
     E.LOCK_DATE),
    ("invoice", "Organisation is not subscribed to currency JPY", E.CURRENCY_NOT_ENABLED),
    ("payment", "A currency rate must be specified", E.CURRENCY_RATE_MISSING),
    ("invoice", "This document cannot be edited as it has a payment or credit note allocated to it.",
     E.DOCUMENT_NOT_EDITABLE),
    ("invoice", "Invoice not of valid status for modification", E.DOCUMENT_VOIDED_IN_XERO),
    ("payment", "Payments can only be made against Authorised documents", E.DOCUMENT_NOT_APPROVED),
    ("payment", "Payments can only be applied to AUTHORISED documents (this one is PAID).", E.ALREADY_PAID),
    ("payment", "Payments can only be applied to AUTHORISED documents (this one is VOIDED).",
     E.DOCUMENT_VOIDED_IN_XERO),
    ("payment", "Payment amount exceeds the amount outstanding on this document", E.OVERPAYMENT),
    ("payment", "Account '091' is not a bank account and does not have payments enabled.",
     E.PAYMENT_ACCOUNT_INVALID),
    # the same words about an account mean another fix on a payment than on an invoice line
    ("payment", "Account code '476' has been removed as it does not match a recognised account.",
     E.PAYMENT_ACCOUNT_INVALID),
    ("allocation", "The invoice you are trying to allocate to has already been paid off", E.ALREADY_PAID),
    ("allocation", "Credit Note cannot be allocated as amount is greater than remaining credit", E.CREDIT_EXHAUSTED),
    ("payment", "This payment has already been deleted.", E.ALREADY_DELETED),
    ("payment", "Payment could not be found.", E.DOCUMENT_NOT_FOUND),
    ("invoice", "You have reached the limit of invoices for the trial version", E.ORGANISATION_LIMIT),
    ("invoice", "Something Xero never said before.", E.VALIDATION_CODE),
])
def test_element_messages_are_coded_where_xero_gives_nothing_else(kind, message, code):
    err = E.classify(400, {}, _validation_body(message), kind=kind)
    assert err.code == code, err.message
    result = client_mod.element_result(kind, {}, {"HasErrors": True, "StatusAttributeString": "ERROR",
                                                  "ValidationErrors": [{"Message": message}]})
    assert not result.ok and result.details["error_code"] == code


def test_the_documents_status_in_the_answer_beats_the_ambiguous_words():
    # "not of valid status for modification" answers a VOIDED and a PAID document alike
    element = {"Status": "PAID", "ValidationErrors": [{"Message": "Invoice not of valid status for modification"}]}
    assert E.element_code("invoice", element, E.element_messages(element)) == E.ALREADY_PAID
    element["Status"] = "VOIDED"
    assert E.element_code("invoice", element, E.element_messages(element)) == E.DOCUMENT_VOIDED_IN_XERO
    assert E.status_code("DELETED") == E.DOCUMENT_VOIDED_IN_XERO
    assert E.status_code("PAID") == E.ALREADY_PAID
    assert E.status_code("AUTHORISED") == E.DOCUMENT_NOT_EDITABLE


def test_a_batch_answer_with_several_failures_keeps_the_first_code_and_advises_each():
    body = json.dumps({"ErrorNumber": 10, "Type": "ValidationException", "Elements": [
        {"InvoiceNumber": "A", "ValidationErrors": [{"Message": "Invoice # must be unique."}]},
        {"InvoiceNumber": "B", "ValidationErrors": [{"Message": "Organisation is not subscribed to currency JPY"}]},
    ]}).encode()
    err = E.classify(400, {}, body, kind="invoice")
    assert err.code == E.INVOICE_NUMBER_TAKEN
    assert "Invoice A: Invoice # must be unique — " in err.message
    assert "Invoice B: Organisation is not subscribed to currency JPY — add the currency in Xero" in err.message


def test_a_created_looking_element_without_a_real_id_is_coded():
    result = client_mod.element_result("credit_note", {}, {"CreditNoteID": "00000000-0000-0000-0000-000000000000",
                                                           "StatusAttributeString": "OK"})
    assert not result.ok and result.details["error_code"] == E.NO_ID_RETURNED


@pytest.mark.parametrize("problem,code", [
    ("account_archived", E.ACCOUNT_INVALID), ("account_missing", E.ACCOUNT_INVALID),
    ("account_bank", E.ACCOUNT_INVALID), ("tax_missing", E.TAX_TYPE_INVALID), ("tax_inactive", E.TAX_TYPE_INVALID),
    ("tracking_option_inactive", E.TRACKING_INVALID), ("item_code_too_long", E.ITEM_INVALID),
    ("lock_date", E.LOCK_DATE), ("currency_not_enabled", E.CURRENCY_NOT_ENABLED),
    ("payment_account_not_payable", E.PAYMENT_ACCOUNT_INVALID), ("payment_account_archived", E.PAYMENT_ACCOUNT_INVALID),
    ("amount", E.VALIDATION_CODE),
])
def test_preflight_problems_carry_the_code_xero_would_answer(problem, code):
    assert E.preflight_code(problem) == code


def test_preflight_lock_date_is_coded_like_xeros_refusal():
    import datetime
    from coworks_xero.services import documents as docs
    doc = docs.Document(ref="m,1", kind=docs.KIND_INVOICE, number="INV/1", date=datetime.date(2026, 1, 5),
                        customer=docs.Customer(ref="p,1", name="ACME", remote_id="c"), lines=[],
                        currency_code="AUD")
    problems = preflight.errors(preflight.check(doc, {"Organisation": {"BaseCurrency": "AUD",
                                                                       "PeriodLockDate": "2026-01-31"}}))
    assert [E.preflight_code(p.code) for p in problems] == [E.LOCK_DATE]


def test_advice_makes_one_sentence_saying_what_to_do():
    out = E.with_advice("Invoice X: Organisation is not subscribed to currency JPY.", E.CURRENCY_NOT_ENABLED)
    assert out.count(".") == 1 and out.endswith("then Retry.")
    assert "Settings > Currencies" in out
    # no advice known: Xero's sentence as it was; advice already there: not twice
    assert E.with_advice("Invoice X: odd.", E.VALIDATION_CODE) == "Invoice X: odd."
    assert E.with_advice(out, E.CURRENCY_NOT_ENABLED) == out


def test_every_advised_code_is_a_published_constant():
    published = {v for k, v in vars(E).items() if k.isupper() and isinstance(v, str) and v.islower()}
    assert set(E.ADVICE) <= published
    assert {code for code, _pattern, _kinds in E._MESSAGE_CODES} <= published


@pytest.mark.parametrize("status,due,amount,code", [
    ("PAID", 0, 100, E.ALREADY_PAID),
    ("VOIDED", 100, 100, E.DOCUMENT_VOIDED_IN_XERO),
    ("DRAFT", 100, 100, E.DOCUMENT_NOT_APPROVED),
    ("AUTHORISED", "40.00", 100, E.OVERPAYMENT),
    ("AUTHORISED", 100, 100, None),
    ("", None, 100, None),
])
def test_a_refused_payment_is_explained_by_the_document_xero_holds(status, due, amount, code):
    assert E.payment_refusal_code(status, due, amount) == code

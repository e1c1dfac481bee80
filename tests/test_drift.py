"""The drift report's comparison of a host document with the provider's copy."""
import datetime as dt
from decimal import Decimal

from coworks_xero.services import drift
from coworks_xero.services.xero.inbound import remote_document


def host(**kw):
    base = dict(ref="account.move,1", label="INV/1", posted=True, total=Decimal("110.00"), paid=Decimal("0"),
                contact_id="c-1", currency_code="AUD", date=dt.date(2026, 11, 2))
    base.update(kw)
    return drift.HostDocument(**base)


def xero(**kw):
    data = {"Type": "ACCREC", "InvoiceID": "I-1", "InvoiceNumber": "INV/1", "Status": "AUTHORISED",
            "Total": 110.0, "AmountDue": 110.0, "Contact": {"ContactID": "C-1"}, "CurrencyCode": "AUD",
            "Date": "2026-11-02T00:00:00"}
    data.update(kw)
    return remote_document(data)


def test_agreeing_documents_have_no_difference():
    assert drift.compare(host(), xero()) == []
    assert drift.compare(host(paid=Decimal("110")), xero(Status="PAID", AmountDue=0)) == []
    assert drift.compare(host(posted=False), xero(Status="VOIDED")) == []
    assert drift.compare(host(posted=False), None) == []


def test_each_difference_is_named_with_both_values():
    [d] = drift.compare(host(), xero(Total=120.0, AmountDue=120.0))
    assert (d.problem, d.host_value, d.remote_value) == ("total", "110.00", "120.00")
    [d] = drift.compare(host(paid=Decimal("50")), xero())
    assert (d.problem, d.host_value, d.remote_value) == ("paid", "50.00", "0.00")
    [d] = drift.compare(host(), xero(Contact={"ContactID": "c-2"}))
    assert d.problem == "contact"
    [d] = drift.compare(host(), xero(CurrencyCode="USD"))
    assert d.problem == "currency"
    [d] = drift.compare(host(), xero(Date="2026-11-03T00:00:00"))
    assert (d.problem, d.remote_value) == ("date", "2026-11-03")


def test_status_and_existence():
    [d] = drift.compare(host(), None)
    assert d.problem == "missing" and "INV/1" in d.sentence
    [d] = drift.compare(host(), xero(Status="VOIDED"))
    assert (d.problem, d.remote_value) == ("status", "VOIDED")
    [d] = drift.compare(host(posted=False), xero())
    assert (d.problem, d.host_value) == ("status", "cancelled")


def test_cents_decide_not_float_noise():
    assert drift.compare(host(total=Decimal("0.1") + Decimal("0.2")), xero(Total=0.3, AmountDue=0.3)) == []
    assert drift.compare(host(total=Decimal("110.004")), xero()) == []
    assert drift.compare(host(total=Decimal("110.01")), xero())[0].problem == "total"

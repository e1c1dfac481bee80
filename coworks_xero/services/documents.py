"""Provider-neutral snapshots of the host's documents.

The Odoo models turn their records into these plain dataclasses; a provider
(Xero today, QuickBooks later) turns them into its own wire payloads. Nothing
here knows about Odoo or about Xero, so both sides stay unit-testable.

Amounts are ``decimal.Decimal`` in the document's currency, already rounded the
way the host rounded them: the host's figures are the truth the provider must
reproduce to the cent.
"""
from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal

LINE_PRODUCT = "product"
LINE_SECTION = "line_section"
LINE_NOTE = "line_note"
LINE_SUBSECTION = "line_subsection"  # Odoo 19: a section within a section
TEXT_LINES = (LINE_SECTION, LINE_SUBSECTION, LINE_NOTE)

TAX_EXCLUSIVE = "Exclusive"
TAX_INCLUSIVE = "Inclusive"
TAX_NONE = "NoTax"

KIND_INVOICE = "invoice"
KIND_CREDIT_NOTE = "credit_note"
# A Payment's document can also be the customer's credit (an Overpayment): money paid back to the
# customer out of it (a refund of customer credit).
KIND_OVERPAYMENT = "overpayment"


@dataclasses.dataclass
class Address:
    street: str = ""
    street2: str = ""
    city: str = ""
    zip: str = ""
    state: str = ""
    country_code: str = ""


@dataclasses.dataclass
class Customer:
    """The commercial partner, as the contact that documents are addressed to."""

    ref: str  # stable host key, e.g. "res.partner,42"
    name: str
    email: str = ""
    phone: str = ""
    mobile: str = ""
    vat: str = ""
    currency_code: str = ""
    address: Address = dataclasses.field(default_factory=Address)
    contact_number: str = ""  # our own key, shown as "Contact Code" in Xero
    remote_id: str = ""  # Xero ContactID once known
    active: bool = True
    # When the provider last accepted this customer from the host (naive UTC): see
    # edited_on_both_sides.
    synced_at: datetime.datetime | None = None


@dataclasses.dataclass
class Tracking:
    category: str  # tracking category name in Xero
    option: str  # option name in Xero
    # Optional: what the host mapped this from, named for a person, e.g.
    # "campus 'Soho'"; pre-flight messages say what to fix with it.
    source: str = ""


@dataclasses.dataclass
class Line:
    description: str
    display_type: str = LINE_PRODUCT
    quantity: Decimal = Decimal("1")
    unit_price: Decimal = Decimal("0")
    discount_percent: Decimal = Decimal("0")
    account_code: str = ""
    item_code: str = ""
    tax_type: str = ""
    # What the host computed for this line; the payload builder compares them
    # with Xero's own per-line rounding to decide what to send explicitly.
    subtotal: Decimal = Decimal("0")  # untaxed line amount after discount
    tax_amount: Decimal = Decimal("0")
    total: Decimal = Decimal("0")
    tracking: list[Tracking] = dataclasses.field(default_factory=list)
    ref: str = ""  # e.g. "account.move.line,7"
    # Optional additions (payload builder / pre-flight):
    # the tax rate in percent behind tax_type (Xero's EffectiveRate); when
    # unknown, the builder sends the host's tax amount explicitly.
    tax_rate: Decimal | None = None
    # what the account/item and the tax were mapped from, named for a person,
    # e.g. "item kind 'Day pass'" and "tax 'VAT 20%'": pre-flight messages
    # tell the manager which mapping to fix.
    mapping_source: str = ""
    tax_source: str = ""
    # The host's tax amount is sent as it is, whatever Xero would compute (the tax mapping says
    # so: the host's rate and Xero's differ on purpose); ``tax_override_reason`` says why, for
    # the sync log.
    send_tax_amount: bool = False
    tax_override_reason: str = ""


@dataclasses.dataclass
class Document:
    """A customer invoice or credit note."""

    ref: str  # e.g. "account.move,12"
    kind: str  # KIND_INVOICE | KIND_CREDIT_NOTE
    number: str
    date: datetime.date
    customer: Customer
    lines: list[Line]
    currency_code: str
    line_amount_types: str = TAX_EXCLUSIVE
    due_date: datetime.date | None = None
    reference: str = ""
    currency_rate: Decimal | None = None  # units of document currency per 1 base currency
    amount_untaxed: Decimal = Decimal("0")
    amount_tax: Decimal = Decimal("0")
    amount_total: Decimal = Decimal("0")
    status: str = "AUTHORISED"
    url: str = ""
    remote_id: str = ""  # Xero InvoiceID / CreditNoteID once known
    rounding_account_code: str = ""  # where a cent difference is booked visibly
    # Xero payments/allocations this integration created for the document: the only ones it
    # may remove on its own (e.g. to void); a payment entered by hand in Xero blocks instead.
    remote_payment_ids: list[str] = dataclasses.field(default_factory=list)
    remote_allocation_ids: list[str] = dataclasses.field(default_factory=list)
    # The host closed (voided/deleted) the provider's copy itself and now posts the document
    # again: re-creating it under a new number is expected, not a surprise to block on.
    allow_recreate: bool = False
    # When the provider last accepted this document from the host (naive UTC): a copy changed
    # there after that was edited on the provider's side too (see edited_on_both_sides).
    synced_at: datetime.datetime | None = None


@dataclasses.dataclass
class Payment:
    """Money received against an invoice, or paid out against a credit note or out of a
    customer's credit (an overpayment)."""

    ref: str  # e.g. "account.payment,5:account.move,12"
    document_ref: str
    # KIND_INVOICE (receipt) | KIND_CREDIT_NOTE (refund) | KIND_OVERPAYMENT (refund of credit)
    document_kind: str
    document_remote_id: str
    amount: Decimal
    date: datetime.date
    bank_account_code: str
    reference: str = ""
    currency_rate: Decimal | None = None
    remote_id: str = ""
    # Optional: what the bank account was mapped from, e.g. "journal 'Bank'".
    account_source: str = ""
    # Xero PaymentIDs on the same document that other host payments already own: a look-up for
    # a payment that may have reached Xero never takes one of them for this one.
    known_remote_ids: tuple = ()


@dataclasses.dataclass
class Allocation:
    """Part of a credit note applied to an invoice."""

    ref: str
    credit_note_remote_id: str
    invoice_remote_id: str
    amount: Decimal
    date: datetime.date
    remote_id: str = ""
    # AllocationIDs on the same credit note that other host allocations already own.
    known_remote_ids: tuple = ()


@dataclasses.dataclass
class Overpayment:
    """Money a customer paid that settles nothing (yet): the customer's credit.

    The host keeps it as credit on the customer's receivable (a payment larger than what it
    reconciles, a deposit reconciled with nothing); Xero as an Overpayment, received into a bank
    account and later applied (allocated) to the customer's invoices."""

    ref: str  # e.g. "coworks.xero.payment.link,9"
    contact_remote_id: str  # the customer's Xero ContactID
    amount: Decimal
    date: datetime.date
    bank_account_code: str
    currency_code: str
    reference: str = ""  # the host payment's number: how a lost answer is found again
    description: str = ""
    currency_rate: Decimal | None = None  # units of currency_code per 1 base currency
    remote_id: str = ""  # OverpaymentID once known
    transaction_remote_id: str = ""  # the BankTransactionID that created it (voided to remove it)
    account_source: str = ""  # what the bank account was mapped from, e.g. "journal 'Bank'"
    # OverpaymentIDs other host credits already own: never taken as this one's.
    known_remote_ids: tuple = ()


@dataclasses.dataclass
class CreditAllocation:
    """Part of a customer's credit (an Overpayment) applied to one invoice."""

    ref: str
    credit_remote_id: str  # OverpaymentID
    invoice_remote_id: str
    amount: Decimal
    date: datetime.date
    remote_id: str = ""  # AllocationID once known
    # AllocationIDs on the same overpayment that other host allocations already own.
    known_remote_ids: tuple = ()
    # What the host's other live allocations of the same credit apply to the same invoice: a
    # provider that keeps one amount per credit and invoice sets it to this plus (or, to remove
    # this one, without) ``amount``, so a repeated send changes nothing.
    others_on_invoice: Decimal = Decimal("0")


def edited_on_both_sides(remote_updated_at: datetime.datetime | None, host_synced_at: datetime.datetime | None,
                         differs: bool) -> bool:
    """The provider's copy was changed after the host last sent it, and it differs from what the
    host sends now: both sides edited the document (the same minute or not). The rule, one for
    every provider and kind: the host's document is the document of record, so the host's version
    is sent and the change made on the provider's side is named in a note on the document and in
    the sync log, so a person can make it again in the host if it was right. Payments and voids
    made on the provider's side are not edits: they come back as inbound changes."""
    if not (differs and remote_updated_at and host_synced_at):
        return False
    # The host keeps whole seconds (and records its time after the provider's answer): the
    # provider's change must be in a later second than the host's last send to count, so the
    # host's own send is never taken for an edit made on the other side.
    return remote_updated_at.replace(microsecond=0) > host_synced_at.replace(microsecond=0)


@dataclasses.dataclass
class Result:
    """The outcome of one document in a batch: never raised, always returned."""

    ref: str
    ok: bool
    remote_id: str = ""
    remote_number: str = ""
    remote_status: str = ""
    # error_kind: "retryable" | "reauth" | "validation" | "not_found" | "conflict"
    error_kind: str = ""
    message: str = ""  # one readable sentence for a person
    details: dict = dataclasses.field(default_factory=dict)

"""Vocabulary shared by the models (kept in one place so views, mappings and jobs agree)."""

ITEM_KINDS = [
    ("plan", "Plan"),
    ("day_pass", "Day pass"),
    ("external_booking", "External booking"),
    ("one_off", "One-off"),
    ("booking_overage", "Booking overage"),
    ("transaction_fee", "Transaction fee"),
    ("custom_fee", "Custom fee"),
]
# Kinds Xero models as Products/Services (Items); the fees go to an Account (+ tracking).
ITEM_KINDS_AS_ITEMS = {"plan", "day_pass", "external_booking", "one_off", "booking_overage"}
ITEM_KINDS_AS_ACCOUNTS = {"transaction_fee", "custom_fee"}

# The providers the engine ships with; a second provider's own model file adds its code to
# ``coworks.sync.connection.provider`` and ``res.company.coworks_sync_provider`` (``selection_add``),
# the way a payment module adds its ``payment.provider.code``.
PROVIDERS = [("xero", "Xero")]

# In the order an entry goes through them (the form's status bar shows them so).
SYNC_STATES = [
    ("pending", "Pending"),
    ("error", "Needs attention"),
    ("done", "Synced"),
    # Deliberately not sent (a draft or cancelled document, a record deleted or unreconciled
    # before it left): terminal like "done", but nothing reached Xero; the reason is in the log.
    ("skipped", "Not sent"),
    ("cancelled", "Cancelled"),
]

# Badge shown on documents: computed from their jobs.
DOCUMENT_SYNC_STATES = [
    ("none", "Not synced"),
    ("pending", "Queued"),
    ("done", "Synced"),
    ("skipped", "Not sent"),
    ("error", "Needs attention"),
]

"""Xero constants: hosts, paths, the OAuth scope list (the one place), limits.

Pure data, no imports beyond the standard library.
"""
from __future__ import annotations

# Hosts of real Xero. The emulator serves all of them under one base URL
# (see docs/architecture.md), so each is configurable in ``ClientConfig``.
API_BASE_URL = "https://api.xero.com"
IDENTITY_URL = "https://identity.xero.com"
LOGIN_URL = "https://login.xero.com"

ACCOUNTING_PATH = "/api.xro/2.0"  # {base}/api.xro/2.0/...
CONNECTIONS_PATH = "/Connections"  # {base}/Connections[/{id}]
AUTHORIZE_PATH = "/identity/connect/authorize"  # {login}/identity/connect/authorize
TOKEN_PATH = "/connect/token"  # {identity}/connect/token
REVOKE_PATH = "/connect/revocation"  # {identity}/connect/revocation

# Xero's granular scopes (apps created from March 2026 can no longer ask for
# accounting.transactions). Change the scopes here and nowhere else.
SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.contacts",
    "accounting.settings",
    "accounting.invoices",
    "accounting.payments",
    # customer credit (overpayments) is created as a bank transaction (PUT /BankTransactions)
    "accounting.banktransactions",
    # the Odoo PDF attached to invoices and credit notes (an option, off by default)
    "accounting.attachments",
)
# What creating an overpayment needs (a connection authorised before it was asked for lacks it).
BANK_TRANSACTION_SCOPES = ("accounting.banktransactions", "accounting.transactions")
# What attaching the Odoo PDF needs (a connection authorised before it was asked for lacks it).
ATTACHMENT_SCOPES = ("accounting.attachments",)
SCOPE = " ".join(SCOPES)

# Rate limits (https://developer.xero.com/faq/limits).
MINUTE_LIMIT = 60  # calls per tenant per minute
DAY_LIMIT = 5000  # calls per tenant per (rolling) day
APP_MINUTE_LIMIT = 10000  # calls per app per minute, all tenants together
CONCURRENT_LIMIT = 5  # calls in flight per tenant
MINUTE = 60.0
DAY = 86400.0

# Response headers carrying what is left of each budget.
HEADER_MIN_REMAINING = "X-MinLimit-Remaining"
HEADER_DAY_REMAINING = "X-DayLimit-Remaining"
HEADER_APP_MIN_REMAINING = "X-AppMinLimit-Remaining"
HEADER_RATE_LIMIT_PROBLEM = "X-Rate-Limit-Problem"
HEADER_RETRY_AFTER = "Retry-After"
HEADER_CORRELATION_ID = "Xero-Correlation-Id"
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 128

# Batches: Xero advises bundles of up to 50 elements per call.
BATCH_SIZE = 50

# OAuth.
ACCESS_TOKEN_LIFETIME = 1800  # seconds, as Xero issues them
REFRESH_MARGIN = 120  # refresh when the access token expires within this

ZERO_GUID = "00000000-0000-0000-0000-000000000000"

# Client defaults.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 30.0

"""The seeded companies (realms), apps and reference data. Ids are fixed, as Intuit's are per company."""
from __future__ import annotations

from decimal import Decimal

REALM_US = "9341455200000001"
REALM_UK = "9341455200000002"
SEEDED_REALMS = (REALM_US, REALM_UK)
DEMO_CLIENT_ID = "coworks-qbo-demo-client"
DEMO_CLIENT_SECRET = "coworks-qbo-demo-secret"
# the webhook verifier token of the demo app (Intuit shows one per app in the developer portal)
DEMO_VERIFIER_TOKEN = "coworks-qbo-verifier-token"


def demo_apps():
    return {DEMO_CLIENT_ID: {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                             "redirect_uris": [], "loopback_any": True}}


# Accounts: (Id, Name, AccountType, AccountSubType, Classification)
_ACCOUNTS = [
    ("1", "Services", "Income", "ServiceFeeIncome", "Revenue"),
    ("2", "Memberships", "Income", "ServiceFeeIncome", "Revenue"),
    ("3", "Other Income", "Other Income", "OtherMiscellaneousIncome", "Revenue"),
    ("4", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
    ("5", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
    ("35", "Checking", "Bank", "Checking", "Asset"),
    ("36", "Card Clearing", "Other Current Asset", "OtherCurrentAssets", "Asset"),
    ("86", "Discounts given", "Income", "DiscountsRefundsGiven", "Revenue"),
    ("87", "Sales tax payable", "Other Current Liability", "SalesTaxPayable", "Liability"),
    ("88", "Old Lockers", "Income", "ServiceFeeIncome", "Revenue"),  # inactive
    ("90", "Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses", "Expense"),
]
INACTIVE_ACCOUNTS = {"88"}

# Items: (Id, Name, Type, IncomeAccountRef, UnitPrice, Taxable)
_ITEMS = [
    ("1", "Services", "Service", "1", Decimal("0"), True),
    ("2", "Plan - Hot desk", "Service", "2", Decimal("350"), True),
    ("3", "Plan - Dedicated desk", "Service", "2", Decimal("550"), True),
    ("4", "Day pass", "Service", "1", Decimal("35"), True),
    ("5", "External booking", "Service", "1", Decimal("0"), True),
    ("6", "One-off", "Service", "1", Decimal("0"), True),
    ("7", "Booking overage", "Service", "1", Decimal("20"), True),
    ("8", "Transaction fee", "Service", "3", Decimal("0"), False),
    ("9", "Custom fee", "Service", "3", Decimal("0"), True),
    ("10", "Refunds", "Service", "1", Decimal("0"), False),
    ("11", "Old locker", "Service", "88", Decimal("10"), True),  # inactive
]
INACTIVE_ITEMS = {"11"}

_CLASSES = [("1", "Downtown"), ("2", "Harbour"), ("3", "Riverside")]
INACTIVE_CLASSES = {"3"}
_DEPARTMENTS = [("1", "Downtown campus"), ("2", "Harbour campus")]

# US: manual sales tax. TaxRates (Id, Name, RateValue, AgencyRef); TaxCodes (Id, Name, [rate ids]).
US_TAX_RATES = [("1", "NY State", Decimal("4"), "1"), ("2", "NYC", Decimal("4.875"), "1"),
                ("3", "Westchester", Decimal("4.375"), "1")]
US_TAX_CODES = [("2", "NYC combined", ["1", "2"]), ("3", "Westchester combined", ["1", "3"])]
# UK: VAT codes on lines.
UK_TAX_RATES = [("1", "20.0% S", Decimal("20"), "1"), ("2", "5.0% R", Decimal("5"), "1"),
                ("3", "0.0% Z", Decimal("0"), "1"), ("4", "Exempt", Decimal("0"), "1")]
UK_TAX_CODES = [("2", "20.0% S", ["1"]), ("3", "5.0% R", ["2"]), ("4", "0.0% Z", ["3"]), ("5", "Exempt", ["4"]),
                ("6", "No VAT", [])]

# "MultiCurrency": the company's CurrencyPrefs.MultiCurrencyEnabled when the realm is seeded (off, as a
# new QuickBooks company is; POST /__emulator__/multicurrency turns it on, and once on it stays on).
COMPANIES = {
    REALM_US: {"CompanyName": "Coworks Demo US", "Country": "US", "Currency": "USD",
               "CurrencyName": "United States Dollar", "rates": US_TAX_RATES, "codes": US_TAX_CODES,
               "MultiCurrency": False},
    REALM_UK: {"CompanyName": "Coworks Demo UK", "Country": "GB", "Currency": "GBP",
               "CurrencyName": "British Pound Sterling", "rates": UK_TAX_RATES, "codes": UK_TAX_CODES,
               "MultiCurrency": False},
}

# The currencies a multicurrency company can use, and QuickBooks' own exchange rate of each (one unit
# of the currency in US dollars) that a transaction without ExchangeRate is given. A home currency other
# than USD divides by its own rate.
CURRENCY_NAMES = {"USD": "United States Dollar", "GBP": "British Pound Sterling", "EUR": "Euro",
                  "CAD": "Canadian Dollar", "AUD": "Australian Dollar", "CHF": "Swiss Franc"}
USD_PER_UNIT = {"USD": Decimal("1"), "GBP": Decimal("1.25"), "EUR": Decimal("1.08"), "CAD": Decimal("0.74"),
                "AUD": Decimal("0.66"), "CHF": Decimal("1.12")}


def extra_realm(n):
    return str(9341455200001000 + n)

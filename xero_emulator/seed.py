"""Seeded demo organisations and the demo OAuth app. Ids are fixed so tests and demos can name them.

Every object id is ``uuid5(NAMESPACE, "<tenant>/<kind>/<key>")``, so it is stable across resets
and processes.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

NAMESPACE = uuid.UUID("6f0e6c8a-5d0b-4e55-9a7c-3c0ee0b1c0de")

TENANT_AU = "b7d2f4a0-6c1e-4f3a-9a2e-0c5d1a7e2a01"
TENANT_UK = "c3e8a5b1-2d4f-4b6a-8c7d-1e9f0a2b3c02"

DEMO_CLIENT_ID = "coworks-demo-client"
DEMO_CLIENT_SECRET = "coworks-demo-secret"
DEMO_USER_ID = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
# the demo app accepts any loopback callback with this path (real Xero needs exact URIs: register
# exact ones through POST /__emulator__/apps for other apps)
DEMO_CALLBACK_PATH = "/coworks_xero/oauth/callback"

# XE-style day rates (units of foreign currency per 1 base unit), used when a document in a foreign
# currency omits CurrencyRate
FX_RATES = {
    "AUD": {"USD": Decimal("0.650000"), "EUR": Decimal("0.600000"), "GBP": Decimal("0.520000")},
    "GBP": {"EUR": Decimal("1.170000"), "USD": Decimal("1.270000"), "AUD": Decimal("1.920000")},
}


def oid(tenant: str, kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{tenant}/{kind}/{key}"))


def _account(t, code, name, type_, tax, status="ACTIVE", **extra):
    acc = {
        "AccountID": oid(t, "account", code),
        "Code": code,
        "Name": name,
        "Type": type_,
        "TaxType": tax,
        "Status": status,
        "Description": "",
        "EnablePaymentsToAccount": False,
        "ShowInExpenseClaims": False,
        "Class": {
            "BANK": "ASSET", "CURRENT": "ASSET", "REVENUE": "REVENUE", "SALES": "REVENUE",
            "OTHERINCOME": "REVENUE", "CURRLIAB": "LIABILITY", "EXPENSE": "EXPENSE",
            "OVERHEADS": "EXPENSE", "EQUITY": "EQUITY",
        }.get(type_, "ASSET"),
        "ReportingCode": "",
        "HasAttachments": False,
        "AddToWatchlist": False,
    }
    acc.update(extra)
    return acc


def _tax(name, tax_type, rate, revenue=True, status="ACTIVE"):
    rate = Decimal(rate)
    return {
        "Name": name,
        "TaxType": tax_type,
        "Status": status,
        "ReportTaxType": "OUTPUT" if revenue else "INPUT",
        "CanApplyToAssets": True,
        "CanApplyToEquity": True,
        "CanApplyToExpenses": not revenue,
        "CanApplyToLiabilities": True,
        "CanApplyToRevenue": revenue,
        "DisplayTaxRate": rate,
        "EffectiveRate": rate,
        "TaxComponents": [{"Name": name.split(" ")[0], "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}],
    }


def _tracking(t, name, options, status="ACTIVE"):
    return {
        "TrackingCategoryID": oid(t, "tracking", name),
        "Name": name,
        "Status": status,
        "Options": [
            {"TrackingOptionID": oid(t, "tracking", f"{name}/{o}"), "Name": o, "Status": s,
             "HasValidationErrors": False, "IsDeleted": False, "IsArchived": s == "ARCHIVED", "IsActive": s == "ACTIVE"}
            for o, s in options
        ],
    }


def _item(t, code, name, price, account, tax, sold=True, description=None):
    item = {
        "ItemID": oid(t, "item", code),
        "Code": code,
        "Name": name,
        "Description": (description or name) if sold else None,
        "PurchaseDescription": None,
        "IsSold": sold,
        "IsPurchased": False,
        "IsTrackedAsInventory": False,
        "SalesDetails": {"UnitPrice": Decimal(price), "AccountCode": account, "TaxType": tax} if sold else {},
        "PurchaseDetails": {},
    }
    return item


def extra_tenant(n: int) -> str:
    """The id of the n-th extra organisation a test or benchmark adds (``POST /__emulator__/tenants``)."""
    return oid("extra", "tenant", str(n))


def build_org(tenant: str, like: str | None = None, name: str | None = None) -> dict:
    """Fresh reference data for one seeded organisation (documents start empty). ``like``: an
    extra organisation built as that seeded one is (its own ids, ``name``)."""
    shape = like or tenant
    if shape == TENANT_AU:
        name_, base, country, version, tz = "Coworks Demo AU", "AUD", "AU", "AU", "AUSEASTERNSTANDARDTIME"
        out, exempt, none, inp = "OUTPUT", "EXEMPTOUTPUT", "NONE", "INPUT"
        taxes = [
            _tax("GST on Income", "OUTPUT", "10.0000"),
            _tax("GST Free Income", "EXEMPTOUTPUT", "0.0000"),
            _tax("BAS Excluded", "BASEXCLUDED", "0.0000"),
            _tax("No GST", "NONE", "0.0000"),
            _tax("GST on Expenses", "INPUT", "10.0000", revenue=False),
            _tax("Old GST rate", "TAX001", "12.5000", status="DELETED"),
        ]
        currencies = [("AUD", "Australian Dollar"), ("USD", "United States Dollar"), ("EUR", "Euro")]
        extra_bank = [_account(tenant, "092", "USD Bank", "BANK", none, CurrencyCode="USD",
                               BankAccountNumber="062-000 87654321", BankAccountType="BANK")]
        tax_account = _account(tenant, "820", "GST", "CURRLIAB", "BASEXCLUDED", SystemAccount="GST")
    elif shape == TENANT_UK:
        name_, base, country, version, tz = "Coworks Demo UK", "GBP", "GB", "UK", "GMTSTANDARDTIME"
        out, exempt, none, inp = "OUTPUT2", "EXEMPTOUTPUT", "NONE", "INPUT2"
        taxes = [
            _tax("20% (VAT on Income)", "OUTPUT2", "20.0000"),
            _tax("5% (VAT on Income)", "RROUTPUT", "5.0000"),
            _tax("Zero Rated Income", "ZERORATEDOUTPUT", "0.0000"),
            _tax("Exempt Income", "EXEMPTOUTPUT", "0.0000"),
            _tax("No VAT", "NONE", "0.0000"),
            _tax("20% (VAT on Expenses)", "INPUT2", "20.0000", revenue=False),
        ]
        currencies = [("GBP", "British Pound"), ("EUR", "Euro")]
        extra_bank = []
        tax_account = _account(tenant, "820", "VAT", "CURRLIAB", "NONE", SystemAccount="GST")
    else:
        raise KeyError(tenant)
    name = name or name_
    accounts = [
        _account(tenant, "090", "Business Bank", "BANK", none, CurrencyCode=base,
                 BankAccountNumber="10-20-30 12345678", BankAccountType="BANK"),
        _account(tenant, "091", "Card Clearing", "CURRENT", none, EnablePaymentsToAccount=True),
        *extra_bank,
        _account(tenant, "200", "Sales", "REVENUE", out),
        _account(tenant, "260", "Other Revenue", "REVENUE", out),
        _account(tenant, "270", "Interest Income", "REVENUE", exempt),
        _account(tenant, "476", "Old Memberships", "REVENUE", out, status="ARCHIVED"),
        _account(tenant, "610", "Accounts Receivable", "CURRENT", none, SystemAccount="DEBTORS"),
        _account(tenant, "800", "Accounts Payable", "CURRLIAB", none, SystemAccount="CREDITORS"),
        tax_account,
        _account(tenant, "860", "Rounding", "CURRLIAB", none, SystemAccount="ROUNDING"),
        _account(tenant, "429", "General Expenses", "EXPENSE", inp),
    ]
    tracking = [
        _tracking(tenant, "Campus", [("Downtown", "ACTIVE"), ("Harbour", "ACTIVE"), ("Riverside", "ARCHIVED")]),
        _tracking(tenant, "Channel", [("Direct", "ACTIVE"), ("Partner", "ACTIVE"), ("Online", "ACTIVE")]),
        _tracking(tenant, "Legacy Region", [("North", "ACTIVE")], status="ARCHIVED"),
    ]
    items = [
        _item(tenant, "PLAN-HOTDESK", "Hot desk membership", "350.00", "200", out),
        _item(tenant, "PLAN-DEDICATED", "Dedicated desk membership", "550.00", "200", out),
        _item(tenant, "DAYPASS", "Day pass", "35.00", "200", out),
        _item(tenant, "EXT-BOOKING", "External booking", "0.00", "260", out),
        _item(tenant, "ONEOFF", "One-off charge", "0.00", "260", out),
        _item(tenant, "OVERAGE", "Booking overage (per hour)", "20.00", "200", out),
        _item(tenant, "TXFEE", "Transaction fee", "0.00", "260", out),
        _item(tenant, "CUSTOMFEE", "Custom fee", "0.00", "260", out),
        _item(tenant, "OLD-LOCKER", "Locker rental (discontinued)", "0.00", "200", out, sold=False),
    ]
    org = {
        "OrganisationID": oid(tenant, "organisation", "org"),
        "APIKey": "",
        "Name": name,
        "LegalName": name + " Pty Ltd" if country == "AU" else name + " Ltd",
        "PaysTax": True,
        "Version": version,
        "OrganisationType": "COMPANY",
        "BaseCurrency": base,
        "CountryCode": country,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 30 if country == "AU" else 31,
        "FinancialYearEndMonth": 6 if country == "AU" else 3,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "PeriodLockDate": None,
        "EndOfYearLockDate": None,
        "Timezone": tz,
        "OrganisationEntityType": "COMPANY",
        "ShortCode": "!" + country + "123",
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "LineOfBusiness": "Coworking spaces",
        "PaymentTerms": {"Sales": {"Day": 14, "Type": "DAYSAFTERBILLDATE"}},
    }
    return {
        "tenant_id": tenant,
        "organisation": org,
        "accounts": accounts,
        "tax_rates": taxes,
        "tracking": tracking,
        "items": items,
        "currencies": [{"Code": c, "Description": d} for c, d in currencies],
    }


SEEDED_TENANTS = [TENANT_AU, TENANT_UK]


def demo_apps() -> dict:
    return {
        DEMO_CLIENT_ID: {
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [
                "http://127.0.0.1:8069" + DEMO_CALLBACK_PATH,
                "http://localhost:8069" + DEMO_CALLBACK_PATH,
            ],
            "loopback_callback_path": DEMO_CALLBACK_PATH,
            "created": True,
        }
    }

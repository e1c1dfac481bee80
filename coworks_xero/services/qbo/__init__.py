"""QuickBooks Online provider: OAuth, HTTP client, payloads and the SyncProvider (no Odoo here)."""

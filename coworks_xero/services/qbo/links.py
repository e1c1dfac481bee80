"""Where a QuickBooks Online document opens in Intuit's web app (pure Python)."""
from urllib.parse import quote

APP = "https://app.qbo.intuit.com/app"
SANDBOX_APP = "https://app.sandbox.qbo.intuit.com/app"

_PAGES = {"invoice": "invoice?txnId={id}", "credit_note": "creditmemo?txnId={id}",
          "payment": "recvpayment?txnId={id}", "contact": "customerdetail?nameId={id}"}


def deep_link(kind: str, remote_id: str, sandbox: bool = False) -> str:
    """The URL that opens ``remote_id`` (a document of ``kind``) in QuickBooks, or ""."""
    page = _PAGES.get(kind)
    if not page or not remote_id:
        return ""
    return f"{SANDBOX_APP if sandbox else APP}/{page.format(id=quote(str(remote_id), safe=''))}"

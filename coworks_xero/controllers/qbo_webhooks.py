"""QuickBooks Online webhooks: Intuit's data-change notifications, through the shared receiver
(``webhooks._receive``: verify the signature, store each event once, wake the worker, answer)."""
from odoo import http

from ..models.sync_connection_qbo import PARAM_QBO_WEBHOOK_VERIFIER, QBO_WEBHOOK_PATH
from ..services.qbo import inbound as qin
from .webhooks import _receive


class CoworksQboWebhookController(http.Controller):

    @http.route(QBO_WEBHOOK_PATH, type="http", auth="public", methods=["POST"], csrf=False, save_session=False)
    def qbo_webhook(self, **_kw):
        """Intuit's data-change notifications; the pull (Change Data Capture) finds what a lost
        delivery named."""
        return _receive(PARAM_QBO_WEBHOOK_VERIFIER, qin, "qbo", "QuickBooks")

"""Xero webhooks, and the receiver every provider's webhook route shares: verify, store, trigger,
answer (the pattern of account_peppol's webhook).

No Xero call and no other work here: Xero wants an answer within 5 seconds, with no body and no
cookie, and retries a failed delivery, so storing is idempotent per event
(``coworks.sync.inbound.event._store``). The sync cron reads the documents afterwards.
"""
import logging

from odoo import http
from odoo.http import request

from ..models.xero_inbound import PARAM_WEBHOOK_KEY, WEBHOOK_PATH
from ..services.xero import inbound as xin

_logger = logging.getLogger(__name__)


def _receive(secret_param, inbound, provider, label):
    """Verify the raw body's signature with the secret in ``secret_param``, store its events once
    (idempotent per event), wake the worker, answer: ``inbound`` is the provider's services module
    (verify_signature, parse_webhook, SIGNATURE_HEADER, WebhookError)."""
    raw = request.httprequest.get_data(cache=False)
    env = request.env(su=True)
    # No secret set: nothing can be verified, so nothing is accepted.
    secret = env["ir.config_parameter"].get_param(secret_param)
    if not inbound.verify_signature(secret, raw, request.httprequest.headers.get(inbound.SIGNATURE_HEADER)):
        return http.Response(status=401)
    try:
        events = inbound.parse_webhook(raw)
    except inbound.WebhookError as exc:
        _logger.warning("%s webhook: a signed delivery could not be read (%s)", label, exc)
        return http.Response(status=400)
    if events and env["coworks.sync.inbound.event"]._store(events, provider=provider):
        env["coworks.sync.job"]._trigger_worker()
    return http.Response(status=200)


class CoworksXeroWebhookController(http.Controller):

    @http.route(WEBHOOK_PATH, type="http", auth="public", methods=["POST"], csrf=False, save_session=False)
    def xero_webhook(self, **_kw):
        # Xero's Intent-to-Receive sends no events and fails until an administrator pastes the key.
        return _receive(PARAM_WEBHOOK_KEY, xin, "xero", "Xero")

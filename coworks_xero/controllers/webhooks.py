"""Xero webhooks: verify, store, trigger, answer (the pattern of account_peppol's webhook).

No Xero call and no other work here: Xero wants an answer within 5 seconds, with no body and no
cookie, and retries a failed delivery, so storing is idempotent per event
(``coworks.sync.inbound.event._store``). The sync cron reads the documents afterwards.
"""
import logging

from odoo import http
from odoo.http import request

from ..models.sync_connection_qbo import PARAM_QBO_WEBHOOK_VERIFIER, QBO_WEBHOOK_PATH
from ..models.xero_inbound import PARAM_WEBHOOK_KEY, WEBHOOK_PATH
from ..services.qbo import inbound as qin
from ..services.xero import inbound as xin

_logger = logging.getLogger(__name__)


class CoworksXeroWebhookController(http.Controller):

    @http.route(WEBHOOK_PATH, type="http", auth="public", methods=["POST"], csrf=False, save_session=False)
    def xero_webhook(self, **_kw):
        raw = request.httprequest.get_data(cache=False)
        env = request.env(su=True)
        key = env["ir.config_parameter"].get_param(PARAM_WEBHOOK_KEY)
        # No key set: nothing can be verified, so nothing is accepted (Xero's Intent-to-Receive
        # fails until an administrator pastes the key).
        if not xin.verify_signature(key, raw, request.httprequest.headers.get(xin.SIGNATURE_HEADER)):
            return http.Response(status=401)
        try:
            events = xin.parse_webhook(raw)
        except xin.WebhookError as exc:
            _logger.warning("Xero webhook: a signed delivery could not be read (%s)", exc)
            return http.Response(status=400)
        if events:  # Intent-to-Receive sends none
            if env["coworks.sync.inbound.event"]._store(events):
                env["coworks.sync.job"]._trigger_worker()
        return http.Response(status=200)

    @http.route(QBO_WEBHOOK_PATH, type="http", auth="public", methods=["POST"], csrf=False, save_session=False)
    def qbo_webhook(self, **_kw):
        """Intuit's data-change notifications: the same verify, store, trigger, answer; the pull (Change
        Data Capture) finds what a lost delivery named."""
        raw = request.httprequest.get_data(cache=False)
        env = request.env(su=True)
        verifier = env["ir.config_parameter"].get_param(PARAM_QBO_WEBHOOK_VERIFIER)
        if not qin.verify_signature(verifier, raw, request.httprequest.headers.get(qin.SIGNATURE_HEADER)):
            return http.Response(status=401)
        try:
            events = qin.parse_webhook(raw)
        except qin.WebhookError as exc:
            _logger.warning("QuickBooks webhook: a signed delivery could not be read (%s)", exc)
            return http.Response(status=400)
        if env["coworks.sync.inbound.event"]._store(events, provider="qbo"):
            env["coworks.sync.job"]._trigger_worker()
        return http.Response(status=200)

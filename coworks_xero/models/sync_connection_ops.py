"""Connection bookkeeping done outside the worker's transaction.

Tokens and health figures are written in their own short transaction: the worker's transaction
must never update the connection row, or a token refresh committed meanwhile by another worker
would make it fail with a serialization error (Odoo runs REPEATABLE READ).
"""
import logging

from odoo import _, fields, models

_logger = logging.getLogger(__name__)


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    def _write_out_of_band(self, vals):
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            self.with_env(self.env(cr=cr, su=True)).write(vals)
        self.invalidate_recordset(list(vals))

    def _note_call_success(self, daily_remaining=None):
        vals = {"last_success_at": fields.Datetime.now()}
        if daily_remaining is not None:
            vals.update(daily_calls_remaining=daily_remaining, daily_calls_known_at=vals["last_success_at"])
        self._write_out_of_band(vals)

    def _note_call_failure(self, message):
        self._write_out_of_band({"last_error": message, "last_error_at": fields.Datetime.now()})

    def _mark_needs_reconnect(self, message):
        """The grant is gone: pause this connection; its queued jobs wait, nothing is lost."""
        _logger.warning("Connection %s needs to be re-authorised", self.id)
        self._write_out_of_band({
            "state": "needs_reconnect",
            "last_error": _("%(provider)s refused the authorisation (%(msg)s). Syncing is paused; reconnect "
                            "from Settings > Invoicing > Accounting Integrations.",
                            provider=self._provider_label(), msg=message),
            "last_error_at": fields.Datetime.now(),
        })

"""Who may change the sync log: nobody over RPC.

A job's state, remote ID, bodies, answers and attempts are written by the engine (the cron runs as
the superuser; enqueueing goes through SQL or ``sudo()``). ``readonly`` in a view is no guard
against a ``write`` sent over XML-RPC/JSON-RPC, so every write or create that does not come from
the superuser environment is refused here. What a manager does to the log goes through its
buttons (Retry, Cancel), which check the manager's rights and the record rules first and then act
as the engine does."""
from odoo import _, api, models
from odoo.exceptions import AccessError

MANAGER_GROUP = "coworks_xero.group_xero_manager"


class CoworksSyncJob(models.Model):
    _inherit = "coworks.sync.job"

    def _refuse_direct_change(self):
        raise AccessError(_(
            "The sync log is written by the sync itself: use Retry or Cancel on an entry instead of "
            "changing it."))

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            self._refuse_direct_change()
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            self._refuse_direct_change()
        return super().write(vals)

    def _check_manager_action(self):
        """A Xero manager, on entries their companies let them read (record rules)."""
        if not self.env.su and not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only a Xero manager can retry or cancel syncs."))
        self.check_access("read")

    def action_retry(self):
        self._check_manager_action()
        return super(CoworksSyncJob, self.sudo()).action_retry()

    def action_cancel(self):
        self._check_manager_action()
        return super(CoworksSyncJob, self.sudo()).action_cancel()


class CoworksSyncJobAttempt(models.Model):
    _inherit = "coworks.sync.job.attempt"

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(_("The attempts history is written by the sync itself."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(_("The attempts history is written by the sync itself."))
        return super().write(vals)

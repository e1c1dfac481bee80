"""The Xero side of a connection: its client, token storage and reference-data cache."""
import contextlib
import datetime
import logging

from odoo import _, fields, models

from ..services import provider as prov
from ..services.send_thread import current_bridge

_logger = logging.getLogger(__name__)

# System parameters (Settings or `odoo-bin shell`): the Xero app and, for the local sandbox, one
# base URL serving every Xero host.
PARAM_CLIENT_ID = "coworks_xero.client_id"
PARAM_CLIENT_SECRET = "coworks_xero.client_secret"
PARAM_SANDBOX_URL = "coworks_xero.sandbox_url"
# Seconds before the client's first in-call retry of a 5xx or a lost connection (doubling each
# time, capped): a system parameter, so an operator can tune it and the tests can keep it short.
PARAM_BACKOFF_BASE = "coworks_xero.client_backoff_base"
# Seconds an Odoo process waits for an organisation's call budget within one call. Longer waits
# (a full minute window, a 429's Retry-After of 30 s or more) end the call with a rate-limit
# error instead: the worker defers that organisation's jobs to the time Xero gave and serves
# the others meanwhile (bench/multi_org.py), and no user's button waits a minute.
CALL_MAX_WAIT = 10.0


class OdooTokenStore:
    """The client's TokenStore on the connection row.

    Reads and writes happen in their own short transactions so that a refresh is committed before
    the new tokens are used (Xero rotates refresh tokens: losing one loses the connection), and
    ``refresh_lock`` holds a row lock on the connection so two workers never refresh at once.
    Provider-neutral (other providers rotate refresh tokens too): ``not_connected`` builds the error the
    provider's client expects when the row holds no refresh token (default: Xero's).
    """

    def __init__(self, env, connection_id, not_connected=None):
        self.registry = env.registry
        self.connection_id = connection_id
        self.not_connected = not_connected
        self._lock_cr = None

    @contextlib.contextmanager
    def _cursor(self):
        if self._lock_cr is not None:
            yield self._lock_cr
        else:
            with self.registry.cursor() as cr:
                yield cr

    # Called from a batch's send thread (services/send_thread.py), each of these runs on the cron
    # worker's own thread instead: a send thread never opens a cursor.
    def load(self):
        bridge = current_bridge()
        return bridge.call(self._load) if bridge else self._load()

    def save(self, tokens):
        bridge = current_bridge()
        return bridge.call(self._save, tokens) if bridge else self._save(tokens)

    @contextlib.contextmanager
    def refresh_lock(self):
        bridge = current_bridge()
        if not bridge:
            with self._refresh_lock():
                yield
            return
        held = self._refresh_lock()
        bridge.call(held.__enter__)
        try:
            yield
        except BaseException as exc:
            if not bridge.call(held.__exit__, type(exc), exc, exc.__traceback__):
                raise
        else:
            bridge.call(held.__exit__, None, None, None)

    def _load(self):
        from ..services.xero.oauth import TokenSet
        with self._cursor() as cr:
            cr.execute("""SELECT access_token, refresh_token, token_expires_at, scopes
                            FROM coworks_sync_connection WHERE id = %s""", [self.connection_id])
            row = cr.fetchone()
        if not row or not row[1]:
            if self.not_connected is not None:
                raise self.not_connected()
            from ..services.xero.errors import XeroError
            raise XeroError(prov.REAUTH, "Not connected to Xero: reconnect from Settings.")
        expires = row[2].replace(tzinfo=datetime.timezone.utc).timestamp() if row[2] else 0.0
        return TokenSet(access_token=row[0] or "", refresh_token=row[1], expires_at=expires, scope=row[3] or "")

    def _save(self, tokens):
        expires = datetime.datetime.fromtimestamp(tokens.expires_at, datetime.timezone.utc).replace(tzinfo=None)
        with self._cursor() as cr:
            cr.execute("""UPDATE coworks_sync_connection
                             SET access_token = %s, refresh_token = %s, token_expires_at = %s,
                                 scopes = COALESCE(NULLIF(%s, ''), scopes), write_date = now() at time zone 'UTC'
                           WHERE id = %s""",
                       [tokens.access_token, tokens.refresh_token, expires, tokens.scope, self.connection_id])
            if cr is not self._lock_cr:
                cr.commit()

    @contextlib.contextmanager
    def _refresh_lock(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id FROM coworks_sync_connection WHERE id = %s FOR NO KEY UPDATE",
                       [self.connection_id])
            self._lock_cr = cr
            try:
                yield
                cr.commit()
            finally:
                self._lock_cr = None


class CoworksSyncConnection(models.Model):
    _inherit = "coworks.sync.connection"

    def _xero_client_config(self):
        from ..services.xero.client import ClientConfig
        params = self.env["ir.config_parameter"].sudo()
        client_id = params.get_param(PARAM_CLIENT_ID) or ""
        secret = params.get_param(PARAM_CLIENT_SECRET) or ""
        sandbox = params.get_param(PARAM_SANDBOX_URL)
        tuning = {}
        try:
            backoff = float(params.get_param(PARAM_BACKOFF_BASE) or 0)
        except ValueError:
            backoff = 0
        if backoff > 0:
            tuning["backoff_base"] = backoff
        if sandbox:
            return ClientConfig.for_emulator(sandbox, client_id, secret, **tuning)
        return ClientConfig(client_id=client_id, client_secret=secret, **tuning)

    def _xero_client(self):
        from ..services.xero.client import XeroClient
        from ..services.xero.ratelimit import RateLimiter
        self.ensure_one()
        config = self._xero_client_config()
        # Xero counts calls per organisation at one API: a sandbox on another URL (each test
        # class starts its own emulator) has budgets of its own.
        return XeroClient(config, self.tenant_id, OdooTokenStore(self.env, self.id),
                          limiter=RateLimiter.shared(name=config.accounting_url), max_wait=CALL_MAX_WAIT)

    def _coworks_call_budget_xero(self):
        """(limiter, tenant): the budget this process spends on this organisation's calls."""
        from ..services.xero.ratelimit import RateLimiter
        self.ensure_one()
        return RateLimiter.shared(name=self._xero_client_config().accounting_url), self.tenant_id

    def _get_inbound_reader_xero(self):
        from ..services.xero.inbound import XeroInbound
        return XeroInbound(self._xero_client())

    def _get_provider_xero(self):
        from ..services.xero.provider import XeroProvider
        return XeroProvider(self._xero_client(), reference=self._xero_reference_data() or None)

    def _credit_grant_missing_xero(self):
        # Xero records customer credit as a bank transaction (an overpayment): a scope that
        # connections authorised before it was asked for lack.
        from ..services.xero import const
        granted = set((self.scopes or "").split())
        if granted and not granted & set(const.BANK_TRANSACTION_SCOPES):
            return _("Xero records it as a bank transaction (an overpayment), and this connection was authorised "
                     "before that was asked for. Reconnect to Xero (Invoicing > Configuration > Xero > Connections "
                     "> Reconnect) to grant it, then Retry.")
        return ""

    # ------------------------------------------------------------------ reference data

    def _xero_reference_data(self):
        """The cached reference data in Xero's shapes, for the pre-flight checks."""
        self.ensure_one()
        if not self.reference_data_refreshed_at:
            return {}
        env = self.env(su=True)
        dom = [("connection_id", "=", self.id), ("active", "in", (True, False))]
        categories = []
        for cat in env["coworks.xero.tracking.category"].search(dom):
            categories.append({"TrackingCategoryID": cat.xero_id, "Name": cat.name, "Status": cat.status,
                               "Options": [{"TrackingOptionID": o.xero_id, "Name": o.name, "Status": o.status}
                                           for o in cat.with_context(active_test=False).option_ids]})
        return {
            "Organisation": {"BaseCurrency": self.base_currency_code},
            "Accounts": [a._xero_dict() for a in env["coworks.xero.account"].search(dom)],
            "Items": [{"ItemID": i.xero_id, "Code": i.code, "Name": i.name, "IsSold": i.is_sold}
                      for i in env["coworks.xero.item"].search(dom)],
            "TaxRates": [t._xero_dict() for t in env["coworks.xero.tax.rate"].search(dom)],
            "TrackingCategories": categories,
            "Currencies": [{"Code": c.code} for c in env["coworks.xero.currency"].search(dom)],
        }

    def _campus_tracking_category_domain(self):
        """Which of the connection's tracking categories campuses map to, found on the first
        refresh: Xero's is the one named "Campus". A provider with another notion overrides this."""
        return [("name", "=ilike", "campus")]

    def _remote_url(self, kind, remote_id):
        """The link that opens a document of this connection where it lives (Xero's deep link; a
        provider's own model overrides this for its connections)."""
        self.ensure_one()
        from ..services.xero.rules import deep_link
        return deep_link(kind, self.short_code, remote_id)

    def _store_reference_data(self, data):
        """Upsert the cache from Xero's answers; rows Xero no longer returns are marked DELETED
        (mappings keep pointing at them and say so)."""
        self.ensure_one()
        env = self.env(su=True)

        def sync(model, rows, key_field, values):
            Model = env[model].with_context(active_test=False)
            existing = {r[key_field]: r for r in Model.search([("connection_id", "=", self.id)])}
            seen = set()
            for row in rows:
                vals = values(row)
                key = vals[key_field]
                seen.add(key)
                if key in existing:
                    existing[key].write(vals)
                else:
                    existing[key] = Model.create(dict(vals, connection_id=self.id))
            for key, rec in existing.items():
                if key not in seen and rec.status != "DELETED":
                    rec.status = "DELETED"
            return existing

        sync("coworks.xero.account", data.get("Accounts") or [], "xero_id", lambda a: {
            "xero_id": a.get("AccountID"), "code": a.get("Code") or "", "name": a.get("Name") or a.get("Code"),
            "account_type": a.get("Type"), "account_class": a.get("Class"), "tax_type": a.get("TaxType"),
            "enable_payments": bool(a.get("EnablePaymentsToAccount")), "system_account": a.get("SystemAccount"),
            "currency_code": a.get("CurrencyCode"), "status": a.get("Status") or "ACTIVE"})
        sync("coworks.xero.item", data.get("Items") or [], "xero_id", lambda i: {
            "xero_id": i.get("ItemID"), "code": i.get("Code"), "name": i.get("Name"),
            "is_sold": i.get("IsSold", True) is not False,
            "sales_account_code": (i.get("SalesDetails") or {}).get("AccountCode"),
            "sales_tax_type": (i.get("SalesDetails") or {}).get("TaxType"),
            "sales_unit_price": float((i.get("SalesDetails") or {}).get("UnitPrice") or 0),
            "status": i.get("Status") or "ACTIVE"})  # Xero's items have none; another provider's may be inactive
        sync("coworks.xero.tax.rate", data.get("TaxRates") or [], "tax_type", lambda t: {
            "tax_type": t.get("TaxType"), "name": t.get("Name"),
            "rate": float(t.get("EffectiveRate") or t.get("DisplayTaxRate") or 0),
            "can_apply_to_revenue": t.get("CanApplyToRevenue", True) is not False,
            "status": t.get("Status") or "ACTIVE"})
        categories = sync("coworks.xero.tracking.category", data.get("TrackingCategories") or [], "xero_id",
                          lambda c: {"xero_id": c.get("TrackingCategoryID"), "name": c.get("Name"),
                                     "status": c.get("Status") or "ACTIVE"})
        options = []
        for cat in data.get("TrackingCategories") or []:
            for opt in cat.get("Options") or []:
                options.append(dict(opt, _category=categories[cat.get("TrackingCategoryID")].id))
        sync("coworks.xero.tracking.option", options, "xero_id", lambda o: {
            "xero_id": o.get("TrackingOptionID"), "name": o.get("Name"), "category_id": o["_category"],
            "status": o.get("Status") or "ACTIVE"})
        sync("coworks.xero.currency", data.get("Currencies") or [], "code", lambda c: {
            "code": c.get("Code"), "description": c.get("Description"), "status": "ACTIVE"})
        org = data.get("Organisation") or {}
        vals = {"reference_data_refreshed_at": fields.Datetime.now()}
        if org.get("BaseCurrency"):
            vals["base_currency_code"] = org["BaseCurrency"]
        if org.get("ShortCode"):
            vals["short_code"] = org["ShortCode"]
        Account = env["coworks.xero.account"]
        if not self.rounding_account_id:
            vals["rounding_account_id"] = Account.search(
                [("connection_id", "=", self.id), ("system_account", "=", "ROUNDING")], limit=1).id or False
        if not self.campus_tracking_category_id:
            which = self._campus_tracking_category_domain()
            vals["campus_tracking_category_id"] = env["coworks.xero.tracking.category"].search(
                [("connection_id", "=", self.id)] + which, limit=1).id or False
        self.sudo().write(vals)

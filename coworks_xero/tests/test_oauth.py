import datetime
import json
import logging
import threading
import time
import urllib.parse

import requests

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import release_test_lock
from odoo.tools import hash_sign

from xero_emulator import seed

from ..models.sync_connection_oauth import STATE_SCOPE
from ..models.sync_connection_xero import OdooTokenStore
from ..services.xero import const
from ..services.xero.oauth import TokenSet
from .common_http import CALLBACK, CHOOSE, CoworksXeroHttpCase

TENANT_UK = seed.TENANT_UK


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001
            self.lines.append(str(record.msg))


@tagged("post_install", "-at_install")
class TestOAuth(CoworksXeroHttpCase):

    def setUp(self):
        super().setUp()
        self.authenticate("xero_admin", "xero_admin")

    def _invoice(self, **kw):
        return self._create_invoice_one_line(
            product_id=self.plan_product, price_unit=350.0, tax_ids=self.tax_sale_a,
            partner_id=self.partner_a, post=True, **kw)

    def _secrets_of(self, conn):
        conn = conn.sudo()
        return [s for s in (conn.access_token, conn.refresh_token,
                            self.env["ir.config_parameter"].sudo().get_param("coworks_xero.client_secret")) if s]

    def _assert_refused(self, resp, text, status=(400, 403)):
        self.assertIn(resp.status_code, status)
        self.assertIn(text, resp.text)
        self.assertNotIn("Traceback", resp.text)
        self.assertIn("o_coworks_xero_oauth_message", resp.text)

    # ------------------------------------------------------------------ connect

    def test_connect_happy_path_one_organisation(self):
        capture = _Capture()
        root = logging.getLogger()
        root.addHandler(capture)
        watched = [logging.getLogger(n) for n in ("odoo.addons.coworks_xero", "odoo.http", "werkzeug")]
        old_levels = [lg.level for lg in watched]
        for lg in watched:
            lg.setLevel(logging.DEBUG)
        try:
            url, params = self.oauth_start(self.company_2)
            # Only the scopes of const.py, PKCE S256, and the state is not the nonce in clear.
            self.assertEqual(params["scope"], const.SCOPE)
            self.assertEqual(params["code_challenge_method"], "S256")
            self.assertEqual(params["redirect_uri"], self.base_url() + CALLBACK)
            self.assertTrue(params["code_challenge"] and params["state"])
            resp = self.oauth_callback(self.oauth_consent(url, [TENANT_UK]))
        finally:
            root.removeHandler(capture)
            for lg, level in zip(watched, old_levels):
                lg.setLevel(level)
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        conn = self.connection_of(self.company_2)
        # Back on the settings page, in the company just connected, with a confirmation.
        self.assertTrue(resp.headers["Location"].endswith("/odoo/action-coworks_xero.action_xero_connected"),
                        resp.headers["Location"])
        self.assertIn(f"cids={self.company_2.id}", resp.headers.get("Set-Cookie", ""))
        self.assertEqual(conn.state, "connected")
        self.assertEqual(conn.tenant_id, TENANT_UK)
        self.assertEqual(conn.tenant_name, "Coworks Demo UK")
        self.assertTrue(conn.remote_connection_id)
        self.assertEqual(set(conn.scopes.split()), set(const.SCOPES))
        self.assertTrue(conn.sudo().refresh_token and conn.sudo().access_token)
        self.assertEqual(conn.xero_user_id, seed.DEMO_USER_ID)
        # Reference data loaded automatically.
        self.assertTrue(conn.reference_data_refreshed_at)
        self.assertEqual(conn.base_currency_code, "GBP")
        Account = self.env["coworks.xero.account"].with_context(active_test=False)
        codes = set(Account.search([("connection_id", "=", conn.id)]).mapped("code"))
        self.assertTrue({"090", "200", "260", "860"} <= codes, codes)
        self.assertEqual(conn.rounding_account_id.code, "860")
        self.assertIn("OUTPUT2", self.env["coworks.xero.tax.rate"].search(
            [("connection_id", "=", conn.id)]).mapped("tax_type"))
        self.assertIn("PLAN-HOTDESK", self.env["coworks.xero.item"].search(
            [("connection_id", "=", conn.id)]).mapped("code"))
        self.assertEqual(conn.campus_tracking_category_id.name, "Campus")
        self.assertIn("Downtown", conn.campus_tracking_category_id.option_ids.mapped("name"))
        self.assertEqual(set(self.env["coworks.xero.currency"].search(
            [("connection_id", "=", conn.id)]).mapped("code")), {"GBP", "EUR"})
        # The main company keeps its own organisation.
        self.assertEqual(self.connection.tenant_id, self.tenant_id)
        # No secret in the logs, the chatter or tracking.
        secrets = self._secrets_of(conn)
        self.assertTrue(secrets)
        self.assertTrue(any("code exchanged for tokens" in line for line in capture.lines))
        for secret in secrets:
            for line in capture.lines:
                self.assertNotIn(secret, line)
            for body in conn.message_ids.mapped("body"):
                self.assertNotIn(secret, str(body))
        self.assertEqual(conn._track_get_fields(), {"state"})
        # The settings page shows it.
        settings = self.env["res.config.settings"].with_user(self.xero_admin).with_company(self.company_2).create({})
        self.assertEqual(settings.coworks_xero_connection_state, "connected")
        self.assertEqual(settings.coworks_xero_tenant_name, "Coworks Demo UK")
        self.assertEqual(settings.coworks_xero_redirect_uri, self.base_url() + CALLBACK)
        arch = self.env["res.config.settings"].with_user(self.xero_admin).get_views([(False, "form")])
        arch = arch["views"]["form"]["arch"]
        for name in ("action_coworks_xero_connect", "action_coworks_xero_refresh", "action_coworks_xero_disconnect",
                     "action_coworks_xero_queue_missing", "coworks_xero_redirect_uri"):
            self.assertIn(name, arch)

    def test_connected_lands_on_the_settings_with_a_confirmation(self):
        """The callback's redirect target: a server action showing the sentence the callback
        left in the session, then the settings."""
        self.oauth_connect(self.company_2, [TENANT_UK])
        resp = self.url_open("/web/action/load", data=json.dumps({"params": {
            "action_id": "coworks_xero.action_xero_connected"}}), headers={"Content-Type": "application/json"})
        action = resp.json()["result"]
        self.assertEqual(action["type"], "ir.actions.server")
        resp = self.url_open("/web/action/run", data=json.dumps({"params": {"action_id": action["id"]}}),
                             headers={"Content-Type": "application/json"})
        result = resp.json()["result"]
        self.assertEqual(result["tag"], "display_notification")
        self.assertIn("Coworks Demo UK", result["params"]["message"])
        self.assertEqual(result["params"]["next"]["res_model"], "res.config.settings")

    def test_malformed_client_id_is_refused_before_leaving_odoo(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("coworks_xero.sandbox_url", False)  # real Xero: its client ids only
        Settings = self.env["res.config.settings"].with_user(self.xero_admin)
        for bad, why in [("coworks-demo-client", "32 characters"), ("0123456789abcdef0123456789abcdef", "lowercase"),
                         ("0123456789ABCDEF0123456789ABCDE", "32 characters")]:
            settings = Settings.create({"coworks_xero_client_id": bad, "coworks_xero_client_secret": "s" * 48})
            with self.assertRaisesRegex(UserError, why):
                settings.action_coworks_xero_connect()
        # The start route refuses it too (a page, no redirect to Xero).
        params.set_param("coworks_xero.client_id", "not-a-xero-id")
        self._assert_refused(self.url_open("/coworks_xero/oauth/start", allow_redirects=False),
                             "is not a Xero client ID")
        with self.assertRaisesRegex(UserError, "not a Xero client ID"):
            self.connection.with_user(self.xero_admin).action_xero_connect()
        # A well-formed one, typed but not saved: Connect saves it (trimmed) and goes to Xero.
        good = "0123456789ABCDEF0123456789ABCDEF"
        settings = Settings.create({"coworks_xero_client_id": f" {good}\n", "coworks_xero_client_secret": "t" * 48})
        action = settings.action_coworks_xero_connect()
        self.assertEqual(action["type"], "ir.actions.act_url")
        self.assertEqual(params.get_param("coworks_xero.client_id"), good)
        self.assertEqual(params.get_param("coworks_xero.client_secret"), "t" * 48)
        arch = Settings.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertRegex(arch, r'name="action_coworks_xero_connect"[^>]*noSaveDialog="true"')

    def test_wrong_secret_is_reported_as_a_wrong_secret(self):
        url, _params = self.oauth_start(self.company_2)
        callback = self.oauth_consent(url, [TENANT_UK])
        # Xero knows the client id (its consent page took it) but not this secret.
        self.env["ir.config_parameter"].sudo().set_param("coworks_xero.client_secret", "not-the-secret-of-this-app")
        resp = self.oauth_callback(callback)
        self._assert_refused(resp, "client secret")
        self.assertIn("Wrong client secret", resp.text)
        self.assertNotIn("authorisation code", resp.text)
        self.assertEqual(self.connection_of(self.company_2).state, "draft")

    def test_choose_between_two_organisations(self):
        self.connection.active = False  # the AU organisation is free again
        self.env.flush_all()
        resp = self.oauth_connect(self.company_2, [self.tenant_id, TENANT_UK])
        self.assertIn(resp.status_code, (302, 303), resp.text[-3000:])
        self.assertTrue(resp.headers["Location"].endswith(CHOOSE))
        conn = self.connection_of(self.company_2)
        self.assertFalse(conn.tenant_id)
        self.assertNotEqual(conn.state, "connected")
        page = self.url_open(CHOOSE)
        self.assertIn("Coworks Demo AU", page.text)
        self.assertIn("Coworks Demo UK", page.text)
        # An organisation that was not offered is refused.
        bad = self.url_open(CHOOSE, data={"tenant_id": "00000000-0000-0000-0000-00000000dead",
                                          "csrf_token": self._csrf(page.text)}, allow_redirects=False)
        self._assert_refused(bad, "Choose one of the organisations listed")
        resp = self.url_open(CHOOSE, timeout=60, data={"tenant_id": self.tenant_id, "csrf_token": self._csrf(page.text)},
                             allow_redirects=False)
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        self.env.invalidate_all()
        self.assertEqual(conn.state, "connected")
        self.assertEqual(conn.tenant_id, self.tenant_id)
        self.assertEqual(conn.tenant_name, "Coworks Demo AU")
        self.assertEqual(conn.base_currency_code, "AUD")
        # The choice is single use.
        again = self.url_open(CHOOSE)
        self._assert_refused(again, "no Xero organisation to choose")

    @staticmethod
    def _csrf(text):
        marker = 'name="csrf_token" value="'
        start = text.index(marker) + len(marker)
        return text[start:text.index('"', start)]

    def test_organisation_of_another_company_is_not_offered(self):
        # The main company syncs with AU: an authorisation reaching only AU gives nothing to
        # connect, said plainly.
        resp = self.oauth_connect(self.company_2, [self.tenant_id])
        self._assert_refused(resp, "already sync with")
        conn2 = self.connection_of(self.company_2)
        self.assertFalse(conn2.tenant_id)
        self.assertNotEqual(conn2.state, "connected")
        # Ticking both: UK is the only one left, picked without asking.
        resp = self.oauth_connect(self.company_2, [self.tenant_id, TENANT_UK])
        self.assertIn(resp.status_code, (302, 303), resp.text[-3000:])
        self.assertNotIn(CHOOSE, resp.headers["Location"])
        self.assertEqual(conn2.tenant_id, TENANT_UK)
        self.assertEqual(conn2.state, "connected")

    # ------------------------------------------------------------------ refusals

    def test_refused_states(self):
        conn = self.connection
        before = conn.sudo().refresh_token
        # Garbage, then a state Odoo did not sign.
        self._assert_refused(self.url_open(f"{CALLBACK}?code=abc&state=garbage"), "invalid or has expired")
        self._assert_refused(self.url_open(f"{CALLBACK}?code=abc"), "invalid or has expired")
        # Signed, but expired.
        expired = hash_sign(self.env(su=True), STATE_SCOPE,
                            {"n": "x", "u": self.xero_admin.id, "c": self.company.id, "x": conn.id},
                            expiration=datetime.datetime.now() - datetime.timedelta(minutes=1))
        self._assert_refused(self.url_open(f"{CALLBACK}?code=abc&state={expired}"), "invalid or has expired")
        # Signed and fresh, but never issued to this session.
        foreign = hash_sign(self.env(su=True), STATE_SCOPE,
                            {"n": "not-mine", "u": self.xero_admin.id, "c": self.company.id, "x": conn.id},
                            expiration=datetime.timedelta(minutes=5))
        self._assert_refused(self.url_open(f"{CALLBACK}?code=abc&state={foreign}"), "not started in this browser")
        # A flow started for company 2, answered as if for the main company.
        url, params = self.oauth_start(self.company_2)
        nonce_state = params["state"]
        values = self.env["coworks.sync.connection"]._xero_oauth_read_state(nonce_state)
        self.assertEqual(values["c"], self.company_2.id)
        other = hash_sign(self.env(su=True), STATE_SCOPE, dict(values, c=self.company.id, x=conn.id),
                          expiration=datetime.timedelta(minutes=5))
        callback = self.oauth_consent(url, [TENANT_UK])
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
        self._assert_refused(self.url_open(f"{CALLBACK}?code={code}&state={other}"), "another company")
        # A state issued to another user.
        mine_url, mine = self.oauth_start(self.company)
        values = self.env["coworks.sync.connection"]._xero_oauth_read_state(mine["state"])
        stolen = hash_sign(self.env(su=True), STATE_SCOPE, dict(values, u=self.env.ref("base.user_admin").id),
                           expiration=datetime.timedelta(minutes=5))
        self._assert_refused(self.url_open(f"{CALLBACK}?code=abc&state={stolen}"), "another user")
        # Nothing changed, nothing was exchanged.
        self.env.invalidate_all()
        self.assertEqual(conn.sudo().refresh_token, before)
        self.assertEqual(conn.state, "connected")
        self.assertNotIn("POST /connect/token", self.xero_requests()["counts"])
        # Denied consent in Xero: a clear page.
        deny_url, _p = self.oauth_start(self.company_2)
        denied = self.oauth_callback(self.oauth_consent(deny_url, [TENANT_UK], action="deny"))
        self._assert_refused(denied, "not granted")

    def test_non_admin_cannot_start(self):
        manager = new_test_user(self.env, login="xero_mgr_http", groups="coworks_xero.group_xero_manager",
                                company_id=self.company.id)
        self.authenticate("xero_mgr_http", "xero_mgr_http")
        resp = self.url_open(f"/coworks_xero/oauth/start?company_id={self.company.id}", allow_redirects=False)
        self._assert_refused(resp, "Only an administrator")
        with self.assertRaises(AccessError):
            self.connection.with_user(manager).action_xero_connect()
        with self.assertRaises(AccessError):
            self.connection.with_user(manager).action_xero_disconnect()

    def test_reused_code_is_refused(self):
        url, _params = self.oauth_start(self.company_2)
        callback = self.oauth_consent(url, [TENANT_UK])
        first = self.oauth_callback(callback)
        self.assertIn(first.status_code, (302, 303))
        conn = self.connection_of(self.company_2)
        tokens = (conn.sudo().access_token, conn.sudo().refresh_token)
        # The same callback again: the state was single use.
        self._assert_refused(self.oauth_callback(callback), "already used")
        # A fresh state with the old code: Xero refuses the code, Odoo says so.
        url2, params2 = self.oauth_start(self.company_2)
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
        resp = self.url_open(f"{CALLBACK}?code={code}&state={urllib.parse.quote(params2['state'])}",
                             allow_redirects=False)
        self._assert_refused(resp, "refused the authorisation code")
        self.env.invalidate_all()
        self.assertEqual((conn.sudo().access_token, conn.sudo().refresh_token), tokens)

    # ------------------------------------------------------------------ token lifecycle

    def test_refresh_rotation_race_keeps_the_connection(self):
        conn = self.connection
        store = OdooTokenStore(self.env, conn.id)
        old = store.load()
        # The access token is about to expire: both workers want to refresh.
        store.save(TokenSet(access_token=old.access_token, refresh_token=old.refresh_token,
                            expires_at=time.time() + 5, scope=old.scope))
        self.env.flush_all()
        self.emu("DELETE", "requests")
        clients = [conn._xero_client(), conn._xero_client()]
        barrier = threading.Barrier(2)
        results, errors = [], []

        def work(client):
            try:
                barrier.wait(timeout=10)
                results.append(client.get_organisation().get("Name"))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        with release_test_lock():  # the workers' cursors wait on the test lock
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        self.assertFalse(errors, errors)
        self.assertEqual(len(results), 2)
        # Single flight: one refresh, the second worker used the rotated tokens.
        self.assertEqual(self.xero_requests()["counts"].get("POST /connect/token"), 1)
        new = store.load()
        self.assertNotEqual(new.refresh_token, old.refresh_token)
        self.assertGreater(new.expires_at, time.time() + 600)
        # The stored refresh token is the live one: a third worker can refresh with it.
        third = conn._xero_client()
        refreshed = third.refresh_tokens(force=True)
        self.assertNotEqual(refreshed.refresh_token, new.refresh_token)
        self.assertEqual(store.load().refresh_token, refreshed.refresh_token)

    def test_revoked_grant_pauses_then_reconnect_resumes_the_queue(self):
        conn = self.connection
        self.revoke_at_xero(conn.sudo().refresh_token)
        invoice = self._invoice()
        self.run_worker()
        self.assertEqual(conn.state, "needs_reconnect")
        jobs = self.jobs_of(invoice)
        self.assertTrue(jobs)
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertFalse(invoice.xero_id)
        pending = self.env["coworks.sync.job"].search([("connection_id", "=", conn.id), ("state", "=", "pending")])
        self.assertIn("reauth", pending.mapped("error_kind"))
        self.assertTrue(all(j.error_message for j in pending.filtered(lambda j: j.error_kind == "reauth")))
        settings = self.env["res.config.settings"].with_user(self.xero_admin).create({})
        self.assertEqual(settings.coworks_xero_connection_state, "needs_reconnect")
        self.assertIn("reconnect", settings.coworks_xero_last_error)
        # Still paused: another run sends nothing.
        self.emu("DELETE", "requests")
        self.run_worker()
        self.assertFalse(self.xero_requests()["counts"].get("PUT /Invoices"))
        # Reconnect through the real flow; the organisation is kept without asking.
        resp = self.oauth_connect(self.company, [self.tenant_id, TENANT_UK])
        self.assertIn(resp.status_code, (302, 303), resp.text[:500])
        self.assertEqual(conn.state, "connected")
        self.assertEqual(conn.tenant_id, self.tenant_id)
        self.assertFalse(conn.last_error)
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        self.assertTrue(self.xero_invoice(invoice.name))
        self.assertEqual(set(self.jobs_of(invoice).mapped("state")), {"done"})

    def test_reconnect_to_another_organisation_is_refused(self):
        conn = self.connection
        self.revoke_at_xero(conn.sudo().refresh_token)
        conn.sudo().state = "needs_reconnect"
        self.env.flush_all()
        resp = self.oauth_connect(self.company, [TENANT_UK])
        self._assert_refused(resp, "does not include")
        self.assertEqual(conn.tenant_id, self.tenant_id)
        self.assertEqual(conn.state, "needs_reconnect")

    # ------------------------------------------------------------------ disconnect

    def test_disconnect_revokes_and_keeps_ids(self):
        conn = self.connection
        au = [c for c in conn._xero_client().list_connections() if c["tenantId"] == self.tenant_id][0]
        conn.sudo().remote_connection_id = au["id"]
        invoice = self._invoice()
        self.run_worker()
        self.assertTrue(invoice.xero_id)
        xero_id = invoice.xero_id
        waiting = self._invoice()
        old_refresh = conn.sudo().refresh_token
        self.emu("DELETE", "requests")
        settings = self.env["res.config.settings"].with_user(self.xero_admin).create({})
        done = settings.action_coworks_xero_disconnect()
        self.env.invalidate_all()
        # The admin stays on the settings page, told what happened.
        self.assertEqual((done["tag"], done["params"]["type"]), ("display_notification", "success"))
        self.assertIn("Disconnected from", done["params"]["message"])
        self.assertEqual(done["params"]["next"]["res_model"], "res.config.settings")
        counts = self.xero_requests()["counts"]
        self.assertEqual(counts.get("DELETE /Connections/{id}"), 1)
        self.assertEqual(counts.get("POST /connect/revocation"), 1)
        self.assertEqual(conn.state, "disconnected")
        self.assertFalse(conn.sudo().access_token or conn.sudo().refresh_token or conn.sudo().token_expires_at)
        self.assertEqual(invoice.xero_id, xero_id)
        self.assertEqual(conn.tenant_id, self.tenant_id)
        # The old refresh token is dead at Xero.
        dead = requests.post(f"{self.emulator.base_url}/connect/token", timeout=10,
                             data={"grant_type": "refresh_token", "refresh_token": old_refresh},
                             auth=(seed.DEMO_CLIENT_ID, seed.DEMO_CLIENT_SECRET))
        self.assertEqual(dead.status_code, 400)
        # Queued work waits.
        self.run_worker()
        self.assertFalse(waiting.xero_id)
        self.assertEqual(set(self.jobs_of(waiting).mapped("state")), {"pending"})
        self.assertTrue(conn.message_ids.filtered(lambda m: "Disconnected from Xero" in str(m.body)))

    def test_disconnect_one_company_keeps_the_other_authorised(self):
        self.oauth_connect(self.company_2, [TENANT_UK])
        conn2 = self.connection_of(self.company_2)
        self.assertEqual(conn2.state, "connected")
        self.emu("DELETE", "requests")
        conn2.with_user(self.xero_admin).action_xero_disconnect()
        self.env.invalidate_all()
        counts = self.xero_requests()["counts"]
        self.assertEqual(counts.get("DELETE /Connections/{id}"), 1)
        # Same Xero user as the main company: revoking would cut the main company off too.
        self.assertFalse(counts.get("POST /connect/revocation"))
        self.assertEqual(conn2.state, "disconnected")
        self.assertFalse(conn2.sudo().refresh_token)
        self.assertEqual(self.connection._xero_client().get_organisation()["Name"], "Coworks Demo AU")
        remaining = [c["tenantId"] for c in self.connection._xero_client().list_connections()]
        self.assertEqual(remaining, [self.tenant_id])

    # ------------------------------------------------------------------ reference data

    def test_refresh_from_xero(self):
        conn = self.connection
        Account = self.env["coworks.xero.account"].with_context(active_test=False)
        gone = Account.search([("connection_id", "=", conn.id), ("code", "=", "270")])
        gone.unlink()
        conn.sudo().write({"last_success_at": False})
        settings = self.env["res.config.settings"].with_user(self.xero_admin).create({})
        done = settings.action_coworks_xero_refresh()
        self.assertEqual(done["tag"], "display_notification")
        self.assertEqual(done["params"]["next"]["res_model"], "res.config.settings")
        accounts = self.env["coworks.xero.account"].search_count([("connection_id", "=", conn.id)])  # active ones
        self.assertIn(f"{accounts} accounts", done["params"]["message"])
        self.assertTrue(Account.search([("connection_id", "=", conn.id), ("code", "=", "270")]))
        self.assertTrue(conn.last_success_at)
        # A revoked grant: the refresh says so and the connection is paused.
        self.revoke_at_xero(conn.sudo().refresh_token)
        # (no assertRaises: its savepoint would roll back the out-of-band write in test mode)
        try:
            settings.action_coworks_xero_refresh()
        except UserError as exc:
            self.assertIn("Xero refused the refresh", str(exc))
        else:
            self.fail("the refresh did not fail")
        self.env.invalidate_all()
        self.assertEqual(conn.state, "needs_reconnect")

    # ------------------------------------------------------------------ sync on/off

    def test_switching_sync_on_offers_to_queue_what_is_missing(self):
        self.company.coworks_xero_sync_enabled = False
        invoice = self._invoice()
        self.assertFalse(self.jobs_of(invoice))
        self.company.coworks_xero_sync_enabled = True
        settings = self.env["res.config.settings"].with_user(self.xero_admin).create({})
        self.assertEqual(settings.coworks_xero_missing_count, 1)
        settings.action_coworks_xero_queue_missing()
        self.assertEqual(set(self.jobs_of(invoice).mapped("state")), {"pending"})
        self.env.invalidate_all()
        settings = self.env["res.config.settings"].with_user(self.xero_admin).create({})
        self.assertEqual(settings.coworks_xero_missing_count, 0)
        self.run_worker()
        self.assertTrue(invoice.xero_id)

    # ------------------------------------------------------------------ secrets

    def test_tokens_and_secret_are_for_system_admins_only(self):
        conn = self.connection
        self.assertTrue(conn.sudo().refresh_token)
        manager = new_test_user(self.env, login="xero_mgr", groups="coworks_xero.group_xero_manager",
                                company_id=self.company.id)
        biller = new_test_user(self.env, login="xero_biller", groups="account.group_account_invoice",
                               company_id=self.company.id)
        secret_fields = {"access_token", "refresh_token", "token_expires_at"}
        for user in (manager, biller):
            as_user = conn.with_user(user)
            self.assertEqual(as_user.read(["state"])[0]["state"], "connected")
            for field in secret_fields:
                with self.assertRaises(AccessError):
                    as_user.read([field])
                with self.assertRaises(AccessError):
                    as_user.search_read([], [field])
            for row in as_user.search_read([], []) + as_user.read([]):
                self.assertFalse(secret_fields & set(row), row.keys())
                self.assertNotIn(conn.sudo().refresh_token, str(row))
            self.assertFalse(secret_fields & set(as_user.fields_get()))
            self.assertNotIn("coworks_xero_client_secret",
                             self.env["res.config.settings"].with_user(user).fields_get())
            with self.assertRaises(AccessError):
                self.env["ir.config_parameter"].with_user(user).get_param("coworks_xero.client_secret")
            with self.assertRaises(AccessError):
                as_user.write({"refresh_token": "stolen"})
        self.assertTrue(conn.with_user(self.xero_admin).read(["refresh_token"])[0]["refresh_token"])

# PROVIDER=qbo for scripts/demo.sh (sourced by it): the same demo against the local QuickBooks Online
# (qbo_emulator, company "Coworks Demo US"), with Odoo's main demo company (USD). Redefines the steps
# that differ from Xero's; everything else (Odoo, the billing, the summary) is demo.sh's.

demo_start_sandbox() {
  echo "demo: starting the QuickBooks Online sandbox (qbo_emulator) on $EMU_URL"
  "$PY" -m qbo_emulator --port "$EMU_PORT" > "$var/emulator-demo.log" 2>&1 &
}

demo_create_database() {
"$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$DB" -i coworks_xero --with-demo --stop-after-init
"$PY" "$ODOO_PATH/odoo-bin" shell -c "$conf" -d "$DB" --no-http > "$var/demo-shell.log" 2>&1 <<PYTHON
company = env.ref("base.main_company")
company.name = "Coworks Demo (US)"
for campus in ("coworks_xero.demo_campus_downtown", "coworks_xero.demo_campus_harbour"):
    env.ref(campus).company_id = company
params = env["ir.config_parameter"].sudo()
params.set_param("web.base.url", "$ODOO_URL")
params.set_param("web.base.url.freeze", "True")
params.set_param("coworks_xero.qbo_sandbox_url", "$EMU_URL")
params.set_param("coworks_xero.qbo_client_id", "coworks-qbo-demo-client")
params.set_param("coworks_xero.qbo_client_secret", "coworks-qbo-demo-secret")
company.coworks_sync_provider = "qbo"
company.coworks_xero_sync_enabled = True
print("demo company:", company.name, company.currency_id.name)
env.cr.commit()
PYTHON
}

demo_connect() {
  echo "demo: connecting to the sandbox through Intuit's OAuth flow (company choice, callback with realmId)"
  "$PY" "$REPO_ROOT/scripts/demo_connect.py" --odoo "$ODOO_URL" --db "$DB" --provider qbo --organisation "Coworks Demo US"
}

demo_sandbox_state() {
  echo "      Sandbox state: $EMU_URL/__emulator__/state?realm=9341455200000001"
}

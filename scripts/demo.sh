#!/usr/bin/env bash
# The README's main command: a working demo against the local Xero sandbox (the emulator).
#   1. creates the database $COWORKS_DEMO_DB (default coworks_xero_demo) with coworks_xero and demo data
#   2. starts the Xero emulator on 127.0.0.1:$COWORKS_EMULATOR_PORT (default 8070) with demo organisations
#   3. starts Odoo on 127.0.0.1:$COWORKS_DEMO_PORT (default 8069) and connects the demo company to
#      "Coworks Demo AU" through the real OAuth flow (consent page, organisation choice, callback)
#   4. posts a month of billing, lets the sync cron push it, prints a summary
#   5. leaves Odoo running; Ctrl-C stops everything it started.
# Running it again starts over (new database, new sandbox).
# PROVIDER=<code>: the same against another provider's sandbox: scripts/demo_<code>.sh, that provider's
# own file, replaces the steps below that differ (demo_start_sandbox, demo_create_database,
# demo_connect, demo_sandbox_state).
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$REPO_ROOT/scripts/setup.sh"
if ! have_odoo; then
  echo "demo: no Odoo 19 tree at $ODOO_PATH (set ODOO_PATH to an Odoo 19.0 tree)"; exit 1
fi
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
DB="${COWORKS_DEMO_DB:-coworks_xero_demo}"
PORT="${COWORKS_DEMO_PORT:-8069}"
EMU_PORT="${COWORKS_EMULATOR_PORT:-8070}"
ODOO_URL="http://127.0.0.1:$PORT"
EMU_URL="http://127.0.0.1:$EMU_PORT"
PROVIDER="${PROVIDER:-xero}"
if [ "$PROVIDER" != xero ] && [ ! -f "$REPO_ROOT/scripts/demo_$PROVIDER.sh" ]; then
  echo "demo: PROVIDER is xero or a provider with its own scripts/demo_<provider>.sh, not $PROVIDER"; exit 1
fi
var="$REPO_ROOT/var"; mkdir -p "$var"
conf="$var/odoo-demo.conf"
cat > "$conf" <<CONF
[options]
addons_path = $ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$REPO_ROOT
db_name = $DB
dbfilter = ^$DB\$
http_interface = 127.0.0.1
http_port = $PORT
data_dir = $var/odoo-data-demo
; multi-worker mode, as production runs: HTTP workers, one cron worker, the gevent
; (websocket) worker on its own port
workers = 2
max_cron_threads = 1
gevent_port = $((PORT + 3))
limit_time_real_cron = 120
log_level = warn
logfile = $var/odoo-demo.log
CONF

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: stopped Odoo and the $PROVIDER sandbox"
}
trap cleanup EXIT INT TERM

for port in "$PORT" "$EMU_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is already in use (an earlier demo still running?); stop it or set COWORKS_DEMO_PORT/COWORKS_EMULATOR_PORT"
    exit 1
  fi
done

# The Xero steps; a provider's own scripts/demo_<provider>.sh (sourced below) redefines them.
demo_start_sandbox() {
  echo "demo: starting the Xero sandbox (emulator) on $EMU_URL"
  "$PY" -m xero_emulator --port "$EMU_PORT" > "$var/emulator-demo.log" 2>&1 &
}
# The demo company is Odoo's Australian demo company (l10n_au: AUD, Australia's chart and GST), the
# sandbox organisation's currency and country: Odoo's demo data keeps the main company in USD.
demo_create_database() {
"$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$DB" -i coworks_xero,l10n_au --with-demo --stop-after-init
"$PY" "$ODOO_PATH/odoo-bin" shell -c "$conf" -d "$DB" --no-http > "$var/demo-shell.log" 2>&1 <<PYTHON
company = env.ref("base.demo_company_au")
company.name = "Coworks Demo (AU)"
admin = env.ref("base.user_admin")
admin.write({"company_ids": [(4, company.id)], "company_id": company.id})
for campus in ("coworks_xero.demo_campus_downtown", "coworks_xero.demo_campus_harbour"):
    env.ref(campus).company_id = company
env = env(context=dict(env.context, allowed_company_ids=[company.id]))
params = env["ir.config_parameter"].sudo()
params.set_param("web.base.url", "$ODOO_URL")
params.set_param("web.base.url.freeze", "True")
params.set_param("coworks_xero.sandbox_url", "$EMU_URL")
params.set_param("coworks_xero.client_id", "coworks-demo-client")
params.set_param("coworks_xero.client_secret", "coworks-demo-secret")
env.company.coworks_xero_sync_enabled = True
print("demo company:", env.company.name, env.company.currency_id.name)
env.cr.commit()
PYTHON
}
demo_connect() {
  echo "demo: connecting to the sandbox through Xero's OAuth flow (consent, organisation choice, callback)"
  "$PY" "$REPO_ROOT/scripts/demo_connect.py" --odoo "$ODOO_URL" --db "$DB" --organisation "Coworks Demo AU"
}
demo_sandbox_state() {
  echo "      Sandbox state: $EMU_URL/__emulator__/state?tenant=b7d2f4a0-6c1e-4f3a-9a2e-0c5d1a7e2a01"
}
if [ "$PROVIDER" != xero ]; then
  source "$REPO_ROOT/scripts/demo_$PROVIDER.sh"
fi

demo_start_sandbox
pids+=($!)

echo "demo: creating database $DB with coworks_xero and its demo data (about a minute)"
dropdb --if-exists --force "$DB"
demo_create_database

echo "demo: starting Odoo on $ODOO_URL (log: var/odoo-demo.log)"
"$PY" "$ODOO_PATH/odoo-bin" -c "$conf" &
pids+=($!)
for _ in $(seq 1 60); do
  curl -fs "$ODOO_URL/web/health" >/dev/null 2>&1 && break; sleep 1
done

demo_connect

echo "demo: posting a month of coworking billing"
billing="$(COWORKS_REPO_ROOT="$REPO_ROOT" "$PY" "$ODOO_PATH/odoo-bin" shell -c "$conf" -d "$DB" --no-http --log-level=warn \
  < "$REPO_ROOT/scripts/demo_billing.py" 2>>"$var/demo-shell.log")"
if ! grep '^demo billing' <<<"$billing"; then
  echo "demo: posting the billing FAILED; var/demo-shell.log says:"; tail -15 "$var/demo-shell.log"; exit 1
fi

echo "demo: waiting for the sync to finish"
for _ in $(seq 1 180); do
  # Pending jobs due within the minute (a job backing off for longer is reported as queued).
  # Requests users appended while the worker held their jobs are not jobs yet: they count too,
  # and so does a queue not yet filled (no job at all).
  left="$(psql -d "$DB" -tAc "SELECT (SELECT count(*) FROM coworks_sync_job WHERE state = 'pending'
            AND (next_attempt_at IS NULL OR next_attempt_at < (now() at time zone 'utc') + interval '60 seconds'))
          + (SELECT count(*) FROM coworks_sync_request)
          + (SELECT CASE WHEN EXISTS (SELECT 1 FROM coworks_sync_job) THEN 0 ELSE 1 END)")"
  [ "$left" = "0" ] && break; sleep 1
done
psql -d "$DB" -tA -F ' ' -c "
  SELECT kind, count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'error'),
         count(*) FILTER (WHERE state = 'pending')
    FROM coworks_sync_job GROUP BY kind ORDER BY kind" | {
  echo "demo: summary (kind: synced / need attention / still queued)"
  while read -r kind ok bad queued; do printf '  %-12s %4s / %s / %s\n' "$kind" "$ok" "$bad" "$queued"; done
}
errors="$(psql -d "$DB" -tAc "SELECT count(*) FROM coworks_sync_job WHERE state = 'error'")"
if [ "$errors" != "0" ]; then
  echo "demo: $errors entries need attention; the sync log says why:"
  psql -d "$DB" -tAc "SELECT '  - ' || record_name || ': ' || left(error_message, 160) FROM coworks_sync_job WHERE state = 'error'"
fi
echo
echo "demo: Odoo is running at $ODOO_URL  (login admin / admin)"
echo "      Sync log:  Invoicing > Configuration > Xero > Sync log    ($ODOO_URL/odoo/action-coworks_xero.action_sync_job)"
echo "      Settings:  Settings > Invoicing > Accounting Integrations > Xero"
demo_sandbox_state
if [ -n "${COWORKS_DEMO_NO_WAIT:-}" ]; then exit 0; fi  # checks and CI: stop after the summary
echo "      Ctrl-C stops Odoo and the sandbox."
wait "${pids[1]}"

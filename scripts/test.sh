#!/usr/bin/env bash
# Runs every test: the pure-Python suite always, the Odoo suite whenever an Odoo 19 tree is at
# $ODOO_PATH (default /opt/odoo19). The Odoo suite runs under pytest-odoo against a fresh
# PostgreSQL database with coworks_xero installed by odoo-bin first (pytest-odoo installs nothing).
# Extra arguments are passed to both pytest runs (e.g. -k name, -x).
set -uo pipefail
source "$(dirname "$0")/env.sh"
bash "$REPO_ROOT/scripts/setup.sh" || { echo "test: set-up failed"; exit 1; }
cd "$REPO_ROOT"
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
status=0

run_pytest() {  # pytest's exit 5 ("no tests collected") is not a failure of the project
  "$PY" -m pytest "$@"; local rc=$?
  [ $rc -eq 5 ] && rc=0
  return $rc
}

echo "== pure-Python tests (services, emulator) =="
run_pytest -p no:odoo -p no:cacheprovider tests "$@" || status=1

if have_odoo; then
  echo "== Odoo tests (real Odoo 19 at $ODOO_PATH, real PostgreSQL) =="
  db="${COWORKS_TEST_DB:-coworks_xero_test}"
  var="$REPO_ROOT/var"; mkdir -p "$var"
  conf="$var/odoo-test-$db.conf"
  # HttpCase serves on this port: a free one, so two test runs on one machine do not collide.
  http_port="${COWORKS_TEST_HTTP_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
  cat > "$conf" <<CONF
[options]
addons_path = $ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$REPO_ROOT
db_name = $db
http_interface = 127.0.0.1
http_port = $http_port
data_dir = $var/odoo-data-$db
log_level = warn
CONF
  dropdb --if-exists --force "$db" || { echo "test: cannot drop the old test database $db"; exit 1; }
  echo "test: installing coworks_xero (with demo data) into a new database $db"
  if ! "$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$db" -i coworks_xero --with-demo --stop-after-init \
        --log-level=warn > "$var/odoo-install-$db.log" 2>&1 \
     || grep -qE "(ERROR|CRITICAL) $db" "$var/odoo-install-$db.log"; then
    echo "test: installing coworks_xero FAILED; the log says:"; grep -E -A25 "(ERROR|CRITICAL) " "$var/odoo-install-$db.log" | head -80
    status=1
  else
    PYTHONPATH="$ODOO_PATH:$PYTHONPATH" run_pytest -p no:cacheprovider --odoo-config="$conf" --odoo-database="$db" \
      --odoo-http coworks_xero/tests "$@" || status=1
    echo "test: uninstalling coworks_xero from $db (it must leave no table of its own behind)"
    "$PY" "$ODOO_PATH/odoo-bin" module uninstall -c "$conf" -d "$db" coworks_xero > "$var/odoo-uninstall-$db.log" 2>&1
    left="$(psql -d "$db" -tAc "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'coworks%'")"
    state="$(psql -d "$db" -tAc "SELECT state FROM ir_module_module WHERE name = 'coworks_xero'")"
    if [ "$state" != "uninstalled" ] || [ "$left" != "0" ]; then
      echo "test: uninstall FAILED (module state $state, $left coworks tables left); see var/odoo-uninstall-$db.log"
      status=1
    fi
  fi
else
  echo "!!!!! ODOO SUITE SKIPPED: no Odoo 19 tree at $ODOO_PATH (set ODOO_PATH to an Odoo 19.0 tree to run it) !!!!!"
fi
exit $status

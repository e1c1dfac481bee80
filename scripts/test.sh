#!/usr/bin/env bash
# Runs every test: the pure-Python suite always; whenever an Odoo 19 tree is at $ODOO_PATH (default
# /opt/odoo19), the addon's tests under Odoo's own runner (odoo-bin -i coworks_xero --test-enable)
# on a fresh database with demo data, which is uninstalled at the end (it must leave no table
# behind), and at the same time under pytest-odoo on a fresh database without demo data.
# Extra arguments are passed to both pytest runs (e.g. -k name, -x); with extra arguments Odoo's
# runner is skipped (it runs every test of the addon) unless COWORKS_TEST_ODOO_RUNNER=1.
# Databases: $COWORKS_TEST_DB (default coworks_xero_test) for Odoo's runner, ${COWORKS_TEST_DB}_nodemo
# for pytest-odoo (only $COWORKS_TEST_DB, without demo data, when Odoo's runner is skipped).
set -uo pipefail
source "$(dirname "$0")/env.sh"
bash "$REPO_ROOT/scripts/setup.sh" || { echo "test: set-up failed"; exit 1; }
cd "$REPO_ROOT"
status=0
summary=()
t_start=$SECONDS

elapsed() { local s=$(( SECONDS - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

run_pytest() {  # pytest's exit 5 ("no tests collected") is not a failure of the project
  local log="$1"; shift
  "$PY" -m pytest "$@" 2>&1 | tee "$log"; local rc=${PIPESTATUS[0]}
  [ $rc -eq 5 ] && rc=0
  return $rc
}

pytest_counts() {  # the last "=== 12 passed, 1 skipped in 3.4s ===" line of a pytest log
  grep -E '^=+ .*(passed|failed|error|skipped|deselected|no tests ran).* in [0-9.]+s' "$1" | tail -1 | sed -E 's/^=+ //; s/ =+$//'
}

var="$REPO_ROOT/var"; mkdir -p "$var"

pure_tests() {
  echo "== pure-Python tests (services, emulator) =="
  local t0=$SECONDS
  if PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" run_pytest "$var/pytest-pure.log" -p no:odoo -p no:cacheprovider tests "$@"; then
    summary+=("pure-Python (pytest):          $(pytest_counts "$var/pytest-pure.log") [$(elapsed $t0)] ok")
  else
    status=1; summary+=("pure-Python (pytest):          $(pytest_counts "$var/pytest-pure.log") [$(elapsed $t0)] FAILED")
  fi
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

write_conf() {  # write_conf DB: an odoo-bin config for DB; HttpCase serves on a free port, so two
  # test runs on one machine do not collide
  local db="$1" port="${COWORKS_TEST_HTTP_PORT:-$(free_port)}"
  [ "$db" != "${COWORKS_TEST_DB:-coworks_xero_test}" ] && port="$(free_port)"
  cat > "$var/odoo-test-$db.conf" <<CONF
[options]
addons_path = $ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$REPO_ROOT
db_name = $db
http_interface = 127.0.0.1
http_port = $port
data_dir = $var/odoo-data-$db
log_level = warn
CONF
  echo "$var/odoo-test-$db.conf"
}

# odoo_runner DB [odoo-bin options]: a fresh DB, coworks_xero installed by odoo-bin with
# --test-enable --test-tags /coworks_xero (only this addon's tests run, at install and post install),
# no PYTHONPATH (the emulator is an installed package). The outcome goes to $var/odoo-runner-DB.result
# (first line: ok or FAILED, second: the counts) and the full log to $var/odoo-runner-DB.log.
odoo_runner() {
  local db="$1"; shift
  local log="$var/odoo-runner-$db.log" result="$var/odoo-runner-$db.result" conf t0=$SECONDS
  conf="$(write_conf "$db")"
  rm -f "$result"
  if ! dropdb --if-exists --force "$db" 2>"$log"; then
    printf 'FAILED\ncannot drop the old database %s\n' "$db" > "$result"; return 1
  fi
  env -u PYTHONPATH "$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$db" -i coworks_xero "$@" --test-enable \
    --test-tags /coworks_xero --stop-after-init --log-level=info > "$log" 2>&1
  local rc=$?
  # Odoo's own count: "N failed, M error(s) of T tests when loading database 'DB'"
  local line failed errors tests skipped verdict=ok
  line="$(grep -E "odoo\.tests\.result: [0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests" "$log" | tail -1)"
  failed="$(sed -nE 's/.* ([0-9]+) failed, .*/\1/p' <<<"$line")"
  errors="$(sed -nE 's/.* ([0-9]+) error\(s\) of .*/\1/p' <<<"$line")"
  tests="$(sed -nE 's/.* of ([0-9]+) tests.*/\1/p' <<<"$line")"
  skipped="$(grep -cE " INFO $db odoo\.addons\.coworks_xero\.tests\.[a-z_]+: skipped " "$log")"
  local state demo
  state="$(psql -d "$db" -tAc "SELECT state FROM ir_module_module WHERE name = 'coworks_xero'" 2>/dev/null)"
  demo="$(psql -d "$db" -tAc "SELECT CASE WHEN demo THEN 'with' ELSE 'no' END FROM ir_module_module WHERE name = 'coworks_xero'" 2>/dev/null)"
  if [ $rc -ne 0 ] || [ -z "$line" ] || [ "${failed:-1}" != 0 ] || [ "${errors:-1}" != 0 ] \
     || [ "${tests:-0}" = 0 ] || [ "$state" != installed ]; then
    verdict=FAILED
  fi
  {
    echo "$verdict"
    echo "${failed:-?} failed, ${errors:-?} error(s) of ${tests:-?} tests, $skipped skipped" \
         "(odoo-bin exit $rc, module $state, ${demo:-?} demo data) [$(elapsed $t0)]"
    grep -E " (ERROR|CRITICAL) $db .*(FAIL|ERROR): " "$log" | sed -E 's/.*: ((FAIL|ERROR): .*)/    \1/' | head -20
  } > "$result"
  [ "$verdict" = ok ]
}

report_runner() {  # report_runner DB LABEL: one summary line (and the failing tests) from the result file
  local db="$1" label="$2" result="$var/odoo-runner-$1.result"
  if [ ! -s "$result" ]; then
    status=1; summary+=("$label no result (see var/odoo-runner-$db.log) FAILED"); return
  fi
  local verdict counts
  verdict="$(sed -n 1p "$result")"; counts="$(sed -n 2p "$result")"
  [ "$verdict" = ok ] || status=1
  summary+=("$label $counts $verdict")
  while IFS= read -r l; do summary+=("$l"); done < <(sed -n '3,$p' "$result")
  [ "$verdict" = ok ] || summary+=("    log: var/odoo-runner-$db.log")
}

uninstall_check() {  # uninstall_check DB CONF: coworks_xero uninstalled from DB must leave no table behind
  local db="$1" conf="$2" left state
  echo "test: uninstalling coworks_xero from $db (it must leave no table of its own behind)"
  env -u PYTHONPATH "$PY" "$ODOO_PATH/odoo-bin" module uninstall -c "$conf" -d "$db" coworks_xero \
    > "$var/odoo-uninstall-$db.log" 2>&1
  left="$(psql -d "$db" -tAc "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'coworks%'")"
  state="$(psql -d "$db" -tAc "SELECT state FROM ir_module_module WHERE name = 'coworks_xero'")"
  if [ "$state" != "uninstalled" ] || [ "$left" != "0" ]; then
    echo "test: uninstall FAILED (module state $state, $left coworks tables left); see var/odoo-uninstall-$db.log"
    status=1; summary+=("uninstall (demo data):         FAILED (module state $state, $left coworks tables left)")
  else
    summary+=("uninstall (demo data):         ok (no coworks table left)")
  fi
}

if have_odoo; then
  echo "== Odoo tests (real Odoo 19 at $ODOO_PATH, real PostgreSQL) =="
  db="${COWORKS_TEST_DB:-coworks_xero_test}"
  runner="${COWORKS_TEST_ODOO_RUNNER:-}"
  if [ -z "$runner" ]; then if [ $# -gt 0 ]; then runner=0; else runner=1; fi; fi
  demo_pid=; pytest_db="$db"
  if [ "$runner" = 1 ]; then
    # Two runs cover both runners and both kinds of database: Odoo's runner installs with demo
    # data, pytest-odoo runs on a database without. They go at once (one per core; the tests
    # mostly wait on the emulator and PostgreSQL), each on its own database and port. A third
    # run (each runner on both kinds) would cost a third more time on this 2-core machine for
    # the same tests under the same two runners.
    pytest_db="${db}_nodemo"
    echo "test: Odoo's runner with demo data on a new database $db (in the background)"
    odoo_runner "$db" --with-demo &
    demo_pid=$!
  else
    echo "!!!!! Odoo's own runner SKIPPED (extra pytest arguments; COWORKS_TEST_ODOO_RUNNER=1 runs it) !!!!!"
    summary+=("Odoo runner:                   SKIPPED (extra pytest arguments)")
  fi
  # Odoo's runner (install with demo data, then every test) is the longest run: it starts first,
  # and the pure-Python tests run while it installs.
  pure_tests "$@"
  conf="$(write_conf "$pytest_db")"
  install_log="$var/odoo-install-$pytest_db.log"
  dropdb --if-exists --force "$pytest_db" || { echo "test: cannot drop the old test database $pytest_db"; exit 1; }
  echo "test: installing coworks_xero (without demo data) into a new database $pytest_db for pytest-odoo"
  env -u PYTHONPATH "$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$pytest_db" -i coworks_xero --stop-after-init \
    --log-level=warn > "$install_log" 2>&1
  state="$(psql -d "$pytest_db" -tAc "SELECT state FROM ir_module_module WHERE name = 'coworks_xero'" 2>/dev/null)"
  if [ "$state" != installed ]; then
    echo "test: installing coworks_xero FAILED (module state: ${state:-no database}); the log says:"
    grep -E -A25 "(ERROR|CRITICAL) " "$install_log" | head -80
    status=1; summary+=("pytest-odoo:                   NOT RUN (install failed, see ${install_log#$REPO_ROOT/})")
  else
    t0=$SECONDS
    if PYTHONPATH="$ODOO_PATH${PYTHONPATH:+:$PYTHONPATH}" run_pytest "$var/pytest-odoo-$pytest_db.log" -p no:cacheprovider \
         --odoo-config="$conf" --odoo-database="$pytest_db" --odoo-http coworks_xero/tests "$@"; then
      summary+=("Odoo, pytest-odoo (no demo):   $(pytest_counts "$var/pytest-odoo-$pytest_db.log") [$(elapsed $t0)] ok")
    else
      status=1; summary+=("Odoo, pytest-odoo (no demo):   $(pytest_counts "$var/pytest-odoo-$pytest_db.log") [$(elapsed $t0)] FAILED")
    fi
  fi
  if [ "$runner" = 1 ]; then
    echo "test: waiting for Odoo's runner"
    wait "$demo_pid"
    report_runner "$db" "Odoo runner, with demo:       "
    # The demo database is the harder uninstall: demo records point at the addon's models.
    if psql -d "$db" -tAc "SELECT 1 FROM ir_module_module WHERE name = 'coworks_xero' AND state = 'installed'" 2>/dev/null | grep -q 1; then
      uninstall_check "$db" "$var/odoo-test-$db.conf"
    else
      status=1; summary+=("uninstall (demo data):         NOT RUN (the module is not installed on $db)")
    fi
  fi
else
  pure_tests "$@"
  echo "!!!!! ODOO SUITE SKIPPED: no Odoo 19 tree at $ODOO_PATH (set ODOO_PATH to an Odoo 19.0 tree to run it) !!!!!"
  summary+=("Odoo suites:                   SKIPPED (no Odoo 19 tree at $ODOO_PATH)")
fi

echo "== summary ($(elapsed $t_start) in all) =="
printf '%s\n' "${summary[@]}"
if [ $status -eq 0 ]; then echo "test: all passed"; else echo "test: FAILED"; fi
exit $status

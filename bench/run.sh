#!/usr/bin/env bash
# Runs the benchmarks (they print measured figures; nothing here is a test).
#   bash bench/run.sh [post|backfill|writeback|pipe|inbound|multi_org|latency|memory|two_servers|soak|qbo_soak|all] [options of that bench, e.g. soak --scenario 5xx --invoices 60]
# The benches that take --provider (post, backfill, pipe, inbound, latency, memory, multi_org,
# two_servers) run into Xero unless told `--provider qbo`; `all` runs each of them once for every provider of BENCH_PROVIDERS
# ("xero qbo" unless set). The fault soaks are one bench per provider (soak, qbo_soak).
# A template database cx_bench_tpl (coworks_xero installed with demo data, like scripts/test.sh
# does) is created once; every bench runs on a fresh copy of it, cx_bench, since benches commit.
# BENCH_TPL names another template (e.g. to keep out of someone else's runs on the same server).
# The fault soaks (bench/fault_soak.py for Xero, bench/qbo_soak.py for QuickBooks Online) copy the
# template to soak_* / qsoak_* databases of their own.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$REPO_ROOT"
which="${1:-all}"
shift || true
given=("$@")
providers="${BENCH_PROVIDERS:-xero qbo}"
tpl="${BENCH_TPL:-cx_bench_tpl}"
db=${BENCH_DB:-cx_bench}
# the benches' own databases (pipe_run, soak_*, memory_run_*, ...) take a suffix from BENCH_DB
# when it is set, so runs with different BENCH_DB on one PostgreSQL never drop each other's
[ -n "${BENCH_DB:-}" ] && export BENCH_RUN_SUFFIX="${BENCH_RUN_SUFFIX:-_$BENCH_DB}"
var="$REPO_ROOT/var"; mkdir -p "$var"
conf="$var/odoo-bench-$db.conf"
cat > "$conf" <<CONF
[options]
addons_path = $ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$REPO_ROOT
db_name = $db
http_interface = 127.0.0.1
data_dir = $var/odoo-data-$db
log_level = warn
CONF
export PYTHONPATH="$REPO_ROOT:$ODOO_PATH${PYTHONPATH:+:$PYTHONPATH}"
if ! psql -Atqc "SELECT 1 FROM pg_database WHERE datname = '$tpl'" postgres | grep -q 1; then
  echo "bench: installing coworks_xero into the template database $tpl"
  "$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$tpl" -i coworks_xero --with-demo --stop-after-init \
      --log-level=warn > "$var/odoo-install-$tpl.log" 2>&1 || { echo "bench: install failed, see $var/odoo-install-$tpl.log"; exit 1; }
else  # the template follows the code under test
  "$PY" "$ODOO_PATH/odoo-bin" -c "$conf" -d "$tpl" -u coworks_xero --stop-after-init \
      --log-level=warn > "$var/odoo-update-$tpl.log" 2>&1 || { echo "bench: update failed, see $var/odoo-update-$tpl.log"; exit 1; }
fi
fresh_db() {
  dropdb --if-exists --force "$db" && createdb -T "$tpl" "$db"
}
on_fresh_db() {
  fresh_db && "$@"
}
status=0
# each_run NAME CMD...: one bench alone runs with the options given; under `all` a bench that takes
# --provider runs once for each provider
each_run() {
  local name=$1; shift
  if [ "$which" != all ]; then
    echo "== $name ${given[*]} =="; "$@" "${given[@]}" || status=1
  else
    for provider in $providers; do
      echo "== $name --provider $provider =="; "$@" --provider "$provider" || status=1
    done
  fi
}
if [ "$which" = post ] || [ "$which" = all ]; then
  each_run bench/post_overhead.py on_fresh_db "$PY" bench/post_overhead.py --db "$db" --conf "$conf"
  each_run bench/operation_overhead.py on_fresh_db "$PY" bench/operation_overhead.py --db "$db" --conf "$conf"
  each_run bench/hook_queries.py on_fresh_db "$PY" bench/hook_queries.py --db "$db" --conf "$conf"
fi
if [ "$which" = backfill ] || [ "$which" = all ]; then
  if [ "$which" = backfill ] && [ $# -gt 0 ]; then
    echo "== bench/backfill.py $* =="
    fresh_db && "$PY" bench/backfill.py --db "$db" --conf "$conf" "$@" || status=1
  else  # alone: into Xero; under `all`: into each provider
    backfill_providers=xero; [ "$which" = all ] && backfill_providers=$providers
    for provider in $backfill_providers; do
      echo "== bench/backfill.py --provider $provider (empty organisation) =="
      fresh_db && "$PY" bench/backfill.py --db "$db" --conf "$conf" --provider "$provider" || status=1
      echo "== bench/backfill.py --provider $provider (an organisation holding 5,000 contacts and 3,000 invoices) =="
      fresh_db && "$PY" bench/backfill.py --db "$db" --conf "$conf" --provider "$provider" \
          --existing-contacts 5000 --existing-invoices 3000 || status=1
    done
  fi
fi
if [ "$which" = writeback ] || [ "$which" = all ]; then
  echo "== bench/writeback.py =="
  fresh_db && "$PY" bench/writeback.py --db "$db" --conf "$conf" || status=1
fi
if [ "$which" = pipe ] || [ "$which" = all ]; then
  each_run bench/pipe.py "$PY" bench/pipe.py --template "$tpl"
fi
if [ "$which" = inbound ] || [ "$which" = all ]; then
  each_run bench/inbound.py "$PY" bench/inbound.py --template "$tpl"
fi
if [ "$which" = multi_org ] || [ "$which" = all ]; then
  each_run bench/multi_org.py on_fresh_db "$PY" bench/multi_org.py --db "$db" --conf "$conf"
fi
for bench in latency memory two_servers; do
  if [ "$which" = "$bench" ] || [ "$which" = all ]; then
    each_run "bench/$bench.py" "$PY" "bench/$bench.py" --template "$tpl"
  fi
done
if [ "$which" = soak ] || [ "$which" = all ]; then
  echo "== bench/fault_soak.py =="
  if [ "$which" = soak ]; then "$PY" bench/fault_soak.py --template "$tpl" "$@" || status=1
  else "$PY" bench/fault_soak.py --template "$tpl" || status=1; fi
fi
if [ "$which" = qbo_soak ] || [ "$which" = all ]; then
  echo "== bench/qbo_soak.py =="
  if [ "$which" = qbo_soak ]; then "$PY" bench/qbo_soak.py --template "$tpl" "$@" || status=1
  else "$PY" bench/qbo_soak.py --template "$tpl" || status=1; fi
fi
exit $status

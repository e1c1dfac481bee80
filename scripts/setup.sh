#!/usr/bin/env bash
# Creates the virtualenv with pinned versions and the emulator package installed editable (skipped
# when nothing changed), makes sure the pinned Xero OpenAPI spec is available (cached, verified, or
# downloaded once), and, when an Odoo tree is present, Odoo's own requirements and a running local
# PostgreSQL the current user can use.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [ ! -x "$PY" ]; then
  mkdir -p "$(dirname "$COWORKS_VENV")"
  python3 -m venv "$COWORKS_VENV"
  "$PY" -m pip install -q --disable-pip-version-check 'pip==26.0.1'
fi

# The stamp covers the pins, the emulator's packaging and which checkout it is installed from.
stamp_src="$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/pyproject.toml")$REPO_ROOT"
if have_odoo; then stamp_src+="$(cat "$ODOO_PATH/requirements.txt")"; fi
stamp="$(printf '%s' "$stamp_src" | sha1sum | cut -d' ' -f1)"
if [ "$(cat "$COWORKS_VENV/.coworks_stamp" 2>/dev/null)" != "$stamp" ]; then
  tmp="$(mktemp -d)"
  # cbor2 (an Odoo requirement) needs pkg_resources at build time; python-ldap only serves LDAP
  # login and needs system headers, so it is left out.
  echo 'setuptools<81' > "$tmp/build-constraints.txt"
  reqs=(-r "$REPO_ROOT/requirements.txt")
  if have_odoo; then
    grep -v '^python-ldap' "$ODOO_PATH/requirements.txt" > "$tmp/odoo-requirements.txt"
    reqs+=(-r "$tmp/odoo-requirements.txt")
  fi
  echo "setup: installing Python packages into $COWORKS_VENV"
  # pip's own status decides (pipefail): the grep only hides a harmless warning of this machine's
  # pip configuration, and must not hide a failed install.
  if ! PIP_BUILD_CONSTRAINT="$tmp/build-constraints.txt" "$PY" -m pip install -q --disable-pip-version-check "${reqs[@]}" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; }; then
    echo "setup: FAILED to install the Python packages (pip's messages above)"; exit 1
  fi
  echo "setup: installing the emulator package (xero_emulator, editable) from $REPO_ROOT"
  if ! PIP_BUILD_CONSTRAINT="$tmp/build-constraints.txt" "$PY" -m pip install -q --disable-pip-version-check \
      --no-deps -e "$REPO_ROOT" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; then
    echo "setup: FAILED to install the emulator package (pip's messages above)"; exit 1
  fi
  rm -rf "$tmp"
  # fail loudly if the install did not happen; the emulator must import from anywhere, no PYTHONPATH
  (cd / && env -u PYTHONPATH "$PY" -c "import xero_python, requests, yaml, openapi_core, xero_emulator.spec")
  if have_odoo; then (cd / && "$PY" -c "import gevent, psycogreen.gevent, psycopg2"); fi
  echo "$stamp" > "$COWORKS_VENV/.coworks_stamp"
fi

# The official spec the emulator validates against: a no-op when a verified copy is there (the one
# committed in xero_emulator/openapi/); if none verifies and there is no network, it prints one line
# saying where the spec comes from, and set-up fails.
"$PY" -m xero_emulator.spec fetch

if have_odoo && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  # Odoo's HttpCase (browser tours) needs Debian's chromium, and skips its tests silently without it.
  echo "setup: installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo -n apt-get); fi
  { "${apt_get[@]}" install -y -q chromium >/dev/null 2>&1 \
      || { "${apt_get[@]}" update -q >/dev/null 2>&1 && "${apt_get[@]}" install -y -q chromium >/dev/null 2>&1; }; } \
    || echo "!!!!! setup: could not install chromium: the browser tours will be SKIPPED by Odoo !!!!!"
fi

if have_odoo; then
  if ! pg_isready -q 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null; then
      ver="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)"
      pg_ctlcluster --skip-systemctl-redirect "${ver:-15}" main start
    fi
    for _ in $(seq 1 30); do pg_isready -q && break; sleep 1; done
  fi
  me="$(id -un)"
  if ! psql -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    # Odoo connects over the local socket as the current OS user: give that user a role.
    su postgres -c "createuser -s '$me'" 2>/dev/null || sudo -u postgres createuser -s "$me"
  fi
fi

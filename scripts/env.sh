# Shared settings for the project's scripts (sourced, not run).
# ODOO_PATH: an Odoo 19.0 tree (odoo-bin, odoo/, addons/). COWORKS_VENV: the virtualenv, outside git.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_PATH="${ODOO_PATH:-/opt/odoo19}"
COWORKS_VENV="${COWORKS_VENV:-$HOME/.cache/coworks_xero/venv}"
PY="$COWORKS_VENV/bin/python"
have_odoo() { [ -f "$ODOO_PATH/odoo-bin" ] && [ -d "$ODOO_PATH/odoo" ] && [ -d "$ODOO_PATH/addons" ]; }

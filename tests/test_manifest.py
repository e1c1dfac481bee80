"""The addon's manifest: what Apps shows must render without reStructuredText errors (Odoo
renders the description with docutils at install and prints its complaints to the log)."""
import ast
import io
import os

import pytest

MANIFEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "coworks_xero",
                        "__manifest__.py")


def _manifest():
    with open(MANIFEST) as f:
        return ast.literal_eval(f.read())


def test_description_is_clean_restructuredtext():
    docutils_core = pytest.importorskip("docutils.core")  # Odoo's requirement; absent without an Odoo tree
    complaints = io.StringIO()
    docutils_core.publish_string(_manifest()["description"], writer_name="html",
                                 settings_overrides={"warning_stream": complaints, "report_level": 1,
                                                     "halt_level": 5})
    assert complaints.getvalue() == ""


def test_manifest_declares_what_apps_needs():
    manifest = _manifest()
    assert manifest["version"].startswith("19.0.")
    assert manifest["license"] == "LGPL-3" and manifest["category"]
    for path in manifest.get("images", []) + manifest.get("data", []):
        assert os.path.exists(os.path.join(os.path.dirname(MANIFEST), path)), path


def test_every_odoo_test_module_is_imported_for_odoo_s_runner():
    """odoo-bin --test-enable runs only what coworks_xero/tests/__init__.py imports (pytest-odoo
    finds files by name): a test file left out would pass unseen under one runner."""
    tests_dir = os.path.join(os.path.dirname(MANIFEST), "tests")
    with open(os.path.join(tests_dir, "__init__.py")) as f:
        imported = {node.names[0].name for node in ast.parse(f.read()).body if isinstance(node, ast.ImportFrom)}
    files = {name[:-3] for name in os.listdir(tests_dir) if name.startswith("test_") and name.endswith(".py")}
    assert files - imported == set()

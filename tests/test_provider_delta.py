"""scripts/provider_delta.py on a throw-away git history: own files left out, the rest classed."""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import provider_delta  # noqa: E402


def _commit(repo, files, message):
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message],
                   check=True)


def test_counts_only_what_the_provider_commits_changed_outside_its_own_files(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _commit(tmp_path, {"coworks_xero/models/common.py": "A = 1\n"}, "engine before the provider")
    _commit(tmp_path, {"coworks_xero/services/qbo/client.py": "x\ny\n",
                       "qbo_emulator/app.py": "z\n",
                       "requirements.txt": "intuit-oauth\n"}, "qbo services")
    _commit(tmp_path, {"coworks_xero/models/common.py": "A = 1\nB = 2\n",
                       "coworks_xero/models/sync_connection_qbo.py": "q\n",
                       "README.md": "qbo\n"}, "qbo odoo side")
    _commit(tmp_path, {"coworks_xero/models/common.py": "A = 1\nB = 2\nC = 3\n"}, "unrelated engine work")

    files = provider_delta.delta(str(tmp_path), "qbo")
    assert files == {
        "requirements.txt": [1, 0, "manifest"],
        "coworks_xero/models/common.py": [1, 0, "engine"],
        "README.md": [1, 0, "docs"],
    }
    assert len(provider_delta.provider_commits(str(tmp_path), "qbo")) == 2
    # the tree as it is: shared files that name the provider, whatever commit put them there
    _commit(tmp_path, {"coworks_xero/models/sync_engine.py": "x = 1\nif provider == 'qbo':\n    pass\n",
                       "docs/architecture.md": "QuickBooks\n"}, "a shared change naming the provider alone")
    assert provider_delta.mentions(str(tmp_path), "qbo") == {
        "coworks_xero/models/sync_engine.py": [2], "docs/architecture.md": [1], "README.md": [1],
        "requirements.txt": [1]}


def test_the_measurement_itself_is_left_out_of_both_counts(tmp_path):
    """A provider commit that also edits scripts/provider_delta.py or its test: those lines are
    neither engine lines changed for the provider nor lines naming it."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _commit(tmp_path, {"coworks_xero/models/common.py": "A = 1\n"}, "engine before the provider")
    _commit(tmp_path, {"coworks_xero/services/qbo/client.py": "x\n",
                       "coworks_xero/models/common.py": "A = 1\nB = 2\n",
                       "scripts/provider_delta.py": "OWN = ['qbo']\nMENTIONS = 'qbo|intuit'\n",
                       "tests/test_provider_delta.py": "assert 'qbo'\n"}, "qbo, and its measurement")

    assert provider_delta.delta(str(tmp_path), "qbo") == {"coworks_xero/models/common.py": [1, 0, "engine"]}
    assert provider_delta.mentions(str(tmp_path), "qbo") == {}
    for tool in provider_delta.TOOLING:
        assert provider_delta.classify(tool, "qbo") == "engine"  # left out by name, not by class


def test_classes():
    c = provider_delta.classify
    assert c("coworks_xero/views/qbo_settings.xml", "qbo") == "own"
    assert c("coworks_xero/tests/test_qbo.py", "qbo") == "own"
    assert c("coworks_xero/models/sync_engine.py", "qbo") == "engine"
    assert c("coworks_xero/models/__init__.py", "qbo") == "manifest"
    assert c("tests/conftest.py", "qbo") == "tests"
    assert c("docs/architecture.md", "qbo") == "docs"
    assert c("bench/pipe.py", "qbo") == "bench" and c("bench/qbo_soak.py", "qbo") == "own"
    assert c("bench/run.sh", "qbo") == "manifest"

"""Where the emulator's Xero OpenAPI spec comes from: env dir, verified cache, shared copy, download.

The download path runs against a local ``http.server`` on 127.0.0.1; no test here needs a network.
Most tests serve small stand-in files and pin their checksums (``SPEC_FILES`` patched); one serves
the real pinned release, taken from wherever the rest of the suite gets it."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading

import pytest

from xero_emulator import spec as S

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def serving(directory):
    """An HTTP server on 127.0.0.1 serving ``directory``; yields (base_url, list of paths asked)."""
    asked = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            asked.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", asked
    finally:
        httpd.shutdown()
        httpd.server_close()


def files_under(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env dir, an empty cache under tmp_path, no shared copy, nothing reachable by default."""
    monkeypatch.delenv("XERO_OPENAPI_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XERO_OPENAPI_URL", "http://127.0.0.1:9/")  # discard port: connection refused
    monkeypatch.setattr(S, "shared_dir", lambda: str(tmp_path / "no-shared" / "xero-openapi"))
    monkeypatch.setattr(S, "bundled_dir", lambda: str(tmp_path / "no-bundled"))
    return tmp_path


@pytest.fixture
def fake_release(tmp_path, monkeypatch):
    """Small stand-in files served as 'the release', with SPEC_FILES pinned to their checksums."""
    src = tmp_path / "release"
    src.mkdir()
    pinned = {}
    for name in S.SPEC_FILES:
        data = f"stand-in for {name}\n".encode()
        (src / name).write_bytes(data)
        pinned[name] = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(S, "SPEC_FILES", pinned)
    return src


def test_cache_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert S.cache_dir() == str(tmp_path / "coworks_xero" / "xero-openapi" / "16.1.0")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert S.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "coworks_xero", "xero-openapi", "16.1.0")


def test_good_checksums_are_downloaded_cached_and_used(isolated, fake_release, monkeypatch):
    with serving(fake_release) as (url, asked):
        monkeypatch.setenv("XERO_OPENAPI_URL", url)
        assert S.locate() == (S.cache_dir(), "download")
        assert sorted(asked) == sorted("/" + n for n in S.SPEC_FILES)
        assert files_under(isolated / "cache") == sorted(
            os.path.join("coworks_xero", "xero-openapi", "16.1.0", n) for n in S.SPEC_FILES)
        asked.clear()
        assert S.locate() == (S.cache_dir(), "cache")
        assert S.spec_dir() == S.cache_dir()
        assert asked == []  # the cache is used, nothing downloaded again


def test_wrong_content_is_refused_and_nothing_is_kept(isolated, fake_release, monkeypatch):
    (fake_release / "xero-identity.yaml").write_bytes(b"tampered\n")
    with serving(fake_release) as (url, _):
        monkeypatch.setenv("XERO_OPENAPI_URL", url)
        with pytest.raises(S.SpecUnavailable) as exc:
            S.spec_dir()
    message = str(exc.value)
    assert "\n" not in message
    assert "refused " + url + "xero-identity.yaml" in message
    assert hashlib.sha256(b"tampered\n").hexdigest() in message and "nothing was kept" in message
    assert files_under(isolated) == sorted(
        os.path.relpath(os.path.join(fake_release, n), isolated) for n in S.SPEC_FILES)  # only the served files


def test_a_corrupted_cache_is_downloaded_again(isolated, fake_release, monkeypatch):
    with serving(fake_release) as (url, asked):
        monkeypatch.setenv("XERO_OPENAPI_URL", url)
        S.spec_dir()
        with open(os.path.join(S.cache_dir(), "xero_accounting.yaml"), "ab") as fh:
            fh.write(b"# edited\n")
        asked.clear()
        assert S.locate() == (S.cache_dir(), "download")
        assert len(asked) == len(S.SPEC_FILES)
    assert S.is_verified(S.cache_dir())


def test_env_dir_wins(isolated, fake_release, monkeypatch, tmp_path):
    with serving(fake_release) as (url, asked):
        monkeypatch.setenv("XERO_OPENAPI_URL", url)
        S.spec_dir()  # a valid cache exists
        own = tmp_path / "own"
        own.mkdir()
        (own / "xero_accounting.yaml").write_text("not the pinned one\n")  # not checked: the developer's choice
        monkeypatch.setenv("XERO_OPENAPI_DIR", str(own))
        asked.clear()
        assert S.locate() == (str(own), "env")
        assert asked == []


def test_env_dir_without_the_spec_is_a_clear_error(isolated, monkeypatch, tmp_path):
    monkeypatch.setenv("XERO_OPENAPI_DIR", str(tmp_path / "empty"))
    with pytest.raises(S.SpecUnavailable, match=r"XERO_OPENAPI_DIR=.*empty has no xero_accounting\.yaml"):
        S.spec_dir()


def test_shared_copy_is_used_only_when_it_matches(isolated, fake_release, monkeypatch, tmp_path):
    shared = tmp_path / "shared" / "xero-openapi"
    shutil.copytree(fake_release, shared)
    monkeypatch.setattr(S, "shared_dir", lambda: str(shared))
    assert S.locate() == (str(shared), "shared")
    (shared / "LICENSE").write_text("another licence\n")
    with serving(fake_release) as (url, asked):
        monkeypatch.setenv("XERO_OPENAPI_URL", url)
        assert S.locate() == (S.cache_dir(), "download")  # a copy that does not match is ignored


def test_no_network_and_no_copy_prints_one_line(isolated, tmp_path):
    """The CLI that setup.sh runs: one line on stderr naming the sources and XERO_OPENAPI_DIR=."""
    code = ("import sys; from xero_emulator import spec as S; "
            f"S.shared_dir = lambda: {str(tmp_path / 'no-shared')!r}; "
            f"S.bundled_dir = lambda: {str(tmp_path / 'no-bundled')!r}; sys.exit(S.main(['fetch']))")
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, XDG_CACHE_HOME=str(tmp_path / "cache"),
               XERO_OPENAPI_URL="http://127.0.0.1:9/")
    env.pop("XERO_OPENAPI_DIR", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "XERO_OPENAPI_DIR=" in lines[0] and "16.1.0" in lines[0] and "Connection refused" in lines[0]
    assert str(tmp_path / "cache" / "coworks_xero" / "xero-openapi" / "16.1.0") in lines[0]
    assert files_under(tmp_path) == []


def test_a_clone_alone_uses_the_release_committed_with_the_emulator(tmp_path, monkeypatch):
    """No env dir, no cache, no shared copy, no network: the committed copy, checksums verified."""
    monkeypatch.delenv("XERO_OPENAPI_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XERO_OPENAPI_URL", "http://127.0.0.1:9/")
    monkeypatch.setattr(S, "shared_dir", lambda: str(tmp_path / "no-shared"))
    bundled = os.path.join(REPO_ROOT, "xero_emulator", "openapi")
    assert S.locate() == (bundled, "bundled")
    assert files_under(tmp_path) == []  # nothing downloaded or copied
    # a damaged committed copy is not trusted
    damaged = tmp_path / "damaged"
    shutil.copytree(bundled, damaged)
    with open(damaged / "xero_accounting.yaml", "a", encoding="utf-8") as fh:
        fh.write("# changed\n")
    monkeypatch.setattr(S, "bundled_dir", lambda: str(damaged))
    with pytest.raises(S.SpecUnavailable):
        S.locate()


def test_where_without_fetching(isolated, capsys):
    assert S.main(["where"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m xero_emulator.spec fetch" in err


def test_the_real_release_downloads_and_loads(monkeypatch, tmp_path):
    """The pinned checksums match the real files, and a downloaded copy is what get_spec loads."""
    real = S.spec_dir()  # from wherever the rest of the suite gets it
    if os.environ.get("XERO_OPENAPI_DIR") and not S.is_verified(real):
        pytest.skip(f"XERO_OPENAPI_DIR={real} is not the pinned release")
    assert S.is_verified(real)
    served = tmp_path / "served"
    shutil.copytree(real, served, ignore=lambda d, names: [n for n in names if n not in S.SPEC_FILES])
    monkeypatch.delenv("XERO_OPENAPI_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(S, "shared_dir", lambda: str(tmp_path / "no-shared"))
    monkeypatch.setattr(S, "bundled_dir", lambda: str(tmp_path / "no-bundled"))
    with serving(served) as (url, _):
        monkeypatch.setenv("XERO_OPENAPI_URL", url)
        directory = S.spec_dir()
    assert directory == S.cache_dir()
    spec = S.get_spec(directory)
    assert spec.version and spec.find_operation("GET", "/Invoices")[0] is not None
    assert "MIT" in open(os.path.join(directory, "LICENSE"), encoding="utf-8").read()

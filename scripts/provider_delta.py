#!/usr/bin/env python3
"""What adding a provider changed outside that provider's own files (issue: "the delta, measured").

Reads git history only. The commits that added the provider are the non-merge commits that touch
its own files (services, emulator, views, models, tests named after it); every other file those
commits changed is listed with its added and deleted lines, in one of three classes:

- ``engine``: the addon's shared code (models, services, views, security, data, controllers not
  named after the provider) - the target is zero, each line justified in docs/architecture.md;
- ``manifest``: dependency pins and packaging (requirements.txt, pyproject.toml, __manifest__.py,
  model/view registration lists, the benchmarks' runner bench/run.sh);
- ``tests``: fixtures every test shares (tests/conftest.py, coworks_xero/tests/common*.py);
- ``bench``: the benchmarks (bench/), which run for each provider by design (``--provider``);
- ``docs``: README, docs/.

    python3 scripts/provider_delta.py [--provider qbo] [--base COMMIT] [--repo .]

Prints one line per file, then ``engine_lines_changed=N manifest_lines_changed=N tests_lines_changed=N
bench_lines_changed=N docs_lines_changed=N``.

A commit that changed only shared files for the provider (no file of its own) escapes that count, so a
second one reads the tree as it is: the lines outside the provider's own files that name it
(``MENTIONS``, case ignored), by class, ending ``engine_lines_naming_provider=N``.
"""
from __future__ import annotations

import argparse
import fnmatch
import subprocess
import sys

# A provider's own files: nothing else needs them.
OWN_PATHS = {
    "qbo": [
        "qbo_emulator/*", "coworks_xero/services/qbo/*", "tests/test_qbo*", "coworks_xero/tests/test_qbo*",
        "coworks_xero/models/*qbo*", "coworks_xero/views/*qbo*", "coworks_xero/controllers/*qbo*",
        "coworks_xero/data/*qbo*", "coworks_xero/demo/*qbo*", "scripts/*qbo*", "bench/*qbo*",
    ],
}
MENTIONS = {"qbo": r"qbo|quickbooks|intuit"}
# This measurement itself, left out of what it measures.
TOOLING = ("scripts/provider_delta.py", "tests/test_provider_delta.py")
# Lists that register files (an addon's, the benchmarks' runner): they name what they register.
MANIFEST_PATHS = ["requirements.txt", "pyproject.toml", "coworks_xero/__manifest__.py", "*/__init__.py",
                  "coworks_xero/security/ir.model.access.csv", "bench/run.sh"]
SHARED_TEST_PATHS = ["tests/conftest.py", "coworks_xero/tests/common*.py", "coworks_xero/tests/__init__.py"]
DOCS_PATHS = ["README.md", "docs/*", "*/README.md"]
# The benchmarks measure each provider (issue: "the benchmarks run for both providers"): a provider's
# branch in them is not engine code.
BENCH_PATHS = ["bench/*"]


def _git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def _matches(path, patterns):
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def classify(path, provider):
    """The first class whose patterns match ``path``; "engine" when none does."""
    classes = (("own", OWN_PATHS[provider]), ("docs", DOCS_PATHS), ("tests", SHARED_TEST_PATHS),
               ("manifest", MANIFEST_PATHS), ("bench", BENCH_PATHS))
    return next((name for name, patterns in classes if _matches(path, patterns)), "engine")


def provider_commits(repo, provider, base=None):
    """Non-merge commits (oldest first) since ``base`` that touch the provider's own files."""
    own = [":(glob)" + (p[:-1] + "**" if p.endswith("/*") else p) for p in OWN_PATHS[provider]]
    rev = f"{base}..HEAD" if base else "HEAD"
    out = _git(repo, "log", "--no-merges", "--reverse", "--format=%H", rev, "--", *own)
    return out.split()


def delta(repo, provider, base=None):
    """{path: [added, deleted, class]} over the provider's commits, own files (and this tooling) left out."""
    files = {}
    for commit in provider_commits(repo, provider, base):
        numstat = _git(repo, "diff-tree", "--no-commit-id", "-r", "--root", "--numstat", commit)
        for line in numstat.splitlines():
            added, deleted, path = line.split("\t", 2)
            kind = classify(path, provider)
            if kind == "own" or path in TOOLING:
                continue
            row = files.setdefault(path, [0, 0, kind])
            # binary files show "-": counted as one changed line each way
            row[0] += int(added) if added.isdigit() else 1
            row[1] += int(deleted) if deleted.isdigit() else 1
    return files


def mentions(repo, provider):
    """{path: [line numbers]} of the lines outside the provider's own files that name it (HEAD)."""
    proc = subprocess.run(["git", "-C", repo, "grep", "-n", "-I", "-i", "-E", MENTIONS[provider], "HEAD", "--"],
                          capture_output=True, text=True)
    out = {}
    for line in proc.stdout.splitlines():
        _rev, path, number, _text = line.split(":", 3)
        if classify(path, provider) != "own" and path not in TOOLING:
            out.setdefault(path, []).append(int(number))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--provider", default="qbo", choices=sorted(OWN_PATHS))
    ap.add_argument("--base", help="count only commits after this one (default: all history)")
    ap.add_argument("--repo", default=".")
    args = ap.parse_args(argv)
    files = delta(args.repo, args.provider, args.base)
    commits = provider_commits(args.repo, args.provider, args.base)
    totals = {"engine": 0, "manifest": 0, "tests": 0, "bench": 0, "docs": 0}
    print(f"{len(commits)} commits add provider {args.provider}; files they changed outside its own:")
    for path, (added, deleted, kind) in sorted(files.items(), key=lambda kv: (kv[1][2], kv[0])):
        totals[kind] += added + deleted
        print(f"  {kind:8} +{added:<4} -{deleted:<4} {path}")
    print(" ".join(f"{k}_lines_changed={v}" for k, v in totals.items()))
    named = mentions(args.repo, args.provider)
    totals = dict.fromkeys(totals, 0)
    print(f"lines outside its own files that name it ({MENTIONS[args.provider]}):")
    for path, numbers in sorted(named.items(), key=lambda kv: (classify(kv[0], args.provider), kv[0])):
        kind = classify(path, args.provider)
        totals[kind] += len(numbers)
        print(f"  {kind:8} {len(numbers):<5} {path}")
    print(" ".join(f"{k}_lines_naming_provider={v}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

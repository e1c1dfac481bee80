"""Shared pytest fixtures for the pure-Python suite (no Odoo)."""
from __future__ import annotations

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from xero_emulator import EmulatorServer  # noqa: E402


@pytest.fixture(scope="session")
def _emulator_server():
    srv = EmulatorServer(host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def emulator(_emulator_server):
    """A running EmulatorServer (one per session), reset to the seeded state for each test."""
    _emulator_server.app.reset()
    yield _emulator_server

"""A strict, stateful local QuickBooks Online (Accounting API v3 + Intuit OAuth 2.0) for tests, benchmarks
and demos.

    from qbo_emulator import EmulatorServer
    srv = EmulatorServer(port=0).start()
    srv.base_url, srv.discovery_url, srv.app, srv.stop()

See qbo_emulator/README.md.
"""
import importlib

_EXPORTS = {"EmulatorServer": ".server", "Emulator": ".app", "REALM_US": ".seed", "REALM_UK": ".seed",
            "DEMO_CLIENT_ID": ".seed", "DEMO_CLIENT_SECRET": ".seed", "DEMO_VERIFIER_TOKEN": ".seed"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

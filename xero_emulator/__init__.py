"""A strict, stateful local Xero (accounting + identity) for tests, benchmarks and demos.

    from xero_emulator import EmulatorServer
    srv = EmulatorServer(host="127.0.0.1", port=0).start()
    srv.base_url, srv.app, srv.stop()

See docs/architecture.md ("The emulator") and xero_emulator/README.md.
"""
import importlib

# Imported on first use (PEP 562), so ``python -m xero_emulator.spec`` runs without the package
# having imported ``spec`` already.
_EXPORTS = {"EmulatorServer": ".server", "Emulator": ".app", "TENANT_AU": ".seed", "TENANT_UK": ".seed",
            "DEMO_CLIENT_ID": ".seed", "DEMO_CLIENT_SECRET": ".seed"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))

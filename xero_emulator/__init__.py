"""A strict, stateful local Xero (accounting + identity) for tests, benchmarks and demos.

    from xero_emulator import EmulatorServer
    srv = EmulatorServer(host="127.0.0.1", port=0).start()
    srv.base_url, srv.app, srv.stop()

See docs/architecture.md ("The emulator") and xero_emulator/README.md.
"""
from .app import Emulator
from .seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TENANT_AU, TENANT_UK
from .server import EmulatorServer

__all__ = ["EmulatorServer", "Emulator", "TENANT_AU", "TENANT_UK", "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET"]

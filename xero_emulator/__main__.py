"""python -m xero_emulator --port PORT [--host 127.0.0.1] [--time-scale X] [--webhook-url URL --webhook-key KEY]"""
from __future__ import annotations

import argparse
import sys

from .seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from .server import EmulatorServer, is_loopback_host


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m xero_emulator", description="Local Xero emulator (loopback only)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--time-scale", type=float, default=1.0, help="emulator seconds per real second")
    ap.add_argument("--webhook-url")
    ap.add_argument("--webhook-key")
    ap.add_argument("--tax-rounding", default="half_up", choices=["half_up", "half_even"])
    args = ap.parse_args(argv)
    if not is_loopback_host(args.host):
        ap.error(f"refusing to bind non-loopback host {args.host!r}")
    if bool(args.webhook_url) != bool(args.webhook_key):
        ap.error("--webhook-url and --webhook-key go together")
    srv = EmulatorServer(host=args.host, port=args.port, time_scale=args.time_scale,
                         webhook_url=args.webhook_url, webhook_key=args.webhook_key, tax_rounding=args.tax_rounding)
    tenants = ", ".join(f"{o.name}={t}" for t, o in srv.app.orgs.items())
    print(f"xero_emulator listening on {srv.base_url} (client_id={DEMO_CLIENT_ID} secret={DEMO_CLIENT_SECRET}; "
          f"tenants: {tenants})", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m qbo_emulator --port PORT [--host 127.0.0.1] [--time-scale X] [--webhook-url URL [--verifier-token T]]"""
from __future__ import annotations

import argparse
import sys

from .seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_VERIFIER_TOKEN
from .server import EmulatorServer, is_loopback_host


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m qbo_emulator", description="Local QuickBooks Online emulator")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--webhook-url")
    ap.add_argument("--verifier-token", default=DEMO_VERIFIER_TOKEN)
    args = ap.parse_args(argv)
    if not is_loopback_host(args.host):
        ap.error(f"refusing to bind non-loopback host {args.host!r}")
    srv = EmulatorServer(host=args.host, port=args.port, time_scale=args.time_scale, webhook_url=args.webhook_url,
                         verifier_token=args.verifier_token)
    realms = ", ".join(f"{c.name}={r}" for r, c in srv.app.companies.items())
    print(f"qbo_emulator listening on {srv.base_url} (client_id={DEMO_CLIENT_ID} secret={DEMO_CLIENT_SECRET}; "
          f"discovery {srv.discovery_url}; realms: {realms})", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

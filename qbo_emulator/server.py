"""HTTP transport: a threaded stdlib server on loopback around ``Emulator`` (as xero_emulator/server.py)."""
from __future__ import annotations

import http.server
import ipaddress
import socket
import socketserver
import threading
import urllib.parse

from .app import Emulator
from .wire import Request

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback_host(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "QBOEmulator/1.0"
    sys_version = ""

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, parts.path, parts.query, dict(self.headers.items()), body)
        resp = self.server.emulator.handle(req)
        if resp.drop:
            # the write was applied; the client sees the connection close without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and resp.body:
            self._headers_buffer.append(resp.body)
        self.flush_headers()

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Server6(_Server):
    address_family = socket.AF_INET6


class EmulatorServer:
    """``srv = EmulatorServer(port=0).start(); srv.base_url; srv.app; srv.stop()``"""

    def __init__(self, host="127.0.0.1", port=0, time_scale=1.0, webhook_url=None, verifier_token=None):
        if not is_loopback_host(host):
            raise ValueError(f"the QuickBooks emulator only binds loopback addresses, not {host!r}")
        self.host = host
        self.app = Emulator(time_scale=time_scale, webhook_url=webhook_url, verifier_token=verifier_token)
        cls = _Server6 if ":" in host else _Server
        self.httpd = cls((host, port), _Handler)
        self.httpd.emulator = self.app
        self.port = self.httpd.server_address[1]
        h = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{h}:{self.port}"
        self.app.base_url = self.base_url
        self._thread = None

    @property
    def discovery_url(self):
        return self.base_url + "/.well-known/openid_configuration/"

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="qbo-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        self.httpd.serve_forever()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.app.webhooks.stop()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

"""agnhost `liveness` (test/images/agnhost/liveness/server.go) in Python, on the pod IP.

/healthz: 200 "ok" while the process is at most --healthy-for seconds old, then
500 "error: <seconds>". /redirect?loc=URL: 302 to URL with Go's http.Redirect
body. /started: 200 with the uptime in seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socketserver
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STARTED = time.monotonic()
HEALTHY_FOR = 10.0


def go_html_escape(text: str) -> str:
    """net/http's htmlReplacer."""
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;")):
        text = text.replace(a, b)
    return text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        age = time.monotonic() - STARTED
        if parts.path == "/healthz":
            if age > HEALTHY_FOR:
                self._send(500, f"error: {age}")
            else:
                self._send(200, "ok")
        elif parts.path == "/started":
            self._send(200, f"{age}")
        elif parts.path == "/redirect":
            loc = parse_qs(parts.query).get("loc", [""])[0]
            # net/http.Redirect: GET body `<a href="LOC">Found</a>.` + "\n", via Fprintln
            body = f'<a href="{go_html_escape(loc)}">Found</a>.\n\n'
            self._send(302, body, {"Location": loc, "Content-Type": "text/html; charset=utf-8"})
        else:
            self._send(404, "404 page not found\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        # HTTPServer.server_bind looks its address up (socket.getfqdn): in a pod's network
        # namespace, with no route to the host's DNS server, that waits out the resolver's
        # timeouts (~10 s) before the server listens. A Go server does no such lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


def main() -> None:
    # agnhost is a Go program: the Go runtime exits on SIGTERM even as PID 1 (exit 2).
    # A Python PID 1 would ignore it, so say so explicitly.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(2))
    global HEALTHY_FOR
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--healthy-for", type=float, default=10.0)
    args = ap.parse_args()
    HEALTHY_FOR = args.healthy_for
    Server(("0.0.0.0", args.port), Handler).serve_forever()  # the pod IP


if __name__ == "__main__":
    main()

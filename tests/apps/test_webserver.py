"""agnhost `test-webserver`: 200 on `/`, 404 elsewhere, on the pod IP."""

from __future__ import annotations

import argparse
import os
import signal
import socketserver
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        code, body = (200, b"hello\n") if self.path.split("?")[0] == "/" else (404, b"not found\n")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=80)
    args = ap.parse_args()
    Server(("0.0.0.0", args.port), Handler).serve_forever()  # the pod IP


if __name__ == "__main__":
    main()

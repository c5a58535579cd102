"""The real processes behind `tests/scenarios.py` behave as their simulator models say."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from podkeeper.simulate.apps import go_redirect_body

APPS = Path(__file__).parent.parent / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(*argv: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, *argv])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "app did not listen"
                time.sleep(0.02)
        yield proc
    finally:
        proc.kill()
        proc.wait(5)


def get(port: int, path: str) -> tuple[int, bytes, str | None]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), r.getheader("Location")
    finally:
        c.close()


def test_liveness_server_healthz_turns_500_and_redirect_body_is_gos() -> None:
    port = free_port()
    app = str(APPS / "liveness_server.py")
    with running(app, "--port", str(port), "--healthy-for", "1", port=port):
        assert get(port, "/healthz")[:2] == (200, b"ok")
        loc = "http://0.0.0.0/"
        status, body, where = get(port, "/redirect?loc=http%3A%2F%2F0.0.0.0%2F")
        assert (status, where) == (302, loc)
        assert body.decode() == go_redirect_body(loc) == '<a href="http://0.0.0.0/">Found</a>.\n\n'
        time.sleep(1.2)
        status, body, _ = get(port, "/healthz")
        assert status == 500 and body.startswith(b"error: ")


def test_test_webserver() -> None:
    port = free_port()
    with running(str(APPS / "test_webserver.py"), "--port", str(port), port=port):
        assert get(port, "/")[0] == 200
        assert get(port, "/x")[0] == 404


def test_grpc_health_serving() -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = free_port()
    with (
        running(str(APPS / "grpc_health_server.py"), "--port", str(port), port=port),
        grpc.insecure_channel(f"127.0.0.1:{port}") as ch,
    ):
        stub = health_pb2_grpc.HealthStub(ch)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_script_files_and_sigterm(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        str(APPS / "script.py"),
        "--state",
        str(tmp_path),
        "--file",
        "ready:0:",
        "--file",
        "gone:0:0.3",
        "--sigterm-remove",
        "ready",
        "--sigterm-exit-after",
        "0.2",
        "--sigterm-exit-code",
        "0",
    ]
    proc = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.5)
        assert not (tmp_path / "gone").exists()
        proc.terminate()
        assert proc.wait(5) == 0
        assert not (tmp_path / "ready").exists()
    finally:
        proc.kill()

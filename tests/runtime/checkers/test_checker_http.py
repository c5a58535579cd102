"""http_probe against real loopback servers (pkg/probe/http behaviour, Go client texts)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers import http_probe

pytestmark = pytest.mark.timeout(20)

UA = "kube-probe/1.30"
Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


def response(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def go_redirect(status: int, location: str) -> bytes:
    """What Go's http.Redirect writes for a GET."""
    body = f'<a href="{location}">Found</a>.\n\n'.encode()
    return response(status, body, (("Location", location), ("Content-Type", "text/html")))


class Server:
    """A raw HTTP/1.1 server on 127.0.0.1: routes by path, records every request head."""

    def __init__(self, routes: dict[str, Handler | bytes]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> None:
        self._server = await asyncio.start_server(
            self._handle, host, 0, ssl=ssl_context, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")
            target = lines[0].split(" ")[1]
            headers = [(k, v) for k, _, v in (line.partition(": ") for line in lines[1:] if line)]
            self.requests.append((target, headers))
            route = self.routes.get(target.split("?")[0], response(404))
            if isinstance(route, bytes):
                writer.write(route)
            else:
                await route(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(
    routes: dict[str, Handler | bytes], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    server = Server(routes)
    await server.start(ssl_context)
    try:
        yield server
    finally:
        await server.stop()


async def probe(
    port: int,
    path: str = "/",
    headers: tuple[tuple[str, str], ...] = (),
    timeout: float = 2,
    scheme: str = "http",
    host: str = "127.0.0.1",
) -> ProbeOutcome:
    return await http_probe(scheme, host, port, path, headers, timeout, user_agent=UA)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def never_answer(writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


# --- status classification (pkg/probe/http/http.go DoHTTPProbe) ---------------------------


async def test_200_is_success_with_body() -> None:
    async with serving({"/healthz": response(200, b"ok")}) as server:
        outcome = await probe(server.port, "/healthz")
    assert outcome == ProbeOutcome(Result.SUCCESS, "ok")


async def test_500_is_failure_without_body() -> None:
    async with serving({"/": response(500, b"secret stack trace")}) as server:
        outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 500")


async def test_399_style_non_redirect_3xx_is_warning() -> None:
    async with serving({"/": response(304)}) as server:
        outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.WARNING, "Probe terminated redirects, Response body: ")


async def test_redirect_without_location_is_warning() -> None:
    async with serving({"/": response(302, b"nowhere")}) as server:
        outcome = await probe(server.port)
    assert outcome.result is Result.WARNING
    assert outcome.output == "Probe terminated redirects, Response body: nowhere"


# --- redirects ---------------------------------------------------------------------------


async def test_same_host_redirect_is_followed() -> None:
    routes: dict[str, Handler | bytes] = {
        "/": go_redirect(302, "/broken"),
        "/broken": response(500),
    }
    async with serving(routes) as server:
        outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 500")
    assert [target for target, _ in server.requests] == ["/", "/broken"]
    second = dict(server.requests[1][1])
    assert second["Referer"] == f"http://127.0.0.1:{server.port}/"
    assert second["User-Agent"] == UA


async def test_redirect_to_other_port_same_hostname_is_followed() -> None:
    async with serving({"/ok": response(200, b"there")}) as other:
        location = f"http://127.0.0.1:{other.port}/ok"
        async with serving({"/": go_redirect(301, location)}) as server:
            outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.SUCCESS, "there")


async def test_cross_host_redirect_is_judged_as_warning() -> None:
    async with serving({"/": go_redirect(302, "http://0.0.0.0/")}) as server:
        outcome = await probe(server.port)
    assert outcome.result is Result.WARNING
    assert outcome.output == (
        'Probe terminated redirects, Response body: <a href="http://0.0.0.0/">Found</a>.\n\n'
    )
    assert len(server.requests) == 1


async def test_redirect_loop_stops_after_10() -> None:
    async with serving({"/loop": go_redirect(302, "/loop")}) as server:
        outcome = await probe(server.port, "/loop")
    # Go's Client.Do reports the CheckRedirect error against the Location as written.
    assert outcome == ProbeOutcome(Result.FAILURE, 'Get "/loop": stopped after 10 redirects')
    assert len(server.requests) == 10


async def test_redirect_loop_absolute_location() -> None:
    async with serving({}) as server:
        location = f"http://127.0.0.1:{server.port}/again"
        server.routes["/again"] = go_redirect(307, location)
        outcome = await probe(server.port, "/again")
    assert outcome.output == f'Get "{location}": stopped after 10 redirects'


# --- transport errors (Go's texts) --------------------------------------------------------


async def test_connection_refused() -> None:
    port = closed_port()
    outcome = await probe(port)
    assert outcome == ProbeOutcome(
        Result.FAILURE,
        f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused',
    )


async def test_ipv6_host_gets_brackets() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
            port = sock.getsockname()[1]
    except OSError:
        pytest.skip("no ::1")
    outcome = await probe(port, host="::1")
    assert outcome.output == (
        f'Get "http://[::1]:{port}/": dial tcp [::1]:{port}: connect: connection refused'
    )


async def test_timeout_waiting_for_headers() -> None:
    async with serving({"/slow": never_answer}) as server:
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcome = await probe(server.port, "/slow", timeout=0.3)
        assert loop.time() - start < 1.5
    assert outcome == ProbeOutcome(
        Result.FAILURE,
        f'Get "http://127.0.0.1:{server.port}/slow": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)",
    )


async def test_timeout_covers_redirects() -> None:
    routes: dict[str, Handler | bytes] = {"/": go_redirect(302, "/slow"), "/slow": never_answer}
    async with serving(routes) as server:
        outcome = await probe(server.port, timeout=0.3)
    assert outcome.output == (
        f'Get "http://127.0.0.1:{server.port}/slow": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)"
    )


async def test_timeout_reading_body_is_a_prober_error() -> None:
    async def head_then_stall(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.Event().wait()

    async with serving({"/": head_then_stall}) as server:
        outcome = await probe(server.port, timeout=0.3)
    assert outcome.result is Result.FAILURE
    assert outcome.output == ""
    assert outcome.error == (
        "context deadline exceeded (Client.Timeout or context cancellation while reading body)"
    )


async def test_server_closing_without_response_is_eof() -> None:
    async def hang_up(writer: asyncio.StreamWriter) -> None:
        return

    async with serving({"/": hang_up}) as server:
        outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.FAILURE, f'Get "http://127.0.0.1:{server.port}/": EOF')


async def test_truncated_body_is_a_prober_error() -> None:
    async with serving({"/": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}) as server:
        outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.FAILURE, "", error="unexpected EOF")


# --- request shape (pkg/probe/http/request.go) ---------------------------------------------


async def test_default_headers() -> None:
    async with serving({"/": response(200)}) as server:
        await probe(server.port)
    assert server.requests[0][1] == [
        ("Host", f"127.0.0.1:{server.port}"),
        ("User-Agent", UA),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ]


async def test_user_headers_host_override_and_repeats() -> None:
    headers = (
        ("x-custom", "a"),
        ("X-CUSTOM", "b"),
        ("host", "example.com"),
        ("accept", "text/plain"),
    )
    async with serving({"/": response(200)}) as server:
        await probe(server.port, headers=headers)
    seen = server.requests[0][1]
    assert seen == [
        ("Host", "example.com"),
        ("User-Agent", UA),
        ("Accept", "text/plain"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
        ("Connection", "close"),
    ]
    assert not any(name.lower() == "accept-encoding" for name, _ in seen)


async def test_user_agent_given_and_empty_accept_removed() -> None:
    headers = (("User-Agent", "mine/1"), ("Accept", ""))
    async with serving({"/": response(200)}) as server:
        await probe(server.port, headers=headers)
    names = dict(server.requests[0][1])
    assert names["User-Agent"] == "mine/1"
    assert "Accept" not in names


async def test_query_string_is_kept() -> None:
    async with serving({"/q": response(200, b"q")}) as server:
        outcome = await probe(server.port, "/q?a=1&b=two")
    assert outcome.result is Result.SUCCESS
    assert server.requests[0][0] == "/q?a=1&b=two"


async def test_invalid_header_name_is_go_error() -> None:
    port = closed_port()  # never dialed: the request is rejected first
    outcome = await probe(port, headers=(("bad name", "x"),))
    assert outcome.output == (
        f'Get "http://127.0.0.1:{port}/": net/http: invalid header field name "bad name"'
    )


async def test_body_truncated_at_10_kib() -> None:
    async with serving({"/": response(200, b"x" * 50_000)}) as server:
        outcome = await probe(server.port)
    assert outcome == ProbeOutcome(Result.SUCCESS, "x" * 10240)


async def test_many_concurrent_probes() -> None:
    async with serving({"/": response(200, b"ok")}) as server:
        outcomes = await asyncio.gather(*(probe(server.port) for _ in range(200)))
    assert {o.result for o in outcomes} == {Result.SUCCESS}
    assert len(server.requests) == 200


# --- HTTPS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("neither the cryptography package nor the openssl CLI is available")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=probe-test"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def server_context(cert_key: tuple[Path, Path], sni_seen: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_key)

    def record(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        sni_seen.append(name)

    ctx.sni_callback = record  # type: ignore[assignment]
    return ctx


async def test_https_self_signed_ip_has_no_sni(self_signed: tuple[Path, Path]) -> None:
    sni: list[str | None] = []
    async with serving({"/": response(200, b"secure")}, server_context(self_signed, sni)) as server:
        outcome = await probe(server.port, scheme="HTTPS")
    assert outcome == ProbeOutcome(Result.SUCCESS, "secure")
    assert sni == [None]


async def test_https_sni_is_url_host_not_host_header(self_signed: tuple[Path, Path]) -> None:
    sni: list[str | None] = []
    async with serving({"/": response(200, b"ok")}, server_context(self_signed, sni)) as server:
        outcome = await probe(
            server.port, scheme="https", host="localhost", headers=(("Host", "other.example"),)
        )
    assert outcome.result is Result.SUCCESS
    assert sni == ["localhost"]
    assert dict(server.requests[0][1])["Host"] == "other.example"


async def test_https_to_plain_http_server() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello arrives; answer like an HTTP server would
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await probe(port, scheme="https")
    finally:
        server.close()
        await server.wait_closed()
    assert outcome == ProbeOutcome(
        Result.FAILURE,
        f'Get "https://127.0.0.1:{port}/": http: server gave HTTP response to HTTPS client',
    )


async def test_https_handshake_hang_up_is_eof() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await probe(port, scheme="https")
    finally:
        server.close()
        await server.wait_closed()
    assert outcome == ProbeOutcome(Result.FAILURE, f'Get "https://127.0.0.1:{port}/": EOF')


async def test_https_body_truncated_and_redirect_followed(self_signed: tuple[Path, Path]) -> None:
    routes: dict[str, Handler | bytes] = {
        "/": go_redirect(302, "/big"),
        "/big": response(200, b"y" * 30_000),
    }
    async with serving(routes, server_context(self_signed, [])) as server:
        outcome = await probe(server.port, scheme="https")
    assert outcome == ProbeOutcome(Result.SUCCESS, "y" * 10240)


async def test_non_ascii_header_value_sent_as_utf8() -> None:
    async with serving({"/": response(200)}) as server:
        outcome = await probe(server.port, headers=(("X-Name", "café"),))
    assert outcome.result is Result.SUCCESS
    assert ("X-Name", "cafÃ©") in server.requests[0][1]  # the server decoded latin-1


async def test_control_character_in_header_value_is_go_error() -> None:
    port = closed_port()
    outcome = await probe(port, headers=(("X-Bad", "a\nb"),))
    assert outcome.output == (
        f'Get "http://127.0.0.1:{port}/": net/http: invalid header field value for "X-Bad"'
    )

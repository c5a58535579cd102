"""The httpGet probe: a lean HTTP/1.1 client on asyncio + h11 that behaves like the kubelet's.

Copies `pkg/probe/http/request.go` (URL, headers), `pkg/probe/http/http.go`
(transport settings, redirects, body limit, status classification) and the
Go `net/http` client behaviours the probe inherits (`Client.Do` redirects,
error texts). One new connection per request, `Connection: close`, no proxy,
no compression, TLS without verification.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Sequence
from urllib.parse import urljoin

import h11

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers._dial import DialError, dial, numeric_host
from podkeeper.runtime.checkers._go import go_errno, go_quote, join_host_port
from podkeeper.runtime.checkers._request import (
    BodyError,
    ClientError,
    Request,
    h11_request,
    initial_request,
    parse_target,
    redirect_request,
    validate,
)

# pkg/probe/http/http.go: maxRespBodyLength = 10 * 1 << 10
MAX_BODY = 10 * 1024
# pkg/probe/http/http.go RedirectChecker: "stopped after 10 redirects"
MAX_REDIRECTS = 10
# Go net/http Client.Do follows only these (redirectBehavior); other 3xx are returned as is.
_REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))
_DEFAULT_PORTS = {"http": 80, "https": 443}

_AWAITING_HEADERS = " (Client.Timeout exceeded while awaiting headers)"
_DEADLINE_HEADERS = "context deadline exceeded" + _AWAITING_HEADERS
_DEADLINE_BODY = (
    "context deadline exceeded (Client.Timeout or context cancellation while reading body)"
)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The one client TLS context: `InsecureSkipVerify: true` (pkg/probe/http/http.go)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


# --- one request/response on one connection ---------------------------------------------


class _Exchange:
    """Sends one request and collects the response head and up to MAX_BODY body bytes.

    TLS runs here on `ssl.MemoryBIO`s rather than asyncio's SSL transport: it
    is lighter, and the first bytes from the server are visible, which Go's
    `server gave HTTP response to HTTPS client` check needs."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, request: h11.Request, sni: str | None, tls: bool
    ) -> None:
        self._conn = h11.Connection(h11.CLIENT)
        self._payload = self._conn.send(request) + self._conn.send(h11.EndOfMessage())
        self.head: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.status = 0
        self.location: str | None = None
        self.body = bytearray()
        self.transport: _SockTransport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tls: ssl.SSLObject | None = None
        self._in = self._out = None
        self._handshaking = tls
        if tls:
            self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
            # SNI is the URL host (never the Host header), and none for IP literals.
            self._tls = _tls_context().wrap_bio(self._in, self._out, server_hostname=sni)

    def connection_made(self, transport: _SockTransport) -> None:
        self.transport = transport
        if self._tls is None:
            transport.write(self._payload)
        else:
            self._handshake()

    def _flush(self) -> None:
        assert self._out is not None and self.transport is not None
        pending = self._out.read()
        if pending:
            self.transport.write(pending)

    def _handshake(self) -> None:
        assert self._tls is not None
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as err:
            self._flush()
            self._fail(_tls_error(err))
            return
        self._handshaking = False
        self._tls.write(self._payload)
        self._flush()
        self._read_tls()

    def _read_tls(self) -> None:
        assert self._tls is not None
        chunks = []
        try:
            while True:
                chunk = self._tls.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            chunks.append(b"")  # close_notify, or a close without it: both end the stream
        except ssl.SSLError as err:
            self._fail(_tls_error(err))
            return
        for chunk in chunks:
            self._feed(chunk)

    def data_received(self, data: bytes) -> None:
        if self._tls is None:
            self._feed(data)
            return
        assert self._in is not None
        if self._handshaking and data.startswith(b"HTTP/"):
            # Go net/http: the first TLS record header reads "HTTP/".
            self._fail("http: server gave HTTP response to HTTPS client")
            return
        self._in.write(data)
        if self._handshaking:
            self._handshake()
        else:
            self._read_tls()

    def _feed(self, data: bytes) -> None:
        if self.done.done():
            return
        try:
            self._conn.receive_data(data)
            self._drain()
        except h11.ProtocolError as err:
            if data:
                self._fail(_protocol_error(err))
            else:
                # Go: `EOF` when the server closed before answering, `unexpected EOF` mid-body.
                self._fail("unexpected EOF" if self.head.done() else "EOF")

    def eof_received(self) -> bool | None:
        self._eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._eof()
            return
        text = go_errno(exc) if isinstance(exc, OSError) and exc.errno else str(exc) or "EOF"
        assert self.transport is not None
        local, peer = self.transport.addresses()
        self._fail(f"read tcp {local}->{peer}: read: {text}")

    def _eof(self) -> None:
        if self._handshaking:
            self._fail("EOF")  # crypto/tls: the server hung up during the handshake
        elif self._tls is not None and self._in is not None:
            self._in.write_eof()
            self._read_tls()
        else:
            self._feed(b"")

    def _drain(self) -> None:
        while not self.done.done():
            event = self._conn.next_event()
            kind = type(event)
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if kind is h11.Response:
                assert isinstance(event, h11.Response)
                self.status = event.status_code
                for name, value in event.headers:
                    if name == b"location":
                        self.location = value.decode("latin-1")
                        break
                self.head.set_result(None)
            elif kind is h11.Data:
                assert isinstance(event, h11.Data)
                room = MAX_BODY - len(self.body)
                self.body += event.data[:room]
                if len(self.body) >= MAX_BODY:
                    self._finish()  # http.go: a longer body is silently truncated
            elif kind is h11.EndOfMessage:
                self._finish()
            elif kind is h11.ConnectionClosed:
                self._fail("unexpected EOF" if self.head.done() else "EOF")

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def time_out_at(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """One timer for the whole exchange (two `asyncio.timeout_at` blocks per request
        were ~5 % of an http probe's CPU)."""
        self._deadline = loop.call_at(deadline, self._time_out)

    def _time_out(self) -> None:
        # Go's Client.Timeout texts: still awaiting headers, or reading the body.
        if self.head.done():
            self._fail(_DEADLINE_BODY)
        else:
            self._fail(_DEADLINE_HEADERS)

    def _fail(self, message: str) -> None:
        """Before the head: a client error (`Get "url": ...`); after it: a body read error."""
        error: Exception = ClientError(message)
        if self.head.done():
            error = BodyError(message)
        else:
            self.head.set_exception(error)
            self.head.exception()  # mark retrieved: the caller may have given up already
        if not self.done.done():
            self.done.set_exception(error)
            self.done.exception()
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close the connection; a TLS one with close_notify, as Go's tls.Conn.Close does."""
        if self._deadline is not None:
            self._deadline.cancel()
        if self.transport is None or self.transport.is_closing():
            return
        if self._tls is not None and not self._handshaking:
            try:
                self._tls.unwrap()
            except (ssl.SSLError, OSError):
                pass
            self._flush()
        self.transport.close()


def _address(sockaddr: object) -> str:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return join_host_port(str(sockaddr[0]), int(sockaddr[1]))
    return "?"


class _SockTransport:
    """The part of an asyncio transport `_Exchange` needs, straight on the loop's selector.

    A probe writes one small request and reads one response, so asyncio's
    general transport (`create_connection`: buffering, flow control, extra
    info, scheduled callbacks) was a fifth of an http probe's CPU; this reads
    with `add_reader` and writes directly, buffering only what the kernel
    did not take."""

    __slots__ = ("_closed", "_fd", "_loop", "_pending", "_protocol", "_sock")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: _Exchange
    ) -> None:
        self._loop, self._sock, self._fd, self._protocol = loop, sock, sock.fileno(), protocol
        self._pending = b""
        self._closed = False
        loop.add_reader(self._fd, self._read_ready)
        protocol.connection_made(self)

    def addresses(self) -> tuple[str, str]:
        """(local, peer) as Go prints them in `read tcp local->peer` errors."""
        try:
            return _address(self._sock.getsockname()), _address(self._sock.getpeername())
        except OSError:
            return "?", "?"

    def _read_ready(self) -> None:
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if data:
            self._protocol.data_received(data)
        else:
            self._loop.remove_reader(self._fd)
            self._protocol.eof_received()

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._pending:
            self._pending += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(data):
            self._pending = data[sent:]
            self._loop.add_writer(self._fd, self._write_ready)

    def _write_ready(self) -> None:
        try:
            sent = self._sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        self._pending = self._pending[sent:]
        if not self._pending:
            self._loop.remove_writer(self._fd)

    def _lost(self, exc: OSError) -> None:
        self._protocol.connection_lost(exc)
        self.close()

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        # Unsent bytes are dropped: the exchange closes only once it has its answer or gave up.
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._pending:
            self._loop.remove_writer(self._fd)
        self._sock.close()

    abort = close


def _protocol_error(err: h11.ProtocolError) -> str:
    return f"net/http: HTTP/1.x transport connection broken: malformed HTTP response: {err}"


def _tls_error(err: Exception) -> str:
    """Go crypto/tls texts for the common handshake failures."""
    if isinstance(err, ssl.SSLEOFError):
        return "EOF"
    if isinstance(err, ssl.SSLError):
        reason = (err.reason or "").upper()
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return "tls: first record does not look like a TLS handshake"
        if reason.startswith(("SSLV3_ALERT_", "TLSV1_ALERT_")):
            alert = reason.split("_ALERT_", 1)[1].lower().replace("_", " ")
            return f"remote error: tls: {alert}"
        return "tls: " + (err.reason or str(err)).lower().replace("_", " ")
    if isinstance(err, OSError) and err.errno:
        return go_errno(err)
    return "EOF"  # the server closed the connection during the handshake


async def _open(loop: asyncio.AbstractEventLoop, request: Request, deadline: float) -> _Exchange:
    """Dial and start the exchange (TLS handshake, then the request). The caller closes it."""
    target = request.target
    event = h11_request(request)
    try:
        sock = await dial(target.hostname, target.port, deadline)
    except DialError as err:
        raise ClientError(str(err) + (_AWAITING_HEADERS if err.timeout else "")) from None
    tls = target.scheme == "https"
    sni = None if numeric_host(target.hostname) else target.hostname
    exchange = _Exchange(loop, event, sni, tls)
    try:
        _SockTransport(loop, sock, exchange)
    except BaseException:
        sock.close()
        raise
    exchange.time_out_at(loop, deadline)
    return exchange


async def _round_trip(
    loop: asyncio.AbstractEventLoop, request: Request, deadline: float, first_hostname: str
) -> tuple[int, str | None, bytes]:
    """One request: (status, Location to follow or None, body).

    The body is read only for a response that is judged; a redirect that will
    be followed is dropped at its head (Go slurps 2 KiB of it to reuse the
    connection, which a probe never does)."""
    if request.target.scheme not in _DEFAULT_PORTS:
        raise ClientError(f"unsupported protocol scheme {go_quote(request.target.scheme)}")
    exchange = await _open(loop, request, deadline)
    try:
        await exchange.head  # fails with ClientError, also at the deadline
        status, location = exchange.status, exchange.location
        if status in _REDIRECT_CODES and location is not None:
            url = urljoin(request.target.url, location)
            try:
                hostname = parse_target(url).hostname
            except ClientError as err:
                raise ClientError(
                    f"failed to parse Location header {go_quote(location)}: {err}"
                ) from None
            # pkg/probe/http/http.go RedirectChecker: only the same hostname (port ignored)
            # is followed; otherwise http.ErrUseLastResponse and this 3xx is judged.
            if hostname == first_hostname:
                return status, location, b""
        await exchange.done  # fails with BodyError once the head came
        return status, None, bytes(exchange.body)
    finally:
        exchange.close()


async def http_probe(
    scheme: str,
    host: str,
    port: int,
    path: str,
    headers: Sequence[tuple[str, str]],
    timeout: float,
    *,
    user_agent: str,
) -> ProbeOutcome:
    """GET `scheme://host:port/path` within `timeout` seconds (connect, redirects and body).

    - 200–299 → SUCCESS, output = the body (at most 10240 bytes).
    - 300–399 (a redirect not followed) → WARNING,
      `Probe terminated redirects, Response body: <body>`.
    - otherwise → FAILURE, `HTTP probe failed with statuscode: <code>`.
    - transport errors → FAILURE with Go's text, e.g.
      `Get "http://127.0.0.1:81/": dial tcp 127.0.0.1:81: connect: connection refused`.
    - an error while reading the body after the headers → FAILURE with `error`
      set (the kubelet retries it), e.g. the body timing out.

    `headers` are (name, value) pairs added in order (names canonicalised,
    repeats allowed); `User-Agent` defaults to `user_agent`, `Accept` to
    `*/*` (an empty user Accept removes it), a `Host` header sets the Host
    line while the connection still goes to `host:port`. Redirects to the
    same hostname (port ignored) are followed, up to 10; a redirect to another
    hostname is judged itself. `path` may carry a query string.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    scheme = scheme.lower() or "http"
    first = initial_request(scheme, host, port, path, tuple(headers), user_agent)
    request = first
    try:
        validate(request)
        hops = 0
        while True:
            status, location, body = await _round_trip(loop, request, deadline, host)
            if location is None:
                return _judge(status, body)
            hops += 1
            if hops >= MAX_REDIRECTS:
                # RedirectChecker: len(via) >= 10 → "stopped after 10 redirects"; Client.Do
                # reports a CheckRedirect error against the Location as written.
                return ProbeOutcome(
                    Result.FAILURE,
                    f"Get {go_quote(location)}: stopped after {MAX_REDIRECTS} redirects",
                )
            url = urljoin(request.target.url, location)
            request = redirect_request(first, request, location, url)
    except ClientError as err:
        return ProbeOutcome(Result.FAILURE, f"Get {go_quote(request.target.url)}: {err}")
    except BodyError as err:
        # http.go: a body read error (other than the limit) is Failure with an error.
        return ProbeOutcome(Result.FAILURE, "", error=str(err))
    except Exception as err:  # a prober bug must not kill the probe worker: report, retry
        return ProbeOutcome(Result.UNKNOWN, "", error=f"http probe: {err!r}")


def _judge(status: int, body: bytes) -> ProbeOutcome:
    """pkg/probe/http/http.go DoHTTPProbe's classification."""
    text = body.decode("utf-8", errors="replace")
    if 200 <= status < 300:
        return ProbeOutcome(Result.SUCCESS, text)
    if 300 <= status < 400:
        return ProbeOutcome(Result.WARNING, f"Probe terminated redirects, Response body: {text}")
    # Until https://issue.k8s.io/99425 the body is deliberately left out.
    return ProbeOutcome(Result.FAILURE, f"HTTP probe failed with statuscode: {status}")

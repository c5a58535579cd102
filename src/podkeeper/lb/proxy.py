"""The userspace data path: an asyncio TCP relay per service port.

Like kube-proxy's old userspace mode (`pkg/proxy/userspace/roundrobin.go`,
`proxysocket.go`): accept on the service port, pick the next READY endpoint
round-robin, dial it (on a refused dial try the next endpoint, as
`tryConnect` does), and copy bytes both ways. The copy is Protocol-based (no
streams, no per-chunk task): each side's `data_received` writes straight into
the other transport, and the transports' write-buffer watermarks pause the
other side's reading (flow control), half-close is forwarded with `write_eof`.

No ready endpoint: the listening socket is closed, so a connect is answered by
the kernel with RST at once (ECONNREFUSED, no accept, no round trip through
the event loop); it is opened again when an endpoint becomes ready. A
connection accepted in the instant before that is reset (SO_LINGER 0).

Draining (`drain`): the endpoint has already left the ready list, so no new
connection goes to it; each existing connection to it is closed by the proxy at
its first idle moment (the backend answered everything the client sent and has
been quiet for `IDLE_QUIET_S`), as an HTTP server's graceful shutdown closes
idle keep-alive connections; busy ones are left to finish. A client that finds
its idle keep-alive connection closed retries on a new one (RFC 9112 §9.3.1,
what Go's Transport and urllib3 do), which goes to a ready endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Collection, Sequence

log = logging.getLogger("podkeeper.lb.proxy")

IDLE_QUIET_S = 0.02  # a connection quiet this long after a response counts as idle
# A connection that has not sent its first bytes yet is not idle until this old: the client
# has just connected to send a request (Go's http.Server.Shutdown waits 5 s for StateNew).
NEW_CONN_GRACE_S = 1.0
DIAL_TIMEOUT_S = 2.0
DIAL_ATTEMPTS = 3  # kube-proxy userspace: endpointDialTimeouts has 4 steps; we try 3 endpoints
HIGH_WATER = 256 * 1024
BACKLOG = 4096
UNREADY_CLOSE_S = 30.0  # how long idle keep-alive connections to an unready pod are watched

Backend = tuple[str, int]


def _rst(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Relay:
    """One client connection and its backend connection."""

    __slots__ = (
        "awaiting",
        "backend",
        "backend_t",
        "client_t",
        "closed",
        "created",
        "eofs",
        "last_down",
        "pending",
        "proxy",
        "used",
    )

    def __init__(self, proxy: PortProxy, client_t: asyncio.Transport) -> None:
        self.proxy = proxy
        self.client_t = client_t
        self.backend_t: asyncio.Transport | None = None
        self.backend: Backend | None = None
        self.pending: list[bytes] = []  # client bytes received before the backend connected
        self.awaiting = False  # the client sent bytes the backend has not answered yet
        self.last_down = 0.0  # loop time of the last backend → client bytes
        self.eofs = 0
        self.closed = False
        self.created = time.monotonic()
        self.used = False  # the client has sent bytes

    def idle(self, now: float) -> bool:
        """Nothing in flight: the backend answered everything and has been quiet a while,
        and both write buffers are empty."""
        bt = self.backend_t
        if not self.used and now - self.created < NEW_CONN_GRACE_S:
            return False
        return (
            not self.awaiting
            and not self.pending
            and now - self.last_down >= IDLE_QUIET_S
            and self.client_t.get_write_buffer_size() == 0
            and (bt is None or bt.get_write_buffer_size() == 0)
        )

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.client_t.close()
        if self.backend_t is not None:
            self.backend_t.close()
        self.proxy._forget(self)

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        _rst(self.client_t.get_extra_info("socket"))
        self.client_t.abort()
        if self.backend_t is not None:
            self.backend_t.abort()
        self.proxy._forget(self)


class _ClientSide(asyncio.Protocol):
    __slots__ = ("proxy", "relay")

    def __init__(self, proxy: PortProxy) -> None:
        self.proxy = proxy
        self.relay: Relay | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.set_write_buffer_limits(HIGH_WATER)
        relay = self.relay = Relay(self.proxy, transport)
        self.proxy._dispatch(relay)

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        assert relay is not None
        relay.awaiting = True
        relay.used = True
        if relay.backend_t is None:
            relay.pending.append(data)
            if len(relay.pending) > 64:
                relay.client_t.pause_reading()
        else:
            relay.backend_t.write(data)

    def eof_received(self) -> bool:
        relay = self.relay
        assert relay is not None
        relay.eofs += 1
        if relay.backend_t is not None and relay.backend_t.can_write_eof():
            relay.backend_t.write_eof()
        if relay.eofs >= 2:
            relay.close()
            return False
        return True  # keep the write side open: half-close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relay is not None:
            self.relay.close()

    def pause_writing(self) -> None:
        if self.relay is not None and self.relay.backend_t is not None:
            self.relay.backend_t.pause_reading()

    def resume_writing(self) -> None:
        if self.relay is not None and self.relay.backend_t is not None:
            self.relay.backend_t.resume_reading()


class _BackendSide(asyncio.Protocol):
    __slots__ = ("relay",)

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.set_write_buffer_limits(HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        relay.awaiting = False
        relay.last_down = time.monotonic()
        relay.client_t.write(data)

    def eof_received(self) -> bool:
        relay = self.relay
        relay.eofs += 1
        if relay.client_t.can_write_eof():
            relay.client_t.write_eof()
        if relay.eofs >= 2:
            relay.close()
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.close()

    def pause_writing(self) -> None:
        self.relay.client_t.pause_reading()

    def resume_writing(self) -> None:
        self.relay.client_t.resume_reading()


class PortProxy:
    """Load-balances one service port: listens on (address, port) while it has backends."""

    def __init__(self, address: str, port: int, name: str) -> None:
        self.address = address
        self.port = port
        self.name = name
        self.backends: list[Backend] = []
        self._next = 0
        self._sock: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self.relays: dict[Backend, set[Relay]] = {}
        self.listen_error: str | None = None
        self.connections_total = 0

    # ------------------------------------------------------------ backends

    def set_backends(self, backends: Sequence[Backend]) -> None:
        """Route new connections to `backends` (ready endpoints) from now on.

        Keep-alive connections to an endpoint that left (unready) are closed at their idle
        moments, so an unready pod gets no further requests through the proxy either."""
        removed = set(self.backends) - set(backends)
        self.backends = list(backends)
        gone = {b for b in removed if self.relays.get(b)}
        if gone:
            asyncio.get_running_loop().create_task(self._close_idle_of(gone))
        if self.backends:
            self._listen()
        else:
            self._stop_listening()

    def _listen(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            if self.listen_error is None:
                log.warning("service %s: cannot listen on %s:%s: %s", self.name, *self.addr, exc)
            self.listen_error = str(exc)
            return
        self.listen_error = None
        self._sock = sock
        # The socket listens from here on (connects queue in the backlog); accepting
        # starts when the loop runs the task.
        self._serve_task = asyncio.get_running_loop().create_task(self._serve(sock))

    @property
    def addr(self) -> tuple[str, int]:
        return (self.address, self.port)

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), sock=sock)

    def _stop_listening(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._server is not None:
            self._server.close()  # closes the listening socket; pending SYNs get RST
            self._server = None
        elif self._serve_task is not None:
            self._serve_task.cancel()
            sock.close()
        self._serve_task = None

    # ------------------------------------------------------------ relaying

    def _pick(self, exclude: set[Backend]) -> Backend | None:
        n = len(self.backends)
        for _ in range(n):
            b = self.backends[self._next % n]
            self._next = (self._next + 1) % n
            if b not in exclude:
                return b
        return None

    def _dispatch(self, relay: Relay) -> None:
        self.connections_total += 1
        backend = self._pick(set())
        if backend is None:
            relay.abort()  # became unready between accept and now: refuse (RST)
            return
        relay.client_t.pause_reading()
        self._attach(relay, backend)
        asyncio.get_running_loop().create_task(self._connect(relay, backend))

    def _attach(self, relay: Relay, backend: Backend) -> None:
        if relay.backend is not None:
            self.relays.get(relay.backend, set()).discard(relay)
        relay.backend = backend
        self.relays.setdefault(backend, set()).add(relay)

    async def _connect(self, relay: Relay, backend: Backend) -> None:
        loop = asyncio.get_running_loop()
        tried: set[Backend] = set()
        for _ in range(DIAL_ATTEMPTS):
            tried.add(backend)
            try:
                transport, _ = await asyncio.wait_for(
                    loop.create_connection(lambda: _BackendSide(relay), backend[0], backend[1]),
                    DIAL_TIMEOUT_S,
                )
            except (OSError, TimeoutError) as exc:
                log.debug("service %s: dial %s:%s failed: %s", self.name, *backend, exc)
                nxt = self._pick(tried)
                if nxt is None or relay.closed:
                    break
                backend = nxt
                self._attach(relay, backend)
                continue
            assert isinstance(transport, asyncio.Transport)
            if relay.closed:
                transport.close()
                return
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            relay.backend_t = transport
            for chunk in relay.pending:
                transport.write(chunk)
            relay.pending.clear()
            if relay.eofs and transport.can_write_eof():
                transport.write_eof()
            relay.client_t.resume_reading()
            return
        relay.abort()

    def _forget(self, relay: Relay) -> None:
        if relay.backend is not None:
            conns = self.relays.get(relay.backend)
            if conns is not None:
                conns.discard(relay)
                if not conns:
                    del self.relays[relay.backend]

    # ------------------------------------------------------------- drain

    def connections_to(self, backends: Collection[Backend]) -> int:
        """Open connections to any of `backends`."""
        return sum(len(self.relays.get(b, ())) for b in backends)

    def close_idle(self, backends: Collection[Backend]) -> int:
        """Close the idle connections to `backends`; return how many remain (busy)."""
        now = time.monotonic()
        busy = 0
        for b in backends:
            for relay in list(self.relays.get(b, ())):
                if relay.idle(now):
                    relay.close()
                else:
                    busy += 1
        return busy

    async def _close_idle_of(self, backends: set[Backend]) -> None:
        deadline = time.monotonic() + UNREADY_CLOSE_S
        while time.monotonic() < deadline:
            backends -= set(self.backends)  # ready again: leave its connections alone
            if not backends or self.close_idle(backends) == 0:
                return
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        self._stop_listening()
        for conns in list(self.relays.values()):
            for relay in list(conns):
                relay.close()
        self.relays.clear()


async def drain(
    proxies: Sequence[PortProxy], backends: Collection[Backend], deadline: float
) -> bool:
    """Wait until no connection of `proxies` to `backends` is busy, closing idle ones as they become
    idle, until `deadline` (time.monotonic()); True when drained in time."""
    while True:
        busy = sum(p.close_idle(backends) for p in proxies)
        if busy == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)

"""TCP dialing with Go's `net.Dialer` error texts, shared by the TCP and HTTP probes.

`pkg/probe/dialer_others.go` (`ProbeDialer`) dials `tcp host:port`; its errors
read `dial tcp 10.0.0.5:8080: connect: connection refused` or
`dial tcp 10.0.0.5:8080: i/o timeout`, and the probes quote them verbatim.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
from typing import NamedTuple

from podkeeper.runtime.checkers._go import go_errno, join_host_port


class DialError(Exception):
    """Dialing failed; `str(err)` is Go's error text. `timeout` when the deadline passed."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


_SockAddr = tuple[str, int] | tuple[str, int, int, int]


@functools.lru_cache(maxsize=4096)
def numeric_host(host: str) -> tuple[int, str, int] | None:
    """(family, address, scope id) when `host` is an IP literal, else None (needs DNS).

    AI_NUMERICHOST never touches the network, so this is safe to call on the loop."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    family, _, _, _, sockaddr = infos[0]
    scope = sockaddr[3] if family == socket.AF_INET6 else 0  # type: ignore[misc]
    return family, str(sockaddr[0]), int(scope)


async def _resolve(host: str, port: int) -> list[tuple[int, _SockAddr]]:
    # A name: the loop resolves it in its default executor (getaddrinfo blocks).
    # Probes normally target IP literals (the pod IP), which `dial_start` handles.
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise DialError(f"dial tcp: lookup {host}: no such host") from None
    return [(fam, addr) for fam, _, _, _, addr in infos]  # type: ignore[misc]


def _connect_started(sock: socket.socket, sockaddr: _SockAddr) -> bool:
    """Start a non-blocking connect; True when it is already established.

    On loopback and the pod bridge the kernel completes the handshake inside
    `connect()` even though a non-blocking socket reports EINPROGRESS, so the
    socket is checked at once and most probes never wait on the loop (the
    add_writer/remove_writer round trip of `loop.sock_connect` was a tenth of
    a tcpSocket probe's CPU). Raises OSError when the connect already failed."""
    code = sock.connect_ex(sockaddr)
    if code == 0:
        return True
    if code != errno.EINPROGRESS:
        raise OSError(code, os.strerror(code))
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))
    try:
        sock.getpeername()
    except OSError:
        return False  # ENOTCONN: the handshake is still under way
    return True


async def _connect_wait(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait for an in-progress connect to finish, as `loop.sock_connect` does."""
    fd = sock.fileno()
    writable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not writable.done():
            writable.set_result(None)

    loop.add_writer(fd, ready)
    try:
        await writable
    finally:
        loop.remove_writer(fd)
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))


class Dialing(NamedTuple):
    sock: socket.socket
    connected: bool  # False: the handshake is under way, finish it with `dial_wait`
    address: str  # host:port as Go's errors print it


def dial_start(host: str, port: int) -> Dialing | None:
    """Start dialing an IP literal without waiting.

    None when `host` is a name (it must be resolved first, see `dial`).
    Raises `DialError` when the kernel refused at once. An unconnected
    socket is finished with `dial_wait`."""
    numeric = numeric_host(host)
    if numeric is None:
        return None
    family, address, scope = numeric
    sockaddr: _SockAddr = (
        (address, port, 0, scope) if family == socket.AF_INET6 else (address, port)
    )
    text = join_host_port(address, port)
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        return Dialing(sock, _connect_started(sock, sockaddr), text)
    except OSError as err:
        sock.close()
        raise DialError(f"dial tcp {text}: connect: {go_errno(err)}") from None
    except BaseException:
        sock.close()
        raise


async def dial_wait(dialing: Dialing, deadline: float) -> socket.socket:
    """Finish a connect `dial_start` left under way, before the loop time `deadline`.

    Closes the socket and raises `DialError` when it fails."""
    sock, _, address = dialing
    try:
        async with asyncio.timeout_at(deadline):
            await _connect_wait(asyncio.get_running_loop(), sock)
        return sock
    except TimeoutError:
        sock.close()
        raise DialError(f"dial tcp {address}: i/o timeout", timeout=True) from None
    except OSError as err:
        sock.close()
        raise DialError(f"dial tcp {address}: connect: {go_errno(err)}") from None
    except BaseException:
        sock.close()
        raise


async def dial(host: str, port: int, deadline: float) -> socket.socket:
    """Connect to `host:port` before the loop time `deadline`; a connected non-blocking socket.

    Raises `DialError` with Go's text. Addresses are tried in order, the first
    error is reported (as Go's dialer does)."""
    dialing = dial_start(host, port)
    if dialing is not None:
        # The common case (a pod IP): one address, and usually no wait at all.
        return dialing.sock if dialing.connected else await dial_wait(dialing, deadline)
    loop = asyncio.get_running_loop()
    address = join_host_port(host, port)
    try:
        async with asyncio.timeout_at(deadline):
            targets = await _resolve(host, port)
            first: DialError | None = None
            for family, sockaddr in targets:
                address = join_host_port(str(sockaddr[0]), port)
                sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                try:
                    if not _connect_started(sock, sockaddr):
                        await _connect_wait(loop, sock)
                except OSError as err:
                    sock.close()
                    if first is None:
                        first = DialError(f"dial tcp {address}: connect: {go_errno(err)}")
                    continue
                except BaseException:
                    sock.close()
                    raise
                return sock
    except TimeoutError:
        raise DialError(f"dial tcp {address}: i/o timeout", timeout=True) from None
    assert first is not None
    raise first

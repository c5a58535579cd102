"""tcp_probe against real loopback sockets (pkg/probe/tcp/tcp.go behaviour)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers import tcp_probe

pytestmark = pytest.mark.timeout(20)


async def test_listening_port_is_success() -> None:
    accepted = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await tcp_probe("127.0.0.1", port, 1)
        await asyncio.wait_for(accepted.wait(), 2)
    finally:
        server.close()
        await server.wait_closed()
    assert outcome == ProbeOutcome(Result.SUCCESS, "")


async def test_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the kernel refuses
        outcome = await tcp_probe("127.0.0.1", port, 1)
    assert outcome == ProbeOutcome(
        Result.FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    )


async def test_timeout_is_io_timeout() -> None:
    # A listener whose accept queue is full: Linux drops further SYNs, so connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcome = await tcp_probe("127.0.0.1", port, 0.3)
        elapsed = loop.time() - start
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    if outcome.result is Result.SUCCESS:
        pytest.skip("this kernel accepted past the backlog; cannot provoke a connect timeout")
    assert outcome == ProbeOutcome(Result.FAILURE, f"dial tcp 127.0.0.1:{port}: i/o timeout")
    assert elapsed < 1.5


async def test_hostname_is_resolved() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await tcp_probe("localhost", port, 2)
    finally:
        server.close()
        await server.wait_closed()
    assert outcome.result is Result.SUCCESS


async def test_unknown_host() -> None:
    outcome = await tcp_probe("no-such-host.invalid", 80, 2)
    assert outcome == ProbeOutcome(
        Result.FAILURE, "dial tcp: lookup no-such-host.invalid: no such host"
    )

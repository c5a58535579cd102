"""The tcpSocket probe: can a TCP connection be opened?

`pkg/probe/tcp/tcp.go`: dial `tcp host:port` within the timeout, close at once,
Success with empty output; a dial error is Failure with the error text.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers._dial import DialError, Dialing, dial, dial_start, dial_wait

_SUCCESS = ProbeOutcome(Result.SUCCESS, "")


def tcp_probe_start(
    host: str, port: int, timeout: float
) -> ProbeOutcome | Coroutine[Any, Any, ProbeOutcome]:
    """Start the probe: its outcome when it is already known (the kernel connected or
    refused inside `connect()`, as on loopback and the pod bridge), else a coroutine
    that waits for the connect. The pod worker finishes known outcomes in the same
    pass, without a task."""
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        dialing = dial_start(host, port)
    except DialError as err:
        return ProbeOutcome(Result.FAILURE, str(err))
    if dialing is not None and dialing.connected:
        _close(dialing.sock)
        return _SUCCESS
    return _tcp_probe_wait(host, port, deadline, dialing)


async def tcp_probe(host: str, port: int, timeout: float) -> ProbeOutcome:
    """Connect to `host:port` within `timeout` seconds, then close.

    SUCCESS with empty output when connected (no data is exchanged); FAILURE
    with Go's dial error otherwise, e.g.
    `dial tcp 127.0.0.1:81: connect: connection refused` or
    `dial tcp 10.0.0.1:81: i/o timeout`.
    """
    step = tcp_probe_start(host, port, timeout)
    return step if isinstance(step, ProbeOutcome) else await step


async def _tcp_probe_wait(
    host: str, port: int, deadline: float, dialing: Dialing | None
) -> ProbeOutcome:
    try:
        if dialing is None:
            sock = await dial(host, port, deadline)  # a name: resolve, then dial
        else:
            sock = await dial_wait(dialing, deadline)
    except DialError as err:
        return ProbeOutcome(Result.FAILURE, str(err))
    _close(sock)
    return _SUCCESS


def _close(sock: socket.socket) -> None:
    # The kubelet's ProbeDialer sets SO_LINGER to 1s (pkg/probe/dialer_others.go) to
    # shorten TIME_WAIT; on Linux a lingering close() blocks the calling thread, which
    # here is the event loop, so the socket is closed the ordinary way.
    sock.close()

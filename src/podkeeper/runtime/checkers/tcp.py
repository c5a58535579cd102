"""The tcpSocket probe: can a TCP connection be opened?

`pkg/probe/tcp/tcp.go`: dial `tcp host:port` within the timeout, close at once,
Success with empty output; a dial error is Failure with the error text.
"""

from __future__ import annotations

import asyncio

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers._dial import DialError, dial

_SUCCESS = ProbeOutcome(Result.SUCCESS, "")


async def tcp_probe(host: str, port: int, timeout: float) -> ProbeOutcome:
    """Connect to `host:port` within `timeout` seconds, then close.

    SUCCESS with empty output when connected (no data is exchanged); FAILURE
    with Go's dial error otherwise, e.g.
    `dial tcp 127.0.0.1:81: connect: connection refused` or
    `dial tcp 10.0.0.1:81: i/o timeout`.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        sock = await dial(host, port, deadline)
    except DialError as err:
        return ProbeOutcome(Result.FAILURE, str(err))
    # The kubelet's ProbeDialer sets SO_LINGER to 1s (pkg/probe/dialer_others.go) to
    # shorten TIME_WAIT; on Linux a lingering close() blocks the calling thread, which
    # here is the event loop, so the socket is closed the ordinary way.
    sock.close()
    return _SUCCESS

"""Carry out a resolved probe or hook target with the matching checker.

The kubelet's `prober.go` picks a checker by handler type; here the core has
already resolved the handler into a target (host, port, argv), so this is a
plain dispatch. Hooks use the same checkers: a hook fails on what a probe
would call a Failure (`pkg/kubelet/lifecycle/handlers.go`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from podkeeper import KUBE_MINOR
from podkeeper.core.actions import (
    ExecTarget,
    GRPCTarget,
    HTTPTarget,
    SleepTarget,
    Target,
    TCPTarget,
    UnresolvedTarget,
)
from podkeeper.core.result import ProbeOutcome, Result

USER_AGENT = f"kube-probe/{KUBE_MINOR}"

#: Runs an exec handler's argv inside the container within a timeout (seconds): the
#: runtime's `exec_sync` bound to one instance (the kubelet prober's `CommandRunner`).
CommandRunner = Callable[[Sequence[str], float], Awaitable[ProbeOutcome]]


def start_target(
    target: Target, timeout: float, runner: CommandRunner | None = None
) -> ProbeOutcome | Coroutine[Any, Any, ProbeOutcome]:
    """Start one probe execution: its outcome when it needed no waiting, else a
    coroutine to await for it (same arguments as `run_target`).

    Only a tcpSocket probe to an IP literal can finish at once (see
    `tcp_probe_start`); every other handler waits on its peer or child."""
    if isinstance(target, TCPTarget):
        from podkeeper.runtime.checkers.tcp import tcp_probe_start

        return tcp_probe_start(target.host, target.port, timeout)
    return run_target(target, timeout, runner)


async def run_target(
    target: Target, timeout: float, runner: CommandRunner | None = None
) -> ProbeOutcome:
    """Run one probe execution (or hook) against `target` within `timeout` seconds.

    An exec target runs through `runner`, inside the container as CRI `ExecSync`
    does (the runtime's `exec_sync`); without a running container there is
    nothing to exec in, which is the prober's error, not the target's."""
    if isinstance(target, ExecTarget):
        if runner is None:
            return ProbeOutcome(Result.UNKNOWN, "", error="no running container to exec in")
        return await runner(target.argv, timeout)
    if isinstance(target, HTTPTarget):
        from podkeeper.runtime.checkers.http import http_probe

        return await http_probe(
            target.scheme,
            target.host,
            target.port,
            target.path,
            target.headers,
            timeout,
            user_agent=USER_AGENT,
        )
    if isinstance(target, TCPTarget):
        from podkeeper.runtime.checkers.tcp import tcp_probe

        return await tcp_probe(target.host, target.port, timeout)
    if isinstance(target, GRPCTarget):
        from podkeeper.runtime.checkers.grpc import grpc_probe

        return await grpc_probe(
            target.host, target.port, target.service, timeout, user_agent=USER_AGENT
        )
    if isinstance(target, SleepTarget):
        await asyncio.sleep(min(target.seconds, timeout))
        return ProbeOutcome(Result.SUCCESS)
    assert isinstance(target, UnresolvedTarget)
    # A prober error, not a target failure: the core retries it and then discards it.
    return ProbeOutcome(Result.UNKNOWN, "", target.error)

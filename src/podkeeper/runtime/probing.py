"""Carry out a resolved probe or hook target with the matching checker.

The kubelet's `prober.go` picks a checker by handler type; here the core has
already resolved the handler into a target (host, port, argv), so this is a
plain dispatch. Hooks use the same checkers: a hook fails on what a probe
would call a Failure (`pkg/kubelet/lifecycle/handlers.go`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
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


def start_target(
    target: Target,
    timeout: float,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    cgroup_procs: str | None = None,
    enter: Sequence[str] | None = None,
) -> ProbeOutcome | Coroutine[Any, Any, ProbeOutcome]:
    """Start one probe execution: its outcome when it needed no waiting, else a
    coroutine to await for it (same arguments as `run_target`).

    Only a tcpSocket probe to an IP literal can finish at once (see
    `tcp_probe_start`); every other handler waits on its peer or child."""
    if isinstance(target, TCPTarget):
        from podkeeper.runtime.checkers.tcp import tcp_probe_start

        return tcp_probe_start(target.host, target.port, timeout)
    return run_target(target, timeout, env=env, cwd=cwd, cgroup_procs=cgroup_procs, enter=enter)


async def run_target(
    target: Target,
    timeout: float,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    cgroup_procs: str | None = None,
    enter: Sequence[str] | None = None,
) -> ProbeOutcome:
    """Run one probe execution (or hook) against `target` within `timeout` seconds.

    `enter` (exec targets only) is the argv prefix that puts the command in the
    container's namespaces (`RunningInstance.enter` of a sandboxed instance)."""
    if isinstance(target, ExecTarget):
        from podkeeper.runtime.checkers.exec import exec_probe

        return await exec_probe(
            target.argv,
            timeout,
            env=env,
            cwd=cwd or None,
            cgroup_procs=cgroup_procs,
            enter=enter,
        )
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

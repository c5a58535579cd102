"""SandboxChanged: a pod whose sandbox died gets its containers killed and a new sandbox.

The kubelet's computePodActions (pkg/kubelet/kuberuntime/kuberuntime_manager.go) finds
the pod's sandbox not ready, records the Normal event `SandboxChanged` "Pod sandbox
changed, it will be killed and re-created.", kills the pod (every container, with the
pod's grace period) and creates a new sandbox (attempt + 1), in which the containers
start again as their restart policy says. Here the pod worker does the same: starts wait
while the sandbox is replaced, the core sees the killed containers exit and restarts them
(restartCount goes up), and they run in the new sandbox with its new IP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from podkeeper.core.events import Event

if TYPE_CHECKING:
    from podkeeper.runtime.podworker import PodWorker

log = logging.getLogger("podkeeper.sandbox")

SANDBOX_CHANGED = "SandboxChanged"
SANDBOX_CHANGED_MESSAGE = "Pod sandbox changed, it will be killed and re-created."


async def recreate_sandbox(worker: PodWorker) -> None:
    """Kill `worker`'s containers, destroy its dead sandbox, make a new one; starts wait
    on `worker.sandbox_gate` meanwhile."""
    from podkeeper.runtime.podworker import KillContext

    agent = worker.agent
    gate = asyncio.Event()
    worker.sandbox_gate = gate
    try:
        agent.record_event(
            worker, Event("Normal", SANDBOX_CHANGED, SANDBOX_CHANGED_MESSAGE, None, agent.now())
        )
        grace = float(worker.pod.spec.termination_grace_period_seconds)
        live = list(worker.instances.values())
        for inst in live:
            if inst.kill is None:
                inst.kill = KillContext("", int(grace), time.time())
        await asyncio.gather(
            *(worker.runtime.stop(inst.handle, grace) for inst in live), return_exceptions=True
        )
        waiters = [inst.waiter for inst in live if inst.waiter is not None]
        if waiters:
            await asyncio.gather(*waiters, return_exceptions=True)
        old = worker.sandbox
        if old is not None:
            await worker.sandboxes.destroy(old)
        worker.sandbox = None
        if worker.machine.deleting or worker.machine.finished:
            return
        worker.sandbox = await worker._create_sandbox()
        if worker.sandbox is not None:
            worker.machine.pod_ip = worker.sandbox.ip
    except Exception:
        log.exception("pod %s: recreating the sandbox failed", worker.name)
    finally:
        worker.sandbox_gate = None
        gate.set()
        worker.wake()

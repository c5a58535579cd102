"""`check_container_runtime`: one contract, every container runtime.

trio's `check_one_way_stream` checks any stream against the same expectations; this
checks any `ContainerRuntime` (the process runtime, the CRI runtime, the fake) against
what the pod worker relies on, so that the worker never needs to know which runtime it
drives. The caller supplies `request(name, script, env)`, a `StartRequest` running
`sh -c script` in a fresh container of that runtime (for an image runtime: an image
that has `sh`); the checks use only `echo`, `sleep`, `exit`, `true`, `false` and
`trap '' TERM`, which every runtime's shell (and the fake's interpreter) knows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable

from podkeeper.core.result import Result
from podkeeper.runtime.interface import ContainerRuntime, Mount, RunningInstance, StartRequest

__all__ = ["RequestFactory", "check_container_mounts", "check_container_runtime"]

#: `(container name, shell script, extra env) -> StartRequest` for the runtime under test.
RequestFactory = Callable[[str, str, dict[str, str]], StartRequest]

# Generous: on a loaded 2-core machine a container start can take a second or more.
_DEADLINE = 30.0


async def check_container_runtime(rt: ContainerRuntime, request: RequestFactory) -> None:
    """Raise AssertionError at the first broken expectation; leaves nothing running."""
    assert isinstance(rt.name, str) and rt.name

    async def wait(inst: RunningInstance) -> int:
        return (await asyncio.wait_for(inst.wait(), _DEADLINE)).exit_code

    # An exit code comes back as it was.
    inst = await rt.start(request("exits", "exit 3", {}))
    assert inst.instance_id and inst.started_at > 0
    assert await wait(inst) == 3, "exit code"

    running = await rt.start(request("runs", "sleep 600", {"GREETING": "hello there"}))
    try:
        # exec_sync runs inside the container, with its env; the kubelet's verdicts.
        ok = await rt.exec_sync(running, ["sh", "-c", "echo $GREETING"], 10)
        assert ok.result is Result.SUCCESS and ok.output == "hello there\n", ok
        bad = await rt.exec_sync(running, ["sh", "-c", "echo nope; exit 2"], 10)
        assert bad.result is Result.FAILURE and bad.output == "nope\n", bad
        slow = await rt.exec_sync(running, ["sh", "-c", "sleep 30"], 0.5)
        assert slow.result is Result.FAILURE, slow
        assert slow.output == 'command timed out: "sh -c sleep 30" timed out after 500ms', slow
        # stop: SIGTERM ends a container that does not ignore it.
        await asyncio.wait_for(rt.stop(running, 3), _DEADLINE)
        assert await wait(running) in (143, 137), "stopped by SIGTERM (or as PID 1, SIGKILL)"
    finally:
        await rt.shutdown()

    # A container that ignores SIGTERM is SIGKILLed once the grace period is over.
    stubborn = await rt.start(request("stubborn", "trap '' TERM; sleep 600", {}))
    await asyncio.sleep(0.5)  # let the trap be set
    await asyncio.wait_for(rt.stop(stubborn, 1), _DEADLINE)
    assert await wait(stubborn) == 137, "SIGKILL after the grace period"

    # shutdown leaves nothing running.
    left = await rt.start(request("left", "sleep 600", {}))
    await rt.shutdown()
    assert await wait(left) in (137, 143), "shutdown kills what is left"


async def check_container_mounts(
    rt: ContainerRuntime, request: RequestFactory, host_dir: str
) -> None:
    """Volume mounts (`StartRequest.mounts`): a host folder is seen and written through a
    read-write mount, and a read-only mount of it refuses writes (EROFS) while the host
    folder stays untouched. `host_dir` must hold a file `in` containing `volume-in`."""
    rw, ro = "/mnt/pk-contract-rw", "/mnt/pk-contract-ro"
    base = request("mounts", "sleep 600", {})
    req = dataclasses.replace(
        base, mounts=(Mount(rw, host_dir), Mount(ro, host_dir, read_only=True))
    )
    inst = await rt.start(req)
    try:
        # The process runtime's setup shell may still be mounting right after `start`.
        deadline = asyncio.get_running_loop().time() + _DEADLINE
        while True:
            seen = await rt.exec_sync(inst, ["sh", "-c", f"cat {rw}/in"], 10)
            if seen.result is Result.SUCCESS or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert seen.result is Result.SUCCESS and seen.output == "volume-in\n", seen
        wrote = await rt.exec_sync(inst, ["sh", "-c", f"echo volume-out > {rw}/out"], 10)
        assert wrote.result is Result.SUCCESS, wrote
        with open(os.path.join(host_dir, "out")) as f:
            assert f.read() == "volume-out\n", "written through the mount"
        refused = await rt.exec_sync(inst, ["sh", "-c", f"echo no > {ro}/no"], 10)
        assert refused.result is Result.FAILURE, refused
        assert not os.path.exists(os.path.join(host_dir, "no")), "read-only mount wrote"
    finally:
        await rt.shutdown()

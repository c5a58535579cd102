"""Runtime checks beyond the shared contract (`podkeeper.runtime.contract`), written
for any `ContainerRuntime` and run here against the CRI runtime.

`await check_container_runtime(rt, make_request)` runs, on real containers of
runtime `rt`: an exit code passed through; a graceful stop (the process
handles SIGTERM and exits inside the grace); a stop past the grace (SIGKILL,
137); `exec_sync` success, failure with stdout then stderr, and timeout with
the kubelet's text; and the container's output in its log file.

`make_request(name, argv)` builds a `StartRequest` for this runtime that runs
`argv` (a POSIX shell command line as a list: `["sh", "-c", ...]`): the
process runtime puts it in `argv`/`command`, an image runtime in `command`
with a busybox image. Timings are generous: they must hold on a busy 2-core host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from podkeeper.core.result import Result
from podkeeper.runtime.interface import ContainerRuntime, StartRequest

MakeRequest = Callable[[str, Sequence[str]], StartRequest]

# A shell as the container's main process that exits 0 on SIGTERM: a shell that is PID 1
# of a PID namespace ignores signals it has no handler for, so the trap is needed.
_TERM_EXITS = "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"
_TERM_IGNORED = "trap '' TERM; echo ready; while :; do sleep 0.1; done"


async def _ready(path: str, timeout: float = 20.0) -> None:
    """Wait until the container printed `ready` (its trap is set)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if b"ready" in f.read():
                    return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"the container did not print 'ready' into {path}")


async def check_exit_code(rt: ContainerRuntime, make_request: MakeRequest) -> None:
    inst = await rt.start(make_request("exits", ["sh", "-c", "echo hello; exit 3"]))
    info = await asyncio.wait_for(inst.wait(), 30)
    assert info.exit_code == 3, info
    assert not info.oom_killed
    assert info.finished_at >= inst.started_at - 1


async def check_graceful_stop(rt: ContainerRuntime, make_request: MakeRequest) -> None:
    req = make_request("graceful", ["sh", "-c", _TERM_EXITS])
    inst = await rt.start(req)
    await _ready(req.log_path)
    t0 = time.monotonic()
    await asyncio.wait_for(rt.stop(inst, 10.0), 40)
    info = await asyncio.wait_for(inst.wait(), 10)
    assert time.monotonic() - t0 < 8.0, "a SIGTERM-handling container stops inside the grace"
    assert info.exit_code == 0, info
    assert info.sent_by_us == "SIGTERM", info


async def check_stop_after_grace(rt: ContainerRuntime, make_request: MakeRequest) -> None:
    req = make_request("stubborn", ["sh", "-c", _TERM_IGNORED])
    inst = await rt.start(req)
    await _ready(req.log_path)
    t0 = time.monotonic()
    await asyncio.wait_for(rt.stop(inst, 1.0), 40)
    info = await asyncio.wait_for(inst.wait(), 10)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.9, f"SIGKILL came before the grace ended ({elapsed:.2f}s)"
    assert info.exit_code == 137, info
    assert info.sent_by_us == "SIGKILL after grace", info


async def check_exec_sync(rt: ContainerRuntime, make_request: MakeRequest) -> None:
    req = make_request("execs", ["sh", "-c", "echo ready; while :; do sleep 0.1; done"])
    inst = await rt.start(req)
    try:
        await _ready(req.log_path)
        ok = await rt.exec_sync(inst, ["sh", "-c", "echo out; echo err >&2"], 10.0)
        assert ok.result is Result.SUCCESS, ok
        assert ok.output == "out\nerr\n", ok
        bad = await rt.exec_sync(inst, ["sh", "-c", "echo nope >&2; exit 2"], 10.0)
        assert bad.result is Result.FAILURE, bad
        assert bad.output == "nope\n", bad
        t0 = time.monotonic()
        slow = await rt.exec_sync(inst, ["sleep", "30"], 1.0)
        assert time.monotonic() - t0 < 15
        assert slow.result is Result.FAILURE, slow
        assert slow.output == 'command timed out: "sleep 30" timed out after 1s', slow
        big = await rt.exec_sync(inst, ["sh", "-c", "yes | head -c 50000"], 10.0)
        assert big.result is Result.SUCCESS and len(big.output) == 10 * 1024, len(big.output)
    finally:
        await rt.stop(inst, 0.0)
        await asyncio.wait_for(inst.wait(), 30)


async def check_logs(rt: ContainerRuntime, make_request: MakeRequest) -> None:
    req = make_request("logs", ["sh", "-c", "echo to-stdout; echo to-stderr >&2"])
    inst = await rt.start(req)
    await asyncio.wait_for(inst.wait(), 30)
    # On containerd the plain log is copied from the CRI log by a follower that can be a
    # moment behind the exit on a busy machine: poll (bounded), do not read once.
    text = b""
    for _ in range(300):
        with open(req.log_path, "rb") as f:
            text = f.read()
        if b"to-stdout\n" in text and b"to-stderr\n" in text:
            break
        await asyncio.sleep(0.1)
    assert b"to-stdout\n" in text and b"to-stderr\n" in text, text


CHECKS = (
    check_exit_code,
    check_graceful_stop,
    check_stop_after_grace,
    check_exec_sync,
    check_logs,
)


async def check_container_runtime(rt: ContainerRuntime, make_request: MakeRequest) -> None:
    """Run every contract check against `rt` (concurrently: they are independent)."""
    assert rt.name, "a runtime says its name"
    await asyncio.gather(*(check(rt, make_request) for check in CHECKS))

"""`FakeContainerRuntime`: the container runtime interface in memory, beside the real ones.

httpx ships `MockTransport` beside its transports; this is the same idea for
`runtime/interface.py`. Containers are not processes: each runs a tiny script
interpreter on the event loop, so the pod worker and the agent can be tested with
no processes, cgroups or namespaces, and `check_container_runtime`
(runtime/contract.py) holds the fake to the same contract as the process and CRI
runtimes.

A container's `argv` is `sh -c SCRIPT` (or a bare command) where SCRIPT is
statements separated by `;`, each one of: `echo WORDS` (`$NAME` expanded from
the container's env; the line goes to its log), `echo WORDS > PATH` and `cat PATH`
(through the request's volume mounts; a read-only one refuses the write as dash does),
`sleep SECONDS`, `exit N`, `true`, `false`, `trap '' TERM` (ignore SIGTERM, as a PID 1
without a handler does). Anything else is exit 127 with sh's message, as a shell would say it.
`exec_sync` runs the same language. Tests can also end an instance by hand:
`runtime.exit(instance_id, code)`, `runtime.oom_kill(instance_id)`.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import Any

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers._go import go_duration, go_quote
from podkeeper.runtime.interface import (
    ConfigError,
    ExitInfo,
    RunningInstance,
    StartError,
    StartRequest,
)
from podkeeper.runtime.mounts import host_view

__all__ = ["FakeContainerRuntime", "FakeInstance"]

_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_SIGTERM_EXIT = 143
_SIGKILL_EXIT = 137


def _statements(argv: Sequence[str]) -> list[list[str]]:
    script = argv[2] if len(argv) >= 3 and argv[1] == "-c" else shlex.join(argv)
    return [shlex.split(part) for part in script.split(";") if part.strip()]


class FakeInstance:
    """A fake running container (implements `RunningInstance`)."""

    _next_pid = 1000

    def __init__(self, request: StartRequest) -> None:
        FakeInstance._next_pid += 1
        self.request = request
        self._pid = FakeInstance._next_pid
        self._started_at = time.time()
        self.ignores_sigterm = False
        self.usage: dict[str, int] = {}
        self.log: list[str] = []
        self._done: asyncio.Future[ExitInfo] = asyncio.get_running_loop().create_future()
        self._sigterm = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    @property
    def instance_id(self) -> str:
        return self.request.instance_id

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def started_at(self) -> float:
        return self._started_at

    async def wait(self) -> ExitInfo:
        return await asyncio.shield(self._done)

    def adoption_state(self) -> dict[str, Any]:
        return {"fake_pid": self._pid}

    def end(self, code: int, **evidence: object) -> None:
        """End the instance now with `code` (and ExitInfo fields such as oom_killed)."""
        if self._done.done():
            return
        info = ExitInfo(exit_code=code, finished_at=time.time())
        for k, v in evidence.items():
            setattr(info, k, v)
        if code > 128:
            info.signal = code - 128
        self._done.set_result(info)
        self.task.cancel()
        self._append_log()

    def _append_log(self) -> None:
        if self.request.log_path and self.log:
            with open(self.request.log_path, "a") as f:
                f.write("".join(line + "\n" for line in self.log))
            self.log.clear()

    async def _run(self) -> None:
        code = await run_script(self, self.request.argv, self.log)
        self.end(code)


async def run_script(inst: FakeInstance, argv: Sequence[str], out: list[str]) -> int:
    """Interpret `argv` (see the module docstring); returns the exit code."""
    env = inst.request.env
    code = 0
    for words in _statements(argv):
        cmd, args = words[0], words[1:]
        if cmd == "echo" and len(args) >= 2 and args[-2] == ">":
            code = _write(inst, args[-1], " ".join(args[:-2]) + "\n", out)
        elif cmd == "echo":
            out.append(_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), " ".join(args)))
            code = 0
        elif cmd == "sleep":
            try:
                await asyncio.wait_for(inst._sigterm.wait(), float(args[0]) if args else 0)
                return _SIGTERM_EXIT
            except TimeoutError:
                code = 0
        elif cmd == "exit":
            return int(args[0]) if args else code
        elif cmd in ("true", "false"):
            code = 0 if cmd == "true" else 1
        elif cmd == "trap" and args[-1:] == ["TERM"]:
            inst.ignores_sigterm = True
        elif cmd == "cat" and len(args) == 1:
            code = _cat(inst, args[0], out)

        else:
            out.append(f"sh: 1: {cmd}: not found")
            return 127
    return code


def _host(inst: FakeInstance, path: str) -> tuple[str, bool] | None:
    """Where a container path is on the host (through the request's mounts) and whether
    its mount is read-only; None outside every mount (the fake has no filesystem)."""
    for m in sorted(inst.request.mounts, key=lambda m: -len(m.container_path)):
        if path == m.container_path or path.startswith(m.container_path.rstrip("/") + "/"):
            return host_view([m])(path), m.read_only
    return None


def _cat(inst: FakeInstance, path: str, out: list[str]) -> int:
    where = _host(inst, path)
    try:
        if where is None:
            raise FileNotFoundError(path)
        with open(where[0]) as f:
            out.extend(f.read().splitlines())
        return 0
    except OSError:
        out.append(f"cat: can't open '{path}': No such file or directory")
        return 1


def _write(inst: FakeInstance, path: str, text: str, out: list[str]) -> int:
    """`echo ... > PATH` as dash reports a failure (exit 2)."""
    where = _host(inst, path)
    if where is None or where[1]:
        why = "Read-only file system" if where is not None else "Directory nonexistent"
        out.append(f"sh: 1: cannot create {path}: {why}")
        return 2
    with open(where[0], "w") as f:
        f.write(text)
    return 0


class FakeContainerRuntime:
    """`ContainerRuntime` whose containers are scripts on the event loop."""

    name = "fake"

    def __init__(self, needs_command: bool = True) -> None:
        #: Like the process runtime, refuse a container without `command` (no image).
        self.needs_command = needs_command
        self.live: dict[str, FakeInstance] = {}
        self.started: list[StartRequest] = []
        self.exec_calls: list[tuple[str, tuple[str, ...]]] = []

    async def start(self, request: StartRequest) -> FakeInstance:
        if self.needs_command and not request.command:
            raise ConfigError(f"container {request.container_name!r} has no command")
        if not request.argv:
            raise StartError("no command specified")
        self.started.append(request)
        inst = FakeInstance(request)
        self.live[request.instance_id] = inst
        inst._done.add_done_callback(lambda _: self.live.pop(request.instance_id, None))
        return inst

    async def exec_sync(
        self, instance: RunningInstance, argv: Sequence[str], timeout: float
    ) -> ProbeOutcome:
        assert isinstance(instance, FakeInstance)
        self.exec_calls.append((instance.instance_id, tuple(argv)))
        out: list[str] = []
        try:
            code = await asyncio.wait_for(run_script(instance, argv, out), timeout)
        except TimeoutError:
            cmd = go_quote(" ".join(argv))
            return ProbeOutcome(
                Result.FAILURE, f"command timed out: {cmd} timed out after {go_duration(timeout)}"
            )
        output = "".join(line + "\n" for line in out)
        return ProbeOutcome(Result.SUCCESS if code == 0 else Result.FAILURE, output)

    async def stop(self, instance: RunningInstance, grace_seconds: float) -> None:
        assert isinstance(instance, FakeInstance)
        if instance.ignores_sigterm:
            try:
                await asyncio.wait_for(instance.wait(), grace_seconds)
            except TimeoutError:
                instance.end(_SIGKILL_EXIT, sent_by_us="SIGKILL after grace")
        else:
            instance._sigterm.set()
        await instance.wait()

    def usage(self, instance: RunningInstance) -> dict[str, int]:
        """A fake instance's `usage` dict, which tests set to model memory or disk use."""
        assert isinstance(instance, FakeInstance)
        return dict(instance.usage)

    async def adopt(self, request: StartRequest, state: Mapping[str, Any]) -> FakeInstance | None:
        """Fake containers live in one event loop: nothing outlives an agent to adopt."""
        return None

    async def shutdown(self) -> None:
        for inst in list(self.live.values()):
            inst.end(_SIGKILL_EXIT, sent_by_us="SIGKILL")

    def exit(self, instance_id: str, code: int) -> None:
        """End a live instance as if its main process exited with `code`."""
        self.live[instance_id].end(code)

    def oom_kill(self, instance_id: str, limit: int = 64 << 20) -> None:
        """End a live instance as the kernel OOM killer would (137, OOMKilled)."""
        self.live[instance_id].end(
            _SIGKILL_EXIT, oom_killed=True, memory_limit=limit, memory_peak=limit
        )

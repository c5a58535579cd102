"""How a CRI container's end is found: the running instance, containerd's task events, and
a ListContainers sweep as the fallback.

containerd 1.6 has no CRI GetContainerEvents (it came in 1.7), so `CriEvents` follows
containerd's own task events (`ctr events`): a `/tasks/exit` of a container's init
process resolves its instance at once (~25 ms before the CRI status shows the exit, as
the CRI plugin first deletes the task), `/tasks/oom` marks it OOM-killed. The
`ExitWatcher` also lists this home's exited containers every `POLL_INTERVAL` (0.5 s
with events; about 0.5 ms a call), and on any event it cannot read: with CRI-O, or
without `ctr`, polling alone finds exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podkeeper.runtime.cgroups import CgroupEvidence, InstanceCgroup
from podkeeper.runtime.cri._gen import api_pb2 as pb
from podkeeper.runtime.cri.client import CriClient, CriError
from podkeeper.runtime.cri.crilog import LogPump
from podkeeper.runtime.cri.sandboxes import HOME_LABEL
from podkeeper.runtime.interface import ExitInfo

log = logging.getLogger("podkeeper.cri")

POLL_INTERVAL = 0.1  # seconds between ListContainers sweeps for exits (without events)
EVENT_LOG_SETTLE = 0.01  # seconds between an exit event and the last read of the log


@dataclass(eq=False)
class CriInstance:
    """A started CRI container (`RunningInstance`)."""

    instance_id: str
    container_id: str
    pid: int
    started_at: float
    log_pump: LogPump | None
    exited: asyncio.Future[ExitInfo]
    sent_by_us: str | None = None
    memory_limit: int | None = None
    kill_deadline: float | None = None  # monotonic time StopContainer's grace ends
    cgroup: InstanceCgroup | None = None  # the container's cgroup, for the exit evidence
    evidence: CgroupEvidence | None = None  # read when its exit event came
    logs_at_exit: bool = True  # FallbackToLogsOnError: the log must be complete at the exit
    _oom_fd: int | None = None  # the kernel's OOM notification for the cgroup (watch_oom)

    def adoption_state(self) -> dict[str, Any]:
        """What a later agent needs to take this container over (`CriRuntime.adopt`): the CRI
        container id is enough; the runtime keeps the rest."""
        return {
            "container_id": self.container_id,
            "cri_log": self.log_pump.cri_path if self.log_pump is not None else "",
        }

    def working_set(self) -> int | None:
        """The cgroup's memory usage minus its inactive file pages (cAdvisor's working set),
        bytes; None without a readable memory cgroup."""
        cg = self.cgroup
        if cg is None:
            return None
        d = cg.dirs.get("unified") or cg.dirs.get("memory")
        if d is None:
            return None
        v2 = "unified" in cg.dirs
        try:
            with open(os.path.join(d, "memory.current" if v2 else "memory.usage_in_bytes")) as f:
                usage = int(f.read())
            inactive = 0
            with open(os.path.join(d, "memory.stat")) as f:
                key = "inactive_file" if v2 else "total_inactive_file"
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        inactive = int(value)
                        break
        except (OSError, ValueError):
            return None
        return max(0, usage - inactive)

    def read_evidence(self) -> None:
        """Memory peak, OOM kills and CPU from the container's cgroup, while it still exists
        (the CRI plugin deletes the task, and runc the cgroup, right after the exit). Read
        at the OOM event and again at the exit: a field the later read cannot see any more
        (the cgroup went first on a busy machine) keeps the earlier value."""
        if self.cgroup is None:
            return
        try:
            now = self.cgroup.read_evidence()
        except OSError:
            return
        if self.evidence is not None:
            for f in dataclasses.fields(now):
                if getattr(now, f.name) is None:
                    setattr(now, f.name, getattr(self.evidence, f.name))
        self.evidence = now

    def watch_oom(self) -> None:
        """Read the evidence the moment the kernel reports an OOM in the container's
        memory-limited cgroup (cgroups.py `oom_eventfd`). containerd's `/tasks/oom` event
        comes later, through `ctr events` and this loop, and on a busy machine after runc
        removed the cgroup and its memory peak with it (issue 13 item 17)."""
        if self.cgroup is None or self.memory_limit is None or self._oom_fd is not None:
            return
        efd = self.cgroup.oom_eventfd()
        if efd is None:
            return
        self._oom_fd = efd
        loop = asyncio.get_running_loop()

        def fired() -> None:
            with contextlib.suppress(OSError):
                os.read(efd, 8)
            self.read_evidence()  # a removed cgroup also fires: nothing read, nothing lost

        def close(_f: object = None) -> None:
            if self._oom_fd is not None:
                loop.remove_reader(efd)
                os.close(efd)
                self._oom_fd = None

        loop.add_reader(efd, fired)
        self.exited.add_done_callback(close)

    def stop_signal(self) -> str | None:
        """What podkeeper sent, judged when the exit is seen: past the grace it was SIGKILL."""
        if (
            self.sent_by_us == "SIGTERM"
            and self.kill_deadline is not None
            and time.monotonic() >= self.kill_deadline
        ):
            return "SIGKILL after grace"
        return self.sent_by_us

    async def wait(self) -> ExitInfo:
        return await asyncio.shield(self.exited)


class ExitWatcher:
    """Finds ended containers: a ListContainers sweep per `POLL_INTERVAL`, at once on a
    `kick` (containerd's task exit event)."""

    def __init__(self, client: CriClient, tag: str, interval: float = POLL_INTERVAL) -> None:
        self.client = client
        self.tag = tag
        self.interval = interval
        self.watched: dict[str, CriInstance] = {}
        self.oom: set[str] = set()  # containers with a /tasks/oom event
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        #: Called with the id of an init process's container that is not a watched
        #: container: a pod sandbox's pause when it died (the agent's SandboxChanged).
        self.other_exited: Callable[[str], None] | None = None

    def task_oom(self, container_id: str) -> None:
        self.oom.add(container_id)
        w = self.watched.get(container_id)
        if w is not None:
            w.read_evidence()  # the cgroup is there while the kernel kills in it

    def task_exited(self, container_id: str, exit_code: int, exited_at: float) -> None:
        """containerd's `/tasks/exit` for a container's init process: the exit is known now,
        ~25 ms before the CRI status shows it (the CRI plugin first deletes the task)."""
        w = self.watched.pop(container_id, None)
        if w is None:
            if self.other_exited is not None:
                self.other_exited(container_id)
            self.kick()
            return
        w.read_evidence()
        task = asyncio.get_running_loop().create_task(
            self._finish_from_event(w, exit_code, exited_at)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def watch(self, inst: CriInstance) -> None:
        self.watched[inst.container_id] = inst
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def kick(self) -> None:
        self._kick.set()

    async def _finish_from_event(self, inst: CriInstance, code: int, exited_at: float) -> None:
        # The shim's output copy ends with the process; give containerd's log writer a moment
        # to write the last lines before the final pump (logs and FallbackToLogsOnError read
        # them), and a late /tasks/oom a moment to arrive. When nothing reads the log at the
        # exit and the code cannot be an OOM kill (137), the exit is reported at once and
        # the log drained after the pause: the restart no longer waits EVENT_LOG_SETTLE
        # (cri.exit_restart: exit seen p50 13 -> 3 ms).
        if inst.logs_at_exit or code == 137:
            await asyncio.sleep(EVENT_LOG_SETTLE)
            drain_later = False
        else:
            drain_later = True
        oom = inst.container_id in self.oom
        self.oom.discard(inst.container_id)
        await resolve_exit(inst, code, exited_at, oom, drain_later=drain_later)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, CriError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        burst = 0
        while self.watched:
            try:
                async with asyncio.timeout(self.interval if burst == 0 else 0.005):
                    await self._kick.wait()
                burst = 40  # an exit event: sweep quickly until the CRI status shows it
            except TimeoutError:
                burst = max(0, burst - 1)
            self._kick.clear()
            try:
                found = await self.sweep()
            except CriError as err:
                log.warning("ListContainers failed: %s", err)
                await asyncio.sleep(self.interval)
                continue
            if found:
                burst = 0

    async def sweep(self) -> int:
        """Resolve every watched container that has exited; return how many."""
        request = pb.ListContainersRequest(
            filter=pb.ContainerFilter(
                state=pb.ContainerStateValue(state=pb.CONTAINER_EXITED),
                label_selector={HOME_LABEL: self.tag},
            )
        )
        items = (await self.client.call("ListContainers", request, 10.0)).containers
        done = 0
        for item in items:
            w = self.watched.get(item.id)
            if w is None:
                continue
            status = await self.client.container_status(item.id)
            if self.watched.pop(item.id, None) is None:
                continue  # stop() saw the exit first
            await finish_from_status(w, status)
            done += 1
        return done


async def finish_from_status(inst: CriInstance, status: Any) -> None:
    """Resolve `inst` from its CRI ContainerStatus (reason OOMKilled from the runtime)."""
    finished = status.finished_at / 1e9 if status.finished_at else time.time()
    await resolve_exit(inst, int(status.exit_code), finished, status.reason == "OOMKilled")


_drains: set[asyncio.Task[None]] = set()


async def _drain_after_settle(pump: LogPump) -> None:
    await asyncio.sleep(EVENT_LOG_SETTLE)
    await pump.close()


async def drain_pending_logs() -> None:
    """Wait for the log drains `resolve_exit(drain_later=True)` left running."""
    if _drains:
        await asyncio.gather(*list(_drains), return_exceptions=True)


async def resolve_exit(
    inst: CriInstance, code: int, finished: float, oom: bool, *, drain_later: bool = False
) -> None:
    if inst.exited.done():
        return
    if inst.log_pump is not None:
        if drain_later:
            task = asyncio.get_running_loop().create_task(_drain_after_settle(inst.log_pump))
            _drains.add(task)
            task.add_done_callback(_drains.discard)
        else:
            await inst.log_pump.close()
    info = ExitInfo(
        exit_code=code,
        signal=code - 128 if 128 < code < 160 else None,
        finished_at=finished,
        oom_killed=oom,
        memory_limit=inst.memory_limit,
        sent_by_us=inst.stop_signal(),
    )
    ev = inst.evidence
    if ev is not None:
        info.memory_limit = ev.memory_limit if ev.memory_limit is not None else info.memory_limit
        info.memory_peak = ev.memory_peak
        info.oom_kills_in_instance = ev.oom_kills
        if ev.cpu_usage_ns is not None:
            info.cpu_usage_seconds = ev.cpu_usage_ns / 1e9
        info.cpu_nr_throttled = ev.cpu_nr_throttled
    if not inst.exited.done():
        inst.exited.set_result(info)


class CriEvents:
    """containerd's task events through `ctr events` (containerd 1.6 has no CRI
    GetContainerEvents): any `/tasks/exit` or `/tasks/oom` line kicks the watcher."""

    def __init__(self, address: str, watcher: ExitWatcher) -> None:
        self.address = address
        self.watcher = watcher
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        ctr = shutil.which("ctr")
        if ctr is None or not os.path.exists(self.address):
            return False
        try:
            self._proc = await asyncio.create_subprocess_exec(
                ctr,
                "--address",
                self.address,
                "events",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return False
        self._task = asyncio.get_running_loop().create_task(self._read())
        return True

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            line = await self._proc.stdout.readline()
            if not line:
                return
            if b"/tasks/exit" in line or b"/tasks/oom" in line:
                self.handle(line)

    def handle(self, line: bytes) -> None:
        """One `ctr events` line: `<time> <namespace> <topic> <json>`."""
        head, brace, body = line.partition(b"{")
        try:
            event = json.loads(brace + body) if brace else {}
        except ValueError:
            event = {}
        cid = str(event.get("container_id", ""))
        if b"/tasks/oom" in head and cid:
            self.watcher.task_oom(cid)
            return
        if cid and event.get("id") == cid:  # the init process
            code = int(event.get("exit_status", 0))  # protobuf JSON omits a 0
            self.watcher.task_exited(cid, code, _rfc3339(str(event.get("exited_at", ""))))
        elif not cid:
            self.watcher.kick()  # unreadable: let a sweep look
        # else an exec's process ended (a probe, a hook): no container exited

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._proc = None
        self._task = None


async def finish_unknown(inst: CriInstance) -> None:
    if inst.log_pump is not None:
        await inst.log_pump.close()
    if not inst.exited.done():
        inst.exited.set_result(
            ExitInfo(exit_code=137, signal=9, finished_at=time.time(), sent_by_us=inst.sent_by_us)
        )


def _rfc3339(text: str) -> float:
    """`2026-12-04T18:17:29.512489684Z` -> epoch seconds (now when it does not parse)."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", text)
    if m is None:
        return time.time()
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.replace(tzinfo=datetime.UTC).timestamp() + frac

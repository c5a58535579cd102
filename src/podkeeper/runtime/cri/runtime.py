"""`ContainerRuntime` on a CRI endpoint (containerd's CRI plugin, CRI-O): the kubelet's
`pkg/kubelet/kuberuntime` calls, made from the pod worker's `StartRequest`s.

- start: ImageStatus (PullImage when absent), CreateContainer with the
  sandbox config, StartContainer; `command` overrides the image ENTRYPOINT and
  `args` its CMD (the runtime applies the image config, as for the kubelet).
- exits: containerd 1.6 has no CRI GetContainerEvents (1.7+), so an
  `ExitWatcher` lists the exited containers of this home (ListContainers, about
  0.5 ms a call) every `POLL_INTERVAL`, and immediately when containerd's own
  task events (`ctr events`: `/tasks/exit`, `/tasks/oom`) say something ended.
- stop: StopContainer with the grace (the runtime sends the image's
  StopSignal, SIGTERM by default, then SIGKILL).
- exec: ExecSync with the probe's timeout; its texts are the kubelet's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podkeeper.core.duration import go_duration
from podkeeper.core.events import WARNING
from podkeeper.core.images import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    INVALID_IMAGE_NAME,
    invalid_image_event,
    invalid_image_message,
    never_pull_event,
    never_pull_message,
    pull_failed_event,
    pulling_event,
    should_pull_image,
)
from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import Resources, SecurityContext
from podkeeper.runtime.cgroups import CgroupEvidence, CgroupLayout, InstanceCgroup, detect
from podkeeper.runtime.checkers._go import go_quote
from podkeeper.runtime.cri._gen import api_pb2 as pb
from podkeeper.runtime.cri.client import CriClient, CriError
from podkeeper.runtime.cri.containerd import remove_cgroup_tree
from podkeeper.runtime.cri.crilog import CONTAINER_LOG_MAX_SIZE, LogPump
from podkeeper.runtime.cri.sandboxes import (
    CONTAINER_NAME,
    HOME_LABEL,
    INSTANCE_LABEL,
    POD_NAME,
    POD_NAMESPACE,
    POD_UID,
    CriState,
)
from podkeeper.runtime.interface import (
    ConfigError,
    ExitInfo,
    ImagePullError,
    RunningInstance,
    StartError,
    StartRequest,
)

log = logging.getLogger("podkeeper.cri")

POLL_INTERVAL = 0.1  # seconds between ListContainers sweeps for exits
REMOVE_DELAY = 2.0  # seconds between a container's exit and its RemoveContainer
EVENT_LOG_SETTLE = 0.01  # seconds between an exit event and the last read of the log
MAX_EXEC_OUTPUT = 10 * 1024  # pkg/probe/exec/exec.go maxReadLength
CPU_PERIOD_US = 100_000
# The variables podkeeper's agent gives a host process "image"; an image brings its own.
_HOST_ENV = ("PATH", "HOME", "HOSTNAME", "LANG", "LC_ALL", "TZ")


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

    def adoption_state(self) -> dict[str, Any]:
        """What a later agent needs to take this container over (`CriRuntime.adopt`): the CRI
        container id is enough; the runtime keeps the rest."""
        return {
            "container_id": self.container_id,
            "cri_log": self.log_pump.cri_path if self.log_pump is not None else "",
        }

    def read_evidence(self) -> None:
        """Memory peak, OOM kills and CPU from the container's cgroup, while it still exists
        (the CRI plugin deletes the task, and runc the cgroup, right after the exit)."""
        if self.cgroup is not None and self.evidence is None:
            try:
                self.evidence = self.cgroup.read_evidence()
            except OSError:
                self.evidence = None

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


@dataclass
class _Watch:
    instance: CriInstance
    since: float = field(default_factory=time.monotonic)


class ExitWatcher:
    """Finds ended containers: a ListContainers sweep per `POLL_INTERVAL`, at once on a
    `kick` (containerd's task exit event)."""

    def __init__(self, client: CriClient, tag: str, interval: float = POLL_INTERVAL) -> None:
        self.client = client
        self.tag = tag
        self.interval = interval
        self.watched: dict[str, _Watch] = {}
        self.oom: set[str] = set()  # containers with a /tasks/oom event
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def task_oom(self, container_id: str) -> None:
        self.oom.add(container_id)

    def task_exited(self, container_id: str, exit_code: int, exited_at: float) -> None:
        """containerd's `/tasks/exit` for a container's init process: the exit is known now,
        ~25 ms before the CRI status shows it (the CRI plugin first deletes the task)."""
        w = self.watched.pop(container_id, None)
        if w is None:
            self.kick()
            return
        w.instance.read_evidence()
        task = asyncio.get_running_loop().create_task(
            self._finish_from_event(w.instance, exit_code, exited_at)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def watch(self, inst: CriInstance) -> None:
        self.watched[inst.container_id] = _Watch(inst)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def kick(self) -> None:
        self._kick.set()

    async def _finish_from_event(self, inst: CriInstance, code: int, exited_at: float) -> None:
        # The shim's output copy ends with the process; give containerd's log writer a moment
        # to write the last lines before the final pump (logs and FallbackToLogsOnError read
        # them), and a late /tasks/oom a moment to arrive.
        await asyncio.sleep(EVENT_LOG_SETTLE)
        oom = inst.container_id in self.oom
        self.oom.discard(inst.container_id)
        await _resolve(inst, code, exited_at, oom)

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
            await _finish(w.instance, status)
            done += 1
        return done


async def _finish(inst: CriInstance, status: Any) -> None:
    """Resolve `inst` from its CRI ContainerStatus (reason OOMKilled from the runtime)."""
    finished = status.finished_at / 1e9 if status.finished_at else time.time()
    await _resolve(inst, int(status.exit_code), finished, status.reason == "OOMKilled")


async def _resolve(inst: CriInstance, code: int, finished: float, oom: bool) -> None:
    if inst.exited.done():
        return
    if inst.log_pump is not None:
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


def linux_resources(res: Resources) -> Any:
    """`pkg/kubelet/kuberuntime/kuberuntime_container_linux.go` calculateLinuxResources."""
    out = pb.LinuxContainerResources()
    cpu_request = res.requests_cpu_milli
    if cpu_request is None and res.limits_cpu_milli is not None:
        cpu_request = res.limits_cpu_milli  # defaulting: request = limit
    out.cpu_shares = max(2, (cpu_request or 0) * 1024 // 1000) if cpu_request else 2
    if res.limits_cpu_milli is not None:
        out.cpu_period = CPU_PERIOD_US
        out.cpu_quota = max(res.limits_cpu_milli * CPU_PERIOD_US // 1000, 1000)
    if res.limits_memory is not None:
        out.memory_limit_in_bytes = res.limits_memory
    out.oom_score_adj = _oom_score_adj(res)
    return out


def _oom_score_adj(res: Resources) -> int:
    """`pkg/kubelet/qos/policy.go` GetContainerOOMScoreAdjust (containers, not the sandbox)."""
    guaranteed = (
        res.limits_memory is not None
        and res.limits_cpu_milli is not None
        and (res.requests_memory in (None, res.limits_memory))
        and (res.requests_cpu_milli in (None, res.limits_cpu_milli))
    )
    if guaranteed:
        return -997
    request = res.requests_memory if res.requests_memory is not None else res.limits_memory
    if request is None and res.requests_cpu_milli is None and res.limits_cpu_milli is None:
        return 1000  # BestEffort
    capacity = _mem_total()
    adj = 1000 - (1000 * (request or 0)) // capacity if capacity else 999
    return int(min(max(adj, 3), 999))


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def security_context(sec: SecurityContext) -> Any:
    """`pkg/kubelet/kuberuntime/security_context.go` convertToRuntimeSecurityContext."""
    out = pb.LinuxContainerSecurityContext(
        capabilities=pb.Capability(
            add_capabilities=list(sec.capabilities_add),
            drop_capabilities=list(sec.capabilities_drop),
        ),
        privileged=bool(sec.privileged),
        readonly_rootfs=bool(sec.read_only_root_filesystem),
        supplemental_groups=list(sec.supplemental_groups)
        + ([sec.fs_group] if sec.fs_group is not None else []),
        no_new_privs=sec.allow_privilege_escalation is False and not sec.privileged,
        namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD),
    )
    if sec.run_as_user is not None:
        out.run_as_user.value = sec.run_as_user
    if sec.run_as_group is not None:
        out.run_as_group.value = sec.run_as_group
    return out


def _container_env(env: dict[str, str]) -> list[Any]:
    """The container's own variables: the host "image" ones the agent adds for the process
    runtime are dropped where they equal the agent's (the image supplies its own)."""
    out = []
    for k, v in env.items():
        if k in _HOST_ENV and (os.environ.get(k) == v or k in ("HOME", "HOSTNAME")):
            continue
        out.append(pb.KeyValue(key=k, value=v.encode()))
    return out


def _cri_log_path(plain: str) -> str:
    base = plain[:-4] if plain.endswith(".log") else plain
    return base + ".cri.log"


class CriRuntime:
    """`ContainerRuntime` over one CRI endpoint."""

    def __init__(
        self,
        state: CriState,
        name: str = "cri",
        events_address: str | None = None,
        owner: Any | None = None,
    ) -> None:
        self.state = state
        self.client = state.client
        self.name = name
        self.watcher = ExitWatcher(self.client, state.tag)
        self._events = CriEvents(events_address, self.watcher) if events_address else None
        self._events_started = False
        self._owner = owner  # a ManagedContainerd to stop on shutdown
        self._attempts: dict[tuple[str, str], int] = {}
        self.instances: dict[str, CriInstance] = {}
        self._closed = False
        self._layout: CgroupLayout | None = None
        self.log_max_size = CONTAINER_LOG_MAX_SIZE  # CRI log rotation threshold, bytes
        self._removals: set[asyncio.Task[None]] = set()

    async def _ensure_events(self) -> None:
        if self._events is not None and not self._events_started:
            self._events_started = True
            if await self._events.start():
                self.watcher.interval = max(POLL_INTERVAL, 0.5)  # events carry the latency

    async def ensure_image(self, image: str, policy: str = "IfNotPresent") -> str:
        """The image's reference (`EnsureImageExists`), pulling as `policy` says; raise
        `ImagePullError` with the kubelet's reason, message and events when it cannot."""
        bad = invalid_image_message(image)
        if bad is not None:
            raise ImagePullError(INVALID_IMAGE_NAME, bad, (invalid_image_event(bad),))
        try:
            status = await self.client.image_status(image)
        except CriError as err:
            msg = f"Failed to inspect image {go_quote(image)}: {_rpc_error(err)}"
            raise ImagePullError(
                "ImageInspectError", msg, ((WARNING, "InspectFailed", msg),)
            ) from None
        if not should_pull_image(policy, status is not None):
            if status is not None:
                return str(status.id)
            raise ImagePullError(
                ERR_IMAGE_NEVER_PULL, never_pull_message(image), (never_pull_event(image),)
            )
        try:
            return await self.client.pull_image(image)
        except CriError as err:
            error = _rpc_error(err)
            raise ImagePullError(
                ERR_IMAGE_PULL, error, (pulling_event(image), pull_failed_event(image, error))
            ) from None

    async def _next_attempt(self, sandbox_id: str, name: str) -> int:
        """The next attempt number of container `name` in the sandbox: past the containers
        it holds (a sandbox taken over from an earlier agent, dead ones not yet removed),
        since the runtime reserves each `<name>_..._<attempt>`."""
        request = pb.ListContainersRequest(
            filter=pb.ContainerFilter(
                pod_sandbox_id=sandbox_id, label_selector={CONTAINER_NAME: name}
            )
        )
        try:
            items = (await self.client.call("ListContainers", request, 10.0)).containers
        except CriError:
            return 0
        return max((int(c.metadata.attempt) + 1 for c in items), default=0)

    def container_config(self, req: StartRequest, sandbox_id: str, image_ref: str) -> Any:
        key = (sandbox_id, req.container_name)
        attempt = self._attempts.get(key, 0)
        self._attempts[key] = attempt + 1
        log_dir = self.state.log_dirs.get(sandbox_id, "")
        cri_log = _cri_log_path(req.log_path)
        rel_log = os.path.relpath(cri_log, log_dir) if log_dir else ""
        mounts = []
        if req.termination_message_path:
            host = req.termination_message_file or (cri_log[: -len(".cri.log")] + ".termination")
            if not os.path.exists(host):
                os.makedirs(os.path.dirname(host), exist_ok=True)
                with open(host, "w"):
                    pass
            mounts.append(pb.Mount(container_path=req.termination_message_path, host_path=host))
        labels = {
            POD_NAME: req.pod_name,
            POD_NAMESPACE: req.namespace,
            POD_UID: req.pod_uid,
            CONTAINER_NAME: req.container_name,
            HOME_LABEL: self.state.tag,
            INSTANCE_LABEL: req.instance_id,
        }
        linux = pb.LinuxContainerConfig(
            resources=linux_resources(req.resources),
            security_context=security_context(req.security),
        )
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=req.container_name, attempt=attempt),
            image=pb.ImageSpec(image=image_ref, user_specified_image=req.image),
            command=list(req.command),
            args=list(req.args),
            working_dir=req.working_dir,
            envs=_container_env(req.env),
            mounts=mounts,
            labels=labels,
            log_path=rel_log,
            linux=linux,
        )

    async def start(self, request: StartRequest) -> RunningInstance:
        sandbox = request.sandbox
        if sandbox is None or not sandbox.sandbox_id:
            raise ConfigError(
                f"container {request.container_name!r}: the {self.name} runtime needs a pod "
                "sandbox (RunPodSandbox), and this pod has none"
            )
        if not request.image:
            raise ConfigError(f"container {request.container_name!r} has no image")
        await self._ensure_events()
        sid = sandbox.sandbox_id
        image_ref = await self.ensure_image(request.image, request.image_pull_policy)
        if (sid, request.container_name) not in self._attempts:
            self._attempts[(sid, request.container_name)] = await self._next_attempt(
                sid, request.container_name
            )
        config = self.container_config(request, sid, image_ref)
        sandbox_config = self.state.configs.get(sid)
        try:
            created = await self.client.call(
                "CreateContainer",
                pb.CreateContainerRequest(
                    pod_sandbox_id=sid, config=config, sandbox_config=sandbox_config
                ),
            )
        except CriError as err:
            # kuberuntime_container.go startContainer: CreateContainerError
            raise StartError(err.details) from None
        cid = str(created.container_id)
        plain = request.log_path
        os.makedirs(os.path.dirname(plain), exist_ok=True)
        try:
            await self.client.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        except CriError as err:
            message = err.details
            with contextlib.suppress(CriError):
                st = await self.client.container_status(cid)
                message = st.message or message
            await self._remove(cid)
            raise StartError(message) from None
        response = await self.client.call(
            "ContainerStatus", pb.ContainerStatusRequest(container_id=cid, verbose=True)
        )
        status = response.status
        pid = 0
        with contextlib.suppress(ValueError, KeyError, TypeError):
            pid = int(json.loads(response.info.get("info", "{}")).get("pid", 0))
        pump = LogPump(
            os.path.join(self.state.log_dirs.get(sid, ""), config.log_path),
            plain,
            reopen=lambda: self.client.call(
                "ReopenContainerLog", pb.ReopenContainerLogRequest(container_id=cid), 30.0
            ),
            max_size=self.log_max_size,
        )
        pump.start()
        inst = CriInstance(
            instance_id=request.instance_id,
            container_id=cid,
            pid=pid,
            started_at=status.started_at / 1e9 if status.started_at else time.time(),
            log_pump=pump,
            exited=asyncio.get_running_loop().create_future(),
            memory_limit=request.resources.limits_memory,
            cgroup=self._cgroup_of(sandbox_config, cid),
        )
        self.instances[cid] = inst
        inst.exited.add_done_callback(lambda _f: self._forget(cid))
        if status.state == pb.CONTAINER_EXITED:
            await _finish(inst, status)
        else:
            self.watcher.watch(inst)
        return inst

    async def adopt(self, request: StartRequest, state: Mapping[str, Any]) -> CriInstance | None:
        """Take over a container an earlier agent started (a restarted kubelet finds its
        containers through the CRI): its status, its log from where the plain log stops,
        its exit when it comes. None when the runtime no longer knows it."""
        cid = str(state.get("container_id") or "")
        if not cid:
            return None
        try:
            response = await self.client.call(
                "ContainerStatus", pb.ContainerStatusRequest(container_id=cid, verbose=True)
            )
        except CriError:
            return None
        await self._ensure_events()
        status = response.status
        pid = 0
        with contextlib.suppress(ValueError, KeyError, TypeError):
            pid = int(json.loads(response.info.get("info", "{}")).get("pid", 0))
        sid = request.sandbox.sandbox_id if request.sandbox is not None else ""
        cri_log = str(state.get("cri_log") or status.log_path or _cri_log_path(request.log_path))
        pump = LogPump(
            cri_log,
            request.log_path,
            reopen=lambda: self.client.call(
                "ReopenContainerLog", pb.ReopenContainerLogRequest(container_id=cid), 30.0
            ),
            max_size=self.log_max_size,
        )
        pump.resume()
        pump.start()
        inst = CriInstance(
            instance_id=request.instance_id,
            container_id=cid,
            pid=pid,
            started_at=status.started_at / 1e9 if status.started_at else time.time(),
            log_pump=pump,
            exited=asyncio.get_running_loop().create_future(),
            memory_limit=request.resources.limits_memory,
            cgroup=self._cgroup_of(self.state.configs.get(sid), cid),
        )
        self.instances[cid] = inst
        inst.exited.add_done_callback(lambda _f: self._forget(cid))
        if status.state == pb.CONTAINER_EXITED:
            await _finish(inst, status)
        else:
            self.watcher.watch(inst)
        return inst

    def _cgroup_of(self, sandbox_config: Any, cid: str) -> InstanceCgroup | None:
        """The container's cgroup under its pod's cgroup parent (cgroupfs driver)."""
        parent = sandbox_config.linux.cgroup_parent if sandbox_config is not None else ""
        if not parent:
            return None
        if self._layout is None:
            try:
                self._layout = detect()
            except OSError:
                return None
        layout, rel = self._layout, f"{parent}/{cid}"
        if layout.version == 2:
            dirs = {"unified": layout.v2_root + rel}
        else:
            dirs = {ctrl: mount + rel for ctrl, mount in layout.v1_mounts}
        return InstanceCgroup(layout, rel, dirs)

    def _forget(self, cid: str) -> None:
        self.instances.pop(cid, None)
        if self._closed:
            return  # shutdown removes the sandboxes, and their containers with them
        # Removed a little later, as the kubelet's container GC does: not in the way of the
        # restart that usually follows at once.
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(REMOVE_DELAY, self._remove_later, cid)

    def _remove_later(self, cid: str) -> None:
        if not self._closed:
            task = asyncio.get_running_loop().create_task(self._remove(cid))
            self._removals.add(task)
            task.add_done_callback(self._removals.discard)

    async def _remove(self, cid: str) -> None:
        try:
            await self.client.call(
                "RemoveContainer", pb.RemoveContainerRequest(container_id=cid), 30.0
            )
        except CriError as err:
            if err.code != "NOT_FOUND":
                log.warning("RemoveContainer %s: %s", cid[:13], err)

    async def exec_sync(
        self, instance: RunningInstance, argv: Sequence[str], timeout: float
    ) -> ProbeOutcome:
        assert isinstance(instance, CriInstance)
        seconds = max(1, math.ceil(timeout))
        request = pb.ExecSyncRequest(
            container_id=instance.container_id, cmd=list(argv), timeout=seconds
        )
        try:
            # cri-client ExecSync: the deadline is the request timeout plus the exec's own.
            response = await self.client.call("ExecSync", request, timeout + 10.0)
        except CriError as err:
            if err.code == "DEADLINE_EXCEEDED":
                # cri-client remote_runtime.go: `%w: %q timed out after %s`, ErrCommandTimedOut.
                cmd = go_quote(" ".join(argv))
                return ProbeOutcome(
                    Result.FAILURE,
                    f"command timed out: {cmd} timed out after {go_duration(timeout)}",
                )
            # Any other error is the prober's, not the target's (exec.go: Unknown + err).
            return ProbeOutcome(Result.UNKNOWN, "", error=_rpc_error(err))
        data = bytes(response.stdout) + bytes(response.stderr)
        output = data[:MAX_EXEC_OUTPUT].decode("utf-8", errors="replace")
        code = int(response.exit_code)
        return ProbeOutcome(Result.SUCCESS if code == 0 else Result.FAILURE, output)

    async def stop(self, instance: RunningInstance, grace_seconds: float) -> None:
        assert isinstance(instance, CriInstance)
        if instance.exited.done():
            return
        grace = max(0, math.ceil(grace_seconds))
        t0 = time.monotonic()
        instance.sent_by_us = "SIGTERM" if grace > 0 else "SIGKILL after grace"
        instance.kill_deadline = t0 + grace
        try:
            await self.client.call(
                "StopContainer",
                pb.StopContainerRequest(container_id=instance.container_id, timeout=grace),
                grace + 60.0,
            )
        except CriError as err:
            if err.code != "NOT_FOUND":
                log.warning("StopContainer %s: %s", instance.container_id[:13], err)
        self.watcher.kick()
        while not instance.exited.done():
            try:
                status = await self.client.container_status(instance.container_id)
            except CriError:
                break
            if status.state == pb.CONTAINER_EXITED:
                self.watcher.watched.pop(instance.container_id, None)
                await _finish(instance, status)
                break
            await asyncio.sleep(0.01)
        if not instance.exited.done():
            await _finish_unknown(instance)

    async def shutdown(self) -> None:
        """Kill whatever is left. Every live container this runtime started is stopped at
        once; with a managed containerd (the agent is going away) every sandbox of this home
        is removed and containerd stopped, leaving nothing. On a CRI endpoint it does not own
        the runtime stays usable: sandboxes belong to the sandbox manager, the client
        reconnects, the exit watcher restarts."""
        from podkeeper.runtime.cri.sandboxes import remove_sandbox

        live = [i for i in self.instances.values() if not i.exited.done()]
        if self._owner is None:
            await asyncio.gather(*(self.stop(i, 0) for i in live), return_exceptions=True)
        else:
            self._closed = True
            with contextlib.suppress(CriError):
                request = pb.ListPodSandboxRequest(
                    filter=pb.PodSandboxFilter(label_selector={HOME_LABEL: self.state.tag})
                )
                for item in (await self.client.call("ListPodSandbox", request, 30.0)).items:
                    await remove_sandbox(self.client, item.id)
        for inst in live:
            await _finish_unknown(inst)
        await self.watcher.close()
        if self._events is not None:
            await self._events.close()
            self._events_started = False
        for task in list(self._removals):
            task.cancel()
        await self.client.close()
        if self._owner is not None:
            await self._owner.stop()
        elif self.state.cgroup_parent and not self.instances:
            remove_cgroup_tree(self.state.cgroup_parent, retries=5)


async def _finish_unknown(inst: CriInstance) -> None:
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


def _rpc_error(err: CriError) -> str:
    """A gRPC error as Go's status error prints it (what the kubelet's messages quote)."""
    return f"rpc error: code = {_go_code(err.code)} desc = {err.details}"


def _go_code(name: str) -> str:
    """gRPC code names as Go prints them (`codes.Code.String()`): NOT_FOUND -> NotFound."""
    return "".join(part.capitalize() for part in name.split("_")) if name else "Unknown"

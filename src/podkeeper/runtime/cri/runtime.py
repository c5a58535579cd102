"""`ContainerRuntime` on a CRI endpoint (containerd's CRI plugin, CRI-O): the kubelet's
`pkg/kubelet/kuberuntime` calls, made from the pod worker's `StartRequest`s.

- start: ImageStatus (PullImage as imagePullPolicy says, `EnsureImageExists`),
  CreateContainer with the sandbox config (config.py), StartContainer; `command`
  overrides the image ENTRYPOINT and `args` its CMD (the runtime applies the image
  config, as for the kubelet).
- exits: exits.py (containerd's task events, a ListContainers sweep as fallback).
- adopt: a container an earlier agent started, found by its CRI id.
- stop: StopContainer with the grace (the runtime sends the image's
  StopSignal, SIGTERM by default, then SIGKILL).
- exec: ExecSync with the probe's timeout; its texts are the kubelet's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
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
from podkeeper.runtime.cgroups import CgroupLayout, InstanceCgroup, detect
from podkeeper.runtime.checkers._go import go_quote
from podkeeper.runtime.cri._gen import api_pb2 as pb
from podkeeper.runtime.cri.client import CriError
from podkeeper.runtime.cri.config import (
    cri_env,
    cri_log_path,
    linux_resources,
    security_context,
)
from podkeeper.runtime.cri.containerd import remove_cgroup_tree
from podkeeper.runtime.cri.crilog import CONTAINER_LOG_MAX_SIZE, LogPump
from podkeeper.runtime.cri.exits import (
    POLL_INTERVAL,
    CriEvents,
    CriInstance,
    ExitWatcher,
    drain_pending_logs,
    finish_from_status,
    finish_unknown,
)
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
    ImagePullError,
    RunningInstance,
    StartError,
    StartRequest,
)

log = logging.getLogger("podkeeper.cri")

REMOVE_DELAY = 2.0  # seconds between a container's exit and its RemoveContainer
MAX_EXEC_OUTPUT = 10 * 1024  # pkg/probe/exec/exec.go maxReadLength


#: how long a `kubectl exec` through ExecSync may run (the CRI call needs a deadline)
EXEC_CAPTURE_DEADLINE = 3600.0


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
        self._containerd_address = events_address  # containerd's own API (ctr)
        self._events_started = False
        self._owner = owner  # a ManagedContainerd to stop on shutdown
        self._attempts: dict[tuple[str, str], int] = {}
        self.instances: dict[str, CriInstance] = {}
        self._closed = False
        self._layout: CgroupLayout | None = None
        self.log_max_size = CONTAINER_LOG_MAX_SIZE  # CRI log rotation threshold, bytes
        self._removals: set[asyncio.Task[None]] = set()

    def watch_sandboxes(self, died: Callable[[str], None]) -> None:
        """Call `died(sandbox_id)` when a sandbox's pause process exits (containerd's
        /tasks/exit for the sandbox's own task), for the kubelet's SandboxChanged."""
        self.watcher.other_exited = died

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
        cri_log = cri_log_path(req.log_path)
        rel_log = os.path.relpath(cri_log, log_dir) if log_dir else ""
        mounts = []
        if req.termination_message_path:
            host = req.termination_message_file or (cri_log[: -len(".cri.log")] + ".termination")
            if not os.path.exists(host):
                os.makedirs(os.path.dirname(host), exist_ok=True)
                with open(host, "w"):
                    pass
            mounts.append(pb.Mount(container_path=req.termination_message_path, host_path=host))
        # Volumes as the kubelet passes them (kuberuntime_container.go `makeMounts`):
        # host folders (or subPath binds) the volume manager prepared, private propagation.
        mounts += [
            pb.Mount(
                container_path=m.container_path,
                host_path=m.host_path,
                readonly=m.read_only,
                propagation=pb.PROPAGATION_PRIVATE,
            )
            for m in req.mounts
        ]
        if req.hosts_file:
            # kubelet_pods.go makeHostsMount: the pod's managed file, read-write, relabeled;
            # containerd then leaves out the sandbox's own /etc/hosts.
            mounts.append(
                pb.Mount(
                    container_path="/etc/hosts",
                    host_path=req.hosts_file,
                    readonly=False,
                    selinux_relabel=True,
                )
            )
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
            envs=cri_env(req.env),
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
            logs_at_exit=request.termination_message_policy == "FallbackToLogsOnError",
        )
        self.instances[cid] = inst
        inst.exited.add_done_callback(lambda _f: self._forget(cid))
        inst.watch_oom()
        if status.state == pb.CONTAINER_EXITED:
            await finish_from_status(inst, status)
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
        cri_log = str(state.get("cri_log") or status.log_path or cri_log_path(request.log_path))
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
        inst.watch_oom()
        if status.state == pb.CONTAINER_EXITED:
            await finish_from_status(inst, status)
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

    def usage(self, instance: RunningInstance) -> dict[str, int]:
        """Bytes in use now, for node-pressure eviction: `memory`, the working set of the
        container's cgroup (usage minus inactive file pages, as cAdvisor reports it), and
        `ephemeral-storage`, its logs (the writable layer is left out: its size is known
        only through CRI ContainerStats, an RPC)."""
        assert isinstance(instance, CriInstance)
        out: dict[str, int] = {}
        ws = instance.working_set()
        if ws is not None:
            out["memory"] = ws
        pump = instance.log_pump
        if pump is not None:
            size = 0
            for path in (pump.cri_path, pump.plain_path):
                with contextlib.suppress(OSError):
                    size += os.stat(path).st_size
            out["ephemeral-storage"] = size
        return out

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

    async def exec_capture(
        self, instance: RunningInstance, argv: Sequence[str]
    ) -> tuple[int, bytes, bytes]:
        """`kubectl exec` without stdin: CRI ExecSync with no timeout (0), as the kubelet's
        `RunInContainer`; (exit code, stdout, stderr). Raises CriError."""
        assert isinstance(instance, CriInstance)
        request = pb.ExecSyncRequest(container_id=instance.container_id, cmd=list(argv))
        response = await self.client.call("ExecSync", request, EXEC_CAPTURE_DEADLINE)
        return int(response.exit_code), bytes(response.stdout), bytes(response.stderr)

    def exec_stream_argv(self, instance: RunningInstance, argv: Sequence[str]) -> list[str]:
        """`kubectl exec -i`: the command line that runs `argv` in the container with its
        stdio streamed, stdin's end included. The kubelet proxies CRI `Exec`'s streaming
        server, but containerd 1.6 serves it over SPDY or the v4 WebSocket protocol, which
        cannot close stdin alone (v5.channel.k8s.io added that), so `echo x | kubectl exec
        -i ... cat` would never end. containerd's own client does the same exec (the
        container's OCI process spec: its namespaces, cgroup, user, env and working
        directory) with stdin piped and closed at EOF, and exits with the command's code.
        RuntimeError when the endpoint is not a containerd or `ctr` is missing."""
        import shutil
        import uuid

        assert isinstance(instance, CriInstance)
        ctr = shutil.which("ctr")
        address = self._containerd_address
        if ctr is None or not address:
            raise RuntimeError(
                "exec with stdin (-i) needs containerd's `ctr` and a containerd endpoint; "
                "run the command without -i"
            )
        exec_id = f"pk-exec-{uuid.uuid4().hex[:12]}"
        base = [ctr, "--address", address, "--namespace", "k8s.io", "tasks", "exec"]
        return [*base, "--exec-id", exec_id, instance.container_id, *argv]

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
                await finish_from_status(instance, status)
                break
            await asyncio.sleep(0.01)
        if not instance.exited.done():
            await finish_unknown(instance)

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
            await finish_unknown(inst)
        await self.watcher.close()
        if self._events is not None:
            await self._events.close()
            self._events_started = False
        for task in list(self._removals):
            task.cancel()
        await drain_pending_logs()
        await self.client.close()
        if self._owner is not None:
            await self._owner.stop()
        elif self.state.cgroup_parent and not self.instances:
            remove_cgroup_tree(self.state.cgroup_parent, retries=5)


def _rpc_error(err: CriError) -> str:
    """A gRPC error as Go's status error prints it (what the kubelet's messages quote)."""
    return f"rpc error: code = {_go_code(err.code)} desc = {err.details}"


def _go_code(name: str) -> str:
    """gRPC code names as Go prints them (`codes.Code.String()`): NOT_FOUND -> NotFound."""
    return "".join(part.capitalize() for part in name.split("_")) if name else "Unknown"

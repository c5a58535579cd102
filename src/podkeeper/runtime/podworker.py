"""One worker per pod that carries out what the pod's core machine decides.

The worker is the kubelet's pod worker without its latency: inputs (a process
exited, a probe returned) go straight into the `PodMachine`, a pass is
scheduled at once (`wake`), it `poll`s and performs the actions; between
inputs one timer waits for `next_wakeup()`. A task per pod only creates the
sandbox and waits for the end. Nothing here decides anything the kubelet decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from podkeeper.core import hostsfile
from podkeeper.core.actions import Action, KillContainer, PodFinished, RunProbe, StartContainer
from podkeeper.core.envexpand import EnvError, command_argv, expand
from podkeeper.core.envsource import Allocatable, DownwardPod, resolve_env
from podkeeper.core.events import Event
from podkeeper.core.pod import PodMachine
from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.runtimeclass import check_pod_runtime
from podkeeper.core.security import effective_security
from podkeeper.core.servicelinks import DEFAULT_NAMESPACE, service_env
from podkeeper.core.spec import Container, Pod, ProbeType
from podkeeper.core.status import (
    api_conditions,
    kubelet_part,
    pod_status,
    rfc3339,
    same_status,
    written_view,
)
from podkeeper.core.termination import grace_after_pre_stop
from podkeeper.runtime.hostsfile import ensure_hosts_file, read_node_hosts, remove_hosts_file
from podkeeper.runtime.interface import (
    ConfigError,
    ContainerRuntime,
    ExitInfo,
    ImagePullError,
    Mount,
    RunningInstance,
    SandboxInfo,
    SandboxManager,
    StartError,
    StartRequest,
)
from podkeeper.runtime.message import make_message_file
from podkeeper.runtime.nodestats import node_allocatable
from podkeeper.runtime.probing import CommandRunner, run_target, start_target
from podkeeper.runtime.volumes import MountError, PodVolumes

if TYPE_CHECKING:
    from podkeeper.runtime.agent import Agent
    from podkeeper.runtime.runtimes import RuntimeSlot

log = logging.getLogger("podkeeper.pod")

Obj = dict[str, Any]
HOOK_TIMEOUT = 120.0  # the CRI's default runtime request timeout bounds an exec hook
# A failed sandbox is tried again after 1, 2, 4 ... 30 s.
SANDBOX_RETRY_FIRST = 1.0
SANDBOX_RETRY_MAX = 30.0
# A volume that cannot be made is tried again after 0.5, 1, 2 ... 8 s (FailedMount).
VOLUME_RETRY_FIRST = 0.5
VOLUME_RETRY_MAX = 8.0
#: Seconds between two resyncs of a pod's configMap/secret/downwardAPI/projected volumes.
VOLUME_RESYNC = 1.0
#: Seconds a status written through the API (pods/status) may show kubelet-owned fields
#: the agent did not report: the kubelet's status manager reconciles every `syncPeriod`
#: (10 s, `pkg/kubelet/status/status_manager.go`) and overwrites them.
STATUS_RECONCILE = 10.0

#: `(worker, action, scheduled, started)`: a probe began running at clock time
#: `started`; `scheduled` is the tick that made it due, None when no tick did (a
#: manual trigger, a retry, a buffered tick). Benchmarks measure lateness with it.
ProbeTrace = Callable[["PodWorker", RunProbe, float | None, float], None]


@dataclass
class KillContext:
    """Why and how the agent stopped an instance, for its termination record."""

    message: str
    grace: int
    requested_at: float
    pre_stop_seconds: float = 0.0
    killed_by: str | None = None  # who asked (core/evidence.py: liveness, startup, stop...)


@dataclass
class InstanceRuntime:
    container: str
    handle: RunningInstance
    restart_count: int
    log_path: str
    env: dict[str, str]
    cwd: str
    kill: KillContext | None = None
    waiter: asyncio.Task[None] | None = None
    runner: CommandRunner | None = None  # exec_sync bound to this instance
    message_file: str = ""  # the agent-owned termination-message file


@dataclass
class PodWorker:
    agent: Agent
    obj: Obj  # the applied, defaulted Pod object (metadata, spec)
    pod: Pod
    machine: PodMachine
    on_change: Callable[[PodWorker], None]
    instances: dict[str, InstanceRuntime] = field(default_factory=dict)
    last_probe_output: dict[str, str] = field(default_factory=dict)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _loop: asyncio.AbstractEventLoop = field(init=False)
    _ended: asyncio.Future[None] | None = None  # set by the pass that sees the pod finished
    _pass_soon: bool = False
    _timer: asyncio.TimerHandle | None = None
    _timer_when: float = 0.0
    _task: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _snapshot: Obj | None = None
    _published: Obj | None = None  # the snapshot on_change last saw
    _snapshot_version: tuple[int, str, int, bool] | None = None
    #: A status an API client wrote that differs from the agent's own in kubelet-owned
    #: fields: (what the API shows, the agent's own kubelet part then, shown until).
    _written: tuple[Obj, Obj, float] | None = None
    sandbox: SandboxInfo | None = None
    #: The runtime of the pod's RuntimeClass, resolved before its sandbox is made.
    slot: RuntimeSlot | None = None
    #: Set while a dead sandbox is replaced (runtime/sandboxchange.py): starts wait on it.
    sandbox_gate: asyncio.Event | None = None
    #: containers.json entries of instances to re-attach to (an agent restart).
    adopting: list[Obj] = field(default_factory=list)
    #: Set once the sandbox exists (with the pod IP) and adopted instances are attached.
    attached: asyncio.Event = field(default_factory=asyncio.Event)
    #: The pod's volumes on the host (runtime/volumes.py), once made.
    volumes: PodVolumes | None = None
    _volume_task: asyncio.Task[None] | None = None
    _volume_wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set (class-wide) only by measurements; when None the loop does no extra work.
    probe_trace: ClassVar[ProbeTrace | None] = None

    @property
    def name(self) -> str:
        return self.pod.metadata.name

    @property
    def runtime(self) -> ContainerRuntime:
        """The runtime that runs this pod (the agent's default until its class is resolved)."""
        return self.slot.runtime if self.slot is not None else self.agent.runtime

    @property
    def sandboxes(self) -> SandboxManager:
        return self.slot.sandboxes if self.slot is not None else self.agent.sandboxes

    @property
    def namespace(self) -> str:
        return self.pod.metadata.namespace

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod {self.name}")

    def wake(self) -> None:
        """Run a pass soon: one per loop iteration however many inputs arrive."""
        if self._pass_soon or self._ended is None or self._ended.done():
            return  # before the sandbox exists the first pass is still to come
        self._pass_soon = True
        self._loop.call_soon(self._pass)

    def delete(self, grace: int | None) -> None:
        self.machine.delete(self.agent.now(), grace)
        if self.obj["metadata"].get("deletionTimestamp") is None:
            self.obj["metadata"]["deletionTimestamp"] = rfc3339(time.time())
            self.obj["metadata"]["deletionGracePeriodSeconds"] = self.machine.deletion_grace
        self.wake()

    def _version(self) -> tuple[int, str, int, bool]:
        # The core bumps status_version on every change that can show in the status; the
        # pod IP and deletion metadata are the agent's own; a written status shows until
        # the reconcile period ends.
        written = self._written is not None and self.agent.now() < self._written[2]
        return (
            self.machine.status_version,
            self.machine.pod_ip,
            len(self.obj["metadata"]),
            written,
        )

    def snapshot(self) -> Obj:
        """The pod as the API shows it: applied spec plus the machine's status (or, for a
        while, a status an API client wrote: `write_status`)."""
        version = self._version()
        if self._snapshot is None or version != self._snapshot_version:
            status = pod_status(self.machine)
            written = self._written
            if written is not None and (not version[3] or kubelet_part(status) != written[1]):
                written = self._written = None  # the agent's next status overwrites it
            self._snapshot = self._build_snapshot(written[0] if written else status)
            self._snapshot_version = version
        return self._snapshot

    def write_status(self, status: Obj) -> Obj:
        """An API client wrote the pod's status (`PUT`/`PATCH pods/<name>/status`).

        As the kubelet treats the API server's copy: conditions of types it does not own
        are kept (and read by readiness gates, so Ready may change now); kubelet-owned
        fields show as written until the agent's own status next changes or its reconcile
        period (STATUS_RECONCILE) ends, then the agent's values replace them."""
        before = kubelet_part(pod_status(self.machine))
        self.machine.set_api_conditions(api_conditions(status), self.agent.now())
        own = pod_status(self.machine)
        view = written_view(own, status)
        self._written = None
        if kubelet_part(own) == before and not same_status(kubelet_part(view), kubelet_part(own)):
            self._written = (view, before, self.agent.now() + STATUS_RECONCILE)
            # Controllers saw the written fields (an Endpoints follows a written Ready):
            # they see the agent's own again when the reconcile overwrites them.
            asyncio.get_running_loop().call_later(STATUS_RECONCILE + 0.05, self._reconciled)
        self._snapshot = None
        self._publish()
        self.wake()
        return self.snapshot()

    def _reconciled(self) -> None:
        if not self.finished.is_set():
            self._publish()

    def _build_snapshot(self, status: Obj) -> Obj:
        # The last published snapshot is reused when nothing in it changed: a deep copy
        # of the spec per loop pass was a tenth of the agent's CPU under probe load.
        last = self._published
        if (
            last is not None
            and last["status"] == status
            and last["metadata"] == self.obj["metadata"]
        ):
            return last
        out = copy.deepcopy(self.obj)
        out["status"] = status
        return out

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            # RunPodSandbox comes before any container: the pod IP is known only then.
            # A pod admission refused (core/admission.py) gets neither sandbox nor volumes.
            admitted = self.machine.rejection is None
            self.sandbox = await self._create_sandbox() if admitted else None
            if self.sandbox is not None:
                self.machine.pod_ip = self.sandbox.ip
            if admitted and self.obj["spec"].get("volumes") and not await self._prepare_volumes():
                self.adopting = []  # deleted before its volumes could be made
            if self.adopting:
                await self._adopt(self.adopting)
                self.adopting = []
            self.attached.set()
            self._ended = self._loop.create_future()
            self._pass()
            await self._ended
        except Exception:
            log.exception("pod worker %s crashed", self.name)
            raise
        finally:
            self.attached.set()  # also when the sandbox failed: nobody waits forever
            self._arm(None)
            await self._teardown_volumes()
            with contextlib.suppress(ValueError):
                remove_hosts_file(self.agent.volumes.pod_dir(self.pod.metadata.uid))
            if self.sandbox is not None:
                await self.sandboxes.destroy(self.sandbox)
            self._publish()
            self.finished.set()

    async def _create_sandbox(self) -> SandboxInfo | None:
        """The pod's sandbox, retried with back-off while it cannot be made, each failure
        a `FailedCreatePodSandBox` Warning (the kubelet's `createPodSandbox` error);
        None when the pod is deleted before it could be made (nothing to start then)."""
        delay = SANDBOX_RETRY_FIRST
        while True:
            try:
                # The kubelet resolves spec.runtimeClassName here (createPodSandbox).
                await self._resolve_runtime()
                self.agent.check_host_ports(self)
                return await self.sandboxes.create(
                    self.pod.metadata.uid, self.name, self.pod.spec.host_network
                )
            except Exception as e:  # RunPodSandbox can fail in many ways: each is reported
                if self.machine.deleting:
                    return None
                self.agent.record_event(
                    self,
                    Event(
                        "Warning",
                        "FailedCreatePodSandBox",
                        f"Failed to create pod sandbox: {e}",
                        None,
                        self.agent.now(),
                    ),
                )
                log.error("pod %s: sandbox not created (retry in %gs): %s", self.name, delay, e)
            retry_at = self.agent.now() + delay
            while self.agent.now() < retry_at:  # a deletion meanwhile ends the wait
                if self.machine.deleting or self.machine.finished:
                    return None
                await asyncio.sleep(0.2)
            delay = min(delay * 2, SANDBOX_RETRY_MAX)

    async def _resolve_runtime(self) -> None:
        """Pick the runtime of the pod's RuntimeClass (runtime/runtimes.py), opening it if
        this is its first pod; RuntimeClassError with the kubelet's text when it cannot."""
        runtimes = self.agent.runtimes
        if runtimes is None:  # an agent that never ran (unit tests): its one runtime
            check_pod_runtime(self.pod.spec.runtime_class_name, self.agent.runtime.name)
            return
        if self.slot is None:
            self.slot = await runtimes.for_class(self.pod.spec.runtime_class_name)
            if self.slot.runtime.name in ("containerd", "cri"):
                self.machine.runtime_name = self.slot.runtime.name  # containerd://<id>

    # --------------------------------------------------------------- volumes

    def _warn(self, reason: str, message: str) -> None:
        self.agent.record_event(self, Event("Warning", reason, message, None, self.agent.now()))

    async def _prepare_volumes(self) -> bool:
        """Make the pod's volumes before any container starts, as the kubelet's
        `WaitForAttachAndMount`: each failure is a `FailedMount` Warning with the kubelet's
        message and is retried (0.5 s doubling to 8 s; the pod stays ContainerCreating)
        until it succeeds or the pod is deleted (False). Then a task resyncs them."""
        manager = self.agent.volumes
        delay = VOLUME_RETRY_FIRST
        while True:
            try:
                # In the loop's thread: it reads the object store (one sqlite connection).
                self.volumes, failed = manager.setup(
                    self.obj,
                    self.pod.all_containers(),
                    self._warn,
                    self.volumes,
                    keep_existing=bool(self.adopting),
                )
            except (OSError, ValueError) as e:
                failed = [MountError("", str(e))]
            if not failed:
                break
            for err in failed:
                self._warn("FailedMount", str(err))
                log.info("pod %s: %s (retry in %gs)", self.name, err, delay)
            if (
                self.adopting
                and self.volumes is not None
                and all(e.volume in self.volumes.paths for e in failed)
            ):
                break  # running containers keep what they have; the resync retries
            retry_at = self.agent.now() + delay
            self._volume_wake.clear()
            while self.agent.now() < retry_at and not self._volume_wake.is_set():
                if self.machine.deleting or self.machine.finished:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._volume_wake.wait(), 0.1)
            delay = min(delay * 2, VOLUME_RETRY_MAX)
        self._volume_task = asyncio.create_task(self._resync_volumes(), name=f"volumes {self.name}")
        return True

    async def _resync_volumes(self) -> None:
        """Rewrite configMap/secret/downwardAPI/projected volumes when their objects (or
        the pod's labels and annotations) change, every `VOLUME_RESYNC` seconds (the
        kubelet's volume manager resyncs on its pod sync; subPath mounts never update)."""
        manager, state = self.agent.volumes, self.volumes
        if state is None or not state.written:
            return
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._volume_wake.wait(), VOLUME_RESYNC)
            self._volume_wake.clear()
            changed, errors = manager.resync(self.obj, state, self.pod.all_containers())
            for name in changed:
                log.info("pod %s: volume %s updated", self.name, name)
            seen = {e.volume for e in errors}
            for err in errors:
                if state.errors.get(err.volume) != err.message:
                    state.errors[err.volume] = err.message
                    self._warn("FailedMount", str(err))
            for name in list(state.errors):
                if name not in seen:
                    del state.errors[name]

    def volumes_changed(self) -> None:
        """An object this pod's volumes may show changed: resync now, and retry a volume
        that could not be made at once (the kubelet's pod sync after a watch event)."""
        self._volume_wake.set()

    async def _teardown_volumes(self) -> None:
        """Unmount and remove the pod's volumes (emptyDir content goes; hostPath and claim
        folders stay), as the kubelet's reconciler does once the pod is terminated."""
        if self._volume_task is not None:
            self._volume_task.cancel()
            self._volume_task = None
        if self.volumes is None:
            return
        problems = await asyncio.to_thread(self.agent.volumes.teardown, self.volumes.uid)
        for p in problems:
            log.warning("pod %s: volume teardown: %s", self.name, p)
        self.volumes = None

    def _mounts(self, name: str, env: dict[str, str]) -> tuple[Mount, ...]:
        """The volumeMounts of container `name` as runtime mounts (raises ConfigError)."""
        spec = self.obj["spec"]
        raw: Obj = next(
            (
                c
                for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                if c.get("name") == name
            ),
            {},
        )
        if not raw.get("volumeMounts"):
            return ()
        if self.volumes is None:
            raise ConfigError(f"volumes of container {name!r} are not set up")
        return self.agent.volumes.container_mounts(self.volumes, raw, env)

    def _pass(self) -> None:
        """One pass of the worker: feed the clock to the core, carry out its actions, and
        arm one timer for its next wake-up. Runs as a plain loop callback (from `wake` or
        the timer): a task per pod woken through an Event cost a task step and an Event
        round trip on every probe."""
        self._pass_soon = False
        ended = self._ended
        if ended is None or ended.done():
            return
        try:
            while True:
                now = self.agent.now()
                ticks = self._due_ticks(now) if PodWorker.probe_trace is not None else None
                actions = self.machine.poll(now)
                self._publish()
                finished_inline = False
                for action in actions:
                    finished_inline |= self._perform(action, ticks)
                if not finished_inline:
                    break  # else a probe result is in: let the core act on it in this pass
            if self.machine.finished and not self._busy():
                self._arm(None)
                ended.set_result(None)
                return
            self._arm(self.machine.next_wakeup())
        except Exception as err:
            self._arm(None)
            ended.set_exception(err)  # _run logs and raises it

    def _arm(self, when: float | None) -> None:
        """Have the timer fire at clock time `when` (None: no timer); an unchanged
        wake-up keeps its timer (most passes end on the same next probe tick)."""
        if when is not None and self._timer is not None and self._timer_when == when:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if when is not None:
            delay = max(0.0, when - self.agent.now())
            self._timer = self._loop.call_later(delay, self._on_timer)
            self._timer_when = when

    def _on_timer(self) -> None:
        self._timer = None
        self._pass()

    def _busy(self) -> bool:
        return any(not t.done() for t in self._tasks)

    def _publish(self) -> None:
        events = self.machine.drain_events()
        for e in events:
            if e.reason == "Unhealthy" and e.field_path:
                self.last_probe_output[e.field_path] = e.message
            self.agent.record_event(self, e)
        # on_change (a store write and every controller) only when the pod as the API
        # shows it changed: most passes (a probe started, an unchanged result) change nothing,
        # and the core's status_version says so without rebuilding the status.
        snapshot = self.snapshot()
        if snapshot is self._published:
            return
        self._published = snapshot
        self.on_change(self)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "task %s of pod %s failed", task.get_name(), self.name, exc_info=task.exception()
            )
        self.wake()

    def _due_ticks(self, now: float) -> dict[tuple[str, ProbeType], float]:
        """The ticks due at `now` (read before `poll` advances them), for `probe_trace`."""
        return {
            (w.container, w.probe_type): w.next_tick
            for w in self.machine.workers
            if w.due(now) and not w.manual_pending
        }

    def _perform(
        self, action: Action, ticks: dict[tuple[str, ProbeType], float] | None = None
    ) -> bool:
        """Carry out `action`; True when it was a probe that finished at once."""
        if isinstance(action, StartContainer):
            self._spawn(self._start(action), f"start {action.container}")
        elif isinstance(action, RunProbe):
            scheduled = None
            if ticks is not None and action.attempt == 1:
                scheduled = ticks.get((action.container, action.probe_type))
            return self._probe(action, scheduled)
        elif isinstance(action, KillContainer):
            self._spawn(self._kill(action), f"kill {action.container}")
        elif isinstance(action, PodFinished):
            pass  # the loop ends once the last task is done
        return False

    # --------------------------------------------------------------- actions

    def _request(
        self, name: str, instance_id: str, restart_count: int, mounts: bool = True
    ) -> StartRequest:
        """The runtime's request for one instance of container `name` (raises EnvError,
        and ConfigError for a volumeMount that cannot be made; `mounts` False: none)."""
        agent = self.agent
        container = self.pod.container(name)
        env = self._container_env(container)
        log_path = agent.instance_log_path(self, name, restart_count)
        return StartRequest(
            pod_name=self.name,
            namespace=self.namespace,
            pod_uid=self.pod.metadata.uid,
            container_name=name,
            instance_id=instance_id,
            argv=command_argv(container, env),
            env=agent.base_env(self) | env,
            working_dir=container.working_dir,
            log_path=log_path,
            resources=container.resources,
            termination_message_path=container.termination_message_path,
            sandbox=self.sandbox,
            image=container.image,
            command=tuple(expand(c, env) for c in container.command),
            args=tuple(expand(c, env) for c in container.args),
            security=effective_security(self.pod.spec, container),
            # The kubelet's per-instance file, mounted at terminationMessagePath in the
            # container; the user's path on the host is never opened (issue 13 item 1).
            termination_message_file=(
                os.path.splitext(log_path)[0] + ".termination-log"
                if container.termination_message_path
                else ""
            ),
            mounts=self._mounts(name, agent.base_env(self) | env) if mounts else (),
            pod_key=self.pod.key,
            image_pull_policy=container.image_pull_policy,
            termination_message_policy=container.termination_message_policy,
            hosts_file=self._hosts_file(name) if mounts else "",
        )

    def hostname_and_domain(self) -> tuple[str, str]:
        """The kubelet's GeneratePodHostNameAndDomain: spec.hostname or the pod name, and
        the domain when spec.subdomain is set (core/hostsfile.py)."""
        spec = self.obj["spec"]
        return hostsfile.hostname_and_domain(
            self.name,
            self.namespace,
            str(spec.get("hostname") or ""),
            str(spec.get("subdomain") or ""),
        )

    def _hosts_file(self, name: str) -> str:
        """The pod's managed hosts file for container `name`, (re)written now as the
        kubelet's `makeMounts` does at each container start (a replaced sandbox may have a
        new IP); "" when the container mounts /etc/hosts itself or the pod has no IP yet.
        Raises ConfigError when it cannot be written."""
        spec = self.obj["spec"]
        raw: Obj = next(
            (
                c
                for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                if c.get("name") == name
            ),
            {},
        )
        paths = (str(m.get("mountPath", "")) for m in raw.get("volumeMounts") or ())
        if not self.machine.pod_ip or not hostsfile.mounts_hosts_file(paths):
            return ""
        host_network = self.pod.spec.host_network
        hostname, domain = self.hostname_and_domain()
        text = hostsfile.content(
            host_network=host_network,
            pod_ips=(self.machine.pod_ip,),
            hostname=hostname,
            domain=domain,
            aliases=hostsfile.host_aliases(spec),
            node_hosts=read_node_hosts() if host_network else "",
        )
        try:
            return ensure_hosts_file(self.agent.volumes.pod_dir(self.pod.metadata.uid), text)
        except (OSError, ValueError) as e:
            raise ConfigError(f"failed to create the pod's hosts file: {e}") from None

    def _container_env(self, container: Container) -> dict[str, str]:
        """`env` and `envFrom` resolved (core/envsource.py) against this home's ConfigMaps and
        Secrets; raises EnvError with the kubelet's message (CreateContainerConfigError)."""
        agent, meta = self.agent, self.pod.metadata
        spec = self.obj.get("spec") or {}
        # Labels and annotations as they are now: a pod update may change them, and the
        # kubelet's fieldRef reads the pod it syncs (the e2e "subPathExpr fixed by an
        # annotation" case relies on it).
        live = self.obj.get("metadata") or {}
        pod = DownwardPod(
            meta.name,
            meta.namespace,
            meta.uid,
            {str(k): str(v) for k, v in (live.get("labels") or {}).items()},
            {str(k): str(v) for k, v in (live.get("annotations") or {}).items()},
            agent.node_name,
            # The ServiceAccount admission plugin sets `default` when none is given.
            str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"),
            host_ips=("127.0.0.1",),  # the pod status's hostIP (core/status.py)
            pod_ips=(self.machine.pod_ip,) if self.machine.pod_ip else (),
        )
        needs_node = any(v.resource_field_ref is not None for v in container.env)
        links = spec.get("enableServiceLinks")
        result = resolve_env(
            container,
            pod,
            lambda kind, name: agent.store.get_object(kind, meta.namespace, name),
            self.pod.all_containers(),
            node_allocatable(agent.home) if needs_node else Allocatable(0, 0, 0),
            self._service_env(links is not False),
        )
        for reason, message in result.warnings:
            agent.record_event(self, Event("Warning", reason, message, None, agent.now()))
        return result.env

    def _service_env(self, enable_links: bool) -> dict[str, str]:
        """The Services' variables for a container starting now (core/servicelinks.py): the
        namespace's Services when links are on, and `default/kubernetes` always."""
        store, ns = self.agent.store, self.pod.metadata.namespace
        services = store.list_objects("Service", ns) if enable_links else []
        master = store.get_object("Service", DEFAULT_NAMESPACE, "kubernetes")
        if master is not None:
            services.append(master)
        return service_env(services, ns, enable_links)

    def config_changed(self) -> None:
        """A ConfigMap or Secret of the namespace changed: retry config errors now."""
        if self.machine.retry_config_errors(self.agent.now()):
            self.wake()

    def _track(self, request: StartRequest, handle: RunningInstance, restart_count: int) -> None:
        inst = InstanceRuntime(
            request.container_name,
            handle,
            restart_count,
            request.log_path,
            dict(request.env),
            request.working_dir,
        )
        inst.message_file = request.termination_message_file
        inst.runner = functools.partial(self.runtime.exec_sync, handle)
        self.instances[request.instance_id] = inst

    async def _adopt(self, adopted: list[Obj]) -> None:
        """Re-attach to the instances an earlier agent of this home left running (issue 13
        item 6); one that is gone without its exit status ends as the kubelet reports a
        container it cannot find."""
        m, agent = self.machine, self.agent
        for entry in adopted:
            name, iid = entry["container"], entry["instance_id"]
            handle: RunningInstance | None = None
            try:
                request = self._request(name, iid, int(entry["restart_count"]), mounts=False)
                handle = await self.runtime.adopt(request, entry.get("state") or {})
            except (EnvError, ConfigError, KeyError, ValueError) as e:
                log.warning("pod %s: cannot re-attach to %s: %s", self.name, name, e)
            if handle is None:
                m.container_exited(
                    name,
                    iid,
                    137,
                    agent.now(),
                    "ContainerStatusUnknown",
                    "The container could not be located when the agent restarted",
                )
                continue
            self._track(request, handle, int(entry["restart_count"]))
            self._spawn(self._wait(iid, self.instances[iid]), f"adopted {name}")
        agent.save_pids()

    def sandbox_died(self, sandbox_id: str) -> None:
        """The runtime saw sandbox `sandbox_id` die: if it is this pod's, replace it
        (runtime/sandboxchange.py, the kubelet's SandboxChanged)."""
        sb = self.sandbox
        if sb is None or sb.sandbox_id != sandbox_id or self.sandbox_gate is not None:
            return
        if self.machine.deleting or self.machine.finished:
            return
        from podkeeper.runtime.sandboxchange import recreate_sandbox

        self._spawn(recreate_sandbox(self), "sandbox changed")

    async def _start(self, a: StartContainer) -> None:
        m, agent = self.machine, self.agent
        if self.sandbox_gate is not None:  # the sandbox is being replaced
            await self.sandbox_gate.wait()
        try:
            request = self._request(a.container, a.instance_id, a.restart_count)
        except EnvError as err:
            # A missing ConfigMap, Secret or key may appear: the next sync tries again.
            m.container_config_error(a.container, a.instance_id, str(err), agent.now(), True)
            return
        except ConfigError as err:  # a volumeMount (subPath) that cannot be made
            # Retried like a missing source: a subPathExpr may be fixed by an annotation
            # (the kubelet retries the failed sync; e2e "subPathExpr ... annotation").
            m.container_config_error(a.container, a.instance_id, err.message, agent.now(), True)
            return
        log_path = request.log_path
        if request.termination_message_file:
            sc = request.security
            try:
                make_message_file(request.termination_message_file, sc.run_as_user, sc.run_as_group)
            except OSError as e:
                log.warning("termination-message file %s: %s", request.termination_message_file, e)
                request = dataclasses.replace(request, termination_message_file="")
        try:
            handle = await self.runtime.start(request)
        except ImagePullError as err:
            m.image_pull_failed(
                a.container, a.instance_id, err.reason, err.message, err.events, agent.now()
            )
            return
        except ConfigError as err:
            m.container_config_error(a.container, a.instance_id, err.message, agent.now())
            return
        except StartError as err:
            m.container_start_failed(a.container, a.instance_id, err.message, agent.now())
            agent.record_start_error(self, a, err.message, log_path)
            return
        self._track(request, handle, a.restart_count)
        inst = self.instances[a.instance_id]
        agent.record_instance(self, a, handle, log_path)
        m.container_started(a.container, a.instance_id, agent.now())
        self.wake()
        inst.waiter = asyncio.create_task(self._wait(a.instance_id, inst))
        if a.post_start is not None:
            # Exec hooks run inside the container, as ExecSync does.
            outcome = await run_target(a.post_start, HOOK_TIMEOUT, inst.runner)
            if outcome.result is Result.FAILURE or outcome.error:
                log.info(
                    "postStart of %s/%s failed: %s",
                    self.name,
                    a.container,
                    outcome.output or outcome.error,
                )
                m.post_start_failed(a.container, a.instance_id, agent.now())
                self.wake()
        await inst.waiter

    async def _wait(self, instance_id: str, inst: InstanceRuntime) -> None:
        info = await inst.handle.wait()
        agent = self.agent
        container = self.pod.container(inst.container)
        reason = (
            "OOMKilled" if info.oom_killed else ("Completed" if info.exit_code == 0 else "Error")
        )
        message = agent.termination_message(self, container, info, inst)
        self.machine.container_exited(
            inst.container, instance_id, info.exit_code, agent.now(), reason, message
        )
        agent.record_termination(self, instance_id, inst, info, reason, message)
        self.instances.pop(instance_id, None)
        self.wake()

    def _probe(self, a: RunProbe, scheduled: float | None = None) -> bool:
        """Start probe `a`; True when its result is already in the core.

        A probe that needs no waiting (a tcpSocket connect the kernel completed
        inside connect(), see `start_target`) is finished here, without a task:
        the task, its wake-up and a second loop pass were most of such a
        probe's CPU. Every other probe gets a task."""
        if PodWorker.probe_trace is not None:
            PodWorker.probe_trace(self, a, scheduled, self.agent.now())
        inst = self.instances.get(a.instance_id)
        started = time.monotonic()
        step = start_target(a.target, float(a.timeout_seconds), inst.runner if inst else None)
        if isinstance(step, ProbeOutcome):
            self._probe_done(a, step, started)
            return True
        self._spawn(self._probe_wait(a, step, started), f"probe {a.container}")
        return False

    async def _probe_wait(
        self, a: RunProbe, step: Coroutine[Any, Any, ProbeOutcome], started: float
    ) -> None:
        self._probe_done(a, await step, started)
        self.wake()

    def _probe_done(self, a: RunProbe, outcome: ProbeOutcome, started: float) -> None:
        self.agent.observe_probe(self, a, outcome, time.monotonic() - started)
        self.machine.probe_finished(
            a.container, a.instance_id, a.probe_type, outcome, self.agent.now()
        )

    async def _kill(self, a: KillContainer) -> None:
        inst = self.instances.get(a.instance_id)
        if inst is None:
            return
        kill = KillContext(a.message, a.grace_seconds, time.time(), killed_by=a.killed_by)
        inst.kill = kill
        grace = a.grace_seconds
        if self.machine.deleting:
            # issue 4: leave the load balancer before preStop and SIGTERM, not after.
            t0 = time.monotonic()
            await self.agent.before_pod_stop(self, float(grace))
            grace = max(grace - int(time.monotonic() - t0), 0)
        if a.pre_stop is not None and grace > 0:
            # executePreStopHook: at most `grace` seconds; the elapsed whole seconds are
            # subtracted and at least 2 s remain (minimumGracePeriodInSeconds).
            t0 = time.monotonic()
            try:
                outcome = await asyncio.wait_for(
                    run_target(a.pre_stop, float(grace), inst.runner),
                    timeout=float(grace),
                )
                failed = outcome.result is Result.FAILURE or outcome.error is not None
            except TimeoutError:
                failed = False
            kill.pre_stop_seconds = time.monotonic() - t0
            if failed:
                self.machine.pre_stop_failed(a.container, self.agent.now())
                self.wake()
            grace = grace_after_pre_stop(grace, kill.pre_stop_seconds)
        else:
            grace = max(grace, 2)
        await self.runtime.stop(inst.handle, float(grace))


def classify_who(info: ExitInfo, kill: KillContext | None) -> str:
    """A one-line "who ended it" for the termination record."""
    if info.oom_killed:
        return "the kernel OOM killer (cgroup memory limit)"
    if kill is not None:
        if info.sent_by_us == "SIGKILL after grace":
            return f"podkeeper: SIGKILL after the {kill.grace}s grace period ({kill.message})"
        return f"podkeeper: SIGTERM ({kill.message})"
    if info.signal is not None:
        sender = info.signal_sender or "unknown sender"
        return f"killed by signal {info.signal} from outside ({sender})"
    return f"exited on its own with code {info.exit_code}"


def env_base() -> dict[str, str]:
    """The variables every container gets from its "image" on this host."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    base = {k: os.environ[k] for k in keep if k in os.environ}
    base.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return base

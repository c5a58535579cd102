"""The node agent: owns the pods of one PODKEEPER_HOME and serves the API (the kubelet's role).

It validates applied objects with `podkeeper.manifest`, runs one `PodWorker`
per pod, turns core events into `v1 Event`s (merged by the store, as
client-go's recorder merges), keeps every container's termination history,
and drains every pod when it stops. A crashed agent's leftovers are found
and killed by the next one, which says so.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from podkeeper import KUBE_MINOR, __version__
from podkeeper.core.actions import RunProbe, StartContainer
from podkeeper.core.events import Event
from podkeeper.core.pod import PodMachine
from podkeeper.core.result import ProbeOutcome
from podkeeper.core.spec import Container, ProbeType
from podkeeper.home import DB_NAME, PID_NAME, SOCKET_NAME
from podkeeper.runtime.controllers import ApplyError, Controller, Obj
from podkeeper.runtime.history import (
    child_oom_events,
    event_object,
    instance_record,
    start_error_record,
    termination_message,
    termination_record,
)
from podkeeper.runtime.interface import (
    ContainerRuntime,
    ExitInfo,
    HostSandboxes,
    RunningInstance,
    SandboxManager,
)
from podkeeper.runtime.metrics import ProbeMetrics
from podkeeper.runtime.podworker import InstanceRuntime, PodWorker, env_base
from podkeeper.runtime.store import Store

if TYPE_CHECKING:
    from podkeeper.runtime.cri import PodSandboxSpec

log = logging.getLogger("podkeeper.agent")

DRAIN_MARGIN = 10.0


class Closer(Protocol):
    async def cleanup(self) -> None: ...


ServeFn = Callable[
    ["Agent", Path], Awaitable[Closer]
]  # seconds beyond the longest grace that a drain waits


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class Agent:
    """Implements `podkeeper.api.backend.AgentBackend` for one home."""

    def __init__(
        self,
        home: Path,
        runtime: ContainerRuntime | None = None,
        runtime_choice: str | None = None,
        cri_endpoint: str | None = None,
    ) -> None:
        self.home = home
        # issue 10: process | containerd | cri | auto (default: $PODKEEPER_RUNTIME, else auto)
        self.runtime_choice = runtime_choice
        self.cri_endpoint = cri_endpoint
        self.node_name = socket.gethostname()
        self.started_mono = time.monotonic()
        self.wall_offset = time.time() - time.monotonic()
        self.store = Store(home / DB_NAME)
        self._runtime = runtime
        self.pods: dict[tuple[str, str], PodWorker] = {}
        self._watchers: set[asyncio.Queue[Obj]] = set()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self.cgroup_warning: str | None = None
        self.controllers: list[Controller] = []
        self._event_seq = itertools.count()
        self.metrics = ProbeMetrics()
        self.sandboxes: SandboxManager = HostSandboxes()
        self._pids_pending = False
        self._pid_starts: dict[tuple[str, int], str | None] = {}

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        return time.monotonic()

    @property
    def runtime(self) -> ContainerRuntime:
        assert self._runtime is not None
        return self._runtime

    # -------------------------------------------------------------- lifecycle

    async def run(
        self, serve: ServeFn | None = None, controllers: Sequence[Controller] = ()
    ) -> int:
        """Run until drained. `serve(agent, socket_path)` starts the API (the api layer passes
        it in, so the runtime does not import it); `controllers` run beside the pod workers."""
        tune_gc()
        cri_sandboxes: SandboxManager | None = None
        if self._runtime is None:
            try:
                self._runtime, cri_sandboxes = await self._open_runtime()
            except (RuntimeError, ValueError) as err:
                log.error("cannot start the container runtime: %s", err)
                self.store.close()
                return 1
        self.sandboxes = cri_sandboxes or make_sandboxes(self.home)
        stale = await self.sandboxes.cleanup_stale(frozenset())
        for line in stale:
            log.warning("cleaned up after a previous agent: %s", line)
        self._kill_orphans()
        (self.home / PID_NAME).write_text(str(os.getpid()))
        runner = await serve(self, self.home / SOCKET_NAME) if serve is not None else None
        flusher = asyncio.create_task(self.store.flush_periodically())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.shutdown()))
        self.controllers = list(controllers)
        for c in self.controllers:
            await c.start(self)
        await self._restore()
        log.info("agent ready on %s", self.home / SOCKET_NAME)
        await self._stopped.wait()
        for c in self.controllers:
            await c.stop()
        if runner is not None:
            await runner.cleanup()
        flusher.cancel()
        try:
            await flusher
        except asyncio.CancelledError:
            pass
        await self.runtime.shutdown()
        self.store.close()
        for name in (PID_NAME, "containers.json"):
            try:
                (self.home / name).unlink()
            except FileNotFoundError:
                pass
        return 0

    async def _open_runtime(self) -> tuple[ContainerRuntime, SandboxManager | None]:
        """The runtime asked for (runtime/selection.py); a CRI one brings its sandboxes."""
        from podkeeper.runtime.selection import open_cri, requested_runtime, resolve

        kind = resolve(requested_runtime(self.runtime_choice))
        if kind == "process":
            return self._make_runtime(), None
        runtime, sandboxes = await open_cri(self.home, kind, self.cri_endpoint, self._sandbox_spec)
        self.cri_endpoint = runtime.client.endpoint
        return runtime, sandboxes

    def _sandbox_spec(self, pod_uid: str) -> PodSandboxSpec | None:
        """The pod's namespace, labels and annotations for its CRI sandbox."""
        from podkeeper.runtime.cri import PodSandboxSpec

        for w in self.pods.values():
            meta = w.pod.metadata
            if meta.uid == pod_uid:
                return PodSandboxSpec(
                    namespace=meta.namespace,
                    labels=dict(meta.labels),
                    annotations=dict(meta.annotations),
                )
        return None

    def _make_runtime(self) -> ContainerRuntime:
        from podkeeper.runtime.cgroups import CgroupManager, root_name_for_home
        from podkeeper.runtime.process import ProcessRuntime

        cgroups: CgroupManager | None = CgroupManager(root_name_for_home(str(self.home)))
        assert cgroups is not None
        ok, why = cgroups.available()
        if ok:
            cgroups.cleanup_stale()
            swept = cgroups.sweep_abandoned()
            if swept:
                log.info("removed %d empty cgroups abandoned by other homes' dead agents", swept)
        else:
            self.cgroup_warning = why
            cgroups = None
        return ProcessRuntime(str(self.home), cgroups)

    async def shutdown(self) -> None:
        """Drain: delete every pod gracefully (as a node drain), then stop."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for c in self.controllers:
            await c.stop()
        workers = list(self.pods.values())
        for w in workers:
            w.delete(None)
        longest = max((w.pod.spec.termination_grace_period_seconds for w in workers), default=0)
        if workers:
            done = asyncio.gather(*(w.finished.wait() for w in workers))
            try:
                await asyncio.wait_for(done, longest + DRAIN_MARGIN)
            except TimeoutError:
                log.warning("drain did not finish within %ss; killing the rest", longest)
        self._stopped.set()

    async def _restore(self) -> None:
        """Re-run the pods a crashed agent left in the store (the kubelet re-syncs desired pods)."""
        for obj in self.store.list_objects("Pod", None):
            meta = obj.get("metadata", {})
            if meta.get("deletionTimestamp"):
                self.store.delete_object("Pod", meta.get("namespace", "default"), meta["name"])
                continue
            obj.pop("status", None)
            if (meta.get("namespace", "default"), meta.get("name")) in self.pods:
                # The API answers before this runs: a pod applied in between (the
                # `up` that started this agent) is already running; a second worker
                # would run every container twice.
                continue
            try:
                self._create_pod(obj, restored=True)
            except Exception:
                log.exception("could not restore pod %s", meta.get("name"))

    # ------------------------------------------------------- orphan handling

    def _containers_file(self) -> Path:
        return self.home / "containers.json"

    def _save_pids(self) -> None:
        """Write containers.json once at the end of this loop pass: the starts and exits
        of many pods in one pass share the write (each used to rewrite the whole file
        and re-read /proc for every live instance, O(pods^2) for a 1000-pod apply)."""
        if self._pids_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_pids()
            return
        self._pids_pending = True
        loop.call_soon(self._write_pids)

    def _write_pids(self) -> None:
        self._pids_pending = False
        if self._stopped.is_set():
            return  # run() removes the file; a late write must not bring it back
        starts: dict[tuple[str, int], str | None] = {}
        live = {}
        for w in self.pods.values():
            for iid, inst in w.instances.items():
                key = (iid, inst.handle.pid)
                start = self._pid_starts.get(key) or _proc_start(inst.handle.pid)
                starts[key] = start
                live[iid] = {
                    "pid": inst.handle.pid,
                    "start": start,
                    "pod": w.name,
                    "namespace": w.namespace,
                    "container": inst.container,
                }
        self._pid_starts = starts  # a pid's start time never changes while it lives
        tmp = self._containers_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(live))
        tmp.replace(self._containers_file())

    def _kill_orphans(self) -> None:
        """Kill the container process groups a crashed agent left behind, and say so."""
        try:
            live = json.loads(self._containers_file().read_text())
        except (FileNotFoundError, ValueError):
            return
        for iid, info in live.items():
            pid = int(info["pid"])
            if _proc_start(pid) != info.get("start"):
                continue  # gone, or the pid was reused
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            except PermissionError:
                os.kill(pid, signal.SIGKILL)
            msg = (
                f"killed orphaned container {info['container']} (pid {pid}, instance {iid}) "
                "left by a previous podkeeper agent that stopped abruptly"
            )
            log.warning(msg)
            self.store.record_event(
                self._event_obj(
                    info.get("namespace", "default"),
                    info.get("pod", ""),
                    "",
                    f"spec.containers{{{info['container']}}}",
                    Event("Warning", "OrphanKilled", msg, None, self.now()),
                )
            )
        self._containers_file().unlink(missing_ok=True)

    # -------------------------------------------------------------- backend

    def _controller(self, kind: str) -> Controller | None:
        for c in self.controllers:
            if kind in c.kinds:
                return c
        return None

    def list_objects(self, kind: str, namespace: str | None) -> list[Obj]:
        ctl = self._controller(kind)
        if ctl is not None:
            return ctl.list(kind, namespace)
        if kind == "Pod":
            return [
                w.snapshot()
                for (ns, _), w in sorted(self.pods.items())
                if namespace is None or ns == namespace
            ]
        return self.store.list_objects(kind, namespace)

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        ctl = self._controller(kind)
        if ctl is not None:
            return ctl.get(kind, namespace, name)
        if kind == "Pod":
            w = self.pods.get((namespace, name))
            return w.snapshot() if w else None
        return self.store.get_object(kind, namespace, name)

    async def apply(self, objects: list[Obj]) -> list[Obj]:
        from podkeeper.manifest import default_object, format_invalid, validate_object

        prepared: list[Obj] = []
        errors: list[str] = []
        for raw in objects:
            kind = raw.get("kind", "")
            name = (raw.get("metadata") or {}).get("name", "")
            ctl = self._controller(kind)
            if kind != "Pod" and ctl is None:
                errors.append(f'{kind} "{name}": kind {kind} is not served by this agent')
                continue
            obj = default_object(raw)
            problems = validate_object(obj)
            if problems:
                errors.append(format_invalid(kind, name, problems))
                continue
            if ctl is not None:
                extra = ctl.validate(obj)
                errors.extend(extra)
                if not extra:
                    prepared.append(obj)
                continue
            existing = self.pods.get((obj["metadata"]["namespace"], name))
            if existing is not None and _spec_changed(existing.obj["spec"], obj["spec"]):
                # Pod spec is immutable (validation.go ValidatePodUpdate).
                errors.append(
                    f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not change '
                    "fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, "
                    "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
                    "tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 "
                    "if it was previously negative)"
                )
                continue
            prepared.append(obj)
        if errors:
            raise ApplyError(errors)
        out = []
        for obj in prepared:
            ctl = self._controller(obj["kind"])
            if ctl is not None:
                out.append(await ctl.apply(obj))
                continue
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            if key in self.pods:
                out.append(self.pods[key].snapshot())
            else:
                out.append(self._create_pod(obj).snapshot())
        return out

    def _create_pod(self, obj: Obj, restored: bool = False) -> PodWorker:
        from podkeeper.manifest import pod_from_object

        if self._stopping.is_set():
            # A pod created during the drain would never be drained: its containers
            # would outlive the agent.
            raise ApplyError(["the agent is shutting down: no new pods"])

        meta = obj["metadata"]
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _rfc3339(time.time()))
        obj["spec"]["nodeName"] = self.node_name
        pod = pod_from_object(obj, uid=meta["uid"])
        now = self.now()
        # worker.go run: a worker sleeps rand*period first only when the kubelet started
        # less than one period ago.
        jitters: dict[tuple[str, ProbeType], float] = {}
        uptime = now - self.started_mono
        for c in pod.all_containers():
            for ptype in ProbeType:
                probe = c.probe(ptype)
                if probe is not None and probe.period_seconds > uptime:
                    jitters[(c.name, ptype)] = random.random() * probe.period_seconds
        machine = PodMachine(
            pod,
            now,
            pod_ip="",  # the sandbox gives it (podworker), before any container starts
            node_name=self.node_name,
            wall_offset=self.wall_offset,
            jitters=jitters,
        )
        if self._runtime is not None and self._runtime.name in ("containerd", "cri"):
            machine.runtime_name = self._runtime.name  # containerID: containerd://...
        worker = PodWorker(self, obj, pod, machine, self._pod_changed)
        self.pods[(meta["namespace"], meta["name"])] = worker
        self.store.put_object(obj)
        if self.cgroup_warning:
            self.record_event(
                worker,
                Event(
                    "Warning",
                    "ResourceLimitsNotEnforced",
                    f"cgroups unavailable ({self.cgroup_warning}): running without resource limits",
                    None,
                    now,
                ),
            )
        worker.start()
        asyncio.get_running_loop().create_task(self._reap_pod(worker))
        if restored:
            log.info("restored pod %s/%s from the state database", meta["namespace"], meta["name"])
        return worker

    async def _reap_pod(self, worker: PodWorker) -> None:
        await worker.finished.wait()
        key = (worker.namespace, worker.name)
        if self.pods.get(key) is worker:
            del self.pods[key]
            self.store.delete_object("Pod", worker.namespace, worker.name)
        self._save_pids()
        snapshot = worker.snapshot()
        self.metrics.forget_pod(worker.pod.metadata.uid)
        for c in self.controllers:
            c.pod_gone(snapshot)

    def _pod_changed(self, worker: PodWorker) -> None:
        if worker.machine.finished:
            return
        snapshot = worker.snapshot()
        self.store.put_object(snapshot)
        for c in self.controllers:
            c.pod_changed(snapshot)

    async def delete(
        self, kind: str, namespace: str, name: str, grace_period_seconds: int | None
    ) -> Obj | None:
        ctl = self._controller(kind)
        if ctl is not None:
            return await ctl.delete(kind, namespace, name, grace_period_seconds)
        if kind != "Pod":
            obj = self.store.get_object(kind, namespace, name)
            if obj is not None:
                self.store.delete_object(kind, namespace, name)
            return obj
        w = self.pods.get((namespace, name))
        if w is None:
            return None
        w.delete(grace_period_seconds)
        return w.snapshot()

    def list_events(self, namespace: str | None, involved_name: str | None) -> list[Obj]:
        self.store.flush()
        return self.store.list_events(namespace, involved_name)

    async def watch_events(self) -> AsyncIterator[Obj]:
        queue: asyncio.Queue[Obj] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)

    def log_path(
        self, namespace: str, pod: str, container: str | None, previous: bool
    ) -> str | None:
        w = self.pods.get((namespace, pod))
        if container is None:
            if w is not None:
                container = w.pod.spec.containers[0].name
            else:
                return None
        records = self.store.instances(namespace, pod, container)
        index = 1 if previous else 0
        return records[index].log_path if len(records) > index else None

    def terminations(self, namespace: str, pod: str, container: str | None) -> list[Obj]:
        self.store.flush()
        return self.store.terminations(namespace, pod, container)

    def version(self) -> Obj:
        return {
            "podkeeper": __version__,
            "kubeletSemantics": f"v{KUBE_MINOR}",
            "node": self.node_name,
            "pid": os.getpid(),
            "home": str(self.home),
            "cgroups": "disabled: " + self.cgroup_warning if self.cgroup_warning else "enabled",
            "runtime": self._runtime.name if self._runtime is not None else None,
            "criEndpoint": self.cri_endpoint,
        }

    # ------------------------------------------------------------ PodHost

    def create_pod(self, obj: Obj) -> Obj:
        return self._create_pod(obj).snapshot()

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> Obj | None:
        w = self.pods.get((namespace, name))
        if w is None:
            return None
        w.delete(grace)
        return w.snapshot()

    def pod_snapshots(self, namespace: str | None) -> list[Obj]:
        return self.list_objects("Pod", namespace)

    def record_object_event(
        self, obj: Obj, type_: str, reason: str, message: str, component: str
    ) -> None:
        meta = obj.get("metadata", {})
        e = Event(type_, reason, message, None, self.now(), component)
        ev = self._event_obj(
            meta.get("namespace", "default"), meta.get("name", ""), meta.get("uid", ""), None, e
        )
        ev["involvedObject"]["kind"] = obj.get("kind", "")
        ev["involvedObject"]["apiVersion"] = obj.get("apiVersion", "v1")
        self._record(ev)

    async def before_pod_stop(self, worker: PodWorker, budget: float) -> None:
        """Let controllers drain traffic from a deleted pod before preStop and SIGTERM."""
        if not self.controllers:
            return
        snapshot = worker.snapshot()
        waits = [c.before_pod_stop(snapshot, budget) for c in self.controllers]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), budget)
        except TimeoutError:
            pass

    # ------------------------------------------------------ worker callbacks

    def base_env(self, worker: PodWorker) -> dict[str, str]:
        env = env_base()
        env["HOSTNAME"] = worker.name
        env["HOME"] = os.environ.get("HOME", "/root")
        return env

    def instance_log_path(self, worker: PodWorker, container: str, restart_count: int) -> str:
        """`<home>/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log`, as /var/log/pods."""
        from podkeeper.runtime.logs import container_log_path

        return container_log_path(
            str(self.home),
            worker.namespace,
            worker.name,
            worker.pod.metadata.uid,
            container,
            restart_count,
        )

    def _event_obj(self, ns: str, pod: str, uid: str, field_path: str | None, e: Event) -> Obj:
        return event_object(
            ns, pod, uid, field_path, e, self.wall_offset, self.node_name, next(self._event_seq)
        )

    def record_event(self, worker: PodWorker, e: Event) -> None:
        meta = worker.pod.metadata
        self._record(self._event_obj(meta.namespace, meta.name, meta.uid, e.field_path, e))

    def _record(self, obj: Obj) -> None:
        stored, created = self.store.record_event(obj)
        kind = "ADDED" if created else "MODIFIED"
        for q in list(self._watchers):
            q.put_nowait({"type": kind, "object": stored})

    def record_instance(
        self, worker: PodWorker, a: StartContainer, handle: RunningInstance, log_path: str
    ) -> None:
        self.store.add_instance(instance_record(worker, a, log_path, handle.started_at))
        self._save_pids()

    def record_start_error(
        self, worker: PodWorker, a: StartContainer, message: str, log_path: str
    ) -> None:
        self.store.add_instance(instance_record(worker, a, log_path, time.time()))
        self.store.add_termination(start_error_record(worker, a, message))

    def termination_message(
        self, container: Container, info: ExitInfo, inst: InstanceRuntime
    ) -> str:
        return termination_message(container, info, inst.log_path)

    def record_termination(
        self,
        worker: PodWorker,
        instance_id: str,
        inst: InstanceRuntime,
        info: ExitInfo,
        reason: str,
        message: str,
    ) -> None:
        self.store.add_termination(
            termination_record(worker, instance_id, inst, info, reason, message)
        )
        for e in child_oom_events(worker, inst.container, info, self.now()):
            self.record_event(worker, e)
        self._save_pids()

    def observe_probe(
        self, worker: PodWorker, a: RunProbe, outcome: ProbeOutcome, seconds: float
    ) -> None:
        """Probe metrics (prober_probe_total, prober_probe_duration_seconds)."""
        meta = worker.pod.metadata
        self.metrics.observe(
            a.probe_type.value, a.container, meta.name, meta.namespace, meta.uid, outcome, seconds
        )

    def metrics_text(self) -> bytes:
        return self.metrics.exposition()


#: Allocations between young-generation collections (CPython's default is 700).
GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect the young generation less often in the agent process.

    Every probe allocates short-lived objects, and with CPython's default the
    full (generation 2) collections that follow every 100 young ones walk every
    pod's objects: ~70-80 ms pauses every ~2.5 s with 1,000 pods, the largest
    cause of probe lateness there (scale benchmark p99 84 ms -> 30 ms with this).
    Collections still happen; only their cadence changes."""
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GC_GEN0_THRESHOLD), gen1, gen2)


def make_sandboxes(home: Path) -> SandboxManager:
    """Network-namespace sandboxes when this build has them and runs as root, else host."""
    try:
        from podkeeper.runtime.sandbox import NamespaceSandboxes
    except ModuleNotFoundError:
        return HostSandboxes()
    manager = NamespaceSandboxes.for_home(home)
    return manager if manager is not None else HostSandboxes()


def _spec_changed(applied: Obj, new: Obj) -> bool:
    """Whether a re-applied pod spec differs, ignoring what the agent itself filled in."""
    return {k: v for k, v in applied.items() if k != "nodeName"} != {
        k: v for k, v in new.items() if k != "nodeName"
    }


def _proc_start(pid: int) -> str | None:
    """The process start time from /proc (field 22), to tell a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data.rpartition(")")[2].split()[19]

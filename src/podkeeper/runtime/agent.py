"""The node agent: owns the pods of one PODKEEPER_HOME and serves the API (the kubelet's role).

It validates applied objects with `podkeeper.manifest`, runs one `PodWorker`
per pod, turns core events into `v1 Event`s (merged by the store, as
client-go's recorder merges), keeps every container's termination history,
and drains every pod when it stops. A crashed agent's leftovers are found
and killed by the next one, which says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import random
import shutil
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from podkeeper import KUBE_MINOR, __version__
from podkeeper.controllers.interface import ApplyError, Controller, Obj
from podkeeper.core.actions import RunProbe, StartContainer
from podkeeper.core.events import Event
from podkeeper.core.eviction import (
    EPHEMERAL_STORAGE,
    MEMORY,
    ContainerUsage,
    NodeStats,
    PodUsage,
    decide,
)
from podkeeper.core.eviction import REASON as EVICTED
from podkeeper.core.hostports import NO_FREE_PORTS, conflicting_ports, host_port_mappings
from podkeeper.core.pod import AdoptedInstance, PodMachine
from podkeeper.core.result import ProbeOutcome
from podkeeper.core.runtimeclass import RuntimeClassError, agent_handler, lookup_handler
from podkeeper.core.security import has_privileged_container
from podkeeper.core.spec import Container, ProbeType
from podkeeper.core.status import api_conditions
from podkeeper.core.sysctls import dotted
from podkeeper.home import (
    AGENT_LOCK_NAME,
    DB_NAME,
    PID_NAME,
    SOCKET_NAME,
    hold_agent_lock,
    secure_home,
    write_private,
)
from podkeeper.runtime.cgroups import CgroupManager
from podkeeper.runtime.configobjects import ConfigObjects
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
    PodSandboxSpec,
    RunningInstance,
    SandboxError,
    SandboxManager,
)
from podkeeper.runtime.logrotate import MONITOR_PERIOD as LOG_MONITOR_PERIOD
from podkeeper.runtime.logrotate import LogPolicy, rotate_all
from podkeeper.runtime.logs import pod_log_dir
from podkeeper.runtime.metrics import ProbeMetrics
from podkeeper.runtime.nodestats import configured_thresholds, read_node_stats
from podkeeper.runtime.podworker import InstanceRuntime, PodWorker, env_base
from podkeeper.runtime.runtimes import Runtimes, RuntimeSlot
from podkeeper.runtime.store import open_store
from podkeeper.runtime.volumes import VolumeManager

log = logging.getLogger("podkeeper.agent")

#: Seconds beyond the longest grace that a drain waits, plus this much per pod.
DRAIN_MARGIN = 10.0
DRAIN_PER_POD = 0.1


class Closer(Protocol):
    async def cleanup(self) -> None: ...


ServeFn = Callable[["Agent", Path], Awaitable[Closer]]


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
        self._port_holders: dict[int, PodWorker] = {}  # check_host_ports
        self.cri_endpoint = cri_endpoint
        self.node_name = socket.gethostname()
        self.started_mono = time.monotonic()
        self.wall_offset = time.time() - time.monotonic()
        # Start-up findings worth a Warning on the node as well as a log line (issue 13).
        self.start_warnings: list[tuple[str, str]] = []
        tightened = secure_home(home)
        if tightened:
            log.warning("%s", tightened)
        self.store, damage = open_store(home / DB_NAME)
        for line in damage:
            log.error("state database: %s", line)
        if damage:
            self.start_warnings.append(("StateDatabaseRecovered", " ".join(damage)))
        self.store.on_degraded = self._store_degraded
        #: Pods' volumes on the host (runtime/volumes.py); objects come from the store.
        self.volumes = VolumeManager(home, self.store.get_object)
        #: ConfigMaps and Secrets, plain objects in the store (runtime/configobjects.py).
        self.config_objects = ConfigObjects(self.store, self._config_changed)
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
        #: The runtimes by RuntimeClass handler (runtime/runtimes.py): the default one
        #: opened in run(), the other on the first pod that asks for it.
        self.runtimes: Runtimes | None = None
        #: Instances of an earlier agent's containers.json that a restored pod may adopt.
        self._orphan_keep: frozenset[str] = frozenset()
        self._pids_pending = False
        self._pid_starts: dict[tuple[str, int], str | None] = {}
        # Set once the pods of an earlier agent are restored: apply waits for it, or a
        # re-applied pod would get a second worker beside the restored one (issue 13).
        self._restored = asyncio.Event()
        self._cgroups: CgroupManager | None = None
        #: MemoryPressure / DiskPressure as the eviction manager last saw them (by resource).
        self.node_pressure: dict[str, bool] = {}

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        return time.monotonic()

    @property
    def runtime(self) -> ContainerRuntime:
        """The default runtime (of pods without a runtimeClassName)."""
        assert self._runtime is not None
        return self._runtime

    # -------------------------------------------------------------- lifecycle

    async def run(
        self, serve: ServeFn | None = None, controllers: Sequence[Controller] = ()
    ) -> int:
        """Run until drained. `serve(agent, socket_path)` starts the API (the api layer passes
        it in, so the runtime does not import it); `controllers` run beside the pod workers."""
        tune_gc()
        # Held until this process exits: other agents' sweeps leave this home alone.
        lock_fd = await asyncio.to_thread(hold_agent_lock, self.home)
        if lock_fd is None:
            log.warning("another process holds %s: is another agent running?", AGENT_LOCK_NAME)
        orphans = self._read_orphans()
        self._orphan_keep = frozenset(i for i, o in orphans.items() if o.get("state"))
        try:
            runtimes = self.runtimes = self._make_runtimes()
            default = await runtimes.open_default()
            # A pod to restore on the other runtime, or leftovers of an earlier agent's
            # private containerd: open it now, so that its pods are adopted and what no
            # pod takes over is removed (issue 13 items 6 and 7).
            for handler in self._other_handlers_needed(runtimes.default_handler):
                with contextlib.suppress(RuntimeError):
                    await runtimes.get(handler)
        except (RuntimeError, ValueError) as err:
            log.error("cannot start the container runtime: %s", err)
            self.store.close()
            return 1
        self._runtime, self.sandboxes = default.runtime, default.sandboxes
        stale = await asyncio.to_thread(self.volumes.cleanup_stale, self._live_pod_uids())
        for line in stale:
            log.warning("cleaned up after a previous agent: %s", line)
        for reason, message in self.start_warnings:
            self._record_node_event(reason, message)
        write_private(self.home / PID_NAME, str(os.getpid()))
        runner = await serve(self, self.home / SOCKET_NAME) if serve is not None else None
        flusher = asyncio.create_task(self.store.flush_periodically())
        rotator = asyncio.create_task(self._rotate_logs_periodically())
        evictor = asyncio.create_task(self._evict_periodically())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.shutdown()))
        self.controllers = list(controllers)
        for c in self.controllers:
            await c.start(self)
        adopted = await self._restore(orphans)
        self._kill_orphans({iid: o for iid, o in orphans.items() if iid not in adopted})
        if self._cgroups is not None and len(adopted) < len(orphans):
            await asyncio.to_thread(self._cgroups.cleanup_stale, frozenset(adopted))
        self._restored.set()
        log.info("agent ready on %s", self.home / SOCKET_NAME)
        await self._stopped.wait()
        for c in self.controllers:
            await c.stop()
        if runner is not None:
            await runner.cleanup()
        for task in (flusher, rotator, evictor):
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        # A drain that ran out of time still leaves no sandbox behind (issue 13 item 7:
        # `down` with 300 pods and a 1 s grace left ~50 namespaces and veths).
        for w in list(self.pods.values()):
            if w.sandbox is not None:
                await w.sandboxes.destroy(w.sandbox)
        # Each runtime's sandboxes go through it while it still answers, then it stops
        # (a managed containerd stops with its runtime).
        assert self.runtimes is not None
        for slot in self.runtimes.opened():
            try:
                for line in await slot.sandboxes.cleanup_stale(frozenset()):
                    log.warning("removed at shutdown: %s", line)
            except Exception as err:  # the runtime died: its shutdown still cleans up
                log.warning("runtime %s: sandboxes not listed at shutdown: %s", slot.handler, err)
            await slot.runtime.shutdown()
        # The home's cgroup root goes too (issue 13 item 7: `down` leaves nothing); it
        # is made again by the next agent.
        if self._cgroups is not None:
            cgroups = self._cgroups
            if not await asyncio.to_thread(cgroups.remove_root, 5.0):
                log.warning("cgroup root %s still in use at shutdown", cgroups.root_name)
        for line in await asyncio.to_thread(self.volumes.cleanup_stale, frozenset()):
            log.warning("removed at shutdown: %s", line)
        self.store.close()
        for name in (PID_NAME, "containers.json"):
            try:
                (self.home / name).unlink()
            except FileNotFoundError:
                pass
        if lock_fd is not None:
            os.close(lock_fd)
        return 0

    def check_host_ports(self, worker: PodWorker) -> None:
        """Refuse a pod whose hostPorts another live pod of this agent holds (the
        scheduler's NodePorts filter; core/hostports.py). Here the pod stays Pending with
        FailedCreatePodSandBox events quoting the scheduler's message and is retried until
        the port is free, instead of FailedScheduling from a scheduler."""
        # Holders: the live pods that passed this check (first come, first served; no
        # await between the check and the claim, so two pods cannot both pass).
        live = {id(w) for w in self.pods.values() if not w.finished.is_set()}
        holders = self._port_holders
        for key in [k for k in holders if k not in live]:
            del holders[key]
        others = [w.pod for k, w in holders.items() if k != id(worker)]
        taken = conflicting_ports(worker.pod, others)
        if taken:
            ports = ", ".join(f"{m[0]}/{m[2]}" for m in taken)
            raise SandboxError(f"{NO_FREE_PORTS} (host port {ports} in use)")
        if host_port_mappings(worker.pod):
            holders[id(worker)] = worker

    def _watch_sandboxes(self, runtime: ContainerRuntime) -> None:
        """A runtime that reports dead sandboxes (CRI) tells the pod whose it was."""
        watch = getattr(runtime, "watch_sandboxes", None)
        if watch is None:
            return

        def died(sandbox_id: str) -> None:
            for w in list(self.pods.values()):
                w.sandbox_died(sandbox_id)

        watch(died)

    def _make_runtimes(self) -> Runtimes:
        """The agent's runtimes: the one asked for (runtime/selection.py) as the default,
        the other opened when a pod's RuntimeClass names it. An injected runtime (tests)
        is the only one."""
        from podkeeper.runtime.selection import requested_runtime, resolve

        injected = self._runtime
        if injected is not None:
            sandboxes = make_sandboxes(self.home, self._sandbox_spec)
            slot = RuntimeSlot(agent_handler(injected.name), injected, sandboxes)

            async def only(kind: str) -> RuntimeSlot:
                if agent_handler(kind) == slot.handler:
                    return slot
                raise RuntimeError(f"this agent runs only its {injected.name} runtime")

            return Runtimes(injected.name, only)
        return Runtimes(resolve(requested_runtime(self.runtime_choice)), self._open_slot)

    async def _open_slot(self, kind: str) -> RuntimeSlot:
        """Open the runtime `kind`, remove what an earlier agent left of it that no pod
        to restore keeps, and watch its sandboxes."""
        from podkeeper.runtime.selection import open_cri

        runtime: ContainerRuntime
        if kind == "process":
            runtime = self._make_runtime(self._orphan_keep)
            sandboxes = make_sandboxes(self.home, self._sandbox_spec)
        else:
            runtime, sandboxes = await open_cri(
                self.home, kind, self.cri_endpoint, self._sandbox_spec
            )
            self.cri_endpoint = runtime.client.endpoint
        self._watch_sandboxes(runtime)
        # The sandboxes of pods that will be restored stay (same IPs for adopted pods).
        for line in await sandboxes.cleanup_stale(self._live_pod_uids()):
            log.warning("cleaned up after a previous agent: %s", line)
        log.info("runtime %s opened", runtime.name)
        return RuntimeSlot(agent_handler(kind), runtime, sandboxes)

    def _handler_of(self, class_name: str | None) -> str | None:
        """The handler a pod of RuntimeClass `class_name` runs on (None: no such class)."""
        try:
            return lookup_handler(class_name) or agent_handler(self.runtime.name)
        except RuntimeClassError:
            return None

    def _live_pod_uids(self) -> frozenset[str]:
        """The pods of the store that are not being deleted (restored, or running)."""
        return frozenset(
            str(o["metadata"].get("uid", ""))
            for o in self.store.list_objects("Pod", None)
            if not o.get("metadata", {}).get("deletionTimestamp")
        )

    def _other_handlers_needed(self, default: str) -> list[str]:
        """Handlers besides `default` that must be open before the restore: one a stored
        pod's RuntimeClass names, or containerd when an earlier agent of this home ran
        its private containerd (its shims may still run pods)."""
        from podkeeper.runtime.cri.containerd import ManagedContainerd

        wanted = set()
        for o in self.store.list_objects("Pod", None):
            with contextlib.suppress(RuntimeClassError):
                wanted.add(lookup_handler((o.get("spec") or {}).get("runtimeClassName")))
        if ManagedContainerd(self.home).config_path.exists():
            wanted.add("containerd")
        return sorted(h for h in wanted if h and h != default)

    def _sandbox_spec(self, pod_uid: str) -> PodSandboxSpec | None:
        """What a sandbox manager needs of the pod `pod_uid` beyond its name: namespace,
        labels and annotations (CRI), hostname (UTS), hostPorts, privilege."""
        for w in self.pods.values():
            meta = w.pod.metadata
            if meta.uid == pod_uid:
                return PodSandboxSpec(
                    namespace=meta.namespace,
                    labels=dict(meta.labels),
                    annotations=dict(meta.annotations),
                    hostname=w.hostname_and_domain()[0],
                    port_mappings=host_port_mappings(w.pod),
                    privileged=has_privileged_container(w.pod),
                    sysctls={dotted(k): v for k, v in w.pod.spec.sysctls},
                )
        return None

    def _make_runtime(self, keep: frozenset[str]) -> ContainerRuntime:
        """The process runtime; the instance cgroups an earlier agent left are removed
        (their processes killed) except those of instances in `keep`, which a restored
        pod may take over (what is not taken over goes after the restore)."""
        from podkeeper.runtime.cgroups import CgroupManager, root_name_for_home
        from podkeeper.runtime.process import ProcessRuntime

        cgroups: CgroupManager | None = CgroupManager(
            root_name_for_home(str(self.home)), home=str(self.home)
        )
        assert cgroups is not None
        ok, why = cgroups.available()
        if ok:
            self._cgroups = cgroups
            cgroups.cleanup_stale(keep)
            swept = cgroups.sweep_abandoned()
            if swept:
                log.info("removed %d empty cgroups of other homes whose agent is gone", swept)
        else:
            self.cgroup_warning = why
            cgroups = None
        return ProcessRuntime(str(self.home), cgroups)

    async def shutdown(self) -> None:
        """Drain: delete every pod gracefully (as a node drain), then stop."""
        if self._stopping.is_set():
            return
        # A drain right after a restart (`down` after a crash) drains the restored pods
        # too: wait for them, or their containers and sandboxes would be left.
        await self._restored.wait()
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
                # Sandboxes go one at a time after their pods: allow for them too.
                budget = longest + DRAIN_MARGIN + DRAIN_PER_POD * len(workers)
                await asyncio.wait_for(done, budget)
            except TimeoutError:
                log.warning("drain did not finish within %.0fs; killing the rest", budget)
        self._stopped.set()

    async def _restore(self, orphans: dict[str, Obj]) -> set[str]:
        """Re-run the pods a crashed agent left in the store (the kubelet re-syncs desired
        pods), re-attaching to their containers that still run (`orphans`, from
        containers.json); returns the instance ids taken over."""
        by_pod: dict[str, list[Obj]] = {}
        for iid, o in orphans.items():
            if o.get("state") and o.get("pod_uid"):
                by_pod.setdefault(str(o["pod_uid"]), []).append({**o, "instance_id": iid})
        adopted: set[str] = set()
        workers: list[PodWorker] = []
        for obj in self.store.list_objects("Pod", None):
            meta = obj.get("metadata", {})
            if meta.get("deletionTimestamp"):
                self.store.delete_object("Pod", meta.get("namespace", "default"), meta["name"])
                continue
            status = obj.pop("status", None)
            if (meta.get("namespace", "default"), meta.get("name")) in self.pods:
                # The API answers before this runs: a pod applied in between (the
                # `up` that started this agent) is already running; a second worker
                # would run every container twice.
                continue
            entries = by_pod.get(str(meta.get("uid", "")), [])
            try:
                worker = self._create_pod(obj, restored=True, adopting=entries)
                # The conditions API clients wrote (readiness gates) are the API server's
                # copy, which a restarted kubelet reads back (`mergePodStatus`).
                worker.machine.set_api_conditions(api_conditions(status), self.now())
                workers.append(worker)
            except Exception:
                log.exception("could not restore pod %s", meta.get("name"))
                continue
            adopted |= {e["instance_id"] for e in entries}
        # Restored means back with its sandbox (pod IP) and its containers re-attached,
        # before `up` applies anything or a drain starts (issue 13 item 6).
        if workers:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(w.attached.wait() for w in workers)), RESTORE_TIMEOUT
                )
            except TimeoutError:
                log.warning("not every restored pod was back within %ss", RESTORE_TIMEOUT)
        return adopted

    # ------------------------------------------------------- orphan handling

    def _containers_file(self) -> Path:
        return self.home / "containers.json"

    def save_pids(self) -> None:
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
                rec = w.machine.records.get(inst.container)
                live[iid] = {
                    "pid": inst.handle.pid,
                    "start": start,
                    "pod": w.name,
                    "namespace": w.namespace,
                    "pod_uid": w.pod.metadata.uid,
                    "container": inst.container,
                    "restart_count": inst.restart_count,
                    # What the probes had decided, so that an adopted pod keeps it.
                    "started": bool(rec and w.machine.started(rec)),
                    "ready": bool(rec and w.machine.ready(rec)),
                    "state": inst.handle.adoption_state(),
                }
        self._pid_starts = starts  # a pid's start time never changes while it lives
        tmp = self._containers_file().with_suffix(".tmp")
        write_private(tmp, json.dumps(live))
        tmp.replace(self._containers_file())

    def _read_orphans(self) -> dict[str, Obj]:
        """The instances an earlier agent of this home left running (containers.json)."""
        try:
            live = json.loads(self._containers_file().read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return live if isinstance(live, dict) else {}

    def _kill_orphans(self, live: dict[str, Obj]) -> None:
        """Kill the container process groups a crashed agent left behind that no restored
        pod took over (not monitored, or their pod is gone), and say so."""
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
        self.save_pids()

    # -------------------------------------------------------------- backend

    def _controller(self, kind: str) -> Controller | None:
        if kind in self.config_objects.kinds:
            return self.config_objects
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

        await self._restored.wait()
        prepared: list[Obj] = []
        errors: list[str] = []
        images_changed: list[tuple[PodWorker, Obj]] = []
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
            if existing is not None:
                why = _deadline_update_error(existing.obj["spec"], obj["spec"])
                if why:
                    errors.append(f'Pod "{name}" is invalid: {why}')
                    continue
                images_changed.append((existing, obj))
            prepared.append(obj)
        if errors:
            raise ApplyError(errors)
        for worker, obj in images_changed:
            deadline = obj["spec"].get("activeDeadlineSeconds")
            changed_deadline = deadline != worker.obj["spec"].get("activeDeadlineSeconds")
            if changed_deadline and isinstance(deadline, int):
                worker.obj["spec"]["activeDeadlineSeconds"] = deadline
                worker.machine.set_active_deadline(deadline)
                worker.wake()
            if _take_images(worker.obj, obj) or changed_deadline:
                # The worker caches its snapshot by status version; the spec changed.
                worker._snapshot = worker._published = None
                self.store.put_object(worker.obj)
        out = []
        for obj in prepared:
            ctl = self._controller(obj["kind"])
            if ctl is not None:
                out.append(await ctl.apply(obj))
                continue
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            if key in self.pods:
                out.append(self._update_pod_metadata(self.pods[key], obj["metadata"]))
            else:
                out.append(self._create_pod(obj).snapshot())
        return out

    def _create_pod(
        self, obj: Obj, restored: bool = False, adopting: Sequence[Obj] = ()
    ) -> PodWorker:
        from podkeeper.manifest import pod_from_object

        if self._stopping.is_set():
            # A pod created during the drain would never be drained: its containers
            # would outlive the agent.
            raise ApplyError(["the agent is shutting down: no new pods"])

        meta = obj["metadata"]
        meta.setdefault("namespace", "default")
        if not _is_uuid(meta.get("uid")):
            # The uid names the pod's log folder, sandbox record, netns and cgroup: a
            # user-given one such as "../../x" must never reach a path (issue 13 item 14).
            # The API server always makes its own (`FillObjectMetaSystemFields`).
            meta["uid"] = str(uuid.uuid4())
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
        adopted = [
            AdoptedInstance(
                str(e["container"]),
                str(e["instance_id"]),
                int(e.get("restart_count", 0)),
                # Wall-clock start back on this agent's monotonic clock.
                float(e["state"].get("started_at") or time.time()) - self.wall_offset,
                bool(e.get("started", True)),
                bool(e.get("ready", False)),
            )
            for e in adopting
        ]
        machine = PodMachine(
            pod,
            now,
            pod_ip="",  # the sandbox gives it (podworker), before any container starts
            node_name=self.node_name,
            wall_offset=self.wall_offset,
            jitters=jitters,
            adopted=adopted,
        )
        worker = PodWorker(self, obj, pod, machine, self._pod_changed, adopting=list(adopting))
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
        if self._handler_of(pod.spec.runtime_class_name) == "process":
            for c in pod.all_containers():
                if c.security_context and c.security_context.read_only_root_filesystem:
                    # issue 13: honoured where the runtime has a root filesystem (CRI).
                    self.record_event(
                        worker,
                        Event(
                            "Warning",
                            "ReadOnlyRootFilesystemNotEnforced",
                            f"container {c.name!r}: the process runtime runs host binaries on"
                            " the host's filesystem, which it cannot make read-only; use an"
                            " image runtime (--runtime containerd) for readOnlyRootFilesystem",
                            None,
                            now,
                        ),
                    )
        worker.start()
        asyncio.get_running_loop().create_task(self._reap_pod(worker))
        if restored:
            log.info("restored pod %s/%s from the state database", meta["namespace"], meta["name"])
        return worker

    async def _rotate_logs_periodically(self) -> None:
        """The kubelet's container log manager: rotate running containers' logs that grew
        past containerLogMaxSize (runtime/logrotate.py)."""
        policy = LogPolicy.from_env()
        while True:
            await asyncio.sleep(LOG_MONITOR_PERIOD)
            paths = [i.log_path for w in self.pods.values() for i in w.instances.values()]
            if paths:
                await asyncio.to_thread(rotate_all, paths, policy)

    async def _evict_periodically(self) -> None:
        """The kubelet's eviction manager (`core/eviction.py`): every monitoring period,
        node pressure from the host's signals and at most one pod evicted."""
        period = float(os.environ.get(EVICTION_PERIOD_ENV) or EVICTION_PERIOD)
        thresholds = configured_thresholds()
        while True:
            await asyncio.sleep(period)
            workers = [
                w
                for w in self.pods.values()
                if not (w.machine.finished or w.machine.deleting or w.machine.evicted)
            ]
            stats, usages = await asyncio.to_thread(self._observe, workers)
            decision = decide(stats, thresholds, usages)
            self._set_pressure(decision.pressure)
            if decision.evict is not None:
                ns, _, name = decision.evict.pod.partition("/")
                worker = self.pods.get((ns, name))
                if worker is not None:
                    log.warning("evicting pod %s: %s", decision.evict.pod, decision.evict.message)
                    worker.machine.evict(EVICTED, decision.evict.message, self.now())
                    worker.wake()

    def _observe(self, workers: list[PodWorker]) -> tuple[NodeStats, list[PodUsage]]:
        usages = []
        for w in workers:
            containers = []
            for inst in w.instances.values():
                spec = w.pod.container(inst.container)
                requests = {}
                if spec.resources.requests_memory is not None:
                    requests[MEMORY] = spec.resources.requests_memory
                containers.append(
                    ContainerUsage(inst.container, w.runtime.usage(inst.handle), requests)
                )
            usages.append(PodUsage(f"{w.namespace}/{w.name}", tuple(containers)))
        return read_node_stats(self.home), usages

    def _set_pressure(self, pressure: dict[str, bool]) -> None:
        """Node conditions and their events on a change (`nodestatus` setters' events)."""
        for resource, under in pressure.items():
            if self.node_pressure.get(resource, False) == under:
                continue
            self.node_pressure[resource] = under
            reason = PRESSURE_EVENTS[resource][under]
            message = f"Node {self.node_name} status is now: {reason}"
            obj = self._event_obj(
                "default",
                self.node_name,
                "",
                None,
                Event("Normal", reason, message, None, self.now()),
            )
            obj["involvedObject"].update(kind="Node", name=self.node_name, uid=self.node_name)
            obj["involvedObject"].pop("namespace", None)
            self._record(obj)

    def _update_pod_metadata(self, worker: PodWorker, meta: Obj) -> Obj:
        """Labels and annotations of a running pod are mutable (`kubectl label`, `apply`)."""
        current = worker.obj["metadata"]
        changed = False
        for field in ("labels", "annotations"):
            if current.get(field) != meta.get(field):
                changed = True
                if meta.get(field):
                    current[field] = dict(meta[field])
                else:
                    current.pop(field, None)
        if changed:
            worker._snapshot = None  # the cached snapshot keys on status, not labels
            self._pod_changed(worker)
            worker.volumes_changed()  # downwardAPI volumes show labels and annotations
            # A container waiting on a config error (a subPathExpr or env from an
            # annotation) is tried again with the new metadata, as at the next pod sync.
            worker.config_changed()
        return worker.snapshot()

    async def _reap_pod(self, worker: PodWorker) -> None:
        await worker.finished.wait()
        if worker.machine.deleting:
            # The kubelet removes a deleted pod's /var/log/pods folder (issue 13 item 11);
            # its history (termination records with their last log lines) stays.
            meta = worker.pod.metadata
            folder = pod_log_dir(str(self.home), meta.namespace, meta.name, meta.uid)
            await asyncio.to_thread(shutil.rmtree, folder, True)
        key = (worker.namespace, worker.name)
        if self.pods.get(key) is worker:
            del self.pods[key]
            self.store.delete_object("Pod", worker.namespace, worker.name)
        self.save_pids()
        snapshot = worker.snapshot()
        self.metrics.forget_pod(worker.pod.metadata.uid)
        for c in self.controllers:
            c.pod_gone(snapshot)

    def _config_changed(self, namespace: str) -> None:
        """A ConfigMap or Secret of `namespace` changed: pods waiting for one retry now."""
        for (ns, _), worker in list(self.pods.items()):
            if ns == namespace:
                worker.config_changed()
                worker.volumes_changed()  # configMap/secret volumes resync now

    def _pod_changed(self, worker: PodWorker) -> None:
        if worker.machine.finished:
            return
        self.save_pids()  # readiness and startup go to containers.json for an adoption
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

    async def write_pod_status(self, namespace: str, name: str, status: Obj) -> Obj | None:
        """A pod's status written through the API (pods/status); None when no such pod."""
        w = self.pods.get((namespace, name))
        return None if w is None else w.write_status(status)

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

    async def open_image_runtime(self) -> Obj:
        """The containerd handler's runtime, opened beside the default one if need be
        (`podkeeper image` on an agent of host binaries); RuntimeError saying why not."""
        from podkeeper.runtime.cri import CriRuntime

        assert self.runtimes is not None
        self.runtimes.forget_failure("containerd")  # asked again: try again
        slot = await self.runtimes.get("containerd")
        if not isinstance(slot.runtime, CriRuntime):
            raise RuntimeError(f"the {slot.runtime.name} runtime has no images")
        return {"runtime": slot.runtime.name, "criEndpoint": slot.runtime.client.endpoint}

    def runtime_name(self, namespace: str, pod: str) -> str:
        """process, containerd or cri: how `kubectl exec` reaches the pod's containers."""
        w = self.pods.get((namespace, pod))
        return w.runtime.name if w is not None else self.runtime.name

    async def exec_captured(
        self, namespace: str, pod: str, container: str, command: list[str]
    ) -> tuple[int, bytes, bytes]:
        """Run `command` in the running instance of `container` on an image runtime (CRI
        ExecSync, as the kubelet's `RunInContainer`): (exit code, stdout, stderr).
        LookupError when the container is not running; RuntimeError from the runtime."""
        from podkeeper.runtime.cri import CriError, CriRuntime

        w = self.pods.get((namespace, pod))
        rt = w.runtime if w is not None else self.runtime
        if not isinstance(rt, CriRuntime):
            raise RuntimeError(f"the {rt.name} runtime runs exec on the host, not through CRI")
        inst = None
        if w is not None:
            live = [i for i in w.instances.values() if i.container == container]
            inst = live[-1] if live else None
        if inst is None:
            raise LookupError(f'container not found ("{container}")')
        try:
            return await rt.exec_capture(inst.handle, command)
        except CriError as err:
            raise RuntimeError(str(err)) from None

    def exec_stream_argv(
        self, namespace: str, pod: str, container: str, command: list[str]
    ) -> list[str]:
        """The host command line that runs `command` in the running instance of `container`
        of an image pod with its stdio streamed (`kubectl exec -i`; CriRuntime
        `exec_stream_argv`). LookupError when not running; RuntimeError when not possible."""
        from podkeeper.runtime.cri import CriRuntime

        w = self.pods.get((namespace, pod))
        rt = w.runtime if w is not None else self.runtime
        if not isinstance(rt, CriRuntime):
            raise RuntimeError(f"the {rt.name} runtime runs exec on the host, not through CRI")
        live = [i for i in w.instances.values() if i.container == container] if w else []
        if not live:
            raise LookupError(f'container not found ("{container}")')
        return rt.exec_stream_argv(live[-1].handle, command)

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
            # Every runtime this agent has opened, the default first (runtime/runtimes.py).
            "runtimes": [s.runtime.name for s in self.runtimes.opened()] if self.runtimes else [],
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

    def _store_degraded(self, why: str | None) -> None:
        """The state database stopped (or resumed) taking writes (issue 13 item 9): say so
        on the node and on every pod, whose events and terminations are kept in memory
        meanwhile; the pods go on being supervised."""
        if why is not None:
            reason = "StateNotSaved"
            message = (
                f"cannot write the state database {self.store.path}: {why}; events and"
                " terminations are kept in memory until space returns"
            )
        else:
            reason, message = "StateSaved", "the state database is writable again: all saved"
        self._record_node_event(reason, message)
        for w in list(self.pods.values()):
            etype = "Warning" if why is not None else "Normal"
            self.record_event(w, Event(etype, reason, message, None, self.now()))

    def _record_node_event(self, reason: str, message: str) -> None:
        """A Warning event about this node (as the kubelet reports node problems)."""
        obj = self._event_obj(
            "default", self.node_name, "", None, Event("Warning", reason, message, None, self.now())
        )
        obj["involvedObject"].update(kind="Node", name=self.node_name, uid=self.node_name)
        obj["involvedObject"].pop("namespace", None)
        self._record(obj)

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
        self.save_pids()

    def record_start_error(
        self, worker: PodWorker, a: StartContainer, message: str, log_path: str
    ) -> None:
        self.store.add_instance(instance_record(worker, a, log_path, time.time()))
        self.store.add_termination(start_error_record(worker, a, message))

    def termination_message(
        self, worker: PodWorker, container: Container, info: ExitInfo, inst: InstanceRuntime
    ) -> str:
        return termination_message(
            container, info, inst.log_path, inst.message_file, len(worker.pod.all_containers())
        )

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
        self.save_pids()

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


#: How long a restart waits for its restored pods to be back before it serves applies.
RESTORE_TIMEOUT = 60.0
#: `--eviction-monitoring-period` (seconds), from the agent's env.
EVICTION_PERIOD_ENV = "PODKEEPER_EVICTION_MONITORING_PERIOD"
EVICTION_PERIOD = 10.0
#: The node events the kubelet records when a pressure condition changes.
PRESSURE_EVENTS = {
    MEMORY: {True: "NodeHasInsufficientMemory", False: "NodeHasSufficientMemory"},
    EPHEMERAL_STORAGE: {True: "NodeHasDiskPressure", False: "NodeHasNoDiskPressure"},
}

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


def make_sandboxes(
    home: Path, describe: Callable[[str], PodSandboxSpec | None] | None = None
) -> SandboxManager:
    """Network-namespace sandboxes when this build has them and runs as root, else host
    (where a pod's ports are the host's own, so hostPort needs nothing).
    `describe` tells a pod's hostname and hostPorts by its uid."""
    try:
        from podkeeper.runtime.process.sandbox import NamespaceSandboxes
    except ModuleNotFoundError:
        return HostSandboxes()
    manager = NamespaceSandboxes.for_home(home)
    if manager is None:
        return HostSandboxes()
    if describe is not None:
        manager.describe = describe
    return manager


def _is_uuid(value: object) -> bool:
    """`value` is a UUID in its canonical text form."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


_IMAGE_LISTS = ("containers", "initContainers")


def _without_images(spec: Obj) -> Obj:
    out = {k: v for k, v in spec.items() if k not in ("nodeName", "activeDeadlineSeconds")}
    for key in _IMAGE_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[key]
            ]
    return out


def _spec_changed(applied: Obj, new: Obj) -> bool:
    """Whether a re-applied pod spec differs in a field that cannot change, ignoring what
    the agent itself filled in, `spec.containers[*].image` /
    `spec.initContainers[*].image` and `spec.activeDeadlineSeconds` (checked by
    `_deadline_update_error`), which `ValidatePodUpdate`
    (pkg/apis/core/validation/validation.go) lets change (issue 13 item 16)."""
    return _without_images(applied) != _without_images(new)


def _deadline_update_error(applied: Obj, new: Obj) -> str:
    """`ValidatePodUpdate` on activeDeadlineSeconds: it may be set or lowered, never
    raised or removed; "" when the update is allowed."""
    old, value = applied.get("activeDeadlineSeconds"), new.get("activeDeadlineSeconds")
    where = "spec.activeDeadlineSeconds: Invalid value"
    if value is None:
        if old is not None:
            return f"{where}: null: must not update from a positive integer to nil value"
        return ""
    if isinstance(old, int) and isinstance(value, int) and value > old:
        return f"{where}: {value}: must be less than or equal to previous value"
    return ""


def _take_images(current: Obj, new: Obj) -> bool:
    """Copy the containers' images of the re-applied pod `new` into `current`'s spec.

    The new image shows in the pod's spec; the containers keep running (the
    kubelet would restart a container whose image changed: not done here yet).
    True when an image changed."""
    changed = False
    for key in _IMAGE_LISTS:
        for cur, upd in zip(
            current["spec"].get(key) or [], new["spec"].get(key) or [], strict=False
        ):
            if isinstance(cur, dict) and isinstance(upd, dict) and "image" in upd:
                changed = changed or cur.get("image") != upd["image"]
                cur["image"] = upd["image"]
    return changed


def _proc_start(pid: int) -> str | None:
    """The process start time from /proc (field 22), to tell a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data.rpartition(")")[2].split()[19]

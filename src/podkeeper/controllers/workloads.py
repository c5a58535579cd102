"""Jobs, CronJobs, StatefulSets, DaemonSets and PersistentVolumeClaims inside the agent (issue 12).

`WorkloadController` is one `Controller` (controllers/interface.py) serving five kinds,
the way kube-controller-manager runs the job, cronjob, statefulset and daemonset
controllers side by side over one informer cache. It keeps the objects (in memory and
in the agent's object store, so a restarted agent finds them again), tracks the pods
they own (by ownerReference uid), and turns "something changed" into one coalesced
sync per object. The decisions are the core's (`core/job.py`, `core/cron.py`,
`core/statefulset.py`); the per-kind drivers in `jobs.py`, `cronjobs.py`,
`statefulsets.py` and `daemonsets.py` only read pods, call the core and carry out
its answer through the `PodHost`.

PersistentVolumeClaims are bound at once to a local directory,
`$PODKEEPER_HOME/volumes/pvc/<namespace>/<claim>` (the contract with the volume
sources, briefs/contracts.md item 2), as a local-path provisioner would.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import logging
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podkeeper.controllers.interface import Obj, ObjectStore, PodHost

log = logging.getLogger("podkeeper.workloads")

#: (kind, namespace, name)
Key = tuple[str, str, str]
PodKey = tuple[str, str]

#: Seconds after start() within which the agent brings back the pods it had stored.
RESTORE_GRACE = 5.0
#: Rounds of syncs per flush before giving the loop back.
MAX_ROUNDS = 20
#: Seconds added to timer deadlines (comparisons are strict).
TIMER_SLACK = 0.01
#: Kinds whose pods this controller owns.
POD_OWNERS = ("Job", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class WorkloadSettings:
    """Knobs of the workload controllers.

    `job_backoff_base`: seconds of the Job controller's first failed-pod back-off
    (`DefaultJobPodFailureBackOff`, 10 s, doubling to 6 min); env
    `PODKEEPER_JOB_BACKOFF_SECONDS` scales it down for tests.
    `cron_minute_seconds`: how many real seconds one CronJob minute lasts (60);
    env `PODKEEPER_CRON_MINUTE_SECONDS` makes the CronJob clock run faster for tests
    (schedules, Job names and lastScheduleTime are then in the scaled time).
    `pvc_root`: where claims' directories live (`<home>/volumes/pvc`)."""

    job_backoff_base: float = 10.0
    cron_minute_seconds: float = 60.0
    pvc_root: Path | None = None

    @classmethod
    def from_env(cls, home: Path | None) -> WorkloadSettings:
        def num(name: str, default: float) -> float:
            try:
                value = float(os.environ.get(name, ""))
            except ValueError:
                return default
            return value if value > 0 else default

        return cls(
            job_backoff_base=num("PODKEEPER_JOB_BACKOFF_SECONDS", 10.0),
            cron_minute_seconds=num("PODKEEPER_CRON_MINUTE_SECONDS", 60.0),
            pvc_root=home / "volumes" / "pvc" if home is not None else None,
        )


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def epoch_of(text: Any) -> float | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace") or "default"), str(meta["name"]))


def is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def phase_of(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


@dataclass
class TrackedPod:
    """A pod owned by one of our objects: its latest snapshot and when we saw things."""

    owner: Key
    snapshot: Obj
    seen_ready_at: float | None = None  # monotonic, when it last became Ready
    finished_at: float | None = None  # monotonic, when first seen Succeeded/Failed
    restoring: bool = False
    deleted_by_controller: bool = False  # we deleted it (not the user, not an eviction)


@dataclass
class Record:
    """One object of ours: the API object (status included) and driver-private state."""

    obj: Obj
    created: float  # monotonic
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])

    @property
    def spec(self) -> Obj:
        spec: Obj = self.obj.setdefault("spec", {})
        return spec

    @property
    def status(self) -> Obj:
        status: Obj = self.obj.setdefault("status", {})
        return status


SyncFn = Callable[["WorkloadController", Key], None]


class WorkloadController:
    """Implements `podkeeper.controllers.interface.Controller` for the batch and apps kinds
    beyond Deployments: Job, CronJob, StatefulSet, DaemonSet, PersistentVolumeClaim."""

    kinds = ("Job", "CronJob", "StatefulSet", "DaemonSet", "PersistentVolumeClaim")

    def __init__(
        self,
        settings: WorkloadSettings | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or WorkloadSettings()
        self.rng = rng or random.Random()
        self.wall = wall
        #: The CronJob clock's anchor: a scaled clock runs faster from here (cronjobs.py).
        self.cron_anchor = wall()
        self._host: PodHost | None = None
        self.objects: dict[Key, Record] = {}
        self.pods: dict[PodKey, TrackedPod] = {}
        self._dirty: set[Key] = set()
        self._persist: set[Key] = set()
        self._handle: asyncio.Handle | None = None
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._flushing = False
        self._stopped = False
        self._restoring = True
        #: Wake-ups asked for without a running loop (synchronous tests read them).
        self.wakeups: dict[Key, float] = {}

    # ------------------------------------------------------------- lifecycle

    @property
    def host(self) -> PodHost:
        assert self._host is not None, "WorkloadController used before start()"
        return self._host

    @property
    def store(self) -> ObjectStore:
        """Where the objects outlive the agent (the host's object store)."""
        return self.host.store

    def now(self) -> float:
        return self.host.now()

    async def start(self, host: PodHost) -> None:
        self._host = host
        self._load()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._restoring = False
            return
        loop.call_later(RESTORE_GRACE, self._settle_restored)
        loop.call_soon(self._mark_all)

    async def stop(self) -> None:
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()

    def _mark_all(self) -> None:
        for key in self.objects:
            self.mark(key)

    def _settle_restored(self) -> None:
        """Forget stored pods the agent did not bring back after a restart."""
        self._restoring = False
        if self._host is None or self._stopped:
            return
        live = {
            (str(s["metadata"].get("namespace") or "default"), str(s["metadata"]["name"]))
            for s in self.host.pod_snapshots(None)
        }
        for pkey, tracked in list(self.pods.items()):
            if tracked.restoring and pkey not in live:
                self.pods.pop(pkey)
                self.mark(tracked.owner)
        self._mark_all()

    # ------------------------------------------------------------ Controller

    def validate(self, obj: Obj) -> list[str]:
        kind = str(obj.get("kind"))
        from podkeeper.controllers import cronjobs, jobs, statefulsets

        existing = self.objects.get(key_of(obj))
        if kind == "CronJob":
            return cronjobs.validate(obj)
        if kind == "Job":
            return jobs.validate(obj, existing.obj if existing else None)
        if kind == "StatefulSet":
            return statefulsets.validate(obj, existing.obj if existing else None)
        if (
            kind == "DaemonSet"
            and existing is not None
            and existing.spec.get("selector") != (obj.get("spec") or {}).get("selector")
        ):
            return [
                f'DaemonSet.apps "{obj["metadata"]["name"]}" is invalid: spec.selector: '
                f"Invalid value: {obj['spec'].get('selector')}: field is immutable"
            ]
        return []

    async def apply(self, obj: Obj) -> Obj:
        key = self.put(obj)
        self.flush()
        out = self.get(*key)
        assert out is not None
        return out

    def put(self, obj: Obj) -> Key:
        """Create or update an object (defaulted and validated); returns its key."""
        from podkeeper.controllers import jobs, pvcs

        new = copy.deepcopy(obj)
        key = key_of(new)
        meta = new["metadata"]
        meta["namespace"] = key[1]
        for server_field in ("uid", "creationTimestamp", "generation", "resourceVersion"):
            meta.pop(server_field, None)
        existing = self.objects.get(key)
        if existing is None:
            new.pop("status", None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339(self.wall()))
            meta["generation"] = 1
            rec = Record(new, self.now())
            self.objects[key] = rec
            if key[0] == "Job":
                jobs.prepare_new(rec)
            elif key[0] == "PersistentVolumeClaim":
                pvcs.bind(self, rec)
        else:
            old = existing.obj
            new["status"] = old.get("status") or {}
            changed = old.get("spec") != new.get("spec")
            if key[0] == "Job":
                jobs.keep_server_fields(old, new)
                changed = old.get("spec") != new.get("spec")
            elif key[0] == "PersistentVolumeClaim":
                new["spec"] = old.get("spec")  # claims are immutable once bound (but labels)
                changed = False
            meta.update(
                uid=old["metadata"]["uid"],
                creationTimestamp=old["metadata"].get("creationTimestamp"),
            )
            meta["generation"] = int(old["metadata"].get("generation", 1)) + (1 if changed else 0)
            existing.obj = new
        self._persist.add(key)
        self.mark(key)
        return key

    async def delete(self, kind: str, namespace: str, name: str, grace: int | None) -> Obj | None:
        key = (kind, namespace, name)
        if key not in self.objects:
            return None
        return self.remove(key, grace)

    def remove(self, key: Key, grace: int | None = None) -> Obj | None:
        """Delete an object with background cascading deletion of what it owns."""
        from podkeeper.controllers import pvcs

        rec = self.objects.pop(key, None)
        if rec is None:
            return None
        out = copy.deepcopy(rec.obj)
        out["metadata"]["deletionTimestamp"] = rfc3339(self.wall())
        self._cancel_timer(key)
        self._dirty.discard(key)
        self._persist.discard(key)
        self.store.delete_object(*key)
        # The garbage collector: dependents go with their owner (claims of a StatefulSet
        # stay: persistentVolumeClaimRetentionPolicy defaults to Retain).
        for pkey, tracked in list(self.pods.items()):
            if tracked.owner == key:
                self.delete_pod(pkey, grace)
        for other_key, other in list(self.objects.items()):
            if other_key[0] == "Job" and self.controller_of(other.obj) == rec.uid:
                self.remove(other_key, grace)
        if key[0] == "PersistentVolumeClaim":
            pvcs.release(self, rec)
        elif key[0] == "StatefulSet":
            from podkeeper.controllers import statefulsets

            statefulsets.on_delete(self, rec)
        owner = self.owner_key(rec.obj)
        if owner is not None:
            self.mark(owner)
        return out

    def list(self, kind: str, namespace: str | None) -> list[Obj]:
        return [
            copy.deepcopy(r.obj)
            for k, r in sorted(self.objects.items())
            if k[0] == kind and (namespace is None or k[1] == namespace)
        ]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        rec = self.objects.get((kind, namespace, name))
        return copy.deepcopy(rec.obj) if rec is not None else None

    def pod_changed(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        pkey = (str(meta.get("namespace") or "default"), str(meta.get("name", "")))
        tracked = self.pods.get(pkey)
        owner = tracked.owner if tracked is not None else self.owner_key(pod)
        if owner is None or owner[0] not in POD_OWNERS or owner not in self.objects:
            return
        now = self.now()
        if tracked is None:
            tracked = TrackedPod(owner, pod)
            self.pods[pkey] = tracked
        tracked.restoring = False
        tracked.snapshot = pod
        if is_ready(pod) and phase_of(pod) == "Running":
            if tracked.seen_ready_at is None:
                tracked.seen_ready_at = now
        else:
            tracked.seen_ready_at = None
        if phase_of(pod) in ("Succeeded", "Failed") and tracked.finished_at is None:
            tracked.finished_at = now
        self.mark(owner)

    def pod_gone(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        pkey = (str(meta.get("namespace") or "default"), str(meta.get("name", "")))
        tracked = self.pods.pop(pkey, None)
        if tracked is not None:
            if tracked.owner[0] == "Job" and tracked.owner in self.objects:
                from podkeeper.controllers import jobs

                jobs.pod_lost(self, self.objects[tracked.owner], tracked, pod)
            self.mark(tracked.owner)

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        del pod, budget

    # ------------------------------------------------------------ ownership

    @staticmethod
    def controller_of(obj: Obj) -> str | None:
        """The uid of the object's controller (its `controller: true` ownerReference)."""
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("controller"):
                return str(ref.get("uid"))
        return None

    def owner_key(self, obj: Obj) -> Key | None:
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or "default")
        for ref in meta.get("ownerReferences") or []:
            if not isinstance(ref, dict) or not ref.get("controller"):
                continue
            key = (str(ref.get("kind")), ns, str(ref.get("name")))
            rec = self.objects.get(key)
            if rec is not None and rec.uid == ref.get("uid"):
                return key
        return None

    def owned_pods(self, key: Key) -> builtins.list[TrackedPod]:
        return [t for pk, t in sorted(self.pods.items()) if t.owner == key]

    def owned(self, key: Key, kind: str) -> builtins.list[Record]:
        rec = self.objects.get(key)
        if rec is None:
            return []
        return [
            r
            for k, r in sorted(self.objects.items())
            if k[0] == kind and k[1] == key[1] and self.controller_of(r.obj) == rec.uid
        ]

    @staticmethod
    def owner_reference(rec: Record) -> Obj:
        return {
            "apiVersion": str(rec.obj.get("apiVersion", "")),
            "kind": str(rec.obj.get("kind", "")),
            "name": str(rec.obj["metadata"]["name"]),
            "uid": rec.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    # ------------------------------------------------------------ pods

    def random_suffix(self) -> str:
        from podkeeper.core import replicaset as rsmath

        return rsmath.random_suffix(
            self.rng.randrange(len(rsmath.ALPHANUMS)) for _ in range(rsmath.RANDOM_LENGTH)
        )

    def generated_name(self, namespace: str, prefix: str) -> str:
        """`<prefix><5 chars>` not used by a live pod (the API server's generateName)."""
        from podkeeper.core import replicaset as rsmath

        taken = {p for (ns, p) in self.pods if ns == namespace}
        taken |= {
            str(s["metadata"]["name"])
            for s in self.host.pod_snapshots(namespace)
            if isinstance(s.get("metadata"), dict)
        }
        while True:
            name = rsmath.generate_name(prefix, self.random_suffix())
            if name not in taken:
                return name

    def create_pod(
        self,
        owner: Key,
        name: str,
        template: Obj,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        generate_name: str | None = None,
        edit: Callable[[Obj], None] | None = None,
    ) -> bool:
        """Create a pod of `owner` from its pod template; records the controller's event."""
        from podkeeper.manifest import default_object

        rec = self.objects[owner]
        ns = owner[1]
        tmeta = template.get("metadata") or {}
        meta: Obj = {
            "name": name,
            "namespace": ns,
            "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
            "ownerReferences": [self.owner_reference(rec)],
        }
        if generate_name:
            meta["generateName"] = generate_name
        ann = {**(tmeta.get("annotations") or {}), **(annotations or {})}
        if ann:
            meta["annotations"] = ann
        pod = default_object(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
        )
        if edit is not None:
            edit(pod)
        # Track first: the host may report the new pod synchronously.
        self.pods[(ns, name)] = TrackedPod(owner, pod)
        try:
            self.host.create_pod(pod)
        except Exception as exc:
            log.warning("could not create pod %s for %s %s: %s", name, owner[0], owner[2], exc)
            self.pods.pop((ns, name), None)
            self.event(rec.obj, "Warning", "FailedCreate", f"Error creating: {exc}")
            return False
        return True

    def delete_pod(self, pkey: PodKey, grace: int | None = None) -> None:
        tracked = self.pods.get(pkey)
        if tracked is None:
            return
        if deleting(tracked.snapshot):
            return
        tracked.snapshot = copy.deepcopy(tracked.snapshot)
        tracked.snapshot.setdefault("metadata", {})["deletionTimestamp"] = rfc3339(self.wall())
        tracked.deleted_by_controller = True
        if self.host.delete_pod(pkey[0], pkey[1], grace) is None:
            self.pods.pop(pkey, None)  # already gone

    def event(self, obj: Obj, type_: str, reason: str, message: str, component: str = "") -> None:
        component = component or _COMPONENTS.get(str(obj.get("kind")), "controller-manager")
        try:
            self.host.record_object_event(obj, type_, reason, message, component)
        except Exception:
            log.exception("could not record event %s %s", reason, message)

    # ------------------------------------------------------------ scheduling

    def mark(self, key: Key) -> None:
        if key not in self.objects:
            return
        self._dirty.add(key)
        rec = self.objects[key]
        self._persist.add(key)
        owner = self.owner_key(rec.obj)
        if owner is not None and owner[0] == "CronJob":
            self._dirty.add(owner)
        self._schedule()

    def _schedule(self) -> None:
        if self._handle is not None or self._flushing or self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a synchronous test flushes by hand
        self._handle = loop.call_soon(self.flush)

    def wake_at(self, key: Key, at: float | None) -> None:
        """Sync `key` again at monotonic time `at` (the earliest request wins)."""
        if at is None or self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.wakeups[key] = min(at, self.wakeups.get(key, at))
            return
        when = loop.time() + max(0.0, at - self.now()) + TIMER_SLACK
        existing = self._timers.get(key)
        if existing is not None and not existing.cancelled() and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.mark(key)

        self._timers[key] = loop.call_at(when, fire)

    def _cancel_timer(self, key: Key) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def flush(self) -> None:
        """Sync every dirty object until nothing changes any more."""
        from podkeeper.controllers import cronjobs, daemonsets, jobs, statefulsets

        syncs: dict[str, SyncFn] = {
            "Job": jobs.sync,
            "CronJob": cronjobs.sync,
            "StatefulSet": statefulsets.sync,
            "DaemonSet": daemonsets.sync,
        }
        self._handle = None
        if self._flushing or self._stopped:
            return
        self._flushing = True
        try:
            for _ in range(MAX_ROUNDS):
                if not self._dirty:
                    break
                # CronJobs after Jobs: a Job that just finished is seen as finished.
                order = {"Job": 0, "StatefulSet": 1, "DaemonSet": 2, "CronJob": 3}
                keys = sorted(self._dirty, key=lambda k: (order.get(k[0], 9), k))
                self._dirty = set()
                for key in keys:
                    fn = syncs.get(key[0])
                    if fn is not None and key in self.objects:
                        try:
                            fn(self, key)
                        except Exception:
                            log.exception("sync of %s %s/%s failed", *key)
            self._write_store()
        finally:
            self._flushing = False
        if self._dirty:
            self._schedule()

    # ------------------------------------------------------------ persistence

    def _write_store(self) -> None:
        for key in sorted(self._persist):
            rec = self.objects.get(key)
            if rec is not None:
                self.store.put_object(rec.obj)
        self._persist.clear()

    def _load(self) -> None:
        now = self.now()
        for kind in self.kinds:
            for obj in self.store.list_objects(kind, None):
                epoch = epoch_of((obj.get("metadata") or {}).get("creationTimestamp"))
                created = now - max(0.0, self.wall() - epoch) if epoch is not None else now
                self.objects[key_of(obj)] = Record(obj, created)
        for obj in self.store.list_objects("Pod", None):
            owner = self.owner_key(obj)
            if owner is None or owner[0] not in POD_OWNERS:
                continue
            meta = obj.get("metadata") or {}
            pkey = (str(meta.get("namespace") or "default"), str(meta.get("name")))
            self.pods[pkey] = TrackedPod(owner, obj, restoring=True)
        if self.objects:
            log.info("restored %d workload objects from the state database", len(self.objects))


_COMPONENTS = {
    "Job": "job-controller",
    "CronJob": "cronjob-controller",
    "StatefulSet": "statefulset-controller",
    "DaemonSet": "daemonset-controller",
    "PersistentVolumeClaim": "persistentvolume-controller",
}


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

"""Jobs, CronJobs, StatefulSets, DaemonSets and PersistentVolumeClaims inside the agent (issue 12).

`WorkloadController` is one `Controller` (controllers/interface.py) serving five kinds,
the way kube-controller-manager runs the job, cronjob, statefulset and daemonset
controllers side by side over one informer cache. The bookkeeping they share is the
`OwnerLoop`'s (controllers/ownerloop.py): it keeps the objects (in memory and in the
host's `ObjectStore`, so a restarted agent finds them again), tracks the pods they own
(by ownerReference uid), and turns "something changed" into one coalesced sync per
object. This module is the per-kind glue: admission (validate, server fields,
cascading deletion) and which driver syncs which kind. The decisions are the core's
(`core/job.py`, `core/cron.py`, `core/statefulset.py`); the per-kind drivers in
`jobs.py`, `cronjobs.py`, `statefulsets.py` and `daemonsets.py` only read pods, call
the core and carry out its answer through the `PodHost`.

PersistentVolumeClaims are bound at once to a local directory,
`$PODKEEPER_HOME/volumes/pvc/<namespace>/<claim>` (the contract with the volume
sources, briefs/contracts.md item 2), as a local-path provisioner would.
"""

from __future__ import annotations

import copy
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from podkeeper.controllers import cronjobs, daemonsets, jobs, pvcs, statefulsets
from podkeeper.controllers.interface import Obj
from podkeeper.controllers.ownerloop import MAX_ROUNDS, RESTORE_GRACE, TIMER_SLACK, OwnerLoop
from podkeeper.controllers.records import (
    Key,
    PodKey,
    Record,
    TrackedPod,
    deleting,
    epoch_of,
    is_ready,
    key_of,
    phase_of,
    remove_tree,
    rfc3339,
)

# The records and the loop's knobs were defined here before the split; drivers and tests
# may still import them from this module.
__all__ = [
    "MAX_ROUNDS",
    "POD_OWNERS",
    "RESTORE_GRACE",
    "TIMER_SLACK",
    "Key",
    "PodKey",
    "Record",
    "SyncFn",
    "TrackedPod",
    "WorkloadController",
    "WorkloadSettings",
    "deleting",
    "epoch_of",
    "is_ready",
    "key_of",
    "phase_of",
    "remove_tree",
    "rfc3339",
]

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


SyncFn = Callable[["WorkloadController", Key], None]

#: The driver that syncs each kind (a claim needs no sync: it is bound when created).
SYNCS: dict[str, SyncFn] = {
    "Job": jobs.sync,
    "CronJob": cronjobs.sync,
    "StatefulSet": statefulsets.sync,
    "DaemonSet": daemonsets.sync,
}

COMPONENTS = {
    "Job": "job-controller",
    "CronJob": "cronjob-controller",
    "StatefulSet": "statefulset-controller",
    "DaemonSet": "daemonset-controller",
    "PersistentVolumeClaim": "persistentvolume-controller",
}


class WorkloadController(OwnerLoop):
    """Implements `podkeeper.controllers.interface.Controller` for the batch and apps kinds
    beyond Deployments: Job, CronJob, StatefulSet, DaemonSet, PersistentVolumeClaim."""

    kinds = ("Job", "CronJob", "StatefulSet", "DaemonSet", "PersistentVolumeClaim")
    pod_owner_kinds = POD_OWNERS
    # A Job a CronJob made: the CronJob syncs again (its active list, its history limits).
    parent_kinds = ("CronJob",)
    # CronJobs after Jobs: a Job that just finished is seen as finished.
    sync_order: Mapping[str, int] = {"Job": 0, "StatefulSet": 1, "DaemonSet": 2, "CronJob": 3}
    components = COMPONENTS

    def __init__(
        self,
        settings: WorkloadSettings | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(rng, wall)
        self.settings = settings or WorkloadSettings()
        #: The CronJob clock's anchor: a scaled clock runs faster from here (cronjobs.py).
        self.cron_anchor = wall()

    # ------------------------------------------------------------ OwnerLoop hooks

    def sync(self, key: Key) -> None:
        fn = SYNCS.get(key[0])
        if fn is not None:
            fn(self, key)

    def pod_lost(self, owner: Record, tracked: TrackedPod, pod: Obj) -> None:
        if tracked.owner[0] == "Job":
            jobs.pod_lost(self, owner, tracked, pod)

    # ------------------------------------------------------------ Controller

    def validate(self, obj: Obj) -> list[str]:
        kind = str(obj.get("kind"))
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

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        del pod, budget

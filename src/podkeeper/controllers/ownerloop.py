"""`OwnerLoop`: the bookkeeping every workload controller shares (issue 12).

kube-controller-manager's job, statefulset and daemonset controllers each keep
an informer cache of their objects and the pods those own (`controller_ref_manager.go`:
a pod belongs to the object its `controller: true` ownerReference names, by uid),
create and delete pods with an event on failure (`controller_utils.go`
RealPodControl) and drain a work queue of object keys, one sync per key however
many changes marked it. This is that part, once: the objects (`Record`s, also
written to the host's `ObjectStore` so a restarted agent finds them again), the
pods they own (`TrackedPod`s, by pod key), and the coalesced sync loop with its
timers. What a kind does in a sync is the subclass's (`WorkloadController.sync`,
controllers/workloads.py, dispatching to the per-kind drivers).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Callable, Mapping

from podkeeper.controllers.interface import Obj, ObjectStore, PodHost
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
    rfc3339,
)

log = logging.getLogger("podkeeper.workloads")

#: Seconds after start() within which the agent brings back the pods it had stored.
RESTORE_GRACE = 5.0
#: Rounds of syncs per flush before giving the loop back.
MAX_ROUNDS = 20
#: Seconds added to timer deadlines (comparisons are strict).
TIMER_SLACK = 0.01


class OwnerLoop:
    """Objects that own pods, the pods they own, and one coalesced sync per object.

    A subclass names its kinds and implements `sync(key)` (and may react to a lost
    pod in `pod_lost`); everything else about keeping objects and pods is here."""

    #: The kinds kept (and reloaded from the store at start).
    kinds: tuple[str, ...] = ()
    #: Kinds whose pods are tracked here (a pod owned by another kind is not ours).
    pod_owner_kinds: tuple[str, ...] = ()
    #: Kinds synced again whenever an object they own is (a CronJob when its Job changes).
    parent_kinds: tuple[str, ...] = ()
    #: Sync order within a round, by kind (unlisted kinds last).
    sync_order: Mapping[str, int] = {}
    #: The component named on events about an object, by kind.
    components: Mapping[str, str] = {}

    def __init__(
        self, rng: random.Random | None = None, wall: Callable[[], float] = time.time
    ) -> None:
        self.rng = rng or random.Random()
        self.wall = wall
        self._host: PodHost | None = None
        self.objects: dict[Key, Record] = {}
        self.pods: dict[PodKey, TrackedPod] = {}
        self._dirty: set[Key] = set()
        self._persist: set[Key] = set()
        self._handle: asyncio.Handle | None = None
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._flushing = False
        self._stopped = False
        #: Wake-ups asked for without a running loop (synchronous tests read them).
        self.wakeups: dict[Key, float] = {}

    # ------------------------------------------------------------- subclass hooks

    def sync(self, key: Key) -> None:
        """Reconcile one object (it exists): the subclass's per-kind work."""
        raise NotImplementedError

    def pod_lost(self, owner: Record, tracked: TrackedPod, pod: Obj) -> None:
        """A pod of `owner` is gone (reaped by the agent), before its owner is marked."""
        del owner, tracked, pod

    # ------------------------------------------------------------- lifecycle

    @property
    def host(self) -> PodHost:
        assert self._host is not None, f"{type(self).__name__} used before start()"
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

    # ------------------------------------------------------------ the agent's pod hooks

    def pod_changed(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        pkey = (str(meta.get("namespace") or "default"), str(meta.get("name", "")))
        tracked = self.pods.get(pkey)
        owner = tracked.owner if tracked is not None else self.owner_key(pod)
        if owner is None or owner[0] not in self.pod_owner_kinds or owner not in self.objects:
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
            if tracked.owner in self.objects:
                self.pod_lost(self.objects[tracked.owner], tracked, pod)
            self.mark(tracked.owner)

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

    def owned_pods(self, key: Key) -> list[TrackedPod]:
        return [t for pk, t in sorted(self.pods.items()) if t.owner == key]

    def owned(self, key: Key, kind: str) -> list[Record]:
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
        component = component or self.components.get(str(obj.get("kind")), "controller-manager")
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
        if owner is not None and owner[0] in self.parent_kinds:
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
        self._handle = None
        if self._flushing or self._stopped:
            return
        self._flushing = True
        try:
            for _ in range(MAX_ROUNDS):
                if not self._dirty:
                    break
                order = self.sync_order
                keys = sorted(self._dirty, key=lambda k: (order.get(k[0], 9), k))
                self._dirty = set()
                for key in keys:
                    if key in self.objects:
                        try:
                            self.sync(key)
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
            if owner is None or owner[0] not in self.pod_owner_kinds:
                continue
            meta = obj.get("metadata") or {}
            pkey = (str(meta.get("namespace") or "default"), str(meta.get("name")))
            self.pods[pkey] = TrackedPod(owner, obj, restoring=True)
        if self.objects:
            log.info("restored %d workload objects from the state database", len(self.objects))

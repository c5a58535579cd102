"""Deployments and ReplicaSets inside the agent (issue 4, section 2).

`DeploymentController` plays two kube-controller-manager loops at once:

* the ReplicaSet controller (`pkg/controller/replicaset/replica_set.go`
  manageReplicas / calculateStatus): keeps `spec.replicas` active pods per
  ReplicaSet, naming them `<rs>-<5 chars>`, deleting the lowest-ranked first;
* the Deployment controller (`pkg/controller/deployment/deployment_controller.go`
  syncDeployment): finds or creates the new ReplicaSet
  (`<deploy>-<pod-template-hash>`), scales it and the old ones with the
  RollingUpdate / Recreate arithmetic of `podkeeper.core.rollout`, keeps
  revisions and history, and writes status and conditions.

The decisions are the core's; this module only keeps the objects, turns pod
snapshots into `PodState`s, creates and deletes pods through the `PodHost`,
records events and arms timers (minReadySeconds, progressDeadlineSeconds).

Work is coalesced: a pod change only marks its ReplicaSet and Deployment dirty
and schedules one `flush` on the loop, so a burst of probe results costs one sync.
A sync loops until nothing scales any more, as the real controllers would after
each other's updates.

Objects live in memory and are written to the host's `ObjectStore` (the agent's
state database) too and reloaded at start, so that the pods an agent restores
after a crash find their ReplicaSet again (by ownerReference uid).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from podkeeper.controllers.interface import Obj, ObjectStore, PodHost
from podkeeper.core import replicaset as rsmath
from podkeeper.core import rollout
from podkeeper.core.replicaset import PodState
from podkeeper.core.rollout import (
    Condition,
    DeploymentStatus,
    ReplicaSetState,
    RolloutSpec,
    Scale,
)

log = logging.getLogger("podkeeper.deployments")

Key = tuple[str, str]  # (namespace, name)

#: Rounds of RS sync + Deployment sync per flush before giving the loop back.
MAX_ROUNDS = 50
#: Seconds after start() within which the agent brings back the pods it had stored.
RESTORE_GRACE = 5.0
#: Seconds added to timer deadlines: availability and timeouts are strict comparisons.
TIMER_SLACK = 0.01
DEPLOYMENT_COMPONENT = "deployment-controller"
REPLICASET_COMPONENT = "replicaset-controller"


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _epoch(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


def _key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or "default"), str(meta.get("name", "")))


@dataclass
class _ReplicaSet:
    obj: Obj  # the API object without status
    created: float  # monotonic
    owner: Key | None  # the Deployment that controls it
    pods: set[str] = field(default_factory=set)
    status: Obj = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])

    @property
    def replicas(self) -> int:
        return int(self.obj["spec"].get("replicas", 1))

    @property
    def annotations(self) -> dict[str, str]:
        meta = self.obj["metadata"]
        if not isinstance(meta.get("annotations"), dict):
            meta["annotations"] = {}
        out: dict[str, str] = meta["annotations"]
        return out

    def state(self) -> ReplicaSetState:
        ann = self.annotations

        def num(name: str) -> int | None:
            try:
                return int(ann[name])
            except (KeyError, ValueError):
                return None

        return ReplicaSetState(
            name=self.name,
            replicas=self.replicas,
            created=self.created,
            revision=rollout.revision_of(ann),
            status_replicas=int(self.status.get("replicas", 0)),
            ready_replicas=int(self.status.get("readyReplicas", 0)),
            available_replicas=int(self.status.get("availableReplicas", 0)),
            desired_annotation=num(rollout.DESIRED_REPLICAS_ANNOTATION),
            max_annotation=num(rollout.MAX_REPLICAS_ANNOTATION),
        )


@dataclass
class _Deployment:
    obj: Obj  # the API object as applied (defaulted), without status
    created: float
    status: DeploymentStatus = field(default_factory=DeploymentStatus)

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation", 1))


@dataclass
class _Pod:
    rs: Key
    state: PodState
    restoring: bool = False  # read from the store; not yet reported by the agent


class DeploymentController:
    """Implements `podkeeper.controllers.interface.Controller` for Deployment and ReplicaSet."""

    kinds = ("Deployment", "ReplicaSet")

    def __init__(self, rng: random.Random | None = None) -> None:
        self._host: PodHost | None = None
        self._rng = rng or random.Random()
        self._deployments: dict[Key, _Deployment] = {}
        self._replicasets: dict[Key, _ReplicaSet] = {}
        self._pods: dict[Key, _Pod] = {}
        self._dirty_d: set[Key] = set()
        self._dirty_rs: set[Key] = set()
        self._persist: set[tuple[str, Key]] = set()
        self._handle: asyncio.Handle | None = None
        self._timers: dict[tuple[str, Key], asyncio.TimerHandle] = {}
        self._flushing = False
        self._stopped = False

    # ------------------------------------------------------------- lifecycle

    @property
    def host(self) -> PodHost:
        assert self._host is not None, "DeploymentController used before start()"
        return self._host

    @property
    def store(self) -> ObjectStore:
        """Where the objects outlive the agent (the host's object store)."""
        return self.host.store

    async def start(self, host: PodHost) -> None:
        self._host = host
        self._load()
        loop = asyncio.get_running_loop()
        loop.call_soon(self._mark_all)
        # The agent restores the stored pods after every controller started (and another
        # controller's start may yield to the loop first): _load registered them already;
        # those that never come back are forgotten after a grace period.
        loop.call_later(RESTORE_GRACE, self._settle_restored)

    async def stop(self) -> None:
        # Stopped for good: the agent's drain deletes every pod next, and a controller
        # that still reconciled would replace them with pods nobody drains (seen: their
        # containers outlived the agent).
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()

    def _mark_all(self) -> None:
        self._dirty_rs.update(self._replicasets)
        self._dirty_d.update(self._deployments)
        self._schedule()

    def _settle_restored(self) -> None:
        """Adopt every live pod we own; forget stored pods the agent did not bring back."""
        if self._host is None:
            return
        snapshots = self.host.pod_snapshots(None)
        for snap in snapshots:
            self.pod_changed(snap)
        live = {_key(snap) for snap in snapshots}
        for key, tracked in list(self._pods.items()):
            if tracked.restoring and key not in live:
                self._pods.pop(key)
                rs = self._replicasets.get(tracked.rs)
                if rs is not None:
                    rs.pods.discard(key[1])
                    self._mark_replicaset(tracked.rs)
        log.debug(
            "restore settled: %d pods, %d of them owned here", len(snapshots), len(self._pods)
        )

    # ------------------------------------------------------------ Controller

    def validate(self, obj: Obj) -> list[str]:
        kind = obj.get("kind")
        key = _key(obj)
        if kind == "Deployment":
            d = self._deployments.get(key)
            if d is not None and d.obj["spec"].get("selector") != obj["spec"].get("selector"):
                # apps/v1 ValidateDeploymentUpdate: the selector is immutable.
                return [
                    f'Deployment.apps "{key[1]}" is invalid: spec.selector: Invalid value: '
                    f"{obj['spec'].get('selector')}: field is immutable"
                ]
        elif kind == "ReplicaSet":
            rs = self._replicasets.get(key)
            if rs is not None and rs.owner is not None:
                return [
                    f'ReplicaSet.apps "{key[1]}" is controlled by Deployment "{rs.owner[1]}": '
                    "change the Deployment instead"
                ]
        return []

    async def apply(self, obj: Obj) -> Obj:
        key = _key(obj)
        if obj.get("kind") == "Deployment":
            self._apply_deployment(obj)
            self.flush()
            out = self.get("Deployment", *key)
        else:
            self._apply_replicaset(obj)
            self.flush()
            out = self.get("ReplicaSet", *key)
        assert out is not None
        return out

    async def delete(self, kind: str, namespace: str, name: str, grace: int | None) -> Obj | None:
        key = (namespace, name)
        if kind == "Deployment":
            d = self._deployments.get(key)
            if d is None:
                return None
            out = self._render_deployment(d)
            # Background cascading deletion: the garbage collector removes the ReplicaSets,
            # and with them their pods.
            for owned in [r for r in self._replicasets.values() if r.owner == key]:
                self._delete_replicaset(owned, grace)
            del self._deployments[key]
            self._cancel_timer(("Deployment", key))
            self._unpersist("Deployment", key)
            out["metadata"]["deletionTimestamp"] = _rfc3339(time.time())
            return out
        rs = self._replicasets.get(key)
        if rs is None:
            return None
        out = self._render_replicaset(rs)
        self._delete_replicaset(rs, grace)
        if rs.owner is not None:
            self._mark_deployment(rs.owner)
        out["metadata"]["deletionTimestamp"] = _rfc3339(time.time())
        return out

    def list(self, kind: str, namespace: str | None) -> list[Obj]:
        if kind == "Deployment":
            return [
                self._render_deployment(d)
                for k, d in sorted(self._deployments.items())
                if namespace is None or k[0] == namespace
            ]
        return [
            self._render_replicaset(r)
            for k, r in sorted(self._replicasets.items())
            if namespace is None or k[0] == namespace
        ]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        if kind == "Deployment":
            d = self._deployments.get((namespace, name))
            return self._render_deployment(d) if d is not None else None
        rs = self._replicasets.get((namespace, name))
        return self._render_replicaset(rs) if rs is not None else None

    def pod_changed(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace") or "default"), str(meta.get("name", "")))
        tracked = self._pods.get(key)
        rs_key = tracked.rs if tracked is not None else self._owner_of(meta, key[0])
        if rs_key is None or rs_key not in self._replicasets:
            return
        now = self.host.now()
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        restarts = sum(
            int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []
        )
        before = tracked.state if tracked is not None else PodState(key[1], created=now)
        ready_since = before.ready_since if (before.ready and ready) else (now if ready else None)
        try:
            cost = int((meta.get("annotations") or {}).get(rollout.POD_DELETION_COST_ANNOTATION, 0))
        except (TypeError, ValueError):
            cost = 0
        state = replace(
            before,
            phase=str(status.get("phase") or "Pending"),
            ready=ready,
            ready_since=ready_since,
            deleting=before.deleting or bool(meta.get("deletionTimestamp")),
            restarts=restarts,
            deletion_cost=cost,
        )
        if tracked is not None and state == tracked.state and not tracked.restoring:
            return
        self._pods[key] = _Pod(rs_key, state)
        self._replicasets[rs_key].pods.add(key[1])
        self._mark_replicaset(rs_key)

    def pod_gone(self, pod: Obj) -> None:
        key = _key(pod)
        tracked = self._pods.pop(key, None)
        if tracked is None:
            return
        rs = self._replicasets.get(tracked.rs)
        if rs is not None:
            rs.pods.discard(key[1])
            self._mark_replicaset(tracked.rs)

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        del pod, budget  # traffic draining is the Service controller's business

    # ------------------------------------------------------------ scheduling

    def _owner_of(self, meta: Obj, namespace: str) -> Key | None:
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet" and ref.get("controller"):
                rs = self._replicasets.get((namespace, str(ref.get("name"))))
                if rs is not None and rs.uid == ref.get("uid"):
                    return (namespace, rs.name)
        return None

    def _mark_replicaset(self, key: Key) -> None:
        self._dirty_rs.add(key)
        rs = self._replicasets.get(key)
        if rs is not None and rs.owner is not None:
            self._dirty_d.add(rs.owner)
        self._schedule()

    def _mark_deployment(self, key: Key) -> None:
        self._dirty_d.add(key)
        self._schedule()

    def _schedule(self) -> None:
        if self._handle is not None or self._flushing or self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous test): the caller flushes
        self._handle = loop.call_soon(self.flush)

    def _arm(self, kind: str, key: Key, at: float | None) -> None:
        """Wake `kind`/`key` at monotonic time `at` (earliest wins)."""
        if at is None or self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, at - self.host.now()) + TIMER_SLACK
        when = loop.time() + delay
        existing = self._timers.get((kind, key))
        if existing is not None and not existing.cancelled() and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()

        def fire() -> None:
            self._timers.pop((kind, key), None)
            if kind == "Deployment":
                self._mark_deployment(key)
            else:
                self._mark_replicaset(key)

        self._timers[(kind, key)] = loop.call_at(when, fire)

    def _cancel_timer(self, tkey: tuple[str, Key]) -> None:
        handle = self._timers.pop(tkey, None)
        if handle is not None:
            handle.cancel()

    def flush(self) -> None:
        """Sync every dirty ReplicaSet and Deployment until nothing changes any more."""
        self._handle = None
        if self._flushing or self._stopped:
            return
        self._flushing = True
        try:
            for _ in range(MAX_ROUNDS):
                if not self._dirty_rs and not self._dirty_d:
                    break
                rs_keys, self._dirty_rs = sorted(self._dirty_rs), set()
                for key in rs_keys:
                    self._sync_replicaset(key)
                d_keys, self._dirty_d = sorted(self._dirty_d), set()
                for key in d_keys:
                    self._sync_deployment(key)
            self._write_store()
        finally:
            self._flushing = False
        if self._dirty_rs or self._dirty_d:
            self._schedule()

    # ------------------------------------------------- the ReplicaSet controller

    def _sync_replicaset(self, key: Key) -> None:
        """`replica_set.go syncReplicaSet`: manageReplicas, then calculateStatus."""
        rs = self._replicasets.get(key)
        if rs is None:
            return
        now = self.host.now()
        ns = rs.namespace
        pods = [self._pods[(ns, p)] for p in sorted(rs.pods) if (ns, p) in self._pods]
        for p in pods:
            # A failed or succeeded pod is no replica; podkeeper deletes it at once (the
            # cluster's pod GC would, later) so that it does not linger in the agent.
            if not p.state.deleting and p.state.phase in ("Succeeded", "Failed"):
                self.host.delete_pod(ns, p.state.name, 0)
                p.state = replace(p.state, deleting=True)
        active = [p.state for p in pods if p.state.active]
        diff = len(active) - rs.replicas
        if diff < 0:
            for _ in range(-diff):
                created = self._create_pod(rs, now)
                if created is None:
                    break
                active.append(created)
        elif diff > 0:
            victims = rsmath.deletion_order(active, now)[:diff]
            for victim in victims:
                self.host.delete_pod(ns, victim.name, None)
                self._pods[(ns, victim.name)].state = replace(victim, deleting=True)
                self._event(rs.obj, "Normal", "SuccessfulDelete", f"Deleted pod: {victim.name}")
            gone = {v.name for v in victims}
            active = [p for p in active if p.name not in gone]
        min_ready = int(rs.obj["spec"].get("minReadySeconds") or 0)
        ready = [p for p in active if p.ready]
        available = [p for p in ready if rsmath.is_pod_available(p, min_ready, now)]
        status: Obj = {
            "replicas": len(active),
            "fullyLabeledReplicas": len(active),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": int(rs.obj["metadata"].get("generation", 1)),
        }
        if status != rs.status:
            rs.status = status
            self._persist.add(("ReplicaSet", key))
            if rs.owner is not None:
                self._dirty_d.add(rs.owner)
        # replica_set.go: "Resync the ReplicaSet after MinReadySeconds as a last line of
        # defense to guard against clock-skew" – here, the moment a pod becomes available.
        waits = [rsmath.available_at(p, min_ready) for p in ready if p not in available]
        self._arm("ReplicaSet", key, min((w for w in waits if w is not None), default=None))

    def _create_pod(self, rs: _ReplicaSet, now: float) -> PodState | None:
        from podkeeper.manifest import default_object

        ns = rs.namespace
        prefix = rsmath.pod_prefix(rs.name)
        while True:
            suffix = rsmath.random_suffix(
                self._rng.randrange(len(rsmath.ALPHANUMS)) for _ in range(rsmath.RANDOM_LENGTH)
            )
            name = rsmath.generate_name(prefix, suffix)
            if (ns, name) not in self._pods:
                break
        template = rs.obj["spec"]["template"]
        tmeta = template.get("metadata") or {}
        meta: Obj = {
            "name": name,
            "generateName": prefix,
            "namespace": ns,
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs.name,
                    "uid": rs.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pod = default_object(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
        )
        state = PodState(name, created=now)
        # Track before creating: the host may report the new pod synchronously.
        self._pods[(ns, name)] = _Pod((ns, rs.name), state)
        rs.pods.add(name)
        try:
            self.host.create_pod(pod)
        except Exception as exc:
            log.exception("could not create pod %s for replica set %s", name, rs.name)
            self._pods.pop((ns, name), None)
            rs.pods.discard(name)
            self._event(rs.obj, "Warning", "FailedCreate", f"Error creating: {exc}")
            return None
        self._event(rs.obj, "Normal", "SuccessfulCreate", f"Created pod: {name}")
        log.debug("replica set %s: created pod %s", rs.name, name)
        return self._pods[(ns, name)].state if (ns, name) in self._pods else state

    def _delete_replicaset(self, rs: _ReplicaSet, grace: int | None) -> None:
        key = (rs.namespace, rs.name)
        for name in sorted(rs.pods):
            tracked = self._pods.pop((rs.namespace, name), None)
            if tracked is not None and not tracked.state.deleting:
                self.host.delete_pod(rs.namespace, name, grace)
        self._replicasets.pop(key, None)
        self._dirty_rs.discard(key)
        self._cancel_timer(("ReplicaSet", key))
        self._unpersist("ReplicaSet", key)

    def _apply_replicaset(self, obj: Obj) -> None:
        """A ReplicaSet applied by the user (no Deployment owns it)."""
        key = _key(obj)
        existing = self._replicasets.get(key)
        meta = obj["metadata"]
        now = self.host.now()
        new_obj: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                k: v for k, v in meta.items() if k in ("name", "namespace", "labels", "annotations")
            },
            "spec": copy.deepcopy(obj.get("spec") or {}),
        }
        if existing is None:
            new_obj["metadata"].update(
                uid=str(uuid.uuid4()), creationTimestamp=_rfc3339(time.time()), generation=1
            )
            self._replicasets[key] = _ReplicaSet(new_obj, now, None)
        else:
            old_meta = existing.obj["metadata"]
            changed = existing.obj["spec"] != new_obj["spec"]
            new_obj["metadata"].update(
                uid=old_meta["uid"],
                creationTimestamp=old_meta["creationTimestamp"],
                generation=int(old_meta.get("generation", 1)) + (1 if changed else 0),
            )
            existing.obj = new_obj
        self._persist.add(("ReplicaSet", key))
        self._mark_replicaset(key)

    # ------------------------------------------------- the Deployment controller

    def _apply_deployment(self, obj: Obj) -> None:
        key = _key(obj)
        existing = self._deployments.get(key)
        new_obj = copy.deepcopy(obj)
        new_obj.pop("status", None)
        meta = new_obj["metadata"]
        for server_field in ("uid", "creationTimestamp", "generation", "resourceVersion"):
            meta.pop(server_field, None)
        annotations = meta.get("annotations")
        if not isinstance(annotations, dict):
            annotations = meta["annotations"] = {}
        annotations.pop(rollout.REVISION_ANNOTATION, None)
        if existing is None:
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_rfc3339(time.time()))
            meta["generation"] = 1
            self._deployments[key] = _Deployment(new_obj, self.host.now())
        else:
            old_meta = existing.obj["metadata"]
            changed = existing.obj["spec"] != new_obj["spec"]
            meta.update(uid=old_meta["uid"], creationTimestamp=old_meta["creationTimestamp"])
            meta["generation"] = existing.generation + (1 if changed else 0)
            # The controller owns the revision annotation.
            revision = (old_meta.get("annotations") or {}).get(rollout.REVISION_ANNOTATION)
            if revision is not None:
                annotations[rollout.REVISION_ANNOTATION] = revision
            existing.obj = new_obj
        self._persist.add(("Deployment", key))
        self._mark_deployment(key)

    def _sync_deployment(self, key: Key) -> None:
        """`deployment_controller.go syncDeployment` (not paused, no rollbackTo)."""
        d = self._deployments.get(key)
        if d is None:
            return
        now = self.host.now()
        spec = RolloutSpec.from_object(d.obj)
        owned = [r for r in self._replicasets.values() if r.owner == key]
        template = d.obj["spec"]["template"]
        new = next(
            (r for r in owned if rollout.equal_ignore_hash(r.obj["spec"]["template"], template)),
            None,
        )
        olds = [r for r in owned if r is not new]
        old_states = [r.state() for r in olds]
        next_revision = max((s.revision for s in old_states), default=0) + 1
        status = d.status
        if new is not None:
            # getNewReplicaSet: the existing new RS takes the next revision when behind
            # (a rollback), and the deployment its revision.
            self._sync_new_rs_annotations(d, spec, new, next_revision)
            self._set_revision(d, new.annotations.get(rollout.REVISION_ANNOTATION))
            status = rollout.new_rs_condition(spec, status, new.name, False, now)
        all_states = [*old_states, *([new.state()] if new is not None else [])]
        new_state = new.state() if new is not None else None

        if rollout.is_scaling_event(spec, all_states):
            # sync: a replicas change, spread proportionally; no progress estimate.
            self._apply_scales(
                d, spec, rollout.proportional_scale(spec, new_state, old_states, status.replicas)
            )
            self._cleanup(spec, olds)
            status = rollout.calculate_status(spec, all_states, new_state, status, now)
        elif spec.rolling:
            if new is None:
                new, status = self._create_new_rs(d, spec, old_states, next_revision, status, now)
                new_state = new.state()
                all_states = [*old_states, new_state]
            assert new_state is not None
            scales = rollout.rolling_step(spec, new_state, old_states)
            self._apply_scales(d, spec, scales)
            if not scales:
                self._cleanup(spec, olds)
            status = rollout.sync_rollout_status(spec, all_states, new_state, status, now)
        else:
            running = any(s.status_replicas > 0 for s in old_states) or any(
                (p := self._pods.get((r.namespace, name))) is not None
                and p.state.phase not in ("Succeeded", "Failed")
                for r in olds
                for name in r.pods
            )
            scales, create = rollout.recreate_step(spec, new_state, old_states, running)
            if create:
                new, status = self._create_new_rs(d, spec, old_states, next_revision, status, now)
                new_state = new.state()
                all_states = [*old_states, new_state]
            self._apply_scales(d, spec, scales)
            if rollout.deployment_complete(spec, d.status):
                self._cleanup(spec, olds)
            status = rollout.sync_rollout_status(spec, all_states, new_state, status, now)
        if status != d.status:
            d.status = status
            self._persist.add(("Deployment", key))
        self._arm("Deployment", key, rollout.progress_check_at(spec, status))

    def _set_revision(self, d: _Deployment, revision: str | None) -> None:
        """`SetDeploymentRevision`."""
        if revision is None:
            return
        ann = d.obj["metadata"].setdefault("annotations", {})
        if ann.get(rollout.REVISION_ANNOTATION) != revision:
            ann[rollout.REVISION_ANNOTATION] = revision
            self._persist.add(("Deployment", _key(d.obj)))

    def _sync_new_rs_annotations(
        self, d: _Deployment, spec: RolloutSpec, rs: _ReplicaSet, revision: int
    ) -> None:
        ann = rollout.new_rs_annotations(
            d.obj["metadata"].get("annotations") or {},
            rs.annotations,
            revision,
            True,
            spec.replicas,
            spec.replicas + rollout.max_surge(spec),
        )
        changed = ann != rs.annotations
        if changed or rs.obj["spec"].get("minReadySeconds") != spec.min_ready_seconds:
            rs.obj["metadata"]["annotations"] = ann
            rs.obj["spec"]["minReadySeconds"] = spec.min_ready_seconds
            self._persist.add(("ReplicaSet", (rs.namespace, rs.name)))
            self._dirty_rs.add((rs.namespace, rs.name))

    def _create_new_rs(
        self,
        d: _Deployment,
        spec: RolloutSpec,
        old_states: Sequence[ReplicaSetState],
        revision: int,
        status: DeploymentStatus,
        now: float,
    ) -> tuple[_ReplicaSet, DeploymentStatus]:
        """`sync.go getNewReplicaSet` with createIfNotExisted: `<deploy>-<hash>`, the hash
        label in template, labels and selector, the first size from NewRSNewReplicas."""
        ns, dname = _key(d.obj)
        template = copy.deepcopy(d.obj["spec"]["template"])
        collision = status.collision_count
        while True:
            pod_hash = rsmath.compute_hash(template, collision)
            name = f"{dname}-{pod_hash}"
            if (ns, name) not in self._replicasets:
                break
            # A ReplicaSet of that name with another template: bump collisionCount
            # (kubernetes#29735) and hash again.
            collision = (collision or 0) + 1
        if collision != status.collision_count:
            status = replace(status, collision_count=collision)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), rollout.POD_TEMPLATE_HASH_LABEL: pod_hash}
        selector = copy.deepcopy(d.obj["spec"].get("selector") or {})
        selector["matchLabels"] = {
            **(selector.get("matchLabels") or {}),
            rollout.POD_TEMPLATE_HASH_LABEL: pod_hash,
        }
        dmeta = d.obj["metadata"]
        annotations = rollout.new_rs_annotations(
            dmeta.get("annotations") or {},
            {},
            revision,
            False,
            spec.replicas,
            spec.replicas + rollout.max_surge(spec),
        )
        probe = ReplicaSetState(name, 0, created=now)
        replicas = rollout.new_rs_new_replicas(spec, [*old_states, probe], probe)
        obj: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _rfc3339(time.time()),
                "generation": 1,
                "labels": dict(tmeta["labels"]),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": dname,
                        "uid": dmeta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": spec.min_ready_seconds,
                "selector": selector,
                "template": template,
            },
        }
        rs = _ReplicaSet(obj, now, (ns, dname))
        self._replicasets[(ns, name)] = rs
        self._persist.add(("ReplicaSet", (ns, name)))
        self._dirty_rs.add((ns, name))
        if replicas > 0:
            self._event(
                d.obj,
                "Normal",
                "ScalingReplicaSet",
                Scale(name, 0, replicas).event_message(),
                DEPLOYMENT_COMPONENT,
            )
        self._set_revision(d, str(revision))
        status = rollout.new_rs_condition(spec, status, name, True, now)
        return rs, status

    def _apply_scales(self, d: _Deployment, spec: RolloutSpec, scales: Sequence[Scale]) -> None:
        """`scaleReplicaSet`: new size, desired/max-replicas annotations, and the event."""
        ns = _key(d.obj)[0]
        for s in scales:
            rs = self._replicasets.get((ns, s.rs))
            if rs is None:
                continue
            ann = rs.annotations
            ann[rollout.DESIRED_REPLICAS_ANNOTATION] = str(spec.replicas)
            ann[rollout.MAX_REPLICAS_ANNOTATION] = str(spec.replicas + rollout.max_surge(spec))
            if s.changes_size:
                rs.obj["spec"]["replicas"] = s.to
                meta = rs.obj["metadata"]
                meta["generation"] = int(meta.get("generation", 1)) + 1
                self._event(
                    d.obj, "Normal", "ScalingReplicaSet", s.event_message(), DEPLOYMENT_COMPONENT
                )
            self._persist.add(("ReplicaSet", (ns, s.rs)))
            self._dirty_rs.add((ns, s.rs))

    def _cleanup(self, spec: RolloutSpec, olds: Sequence[_ReplicaSet]) -> None:
        """`cleanupDeployment`: drop old ReplicaSets beyond revisionHistoryLimit."""
        by_name = {r.name: r for r in olds}
        for name in rollout.cleanup_candidates(spec, [r.state() for r in olds]):
            rs = by_name[name]
            if not rs.pods:
                self._delete_replicaset(rs, None)

    # ------------------------------------------------------------- rendering

    def _wall(self, mono: float) -> str:
        return _rfc3339(time.time() - (self.host.now() - mono))

    def _render_deployment(self, d: _Deployment) -> Obj:
        out = copy.deepcopy(d.obj)
        s = d.status
        status: Obj = {"observedGeneration": s.observed_generation}
        # apps/v1 DeploymentStatus: every count is omitempty.
        for name, value in (
            ("replicas", s.replicas),
            ("updatedReplicas", s.updated_replicas),
            ("readyReplicas", s.ready_replicas),
            ("availableReplicas", s.available_replicas),
            ("unavailableReplicas", s.unavailable_replicas),
        ):
            if value:
                status[name] = value
        if s.conditions:
            status["conditions"] = [self._render_condition(c) for c in s.conditions]
        if s.collision_count is not None:
            status["collisionCount"] = s.collision_count
        out["status"] = status
        return out

    def _render_condition(self, c: Condition) -> Obj:
        return {
            "type": c.type,
            "status": c.status,
            "lastUpdateTime": self._wall(c.last_update),
            "lastTransitionTime": self._wall(c.last_transition),
            "reason": c.reason,
            "message": c.message,
        }

    def _render_replicaset(self, rs: _ReplicaSet) -> Obj:
        out = copy.deepcopy(rs.obj)
        # apps/v1 ReplicaSetStatus: `replicas` always, the other counts omitempty.
        status = {k: v for k, v in rs.status.items() if v or k == "replicas"}
        status.setdefault("replicas", 0)
        out["status"] = status
        return out

    def _event(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str = REPLICASET_COMPONENT,
    ) -> None:
        try:
            self.host.record_object_event(obj, type_, reason, message, component)
        except Exception:
            log.exception("could not record event %s %s", reason, message)

    # ------------------------------------------------------------ persistence

    def _unpersist(self, kind: str, key: Key) -> None:
        self._persist.discard((kind, key))
        self.store.delete_object(kind, *key)

    def _write_store(self) -> None:
        for kind, key in sorted(self._persist):
            if kind == "Deployment":
                d = self._deployments.get(key)
                if d is not None:
                    self.store.put_object(self._render_deployment(d))
            else:
                rs = self._replicasets.get(key)
                if rs is not None:
                    self.store.put_object(self._render_replicaset(rs))
        self._persist.clear()

    def _load(self) -> None:
        """Deployments and ReplicaSets a previous agent stored (conditions keep their times)."""
        now = self.host.now()
        offset = time.time() - now

        def mono(text: Any) -> float:
            epoch = _epoch(str(text))
            return now if epoch is None else epoch - offset

        for obj in self.store.list_objects("Deployment", None):
            saved = obj.pop("status", None) or {}
            conditions = tuple(
                Condition(
                    str(c.get("type")),
                    str(c.get("status")),
                    str(c.get("reason", "")),
                    str(c.get("message", "")),
                    mono(c.get("lastUpdateTime")),
                    mono(c.get("lastTransitionTime")),
                )
                for c in saved.get("conditions") or []
            )
            status = DeploymentStatus(
                observed_generation=int(saved.get("observedGeneration") or 0),
                replicas=int(saved.get("replicas") or 0),
                updated_replicas=int(saved.get("updatedReplicas") or 0),
                ready_replicas=int(saved.get("readyReplicas") or 0),
                available_replicas=int(saved.get("availableReplicas") or 0),
                unavailable_replicas=int(saved.get("unavailableReplicas") or 0),
                conditions=conditions,
                collision_count=saved.get("collisionCount"),
            )
            created = mono(obj["metadata"].get("creationTimestamp"))
            self._deployments[_key(obj)] = _Deployment(obj, created, status)
        uids = {d.obj["metadata"]["uid"]: k for k, d in self._deployments.items()}
        for obj in self.store.list_objects("ReplicaSet", None):
            saved = obj.pop("status", None) or {}
            owner = next(
                (
                    uids[ref.get("uid")]
                    for ref in obj["metadata"].get("ownerReferences") or []
                    if ref.get("kind") == "Deployment" and ref.get("uid") in uids
                ),
                None,
            )
            created = mono(obj["metadata"].get("creationTimestamp"))
            self._replicasets[_key(obj)] = _ReplicaSet(obj, created, owner, status=saved)
        for obj in self.store.list_objects("Pod", None):
            meta = obj.get("metadata") or {}
            rs_key = self._owner_of(meta, str(meta.get("namespace") or "default"))
            if rs_key is None or meta.get("deletionTimestamp"):
                continue  # the agent does not restore a pod that was being deleted
            self._pods[_key(obj)] = _Pod(rs_key, PodState(_key(obj)[1], created=now), True)
            self._replicasets[rs_key].pods.add(_key(obj)[1])
        if self._deployments or self._replicasets:
            log.info(
                "restored %d deployments and %d replica sets from the state database",
                len(self._deployments),
                len(self._replicasets),
            )

"""The StatefulSet controller's driver (`pkg/controller/statefulset/stateful_set_control.go`).

Pods are `<set>-<ordinal>` with `hostname` = their name (and `subdomain` = the
set's serviceName), labelled `controller-revision-hash: <set>-<hash>`,
`statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`. Each
`volumeClaimTemplates` entry becomes a PersistentVolumeClaim `<template>-<set>-<ordinal>`
created before the pod (`stateful_pod_control.go createPersistentVolumeClaims`) and
referenced by a `persistentVolumeClaim` volume of the same name; claims outlive their
pods, and the set and its scale-downs unless persistentVolumeClaimRetentionPolicy's
whenDeleted / whenScaled says Delete.

What to create or delete next is `podkeeper.core.statefulset.sync`'s decision
(OrderedReady / Parallel, RollingUpdate with partition and maxUnavailable, OnDelete,
minReadySeconds); readiness comes from the pods' Ready condition.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from podkeeper.controllers.records import Key, Record, deleting, phase_of
from podkeeper.core import replicaset as rsmath
from podkeeper.core import statefulset as ssmath

if TYPE_CHECKING:
    from podkeeper.controllers.workloads import WorkloadController

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def validate(obj: Obj, existing: Obj | None) -> list[str]:
    """`ValidateStatefulSetUpdate`: only some spec fields may change."""
    if existing is None:
        return []
    old = {k: v for k, v in (existing.get("spec") or {}).items() if k not in _MUTABLE}
    new = {k: v for k, v in (obj.get("spec") or {}).items() if k not in _MUTABLE}
    if old != new:
        return [
            f'StatefulSet.apps "{obj["metadata"]["name"]}" is invalid: spec: Forbidden: '
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
            "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden"
        ]
    return []


def _int_or_percent(value: Any, total: int, default: int) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            # intstr.GetScaledValueFromIntOrPercent, rounding up for maxUnavailable.
            return max(1, -(-int(value[:-1]) * total // 100))
        except ValueError:
            return default
    return default


def set_spec(spec: Obj) -> ssmath.SetSpec:
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    return ssmath.SetSpec(
        replicas=replicas,
        parallel=spec.get("podManagementPolicy") == "Parallel",
        on_delete=strategy.get("type") == "OnDelete",
        partition=int(rolling.get("partition") or 0),
        max_unavailable=max(1, _int_or_percent(rolling.get("maxUnavailable"), replicas, 1)),
        min_ready_seconds=int(spec.get("minReadySeconds") or 0),
    )


def revision(name: str, spec: Obj, collision: int | None) -> str:
    """`<set>-<hash of the template>` (ControllerRevision names)."""
    return f"{name}-{rsmath.compute_hash(spec.get('template') or {}, collision)}"


def _ordinal(set_name: str, pod_name: str) -> int | None:
    prefix = f"{set_name}-"
    tail = pod_name[len(prefix) :] if pod_name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def sync(ctl: WorkloadController, key: Key) -> None:
    rec = ctl.objects[key]
    spec, status = rec.spec, rec.status
    ns, name = key[1], key[2]
    now = ctl.now()
    # The hash always includes status.collisionCount (0 at first), as the controller's
    # `newRevision` passes a pointer to it.
    collision = status.get("collisionCount")
    update_rev = revision(name, spec, collision if isinstance(collision, int) else 0)
    current_rev = str(status.get("currentRevision") or update_rev)
    sspec = set_spec(spec)
    pods: list[ssmath.SetPod] = []
    tracked_by_ordinal = {}
    for t in ctl.owned_pods(key):
        pname = str(t.snapshot["metadata"]["name"])
        ordinal = _ordinal(name, pname)
        if ordinal is None:
            continue
        if phase_of(t.snapshot) in ("Succeeded", "Failed") and not deleting(t.snapshot):
            # stateful_set_control.go: a failed pod is deleted and created again.
            ctl.delete_pod((ns, pname), 0)
            ctl.event(
                rec.obj,
                "Warning",
                "RecreatingFailedPod",
                f"StatefulSet {ns}/{name} is recreating failed Pod {pname}",
            )
        tracked_by_ordinal[ordinal] = t
        labels = t.snapshot["metadata"].get("labels") or {}
        pods.append(
            ssmath.SetPod(
                ordinal=ordinal,
                revision=str(labels.get(REVISION_LABEL, "")),
                running=phase_of(t.snapshot) == "Running",
                ready_since=t.seen_ready_at,
                terminating=deleting(t.snapshot),
            )
        )
    d = ssmath.sync(sspec, pods, update_rev, now)
    for ordinal in d.create:
        _create(ctl, key, rec, ordinal, update_rev)
    for ordinal in d.delete:
        victim = tracked_by_ordinal.get(ordinal)
        if victim is None or deleting(victim.snapshot):
            continue
        pname = ssmath.pod_name(name, ordinal)
        ctl.delete_pod((ns, pname))
        ctl.event(
            rec.obj,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {pname} in StatefulSet {name} successful",
        )
    ctl.wake_at(key, d.requeue_at)
    if _retention(spec, "whenScaled") == "Delete":
        alive = set(tracked_by_ordinal)
        _delete_claims(ctl, rec, lambda o: o >= sspec.replicas and o not in alive)
    _status(ctl, key, rec, current_rev, update_rev, sspec, now)


def _status(
    ctl: WorkloadController,
    key: Key,
    rec: Record,
    current_rev: str,
    update_rev: str,
    sspec: ssmath.SetSpec,
    now: float,
) -> None:
    live = [t for t in ctl.owned_pods(key) if not deleting(t.snapshot)]
    revs = [str((t.snapshot["metadata"].get("labels") or {}).get(REVISION_LABEL, "")) for t in live]
    ready = [t for t in live if t.seen_ready_at is not None]
    available = [
        t
        for t in ready
        if t.seen_ready_at is not None and now - t.seen_ready_at >= sspec.min_ready_seconds
    ]
    updated = sum(1 for r in revs if r == update_rev)
    # updateStatefulSet: once every replica runs the update revision and is ready, it
    # becomes the current one.
    if updated == sspec.replicas and len(ready) == sspec.replicas and len(live) == sspec.replicas:
        current_rev = update_rev
    status: Obj = {
        "observedGeneration": int(rec.obj["metadata"].get("generation", 1)),
        "replicas": len(live),
        "readyReplicas": len(ready),
        "currentReplicas": sum(1 for r in revs if r == current_rev),
        "updatedReplicas": updated,
        "availableReplicas": len(available),
        "currentRevision": current_rev,
        "updateRevision": update_rev,
        "collisionCount": int(rec.status.get("collisionCount") or 0),
    }
    rec.obj["status"] = status


def _retention(spec: Obj, when: str) -> str:
    """`persistentVolumeClaimRetentionPolicy.whenDeleted|whenScaled` (Retain by default)."""
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    return str(policy.get(when) or "Retain")


def _delete_claims(ctl: WorkloadController, rec: Record, doomed: Any) -> None:
    """Delete the set's claims whose ordinal `doomed(ordinal)` says (the retention policy's
    Delete: `stateful_pod_control.go` claims owned by the set or the scaled-down pod)."""
    ns, name = rec.obj["metadata"]["namespace"], rec.obj["metadata"]["name"]
    for tmpl in rec.spec.get("volumeClaimTemplates") or []:
        tname = str((tmpl.get("metadata") or {}).get("name", ""))
        prefix = f"{tname}-{name}-"
        for key in [k for k in ctl.objects if k[0] == "PersistentVolumeClaim" and k[1] == ns]:
            tail = key[2][len(prefix) :] if key[2].startswith(prefix) else ""
            if tail.isdigit() and doomed(int(tail)):
                ctl.remove(key)
                ctl.event(
                    rec.obj,
                    "Normal",
                    "SuccessfulDelete",
                    f"delete Claim {key[2]} in StatefulSet {name} success",
                )


def on_delete(ctl: WorkloadController, rec: Record) -> None:
    """The set is deleted: its claims go too when whenDeleted is Delete."""
    if _retention(rec.spec, "whenDeleted") == "Delete":
        _delete_claims(ctl, rec, lambda o: True)


def _create(ctl: WorkloadController, key: Key, rec: Record, ordinal: int, rev: str) -> None:
    ns, name = key[1], key[2]
    spec = rec.spec
    pname = ssmath.pod_name(name, ordinal)
    claims: list[tuple[str, str]] = []
    for tmpl in spec.get("volumeClaimTemplates") or []:
        if not isinstance(tmpl, dict):
            continue
        tname = str((tmpl.get("metadata") or {}).get("name", ""))
        claim = ssmath.claim_name(tname, name, ordinal)
        claims.append((tname, claim))
        if ("PersistentVolumeClaim", ns, claim) not in ctl.objects:
            _create_claim(ctl, rec, tmpl, claim)
            ctl.event(
                rec.obj,
                "Normal",
                "SuccessfulCreate",
                f"create Claim {claim} Pod {pname} in StatefulSet {name} success",
            )
    labels = {REVISION_LABEL: rev, POD_NAME_LABEL: pname, POD_INDEX_LABEL: str(ordinal)}

    def edit(pod: Obj) -> None:
        pspec = pod["spec"]
        pspec["hostname"] = pname
        if spec.get("serviceName"):
            pspec["subdomain"] = spec["serviceName"]
        names = {t for t, _ in claims}
        volumes = [v for v in pspec.get("volumes") or [] if v.get("name") not in names]
        volumes += [{"name": t, "persistentVolumeClaim": {"claimName": c}} for t, c in claims]
        if volumes:
            pspec["volumes"] = volumes

    template = spec.get("template") or {}
    if ctl.create_pod(key, pname, template, labels, None, None, edit):
        ctl.event(
            rec.obj,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {pname} in StatefulSet {name} successful",
        )


def _create_claim(ctl: WorkloadController, rec: Record, tmpl: Obj, claim: str) -> None:
    """`getPersistentVolumeClaims`: the template with the claim's name and the set's
    selector labels."""
    from podkeeper.manifest import default_object

    selector = (rec.spec.get("selector") or {}).get("matchLabels") or {}
    tmeta = tmpl.get("metadata") or {}
    obj = default_object(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim,
                "namespace": rec.obj["metadata"]["namespace"],
                "labels": {**(tmeta.get("labels") or {}), **selector},
            },
            "spec": copy.deepcopy(tmpl.get("spec") or {}),
        }
    )
    ctl.put(obj)

"""The StatefulSet controller's decisions, pure (`pkg/controller/statefulset`).

Pods are `<set>-<ordinal>` with a stable hostname and one claim per
`volumeClaimTemplates` entry, named `<template>-<set>-<ordinal>`, that outlives its pod.
One `sync` pass looks at the pods that exist and says what to do next:

- `OrderedReady` (the default): create the lowest missing ordinal, and only once
  every lower ordinal is Running and Ready (readiness is the gate); scale down from
  the highest ordinal, one at a time, and only when every other pod is Ready.
- `Parallel`: create and delete every pod at once.
- `RollingUpdate`: pods whose revision is not the update revision and whose ordinal
  is at least `partition` are deleted (then re-created at the new revision) from the
  highest ordinal down, and only while no more than `maxUnavailable` (default 1) pods
  are unavailable: each waits for the previous one to be Ready again.
- `OnDelete`: never deletes for an update; a pod deleted by hand comes back at the
  update revision.
- `minReadySeconds`: a pod counts as available that long after it became Ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def pod_name(set_name: str, ordinal: int) -> str:
    return f"{set_name}-{ordinal}"


def claim_name(template: str, set_name: str, ordinal: int) -> str:
    """`getPersistentVolumeClaimName`: `<claim template>-<set>-<ordinal>`."""
    return f"{template}-{set_name}-{ordinal}"


@dataclass(frozen=True)
class SetSpec:
    replicas: int = 1
    parallel: bool = False  # podManagementPolicy: Parallel
    on_delete: bool = False  # updateStrategy: OnDelete
    partition: int = 0
    max_unavailable: int = 1
    min_ready_seconds: int = 0


@dataclass(frozen=True)
class SetPod:
    ordinal: int
    revision: str
    running: bool = False
    ready_since: float | None = None  # clock seconds the pod became Ready, None if not
    terminating: bool = False

    def available(self, now: float, min_ready_seconds: int) -> bool:
        return (
            self.running
            and self.ready_since is not None
            and now - self.ready_since >= min_ready_seconds
        )


@dataclass
class SetDecision:
    create: list[int] = field(default_factory=list)  # ordinals, at the update revision
    delete: list[int] = field(default_factory=list)  # ordinals
    requeue_at: float | None = None  # a minReadySeconds wait ends then


def sync(spec: SetSpec, pods: list[SetPod], update_revision: str, now: float) -> SetDecision:
    """One pass of `updateStatefulSet` over the set's pods."""
    d = SetDecision()
    by_ordinal = {p.ordinal: p for p in pods}
    if any(p.terminating for p in pods) and not spec.parallel:
        return d  # OrderedReady waits for a terminating pod to be gone

    def available(p: SetPod) -> bool:
        ok = p.available(now, spec.min_ready_seconds)
        if not ok and p.ready_since is not None and p.running:
            due = p.ready_since + spec.min_ready_seconds
            d.requeue_at = due if d.requeue_at is None else min(d.requeue_at, due)
        return ok

    # Scale up: the missing ordinals below replicas, lowest first.
    missing = [i for i in range(spec.replicas) if i not in by_ordinal]
    if missing:
        if spec.parallel:
            d.create = missing
            return d
        first = missing[0]
        if all(available(by_ordinal[i]) for i in range(first) if i in by_ordinal):
            d.create = [first]
        return d
    # Scale down: ordinals at or above replicas, highest first.
    extra = sorted((p.ordinal for p in pods if p.ordinal >= spec.replicas), reverse=True)
    if extra:
        if spec.parallel:
            d.delete = extra
            return d
        others = [p for p in pods if p.ordinal < spec.replicas]
        if all(available(p) for p in others):
            d.delete = [extra[0]]
        return d
    if spec.on_delete:
        return d
    # Rolling update, highest ordinal first, above the partition.
    unavailable = sum(1 for p in pods if not available(p))
    for ordinal in sorted(by_ordinal, reverse=True):
        p = by_ordinal[ordinal]
        if ordinal < spec.partition or p.revision == update_revision:
            continue
        if unavailable >= spec.max_unavailable and available(p):
            break  # wait for the one being replaced to be Ready again
        d.delete.append(ordinal)
        if available(p):
            unavailable += 1
        if unavailable >= spec.max_unavailable:
            break
    return d

"""`kubectl rollout status` for StatefulSets and DaemonSets, pure.

kubectl's `StatefulSetStatusViewer` and `DaemonSetStatusViewer`
(`staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go`): the line to
print and whether the rollout is done, from the object alone. ValueError for a kind
whose update strategy has no rollout (OnDelete), with kubectl's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def statefulset_status(sts: Mapping[str, Any]) -> tuple[str, bool]:
    spec = sts.get("spec") or {}
    status = sts.get("status") or {}
    meta = sts.get("metadata") or {}
    strategy = spec.get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        raise ValueError("rollout status is only available for RollingUpdate strategy type")
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _int(meta.get("generation")) > observed:
        return "Waiting for statefulset spec update to be observed...", False
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and _int(status.get("readyReplicas")) < replicas:
        return (
            f"Waiting for {replicas - _int(status.get('readyReplicas'))} pods to be ready...",
            False,
        )
    rolling = strategy.get("rollingUpdate")
    updated = _int(status.get("updatedReplicas"))
    if isinstance(rolling, dict) and rolling:
        partition = rolling.get("partition")
        if isinstance(replicas, int) and isinstance(partition, int):
            want = replicas - partition
            if updated < want:
                return (
                    f"Waiting for partitioned roll out to finish: {updated} out of {want} new "
                    "pods have been updated...",
                    False,
                )
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    update_rev = str(status.get("updateRevision") or "")
    if update_rev != str(status.get("currentRevision") or ""):
        return (
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_rev}...",
            False,
        )
    return (
        f"statefulset rolling update complete {_int(status.get('currentReplicas'))} pods at "
        f"revision {status.get('currentRevision') or ''}...",
        True,
    )


def daemonset_status(ds: Mapping[str, Any]) -> tuple[str, bool]:
    spec = ds.get("spec") or {}
    status = ds.get("status") or {}
    meta = ds.get("metadata") or {}
    name = meta.get("name", "")
    if ((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate") != "RollingUpdate":
        raise ValueError("rollout status is only available for RollingUpdate strategy type")
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        return "Waiting for daemon set spec update to be observed...", False
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    if updated < desired:
        return (
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} '
            "new pods have been updated...",
            False,
        )
    available = _int(status.get("numberAvailable"))
    if available < desired:
        return (
            f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} '
            "updated pods are available...",
            False,
        )
    return f'daemon set "{name}" successfully rolled out', True

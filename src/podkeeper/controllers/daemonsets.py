"""The DaemonSet controller's driver for a one-node cluster (`pkg/controller/daemon`).

This node always qualifies (podkeeper has no taints or node affinity to check), so
the set wants exactly one pod, `<set>-<5 chars>`, labelled
`controller-revision-hash: <hash>` and `pod-template-generation`. RollingUpdate
(`update.go rollingUpdate`) replaces an old-revision pod: with maxSurge 0 (the
default) the old pod goes first, within maxUnavailable (at least 1 on one node);
with maxSurge >= 1 the new pod starts first and the old one goes once it is Ready.
OnDelete replaces a pod only when someone deletes it. A failed daemon pod is deleted
and created again (`FailedDaemonPod`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from podkeeper.controllers.records import Key, TrackedPod, deleting, phase_of
from podkeeper.core import replicaset as rsmath

if TYPE_CHECKING:
    from podkeeper.controllers.workloads import WorkloadController

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"


def _surge(spec: Obj) -> int:
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxSurge")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        return 1 if value[:-1].strip("0") else 0  # of one node: any non-zero percent is 1
    return 0


def _rev(t: TrackedPod) -> str:
    return str((t.snapshot["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))


def sync(ctl: WorkloadController, key: Key) -> None:
    rec = ctl.objects[key]
    spec = rec.spec
    ns, name = key[1], key[2]
    collision = rec.status.get("collisionCount")
    rev = rsmath.compute_hash(
        spec.get("template") or {}, collision if isinstance(collision, int) else 0
    )
    node = ""
    for t in ctl.owned_pods(key):
        pname = str(t.snapshot["metadata"]["name"])
        node = str((t.snapshot.get("spec") or {}).get("nodeName") or node)
        if phase_of(t.snapshot) == "Failed" and not deleting(t.snapshot):
            ctl.delete_pod((ns, pname), 0)
            ctl.event(
                rec.obj,
                "Warning",
                "FailedDaemonPod",
                f"Found failed daemon pod {ns}/{pname} on node {node}, will try to kill it",
            )
    pods = ctl.owned_pods(key)
    live = [t for t in pods if not deleting(t.snapshot)]
    terminating = [t for t in pods if deleting(t.snapshot)]
    new = [t for t in live if _rev(t) == rev]
    old = [t for t in live if _rev(t) != rev]
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    surge = _surge(spec)
    if not live and not terminating:
        _create(ctl, key, rev)
    elif not on_delete and old:
        if not new and surge >= 1 and not terminating:
            _create(ctl, key, rev)  # surge: the new pod first
        elif not new and surge == 0:
            for t in old:
                _delete(ctl, key, t)  # maxUnavailable >= 1 of one node: the old goes first
        elif new and all(t.seen_ready_at is not None for t in new):
            for t in old:
                _delete(ctl, key, t)
    if len(new) > 1:
        # More than one pod on the node: keep the oldest (`podsShouldBeOnNode`).
        for t in new[1:]:
            _delete(ctl, key, t)
    live = [t for t in ctl.owned_pods(key) if not deleting(t.snapshot)]
    ready = [t for t in live if t.seen_ready_at is not None]
    min_ready = int(spec.get("minReadySeconds") or 0)
    now = ctl.now()
    available = [
        t for t in ready if t.seen_ready_at is not None and now - t.seen_ready_at >= min_ready
    ]
    if len(available) < len(ready):
        waits = [t.seen_ready_at + min_ready for t in ready if t.seen_ready_at is not None]
        ctl.wake_at(key, min(waits))
    rec.obj["status"] = {
        "currentNumberScheduled": min(len(live), 1),
        "desiredNumberScheduled": 1,
        "numberMisscheduled": 0,
        "numberReady": len(ready),
        "numberAvailable": len(available),
        "numberUnavailable": max(0, 1 - len(available)),
        "updatedNumberScheduled": sum(1 for t in live if _rev(t) == rev),
        "observedGeneration": int(rec.obj["metadata"].get("generation", 1)),
    }
    if not rec.obj["status"]["numberUnavailable"]:
        rec.obj["status"].pop("numberUnavailable")
    del name


def _create(ctl: WorkloadController, key: Key, rev: str) -> None:
    rec = ctl.objects[key]
    ns, name = key[1], key[2]
    prefix = f"{name}-"
    pname = ctl.generated_name(ns, prefix)
    labels = {
        REVISION_LABEL: rev,
        GENERATION_LABEL: str(rec.obj["metadata"].get("generation", 1)),
    }
    if ctl.create_pod(key, pname, rec.spec.get("template") or {}, labels, None, prefix):
        ctl.event(rec.obj, "Normal", "SuccessfulCreate", f"Created pod: {pname}")


def _delete(ctl: WorkloadController, key: Key, t: TrackedPod) -> None:
    rec = ctl.objects[key]
    pname = str(t.snapshot["metadata"]["name"])
    ctl.delete_pod((key[1], pname))
    ctl.event(rec.obj, "Normal", "SuccessfulDelete", f"Deleted pod: {pname}")

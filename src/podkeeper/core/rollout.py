"""The Deployment controller's arithmetic, as plain data and functions (issue 4, section 2).

Copied from kube-controller-manager's `pkg/controller/deployment`:
`util/deployment_util.go` (ResolveFenceposts, MaxSurge, MaxUnavailable,
NewRSNewReplicas, IsSaturated, DeploymentComplete/Progressing/TimedOut,
SetNewReplicaSetAnnotations, EqualIgnoreHash), `rolling.go`
(reconcileNewReplicaSet, reconcileOldReplicaSets, cleanupUnhealthyReplicas,
scaleDownOldReplicaSetsForRollingUpdate), `recreate.go`, `sync.go` (scale,
isScalingEvent, calculateStatus, cleanupDeployment), `progress.go`
(syncRolloutStatus, requeueStuckDeployment); pod ranking and availability from
`pkg/controller/controller_utils.go` and `pkg/api/v1/pod/util.go`; names from
`controller.ComputeHash`, `rand.SafeEncodeString` and `names.SimpleNameGenerator`;
and kubectl's client side (`rollback.go` deploymentRevision, `rollout_status.go`).

Pure: no I/O, no clock, no randomness. Time is `now: float` (monotonic seconds),
random name characters come in as integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"

#: deployment_util.go annotationsToSkip: never copied between a Deployment and its ReplicaSets.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deprecated.deployment.rollback.to",
    }
)

# Condition reasons (deployment_util.go).
REASON_RS_UPDATED = "ReplicaSetUpdated"
REASON_NEW_RS_CREATED = "NewReplicaSetCreated"
REASON_FOUND_NEW_RS = "FoundNewReplicaSet"
REASON_NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
REASON_TIMED_OUT = "ProgressDeadlineExceeded"
REASON_MIN_AVAILABLE = "MinimumReplicasAvailable"
REASON_MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"
_MAX_INT32 = 2**31 - 1

# ----------------------------------------------------------------- intstr and fenceposts


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """`intstr.GetScaledValueFromIntOrPercent`: an int as is, `N%` of `total` rounded.

    Raises ValueError for a string that is not a percentage (validation rejects those)."""
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    percent = int(value[:-1])
    # math.Ceil / math.Floor of value*total/100, in exact integer arithmetic.
    return -(-percent * total // 100) if round_up else percent * total // 100


def resolve_fenceposts(
    max_surge: int | str, max_unavailable: int | str, desired: int
) -> tuple[int, int]:
    """`ResolveFenceposts`: (surge, unavailable); surge rounds up, unavailable down, and
    when both resolve to 0, unavailable becomes 1 ("on the theory that surge might not work
    due to quota")."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class RolloutSpec:
    """What the controller reads of a Deployment's spec (defaults as `apps/v1` fills them)."""

    name: str
    replicas: int = 1
    strategy: str = ROLLING_UPDATE
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    min_ready_seconds: int = 0
    progress_deadline_seconds: int | None = 600
    revision_history_limit: int | None = 10
    generation: int = 1

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RolloutSpec:
        """From a defaulted, validated `apps/v1 Deployment` dict."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        return cls(
            name=str(meta.get("name", "")),
            replicas=int(spec.get("replicas", 1)),
            strategy=str(strategy.get("type") or ROLLING_UPDATE),
            max_surge=rolling.get("maxSurge", "25%"),
            max_unavailable=rolling.get("maxUnavailable", "25%"),
            min_ready_seconds=int(spec.get("minReadySeconds") or 0),
            progress_deadline_seconds=spec.get("progressDeadlineSeconds"),
            revision_history_limit=spec.get("revisionHistoryLimit"),
            generation=int(meta.get("generation") or 1),
        )

    @property
    def rolling(self) -> bool:
        return self.strategy == ROLLING_UPDATE

    @property
    def has_progress_deadline(self) -> bool:
        """`HasProgressDeadline`: set and not MaxInt32."""
        return (
            self.progress_deadline_seconds is not None
            and self.progress_deadline_seconds != _MAX_INT32
        )


def max_surge(d: RolloutSpec) -> int:
    """`MaxSurge`: 0 unless RollingUpdate."""
    if not d.rolling:
        return 0
    return resolve_fenceposts(d.max_surge, d.max_unavailable, d.replicas)[0]


def max_unavailable(d: RolloutSpec) -> int:
    """`MaxUnavailable`: 0 unless RollingUpdate or with 0 replicas; at most `replicas`."""
    if not d.rolling or d.replicas == 0:
        return 0
    return min(resolve_fenceposts(d.max_surge, d.max_unavailable, d.replicas)[1], d.replicas)


# ------------------------------------------------------------------------- ReplicaSets


@dataclass(frozen=True)
class ReplicaSetState:
    """One ReplicaSet as the deployment controller sees it: spec size and observed status."""

    name: str
    replicas: int  # spec.replicas
    created: float = 0.0  # creation time, for ReplicaSetsByCreationTimestamp
    revision: int = 0
    status_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    desired_annotation: int | None = None
    max_annotation: int | None = None


@dataclass(frozen=True)
class Scale:
    """Set `rs` to `to` replicas (and its desired/max-replicas annotations to the deployment's)."""

    rs: str
    from_: int
    to: int

    @property
    def changes_size(self) -> bool:
        return self.from_ != self.to

    def event_message(self) -> str:
        """The ScalingReplicaSet event (`sync.go scaleReplicaSet`)."""
        verb = "up" if self.from_ < self.to else "down"
        return f"Scaled {verb} replica set {self.rs} from {self.from_} to {self.to}"


def _by_creation(rss: Iterable[ReplicaSetState]) -> list[ReplicaSetState]:
    """`controller.ReplicaSetsByCreationTimestamp`: oldest first, then by name."""
    return sorted(rss, key=lambda r: (r.created, r.name))


def _active(rss: Iterable[ReplicaSetState | None]) -> list[ReplicaSetState]:
    """`controller.FilterActiveReplicaSets`: spec.replicas > 0."""
    return [r for r in rss if r is not None and r.replicas > 0]


def _spec_total(rss: Iterable[ReplicaSetState | None]) -> int:
    """`GetReplicaCountForReplicaSets`."""
    return sum(r.replicas for r in rss if r is not None)


def new_rs_new_replicas(
    d: RolloutSpec, all_rss: Sequence[ReplicaSetState], new_rs: ReplicaSetState
) -> int:
    """`NewRSNewReplicas`: the new RS's next size. RollingUpdate grows it up to
    `replicas + maxSurge` pods in all; Recreate goes straight to `replicas`."""
    if not d.rolling:
        return d.replicas
    surge = scaled_value(d.max_surge, d.replicas, True)
    current = _spec_total(all_rss)
    max_total = d.replicas + surge
    if current >= max_total:
        return new_rs.replicas
    scale_up = min(max_total - current, d.replicas - new_rs.replicas)
    return new_rs.replicas + scale_up


def _apply(rss: list[ReplicaSetState], scale: Scale) -> list[ReplicaSetState]:
    return [replace(r, replicas=scale.to) if r.name == scale.rs else r for r in rss]


def reconcile_new_replica_set(
    d: RolloutSpec, all_rss: Sequence[ReplicaSetState], new_rs: ReplicaSetState
) -> Scale | None:
    """`rolling.go reconcileNewReplicaSet`: scale the new RS down to `replicas`, or up
    within maxSurge."""
    if new_rs.replicas == d.replicas:
        return None
    if new_rs.replicas > d.replicas:
        return Scale(new_rs.name, new_rs.replicas, d.replicas)
    target = new_rs_new_replicas(d, all_rss, new_rs)
    return Scale(new_rs.name, new_rs.replicas, target) if target != new_rs.replicas else None


def reconcile_old_replica_sets(
    d: RolloutSpec,
    all_rss: Sequence[ReplicaSetState],
    old_rss: Sequence[ReplicaSetState],
    new_rs: ReplicaSetState,
) -> list[Scale]:
    """`rolling.go reconcileOldReplicaSets`: scale old RSs down without going under
    `replicas - maxUnavailable` available pods, counting the new RS's unavailable pods
    as already unavailable: maxScaledDown = all pods - minAvailable - new RS unavailable."""
    old_rss = _active(old_rss)
    if _spec_total(old_rss) == 0:
        return []
    all_count = _spec_total(all_rss)
    min_available = d.replicas - max_unavailable(d)
    new_unavailable = new_rs.replicas - new_rs.available_replicas
    max_scaled_down = all_count - min_available - new_unavailable
    if max_scaled_down <= 0:
        return []
    scales, old_after = _cleanup_unhealthy_replicas(old_rss, max_scaled_down)
    all_after = [*old_after, new_rs]
    scales += _scale_down_old_for_rolling_update(d, all_after, old_after)
    return scales


def _cleanup_unhealthy_replicas(
    old_rss: Sequence[ReplicaSetState], max_cleanup: int
) -> tuple[list[Scale], list[ReplicaSetState]]:
    """`cleanupUnhealthyReplicas`: first remove old pods that are not available anyway
    (kubernetes#16737: unhealthy replicas would otherwise block the rollout)."""
    ordered = _by_creation(old_rss)
    scales: list[Scale] = []
    total = 0
    for i, rs in enumerate(ordered):
        if total >= max_cleanup:
            break
        if rs.replicas == 0 or rs.replicas == rs.available_replicas:
            continue
        count = min(max_cleanup - total, rs.replicas - rs.available_replicas)
        scale = Scale(rs.name, rs.replicas, rs.replicas - count)
        scales.append(scale)
        ordered[i] = replace(rs, replicas=scale.to)
        total += count
    return scales, ordered


def _scale_down_old_for_rolling_update(
    d: RolloutSpec, all_rss: Sequence[ReplicaSetState], old_rss: Sequence[ReplicaSetState]
) -> list[Scale]:
    """`scaleDownOldReplicaSetsForRollingUpdate`: oldest first, by as many pods as are
    available beyond `replicas - maxUnavailable`."""
    min_available = d.replicas - max_unavailable(d)
    available = sum(r.available_replicas for r in all_rss)
    if available <= min_available:
        return []
    to_remove = available - min_available
    removed = 0
    scales = []
    for rs in _by_creation(old_rss):
        if removed >= to_remove:
            break
        if rs.replicas == 0:
            continue
        count = min(rs.replicas, to_remove - removed)
        scales.append(Scale(rs.name, rs.replicas, rs.replicas - count))
        removed += count
    return scales


def rolling_step(
    d: RolloutSpec, new_rs: ReplicaSetState, old_rss: Sequence[ReplicaSetState]
) -> list[Scale]:
    """The scaling part of `rolloutRolling`: scale up if we can, else scale down if we can."""
    all_rss = [*old_rss, new_rs]
    up = reconcile_new_replica_set(d, all_rss, new_rs)
    if up is not None:
        return [up]
    return reconcile_old_replica_sets(d, all_rss, old_rss, new_rs)


def recreate_step(
    d: RolloutSpec,
    new_rs: ReplicaSetState | None,
    old_rss: Sequence[ReplicaSetState],
    old_pods_running: bool,
) -> tuple[list[Scale], bool]:
    """`recreate.go rolloutRecreate`: (scales, create_new_rs). Old RSs go to 0 first; the
    new RS is created and scaled up only once no old pod is left (terminating ones count)."""
    downs = [Scale(r.name, r.replicas, 0) for r in _active(old_rss)]
    if downs:
        return downs, False
    if old_pods_running:
        return [], False
    if new_rs is None:
        return [], True
    if new_rs.replicas != d.replicas:
        return [Scale(new_rs.name, new_rs.replicas, d.replicas)], False
    return [], False


def is_scaling_event(d: RolloutSpec, rss: Iterable[ReplicaSetState | None]) -> bool:
    """`isScalingEvent`: an active RS was sized for another `replicas` than the deployment's."""
    return any(
        r.desired_annotation is not None and r.desired_annotation != d.replicas
        for r in _active(rss)
    )


def is_saturated(d: RolloutSpec, rs: ReplicaSetState | None) -> bool:
    """`IsSaturated`."""
    return rs is not None and rs.replicas == d.replicas and rs.desired_annotation == d.replicas


def _find_active_or_latest(
    new_rs: ReplicaSetState | None, old_rss: Sequence[ReplicaSetState]
) -> ReplicaSetState | None:
    """`FindActiveOrLatest`."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=lambda r: (r.created, r.name), reverse=True)
    active = _active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def _proportion(
    rs: ReplicaSetState, d: RolloutSpec, to_add: int, added: int, status_replicas: int
) -> int:
    """`GetProportion` / `getReplicaSetFraction`."""
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    if d.replicas == 0:
        fraction = -rs.replicas
    else:
        deployment_max = d.replicas + max_surge(d)
        before = rs.max_annotation or status_replicas
        if before == 0:
            fraction = 0
        else:
            size = rs.replicas * deployment_max / before
            fraction = math.floor(size + 0.5) - rs.replicas  # integer.RoundToInt32
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_scale(
    d: RolloutSpec,
    new_rs: ReplicaSetState | None,
    old_rss: Sequence[ReplicaSetState],
    status_replicas: int,
) -> list[Scale]:
    """`sync.go scale`: a `replicas` change. One active RS takes the whole size; a saturated
    new RS zeroes the old ones; otherwise the change is spread in proportion over the active
    RSs (RollingUpdate), leftovers to the largest. Every RS in the spread gets a Scale so that
    its desired/max-replicas annotations are refreshed."""
    only = _find_active_or_latest(new_rs, old_rss)
    if only is not None:
        if only.replicas == d.replicas:
            return []
        return [Scale(only.name, only.replicas, d.replicas)]
    if is_saturated(d, new_rs):
        return [Scale(r.name, r.replicas, 0) for r in _active(old_rss)]
    if not d.rolling:
        return []
    all_rss = _active([*old_rss, new_rs])
    allowed_size = d.replicas + max_surge(d) if d.replicas > 0 else 0
    to_add = allowed_size - _spec_total(all_rss)
    if to_add > 0:
        # ReplicaSetsBySizeNewer: larger first, then newer first.
        all_rss.sort(key=lambda r: (-r.replicas, -r.created, r.name))
    elif to_add < 0:
        # ReplicaSetsBySizeOlder: larger first, then older first.
        all_rss.sort(key=lambda r: (-r.replicas, r.created, r.name))
    added = 0
    sizes: dict[str, int] = {}
    for rs in all_rss:
        if to_add != 0:
            p = _proportion(rs, d, to_add, added, status_replicas)
            sizes[rs.name] = rs.replicas + p
            added += p
        else:
            sizes[rs.name] = rs.replicas
    scales = []
    for i, rs in enumerate(all_rss):
        if i == 0 and to_add != 0:
            sizes[rs.name] = max(0, sizes[rs.name] + to_add - added)
        scales.append(Scale(rs.name, rs.replicas, sizes[rs.name]))
    return scales


def cleanup_candidates(d: RolloutSpec, old_rss: Sequence[ReplicaSetState]) -> list[str]:
    """`cleanupDeployment`: the old RSs beyond `revisionHistoryLimit`, lowest revision
    first, that have no pods and no replicas."""
    if d.revision_history_limit is None or d.revision_history_limit == _MAX_INT32:
        return []
    diff = len(old_rss) - d.revision_history_limit
    if diff <= 0:
        return []
    ordered = sorted(
        old_rss, key=lambda r: (r.revision, r.created, r.name)
    )  # ReplicaSetsByRevision
    return [r.name for r in ordered[:diff] if r.status_replicas == 0 and r.replicas == 0]


# ------------------------------------------------------------------- revisions, templates


def revision_of(annotations: Mapping[str, Any] | None) -> int:
    """`Revision`: the revision annotation as an int, 0 when absent or unparseable."""
    try:
        return int((annotations or {}).get(REVISION_ANNOTATION, "0"))
    except (TypeError, ValueError):
        return 0


def new_rs_annotations(
    deployment_annotations: Mapping[str, str],
    rs_annotations: Mapping[str, str],
    new_revision: int,
    exists: bool,
    replicas: int,
    max_replicas: int,
) -> dict[str, str]:
    """`SetNewReplicaSetAnnotations`: the new RS's annotations. Copies the deployment's own
    (except annotationsToSkip), raises the revision to `new_revision` when lower (keeping the
    old number in `revision-history`: a rollback to this RS), and on creation sets the
    desired/max-replicas annotations."""
    out = dict(rs_annotations)
    for k, v in deployment_annotations.items():
        if k not in ANNOTATIONS_TO_SKIP:
            out[k] = v
    old_text = out.get(REVISION_ANNOTATION)
    old = revision_of(out)
    if old < new_revision:
        out[REVISION_ANNOTATION] = str(new_revision)
        if old_text is not None:
            history = out.get(REVISION_HISTORY_ANNOTATION, "")
            out[REVISION_HISTORY_ANNOTATION] = f"{history},{old_text}" if history else old_text
    if not exists:
        out[DESIRED_REPLICAS_ANNOTATION] = str(replicas)
        out[MAX_REPLICAS_ANNOTATION] = str(max_replicas)
    return out


def template_without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pod template without the `pod-template-hash` label (deep enough for
    comparison: metadata and labels are copied, the rest shared)."""
    out = dict(template)
    meta = dict(out.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
    meta["labels"] = labels
    out["metadata"] = meta
    return out


def equal_ignore_hash(t1: Mapping[str, Any], t2: Mapping[str, Any]) -> bool:
    """`EqualIgnoreHash`: the same pod template apart from the `pod-template-hash` label."""
    a, b = template_without_hash(t1), template_without_hash(t2)
    for t in (a, b):
        meta = t["metadata"]
        for key in [k for k, v in meta.items() if v in ({}, None, "")]:
            del meta[key]
        if not meta:
            del t["metadata"]
    return a == b


def rollback_target(revisions: Mapping[int, Any], to_revision: int, deployment_name: str) -> Any:
    """kubectl `rollback.go deploymentRevision`: the ReplicaSet (any value keyed by its
    revision) to roll back to: `to_revision`, or with 0 the second-newest revision.

    Raises ValueError with kubectl's message when there is none."""
    if to_revision < 0:
        raise ValueError(f"unable to find specified revision {to_revision} in history")
    if to_revision > 0:
        if to_revision in revisions:
            return revisions[to_revision]
        raise ValueError(f"unable to find specified revision {to_revision} in history")
    ordered = sorted(revisions)
    if len(ordered) < 2:
        raise ValueError(f'no rollout history found for deployment "{deployment_name}"')
    return revisions[ordered[-2]]


def rollback_annotations(
    deployment_annotations: Mapping[str, str], rs_annotations: Mapping[str, str]
) -> dict[str, str]:
    """kubectl `rollback.go`: the deployment keeps its annotationsToSkip and takes every other
    annotation from the ReplicaSet it rolls back to (its change-cause included)."""
    out = {k: v for k, v in deployment_annotations.items() if k in ANNOTATIONS_TO_SKIP}
    out.update({k: v for k, v in rs_annotations.items() if k not in ANNOTATIONS_TO_SKIP})
    return out


# --------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Condition:
    """A DeploymentCondition; times are monotonic seconds."""

    type: str
    status: str
    reason: str
    message: str
    last_update: float
    last_transition: float


@dataclass(frozen=True)
class DeploymentStatus:
    """`apps/v1 DeploymentStatus`."""

    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: tuple[Condition, ...] = ()
    collision_count: int | None = None

    def condition(self, type_: str) -> Condition | None:
        for c in self.conditions:
            if c.type == type_:
                return c
        return None


def set_condition(status: DeploymentStatus, new: Condition) -> DeploymentStatus:
    """`SetDeploymentCondition`: unchanged when status and reason are; the transition time
    kept when only the reason changes. The condition moves to the end."""
    current = status.condition(new.type)
    if current is not None and current.status == new.status and current.reason == new.reason:
        return status
    if current is not None and current.status == new.status:
        new = replace(new, last_transition=current.last_transition)
    rest = tuple(c for c in status.conditions if c.type != new.type)
    return replace(status, conditions=(*rest, new))


def remove_condition(status: DeploymentStatus, type_: str) -> DeploymentStatus:
    return replace(status, conditions=tuple(c for c in status.conditions if c.type != type_))


def new_condition(type_: str, status: str, reason: str, message: str, now: float) -> Condition:
    return Condition(type_, status, reason, message, now, now)


def calculate_status(
    d: RolloutSpec,
    all_rss: Sequence[ReplicaSetState],
    new_rs: ReplicaSetState | None,
    old: DeploymentStatus,
    now: float,
) -> DeploymentStatus:
    """`sync.go calculateStatus`: counts from the ReplicaSets and the Available condition."""
    available = sum(r.available_replicas for r in all_rss)
    unavailable = max(0, _spec_total(all_rss) - available)
    status = replace(
        old,
        observed_generation=d.generation,
        replicas=sum(r.status_replicas for r in all_rss),
        updated_replicas=new_rs.status_replicas if new_rs is not None else 0,
        ready_replicas=sum(r.ready_replicas for r in all_rss),
        available_replicas=available,
        unavailable_replicas=unavailable,
    )
    if available >= d.replicas - max_unavailable(d):
        cond = new_condition(
            "Available", "True", REASON_MIN_AVAILABLE, "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            "Available",
            "False",
            REASON_MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    return set_condition(status, cond)


def deployment_complete(d: RolloutSpec, status: DeploymentStatus) -> bool:
    """`DeploymentComplete`: every replica updated and available, no old pods, spec observed."""
    return (
        status.updated_replicas == d.replicas
        and status.replicas == d.replicas
        and status.available_replicas == d.replicas
        and status.observed_generation >= d.generation
    )


def deployment_progressing(old: DeploymentStatus, new: DeploymentStatus) -> bool:
    """`DeploymentProgressing`: more updated, fewer old, more ready or more available pods."""
    return (
        new.updated_replicas > old.updated_replicas
        or (new.replicas - new.updated_replicas) < (old.replicas - old.updated_replicas)
        or new.ready_replicas > old.ready_replicas
        or new.available_replicas > old.available_replicas
    )


def deployment_timed_out(d: RolloutSpec, status: DeploymentStatus, now: float) -> bool:
    """`DeploymentTimedOut`: the Progressing condition is older than the deadline."""
    if not d.has_progress_deadline:
        return False
    cond = status.condition("Progressing")
    if cond is None:
        return False
    if cond.reason == REASON_TIMED_OUT:
        return True
    assert d.progress_deadline_seconds is not None
    return cond.last_update + d.progress_deadline_seconds < now


def sync_rollout_status(
    d: RolloutSpec,
    all_rss: Sequence[ReplicaSetState],
    new_rs: ReplicaSetState | None,
    old: DeploymentStatus,
    now: float,
) -> DeploymentStatus:
    """`progress.go syncRolloutStatus`: calculateStatus plus the Progressing condition:
    NewReplicaSetAvailable when complete, ReplicaSetUpdated on any progress (refreshing
    lastUpdateTime), ProgressDeadlineExceeded when no progress within the deadline."""
    new = calculate_status(d, all_rss, new_rs, old, now)
    if not d.has_progress_deadline:
        new = remove_condition(new, "Progressing")
    current = old.condition("Progressing")
    complete_before = (
        new.replicas == new.updated_replicas
        and current is not None
        and current.reason == REASON_NEW_RS_AVAILABLE
    )
    if d.has_progress_deadline and not complete_before:
        what = f'ReplicaSet "{new_rs.name}"' if new_rs is not None else f'Deployment "{d.name}"'
        if deployment_complete(d, new):
            msg = f"{what} has successfully progressed."
            new = set_condition(
                new, new_condition("Progressing", "True", REASON_NEW_RS_AVAILABLE, msg, now)
            )
        elif deployment_progressing(old, new):
            cond = new_condition(
                "Progressing", "True", REASON_RS_UPDATED, f"{what} is progressing.", now
            )
            if current is not None:
                if current.status == "True":
                    cond = replace(cond, last_transition=current.last_transition)
                new = remove_condition(new, "Progressing")
            new = set_condition(new, cond)
        elif deployment_timed_out(d, new, now):
            msg = f"{what} has timed out progressing."
            new = set_condition(
                new, new_condition("Progressing", "False", REASON_TIMED_OUT, msg, now)
            )
    return new


def progress_check_at(d: RolloutSpec, status: DeploymentStatus) -> float | None:
    """`requeueStuckDeployment`: when to look again for a progress deadline (None: no need)."""
    cond = status.condition("Progressing")
    if not d.has_progress_deadline or cond is None:
        return None
    if deployment_complete(d, status) or cond.reason == REASON_TIMED_OUT:
        return None
    assert d.progress_deadline_seconds is not None
    return cond.last_update + d.progress_deadline_seconds


def new_rs_condition(
    d: RolloutSpec, status: DeploymentStatus, rs_name: str, created: bool, now: float
) -> DeploymentStatus:
    """`sync.go getNewReplicaSet`: NewReplicaSetCreated on creation; FoundNewReplicaSet
    when an existing new RS is found and no Progressing condition exists yet."""
    if not d.has_progress_deadline:
        return status
    if created:
        cond = new_condition(
            "Progressing",
            "True",
            REASON_NEW_RS_CREATED,
            f'Created new replica set "{rs_name}"',
            now,
        )
        return set_condition(status, cond)
    if status.condition("Progressing") is None:
        cond = new_condition(
            "Progressing", "True", REASON_FOUND_NEW_RS, f'Found new replica set "{rs_name}"', now
        )
        return set_condition(status, cond)
    return status


# ------------------------------------------------------------------ kubectl rollout status


def rollout_status(deployment: Mapping[str, Any]) -> tuple[str, bool]:
    """kubectl `DeploymentStatusViewer.Status`: (message, done). Raises ValueError when the
    progress deadline was exceeded."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = meta.get("name", "")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == REASON_TIMED_OUT:
            raise ValueError(f'deployment "{name}" exceeded its progress deadline')
    replicas = spec.get("replicas")
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if replicas is not None and updated < int(replicas):
        return f"{waiting}{updated} out of {replicas} new replicas have been updated...", False
    if total > updated:
        return f"{waiting}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True

"""The Job controller's decisions, pure (`pkg/controller/job/job_controller.go`).

Given a Job's spec and what its pods did, `sync` says which pods to create (by
completion index for `completionMode: Indexed`), when to try again after failures
(the controller's exponential back-off: 10 s doubling to 6 min), and whether the Job
is finished, with the controller's condition reasons and messages:

- `Complete` / `CompletionsReached` "Reached expected number of succeeded pods";
- `Failed` / `BackoffLimitExceeded` "Job has reached the specified backoff limit";
- `Failed` / `DeadlineExceeded` "Job was active longer than specified deadline";
- `Failed` / `PodFailurePolicy` "Container C for pod NS/NAME failed with exit code N
  matching FailJob rule at index I" (`pod_failure_policy.go`).

`podFailurePolicy` rules are tried in order against a failed pod
(`matchPodFailurePolicy`): `onExitCodes` (a container, init containers included,
terminated with a non-zero code In / NotIn the values, optionally only the named
container) or `onPodConditions`; the first match decides: `FailJob`, `FailIndex`,
`Ignore` (the failure is not counted against `backoffLimit`, e.g. an eviction or an
OOM kill that is not the program's fault) or `Count`. No match counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_BACKOFF_LIMIT = 6
BACKOFF_BASE = 10.0  # DefaultJobPodFailureBackOff
BACKOFF_MAX = 360.0  # MaxJobPodFailureBackOff


@dataclass(frozen=True)
class ExitCodesRule:
    operator: str  # In | NotIn
    values: tuple[int, ...]
    container_name: str | None = None


@dataclass(frozen=True)
class PodConditionRule:
    type: str
    status: str = "True"


@dataclass(frozen=True)
class FailurePolicyRule:
    action: str  # FailJob | FailIndex | Ignore | Count
    on_exit_codes: ExitCodesRule | None = None
    on_pod_conditions: tuple[PodConditionRule, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    completions: int | None = None  # None: one success completes the Job (NonIndexed)
    parallelism: int = 1
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    active_deadline_seconds: int | None = None
    indexed: bool = False
    pod_failure_policy: tuple[FailurePolicyRule, ...] = ()
    #: Seconds of the first back-off (the controller's 10 s; scaled down in tests).
    backoff_base: float = BACKOFF_BASE
    #: restartPolicy OnFailure: container restarts of active pods count against backoffLimit.
    restart_on_failure: bool = False


@dataclass(frozen=True)
class ContainerExit:
    name: str
    exit_code: int


@dataclass(frozen=True)
class PodOutcome:
    """One pod of the Job as the controller sees it."""

    name: str
    phase: str  # Pending | Running | Succeeded | Failed
    index: int | None = None
    finished_at: float | None = None  # clock seconds, for the back-off
    exits: tuple[ContainerExit, ...] = ()  # terminated containers (init ones included)
    conditions: tuple[tuple[str, str], ...] = ()  # (type, status), e.g. DisruptionTarget
    namespace: str = "default"
    restarts: int = 0  # restartCount summed over its (init) containers


@dataclass
class JobDecision:
    """What to do now: pods to create (their completion index, or None for NonIndexed),
    when to look again, and the Job's counts and end, if it ended."""

    create: list[int | None] = field(default_factory=list)
    requeue_at: float | None = None
    active: int = 0
    succeeded: int = 0
    failed: int = 0  # counted against backoffLimit (Ignore'd failures excluded)
    ignored: int = 0
    condition: tuple[str, str, str] | None = None  # (type, reason, message)
    delete_active: bool = False  # a failed Job stops its running pods


def backoff_delay(failures: int, base: float = BACKOFF_BASE) -> float:
    """The wait before the next pod after `failures` counted failures in a row; `base`
    scales the whole curve (the cap stays 36 times the base, 6 min for 10 s)."""
    if failures <= 0:
        return 0.0
    cap = BACKOFF_MAX * base / BACKOFF_BASE
    return float(min(base * 2.0 ** (failures - 1), cap))


def match_failure_policy(
    rules: tuple[FailurePolicyRule, ...], pod: PodOutcome
) -> tuple[str, str | None] | None:
    """(action, FailJob message or None) of the first rule a failed pod matches."""
    for i, rule in enumerate(rules):
        ec = rule.on_exit_codes
        if ec is not None:
            for c in pod.exits:
                if c.exit_code == 0 or (ec.container_name and ec.container_name != c.name):
                    continue
                hit = c.exit_code in ec.values
                if hit == (ec.operator == "In"):
                    msg = (
                        f"Container {c.name} for pod {pod.namespace}/{pod.name} failed with exit"
                        f" code {c.exit_code} matching {rule.action} rule at index {i}"
                    )
                    return rule.action, msg
        for cond in rule.on_pod_conditions:
            if (cond.type, cond.status) in pod.conditions:
                msg = (
                    f"Pod {pod.namespace}/{pod.name} has condition {cond.type} matching"
                    f" {rule.action} rule at index {i}"
                )
                return rule.action, msg
    return None


def _past_backoff_limit_on_failure(spec: JobSpec, active: list[PodOutcome]) -> bool:
    """`pastBackoffLimitOnFailure`: with restartPolicy OnFailure a pod never fails, its
    containers restart; their restarts count instead (any restart when the limit is 0)."""
    if not spec.restart_on_failure:
        return False
    restarts = sum(p.restarts for p in active)
    if spec.backoff_limit == 0:
        return restarts > 0
    return restarts >= spec.backoff_limit


def sync(spec: JobSpec, pods: list[PodOutcome], started_at: float, now: float) -> JobDecision:
    """One `syncJob` pass over the Job's pods."""
    d = JobDecision()
    active = [p for p in pods if p.phase in ("Pending", "Running")]
    succeeded = [p for p in pods if p.phase == "Succeeded"]
    failed = [p for p in pods if p.phase == "Failed"]
    d.active = len(active)
    counted: list[PodOutcome] = []
    failed_indexes: set[int] = set()
    for p in failed:
        match = match_failure_policy(spec.pod_failure_policy, p)
        action = match[0] if match else "Count"
        if action == "FailJob":
            d.failed = len(counted) + 1
            d.condition = ("Failed", "PodFailurePolicy", match[1] if match and match[1] else "")
            d.delete_active = True
            return d
        if action == "Ignore":
            d.ignored += 1
            continue
        if action == "FailIndex" and p.index is not None:
            failed_indexes.add(p.index)
        counted.append(p)
    d.failed = len(counted)
    if spec.indexed:
        done = {p.index for p in succeeded if p.index is not None}
        d.succeeded = len(done)
    else:
        d.succeeded = len(succeeded)
    need = spec.completions
    if (need is None and d.succeeded >= 1 and not active) or (
        need is not None and d.succeeded >= need
    ):
        d.condition = (
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        )
        return d
    if d.failed > spec.backoff_limit or _past_backoff_limit_on_failure(spec, active):
        d.condition = (
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
        d.delete_active = True
        return d
    if (
        spec.active_deadline_seconds is not None
        and now - started_at >= spec.active_deadline_seconds
    ):
        d.condition = (
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        )
        d.delete_active = True
        return d
    # Back-off: no new pod until the delay after the latest counted failure has passed.
    if counted:
        last = max(p.finished_at or 0.0 for p in counted)
        ready_at = last + backoff_delay(len(counted), spec.backoff_base)
        if now < ready_at:
            d.requeue_at = ready_at
            return d
    if spec.indexed:
        total = need if need is not None else 1
        busy = {p.index for p in active if p.index is not None}
        done = {p.index for p in succeeded if p.index is not None}
        free = [
            i for i in range(total) if i not in busy and i not in done and i not in failed_indexes
        ]
        d.create = list(free[: max(spec.parallelism - len(active), 0)])
    else:
        # wantActive (job_controller.go manageJob): parallelism, but no more than the
        # completions still owed; without completions any success ends the Job.
        if need is None:
            want = 0 if d.succeeded else spec.parallelism
        else:
            want = min(spec.parallelism, need - d.succeeded)
        d.create = [None] * max(want - len(active), 0)
    return d

"""The Job controller's driver (`pkg/controller/job/job_controller.go` syncJob).

The decisions are `podkeeper.core.job.sync`'s; this module turns the Job's pods into
`PodOutcome`s, creates the pods it asks for (`<job>-<5 chars>`, or
`<job>-<index>-<5 chars>` with `JOB_COMPLETION_INDEX` for `completionMode: Indexed`),
deletes the active ones of a failed Job, writes status and conditions, and deletes
a finished Job after `ttlSecondsAfterFinished` (the ttl-after-finished controller).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from podkeeper.controllers.records import (
    Key,
    Record,
    TrackedPod,
    deleting,
    epoch_of,
    phase_of,
    rfc3339,
)
from podkeeper.core import job as jobmath

if TYPE_CHECKING:
    from podkeeper.controllers.workloads import WorkloadController

Obj = dict[str, Any]

#: Labels the API server puts on a Job's pod template (`batch/v1` since 1.27, plus the
#: legacy ones); the selector uses the controller-uid one.
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
GENERATED_LABELS = (CONTROLLER_UID, JOB_NAME, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME)


def prepare_new(rec: Record) -> None:
    """`batch/v1 Job` PrepareForCreate: the generated selector and template labels."""
    spec = rec.spec
    name = str(rec.obj["metadata"]["name"])
    if spec.get("manualSelector"):
        return
    labels = {
        CONTROLLER_UID: rec.uid,
        JOB_NAME: name,
        LEGACY_CONTROLLER_UID: rec.uid,
        LEGACY_JOB_NAME: name,
    }
    spec["selector"] = {"matchLabels": {CONTROLLER_UID: rec.uid}}
    tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), **labels}


def _strip_generated(template: Any) -> Any:
    out = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        for name in GENERATED_LABELS:
            labels.pop(name, None)
        if not labels:
            out["metadata"].pop("labels")
    if isinstance(out.get("metadata"), dict) and not out["metadata"]:
        out.pop("metadata")
    return out


def keep_server_fields(old: Obj, new: Obj) -> None:
    """An update keeps the generated selector and labels (the user's apply lacks them)."""
    old_spec, new_spec = old.get("spec") or {}, new.setdefault("spec", {})
    if old_spec.get("manualSelector"):
        return
    new_spec["selector"] = copy.deepcopy(old_spec.get("selector"))
    old_labels = ((old_spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    tmeta = new_spec.setdefault("template", {}).setdefault("metadata", {})
    tmeta["labels"] = {
        **(tmeta.get("labels") or {}),
        **{k: v for k, v in old_labels.items() if k in GENERATED_LABELS},
    }


def validate(obj: Obj, existing: Obj | None) -> list[str]:
    """`ValidateJobUpdate`: the pod template and completions are immutable."""
    name = obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    problems = []
    rules = (spec.get("podFailurePolicy") or {}).get("rules")
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if rules and restart != "Never":
        problems.append(
            f'Job.batch "{name}" is invalid: spec.template.spec.restartPolicy: Invalid value: '
            f'"{restart}": only "Never" is supported when podFailurePolicy is specified'
        )
    if existing is None:
        return problems
    old_spec = existing.get("spec") or {}
    if _strip_generated(old_spec.get("template")) != _strip_generated(spec.get("template")):
        problems.append(
            f'Job.batch "{name}" is invalid: spec.template: Invalid value: "...": '
            "field is immutable"
        )
    if old_spec.get("completions") != spec.get("completions"):
        problems.append(
            f'Job.batch "{name}" is invalid: spec.completions: Invalid value: '
            f"{spec.get('completions')}: field is immutable"
        )
    return problems


def job_spec(spec: Obj, backoff_base: float) -> jobmath.JobSpec:
    rules = []
    for raw in (spec.get("podFailurePolicy") or {}).get("rules") or []:
        ec = raw.get("onExitCodes")
        rules.append(
            jobmath.FailurePolicyRule(
                action=str(raw.get("action", "Count")),
                on_exit_codes=jobmath.ExitCodesRule(
                    str(ec.get("operator", "In")),
                    tuple(int(v) for v in ec.get("values") or []),
                    ec.get("containerName"),
                )
                if isinstance(ec, dict)
                else None,
                on_pod_conditions=tuple(
                    jobmath.PodConditionRule(str(c.get("type")), str(c.get("status", "True")))
                    for c in raw.get("onPodConditions") or []
                    if isinstance(c, dict)
                ),
            )
        )
    completions = spec.get("completions")
    ads = spec.get("activeDeadlineSeconds")
    limit = spec.get("backoffLimit")
    return jobmath.JobSpec(
        completions=int(completions) if isinstance(completions, int) else None,
        parallelism=int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1),
        backoff_limit=limit if isinstance(limit, int) else jobmath.DEFAULT_BACKOFF_LIMIT,
        active_deadline_seconds=int(ads) if isinstance(ads, int) else None,
        indexed=spec.get("completionMode") == "Indexed",
        pod_failure_policy=tuple(rules),
        backoff_base=backoff_base,
        restart_on_failure=((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
        == "OnFailure",
    )


def _index_of(pod: Obj) -> int | None:
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    try:
        return int(ann[COMPLETION_INDEX])
    except (KeyError, ValueError, TypeError):
        return None


def outcome(tracked: TrackedPod) -> jobmath.PodOutcome:
    pod = tracked.snapshot
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    exits = []
    restarts = 0
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        restarts += int(cs.get("restartCount") or 0)
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        term = (cs.get("state") or {}).get("terminated")
        if isinstance(term, dict) and term.get("exitCode") is not None:
            exits.append(jobmath.ContainerExit(str(cs.get("name")), int(term["exitCode"])))
    conditions = tuple(
        (str(c.get("type")), str(c.get("status"))) for c in status.get("conditions") or []
    )
    return jobmath.PodOutcome(
        name=str(meta.get("name")),
        phase=phase_of(pod),
        index=_index_of(pod),
        finished_at=tracked.finished_at,
        exits=tuple(exits),
        conditions=conditions,
        namespace=str(meta.get("namespace") or "default"),
        restarts=restarts,
    )


def pod_lost(ctl: WorkloadController, rec: Record, tracked: TrackedPod, last: Obj) -> None:
    """A pod of the Job went away. A finished one keeps counting with its outcome; one
    that had not finished and that the controller did not delete (a user's `delete pod`,
    an eviction) counts as failed, as the Job controller's finalizer tracking counts it
    (`job_controller.go` trackJobStatusAndRemoveFinalizers). Remembered in the Job's
    record, since the pod object is gone."""
    done = phase_of(last) in ("Succeeded", "Failed")
    if not done and tracked.deleted_by_controller:
        return
    lost = list(rec.extra.get("lost", []))
    phase = phase_of(last) if done else "Failed"
    meta = last.get("metadata") or {}
    lost.append(
        {
            "name": str(meta.get("name")),
            "phase": phase,
            "index": _index_of(last),
            "finished_at": tracked.finished_at if tracked.finished_at is not None else ctl.now(),
        }
    )
    rec.extra["lost"] = lost


def _lost_outcomes(rec: Record) -> list[jobmath.PodOutcome]:
    return [
        jobmath.PodOutcome(
            name=str(item["name"]),
            phase=str(item["phase"]),
            index=item["index"],
            finished_at=float(item["finished_at"]),
            namespace=str(rec.obj["metadata"]["namespace"]),
        )
        for item in rec.extra.get("lost", [])
    ]


def finished(obj: Obj) -> str | None:
    """`Complete` or `Failed` when the Job has that condition True, else None."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def _compress(indexes: list[int]) -> str:
    """`succeededIndexesStr`: `1,3-5,7`."""
    out: list[str] = []
    for i in sorted(set(indexes)):
        if out:
            last = out[-1]
            lo, _, hi = last.partition("-")
            end = int(hi or lo)
            if end == i - 1:
                out[-1] = f"{lo}-{i}"
                continue
        out.append(str(i))
    return ",".join(out)


def sync(ctl: WorkloadController, key: Key) -> None:
    rec = ctl.objects[key]
    spec, status = rec.spec, rec.status
    now = ctl.now()
    if finished(rec.obj):
        _after_finished(ctl, key, rec, now)
        return
    tracked = ctl.owned_pods(key)
    if _suspension(ctl, rec, tracked, now):
        return
    if "startTime" not in status:
        status["startTime"] = rfc3339(ctl.wall())
        rec.extra["started"] = now
    status = rec.status
    started = float(rec.extra.get("started", rec.created))
    # A pod the controller is deleting is no longer active; it still counts once it ended.
    live = [
        t
        for t in tracked
        if not (deleting(t.snapshot) and phase_of(t.snapshot) in ("Pending", "Running"))
    ]
    outcomes = [outcome(t) for t in live] + _lost_outcomes(rec)
    jspec = job_spec(spec, ctl.settings.job_backoff_base)
    d = jobmath.sync(jspec, outcomes, started, now)
    ns = key[1]
    template = spec.get("template") or {}
    for index in d.create:
        _create(ctl, key, template, index)
    if d.delete_active:
        for t in live:
            if phase_of(t.snapshot) in ("Pending", "Running"):
                pname = str(t.snapshot["metadata"]["name"])
                ctl.delete_pod((ns, pname))
                ctl.event(rec.obj, "Normal", "SuccessfulDelete", f"Deleted pod: {pname}")
    active = [t for t in ctl.owned_pods(key) if phase_of(t.snapshot) in ("Pending", "Running")]
    active = [t for t in active if not deleting(t.snapshot)]
    status["active"] = len(active) if not d.delete_active else 0
    status["ready"] = sum(1 for t in active if t.seen_ready_at is not None)
    status["succeeded"] = d.succeeded
    status["failed"] = d.failed
    status["terminating"] = sum(
        1
        for t in ctl.owned_pods(key)
        if deleting(t.snapshot) and phase_of(t.snapshot) in ("Pending", "Running")
    )
    if jspec.indexed:
        done = [o.index for o in outcomes if o.phase == "Succeeded" and o.index is not None]
        status["completedIndexes"] = _compress(done)
    rec.obj["status"] = {k: v for k, v in status.items() if v not in (None, "") or k == "active"}
    status = rec.status
    if d.condition is not None:
        type_, reason, message = d.condition
        wall = rfc3339(ctl.wall())
        _set_condition(status, type_, "True", reason, message, wall)
        rec.extra["finished_at"] = now
        if type_ == "Complete":
            status["completionTime"] = wall
            ctl.event(rec.obj, "Normal", "Completed", "Job completed")
        else:
            ctl.event(rec.obj, "Warning", reason, message)
        status["active"] = 0
        _after_finished(ctl, key, rec, now)
        return
    wake = d.requeue_at
    if jspec.active_deadline_seconds is not None:
        deadline = started + jspec.active_deadline_seconds
        wake = deadline if wake is None else min(wake, deadline)
    ctl.wake_at(key, wake)


def _set_condition(
    status: Obj, type_: str, value: str, reason: str, message: str, wall: str
) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    conditions.append(
        {
            "type": type_,
            "status": value,
            "lastProbeTime": wall,
            "lastTransitionTime": wall,
            "reason": reason,
            "message": message,
        }
    )
    status["conditions"] = conditions


def _suspension(
    ctl: WorkloadController, rec: Record, tracked: list[TrackedPod], now: float
) -> bool:
    """`spec.suspend` (job_controller.go): a suspended Job deletes its active pods and gets
    the Suspended condition; resuming flips it to False and restarts the clock of
    activeDeadlineSeconds (startTime is reset). True while suspended."""
    status = rec.status
    current = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Suspended"), None
    )
    wall = rfc3339(ctl.wall())
    if rec.spec.get("suspend"):
        for t in tracked:
            if phase_of(t.snapshot) in ("Pending", "Running") and not deleting(t.snapshot):
                ctl.delete_pod(
                    (rec.obj["metadata"]["namespace"], str(t.snapshot["metadata"]["name"]))
                )
        if current is None or current.get("status") != "True":
            _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", wall)
            ctl.event(rec.obj, "Normal", "Suspended", "Job suspended")
        status["active"] = 0
        status.pop("startTime", None)
        return True
    if current is not None and current.get("status") == "True":
        _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", wall)
        ctl.event(rec.obj, "Normal", "Resumed", "Job resumed")
        rec.extra["started"] = now
        status["startTime"] = wall
    return False


def _create(ctl: WorkloadController, key: Key, template: Obj, index: int | None) -> None:
    ns, name = key[1], key[2]
    rec = ctl.objects[key]
    prefix = f"{name}-{index}-" if index is not None else f"{name}-"
    pod_name = ctl.generated_name(ns, prefix)
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    if index is not None:
        annotations[COMPLETION_INDEX] = str(index)
        labels[COMPLETION_INDEX] = str(index)

    def edit(pod: Obj) -> None:
        if index is None:
            return
        # The API server's Indexed-Job admission (`addCompletionIndexEnvVariables`):
        # every container, init ones too, gets JOB_COMPLETION_INDEX from the annotation.
        for group in ("initContainers", "containers"):
            for c in pod["spec"].get(group) or []:
                env = [e for e in c.get("env") or [] if e.get("name") != COMPLETION_INDEX_ENV]
                env.insert(0, {"name": COMPLETION_INDEX_ENV, "value": str(index)})
                c["env"] = env

    if ctl.create_pod(key, pod_name, template, labels, annotations, prefix, edit):
        ctl.event(rec.obj, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}")


def _after_finished(ctl: WorkloadController, key: Key, rec: Record, now: float) -> None:
    """The ttl-after-finished controller: delete the Job (and its pods) when due."""
    ttl = rec.spec.get("ttlSecondsAfterFinished")
    if not isinstance(ttl, int):
        return
    done_at = rec.extra.get("finished_at")
    if done_at is None:
        # Restored: the condition's transition time, on this clock.
        times = [
            epoch_of(c.get("lastTransitionTime"))
            for c in rec.status.get("conditions") or []
            if c.get("status") == "True"
        ]
        epoch = max((t for t in times if t is not None), default=None)
        done_at = now - max(0.0, ctl.wall() - epoch) if epoch is not None else now
        rec.extra["finished_at"] = done_at
    due = float(done_at) + ttl
    if now >= due:
        ctl.remove(key)
    else:
        ctl.wake_at(key, due)

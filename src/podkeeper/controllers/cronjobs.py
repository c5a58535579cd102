"""The CronJob controller's driver (`pkg/controller/cronjob/cronjob_controllerv2.go` syncCronJob).

Schedules are `podkeeper.core.cron`'s. A Job is named `<cronjob>-<scheduled time in
minutes since the epoch>` (`getJobName`), carries the scheduled time in the
`batch.kubernetes.io/cronjob-scheduled-timestamp` annotation and is owned by the
CronJob. concurrencyPolicy Allow / Forbid / Replace, startingDeadlineSeconds,
suspend and the successful/failed history limits behave as the controller's.

The CronJob clock may run faster than the wall clock (`WorkloadSettings.cron_minute_seconds`,
env `PODKEEPER_CRON_MINUTE_SECONDS`): one scheduled minute then lasts that many real seconds,
so a test sees several runs of `*/1 * * * *` in half a minute. Times the controller
writes (lastScheduleTime, Job names) are then in that scaled time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from podkeeper.controllers import jobs
from podkeeper.controllers.records import Key, Record, epoch_of, rfc3339
from podkeeper.core import cron

if TYPE_CHECKING:
    from podkeeper.controllers.workloads import WorkloadController

Obj = dict[str, Any]

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def validate(obj: Obj) -> list[str]:
    """`validateCronJobSpec`: the schedule parses, the time zone is known."""
    name = obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule")
    if not isinstance(schedule, str) or not schedule:
        return [f'CronJob.batch "{name}" is invalid: spec.schedule: Required value']
    out = []
    if "TZ" in schedule:
        # validation.go validateScheduleFormat (new objects): the zone goes in spec.timeZone.
        return [
            f'CronJob.batch "{name}" is invalid: spec.schedule: Invalid value: "{schedule}": '
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        ]
    try:
        cron.parse(schedule)
    except cron.ScheduleError as err:
        out.append(
            f'CronJob.batch "{name}" is invalid: spec.schedule: Invalid value: "{schedule}": {err}'
        )
    zone = spec.get("timeZone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            out.append(
                f'CronJob.batch "{name}" is invalid: spec.timeZone: Invalid value: "{zone}": '
                "unknown time zone " + str(zone)
            )
    return out


def _zone(spec: Obj) -> tzinfo:
    zone = spec.get("timeZone")
    if zone:
        try:
            return ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    # Without timeZone the controller manager's local time zone.
    local = datetime.now().astimezone().tzinfo
    return local or UTC


class CronClock:
    """Wall time as the CronJob controller sees it: real, or scaled around an anchor
    (the controller's start)."""

    def __init__(self, ctl: WorkloadController) -> None:
        self.anchor = ctl.cron_anchor
        self.factor = 60.0 / ctl.settings.cron_minute_seconds

    def virtual(self, wall: float) -> float:
        return self.anchor + (wall - self.anchor) * self.factor

    def real(self, virtual: float) -> float:
        return self.anchor + (virtual - self.anchor) / self.factor

    def real_delay(self, virtual_seconds: float) -> float:
        return virtual_seconds / self.factor


def _start_time(job: Obj) -> float:
    return (
        epoch_of((job.get("status") or {}).get("startTime"))
        or epoch_of(job["metadata"].get("creationTimestamp"))
        or 0.0
    )


def sync(ctl: WorkloadController, key: Key) -> None:
    rec = ctl.objects[key]
    spec, status = rec.spec, rec.status
    clock = CronClock(ctl)
    tz = _zone(spec)
    owned = ctl.owned(key, "Job")
    # Jobs: active ones, and the finished ones seen for the first time.
    active = [j for j in owned if jobs.finished(j.obj) is None]
    seen: set[str] = set(rec.extra.get("seen_finished", ()))
    for j in owned:
        result = jobs.finished(j.obj)
        jname = str(j.obj["metadata"]["name"])
        if result is not None and jname not in seen:
            seen.add(jname)
            ctl.event(
                rec.obj,
                "Normal",
                "SawCompletedJob",
                f"Saw completed job: {jname}, condition: {result}",
            )
            if result == "Complete":
                done = (j.obj.get("status") or {}).get("completionTime")
                if done and (status.get("lastSuccessfulTime") or "") < done:
                    status["lastSuccessfulTime"] = done
    rec.extra["seen_finished"] = sorted(seen & {str(j.obj["metadata"]["name"]) for j in owned})
    _cleanup(ctl, rec, [j for j in owned if jobs.finished(j.obj) is not None])
    _set_active(status, active)
    if spec.get("suspend"):
        return
    try:
        schedule = cron.parse(str(spec.get("schedule", "")))
    except cron.ScheduleError as err:
        ctl.event(rec.obj, "Warning", "UnparseableSchedule", f"unparseable schedule: {err}")
        return
    vnow = datetime.fromtimestamp(clock.virtual(ctl.wall()), tz)
    # Stored times are real ones; only the schedule arithmetic runs on the scaled clock.
    last = epoch_of(status.get("lastScheduleTime"))
    if last is None:
        last = epoch_of(rec.obj["metadata"].get("creationTimestamp")) or ctl.wall()
    # The exact scheduled time run last (status keeps whole seconds of real time).
    exact = rec.extra.get("last_scheduled")
    earliest = datetime.fromtimestamp(
        exact if isinstance(exact, float) else clock.virtual(last), tz
    )
    deadline = spec.get("startingDeadlineSeconds")
    deadline = int(deadline) if isinstance(deadline, int) else None
    missed = cron.missed_schedules(schedule, earliest, vnow, deadline)
    if missed.too_many:
        ctl.event(
            rec.obj,
            "Warning",
            "TooManyMissedTimes",
            f"too many missed start times: {missed.count}. Set or decrease "
            ".spec.startingDeadlineSeconds or check clock skew",
        )
    scheduled = missed.latest
    if scheduled is not None:
        if not cron.within_deadline(scheduled, vnow, deadline):
            ctl.event(
                rec.obj,
                "Warning",
                "MissSchedule",
                f"Missed scheduled time to start a job: {scheduled.isoformat()}",
            )
        else:
            _run(ctl, key, rec, scheduled, active, clock)
    _wake(ctl, key, schedule, vnow, clock)


def _set_active(status: Obj, active: list[Record]) -> None:
    refs = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": str(j.obj["metadata"]["name"]),
            "namespace": str(j.obj["metadata"]["namespace"]),
            "uid": j.uid,
        }
        for j in active
    ]
    if refs:
        status["active"] = refs
    else:
        status.pop("active", None)


def _run(
    ctl: WorkloadController,
    key: Key,
    rec: Record,
    scheduled: datetime,
    active: list[Record],
    clock: CronClock,
) -> None:
    spec, status = rec.spec, rec.status
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        ctl.event(
            rec.obj,
            "Normal",
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid",
        )
        return
    if policy == "Replace":
        for j in active:
            jname = str(j.obj["metadata"]["name"])
            ctl.remove(("Job", key[1], jname))
            ctl.event(rec.obj, "Normal", "SuccessfulDelete", f"Deleted job {jname}")
        active = []
    name = f"{key[2]}-{int(scheduled.timestamp()) // 60}"
    if ("Job", key[1], name) not in ctl.objects:
        _create_job(ctl, key, rec, name, scheduled)
        ctl.event(rec.obj, "Normal", "SuccessfulCreate", f"Created job {name}")
        created = ctl.objects.get(("Job", key[1], name))
        if created is not None:
            active = [*active, created]
    status["lastScheduleTime"] = rfc3339(clock.real(scheduled.timestamp()))
    rec.extra["last_scheduled"] = scheduled.timestamp()
    _set_active(status, active)


def _create_job(
    ctl: WorkloadController, key: Key, rec: Record, name: str, scheduled: datetime
) -> None:
    """`getJobFromTemplate2`."""
    import copy

    from podkeeper.manifest import default_object

    template = rec.spec.get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = {
        **(tmeta.get("annotations") or {}),
        SCHEDULED_TIMESTAMP: scheduled.isoformat(),
    }
    job = default_object(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": key[1],
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": annotations,
                "ownerReferences": [ctl.owner_reference(rec)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
    )
    ctl.put(job)


def _cleanup(ctl: WorkloadController, rec: Record, done: list[Record]) -> None:
    """`cleanupFinishedJobs`: keep the newest successful/failed Jobs up to the limits."""
    spec = rec.spec
    for result, limit_name in (
        ("Complete", "successfulJobsHistoryLimit"),
        ("Failed", "failedJobsHistoryLimit"),
    ):
        limit = spec.get(limit_name)
        if not isinstance(limit, int):
            continue
        these = sorted(
            (j for j in done if jobs.finished(j.obj) == result), key=lambda j: _start_time(j.obj)
        )
        for j in these[: max(len(these) - limit, 0)]:
            jname = str(j.obj["metadata"]["name"])
            ctl.remove(("Job", str(j.obj["metadata"]["namespace"]), jname))
            ctl.event(rec.obj, "Normal", "SuccessfulDelete", f"Deleted job {jname}")


def _wake(
    ctl: WorkloadController, key: Key, schedule: cron.Schedule, vnow: datetime, clock: CronClock
) -> None:
    nxt = cron.next_after(schedule, vnow)
    if nxt is None:
        return
    delay = clock.real_delay((nxt - vnow) / timedelta(seconds=1))
    ctl.wake_at(key, ctl.now() + delay)

"""Rules about scheduling and batch settings: requests, CronJob deadlines, finished Jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from podkeeper.lint.finding import Hit, RawTarget, Severity, Target


def requests_missing(t: Target) -> Iterator[Hit]:
    """A container without a memory or CPU request (none given and no limit to default from)."""
    for path, c in [*t.containers(), *t.init_containers()]:
        r = c.resources
        missing = [
            name
            for name, request, limit in (
                ("memory", r.requests_memory, r.limits_memory),
                ("cpu", r.requests_cpu_milli, r.limits_cpu_milli),
            )
            # The API server defaults a missing request to the limit (SetDefaults_Container).
            if request is None and limit is None
        ]
        if not missing:
            continue
        words = " and ".join(missing)
        yield Hit(
            # No memory request is the costly one (eviction order, OOM); CPU alone is info.
            severity=Severity.WARNING if "memory" in missing else Severity.INFO,
            path=f"{path}.resources",
            container=c.name,
            message=f"container {c.name!r} requests no {words}",
            why=(
                "The scheduler places pods by their requests: a container that requests nothing "
                "is placed as if it needed nothing, so nodes are overcommitted and it competes "
                "for CPU with a minimal share (cpu.weight of 1 share). Without any request or "
                "limit the pod is BestEffort, the first evicted under node pressure."
            ),
            fix=(
                f"Set resources.requests.{missing[0]} (and "
                + ("cpu" if missing[0] == "memory" else "memory")
                + ") to the container's usual use, e.g. `resources: {requests: "
                "{cpu: 100m, memory: 128Mi}}`."
            ),
        )


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def cronjob_deadline_missing(t: RawTarget) -> Iterator[Hit]:
    """A CronJob without startingDeadlineSeconds."""
    if t.kind != "CronJob" or _spec(t.obj).get("startingDeadlineSeconds") is not None:
        return
    yield Hit(
        path="spec",
        message=f"CronJob {t.name!r} has no startingDeadlineSeconds",
        why=(
            "Without a deadline the CronJob controller counts every schedule missed since the "
            "last run (controller downtime, suspend, a paused cluster); past 100 it stops "
            "scheduling the CronJob with `too many missed start times` "
            "(pkg/controller/cronjob/utils.go), and a late run starts whenever the controller "
            "comes back, however late."
        ),
        fix=(
            "Set spec.startingDeadlineSeconds to how late a run may still start, e.g. 300 "
            "(and shorter than the schedule's interval)."
        ),
    )


def job_ttl_missing(t: RawTarget) -> Iterator[Hit]:
    """A Job (not one a CronJob makes) without ttlSecondsAfterFinished."""
    if t.kind != "Job" or _spec(t.obj).get("ttlSecondsAfterFinished") is not None:
        return
    yield Hit(
        path="spec",
        message=f"Job {t.name!r} has no ttlSecondsAfterFinished",
        why=(
            "A finished Job and its pods stay until someone deletes them: they pile up, keep "
            "their logs and block re-applying the same Job (its pod template is immutable). "
            "The TTL controller removes them once the time is up (ttlSecondsAfterFinished)."
        ),
        fix="Set spec.ttlSecondsAfterFinished, e.g. 86400 to keep a finished Job for a day.",
    )

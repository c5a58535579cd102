"""Rules about scheduling and batch settings: requests, CronJob deadlines, finished Jobs."""

from __future__ import annotations

import re
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


# `exit 3`, `exit $RC` (not `exit 0`): a script that ends non-zero on purpose.
_EXIT_RE = re.compile(r"(?<![\w-])exit\s+(?!0\b)(\d+|\$\w+|\$\{\w+\})")


def _job_spec(t: RawTarget) -> tuple[str, dict[str, Any]] | None:
    spec = _spec(t.obj)
    if t.kind == "Job":
        return "spec", spec
    if t.kind == "CronJob":
        job = spec.get("jobTemplate")
        inner = job.get("spec") if isinstance(job, dict) else None
        return "spec.jobTemplate.spec", inner if isinstance(inner, dict) else {}
    return None


def job_backoff_default(t: RawTarget) -> Iterator[Hit]:
    """A Job left at backoffLimit 6 whose containers exit non-zero by design."""
    found = _job_spec(t)
    if found is None:
        return
    path, spec = found
    # The object is defaulted: an unset backoffLimit reads 6 here.
    if spec.get("backoffLimit") not in (None, 6) or spec.get("podFailurePolicy") is not None:
        return
    pod_spec = t.template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, dict):
            continue
        words = [
            w
            for key in ("command", "args")
            if isinstance(c.get(key), list)
            for w in c[key]
            if isinstance(w, str)
        ]
        m = next((m for w in words if (m := _EXIT_RE.search(w))), None)
        if m is None:
            continue
        yield Hit(
            path=path,
            container=str(c.get("name", "")),
            message=(
                f"{t.kind} {t.name!r} keeps backoffLimit at the default 6 although container "
                f"{c.get('name')!r} exits non-zero on purpose (`{m.group(0)}`)"
            ),
            why=(
                "Every failed pod counts against backoffLimit and is retried after an "
                "exponential back-off (10 s, 20 s, 40 s... up to 6 min, job controller): a "
                "deliberate non-zero exit is retried 6 times and the Job takes about 10 "
                "minutes to report a failure the first run already knew."
            ),
            fix=(
                f"Set {path}.backoffLimit to the retries you want (0 when a failure is final), "
                "or a podFailurePolicy with an onExitCodes rule (action: FailJob) for the "
                "codes that mean a final failure."
            ),
        )
        return

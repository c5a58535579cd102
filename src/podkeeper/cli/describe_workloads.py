"""`podkeeper describe` for Jobs, CronJobs, StatefulSets, DaemonSets and claims.

The main lines of kubectl's `describe.go` (`JobDescriber`, `CronJobDescriber`,
`StatefulSetDescriber`, `DaemonSetDescriber`, `PersistentVolumeClaimDescriber`),
with the pod template and events as `describe deployment` prints them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podkeeper.cli._text import dicts, get, rfc1123z
from podkeeper.cli.kinds import format_selector

Obj = dict[str, Any]


def _pods_status(pods: list[Obj]) -> str:
    """`Pods Status: 1 Running / 0 Waiting / 2 Succeeded / 1 Failed`."""
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for p in pods:
        phase = str(get(p, "status", "phase") or "Pending")
        counts[phase] = counts.get(phase, 0) + 1
    return (
        f"{counts['Running']} Running / {counts['Pending']} Waiting / "
        f"{counts['Succeeded']} Succeeded / {counts['Failed']} Failed"
    )


def describe_workload(obj: Obj, pods: list[Obj], events: list[Obj], now: datetime) -> str:
    from podkeeper.cli import describe as d

    kind = str(obj.get("kind"))
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace') or 'default'}"]
    if kind == "PersistentVolumeClaim":
        lines.append(f"StorageClass:\t{spec.get('storageClassName') or ''}")
        lines.append(f"Status:\t{status.get('phase') or 'Pending'}")
        lines.append(f"Volume:\t{spec.get('volumeName') or ''}")
        d._multiline("Labels", meta.get("labels"), lines)
        d._annotations(meta.get("annotations"), lines)
        lines.append(f"Capacity:\t{(status.get('capacity') or {}).get('storage') or ''}")
        lines.append(f"Access Modes:\t{','.join(status.get('accessModes') or [])}")
        lines.append(f"VolumeMode:\t{spec.get('volumeMode') or 'Filesystem'}")
        users = [
            str(get(p, "metadata", "name"))
            for p in pods
            if any(
                get(v, "persistentVolumeClaim", "claimName") == meta.get("name")
                for v in dicts(get(p, "spec", "volumes"))
            )
        ]
        lines.append(f"Used By:\t{', '.join(users) or '<none>'}")
        return d._with_events(lines, events, now)
    lines.append(f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}")
    if kind != "CronJob":
        lines.append(f"Selector:\t{format_selector(spec.get('selector'))}")
    d._multiline("Labels", meta.get("labels"), lines)
    d._annotations(meta.get("annotations"), lines)
    template = spec.get("template") or {}
    if kind == "Job":
        lines += _job_lines(spec, status, pods)
    elif kind == "CronJob":
        lines.append(f"Schedule:\t{spec.get('schedule', '')}")
        lines.append(f"Concurrency Policy:\t{spec.get('concurrencyPolicy') or 'Allow'}")
        lines.append(f"Suspend:\t{'True' if spec.get('suspend') else 'False'}")
        lines.append(f"Successful Job History Limit:\t{spec.get('successfulJobsHistoryLimit')}")
        lines.append(f"Failed Job History Limit:\t{spec.get('failedJobsHistoryLimit')}")
        deadline = spec.get("startingDeadlineSeconds")
        lines.append(
            "Starting Deadline Seconds:\t" + (f"{deadline}s" if deadline is not None else "<unset>")
        )
        job_spec = get(spec, "jobTemplate", "spec") or {}
        template = job_spec.get("template") or {}
        last = status.get("lastScheduleTime")
        lines.append(f"Last Schedule Time:\t{rfc1123z(last) if last else '<unset>'}")
        active = [str(a.get("name")) for a in dicts(status.get("active"))]
        lines.append(f"Active Jobs:\t{', '.join(active) or '<none>'}")
    elif kind == "StatefulSet":
        lines.append(
            f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('replicas', 0)} total"
        )
        strategy = spec.get("updateStrategy") or {}
        lines.append(f"Update Strategy:\t{strategy.get('type') or 'RollingUpdate'}")
        partition = get(strategy, "rollingUpdate", "partition")
        if partition is not None:
            lines.append(f"  Partition:\t{partition}")
        lines.append(f"Pods Status:\t{_pods_status(pods)}")
    elif kind == "DaemonSet":
        lines.append(
            f"Desired Number of Nodes Scheduled: {status.get('desiredNumberScheduled', 0)}"
        )
        lines.append(
            f"Current Number of Nodes Scheduled: {status.get('currentNumberScheduled', 0)}"
        )
        lines.append(
            f"Number of Nodes Scheduled with Up-to-date Pods: "
            f"{status.get('updatedNumberScheduled', 0)}"
        )
        lines.append(
            f"Number of Nodes Scheduled with Available Pods: {status.get('numberAvailable', 0)}"
        )
        lines.append(f"Number of Nodes Misscheduled: {status.get('numberMisscheduled', 0)}")
        lines.append(f"Pods Status:\t{_pods_status(pods)}")
    lines += d._pod_template_lines(template)
    if kind == "StatefulSet":
        claims = dicts(spec.get("volumeClaimTemplates"))
        lines.append("Volume Claims:" + ("" if claims else "\t<none>"))
        for c in claims:
            lines.append(f"  Name:\t{get(c, 'metadata', 'name')}")
            lines.append(f"  StorageClass:\t{get(c, 'spec', 'storageClassName') or ''}")
            lines.append(f"  Capacity:\t{get(c, 'spec', 'resources', 'requests', 'storage') or ''}")
            lines.append(f"  Access Modes:\t{','.join(get(c, 'spec', 'accessModes') or [])}")
    conditions = dicts(status.get("conditions"))
    if kind == "Job" and conditions:
        lines.append("Conditions:")
        lines.append("  Type\tStatus\tReason")
        lines.append("  ----\t------\t------")
        lines += [
            f"  {c.get('type')}\t{c.get('status')}\t{c.get('reason') or ''}" for c in conditions
        ]
    return d._with_events(lines, events, now)


def _job_lines(spec: Obj, status: Obj, pods: list[Obj]) -> list[str]:
    lines = [f"Parallelism:\t{spec.get('parallelism', 1)}"]
    completions = spec.get("completions")
    lines.append(f"Completions:\t{completions if completions is not None else '<unset>'}")
    lines.append(f"Completion Mode:\t{spec.get('completionMode') or 'NonIndexed'}")
    lines.append(f"Suspend:\t{'true' if spec.get('suspend') else 'false'}")
    lines.append(f"Backoff Limit:\t{spec.get('backoffLimit', 6)}")
    if spec.get("ttlSecondsAfterFinished") is not None:
        lines.append(f"TTL Seconds After Finished:\t{spec['ttlSecondsAfterFinished']}")
    if status.get("startTime"):
        lines.append(f"Start Time:\t{rfc1123z(status['startTime'])}")
    if status.get("completionTime"):
        lines.append(f"Completed At:\t{rfc1123z(status['completionTime'])}")
    if spec.get("activeDeadlineSeconds") is not None:
        lines.append(f"Active Deadline Seconds:\t{spec['activeDeadlineSeconds']}s")
    lines.append(
        f"Pods Statuses:\t{status.get('active', 0)} Active ({status.get('ready', 0)} Ready) / "
        f"{status.get('succeeded', 0)} Succeeded / {status.get('failed', 0)} Failed"
    )
    if spec.get("completionMode") == "Indexed":
        lines.append(f"Completed Indexes:\t{status.get('completedIndexes') or '<none>'}")
    del pods
    return lines

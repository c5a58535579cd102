"""Printer columns of Jobs, CronJobs, StatefulSets, DaemonSets and PersistentVolumeClaims.

The kube-apiserver's `pkg/printers/internalversion/printers.go` (`printJob`,
`printCronJob`, `printStatefulSet`, `printDaemonSet`,
`printPersistentVolumeClaim`), as `api/tables.py` does for the other kinds: pure
functions of the object and `now` (epoch seconds). `podkeeper get` prints the same
cells (cli/get.py), so both front ends show kubectl's table.
"""

from __future__ import annotations

from typing import Any

from podkeeper.api.selectors import format_selector
from podkeeper.api.tables import Cell, Column, epoch, since
from podkeeper.core.duration import human_duration

Obj = dict[str, Any]

_NAME = Column("Name", format="name", description="Name must be unique within a namespace.")
_AGE = Column(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this object "
    "was created.",
)
_CONTAINERS = Column(
    "Containers", priority=1, description="Names of each container in the template."
)
_IMAGES = Column(
    "Images", priority=1, description="Images referenced by each container in the template."
)
_SELECTOR = Column("Selector", priority=1, description="Label selector for pods.")


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _age(obj: Obj, now: float) -> str:
    return since(_meta(obj).get("creationTimestamp"), now)


def _containers(template: Any) -> list[Cell]:
    spec = (template or {}).get("spec") or {} if isinstance(template, dict) else {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
    ]


# -- Job ------------------------------------------------------------------

JOB_COLUMNS = (
    _NAME,
    Column("Status", description="Status of the job."),
    Column("Completions", description="The desired number of successfully finished pods."),
    Column("Duration", description="Time required to complete the job."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _SELECTOR,
)


def job_status_word(job: Obj) -> str:
    """`printers.go getJobStatus` (kubectl 1.28+)."""
    conditions = {
        str(c.get("type")): str(c.get("status"))
        for c in (job.get("status") or {}).get("conditions") or []
        if isinstance(c, dict)
    }
    if conditions.get("Complete") == "True":
        return "Complete"
    if conditions.get("Failed") == "True":
        return "Failed"
    if _meta(job).get("deletionTimestamp"):
        return "Terminating"
    for word in ("SuccessCriteriaMet", "FailureTarget", "Suspended"):
        if conditions.get(word) == "True":
            return word
    return "Running"


def job_completions(job: Obj) -> str:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if isinstance(spec.get("completions"), int):
        return f"{succeeded}/{spec['completions']}"
    parallelism = int(spec.get("parallelism") or 0)
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_duration(job: Obj, now: float) -> str:
    status = job.get("status") or {}
    start = epoch(status.get("startTime"))
    if start is None:
        return ""
    end = epoch(status.get("completionTime"))
    return human_duration((end if end is not None else now) - start)


def print_job(job: Obj, now: float) -> list[Cell]:
    spec = job.get("spec") or {}
    return [
        _name(job),
        job_status_word(job),
        job_completions(job),
        job_duration(job, now),
        _age(job, now),
        *_containers(spec.get("template")),
        format_selector(spec.get("selector")),
    ]


# -- CronJob ----------------------------------------------------------------

CRONJOB_COLUMNS = (
    _NAME,
    Column("Schedule", description="The schedule in Cron format."),
    Column("Timezone", description="The time zone name for the given schedule."),
    Column("Suspend", type="boolean", description="Whether to suspend subsequent executions."),
    Column("Active", type="integer", description="A list of pointers to currently running jobs."),
    Column("Last Schedule", description="Information when was the last time the job was run."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _SELECTOR,
)


def print_cronjob(cj: Obj, now: float) -> list[Cell]:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = status.get("lastScheduleTime")
    return [
        _name(cj),
        str(spec.get("schedule", "")),
        str(spec.get("timeZone") or "<none>"),
        "True" if spec.get("suspend") else "False",
        len(status.get("active") or []),
        since(last, now) if last else "<none>",
        _age(cj, now),
        *_containers(job_spec.get("template")),
        format_selector(job_spec.get("selector")),
    ]


# -- StatefulSet ------------------------------------------------------------

STATEFULSET_COLUMNS = (
    _NAME,
    Column("Ready", description="Number of the pod with ready state"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
)


def print_statefulset(ss: Obj, now: float) -> list[Cell]:
    spec, status = ss.get("spec") or {}, ss.get("status") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    return [
        _name(ss),
        f"{int(status.get('readyReplicas') or 0)}/{desired}",
        _age(ss, now),
        *_containers(spec.get("template")),
    ]


# -- DaemonSet --------------------------------------------------------------

DAEMONSET_COLUMNS = (
    _NAME,
    Column(
        "Desired",
        type="integer",
        description="The total number of nodes that should be running the daemon pod.",
    ),
    Column(
        "Current",
        type="integer",
        description="The number of nodes that are running at least 1 daemon pod.",
    ),
    Column("Ready", type="integer", description="The number of daemon pods that are ready."),
    Column(
        "Up-to-date",
        type="integer",
        description="The total number of nodes that are running updated daemon pod",
    ),
    Column(
        "Available",
        type="integer",
        description="The number of nodes that should be running the daemon pod and have one "
        "or more of the daemon pod running and available.",
    ),
    Column(
        "Node Selector",
        description="NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _SELECTOR,
)


def _labels(labels: Any) -> str:
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def print_daemonset(ds: Obj, now: float) -> list[Cell]:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template = spec.get("template") or {}
    return [
        _name(ds),
        int(status.get("desiredNumberScheduled") or 0),
        int(status.get("currentNumberScheduled") or 0),
        int(status.get("numberReady") or 0),
        int(status.get("updatedNumberScheduled") or 0),
        int(status.get("numberAvailable") or 0),
        _labels((template.get("spec") or {}).get("nodeSelector")),
        _age(ds, now),
        *_containers(template),
        format_selector(spec.get("selector")),
    ]


# -- PersistentVolumeClaim --------------------------------------------------

PVC_COLUMNS = (
    _NAME,
    Column("Status", description="Phase represents the current phase of PersistentVolumeClaim."),
    Column("Volume", description="VolumeName is the binding reference to the PersistentVolume."),
    Column("Capacity", description="The actual resources of the underlying volume."),
    Column("Access Modes", description="The access modes the volume should have."),
    Column("StorageClass", description="Name of the StorageClass required by the claim."),
    _AGE,
    Column("VolumeMode", priority=1, description="How the volume is to be consumed."),
)

_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def print_pvc(pvc: Obj, now: float) -> list[Cell]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    if _meta(pvc).get("deletionTimestamp"):
        phase = "Terminating"
    bound = phase == "Bound"
    modes = ",".join(_MODES.get(str(m), str(m)) for m in status.get("accessModes") or [])
    return [
        _name(pvc),
        phase,
        str(spec.get("volumeName") or ""),
        str((status.get("capacity") or {}).get("storage") or "") if bound else "",
        modes if bound else "",
        str(spec.get("storageClassName") or ""),
        _age(pvc, now),
        str(spec.get("volumeMode") or "Filesystem"),
    ]

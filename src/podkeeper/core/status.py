"""Pod status as the kubelet reports it: phase, conditions, container states.

Copies `pkg/kubelet/kubelet_pods.go` (`getPhase`, `convertToAPIContainerStatuses`)
and `pkg/kubelet/status/generate.go` (conditions). Produces the `v1 PodStatus`
JSON shape directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podkeeper.core.pod import ContainerRecord, Instance, PodMachine

Obj = dict[str, Any]

#: `pkg/kubelet/types/pod_status.go` PodConditionsByKubelet (with PodReadyToStartContainers,
#: GA): the condition types the kubelet owns. Any other type (a readiness gate's, one a
#: controller sets) is the API clients' own: the kubelet keeps it from the API server's copy
#: (`status_manager.go` mergePodStatus) and only reads it.
KUBELET_CONDITIONS = frozenset(
    {
        "PodScheduled",
        "Ready",
        "Initialized",
        "ContainersReady",
        "PodReadyToStartContainers",
        "PodResizeInProgress",
        "PodResizePending",
    }
)
#: `generate.go`: the Ready reason while a readiness gate is unmet.
READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"


def kubelet_owned(condition_type: str) -> bool:
    """`kubetypes.PodConditionByKubelet`."""
    return condition_type in KUBELET_CONDITIONS


def api_conditions(status: object) -> tuple[Obj, ...]:
    """The conditions of a written `PodStatus` the kubelet does not own, as written: what
    it keeps from the API server's copy (`mergePodStatus`, `generateAPIPodStatus`)."""
    conditions = status.get("conditions") if isinstance(status, dict) else None
    return tuple(
        dict(c)
        for c in conditions or []
        if isinstance(c, dict) and isinstance(c.get("type"), str) and not kubelet_owned(c["type"])
    )


def ready_condition(
    containers_ready: tuple[bool, str, str], gates: Sequence[str], conditions: Sequence[Obj]
) -> tuple[bool, str, str]:
    """`generate.go` GeneratePodReadyCondition: (status, reason, message) of Ready.

    Ready follows ContainersReady; once that is True every readiness gate's condition type
    must be present among `conditions` with status True."""
    if not containers_ready[0]:
        return containers_ready
    by_type = {str(c.get("type")): c for c in conditions}
    unready = []
    for gate in gates:
        cond = by_type.get(gate)
        if cond is None:
            unready.append(
                f'corresponding condition of pod readiness gate "{gate}" does not exist.'
            )
        elif cond.get("status") != "True":
            unready.append(
                f'the status of pod readiness gate "{gate}" is not "True", but {cond.get("status")}'
            )
    if unready:
        return False, READINESS_GATES_NOT_READY, ", ".join(unready)
    return True, "", ""


def kubelet_part(status: Obj) -> Obj:
    """A `PodStatus` without the conditions the kubelet does not own: what it overwrites."""
    out = dict(status)
    out["conditions"] = [
        c
        for c in status.get("conditions") or []
        if isinstance(c, dict) and kubelet_owned(str(c.get("type")))
    ]
    return out


def _unset_dropped(value: Any) -> Any:
    # A null field is an unset one (a Go client omits it, a Python one may send null).
    if isinstance(value, dict):
        return {k: _unset_dropped(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_unset_dropped(v) for v in value]
    return value


def same_status(a: Obj, b: Obj) -> bool:
    """Whether two statuses say the same: nulls are unset, conditions are keyed by type."""

    def key(status: Obj) -> Obj:
        out: Obj = _unset_dropped(status)
        conds = out.get("conditions") or []
        out["conditions"] = sorted(conds, key=lambda c: str(c.get("type")))
        return out

    return bool(key(a) == key(b))


def written_view(own: Obj, written: Obj) -> Obj:
    """The status the API shows after a client wrote `written` (pods/status), until the
    kubelet's next status for the pod replaces its own fields: the written kubelet-owned
    fields (each one the same as the agent's is kept as the agent reports it), with the
    client's conditions as the kubelet merges them (first, `mergePodStatus`). `qosClass`
    is backfilled from the old status (`podStatusStrategy.PrepareForUpdate`)."""
    theirs = kubelet_part(written)
    out: Obj = {}
    for k, v in theirs.items():
        if k != "conditions":
            out[k] = own[k] if k in own and same_status({k: own[k]}, {k: v}) else v
    mine = {str(c.get("type")): c for c in kubelet_part(own)["conditions"]}
    conditions = []
    for c in theirs["conditions"]:
        old = mine.get(str(c.get("type")))
        conditions.append(
            old if old is not None and _unset_dropped(old) == _unset_dropped(c) else c
        )
    out["conditions"] = list(api_conditions(own)) + conditions
    if not out.get("qosClass") and own.get("qosClass"):
        out["qosClass"] = own["qosClass"]
    return out


def rfc3339(epoch: float) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Conditions:
    """Condition values with the time each last changed (clock seconds)."""

    status: dict[str, str] = field(default_factory=dict)
    reason: dict[str, str] = field(default_factory=dict)
    message: dict[str, str] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)

    def set(self, ctype: str, value: bool, now: float, reason: str = "", message: str = "") -> None:
        text = "True" if value else "False"
        if self.status.get(ctype) != text:
            self.since[ctype] = now
        self.status[ctype] = text
        self.reason[ctype] = reason
        self.message[ctype] = message


def _state_of(rec: ContainerRecord) -> str:
    cur = rec.current
    return "none" if cur is None else cur.state


def has_initialized(m: PodMachine) -> bool:
    """`kubecontainer.HasAnyActiveRegularContainerStarted`: a regular container has a runtime
    status, so initialization is over even while a sidecar restarts."""
    from podkeeper.core.pod import REGULAR

    return any(
        r.role == REGULAR and any(i.started_at is not None for i in r.instances)
        for r in m.records.values()
    )


def pod_phase(m: PodMachine) -> str:
    """`getPhase` (`pkg/kubelet/kubelet_pods.go`, v1.29+ with sidecars) over the records.

    Each container is seen as its API status would show it: running, terminated,
    waiting with a last termination (a restart pending) or plain waiting."""
    from podkeeper.core.pod import CREATED, EXITED, INIT, REGULAR, RUNNING, SIDECAR

    if m.evicted is not None:
        return "Failed"

    pending_regular_init = failed_init = pending_sidecars = 0
    running = waiting = stopped = succeeded = 0
    for rec in m.records.values():
        cur = rec.current
        has_last = len(rec.instances) > 1
        if rec.role == INIT:
            if cur is None or cur.state in (RUNNING, CREATED):
                # waiting with a failed last termination counts as failed, else pending
                prev = rec.instances[-2] if has_last else None
                if cur is not None and cur.state == CREATED and prev and prev.exit_code:
                    failed_init += 1
                else:
                    pending_regular_init += 1
            elif cur.exit_code != 0:
                failed_init += 1
        elif rec.role == SIDECAR:
            if cur is None or (cur.state == CREATED and not has_last):
                pending_sidecars += 1
                waiting += 1
            elif cur.state == RUNNING:
                if not m.started(rec):
                    pending_sidecars += 1
                running += 1
            # terminated sidecars (or waiting to restart) are neither running nor stopped
        else:
            assert rec.role == REGULAR
            if cur is None or (cur.state == CREATED and not has_last):
                waiting += 1
            elif cur.state == RUNNING:
                running += 1
            elif cur.state == EXITED:
                stopped += 1
                succeeded += cur.exit_code == 0
            else:
                stopped += 1  # waiting with a last termination counts as stopped
    if failed_init and m.pod.spec.restart_policy == "Never":
        return "Failed"
    if pending_regular_init or (pending_sidecars and not has_initialized(m)):
        return "Pending"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if m.deleting:
            # podIsTerminal: SyncTerminatingPod computes the status once nothing runs.
            return "Succeeded" if stopped == succeeded else "Failed"
        # While a restart is still coming the pod keeps running.
        if m.pod.spec.restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if m.pod.spec.restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def refresh_conditions(m: PodMachine, now: float) -> None:
    """Recompute conditions at `now` so transition times are exact (`status/generate.go`)."""
    from podkeeper.core.pod import INIT, REGULAR, SIDECAR

    phase = pod_phase(m)
    c = m.conditions
    c.set("PodScheduled", True, now)
    c.set("PodReadyToStartContainers", not m.finished, now)
    incomplete = [
        r.spec.name
        for r in m.records.values()
        if (r.role == INIT and not m.ready(r)) or (r.role == SIDECAR and not m.started(r))
    ]
    # GeneratePodInitializedCondition: once any regular container has started the pod
    # stays initialized, even while a sidecar restarts.
    if incomplete and not has_initialized(m):
        c.set(
            "Initialized",
            False,
            now,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        )
    else:
        c.set("Initialized", True, now)
    unready = [
        r.spec.name for r in m.records.values() if r.role in (REGULAR, SIDECAR) and not m.ready(r)
    ]
    if phase == "Succeeded":
        c.set("ContainersReady", False, now, "PodCompleted")
    elif phase == "Failed" and unready:
        c.set("ContainersReady", False, now, "PodFailed")
    elif unready:
        c.set(
            "ContainersReady",
            False,
            now,
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(unready)}]",
        )
    else:
        c.set("ContainersReady", True, now)
    containers_ready = (
        c.status["ContainersReady"] == "True",
        c.reason["ContainersReady"],
        c.message["ContainersReady"],
    )
    ready, reason, message = ready_condition(
        containers_ready, m.pod.spec.readiness_gates, m.api_conditions
    )
    c.set("Ready", ready, now, reason, message)


def _terminated(m: PodMachine, inst: Instance) -> Obj:
    assert inst.finished_at is not None
    out: Obj = {"exitCode": inst.exit_code, "reason": inst.reason}
    if inst.message:
        out["message"] = inst.message
    out["startedAt"] = rfc3339((inst.started_at or inst.finished_at) + m.wall_offset)
    out["finishedAt"] = rfc3339(inst.finished_at + m.wall_offset)
    out["containerID"] = f"{m.runtime_name}://{inst.id}"
    return out


def _as_state(m: PodMachine, inst: Instance | None, default_waiting: str) -> Obj:
    from podkeeper.core.pod import EXITED, RUNNING

    if inst is None:
        return {"waiting": {"reason": default_waiting}}
    if inst.state == RUNNING:
        assert inst.started_at is not None
        return {"running": {"startedAt": rfc3339(inst.started_at + m.wall_offset)}}
    if inst.state == EXITED:
        return {"terminated": _terminated(m, inst)}
    return {"waiting": {"reason": "ContainerCreating"}}


def container_status(m: PodMachine, rec: ContainerRecord) -> Obj:
    """`convertToAPIContainerStatuses` for one container."""
    from podkeeper.core.pod import EXITED

    default_waiting = "PodInitializing" if m.pod.spec.init_containers else "ContainerCreating"
    cur = rec.current
    prev = rec.instances[-2] if len(rec.instances) > 1 else None
    if rec.waiting_reason is not None and (cur is None or cur.state == EXITED):
        # Waiting override: a pending restart shows the reason, the exit moves to lastState.
        state: Obj = {"waiting": {"reason": rec.waiting_reason}}
        if rec.waiting_message:
            state["waiting"]["message"] = rec.waiting_message
        last = cur if cur is not None else prev
        last_state: Obj = (
            {"terminated": _terminated(m, last)} if last and last.state == EXITED else {}
        )
    else:
        state = _as_state(m, cur, default_waiting)
        last_state = {"terminated": _terminated(m, prev)} if prev and prev.state == EXITED else {}
    out: Obj = {
        "name": rec.spec.name,
        "state": state,
        "lastState": last_state,
        "ready": m.ready(rec),
        "restartCount": cur.restart_count if cur else 0,
        "image": rec.spec.image,
        "imageID": "",
        "started": m.started(rec),
    }
    if cur is not None:
        out["containerID"] = f"{m.runtime_name}://{cur.id}"
    return out


def pod_status(m: PodMachine) -> Obj:
    """The `v1 PodStatus` of the machine, ready for the API."""
    from podkeeper.core.pod import REGULAR

    c = m.conditions
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    # The API clients' conditions first, then the kubelet's (`mergePodStatus`).
    conditions = [dict(a) for a in m.api_conditions]
    for ctype in order:
        if ctype not in c.status:
            continue
        cond: Obj = {
            "type": ctype,
            "status": c.status[ctype],
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(c.since[ctype] + m.wall_offset),
        }
        if c.reason.get(ctype):
            cond["reason"] = c.reason[ctype]
        if c.message.get(ctype):
            cond["message"] = c.message[ctype]
        conditions.append(cond)
    if m.rejection is not None:
        # kubelet.go rejectPod sets only phase, reason, message and qosClass (the status
        # manager adds startTime); the scheduler's PodScheduled stays; no container
        # statuses, so kubectl's STATUS column shows the reason.
        return {
            "phase": pod_phase(m),
            "conditions": [x for x in conditions if x["type"] == "PodScheduled"],
            "message": m.rejection.status_message,
            "reason": m.rejection.reason,
            "startTime": rfc3339(m.created_at + m.wall_offset),
            "qosClass": qos_class(m),
        }
    status: Obj = {
        "phase": pod_phase(m),
        "conditions": conditions,
        "hostIP": "127.0.0.1",
        "startTime": rfc3339(m.created_at + m.wall_offset),
        "qosClass": qos_class(m),
    }
    if m.pod_ip:  # unset until the sandbox exists, as the kubelet reports it
        status["podIP"] = m.pod_ip
        status["podIPs"] = [{"ip": m.pod_ip}]
    if m.evicted is not None:
        status["reason"], status["message"] = m.evicted
    inits = [container_status(m, r) for r in m.records.values() if r.role != REGULAR]
    if inits:
        status["initContainerStatuses"] = inits
    status["containerStatuses"] = [
        container_status(m, r) for r in m.records.values() if r.role == REGULAR
    ]
    return status


def qos_class(m: PodMachine) -> str:
    """`pkg/apis/core/helper/qos` in short: Guaranteed, Burstable or BestEffort."""
    res = [c.resources for c in m.pod.all_containers()]
    if all(
        r.limits_memory is None
        and r.limits_cpu_milli is None
        and r.requests_memory is None
        and r.requests_cpu_milli is None
        for r in res
    ):
        return "BestEffort"
    guaranteed = all(
        r.limits_memory is not None
        and r.limits_cpu_milli is not None
        and r.requests_memory in (None, r.limits_memory)
        and r.requests_cpu_milli in (None, r.limits_cpu_milli)
        for r in res
    )
    return "Guaranteed" if guaranteed else "Burstable"

"""How kubectl prints a Pod row: READY, STATUS, RESTARTS, AGE (`printers.go` `printPod`).

Pure functions of the Pod JSON and `now`; the `get`, `up` and `describe`
commands use them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podkeeper.cli._text import dicts, get, parse_time, since

Obj = dict[str, Any]


def _is_sidecar(spec_container: Obj | None) -> bool:
    # kubectl `isRestartableInitContainer`: an init container with restartPolicy Always.
    return spec_container is not None and spec_container.get("restartPolicy") == "Always"


def _terminated_reason(term: Obj, prefix: str) -> str:
    reason = term.get("reason") or ""
    if reason:
        return prefix + str(reason)
    signal = term.get("signal") or 0
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _condition_true(pod: Obj, kind: str) -> bool:
    for cond in dicts(get(pod, "status", "conditions")):
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


def pod_row(pod: Obj, now: datetime) -> tuple[str, str, str, str, str]:
    """(NAME, READY, STATUS, RESTARTS, AGE) exactly as `kubectl get pods` computes them."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    containers = dicts(spec.get("containers"))
    init_specs = {c.get("name"): c for c in dicts(spec.get("initContainers"))}
    total = len(containers) + sum(1 for c in init_specs.values() if _is_sidecar(c))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in dicts(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_statuses = dicts(status.get("initContainerStatuses"))
    initializing = False
    for i, cs in enumerate(init_statuses):
        count = int(cs.get("restartCount") or 0)
        restarts += count
        finished = parse_time(get(cs, "lastState", "terminated", "finishedAt"))
        if finished is not None and (last_restart is None or finished > last_restart):
            last_restart = finished
        sidecar = _is_sidecar(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += count
            if finished is not None and (
                last_sidecar_restart is None or finished > last_sidecar_restart
            ):
                last_sidecar_restart = finished
        state = cs.get("state") or {}
        term = state.get("terminated")
        waiting = state.get("waiting")
        if isinstance(term, dict) and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if isinstance(term, dict):
            reason = _terminated_reason(term, "Init:")
        elif (
            isinstance(waiting, dict)
            and waiting.get("reason")
            and waiting.get("reason") != "PodInitializing"
        ):
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(pod, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(dicts(status.get("containerStatuses"))):
            restarts += int(cs.get("restartCount") or 0)
            finished = parse_time(get(cs, "lastState", "terminated", "finishedAt"))
            if finished is not None and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            term = state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(term, dict):
                reason = _terminated_reason(term, "")
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        # kubectl: a Completed container beside a running one shows the pod as Running.
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"

    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    return (
        str(meta.get("name", "")),
        f"{ready}/{total}",
        reason,
        restarts_text,
        since(meta.get("creationTimestamp"), now),
    )


def pod_wide(pod: Obj) -> tuple[str, str]:
    """The wide columns (IP, NODE), `<none>` when unset."""
    ip = get(pod, "status", "podIP") or "<none>"
    node = get(pod, "spec", "nodeName") or "<none>"
    return str(ip), str(node)


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    return _condition_true(pod, "Ready")


def not_ready_reason(pod: Obj, events: list[Obj]) -> str:
    """Why a pod is not Ready, for `up --wait`: a waiting container's reason and message,
    else the ContainersNotReady / Ready condition message, else the last probe failure event."""
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in dicts(status.get(key)):
            waiting = get(cs, "state", "waiting")
            if isinstance(waiting, dict) and waiting.get("reason"):
                msg = waiting.get("message") or ""
                text = f"container {cs.get('name')}: {waiting['reason']}"
                return f"{text}: {msg}" if msg else text
            term = get(cs, "state", "terminated")
            if isinstance(term, dict) and key == "containerStatuses":
                return f"container {cs.get('name')}: {_terminated_reason(term, '')}"
    probe_events = [
        e for e in events if e.get("reason") == "Unhealthy" and e.get("type") == "Warning"
    ]
    probe = str(probe_events[-1].get("message") or "").strip() if probe_events else ""
    for cond in dicts(status.get("conditions")):
        if cond.get("type") in ("ContainersReady", "Ready") and cond.get("status") != "True":
            msg = cond.get("message") or cond.get("reason")
            if msg:
                return f"{msg} (last probe failure: {probe})" if probe else str(msg)
    if probe:
        return probe
    phase = status.get("phase") or "Pending"
    return f"phase {phase}"

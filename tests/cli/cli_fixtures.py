"""Pod and Event JSON as the agent returns them, for the CLI's formatting tests."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

NOW = "2024-05-01T12:00:00Z"


def pod(
    name: str = "web",
    containers: list[Obj] | None = None,
    statuses: list[Obj] | None = None,
    phase: str = "Running",
    init: list[Obj] | None = None,
    init_statuses: list[Obj] | None = None,
    conditions: dict[str, str] | None = None,
    created: str = "2024-05-01T11:57:30Z",
    **meta: Any,
) -> Obj:
    """A v1 Pod; `conditions` maps type -> status."""
    spec: Obj = {
        "containers": containers
        if containers is not None
        else [{"name": "app", "image": "busybox", "command": ["sleep", "1000"]}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "nodeName": "localhost",
    }
    if init is not None:
        spec["initContainers"] = init
    status: Obj = {
        "phase": phase,
        "podIP": "127.0.0.1",
        "hostIP": "127.0.0.1",
        "startTime": created,
        "containerStatuses": statuses if statuses is not None else [running("app")],
        "conditions": [
            {"type": t, "status": s} for t, s in (conditions or {"Ready": "True"}).items()
        ],
    }
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    metadata: Obj = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "creationTimestamp": created,
        "labels": {"app": name},
    }
    metadata.update(meta)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def running(name: str, ready: bool = True, restarts: int = 0, last: Obj | None = None) -> Obj:
    cs: Obj = {
        "name": name,
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "image": "busybox",
        "imageID": "",
        "containerID": f"process://{name}-1",
        "state": {"running": {"startedAt": "2024-05-01T11:58:00Z"}},
        "lastState": {},
    }
    if last is not None:
        cs["lastState"] = {"terminated": last}
    return cs


def waiting(
    name: str, reason: str, message: str = "", restarts: int = 0, last: Obj | None = None
) -> Obj:
    cs = running(name, ready=False, restarts=restarts, last=last)
    cs["started"] = False
    cs["state"] = {"waiting": {"reason": reason, "message": message}}
    return cs


def terminated(
    name: str, exit_code: int, reason: str, finished: str = "2024-05-01T11:59:00Z", **extra: Any
) -> Obj:
    cs = running(name, ready=False)
    cs["started"] = False
    cs["state"] = {"terminated": term(exit_code, reason, finished, **extra)}
    return cs


def term(exit_code: int, reason: str, finished: str = "2024-05-01T11:59:00Z", **extra: Any) -> Obj:
    out: Obj = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": "2024-05-01T11:58:00Z",
        "finishedAt": finished,
    }
    out.update(extra)
    return out


def event(
    reason: str,
    message: str,
    type_: str = "Normal",
    count: int = 1,
    first: str = "2024-05-01T11:58:00Z",
    last: str | None = None,
    name: str = "web",
    uid: str | None = None,
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason}", "namespace": "default", "uid": uid or reason},
        "involvedObject": {
            "kind": "Pod",
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "fieldPath": "spec.containers{app}",
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last or first,
        "source": {"component": "kubelet"},
    }


def clone(obj: Obj) -> Obj:
    return copy.deepcopy(obj)

"""Pod and Event JSON as the agent returns them, for the CLI's formatting tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]
# Module-level: `FakeClient.list` shadows the builtin inside the class body.
ObjList = list[Obj]

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


class FakeAPIError(Exception):
    """Shaped like podkeeper.api.client.APIError (matched by class name)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.body = status, message, body


FakeAPIError.__name__ = "APIError"


class FakeClient:
    """An agent in memory: pods, events, terminations; records what was sent."""

    def __init__(self, pods: list[Obj] | None = None, running: bool = True) -> None:
        self.pods = {p["metadata"]["name"]: p for p in pods or []}
        self.events_list: list[Obj] = []
        self.records: list[Obj] = []
        self.logs_by_container: dict[tuple[str, bool], bytes] = {}
        self.running = running
        self.applied: list[Obj] = []
        self.deleted: list[tuple[str, str, str, int | None]] = []

    def ping(self) -> bool:
        return self.running

    def apply(self, items: list[Obj]) -> ObjList:
        self.applied.extend(items)
        return items

    def list(self, kind: str, namespace: str | None) -> ObjList:
        return list(self.pods.values()) if kind == "Pod" else []

    def get_object(self, kind: str, namespace: str, name: str) -> Obj:
        if kind == "Pod" and name in self.pods:
            return self.pods[name]
        raise FakeAPIError(404, f'pods "{name}" not found', {"reason": "NotFound"})

    def delete_object(self, kind: str, namespace: str, name: str, grace: int | None = None) -> Obj:
        self.deleted.append((kind, namespace, name, grace))
        if name not in self.pods:
            raise FakeAPIError(404, f'pods "{name}" not found', {"reason": "NotFound"})
        return self.pods.pop(name)

    def events(self, namespace: str | None, name: str | None = None) -> ObjList:
        return [e for e in self.events_list if name in (None, e["involvedObject"]["name"])]

    def watch_events(self, namespace: str | None, name: str | None = None) -> Iterator[Obj]:
        return iter(())

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        previous: bool = False,
        follow: bool = False,
    ) -> Iterator[bytes]:
        key = (container or "", previous)
        if key not in self.logs_by_container:
            raise FakeAPIError(400, "no previous instance")
        return iter([self.logs_by_container[key]])

    def terminations(self, namespace: str, pod: str, container: str | None = None) -> ObjList:
        return self.records

    def shutdown(self) -> Obj:
        return {}

    def version(self) -> Obj:
        return {"podkeeper": "0.1.0", "pid": 4242}

"""FakeAgentBackend: an in-memory AgentBackend for API server and client tests."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

from podkeeper.api.backend import AgentBackend, ApplyError, Obj


class FakeAgentBackend:
    """Objects, events, logs and terminations kept in dicts; records what it was asked."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.events: list[Obj] = []
        self.log_paths: dict[tuple[str, str, str | None, bool], str] = {}
        self.termination_records: list[Obj] = []
        #: Set to a list of messages to make the next apply() fail with them.
        self.reject: list[str] | None = None
        self.applied: list[list[Obj]] = []
        self.deleted: list[tuple[str, str, str, int | None]] = []
        self.status_writes: list[tuple[str, str, Obj]] = []
        self.shutdown_called = asyncio.Event()
        self.watchers: set[asyncio.Queue[Obj]] = set()

    # -- helpers for tests ---------------------------------------------

    def add(self, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2024-05-01T10:00:00Z")
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj
        return obj

    def remove(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)

    def emit(self, ev: Obj) -> None:
        """Record an event (merging by name) and tell every watcher."""
        for i, old in enumerate(self.events):
            if old["metadata"]["name"] == ev["metadata"]["name"]:
                self.events[i] = ev
                break
        else:
            self.events.append(ev)
        for q in self.watchers:
            q.put_nowait(ev)

    # -- AgentBackend ---------------------------------------------------

    def list_objects(self, kind: str, namespace: str | None) -> list[Obj]:
        return [
            o
            for (k, ns, _), o in sorted(self.objects.items())
            if k == kind and (namespace is None or ns == namespace)
        ]

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((kind, namespace, name))

    async def apply(self, objects: list[Obj]) -> list[Obj]:
        if self.reject is not None:
            raise ApplyError(self.reject)
        self.applied.append(objects)
        return [self.add(copy.deepcopy(o)) for o in objects]

    async def delete(
        self, kind: str, namespace: str, name: str, grace_period_seconds: int | None
    ) -> Obj | None:
        self.deleted.append((kind, namespace, name, grace_period_seconds))
        obj = self.objects.get((kind, namespace, name))
        if obj is not None:
            obj["metadata"]["deletionTimestamp"] = "2024-05-01T10:01:00Z"
            obj["metadata"]["deletionGracePeriodSeconds"] = grace_period_seconds
        return obj

    async def write_pod_status(self, namespace: str, name: str, status: Obj) -> Obj | None:
        self.status_writes.append((namespace, name, status))
        obj = self.objects.get(("Pod", namespace, name))
        if obj is not None:
            obj["status"] = copy.deepcopy(status)
        return obj

    def list_events(self, namespace: str | None, involved_name: str | None) -> list[Obj]:
        return [
            e
            for e in self.events
            if (namespace is None or e["involvedObject"]["namespace"] == namespace)
            and (involved_name is None or e["involvedObject"]["name"] == involved_name)
        ]

    async def watch_events(self) -> AsyncIterator[Obj]:
        q: asyncio.Queue[Obj] = asyncio.Queue()
        self.watchers.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self.watchers.discard(q)

    def log_path(
        self, namespace: str, pod: str, container: str | None, previous: bool
    ) -> str | None:
        return self.log_paths.get((namespace, pod, container, previous))

    def terminations(self, namespace: str, pod: str, container: str | None) -> list[Obj]:
        return [
            t
            for t in self.termination_records
            if t["namespace"] == namespace
            and t["pod"] == pod
            and (container is None or t["container"] == container)
        ]

    async def shutdown(self) -> None:
        self.shutdown_called.set()

    def version(self) -> Obj:
        return {"podkeeper": "0.0.0-test", "kind": "Version"}


def pod(name: str, namespace: str = "default", containers: tuple[str, ...] = ("app",)) -> Obj:
    """A minimal v1 Pod."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "containers": [
                {"name": c, "image": "busybox", "command": ["sleep", "1"]} for c in containers
            ]
        },
    }


def event(
    pod_name: str,
    reason: str = "Unhealthy",
    *,
    name: str | None = None,
    count: int = 1,
    namespace: str = "default",
    message: str = "Liveness probe failed: HTTP probe failed with statuscode: 500",
) -> Obj:
    """A v1 Event on a pod's container `app`."""
    ev: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name or f"{pod_name}.{reason}", "namespace": namespace},
        "involvedObject": {
            "kind": "Pod",
            "namespace": namespace,
            "name": pod_name,
            "uid": "u1",
            "fieldPath": "spec.containers{app}",
        },
        "reason": reason,
        "message": message,
        "type": "Warning",
        "count": count,
        "source": {"component": "kubelet"},
        "firstTimestamp": "2024-05-01T10:00:00Z",
        "lastTimestamp": "2024-05-01T10:00:00Z",
    }
    return ev


def _conforms(backend: FakeAgentBackend) -> AgentBackend:
    return backend  # mypy: the fake must satisfy the protocol


FakeBackend = FakeAgentBackend

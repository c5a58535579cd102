"""Fakes for the DeploymentController tests (no tests here): a PodHost whose pods become
Ready and terminate when the test says so, recording every change as a moment of a timeline."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podkeeper.controllers.deployments import DeploymentController
from podkeeper.controllers.fake import FakeObjectStore
from podkeeper.manifest import default_object, format_invalid, validate_object

Obj = dict[str, Any]
Key = tuple[str, str]


def deployment(
    name: str = "web",
    replicas: int = 3,
    image: str = "v1",
    strategy: Obj | None = None,
    **spec: Any,
) -> Obj:
    """A defaulted, validated apps/v1 Deployment of one container labelled app=<name>."""
    raw: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": image, "command": ["sleep", "3600"]}]
                },
            },
            **spec,
        },
    }
    if strategy is not None:
        raw["spec"]["strategy"] = strategy
    obj = default_object(raw)
    problems = validate_object(obj)
    assert not problems, format_invalid("Deployment", name, problems)
    return obj


def rolling(max_surge: int | str, max_unavailable: int | str) -> Obj:
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
    }


@dataclass
class Moment:
    """The pods at one instant: alive (not terminating) and how many of those are Ready."""

    alive: int
    ready: int
    terminating: int
    images: dict[str, int]


@dataclass
class FakeHost:
    t: float = 1000.0
    pods: dict[Key, Obj] = field(default_factory=dict)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    timeline: list[Moment] = field(default_factory=list)
    ctl: DeploymentController | None = None
    created: int = 0
    store: FakeObjectStore = field(default_factory=FakeObjectStore)
    node_name: str = "node"
    home: Path = Path("/nonexistent/podkeeper-home")

    # -- PodHost ---------------------------------------------------------

    def now(self) -> float:
        return self.t

    def create_pod(self, obj: Obj) -> Obj:
        snap = copy.deepcopy(obj)
        snap["metadata"]["uid"] = f"uid-{snap['metadata']['name']}"
        snap["status"] = {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}],
        }
        key = (snap["metadata"]["namespace"], snap["metadata"]["name"])
        assert key not in self.pods, f"pod {key} created twice"
        self.pods[key] = snap
        self.created += 1
        self._record()
        return snap

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> Obj | None:
        pod = self.pods.get((namespace, name))
        if pod is None:
            return None
        pod["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        self._record()
        return pod

    def pod_snapshots(self, namespace: str | None) -> list[Obj]:
        return [p for (ns, _), p in sorted(self.pods.items()) if namespace in (None, ns)]

    def record_object_event(
        self, obj: Obj, type_: str, reason: str, message: str, component: str
    ) -> None:
        self.events.append((obj["kind"], obj["metadata"]["name"], reason, message))

    # -- test controls ---------------------------------------------------

    @property
    def controller(self) -> DeploymentController:
        assert self.ctl is not None
        return self.ctl

    def alive(self) -> list[Obj]:
        return [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]

    def set_ready(self, name: str, ready: bool = True, ns: str = "default") -> None:
        pod = self.pods[(ns, name)]
        pod["status"] = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        self._record()
        self.controller.pod_changed(copy.deepcopy(pod))
        self.controller.flush()

    def user_delete(self, name: str, ns: str = "default") -> None:
        pod = self.delete_pod(ns, name, None)
        assert pod is not None
        self.controller.pod_changed(copy.deepcopy(pod))
        self.controller.flush()

    def finish_terminations(self) -> None:
        """Every terminating pod's processes end: the agent reaps it."""
        for key, pod in list(self.pods.items()):
            if pod["metadata"].get("deletionTimestamp"):
                del self.pods[key]
                self._record()
                self.controller.pod_gone(pod)
        self.controller.flush()

    def ready_all(self) -> None:
        for pod in self.alive():
            if not _is_ready(pod):
                self.set_ready(pod["metadata"]["name"])

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.controller._dirty_rs.update(self.controller._replicasets)
        self.controller._dirty_d.update(self.controller._deployments)
        self.controller.flush()

    def _record(self) -> None:
        alive = self.alive()
        images: dict[str, int] = {}
        for p in alive:
            image = p["spec"]["containers"][0]["image"]
            images[image] = images.get(image, 0) + 1
        self.timeline.append(
            Moment(
                alive=len(alive),
                ready=sum(1 for p in alive if _is_ready(p)),
                terminating=len(self.pods) - len(alive),
                images=images,
            )
        )


def _is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod["status"].get("conditions", [])
    )


def is_ready(pod: Obj) -> bool:
    return _is_ready(pod)


async def started(host: FakeHost) -> DeploymentController:
    ctl = DeploymentController()
    host.ctl = ctl
    await ctl.start(host)
    return ctl

"""Controllers that run inside the agent beside the pod workers (Deployments, Services...).

The agent owns pods; a controller owns other kinds and reacts to pod
changes, the way kube-controller-manager and kube-proxy watch the API
server. The agent calls these hooks; a controller calls back into the agent
only through `PodHost`, and reads and writes API objects only through its
`ObjectStore` (architecture.md: "Controllers reach the world only through the
registry"; no `getattr` for optional capabilities).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

Obj = dict[str, Any]


class ApplyError(Exception):
    """Objects were rejected; `messages` are the Kubernetes-style lines (nothing was applied)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class ObjectStore(Protocol):
    """The registry of API objects, keyed by (kind, namespace, name).

    The agent's state database (runtime/store.py `Store`) implements it; so does
    `controllers.fake.FakeObjectStore`. Controllers keep their objects here so that a
    restarted agent finds them again, and read the pods the agent stored to re-adopt
    them (the agent writes a pod on every change and deletes it once reaped)."""

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The stored object, or None."""
        ...

    def list_objects(self, kind: str, namespace: str | None) -> list[Obj]:
        """Objects of `kind` in `namespace` (None: all), ordered by namespace then name."""
        ...

    def put_object(self, obj: Obj) -> None:
        """Store (replace) an object under its kind, namespace (default `default`), name."""
        ...

    def delete_object(self, kind: str, namespace: str, name: str) -> bool:
        """Forget an object; False when there was none."""
        ...


class PodHost(Protocol):
    """What a controller may ask of the agent."""

    @property
    def store(self) -> ObjectStore:
        """The object store controllers persist their objects in (the agent's database)."""
        ...

    @property
    def node_name(self) -> str:
        """The name of the node the pods run on (Endpoints' nodeName)."""
        ...

    @property
    def home(self) -> Path:
        """The agent's home directory (names per-home resources, e.g. an nftables table)."""
        ...

    def create_pod(self, obj: Obj) -> Obj:
        """Create a pod from a defaulted, validated Pod object; returns its snapshot."""
        ...

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> Obj | None: ...

    def pod_snapshots(self, namespace: str | None) -> list[Obj]:
        """Snapshots of the live pods."""
        ...

    def record_object_event(
        self, obj: Obj, type_: str, reason: str, message: str, component: str
    ) -> None:
        """An event about a non-pod object (e.g. ScalingReplicaSet on a Deployment)."""
        ...

    def now(self) -> float: ...


class Controller(Protocol):
    @property
    def kinds(self) -> tuple[str, ...]:
        """The Kubernetes kinds this controller serves."""
        ...

    async def start(self, host: PodHost) -> None: ...

    async def stop(self) -> None: ...

    def validate(self, obj: Obj) -> list[str]:
        """Extra checks beyond manifest validation; messages in Kubernetes's words."""
        ...

    async def apply(self, obj: Obj) -> Obj:
        """Create or update a defaulted, validated object; returns it as stored."""
        ...

    async def delete(
        self, kind: str, namespace: str, name: str, grace: int | None
    ) -> Obj | None: ...

    def list(self, kind: str, namespace: str | None) -> list[Obj]: ...

    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...

    def pod_changed(self, pod: Obj) -> None:
        """A pod's status changed (readiness, phase, deletion); called often: be cheap."""
        ...

    def pod_gone(self, pod: Obj) -> None: ...

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        """Called before preStop/SIGTERM of a deleted pod: e.g. wait until the load balancer
        routes nothing new to it and in-flight connections are done (bounded by `budget`)."""
        ...

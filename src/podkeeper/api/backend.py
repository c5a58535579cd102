"""What the API server needs from the agent. The agent implements it; tests use fakes.

Every object crossing this boundary is a Kubernetes-shaped JSON dict
(`v1 Pod`, `v1 Event`, ...), exactly what the REST API returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from podkeeper.controllers.interface import ApplyError, Obj

__all__ = ["AgentBackend", "ApplyError", "Obj"]


class AgentBackend(Protocol):
    def list_objects(self, kind: str, namespace: str | None) -> list[Obj]:
        """kind is the Kubernetes kind: Pod, Deployment, ReplicaSet, Service, Endpoints."""
        ...

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None: ...

    async def apply(self, objects: list[Obj]) -> list[Obj]:
        """Create or update; returns the stored objects. Raises ApplyError (applies none)."""
        ...

    async def delete(
        self, kind: str, namespace: str, name: str, grace_period_seconds: int | None
    ) -> Obj | None:
        """Start graceful deletion; returns the object (with deletionTimestamp) or None."""
        ...

    async def write_pod_status(self, namespace: str, name: str, status: Obj) -> Obj | None:
        """A client wrote the pod's `status` (pods/status): the agent keeps the conditions
        it does not own and returns the pod as it now shows; None when there is no pod."""
        ...

    def list_events(self, namespace: str | None, involved_name: str | None) -> list[Obj]: ...

    def watch_events(self) -> AsyncIterator[Obj]:
        """New and updated events from now on."""
        ...

    def log_path(
        self, namespace: str, pod: str, container: str | None, previous: bool
    ) -> str | None:
        """The log file of the current (or previous) instance; None when there is none."""
        ...

    def terminations(self, namespace: str, pod: str, container: str | None) -> list[Obj]:
        """Every recorded termination of the pod's containers, oldest first (issue 3 history)."""
        ...

    async def shutdown(self) -> None:
        """Drain every pod gracefully and stop the agent."""
        ...

    def version(self) -> Obj: ...

    async def open_image_runtime(self) -> Obj:
        """Open the runtime of images (the containerd RuntimeClass handler) if it is not
        open yet: {"runtime", "criEndpoint"}; RuntimeError saying why it cannot be had."""
        ...

    def exec_stream_argv(
        self, namespace: str, pod: str, container: str, command: list[str]
    ) -> list[str]:
        """The host command line that runs `command` in an image pod's container with its
        stdio streamed (exec with stdin); LookupError / RuntimeError saying why not."""
        ...

    def runtime_name(self, namespace: str, pod: str) -> str:
        """process, containerd or cri: the runtime that runs the pod."""
        ...

    async def exec_captured(
        self, namespace: str, pod: str, container: str, command: list[str]
    ) -> tuple[int, bytes, bytes]:
        """(exit code, stdout, stderr) of `command` run through the CRI (image runtimes)."""
        ...

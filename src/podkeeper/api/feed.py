"""`PodFeed`: the agent's pod changes pushed to the API's watches as they happen.

The agent calls every controller's `pod_changed` / `pod_gone` hooks
(`controllers/interface.py`); this controller owns no kind and only forwards
those calls to the registry, so a watch sees a pod's status change in the
same loop pass instead of at the next poll, and the registry polls pods only
as a safety net (issue 11's load targets: latency and watcher cost).
"""

from __future__ import annotations

from podkeeper.api.backend import Obj
from podkeeper.api.kinds import BY_KIND
from podkeeper.api.registry import Registry
from podkeeper.controllers.interface import PodHost


class PodFeed:
    """A kind-less `Controller` that forwards pod changes to a `Registry` once connected."""

    kinds: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.registry: Registry | None = None

    def connect(self, registry: Registry) -> None:
        self.registry = registry
        registry.fed.add("Pod")

    async def start(self, host: PodHost) -> None:
        return None

    async def stop(self) -> None:
        return None

    def validate(self, obj: Obj) -> list[str]:
        return []

    async def apply(self, obj: Obj) -> Obj:
        raise NotImplementedError("PodFeed serves no kind")

    async def delete(self, kind: str, namespace: str, name: str, grace: int | None) -> Obj | None:
        return None

    def list(self, kind: str, namespace: str | None) -> list[Obj]:
        return []

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return None

    def pod_changed(self, pod: Obj) -> None:
        if self.registry is not None:
            self.registry.pushed(BY_KIND["Pod"], pod, gone=False)

    def pod_gone(self, pod: Obj) -> None:
        if self.registry is not None:
            self.registry.pushed(BY_KIND["Pod"], pod, gone=True)

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        return None

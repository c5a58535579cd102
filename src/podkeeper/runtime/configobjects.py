"""ConfigMaps and Secrets: plain objects in the agent's store (the apiserver's registry for them).

A store client with the `Controller` hooks (controllers/interface.py), so the agent routes
apply, get, list and delete of these kinds here. Like the kube-apiserver's generic
store: `uid` and `creationTimestamp` are set on create and kept on update; an update
is checked against the stored object (`ValidateConfigMapUpdate` /
`ValidateSecretUpdate`: `immutable`, the Secret's `type`). Objects arrive defaulted
(a Secret's stringData already merged into data) and validated. Each change calls
`on_change(namespace)`, so that pods waiting for a missing ConfigMap or Secret retry
at once. Nothing here logs a Secret's data.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from typing import Any

from podkeeper.manifest.configobjects import validate_update
from podkeeper.manifest.field import format_invalid
from podkeeper.runtime.store import Store

Obj = dict[str, Any]

KINDS = ("ConfigMap", "Secret")


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _key(obj: Obj) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace") or "default"), str(meta.get("name")))


class ConfigObjects:
    """ConfigMaps and Secrets for the agent (the `Controller` hooks it uses)."""

    kinds = KINDS

    def __init__(self, store: Store, on_change: Callable[[str], None]) -> None:
        self.store = store
        self.on_change = on_change

    async def start(self, host: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    def validate(self, obj: Obj) -> list[str]:
        """The update rules against the stored object (none on create)."""
        kind, namespace, name = _key(obj)
        old = self.store.get_object(kind, namespace, name)
        if old is None:
            return []
        errors = validate_update(old, obj)
        return [format_invalid(kind, name, errors)] if errors else []

    async def apply(self, obj: Obj) -> Obj:
        kind, namespace, name = _key(obj)
        old = self.store.get_object(kind, namespace, name)
        out = copy.deepcopy(obj)
        out.pop("status", None)
        meta = out.setdefault("metadata", {})
        meta["namespace"] = namespace
        for server_field in ("resourceVersion", "generation", "managedFields", "selfLink"):
            meta.pop(server_field, None)
        if old is not None:
            old_meta = old.get("metadata") or {}
            meta["uid"] = old_meta.get("uid") or str(uuid.uuid4())
            meta["creationTimestamp"] = old_meta.get("creationTimestamp") or _rfc3339(time.time())
        else:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = _rfc3339(time.time())
        if old != out:
            self.store.put_object(out)
            self.on_change(namespace)
        return out

    async def delete(self, kind: str, namespace: str, name: str, grace: int | None) -> Obj | None:
        obj = self.store.get_object(kind, namespace, name)
        if obj is not None:
            self.store.delete_object(kind, namespace, name)
            self.on_change(namespace)
        return obj

    def list(self, kind: str, namespace: str | None) -> list[Obj]:
        return list(self.store.list_objects(kind, namespace))

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        obj = self.store.get_object(kind, namespace, name)
        return obj if isinstance(obj, dict) else None

    def pod_changed(self, pod: Obj) -> None:
        return None

    def pod_gone(self, pod: Obj) -> None:
        return None

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        return None

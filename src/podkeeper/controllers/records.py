"""The workload controllers' records: keys, the objects they keep, the pods those own.

Shared by the `OwnerLoop` (controllers/ownerloop.py), the `WorkloadController`
(controllers/workloads.py) and the per-kind drivers (jobs.py, cronjobs.py,
statefulsets.py, daemonsets.py, pvcs.py): plain data and small functions of API
objects, no host and no loop.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podkeeper.controllers.interface import Obj

#: (kind, namespace, name)
Key = tuple[str, str, str]
#: (namespace, name) of a pod
PodKey = tuple[str, str]


def rfc3339(epoch: float) -> str:
    """Epoch seconds as the API's timestamps (`2026-12-05T12:00:00Z`, UTC, whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def epoch_of(text: Any) -> float | None:
    """Epoch seconds of an API timestamp; None when it is not one."""
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


def key_of(obj: Obj) -> Key:
    """(kind, namespace, name) of an object; the namespace defaults to `default`."""
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace") or "default"), str(meta["name"]))


def is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def phase_of(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


@dataclass
class TrackedPod:
    """A pod owned by one of our objects: its latest snapshot and when we saw things."""

    owner: Key
    snapshot: Obj
    seen_ready_at: float | None = None  # monotonic, when it last became Ready
    finished_at: float | None = None  # monotonic, when first seen Succeeded/Failed
    restoring: bool = False
    deleted_by_controller: bool = False  # we deleted it (not the user, not an eviction)


@dataclass
class Record:
    """One object of ours: the API object (status included) and driver-private state."""

    obj: Obj
    created: float  # monotonic
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])

    @property
    def spec(self) -> Obj:
        spec: Obj = self.obj.setdefault("spec", {})
        return spec

    @property
    def status(self) -> Obj:
        status: Obj = self.obj.setdefault("status", {})
        return status


def remove_tree(path: Path) -> None:
    """Remove a directory and what it holds; nothing if it is gone already."""
    shutil.rmtree(path, ignore_errors=True)

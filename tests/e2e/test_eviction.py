"""End-to-end (issue 13 item 12): node-pressure eviction with the kubelet's ranking,
reason and message, through the real CLI.

The host is not really short of memory in a test: the threshold is set above what it
has (`PODKEEPER_EVICTION_HARD=memory.available<1000Ti`), so the real signal (the
kernel's MemAvailable) is below it and the real usage (each container's cgroup
working set) decides who goes first."""

from __future__ import annotations

import re
from typing import Any

import pytest

from podkeeper.testing import cgroup_skip_reason

from .conftest import PK, pod_manifest

_WHY = cgroup_skip_reason()
pytestmark = pytest.mark.skipif(bool(_WHY), reason=_WHY or "n/a")

HOG = "import time; b = bytearray(96 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(600)"


def _pod(pk: PK, name: str) -> dict[str, Any]:
    return pk.pod(name)


def test_memory_pressure_evicts_besteffort_first(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_EVICTION_HARD", "memory.available<1000Ti")
    monkeypatch.setenv("PODKEEPER_EVICTION_MONITORING_PERIOD", "2")
    steady = {
        "name": "s",
        "image": "x",
        "command": ["sleep", "600"],
        "resources": {
            "requests": {"memory": "256Mi", "cpu": "100m"},
            "limits": {"memory": "256Mi", "cpu": "100m"},
        },
    }
    pk.up(
        pod_manifest("steady", [steady]),
        pod_manifest("hog", [{"name": "h", "image": "x", "command": ["python3", "-c", HOG]}]),
    )

    def evicted(name: str) -> dict[str, Any] | None:
        status = _pod(pk, name)["status"]
        return status if status.get("reason") == "Evicted" else None

    hog = pk.wait_for("hog evicted", lambda: evicted("hog"), 30)
    assert hog["phase"] == "Failed"
    assert re.fullmatch(
        r"The node was low on resource: memory\. Threshold quantity: 1000Ti, available: \S+\. "
        r"Container h was using \S+, request is 0, has larger consumption of memory\. ",
        hog["message"],
    ), hog["message"]
    assert evicted("steady") is None  # within its requests: it goes last
    events = pk.events()
    assert any(e["reason"] == "Evicted" and e["type"] == "Warning" for e in pk.events("hog"))
    assert any(e["reason"] == "NodeHasInsufficientMemory" for e in events)

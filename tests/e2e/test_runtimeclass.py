"""spec.runtimeClassName and the built-in RuntimeClasses, through the real CLI (issue 10).

On the process runtime (no root needed): `get runtimeclasses` lists both classes; a pod
naming `podkeeper-process` runs; an unknown class and the other runtime's class leave the
pod Pending (ContainerCreating) with the kubelet's `FailedCreatePodSandBox` events."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import PK, pod_manifest

pytestmark = pytest.mark.e2e


def _sleeper(name: str, runtime_class: str) -> dict[str, Any]:
    c = {"name": "app", "image": "busybox", "command": ["sleep", "3600"]}
    return pod_manifest(name, [c], runtimeClassName=runtime_class)


def test_runtime_classes_on_the_process_runtime(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_RUNTIME", "process")
    pk.up(
        _sleeper("ok", "podkeeper-process"),
        _sleeper("unknown", "gvisor"),
        _sleeper("other", "podkeeper-containerd"),
    )
    table = pk.run("get", "runtimeclasses").out.split("\n")
    assert table[0].split() == ["NAME", "HANDLER", "AGE"]
    rows = {line.split()[0]: line.split()[1] for line in table[1:] if line.strip()}
    assert rows == {"podkeeper-process": "process", "podkeeper-containerd": "containerd"}
    pk.wait_for(
        "pod ok running",
        lambda: pk.pod("ok")["status"].get("phase") == "Running",
        timeout=60,
    )

    def sandbox_failed(name: str, text: str) -> bool:
        return any(
            e["reason"] == "FailedCreatePodSandBox"
            and e["type"] == "Warning"
            and e["message"] == f"Failed to create pod sandbox: {text}"
            for e in pk.events(name)
        )

    pk.wait_for(
        "unknown class event",
        lambda: sandbox_failed("unknown", 'runtimeclass.node.k8s.io "gvisor" not found'),
        timeout=60,
    )
    pk.wait_for(
        "unsupported handler event",
        lambda: sandbox_failed("other", 'RuntimeHandler "containerd" not supported'),
        timeout=60,
    )
    for name in ("unknown", "other"):
        pod = pk.pod(name)
        assert pod["status"]["phase"] == "Pending"
        waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] == "ContainerCreating"

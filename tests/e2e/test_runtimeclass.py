"""spec.runtimeClassName and the built-in RuntimeClasses, through the real CLI (issue 10).

On the process runtime (no root needed): `get runtimeclasses` lists both classes; a pod
naming `podkeeper-process` runs; an unknown class leaves the pod Pending
(ContainerCreating) with the kubelet's `FailedCreatePodSandBox` events; the containerd
class opens the agent's containerd beside the process runtime where it can run, and
otherwise fails the same way, saying why."""

from __future__ import annotations

from typing import Any

import pytest

from podkeeper.runtime.cri.containerd import unavailable_reason

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
    why = unavailable_reason()
    if why is None:
        # The agent opened its containerd beside the process runtime for this pod; this
        # home has no sandbox image imported and no registry answers: RunPodSandbox fails
        # as on a node, with the hint what to import.
        pk.wait_for(
            "other: no sandbox image",
            lambda: any(
                e["reason"] == "FailedCreatePodSandBox"
                and 'failed to get sandbox image "' in e["message"]
                and "podkeeper image import" in e["message"]
                for e in pk.events("other")
            ),
            timeout=90,
        )
        assert "runtime process, also containerd" in pk.run("version").out
    else:
        pk.wait_for(
            "no containerd handler event",
            lambda: sandbox_failed(
                "other",
                "rpc error: code = Unknown desc = failed to get sandbox runtime: "
                f'no runtime for "containerd" is configured ({why})',
            ),
            timeout=60,
        )
    assert _waiting(pk, "other") == "ContainerCreating"
    assert pk.pod("unknown")["status"]["phase"] == "Pending"
    assert _waiting(pk, "unknown") == "ContainerCreating"
    assert pk.pod("other")["status"]["phase"] == "Pending"


def _waiting(pk: PK, name: str) -> str:
    state = pk.pod(name)["status"]["containerStatuses"][0]["state"]
    return str((state.get("waiting") or {}).get("reason", ""))

"""End to end on the containerd runtime: volumes become CRI mounts, through the real CLI.

A busybox pod gets a ConfigMap (applied with the CLI), an
emptyDir shared by two containers (one read-only), a subPath and a hostPath; the
ConfigMap update reaches the running container. Skips without root, containerd, runc,
the CNI plugins or busybox-static (as test_cri_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE

from .conftest import PK, container_status, pod_manifest
from .test_cri_e2e import cpk, images  # noqa: F401 - fixtures
from .test_volumes import configmap, seed

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def _logs(pk: PK, pod: str, container: str) -> str:
    return pk.run("logs", pod, "-c", container, check=False).out


def test_volumes_on_containerd(cpk: PK, tmp_path: Path) -> None:  # noqa: F811 - fixture
    host = tmp_path / "host"
    host.mkdir()
    (host / "greeting").write_text("from-host")
    seed(cpk, configmap("cfg", k="one"))
    reader = (
        "echo x >/data/ro-test 2>/dev/null && echo WROTE || echo REFUSED;"
        " cat /host/greeting; echo; cat /sub/k; echo;"
        " while true; do cat /data/msg /cfg/k 2>/dev/null; echo; sleep 0.2; done"
    )
    pod = pod_manifest(
        "vols",
        [
            {
                "name": "writer",
                "image": BUSYBOX_IMAGE,
                "command": ["sh", "-c", "echo shared-msg >/data/msg; sleep 3600"],
                "volumeMounts": [{"name": "scratch", "mountPath": "/data"}],
            },
            {
                "name": "reader",
                "image": BUSYBOX_IMAGE,
                "command": ["sh", "-c", reader],
                "volumeMounts": [
                    {"name": "scratch", "mountPath": "/data", "readOnly": True},
                    {"name": "cfg", "mountPath": "/cfg"},
                    {"name": "cfg", "mountPath": "/sub/k", "subPath": "k"},
                    {"name": "h", "mountPath": "/host"},
                ],
            },
        ],
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "h", "hostPath": {"path": str(host), "type": "Directory"}},
        ],
    )
    cpk.up(pod)
    cpk.wait_for("reader output", lambda: "shared-msg" in _logs(cpk, "vols", "reader"), 120)
    out = _logs(cpk, "vols", "reader")
    assert "REFUSED" in out and "WROTE" not in out
    assert "from-host" in out
    assert "shared-msg\none" in out
    seed(cpk, configmap("cfg", k="two"))
    cpk.wait_for("update seen", lambda: "shared-msg\ntwo" in _logs(cpk, "vols", "reader"), 60)
    assert container_status(cpk.pod("vols"), "reader")["restartCount"] == 0
    uid = cpk.pod("vols")["metadata"]["uid"]
    vol = cpk.home / "volumes" / "pods" / uid
    assert vol.exists()
    cpk.run("delete", "pod", "vols", "--grace-period", "1")
    cpk.wait_for("volumes removed", lambda: not vol.exists(), 90)

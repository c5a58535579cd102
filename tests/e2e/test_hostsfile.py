"""The kubelet-managed /etc/hosts, through the real CLI, on both runtimes.

One pod with `hostname`, `subdomain` and `hostAliases` and two containers: one sees the
managed file, byte for byte what core/hostsfile.py computes for the pod IP the API shows
(the same text on both runtimes); the other mounts its own file at /etc/hosts and keeps
it. A hostNetwork pod sees the node's /etc/hosts under the host-network header, with the
aliases appended. The file lives in the pod's owner-only folder under the home, and goes
with the pod. Skips without root (and, for containerd, as test_cri_e2e.py skips)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from podkeeper.core import hostsfile
from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE

from .conftest import PK, pod_manifest
from .test_cri_e2e import cpk, images  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (pod network namespaces)"),
]

ALIASES = [
    {"ip": "10.1.2.3", "hostnames": ["a.example", "b.example"]},
    {"ip": "127.0.0.1", "hostnames": ["foo.local"]},
]
PARSED = (("10.1.2.3", ("a.example", "b.example")), ("127.0.0.1", ("foo.local",)))
CAT = "cat /etc/hosts; echo END-OF-HOSTS; sleep 3600"


def _ctr(image: str, name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "command": ["sh", "-c", CAT], **kw}


def _hosts_seen(pk: PK, pod: str, container: str) -> str | None:
    out = pk.run("logs", pod, "-c", container, check=False).out
    if "END-OF-HOSTS\n" not in out:
        return None
    return out.split("END-OF-HOSTS\n", 1)[0]


@pytest.fixture(params=["process", "containerd"])
def rt(request: pytest.FixtureRequest) -> tuple[PK, str]:
    if request.param == "process":
        return request.getfixturevalue("pk"), "busybox"  # a label on the process runtime
    return request.getfixturevalue("cpk"), BUSYBOX_IMAGE


def test_managed_hosts_file(rt: tuple[PK, str], tmp_path: Path) -> None:
    pk, image = rt
    own = tmp_path / "own-hosts"
    own.write_text("10.9.9.9\tmine\n")
    pod = pod_manifest(
        "hosts",
        [
            _ctr(image, "managed"),
            _ctr(image, "own", volumeMounts=[{"name": "h", "mountPath": "/etc/hosts"}]),
        ],
        hostname="web",
        subdomain="svc",
        hostAliases=ALIASES,
        volumes=[{"name": "h", "hostPath": {"path": str(own), "type": "File"}}],
    )
    hn = pod_manifest("hn", [_ctr(image, "c")], hostNetwork=True, hostAliases=ALIASES)
    pk.up(pod, hn)
    seen = pk.wait_for("managed /etc/hosts", lambda: _hosts_seen(pk, "hosts", "managed"), 120)
    ip = pk.pod("hosts")["status"]["podIP"]
    want = hostsfile.managed_content([ip], "web", "svc.default.svc.cluster.local", PARSED)
    assert seen == want
    assert f"{ip}\tweb.svc.default.svc.cluster.local\tweb\n" in seen
    assert seen.endswith(
        "\n# Entries added by HostAliases.\n10.1.2.3\ta.example\tb.example\n127.0.0.1\tfoo.local\n"
    )
    # A container mounting /etc/hosts itself keeps its own file.
    assert pk.wait_for("own /etc/hosts", lambda: _hosts_seen(pk, "hosts", "own"), 60) == (
        "10.9.9.9\tmine\n"
    )
    # hostNetwork: the node's file under the kubelet's host-network header.
    node = Path("/etc/hosts").read_text()
    hn_seen = pk.wait_for("hostNetwork /etc/hosts", lambda: _hosts_seen(pk, "hn", "c"), 120)
    assert hn_seen == hostsfile.node_content(node, PARSED)
    assert hn_seen.startswith(hostsfile.HOST_NETWORK_HEADER)

    # In the pod's folder under the home: owner-only folders, a world-readable file.
    uid = pk.pod("hosts")["metadata"]["uid"]
    pod_dir = pk.home / "volumes" / "pods" / uid
    path = pod_dir / "etc-hosts"
    assert path.read_text() == want
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    for folder in (pod_dir, pod_dir.parent, pod_dir.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    hn_path = pk.home / "volumes" / "pods" / pk.pod("hn")["metadata"]["uid"] / "etc-hosts"
    assert hn_path.read_text() == hn_seen
    # Both go with their pod (with volumes: the volume teardown; without: its own).
    pk.run("delete", "pod", "hosts", "hn", "--grace-period", "1")
    pk.wait_for("hosts file removed", lambda: not path.exists(), 90)
    pk.wait_for("hostNetwork hosts file removed", lambda: not hn_path.parent.exists(), 90)

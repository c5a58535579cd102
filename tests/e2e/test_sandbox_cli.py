"""End-to-end (issue 4 §1): pod IPs through the real CLI, and `down` leaves nothing behind."""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from typing import Any

import pytest

from podkeeper.runtime.cgroups import root_name_for_home
from podkeeper.runtime.process import hostports
from podkeeper.runtime.process import sandbox as sb

from .conftest import PK, is_ready, pod_manifest

_WHY = sb.unavailable_reason()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "n/a")

# Answers every connection with its hostname; handles SIGTERM (it is PID 1).
SERVER = [
    "python3",
    "-c",
    "import signal, socket, sys\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "s = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen()\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(socket.gethostname().encode()); c.close()\n",
]


def _ours(tag: str) -> list[str]:
    out = [n for n in os.listdir(sb.NETNS_DIR) if n.startswith(f"pk-{tag}-")]
    if os.path.isdir(sb.IPC_ROOT):
        out += [f"ipc:{n}" for n in os.listdir(sb.IPC_ROOT) if n.startswith(f"pk-{tag}-")]
    links = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout
    out += [str(li["ifname"]) for li in json.loads(links) if li["ifname"].startswith(f"pk{tag}")]
    return out


def test_pods_get_their_own_ips_and_down_cleans_up(pk: PK) -> None:
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    pods = [
        pod_manifest(n, [{"name": "s", "image": "x", "command": SERVER, "readinessProbe": probe}])
        for n in ("alpha", "beta")
    ]
    pk.up(*pods)
    ips = {}
    for name in ("alpha", "beta"):
        pod = pk.wait_for(f"{name} ready", lambda n=name: is_ready(pk.pod(n)) and pk.pod(n), 30)
        ips[name] = pod["status"]["podIP"]
    assert ips["alpha"] != ips["beta"] and "127.0.0.1" not in ips.values()
    wide = pk.run("get", "pods", "-o", "wide").out
    assert ips["alpha"] in wide and ips["beta"] in wide
    for name, ip in ips.items():  # same port, two pods, reached from the host
        with socket.create_connection((ip, 8080), timeout=5) as c:
            assert c.recv(100).decode() == name
    tag = sb.home_tag(pk.home)
    assert len(_ours(tag)) == 2 + 2 + 2 + 1  # two netns, two IPC namespaces, two veths, the bridge
    t0 = time.monotonic()
    root = root_name_for_home(str(pk.home))
    assert glob.glob(f"/sys/fs/cgroup/*/{root}")  # the pods' cgroups live under it
    pk.run("down", timeout=90)
    assert time.monotonic() - t0 < 30  # SIGTERM reached PID 1, which handles it
    assert _ours(tag) == []
    assert glob.glob(f"/sys/fs/cgroup/*/{root}") == []  # nor the home's cgroup root


def test_agent_sigkill_then_restart_cleans_up(pk: PK) -> None:
    pod = pod_manifest("gamma", [{"name": "s", "image": "x", "command": SERVER}])
    pk.up(pod)
    pk.wait_for("gamma has an IP", lambda: pk.pod("gamma")["status"].get("podIP"), 30)
    tag = sb.home_tag(pk.home)
    assert _ours(tag)
    pid = pk.agent_pid()
    assert pid is not None
    os.kill(pid, 9)
    pk.wait_for("agent gone", lambda: not os.path.exists(f"/proc/{pid}"), 10)
    # A restarted agent removes what the dead one left before it makes new sandboxes.
    pk.up(pod)
    pk.wait_for("gamma has an IP", lambda: pk.pod("gamma")["status"].get("podIP"), 30)
    # one netns, one IPC namespace, one veth, the bridge: nothing of the old one
    assert len(_ours(tag)) == 4
    pk.run("down", timeout=90)
    assert _ours(tag) == []


def _get(host: str, port: int) -> str | None:
    """The answer of SERVER-like pods at host:port (their hostname), None when refused."""
    try:
        with socket.create_connection((host, port), timeout=5) as c:
            return c.recv(100).decode()
    except OSError:
        return None


def _hostport_table(home: str) -> bool:
    name = hostports.table_name(home)
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return f"table ip {name}" in out


@pytest.mark.skipif(shutil.which("nft") is None, reason="hostPort needs nft (apt install nftables)")
def test_host_port_on_the_process_runtime(pk: PK) -> None:
    """containers[].ports[].hostPort on the process runtime: loopback and the bridge's address
    (both local addresses) reach the pod, as the CNI portmap plugin maps them on containerd; a
    second pod asking for the same port waits Pending until the first is gone; an agent
    killed and restarted keeps the mapping of the pod it adopts; `down` removes it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def web(name: str) -> dict[str, Any]:
        c = {
            "name": "s",
            "image": "x",
            "command": SERVER,
            "ports": [{"containerPort": 8080, "hostPort": port}],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        }
        return pod_manifest(name, [c])

    pk.up(web("web"), wait=True)
    pk.up(web("web2"))
    pod = pk.pod("web")
    assert pod["status"]["podIP"] != "127.0.0.1"
    gateway = str(ipaddress.ip_address(pod["status"]["podIP"]) - 1)
    # Not the pod's own address: its port 8080 is not the host port.
    assert pk.wait_for("loopback:hostPort", lambda: _get("127.0.0.1", port) == "web", 30)
    assert _get(gateway, port) == "web"
    text = (
        "Failed to create pod sandbox: 0/1 nodes are available: 1 node(s) didn't have free "
        f"ports for the requested pod ports. (host port TCP/{port} in use)"
    )
    pk.wait_for("web2 refused", lambda: any(e["message"] == text for e in pk.events("web2")), 30)
    assert pk.pod("web2")["status"]["phase"] == "Pending"
    assert _hostport_table(str(pk.home))

    pk.run("delete", "pod", "web")
    assert pk.wait_for("web2 behind the port", lambda: _get("127.0.0.1", port) == "web2", 90)

    pid = pk.agent_pid()
    assert pid is not None
    os.kill(pid, 9)
    pk.wait_for("agent gone", lambda: not os.path.exists(f"/proc/{pid}"), 10)
    assert _get("127.0.0.1", port) == "web2"  # the kernel's rules outlive the agent
    pk.up(web("web2"), wait=True)
    assert pk.pod("web2")["status"]["containerStatuses"][0]["restartCount"] == 0  # adopted
    assert _get("127.0.0.1", port) == "web2"

    pk.run("down", timeout=90)
    assert not _hostport_table(str(pk.home))
    assert _get("127.0.0.1", port) is None


def _mounts_under(path: object) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if str(path) in ln]


def test_a_pod_has_its_own_ipc_namespace_and_sysctls(pk: PK) -> None:
    """The process runtime gives each pod one IPC namespace that its containers share (as
    they share the pause container's in Kubernetes), so the safe IPC and net sysctls of
    spec.securityContext.sysctls are set for the pod alone; `down` unmounts it."""
    show = "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_local_port_range; "
    ns = "readlink /proc/self/ns/ipc; sleep 3600"
    sysctls = [
        {"name": "kernel/shm_rmid_forced", "value": "1"},  # the slash form, converted
        {"name": "net.ipv4.ip_local_port_range", "value": "20000 30000"},
    ]
    pk.up(
        pod_manifest(
            "shm",
            [
                {"name": "a", "image": "x", "command": ["sh", "-c", show + ns]},
                {"name": "b", "image": "x", "command": ["sh", "-c", ns]},
            ],
            securityContext={"sysctls": sysctls},
        ),
        wait=True,
    )
    a = pk.wait_for("logs of a", lambda: len(pk.run("logs", "shm", "-c", "a").out.split()) >= 4, 30)
    assert a
    one, low, high, ipc_a = pk.run("logs", "shm", "-c", "a").out.split()[:4]
    ipc_b = pk.wait_for("logs of b", lambda: pk.run("logs", "shm", "-c", "b").out.strip(), 30)
    assert (one, low, high) == ("1", "20000", "30000")
    assert ipc_a == ipc_b != os.readlink("/proc/self/ns/ipc")
    with open("/proc/sys/kernel/shm_rmid_forced") as f:
        host_value = f.read().strip()
    ipc_files = f"{sb.IPC_ROOT}/pk-{sb.home_tag(pk.home)}-"
    assert any("nsfs" in ln for ln in _mounts_under(ipc_files))  # the pod's IPC namespace
    pk.run("down", timeout=90)
    assert _mounts_under(ipc_files) == []
    assert not [n for n in os.listdir(sb.IPC_ROOT) if n.startswith(f"pk-{sb.home_tag(pk.home)}-")]
    with open("/proc/sys/kernel/shm_rmid_forced") as f:
        assert f.read().strip() == host_value  # the node's own value never changed

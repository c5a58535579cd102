"""End-to-end (issue 4 §1, §3, §4): a Deployment behind a Service through the real agent and
CLI, on both data paths.

Each pod answers every HTTP request with its own name, so requests through the Service are
counted per backend. A pod turns unready when its app creates /tmp/unready (GET /unready on
the pod IP), which its exec readiness probe checks; /tmp is private to the container, and the
exec probe runs inside the container's namespaces. The data path is chosen by
`PODKEEPER_PROXY_MODE` in the agent's environment (`ServiceController.__init__` reads it; the
CLI starts the agent with the caller's environment).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from typing import Any

import pytest
from benchmarks.bench_services import POD_APP, READINESS

from podkeeper.lb import nft
from podkeeper.runtime.process import sandbox as sb

from .conftest import PK, container_status, is_ready

_WHY = sb.unavailable_reason()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "n/a")

Obj = dict[str, Any]
NFT_OK = nft.available()[0]
MODES = [
    "userspace",
    pytest.param(
        "nftables", marks=pytest.mark.skipif(not NFT_OK, reason="nftables not usable here")
    ),
]
REQUEST = b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def deployment(name: str, replicas: int, version: str = "v1") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"example/{name}:{version}",
                            "command": ["python3", "-c", POD_APP],
                            "env": [{"name": "VERSION", "value": version}],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "exec": {"command": READINESS},
                                "periodSeconds": 1,
                                "failureThreshold": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def service(name: str, port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "web", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def get_json(pk: PK, *what: str) -> Obj:
    out: Obj = json.loads(pk.run("get", *what, "-o", "json").out)
    return out


def live_pods(pk: PK) -> list[Obj]:
    items: list[Obj] = get_json(pk, "pods")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_pods(pk: PK, n: int, without: str = "") -> list[Obj] | None:
    """The live pods when there are n, all Ready, none named `without`; else None."""
    pods = live_pods(pk)
    ok = len(pods) == n and all(is_ready(p) for p in pods)
    return pods if ok and without not in {p["metadata"]["name"] for p in pods} else None


def endpoint_names(pk: PK, svc: str) -> tuple[set[str], set[str]]:
    """(ready, not ready) pod names of the Service's Endpoints."""
    ready: set[str] = set()
    unready: set[str] = set()
    for subset in get_json(pk, "endpoints", svc).get("subsets") or ():
        for key, into in (("addresses", ready), ("notReadyAddresses", unready)):
            into.update(a["targetRef"]["name"] for a in subset.get(key) or ())
    return ready, unready


def request(port: int, sock: socket.socket | None = None) -> str:
    """One GET through 127.0.0.1:port (on `sock` when given); the answering pod's name."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(REQUEST)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionResetError("closed before a response")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        if b"Content-Length: " not in head:
            raise ConnectionResetError(f"not the pods' answer: {head[:200]!r}")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += s.recv(4096)
        return body.decode()
    finally:
        if sock is None:
            s.close()


def try_request(port: int) -> str:
    try:
        return request(port)
    except OSError:
        return ""


def spread(port: int, n: int) -> Counter[str]:
    """n requests on new connections and n on one keep-alive connection, counted per pod."""
    counts: Counter[str] = Counter(request(port) for _ in range(n))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as keep:
        counts.update(request(port, keep) for _ in range(n))
    return counts


def direct(ip: str, path: str) -> None:
    with socket.create_connection((ip, 8080), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")


def leftovers(pk: PK) -> list[str]:
    """Our netns, links (veths, bridge) and nftables table still present."""
    tag = sb.home_tag(pk.home)
    run = {"capture_output": True, "text": True, "check": False}
    netns = subprocess.run(["ip", "netns", "list"], **run).stdout.split()  # type: ignore[call-overload]
    out = [n for n in netns if n.startswith(f"pk-{tag}-")]
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], **run).stdout)  # type: ignore[call-overload]
    out += [str(li["ifname"]) for li in links if str(li["ifname"]).startswith(f"pk{tag}")]
    tables = subprocess.run(["nft", "list", "tables"], **run).stdout if NFT_OK else ""  # type: ignore[call-overload]
    out += [t for t in tables.split() if t == nft.table_name(str(pk.home))]
    return out


def identities(pk: PK) -> dict[str, int]:
    """Kernel identities of our netns (inode) and nft table (handle): new when recreated."""
    out: dict[str, int] = {}
    tag = sb.home_tag(pk.home)
    for name in os.listdir(sb.NETNS_DIR):
        if name.startswith(f"pk-{tag}-"):
            out[name] = os.stat(os.path.join(sb.NETNS_DIR, name)).st_ino
    table = nft.table_name(str(pk.home))
    listing = subprocess.run(
        ["nft", "-a", "list", "table", "ip", table], capture_output=True, text=True, check=False
    ).stdout
    out[table] = int(listing.split("# handle ")[1].split()[0])
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", MODES)
def test_service_routes_to_ready_pods_only(
    pk: PK, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODKEEPER_PROXY_MODE", mode)
    port = free_port()
    pk.up(deployment("web", 3), service("web", port), wait=True)
    pods = pk.wait_for("3 ready", lambda: ready_pods(pk, 3), 30)
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    assert len(set(ips.values())) == 3 and not any(ip.startswith("127.") for ip in ips.values())
    svc = get_json(pk, "service", "web")
    assert svc["metadata"]["annotations"]["podkeeper.io/proxy-mode"] == mode
    described = pk.run("describe", "service", "web").out
    assert re.search(rf"^Proxy Mode:\s+{mode}$", described, re.M), described
    assert re.search(r"^Endpoints:\s+(10\.\d+\.\d+\.\d+:8080,?){3}$", described, re.M), described
    replicas = "3 desired | 3 updated | 3 total | 3 available | 0 unavailable"
    assert f"Replicas:               {replicas}" in pk.run("describe", "deploy", "web").out
    pk.wait_for("3 ready endpoints", lambda: endpoint_names(pk, "web")[0] == set(ips), 10)

    # Every ready pod serves, on new and on keep-alive connections.
    counts = spread(port, 30)
    assert set(counts) == set(ips), counts

    # One pod unready: it leaves the endpoints and gets no request at all.
    victim = sorted(ips)[0]
    direct(ips[victim], "/unready")
    pk.wait_for(
        f"{victim} not ready in endpoints",
        lambda: endpoint_names(pk, "web") == (set(ips) - {victim}, {victim}),
        5,
        0.1,
    )
    counts = spread(port, 60)
    assert counts[victim] == 0 and sum(counts.values()) == 120, counts

    # Ready again: it is back.
    direct(ips[victim], "/ready")
    pk.wait_for("victim back", lambda: endpoint_names(pk, "web")[0] == set(ips), 5, 0.1)
    assert spread(port, 30)[victim] > 0

    # A deleted pod is replaced: three Ready again; requests never reach the deleted one.
    gone = sorted(ips)[1]
    pk.run("delete", "pod", gone)
    pods = pk.wait_for("3 ready, replaced", lambda: ready_pods(pk, 3, gone), 30)
    pk.wait_for("3 endpoints", lambda: len(endpoint_names(pk, "web")[0]) == 3, 10, 0.1)
    counts = spread(port, 30)
    assert gone not in counts and len(counts) == 3, counts

    # No ready endpoint: a connect is refused at once, no hang.
    for p in pods:
        direct(p["status"]["podIP"], "/unready")
    pk.wait_for("no ready endpoint", lambda: not endpoint_names(pk, "web")[0], 5, 0.1)
    time.sleep(0.1)
    t0 = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert time.monotonic() - t0 < 0.2

    pk.run("down", timeout=90)
    assert leftovers(pk) == []


@pytest.mark.timeout(90)
@pytest.mark.skipif(not NFT_OK, reason="nftables not usable here")
def test_agent_sigkill_restart_removes_netns_veth_and_nft_table(
    pk: PK, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODKEEPER_PROXY_MODE", "nftables")
    port = free_port()
    manifest = [deployment("one", 1), service("one", port)]
    pk.up(*manifest, wait=True)
    pk.wait_for("served", lambda: try_request(port).startswith("one-"), 10)
    before = leftovers(pk)
    assert nft.table_name(str(pk.home)) in before and len(before) == 1 + 1 + 1 + 1, before
    ids = identities(pk)
    pid = pk.agent_pid()
    assert pid is not None
    os.kill(pid, 9)
    pk.wait_for("agent gone", lambda: not os.path.exists(f"/proc/{pid}"), 10)
    assert leftovers(pk) == before  # what a crash leaves: netns, veth, bridge, nft table
    # A restarted agent replaces the dead one's nft table (new handle) and adopts the
    # sandbox of the pod it restores from its store (same uid, same netns, as the kubelet
    # keeps a pod sandbox across its restarts): nothing is duplicated, nothing leaks.
    pk.up(*manifest, wait=True)
    pk.wait_for("served again", lambda: try_request(port).startswith("one-"), 15)
    assert leftovers(pk) == before
    new = identities(pk)
    table = nft.table_name(str(pk.home))
    assert new[table] != ids[table] and new.keys() == ids.keys(), (ids, new)
    pk.run("down", timeout=90)
    assert leftovers(pk) == []


@pytest.mark.timeout(120)
def test_agent_sigkill_restart_keeps_pods_running_ready_and_served(pk: PK) -> None:
    """issue 13 item 6: a SIGKILLed agent's successor takes its pods over: the same
    containers (no restart), the same IPs, Ready as before, the Service still served,
    and the Deployment creates no extra pods."""
    port = free_port()
    manifest = [deployment("keep", 2), service("keep", port)]
    pk.up(*manifest, wait=True)
    before = pk.wait_for("2 ready", lambda: ready_pods(pk, 2), 30)
    pk.wait_for("served", lambda: try_request(port).startswith("keep-"), 10)
    ids = {
        p["metadata"]["name"]: (p["status"]["podIP"], container_status(p)["containerID"])
        for p in before
    }
    pid = pk.agent_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    pk.wait_for("agent gone", lambda: not os.path.exists(f"/proc/{pid}"), 10)
    t0 = time.monotonic()
    pk.up(*manifest)  # returns once the new agent restored its pods and applied these
    restarted_in = time.monotonic() - t0
    after = live_pods(pk)  # at once: no Ready gap after the restore
    assert len(after) == 2 and all(is_ready(p) for p in after), after
    assert {
        p["metadata"]["name"]: (p["status"]["podIP"], container_status(p)["containerID"])
        for p in after
    } == ids
    assert all(container_status(p)["restartCount"] == 0 for p in after)
    pk.wait_for("served again", lambda: try_request(port).startswith("keep-"), 10)
    assert restarted_in < 30, restarted_in
    pk.run("down", timeout=90)
    assert leftovers(pk) == []

"""End-to-end (issue 13 items 1-4): a pod cannot reach beyond itself, through the real CLI.

Each test fails on the code before the fix: the agent opened `terminationMessagePath`
on the host ("w", following symlinks, blocking on a FIFO), ignored securityContext,
let pods see /run/netns and the agent's home, and ran exec probes outside the
container's cgroup.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from podkeeper.core.security import DEFAULT_CAPABILITIES
from podkeeper.runtime.process import sandbox as sb
from podkeeper.testing import cgroup_skip_reason

from .conftest import PK, container_status, pod_manifest

_WHY = sb.unavailable_reason()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "n/a")

# Capability numbers (linux/capability.h) of containerd's default set.
_CAP_BITS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "FSETID": 4,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SETPCAP": 8,
    "NET_BIND_SERVICE": 10,
    "NET_RAW": 13,
    "SYS_CHROOT": 18,
    "MKNOD": 27,
    "AUDIT_WRITE": 29,
    "SETFCAP": 31,
}


def _once(name: str, script: str, **container: Any) -> dict[str, Any]:
    c = {"name": "c", "image": "x", "command": ["sh", "-c", script], **container}
    return pod_manifest(name, [c], restartPolicy="Never")


def _terminated(pk: PK, name: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        st = container_status(pk.pod(name))
        return st["state"].get("terminated")

    return dict(pk.wait_for(f"{name} terminated", done, timeout))


def _logs(pk: PK, name: str) -> str:
    return pk.run("logs", name).out


def test_termination_message_never_touches_the_host_path(pk: PK, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    other = tmp_path / "other"
    other.write_text("also precious")
    link = tmp_path / "link"
    link.symlink_to(other)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    default = Path("/dev/termination-log")
    default_existed = default.exists()
    pk.up(
        _once("file", f"echo bye >{victim}; exit 3", terminationMessagePath=str(victim)),
        _once("link", f"echo via-link >{link}; exit 0", terminationMessagePath=str(link)),
        _once("fifo", "exit 1", terminationMessagePath=str(fifo)),
        _once("default", "echo from-default >/dev/termination-log; exit 1"),
    )
    assert _terminated(pk, "file")["message"] == "bye\n"
    assert _terminated(pk, "link")["message"] == "via-link\n"
    assert _terminated(pk, "default")["message"] == "from-default\n"
    # A FIFO at the path freezes nothing: the API answers and the pod ends.
    t0 = time.monotonic()
    assert _terminated(pk, "fifo")["exitCode"] == 1
    pk.run("delete", "pod", "fifo", timeout=30)
    assert time.monotonic() - t0 < 30
    assert victim.read_text() == "precious"
    assert other.read_text() == "also precious" and link.is_symlink()
    assert default.exists() == default_existed


def test_termination_message_path_in_proc_does_not_leak_the_agent_env(
    pk: PK, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PK_AGENT_SECRET", "s3cr3t-agent-value")
    pk.up(_once("environ", "exit 2", terminationMessagePath="/proc/self/environ"))
    st = _terminated(pk, "environ")
    assert "s3cr3t-agent-value" not in st.get("message", "")


def test_security_context_is_honoured(pk: PK) -> None:
    show = "id -u; id -g; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
    pod_sc = {"runAsNonRoot": True, "runAsUser": 1000, "supplementalGroups": [4000]}
    restricted = _once(
        "restricted",
        show,
        securityContext={"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False},
    )
    restricted["spec"]["securityContext"] = pod_sc
    pk.up(
        restricted,
        _once("default-caps", show),
        _once("added", show, securityContext={"capabilities": {"add": ["NET_ADMIN"]}}),
    )
    for name in ("restricted", "default-caps", "added"):
        assert _terminated(pk, name)["exitCode"] == 0, _logs(pk, name)
    out = _logs(pk, "restricted").split("\n")
    assert out[0] == "1000" and out[1] == "0" and "4000" in out[2].split()
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    default_mask = sum(1 << _CAP_BITS[c] for c in DEFAULT_CAPABILITIES)
    out = _logs(pk, "default-caps")
    assert f"CapBnd:\t{default_mask:016x}" in out and f"CapEff:\t{default_mask:016x}" in out
    assert "NoNewPrivs:\t0" in out
    added = default_mask | 1 << 12  # CAP_NET_ADMIN
    assert f"CapEff:\t{added:016x}" in _logs(pk, "added")


def test_run_as_non_root_refuses_root(pk: PK) -> None:
    explicit = _once(
        "explicit-root",
        "exit 0",
        securityContext={"runAsNonRoot": True, "runAsUser": 0},
    )
    implicit = _once("implicit-root", "exit 0", securityContext={"runAsNonRoot": True})
    pk.up(explicit, implicit)
    for name, text in (
        ("explicit-root", "container's runAsUser breaks non-root policy"),
        ("implicit-root", "container has runAsNonRoot and image will run as root"),
    ):

        def waiting(n: str = name) -> dict[str, Any] | None:
            w = container_status(pk.pod(n))["state"].get("waiting")
            return w if w and w.get("reason") == "CreateContainerConfigError" else None

        w = pk.wait_for(f"{name} refused", waiting, 30)
        uid = pk.pod(name)["metadata"]["uid"]
        assert w["message"] == f'{text} (pod: "{name}_default({uid})", container: c)'
        assert any(e["reason"] == "Failed" and text in e["message"] for e in pk.events(name))


def test_pod_cannot_see_namespaces_or_agent_homes(pk: PK) -> None:
    script = (
        f"echo netns: $(ls -A /run/netns | wc -l); echo home: $(ls -A {pk.home} | wc -l); "
        f"[ -e {pk.home}/agent.sock ] && echo sock-visible || echo sock-hidden; sleep 60"
    )
    pk.up(
        pod_manifest("peer", [{"name": "c", "image": "x", "command": ["sleep", "60"]}]),
        pod_manifest("looker", [{"name": "c", "image": "x", "command": ["sh", "-c", script]}]),
    )
    out = pk.wait_for(
        "looker output", lambda: "sock-" in _logs(pk, "looker") and _logs(pk, "looker"), 30
    )
    assert len([n for n in os.listdir(sb.NETNS_DIR) if n.startswith("pk-")]) >= 2
    assert "netns: 0" in out and "home: 0" in out and "sock-hidden" in out


@pytest.mark.skipif(bool(cgroup_skip_reason()), reason=cgroup_skip_reason() or "n/a")
def test_exec_probe_runs_in_the_container_cgroup_and_user(pk: PK) -> None:
    probe = {
        "exec": {"command": ["sh", "-c", "grep -E ':memory:' /proc/self/cgroup; id -u; exit 1"]},
        "periodSeconds": 1,
    }
    c = {
        "name": "c",
        "image": "x",
        "command": ["sh", "-c", "grep -E ':memory:' /proc/self/cgroup; sleep 60"],
        "readinessProbe": probe,
        "securityContext": {"runAsUser": 1000},
    }
    pk.up(pod_manifest("probed", [c]))
    own = pk.wait_for("container cgroup", lambda: _logs(pk, "probed").strip(), 30)

    def unhealthy() -> str | None:
        for e in pk.events("probed"):
            if e["reason"] == "Unhealthy" and ":memory:" in e["message"]:
                return str(e["message"])
        return None

    msg = pk.wait_for("a failed readiness probe", unhealthy, 30)
    memory_line = re.search(r"\d+:memory:\S+", msg)
    assert memory_line is not None and memory_line.group(0) == own
    assert "1000" in msg.split(own, 1)[1]

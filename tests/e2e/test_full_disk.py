"""End-to-end (issue 13 item 9): a full disk under the home and a sandbox that cannot be
made. Before: pods fell back to the host network (IP 127.0.0.1) without a word,
`events` failed with "database or disk is full" and terminations were lost."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podkeeper.runtime.process import sandbox as sb

from .conftest import PK, container_status, pod_manifest, reap_home

_WHY = sb.unavailable_reason()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "n/a")

SLEEP = ["sleep", "600"]


@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[PK]:
    """A home on its own 16 MiB filesystem, so that the test can fill it."""
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(home)], check=True
    )
    pk = PK(home, tmp_path)
    try:
        yield pk
    finally:
        for f in home.glob("filler*"):
            f.unlink()
        if (home / "agent.sock").exists():
            pk.run("down", timeout=90, check=False)
        reap_home(home)
        subprocess.run(["umount", "-l", str(home)], check=False)


def _fill(home: Path) -> None:
    with open(home / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass


def test_full_home_keeps_supervising_and_recovers_without_a_restart(small_home: PK) -> None:
    pk = small_home
    pk.up(
        pod_manifest(
            "crasher", [{"name": "c", "image": "x", "command": ["sh", "-c", "sleep 3; exit 7"]}]
        )
    )

    def started() -> dict[str, Any] | None:
        # Running lasts 3 s per instance and a CLI poll can take seconds on a busy
        # machine: any sign of a first start will do (running, or an exit already).
        st = container_status(pk.pod("crasher"))
        return (
            st if st["state"].get("running") or st.get("lastState") or st["restartCount"] else None
        )

    before = pk.wait_for("crasher started", started, 60)["restartCount"]
    _fill(pk.home)
    # The container exits on the full disk: supervised, restarted, its termination kept
    # (the next restart comes after a back-off of up to 20 s).
    pk.wait_for(
        "a restart",
        lambda: container_status(pk.pod("crasher"))["restartCount"] > before,
        90,
    )
    events = pk.events()
    assert any(e["reason"] == "StateNotSaved" for e in events), [e["reason"] for e in events]
    assert any(e["reason"] == "BackOff" or e["reason"] == "Started" for e in pk.events("crasher"))
    text = pk.run("explain", "pod", "crasher").out
    assert "7" in text
    # Space returns: saved without a restart of the agent.
    (pk.home / "filler").unlink()
    pk.wait_for("saved", lambda: any(e["reason"] == "StateSaved" for e in pk.events()), 20)
    assert pk.run("describe", "pod", "crasher").code == 0


def test_no_silent_host_network_fallback(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    # A /30 has one pod address: the second pod cannot get a sandbox.
    monkeypatch.setenv(sb.POD_CIDR_ENV, "10.250.7.0/30")
    pk.up(pod_manifest("first", [{"name": "c", "image": "x", "command": SLEEP}]))
    pk.wait_for("first's IP", lambda: pk.pod("first")["status"].get("podIP"), 20)
    pk.up(pod_manifest("second", [{"name": "c", "image": "x", "command": SLEEP}]))

    def failed() -> list[dict[str, Any]]:
        return [e for e in pk.events("second") if e["reason"] == "FailedCreatePodSandBox"]

    ev = pk.wait_for("FailedCreatePodSandBox", failed, 20)
    assert ev[0]["type"] == "Warning" and "no free address" in ev[0]["message"]
    second = pk.pod("second")
    assert second["status"]["phase"] == "Pending" and not second["status"].get("podIP")
    # Once the address is free again the retry gets it.
    pk.run("delete", "pod", "first", "--grace-period", "1", timeout=60)
    ip = pk.wait_for("second's IP", lambda: pk.pod("second")["status"].get("podIP"), 60)
    assert ip == "10.250.7.2"

"""End-to-end: bad input changes nothing, start failures, history after an agent restart,
no orphan after an agent crash (issue 2)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from podkeeper.runtime.cgroups import root_name_for_home

from .conftest import PK, container_status, is_ready, pod_manifest

SLEEP = ["python3", "-c", "import time; time.sleep(600)"]


def test_invalid_file_applies_nothing(pk: PK) -> None:
    good = pod_manifest("good", [{"name": "a", "image": "x", "command": SLEEP}])
    bad = pod_manifest(
        "bad",
        [
            {
                "name": "a",
                "image": "x",
                "command": SLEEP,
                "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2},
            }
        ],
    )
    path = pk.write("mixed.yaml", [good, bad])
    res = pk.run("up", "-d", "-f", str(path), check=False)
    assert res.code == 2
    assert (
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1" in res.err
    )
    assert "document 1" in res.err and "mixed.yaml" in res.err
    # Nothing was applied: no agent was even needed, and none of the objects exist.
    res = pk.run("get", "pods", check=False)
    assert "good" not in res.out


def test_malformed_yaml_names_file_and_line(pk: PK) -> None:
    path = pk.tmp / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: [a, b\n")
    res = pk.run("up", "-d", "-f", str(path), check=False)
    assert res.code == 2
    assert "broken.yaml" in res.err and ":" in res.err
    assert "Traceback" not in res.err


def test_unimplemented_field_is_warned_not_dropped(pk: PK) -> None:
    pod = pod_manifest("warned", [{"name": "a", "image": "x", "command": SLEEP}])
    pod["spec"]["volumes"] = [{"name": "v", "nfs": {"server": "nas", "path": "/"}}]
    res = pk.up(pod)
    assert "spec.volumes[0].nfs" in res.err


def test_missing_command_binary_is_start_error_128(pk: PK) -> None:
    pk.up(pod_manifest("nobin", [{"name": "a", "image": "x", "command": ["/no/such/binary"]}]))

    def terminated() -> dict[str, object] | None:
        st = container_status(pk.pod("nobin"))
        last = st["lastState"].get("terminated") or st["state"].get("terminated")
        return last  # type: ignore[no-any-return]

    t = pk.wait_for("StartError", terminated, 15)
    assert t["reason"] == "StartError"
    assert t["exitCode"] == 128
    assert "/no/such/binary" in str(t["message"])
    # The agent keeps going and backs off like the kubelet.
    pk.wait_for(
        "CrashLoopBackOff",
        lambda: (
            container_status(pk.pod("nobin"))["state"].get("waiting", {}).get("reason")
            == "CrashLoopBackOff"
        ),
        20,
    )


def test_no_command_is_create_container_config_error(pk: PK) -> None:
    pk.up(pod_manifest("nocmd", [{"name": "a", "image": "nginx"}]))
    waiting = pk.wait_for(
        "CreateContainerConfigError",
        lambda: (
            container_status(pk.pod("nocmd"))["state"].get("waiting", {}).get("reason")
            == "CreateContainerConfigError"
        ),
        10,
    )
    assert waiting
    # The message says why, and how to run the image instead (issue 10).
    message = container_status(pk.pod("nocmd"))["state"]["waiting"]["message"]
    assert "has no command" in message and "runtimeClassName: podkeeper-containerd" in message


def test_probe_with_missing_binary_is_a_failure_not_a_crash(pk: PK) -> None:
    pk.up(
        pod_manifest(
            "probe127",
            [
                {
                    "name": "a",
                    "image": "x",
                    "command": SLEEP,
                    "readinessProbe": {"exec": {"command": ["/no/such/probe"]}, "periodSeconds": 1},
                }
            ],
        )
    )
    ev = pk.wait_for(
        "a readiness failure event",
        lambda: [e for e in pk.events("probe127") if "Readiness probe failed" in e["message"]],
        15,
    )
    assert "/no/such/probe" in ev[0]["message"]
    assert not is_ready(pk.pod("probe127"))
    assert pk.run("version").code == 0  # the agent is alive
    # The kubelet's probe metrics count it as failed (served on /metrics/probes).
    from podkeeper.api.client import Client

    text = Client(str(pk.home / "agent.sock")).get_bytes("/metrics/probes").decode()
    assert 'probe_type="Readiness",result="failed"' in text
    assert 'pod="probe127"' in text


def _sleeper_pids(pk: PK) -> list[int]:
    """The `sleeper` pod's process of this test's home (by its cgroup root), not another
    suite's on the same machine."""
    root = root_name_for_home(str(pk.home))
    return [
        int(p)
        for p in os.listdir("/proc")
        if p.isdigit()
        and _cmdline(int(p)).endswith("time.sleep(600)")
        and _environ_has(int(p), "HOSTNAME=sleeper")
        and _in_cgroup(int(p), root)
    ]


def _in_cgroup(pid: int, root: str) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return f"/{root}/" in f.read()
    except OSError:
        return False


def _crash_and_restart_agent(pk: PK) -> list[int]:
    pk.up(
        pod_manifest(
            "crashy",
            [{"name": "a", "image": "x", "command": ["sh", "-c", "echo bye; exit 3"]}],
        ),
        pod_manifest("sleeper", [{"name": "s", "image": "x", "command": SLEEP}]),
    )
    pk.wait_for("a restart", lambda: container_status(pk.pod("crashy"))["restartCount"] >= 1, 20)
    pk.wait_for(
        "sleeper running",
        lambda: container_status(pk.pod("sleeper"))["state"].get("running") is not None,
        10,
    )
    # Find the container process of `sleeper` (a python sleeping 600 s in our home's logs).
    pids = pk.wait_for("sleeper process", lambda: _sleeper_pids(pk), 10)
    agent = pk.agent_pid()
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    pk.wait_for("the agent to die", lambda: not os.path.exists(f"/proc/{agent}/status"), 10)
    # A new agent, started by any command that needs it.
    pk.up(pod_manifest("after", [{"name": "a", "image": "x", "command": SLEEP}]))
    res = pk.run("explain", "pod", "crashy", "--all")
    assert "exit code 3" in res.out.lower() or "Exit code: 3" in res.out
    return list(pids)


def test_agent_restart_keeps_running_containers(pk: PK) -> None:
    """issue 13 item 6: containers run under their monitor, not as the agent's children,
    so a SIGKILLed agent's successor takes them over: same process, same restart count."""
    pids = _crash_and_restart_agent(pk)
    st = container_status(pk.pod("sleeper"))
    assert st["restartCount"] == 0 and st["state"].get("running"), st
    assert all(_alive(p) for p in pids) and _sleeper_pids(pk) == pids
    assert not any(e["reason"] == "OrphanKilled" for e in pk.events())
    # It is still supervised: deleting it stops that very process.
    pk.run("delete", "pod", "sleeper", "--grace-period", "1", timeout=60)
    pk.wait_for("adopted container gone", lambda: all(not _alive(p) for p in pids), 15)


def test_orphans_without_a_monitor_are_killed(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the monitor (no C compiler, or PODKEEPER_MONITOR=off) containers are the
    agent's children; the next agent kills what a crashed one left, and says so."""
    monkeypatch.setenv("PODKEEPER_MONITOR", "off")
    pids = _crash_and_restart_agent(pk)
    pk.wait_for("orphan gone", lambda: all(not _alive(p) for p in pids), 10)
    assert any(e["reason"] == "OrphanKilled" for e in pk.events())


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _environ_has(pid: int, item: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return item.encode() in f.read().split(b"\0")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("grace", [1])
def test_delete_is_graceful_and_sigkills_after_grace(pk: PK, grace: int) -> None:
    script = "trap '' TERM; while true; do sleep 0.1; done"
    pk.up(pod_manifest("stubborn", [{"name": "a", "image": "x", "command": ["sh", "-c", script]}]))
    pk.wait_for("running", lambda: container_status(pk.pod("stubborn"))["state"].get("running"), 10)
    t0 = time.monotonic()
    pk.run("delete", "pod", "stubborn", "--grace-period", str(grace), timeout=60)
    elapsed = time.monotonic() - t0
    # The kubelet never gives less than 2 s (minimumGracePeriodInSeconds).
    assert elapsed >= 2.0
    res = pk.run("explain", "pod", "stubborn")
    assert "137" in res.out
    assert "SIGKILL" in res.out


def test_reapply_unchanged_and_immutable_pod_spec(pk: PK) -> None:
    pod = pod_manifest("same", [{"name": "a", "image": "x", "command": SLEEP}])
    assert "pod/same created" in pk.up(pod).out
    path = pk.write("same.yaml", [pod])
    assert "pod/same unchanged" in pk.run("apply", "-f", str(path)).out
    pod["spec"]["containers"][0]["command"] = [*SLEEP, "x"]
    res = pk.run("apply", "-f", str(pk.write("changed.yaml", [pod])), check=False)
    assert res.code != 0
    assert "Forbidden: pod updates may not change fields" in res.err
    # Every event has its own name, as client-go names them.
    names = [e["metadata"]["name"] for e in pk.events("same")]
    assert len(names) == len(set(names))


def test_active_deadline_can_be_set_or_lowered_on_a_running_pod(pk: PK) -> None:
    """ValidatePodUpdate: spec.activeDeadlineSeconds may be set or lowered on a running pod
    (never raised or removed); the pod then ends DeadlineExceeded, counted from its start."""
    pod = pod_manifest("late", [{"name": "a", "image": "x", "command": SLEEP}])
    pk.up(pod, wait=True)
    pod["spec"]["activeDeadlineSeconds"] = 600
    pk.run("apply", "-f", str(pk.write("set.yaml", [pod])))
    pod["spec"]["activeDeadlineSeconds"] = 900
    raised = pk.run("apply", "-f", str(pk.write("raised.yaml", [pod])), check=False)
    assert raised.code != 0
    assert (
        "spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to "
        "previous value" in raised.err
    )
    assert pk.pod("late")["status"]["phase"] == "Running"
    pod["spec"]["activeDeadlineSeconds"] = 1
    pk.run("apply", "-f", str(pk.write("lowered.yaml", [pod])))
    status = pk.wait_for(
        "DeadlineExceeded",
        lambda: (s := pk.pod("late")["status"]).get("reason") == "DeadlineExceeded" and s,
        30,
    )
    assert status["phase"] == "Failed"
    assert pk.pod("late")["spec"]["activeDeadlineSeconds"] == 1


def test_down_after_a_crash_drains_what_the_dead_agent_left(pk: PK) -> None:
    """issue 13 item 7: `down` with no agent but containers left by a SIGKILLed one starts
    an agent to take them over and drains them, instead of "no agent running"."""
    pk.up(pod_manifest("sleeper", [{"name": "s", "image": "x", "command": SLEEP}]))
    pids = pk.wait_for("sleeper process", lambda: _sleeper_pids(pk), 15)
    agent = pk.agent_pid()
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    pk.wait_for("the agent to die", lambda: not os.path.exists(f"/proc/{agent}/status"), 10)
    assert all(_alive(p) for p in pids)
    res = pk.run("down", timeout=90)
    assert "no agent running; starting one to drain" in res.out and "1 container(s)" in res.out
    assert "agent stopped" in res.out
    pk.wait_for("container gone", lambda: all(not _alive(p) for p in pids), 15)
    assert not (pk.home / "containers.json").exists()
    assert pk.run("down").out.startswith("no agent running")


def test_logs_rotate_and_go_with_the_pod(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 13 item 11: a container writing fast is rotated at containerLogMaxSize,
    keeps containerLogMaxFiles files, `logs` shows the live file, and a deleted pod's
    logs are removed (before, 1 GiB in 5 s grew one file that outlived the pod)."""
    monkeypatch.setenv("PODKEEPER_CONTAINER_LOG_MAX_SIZE", "64Ki")
    monkeypatch.setenv("PODKEEPER_CONTAINER_LOG_MAX_FILES", "3")
    writer = (
        "import sys, time\n"
        "line = 'x' * 1000 + '\\n'\n"
        "for i in range(100000):\n"
        "    sys.stdout.write(f'{i} ' + line); sys.stdout.flush(); time.sleep(0.0005)\n"
        "time.sleep(600)\n"
    )
    pk.up(
        pod_manifest("chatty", [{"name": "w", "image": "x", "command": ["python3", "-c", writer]}])
    )
    folder = pk.wait_for(
        "the pod's log folder", lambda: next(pk.home.glob("pods/default_chatty_*/w"), None), 15
    )

    def rotated() -> list[Path]:
        return sorted(p for p in folder.iterdir() if ".log." in p.name)

    pk.wait_for(
        "three rotations' worth",
        lambda: len(rotated()) == 2 and any(p.name.endswith(".gz") for p in rotated()),
        30,
    )
    time.sleep(2)
    files = [p for p in folder.iterdir() if ".log" in p.name]
    assert len(files) <= 3, files  # the live file and two rotated ones
    # Bounded: a rotation happens within a second of crossing 64 KiB.
    assert all(p.stat().st_size < 64 * 1024 * 40 for p in files)
    out = pk.run("logs", "chatty").out
    assert out and out.splitlines()[-1].endswith("x")
    pk.run("delete", "pod", "chatty", "--grace-period", "1", timeout=60)
    pk.wait_for("logs removed with the pod", lambda: not folder.exists(), 20)

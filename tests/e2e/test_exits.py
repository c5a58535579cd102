"""End-to-end: why did my container die? Real cgroups, real kernel OOM kills, real signals,
through the real CLI (issue 3, Tests paragraph; the JVM case is in test_exits_jvm.py).

Root only, on a machine where the agent can create cgroups; skipped with the reason
otherwise. Every workload is bounded (allocation sizes, fork counts, deadlines) so a
missing limit fails the test instead of hurting the machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import pytest

from podkeeper.testing import cgroup_skip_reason

from .conftest import PK, container_status, pod_manifest

MI = 1 << 20


SKIP = cgroup_skip_reason()
pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(SKIP), reason=SKIP or "n/a")]


def py(code: str, **container: Any) -> dict[str, Any]:
    """A container running `python3 -c code`."""
    return {"name": "app", "image": "python", "command": ["python3", "-u", "-c", code], **container}


def limits(**lim: str) -> dict[str, Any]:
    return {"resources": {"limits": dict(lim)}}


def terminated(pk: PK, pod: str, container: str = "app") -> dict[str, Any] | None:
    """The container's terminated state (current or last), or None while it runs."""
    st = container_status(pk.pod(pod), container)
    t = st["state"].get("terminated") or st["lastState"].get("terminated")
    return dict(t) if t else None


def wait_terminated(pk: PK, pod: str, timeout: float = 20, container: str = "app") -> Any:
    return pk.wait_for(f"{pod} to terminate", lambda: terminated(pk, pod, container), timeout)


def records(pk: PK, pod: str, *args: str) -> list[dict[str, Any]]:
    out = pk.run("explain", "pod", pod, "--all", "-o", "json", *args).out
    return list(json.loads(out)["terminations"])


def last_record(pk: PK, pod: str) -> dict[str, Any]:
    """The newest termination record, once the agent has written it."""
    return dict(pk.wait_for(f"a record for {pod}", lambda: records(pk, pod)[-1:], 10)[0])


def explain_text(pk: PK, pod: str) -> str:
    return pk.run("explain", "pod", pod).out


def host_pid_of(token: str, timeout: float = 10) -> int:
    """The host pid of the python process whose argv holds `token` (not its shims)."""

    def find() -> int | None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if os.path.basename(argv[0]).startswith(b"python") and any(
                token.encode() in a for a in argv[1:]
            ):
                return int(name)
        return None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = find()
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no process with {token!r} in its argv")


def test_over_memory_limit_is_oomkilled_137_with_limit_and_peak(pk: PK) -> None:
    # 10 MiB chunks, each written (so resident), up to 200 MiB against a 64 MiB limit.
    code = "chunks = [b'x' * (10 << 20) for _ in range(20)]; print('not killed')"
    pk.up(pod_manifest("oom", [py(code, **limits(memory="64Mi"))], restartPolicy="Never"))
    t = wait_terminated(pk, "oom")
    assert (t["reason"], t["exitCode"]) == ("OOMKilled", 137)
    rec = last_record(pk, "oom")
    assert rec["reason"] == "OOMKilled" and rec["exit_code"] == 137 and rec["signal"] == 9
    assert rec["memory_limit"] == 64 * MI
    assert 48 * MI <= rec["memory_peak"] <= 64 * MI
    assert rec["who"].startswith("the kernel OOM killer: cgroup memory limit 64 MiB")
    assert any("OOM kill" in e for e in rec["evidence"])
    assert "not killed" not in "\n".join(rec["last_log_lines"])
    text = explain_text(pk, "oom")
    assert "OOMKilled" in text and "memory limit 64 MiB" in text


def test_child_oom_kill_is_an_event_not_the_containers_reason(pk: PK) -> None:
    code = (
        "import subprocess, sys\n"
        "hog = \"b = [b'x' * (10 << 20) for _ in range(20)]\"\n"
        "child = subprocess.run(['python3', '-c', hog])\n"
        "print('child ended with', child.returncode)\n"
    )
    pk.up(pod_manifest("childoom", [py(code, **limits(memory="64Mi"))], restartPolicy="Never"))
    t = wait_terminated(pk, "childoom")
    assert (t["reason"], t["exitCode"]) == ("Completed", 0)
    rec = last_record(pk, "childoom")
    assert rec["reason"] == "Completed" and rec["who"] == "exited on its own (0)"
    assert "child ended with -9" in rec["last_log_lines"]
    assert any(re.search(r"kernel OOM-killed pid \d+ \(python", e) for e in rec["evidence"])
    warnings = [e for e in pk.events("childoom") if e["reason"] == "OOMKilling"]
    assert len(warnings) == 1, warnings
    assert warnings[0]["type"] == "Warning"
    assert re.search(r"killed pid \d+ \(python3?[^)]*\) in container app", warnings[0]["message"])
    assert warnings[0]["involvedObject"]["fieldPath"] == "spec.containers{app}"


def test_sigkill_from_outside_is_error_137_not_oomkilled(pk: PK) -> None:
    code = "import time; print('up', flush=True); time.sleep(60)  # kill9-target"
    pk.up(pod_manifest("kill9", [py(code, **limits(memory="64Mi"))], restartPolicy="Never"))
    os.kill(host_pid_of("kill9-target"), signal.SIGKILL)
    t = wait_terminated(pk, "kill9")
    assert (t["reason"], t["exitCode"]) == ("Error", 137)
    rec = last_record(pk, "kill9")
    assert rec["reason"] == "Error" and rec["signal"] == 9
    assert "OOM" not in rec["who"]
    text = explain_text(pk, "kill9")
    assert "killed by signal 9 from outside" in text
    assert "not OOMKilled" in text and "Reason: OOMKilled" not in text


def test_sigsegv_is_139(pk: PK) -> None:
    code = "import ctypes; print('about to crash', flush=True); ctypes.string_at(0)"
    pk.up(pod_manifest("segv", [py(code)], restartPolicy="Never"))
    t = wait_terminated(pk, "segv")
    assert (t["reason"], t["exitCode"]) == ("Error", 139)
    rec = last_record(pk, "segv")
    assert rec["signal"] == signal.SIGSEGV
    assert "SIGSEGV" in rec["verdict"] and "segmentation fault" in rec["next_step"]


IGNORE_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring SIGTERM', flush=True); time.sleep(60)"
)


def _assert_sigkill_after_grace(rec: dict[str, Any]) -> None:
    assert rec["exit_code"] == 137 and rec["signal"] == 9
    assert re.search(r"SIGKILL after the 2s grace period, SIGTERM ignored for 2\.\d+s", rec["who"])
    assert "SIGTERM ignored for 2s: PID 1" in rec["next_step"] and "exec" in rec["next_step"]
    assert any("SIGTERM ignored for 2." in e for e in rec["evidence"])


def test_sigterm_ignoring_process_is_sigkilled_after_grace_on_delete(pk: PK) -> None:
    pk.up(
        pod_manifest(
            "stubborn",
            [py(IGNORE_TERM)],
            terminationGracePeriodSeconds=2,
        ),
        wait=True,
        timeout="15s",
    )
    t0 = time.monotonic()
    pk.run("delete", "pod", "stubborn")
    pk.wait_for("the record", lambda: records(pk, "stubborn"), 10)
    assert time.monotonic() - t0 >= 2
    rec = last_record(pk, "stubborn")
    _assert_sigkill_after_grace(rec)
    assert "Stopping container app" in rec["verdict"]


def test_sigterm_ignoring_process_is_sigkilled_after_grace_on_liveness(pk: PK) -> None:
    probe = {"exec": {"command": ["sh", "-c", "echo sick; exit 1"]}, "periodSeconds": 1}
    pk.up(
        pod_manifest(
            "stubborn-live",
            [py(IGNORE_TERM, livenessProbe={**probe, "failureThreshold": 1})],
            terminationGracePeriodSeconds=2,
            restartPolicy="Never",
        )
    )
    wait_terminated(pk, "stubborn-live", timeout=15)
    rec = last_record(pk, "stubborn-live")
    _assert_sigkill_after_grace(rec)
    assert "failed liveness probe" in rec["verdict"]
    assert any("last liveness probe result" in e and "sick" in e for e in rec["evidence"])


def test_cpu_limited_busy_loop_is_throttled(pk: PK) -> None:
    code = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 3:\n    pass\n"
    pk.up(pod_manifest("busy", [py(code, **limits(cpu="200m"))], restartPolicy="Never"))
    t = wait_terminated(pk, "busy", timeout=15)
    assert t["exitCode"] == 0
    rec = last_record(pk, "busy")
    used, ran = rec["cpu_usage_seconds"], rec["run_seconds"]
    assert ran >= 3
    # 200m of CPU over the run, plus 10 %; and it did get its share.
    assert used <= 0.2 * ran * 1.1, (used, ran)
    assert used >= 0.2 * 3 * 0.5, (used, ran)
    assert any(e.startswith("CPU used") and "limit 0.2" in e for e in rec["evidence"])


def test_fork_bomb_stops_at_pids_limit_and_the_agent_lives(pk: PK) -> None:
    code = (
        "import os, sys, time\n"
        "n, err, deadline = 0, None, time.monotonic() + 5\n"
        "while n < 500 and time.monotonic() < deadline:\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as e:\n"
        "        err = e\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print('forked', n, 'then', repr(err), flush=True)\n"
        "sys.exit(3 if err else 0)\n"
    )
    pk.up(pod_manifest("forks", [py(code, **limits(pids="50"))], restartPolicy="Never"))
    t = wait_terminated(pk, "forks", timeout=15)
    assert t["exitCode"] == 3, "the fork loop never hit the pids limit"
    rec = last_record(pk, "forks")
    m = re.search(r"forked (\d+) then BlockingIOError", "\n".join(rec["last_log_lines"]))
    assert m and 40 <= int(m.group(1)) < 50, rec["last_log_lines"]
    # The agent is unharmed and the children went with the container.
    assert "podkeeper" in pk.run("version").out.lower()
    assert pk.pod("forks")["status"]["phase"] == "Failed"


def test_history_survives_an_agent_restart(pk: PK) -> None:
    pod = pod_manifest(
        "hist",
        [py("import sys; print('failing'); sys.exit(1)")],
        initContainers=[py("print('init done')", name="init")],
        restartPolicy="OnFailure",
    )
    pk.up(pod)
    # init exits 0, app exits 1, restarts at once (no back-off on the first crash), exits 1.
    pk.wait_for("three terminations", lambda: len(records(pk, "hist")) >= 3, 15)
    before = records(pk, "hist")
    pid = pk.agent_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    pk.wait_for("the agent to die", lambda: not os.path.exists(f"/proc/{pid}/status"), 10)
    pk.up(pod_manifest("other", [py("print('hi')")], restartPolicy="Never"))
    after = records(pk, "hist")
    assert [r["instance_id"] for r in after][: len(before)] == [r["instance_id"] for r in before]
    assert [(r["container"], r["exit_code"]) for r in before[:3]] == [
        ("init", 0),
        ("app", 1),
        ("app", 1),
    ]
    text = pk.run("explain", "pod", "hist", "--all").out
    assert text.count("Container app terminated") >= 2 and "Container init terminated" in text
    # The new agent restores the pod and runs its init container again, as a kubelet does for
    # a pod whose sandbox is gone; -c keeps to that container's records.
    assert {r["container"] for r in records(pk, "hist", "-c", "init")} == {"init"}

"""core.verdict: who ended an instance, the evidence chain and the next step (issue 3)."""

from __future__ import annotations

from typing import Any

import pytest

from podkeeper.core import evidence as E
from podkeeper.core.evidence import Evidence, Kill, Resources, Termination
from podkeeper.core.verdict import MiB, Verdict, VerdictKind, diagnose, jvm_heap, jvm_heap_bytes

LIVENESS = "Container app failed liveness probe, will be restarted"
STARTUP = "Container app failed startup probe, will be restarted"
DELETE = "Stopping container app"

_RESOURCES = (
    "memory_limit",
    "memory_peak",
    "oom_kills",
    "oom_victims",
    "kernel_oom_line",
    "cpu_usage_seconds",
    "cpu_limit_milli",
    "cpu_nr_throttled",
    "oom_killed",
)


def evidence(**kw: Any) -> Evidence:
    """An evidence record from the facts of one local termination (the table's short form):
    `killed_by` is the kill's cause as data, `kill_message` its Killing message."""
    res = {k: kw.pop(k) for k in _RESOURCES if k in kw}
    if "oom_victims" in res:
        res["oom_victims"] = tuple(res["oom_victims"])
    kill = None
    if "killed_by" in kw:
        kill = Kill(
            kw.pop("killed_by"),
            kw.pop("kill_message", ""),
            kw.pop("kill_grace", None),
            None,
            kw.pop("sent_by_us", None),
            kw.pop("sigterm_ignored_seconds", None),
        )
    term = Termination(
        exit_code=kw.pop("exit_code", 0),
        reason=kw.pop("reason", "Completed"),
        signal=kw.pop("signal", None),
        run_seconds=kw.pop("run_seconds", None),
    )
    env = tuple((kw.pop("env", None) or {}).items())
    return Evidence("app", termination=term, kill=kill, resources=Resources(**res), env=env, **kw)


def v(**kw: Any) -> Verdict:
    return diagnose(evidence(**kw))


OOM = {"exit_code": 137, "signal": 9, "reason": "OOMKilled", "oom_killed": True, "oom_kills": 1}

# (case, facts, summary contains, who, next_step contains)
CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("exit 0", {}, "exited on its own with code 0 (Completed)", "exited on its own (0)", ""),
    (
        "exit 1",
        {"exit_code": 1, "reason": "Error"},
        "exited on its own with code 1",
        "exited on its own with code 1",
        "podkeeper logs -p",
    ),
    (
        "wrapper reports its child's SIGKILL",
        {"exit_code": 137, "reason": "Error"},
        "exited on its own with code 137",
        "exited on its own with code 137",
        "use exec in the entrypoint",
    ),
    (
        "start error",
        {"exit_code": 128, "reason": "StartError"},
        "never started",
        "the runtime could not start the container",
        "command[0]",
    ),
    (
        "OOM, no JVM",
        {**OOM, "memory_limit": 64 * MiB, "memory_peak": 64 * MiB},
        "OOMKilled: the container reached its memory limit (64 MiB, peak 64 MiB)",
        "the kernel OOM killer: cgroup memory limit 64 MiB, peak 64 MiB",
        "raise resources.limits.memory",
    ),
    (
        "OOM, JVM under its heap",
        {**OOM, "memory_limit": 256 * MiB, "memory_peak": 256 * MiB, "argv": ("java", "-Xmx64m")},
        "heap 64 MiB but container peaked at 256 MiB: non-heap memory",
        "the kernel OOM killer: cgroup memory limit 256 MiB, peak 256 MiB",
        "-XX:MaxRAMPercentage",
    ),
    (
        "OOM, heap not below the limit",
        {**OOM, "memory_limit": 256 * MiB, "memory_peak": 256 * MiB, "argv": ("java", "-Xmx1g")},
        "heap ceiling 1024 MiB is not below the 256 MiB container limit",
        "the kernel OOM killer: cgroup memory limit 256 MiB, peak 256 MiB",
        "-XX:MaxRAMPercentage=75",
    ),
    (
        "OOM, modelled JVM",
        {**OOM, "memory_limit": 128 * MiB, "memory_peak": 128 * MiB, "env": {"HEAP_MB": "48"}},
        "heap 48 MiB but container peaked at 128 MiB",
        "the kernel OOM killer: cgroup memory limit 128 MiB, peak 128 MiB",
        "-XX:MaxRAMPercentage",
    ),
    (
        "liveness SIGTERM, exited in time",
        {
            "exit_code": 143,
            "signal": 15,
            "reason": "Error",
            "killed_by": E.LIVENESS,
            "kill_message": LIVENESS,
            "kill_grace": 30,
            "sent_by_us": "SIGTERM",
            "probe_output": "HTTP probe failed with statuscode: 500",
        },
        f"stopped by podkeeper: {LIVENESS}",
        f"podkeeper: SIGTERM after the liveness probe failed ({LIVENESS}, last output: "
        "HTTP probe failed with statuscode: 500)",
        "add a startupProbe",
    ),
    (
        "startup SIGTERM",
        {
            "exit_code": 143,
            "signal": 15,
            "reason": "Error",
            "killed_by": E.STARTUP,
            "kill_message": STARTUP,
            "sent_by_us": "SIGTERM",
        },
        f"stopped by podkeeper: {STARTUP}",
        f"podkeeper: SIGTERM after the startup probe failed ({STARTUP})",
        "raise failureThreshold",
    ),
    (
        "deletion",
        {
            "exit_code": 0,
            "killed_by": E.STOP,
            "kill_message": DELETE,
            "sent_by_us": "SIGTERM",
            "kill_grace": 30,
        },
        "the pod was deleted or the agent drained",
        "podkeeper: SIGTERM for the pod's deletion or the agent's drain",
        "nothing to fix",
    ),
    (
        "SIGKILL after grace",
        {
            "exit_code": 137,
            "signal": 9,
            "reason": "Error",
            "killed_by": E.STOP,
            "kill_message": DELETE,
            "kill_grace": 30,
            "sent_by_us": "SIGKILL after grace",
            "sigterm_ignored_seconds": 30.004,
        },
        "SIGTERM ignored for 30s, then SIGKILL",
        "podkeeper: SIGKILL after the 30s grace period, SIGTERM ignored for 30.0s",
        "SIGTERM ignored for 30s: PID 1 without a signal handler, or a shell entrypoint that "
        "does not forward signals: use exec",
    ),
    (
        "SIGKILL from outside",
        {"exit_code": 137, "signal": 9, "reason": "Error"},
        "killed by signal 9 (SIGKILL) from outside",
        "killed by signal 9 from outside (unknown sender)",
        "137 without an OOM kill is a plain SIGKILL",
    ),
    (
        "SIGKILL from a known sender",
        {"exit_code": 137, "signal": 9, "reason": "Error", "signal_sender": "pid 42 (kill)"},
        "from outside",
        "killed by signal 9 from outside (pid 42 (kill))",
        "kill -9",
    ),
    (
        "SIGSEGV",
        {"exit_code": 139, "signal": 11, "reason": "Error"},
        "killed by signal 11 (SIGSEGV) from outside",
        "killed by signal 11 from outside (unknown sender)",
        "segmentation fault",
    ),
    (
        "child OOM, main exits 0",
        {"oom_kills": 1, "oom_victims": ["pid 7 (python3)"], "memory_limit": 64 * MiB},
        "exited on its own with code 0 (Completed)",
        "exited on its own (0)",
        "a child was OOM-killed",
    ),
]


@pytest.mark.parametrize(
    ("facts", "summary", "who", "step"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_verdict_table(facts: dict[str, Any], summary: str, who: str, step: str) -> None:
    got = v(**facts)
    assert summary in got.summary
    assert got.who == who
    assert step in got.next_step
    if not step:
        assert got.next_step == ""


def test_evidence_chain_for_an_oom_kill() -> None:
    got = v(
        **OOM,
        memory_limit=256 * MiB,
        memory_peak=255 * MiB,
        kernel_oom_line="Memory cgroup out of memory: Killed process 9 (java)",
        run_seconds=1.25,
        argv=("java", "-Xmx64m", "Leak.java"),
    )
    assert got.evidence == [
        "exit code 137 (SIGKILL) after 1.2s",
        "memory limit 256 MiB, peak 255 MiB",
        "this instance's cgroup counted 1 OOM kill(s)",
        "kernel: Memory cgroup out of memory: Killed process 9 (java)",
        "heap ceiling 64 MiB (-Xmx64m) of a 256 MiB limit: 192 MiB left for everything that "
        "is not heap",
    ]
    assert got.summary.startswith("OOMKilled: heap 64 MiB but container peaked at 255 MiB")


def test_child_oom_is_evidence_not_the_reason() -> None:
    got = v(oom_kills=1, oom_victims=["pid 7 (python3)"])
    assert "kernel OOM-killed pid 7 (python3)" in got.evidence
    assert any("not of its main process" in e for e in got.evidence)
    assert "OOMKilled" not in got.summary


def test_sigkill_without_oom_says_so() -> None:
    got = v(exit_code=137, signal=9, reason="Error", memory_limit=64 * MiB, memory_peak=MiB)
    assert "no OOM kill in this instance's cgroup: not OOMKilled" in got.evidence


def test_cpu_evidence() -> None:
    got = v(cpu_usage_seconds=0.61, run_seconds=3.05, cpu_limit_milli=200, cpu_nr_throttled=29)
    assert (
        "CPU used 0.61s in 3.0s (0.20 CPUs on average, limit 0.2); throttled in 29 CFS periods"
        in got.evidence
    )
    assert "CPU used 0.50s" in v(cpu_usage_seconds=0.5).evidence


def test_memory_peak_without_limit() -> None:
    assert "memory peak 11 MiB (no memory limit)" in v(memory_peak=11 * MiB).evidence


def test_liveness_probe_output_in_the_evidence() -> None:
    got = v(
        exit_code=143,
        signal=15,
        killed_by=E.LIVENESS,
        kill_message=LIVENESS,
        sent_by_us="SIGTERM",
        probe_output="x",
    )
    assert "last liveness probe result: x" in got.evidence
    assert any("the container died of SIGTERM within its grace" in e for e in got.evidence)


def test_sigkill_after_grace_without_measured_seconds_uses_the_grace() -> None:
    got = v(
        exit_code=137,
        signal=9,
        killed_by=E.LIVENESS,
        kill_message=LIVENESS,
        kill_grace=5,
        sent_by_us="SIGKILL after grace",
    )
    assert "SIGTERM ignored for 5.0s" in got.who and "SIGTERM ignored for 5s" in got.next_step


G = 1024 * MiB

# (case, argv, env, limit, heap bytes, source)
HEAPS: list[tuple[str, tuple[str, ...], dict[str, str], int | None, int | None, str]] = [
    ("no JVM", ("python3", "app.py"), {}, G, None, ""),
    ("-Xmx m", ("java", "-Xmx64m", "Foo"), {}, G, 64 * MiB, "-Xmx64m"),
    ("-Xmx g", ("java", "-Xmx2G", "Foo"), {}, None, 2 * G, "-Xmx2G"),
    ("-Xmx k", ("java", "-Xmx65536k"), {}, None, 64 * MiB, "-Xmx65536k"),
    ("-Xmx bytes", ("java", "-Xmx67108864"), {}, None, 64 * MiB, "-Xmx67108864"),
    ("MaxHeapSize", ("java", "-XX:MaxHeapSize=128m"), {}, G, 128 * MiB, "-XX:MaxHeapSize=128m"),
    ("last -Xmx wins", ("java", "-Xmx64m", "-Xmx96m"), {}, G, 96 * MiB, "-Xmx96m"),
    (
        "command line beats JAVA_TOOL_OPTIONS",
        ("java", "-Xmx96m"),
        {"JAVA_TOOL_OPTIONS": "-Xmx32m"},
        G,
        96 * MiB,
        "-Xmx96m",
    ),
    ("JAVA_TOOL_OPTIONS", ("java", "Foo"), {"JAVA_TOOL_OPTIONS": "-Xmx32m"}, G, 32 * MiB, ""),
    (
        "JAVA_OPTS in a shell",
        ("sh", "-c", "exec java $JAVA_OPTS x"),
        {"JAVA_OPTS": "-Xmx1g"},
        G,
        G,
        "",
    ),
    (
        "MaxRAMPercentage",
        ("java", "-XX:MaxRAMPercentage=75.0"),
        {},
        G,
        768 * MiB,
        "-XX:MaxRAMPercentage=75.0 of 1024 MiB",
    ),
    ("MaxRAMPercentage without a limit", ("java", "-XX:MaxRAMPercentage=75"), {}, None, None, ""),
    ("-Xmx beats MaxRAMPercentage", ("java", "-XX:MaxRAMPercentage=75", "-Xmx1m"), {}, G, MiB, ""),
    ("HEAP_MB", ("python3", "model.py"), {"HEAP_MB": "48"}, G, 48 * MiB, "HEAP_MB=48"),
    ("HEAP_MB not a number", ("python3",), {"HEAP_MB": "lots"}, G, None, ""),
    ("bare java: 25 %", ("/usr/bin/java", "-jar", "app.jar"), {}, G, 256 * MiB, "default"),
    ("not java: javac", ("javac", "Foo.java"), {}, G, None, ""),
    ("-Xmx in a path is not a flag", ("java", "-Xmx64m.jar"), {}, G, 256 * MiB, "default"),
]


@pytest.mark.parametrize(
    ("argv", "env", "limit", "want", "source"),
    [h[1:] for h in HEAPS],
    ids=[h[0] for h in HEAPS],
)
def test_jvm_heap(
    argv: tuple[str, ...], env: dict[str, str], limit: int | None, want: int | None, source: str
) -> None:
    got = jvm_heap(argv, env, limit)
    assert jvm_heap_bytes(argv, env, limit) == want
    if want is None:
        assert got is None
    else:
        assert got is not None and source in got.source


KINDS = {
    "exit 0": VerdictKind.COMPLETED,
    "exit 1": VerdictKind.EXITED,
    "start error": VerdictKind.START_ERROR,
    "OOM, no JVM": VerdictKind.OOM_LIMIT,
    "liveness SIGTERM, exited in time": VerdictKind.LIVENESS,
    "startup SIGTERM": VerdictKind.STARTUP,
    "deletion": VerdictKind.STOPPED,
    "SIGKILL after grace": VerdictKind.SIGTERM_IGNORED,
    "SIGKILL from outside": VerdictKind.KILLED,
}


@pytest.mark.parametrize("case", sorted(KINDS))
def test_verdict_kinds(case: str) -> None:
    facts = next(c[1] for c in CASES if c[0] == case)
    assert v(**facts).kind == KINDS[case]


def test_a_quick_nonzero_exit_is_a_crash_on_start_with_its_last_log_line() -> None:
    got = v(exit_code=1, reason="Error", run_seconds=0.4, log_tail=("boom", "Error: no DB_URL"))
    assert got.kind == VerdictKind.CRASH_ON_START
    assert "last log line: Error: no DB_URL" in got.evidence


def _oom_with_system_oom(seconds_before_end: float) -> Verdict:
    end = 1_000_000.0
    system = E.EventRecord(
        "SystemOOM",
        "System OOM encountered, victim process: java, pid: 41235",
        "Warning",
        first_time=end - seconds_before_end,
        last_time=end - seconds_before_end,
        kind="Node",
        name="worker-1",
    )
    ev = Evidence(
        "app",
        source="cluster",
        actor="the kubelet",
        node="worker-1",
        termination=Termination(137, "OOMKilled", finished_at=end),
        resources=Resources(memory_limit=256 * MiB),
        node_events=(system,),
    )
    return diagnose(ev)


def test_a_system_oom_near_the_end_is_the_nodes_oom_killer() -> None:
    assert _oom_with_system_oom(2).kind == VerdictKind.OOM_NODE
    # Ten minutes earlier, another process: the container met its own limit.
    far = _oom_with_system_oom(600)
    assert far.kind == VerdictKind.OOM_LIMIT
    assert any("memory peak" in u for u in far.unseen)

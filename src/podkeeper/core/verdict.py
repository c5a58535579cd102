"""Why did my container die? A verdict with its evidence chain and a next step (issue 3).

Pure: the runtime gathers the facts (exit status, who sent what, the
instance's own cgroup counters, the kernel's OOM line) and this module reads
them the way an SRE would, without the runtimes' known mistakes: OOMKilled
only for this instance's own OOM kill of the main process (not a child's,
kubernetes#104454; never from a cumulative counter, #140718), and 137
without an OOM kill is a plain SIGKILL (#19825).

Every verdict names who ended the instance, in one of these shapes (issue 3,
item 3): "exited on its own with code N"; "podkeeper: SIGTERM after the
liveness probe failed (...)"; "podkeeper: SIGKILL after the Ns grace period,
SIGTERM ignored for Ns"; "podkeeper: SIGTERM for the pod's deletion or the
agent's drain"; "the kernel OOM killer: cgroup memory limit X, peak Y";
"killed by signal N from outside (sender)".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from podkeeper.core.exitcode import signal_name

MiB = 1024 * 1024

# The JVM's default -XX:MaxRAMPercentage: with no heap flag, the heap may take a quarter
# of the container limit (HotSpot `arguments.cpp`, container-aware since JDK 10).
JVM_DEFAULT_MAX_RAM_PERCENTAGE = 25.0
# What the JVM needs beyond its heap, as a share of the limit, before it is at risk.
NON_HEAP_HEADROOM = 0.25


@dataclass(frozen=True)
class Verdict:
    """One termination read: `summary` (the one-line verdict), `who` ended it, the
    `evidence` chain it rests on (oldest fact first), and a concrete `next_step`."""

    summary: str
    who: str
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""


@dataclass(frozen=True)
class JvmHeap:
    """The heap ceiling of a JVM (or of the modelled one, HEAP_MB) and what set it."""

    bytes: int
    source: str  # "-Xmx64m", "-XX:MaxRAMPercentage=75 of 256 MiB", "HEAP_MB=48", ...


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{n / MiB:.0f} MiB"


def _signame(sig: int) -> str:
    return signal_name(sig)


_HEAP_SIZE = re.compile(r"(?:-Xmx|-XX:MaxHeapSize=)(\d+)([kKmMgGtT]?)(?![\w.])")
_PCT = re.compile(r"-XX:MaxRAMPercentage=(\d+(?:\.\d+)?)")
_JAVA = re.compile(r"(?:^|[\s/])java(?:\s|$)")
_SCALE = {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB, "t": 1024 * 1024 * MiB}
# Option variables in the order the launcher applies them; later ones win.
_JVM_ENV = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_OPTS")


def jvm_heap(argv: tuple[str, ...], env: Mapping[str, str], limit: int | None) -> JvmHeap | None:
    """The JVM heap ceiling: the last -Xmx/-XX:MaxHeapSize, else the last
    -XX:MaxRAMPercentage of `limit` (bytes), from JAVA_TOOL_OPTIONS,
    JDK_JAVA_OPTIONS, JAVA_OPTS and then the command line, as the JVM reads them;
    a plain `java` command gets the JVM's default 25 % of the limit. The modelled
    JVM of `examples/jvm-oom` declares its heap in HEAP_MB (MiB). None when the
    instance is not a JVM, or its ceiling cannot be known."""
    text = " ".join([*(env.get(k, "") for k in _JVM_ENV), *argv])
    sizes = _HEAP_SIZE.findall(text)
    if sizes:
        number, unit = sizes[-1]
        flag = "-Xmx" if f"-Xmx{number}{unit}" in text else "-XX:MaxHeapSize="
        return JvmHeap(int(number) * _SCALE[unit.lower()], f"{flag}{number}{unit}")
    pcts = _PCT.findall(text)
    if pcts and limit:
        pct = float(pcts[-1])
        return JvmHeap(int(limit * pct / 100), f"-XX:MaxRAMPercentage={pcts[-1]} of {_mib(limit)}")
    heap_mb = env.get("HEAP_MB", "")
    if heap_mb.isdigit():
        return JvmHeap(int(heap_mb) * MiB, f"HEAP_MB={heap_mb}")
    if limit and _JAVA.search(" ".join(argv)):
        pct = JVM_DEFAULT_MAX_RAM_PERCENTAGE
        return JvmHeap(int(limit * pct / 100), f"the JVM default MaxRAMPercentage={pct:g}")
    return None


def jvm_heap_bytes(argv: tuple[str, ...], env: Mapping[str, str], limit: int | None) -> int | None:
    """`jvm_heap` in bytes only."""
    heap = jvm_heap(argv, env, limit)
    return heap.bytes if heap is not None else None


def _oom_verdict(
    ev: list[str],
    memory_limit: int | None,
    memory_peak: int | None,
    argv: tuple[str, ...],
    env: Mapping[str, str],
) -> Verdict:
    limit, peak = _mib(memory_limit), _mib(memory_peak or memory_limit)
    who = f"the kernel OOM killer: cgroup memory limit {limit}, peak {peak}"
    heap = jvm_heap(argv, env, memory_limit)
    if heap is None or memory_limit is None:
        return Verdict(
            f"OOMKilled: the container reached its memory limit ({limit}, peak {peak})",
            who,
            ev,
            "raise resources.limits.memory above the real peak, or lower the process's memory "
            "use; the peak counts every process of the container and the page cache it dirtied",
        )
    ev.append(
        f"heap ceiling {_mib(heap.bytes)} ({heap.source}) of a {limit} limit: "
        f"{_mib(max(memory_limit - heap.bytes, 0))} left for everything that is not heap"
    )
    if heap.bytes >= memory_limit:
        return Verdict(
            f"OOMKilled: heap ceiling {_mib(heap.bytes)} is not below the {limit} container "
            "limit, so the heap alone can fill the container",
            who,
            ev,
            f"set the heap below the limit ({heap.source} now): e.g. -XX:MaxRAMPercentage=75 "
            "instead of a fixed -Xmx, or raise resources.limits.memory",
        )
    return Verdict(
        f"OOMKilled: heap {_mib(heap.bytes)} but container peaked at {peak}: non-heap memory "
        "— metaspace, thread stacks, direct buffers, native libraries — filled the rest "
        f"of the {limit} limit",
        who,
        ev,
        f"heap {_mib(heap.bytes)} but container peaked at {peak}: non-heap memory — "
        "metaspace, thread stacks, direct buffers, native libraries — counts against the "
        f"limit too: leave at least {NON_HEAP_HEADROOM:.0%} of the limit for it (see the "
        "JVM's -XX:MaxRAMPercentage, e.g. 75 instead of a fixed -Xmx), cap it "
        "(-XX:MaxDirectMemorySize, -Xss, -XX:MaxMetaspaceSize), or raise the limit; "
        "-XX:NativeMemoryTracking=summary shows where it goes",
    )


def _probe_kind(message: str) -> str | None:
    for kind in ("liveness", "startup"):
        if f"failed {kind} probe" in message or f"{kind} probe" in message.lower():
            return kind
    return None


def _agent_verdict(
    ev: list[str],
    killed_by_agent: str,
    kill_grace: int | None,
    sent_by_us: str | None,
    sigterm_ignored_seconds: float | None,
    probe_output: str | None,
    signal: int | None,
    exit_code: int,
) -> Verdict:
    probe = _probe_kind(killed_by_agent)
    if probe_output:
        ev.append(f"last {probe or 'probe'} probe result: {probe_output}")
    if sent_by_us == "SIGKILL after grace":
        ignored = sigterm_ignored_seconds
        if ignored is None:
            ignored = float(kill_grace or 0)
        ev.append(f"podkeeper sent SIGTERM ({killed_by_agent})")
        ev.append(f"SIGTERM ignored for {ignored:.1f}s, then SIGKILL (exit {exit_code})")
        return Verdict(
            f"killed by podkeeper ({killed_by_agent}): SIGTERM ignored for {ignored:.0f}s, "
            "then SIGKILL",
            f"podkeeper: SIGKILL after the {kill_grace}s grace period, "
            f"SIGTERM ignored for {ignored:.1f}s",
            ev,
            f"SIGTERM ignored for {ignored:.0f}s: PID 1 without a signal handler, or a shell "
            "entrypoint that does not forward signals: use exec (e.g. `exec python app.py`), "
            "handle SIGTERM, or shorten the work after it",
        )
    how = "exited" if signal is None else f"died of {_signame(signal)}"
    ev.append(f"podkeeper sent SIGTERM ({killed_by_agent}); the container {how} within its grace")
    if probe is not None:
        last = f", last output: {probe_output}" if probe_output else ""
        who = f"podkeeper: SIGTERM after the {probe} probe failed ({killed_by_agent}{last})"
        if probe == "liveness":
            step = (
                "the liveness probe failed: check its last output above; if the app is only "
                "slow, raise failureThreshold/timeoutSeconds or add a startupProbe; a liveness "
                "probe should not depend on anything outside the container"
            )
        else:
            step = (
                "the app did not start within the startup probe's window "
                "(initialDelaySeconds + failureThreshold × periodSeconds): raise failureThreshold"
            )
        return Verdict(f"stopped by podkeeper: {killed_by_agent}", who, ev, step)
    if killed_by_agent.startswith("Stopping container"):
        return Verdict(
            f"stopped by podkeeper: the pod was deleted or the agent drained ({killed_by_agent})",
            "podkeeper: SIGTERM for the pod's deletion or the agent's drain",
            ev,
            "nothing to fix: the container was asked to stop and did",
        )
    return Verdict(
        f"stopped by podkeeper: {killed_by_agent}",
        f"podkeeper: SIGTERM ({killed_by_agent})",
        ev,
        "",
    )


_SIGNAL_STEPS = {
    "SIGKILL": "137 without an OOM kill is a plain SIGKILL: look for `kill -9`, a supervisor "
    "or watchdog, or a host-level OOM kill outside the container's cgroup (`dmesg`)",
    "SIGSEGV": "a segmentation fault: a crash in native code (a C extension, the JVM's JIT, a "
    "bad library); enable core dumps (`ulimit -c unlimited`) or run it under gdb",
    "SIGBUS": "a bus error: often a truncated memory-mapped file or a full /dev/shm",
    "SIGABRT": "the process aborted itself (assertion, abort(), a JVM or glibc fatal error): "
    "its last log lines say why",
    "SIGTERM": "SIGTERM not sent by podkeeper: find the supervisor or user who sent it",
    "SIGINT": "SIGINT (Ctrl-C) not sent by podkeeper: find who sent it",
}


def verdict(
    *,
    exit_code: int,
    signal: int | None,
    reason: str,
    oom_killed: bool,
    memory_limit: int | None = None,
    memory_peak: int | None = None,
    oom_kills: int = 0,
    oom_victims: list[str] | None = None,
    kernel_oom_line: str | None = None,
    killed_by_agent: str | None = None,
    kill_grace: int | None = None,
    sent_by_us: str | None = None,
    sigterm_ignored_seconds: float | None = None,
    signal_sender: str | None = None,
    probe_output: str | None = None,
    run_seconds: float | None = None,
    env: Mapping[str, str] | None = None,
    argv: tuple[str, ...] = (),
    cpu_usage_seconds: float | None = None,
    cpu_limit_milli: int | None = None,
    cpu_nr_throttled: int | None = None,
) -> Verdict:
    """Read the facts of one termination into a verdict.

    Memory in bytes, times in seconds, `cpu_limit_milli` in millicores. `sent_by_us`
    is what podkeeper's runtime sent ("SIGTERM", "SIGKILL after grace"),
    `killed_by_agent` the kill's event message when podkeeper stopped the instance."""
    ev: list[str] = []
    run = f" after {run_seconds:.1f}s" if run_seconds is not None else ""
    ev.append(f"exit code {exit_code}" + (f" ({_signame(signal)})" if signal else "") + run)
    if memory_limit is not None:
        ev.append(f"memory limit {_mib(memory_limit)}, peak {_mib(memory_peak)}")
    elif memory_peak is not None:
        ev.append(f"memory peak {_mib(memory_peak)} (no memory limit)")
    if cpu_usage_seconds is not None:
        text = f"CPU used {cpu_usage_seconds:.2f}s"
        if run_seconds:
            text += f" in {run_seconds:.1f}s ({cpu_usage_seconds / run_seconds:.2f} CPUs on average"
            text += f", limit {cpu_limit_milli / 1000:g})" if cpu_limit_milli else ")"
        if cpu_nr_throttled:
            text += f"; throttled in {cpu_nr_throttled} CFS periods"
        ev.append(text)
    if oom_kills:
        ev.append(f"this instance's cgroup counted {oom_kills} OOM kill(s)")
    for victim in oom_victims or []:
        ev.append(f"kernel OOM-killed {victim}")
    if kernel_oom_line:
        ev.append(f"kernel: {kernel_oom_line}")

    if reason == "StartError":
        return Verdict(
            "the container never started",
            "the runtime could not start the container",
            ev,
            "check that command[0] exists and is executable and workingDir exists",
        )
    if oom_killed:
        return _oom_verdict(ev, memory_limit, memory_peak, argv, env or {})
    if killed_by_agent is not None:
        return _agent_verdict(
            ev,
            killed_by_agent,
            kill_grace,
            sent_by_us,
            sigterm_ignored_seconds,
            probe_output,
            signal,
            exit_code,
        )
    if oom_kills:
        ev.append(
            "an OOM kill happened in this container, but not of its main process: not the "
            "container's reason (kubernetes#104454 reports it as OOMKilled)"
        )
    if signal is not None:
        sender = signal_sender or "unknown sender"
        name = _signame(signal)
        if name == "SIGKILL" and not oom_kills:
            ev.append("no OOM kill in this instance's cgroup: not OOMKilled")
        return Verdict(
            f"killed by signal {signal} ({name}) from outside",
            f"killed by signal {signal} from outside ({sender})",
            ev,
            _SIGNAL_STEPS.get(name, f"find who sends {name} to the container"),
        )
    if exit_code == 0:
        step = ""
        if oom_victims or oom_kills:
            step = (
                "the container survived, but a child was OOM-killed: check that its work was "
                "not lost, and raise resources.limits.memory if it should have fitted"
            )
        return Verdict(
            "exited on its own with code 0 (Completed)", "exited on its own (0)", ev, step
        )
    step = "read the last log lines (`podkeeper logs -p`) for the error the program printed"
    if exit_code > 128 and exit_code - 128 < 65:
        name = _signame(exit_code - 128)
        ev.append(
            f"code {exit_code} = 128+{exit_code - 128} ({name}) but the process was not killed "
            "by a signal: a shell or wrapper passing on its child's death"
        )
        step = (
            f"a child of the entrypoint died of {name}: "
            + _SIGNAL_STEPS.get(name, "find who sent it")
            + "; use exec in the entrypoint so that the signal reaches the record directly"
        )
    return Verdict(
        f"exited on its own with code {exit_code}",
        f"exited on its own with code {exit_code}",
        ev,
        step,
    )

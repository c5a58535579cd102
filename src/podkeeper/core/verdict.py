"""Why did my container die? A verdict with its evidence chain and a next step (issue 3).

Pure: the runtime gathers the facts (exit status, who sent what, the
instance's own cgroup counters, the kernel's OOM line) and this module reads
them the way an SRE would, without the runtimes' known mistakes: OOMKilled
only for this instance's own OOM kill of the main process (not a child's,
kubernetes#104454; never from a cumulative counter, #140718), and 137
without an OOM kill is a plain SIGKILL (#19825).
"""

from __future__ import annotations

import re
import signal as _signal
from collections.abc import Mapping
from dataclasses import dataclass, field

MiB = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    summary: str
    who: str
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{n / MiB:.0f} MiB"


def _signame(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


_XMX = re.compile(r"-Xmx(\d+)([kKmMgG]?)")
_PCT = re.compile(r"-XX:MaxRAMPercentage=([\d.]+)")


def jvm_heap_bytes(argv: tuple[str, ...], env: Mapping[str, str], limit: int | None) -> int | None:
    """The JVM heap ceiling set by -Xmx or -XX:MaxRAMPercentage (of `limit`), if any."""
    text = (
        " ".join(argv)
        + " "
        + " ".join(env.get(k, "") for k in ("JAVA_TOOL_OPTIONS", "JAVA_OPTS", "JDK_JAVA_OPTIONS"))
    )
    m = _XMX.search(text)
    if m:
        scale = {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB}[m.group(2).lower()]
        return int(m.group(1)) * scale
    p = _PCT.search(text)
    if p and limit:
        return int(limit * float(p.group(1)) / 100)
    # podkeeper's modelled JVM example declares its heap in HEAP_MB.
    if "HEAP_MB" in env and env["HEAP_MB"].isdigit():
        return int(env["HEAP_MB"]) * MiB
    return None


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
) -> Verdict:
    """Read the facts of one termination into a verdict."""
    ev: list[str] = []
    run = f" after {run_seconds:.1f}s" if run_seconds is not None else ""
    ev.append(f"exit code {exit_code}" + (f" ({_signame(signal)})" if signal else "") + run)
    if memory_limit is not None:
        ev.append(f"memory limit {_mib(memory_limit)}, peak {_mib(memory_peak)}")
    if oom_kills:
        ev.append(f"this instance's cgroup counted {oom_kills} OOM kill(s)")
    for victim in oom_victims or []:
        ev.append(f"kernel OOM-killed {victim}")
    if kernel_oom_line:
        ev.append(f"kernel: {kernel_oom_line}")

    if reason == "StartError":
        return Verdict(
            "the container never started",
            "the runtime",
            ev,
            "check that command[0] exists and is executable and workingDir exists",
        )
    if oom_killed:
        heap = jvm_heap_bytes(argv, env or {}, memory_limit)
        step = "raise resources.limits.memory or lower the process's memory use"
        if heap is not None and memory_limit is not None:
            ev.append(f"heap ceiling {_mib(heap)} of a {_mib(memory_limit)} limit")
            step = (
                f"heap {_mib(heap)} but container peaked at {_mib(memory_peak or memory_limit)}: "
                "non-heap memory — metaspace, thread stacks, direct buffers, native libraries — "
                "counts against the limit too; leave at least 25% of the limit for it (see the "
                "JVM's -XX:MaxRAMPercentage, or raise the limit)"
            )
        return Verdict(
            f"OOMKilled: the container hit its memory limit ({_mib(memory_limit)})",
            "the kernel OOM killer (cgroup memory limit)",
            ev,
            step,
        )
    if killed_by_agent is not None:
        if probe_output:
            ev.append(f"last probe result: {probe_output}")
        if sent_by_us == "SIGKILL after grace":
            ignored = sigterm_ignored_seconds if sigterm_ignored_seconds is not None else kill_grace
            ev.append(f"SIGTERM ignored for {ignored:.0f}s, then SIGKILL")
            return Verdict(
                f"killed by podkeeper ({killed_by_agent}); SIGTERM was ignored",
                f"podkeeper: SIGKILL after the {kill_grace}s grace period",
                ev,
                f"SIGTERM ignored for {ignored:.0f} s: PID 1 without a signal handler, or a shell "
                "entrypoint that does not forward signals: use exec (e.g. `exec python app.py`) "
                "or handle SIGTERM",
            )
        step = ""
        if "liveness" in killed_by_agent:
            step = (
                "the liveness probe failed: check the probe output above; if the app is "
                "only slow, raise failureThreshold/timeoutSeconds or add a startupProbe"
            )
        elif "startup" in killed_by_agent:
            step = (
                "the app did not start within the startup probe's window "
                "(initialDelaySeconds + failureThreshold × periodSeconds): raise failureThreshold"
            )
        return Verdict(
            f"stopped by podkeeper: {killed_by_agent}",
            f"podkeeper: SIGTERM ({killed_by_agent})",
            ev,
            step,
        )
    if oom_kills and not oom_killed:
        ev.append("an OOM kill happened in this container, but not of its main process")
    if signal is not None:
        sender = signal_sender or "unknown sender"
        name = _signame(signal)
        step = {
            "SIGKILL": "137 without an OOM kill is a plain SIGKILL: look for `kill -9`, a "
            "supervisor, or a host-level OOM outside the container's cgroup",
            "SIGSEGV": "a segmentation fault: a crash in native code; get a core dump or run "
            "under a debugger",
            "SIGABRT": "the process aborted itself (assertion, abort(), JVM/glibc fatal error)",
        }.get(name, "find who sends this signal")
        return Verdict(
            f"killed by signal {signal} ({name}) from outside",
            f"killed by signal {signal} from outside ({sender})",
            ev,
            step,
        )
    if exit_code == 0:
        return Verdict("exited on its own with code 0 (Completed)", "exited on its own", ev, "")
    return Verdict(
        f"exited on its own with code {exit_code}",
        f"exited on its own with code {exit_code}",
        ev,
        "read the last log lines (`podkeeper logs -p`) for the error the program printed",
    )

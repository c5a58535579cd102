"""Why did my container die? One diagnosis engine over evidence records (issues 3 and 15).

Pure: `diagnose(Evidence) -> Verdict`. The facts come as a `core.evidence.Evidence`
record, gathered by podkeeper's runtime (exit status, who sent what, the
instance's own cgroup counters, the kernel's OOM line) or read from a cluster's
API objects (core/apievidence.py); the rules read them the way an SRE would,
without the runtimes' known mistakes: OOMKilled only for this instance's own OOM
kill of the main process (not a child's, kubernetes#104454; never from a
cumulative counter, #140718), and 137 without an OOM kill is a plain SIGKILL
(#19825). Which probe killed a container is the record's `kill.killed_by`, never
found by matching the Killing event's text.

Every verdict names who ended the instance, in one of these shapes (issue 3,
item 3): "exited on its own with code N"; "podkeeper: SIGTERM after the
liveness probe failed (...)"; "podkeeper: SIGKILL after the Ns grace period,
SIGTERM ignored for Ns"; "podkeeper: SIGTERM for the pod's deletion or the
agent's drain"; "the kernel OOM killer: cgroup memory limit X, peak Y";
"killed by signal N from outside (sender)" (on a cluster "the kubelet" stands
where podkeeper does). Each has a stable `kind` (VerdictKind) so that verdicts
from two sources can be compared, and lists what its source could not see.
"""

from __future__ import annotations

from collections.abc import Mapping

from podkeeper.core import evidence as E
from podkeeper.core.evidence import Evidence
from podkeeper.core.jvmheap import (
    NON_HEAP_HEADROOM,
    JvmHeap,
    MiB,
    jvm_heap,
    jvm_heap_bytes,
    mib,
)
from podkeeper.core.podverdicts import (
    evicted_verdict,
    node_oom_verdict,
    pending_verdict,
    readiness_verdict,
    system_oom,
    waiting_verdict,
)
from podkeeper.core.probetiming import failure_window, first_success
from podkeeper.core.verdictkit import (
    Verdict,
    VerdictKind,
    owner_facts,
    signame,
    time_text,
    unseen_of,
)

__all__ = [
    "JvmHeap",
    "MiB",
    "Verdict",
    "VerdictKind",
    "diagnose",
    "jvm_heap",
    "jvm_heap_bytes",
]


def _oom_verdict(
    ev: list[str],
    memory_limit: int | None,
    memory_peak: int | None,
    argv: tuple[str, ...],
    env: Mapping[str, str],
) -> Verdict:
    limit, peak = mib(memory_limit), mib(memory_peak or memory_limit)
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
        f"heap ceiling {mib(heap.bytes)} ({heap.source}) of a {limit} limit: "
        f"{mib(max(memory_limit - heap.bytes, 0))} left for everything that is not heap"
    )
    if heap.bytes >= memory_limit:
        return Verdict(
            f"OOMKilled: heap ceiling {mib(heap.bytes)} is not below the {limit} container "
            "limit, so the heap alone can fill the container",
            who,
            ev,
            f"set the heap below the limit ({heap.source} now): e.g. -XX:MaxRAMPercentage=75 "
            "instead of a fixed -Xmx, or raise resources.limits.memory",
        )
    return Verdict(
        f"OOMKilled: heap {mib(heap.bytes)} but container peaked at {peak}: non-heap memory "
        "— metaspace, thread stacks, direct buffers, native libraries — filled the rest "
        f"of the {limit} limit",
        who,
        ev,
        f"heap {mib(heap.bytes)} but container peaked at {peak}: non-heap memory — "
        "metaspace, thread stacks, direct buffers, native libraries — counts against the "
        f"limit too: leave at least {NON_HEAP_HEADROOM:.0%} of the limit for it (see the "
        "JVM's -XX:MaxRAMPercentage, e.g. 75 instead of a fixed -Xmx), cap it "
        "(-XX:MaxDirectMemorySize, -Xss, -XX:MaxMetaspaceSize), or raise the limit; "
        "-XX:NativeMemoryTracking=summary shows where it goes",
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

#: A non-zero exit this soon after the start, restarting, is a crash on start (s).
CRASH_ON_START_SECONDS = 60.0
#: Timestamps in the API have whole seconds: a kill that took grace-1 s ran out its grace.
_GRACE_SLACK = 1.0

# The Killing event's message for each `killed_by` (kuberuntime_manager.go computePodActions).
_KILL_WORDS = {E.LIVENESS: "liveness", E.STARTUP: "startup"}


def _facts(ev: Evidence) -> list[str]:
    """The evidence chain common to every termination verdict (issue 3's order)."""
    out: list[str] = []
    t = ev.termination
    r = ev.resources
    if t is not None:
        run = f" after {t.run_seconds:.1f}s" if t.run_seconds is not None else ""
        sig = f" ({signame(t.signal)})" if t.signal else ""
        out.append(f"exit code {t.exit_code}{sig}{run}")
    if r.memory_limit is not None:
        out.append(f"memory limit {mib(r.memory_limit)}, peak {mib(r.memory_peak)}")
    elif r.memory_peak is not None:
        out.append(f"memory peak {mib(r.memory_peak)} (no memory limit)")
    if r.memory_usage is not None:
        out.append(f"memory in use now {mib(r.memory_usage)} (metrics.k8s.io)")
    if r.cpu_usage_seconds is not None:
        run_s = t.run_seconds if t is not None else None
        text = f"CPU used {r.cpu_usage_seconds:.2f}s"
        if run_s:
            text += f" in {run_s:.1f}s ({r.cpu_usage_seconds / run_s:.2f} CPUs on average"
            text += f", limit {r.cpu_limit_milli / 1000:g})" if r.cpu_limit_milli else ")"
        if r.cpu_nr_throttled:
            text += f"; throttled in {r.cpu_nr_throttled} CFS periods"
        out.append(text)
    if r.oom_kills:
        out.append(f"this instance's cgroup counted {r.oom_kills} OOM kill(s)")
    for victim in r.oom_victims:
        out.append(f"kernel OOM-killed {victim}")
    if r.kernel_oom_line:
        out.append(f"kernel: {r.kernel_oom_line}")
    return out


def _liveness_timing(ev: Evidence) -> str | None:
    """The lint timing rule `liveness_before_ready` applied to the container's probes: a
    liveness kill during start-up that its timing made inevitable, or None."""
    live, ready = ev.probe("liveness"), ev.probe("readiness")
    if live is None or ev.probe("startup") is not None:
        return None
    kill = failure_window(live)
    t = ev.termination
    ran = t.run_seconds if t is not None else None
    if ready is not None:
        up = first_success(ready).earliest
        if kill.latest <= up:
            return (
                f"the probe timing made it inevitable: liveness kills a container that is not "
                f"up yet {kill.text()} after start (initialDelaySeconds "
                f"{live.initial_delay_seconds} + (failureThreshold {live.failure_threshold} - 1)"
                f" x periodSeconds {live.period_seconds}), but readiness cannot pass before "
                f"{up:g}s: add a startupProbe or raise livenessProbe.initialDelaySeconds"
            )
    if ran is not None and ran <= kill.latest + live.timeout_seconds + _GRACE_SLACK:
        return (
            f"killed {ran:.0f}s after start, within the liveness probe's first failure window "
            f"({kill.text()} after start): the app may not have been up yet; if it starts "
            "slowly, add a startupProbe that covers its start-up"
        )
    return None


def _agent_verdict(ev: Evidence, facts: list[str]) -> Verdict:
    kill = ev.kill
    assert kill is not None
    t = ev.termination
    exit_code = t.exit_code if t is not None else 0
    signal = t.signal if t is not None else None
    actor = ev.actor
    message = kill.message
    probe = _KILL_WORDS.get(kill.killed_by or "")
    unseen = unseen_of(ev)
    if ev.probe_output:
        facts.append(f"last {probe or 'probe'} probe result: {ev.probe_output}")
    sent = kill.sent
    ignored = kill.sigterm_ignored_seconds
    if (
        sent is None
        and exit_code == 137
        and t is not None
        and t.finished_at is not None
        and kill.requested_at is not None
        and kill.grace is not None
        and t.finished_at - kill.requested_at >= kill.grace - _GRACE_SLACK
    ):
        # The API does not say who sent the SIGKILL: a 137 a whole grace period after the
        # Killing event is the kubelet's SIGKILL after the grace (kuberuntime killContainer).
        sent = "SIGKILL after grace"
        ignored = t.finished_at - kill.requested_at
        facts.append(
            f"Killing at {time_text(kill.requested_at)}, exit 137 at "
            f"{time_text(t.finished_at)}: {ignored:.0f}s later, the {kill.grace}s grace "
            "period ran out"
        )
        unseen = unseen_of(ev, "who sent the SIGKILL (inferred from the timing)")
    if sent == "SIGKILL after grace":
        if ignored is None:
            ignored = float(kill.grace or 0)
        facts.append(f"{actor} sent SIGTERM ({message})")
        facts.append(f"SIGTERM ignored for {ignored:.1f}s, then SIGKILL (exit {exit_code})")
        return Verdict(
            f"killed by {actor} ({message}): SIGTERM ignored for {ignored:.0f}s, then SIGKILL",
            f"{actor}: SIGKILL after the {kill.grace}s grace period, "
            f"SIGTERM ignored for {ignored:.1f}s",
            facts,
            f"SIGTERM ignored for {ignored:.0f}s: PID 1 without a signal handler, or a shell "
            "entrypoint that does not forward signals: use exec (e.g. `exec python app.py`), "
            "handle SIGTERM, or shorten the work after it",
            VerdictKind.SIGTERM_IGNORED,
            unseen,
        )
    how = "exited" if signal is None else f"died of {signame(signal)}"
    if signal is None and exit_code > 128 and ev.source != "podkeeper":
        how = f"exited with {exit_code}"
    facts.append(f"{actor} sent SIGTERM ({message}); the container {how} within its grace")
    if probe is not None:
        last = f", last output: {ev.probe_output}" if ev.probe_output else ""
        who = f"{actor}: SIGTERM after the {probe} probe failed ({message}{last})"
        if probe == "liveness":
            step = (
                "the liveness probe failed: check its last output above; if the app is only "
                "slow, raise failureThreshold/timeoutSeconds or add a startupProbe; a liveness "
                "probe should not depend on anything outside the container"
            )
            timing = _liveness_timing(ev)
            if timing is not None:
                facts.append(timing)
            kind = VerdictKind.LIVENESS
        else:
            step = (
                "the app did not start within the startup probe's window "
                "(initialDelaySeconds + failureThreshold × periodSeconds): raise failureThreshold"
            )
            kind = VerdictKind.STARTUP
        return Verdict(f"stopped by {actor}: {message}", who, facts, step, kind, unseen)
    if kill.killed_by == E.STOP:
        return Verdict(
            f"stopped by {actor}: the pod was deleted or the agent drained ({message})",
            f"{actor}: SIGTERM for the pod's deletion or the agent's drain",
            facts,
            "nothing to fix: the container was asked to stop and did",
            VerdictKind.STOPPED,
            unseen,
        )
    kind = VerdictKind.POST_START if kill.killed_by == E.POST_START else VerdictKind.STOPPED
    return Verdict(
        f"stopped by {actor}: {message}", f"{actor}: SIGTERM ({message})", facts, "", kind, unseen
    )


def _crash_facts(ev: Evidence, facts: list[str]) -> bool:
    """A non-zero exit soon after the start (or in CrashLoopBackOff): a crash on start; the
    log tail's last line goes into the evidence."""
    t = ev.termination
    if t is None or t.exit_code == 0 or t.signal is not None:
        return False
    early = t.run_seconds is not None and t.run_seconds <= CRASH_ON_START_SECONDS
    looping = ev.state_reason == "CrashLoopBackOff"
    if ev.log_tail:
        facts.append(f"last log line: {ev.log_tail[-1].strip()}")
    if looping:
        facts.append(f"state waiting: CrashLoopBackOff after {ev.restart_count} restart(s)")
    return early or looping


def diagnose(ev: Evidence) -> Verdict:
    """Read one container's evidence into a verdict: who ended it (or keeps it from
    running), the evidence chain, a next step, and what the source could not see."""
    if ev.state == "waiting" and ev.state_reason not in ("CrashLoopBackOff", ""):
        waiting = waiting_verdict(ev)
        if waiting is not None:
            return waiting
    facts = _facts(ev)
    t = ev.termination
    r = ev.resources
    if t is None:
        if ev.pod_reason == "Evicted":
            return evicted_verdict(ev, facts)
        for rule in (pending_verdict, readiness_verdict):
            found = rule(ev)
            if found is not None:
                return found
        if ev.state:
            facts.append(f"state {ev.state}: {ev.state_reason}".rstrip(": "))
        return Verdict(
            "no termination seen: the container has not died",
            "nobody",
            facts,
            "",
            VerdictKind.HEALTHY if ev.state == "running" else VerdictKind.WAITING,
            unseen_of(ev),
        )
    owner = owner_facts(ev)
    if t.reason == "StartError":
        return Verdict(
            "the container never started",
            "the runtime could not start the container",
            facts + owner,
            "check that command[0] exists and is executable and workingDir exists",
            VerdictKind.START_ERROR,
            unseen_of(ev),
        )
    if r.oom_killed or t.reason == "OOMKilled":
        system = system_oom(ev)
        if system is not None:
            return node_oom_verdict(ev, facts + owner, system)
        peak_unseen = ""
        if r.memory_peak is None:
            peak_unseen = (
                "the memory peak (the API shows no peak; metrics.k8s.io shows current usage only)"
                if ev.source == "cluster"
                else "the memory peak (no cgroup counter was read for this instance)"
            )
        got = _oom_verdict(facts + owner, r.memory_limit, r.memory_peak, ev.argv, ev.env_map())
        return Verdict(
            got.summary,
            got.who,
            got.evidence,
            got.next_step,
            VerdictKind.OOM_LIMIT,
            unseen_of(ev, peak_unseen),
        )
    if ev.pod_reason == "Evicted" or (ev.kill is not None and ev.kill.killed_by == E.EVICTION):
        return evicted_verdict(ev, facts + owner)
    if ev.kill is not None:
        got = _agent_verdict(ev, facts)
        got.evidence.extend(owner)
        return got
    facts += owner
    if r.oom_kills:
        facts.append(
            "an OOM kill happened in this container, but not of its main process: not the "
            "container's reason (kubernetes#104454 reports it as OOMKilled)"
        )
    signal = t.signal
    if signal is not None:
        sender = ev.signal_sender or "unknown sender"
        name = signame(signal)
        if name == "SIGKILL" and not r.oom_kills:
            facts.append("no OOM kill in this instance's cgroup: not OOMKilled")
        return Verdict(
            f"killed by signal {signal} ({name}) from outside",
            f"killed by signal {signal} from outside ({sender})",
            facts,
            _SIGNAL_STEPS.get(name, f"find who sends {name} to the container"),
            VerdictKind.KILLED,
            unseen_of(ev),
        )
    exit_code = t.exit_code
    if exit_code == 0:
        step = ""
        if r.oom_victims or r.oom_kills:
            step = (
                "the container survived, but a child was OOM-killed: check that its work was "
                "not lost, and raise resources.limits.memory if it should have fitted"
            )
        return Verdict(
            "exited on its own with code 0 (Completed)",
            "exited on its own (0)",
            facts,
            step,
            VerdictKind.COMPLETED,
            unseen_of(ev),
        )
    crash = _crash_facts(ev, facts)
    unseen = unseen_of(ev)
    step = "read the last log lines (`podkeeper logs -p`) for the error the program printed"
    if exit_code > 128 and exit_code - 128 < 65:
        name = signame(exit_code - 128)
        if ev.source == "podkeeper":
            facts.append(
                f"code {exit_code} = 128+{exit_code - 128} ({name}) but the process was not "
                "killed by a signal: a shell or wrapper passing on its child's death"
            )
            step = (
                f"a child of the entrypoint died of {name}: "
                + _SIGNAL_STEPS.get(name, "find who sent it")
                + "; use exec in the entrypoint so that the signal reaches the record directly"
            )
        else:
            # The API shows only the code: a signal death and a wrapper passing one on look
            # the same (containerd reports 128+signal for both).
            facts.append(f"code {exit_code} = 128+{exit_code - 128} ({name})")
            unseen = unseen_of(
                ev, "whether the process died of the signal itself or a wrapper passed it on"
            )
            step = _SIGNAL_STEPS.get(name, f"find who sent {name}")
            return Verdict(
                f"killed by signal {exit_code - 128} ({name}) from outside",
                f"killed by signal {exit_code - 128} from outside (unknown sender)",
                facts,
                step,
                VerdictKind.KILLED,
                unseen,
            )
    if crash:
        summary = f"crashed on start: exited on its own with code {exit_code}"
        if ev.source == "podkeeper":
            summary = f"exited on its own with code {exit_code}"
        return Verdict(
            summary,
            f"exited on its own with code {exit_code}",
            facts,
            step,
            VerdictKind.CRASH_ON_START,
            unseen,
        )
    return Verdict(
        f"exited on its own with code {exit_code}",
        f"exited on its own with code {exit_code}",
        facts,
        step,
        VerdictKind.EXITED,
        unseen,
    )

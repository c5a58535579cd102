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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from podkeeper.core import evidence as E
from podkeeper.core.evidence import EventRecord, Evidence
from podkeeper.core.exitcode import signal_name
from podkeeper.core.probetiming import failure_window, first_success

MiB = 1024 * 1024

# The JVM's default -XX:MaxRAMPercentage: with no heap flag, the heap may take a quarter
# of the container limit (HotSpot `arguments.cpp`, container-aware since JDK 10).
JVM_DEFAULT_MAX_RAM_PERCENTAGE = 25.0
# What the JVM needs beyond its heap, as a share of the limit, before it is at risk.
NON_HEAP_HEADROOM = 0.25


class VerdictKind:
    """The stable names of the verdicts (what `triage -o json` prints and tests compare)."""

    COMPLETED = "Completed"
    EXITED = "ExitedWithError"  # exited on its own with a non-zero code
    CRASH_ON_START = "CrashOnStart"  # a non-zero exit soon after start, restarting
    START_ERROR = "StartError"
    OOM_LIMIT = "OOMKilled"  # the container's own memory limit
    OOM_NODE = "NodeOOMKilled"  # the node's OOM killer (SystemOOM)
    EVICTED = "Evicted"
    LIVENESS = "LivenessKilled"
    STARTUP = "StartupKilled"
    SIGTERM_IGNORED = "SigtermIgnored"
    STOPPED = "Stopped"  # deletion, drain
    POST_START = "PostStartHookFailed"
    KILLED = "KilledBySignal"  # a signal from outside
    CONFIG_ERROR = "CreateContainerConfigError"
    IMAGE = "ImagePullBackOff"
    READINESS = "ReadinessNeverPasses"
    UNSCHEDULABLE = "Unschedulable"
    WAITING = "Waiting"
    HEALTHY = "Healthy"


@dataclass(frozen=True)
class Verdict:
    """One read of the evidence: `summary` (the one-line verdict), `who` ended it, the
    `evidence` chain it rests on (oldest fact first), a concrete `next_step`, its `kind`
    (a VerdictKind name) and what the source could not see (`unseen`)."""

    summary: str
    who: str
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""
    kind: str = ""
    unseen: list[str] = field(default_factory=list)


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

#: How near (s) a node's SystemOOM event must be to the container's end to be its cause:
#: event times have whole seconds and the kubelet reads /dev/kmsg asynchronously.
SYSTEM_OOM_WINDOW = 60.0
#: A non-zero exit this soon after the start, restarting, is a crash on start (s).
CRASH_ON_START_SECONDS = 60.0
#: Timestamps in the API have whole seconds: a kill that took grace-1 s ran out its grace.
_GRACE_SLACK = 1.0

# The Killing event's message for each `killed_by` (kuberuntime_manager.go computePodActions).
_KILL_WORDS = {E.LIVENESS: "liveness", E.STARTUP: "startup"}


def _time_text(t: float | None) -> str:
    if t is None:
        return "?"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_text(e: EventRecord) -> str:
    count = f" (x{e.count})" if e.count > 1 else ""
    where = f" on {e.kind.lower()}/{e.name}" if e.kind != "Pod" and e.name else ""
    when = f" at {_time_text(e.last_time)}" if e.last_time is not None else ""
    return f"{e.type} {e.reason}{where}{count}{when}: {e.message}".rstrip(": ")


def _facts(ev: Evidence) -> list[str]:
    """The evidence chain common to every termination verdict (issue 3's order)."""
    out: list[str] = []
    t = ev.termination
    r = ev.resources
    if t is not None:
        run = f" after {t.run_seconds:.1f}s" if t.run_seconds is not None else ""
        sig = f" ({_signame(t.signal)})" if t.signal else ""
        out.append(f"exit code {t.exit_code}{sig}{run}")
    if r.memory_limit is not None:
        out.append(f"memory limit {_mib(r.memory_limit)}, peak {_mib(r.memory_peak)}")
    elif r.memory_peak is not None:
        out.append(f"memory peak {_mib(r.memory_peak)} (no memory limit)")
    if r.memory_usage is not None:
        out.append(f"memory in use now {_mib(r.memory_usage)} (metrics.k8s.io)")
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


def _unseen(ev: Evidence, *more: str) -> list[str]:
    out = list(ev.unseen)
    out += [m for m in more if m and m not in out]
    return out


def _system_oom(ev: Evidence) -> EventRecord | None:
    """The node's SystemOOM event nearest the container's end, when one is near enough.

    The kubelet records SystemOOM only for an OOM kill whose memory cgroup is the
    root, "/" (`pkg/kubelet/oom/oom_watcher_linux.go`: `recordEventContainerName`):
    the node ran out of memory, not a container its limit."""
    t = ev.termination
    end = t.finished_at if t is not None else None
    best: EventRecord | None = None
    for e in ev.node_events:
        if e.reason != "SystemOOM":
            continue
        when = e.last_time if e.last_time is not None else e.first_time
        if end is not None and when is not None:
            first = e.first_time if e.first_time is not None else when
            if not (first - SYSTEM_OOM_WINDOW <= end <= when + SYSTEM_OOM_WINDOW):
                continue
        best = e
    return best


def _node_oom_verdict(ev: Evidence, facts: list[str], oom: EventRecord) -> Verdict:
    facts.append(f"node event {_event_text(oom)}")
    limit = ev.resources.memory_limit
    if limit is None:
        facts.append("the container has no memory limit: its own cgroup could not OOM")
    for c in ev.node_conditions:
        if c.type == "MemoryPressure" and c.status == "True":
            facts.append(f"node condition MemoryPressure=True ({c.reason}: {c.message})")
    request = ev.resources.memory_request
    node = ev.node or "the node"
    return Verdict(
        f"OOMKilled by the node's OOM killer (SystemOOM on {node}), not by the container's "
        "own memory limit",
        f"the kernel OOM killer of {node}: the node ran out of memory",
        facts,
        "the node's memory was overcommitted: set memory requests to the real usage "
        + (f"(now {_mib(request)}) " if request is not None else "(none set) ")
        + "so that the scheduler does not pack more than fits, give the container a memory "
        "limit, and look at what else ran on the node "
        f"(`kubectl top pods -A --field-selector spec.nodeName={ev.node or 'NODE'}`)",
        VerdictKind.OOM_NODE,
        _unseen(ev, "which process's allocation made the node run out of memory"),
    )


_LOW_ON = re.compile(r"low on resource: ([\w-]+)")


def _evicted_verdict(ev: Evidence, facts: list[str]) -> Verdict:
    message = ev.pod_message or (ev.kill.message if ev.kill else "")
    if message:
        facts.append(f"pod status: {ev.pod_reason or 'Evicted'}: {message.strip()}")
    for e in ev.events:
        if e.reason == "Evicted" and e.message.strip() != message.strip():
            facts.append(f"event {_event_text(e)}")
    for c in ev.node_conditions:
        if c.type in ("MemoryPressure", "DiskPressure", "PIDPressure") and c.status == "True":
            facts.append(f"node condition {c.type}=True ({c.reason})")
    for e in ev.node_events:
        if e.reason in ("EvictionThresholdMet", "NodeHasInsufficientMemory", "NodeHasDiskPressure"):
            facts.append(f"node event {_event_text(e)}")
    found = _LOW_ON.search(message)
    resource = found.group(1) if found else "a resource"
    request = ev.resources.memory_request
    return Verdict(
        f"evicted by {ev.actor} for node pressure ({resource}): {message.strip()}".rstrip(": "),
        f"{ev.actor}'s eviction manager: the node was low on {resource}",
        facts,
        "the node ran short and evicted the pods that used most above their requests first: "
        "set requests to the real usage"
        + (f" (memory request now {_mib(request)})" if request is not None else "")
        + ", add limits, or move the pod to a node with room; a Guaranteed pod "
        "(requests = limits) is evicted last",
        VerdictKind.EVICTED,
        _unseen(ev),
    )


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
    unseen = _unseen(ev)
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
            f"Killing at {_time_text(kill.requested_at)}, exit 137 at "
            f"{_time_text(t.finished_at)}: {ignored:.0f}s later, the {kill.grace}s grace "
            "period ran out"
        )
        unseen = _unseen(ev, "who sent the SIGKILL (inferred from the timing)")
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
    how = "exited" if signal is None else f"died of {_signame(signal)}"
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


def _waiting_verdict(ev: Evidence) -> Verdict | None:
    """A container that cannot start: its config (a missing ConfigMap, Secret or key) or
    its image. The exact object comes from the waiting message and the pod's references."""
    reason, message = ev.state_reason, ev.state_message.strip()
    facts = [f"state waiting: {reason}" + (f": {message}" if message else "")]
    for e in ev.events:
        if e.type == "Warning" and e.reason in ("Failed", "FailedMount", "ErrImageNeverPull"):
            facts.append(f"event {_event_text(e)}")
    if reason == "CreateContainerConfigError":
        named = [r for r in ev.refs if f'"{r.name}"' in message or f"/{r.name}" in message]
        target = named[0] if named else None
        what = (
            f"{target.kind} {ev.namespace}/{target.name}"
            + (f" (key {target.key!r})" if target.key else "")
            if target is not None
            else "a ConfigMap or Secret it references"
        )
        if target is not None:
            facts.append(f"the pod reads {target.kind} {target.name!r} through {target.via}")
        return Verdict(
            f"cannot start: {what} is missing ({message})",
            f"{ev.actor}: the container's configuration cannot be built",
            facts,
            f"create {what} in namespace {ev.namespace}, fix the name in the pod spec, or mark "
            "the reference `optional: true`",
            VerdictKind.CONFIG_ERROR,
            _unseen(ev),
        )
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"):
        return Verdict(
            f"cannot start: image {ev.image!r} cannot be pulled ({reason})",
            f"{ev.actor}'s image manager: the image pull failed",
            facts,
            f"check that {ev.image!r} exists (name, tag, registry), that the node can reach the "
            "registry, and the pod's imagePullSecrets for a private one; the Failed event above "
            "carries the registry's answer",
            VerdictKind.IMAGE,
            _unseen(ev),
        )
    if reason in (
        "CreateContainerError",
        "RunContainerError",
        "PodInitializing",
        "ContainerCreating",
    ):
        return Verdict(
            f"waiting: {reason}" + (f": {message}" if message else ""),
            f"{ev.actor}: the container was not created",
            facts,
            "read the Failed events above for the runtime's error",
            VerdictKind.WAITING,
            _unseen(ev),
        )
    return None


def _owner_facts(ev: Evidence) -> list[str]:
    out: list[str] = []
    for o in ev.owners:
        for c in o.conditions:
            bad = (c.type == "Progressing" and c.status == "False") or (
                c.type == "Failed" and c.status == "True"
            )
            if bad:
                out.append(
                    f"{o.kind} {o.name}: {c.type}={c.status} {c.reason}"
                    + (f": {c.message}" if c.message else "")
                )
    return out


def _readiness_verdict(ev: Evidence) -> Verdict | None:
    """Running but never Ready: a readiness probe that fails (and may hold a rollout)."""
    if ev.state != "running" or ev.ready is not False:
        return None
    probe = ev.probe("readiness")
    failures = [
        e for e in ev.events if e.reason == "Unhealthy" and e.message.startswith("Readiness probe")
    ]
    if probe is None and not failures:
        return Verdict(
            "not Ready, and no readiness probe failure recorded",
            "nobody killed it: the pod is not Ready",
            [f"container running since {_time_text(ev.state_since)}, not Ready", *_owner_facts(ev)],
            "look at the pod's readiness gates and conditions (`kubectl describe pod`): without "
            "a readiness probe a running container is Ready at once",
            VerdictKind.READINESS,
            _unseen(ev, "why the pod is not Ready (no readiness probe, no Unhealthy events)"),
        )
    facts = [f"container running since {_time_text(ev.state_since)}, never Ready"]
    if probe is not None:
        facts.append(
            f"readiness probe {probe.handler} delay={probe.initial_delay_seconds}s "
            f"period={probe.period_seconds}s #failure={probe.failure_threshold}".replace("  ", " ")
        )
    facts += [f"event {_event_text(e)}" for e in failures[-3:]]
    held = _owner_facts(ev)
    facts += held
    stuck = any("ProgressDeadlineExceeded" in h for h in held)
    summary = "readiness never passes: the container runs but is never Ready"
    if stuck:
        summary += ", which holds the rollout (ProgressDeadlineExceeded)"
    return Verdict(
        summary,
        "nobody killed it: the readiness probe keeps it out of the Service's endpoints",
        facts,
        "make the readiness endpoint answer (the failure message above says how it fails), or "
        "fix the probe's port/path; a rollout waits for new pods to be Ready "
        "(minReadySeconds, progressDeadlineSeconds)",
        VerdictKind.READINESS,
        _unseen(ev, "" if failures else "the probe's failure messages (no Unhealthy events)"),
    )


def _pending_verdict(ev: Evidence) -> Verdict | None:
    if ev.pod_phase != "Pending" or ev.node:
        return None
    for c in ev.pod_conditions:
        if c.type == "PodScheduled" and c.status == "False":
            return Verdict(
                f"not scheduled: {c.reason}: {c.message}".rstrip(": "),
                "the scheduler found no node for it",
                [f"condition PodScheduled=False {c.reason}: {c.message}"],
                "lower the pod's requests, add nodes, or fix its nodeSelector, affinity or "
                "tolerations (the message says which filter failed)",
                VerdictKind.UNSCHEDULABLE,
                _unseen(ev),
            )
    return None


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
        waiting = _waiting_verdict(ev)
        if waiting is not None:
            return waiting
    facts = _facts(ev)
    t = ev.termination
    r = ev.resources
    if t is None:
        if ev.pod_reason == "Evicted":
            return _evicted_verdict(ev, facts)
        for rule in (_pending_verdict, _readiness_verdict):
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
            _unseen(ev),
        )
    owner = _owner_facts(ev)
    if t.reason == "StartError":
        return Verdict(
            "the container never started",
            "the runtime could not start the container",
            facts + owner,
            "check that command[0] exists and is executable and workingDir exists",
            VerdictKind.START_ERROR,
            _unseen(ev),
        )
    if r.oom_killed or t.reason == "OOMKilled":
        system = _system_oom(ev)
        if system is not None:
            return _node_oom_verdict(ev, facts + owner, system)
        peak_unseen = (
            "the memory peak (the API shows no peak; metrics.k8s.io shows current usage only)"
            if r.memory_peak is None
            else ""
        )
        got = _oom_verdict(facts + owner, r.memory_limit, r.memory_peak, ev.argv, ev.env_map())
        return Verdict(
            got.summary,
            got.who,
            got.evidence,
            got.next_step,
            VerdictKind.OOM_LIMIT,
            _unseen(ev, peak_unseen),
        )
    if ev.pod_reason == "Evicted" or (ev.kill is not None and ev.kill.killed_by == E.EVICTION):
        return _evicted_verdict(ev, facts + owner)
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
        name = _signame(signal)
        if name == "SIGKILL" and not r.oom_kills:
            facts.append("no OOM kill in this instance's cgroup: not OOMKilled")
        return Verdict(
            f"killed by signal {signal} ({name}) from outside",
            f"killed by signal {signal} from outside ({sender})",
            facts,
            _SIGNAL_STEPS.get(name, f"find who sends {name} to the container"),
            VerdictKind.KILLED,
            _unseen(ev),
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
            _unseen(ev),
        )
    crash = _crash_facts(ev, facts)
    unseen = _unseen(ev)
    step = "read the last log lines (`podkeeper logs -p`) for the error the program printed"
    if exit_code > 128 and exit_code - 128 < 65:
        name = _signame(exit_code - 128)
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
            unseen = _unseen(
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

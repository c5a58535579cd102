"""What the agent keeps about its pods: events, container instances and termination records.

Builders only (the agent stores what they return): `v1 Event` objects named
as client-go names them, the per-instance rows that make `logs --previous`
work, and the termination record with its verdict (issue 3), which is never
overwritten and outlives the pod.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from podkeeper.core.events import Event
from podkeeper.core.evidence import Evidence, Kill, ProbeConfig, Resources, Termination
from podkeeper.core.spec import Container
from podkeeper.core.verdict import diagnose
from podkeeper.runtime.interface import ExitInfo
from podkeeper.runtime.logs import fallback_message, tail_lines
from podkeeper.runtime.podworker import classify_who
from podkeeper.runtime.store import InstanceRecord

if TYPE_CHECKING:
    from podkeeper.core.actions import StartContainer
    from podkeeper.runtime.podworker import InstanceRuntime, PodWorker

Obj = dict[str, Any]

# `pkg/kubelet/container/runtime.go`: the status manager cuts every message to an even
# share of this (`pkg/kubelet/status/status_manager.go` `normalizeStatus`).
MAX_POD_TERMINATION_MESSAGE_BYTES = 12 * 1024
LAST_LOG_LINES = 50


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def event_object(
    ns: str,
    pod: str,
    uid: str,
    field_path: str | None,
    e: Event,
    wall_offset: float,
    node: str,
    seq: int,
) -> Obj:
    """A `v1 Event` about a pod (or, with its kind patched in, another object)."""
    wall = e.time + wall_offset
    ts = _rfc3339(wall)
    involved: Obj = {"kind": "Pod", "namespace": ns, "name": pod, "uid": uid, "apiVersion": "v1"}
    if field_path:
        involved["fieldPath"] = field_path
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # client-go names events "<object>.<unix nanos hex>"; several events of one
        # sync share our timestamp, so a sequence number keeps the names unique.
        "metadata": {"name": f"{pod}.{int(wall * 1e9) + seq:x}", "namespace": ns},
        "involvedObject": involved,
        "reason": e.reason,
        "message": e.message,
        "type": e.type,
        "count": 1,
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "source": {"component": e.component, "host": node},
        "reportingComponent": e.component,
        "reportingInstance": node,
    }


def instance_record(
    worker: PodWorker, a: StartContainer, log_path: str, started_at: float
) -> InstanceRecord:
    meta = worker.pod.metadata
    return InstanceRecord(
        meta.namespace,
        meta.name,
        meta.uid,
        a.container,
        a.instance_id,
        a.restart_count,
        log_path,
        started_at,
    )


def start_error_record(worker: PodWorker, a: StartContainer, message: str) -> Obj:
    """The history record of a start that failed (StartError, exit 128)."""
    meta = worker.pod.metadata
    return {
        "namespace": meta.namespace,
        "pod": meta.name,
        "pod_uid": meta.uid,
        "container": a.container,
        "instance_id": a.instance_id,
        "time": time.time(),
        "exit_code": 128,
        "signal": None,
        "reason": "StartError",
        "message": message,
        "who": "the runtime could not start the container",
        "evidence": [message],
        "run_seconds": 0.0,
        "restart_count": a.restart_count,
        "next_step": "check that `command[0]` exists and is executable and that "
        "`workingDir` exists on this host",
        "kind": "StartError",
    }


def termination_message(
    container: Container, info: ExitInfo, log_path: str, message_file: str, containers: int
) -> str:
    """The status message: the agent-owned termination-message file, or with
    FallbackToLogsOnError and a failure, the log tail (`kuberuntime_container.go`
    `getTerminationMessage`), cut to 12 KiB shared evenly by the pod's `containers`."""
    from podkeeper.runtime.message import read_termination_message

    text = read_termination_message(message_file) or ""
    if (
        not text
        and container.termination_message_policy == "FallbackToLogsOnError"
        and info.exit_code != 0
    ):
        text = fallback_message(log_path)
    share = MAX_POD_TERMINATION_MESSAGE_BYTES // max(containers, 1)
    return text.encode()[:share].decode("utf-8", errors="ignore")


def _probe_configs(container: Container) -> tuple[ProbeConfig, ...]:
    out: list[ProbeConfig] = []
    for kind, probe in (
        ("liveness", container.liveness_probe),
        ("readiness", container.readiness_probe),
        ("startup", container.startup_probe),
    ):
        if probe is not None:
            out.append(
                ProbeConfig(
                    kind,
                    "",
                    probe.initial_delay_seconds,
                    probe.timeout_seconds,
                    probe.period_seconds,
                    probe.success_threshold,
                    probe.failure_threshold,
                )
            )
    return tuple(out)


def local_evidence(
    worker: PodWorker,
    inst: InstanceRuntime,
    info: ExitInfo,
    reason: str,
    message: str,
    probe_output: str | None,
    record: Any,
    log_tail: list[str],
) -> Evidence:
    """The evidence record of one ended instance, from what this agent saw itself: the
    runtime's exit facts, its own kill (with `killed_by` as data) and the cgroup counters."""
    kill = inst.kill
    started = inst.handle.started_at
    spec: Container = record.spec
    meta = worker.pod.metadata
    return Evidence(
        container=inst.container,
        pod=meta.name,
        namespace=meta.namespace,
        termination=Termination(
            exit_code=info.exit_code,
            reason=reason,
            signal=info.signal,
            message=message,
            started_at=started,
            finished_at=info.finished_at or None,
            run_seconds=info.finished_at - started if info.finished_at else None,
        ),
        kill=Kill(
            kill.killed_by,
            kill.message,
            kill.grace,
            kill.requested_at,
            info.sent_by_us,
            info.sigterm_ignored_seconds,
        )
        if kill
        else None,
        signal_sender=info.signal_sender,
        probe_output=probe_output,
        resources=Resources(
            memory_limit=info.memory_limit,
            memory_peak=info.memory_peak,
            cpu_limit_milli=spec.resources.limits_cpu_milli,
            oom_killed=info.oom_killed,
            oom_kills=info.oom_kills_in_instance,
            oom_victims=tuple(info.oom_victims),
            kernel_oom_line=info.kernel_oom_line,
            cpu_usage_seconds=info.cpu_usage_seconds,
            cpu_nr_throttled=info.cpu_nr_throttled,
        ),
        probes=_probe_configs(spec),
        # The resolved argv ($(VAR) expanded) the runtime ran, for the JVM heap flags.
        argv=tuple(getattr(getattr(inst.handle, "request", None), "argv", ())),
        env=tuple(inst.env.items()),
        restart_count=inst.restart_count,
        log_tail=tuple(log_tail[-5:]),
    )


def termination_record(
    worker: PodWorker,
    instance_id: str,
    inst: InstanceRuntime,
    info: ExitInfo,
    reason: str,
    message: str,
) -> Obj:
    """Everything known about how one instance ended, with the verdict (issue 3)."""
    started = inst.handle.started_at
    kill = inst.kill
    record = worker.machine.records[inst.container]
    probe_output = worker.last_probe_output.get(record.field_path) if kill else None
    finished = info.finished_at or time.time()
    log_tail = [
        line.decode(errors="replace").rstrip("\n")
        for line in tail_lines(inst.log_path, LAST_LOG_LINES)
    ]
    v = diagnose(
        local_evidence(worker, inst, info, reason, message, probe_output, record, log_tail)
    )
    meta = worker.pod.metadata
    return {
        "namespace": meta.namespace,
        "pod": meta.name,
        "pod_uid": meta.uid,
        "container": inst.container,
        "instance_id": instance_id,
        "time": finished,
        "exit_code": info.exit_code,
        "signal": info.signal,
        "reason": reason,
        "message": message,
        "who": v.who or classify_who(info, kill),
        "verdict": v.summary,
        "evidence": v.evidence,
        "next_step": v.next_step,
        "memory_limit": info.memory_limit,
        "memory_peak": info.memory_peak,
        "cpu_usage_seconds": info.cpu_usage_seconds,
        "run_seconds": round(finished - started, 3),
        "restart_count": inst.restart_count,
        "last_log_lines": log_tail,
        "kind": v.kind,
    }


def child_oom_events(worker: PodWorker, container: str, info: ExitInfo, now: float) -> list[Event]:
    """A Warning per OOM kill that hit a process other than the container's main one:
    an event, never the container's reason (issue 3; kubernetes#104454)."""
    if info.oom_killed:
        return []
    field_path = worker.machine.records[container].field_path
    # Only kernel-named victims: the v1 fallback counter (memory.failcnt) counts limit
    # hits, not kills, so an event from it alone could be false.
    return [
        Event(
            "Warning",
            "OOMKilling",
            f"Memory cgroup out of memory: killed {victim} in container {container}, "
            "not its main process",
            field_path,
            now,
        )
        for victim in info.oom_victims
    ]

"""Verdict rules read from the pod, its node and its owners rather than from one exit
(issue 15): a node's OOM killer (SystemOOM), an eviction for node pressure, a container that
cannot start (a missing ConfigMap, Secret or image), a readiness probe that never passes
(and holds a rollout), a pod no node takes. Pure; used by core/verdict.py `diagnose`.
"""

from __future__ import annotations

import re

from podkeeper.core.evidence import EventRecord, Evidence
from podkeeper.core.jvmheap import mib
from podkeeper.core.verdictkit import (
    Verdict,
    VerdictKind,
    event_text,
    owner_facts,
    time_text,
    unseen_of,
)

#: How near (s) a node's SystemOOM event must be to the container's end to be its cause:
#: event times have whole seconds and the kubelet reads /dev/kmsg asynchronously.
SYSTEM_OOM_WINDOW = 60.0


def system_oom(ev: Evidence) -> EventRecord | None:
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


def node_oom_verdict(ev: Evidence, facts: list[str], oom: EventRecord) -> Verdict:
    facts.append(f"node event {event_text(oom)}")
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
        + (f"(now {mib(request)}) " if request is not None else "(none set) ")
        + "so that the scheduler does not pack more than fits, give the container a memory "
        "limit, and look at what else ran on the node "
        f"(`kubectl top pods -A --field-selector spec.nodeName={ev.node or 'NODE'}`)",
        VerdictKind.OOM_NODE,
        unseen_of(ev, "which process's allocation made the node run out of memory"),
    )


_LOW_ON = re.compile(r"low on resource: ([\w-]+)")


def evicted_verdict(ev: Evidence, facts: list[str]) -> Verdict:
    message = ev.pod_message or (ev.kill.message if ev.kill else "")
    if message:
        facts.append(f"pod status: {ev.pod_reason or 'Evicted'}: {message.strip()}")
    for e in ev.events:
        if e.reason == "Evicted" and e.message.strip() != message.strip():
            facts.append(f"event {event_text(e)}")
    for c in ev.node_conditions:
        if c.type in ("MemoryPressure", "DiskPressure", "PIDPressure") and c.status == "True":
            facts.append(f"node condition {c.type}=True ({c.reason})")
    for e in ev.node_events:
        if e.reason in ("EvictionThresholdMet", "NodeHasInsufficientMemory", "NodeHasDiskPressure"):
            facts.append(f"node event {event_text(e)}")
    found = _LOW_ON.search(message)
    resource = found.group(1) if found else "a resource"
    request = ev.resources.memory_request
    return Verdict(
        f"evicted by {ev.actor} for node pressure ({resource}): {message.strip()}".rstrip(": "),
        f"{ev.actor}'s eviction manager: the node was low on {resource}",
        facts,
        "the node ran short and evicted the pods that used most above their requests first: "
        "set requests to the real usage"
        + (f" (memory request now {mib(request)})" if request is not None else "")
        + ", add limits, or move the pod to a node with room; a Guaranteed pod "
        "(requests = limits) is evicted last",
        VerdictKind.EVICTED,
        unseen_of(ev),
    )


def waiting_verdict(ev: Evidence) -> Verdict | None:
    """A container that cannot start: its config (a missing ConfigMap, Secret or key) or
    its image. The exact object comes from the waiting message and the pod's references."""
    reason, message = ev.state_reason, ev.state_message.strip()
    facts = [f"state waiting: {reason}" + (f": {message}" if message else "")]
    for e in ev.events:
        if e.type == "Warning" and e.reason in ("Failed", "FailedMount", "ErrImageNeverPull"):
            facts.append(f"event {event_text(e)}")
    if reason == "CreateContainerConfigError":
        named = [r for r in ev.refs if f'"{r.name}"' in message or f"/{r.name}" in message]
        target = named[0] if named else None
        if target is None and not any(
            w in message for w in ("configmap", "secret", "ConfigMap", "Secret")
        ):
            # Not a missing object: the runtime cannot build this container (podkeeper's
            # process runtime and a container without `command`, a bad env reference...).
            return Verdict(
                f"cannot start: {message or reason}",
                f"{ev.actor}: the container's configuration cannot be built",
                facts,
                "fix the container spec as the message says",
                VerdictKind.CONFIG_ERROR,
                unseen_of(ev),
            )
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
            unseen_of(ev),
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
            unseen_of(ev),
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
            unseen_of(ev),
        )
    return None


def readiness_verdict(ev: Evidence) -> Verdict | None:
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
            [f"container running since {time_text(ev.state_since)}, not Ready", *owner_facts(ev)],
            "look at the pod's readiness gates and conditions (`kubectl describe pod`): without "
            "a readiness probe a running container is Ready at once",
            VerdictKind.READINESS,
            unseen_of(ev, "why the pod is not Ready (no readiness probe, no Unhealthy events)"),
        )
    facts = [f"container running since {time_text(ev.state_since)}, never Ready"]
    if probe is not None:
        facts.append(
            f"readiness probe {probe.handler} delay={probe.initial_delay_seconds}s "
            f"period={probe.period_seconds}s #failure={probe.failure_threshold}".replace("  ", " ")
        )
    facts += [f"event {event_text(e)}" for e in failures[-3:]]
    held = owner_facts(ev)
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
        unseen_of(ev, "" if failures else "the probe's failure messages (no Unhealthy events)"),
    )


def pending_verdict(ev: Evidence) -> Verdict | None:
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
                unseen_of(ev),
            )
    return None

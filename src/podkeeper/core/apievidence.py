"""Evidence records from Kubernetes API objects (issue 15): pure, over plain dicts.

A client (api/remote.py for any cluster, the local CLI for podkeeper's own
agent) fetches the objects; this module reads them into `core.evidence`
records: the pod's container status (state, lastState, exit code, reason,
restart count, times), its spec (limits, requests, probes, the ConfigMaps and
Secrets it reads), its events, the node's conditions and events, the owners'
conditions and metrics.k8s.io usage. The API's only record of *why* the kubelet
killed a container is its `Killing` event (`kuberuntime_manager.go`
computePodActions: `Container %s failed liveness probe, will be restarted`,
`killContainer`'s default `Stopping container %s`): it is read here, once, into
`Kill.killed_by`, so that the verdict rules never look at message text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

from podkeeper.core import evidence as E
from podkeeper.core.evidence import (
    Condition,
    EventRecord,
    Evidence,
    Kill,
    ObjectRef,
    Owner,
    ProbeConfig,
    Resources,
    Termination,
)

Obj = Mapping[str, Any]

#: What the Kubernetes API never shows, whatever the cluster (said in every cluster verdict
#: that would have used it).
CLUSTER_UNSEEN = ("the instance's memory peak and OOM-kill counter (no API carries them)",)

_SUFFIX: dict[str, int | Fraction] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def quantity(raw: Any) -> Fraction | None:
    """A resource quantity (`128Mi`, `0.5`, `500m`, `1e3`) as a number; None if unparsable
    (apimachinery `pkg/api/resource/quantity.go` suffixes)."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return Fraction(raw)
    found = _QUANTITY.match(str(raw).strip())
    if not found:
        return None
    number, suffix = found.groups()
    try:
        value = Fraction(number)
    except ValueError:
        return None
    if suffix is None:
        return value
    if suffix[0] in "eE" and len(suffix) > 1:
        return value * Fraction(10) ** int(suffix[1:])
    return value * _SUFFIX[suffix]


def _bytes(raw: Any) -> int | None:
    q = quantity(raw)
    return None if q is None else int(q)


def _milli(raw: Any) -> int | None:
    q = quantity(raw)
    return None if q is None else int(q * 1000)


def parse_time(value: Any) -> float | None:
    """RFC 3339 (`2026-12-05T08:00:00Z`, with fractions) as epoch seconds; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def event_record(ev: Obj) -> EventRecord:
    """A `v1 Event` (core/v1 or events.k8s.io shapes) as an EventRecord."""
    inv = _d(ev.get("involvedObject") or ev.get("regarding"))
    series = _d(ev.get("series"))
    count = ev.get("count") or series.get("count") or 1
    last = parse_time(ev.get("lastTimestamp")) or parse_time(series.get("lastObservedTime"))
    first = parse_time(ev.get("firstTimestamp")) or parse_time(ev.get("eventTime"))
    return EventRecord(
        reason=str(ev.get("reason") or ""),
        message=str(ev.get("message") or ev.get("note") or ""),
        type=str(ev.get("type") or "Normal"),
        count=int(count) if isinstance(count, int) else 1,
        first_time=first if first is not None else last,
        last_time=last if last is not None else first,
        field_path=str(inv.get("fieldPath") or ""),
        kind=str(inv.get("kind") or ""),
        name=str(inv.get("name") or ""),
    )


def _sorted_events(events: Iterable[Obj]) -> tuple[EventRecord, ...]:
    records = [event_record(e) for e in events]
    return tuple(sorted(records, key=lambda e: (e.last_time or 0.0, e.first_time or 0.0)))


def condition(c: Obj) -> Condition:
    return Condition(
        str(c.get("type") or ""),
        str(c.get("status") or ""),
        str(c.get("reason") or ""),
        str(c.get("message") or ""),
        parse_time(c.get("lastTransitionTime")),
    )


def owner(obj: Obj) -> Owner:
    """An owner object (ReplicaSet, Deployment, StatefulSet, Job, DaemonSet) as an Owner."""
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    replicas = spec.get("replicas")
    return Owner(
        str(obj.get("kind") or ""),
        str(_d(obj.get("metadata")).get("name") or ""),
        tuple(condition(c) for c in _l(status.get("conditions")) if isinstance(c, dict)),
        replicas if isinstance(replicas, int) else None,
        status.get("readyReplicas") if isinstance(status.get("readyReplicas"), int) else None,
        spec.get("progressDeadlineSeconds")
        if isinstance(spec.get("progressDeadlineSeconds"), int)
        else None,
        spec.get("backoffLimit") if isinstance(spec.get("backoffLimit"), int) else None,
    )


def _handler(probe: Obj) -> str:
    """The probe's action as `kubectl describe` prints it."""
    http = _d(probe.get("httpGet"))
    if http:
        scheme = str(http.get("scheme") or "HTTP").lower()
        host, port, path = http.get("host") or "", http.get("port"), http.get("path") or "/"
        return f"http-get {scheme}://{host}:{port}{path}"
    tcp = _d(probe.get("tcpSocket"))
    if tcp:
        return f"tcp-socket {tcp.get('host') or ''}:{tcp.get('port')}"
    grpc = _d(probe.get("grpc"))
    if grpc:
        return f"grpc <pod>:{grpc.get('port')} {grpc.get('service') or ''}".rstrip()
    command = _l(_d(probe.get("exec")).get("command"))
    return f"exec [{' '.join(str(c) for c in command)}]" if command else ""


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def probe_config(probe_type: str, probe: Obj) -> ProbeConfig:
    """A probe of a container spec with the API's defaults (timeout 1, period 10, success 1,
    failure 3)."""
    return ProbeConfig(
        probe_type,
        _handler(probe),
        _int(probe.get("initialDelaySeconds"), 0),
        _int(probe.get("timeoutSeconds"), 1),
        _int(probe.get("periodSeconds"), 10),
        _int(probe.get("successThreshold"), 1),
        _int(probe.get("failureThreshold"), 3),
    )


def _refs(spec: Obj, container: Obj) -> tuple[ObjectRef, ...]:
    """The ConfigMaps and Secrets the container reads: env valueFrom, envFrom, and the pod's
    volumes it mounts (configMap, secret, projected sources)."""
    out: list[ObjectRef] = []
    for env in _l(container.get("env")):
        src = _d(_d(env).get("valueFrom"))
        for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = _d(src.get(key))
            if ref.get("name"):
                out.append(
                    ObjectRef(
                        kind,
                        str(ref["name"]),
                        str(ref.get("key") or ""),
                        bool(ref.get("optional")),
                        f"env {env.get('name')}",
                    )
                )
    for env_from in _l(container.get("envFrom")):
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = _d(_d(env_from).get(key))
            if ref.get("name"):
                out.append(
                    ObjectRef(kind, str(ref["name"]), "", bool(ref.get("optional")), "envFrom")
                )
    mounted = {str(_d(m).get("name")) for m in _l(container.get("volumeMounts"))}
    for vol in _l(spec.get("volumes")):
        vol = _d(vol)
        if vol.get("name") not in mounted:
            continue
        sources = [vol, *(_d(s) for s in _l(_d(vol.get("projected")).get("sources")))]
        for src in sources:
            cm, secret = _d(src.get("configMap")), _d(src.get("secret"))
            via = f"volume {vol.get('name')}"
            if cm.get("name"):
                out.append(
                    ObjectRef("ConfigMap", str(cm["name"]), "", bool(cm.get("optional")), via)
                )
            name = secret.get("secretName") or secret.get("name")
            if name:
                out.append(ObjectRef("Secret", str(name), "", bool(secret.get("optional")), via))
    return tuple(out)


def _termination(state: Obj) -> Termination | None:
    t = _d(state.get("terminated"))
    if not t or not isinstance(t.get("exitCode"), int):
        return None
    started, finished = parse_time(t.get("startedAt")), parse_time(t.get("finishedAt"))
    signal = t.get("signal")
    return Termination(
        exit_code=int(t["exitCode"]),
        reason=str(t.get("reason") or ""),
        signal=signal if isinstance(signal, int) and signal else None,
        message=str(t.get("message") or ""),
        started_at=started,
        finished_at=finished,
        run_seconds=finished - started if started is not None and finished is not None else None,
    )


def _kill_cause(e: EventRecord) -> str | None:
    """The Killing event's message, read once into `killed_by` (kuberuntime_manager.go)."""
    text = e.message
    for probe in (E.LIVENESS, E.STARTUP):
        if f"failed {probe} probe" in text:
            return probe
    if text.startswith("Stopping container"):
        return E.STOP
    if "FailedPostStartHook" in text:
        return E.POST_START
    return None


def _container_events(events: Sequence[EventRecord], name: str, init: bool) -> list[EventRecord]:
    path = f"spec.{'initContainers' if init else 'containers'}{{{name}}}"
    return [e for e in events if e.field_path == path]


def _kill(
    events: Sequence[EventRecord],
    term: Termination | None,
    grace: int,
    probes: Obj,
    next_started: float | None,
) -> tuple[Kill | None, str | None]:
    """The kubelet's Killing event for the explained instance, and what could not be read.

    Identical events are aggregated (client-go's EventCorrelator: one event, `count`
    raised, `lastTimestamp` moved): once the next instance was killed too, the event's
    time is that later kill's. Then the cause is still known (the same message), but not
    when this instance was asked to stop. `next_started` is the start of the instance after
    the explained one (None when it is the current one)."""
    if term is None:
        return None, None
    found: EventRecord | None = None
    requested: float | None = None
    for e in events:
        if e.reason != "Killing":
            continue
        last, first = e.last_time, e.first_time
        if last is not None and term.started_at is not None and last < term.started_at - 1:
            continue  # every kill of this message came before the instance started
        if first is not None and term.finished_at is not None and first > term.finished_at + 1:
            continue  # every kill came after it ended
        later = next_started is not None and last is not None and last >= next_started
        after_end = (
            last is not None and term.finished_at is not None and last > term.finished_at + 1
        )
        if (later or after_end) and (e.count <= 1 or first is None or first >= (next_started or 0)):
            continue
        found = e
        requested = None if later or after_end else last
    if found is None:
        return None, None
    cause = _kill_cause(found)
    # A probe's own terminationGracePeriodSeconds overrides the pod's for its kill
    # (KEP-2238, `pkg/kubelet/kuberuntime/kuberuntime_container.go` killContainer).
    probe = _d(probes.get(f"{cause}Probe")) if cause in (E.LIVENESS, E.STARTUP) else {}
    own = probe.get("terminationGracePeriodSeconds")
    note = None
    if requested is None:
        note = (
            "when this instance was asked to stop: its Killing event was aggregated with a "
            f"later one (x{found.count}, last at the next instance's kill)"
        )
    return Kill(cause, found.message, own if isinstance(own, int) else grace, requested), note


def _probe_output(events: Sequence[EventRecord], cause: str | None) -> str | None:
    """The last failing probe's output from its Unhealthy event (`%s probe failed: %s`)."""
    if cause not in (E.LIVENESS, E.STARTUP):
        return None
    head = f"{cause.capitalize()} probe failed: "
    for e in reversed(events):
        if e.reason == "Unhealthy" and e.message.startswith(head):
            return e.message[len(head) :].strip()
    return None


def pick_container(pod: Obj, container: str | None = None) -> tuple[str, bool] | None:
    """The container to explain (name, is-init): `container` if given, else the first that
    terminated, waits for a reason, or is not ready; else the first container."""
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    statuses = [(s, False) for s in _l(status.get("containerStatuses"))]
    statuses += [(s, True) for s in _l(status.get("initContainerStatuses"))]
    names = [(str(_d(c).get("name")), False) for c in _l(spec.get("containers"))]
    names += [(str(_d(c).get("name")), True) for c in _l(spec.get("initContainers"))]
    if container is not None:
        return next(((n, i) for n, i in names if n == container), None)
    for s, init in statuses:
        s = _d(s)
        state, last = _d(s.get("state")), _d(s.get("lastState"))
        if "terminated" in last or ("terminated" in state and not init):
            return str(s.get("name")), init
        if _d(state.get("waiting")).get("reason") not in (None, "", "PodInitializing"):
            return str(s.get("name")), init
    for s, init in statuses:
        s = _d(s)
        if not init and s.get("ready") is False:
            return str(s.get("name")), init
    return names[0] if names else None


def explained_instance(pod: Obj, container: str) -> str | None:
    """Which instance a verdict explains: "current" (it has terminated and not restarted),
    "previous" (lastState), or None (nothing terminated yet). Says which logs to read."""
    for s in _l(_d(pod.get("status")).get("containerStatuses")) + _l(
        _d(pod.get("status")).get("initContainerStatuses")
    ):
        s = _d(s)
        if s.get("name") != container:
            continue
        if "terminated" in _d(s.get("state")):
            return "current"
        if "terminated" in _d(s.get("lastState")):
            return "previous"
    return None


def current_state_of(state: Obj) -> Any:
    """The start time of the current instance (running `startedAt`), if it runs."""
    return _d(state.get("running")).get("startedAt")


def from_api(
    pod: Obj,
    container: str,
    *,
    events: Iterable[Obj] = (),
    node: Obj | None = None,
    node_events: Iterable[Obj] = (),
    owners: Iterable[Obj] = (),
    log_tail: Sequence[str] = (),
    metrics: Obj | None = None,
    unseen: Iterable[str] = (),
    source: str = "cluster",
    actor: str = "the kubelet",
) -> Evidence:
    """The evidence record of `container` in `pod`, from API objects: the pod, its events
    (any order; only the pod's are read), its node and the node's events, the owner chain
    (nearest first), the explained instance's log tail, its PodMetrics and what the
    gatherer could not fetch (`unseen`)."""
    meta, spec, status = _d(pod.get("metadata")), _d(pod.get("spec")), _d(pod.get("status"))
    init = not any(_d(c).get("name") == container for c in _l(spec.get("containers")))
    cspec = next(
        (
            _d(c)
            for c in _l(spec.get("initContainers" if init else "containers"))
            if _d(c).get("name") == container
        ),
        {},
    )
    cstatus = next(
        (
            _d(s)
            for s in _l(status.get("initContainerStatuses" if init else "containerStatuses"))
            if _d(s).get("name") == container
        ),
        {},
    )
    state, last = _d(cstatus.get("state")), _d(cstatus.get("lastState"))
    term = _termination(state) or _termination(last)
    pod_events = _sorted_events(
        e
        for e in events
        if _d(e.get("involvedObject") or e.get("regarding")).get("kind") in ("Pod", None)
    )
    mine = _container_events(pod_events, container, init)
    grace = _int(spec.get("terminationGracePeriodSeconds"), 30)
    explained_current = _termination(state) is not None
    next_started = None if explained_current else parse_time(current_state_of(state))
    kill, note = _kill(mine, term, grace, cspec, next_started)
    if note is not None:
        unseen = (*unseen, note)
    current = next(iter(state), "")
    current_state = _d(state.get(current)) if current else {}
    res = _d(cspec.get("resources"))
    limits, requests = _d(res.get("limits")), _d(res.get("requests"))
    usage: Obj = {}
    for c in _l(_d(metrics).get("containers")):
        if _d(c).get("name") == container:
            usage = _d(_d(c).get("usage"))
    probes = tuple(
        probe_config(kind, _d(cspec.get(f"{kind}Probe")))
        for kind in ("liveness", "readiness", "startup")
        if cspec.get(f"{kind}Probe")
    )
    env = tuple(
        (str(e.get("name")), str(e.get("value")))
        for e in (_d(x) for x in _l(cspec.get("env")))
        if isinstance(e.get("value"), str)
    )
    restart = cstatus.get("restartCount")
    node_name = str(spec.get("nodeName") or "")
    return Evidence(
        container=container,
        pod=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or "default"),
        source=source,
        actor=actor,
        image=str(cspec.get("image") or cstatus.get("image") or ""),
        state=current,
        state_reason=str(current_state.get("reason") or ""),
        state_message=str(current_state.get("message") or ""),
        state_since=parse_time(current_state.get("startedAt")),
        ready=cstatus.get("ready") if isinstance(cstatus.get("ready"), bool) else None,
        started=cstatus.get("started") if isinstance(cstatus.get("started"), bool) else None,
        restart_count=restart if isinstance(restart, int) else 0,
        termination=term,
        kill=kill,
        probe_output=_probe_output(mine, kill.killed_by if kill else None),
        resources=Resources(
            memory_limit=_bytes(limits.get("memory")),
            memory_request=_bytes(requests.get("memory")),
            cpu_limit_milli=_milli(limits.get("cpu")),
            cpu_request_milli=_milli(requests.get("cpu")),
            memory_usage=_bytes(usage.get("memory")),
            cpu_usage_milli=_milli(usage.get("cpu")),
        ),
        probes=probes,
        grace_period_seconds=grace,
        argv=tuple(str(a) for a in _l(cspec.get("command")) + _l(cspec.get("args"))),
        env=env,
        refs=_refs(spec, cspec),
        events=pod_events,
        log_tail=tuple(log_tail),
        pod_phase=str(status.get("phase") or ""),
        pod_reason=str(status.get("reason") or ""),
        pod_message=str(status.get("message") or ""),
        pod_conditions=tuple(
            condition(c) for c in _l(status.get("conditions")) if isinstance(c, dict)
        ),
        pod_created=parse_time(meta.get("creationTimestamp")),
        node=node_name,
        node_conditions=tuple(
            condition(c)
            for c in _l(_d(_d(node).get("status")).get("conditions"))
            if isinstance(c, dict)
        ),
        node_events=_sorted_events(node_events),
        owners=tuple(owner(o) for o in owners),
        unseen=tuple(unseen),
    )

"""Which pods are unhealthy, and how badly (issue 15, `podkeeper triage`): pure, over the
objects of a few list calls (pods, events, nodes, owners), never one request per pod.

A pod is unhealthy when it failed, a container is restarting (a termination in
the last `RECENT_SECONDS` or CrashLoopBackOff), waits for a reason other than
normal creation, runs without being Ready, or has been Pending longer than
`PENDING_TOO_LONG`. Each gets the one diagnosis engine's verdict
(core/verdict.py) over the evidence the lists hold (no logs: `explain` fetches them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podkeeper.core.apievidence import explained_instance, from_api, parse_time, pick_container
from podkeeper.core.verdict import Verdict, VerdictKind, diagnose

Obj = Mapping[str, Any]

#: A pod Pending (unscheduled or its containers not created) longer than this is stuck (s).
PENDING_TOO_LONG = 120.0
#: A restart whose termination finished within this is "restarting" now (s).
RECENT_SECONDS = 3600.0
#: A container Running but not Ready for longer than this is "not ready" (s); shorter is
#: a normal start-up.
NOT_READY_GRACE = 30.0

#: Lower sorts first: what destroys work and repeats, then what blocks starts, then the rest.
SEVERITY = {
    VerdictKind.OOM_NODE: 0,
    VerdictKind.OOM_LIMIT: 1,
    VerdictKind.EVICTED: 1,
    VerdictKind.CRASH_ON_START: 2,
    VerdictKind.LIVENESS: 2,
    VerdictKind.STARTUP: 2,
    VerdictKind.SIGTERM_IGNORED: 3,
    VerdictKind.KILLED: 3,
    VerdictKind.EXITED: 3,
    VerdictKind.START_ERROR: 3,
    VerdictKind.CONFIG_ERROR: 3,
    VerdictKind.IMAGE: 3,
    VerdictKind.POST_START: 3,
    VerdictKind.READINESS: 4,
    VerdictKind.UNSCHEDULABLE: 4,
    VerdictKind.WAITING: 5,
    VerdictKind.STOPPED: 6,
    VerdictKind.COMPLETED: 6,
    VerdictKind.HEALTHY: 7,
}

_NORMAL_WAITING = ("ContainerCreating", "PodInitializing", "")

TRIAGE_UNSEEN = "the previous container's log lines (triage lists only; `explain pod` reads them)"


@dataclass(frozen=True)
class Row:
    """One unhealthy pod: what is wrong with it (`problem`), its worst container's verdict,
    and a sort key."""

    namespace: str
    pod: str
    container: str
    problem: str
    restarts: int
    verdict: Verdict

    @property
    def severity(self) -> int:
        return SEVERITY.get(self.verdict.kind, 5)


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def problem(pod: Obj, now: float) -> str | None:
    """Why `pod` is unhealthy at `now` (epoch s): "failed", "restarting", "waiting: R",
    "not ready", "pending", or None when it is healthy (or finished well)."""
    meta, status = _d(pod.get("metadata")), _d(pod.get("status"))
    phase = status.get("phase")
    if phase == "Succeeded" or meta.get("deletionTimestamp"):
        return None
    if phase == "Failed":
        return "failed"
    statuses = [_d(s) for s in status.get("containerStatuses") or []]
    statuses += [_d(s) for s in status.get("initContainerStatuses") or []]
    for s in statuses:
        waiting = _d(_d(s.get("state")).get("waiting"))
        if waiting.get("reason") == "CrashLoopBackOff":
            return "restarting"
        ended = _d(_d(s.get("lastState")).get("terminated"))
        finished = parse_time(ended.get("finishedAt"))
        recent = finished is not None and now - finished <= RECENT_SECONDS
        if (s.get("restartCount") or 0) > 0 and recent:
            return "restarting"
    for s in statuses:
        reason = _d(_d(s.get("state")).get("waiting")).get("reason") or ""
        if reason not in _NORMAL_WAITING:
            return f"waiting: {reason}"
    created = parse_time(meta.get("creationTimestamp"))
    age = now - created if created is not None else 0.0
    if phase == "Pending" or phase is None:
        return "pending" if age > PENDING_TOO_LONG else None
    if phase == "Running":
        for s in statuses:
            if s.get("ready") is False and "running" in _d(s.get("state")):
                since = parse_time(_d(_d(s.get("state")).get("running")).get("startedAt"))
                if since is None or now - since > NOT_READY_GRACE:
                    return "not ready"
    return None


def _uid(obj: Obj) -> str:
    return str(_d(obj.get("metadata")).get("uid") or "")


def _owner_chain(pod: Obj, owners: Mapping[tuple[str, str, str], Obj]) -> list[Obj]:
    """The pod's controller chain (ReplicaSet then Deployment, or StatefulSet, Job, ...)
    from the listed owner objects, nearest first."""
    chain: list[Obj] = []
    obj = pod
    for _ in range(4):
        ns = str(_d(obj.get("metadata")).get("namespace") or "")
        refs = _d(obj.get("metadata")).get("ownerReferences") or []
        ref = next((_d(r) for r in refs if _d(r).get("controller")), None)
        if ref is None:
            break
        found = owners.get((str(ref.get("kind")), ns, str(ref.get("name"))))
        if found is None:
            break
        chain.append(found)
        obj = found
    return chain


def triage(
    pods: Iterable[Obj],
    events: Iterable[Obj],
    nodes: Iterable[Obj],
    owners: Iterable[Obj],
    now: float,
    unseen: Iterable[str] = (),
    actor: str = "the kubelet",
    metrics: Mapping[tuple[str, str], Obj] | None = None,
) -> list[Row]:
    """The unhealthy pods among `pods`, each with its verdict, most severe first."""
    by_uid: dict[str, list[Obj]] = defaultdict(list)
    by_node: dict[str, list[Obj]] = defaultdict(list)
    for e in events:
        inv = _d(e.get("involvedObject") or e.get("regarding"))
        if inv.get("kind") == "Node":
            by_node[str(inv.get("name"))].append(e)
        elif inv.get("uid"):
            by_uid[str(inv["uid"])].append(e)
    node_map = {str(_d(n.get("metadata")).get("name")): n for n in nodes}
    owner_map = {
        (
            str(o.get("kind")),
            str(_d(o.get("metadata")).get("namespace") or ""),
            str(_d(o.get("metadata")).get("name")),
        ): o
        for o in owners
    }
    extra = (*unseen, TRIAGE_UNSEEN)
    rows: list[Row] = []
    for pod in pods:
        why = problem(pod, now)
        if why is None:
            continue
        meta = _d(pod.get("metadata"))
        picked = pick_container(pod)
        ns, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
        if picked is None:
            continue
        container = picked[0]
        node_name = str(_d(pod.get("spec")).get("nodeName") or "")
        ev = from_api(
            pod,
            container,
            events=by_uid.get(_uid(pod), ()),
            node=node_map.get(node_name),
            node_events=by_node.get(node_name, ()),
            owners=_owner_chain(pod, owner_map),
            metrics=(metrics or {}).get((ns, name)),
            unseen=extra if explained_instance(pod, container) else unseen,
            actor=actor,
        )
        restarts = sum(
            int(_d(s).get("restartCount") or 0)
            for s in _d(pod.get("status")).get("containerStatuses") or []
        )
        rows.append(Row(ns, name, container, why, restarts, diagnose(ev)))
    rows.sort(key=lambda r: (r.severity, -r.restarts, r.namespace, r.pod))
    return rows

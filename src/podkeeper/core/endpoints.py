"""A Service's endpoints from pod snapshots, as the endpoints controllers compute them.

Pure: plain dicts in (a `v1 Service`, `v1 Pod` snapshots), plain data out.

- `endpoints_object` is `v1 Endpoints` as kube-controller-manager's endpoints
  controller writes it (`pkg/controller/endpoint/endpoints_controller.go`
  `syncService`): a pod takes part when `ShouldPodBeInEndpoints` (an IP, not in
  a terminal phase, not terminating unless `publishNotReadyAddresses`); a Ready
  pod goes to `addresses`, the rest to `notReadyAddresses`; each service port
  is resolved per pod with `podutil.FindPort`, and the subsets are repacked
  by identical port sets (`endpoints.RepackSubsets`).
- `endpoint_entries` are EndpointSlice endpoints with the conditions the
  EndpointSlice controller sets (`staging/src/k8s.io/endpointslice/utils.go`
  `podToEndpoint`): ready = Ready and not terminating, serving = Ready
  regardless of termination, terminating = deletionTimestamp set. Terminating
  pods stay in slices (that is how a proxy learns to drain them) but leave
  `v1 Endpoints`.

The load balancer routes new connections to entries that are `ready` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, order=True)
class EndpointPort:
    """One resolved port of an endpoint: the service port's name, the pod's port number."""

    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class EndpointEntry:
    """One pod behind a Service, with EndpointSlice conditions and its resolved ports."""

    ip: str
    pod_name: str
    namespace: str
    pod_uid: str
    ready: bool
    serving: bool
    terminating: bool
    ports: tuple[EndpointPort, ...] = field(default=())

    def port(self, name: str) -> int | None:
        """The pod port for the service port named `name` (`""` for an unnamed port)."""
        for p in self.ports:
            if p.name == name:
                return p.port
        return None


def selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """A Service's equality selector against pod labels; an empty/absent selector selects
    nothing (a Service without a selector has manually managed endpoints)."""
    if not selector:
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def _meta(obj: Obj) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _status(obj: Obj) -> Obj:
    s = obj.get("status")
    return s if isinstance(s, dict) else {}


def _spec(obj: Obj) -> Obj:
    s = obj.get("spec")
    return s if isinstance(s, dict) else {}


def pod_ready(pod: Obj) -> bool:
    """`podutil.IsPodReady`: the Ready condition is True."""
    for cond in _status(pod).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_terminating(pod: Obj) -> bool:
    """The pod has a deletionTimestamp (EndpointSlice `terminating`)."""
    return bool(_meta(pod).get("deletionTimestamp"))


def pod_ip(pod: Obj) -> str:
    """`status.podIP`, or "" while the pod has none."""
    return str(_status(pod).get("podIP") or "")


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """`endpointutil.ShouldPodBeInEndpoints`: an IP, not terminal, terminating only if asked."""
    if not pod_ip(pod):
        return False
    if _status(pod).get("phase") in TERMINAL_PHASES:
        return False
    return include_terminating or not pod_terminating(pod)


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """`podutil.FindPort`: a numeric targetPort as is; a named one is looked up among the
    containers' ports with that name and the service port's protocol (first match wins)."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol") or "TCP"
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str):
        if target.isdigit():  # intstr from YAML "8080": the API server would store an int
            return int(target)
        for container in _spec(pod).get("containers") or ():
            for p in container.get("ports") or ():
                if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                    number = p.get("containerPort")
                    return number if isinstance(number, int) else None
    return None


def _ports(service: Obj, pod: Obj) -> tuple[EndpointPort, ...]:
    out = []
    for sp in _spec(service).get("ports") or ():
        number = find_port(pod, sp)
        if number is not None:
            out.append(EndpointPort(str(sp.get("name") or ""), number, sp.get("protocol") or "TCP"))
    return tuple(out)


def endpoint_entries(service: Obj, pods: Iterable[Obj]) -> list[EndpointEntry]:
    """The EndpointSlice view of `service` over `pods` (already filtered to its namespace or
    not: pods of other namespaces are skipped), sorted by pod name for stable output."""
    spec = _spec(service)
    selector = spec.get("selector")
    namespace = _meta(service).get("namespace", "default")
    out = []
    for pod in pods:
        meta = _meta(pod)
        if meta.get("namespace", "default") != namespace:
            continue
        if not selector_matches(selector, meta.get("labels") or {}):
            continue
        # The EndpointSlice controller keeps terminating pods (with their conditions).
        if not should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        ready = pod_ready(pod)
        terminating = pod_terminating(pod)
        out.append(
            EndpointEntry(
                ip=pod_ip(pod),
                pod_name=str(meta.get("name", "")),
                namespace=namespace,
                pod_uid=str(meta.get("uid", "")),
                # utils.go podToEndpoint: Ready = serving && !terminating; with
                # publishNotReadyAddresses every endpoint is reported ready.
                ready=(ready and not terminating) or bool(spec.get("publishNotReadyAddresses")),
                serving=ready or bool(spec.get("publishNotReadyAddresses")),
                terminating=terminating,
                ports=_ports(service, pod),
            )
        )
    out.sort(key=lambda e: (e.pod_name, e.ip))
    return out


def _address(entry: EndpointEntry, node_name: str | None) -> Obj:
    addr: Obj = {
        "ip": entry.ip,
        "targetRef": {
            "kind": "Pod",
            "namespace": entry.namespace,
            "name": entry.pod_name,
            "uid": entry.pod_uid,
        },
    }
    if node_name:
        addr["nodeName"] = node_name
    return addr


def endpoints_subsets(
    service: Obj, entries: Iterable[EndpointEntry], node_name: str | None = None
) -> list[Obj]:
    """`v1 Endpoints.subsets` from slice entries: terminating pods leave (unless
    publishNotReadyAddresses), Ready pods go to `addresses`, others to
    `notReadyAddresses`; subsets grouped by identical port lists (RepackSubsets),
    addresses sorted by IP as `endpoints.SortSubsets` does."""
    publish = bool(_spec(service).get("publishNotReadyAddresses"))
    groups: dict[tuple[EndpointPort, ...], tuple[list[Obj], list[Obj]]] = {}
    for e in entries:
        if e.terminating and not publish:
            continue
        if not e.ports:
            continue  # FindPort failed for every port: the controller skips the pod
        ready, not_ready = groups.setdefault(e.ports, ([], []))
        (ready if e.serving or publish else not_ready).append(_address(e, node_name))
    subsets = []
    for ports, (ready, not_ready) in sorted(groups.items()):
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        subset["ports"] = [
            {"name": p.name, "port": p.port, "protocol": p.protocol}
            if p.name
            else {"port": p.port, "protocol": p.protocol}
            for p in sorted(ports, key=lambda p: (p.name, p.port))
        ]
        subsets.append(subset)
    return subsets


def endpoints_object(
    service: Obj, entries: Iterable[EndpointEntry], node_name: str | None = None
) -> Obj:
    """The `v1 Endpoints` object named after the Service (labels copied, as the controller
    does), with `subsets` from `endpoints_subsets`."""
    meta = _meta(service)
    out: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", "default"),
            "labels": dict(meta.get("labels") or {}),
        },
    }
    subsets = endpoints_subsets(service, entries, node_name)
    if subsets:
        out["subsets"] = subsets
    return out


def slice_endpoints(entries: Iterable[EndpointEntry]) -> list[Obj]:
    """EndpointSlice `endpoints[]` (addresses, conditions, targetRef) for display."""
    return [
        {
            "addresses": [e.ip],
            "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
            "targetRef": {"kind": "Pod", "namespace": e.namespace, "name": e.pod_name},
        }
        for e in entries
    ]


def ready_backends(entries: Iterable[EndpointEntry], port_name: str) -> list[tuple[str, int]]:
    """(ip, port) of the entries a proxy may route new connections to for one service port:
    `ready` only (kube-proxy's `CategorizeEndpoints`: ready endpoints when there are any; the
    terminating-serving fallback applies only with no ready endpoint at all, and only to
    externalTrafficPolicy Local, which podkeeper does not have)."""
    out = []
    for e in entries:
        if not e.ready:
            continue
        number = e.port(port_name)
        if number is not None:
            out.append((e.ip, number))
    return out

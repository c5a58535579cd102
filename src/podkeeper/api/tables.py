"""Server-side printing: `meta.k8s.io/v1 Table` rows with kubectl's columns (issue 11).

kubectl asks for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` and
prints the cells as they come, so these functions are the kube-apiserver's
printers: `pkg/printers/internalversion/printers.go` (`printPod`,
`printDeployment`, `printService`, `printEndpoints`, `printEvent`,
`printNode`, `printNamespace`, `printReplicaSet`). The server always renders
the wide columns (`GenerateOptions{Wide: true}`); kubectl drops the ones with
priority 1 unless `-o wide`. Pure functions of the object and `now` (epoch s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podkeeper.api.selectors import format_selector
from podkeeper.core.duration import human_duration

Obj = dict[str, Any]
Cell = str | int


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    priority: int = 0
    format: str = ""
    description: str = ""

    def definition(self) -> Obj:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


Printer = Callable[[Obj, float], list[Cell]]

_NAME = Column("Name", format="name", description="Name must be unique within a namespace.")
_AGE = Column(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this object "
    "was created.",
)


def epoch(ts: Any) -> float | None:
    """RFC 3339 → epoch seconds (None when absent or unparsable)."""
    if not ts or not isinstance(ts, str):
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def since(ts: Any, now: float) -> str:
    """printers.go translateTimestampSince: `<unknown>` for a zero time."""
    t = epoch(ts)
    return "<unknown>" if t is None else human_duration(now - t)


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _age(obj: Obj, now: float) -> str:
    return since(_meta(obj).get("creationTimestamp"), now)


# -- pods -----------------------------------------------------------------

POD_COLUMNS = (
    _NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and "
        "when the last container in this pod has restarted.",
    ),
    _AGE,
    Column("IP", priority=1, description="podIP address allocated to the pod."),
    Column(
        "Node", priority=1, description="NodeName indicates in which node this pod is scheduled."
    ),
    Column(
        "Nominated Node",
        priority=1,
        description="nominatedNodeName is set only when this pod preempts other pods on the node.",
    ),
    Column(
        "Readiness Gates",
        priority=1,
        description="If specified, all readiness gates will be evaluated for pod readiness.",
    ),
)


def pod_status_word(pod: Obj) -> tuple[str, int, int, float | None]:
    """(STATUS, ready containers, restarts, last restart epoch) as printPod computes them."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    restarts = 0
    ready = 0
    last: float | None = None

    def note_last(cs: Obj) -> None:
        nonlocal last
        term = ((cs.get("lastState") or {}).get("terminated")) or {}
        t = epoch(term.get("finishedAt"))
        if t is not None and (last is None or t > last):
            last = t

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount") or 0)
        note_last(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        sidecar = (init_specs.get(cs.get("name")) or {}).get("restartPolicy") == "Always"
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started"):
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + str(term["reason"])
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts = 0
        last = None
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            note_last(cs)
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term and term.get("reason"):
                reason = str(term["reason"])
            elif term is not None:
                reason = (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode', 0)}"
                )
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            has_ready = any(c.get("type") == "Ready" for c in status.get("conditions") or [])
            reason = "Running" if has_ready else "NotReady"
    if _meta(pod).get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, restarts, last


def print_pod(pod: Obj, now: float) -> list[Cell]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    reason, ready, restarts, last = pod_status_word(pod)
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text = f"{restarts} ({human_duration(now - last)} ago)"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else None) or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        true = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_text = f"{true}/{len(gates)}"
    return [
        str(_meta(pod).get("name", "")),
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        restarts_text,
        _age(pod, now),
        ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


# -- workloads ------------------------------------------------------------

_WORKLOAD_WIDE = (
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column(
        "Images", priority=1, description="Images referenced by each container in the template."
    ),
    Column("Selector", priority=1, description="Label selector for pods."),
)

DEPLOYMENT_COLUMNS = (
    _NAME,
    Column("Ready", description="Number of the pod with ready state"),
    Column(
        "Up-to-date",
        type="integer",
        description=(
            "Total number of non-terminated pods targeted by this deployment that "
            "have the desired template spec."
        ),
    ),
    Column(
        "Available",
        type="integer",
        description=(
            "Total number of available pods (ready for at least minReadySeconds) "
            "targeted by this deployment."
        ),
    ),
    _AGE,
    *_WORKLOAD_WIDE,
)


def _template_wide(obj: Obj) -> list[Cell]:
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_selector(spec.get("selector")),
    ]


def print_deployment(d: Obj, now: float) -> list[Cell]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    return [
        str(_meta(d).get("name", "")),
        f"{int(status.get('readyReplicas') or 0)}/{desired}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        _age(d, now),
        *_template_wide(d),
    ]


REPLICASET_COLUMNS = (
    _NAME,
    Column("Desired", type="integer", description="Number of desired pods."),
    Column("Current", type="integer", description="Number of actual pods."),
    Column("Ready", type="integer", description="The number of ready pods."),
    _AGE,
    *_WORKLOAD_WIDE,
)


def print_replicaset(rs: Obj, now: float) -> list[Cell]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    return [
        str(_meta(rs).get("name", "")),
        int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
        _age(rs, now),
        *_template_wide(rs),
    ]


# -- services and endpoints ----------------------------------------------

SERVICE_COLUMNS = (
    _NAME,
    Column("Type", description="type determines how the Service is exposed."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service."),
    Column(
        "External-IP",
        description=(
            "externalIPs is a list of IP addresses for which nodes in the cluster "
            "will also accept traffic for this service."
        ),
    ),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    _AGE,
    Column(
        "Selector",
        priority=1,
        description=(
            "Route service traffic to pods with label keys and values matching this selector."
        ),
    ),
)


def format_labels(labels: Any) -> str:
    """apimachinery labels.FormatLabels: `a=b,c=d` sorted by key, `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _external_ip(spec: Obj, status: Obj) -> str:
    kind = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        ingress = [
            str(i.get("ip") or i.get("hostname") or "")
            for i in (status.get("loadBalancer") or {}).get("ingress") or []
        ]
        found = [*ingress, *external]
        return ",".join(found) if found else "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    return "<unknown>"


def _ports(spec: Obj) -> str:
    parts = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            parts.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            parts.append(f"{p.get('port')}/{proto}")
    return ",".join(parts) if parts else "<none>"


def print_service(svc: Obj, now: float) -> list[Cell]:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    return [
        str(_meta(svc).get("name", "")),
        str(spec.get("type") or "ClusterIP"),
        str(spec.get("clusterIP") or "<none>"),
        _external_ip(spec, status),
        _ports(spec),
        _age(svc, now),
        format_labels(spec.get("selector")),
    ]


ENDPOINTS_COLUMNS = (
    _NAME,
    Column("Endpoints", description="Endpoints of the Service."),
    _AGE,
)


def format_endpoints(ep: Obj) -> str:
    """printers.go formatEndpoints: up to three `ip:port`, then `+ N more...`."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count, more, limit = 0, False, 3
    for ss in subsets:
        addresses = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(str(a.get("ip", "")))
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = str(a.get("ip", ""))
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def print_endpoints(ep: Obj, now: float) -> list[Cell]:
    return [str(_meta(ep).get("name", "")), format_endpoints(ep), _age(ep, now)]


ENDPOINTSLICE_COLUMNS = (
    _NAME,
    Column("AddressType", description="The IP protocol for this slice"),
    Column("Ports", description="The ports for this slice"),
    Column("Endpoints", description="The addresses of this slice"),
    _AGE,
)


def print_endpointslice(es: Obj, now: float) -> list[Cell]:
    """printers.go printEndpointSlice (formatDiscoveryPorts, formatDiscoveryEndpoints)."""
    ports = [str(p.get("port")) for p in es.get("ports") or [] if p.get("port") is not None]
    addresses = [str(a) for e in es.get("endpoints") or [] for a in e.get("addresses") or []]
    shown = ",".join(addresses[:3])
    if len(addresses) > 3:
        shown += f" + {len(addresses) - 3} more..."
    return [
        str(_meta(es).get("name", "")),
        str(es.get("addressType") or ""),
        ",".join(ports) if ports else "<unset>",
        shown or "<unset>",
        _age(es, now),
    ]


LEASE_COLUMNS = (
    _NAME,
    Column("Holder", description="The holder of the lease"),
    _AGE,
)


def print_lease(lease: Obj, now: float) -> list[Cell]:
    return [
        str(_meta(lease).get("name", "")),
        str((lease.get("spec") or {}).get("holderIdentity") or "<unknown>"),
        _age(lease, now),
    ]


# -- events ---------------------------------------------------------------

EVENT_COLUMNS = (
    Column(
        "Last Seen",
        description="The time at which the most recent occurrence of this event was recorded.",
    ),
    Column(
        "Type",
        description="Type of this event (Normal, Warning), new types could be added in the future.",
    ),
    Column(
        "Reason",
        description=(
            "This should be a short, machine understandable string that gives the "
            "reason for the transition into the object's current status."
        ),
    ),
    Column("Object", description="The object that this event is about."),
    Column("Subobject", priority=1, description="The field of the object this event is about."),
    Column("Source", priority=1, description="The component reporting this event."),
    Column("Message", description="A human-readable description of the status of this operation."),
    Column("First Seen", priority=1, description="The time at which the event was first recorded."),
    Column(
        "Count",
        type="integer",
        priority=1,
        description="The number of times this event has occurred.",
    ),
    Column(
        "Name", format="name", priority=1, description="Name must be unique within a namespace."
    ),
)


def print_event(ev: Obj, now: float) -> list[Cell]:
    first = since(ev.get("firstTimestamp") or ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = int(ev.get("count") or 0)
    if count > 1:
        last = f"{last} (x{count} over {first})"
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    return [
        last,
        str(ev.get("type") or ""),
        str(ev.get("reason") or ""),
        target,
        str(involved.get("fieldPath") or ""),
        f"{component}, {host}" if host else str(component),
        str(ev.get("message") or "").strip(),
        first,
        count,
        str(_meta(ev).get("name", "")),
    ]


# -- nodes and namespaces -------------------------------------------------

NODE_COLUMNS = (
    _NAME,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    _AGE,
    Column("Version", description="Kubelet Version reported by the node."),
    Column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
    Column("External-IP", priority=1, description="List of addresses reachable to the node."),
    Column(
        "OS-Image",
        priority=1,
        description=(
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."
        ),
    ),
    Column(
        "Kernel-Version",
        priority=1,
        description=(
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
        ),
    ),
    Column(
        "Container-Runtime",
        priority=1,
        description=(
            "ContainerRuntime Version reported by the node through runtime remote API"
            " (e.g. containerd://1.4.2)."
        ),
    ),
)


def print_node(node: Obj, now: float) -> list[Cell]:
    status = node.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    word = "Ready" if conds.get("Ready") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        word += ",SchedulingDisabled"
    labels = _meta(node).get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1]
        for k in labels
        if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]
    )
    addrs = status.get("addresses") or []

    def addr(kind: str) -> str:
        return next((str(a["address"]) for a in addrs if a.get("type") == kind), "<none>")

    info = status.get("nodeInfo") or {}
    return [
        str(_meta(node).get("name", "")),
        word,
        ",".join(roles) if roles else "<none>",
        _age(node, now),
        str(info.get("kubeletVersion") or ""),
        addr("InternalIP"),
        addr("ExternalIP"),
        str(info.get("osImage") or "<unknown>"),
        str(info.get("kernelVersion") or "<unknown>"),
        str(info.get("containerRuntimeVersion") or "<unknown>"),
    ]


NAMESPACE_COLUMNS = (
    _NAME,
    Column("Status", description="The status of the namespace"),
    _AGE,
)


def print_namespace(ns: Obj, now: float) -> list[Cell]:
    return [
        str(_meta(ns).get("name", "")),
        str((ns.get("status") or {}).get("phase") or "Active"),
        _age(ns, now),
    ]


CONFIGMAP_COLUMNS = (
    _NAME,
    Column("Data", type="integer", description="Data contains the configuration data."),
    _AGE,
)


def _count(obj: Obj, *fields: str) -> int:
    return sum(len(v) for f in fields if isinstance(v := obj.get(f), dict))


def print_configmap(cm: Obj, now: float) -> list[Cell]:
    """printers.go printConfigMap: DATA counts `data` and `binaryData` keys."""
    return [str(_meta(cm).get("name", "")), _count(cm, "data", "binaryData"), _age(cm, now)]


SECRET_COLUMNS = (
    _NAME,
    Column("Type", description="The type of secret"),
    Column("Data", type="integer", description="Data contains the secret data."),
    _AGE,
)


def print_secret(secret: Obj, now: float) -> list[Cell]:
    """printers.go printSecret: NAME TYPE DATA AGE (never a value)."""
    return [
        str(_meta(secret).get("name", "")),
        str(secret.get("type") or ""),
        _count(secret, "data"),
        _age(secret, now),
    ]


# pkg/printers/internalversion/printers.go runtimeClassColumnDefinitions.
RUNTIMECLASS_COLUMNS = (
    _NAME,
    Column("Handler", description="Handler specifies the underlying runtime and configuration."),
    _AGE,
)


def print_runtimeclass(rc: Obj, now: float) -> list[Cell]:
    return [str(_meta(rc).get("name", "")), str(rc.get("handler") or ""), _age(rc, now)]


DEFAULT_COLUMNS = (_NAME, _AGE)


def print_default(obj: Obj, now: float) -> list[Cell]:
    return [str(_meta(obj).get("name", "")), _age(obj, now)]


def table(
    columns: tuple[Column, ...],
    printer: Printer,
    objects: list[Obj],
    now: float,
    include: str,
    resource_version: str,
) -> Obj:
    """A `meta.k8s.io/v1 Table`; `include` is the request's includeObject (None/Metadata/Object)."""
    rows = []
    for obj in objects:
        row: Obj = {"cells": printer(obj, now)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": _meta(obj),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [c.definition() for c in columns],
        "rows": rows,
    }

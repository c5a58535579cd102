"""Table rows of the other kinds, as kubectl prints them (`printers.go`):
deployments, replicasets, services, endpoints, configmaps, secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podkeeper.cli._text import dicts, get, since

Obj = dict[str, Any]


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _name(obj: Obj) -> str:
    return str(get(obj, "metadata", "name") or "")


def _age(obj: Obj, now: datetime) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), now)


def _containers_cells(obj: Obj) -> tuple[str, str]:
    containers = dicts(get(obj, "spec", "template", "spec", "containers"))
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return names, images


def format_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`: `a=b,c in (d)`; `<none>` when empty."""
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in dicts(selector.get("matchExpressions")):
        op = str(expr.get("operator", ""))
        values = ",".join(str(v) for v in expr.get("values") or [])
        key = str(expr.get("key", ""))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "<none>"


def format_labels(labels: Any) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs; `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def deployment_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME READY UP-TO-DATE AVAILABLE AGE (+ CONTAINERS IMAGES SELECTOR)."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    desired = spec.get("replicas", 1)
    row = [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_int(desired)}",
        str(_int(status.get("updatedReplicas"))),
        str(_int(status.get("availableReplicas"))),
        _age(obj, now),
    ]
    if wide:
        row += [*_containers_cells(obj), format_selector(spec.get("selector"))]
    return row


def replicaset_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME DESIRED CURRENT READY AGE (+ CONTAINERS IMAGES SELECTOR)."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    row = [
        _name(obj),
        str(_int(spec.get("replicas", 1))),
        str(_int(status.get("replicas"))),
        str(_int(status.get("readyReplicas"))),
        _age(obj, now),
    ]
    if wide:
        row += [*_containers_cells(obj), format_selector(spec.get("selector"))]
    return row


def service_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE (+ SELECTOR)."""
    spec = obj.get("spec") or {}
    svc_type = str(spec.get("type") or "ClusterIP")
    external = ",".join(spec.get("externalIPs") or []) or "<none>"
    if svc_type == "ExternalName":
        external = str(spec.get("externalName") or "")
    elif svc_type == "LoadBalancer" and external == "<none>":
        external = "<pending>"
    ports = []
    for port in dicts(spec.get("ports")):
        proto = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            ports.append(f"{port.get('port')}:{port.get('nodePort')}/{proto}")
        else:
            ports.append(f"{port.get('port')}/{proto}")
    row = [
        _name(obj),
        svc_type,
        str(spec.get("clusterIP") or "<none>"),
        external,
        ",".join(ports) or "<none>",
        _age(obj, now),
    ]
    if wide:
        row.append(format_labels(spec.get("selector")))
    return row


def endpoints_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME ENDPOINTS AGE; at most 3 addresses then `+ N more...` (`formatEndpoints`)."""
    shown: list[str] = []
    count = 0
    for subset in dicts(obj.get("subsets")):
        for port in dicts(subset.get("ports")):
            for addr in dicts(subset.get("addresses")):
                if len(shown) < 3:
                    ip = str(addr.get("ip", ""))
                    host = f"[{ip}]" if ":" in ip else ip
                    shown.append(f"{host}:{port.get('port')}")
                count += 1
    text = ",".join(shown) if shown else "<none>"
    if count > 3:
        text = f"{text} + {count - 3} more..."
    return [_name(obj), text, _age(obj, now)]


def _keys(value: Any) -> int:
    return len(value) if isinstance(value, dict) else 0


def configmap_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME DATA AGE: DATA counts the keys of `data` and `binaryData` (`printConfigMap`)."""
    return [_name(obj), str(_keys(obj.get("data")) + _keys(obj.get("binaryData"))), _age(obj, now)]


def secret_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME TYPE DATA AGE (`printSecret`): never a value."""
    return [_name(obj), str(obj.get("type") or ""), str(_keys(obj.get("data"))), _age(obj, now)]


def _printer_row(kind: str) -> tuple[list[str], list[str], Any]:
    """Header, wide header and row function of a kind whose cells the API's printers give
    (api/tables_workloads.py): the same cells as `kubectl get` through the API."""
    from podkeeper.api import tables_workloads as wt

    columns, printer = {
        "Job": (wt.JOB_COLUMNS, wt.print_job),
        "CronJob": (wt.CRONJOB_COLUMNS, wt.print_cronjob),
        "StatefulSet": (wt.STATEFULSET_COLUMNS, wt.print_statefulset),
        "DaemonSet": (wt.DAEMONSET_COLUMNS, wt.print_daemonset),
        "PersistentVolumeClaim": (wt.PVC_COLUMNS, wt.print_pvc),
    }[kind]
    header = [c.name.upper() for c in columns if c.priority == 0]
    wide = [c.name.upper() for c in columns if c.priority != 0]
    narrow = len(header)

    def row(obj: Obj, now: datetime, is_wide: bool) -> list[str]:
        cells = [str(c) for c in printer(obj, now.timestamp())]
        return cells if is_wide else cells[:narrow]

    return header, wide, row


#: Kinds printed from the API's printer cells.
WORKLOAD_TABLES = {
    kind: _printer_row(kind)
    for kind in ("Job", "CronJob", "StatefulSet", "DaemonSet", "PersistentVolumeClaim")
}


def runtimeclass_row(obj: Obj, now: datetime, wide: bool) -> list[str]:
    """NAME HANDLER AGE (`kubectl get runtimeclasses`)."""
    return [_name(obj), str(obj.get("handler") or ""), _age(obj, now)]

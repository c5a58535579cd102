"""The API's own objects: the `Node` for this host and the `Namespace`s.

kubectl expects a cluster around the pods: `get nodes`, `describe node`,
`get ns`, `-n`, `-A`. The Node is read from the machine each time it is
asked for (capacity from `/proc/meminfo`, `os.cpu_count()` and the home's
file system; the eviction manager's thresholds, `memory.available<100Mi` and
`nodefs.available<10%` unless `PODKEEPER_EVICTION_HARD` says otherwise, decide
its MemoryPressure / DiskPressure conditions, as in core/eviction.py).
Namespaces are `default`, `kube-system`, `kube-public`, `kube-node-lease`, those
created through the API (kept in `$PODKEEPER_HOME/namespaces.json`) and any an
object lives in.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from podkeeper import KUBE_MINOR, __version__
from podkeeper.api.backend import AgentBackend, Obj
from podkeeper.core.eviction import EPHEMERAL_STORAGE, MEMORY, NodeStats, thresholds_met
from podkeeper.core.runtimeclass import runtime_class_objects
from podkeeper.runtime.nodestats import configured_thresholds

BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
NAMESPACES_FILE = "namespaces.json"


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def _os_image() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def _machine_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/etc/machine-id").read_text().strip()
    return ""


def _condition(kind: str, status: bool, reason: str, message: str, since: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "lastHeartbeatTime": now,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }


class Cluster:
    """Node and Namespace objects of one agent."""

    def __init__(self, backend: AgentBackend, home: Path | None, started: float) -> None:
        self.backend = backend
        self.home = home
        self.started = started
        self.node_name = socket.gethostname()
        self._node_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"podkeeper-node:{self.node_name}"))
        self._created: dict[str, Obj] = self._load()

    # -- namespaces ------------------------------------------------------

    def _load(self) -> dict[str, Obj]:
        if self.home is None:
            return {}
        try:
            data = json.loads((self.home / NAMESPACES_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return {str(o["metadata"]["name"]): o for o in data if isinstance(o, dict)}

    def _save(self) -> None:
        if self.home is None:
            return
        path = self.home / NAMESPACES_FILE
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(list(self._created.values()), f)
        os.replace(tmp, path)

    def _namespace(self, name: str, created: float | None = None) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"podkeeper-ns:{name}")),
                "creationTimestamp": rfc3339(created or self.started),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def namespaces(self) -> list[Obj]:
        found = {n: self._namespace(n) for n in BUILTIN_NAMESPACES}
        found.update(self._created)
        for kind in ("Pod", "Deployment", "Service"):
            with contextlib.suppress(Exception):
                for obj in self.backend.list_objects(kind, None):
                    ns = str((obj.get("metadata") or {}).get("namespace") or "default")
                    found.setdefault(ns, self._namespace(ns))
        return [found[n] for n in sorted(found)]

    def create_namespace(self, obj: Obj) -> Obj:
        name = str(obj["metadata"]["name"])
        ns = self._namespace(name, time.time())
        labels = (obj.get("metadata") or {}).get("labels") or {}
        ns["metadata"]["labels"].update(labels)
        annotations = (obj.get("metadata") or {}).get("annotations")
        if annotations:
            ns["metadata"]["annotations"] = annotations
        self._created[name] = ns
        self._save()
        return ns

    def delete_namespace(self, name: str) -> bool:
        if self._created.pop(name, None) is None:
            return False
        self._save()
        return True

    # -- the node --------------------------------------------------------

    def node(self) -> Obj:
        now = rfc3339(time.time())
        since = rfc3339(self.started)
        mem = _meminfo()
        total = mem.get("MemTotal", 0)
        available = mem.get("MemAvailable", total)
        cpus = os.cpu_count() or 1
        disk_total = disk_free = 0
        with contextlib.suppress(OSError):
            st = os.statvfs(self.home or "/")
            disk_total, disk_free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        # The eviction manager's own signals and thresholds (core/eviction.py).
        stats = NodeStats(
            {MEMORY: available, EPHEMERAL_STORAGE: disk_free},
            {MEMORY: total, EPHEMERAL_STORAGE: disk_total},
        )
        met = {t.resource for t in thresholds_met(stats, configured_thresholds())}
        mem_pressure = total > 0 and MEMORY in met
        disk_pressure = disk_total > 0 and EPHEMERAL_STORAGE in met
        capacity = {
            "cpu": str(cpus),
            "memory": f"{total // 1024}Ki",
            "ephemeral-storage": f"{disk_total // 1024}Ki",
            "pods": "110",
        }
        allocatable = dict(capacity)
        ip = "127.0.0.1"
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet: picks the route's source address
            ip = s.getsockname()[0]
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "uid": self._node_uid,
                "creationTimestamp": since,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": arch,
                    "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": arch,
                },
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {},
            "status": {
                "capacity": capacity,
                "allocatable": allocatable,
                "conditions": [
                    _condition(
                        "MemoryPressure",
                        mem_pressure,
                        "KubeletHasInsufficientMemory"
                        if mem_pressure
                        else "KubeletHasSufficientMemory",
                        "kubelet has insufficient memory available"
                        if mem_pressure
                        else "kubelet has sufficient memory available",
                        since,
                        now,
                    ),
                    _condition(
                        "DiskPressure",
                        disk_pressure,
                        "KubeletHasDiskPressure" if disk_pressure else "KubeletHasNoDiskPressure",
                        "kubelet has disk pressure"
                        if disk_pressure
                        else "kubelet has no disk pressure",
                        since,
                        now,
                    ),
                    _condition(
                        "PIDPressure",
                        False,
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                        since,
                        now,
                    ),
                    _condition(
                        "Ready", True, "KubeletReady", "kubelet is posting ready status", since, now
                    ),
                ],
                "addresses": [
                    {"type": "InternalIP", "address": ip},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                "nodeInfo": {
                    "machineID": _machine_id(),
                    "systemUUID": _machine_id(),
                    "bootID": "",
                    "kernelVersion": platform.release(),
                    "osImage": _os_image(),
                    "containerRuntimeVersion": f"podkeeper://{__version__}",
                    "kubeletVersion": f"v1.{KUBE_MINOR.split('.')[-1]}.0-podkeeper",
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": arch,
                },
            },
        }

    def lease(self) -> Obj:
        """The node's heartbeat Lease in `kube-node-lease` (`describe node` shows it)."""
        now = time.time()
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.node_name,
                "namespace": "kube-node-lease",
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"podkeeper-lease:{self.node_name}")),
                "creationTimestamp": rfc3339(self.started),
            },
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": 40,
                # Renewed every ten seconds, as the kubelet's (nodelease controller).
                "renewTime": time.strftime(
                    "%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(now - (now - self.started) % 10)
                ),
            },
        }

    # -- generic access --------------------------------------------------

    def list(self, kind: str) -> list[Obj]:
        if kind == "Node":
            return [self.node()]
        if kind == "Namespace":
            return self.namespaces()
        if kind == "Lease":
            return [self.lease()]
        if kind == "RuntimeClass":
            return runtime_class_objects(rfc3339(self.started))
        return []

    def get(self, kind: str, name: str) -> Obj | None:
        return next((o for o in self.list(kind) if o["metadata"]["name"] == name), None)

    def version_info(self) -> dict[str, Any]:
        """`/version` as kubectl parses it (apimachinery `version.Info`)."""
        minor = KUBE_MINOR.split(".")[-1]
        return {
            "major": "1",
            "minor": minor,
            "gitVersion": f"v1.{minor}.0-podkeeper+{__version__}",
            "gitCommit": "",
            "gitTreeState": "",
            "buildDate": rfc3339(self.started),
            "goVersion": f"python{platform.python_version()}",
            "compiler": "cpython",
            "platform": f"linux/{platform.machine()}",
        }


def endpoint_slice(ep: Obj) -> Obj:
    """The `discovery.k8s.io/v1 EndpointSlice` the EndpointSlice controller would keep for
    an Endpoints object (kubectl 1.32 `describe service` reads slices, not Endpoints)."""
    meta = ep.get("metadata") or {}
    name = str(meta.get("name", ""))
    endpoints: list[Obj] = []
    ports: list[Obj] = []
    for subset in ep.get("subsets") or []:
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for a in subset.get(key) or []:
                entry: Obj = {
                    "addresses": [a.get("ip")],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                }
                if a.get("nodeName"):
                    entry["nodeName"] = a["nodeName"]
                if a.get("targetRef"):
                    entry["targetRef"] = a["targetRef"]
                endpoints.append(entry)
        for p in subset.get("ports") or []:
            port = {
                "name": p.get("name", ""),
                "port": p.get("port"),
                "protocol": p.get("protocol", "TCP"),
            }
            if port not in ports:
                ports.append(port)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-podkeeper",
            "namespace": meta.get("namespace", "default"),
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"podkeeper-slice:{meta.get('uid', name)}")),
            "creationTimestamp": meta.get("creationTimestamp"),
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Service", "name": name, "uid": meta.get("uid", "")}
            ],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }

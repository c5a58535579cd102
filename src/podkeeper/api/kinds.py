"""The registry of served kinds: one row per kind, the rest is generic (architecture.md).

Each `Kind` is the small strategy the kube-apiserver keeps per resource
(`pkg/registry/core/pod/strategy.go` beside the generic
`registry/generic/registry/store.go`): where its objects come from, whether
it is namespaced, its verbs, short names and categories for discovery, the
fields it can be selected by, its printer columns and the list keys a
strategic merge patch merges by. Adding a kind is adding a row here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from podkeeper.api import paths, selectors, tables
from podkeeper.api import tables_workloads as wtables
from podkeeper.api.paths import Resource

#: Verbs of a kind whose objects the user writes; every such kind served here is stored by
#: the generic registry store upstream and so has `deletecollection` in discovery (Services
#: too since their storage became a generic store; Namespaces never, see their row).
RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
#: Verbs of a kind only the agent writes.
RO = ("get", "list", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group_version: str = ""


@dataclass(frozen=True)
class Kind:
    """One served resource and its strategy."""

    resource: Resource
    singular: str
    namespaced: bool
    #: `backend` (the agent's objects), `events`, `endpointslices` (derived from
    #: Endpoints), `metrics` (cgroup samples, unversioned), or the API's own: `node`,
    #: `namespace`, `lease`.
    source: str
    verbs: tuple[str, ...] = RW
    categories: tuple[str, ...] = ()
    columns: tuple[tables.Column, ...] = tables.DEFAULT_COLUMNS
    printer: tables.Printer = tables.print_default
    fields: Mapping[str, selectors.FieldGetter] = field(default_factory=selectors.fields)
    subresources: tuple[Subresource, ...] = ()

    @property
    def name(self) -> str:
        return self.resource.kind

    @property
    def group(self) -> str:
        return self.resource.group_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.resource.group_version.rpartition("/")[2]

    @property
    def plural(self) -> str:
        return self.resource.plural

    def qualified(self) -> str:
        """`pods`, `deployments.apps`: how the API server names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NODE = Resource("Node", "v1", "nodes", ("no",))
ENDPOINTSLICE = Resource("EndpointSlice", "discovery.k8s.io/v1", "endpointslices")
LEASE = Resource("Lease", "coordination.k8s.io/v1", "leases")
POD_METRICS = Resource("PodMetrics", "metrics.k8s.io/v1beta1", "pods")
NODE_METRICS = Resource("NodeMetrics", "metrics.k8s.io/v1beta1", "nodes")
NAMESPACE = Resource("Namespace", "v1", "namespaces", ("ns",))
RUNTIMECLASS = paths.RUNTIMECLASS

_POD_FIELDS = selectors.fields(
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)

_EVENT_FIELDS = selectors.fields(
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "type",
    extra={"source": lambda ev: str((ev.get("source") or {}).get("component") or "")},
)

KINDS: tuple[Kind, ...] = (
    Kind(
        paths.POD,
        "pod",
        True,
        "backend",
        categories=("all",),
        columns=tables.POD_COLUMNS,
        printer=tables.print_pod,
        fields=_POD_FIELDS,
        subresources=(
            Subresource("eviction", "Eviction", ("create",), "policy/v1"),
            Subresource("exec", "PodExecOptions", ("create", "get")),
            Subresource("log", "Pod", ("get",)),
            Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
            # Written by clients too (conditions of readiness gates): api/writes.py.
            Subresource("status", "Pod", ("get", "patch", "update")),
        ),
    ),
    Kind(
        paths.SERVICE,
        "service",
        True,
        "backend",
        categories=("all",),
        columns=tables.SERVICE_COLUMNS,
        printer=tables.print_service,
        fields=selectors.fields("spec.clusterIP", "spec.type"),
        subresources=(Subresource("status", "Service", ("get",)),),
    ),
    Kind(
        paths.ENDPOINTS,
        "endpoints",
        True,
        "backend",
        columns=tables.ENDPOINTS_COLUMNS,
        printer=tables.print_endpoints,
    ),
    Kind(
        paths.EVENT,
        "event",
        True,
        "events",
        verbs=RO,
        columns=tables.EVENT_COLUMNS,
        printer=tables.print_event,
        fields=_EVENT_FIELDS,
    ),
    Kind(
        NODE,
        "node",
        False,
        "node",
        verbs=RO,
        columns=tables.NODE_COLUMNS,
        printer=tables.print_node,
        fields=selectors.fields("spec.unschedulable"),
        subresources=(Subresource("status", "Node", ("get",)),),
    ),
    Kind(
        NAMESPACE,
        "namespace",
        False,
        "namespace",
        verbs=("create", "delete", "get", "list", "watch"),
        columns=tables.NAMESPACE_COLUMNS,
        printer=tables.print_namespace,
        fields=selectors.fields("status.phase"),
    ),
    Kind(
        paths.DEPLOYMENT,
        "deployment",
        True,
        "backend",
        categories=("all",),
        columns=tables.DEPLOYMENT_COLUMNS,
        printer=tables.print_deployment,
        subresources=(
            Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling/v1"),
            Subresource("status", "Deployment", ("get",)),
        ),
    ),
    Kind(
        paths.REPLICASET,
        "replicaset",
        True,
        "backend",
        categories=("all",),
        columns=tables.REPLICASET_COLUMNS,
        printer=tables.print_replicaset,
        subresources=(Subresource("status", "ReplicaSet", ("get",)),),
    ),
)

KINDS += (
    Kind(
        ENDPOINTSLICE,
        "endpointslice",
        True,
        "endpointslices",
        verbs=RO,
        columns=tables.ENDPOINTSLICE_COLUMNS,
        printer=tables.print_endpointslice,
    ),
    Kind(
        LEASE,
        "lease",
        True,
        "lease",
        verbs=RO,
        columns=tables.LEASE_COLUMNS,
        printer=tables.print_lease,
    ),
)

#: Configuration: plain objects in the agent's store (runtime/configobjects.py).
KINDS += (
    Kind(
        paths.CONFIGMAP,
        "configmap",
        True,
        "backend",
        columns=tables.CONFIGMAP_COLUMNS,
        printer=tables.print_configmap,
    ),
    Kind(
        paths.SECRET,
        "secret",
        True,
        "backend",
        columns=tables.SECRET_COLUMNS,
        printer=tables.print_secret,
        fields=selectors.fields("type"),
    ),
)

#: Jobs, CronJobs, StatefulSets, DaemonSets and claims (controllers/workloads.py).
KINDS += (
    Kind(
        paths.JOB,
        "job",
        True,
        "backend",
        categories=("all",),
        columns=wtables.JOB_COLUMNS,
        printer=wtables.print_job,
        subresources=(Subresource("status", "Job", ("get",)),),
    ),
    Kind(
        paths.CRONJOB,
        "cronjob",
        True,
        "backend",
        categories=("all",),
        columns=wtables.CRONJOB_COLUMNS,
        printer=wtables.print_cronjob,
        subresources=(Subresource("status", "CronJob", ("get",)),),
    ),
    Kind(
        paths.STATEFULSET,
        "statefulset",
        True,
        "backend",
        categories=("all",),
        columns=wtables.STATEFULSET_COLUMNS,
        printer=wtables.print_statefulset,
        subresources=(Subresource("status", "StatefulSet", ("get",)),),
    ),
    Kind(
        paths.DAEMONSET,
        "daemonset",
        True,
        "backend",
        categories=("all",),
        columns=wtables.DAEMONSET_COLUMNS,
        printer=wtables.print_daemonset,
        subresources=(Subresource("status", "DaemonSet", ("get",)),),
    ),
    Kind(
        paths.PVC,
        "persistentvolumeclaim",
        True,
        "backend",
        columns=wtables.PVC_COLUMNS,
        printer=wtables.print_pvc,
        subresources=(Subresource("status", "PersistentVolumeClaim", ("get",)),),
    ),
)

#: The built-in RuntimeClasses, one per runtime (core/runtimeclass.py), read-only.
KINDS += (
    Kind(
        RUNTIMECLASS,
        "runtimeclass",
        False,
        "runtimeclass",
        verbs=RO,
        columns=tables.RUNTIMECLASS_COLUMNS,
        printer=tables.print_runtimeclass,
    ),
)

#: metrics.k8s.io, as metrics-server serves it for `kubectl top` (api/metrics.py).
KINDS += (
    Kind(POD_METRICS, "", True, "metrics", verbs=("get", "list")),
    Kind(NODE_METRICS, "", False, "metrics", verbs=("get", "list")),
)

#: By Kubernetes kind.
BY_KIND: dict[str, Kind] = {k.name: k for k in KINDS}


def group_versions() -> list[str]:
    """The served group/versions, core first."""
    seen: list[str] = []
    for k in KINDS:
        if k.resource.group_version not in seen:
            seen.append(k.resource.group_version)
    return seen


def kinds_in(group_version: str) -> list[Kind]:
    return [k for k in KINDS if k.resource.group_version == group_version]


#: Strategic merge patch: the key each known list merges on (`patchMergeKey` in the
#: Kubernetes types, e.g. `Container` by `name`, `ContainerPort` by `containerPort`).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}

"""The one table of Kubernetes kinds → REST paths, shared by the API server and its client.

Paths are the Kubernetes API's: core kinds under `/api/v1`, apps kinds under
`/apis/apps/v1`, namespaced collections at `{prefix}/namespaces/{ns}/{plural}`
and the all-namespaces list at `{prefix}/{plural}`. podkeeper's own
endpoints (apply of a mixed list, termination history, shutdown) live under
`/podkeeper/v1`. No I/O here, stdlib only: the CLI imports it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Resource:
    """One served kind: `group_version` is `v1` or `apps/v1`; `plural` the path word."""

    kind: str
    group_version: str
    plural: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        """`/api/v1` for the core group, `/apis/<group>/<version>` otherwise."""
        if "/" in self.group_version:
            return f"/apis/{self.group_version}"
        return f"/api/{self.group_version}"

    @property
    def list_kind(self) -> str:
        """The kind of a list of these (`PodList`, `EndpointsList`)."""
        return f"{self.kind}List"

    def collection_path(self, namespace: str | None) -> str:
        """The list/create path; `namespace=None` lists across all namespaces."""
        if namespace is None or not self.namespaced:
            return f"{self.prefix}/{self.plural}"
        return f"{self.prefix}/namespaces/{_seg(namespace)}/{self.plural}"

    def item_path(self, namespace: str, name: str) -> str:
        """The get/delete path of one object."""
        return f"{self.collection_path(namespace)}/{_seg(name)}"


def _seg(part: str) -> str:
    return quote(part, safe="")


POD = Resource("Pod", "v1", "pods", ("pod", "po"))
DEPLOYMENT = Resource("Deployment", "apps/v1", "deployments", ("deployment", "deploy"))
REPLICASET = Resource("ReplicaSet", "apps/v1", "replicasets", ("replicaset", "rs"))
SERVICE = Resource("Service", "v1", "services", ("service", "svc"))
ENDPOINTS = Resource("Endpoints", "v1", "endpoints", ("ep",))
EVENT = Resource("Event", "v1", "events", ("event", "ev"))
CONFIGMAP = Resource("ConfigMap", "v1", "configmaps", ("configmap", "cm"))
SECRET = Resource("Secret", "v1", "secrets", ("secret",))

# Workloads beyond Deployments and the claims of StatefulSets (issue 12).
JOB = Resource("Job", "batch/v1", "jobs", ("job",))
CRONJOB = Resource("CronJob", "batch/v1", "cronjobs", ("cronjob", "cj"))
STATEFULSET = Resource("StatefulSet", "apps/v1", "statefulsets", ("statefulset", "sts"))
DAEMONSET = Resource("DaemonSet", "apps/v1", "daemonsets", ("daemonset", "ds"))
PVC = Resource(
    "PersistentVolumeClaim", "v1", "persistentvolumeclaims", ("persistentvolumeclaim", "pvc")
)
WORKLOAD_RESOURCES = (JOB, CRONJOB, STATEFULSET, DAEMONSET, PVC)


RUNTIMECLASS = Resource(
    "RuntimeClass", "node.k8s.io/v1", "runtimeclasses", ("runtimeclass",), namespaced=False
)

#: Kinds served with list/get/create/delete, by Kubernetes kind.
OBJECT_RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        POD,
        DEPLOYMENT,
        REPLICASET,
        SERVICE,
        ENDPOINTS,
        CONFIGMAP,
        SECRET,
        *WORKLOAD_RESOURCES,
    )
}
#: Every served kind (events are list/watch only).
RESOURCES: dict[str, Resource] = {
    **OBJECT_RESOURCES,
    EVENT.kind: EVENT,
    RUNTIMECLASS.kind: RUNTIMECLASS,
}

_BY_WORD: dict[str, Resource] = {}
for _r in RESOURCES.values():
    for _word in (_r.kind, _r.plural, *_r.short_names):
        _BY_WORD[_word.lower()] = _r


def resource_for(word: str) -> Resource:
    """The resource for a kind, plural or short name as kubectl accepts them (`po`, `svc`).

    Raises KeyError (with kubectl's wording) for an unknown word."""
    try:
        return _BY_WORD[word.lower()]
    except KeyError:
        raise KeyError(f'the server doesn\'t have a resource type "{word}"') from None


APPLY_PATH = "/podkeeper/v1/apply"
SHUTDOWN_PATH = "/podkeeper/v1/shutdown"
#: POST: open the image runtime beside the default one (`podkeeper image ...`).
IMAGE_RUNTIME_PATH = "/podkeeper/v1/imageruntime"
VERSION_PATH = "/version"
HEALTHZ_PATH = "/healthz"


def pod_log_path(namespace: str, pod: str) -> str:
    """The pod's `log` subresource."""
    return f"{POD.item_path(namespace, pod)}/log"


def terminations_path(namespace: str, pod: str) -> str:
    """The pod's recorded termination history (podkeeper's own endpoint)."""
    return f"/podkeeper/v1/terminations/{_seg(namespace)}/{_seg(pod)}"

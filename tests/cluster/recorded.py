"""API objects as a real cluster shows them, for situations podkeeper's agent never produces.

Written from the Kubernetes API reference (v1 Pod, Event, Node; apps/v1
Deployment/ReplicaSet; batch/v1 Job) and the exact strings of the components
that write them:

- SystemOOM: `pkg/kubelet/oom/oom_watcher_linux.go`, Warning `SystemOOM`
  "System OOM encountered, victim process: %s, pid: %d" on the Node.
- Eviction: `pkg/kubelet/eviction/helpers.go` (nodeLowMessageFmt "The node was
  low on resource: %v. ", thresholdMetMessageFmt "Threshold quantity: %v,
  available: %v. ", containerMessageFmt "Container %s was using %s, request is
  %s, has larger consumption of %v. "), status.reason `Evicted`; the node's
  `EvictionThresholdMet` "Attempting to reclaim %s" and
  `NodeHasInsufficientMemory` "Node %s status is now: %s"
  (`pkg/kubelet/nodestatus/setters.go`), condition MemoryPressure True
  `KubeletHasInsufficientMemory` "kubelet has insufficient memory available".
- ProgressDeadlineExceeded: `pkg/controller/deployment/util/deployment_util.go`
  "ReplicaSet %q has timed out progressing."; Available False
  `MinimumReplicasUnavailable` "Deployment does not have minimum availability.".
- BackoffLimitExceeded: `pkg/controller/job/job_controller.go`, "Job has reached
  the specified backoff limit".
- Image pulls: `pkg/kubelet/images/image_manager.go` (`Pulling image %q`,
  `Failed to pull image %q: %v`, `Back-off pulling image %q`), the kubelet's
  `Error: %v` Failed events (`ErrImagePull`, `ImagePullBackOff`).
- CreateContainerConfigError: `pkg/kubelet/kubelet_pods.go`
  makeEnvironmentVariables, the secret manager's NotFound `secret "%s" not found`.
- Probes and kills: `pkg/kubelet/prober/prober.go` ("%s probe failed: %s"),
  `pkg/kubelet/kuberuntime/kuberuntime_manager.go` (Killing "Container %s failed
  liveness probe, will be restarted") and killContainer ("Stopping container %s").
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
NS = "shop"
T0 = "2026-12-04T10:00:00Z"


def at(minute: int, second: int = 0) -> str:
    return f"2026-12-04T10:{minute:02d}:{second:02d}Z"


def pod(
    name: str,
    containers: list[Obj],
    statuses: list[Obj],
    *,
    phase: str = "Running",
    node: str = "worker-1",
    owner: tuple[str, str] | None = None,
    volumes: list[Obj] | None = None,
    grace: int = 30,
    restart_policy: str = "Always",
    **status: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "creationTimestamp": T0}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1" if owner[0] != "Job" else "batch/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"uid-{owner[1]}",
                "controller": True,
            }
        ]
    spec: Obj = {
        "containers": containers,
        "nodeName": node,
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": grace,
    }
    if volumes:
        spec["volumes"] = volumes
    ready = all(s.get("ready") for s in statuses)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses,
            "startTime": T0,
            **status,
        },
    }


def event(
    obj: str,
    reason: str,
    message: str,
    *,
    etype: str = "Normal",
    when: str = T0,
    first: str | None = None,
    count: int = 1,
    container: str | None = "app",
    kind: str = "Pod",
    namespace: str = NS,
) -> Obj:
    inv: Obj = {"kind": kind, "name": obj, "apiVersion": "v1"}
    if kind == "Pod":
        inv.update(namespace=namespace, uid=f"uid-{obj}")
        if container:
            inv["fieldPath"] = f"spec.containers{{{container}}}"
    else:
        inv["uid"] = obj
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{obj}.{reason}.{when}", "namespace": namespace},
        "involvedObject": inv,
        "reason": reason,
        "message": message,
        "type": etype,
        "count": count,
        "firstTimestamp": first or when,
        "lastTimestamp": when,
        "source": {"component": "kubelet", "host": "worker-1"},
    }


def terminated(code: int, reason: str, started: str, finished: str, **extra: Any) -> Obj:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": finished,
            "containerID": "containerd://abc",
            **extra,
        }
    }


def app(image: str = "registry.example.com/shop/api:1.4.2", **spec: Any) -> Obj:
    return {"name": "app", "image": image, **spec}


def status(state: Obj, last: Obj | None = None, restarts: int = 0, ready: bool = False) -> Obj:
    out: Obj = {
        "name": "app",
        "state": state,
        "ready": ready,
        "restartCount": restarts,
        "image": "registry.example.com/shop/api:1.4.2",
        "started": "running" in state,
    }
    out["lastState"] = last or {}
    return out


CRASHLOOP = {
    "waiting": {
        "reason": "CrashLoopBackOff",
        "message": "back-off 40s restarting failed container=app pod=x_shop(uid)",
    }
}


def node(name: str, pressure: bool = False) -> Obj:
    mem = (
        {
            "type": "MemoryPressure",
            "status": "True",
            "reason": "KubeletHasInsufficientMemory",
            "message": "kubelet has insufficient memory available",
            "lastTransitionTime": at(20),
        }
        if pressure
        else {
            "type": "MemoryPressure",
            "status": "False",
            "reason": "KubeletHasSufficientMemory",
            "message": "kubelet has sufficient memory available",
            "lastTransitionTime": T0,
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": name},
        "status": {
            "conditions": [
                mem,
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastTransitionTime": T0,
                },
            ]
        },
    }


def node_oom() -> list[Obj]:
    """A JVM without a memory limit on a node that ran out of memory: the kernel's global OOM
    killer took it; the kubelet saw the kill (SystemOOM) on the node."""
    p = pod(
        "ledger-0",
        [
            app(
                command=["java", "-jar", "/app/ledger.jar"],
                resources={"requests": {"memory": "512Mi", "cpu": "250m"}},
            )
        ],
        [
            status(
                {"running": {"startedAt": at(12, 5)}},
                terminated(137, "OOMKilled", at(2), at(12, 1)),
                restarts=3,
                ready=True,
            )
        ],
        owner=("StatefulSet", "ledger"),
    )
    return [
        p,
        node("worker-1"),
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "ledger", "namespace": NS, "uid": "uid-ledger"},
            "spec": {"replicas": 1},
            "status": {"replicas": 1, "readyReplicas": 1},
        },
        event(
            "worker-1",
            "SystemOOM",
            "System OOM encountered, victim process: java, pid: 41235",
            etype="Warning",
            when=at(12, 1),
            kind="Node",
            namespace="default",
            container=None,
        ),
        event(
            "ledger-0",
            "Pulled",
            'Container image "registry.example.com/shop/api:1.4.2" already present on machine',
            when=at(12, 3),
        ),
        event("ledger-0", "Started", "Started container app", when=at(12, 5)),
    ]


def limit_oom() -> list[Obj]:
    """A container that reached its own 256Mi limit (no SystemOOM on the node)."""
    p = pod(
        "cart-5c9d-x2x",
        [
            app(
                command=["python", "cart.py"],
                resources={"limits": {"memory": "256Mi"}, "requests": {"memory": "256Mi"}},
            )
        ],
        [status(CRASHLOOP, terminated(137, "OOMKilled", at(5), at(5, 40)), restarts=4)],
        node="worker-3",
    )
    return [p, node("worker-3")]


EVICTION_MESSAGE = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "
    "Container app was using 1200Mi, request is 100Mi, has larger consumption of memory. "
)


def evicted() -> list[Obj]:
    """A pod the kubelet's eviction manager evicted for memory pressure."""
    p = pod(
        "report-6f7b-k8q",
        [app(resources={"requests": {"memory": "100Mi"}})],
        [
            status(
                terminated(
                    137,
                    "ContainerStatusUnknown",
                    at(1),
                    at(20, 3),
                    message="The container could not be located when the pod was terminated",
                )
            )
        ],
        phase="Failed",
        node="worker-2",
        reason="Evicted",
        message=EVICTION_MESSAGE,
    )
    return [
        p,
        node("worker-2", pressure=True),
        event(
            "report-6f7b-k8q",
            "Evicted",
            EVICTION_MESSAGE,
            etype="Warning",
            when=at(20),
            container=None,
        ),
        event("report-6f7b-k8q", "Killing", "Stopping container app", when=at(20)),
        event(
            "worker-2",
            "EvictionThresholdMet",
            "Attempting to reclaim memory",
            etype="Warning",
            when=at(19, 58),
            kind="Node",
            namespace="default",
            container=None,
        ),
        event(
            "worker-2",
            "NodeHasInsufficientMemory",
            "Node worker-2 status is now: NodeHasInsufficientMemory",
            when=at(19, 58),
            kind="Node",
            namespace="default",
            container=None,
        ),
    ]


def stuck_rollout() -> list[Obj]:
    """A Deployment whose new pod never passes readiness: ProgressDeadlineExceeded."""
    probe = {
        "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
        "periodSeconds": 5,
        "failureThreshold": 3,
        "timeoutSeconds": 1,
        "successThreshold": 1,
    }
    p = pod(
        "web-5d8f7c9b4-7ghjk",
        [app(readinessProbe=probe)],
        [status({"running": {"startedAt": at(0, 10)}}, restarts=0)],
        owner=("ReplicaSet", "web-5d8f7c9b4"),
    )
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d8f7c9b4",
            "namespace": NS,
            "uid": "uid-web-5d8f7c9b4",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "uid-web",
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "readyReplicas": 0},
    }
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-web"},
        "spec": {"replicas": 3, "progressDeadlineSeconds": 600},
        "status": {
            "replicas": 4,
            "readyReplicas": 3,
            "updatedReplicas": 1,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "web-5d8f7c9b4" has timed out progressing.',
                    "lastTransitionTime": at(10, 10),
                },
            ],
        },
    }
    return [
        p,
        rs,
        deploy,
        event(
            "web-5d8f7c9b4-7ghjk",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            etype="Warning",
            first=at(0, 15),
            when=at(10, 5),
            count=120,
        ),
    ]


def backoff_limit() -> list[Obj]:
    """A Job whose pod exits 1 at once, until BackoffLimitExceeded."""
    p = pod(
        "migrate-x7k2p",
        [app(command=["sh", "-c", 'psql "$DATABASE_URL" -f /migrations/up.sql'])],
        [status(terminated(1, "Error", at(3), at(3, 1)))],
        phase="Failed",
        owner=("Job", "migrate"),
        restart_policy="Never",
    )
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": NS, "uid": "uid-migrate"},
        "spec": {"backoffLimit": 6},
        "status": {
            "failed": 7,
            "conditions": [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
            ],
        },
    }
    return [p, job]


IMAGE = "registry.example.com/shop/api:1.4.3"
PULL_ERROR = (
    f'rpc error: code = NotFound desc = failed to pull and unpack image "{IMAGE}": failed to '
    f'resolve reference "{IMAGE}": {IMAGE}: not found'
)


def image_pull() -> list[Obj]:
    p = pod(
        "api-7c6d-pull",
        [app(image=IMAGE)],
        [
            status(
                {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{IMAGE}"',
                    }
                }
            )
        ],
        phase="Pending",
    )
    name = "api-7c6d-pull"
    return [
        p,
        event(name, "Pulling", f'Pulling image "{IMAGE}"', when=at(1)),
        event(
            name,
            "Failed",
            f'Failed to pull image "{IMAGE}": {PULL_ERROR}',
            etype="Warning",
            when=at(1, 2),
        ),
        event(name, "Failed", "Error: ErrImagePull", etype="Warning", when=at(1, 2)),
        event(name, "BackOff", f'Back-off pulling image "{IMAGE}"', when=at(1, 30)),
        event(name, "Failed", "Error: ImagePullBackOff", etype="Warning", when=at(1, 30)),
    ]


def missing_secret() -> list[Obj]:
    env = [
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}},
        }
    ]
    p = pod(
        "api-7c6d-cfg",
        [app(env=env)],
        [
            status(
                {
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": 'secret "db-credentials" not found',
                    }
                }
            )
        ],
        phase="Pending",
    )
    return [
        p,
        event(
            "api-7c6d-cfg",
            "Failed",
            'Error: secret "db-credentials" not found',
            etype="Warning",
            when=at(2),
            count=12,
        ),
    ]


def liveness_at_start() -> list[Obj]:
    """Liveness kills a slow starter at 25-35 s; readiness could not pass before 60 s."""
    live = {
        "httpGet": {"path": "/healthz", "port": 8080},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "failureThreshold": 3,
        "timeoutSeconds": 1,
    }
    ready = {
        "httpGet": {"path": "/ready", "port": 8080},
        "initialDelaySeconds": 60,
        "periodSeconds": 10,
    }
    p = pod(
        "search-0",
        [app(livenessProbe=live, readinessProbe=ready)],
        [status(CRASHLOOP, terminated(143, "Error", at(4), at(4, 31)), restarts=5)],
        owner=("StatefulSet", "search"),
    )
    msg = (
        'Liveness probe failed: Get "http://10.244.1.7:8080/healthz": context deadline '
        "exceeded (Client.Timeout exceeded while awaiting headers)"
    )
    return [
        p,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "search", "namespace": NS, "uid": "uid-search"},
            "spec": {"replicas": 1},
            "status": {"replicas": 1, "readyReplicas": 0},
        },
        event("search-0", "Unhealthy", msg, etype="Warning", when=at(4, 26), count=15),
        event(
            "search-0",
            "Killing",
            "Container app failed liveness probe, will be restarted",
            when=at(4, 26),
        ),
    ]


def sigterm_ignored() -> list[Obj]:
    """A pod deleted with a 30 s grace whose PID 1 ignores SIGTERM: 137 thirty seconds on."""
    p = pod(
        "worker-0",
        [app(command=["sh", "-c", "while true; do work; done"])],
        [status(terminated(137, "Error", at(0), at(30, 30)))],
        phase="Running",
    )
    return [p, event("worker-0", "Killing", "Stopping container app", when=at(30))]


SCENARIOS = {
    "node-oom": node_oom,
    "limit-oom": limit_oom,
    "evicted": evicted,
    "stuck-rollout": stuck_rollout,
    "backoff-limit": backoff_limit,
    "image-pull": image_pull,
    "missing-secret": missing_secret,
    "liveness-at-start": liveness_at_start,
    "sigterm-ignored": sigterm_ignored,
}


def everything() -> list[Obj]:
    """Every scenario's objects, each node once."""
    seen: set[tuple[str, str]] = set()
    out: list[Obj] = []
    for build in SCENARIOS.values():
        for obj in build():
            key = (obj["kind"], obj["metadata"]["name"])
            if obj["kind"] == "Event":
                key = (obj["kind"], obj["metadata"]["name"] + obj["metadata"]["namespace"])
            if key not in seen:
                seen.add(key)
                out.append(obj)
    return out

"""Evidence from any Kubernetes cluster, through the official `kubernetes` client (issue 15).

The client library reads the kubeconfig (contexts, auth plugins, exec
credentials, TLS): no hand-written kubeconfig parsing here. Requests go through
its `ApiClient.call_api` with `_preload_content=False` and the JSON is read as
plain dicts, the shape core/apievidence.py reads (the library's model classes
cost ~1 ms per pod to build, which a 1,000-pod triage cannot afford).

`explain` gathers, for one pod: the pod, its events (field selector
`involvedObject.uid`), the explained instance's last log lines, the node and
its events, the owner chain's conditions and metrics.k8s.io usage when served.
`triage` makes list calls only: pods, events and nodes once each, and the
owner kinds its unhealthy pods need, once each; never one request per pod.
Whatever cannot be fetched (forbidden, not served) is said in `unseen`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from podkeeper.core.apievidence import explained_instance, from_api, pick_container
from podkeeper.core.evidence import Evidence
from podkeeper.core.triage import Row, problem, triage

Obj = dict[str, Any]

#: Log lines read from the explained instance (`logs --previous --tail`).
LOG_TAIL_LINES = 50
#: Seconds a request may take before the cluster counts as unreachable.
REQUEST_TIMEOUT = 30.0

# Owner kinds and where their objects live (group/version path, plural).
_OWNER_PATHS = {
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
}


class ClusterError(Exception):
    """The cluster could not be reached or configured (a one-line message for the CLI)."""


class NotFound(ClusterError):
    """The API answered 404."""


@dataclass
class ApiFailure(Exception):
    """A request the API refused: status code and the Status message."""

    status: int
    message: str


@dataclass
class RemoteCluster:
    """A connection to the cluster of a kubeconfig context (default: the current one)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "default"
    context_name: str = ""
    _api: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            from kubernetes import config
        except ImportError as exc:  # pragma: no cover - a runtime dependency
            raise ClusterError(
                "error: cluster mode needs the `kubernetes` Python client: pip install kubernetes"
            ) from exc
        try:
            contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=self.kubeconfig
            )
            chosen = active
            if self.context is not None:
                chosen = next((c for c in contexts if c.get("name") == self.context), None)
                if chosen is None:
                    names = ", ".join(str(c.get("name")) for c in contexts)
                    raise ClusterError(
                        f"error: context {self.context!r} not found in the kubeconfig "
                        f"(contexts: {names})"
                    )
            self.context_name = str((chosen or {}).get("name") or "")
            self.namespace = str(
                ((chosen or {}).get("context") or {}).get("namespace") or "default"
            )
            from kubernetes.client import Configuration

            conf = Configuration()
            # Fail fast on an unreachable server: one retry, not urllib3's default three.
            conf.retries = 1
            self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=self.kubeconfig,
                context=self.context,
                persist_config=False,
                client_configuration=conf,
            )
        except ClusterError:
            raise
        except Exception as exc:  # ConfigException, OSError, yaml errors: all one line
            where = self.kubeconfig or "the default kubeconfig"
            raise ClusterError(f"error: cannot use {where}: {exc}") from None

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def __enter__(self) -> RemoteCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------

    def _call(self, path: str, query: dict[str, Any], accept: str) -> bytes:
        from kubernetes.client.exceptions import ApiException

        params = [(k, v) for k, v in query.items() if v is not None]
        api = self._api
        try:
            if hasattr(api, "param_serialize"):
                # kubernetes >= 35 (openapi-generator 7): serialize (auth included), then send.
                method, url, headers, _, _ = api.param_serialize(
                    "GET",
                    path,
                    query_params=params,
                    header_params={"Accept": accept},
                    auth_settings=["BearerToken"],
                )
                resp = api.call_api(
                    method, url, header_params=headers, _request_timeout=REQUEST_TIMEOUT
                )
                data = resp.read()
                if resp.status >= 400:
                    raise ApiException(status=resp.status, reason=resp.reason, body=data)
            else:  # kubernetes 29-34
                resp = api.call_api(
                    path,
                    "GET",
                    query_params=params,
                    header_params={"Accept": accept},
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _return_http_data_only=True,
                    _request_timeout=REQUEST_TIMEOUT,
                )
                data = resp.data
        except ApiException as exc:
            message = str(exc.reason or "")
            try:
                message = json.loads(exc.body or b"{}").get("message") or message
            except (ValueError, AttributeError):
                pass
            raise ApiFailure(int(exc.status or 0), message) from None
        except Exception as exc:  # urllib3 MaxRetryError, SSL errors, timeouts
            host = api.configuration.host
            raise ClusterError(f"error: cannot reach the cluster at {host}: {exc}") from None
        return bytes(data)

    def get(self, path: str, **query: Any) -> Obj:
        """GET a JSON object (a `dict`)."""
        out = json.loads(self._call(path, query, "application/json"))
        return out if isinstance(out, dict) else {}

    def items(self, path: str, **query: Any) -> list[Obj]:
        """The items of a list (one call; no paging needed for the sizes triage reads)."""
        return [i for i in self.get(path, **query).get("items") or [] if isinstance(i, dict)]

    # -- explain -------------------------------------------------------------------

    def evidence(self, name: str, namespace: str, container: str | None) -> Evidence:
        """Everything the API shows about one container of pod `namespace/name`."""
        try:
            pod = self.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        except ApiFailure as exc:
            if exc.status == 404:
                raise NotFound(f'Error from server (NotFound): pods "{name}" not found') from None
            raise ClusterError(f"error: reading pod {namespace}/{name}: {exc.message}") from None
        picked = pick_container(pod, container)
        if picked is None:
            what = f"container {container!r}" if container else "a container"
            raise NotFound(f"error: pod {namespace}/{name} has no {what}")
        cname = picked[0]
        unseen: list[str] = []
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        events = self._optional(
            unseen,
            "the pod's events",
            lambda: self.items(
                f"/api/v1/namespaces/{namespace}/events",
                fieldSelector=f"involvedObject.uid={uid}",
            ),
        )
        log_tail: list[str] = []
        which = explained_instance(pod, cname)
        if which is not None:
            text = self._optional(
                unseen,
                f"the {'previous ' if which == 'previous' else ''}container's log lines",
                lambda: self._call(
                    f"/api/v1/namespaces/{namespace}/pods/{name}/log",
                    {
                        "container": cname,
                        "previous": "true" if which == "previous" else None,
                        "tailLines": LOG_TAIL_LINES,
                    },
                    "text/plain",
                ),
            )
            if isinstance(text, bytes):
                log_tail = text.decode(errors="replace").splitlines()
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node: Obj | None = None
        node_events: list[Obj] = []
        if node_name:
            node = self._optional(
                unseen, f"node {node_name}", lambda: self.get(f"/api/v1/nodes/{node_name}")
            )
            node_events = (
                self._optional(
                    unseen,
                    f"node {node_name}'s events",
                    lambda: self.items(
                        "/api/v1/events",
                        fieldSelector=f"involvedObject.kind=Node,involvedObject.name={node_name}",
                    ),
                )
                or []
            )
        owners = self._owner_chain(pod, namespace, unseen)
        metrics = self._optional(
            unseen,
            "metrics.k8s.io usage (not served here, or no sample for this pod)",
            lambda: self.get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}"),
            quiet_reason=True,
        )
        return from_api(
            pod,
            cname,
            events=events or [],
            node=node,
            node_events=node_events,
            owners=owners,
            log_tail=log_tail,
            metrics=metrics,
            unseen=unseen,
        )

    def _optional(
        self, unseen: list[str], what: str, fetch: Any, quiet_reason: bool = False
    ) -> Any:
        """`fetch()`, or None with `what` (and why) added to `unseen` when the API refuses."""
        try:
            return fetch()
        except ApiFailure as exc:
            reason = "" if quiet_reason else f" (the API answered {exc.status}: {exc.message})"
            unseen.append(f"{what}{reason}")
            return None

    def _owner_chain(self, pod: Obj, namespace: str, unseen: list[str]) -> list[Obj]:
        chain: list[Obj] = []
        obj = pod
        for _ in range(4):
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            ref = next((r for r in refs if isinstance(r, dict) and r.get("controller")), None)
            if ref is None or ref.get("kind") not in _OWNER_PATHS:
                break
            base, plural = _OWNER_PATHS[str(ref["kind"])]
            found = self._optional(
                unseen,
                f"the owning {ref['kind']} {ref.get('name')}",
                lambda base=base, plural=plural, ref=ref: self.get(
                    f"{base}/namespaces/{namespace}/{plural}/{ref.get('name')}"
                ),
            )
            if not found:
                break
            chain.append(found)
            obj = found
        return chain

    # -- triage --------------------------------------------------------------------

    def triage(self, namespace: str | None, now: float | None = None) -> list[Row]:
        """The unhealthy pods of `namespace` (None: every namespace), from list calls only."""
        now = time.time() if now is None else now
        scope = "" if namespace is None else f"/namespaces/{namespace}"
        try:
            pods = self.items(f"/api/v1{scope}/pods")
        except ApiFailure as exc:
            raise ClusterError(f"error: listing pods: {exc.message}") from None
        sick = [p for p in pods if problem(p, now) is not None]
        if not sick:
            return []
        unseen: list[str] = []
        events = self._optional(unseen, "the events", lambda: self.items(f"/api/v1{scope}/events"))
        events = list(events or [])
        if namespace is not None and namespace != "default":
            # Node events live in the `default` namespace (the kubelet's node reference).
            events += (
                self._optional(
                    unseen,
                    "the nodes' events",
                    lambda: self.items("/api/v1/events", fieldSelector="involvedObject.kind=Node"),
                )
                or []
            )
        nodes = self._optional(unseen, "the nodes", lambda: self.items("/api/v1/nodes")) or []
        owners = self._owners(sick, scope, unseen)
        return triage(sick, events, nodes, owners, now, unseen)

    def _owners(self, pods: Iterable[Obj], scope: str, unseen: list[str]) -> list[Obj]:
        kinds: set[str] = set()
        for p in pods:
            for r in (p.get("metadata") or {}).get("ownerReferences") or []:
                if isinstance(r, dict) and r.get("kind") in _OWNER_PATHS:
                    kinds.add(str(r["kind"]))
        if "ReplicaSet" in kinds:
            kinds.add("Deployment")
        if "Job" in kinds:
            kinds.add("CronJob")
        out: list[Obj] = []
        for kind in sorted(kinds):
            base, plural = _OWNER_PATHS[kind]
            got = self._optional(
                unseen, f"the {plural}", lambda b=base, p=plural: self.items(f"{b}{scope}/{p}")
            )
            for obj in got or []:
                obj.setdefault("kind", kind)  # list items carry no kind
                out.append(obj)
        return out

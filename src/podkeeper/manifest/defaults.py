"""Kubernetes defaulting: what the API server fills in before validation and storage.

Follows `pkg/apis/core/v1/defaults.go` (`SetDefaults_Pod`, `SetDefaults_PodSpec`,
`SetDefaults_Container`, `SetDefaults_Probe`, `SetDefaults_HTTPGetAction`,
`SetDefaults_Service`, `SetDefaults_ResourceList`, `SetDefaults_ObjectFieldSelector`),
the `+default` markers of `k8s.io/api/core/v1/types.go` (port protocol TCP),
`pkg/apis/apps/v1/defaults.go` and `pkg/apis/batch/v1/defaults.go`.
Only values of the right type are touched; wrong types are left for validation.
"""

from __future__ import annotations

import copy
from typing import Any

from podkeeper.manifest import quantity
from podkeeper.manifest.configobjects import admit_secret
from podkeeper.manifest.kinds import pod_template

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _map(parent: dict[str, Any], name: str) -> dict[str, Any]:
    """`parent[name]` as a dict, created when absent (None when it has another type)."""
    value = parent.get(name)
    if value is None:
        value = parent[name] = {}
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _set(obj: dict[str, Any], name: str, value: object) -> None:
    """Set `name` when it is absent, null, empty or zero (Go's zero value)."""
    current = obj.get(name)
    if current is None or current == "" or (current == 0 and not isinstance(current, bool)):
        obj[name] = value


def default_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `obj` with the Kubernetes defaults for its kind filled in."""
    out = copy.deepcopy(obj)
    kind = out.get("kind")
    meta = _map(out, "metadata")
    _set(meta, "namespace", "default")
    if kind == "Secret":
        admit_secret(out)
        return out
    if kind == "Service":
        _default_service(_map(out, "spec"))
        return out
    spec = out.get("spec")
    if isinstance(spec, dict):
        _default_workload(str(kind), spec)
    found = pod_template(out)
    if found is not None and isinstance(found[1].get("spec"), dict):
        _default_pod_spec(found[1]["spec"], is_pod=kind == "Pod")
    return out


def _default_workload(kind: str, spec: dict[str, Any]) -> None:
    """The workload's own fields (apps/v1 and batch/v1 defaults.go)."""
    if kind in ("Deployment", "ReplicaSet", "StatefulSet") and spec.get("replicas") is None:
        spec["replicas"] = 1
    if kind == "Deployment":
        # apps/v1 SetDefaults_Deployment.
        strategy = _map(spec, "strategy")
        _set(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _map(strategy, "rollingUpdate")
            if rolling.get("maxUnavailable") is None:
                rolling["maxUnavailable"] = "25%"
            if rolling.get("maxSurge") is None:
                rolling["maxSurge"] = "25%"
        for name, value in (
            ("revisionHistoryLimit", 10),
            ("progressDeadlineSeconds", 600),
            ("minReadySeconds", 0),
        ):
            if spec.get(name) is None:
                spec[name] = value
    elif kind in ("StatefulSet", "DaemonSet"):
        strategy = _map(spec, "updateStrategy")
        _set(strategy, "type", "RollingUpdate")
        if spec.get("revisionHistoryLimit") is None:
            spec["revisionHistoryLimit"] = 10
        if kind == "StatefulSet":
            _set(spec, "podManagementPolicy", "OrderedReady")
    elif kind == "Job":
        # batch/v1 SetDefaults_Job.
        for name, value in (("completions", 1), ("parallelism", 1), ("backoffLimit", 6)):
            if spec.get(name) is None:
                spec[name] = value
        _set(spec, "completionMode", "NonIndexed")
    elif kind == "CronJob":
        _set(spec, "concurrencyPolicy", "Allow")
        for name, value in (
            ("suspend", False),
            ("successfulJobsHistoryLimit", 3),
            ("failedJobsHistoryLimit", 1),
        ):
            if spec.get(name) is None:
                spec[name] = value


def _default_pod_spec(spec: dict[str, Any], is_pod: bool) -> None:
    """SetDefaults_PodSpec, and SetDefaults_Pod when the object is a Pod itself."""
    _set(spec, "restartPolicy", "Always")
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    host_network = spec.get("hostNetwork") is True
    for name in ("initContainers", "containers"):
        for container in _dicts(spec.get(name)):
            _default_container(container, is_pod, host_network)


def _default_container(c: dict[str, Any], is_pod: bool, host_network: bool) -> None:
    if not c.get("imagePullPolicy"):
        # PullAlways for the `latest` tag or no tag (digests count as a tag-less pin).
        image = c.get("image")
        tag = _image_tag(image) if isinstance(image, str) and image else ""
        c["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    for port in _dicts(c.get("ports")):
        _set(port, "protocol", "TCP")
        if host_network and not port.get("hostPort"):
            # SetDefaults_Pod defaultHostNetworkPorts.
            port["hostPort"] = port.get("containerPort")
    for env in _dicts(c.get("env")):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict) and isinstance(value_from.get("fieldRef"), dict):
            _set(value_from["fieldRef"], "apiVersion", "v1")
    for name in _PROBES:
        probe = c.get(name)
        if isinstance(probe, dict):
            _default_probe(probe)
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
                _default_http_get(handler["httpGet"])
    resources = c.get("resources")
    if isinstance(resources, dict):
        _default_resources(resources, is_pod)


def _image_tag(image: str) -> str:
    """The tag of an image reference, `latest` when none (`pkg/util/parsers.ParseImageName`)."""
    name = image.split("@", 1)[0]
    if "@" in image:
        return ""  # pinned by digest: IfNotPresent
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _default_probe(probe: dict[str, Any]) -> None:
    # SetDefaults_Probe replaces zero values; initialDelaySeconds stays as given.
    for name, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        _set(probe, name, value)
    if isinstance(probe.get("httpGet"), dict):
        _default_http_get(probe["httpGet"])


def _default_http_get(action: dict[str, Any]) -> None:
    _set(action, "path", "/")
    _set(action, "scheme", "HTTP")


def _default_resources(resources: dict[str, Any], is_pod: bool) -> None:
    for name in ("limits", "requests"):
        values = resources.get(name)
        if isinstance(values, dict):
            for key, raw in list(values.items()):
                values[key] = _canonical_quantity(raw)
    limits = resources.get("limits")
    if is_pod and isinstance(limits, dict) and limits:
        # SetDefaults_Pod: requests default to limits (Pods only, not templates).
        requests = resources.get("requests")
        if not isinstance(requests, dict):
            requests = resources["requests"] = {}
        for key, value in limits.items():
            # An unparseable quantity never gets this far in Kubernetes (decoding fails),
            # so copying it would only double the error.
            if _parses(value):
                requests.setdefault(key, value)


def _parses(raw: object) -> bool:
    try:
        quantity.parse(raw)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _canonical_quantity(raw: object) -> object:
    """SetDefaults_ResourceList rounds up to milli scale; stored quantities print canonically."""
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        return raw
    try:
        return str(quantity.round_up_milli(quantity.parse(raw)))
    except ValueError:
        return raw  # left for validation to report


def _default_service(spec: dict[str, Any]) -> None:
    """SetDefaults_Service."""
    _set(spec, "sessionAffinity", "None")
    _set(spec, "type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        _set(port, "protocol", "TCP")
        target = port.get("targetPort")
        number = port.get("port")
        if (target is None or target == 0 or target == "") and isinstance(number, int):
            port["targetPort"] = number

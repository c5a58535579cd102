"""The object kinds podkeeper reads, their API versions, and where their pod template lives."""

from __future__ import annotations

from typing import Any

# kind -> the only apiVersion the API serves it under (as of v1.33).
KIND_VERSIONS: dict[str, str] = {
    "Pod": "v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "PersistentVolumeClaim": "v1",
}

# Kinds whose `spec.template` is a PodTemplateSpec.
_TEMPLATE_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"})

# Kinds whose names are DNS-1035 labels rather than DNS-1123 subdomains
# (`pkg/apis/core/validation/validation.go ValidateServiceName`).
DNS1035_NAMED = frozenset({"Service"})


def no_match_message(kind: str, api_version: str) -> str:
    """kubectl's RESTMapper error for an unknown kind/version pair."""
    return f'no matches for kind "{kind}" in version "{api_version}"'


def is_list_kind(kind: str) -> bool:
    """`List` and `*List` kinds (`PodList`, ...) carry their objects in `items`."""
    return kind == "List" or kind.endswith("List")


def _child_map(obj: object, name: str) -> dict[str, Any] | None:
    if isinstance(obj, dict):
        value = obj.get(name)
        if isinstance(value, dict):
            return value
    return None


def pod_template(obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(field-path prefix, pod template) of a workload; `("", obj)` for a Pod.

    The prefix is what validation prepends to pod paths: `spec.template` for a
    Deployment, `spec.jobTemplate.spec.template` for a CronJob. A workload
    without a template gets an empty dict (so validation reports what is
    missing); kinds without a pod template give None.
    """
    kind = str(obj.get("kind"))
    if kind == "Pod":
        return "", obj
    if kind in _TEMPLATE_KINDS:
        template = _child_map(_child_map(obj, "spec"), "template")
        return "spec.template", template if template is not None else {}
    if kind == "CronJob":
        job_spec = _child_map(_child_map(_child_map(obj, "spec"), "jobTemplate"), "spec")
        template = _child_map(job_spec, "template")
        return "spec.jobTemplate.spec.template", template if template is not None else {}
    return None

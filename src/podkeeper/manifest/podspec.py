"""Validation of object metadata, pod specs and pod templates.

Copied from `pkg/apis/core/validation/validation.go` (`ValidatePodSpec`,
`ValidatePodTemplateSpec`, `validateRestartPolicy`, `validateDNSPolicy`) and
`staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go`
(`ValidateObjectMetaAccessor`), `.../apis/meta/v1/validation/validation.go`
(`ValidateLabels`, `ValidateLabelSelector`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from podkeeper.core import sysctls
from podkeeper.manifest import names
from podkeeper.manifest.checks import (
    Errors,
    as_list,
    as_map,
    as_str,
    expect_list,
    expect_map,
    get_int,
    get_str,
    nonnegative,
)
from podkeeper.manifest.containers import validate_containers, validate_init_containers
from podkeeper.manifest.field import (
    DUPLICATE,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    FieldError,
    supported,
)
from podkeeper.manifest.volumes import validate_volume_mounts, validate_volumes

NameCheck = Callable[[str], list[str]]
_INT32_MAX = 2147483647


def validate_labels(labels: object, path: str, errs: Errors) -> None:
    """`ValidateLabels`: qualified-name keys, label values (errors at the map's path)."""
    for key, value in as_map(labels).items():
        errs.extend(FieldError(path, INVALID, key, m) for m in names.is_qualified_name(str(key)))
        if not isinstance(value, str):
            errs.append(FieldError(path, INVALID, value, "must be a string"))
            continue
        errs.extend(FieldError(path, INVALID, value, m) for m in names.is_valid_label_value(value))


def validate_annotations(annotations: object, path: str, errs: Errors) -> None:
    """`ValidateAnnotations`: keys are qualified names (checked lower-cased)."""
    for key, value in as_map(annotations).items():
        msgs = names.is_qualified_name(str(key).lower())
        errs.extend(FieldError(path, INVALID, key, m) for m in msgs)
        if not isinstance(value, str):
            errs.append(FieldError(f"{path}[{key}]", INVALID, value, "must be a string"))


def validate_object_meta(meta: object, name_check: NameCheck, errs: Errors) -> None:
    """`ValidateObjectMetaAccessor` for a namespaced object at `metadata`."""
    if meta is not None and not isinstance(meta, dict):
        errs.append(FieldError("metadata", INVALID, meta, "must be an object"))
        return
    m = as_map(meta)
    generate = get_str(m, "generateName", "metadata.generateName", errs)
    if generate:
        msgs = name_check(names.mask_trailing_dash(generate))
        errs.extend(FieldError("metadata.generateName", INVALID, generate, x) for x in msgs)
    name = get_str(m, "name", "metadata.name", errs)
    if not name:
        # The API server generates a name from generateName before validating.
        if not generate:
            errs.append(
                FieldError("metadata.name", REQUIRED, None, "name or generateName is required")
            )
    else:
        errs.extend(FieldError("metadata.name", INVALID, name, x) for x in name_check(name))
    namespace = get_str(m, "namespace", "metadata.namespace", errs)
    if not namespace:
        errs.append(FieldError("metadata.namespace", REQUIRED))
    else:
        msgs = names.is_dns1123_label(namespace)
        errs.extend(FieldError("metadata.namespace", INVALID, namespace, x) for x in msgs)
    validate_labels(m.get("labels"), "metadata.labels", errs)
    validate_annotations(m.get("annotations"), "metadata.annotations", errs)


def _validate_restart_policy(spec: dict[str, Any], path: str, errs: Errors) -> None:
    policy = get_str(spec, "restartPolicy", path, errs)
    if not policy:
        errs.append(FieldError(path, REQUIRED))
    elif policy not in ("Always", "OnFailure", "Never"):
        errs.append(
            FieldError(path, NOT_SUPPORTED, policy, supported(["Always", "OnFailure", "Never"]))
        )


def _validate_dns_policy(spec: dict[str, Any], path: str, errs: Errors) -> None:
    policy = get_str(spec, "dnsPolicy", f"{path}.dnsPolicy", errs)
    valid = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    if not policy:
        errs.append(FieldError(f"{path}.dnsPolicy", REQUIRED))
    elif policy not in valid:
        errs.append(FieldError(f"{path}.dnsPolicy", NOT_SUPPORTED, policy, supported(valid)))
    elif policy == "None" and spec.get("dnsConfig") is None:
        detail = "must provide `dnsConfig` when `dnsPolicy` is None"
        errs.append(FieldError(f"{path}.dnsConfig", REQUIRED, None, detail))


def _validate_readiness_gates(spec: dict[str, object], path: str, errs: Errors) -> None:
    """`validateReadinessGates`: each conditionType is a qualified name."""
    for i, gate in enumerate(expect_list(spec, "readinessGates", path, errs)):
        if not isinstance(gate, dict):
            errs.append(FieldError(f"{path}[{i}]", INVALID, gate, "must be an object"))
            continue
        ctype = gate.get("conditionType")
        value = ctype if isinstance(ctype, str) else ""
        msgs = names.is_qualified_name(value)
        errs.extend(FieldError(f"{path}[{i}].conditionType", INVALID, ctype, m) for m in msgs)


def _validate_os(spec: dict[str, Any], path: str, errs: Errors) -> None:
    """`validateOS`: `spec.os.name` is required and is `linux` or `windows` (a valid OS
    other than the node's is admission's to refuse: core/admission.py)."""
    os_spec = spec.get("os")
    if os_spec is None:
        return
    if not isinstance(os_spec, dict):
        errs.append(FieldError(path, INVALID, os_spec, "must be an object"))
        return
    name = os_spec.get("name")
    if not name:
        errs.append(FieldError(f"{path}.name", REQUIRED, None, "cannot be empty"))
    elif name not in ("linux", "windows"):
        errs.append(FieldError(path, NOT_SUPPORTED, name, supported(["linux", "windows"])))


def _validate_host_aliases(spec: dict[str, Any], path: str, errs: Errors) -> None:
    """`ValidateHostAliases`: each `ip` a valid IP, each hostname a DNS-1123 subdomain
    (they become lines of the pod's /etc/hosts: core/hostsfile.py)."""
    aliases = expect_list(spec, "hostAliases", path, errs)
    for i, alias in enumerate(aliases):
        here = f"{path}[{i}]"
        if not isinstance(alias, dict):
            errs.append(FieldError(here, INVALID, alias, "must be an object"))
            continue
        ip = alias.get("ip")
        try:
            ipaddress.ip_address(str(ip))
            valid = isinstance(ip, str)
        except ValueError:
            valid = False
        if not valid:
            detail = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            errs.append(FieldError(f"{here}.ip", INVALID, ip, detail))
        for j, hostname in enumerate(expect_list(alias, "hostnames", f"{here}.hostnames", errs)):
            msgs = (
                names.is_dns1123_subdomain(hostname)
                if isinstance(hostname, str)
                else ["must be a string"]
            )
            errs.extend(FieldError(f"{here}.hostnames[{j}]", INVALID, hostname, m) for m in msgs)


def validate_pod_spec(
    spec: object, path: str, errs: Errors, extra_volumes: frozenset[str] = frozenset()
) -> None:
    """`ValidatePodSpec` for the fields podkeeper knows, at `path` (`spec.template.spec`...).
    `extra_volumes` are volumes the pod will get from its controller (a StatefulSet's
    volumeClaimTemplates): volumeMounts may name them."""
    if not isinstance(spec, dict):
        if spec is not None:
            errs.append(FieldError(path, INVALID, spec, "must be an object"))
        spec = {}
    grace_path = f"{path}.terminationGracePeriodSeconds"
    grace = get_int(spec, "terminationGracePeriodSeconds", grace_path, errs)
    containers = expect_list(spec, "containers", f"{path}.containers", errs)
    init = expect_list(spec, "initContainers", f"{path}.initContainers", errs)
    container_names = validate_containers(containers, grace, f"{path}.containers", errs)
    validate_init_containers(init, container_names, grace, f"{path}.initContainers", errs)
    volumes = validate_volumes(spec.get("volumes"), f"{path}.volumes", errs) | extra_volumes
    for field_name, items in (("containers", containers), ("initContainers", init)):
        for i, c in enumerate(items):
            if isinstance(c, dict):
                validate_volume_mounts(c, volumes, f"{path}.{field_name}[{i}]", errs)
    _validate_restart_policy(spec, f"{path}.restartPolicy", errs)
    _validate_dns_policy(spec, path, errs)
    # Kubernetes itself tolerates a negative grace period (the registry turns it
    # into 1); podkeeper rejects it with the generic non-negative message.
    nonnegative(grace, grace_path, errs)
    deadline_path = f"{path}.activeDeadlineSeconds"
    deadline = get_int(spec, "activeDeadlineSeconds", deadline_path, errs)
    if deadline is not None and not 1 <= deadline <= _INT32_MAX:
        detail = names.inclusive_range_error(1, _INT32_MAX)
        errs.append(FieldError(deadline_path, INVALID, deadline, detail))
    host_network = spec.get("hostNetwork")
    if host_network is not None and not isinstance(host_network, bool):
        errs.append(FieldError(f"{path}.hostNetwork", INVALID, host_network, "must be a boolean"))
    node_name = get_str(spec, "nodeName", f"{path}.nodeName", errs)
    if node_name:
        msgs = names.is_dns1123_subdomain(node_name)
        errs.extend(FieldError(f"{path}.nodeName", INVALID, node_name, m) for m in msgs)
    _validate_readiness_gates(spec, f"{path}.readinessGates", errs)
    # pkg/apis/core/validation ValidateRuntimeClassName: a DNS-1123 subdomain.
    rc_path = f"{path}.runtimeClassName"
    runtime_class = get_str(spec, "runtimeClassName", rc_path, errs)
    if runtime_class:
        msgs = names.is_dns1123_subdomain(runtime_class)
        errs.extend(FieldError(rc_path, INVALID, runtime_class, m) for m in msgs)
    _validate_os(spec, f"{path}.os", errs)
    _validate_host_aliases(spec, f"{path}.hostAliases", errs)
    _validate_sysctls(spec, f"{path}.securityContext.sysctls", errs)


def _validate_sysctls(spec: dict[str, Any], path: str, errs: Errors) -> None:
    """`validateSysctls`: each name required, valid (core/sysctls.py) and given once."""
    seen: set[str] = set()
    for i, item in enumerate(as_list(as_map(spec.get("securityContext")).get("sysctls"))):
        name = as_str(as_map(item).get("name"))
        here = f"{path}[{i}].name"
        if not name:
            errs.append(FieldError(here, REQUIRED, "", ""))
            continue
        why = sysctls.invalid_name(name)
        if why is not None:
            errs.append(FieldError(here, INVALID, name, why))
        elif name in seen:
            errs.append(FieldError(here, DUPLICATE, name, ""))
        seen.add(name)


def validate_pod_template(
    template: dict[str, Any], path: str, errs: Errors, extra_volumes: frozenset[str] = frozenset()
) -> None:
    """`ValidatePodTemplateSpec`: labels (at `<path>.labels`, as Kubernetes prints), spec."""
    meta = expect_map(template, "metadata", f"{path}.metadata", errs) or {}
    validate_labels(meta.get("labels"), f"{path}.labels", errs)
    validate_annotations(meta.get("annotations"), f"{path}.annotations", errs)
    validate_pod_spec(template.get("spec"), f"{path}.spec", errs, extra_volumes)


def template_restart_policy(
    template: dict[str, Any], path: str, allowed: list[str], errs: Errors
) -> None:
    """Workload controllers accept only some restart policies (`Always` for ReplicaSets)."""
    policy = as_map(template.get("spec")).get("restartPolicy")
    if isinstance(policy, str) and policy and policy not in allowed:
        errs.append(
            FieldError(f"{path}.spec.restartPolicy", NOT_SUPPORTED, policy, supported(allowed))
        )


def validate_label_selector(selector: dict[str, Any], path: str, errs: Errors) -> None:
    """`ValidateLabelSelector`: matchLabels and matchExpressions."""
    validate_labels(selector.get("matchLabels"), f"{path}.matchLabels", errs)
    exprs_path = f"{path}.matchExpressions"
    for i, expr in enumerate(expect_list(selector, "matchExpressions", exprs_path, errs)):
        idx = f"{exprs_path}[{i}]"
        e = as_map(expr)
        op = as_str(e.get("operator"))
        values = as_list(e.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                detail = "must be specified when `operator` is 'In' or 'NotIn'"
                errs.append(FieldError(f"{idx}.values", REQUIRED, None, detail))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                errs.append(FieldError(f"{idx}.values", "Forbidden", None, detail))
        else:
            errs.append(FieldError(f"{idx}.operator", INVALID, op, "not a valid selector operator"))
        key = as_str(e.get("key"))
        errs.extend(FieldError(f"{idx}.key", INVALID, key, m) for m in names.is_qualified_name(key))


def selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """`metav1.LabelSelectorAsSelector(s).Matches(labels)`."""
    for key, value in as_map(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        e = as_map(expr)
        key, op = as_str(e.get("key")), e.get("operator")
        values = [str(v) for v in as_list(e.get("values"))]
        present = key in labels
        if op == "In" and not (present and str(labels[key]) in values):
            return False
        if op == "NotIn" and present and str(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True

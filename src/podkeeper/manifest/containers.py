"""Validation of containers and init containers.

Copied from `pkg/apis/core/validation/validation.go`: `validateContainers`,
`validateInitContainers`, `validateContainerCommon`, `validateContainerPorts`,
`ValidateEnv`, `validateEnvVarValueFrom`, `validateObjectFieldSelector`,
`validatePullPolicy`, `validateInitContainerRestartPolicy` and
`validateResourceRequirements` / `ValidateResourceQuantityValue`.
"""

from __future__ import annotations

from typing import Any

from podkeeper.manifest import names, quantity
from podkeeper.manifest.checks import (
    Errors,
    as_str,
    expect_list,
    expect_map,
    expect_str_list,
    get_int,
    get_str,
)
from podkeeper.manifest.configobjects import is_config_map_key
from podkeeper.manifest.field import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    FieldError,
    supported,
)
from podkeeper.manifest.probes import validate_lifecycle, validate_probe

PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")
_INIT_FORBIDDEN = "may not be set for init containers without restartPolicy=Always"

# pkg/apis/core/pods/helpers.go ConvertDownwardAPIFieldLabel (v1 paths).
_DOWNWARD_PATHS = frozenset(
    {
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
# validation.go validEnvDownwardAPIFieldPathExpressions.
_ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
# podkeeper's extension: `pids` caps the container's process count (an integer).
PIDS = "pids"


def _validate_ports(ports: list[Any], path: str, errs: Errors) -> None:
    seen: set[str] = set()
    for i, port in enumerate(ports):
        idx = f"{path}[{i}]"
        if not isinstance(port, dict):
            errs.append(FieldError(idx, INVALID, port, "must be an object"))
            continue
        name = get_str(port, "name", f"{idx}.name", errs)
        if name:
            msgs = names.is_valid_port_name(name)
            errs.extend(FieldError(f"{idx}.name", INVALID, name, m) for m in msgs)
            if not msgs and name in seen:
                errs.append(FieldError(f"{idx}.name", DUPLICATE, name))
            seen.add(name)
        number = get_int(port, "containerPort", f"{idx}.containerPort", errs)
        if number is None and port.get("containerPort") is not None:
            pass  # wrong type, already reported
        elif not number:
            errs.append(FieldError(f"{idx}.containerPort", REQUIRED))
        else:
            msgs = names.is_valid_port_num(number)
            errs.extend(FieldError(f"{idx}.containerPort", INVALID, number, m) for m in msgs)
        host = get_int(port, "hostPort", f"{idx}.hostPort", errs)
        if host:
            msgs = names.is_valid_port_num(host)
            errs.extend(FieldError(f"{idx}.hostPort", INVALID, host, m) for m in msgs)
        protocol = get_str(port, "protocol", f"{idx}.protocol", errs)
        if not protocol:
            errs.append(FieldError(f"{idx}.protocol", REQUIRED))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            errs.append(
                FieldError(
                    f"{idx}.protocol", NOT_SUPPORTED, protocol, supported(["SCTP", "TCP", "UDP"])
                )
            )


def _validate_field_ref(ref: dict[str, Any], path: str, errs: Errors) -> None:
    version = get_str(ref, "apiVersion", f"{path}.apiVersion", errs)
    if not version:
        errs.append(FieldError(f"{path}.apiVersion", REQUIRED))
        return
    field_path = get_str(ref, "fieldPath", f"{path}.fieldPath", errs)
    if not field_path:
        errs.append(FieldError(f"{path}.fieldPath", REQUIRED))
        return
    if version != "v1":
        detail = f"error converting fieldPath: unsupported pod version: {version}"
        errs.append(FieldError(f"{path}.fieldPath", INVALID, field_path, detail))
        return
    base, bracket, _ = field_path.partition("[")
    if bracket and base in ("metadata.labels", "metadata.annotations"):
        return  # metadata.labels['key'] is allowed
    if field_path not in _DOWNWARD_PATHS:
        detail = f"error converting fieldPath: field label not supported: {field_path}"
        errs.append(FieldError(f"{path}.fieldPath", INVALID, field_path, detail))
    elif field_path not in _ENV_FIELD_PATHS:
        errs.append(
            FieldError(f"{path}.fieldPath", NOT_SUPPORTED, field_path, supported(_ENV_FIELD_PATHS))
        )


# validation.go validContainerResourceFieldPathExpressions and the divisors it accepts.
_RESOURCE_FIELDS = (
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
)
_CPU_DIVISORS = frozenset({"1m", "1"})
_BYTE_DIVISORS = frozenset(
    {"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
)
_BYTE_DIVISOR_LIST = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"


def _validate_key_selector(ref: dict[str, Any], path: str, errs: Errors) -> None:
    """`validateConfigMapKeySelector` / `validateSecretKeySelector`."""
    name = get_str(ref, "name", f"{path}.name", errs)
    errs.extend(
        FieldError(f"{path}.name", INVALID, name, m) for m in names.is_dns1123_subdomain(name)
    )
    key = get_str(ref, "key", f"{path}.key", errs)
    if not key:
        errs.append(FieldError(f"{path}.key", REQUIRED))
    else:
        errs.extend(FieldError(f"{path}.key", INVALID, key, m) for m in is_config_map_key(key))


def _validate_resource_ref(ref: dict[str, Any], path: str, errs: Errors) -> None:
    """`validateContainerResourceFieldSelector` and `validateContainerResourceDivisor`."""
    resource = get_str(ref, "resource", f"{path}.resource", errs)
    if not resource:
        errs.append(FieldError(f"{path}.resource", REQUIRED))
    elif resource not in _RESOURCE_FIELDS and not resource.startswith(
        ("limits.hugepages-", "requests.hugepages-")
    ):
        errs.append(
            FieldError(f"{path}.resource", NOT_SUPPORTED, resource, supported(_RESOURCE_FIELDS))
        )
    raw = ref.get("divisor")
    if raw is None or raw == "" or raw == 0:
        return
    try:
        divisor = str(quantity.parse(raw))
    except ValueError as err:
        errs.append(FieldError(f"{path}.divisor", INVALID, raw, str(err)))
        return
    if divisor == "0":
        return
    what = resource.rpartition(".")[2]
    if what == "cpu" and divisor not in _CPU_DIVISORS:
        detail = "only divisor's values 1m and 1 are supported with the cpu resource"
    elif what in ("memory", "ephemeral-storage") and divisor not in _BYTE_DIVISORS:
        noun = "memory" if what == "memory" else "local ephemeral storage"
        detail = (
            f"only divisor's values {_BYTE_DIVISOR_LIST} are supported with the {noun} resource"
        )
    else:
        return
    errs.append(FieldError(f"{path}.divisor", INVALID, resource, detail))


def _validate_env_from(sources: list[Any], path: str, errs: Errors) -> None:
    """`ValidateEnvFrom` (relaxed prefix names, as since v1.30)."""
    for i, source in enumerate(sources):
        idx = f"{path}[{i}]"
        if not isinstance(source, dict):
            errs.append(FieldError(idx, INVALID, source, "must be an object"))
            continue
        prefix = get_str(source, "prefix", f"{idx}.prefix", errs)
        if prefix:
            msgs = names.is_relaxed_env_var_name(prefix)
            errs.extend(FieldError(f"{idx}.prefix", INVALID, prefix, m) for m in msgs)
        count = 0
        for ref_kind in ("configMapRef", "secretRef"):
            ref = expect_map(source, ref_kind, f"{idx}.{ref_kind}", errs)
            if ref is None:
                continue
            count += 1
            name = get_str(ref, "name", f"{idx}.{ref_kind}.name", errs)
            if not name:
                errs.append(FieldError(f"{idx}.{ref_kind}.name", REQUIRED))
            else:
                msgs = names.is_dns1123_subdomain(name)
                errs.extend(FieldError(f"{idx}.{ref_kind}.name", INVALID, name, m) for m in msgs)
        if count == 0:
            detail = "must specify one of: `configMapRef` or `secretRef`"
            errs.append(FieldError(path, INVALID, "", detail))
        elif count > 1:
            detail = "may not have more than one field specified at a time"
            errs.append(FieldError(path, FORBIDDEN, None, detail))


def _validate_env(env: list[Any], path: str, errs: Errors) -> None:
    for i, var in enumerate(env):
        idx = f"{path}[{i}]"
        if not isinstance(var, dict):
            errs.append(FieldError(idx, INVALID, var, "must be an object"))
            continue
        name = get_str(var, "name", f"{idx}.name", errs)
        if not name:
            errs.append(FieldError(f"{idx}.name", REQUIRED))
        errs.extend(
            FieldError(f"{idx}.name", INVALID, name, m) for m in names.is_relaxed_env_var_name(name)
        )
        value = get_str(var, "value", f"{idx}.value", errs)
        value_from = expect_map(var, "valueFrom", f"{idx}.valueFrom", errs)
        if value_from is None:
            continue
        from_path = f"{idx}.valueFrom"
        sources = [
            k
            for k in (
                "fieldRef",
                "resourceFieldRef",
                "configMapKeyRef",
                "secretKeyRef",
                "fileKeyRef",
            )
            if value_from.get(k) is not None
        ]
        field_ref = expect_map(value_from, "fieldRef", f"{from_path}.fieldRef", errs)
        if field_ref is not None:
            _validate_field_ref(field_ref, f"{from_path}.fieldRef", errs)
        resource_ref = expect_map(
            value_from, "resourceFieldRef", f"{from_path}.resourceFieldRef", errs
        )
        if resource_ref is not None:
            _validate_resource_ref(resource_ref, f"{from_path}.resourceFieldRef", errs)
        for ref_kind in ("configMapKeyRef", "secretKeyRef"):
            ref = expect_map(value_from, ref_kind, f"{from_path}.{ref_kind}", errs)
            if ref is not None:
                _validate_key_selector(ref, f"{from_path}.{ref_kind}", errs)
        if not sources:
            detail = (
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                "or `secretKeyRef`"
            )
            errs.append(FieldError(from_path, INVALID, "", detail))
        elif value:
            detail = "may not be specified when `value` is not empty"
            errs.append(FieldError(from_path, INVALID, "", detail))
        elif len(sources) > 1:
            detail = "may not have more than one field specified at a time"
            errs.append(FieldError(from_path, INVALID, "", detail))


def _overcommit(resource: str) -> bool:
    # helper.IsOvercommitAllowed: native resources other than hugepages.
    return "/" not in resource and not resource.startswith("hugepages-")


def _standard_resource(name: str) -> bool:
    """`IsStandardContainerResourceName`, plus `pids`; prefixed names are extended resources."""
    return (
        "/" in name or name in _STANDARD_RESOURCES or name == PIDS or name.startswith("hugepages-")
    )


def _resource_list(
    resources: dict[str, Any], which: str, path: str, errs: Errors
) -> dict[str, quantity.Quantity]:
    """Parse and check one of `limits` / `requests`; the quantities that parsed."""
    values = expect_map(resources, which, f"{path}.{which}", errs) or {}
    parsed: dict[str, quantity.Quantity] = {}
    for name, raw in values.items():
        key_path = f"{path}.{which}[{name}]"
        if not _standard_resource(name):
            detail = "must be a standard resource for containers"
            errs.append(FieldError(key_path, INVALID, name, detail))
            continue
        try:
            q = quantity.parse(raw)
        except ValueError as err:
            errs.append(
                FieldError(key_path, INVALID, raw if isinstance(raw, str) else str(raw), str(err))
            )
            continue
        if q.value < 0:
            errs.append(FieldError(key_path, INVALID, str(q), "must be greater than or equal to 0"))
        elif name == PIDS and q.value.denominator != 1:
            errs.append(FieldError(key_path, INVALID, str(q), "must be an integer"))
        parsed[name] = q
    return parsed


def _validate_resources(resources: dict[str, Any], path: str, errs: Errors) -> None:
    limits = _resource_list(resources, "limits", path, errs)
    requests = _resource_list(resources, "requests", path, errs)
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is not None:
            if request.value != limit.value and not _overcommit(name):
                detail = f"must be equal to {name} limit of {limit}"
                errs.append(FieldError(f"{path}.requests", INVALID, str(request), detail))
            elif request.value > limit.value:
                detail = f"must be less than or equal to {name} limit of {limit}"
                errs.append(FieldError(f"{path}.requests", INVALID, str(request), detail))
        elif not _overcommit(name):
            detail = "Limit must be set for non overcommitable resources"
            errs.append(FieldError(f"{path}.limits", REQUIRED, None, detail))


def _validate_common(c: dict[str, Any], path: str, errs: Errors) -> None:
    """`validateContainerCommon`: name, image, ports, env, pull policy, resources..."""
    name = get_str(c, "name", f"{path}.name", errs)
    if not name:
        errs.append(FieldError(f"{path}.name", REQUIRED))
    else:
        errs.extend(
            FieldError(f"{path}.name", INVALID, name, m) for m in names.is_dns1123_label(name)
        )
    # The process runtime treats `image` as a label, but Kubernetes requires it.
    if not get_str(c, "image", f"{path}.image", errs):
        errs.append(FieldError(f"{path}.image", REQUIRED))
    expect_str_list(c, "command", f"{path}.command", errs)
    expect_str_list(c, "args", f"{path}.args", errs)
    get_str(c, "workingDir", f"{path}.workingDir", errs)
    policy = get_str(c, "terminationMessagePolicy", f"{path}.terminationMessagePolicy", errs)
    if not policy:
        errs.append(FieldError(f"{path}.terminationMessagePolicy", REQUIRED))
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.append(
            FieldError(
                f"{path}.terminationMessagePolicy",
                NOT_SUPPORTED,
                policy,
                supported(["File", "FallbackToLogsOnError"]),
            )
        )
    _validate_ports(expect_list(c, "ports", f"{path}.ports", errs), f"{path}.ports", errs)
    _validate_env(expect_list(c, "env", f"{path}.env", errs), f"{path}.env", errs)
    _validate_env_from(expect_list(c, "envFrom", f"{path}.envFrom", errs), f"{path}.envFrom", errs)
    pull = get_str(c, "imagePullPolicy", f"{path}.imagePullPolicy", errs)
    if not pull:
        errs.append(FieldError(f"{path}.imagePullPolicy", REQUIRED))
    elif pull not in ("Always", "IfNotPresent", "Never"):
        errs.append(
            FieldError(
                f"{path}.imagePullPolicy",
                NOT_SUPPORTED,
                pull,
                supported(["Always", "IfNotPresent", "Never"]),
            )
        )
    resources = expect_map(c, "resources", f"{path}.resources", errs)
    if resources is not None:
        _validate_resources(resources, f"{path}.resources", errs)


def _validate_probes_and_hooks(
    c: dict[str, Any], grace: int | None, path: str, errs: Errors
) -> None:
    lifecycle = expect_map(c, "lifecycle", f"{path}.lifecycle", errs)
    if lifecycle is not None:
        validate_lifecycle(lifecycle, grace, f"{path}.lifecycle", errs)
    for probe_field in PROBE_FIELDS:
        probe = expect_map(c, probe_field, f"{path}.{probe_field}", errs)
        if probe is not None:
            validate_probe(probe_field, probe, grace, f"{path}.{probe_field}", errs)


def validate_containers(
    containers: list[Any], grace: int | None, path: str, errs: Errors
) -> set[str]:
    """`validateContainers`; returns the container names for the init-container check."""
    if not containers:
        errs.append(FieldError(path, REQUIRED))
        return set()
    seen: set[str] = set()
    for i, c in enumerate(containers):
        idx = f"{path}[{i}]"
        if not isinstance(c, dict):
            errs.append(FieldError(idx, INVALID, c, "must be an object"))
            continue
        _validate_common(c, idx, errs)
        name = as_str(c.get("name"))
        if name in seen:
            errs.append(FieldError(f"{idx}.name", DUPLICATE, name))
        seen.add(name)
        _validate_probes_and_hooks(c, grace, idx, errs)
        if c.get("restartPolicy") is not None:
            errs.append(
                FieldError(
                    f"{idx}.restartPolicy",
                    FORBIDDEN,
                    None,
                    "may not be set for non-init containers",
                )
            )
    return seen


def validate_init_containers(
    containers: list[Any], other_names: set[str], grace: int | None, path: str, errs: Errors
) -> None:
    """`validateInitContainers`: sidecars (restartPolicy Always) may have probes and hooks."""
    seen = set(other_names)
    for i, c in enumerate(containers):
        idx = f"{path}[{i}]"
        if not isinstance(c, dict):
            errs.append(FieldError(idx, INVALID, c, "must be an object"))
            continue
        _validate_common(c, idx, errs)
        policy = c.get("restartPolicy")
        if policy is not None and policy != "Always":
            errs.append(
                FieldError(f"{idx}.restartPolicy", NOT_SUPPORTED, policy, supported(["Always"]))
            )
        name = as_str(c.get("name"))
        if name in seen:
            errs.append(FieldError(f"{idx}.name", DUPLICATE, name))
        elif name:
            seen.add(name)
        if policy == "Always":
            _validate_probes_and_hooks(c, grace, idx, errs)
            continue
        for forbidden in ("lifecycle", *PROBE_FIELDS):
            if c.get(forbidden) is not None:
                errs.append(FieldError(f"{idx}.{forbidden}", FORBIDDEN, None, _INIT_FORBIDDEN))

"""`validate_object`: the API server's create-time validation for each kind podkeeper reads.

Pods: `pkg/apis/core/validation/validation.go ValidatePodCreate`. Deployments
and the other apps kinds: `pkg/apis/apps/validation/validation.go`
(`ValidateDeploymentSpec`, `ValidateDeploymentStrategy`,
`ValidateRollingUpdateDeployment`, `ValidatePodTemplateSpecForReplicaSet`).
Services: `ValidateService` in core validation, plus the node-port allocator's
range check (`pkg/registry/core/service/portallocator`). Jobs and CronJobs:
`pkg/apis/batch/validation/validation.go` (their pod template only).
"""

from __future__ import annotations

from typing import Any

from podkeeper.manifest import configobjects, kinds, names
from podkeeper.manifest.checks import (
    Errors,
    as_list,
    as_map,
    expect_list,
    expect_map,
    get_int,
    get_str,
    is_int,
    nonnegative,
)
from podkeeper.manifest.field import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    FieldError,
    GoValue,
    go_int_or_string,
    go_quote,
    go_string_map,
    supported,
)
from podkeeper.manifest.podspec import (
    selector_matches,
    template_restart_policy,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_pod_spec,
    validate_pod_template,
)
from podkeeper.manifest.probes import validate_port_num_or_name

_NODE_PORT_RANGE = (30000, 32767)


def validate_object(obj: dict[str, Any]) -> list[FieldError]:
    """Every Kubernetes validation error of a defaulted object, in the API server's order."""
    errs: Errors = []
    kind = str(obj.get("kind"))
    name_check = (
        names.is_dns1035_label if kind in kinds.DNS1035_NAMED else names.is_dns1123_subdomain
    )
    validate_object_meta(obj.get("metadata"), name_check, errs)
    if kind == "ConfigMap":
        configobjects.validate_config_map(obj, errs)
        return errs
    if kind == "Secret":
        configobjects.validate_secret(obj, errs)
        return errs
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, dict):
        errs.append(FieldError("spec", INVALID, spec, "must be an object"))
        return errs
    spec = as_map(spec)
    if kind == "Pod":
        validate_pod_spec(spec, "spec", errs)
    elif kind == "Service":
        _validate_service(spec, errs)
    elif kind in ("Deployment", "ReplicaSet"):
        _validate_replicated(str(kind), spec, errs)
    elif kind in ("StatefulSet", "DaemonSet"):
        _validate_selected_template(spec, "spec", errs)
    elif kind == "Job":
        _validate_job_template(spec, "spec", errs)
    elif kind == "CronJob":
        job_template = as_map(spec.get("jobTemplate"))
        _validate_job_template(as_map(job_template.get("spec")), "spec.jobTemplate.spec", errs)
    return errs


def _selector_repr(selector: dict[str, Any]) -> GoValue:
    labels = selector.get("matchLabels")
    match_labels = (
        go_string_map(labels).text if isinstance(labels, dict) else "map[string]string(nil)"
    )
    return GoValue(
        f"v1.LabelSelector{{MatchLabels:{match_labels}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
    )


def _check_template(
    spec: dict[str, Any],
    selector: dict[str, Any] | None,
    path: str,
    errs: Errors,
    extra_volumes: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The template's labels against the selector, then the template itself."""
    tpath = f"{path}.template"
    template = expect_map(spec, "template", tpath, errs) or {}
    labels = as_map(template.get("metadata")).get("labels")
    if selector is not None and not selector_matches(selector, as_map(labels)):
        errs.append(
            FieldError(
                f"{tpath}.metadata.labels",
                INVALID,
                go_string_map(labels),
                "`selector` does not match template `labels`",
            )
        )
    validate_pod_template(template, tpath, errs, extra_volumes)
    return template


def _selector(spec: dict[str, Any], path: str, errs: Errors) -> dict[str, Any] | None:
    """The validated selector, or None (with an error) when it is missing."""
    selector = expect_map(spec, "selector", f"{path}.selector", errs)
    if selector is None:
        if "selector" not in spec or spec["selector"] is None:
            errs.append(FieldError(f"{path}.selector", REQUIRED))
        return None
    validate_label_selector(selector, f"{path}.selector", errs)
    if not as_map(selector.get("matchLabels")) and not selector.get("matchExpressions"):
        errs.append(
            FieldError(
                f"{path}.selector",
                INVALID,
                _selector_repr(selector),
                "empty selector is invalid for deployment",
            )
        )
    return selector


def _validate_replicated(kind: str, spec: dict[str, Any], errs: Errors) -> None:
    """`ValidateDeploymentSpec` / `ValidateReplicaSetSpec`."""
    replicas = get_int(spec, "replicas", "spec.replicas", errs)
    nonnegative(replicas, "spec.replicas", errs)
    selector = _selector(spec, "spec", errs)
    if selector is None:
        return  # Kubernetes stops here: nothing else is checked without a selector
    template = _check_template(spec, selector, "spec", errs)
    template_restart_policy(template, "spec.template", ["Always"], errs)
    if as_map(template.get("spec")).get("activeDeadlineSeconds") is not None:
        deadline = as_map(template.get("spec"))["activeDeadlineSeconds"]
        errs.append(
            FieldError(
                "spec.template.spec.activeDeadlineSeconds",
                INVALID,
                deadline,
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        )
    if kind == "Deployment":
        strategy = expect_map(spec, "strategy", "spec.strategy", errs)
        _validate_strategy(strategy or {}, errs)
    min_ready = get_int(spec, "minReadySeconds", "spec.minReadySeconds", errs)
    nonnegative(min_ready, "spec.minReadySeconds", errs)
    if kind != "Deployment":
        return
    history = get_int(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit", errs)
    nonnegative(history, "spec.revisionHistoryLimit", errs)
    deadline = get_int(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds", errs)
    if deadline is not None:
        nonnegative(deadline, "spec.progressDeadlineSeconds", errs)
        if deadline <= (min_ready or 0):
            errs.append(
                FieldError(
                    "spec.progressDeadlineSeconds",
                    INVALID,
                    deadline,
                    "must be greater than minReadySeconds",
                )
            )
    paused = spec.get("paused")
    if paused is not None and not isinstance(paused, bool):
        errs.append(FieldError("spec.paused", INVALID, paused, "must be a boolean"))


def _percent(value: object) -> int | None:
    """`getPercentValue`: the number of a valid `N%` string, else None."""
    if isinstance(value, str) and not names.is_valid_percent(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: object) -> int:
    """`getIntOrPercentValue` (an invalid string counts as 0, like `IntValue()`)."""
    percent = _percent(value)
    if percent is not None:
        return percent
    if is_int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    return 0


def _validate_positive_int_or_percent(value: object, path: str, errs: Errors) -> None:
    """`ValidatePositiveIntOrPercent`."""
    if isinstance(value, str):
        msgs = names.is_valid_percent(value)
        errs.extend(FieldError(path, INVALID, go_int_or_string(value), m) for m in msgs)
    elif is_int(value):
        nonnegative(int(value), path, errs)
    else:
        detail = "must be an integer or percentage (e.g '5%')"
        errs.append(FieldError(path, INVALID, go_int_or_string(value), detail))


def _validate_strategy(strategy: dict[str, Any], errs: Errors) -> None:
    """`ValidateDeploymentStrategy` and `ValidateRollingUpdateDeployment`."""
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    path = "spec.strategy.rollingUpdate"
    if kind == "Recreate":
        if rolling is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            errs.append(FieldError(path, FORBIDDEN, None, detail))
    elif kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            detail = "this should be defaulted and never be nil"
            errs.append(FieldError(path, REQUIRED, None, detail))
            return
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        _validate_positive_int_or_percent(unavailable, f"{path}.maxUnavailable", errs)
        _validate_positive_int_or_percent(surge, f"{path}.maxSurge", errs)
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            errs.append(
                FieldError(
                    f"{path}.maxUnavailable",
                    INVALID,
                    go_int_or_string(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
        percent = _percent(unavailable)
        if percent is not None and percent > 100:
            errs.append(
                FieldError(
                    f"{path}.maxUnavailable",
                    INVALID,
                    go_int_or_string(unavailable),
                    "must not be greater than 100%",
                )
            )
    else:
        type_text = go_quote(kind) if isinstance(kind, str) else '""'
        rolling_text = "nil" if rolling is None else "0xc000000000"
        value = GoValue(
            f"apps.DeploymentStrategy{{Type:{type_text}, "
            f"RollingUpdate:(*apps.RollingUpdateDeployment)({rolling_text})}}"
        )
        errs.append(
            FieldError(
                "spec.strategy", NOT_SUPPORTED, value, supported(["Recreate", "RollingUpdate"])
            )
        )


def _validate_selected_template(spec: dict[str, Any], path: str, errs: Errors) -> None:
    """StatefulSet / DaemonSet: selector required and matching, restartPolicy Always."""
    selector = _selector(spec, path, errs)
    # A StatefulSet's pods get a volume per claim template (its controller's `updateStorage`).
    claims = frozenset(
        str(as_map(t.get("metadata")).get("name", ""))
        for t in as_list(spec.get("volumeClaimTemplates"))
        if isinstance(t, dict)
    )
    template = _check_template(spec, selector, path, errs, claims)
    template_restart_policy(template, f"{path}.template", ["Always"], errs)


def _validate_job_template(spec: dict[str, Any], path: str, errs: Errors) -> None:
    """Job (and a CronJob's job template): restartPolicy must be OnFailure or Never."""
    template = _check_template(spec, None, path, errs)
    template_restart_policy(template, f"{path}.template", ["OnFailure", "Never"], errs)


def _service_port_repr(protocol: str, port: int) -> GoValue:
    return GoValue(
        f'core.ServicePort{{Name:"", Protocol:{go_quote(protocol)}, AppProtocol:(*string)(nil), '
        f'Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}'
    )


def _validate_service(spec: dict[str, Any], errs: Errors) -> None:
    """`ValidateService` (the parts podkeeper serves) and the node-port range."""
    ports = expect_list(spec, "ports", "spec.ports", errs)
    service_type = get_str(spec, "type", "spec.type", errs)
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and service_type != "ExternalName":
        errs.append(FieldError("spec.ports", REQUIRED))
    seen_names: set[str] = set()
    for i, port in enumerate(ports):
        _validate_service_port(as_map(port), len(ports) > 1, seen_names, f"spec.ports[{i}]", errs)
    if spec.get("selector") is not None:
        validate_labels(spec.get("selector"), "spec.selector", errs)
    affinity = get_str(spec, "sessionAffinity", "spec.sessionAffinity", errs)
    if not affinity:
        errs.append(FieldError("spec.sessionAffinity", REQUIRED))
    elif affinity not in ("ClientIP", "None"):
        errs.append(
            FieldError(
                "spec.sessionAffinity", NOT_SUPPORTED, affinity, supported(["ClientIP", "None"])
            )
        )
    valid_types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    if not service_type:
        errs.append(FieldError("spec.type", REQUIRED))
    elif service_type not in valid_types:
        errs.append(FieldError("spec.type", NOT_SUPPORTED, service_type, supported(valid_types)))
    seen_node_ports: set[tuple[str, int]] = set()
    seen_ports: set[tuple[str, int]] = set()
    for i, raw in enumerate(ports):
        port = as_map(raw)
        protocol = port.get("protocol") if isinstance(port.get("protocol"), str) else ""
        node_port = port.get("nodePort")
        if is_int(node_port) and node_port:
            if service_type == "ClusterIP":
                detail = "may not be used when `type` is 'ClusterIP'"
                errs.append(FieldError(f"spec.ports[{i}].nodePort", FORBIDDEN, None, detail))
            elif not _NODE_PORT_RANGE[0] <= node_port <= _NODE_PORT_RANGE[1]:
                detail = (
                    "provided port is not in the valid range. "
                    f"The range of valid ports is {_NODE_PORT_RANGE[0]}-{_NODE_PORT_RANGE[1]}"
                )
                errs.append(FieldError(f"spec.ports[{i}].nodePort", INVALID, node_port, detail))
            if (str(protocol), node_port) in seen_node_ports:
                errs.append(FieldError(f"spec.ports[{i}].nodePort", DUPLICATE, node_port))
            seen_node_ports.add((str(protocol), node_port))
        number = port.get("port")
        if is_int(number):
            if (str(protocol), number) in seen_ports:
                errs.append(
                    FieldError(
                        f"spec.ports[{i}]", DUPLICATE, _service_port_repr(str(protocol), number)
                    )
                )
            seen_ports.add((str(protocol), number))


def _validate_service_port(
    port: dict[str, Any], require_name: bool, seen: set[str], path: str, errs: Errors
) -> None:
    """`validateServicePort`."""
    name = get_str(port, "name", f"{path}.name", errs)
    if require_name and not name:
        errs.append(FieldError(f"{path}.name", REQUIRED))
    elif name:
        errs.extend(
            FieldError(f"{path}.name", INVALID, name, m) for m in names.is_dns1123_label(name)
        )
        if name in seen:
            errs.append(FieldError(f"{path}.name", DUPLICATE, name))
        seen.add(name)
    number = get_int(port, "port", f"{path}.port", errs)
    if number is not None or port.get("port") is None:
        msgs = names.is_valid_port_num(number or 0)
        errs.extend(FieldError(f"{path}.port", INVALID, number or 0, m) for m in msgs)
    protocol = get_str(port, "protocol", f"{path}.protocol", errs)
    if not protocol:
        errs.append(FieldError(f"{path}.protocol", REQUIRED))
    elif protocol not in ("SCTP", "TCP", "UDP"):
        errs.append(
            FieldError(
                f"{path}.protocol", NOT_SUPPORTED, protocol, supported(["SCTP", "TCP", "UDP"])
            )
        )
    validate_port_num_or_name(port.get("targetPort"), f"{path}.targetPort", errs)

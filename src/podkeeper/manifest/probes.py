"""Validation of probes and lifecycle handlers (spec section 8).

Copied from `pkg/apis/core/validation/validation.go`: `validateProbe`,
`validateLivenessProbe`, `validateReadinessProbe`, `validateStartupProbe`,
`validateHandler`, `validateExecAction`, `validateHTTPGetAction`,
`validateTCPSocketAction`, `validateGRPCAction`, `validateSleepAction`,
`validateLifecycle`, `ValidatePortNumOrName`.
"""

from __future__ import annotations

from typing import Any

from podkeeper.manifest import names
from podkeeper.manifest.checks import (
    NOT_INTEGER,
    Errors,
    expect_list,
    expect_map,
    expect_str_list,
    get_int,
    get_str,
    is_int,
    nonnegative,
)
from podkeeper.manifest.field import (
    FORBIDDEN,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    FieldError,
    supported,
)

# validateHandler checks handlers in this order; probes have no `sleep`,
# lifecycle hooks no `grpc` (handlerFromProbe / handlerFromLifecycle).
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def validate_port_num_or_name(port: object, path: str, errs: Errors) -> None:
    """`ValidatePortNumOrName`: an int in 1-65535 or an IANA service name."""
    if port is None:
        port = 0  # an unset IntOrString is the integer 0
    if isinstance(port, str):
        errs.extend(FieldError(path, INVALID, port, m) for m in names.is_valid_port_name(port))
    elif is_int(port):
        errs.extend(FieldError(path, INVALID, port, m) for m in names.is_valid_port_num(int(port)))
    else:
        errs.append(FieldError(path, INVALID, port, "must be an integer or a string"))


def _validate_http_get(action: dict[str, Any], path: str, errs: Errors) -> None:
    if not get_str(action, "path", f"{path}.path", errs):
        errs.append(FieldError(f"{path}.path", REQUIRED))
    validate_port_num_or_name(action.get("port"), f"{path}.port", errs)
    scheme = get_str(action, "scheme", f"{path}.scheme", errs)
    if scheme not in ("HTTP", "HTTPS"):
        errs.append(
            FieldError(f"{path}.scheme", NOT_SUPPORTED, scheme, supported(["HTTP", "HTTPS"]))
        )
    headers_path = f"{path}.httpHeaders"
    for i, header in enumerate(expect_list(action, "httpHeaders", headers_path, errs)):
        if not isinstance(header, dict):
            errs.append(FieldError(f"{headers_path}[{i}]", INVALID, header, "must be an object"))
            continue
        name = get_str(header, "name", f"{headers_path}[{i}].name", errs)
        get_str(header, "value", f"{headers_path}[{i}].value", errs)
        errs.extend(
            FieldError(headers_path, INVALID, name, m) for m in names.is_http_header_name(name)
        )


def _validate_sleep(action: dict[str, Any], grace: int | None, path: str, errs: Errors) -> None:
    # PodLifecycleSleepActionAllowZero (on by default since v1.33): 0 is allowed.
    seconds = get_int(action, "seconds", f"{path}.seconds", errs)
    if seconds is None:
        seconds = 0
    if grace is not None and (seconds < 0 or seconds > grace):
        detail = f"must be non-negative and less than terminationGracePeriodSeconds ({grace})"
        errs.append(FieldError(path, INVALID, seconds, detail))


def _validate_one(
    kind: str, action: dict[str, Any], grace: int | None, path: str, errs: Errors
) -> None:
    if kind == "exec":
        command = expect_str_list(action, "command", f"{path}.command", errs)
        if not command:
            errs.append(FieldError(f"{path}.command", REQUIRED))
    elif kind == "httpGet":
        _validate_http_get(action, path, errs)
    elif kind == "tcpSocket":
        validate_port_num_or_name(action.get("port"), f"{path}.port", errs)
        get_str(action, "host", f"{path}.host", errs)
    elif kind == "grpc":
        port = action.get("port")
        if port is not None and not is_int(port):
            errs.append(FieldError(f"{path}.port", INVALID, port, NOT_INTEGER))
        else:
            validate_port_num_or_name(port if port is not None else 0, f"{path}.port", errs)
        get_str(action, "service", f"{path}.service", errs)
    elif kind == "sleep":
        _validate_sleep(action, grace, path, errs)


def validate_handler(
    handler: dict[str, Any], kinds: tuple[str, ...], grace: int | None, path: str, errs: Errors
) -> None:
    """`validateHandler`: exactly one handler type, each checked by its own rules."""
    count = 0
    for kind in kinds:
        action = expect_map(handler, kind, f"{path}.{kind}", errs)
        if action is None:
            continue
        if count > 0:
            errs.append(
                FieldError(
                    f"{path}.{kind}", FORBIDDEN, None, "may not specify more than 1 handler type"
                )
            )
            continue
        count += 1
        _validate_one(kind, action, grace, f"{path}.{kind}", errs)
    if count == 0:
        errs.append(FieldError(path, REQUIRED, None, "must specify a handler type"))


def _validate_probe(probe: dict[str, Any], grace: int | None, path: str, errs: Errors) -> None:
    validate_handler(probe, PROBE_HANDLERS, grace, path, errs)
    for name in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        nonnegative(get_int(probe, name, f"{path}.{name}", errs), f"{path}.{name}", errs)
    tgps = get_int(
        probe, "terminationGracePeriodSeconds", f"{path}.terminationGracePeriodSeconds", errs
    )
    if tgps is not None and tgps <= 0:
        errs.append(
            FieldError(
                f"{path}.terminationGracePeriodSeconds", INVALID, tgps, "must be greater than 0"
            )
        )


def validate_probe(
    probe_field: str, probe: dict[str, Any], grace: int | None, path: str, errs: Errors
) -> None:
    """`validateLivenessProbe` / `validateReadinessProbe` / `validateStartupProbe`."""
    _validate_probe(probe, grace, path, errs)
    if probe_field in ("livenessProbe", "startupProbe"):
        success = get_int(probe, "successThreshold", f"{path}.successThreshold", [])
        if success is not None and success != 1:
            errs.append(FieldError(f"{path}.successThreshold", INVALID, success, "must be 1"))
    elif probe.get("terminationGracePeriodSeconds") is not None:
        tgps = probe["terminationGracePeriodSeconds"]
        errs.append(
            FieldError(
                f"{path}.terminationGracePeriodSeconds",
                INVALID,
                tgps,
                "must not be set for readinessProbes",
            )
        )


def validate_lifecycle(
    lifecycle: dict[str, Any], grace: int | None, path: str, errs: Errors
) -> None:
    """`validateLifecycle`: each present hook is a handler with one action."""
    for hook in ("postStart", "preStop"):
        handler = expect_map(lifecycle, hook, f"{path}.{hook}", errs)
        if handler is not None:
            validate_handler(handler, LIFECYCLE_HANDLERS, grace, f"{path}.{hook}", errs)

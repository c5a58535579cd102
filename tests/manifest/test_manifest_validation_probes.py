"""Spec section 8: every probe/lifecycle validation row, with Kubernetes's exact text."""

from __future__ import annotations

from typing import Any

import pytest
from manifest_helpers import pod

from podkeeper.manifest import default_object, format_invalid, validate_object

C0 = "spec.containers[0]"
PORT_RANGE = "must be between 1 and 65535, inclusive"
HEADER_MSG = (
    "a valid HTTP header must consist of alphanumeric characters or '-' "
    "(e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')"
)


def with_container(**fields: Any) -> dict[str, Any]:
    obj = pod()
    obj["spec"]["containers"][0].update(fields)
    return obj


def errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_object(default_object(obj))]


HTTP = {"httpGet": {"port": 8080}}

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "no handler",
        with_container(livenessProbe={"periodSeconds": 5}),
        [f"{C0}.livenessProbe: Required value: must specify a handler type"],
    ),
    (
        "two handlers: the second is forbidden",
        with_container(livenessProbe={"exec": {"command": ["true"]}, **HTTP}),
        [f"{C0}.livenessProbe.httpGet: Forbidden: may not specify more than 1 handler type"],
    ),
    (
        "three handlers: tcpSocket and grpc forbidden, checked in order",
        with_container(
            readinessProbe={**HTTP, "tcpSocket": {"port": 1}, "grpc": {"port": 2}},
        ),
        [
            f"{C0}.readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            f"{C0}.readinessProbe.grpc: Forbidden: may not specify more than 1 handler type",
        ],
    ),
    (
        "exec.command empty",
        with_container(livenessProbe={"exec": {"command": []}}),
        [f"{C0}.livenessProbe.exec.command: Required value"],
    ),
    (
        "httpGet.port out of range",
        with_container(readinessProbe={"httpGet": {"port": 70000}}),
        [f"{C0}.readinessProbe.httpGet.port: Invalid value: 70000: {PORT_RANGE}"],
    ),
    (
        "httpGet.port missing is 0",
        with_container(readinessProbe={"httpGet": {"path": "/x"}}),
        [f"{C0}.readinessProbe.httpGet.port: Invalid value: 0: {PORT_RANGE}"],
    ),
    (
        "port name too long",
        with_container(livenessProbe={"tcpSocket": {"port": "a-very-long-port-name"}}),
        [
            f'{C0}.livenessProbe.tcpSocket.port: Invalid value: "a-very-long-port-name": '
            "must be no more than 15 characters"
        ],
    ),
    (
        "port name with capitals",
        with_container(livenessProbe={"httpGet": {"port": "Http"}}),
        [
            f'{C0}.livenessProbe.httpGet.port: Invalid value: "Http": '
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
        ],
    ),
    (
        "port name without a letter",
        with_container(livenessProbe={"httpGet": {"port": "8080"}}),
        [
            f'{C0}.livenessProbe.httpGet.port: Invalid value: "8080": '
            "must contain at least one letter (a-z)"
        ],
    ),
    (
        "port name with consecutive hyphens",
        with_container(livenessProbe={"httpGet": {"port": "a--b"}}),
        [
            f'{C0}.livenessProbe.httpGet.port: Invalid value: "a--b": '
            "must not contain consecutive hyphens"
        ],
    ),
    (
        "port name starting with a hyphen",
        with_container(livenessProbe={"httpGet": {"port": "-ab"}}),
        [
            f'{C0}.livenessProbe.httpGet.port: Invalid value: "-ab": '
            "must not begin or end with a hyphen"
        ],
    ),
    (
        "grpc.port out of range",
        with_container(livenessProbe={"grpc": {"port": 0}}),
        [f"{C0}.livenessProbe.grpc.port: Invalid value: 0: {PORT_RANGE}"],
    ),
    (
        "httpGet.scheme not HTTP/HTTPS",
        with_container(readinessProbe={"httpGet": {"port": 80, "scheme": "FTP"}}),
        [
            f'{C0}.readinessProbe.httpGet.scheme: Unsupported value: "FTP": '
            'supported values: "HTTP", "HTTPS"'
        ],
    ),
    (
        "bad header name",
        with_container(
            readinessProbe={
                "httpGet": {"port": 80, "httpHeaders": [{"name": "X Bad", "value": "1"}]}
            }
        ),
        [f'{C0}.readinessProbe.httpGet.httpHeaders: Invalid value: "X Bad": {HEADER_MSG}'],
    ),
    *[
        (
            f"negative {name}",
            with_container(readinessProbe={**HTTP, name: -1}),
            [f"{C0}.readinessProbe.{name}: Invalid value: -1: must be greater than or equal to 0"],
        )
        for name in (
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        )
    ],
    (
        "probe terminationGracePeriodSeconds 0",
        with_container(livenessProbe={**HTTP, "terminationGracePeriodSeconds": 0}),
        [
            f"{C0}.livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"  # noqa: E501
        ],
    ),
    (
        "readinessProbe terminationGracePeriodSeconds set",
        with_container(readinessProbe={**HTTP, "terminationGracePeriodSeconds": 5}),
        [
            f"{C0}.readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: "
            "must not be set for readinessProbes"
        ],
    ),
    (
        "liveness successThreshold must be 1",
        with_container(livenessProbe={**HTTP, "successThreshold": 2}),
        [f"{C0}.livenessProbe.successThreshold: Invalid value: 2: must be 1"],
    ),
    (
        "startup successThreshold must be 1",
        with_container(startupProbe={**HTTP, "successThreshold": 3}),
        [f"{C0}.startupProbe.successThreshold: Invalid value: 3: must be 1"],
    ),
    (
        "readiness successThreshold may exceed 1",
        with_container(readinessProbe={**HTTP, "successThreshold": 3}),
        [],
    ),
    (
        "probes and lifecycle on a plain init container",
        pod(
            initContainers=[
                {
                    "name": "init",
                    "image": "busybox",
                    "lifecycle": {"preStop": {"exec": {"command": ["true"]}}},
                    "livenessProbe": HTTP,
                    "readinessProbe": HTTP,
                    "startupProbe": HTTP,
                }
            ]
        ),
        [
            f"spec.initContainers[0].{f}: Forbidden: "
            "may not be set for init containers without restartPolicy=Always"
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
        ],
    ),
    (
        "a sidecar (restartPolicy Always) may have probes, validated normally",
        pod(
            initContainers=[
                {
                    "name": "side",
                    "image": "busybox",
                    "restartPolicy": "Always",
                    "livenessProbe": {**HTTP, "successThreshold": 2},
                    "readinessProbe": HTTP,
                }
            ]
        ),
        ["spec.initContainers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"],
    ),
    (
        "restartPolicy on a regular container",
        with_container(restartPolicy="Always"),
        [f"{C0}.restartPolicy: Forbidden: may not be set for non-init containers"],
    ),
    (
        "lifecycle hook without a handler",
        with_container(lifecycle={"preStop": {}}),
        [f"{C0}.lifecycle.preStop: Required value: must specify a handler type"],
    ),
    (
        "lifecycle hook with two handlers",
        with_container(
            lifecycle={"postStart": {"exec": {"command": ["x"]}, "sleep": {"seconds": 1}}}
        ),
        [f"{C0}.lifecycle.postStart.sleep: Forbidden: may not specify more than 1 handler type"],
    ),
    (
        "sleep longer than the grace period",
        with_container(lifecycle={"preStop": {"sleep": {"seconds": 31}}}),
        [
            f"{C0}.lifecycle.preStop.sleep: Invalid value: 31: "
            "must be non-negative and less than terminationGracePeriodSeconds (30)"
        ],
    ),
    (
        "negative sleep",
        with_container(lifecycle={"preStop": {"sleep": {"seconds": -1}}}),
        [
            f"{C0}.lifecycle.preStop.sleep: Invalid value: -1: "
            "must be non-negative and less than terminationGracePeriodSeconds (30)"
        ],
    ),
    (
        "sleep 0 and sleep == grace are allowed",
        with_container(
            lifecycle={
                "preStop": {"sleep": {"seconds": 30}},
                "postStart": {"sleep": {"seconds": 0}},
            }
        ),
        [],
    ),
    (
        "lifecycle httpGet is checked like a probe's",
        with_container(lifecycle={"postStart": {"httpGet": {"port": 0}}}),
        [f"{C0}.lifecycle.postStart.httpGet.port: Invalid value: 0: {PORT_RANGE}"],
    ),
]


@pytest.mark.parametrize(("obj", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_probe_and_lifecycle_validation(obj: dict[str, Any], expected: list[str]) -> None:
    assert errors(obj) == expected


def test_empty_http_path_only_possible_without_defaulting() -> None:
    obj = default_object(with_container(readinessProbe={"httpGet": {"port": 80, "path": ""}}))
    assert obj["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/"
    obj["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = ""
    assert [str(e) for e in validate_object(obj)] == [
        f"{C0}.readinessProbe.httpGet.path: Required value"
    ]


def test_api_server_message_joins_several_errors() -> None:
    obj = with_container(livenessProbe={**HTTP, "successThreshold": 2, "periodSeconds": -1})
    errs = validate_object(default_object(obj))
    assert format_invalid("Pod", "web", errs) == (
        'Pod "web" is invalid: ['
        f"{C0}.livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0, "
        f"{C0}.livenessProbe.successThreshold: Invalid value: 2: must be 1]"
    )
    assert format_invalid("Pod", "web", errs[:1]) == (
        f'Pod "web" is invalid: {C0}.livenessProbe.periodSeconds: Invalid value: -1: '
        "must be greater than or equal to 0"
    )

"""ConfigMap and Secret admission, defaults and validation with the apiserver's messages."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from podkeeper.manifest import default_object, format_invalid, validate_object
from podkeeper.manifest.configobjects import base64_error, validate_update


def _cm(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, **fields}


def _secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}


def _message(obj: dict[str, Any]) -> str:
    errors = validate_object(default_object(obj))
    return format_invalid(str(obj["kind"]), "x", errors) if errors else ""


KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_cm(data={"a.b-c_D": "v"}), ""),
        (
            _cm(data={"a b": "v"}),
            f'ConfigMap "x" is invalid: data[a b]: Invalid value: "a b": {KEY_MSG}',
        ),
        (_cm(data={"": "v"}), f'ConfigMap "x" is invalid: data[]: Invalid value: "": {KEY_MSG}'),
        (
            _cm(data={"..a": "v"}),
            'ConfigMap "x" is invalid: data[..a]: Invalid value: "..a": must not start with \'..\'',
        ),
        (
            _cm(data={"k": "v"}, binaryData={"k": "AA=="}),
            'ConfigMap "x" is invalid: data[k]: Invalid value: "k": duplicate of key present in '
            "binaryData",
        ),
        (
            _cm(data={"k": "v" * (1024 * 1024 + 1)}),
            'ConfigMap "x" is invalid: []: Too long: may not be more than 1048576 bytes',
        ),
        (_cm(binaryData={"bin": base64.b64encode(b"\xde\xca\xfe").decode()}), ""),
        (_secret(data={"k": "aGVsbG8="}), ""),
        (
            _secret(data={"k": "aGVsbG8"}),
            'Secret "x" is invalid: data[k]: Invalid value: "<secret contents redacted>": '
            "illegal base64 data at input byte 4",
        ),
        (
            _secret(data={"k": base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()}),
            'Secret "x" is invalid: data: Too long: may not be more than 1048576 bytes',
        ),
        (
            _secret(type="kubernetes.io/tls", data={"tls.crt": "AA=="}),
            'Secret "x" is invalid: data[tls.key]: Required value',
        ),
        (
            _secret(stringData={"a b": "v"}),
            f'Secret "x" is invalid: data[a b]: Invalid value: "a b": {KEY_MSG}',
        ),
    ],
)
def test_validation_messages(obj: dict[str, Any], expected: str) -> None:
    assert _message(obj) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", None),
        ("aGVsbG8=", None),
        ("aGVs\nbG8=", None),
        ("aGVsbG8", "illegal base64 data at input byte 4"),
        ("aGVsbG8=x", "illegal base64 data at input byte 8"),
        ("a===", "illegal base64 data at input byte 1"),
        ("aG!s", "illegal base64 data at input byte 2"),
        ("aG=", "illegal base64 data at input byte 3"),
        ("aG=x", "illegal base64 data at input byte 2"),
    ],
)
def test_base64_like_go(text: str, error: str | None) -> None:
    assert base64_error(text) == error


def test_secret_string_data_is_merged_and_dropped_with_type_opaque() -> None:
    out = default_object(
        _secret(data={"a": "MQ==", "b": "MQ=="}, stringData={"b": "two", "c": "3"})
    )
    assert out["type"] == "Opaque"
    assert "stringData" not in out
    assert {k: base64.b64decode(v).decode() for k, v in out["data"].items()} == {
        "a": "1",
        "b": "two",
        "c": "3",
    }


def test_secret_values_never_in_messages() -> None:
    secret = _secret(data={"k": "c2VjcmV0IXZhbHVl!"})
    assert "c2VjcmV0" not in _message(secret)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (_cm(data={"a": "1"}), _cm(data={"a": "2"}), []),
        (_cm(data={"a": "1"}, immutable=True), _cm(data={"a": "1"}, immutable=True), []),
        (
            _cm(data={"a": "1"}, immutable=True),
            _cm(data={"a": "2"}, immutable=True),
            ["data: Forbidden: field is immutable when `immutable` is set"],
        ),
        (
            _cm(data={"a": "1"}, immutable=True),
            _cm(data={"a": "1"}),
            ["immutable: Forbidden: field is immutable when `immutable` is set"],
        ),
        (
            _cm(binaryData={"a": "AA=="}, immutable=True),
            _cm(binaryData={"a": "AQ=="}, immutable=True),
            ["binaryData: Forbidden: field is immutable when `immutable` is set"],
        ),
        (
            _secret(type="Opaque", data={"a": "MQ=="}, immutable=True),
            _secret(type="Opaque", data={"a": "Mg=="}, immutable=True),
            ["data: Forbidden: field is immutable when `immutable` is set"],
        ),
        (
            _secret(type="Opaque"),
            _secret(type="kubernetes.io/basic-auth", data={"username": "YQ=="}),
            ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable'],
        ),
    ],
)
def test_update_rules(old: dict[str, Any], new: dict[str, Any], expected: list[str]) -> None:
    assert [str(e) for e in validate_update(old, new)] == expected


@pytest.mark.parametrize(
    ("env", "env_from", "expected"),
    [
        ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}], [], ""),
        (
            [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}],
            [],
            "spec.containers[0].env[0].valueFrom.secretKeyRef.key: Required value",
        ),
        (
            [
                {
                    "name": "A",
                    "valueFrom": {
                        "resourceFieldRef": {"resource": "limits.memory", "divisor": "3Mi"}
                    },
                }
            ],
            [],
            "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: "
            'Invalid value: "limits.memory": '
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are "
            "supported with the memory resource",
        ),
        ([], [{"prefix": "P_", "configMapRef": {"name": "c"}}, {"secretRef": {"name": "s"}}], ""),
        (
            [],
            [{"prefix": "P_"}],
            'spec.containers[0].envFrom: Invalid value: "": '
            "must specify one of: `configMapRef` or `secretRef`",
        ),
        (
            [],
            [{"prefix": "A=", "secretRef": {"name": "s"}}],
            'spec.containers[0].envFrom[0].prefix: Invalid value: "A=": '
            "a valid environment variable name must consist only of printable ASCII "
            "characters other than '='",
        ),
    ],
)
def test_env_source_validation(env: list[Any], env_from: list[Any], expected: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {"name": "a", "image": "i", "command": ["x"], "env": env, "envFrom": env_from}
            ]
        },
    }
    message = _message(pod)
    assert message == (f'Pod "x" is invalid: {expected}' if expected else "")

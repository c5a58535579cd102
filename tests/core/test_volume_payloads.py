"""core/volumes.py: volume payloads computed from objects, with the kubelet's messages."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from podkeeper.core.spec import Container, Resources
from podkeeper.core.volumes import (
    FileProjection,
    NodeAllocatable,
    VolumeError,
    expand_subpath_expr,
    format_map,
    resource_value,
    subpath_error,
    validate_path,
    volume_payload,
)

ALLOC = NodeAllocatable(cpu_milli=4000, memory=8 << 30, ephemeral_storage=100 << 30)
POD: dict[str, Any] = {
    "metadata": {
        "name": "p",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"b": "2", "a": 'x"y'},
        "annotations": {"builder": "bar"},
    }
}
CONTAINERS = (
    Container(
        "c",
        resources=Resources(
            limits_cpu_milli=1250,
            limits_memory=64 << 20,
            requests_cpu_milli=250,
            requests_memory=32 << 20,
        ),
    ),
    Container("bare"),
)


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


OBJECTS = {
    ("ConfigMap", "cm"): {
        "data": {"data-1": "value-1", "data-2": "value-2"},
        "binaryData": {"dump.bin": base64.b64encode(bytes.fromhex("decafebad0feff")).decode()},
    },
    ("Secret", "s"): {"data": {"data-1": b64("value-1")}},
}


def payload(volume: dict[str, Any]) -> dict[str, FileProjection] | None:
    return volume_payload(volume, POD, lambda k, n: OBJECTS.get((k, n)), CONTAINERS, ALLOC)


def files(volume: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
    got = payload(volume)
    assert got is not None
    return {k: (v.data, v.mode) for k, v in got.items()}


@pytest.mark.parametrize(
    ("volume", "want"),
    [
        # CV1/CV8: every key, binaryData decoded, default 0644.
        (
            {"configMap": {"name": "cm"}},
            {
                "data-1": (b"value-1", 0o644),
                "data-2": (b"value-2", 0o644),
                "dump.bin": (bytes.fromhex("decafebad0feff"), 0o644),
            },
        ),
        # CV2 defaultMode, CV4 mappings, CV5 item mode.
        ({"configMap": {"name": "cm", "defaultMode": 0o400}}, None),
        (
            {"configMap": {"name": "cm", "items": [{"key": "data-2", "path": "path/to/data-2"}]}},
            {"path/to/data-2": (b"value-2", 0o644)},
        ),
        (
            {
                "configMap": {
                    "name": "cm",
                    "items": [{"key": "data-2", "path": "p", "mode": 0o400}],
                }
            },
            {"p": (b"value-2", 0o400)},
        ),
        # SV1, SV4.
        ({"secret": {"secretName": "s"}}, {"data-1": (b"value-1", 0o644)}),
        (
            {"secret": {"secretName": "s", "items": [{"key": "data-1", "path": "new-path"}]}},
            {"new-path": (b"value-1", 0o644)},
        ),
        # Optional and missing: an empty volume.
        ({"configMap": {"name": "nope", "optional": True}}, {}),
        ({"secret": {"secretName": "nope", "optional": True}}, {}),
    ],
)
def test_configmap_and_secret_payloads(
    volume: dict[str, Any], want: dict[str, tuple[bytes, int]] | None
) -> None:
    got = files(volume)
    if want is None:
        assert {m for _, m in got.values()} == {0o400}
    else:
        assert got == want


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"configMap": {"name": "late"}}, 'configmap "late" not found'),
        ({"secret": {"secretName": "gone"}}, 'secret "gone" not found'),
        (
            {"configMap": {"name": "cm", "items": [{"key": "x", "path": "x"}]}},
            "configmap references non-existent config key: x",
        ),
        (
            {"secret": {"secretName": "s", "items": [{"key": "x", "path": "x"}]}},
            "references non-existent secret key: x",
        ),
        (
            {"configMap": {"name": "cm", "items": [{"key": "data-1", "path": "../escape"}]}},
            "invalid path: must not contain '..': ../escape",
        ),
        (
            {"configMap": {"name": "cm", "items": [{"key": "data-1", "path": "/abs"}]}},
            "invalid path: must be relative path: /abs",
        ),
        (
            {
                "projected": {
                    "sources": [
                        {"configMap": {"name": "a"}},
                        {"secret": {"name": "b"}},
                    ]
                }
            },
            '[configmap "a" not found, secret "b" not found]',
        ),
    ],
)
def test_payload_errors_are_the_kubelets(volume: dict[str, Any], message: str) -> None:
    with pytest.raises(VolumeError) as err:
        payload(volume)
    assert str(err.value) == message


def test_optional_missing_key_is_skipped() -> None:
    v = {"configMap": {"name": "cm", "optional": True, "items": [{"key": "x", "path": "x"}]}}
    assert files(v) == {}


def test_downward_api_files() -> None:
    items = [
        {"path": "podname", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}, "mode": 0o400},
        {"path": "one", "fieldRef": {"fieldPath": "metadata.labels['b']"}},
        {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
        {
            "path": "./cpu_limit",
            "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"},
        },
        {
            "path": "cpu_request",
            "resourceFieldRef": {"containerName": "c", "resource": "requests.cpu"},
        },
        {
            "path": "memory_limit",
            "resourceFieldRef": {"containerName": "c", "resource": "limits.memory"},
        },
        {
            "path": "memory_request_mi",
            "resourceFieldRef": {
                "containerName": "c",
                "resource": "requests.memory",
                "divisor": "1Mi",
            },
        },
        {
            "path": "default_cpu",
            "resourceFieldRef": {"containerName": "bare", "resource": "limits.cpu"},
        },
        {
            "path": "default_mem",
            "resourceFieldRef": {"containerName": "bare", "resource": "limits.memory"},
        },
    ]
    got = files({"downwardAPI": {"items": items}})
    assert got["podname"] == (b"p", 0o644)
    assert got["labels"] == (b'a="x\\"y"\nb="2"', 0o644)
    assert got["annotations"] == (b'builder="bar"', 0o400)
    assert got["one"][0] == b"2"
    assert got["uid"][0] == b"u-1"
    # DV6-DV11: ceil(milli / divisor); no limit -> node allocatable.
    assert got["cpu_limit"][0] == b"2"
    assert got["cpu_request"][0] == b"1"
    assert got["memory_limit"][0] == b"67108864"
    assert got["memory_request_mi"][0] == b"32"
    assert got["default_cpu"][0] == b"4"
    assert got["default_mem"][0] == str(8 << 30).encode()


def test_downward_api_errors_aggregate() -> None:
    items = [
        {"path": "x", "fieldRef": {"fieldPath": "spec.nodeName"}},
        {"path": "y", "resourceFieldRef": {"containerName": "nope", "resource": "limits.cpu"}},
    ]
    with pytest.raises(VolumeError) as err:
        payload({"downwardAPI": {"items": items}})
    assert str(err.value) == (
        "[unsupported fieldPath: spec.nodeName, failed to find container with name nope in pod]"
    )


def test_projected_merges_sources_and_warns_about_tokens() -> None:
    warned: list[str] = []
    v = {
        "projected": {
            "defaultMode": 0o440,
            "sources": [
                {"configMap": {"name": "cm", "items": [{"key": "data-1", "path": "cm"}]}},
                {"secret": {"name": "s", "items": [{"key": "data-1", "path": "sec"}]}},
                {
                    "downwardAPI": {
                        "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]
                    }
                },
                {"serviceAccountToken": {"path": "token"}},
            ],
        }
    }
    got = volume_payload(v, POD, lambda k, n: OBJECTS.get((k, n)), CONTAINERS, ALLOC, warned.append)
    assert got is not None
    assert {k: (f.data, f.mode) for k, f in got.items()} == {
        "cm": (b"value-1", 0o440),
        "sec": (b"value-1", 0o440),
        "n": (b"p", 0o440),
    }
    assert warned and "serviceAccountToken" in warned[0]


def test_other_sources_have_no_payload() -> None:
    assert payload({"emptyDir": {}}) is None
    assert payload({"hostPath": {"path": "/tmp"}}) is None


def test_format_map_quotes_like_go() -> None:
    assert format_map({"k": "a\tb", "j": "ü"}) == 'j="ü"\nk="a\\tb"'
    assert format_map({}) == ""


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("a/b", None),
        ("..data", "invalid path: must not start with '..': ..data"),
        ("..", "invalid path: must not contain '..': .."),
        ("", "invalid path: must not be empty: ''"),
        ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters"),
    ],
)
def test_validate_path(path: str, error: str | None) -> None:
    assert validate_path(path) == error


def test_subpath_expr_and_checks() -> None:
    # EX4, EX7 (a missing variable), EX5 (backsteps), EX6 (absolute).
    assert expand_subpath_expr("$(POD_NAME)", {"POD_NAME": "pod-1"}) == "pod-1"
    assert expand_subpath_expr("a/$(X)/$$(Y)", {"X": "x"}) == "a/x/$(Y)"
    with pytest.raises(VolumeError, match=r"^missing value for ANNOTATION, B$"):
        expand_subpath_expr("$(ANNOTATION)/$(B)/$(POD)", {"POD": "p", "ANNOTATION": ""})
    assert subpath_error("..") == "unable to provision SubPath `..`: must not contain '..'"
    assert subpath_error("/tmp") == "error SubPath `/tmp` must not be an absolute path"
    assert subpath_error("a/b") is None


def test_resource_value_divisors() -> None:
    c = (Container("x", resources=Resources(limits_cpu_milli=1500, limits_memory=1 << 30)),)
    ref = {"containerName": "x"}
    assert resource_value({**ref, "resource": "limits.cpu", "divisor": "1m"}, c, ALLOC) == "1500"
    assert resource_value({**ref, "resource": "limits.memory", "divisor": "1Gi"}, c, ALLOC) == "1"
    assert resource_value({**ref, "resource": "limits.memory", "divisor": "1M"}, c, ALLOC) == "1074"
    with pytest.raises(VolumeError, match="unsupported container resource"):
        resource_value({**ref, "resource": "limits.gpu"}, c, ALLOC)

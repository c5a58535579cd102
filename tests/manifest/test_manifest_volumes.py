"""Validation of `spec.volumes` and `volumeMounts` (the API server's paths and messages)."""

from __future__ import annotations

from typing import Any

import pytest
from manifest_helpers import container, pod

from podkeeper.manifest import default_object, validate_object

VM = "spec.containers[0].volumeMounts"
MODE = "must be a number between 0 and 0777 (octal), both inclusive"


def errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_object(default_object(obj))]


def with_mounts(volumes: list[Any], mounts: list[Any]) -> dict[str, Any]:
    obj = pod(volumes=volumes)
    container(obj)["volumeMounts"] = mounts
    return obj


def test_every_implemented_source_is_valid() -> None:
    volumes = [
        {"name": "a", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "b", "configMap": {"name": "c", "items": [{"key": "k", "path": "p/q"}]}},
        {"name": "c", "secret": {"secretName": "s", "defaultMode": 0o400}},
        {
            "name": "d",
            "downwardAPI": {
                "items": [
                    {"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "x", "fieldRef": {"fieldPath": "metadata.annotations['x']"}},
                    {
                        "path": "c",
                        "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu"},
                    },
                ]
            },
        },
        {
            "name": "e",
            "projected": {"sources": [{"configMap": {"name": "c"}}, {"secret": {"name": "s"}}]},
        },
        {"name": "f", "hostPath": {"path": "/tmp", "type": "Directory"}},
        {"name": "g", "persistentVolumeClaim": {"claimName": "data"}},
    ]
    mounts = [
        {"name": "a", "mountPath": "/a", "readOnly": True},
        {"name": "a", "mountPath": "/a2", "subPath": "x/y"},
        {"name": "a", "mountPath": "/a3", "subPathExpr": "$(POD_NAME)"},
    ]
    assert errors(with_mounts(volumes, mounts)) == []


@pytest.mark.parametrize(
    ("volumes", "mounts", "want"),
    [
        (
            [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}],
            [],
            ['spec.volumes[1].name: Duplicate value: "v"'],
        ),
        ([{"name": "v"}], [], ["spec.volumes[0]: Required value: must specify a volume type"]),
        (
            [{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}],
            [],
            ["spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"],
        ),
        ([{"emptyDir": {}}], [], ["spec.volumes[0].name: Required value"]),
        (
            [{"name": "v", "configMap": {"name": "c", "defaultMode": 0o1777}}],
            [],
            [f"spec.volumes[0].configMap.defaultMode: Invalid value: 1023: {MODE}"],
        ),
        (
            [{"name": "v", "secret": {"items": [{"key": "k", "path": "/abs"}]}}],
            [],
            [
                "spec.volumes[0].secret.secretName: Required value",
                'spec.volumes[0].secret.items[0].path: Invalid value: "/abs": must be a'
                " relative path",
            ],
        ),
        (
            [{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}],
            [],
            [
                'spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", '
                '"BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", '
                '"FileOrCreate", "Socket"'
            ],
        ),
        (
            [{"name": "v", "emptyDir": {}}],
            [{"name": "w", "mountPath": "/w"}],
            ['spec.containers[0].volumeMounts[0].name: Not found: "w"'],
        ),
        (
            [{"name": "v", "emptyDir": {}}],
            [{"name": "v", "mountPath": "/w", "subPath": "../x"}],
            [f"{VM}[0].subPath: Invalid value: \"../x\": must not contain '..'"],
        ),
        (
            [{"name": "v", "emptyDir": {}}],
            [{"name": "v", "mountPath": "/w", "subPath": "/x"}],
            [f'{VM}[0].subPath: Invalid value: "/x": must be a relative path'],
        ),
        (
            [{"name": "v", "emptyDir": {}}],
            [
                {"name": "v", "mountPath": "/w"},
                {"name": "v", "mountPath": "/w", "subPath": "a", "subPathExpr": "b"},
            ],
            [
                'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/w": must be unique',
                f'{VM}[1].subPathExpr: Invalid value: "b": subPathExpr and'
                " subPath are mutually exclusive",
            ],
        ),
    ],
)
def test_volume_errors(volumes: list[Any], mounts: list[Any], want: list[str]) -> None:
    assert errors(with_mounts(volumes, mounts)) == want


def test_statefulset_mounts_may_name_its_claim_templates() -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "serviceName": "web",
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "x",
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}],
        },
    }
    assert errors(sts) == []
    sts["spec"]["volumeClaimTemplates"] = []
    assert errors(sts) == [
        'spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"'
    ]

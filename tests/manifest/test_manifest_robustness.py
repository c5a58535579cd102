"""Wrongly-typed input never crashes the pipeline, and manifest stays in its layer."""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_manifest_convert import MANIFEST

from podkeeper.manifest import (
    default_object,
    load_text,
    pod_from_object,
    unimplemented_fields,
    validate_object,
)

SERVICE_AND_DEPLOYMENT = """\
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  selector: {app: d}
  ports: [{name: a, port: 80, targetPort: http, nodePort: 30001}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2
  selector:
    matchLabels: {app: d}
    matchExpressions: [{key: tier, operator: In, values: [fe]}]
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 10%}}
  template:
    metadata: {labels: {app: d, tier: fe}}
    spec:
      containers: [{name: c, image: x, ports: [{containerPort: 80}]}]
"""
ODD_VALUES: list[Any] = [None, "x", -5, 3.5, True, [], {}, [1], {"a": 1}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k)
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i)
            yield from _paths(v, (*path, i))


def _replaced(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


OBJECTS = [d.obj for d in load_text(MANIFEST)] + [d.obj for d in load_text(SERVICE_AND_DEPLOYMENT)]


@pytest.mark.parametrize("obj", OBJECTS, ids=[o["kind"] for o in OBJECTS])
def test_every_field_with_every_odd_type(obj: dict[str, Any]) -> None:
    for path in _paths(obj):
        if path[0] in ("apiVersion", "kind"):
            continue
        for value in ODD_VALUES:
            broken = _replaced(obj, path, value)
            defaulted = default_object(broken)
            errs = validate_object(defaulted)
            unimplemented_fields(broken)
            for e in errs:
                str(e)
            if obj["kind"] == "Pod":
                pod_from_object(defaulted)


def test_manifest_imports_only_core_yaml_and_stdlib() -> None:
    root = Path(__file__).parents[2] / "src" / "podkeeper" / "manifest"
    bad = []
    for file in root.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "podkeeper" and not name.startswith(
                    ("podkeeper.core", "podkeeper.manifest")
                ):
                    bad.append(f"{file.name}: {name}")
                if top not in ("podkeeper", "yaml", "__future__") and top not in _stdlib():
                    bad.append(f"{file.name}: {name}")
    assert bad == []


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)

"""spec.readinessGates: parsed for the core, validated as the API server does, not warned."""

from __future__ import annotations

from typing import Any

from podkeeper.manifest import default_object, pod_from_object, validate_object
from podkeeper.manifest.unimplemented import unimplemented_fields


def _pod(gates: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "g"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
            "readinessGates": gates,
        },
    }


def test_readiness_gates_parsed_and_not_warned() -> None:
    obj = default_object(_pod([{"conditionType": "k8s.io/a"}, {"conditionType": "b"}]))
    assert validate_object(obj) == []
    assert unimplemented_fields(obj) == []
    assert pod_from_object(obj, uid="u").spec.readiness_gates == ("k8s.io/a", "b")


def test_readiness_gate_condition_type_must_be_a_qualified_name() -> None:
    problems = validate_object(default_object(_pod([{"conditionType": "not valid!"}])))
    assert [p.path for p in problems] == ["spec.readinessGates[0].conditionType"]
    problems = validate_object(default_object(_pod("nope")))
    assert [p.path for p in problems] == ["spec.readinessGates"]

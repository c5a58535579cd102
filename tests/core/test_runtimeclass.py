"""spec.runtimeClassName resolved as the kubelet does (core/runtimeclass.py)."""

from __future__ import annotations

import pytest

from podkeeper.core.runtimeclass import (
    BUILTIN,
    RuntimeClassError,
    check_pod_runtime,
    lookup_handler,
    runtime_class_objects,
)


def test_no_class_is_the_default_handler() -> None:
    assert lookup_handler(None) == ""
    assert lookup_handler("") == ""
    check_pod_runtime(None, "process")
    check_pod_runtime(None, "containerd")


def test_builtin_classes_name_their_runtime() -> None:
    assert lookup_handler("podkeeper-process") == "process"
    assert lookup_handler("podkeeper-containerd") == "containerd"
    check_pod_runtime("podkeeper-process", "process")
    check_pod_runtime("podkeeper-containerd", "containerd")
    check_pod_runtime("podkeeper-containerd", "cri")  # an existing CRI endpoint


def test_unknown_class_is_the_listers_not_found() -> None:
    with pytest.raises(RuntimeClassError) as err:
        check_pod_runtime("gvisor", "containerd")
    assert str(err.value) == 'runtimeclass.node.k8s.io "gvisor" not found'


def test_handler_the_runtime_lacks() -> None:
    with pytest.raises(RuntimeClassError) as err:
        check_pod_runtime("podkeeper-process", "containerd")
    assert str(err.value) == (
        "rpc error: code = Unknown desc = failed to get sandbox runtime: "
        'no runtime for "process" is configured'
    )
    with pytest.raises(RuntimeClassError) as err:
        check_pod_runtime("podkeeper-containerd", "process")
    assert str(err.value) == 'RuntimeHandler "containerd" not supported'


def test_objects() -> None:
    objs = runtime_class_objects("2026-12-05T00:00:00Z")
    assert {o["metadata"]["name"]: o["handler"] for o in objs} == dict(BUILTIN)
    assert all(o["apiVersion"] == "node.k8s.io/v1" and o["kind"] == "RuntimeClass" for o in objs)

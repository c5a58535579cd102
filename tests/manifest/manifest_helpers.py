"""Builders for manifest tests: a valid pod / deployment / service to mutate."""

from __future__ import annotations

import copy
from typing import Any


def pod(**spec: Any) -> dict[str, Any]:
    """A minimal valid Pod; keyword arguments replace spec fields."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "9"]}]},
    }
    obj["spec"].update(copy.deepcopy(spec))
    return obj


def container(obj: dict[str, Any], i: int = 0) -> dict[str, Any]:
    c: dict[str, Any] = obj["spec"]["containers"][i]
    return c


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            },
        },
    }


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }

"""Kubernetes defaults (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go)."""

from __future__ import annotations

from typing import Any

import pytest
from manifest_helpers import deployment, pod, service

from podkeeper.manifest import default_object


def test_pod_defaults() -> None:
    obj = pod(
        containers=[
            {
                "name": "app",
                "image": "nginx:1.25",
                "ports": [{"containerPort": 80}],
                "livenessProbe": {"httpGet": {"port": 80}, "initialDelaySeconds": 5},
                "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 0},
                "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"memory": "0.5Gi", "cpu": 0.5}},
            }
        ]
    )
    original = repr(obj)
    out = default_object(obj)
    assert repr(obj) == original, "the input is not modified"
    assert out["metadata"]["namespace"] == "default"
    spec = out["spec"]
    assert {
        k: spec[k]
        for k in ("restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy", "schedulerName")
    } == {
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
    }
    c = spec["containers"][0]
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "initialDelaySeconds": 5,
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert "initialDelaySeconds" not in c["readinessProbe"]
    assert c["readinessProbe"]["periodSeconds"] == 10  # zero is replaced, like Go's zero value
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    # Quantities print canonically; Pod requests default to limits.
    assert c["resources"] == {
        "limits": {"memory": "512Mi", "cpu": "500m"},
        "requests": {"memory": "512Mi", "cpu": "500m"},
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry:5000/nginx", "Always"),
        ("registry:5000/nginx:1", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    out = default_object(pod(containers=[{"name": "a", "image": image}]))
    assert out["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_given_values_are_kept() -> None:
    out = default_object(
        pod(restartPolicy="Never", terminationGracePeriodSeconds=0, dnsPolicy="Default")
    )
    assert out["spec"]["restartPolicy"] == "Never"
    assert out["spec"]["terminationGracePeriodSeconds"] == 0  # a pointer: 0 is a value
    assert out["spec"]["dnsPolicy"] == "Default"


def test_deployment_defaults() -> None:
    out = default_object(deployment())
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (
        spec["revisionHistoryLimit"],
        spec["progressDeadlineSeconds"],
        spec["minReadySeconds"],
    ) == (
        10,
        600,
        0,
    )
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and tspec["terminationGracePeriodSeconds"] == 30
    assert tspec["containers"][0]["terminationMessagePolicy"] == "File"
    assert "namespace" not in spec["template"].get("metadata", {})


def test_recreate_gets_no_rolling_update() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate"}
    assert default_object(obj)["spec"]["strategy"] == {"type": "Recreate"}


def test_template_requests_are_not_defaulted_from_limits() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    res = default_object(obj)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "1"}}


def test_service_defaults() -> None:
    obj = service()
    obj["spec"]["ports"].append({"name": "b", "port": 81, "protocol": "UDP"})
    obj["spec"]["ports"][0]["name"] = "a"
    out: dict[str, Any] = default_object(obj)
    assert out["spec"]["type"] == "ClusterIP"
    assert out["spec"]["sessionAffinity"] == "None"
    assert out["spec"]["ports"] == [
        {"name": "a", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "b", "port": 81, "protocol": "UDP", "targetPort": 81},
    ]


def test_cronjob_template_is_defaulted() -> None:
    obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}},
    }
    out = default_object(obj)
    tspec = out["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert tspec["dnsPolicy"] == "ClusterFirst"
    assert tspec["containers"][0]["terminationMessagePath"] == "/dev/termination-log"

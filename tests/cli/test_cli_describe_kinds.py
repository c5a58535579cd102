"""`describe service` and `describe deployment` text against fixture objects shaped as the
agent returns them (kubectl `describeService`, `describeDeployment`)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from podkeeper.cli.describe import (
    describe_deployment,
    describe_service,
    format_endpoints,
    owned_replica_sets,
)

Obj = dict[str, Any]
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
UID = "9fdbb7c1-b5bd-4fdf-b282-5ac783af150b"


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


SERVICE: Obj = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "labels": {"tier": "front"},
        "annotations": {
            "podkeeper.io/proxy-mode": "nftables",
            "podkeeper.io/listen": "127.0.0.1:30099",
        },
    },
    "spec": {
        "ports": [
            {"name": "web", "nodePort": 30099, "port": 80, "protocol": "TCP", "targetPort": "http"}
        ],
        "selector": {"app": "web"},
        "type": "NodePort",
        "sessionAffinity": "None",
        "clusterIP": "127.0.0.1",
        "clusterIPs": ["127.0.0.1"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    },
}


def endpoints(ready: list[str], unready: list[str], port_name: str = "web") -> Obj:
    return {
        "kind": "Endpoints",
        "subsets": [
            {
                "addresses": [{"ip": ip} for ip in ready],
                "notReadyAddresses": [{"ip": ip} for ip in unready],
                "ports": [{"name": port_name, "port": 8080, "protocol": "TCP"}],
            }
        ],
    }


def test_describe_service_exactly_as_kubectl_plus_proxy_mode() -> None:
    ep = endpoints(["10.88.0.5", "10.88.0.6"], ["10.88.0.7"])
    event = {
        "type": "Warning",
        "reason": "FailedToListen",
        "message": "address in use",
        "source": {"component": "podkeeper-proxy"},
        "count": 1,
        "firstTimestamp": "2024-05-01T11:59:00Z",
        "lastTimestamp": "2024-05-01T11:59:00Z",
        "involvedObject": {"kind": "Service", "name": "web"},
    }
    assert describe_service(SERVICE, ep, [event], NOW) == (
        "Name:                     web\n"
        "Namespace:                default\n"
        "Labels:                   tier=front\n"
        "Annotations:              podkeeper.io/listen: 127.0.0.1:30099\n"
        "                          podkeeper.io/proxy-mode: nftables\n"
        "Selector:                 app=web\n"
        "Type:                     NodePort\n"
        "IP Family Policy:         SingleStack\n"
        "IP Families:              IPv4\n"
        "IP:                       127.0.0.1\n"
        "IPs:                      127.0.0.1\n"
        "Port:                     web  80/TCP\n"
        "TargetPort:               http/TCP\n"
        "NodePort:                 web  30099/TCP\n"
        "Endpoints:                10.88.0.5:8080,10.88.0.6:8080\n"
        "Session Affinity:         None\n"
        "Internal Traffic Policy:  Cluster\n"
        "Proxy Mode:               nftables\n"
        "Events:\n"
        "  Type     Reason          Age   From             Message\n"
        "  ----     ------          ----  ----             -------\n"
        "  Warning  FailedToListen  60s   podkeeper-proxy  address in use\n"
    )


def test_describe_service_defaults_unnamed_port_and_no_endpoints() -> None:
    svc = copy.deepcopy(SERVICE)
    svc["metadata"] = {"name": "db"}
    svc["spec"] = {"selector": {"app": "db"}, "ports": [{"port": 5432, "targetPort": 5432}]}
    text = describe_service(svc, None, [], NOW)
    assert text == (
        "Name:              db\n"
        "Namespace:         default\n"
        "Labels:            <none>\n"
        "Annotations:       <none>\n"
        "Selector:          app=db\n"
        "Type:              ClusterIP\n"
        "IP Families:       <none>\n"
        "IP:                \n"
        "Port:              <unset>  5432/TCP\n"
        "TargetPort:        5432/TCP\n"
        "Endpoints:         <none>\n"
        "Session Affinity:  None\n"
        "Events:            <none>\n"
    )


@pytest.mark.parametrize(
    ("ready", "port", "shown"),
    [
        ([], "web", "<none>"),
        (["10.0.0.1"], "other", "<none>"),
        (["10.0.0.1"], "web", "10.0.0.1:8080"),
        (
            [f"10.0.0.{i}" for i in range(1, 6)],
            "web",
            "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...",
        ),
    ],
)
def test_endpoints_line_shows_three_ready_then_a_count(
    ready: list[str], port: str, shown: str
) -> None:
    assert format_endpoints(endpoints(ready, ["10.0.0.9"]), port) == shown


def replica_set(name: str, revision: str, replicas: int, created: int, owner: str = UID) -> Obj:
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "creationTimestamp": f"2024-05-01T11:5{created}:00Z",
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": owner, "controller": True}
            ],
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas},
    }


DEPLOYMENT: Obj = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": UID,
        "annotations": {"deployment.kubernetes.io/revision": "3"},
        "creationTimestamp": "2024-05-01T11:50:00Z",
        "labels": {"app": "web"},
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "example/web:v2",
                        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                        "env": [{"name": "VERSION", "value": "v2"}],
                        "readinessProbe": {
                            "exec": {"command": ["true"]},
                            "periodSeconds": 1,
                            "failureThreshold": 1,
                            "timeoutSeconds": 1,
                            "successThreshold": 1,
                        },
                    }
                ]
            },
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"},
        },
        "minReadySeconds": 2,
    },
    "status": {
        "replicas": 4,
        "updatedReplicas": 2,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
        ],
    },
}
REPLICA_SETS = [
    replica_set("web-7f9759d697", "3", 2, 8),
    replica_set("web-7b56bb94fd", "2", 2, 5),
    replica_set("web-5d8c4f6b9c", "1", 0, 1),  # scaled to 0: not listed, as kubectl
    replica_set("other-6c8d9f7b5d", "1", 1, 2, owner="another-uid"),  # not ours
]


def test_describe_deployment_exactly_as_kubectl() -> None:
    event = {
        "type": "Normal",
        "reason": "ScalingReplicaSet",
        "message": "Scaled up replica set web-7f9759d697 from 1 to 2",
        "source": {"component": "deployment-controller"},
        "count": 1,
        "firstTimestamp": "2024-05-01T11:59:50Z",
        "lastTimestamp": "2024-05-01T11:59:50Z",
        "involvedObject": {"kind": "Deployment", "name": "web"},
    }
    assert describe_deployment(DEPLOYMENT, REPLICA_SETS, [event], NOW) == (
        "Name:                   web\n"
        "Namespace:              default\n"
        "CreationTimestamp:      Wed, 01 May 2024 11:50:00 +0000\n"
        "Labels:                 app=web\n"
        "Annotations:            deployment.kubernetes.io/revision: 3\n"
        "Selector:               app=web\n"
        "Replicas:               3 desired | 2 updated | 4 total | 3 available | 1 unavailable\n"
        "StrategyType:           RollingUpdate\n"
        "MinReadySeconds:        2\n"
        "RollingUpdateStrategy:  1 max unavailable, 25% max surge\n"
        "Pod Template:\n"
        "  Labels:  app=web\n"
        "  Containers:\n"
        "   app:\n"
        "    Image:      example/web:v2\n"
        "    Port:       8080/TCP\n"
        "    Host Port:  0/TCP\n"
        "    Readiness:  exec [true] delay=0s timeout=1s period=1s #success=1 #failure=1\n"
        "    Environment:\n"
        "      VERSION:     v2\n"
        "    Mounts:        <none>\n"
        "  Volumes:         <none>\n"
        "  Node-Selectors:  <none>\n"
        "  Tolerations:     <none>\n"
        "Conditions:\n"
        "  Type           Status  Reason\n"
        "  ----           ------  ------\n"
        "  Available      True    MinimumReplicasAvailable\n"
        "  Progressing    True    ReplicaSetUpdated\n"
        "OldReplicaSets:  web-7b56bb94fd (2/2 replicas created)\n"
        "NewReplicaSet:   web-7f9759d697 (2/2 replicas created)\n"
        "Events:\n"
        "  Type    Reason             Age   From                   Message\n"
        "  ----    ------             ----  ----                   -------\n"
        "  Normal  ScalingReplicaSet  10s   deployment-controller  "
        "Scaled up replica set web-7f9759d697 from 1 to 2\n"
    )


def test_recreate_deployment_without_replica_sets_or_events() -> None:
    d = copy.deepcopy(DEPLOYMENT)
    d["spec"]["strategy"] = {"type": "Recreate"}
    del d["status"]["conditions"]
    text = describe_deployment(d, [], [], NOW)
    assert "StrategyType:       Recreate\n" in text
    assert "RollingUpdateStrategy" not in text and "Conditions:" not in text
    assert text.endswith(
        "OldReplicaSets:    <none>\nNewReplicaSet:     <none>\nEvents:            <none>\n"
    )


def test_old_and_new_replica_sets_by_revision_and_owner() -> None:
    old, new = owned_replica_sets(DEPLOYMENT, REPLICA_SETS)
    assert [rs["metadata"]["name"] for rs in old] == ["web-7b56bb94fd"]
    assert new is not None and new["metadata"]["name"] == "web-7f9759d697"

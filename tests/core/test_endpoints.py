"""core.endpoints: the endpoints and EndpointSlice controllers' rules as tables."""

from __future__ import annotations

from typing import Any

import pytest
from tests.lb.lbfakes import pod, service

from podkeeper.core.endpoints import (
    endpoint_entries,
    endpoints_object,
    find_port,
    ready_backends,
    selector_matches,
    should_pod_be_in_endpoints,
    slice_endpoints,
)

Obj = dict[str, Any]


# (pod kwargs, in slice?, ready, serving, terminating, in v1 Endpoints as)
CONDITIONS = [
    ("ready", {}, True, True, True, False, "addresses"),
    ("not ready", {"ready": False}, True, False, False, False, "notReadyAddresses"),
    ("terminating ready", {"deleting": True}, True, False, True, True, None),
    ("terminating unready", {"deleting": True, "ready": False}, True, False, False, True, None),
    ("no ip", {"ip": ""}, False, None, None, None, None),
    ("succeeded", {"phase": "Succeeded"}, False, None, None, None, None),
    ("failed", {"phase": "Failed"}, False, None, None, None, None),
    (
        "pending with ip",
        {"phase": "Pending", "ready": False},
        True,
        False,
        False,
        False,
        "notReadyAddresses",
    ),
    ("other labels", {"labels": {"app": "db"}}, False, None, None, None, None),
    ("other namespace", {"namespace": "prod"}, False, None, None, None, None),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "in_slice", "ready", "serving", "terminating", "v1_field"),
    CONDITIONS,
    ids=[c[0] for c in CONDITIONS],
)
def test_conditions_as_the_endpointslice_controller(
    case: str,
    kwargs: Obj,
    in_slice: bool,
    ready: bool | None,
    serving: bool | None,
    terminating: bool | None,
    v1_field: str | None,
) -> None:
    svc = service(port=80)
    p = pod("p", ip=kwargs.pop("ip", "10.0.0.5"), **kwargs)
    entries = endpoint_entries(svc, [p])
    assert bool(entries) is in_slice
    if entries:
        e = entries[0]
        assert (e.ready, e.serving, e.terminating) == (ready, serving, terminating)
        assert slice_endpoints(entries)[0]["conditions"] == {
            "ready": ready,
            "serving": serving,
            "terminating": terminating,
        }
    ep = endpoints_object(svc, entries)
    if v1_field is None:
        assert "subsets" not in ep
    else:
        (subset,) = ep["subsets"]
        assert [a["ip"] for a in subset[v1_field]] == ["10.0.0.5"]
        assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_publish_not_ready_addresses_reports_every_endpoint_ready() -> None:
    svc = service(port=80)
    svc["spec"]["publishNotReadyAddresses"] = True
    entries = endpoint_entries(svc, [pod("a", ip="10.0.0.1", ready=False)])
    assert entries[0].ready and entries[0].serving
    assert endpoints_object(svc, entries)["subsets"][0]["addresses"][0]["ip"] == "10.0.0.1"


FIND_PORT = [
    ("number", 9000, "TCP", 9000),
    ("numeric string", "9000", "TCP", 9000),
    ("name", "http", "TCP", 8080),
    ("name, other protocol", "http", "UDP", None),
    ("unknown name", "grpc", "TCP", None),
]


@pytest.mark.parametrize(
    ("case", "target", "protocol", "want"), FIND_PORT, ids=[c[0] for c in FIND_PORT]
)
def test_find_port(case: str, target: int | str, protocol: str, want: int | None) -> None:
    assert find_port(pod("p"), {"port": 80, "targetPort": target, "protocol": protocol}) == want


def test_pod_without_the_named_port_is_skipped_in_v1_endpoints() -> None:
    svc = service(port=80, target="metrics")
    entries = endpoint_entries(svc, [pod("p", ip="10.0.0.1")])
    assert entries and entries[0].ports == ()
    assert "subsets" not in endpoints_object(svc, entries)
    assert ready_backends(entries, "") == []


def test_subsets_repacked_by_port_and_sorted_by_ip() -> None:
    svc = service(port=80)
    pods = [
        pod("c", ip="10.0.0.3", port=8080),
        pod("a", ip="10.0.0.9", port=8080),
        pod("b", ip="10.0.0.2", port=9090, ready=False),
        pod("d", ip="10.0.0.1", port=8080, ready=False),
    ]
    ep = endpoints_object(svc, endpoint_entries(svc, pods), node_name="n1")
    assert ep["metadata"]["name"] == "web"
    s8080, s9090 = ep["subsets"]
    assert [a["ip"] for a in s8080["addresses"]] == ["10.0.0.3", "10.0.0.9"]
    assert [a["ip"] for a in s8080["notReadyAddresses"]] == ["10.0.0.1"]
    assert s8080["addresses"][0]["targetRef"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "c",
        "uid": "uid-c",
    }
    assert s8080["addresses"][0]["nodeName"] == "n1"
    assert "addresses" not in s9090 and s9090["ports"][0]["port"] == 9090


def test_ready_backends_only_ready_and_per_port_name() -> None:
    svc = service(port=80)
    svc["spec"]["ports"] = [
        {"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "admin", "port": 81, "targetPort": 9901, "protocol": "TCP"},
    ]
    pods = [
        pod("a", ip="10.0.0.1"),
        pod("b", ip="10.0.0.2", ready=False),
        pod("c", ip="10.0.0.3", deleting=True),
    ]
    entries = endpoint_entries(svc, pods)
    assert ready_backends(entries, "web") == [("10.0.0.1", 8080)]
    assert ready_backends(entries, "admin") == [("10.0.0.1", 9901)]


SELECTORS = [
    ({"app": "web"}, {"app": "web", "tier": "x"}, True),
    ({"app": "web", "tier": "y"}, {"app": "web", "tier": "x"}, False),
    ({}, {"app": "web"}, False),  # no selector: manually managed endpoints
    (None, {"app": "web"}, False),
]


@pytest.mark.parametrize(("selector", "labels", "want"), SELECTORS)
def test_selector(selector: dict[str, str] | None, labels: dict[str, str], want: bool) -> None:
    assert selector_matches(selector, labels) is want


def test_should_pod_be_in_endpoints_terminating_flag() -> None:
    p = pod("p", ip="10.0.0.1", deleting=True)
    assert should_pod_be_in_endpoints(p, include_terminating=True)
    assert not should_pod_be_in_endpoints(p, include_terminating=False)

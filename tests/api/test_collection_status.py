"""DeleteCollection and the pods/status subresource over a FakeAgentBackend.

DeleteCollection as the API server's generic store (`store.go` DeleteCollection):
list options select, each object is deleted as a single DELETE would be, the answer
is the list of the objects deleted. The end-to-end proofs with the real agent are in
tests/e2e/test_api_collection_status.py and the node conformance cases CM5, SE4, PO11.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.api.conftest import Agent
from tests.api.fakes import pod
from tests.api.test_kube import PODS, call, http

__all__ = ["http"]

Obj = dict[str, Any]
CMS = "/api/v1/namespaces/default/configmaps"


def configmap(name: str, namespace: str = "default", **labels: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": "v"},
    }


async def test_delete_collection_by_label_returns_the_deleted_list(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        agent.backend.add(configmap(name, tier=tier))
    agent.backend.add(configmap("other-ns", "kube-public", tier="x"))
    code, body = await call(http, "DELETE", CMS, labelSelector="tier=x")
    assert code == 200, body
    assert (body["kind"], body["apiVersion"]) == ("ConfigMapList", "v1")
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "b"]
    assert all(i["metadata"]["resourceVersion"] for i in body["items"])
    assert sorted(d[2] for d in agent.backend.deleted) == ["a", "b"]
    assert all(d[1] == "default" for d in agent.backend.deleted)
    # No selector: everything left in the namespace.
    code, body = await call(http, "DELETE", CMS)
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["a", "b", "c"]


async def test_delete_collection_field_selector_grace_and_dry_run(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    for name in ("p1", "p2"):
        agent.backend.add(pod(name))
    code, body = await call(http, "DELETE", PODS, dryRun="All")
    assert code == 200 and len(body["items"]) == 2 and agent.backend.deleted == []
    code, body = await call(
        http, "DELETE", PODS, fieldSelector="metadata.name=p2", gracePeriodSeconds="3"
    )
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["p2"]
    assert agent.backend.deleted == [("Pod", "default", "p2", 3)]
    # DeleteOptions in the body, as client libraries send them.
    code, body = await call(
        http,
        "DELETE",
        PODS,
        {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
        fieldSelector="metadata.name!=p2",
    )
    assert code == 200
    assert agent.backend.deleted[-1] == ("Pod", "default", "p1", 0)


async def test_delete_collection_in_a_group(http: aiohttp.ClientSession, agent: Agent) -> None:
    for name in ("d1", "d2"):
        agent.backend.add(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}}
        )
    code, body = await call(http, "DELETE", "/apis/apps/v1/namespaces/default/deployments")
    assert (code, body["kind"], body["apiVersion"]) == (200, "DeploymentList", "apps/v1")
    assert sorted(d[2] for d in agent.backend.deleted if d[0] == "Deployment") == ["d1", "d2"]


async def test_delete_collection_bad_options_and_unsupported_paths(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    agent.backend.add(pod("keep"))
    code, body = await call(http, "DELETE", PODS, gracePeriodSeconds="-1")
    assert code == 400
    code, body = await call(http, "DELETE", PODS, propagationPolicy="Sometimes")
    assert (code, body["reason"]) == (422, "Invalid")
    code, body = await call(http, "DELETE", PODS, labelSelector="a in (")
    assert code == 400
    # As the API server: no DELETE across all namespaces, none for namespaces or events.
    for path in ("/api/v1/pods", "/api/v1/namespaces", "/api/v1/namespaces/default/events"):
        code, body = await call(http, "DELETE", path)
        assert (code, body["reason"]) == (405, "MethodNotAllowed"), path
    assert agent.backend.deleted == []


async def test_discovery_lists_deletecollection(http: aiohttp.ClientSession) -> None:
    _, core = await call(http, "GET", "/api/v1")
    verbs = {r["name"]: r["verbs"] for r in core["resources"]}
    for name in ("pods", "configmaps", "secrets", "services", "endpoints"):
        assert "deletecollection" in verbs[name], name
    assert "deletecollection" not in verbs["namespaces"]
    assert "deletecollection" not in verbs["events"]
    _, apps = await call(http, "GET", "/apis/apps/v1")
    assert "deletecollection" in {r["name"]: r["verbs"] for r in apps["resources"]}["deployments"]


# -- pods/<name>/status ------------------------------------------------------------


async def test_status_patch_types_put_and_conflict(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    obj = agent.backend.add(pod("s"))
    obj["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    status_path = f"{PODS}/s/status"
    code, got = await call(http, "GET", status_path)
    assert code == 200 and got["status"]["phase"] == "Running"
    gate = {"type": "example.com/gate", "status": "True"}
    code, got = await call(
        http,
        "PATCH",
        status_path,
        {"status": {"conditions": [gate]}},
        ctype="application/strategic-merge-patch+json",
    )
    # Strategic merge: conditions merge by type.
    assert code == 200, got
    assert [c["type"] for c in got["status"]["conditions"]] == ["Ready", "example.com/gate"]
    code, got = await call(
        http,
        "PATCH",
        status_path,
        {"status": {"message": "hi", "reason": "E2E"}},
        ctype="application/merge-patch+json",
    )
    assert code == 200 and got["status"]["message"] == "hi"
    ops = [{"op": "replace", "path": "/status/reason", "value": "JSON"}]
    code, got = await call(http, "PATCH", status_path, ops, ctype="application/json-patch+json")
    assert code == 200 and got["status"]["reason"] == "JSON"
    applied = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s"}}
    applied["status"] = {"message": "applied"}
    ctype = "application/apply-patch+yaml"
    code, _ = await call(http, "PATCH", status_path, applied, ctype=ctype)
    assert code == 422  # no fieldManager
    code, got = await call(http, "PATCH", status_path, applied, ctype=ctype, fieldManager="t")
    assert code == 200 and got["status"]["message"] == "applied"
    # PUT: the spec stays the old pod's (podStatusStrategy), the status is the body's.
    code, current = await call(http, "GET", status_path)
    current["spec"]["containers"][0]["image"] = "changed"
    current["status"] = {"phase": "Running", "message": "put"}
    code, got = await call(http, "PUT", status_path, current)
    assert code == 200, got
    assert got["status"]["message"] == "put"
    assert got["spec"]["containers"][0]["image"] != "changed"
    assert agent.backend.status_writes[-1][2] == {"phase": "Running", "message": "put"}
    # A stale resourceVersion is a conflict.
    stale = dict(current)
    code, body = await call(http, "PUT", status_path, stale)
    assert (code, body["reason"]) == (409, "Conflict")


async def test_status_write_validation_labels_and_missing_pod(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    agent.backend.add(pod("v"))
    status_path = f"{PODS}/v/status"
    merge = "application/merge-patch+json"
    bad_type = {"status": {"conditions": [{"type": "not a name!", "status": "True"}]}}
    code, body = await call(http, "PATCH", status_path, bad_type, ctype=merge)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "status.conditions[0].type"
    code, body = await call(http, "PATCH", status_path, {"status": {}}, ctype="text/plain")
    assert code == 415
    code, body = await call(http, "PATCH", f"{PODS}/nope/status", {"status": {}}, ctype=merge)
    assert code == 404
    # Labels may change through pods/status (podStatusStrategy keeps only spec/owners).
    patch = {"metadata": {"labels": {"via": "status"}}, "status": {"message": "m"}}
    code, got = await call(http, "PATCH", status_path, patch, ctype=merge)
    assert code == 200 and got["metadata"]["labels"] == {"via": "status"}
    # Times are stored as metav1.Time prints them.
    when = {"status": {"startTime": "2026-01-02T03:04:05.123456+01:00"}}
    code, got = await call(http, "PATCH", status_path, when, ctype=merge)
    assert got["status"]["startTime"] == "2026-01-02T02:04:05Z"
    # dryRun: answered, not written.
    writes = len(agent.backend.status_writes)
    code, got = await call(
        http, "PATCH", status_path, {"status": {"message": "dry"}}, ctype=merge, dryRun="All"
    )
    assert code == 200 and got["status"]["message"] == "dry"
    assert len(agent.backend.status_writes) == writes


async def test_discovery_pods_status_verbs(http: aiohttp.ClientSession) -> None:
    _, core = await call(http, "GET", "/api/v1")
    verbs = {r["name"]: r["verbs"] for r in core["resources"]}
    assert verbs["pods/status"] == ["get", "patch", "update"]
    assert verbs["services/status"] == ["get"]

"""The generic Kubernetes handlers over a FakeAgentBackend, through a real unix socket.

Covers what kubectl relies on beyond the end-to-end suite: Status codes and
reasons for bad input (issue 13 item 15), optimistic concurrency, watches that
resume from a resourceVersion or get 410, tables, selectors, paging,
discovery, patches, and events filtered by involvedObject uid (item 16).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from podkeeper.api import registry, shared
from tests.api.conftest import Agent
from tests.api.fakes import event, pod

Obj = dict[str, Any]


@pytest.fixture
async def http(agent: Agent) -> AsyncIterator[aiohttp.ClientSession]:
    conn = aiohttp.UnixConnector(path=str(agent.socket))
    async with aiohttp.ClientSession(connector=conn, base_url="http://agent") as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any = None,
    *,
    ctype: str = "application/json",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> tuple[int, Obj]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": ctype, **(headers or {})}
    async with http.request(method, path, data=data, headers=hdrs, params=params) as resp:
        return resp.status, json.loads(await resp.read())


PODS = "/api/v1/namespaces/default/pods"


# -- bad input (issue 13 item 15) ------------------------------------------------


async def test_text_plain_body_is_415(http: aiohttp.ClientSession) -> None:
    code, body = await call(http, "POST", PODS, raw=b"hello", ctype="text/plain")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")


async def test_metadata_as_a_list_is_422_not_500(http: aiohttp.ClientSession) -> None:
    obj = pod("x")
    obj["metadata"] = ["name", "x"]
    code, body = await call(http, "POST", PODS, obj)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata"


async def test_absurdly_deep_object_is_refused(http: aiohttp.ClientSession, agent: Agent) -> None:
    obj = pod("deep")
    nested: Obj = {}
    cur = nested
    for _ in range(400):
        cur["x"] = {}
        cur = cur["x"]
    obj["metadata"]["annotations"] = {"a": "b"}
    obj["spec"]["extra"] = nested
    code, body = await call(http, "POST", PODS, obj)
    assert code == 400 and f"more than {shared.MAX_DEPTH} levels deep" in body["message"]
    assert agent.backend.applied == []  # never stored


async def test_body_over_the_limit_is_413_and_says_the_limit(http: aiohttp.ClientSession) -> None:
    big = io.BytesIO(b"{" + b" " * (shared.MAX_BODY_BYTES + 10) + b"}")
    async with http.post(PODS, data=big, headers={"Content-Type": "application/json"}) as resp:
        code, body = resp.status, json.loads(await resp.read())
    assert (code, body["reason"]) == (413, "RequestEntityTooLarge")
    assert f"the limit is {shared.MAX_BODY_BYTES} bytes" in body["message"]


async def test_invalid_object_names_each_field(http: aiohttp.ClientSession) -> None:
    obj = pod("bad")
    obj["spec"]["containers"] = []
    code, body = await call(http, "POST", PODS, obj)
    assert code == 422
    assert body["message"] == 'Pod "bad" is invalid: spec.containers: Required value'
    assert body["details"]["kind"] == "Pod" and body["details"]["name"] == "bad"
    assert body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}
    ]


# -- create / update / patch -----------------------------------------------------


async def test_create_twice_is_409_already_exists(http: aiohttp.ClientSession) -> None:
    assert (await call(http, "POST", PODS, pod("a")))[0] == 201
    code, body = await call(http, "POST", PODS, pod("a"))
    assert (code, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'pods "a" already exists',
    )


async def test_update_with_a_stale_resource_version_is_409(
    http: aiohttp.ClientSession,
) -> None:
    _, created = await call(http, "POST", PODS, pod("a"))
    stale = created["metadata"]["resourceVersion"]
    patch = {"metadata": {"labels": {"x": "1"}}}
    code, patched = await call(
        http, "PATCH", f"{PODS}/a", patch, ctype="application/merge-patch+json"
    )
    assert code == 200 and int(patched["metadata"]["resourceVersion"]) > int(stale)
    old = dict(created)
    old["metadata"] = {**created["metadata"], "labels": {"x": "2"}}
    code, body = await call(http, "PUT", f"{PODS}/a", old)
    assert (code, body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body["message"]


async def test_patch_types(http: aiohttp.ClientSession) -> None:
    await call(http, "POST", PODS, pod("p", containers=("a", "b")))
    code, body = await call(
        http,
        "PATCH",
        f"{PODS}/p",
        [{"op": "add", "path": "/metadata/labels", "value": {"k": "v"}}],
        ctype="application/json-patch+json",
    )
    assert code == 200 and body["metadata"]["labels"] == {"k": "v"}
    smp = {"spec": {"containers": [{"name": "b", "image": "other"}]}}
    code, body = await call(
        http, "PATCH", f"{PODS}/p", smp, ctype="application/strategic-merge-patch+json"
    )
    # Merged by name: container a kept, b changed (the fake stores any update).
    assert [c["name"] for c in body["spec"]["containers"]] == ["a", "b"]
    assert body["spec"]["containers"][1]["image"] == "other"
    code, body = await call(http, "PATCH", f"{PODS}/p", {}, ctype="application/x-unknown")
    assert code == 415


async def test_server_side_apply_needs_a_field_manager_and_removes_dropped_fields(
    http: aiohttp.ClientSession,
) -> None:
    obj = pod("s")
    obj["metadata"]["labels"] = {"a": "1", "b": "2"}
    ctype = "application/apply-patch+yaml"
    code, _ = await call(http, "PATCH", f"{PODS}/s", obj, ctype=ctype)
    assert code == 422
    code, body = await call(http, "PATCH", f"{PODS}/s", obj, ctype=ctype, fieldManager="me")
    assert code == 201 and body["metadata"]["labels"] == {"a": "1", "b": "2"}
    obj["metadata"]["labels"] = {"a": "1"}
    code, body = await call(http, "PATCH", f"{PODS}/s", obj, ctype=ctype, fieldManager="me")
    assert code == 200 and body["metadata"]["labels"] == {"a": "1"}


# -- list, table, selectors, paging ---------------------------------------------


async def test_list_selectors_table_and_paging(http: aiohttp.ClientSession, agent: Agent) -> None:
    for i in range(5):
        p = pod(f"p{i}")
        p["metadata"]["labels"] = {"tier": "a" if i % 2 else "b"}
        agent.backend.add(p)
    code, body = await call(http, "GET", PODS, labelSelector="tier in (a)")
    assert [o["metadata"]["name"] for o in body["items"]] == ["p1", "p3"]
    code, body = await call(http, "GET", PODS, labelSelector="tier=(")
    assert code == 400
    code, body = await call(http, "GET", PODS, fieldSelector="metadata.name=p2")
    assert [o["metadata"]["name"] for o in body["items"]] == ["p2"]
    code, page = await call(http, "GET", PODS, limit="2")
    assert len(page["items"]) == 2 and page["metadata"]["remainingItemCount"] == 3
    code, rest = await call(
        http, "GET", PODS, limit="10", **{"continue": page["metadata"]["continue"]}
    )
    assert [o["metadata"]["name"] for o in rest["items"]] == ["p2", "p3", "p4"]
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    code, table = await call(http, "GET", PODS, headers={"Accept": accept})
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_events_filtered_by_involved_object_uid(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    # Issue 13 item 16: an earlier, deleted pod of the same name has its own events.
    old = event("web", "Killing", name="web.old")
    new = event("web", "Started", name="web.new")
    new["involvedObject"]["uid"] = "u2"
    agent.backend.emit(old)
    agent.backend.emit(new)
    selector = "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u2"
    _, body = await call(http, "GET", "/api/v1/namespaces/default/events", fieldSelector=selector)
    assert [e["reason"] for e in body["items"]] == ["Started"]


# -- watch -------------------------------------------------------------------------


async def _watch_lines(http: aiohttp.ClientSession, path: str, n: int, **params: str) -> list[Obj]:
    out: list[Obj] = []
    async with http.get(path, params={"watch": "true", **params}) as resp:
        while len(out) < n:
            line = await asyncio.wait_for(resp.content.readline(), 10)
            if not line:
                break
            out.append(json.loads(line))
    return out


async def test_watch_resumes_from_a_resource_version(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    agent.backend.add(pod("w"))
    _, listed = await call(http, "GET", PODS)
    rv = listed["metadata"]["resourceVersion"]
    agent.backend.objects[("Pod", "default", "w")]["metadata"]["labels"] = {"x": "y"}
    agent.backend.add(pod("w2"))
    events = await _watch_lines(http, PODS, 2, resourceVersion=rv)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "w"),
        ("ADDED", "w2"),
    ]
    agent.backend.remove("Pod", "default", "w2")
    events = await _watch_lines(
        http, PODS, 1, resourceVersion=events[-1]["object"]["metadata"]["resourceVersion"]
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "w2")]


async def test_watch_from_a_forgotten_version_is_410_gone(http: aiohttp.ClientSession) -> None:
    events = await _watch_lines(http, PODS, 1, resourceVersion="1")
    assert events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


async def test_watch_sees_a_change_within_a_poll(http: aiohttp.ClientSession, agent: Agent) -> None:
    agent.backend.add(pod("live"))
    loop = asyncio.get_running_loop()
    async with http.get(PODS, params={"watch": "true"}) as resp:
        first = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
        assert first["type"] == "ADDED"
        t0 = loop.time()
        agent.backend.objects[("Pod", "default", "live")]["status"] = {"phase": "Running"}
        second = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
        assert second["type"] == "MODIFIED"
        assert loop.time() - t0 < 10 * registry.POLL_INTERVAL + 2


# -- discovery ------------------------------------------------------------------------


async def test_discovery_legacy_and_aggregated(http: aiohttp.ClientSession) -> None:
    _, api = await call(http, "GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    _, v1 = await call(http, "GET", "/api/v1")
    names = {r["name"] for r in v1["resources"]}
    assert {"pods", "pods/log", "services", "nodes", "namespaces", "events"} <= names
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    async with http.get("/apis", headers={"Accept": accept}) as resp:
        assert "as=APIGroupDiscoveryList" in resp.headers["Content-Type"]
        body = json.loads(await resp.read())
    apps = body["items"][0]
    assert apps["metadata"]["name"] == "apps"
    resources = {r["resource"]: r for r in apps["versions"][0]["resources"]}
    assert resources["deployments"]["shortNames"] == ["deploy"]
    assert resources["deployments"]["subresources"][0]["subresource"] == "scale"
    _, version = await call(http, "GET", "/version")
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")


async def test_watch_with_a_label_selector_sees_objects_leave_and_enter(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    p = pod("sel")
    p["metadata"]["labels"] = {"tier": "a"}
    agent.backend.add(p)
    async with http.get(PODS, params={"watch": "true", "labelSelector": "tier=a"}) as resp:

        async def next_event() -> tuple[str, str]:
            ev = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
            return ev["type"], ev["object"]["metadata"]["labels"]["tier"]

        assert await next_event() == ("ADDED", "a")
        agent.backend.objects[("Pod", "default", "sel")]["metadata"]["labels"] = {"tier": "b"}
        assert await next_event() == ("DELETED", "b")
        agent.backend.objects[("Pod", "default", "sel")]["metadata"]["labels"] = {"tier": "a"}
        assert await next_event() == ("ADDED", "a")


async def test_eviction_deletes_gracefully(http: aiohttp.ClientSession, agent: Agent) -> None:
    agent.backend.add(pod("ev"))
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "ev", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 3},
    }
    code, status = await call(http, "POST", f"{PODS}/ev/eviction", body)
    assert (code, status["status"]) == (201, "Success")
    assert agent.backend.deleted == [("Pod", "default", "ev", 3)]
    code, _ = await call(http, "POST", f"{PODS}/nope/eviction", {"metadata": {"name": "nope"}})
    assert code == 404


async def test_podkeeper_apply_endpoint_has_the_same_input_checks(
    http: aiohttp.ClientSession, agent: Agent
) -> None:
    # Issue 13 item 15, through `podkeeper apply`'s own endpoint.
    apply = "/podkeeper/v1/apply"
    code, body = await call(http, "POST", apply, raw=b"items: []", ctype="text/plain")
    assert code == 415
    bad = pod("m")
    bad["metadata"] = ["m"]
    code, body = await call(http, "POST", apply, {"items": [bad]})
    assert (code, body["reason"]) == (422, "Invalid")
    deep = pod("deep")
    cur: Obj = deep["spec"]
    for _ in range(400):
        cur["x"] = {}
        cur = cur["x"]
    code, body = await call(http, "POST", apply, {"items": [deep]})
    assert code == 400 and "levels deep" in body["message"]
    assert agent.backend.applied == []

"""The real API server on a unix socket, driven by the real synchronous client in a thread."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from podkeeper.api.client import AgentNotRunning, APIError, Client, ClientError
from podkeeper.api.server import serve
from tests.api.conftest import Agent
from tests.api.fakes import FakeAgentBackend, event, pod

pytestmark = pytest.mark.timeout(20)

T = TypeVar("T")
TIMEOUT = 5.0


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call in a thread, with a deadline."""
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), TIMEOUT)


async def until(cond: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)


# -- objects --------------------------------------------------------------


async def test_list_get_and_not_found(agent: Agent) -> None:
    c, b = agent.client, agent.backend
    assert await run(c.list_objects, "pods", "default") == []
    b.add(pod("web"))
    b.add(pod("db", namespace="other"))
    body = await run(c.get, "/api/v1/namespaces/default/pods")
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert [p["metadata"]["name"] for p in body["items"]] == ["web"]
    assert {p["metadata"]["name"] for p in await run(c.list, "po", None)} == {"web", "db"}
    assert (await run(c.get_object, "Pod", "default", "web"))["metadata"]["name"] == "web"

    with pytest.raises(APIError) as err:
        await run(c.get_object, "pod", "default", "nope")
    assert err.value.status == 404
    assert err.value.message == 'pods "nope" not found'
    assert err.value.reason == "NotFound"
    assert err.value.body["kind"] == "Status" and err.value.body["status"] == "Failure"

    with pytest.raises(APIError) as err:
        await run(c.get_object, "deploy", "default", "nope")
    assert err.value.message == 'deployments.apps "nope" not found'


@pytest.mark.parametrize(
    ("kind", "path", "list_kind", "api_version"),
    [
        ("Deployment", "/apis/apps/v1/namespaces/default/deployments", "DeploymentList", "apps/v1"),
        ("ReplicaSet", "/apis/apps/v1/namespaces/default/replicasets", "ReplicaSetList", "apps/v1"),
        ("Service", "/api/v1/namespaces/default/services", "ServiceList", "v1"),
        ("Endpoints", "/api/v1/namespaces/default/endpoints", "EndpointsList", "v1"),
    ],
)
async def test_other_kinds_list_get_delete(
    agent: Agent, kind: str, path: str, list_kind: str, api_version: str
) -> None:
    agent.backend.add({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
    body = await run(agent.client.get, path)
    assert body["kind"] == list_kind and body["apiVersion"] == api_version
    assert [o["metadata"]["name"] for o in body["items"]] == ["x"]
    assert (await run(agent.client.get, f"{path}/x"))["kind"] == kind
    deleted = await run(agent.client.delete_object, kind, "default", "x", None)
    assert "deletionTimestamp" in deleted["metadata"]


async def test_apply_mixed_list(agent: Agent) -> None:
    items = [pod("web"), {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}]
    stored = await run(agent.client.apply, items)
    assert [o["kind"] for o in stored] == ["Pod", "Service"]
    assert agent.backend.applied == [items]


async def test_apply_rejected_is_422_invalid_with_causes(agent: Agent) -> None:
    agent.backend.reject = [
        "spec.containers[0].livenessProbe.periodSeconds: Invalid value: 0: must be greater than 0",
        "pod.yaml document 2: unknown kind Foo",
    ]
    with pytest.raises(APIError) as err:
        await run(agent.client.apply, [pod("web")])
    e = err.value
    assert e.status == 422 and e.reason == "Invalid"
    assert e.body["kind"] == "Status" and e.body["status"] == "Failure"
    assert "periodSeconds" in e.message and "unknown kind Foo" in e.message
    assert e.causes[0] == {
        "reason": "FieldValueInvalid",
        "message": agent.backend.reject[0],
        "field": "spec.containers[0].livenessProbe.periodSeconds",
    }
    assert "field" not in e.causes[1]


async def test_apply_completes_when_the_client_hangs_up(agent: Agent) -> None:
    b = agent.backend
    done = asyncio.Event()
    real_apply = b.apply

    async def slow_apply(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        await asyncio.sleep(0.3)
        stored = await real_apply(objects)
        done.set()
        return stored

    b.apply = slow_apply  # type: ignore[method-assign]
    impatient = Client(agent.socket, timeout=0.05)
    with pytest.raises(ClientError, match=r"did not answer within 0\.05 s"):
        await run(impatient.apply, [pod("web")])
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert b.get_object("Pod", "default", "web") is not None


async def test_apply_bad_body_is_400(agent: Agent) -> None:
    with pytest.raises(APIError) as err:
        await run(agent.client.post, "/podkeeper/v1/apply", {"item": []})
    assert err.value.status == 400 and err.value.reason == "BadRequest"


async def test_create_on_collection_fills_namespace_and_rejects_mismatch(agent: Agent) -> None:
    p = pod("web")
    del p["metadata"]["namespace"]
    created = await run(agent.client.post, "/api/v1/namespaces/team/pods", p)
    assert created["metadata"]["namespace"] == "team"
    with pytest.raises(APIError) as err:
        await run(agent.client.post, "/api/v1/namespaces/team/pods", pod("x", namespace="b"))
    assert err.value.status == 400
    assert "does not match the namespace" in err.value.message


async def test_delete_with_grace_query_or_delete_options(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.add(pod("web"))
    got = await run(c.delete_object, "pod", "default", "web", 5)
    assert got["metadata"]["deletionTimestamp"]
    await run(c.delete_path, "/api/v1/namespaces/default/pods/web", None, {"gracePeriodSeconds": 0})
    await run(c.delete, "pod", "default", "web")
    assert [d[3] for d in b.deleted] == [5, 0, None]
    with pytest.raises(APIError) as err:
        await run(c.delete_object, "pod", "default", "nope", 1)
    assert err.value.status == 404 and err.value.message == 'pods "nope" not found'
    with pytest.raises(APIError) as err:
        await run(c.delete_path, "/api/v1/namespaces/default/pods/web", {"gracePeriodSeconds": "x"})
    assert err.value.status == 400


# -- logs -----------------------------------------------------------------


def _log(dir_: Path, name: str, text: str) -> str:
    p = dir_ / name
    p.write_text(text)
    return str(p)


async def test_logs_current_previous_and_tail(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.add(pod("web"))
    b.log_paths[("default", "web", "app", False)] = _log(agent.home, "cur.log", "c1\nc2\nc3\n")
    b.log_paths[("default", "web", "app", True)] = _log(agent.home, "prev.log", "p1\np2")
    assert b"".join(await run(lambda: list(c.logs("default", "web")))) == b"c1\nc2\nc3\n"
    assert await run(lambda: list(c.logs("default", "web", "app", previous=True))) == [
        b"p1\n",
        b"p2",
    ]
    assert await run(lambda: list(c.logs("default", "web", tail_lines=2))) == [b"c2\n", b"c3\n"]
    assert await run(lambda: list(c.logs("default", "web", tail_lines=0))) == []
    assert await run(lambda: list(c.logs("default", "web", tail_lines=9))) == [
        b"c1\n",
        b"c2\n",
        b"c3\n",
    ]
    raw = await run(c.get_bytes, "/api/v1/namespaces/default/pods/web/log", {"tailLines": 1})
    assert raw == b"c3\n"


async def test_logs_errors(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.add(pod("web"))
    b.add(pod("two", containers=("a", "b")))
    with pytest.raises(APIError) as err:
        await run(c.logs, "default", "web", previous=True)
    assert err.value.status == 400
    assert err.value.message == 'previous terminated container "app" in pod "web" not found'
    with pytest.raises(APIError) as err:
        await run(c.logs, "default", "web")
    assert err.value.message == (
        'container "app" in pod "web" is waiting to start: ContainerCreating'
    )
    with pytest.raises(APIError) as err:
        await run(c.logs, "default", "two")
    assert (
        err.value.message == "a container name must be specified for pod two, choose one of: [a b]"
    )
    with pytest.raises(APIError) as err:
        await run(c.logs, "default", "two", "zz")
    assert err.value.message == "container zz is not valid for pod two"
    with pytest.raises(APIError) as err:
        await run(c.logs, "default", "nope")
    assert err.value.status == 404


async def test_logs_follow_streams_appends_until_pod_deleted(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.add(pod("web"))
    path = _log(agent.home, "cur.log", "one\n")
    b.log_paths[("default", "web", "app", False)] = path
    lines = await run(c.logs, "default", "web", follow=True)
    assert await run(next, lines) == b"one\n"
    with open(path, "a") as f:
        f.write("two\n")
    assert await run(next, lines) == b"two\n"
    with open(path, "a") as f:
        f.write("three\n")
    b.remove("Pod", "default", "web")
    # What was written before the pod went is still delivered, then the stream ends.
    assert await run(list, lines) == [b"three\n"]


async def test_logs_follow_ends_when_a_new_instance_starts(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.add(pod("web"))
    b.log_paths[("default", "web", "app", False)] = _log(agent.home, "i1.log", "i1\n")
    lines = await run(c.logs, "default", "web", follow=True)
    assert await run(next, lines) == b"i1\n"
    b.log_paths[("default", "web", "app", False)] = _log(agent.home, "i2.log", "i2\n")
    assert await run(list, lines) == []


async def test_logs_follow_stops_when_client_goes_away(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.add(pod("web"))
    b.log_paths[("default", "web", "app", False)] = _log(agent.home, "cur.log", "x\n")
    lines = await run(c.logs, "default", "web", follow=True)
    assert await run(next, lines) == b"x\n"
    polls = 0
    get_object = b.get_object

    def counting_get_object(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        nonlocal polls
        polls += 1
        return get_object(kind, namespace, name)

    b.get_object = counting_get_object  # type: ignore[method-assign]
    await until(lambda: polls > 0)  # the handler is polling the pod
    lines.close()  # type: ignore[attr-defined]
    # The server notices and its handler ends: the polling stops.
    await asyncio.sleep(0.2)
    settled = polls
    await asyncio.sleep(0.2)
    assert polls == settled


async def test_server_stop_ends_open_streams(short_dir: Path) -> None:
    b = FakeAgentBackend()
    b.add(pod("web"))
    b.log_paths[("default", "web", "app", False)] = _log(short_dir, "cur.log", "x\n")
    sock = short_dir / "agent.sock"
    runner = await serve(b, sock)
    c = Client(sock)
    follow = await run(c.logs, "default", "web", follow=True)
    watch = await run(c.watch_events, None)
    assert await run(next, follow) == b"x\n"
    await until(lambda: len(b.watchers) == 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.wait_for(runner.cleanup(), TIMEOUT)
    assert loop.time() - t0 < 1.5  # streams end promptly instead of the shutdown timeout
    assert await run(list, follow) == []
    assert await run(list, watch) == []


# -- events ---------------------------------------------------------------


async def test_events_list_and_field_selector(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.emit(event("web"))
    b.emit(event("db", "BackOff"))
    b.emit(event("web", "Killing", namespace="other"))
    body = await run(c.get, "/api/v1/events")
    assert body["kind"] == "EventList" and len(body["items"]) == 3
    assert [e["reason"] for e in await run(c.events, "default")] == ["Unhealthy", "BackOff"]
    assert [e["reason"] for e in await run(c.events, "default", "db")] == ["BackOff"]
    assert [e["reason"] for e in await run(c.events, None, "web")] == ["Unhealthy", "Killing"]
    got = await run(
        c.get, "/api/v1/events", {"fieldSelector": "involvedObject.name=web,reason!=Killing"}
    )
    assert [e["reason"] for e in got["items"]] == ["Unhealthy"]
    with pytest.raises(APIError) as err:
        await run(c.get, "/api/v1/events", {"fieldSelector": "spec.x=1"})
    # The API server's words (apimachinery `fields.ParseSelector` + strategy SelectableFields).
    assert err.value.status == 400 and "field label not supported: spec.x" in err.value.message


async def test_events_watch_streams_added_then_modified(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.emit(event("web", "Started"))
    b.emit(event("db", "Started"))
    stream: Iterator[dict[str, Any]] = await run(c.watch_events, "default", "web")
    first = await run(next, stream)
    assert first["type"] == "ADDED" and first["object"]["reason"] == "Started"
    await until(lambda: len(b.watchers) == 1)
    b.emit(event("db", "Unhealthy"))  # filtered out by the selector
    b.emit(event("web", "Unhealthy"))
    b.emit(event("web", "Unhealthy", count=2))
    second, third = await run(next, stream), await run(next, stream)
    assert (second["type"], second["object"]["reason"]) == ("ADDED", "Unhealthy")
    assert (third["type"], third["object"]["count"]) == ("MODIFIED", 2)
    stream.close()  # type: ignore[attr-defined]
    # The server sees the client go and stops watching the backend.
    await until(lambda: not b.watchers)


# -- podkeeper endpoints -------------------------------------------------


async def test_terminations_version_healthz_shutdown(agent: Agent) -> None:
    b, c = agent.backend, agent.client
    b.termination_records += [
        {"namespace": "default", "pod": "web", "container": "app", "exit_code": 137},
        {"namespace": "default", "pod": "web", "container": "side", "exit_code": 1},
    ]
    assert [t["exit_code"] for t in await run(c.terminations, "default", "web")] == [137, 1]
    assert [t["exit_code"] for t in await run(c.terminations, "default", "web", "side")] == [1]
    assert await run(c.terminations, "default", "nope") == []
    assert (await run(c.version))["podkeeper"] == "0.0.0-test"
    assert await run(c.ping)
    assert not b.shutdown_called.is_set()
    answer = await run(c.shutdown)
    assert answer["status"] == "Success"
    await asyncio.wait_for(b.shutdown_called.wait(), TIMEOUT)


async def test_unknown_path_is_404_status(agent: Agent) -> None:
    with pytest.raises(APIError) as err:
        await run(agent.client.get, "/api/v1/namespaces/default/widgets")
    assert err.value.status == 404 and err.value.reason == "NotFound"


# -- the socket -----------------------------------------------------------


async def test_socket_mode_and_removed_on_cleanup(short_dir: Path) -> None:
    sock = short_dir / "agent.sock"
    runner = await serve(FakeAgentBackend(), sock)
    try:
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        with pytest.raises(RuntimeError, match="already serving"):
            await serve(FakeAgentBackend(), sock)
    finally:
        await runner.cleanup()
    assert not sock.exists()


async def test_stale_socket_is_replaced(short_dir: Path) -> None:
    sock = short_dir / "agent.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()  # the file stays, nobody listens: a crashed agent's leftover
    with pytest.raises(AgentNotRunning):
        await run(Client(sock).version)
    assert not await run(Client(sock).ping)
    runner = await serve(FakeAgentBackend(), sock)
    try:
        assert await run(Client(sock).ping)
    finally:
        await runner.cleanup()


async def test_agent_not_running_message(short_dir: Path) -> None:
    c = Client(short_dir / "agent.sock")
    with pytest.raises(AgentNotRunning) as err:
        await run(c.list_objects, "pods", "default")
    assert str(err.value) == (
        f"no podkeeper agent is running for home {short_dir}; start one with `podkeeper up -f FILE`"
    )


def test_client_import_does_not_load_aiohttp() -> None:
    code = (
        "import sys, podkeeper.api.client, podkeeper.home;"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported';"
        "assert 'asyncio' not in sys.modules, 'asyncio imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=10)


def test_exec_identity_prefix_copies_user_groups_caps_and_no_new_privs() -> None:
    from podkeeper.api.execstream import Identity, identity_prefix, parse_identity

    status = (
        "Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\nGid:\t3000\t3000\t3000\t3000\n"
        "Groups:\t3000 4000 \nCapBnd:\t0000000000000401\nNoNewPrivs:\t1\n"
    )
    target = parse_identity(status)
    assert target == Identity(1000, 3000, (3000, 4000), 0x401, True)
    root = Identity(0, 0, (), (1 << 41) - 1, False)
    assert identity_prefix(root, root, "/usr/bin/setpriv") == []
    argv = identity_prefix(target, root, "/usr/bin/setpriv")
    assert argv == [
        "/usr/bin/setpriv",
        "--reuid=1000",
        "--regid=3000",
        "--groups=3000,4000",
        "--inh-caps=-all",
        "--bounding-set=-all,+chown,+net_bind_service",
        "--no-new-privs",
    ]
    # Root with a reduced set keeps it inheritable; no groups clears them.
    root_reduced = Identity(0, 0, (), 0x1, False)
    argv = identity_prefix(root_reduced, root, "/usr/bin/setpriv")
    assert "--clear-groups" in argv and "--inh-caps=-all,+chown" in argv

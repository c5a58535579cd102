"""The userspace data path with real loopback backends, through `ServiceController`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podkeeper.lb.services import MODE_ANNOTATION, ServiceController
from tests.lb.lbfakes import BackendServer, FakeHost, free_port, get, pod, service, spread

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def ctl(tmp_path: Path) -> AsyncIterator[tuple[ServiceController, FakeHost]]:
    host = FakeHost(tmp_path)
    c = ServiceController(address="127.0.0.1", mode="userspace")
    await c.start(host)
    try:
        yield c, host
    finally:
        await c.stop()
        for server in host.closers:
            server.close()
        await asyncio.sleep(0.01)  # let the transports finish closing


async def _backends(n: int, delay: float = 0.0) -> list[BackendServer]:
    return [await BackendServer(f"b{i}", delay).start() for i in range(n)]


async def _setup(
    ctl: tuple[ServiceController, FakeHost], n: int, delay: float = 0.0
) -> tuple[ServiceController, FakeHost, list[BackendServer], int]:
    c, host = ctl
    servers = await _backends(n, delay)
    host.closers.extend(servers)
    for s in servers:
        host.pods[s.name] = pod(s.name, port=s.port)
    port = free_port()
    await c.apply(service(port=port))
    await asyncio.sleep(0)  # let the listener start accepting
    return c, host, servers, port


async def test_balances_across_ready_endpoints_and_sends_nothing_to_unready(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, _host, servers, port = await _setup(ctl, 3)
    c.pod_changed(pod("b1", port=servers[1].port, ready=False))
    counts = await spread(port, 60)
    assert counts == {"b0": 30, "b2": 30}  # round robin over the two ready ones
    assert servers[1].hits == 0
    # Ready again: it gets its share at once.
    c.pod_changed(pod("b1", port=servers[1].port, ready=True))
    counts = await spread(port, 60)
    assert counts == {"b0": 20, "b1": 20, "b2": 20}
    svc = c.get("Service", "default", "web")
    assert svc is not None
    assert svc["metadata"]["annotations"][MODE_ANNOTATION] == "userspace"
    assert svc["spec"]["clusterIP"] == "127.0.0.1"


async def test_endpoints_object_follows_readiness(ctl: tuple[ServiceController, FakeHost]) -> None:
    c, _host, servers, _port = await _setup(ctl, 2)
    c.pod_changed(pod("b1", port=servers[1].port, ready=False))
    ep = c.get("Endpoints", "default", "web")
    assert ep is not None
    ports = {s["ports"][0]["port"]: s for s in ep["subsets"]}
    assert [a["targetRef"]["name"] for a in ports[servers[0].port]["addresses"]] == ["b0"]
    assert [a["targetRef"]["name"] for a in ports[servers[1].port]["notReadyAddresses"]] == ["b1"]
    assert [o["metadata"]["name"] for o in c.list("Endpoints", None)] == ["web"]


async def test_no_ready_endpoint_refuses_at_once(ctl: tuple[ServiceController, FakeHost]) -> None:
    c, _host, servers, port = await _setup(ctl, 1)
    assert await get(port) == "b0"
    c.pod_changed(pod("b0", port=servers[0].port, ready=False))
    t0 = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await get(port)
    assert time.monotonic() - t0 < 0.1
    c.pod_changed(pod("b0", port=servers[0].port, ready=True))
    await asyncio.sleep(0)
    assert await get(port) == "b0"


async def test_service_without_pods_refuses(ctl: tuple[ServiceController, FakeHost]) -> None:
    c, _ = ctl
    port = free_port()
    await c.apply(service(port=port))
    with pytest.raises(ConnectionRefusedError):
        await get(port)


async def test_dial_failure_tries_the_next_endpoint(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, _host, _servers, port = await _setup(ctl, 1)
    dead = free_port()  # nothing listens there: a pod that died before it was unready
    c.pod_changed(pod("dead", port=dead))
    counts = await spread(port, 10)
    assert counts == {"b0": 10}


async def test_before_pod_stop_waits_for_in_flight_and_routes_nothing_new(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, _host, servers, port = await _setup(ctl, 2)
    servers[0].delay = 0.4
    # Round robin: the first connection goes to b0 (slow), hold it in flight.
    in_flight = asyncio.create_task(get(port))
    await asyncio.sleep(0.05)
    assert servers[0].hits == 1
    t0 = time.monotonic()
    stop = asyncio.create_task(
        c.before_pod_stop(pod("b0", port=servers[0].port, deleting=True, ready=True), 30.0)
    )
    await asyncio.sleep(0.01)
    # While draining, new connections go to b1 only.
    assert await spread(port, 5) == {"b1": 5}
    await stop
    waited = time.monotonic() - t0
    assert in_flight.done() and in_flight.result() == "b0"  # finished before the return
    assert 0.3 <= waited < 1.5
    ep = c.get("Endpoints", "default", "web")
    assert ep is not None
    names = [a["targetRef"]["name"] for s in ep["subsets"] for a in s.get("addresses", [])]
    assert names == ["b1"]  # terminating pods leave v1 Endpoints


async def test_before_pod_stop_closes_idle_keepalive_connections(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, _host, servers, port = await _setup(ctl, 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"b0")
    t0 = time.monotonic()
    await c.before_pod_stop(pod("b0", port=servers[0].port, deleting=True), 30.0)
    assert time.monotonic() - t0 < 0.5
    assert await asyncio.wait_for(reader.read(), 1.0) == b""  # closed by the proxy: EOF
    writer.close()


async def test_before_pod_stop_is_bounded_by_the_budget(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, _host, servers, port = await _setup(ctl, 1)
    servers[0].delay = 10.0  # never answers within the test
    task = asyncio.create_task(get(port, timeout=5))
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    await c.before_pod_stop(pod("b0", port=servers[0].port, deleting=True), 3.0)
    # budget 3 s: half of it (a budget under 4 s keeps half for SIGTERM).
    assert 1.3 < time.monotonic() - t0 < 2.0
    task.cancel()


async def test_named_target_port_resolves_per_pod(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    # Host-network pods on one IP, each on its own port under the same port name.
    _c, _host, _servers, port = await _setup(ctl, 2)
    assert await spread(port, 4) == {"b0": 2, "b1": 2}


async def test_port_conflict_between_services_is_rejected(
    ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, _ = ctl
    port = free_port()
    await c.apply(service("a", port=port))
    errs = c.validate(service("b", port=port))
    assert errs and "provided port is already allocated" in errs[0]
    assert c.validate(service("a", port=port)) == []  # re-applying itself is fine


async def test_delete_service_stops_listening(ctl: tuple[ServiceController, FakeHost]) -> None:
    c, _host, _servers, port = await _setup(ctl, 1)
    assert await get(port) == "b0"
    assert await c.delete("Service", "default", "web", None) is not None
    with pytest.raises(ConnectionRefusedError):
        await get(port)
    assert c.list("Service", None) == []


async def test_large_transfer_with_flow_control(ctl: tuple[ServiceController, FakeHost]) -> None:
    """8 MiB echoed through the relay: flow control must not lose or reorder bytes."""
    c, host = ctl

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.t = transport

        def data_received(self, data: bytes) -> None:
            self.t.write(data)

        def eof_received(self) -> bool:
            return False  # close once the echoed bytes are flushed

    srv = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    host.closers.append(srv)
    host.pods["echo"] = pod("echo", port=srv.sockets[0].getsockname()[1])
    port = free_port()
    await c.apply(service(port=port))
    await asyncio.sleep(0)
    payload = bytes(range(256)) * (8 * 4096)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    got = await asyncio.wait_for(reader.read(-1), 10)
    await sender
    writer.close()
    srv.close()
    assert got == payload

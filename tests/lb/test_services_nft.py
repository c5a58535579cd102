"""The nftables data path: pure ruleset/conntrack parsing, and real DNAT when root."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podkeeper.lb import nft
from podkeeper.lb.services import MODE_ANNOTATION, ServiceController
from tests.lb.lbfakes import FakeHost, free_port, get, pod, service
from tests.lb.netns import BACKEND_PORT, pod_network, usable

pytestmark = pytest.mark.timeout(60)


def test_ruleset_shape() -> None:
    svc = nft.NftService("default/web/tcp/", "127.0.0.1", 80, "tcp", (("10.0.0.2", 8080),))
    empty = nft.NftService("default/db/tcp/", "127.0.0.1", 81, "tcp", ())
    text = nft.ruleset("podkeeper-x", [svc, empty])
    assert text.startswith("table ip podkeeper-x {}\ndelete table ip podkeeper-x\n")
    assert "127.0.0.1 . tcp . 80 : goto service-" in text
    assert "127.0.0.1 . tcp . 81 : goto reject-chain" in text
    assert "numgen random mod 1 vmap { 0 : goto endpoint-" in text
    assert "dnat to 10.0.0.2:8080" in text


def test_table_name_depends_on_home_only() -> None:
    assert nft.table_name("/a") == nft.table_name("/a") != nft.table_name("/b")
    assert nft.table_name("/a").startswith("podkeeper-")


CONNTRACK = """\
ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=1 dport=80 \
src=10.0.0.2 dst=10.0.0.1 sport=8080 dport=5 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 431000 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=2 dport=80 \
src=10.0.0.2 dst=10.0.0.1 sport=8080 dport=6 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 119 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=3 dport=80 \
src=10.0.0.2 dst=10.0.0.1 sport=8080 dport=7 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 60 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=4 dport=80 \
src=10.0.0.2 dst=10.0.0.1 sport=8080 dport=8 mark=0 zone=0 use=2
ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=9 dport=80 \
src=10.0.0.3 dst=10.0.0.1 sport=8080 dport=9 [ASSURED] mark=0 zone=0 use=2
ipv4     2 udp      17 20 src=127.0.0.1 dst=127.0.0.53 sport=5 dport=53 \
src=127.0.0.53 dst=127.0.0.1 sport=53 dport=5 mark=0 zone=0 use=2
"""


def test_conntrack_in_flight_counts_busy_connections_only() -> None:
    # Active ESTABLISHED + SYN_SENT to 10.0.0.2:8080; the idle one and TIME_WAIT don't count.
    assert nft.conntrack_in_flight(CONNTRACK, "10.0.0.2", 8080, 432000) == 2
    assert nft.conntrack_in_flight(CONNTRACK, "10.0.0.3", 8080, 432000) == 1
    assert nft.conntrack_in_flight(CONNTRACK, "10.0.0.4", 8080, 432000) == 0


skip_reason = usable()
needs_nft = pytest.mark.skipif(skip_reason is not None, reason=str(skip_reason))


@pytest.fixture
async def nft_ctl(tmp_path: Path) -> AsyncIterator[tuple[ServiceController, FakeHost]]:
    host = FakeHost(tmp_path)
    c = ServiceController(address="127.0.0.1", mode="auto")
    await c.start(host)
    if not c.nft_ok:
        await c.stop()
        pytest.skip(f"nft unusable: {c.nft_why}")
    try:
        yield c, host
    finally:
        await c.stop()
        assert c.table is not None
        assert not c.table.remove_sync(), "stop() must remove the table"


async def _counts(port: int, n: int) -> Counter[str]:
    out: Counter[str] = Counter()
    for _ in range(n):
        out[await get(port)] += 1
    return out


@needs_nft
async def test_kernel_path_balances_ready_pods_and_refuses_without(
    nft_ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, host = nft_ctl
    with pod_network() as ips:
        for i, ip in enumerate(ips, 1):
            host.pods[f"p{i}"] = pod(f"p{i}", ip=ip, port=BACKEND_PORT)
        port = free_port()
        await c.apply(service(port=port))
        await c.nft_synced()
        svc = c.get("Service", "default", "web")
        assert svc is not None and svc["metadata"]["annotations"][MODE_ANNOTATION] == "nftables"
        counts = await _counts(port, 40)
        assert set(counts) == {"p1", "p2"}  # random: both get some of 40 (p < 1e-11 to fail)
        c.pod_changed(pod("p2", ip=ips[1], port=BACKEND_PORT, ready=False))
        await c.nft_synced()
        assert await _counts(port, 20) == {"p1": 20}
        c.pod_changed(pod("p1", ip=ips[0], port=BACKEND_PORT, ready=False))
        await c.nft_synced()
        t0 = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            await get(port)
        assert time.monotonic() - t0 < 0.1


@needs_nft
async def test_kernel_path_drains_in_flight_before_returning(
    nft_ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, host = nft_ctl
    with pod_network(delays=(0.5, 0.0)) as ips:
        host.pods["p1"] = pod("p1", ip=ips[0], port=BACKEND_PORT)
        port = free_port()
        await c.apply(service(port=port))
        await c.nft_synced()
        in_flight = asyncio.create_task(get(port))
        await asyncio.sleep(0.1)
        c.pod_changed(pod("p2", ip=ips[1], port=BACKEND_PORT))
        t0 = time.monotonic()
        await c.before_pod_stop(pod("p1", ip=ips[0], port=BACKEND_PORT, deleting=True), 30.0)
        assert in_flight.done() and in_flight.result() == "p1"
        assert time.monotonic() - t0 < 2.0
        assert await _counts(port, 10) == {"p2": 10}


@needs_nft
async def test_loopback_endpoints_use_userspace_even_as_root(
    nft_ctl: tuple[ServiceController, FakeHost],
) -> None:
    c, host = nft_ctl
    host.pods["a"] = pod("a", ip="127.0.0.1", port=free_port())
    await c.apply(service(port=free_port()))
    svc = c.get("Service", "default", "web")
    assert svc is not None and svc["metadata"]["annotations"][MODE_ANNOTATION] == "userspace"


@needs_nft
async def test_start_removes_a_crashed_agents_table(tmp_path: Path) -> None:
    table = nft.NftTable(nft.table_name(str(tmp_path)))
    await table.apply([nft.NftService("x/y/tcp/", "127.0.0.1", 1, "tcp", ())])
    c = ServiceController(address="127.0.0.1")
    await c.start(FakeHost(tmp_path))
    try:
        assert c.nft_ok and not table.remove_sync()
    finally:
        await c.stop()

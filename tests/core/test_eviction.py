"""Node-pressure eviction decisions (core/eviction.py), table-driven and pure."""

from __future__ import annotations

import pytest

from podkeeper.core.eviction import (
    DEFAULT_THRESHOLDS,
    EPHEMERAL_STORAGE,
    MEMORY,
    ContainerUsage,
    NodeStats,
    PodUsage,
    Threshold,
    decide,
    parse_thresholds,
    quantity_text,
    rank,
)

Mi = 1 << 20
Gi = 1 << 30


def pod(key: str, used: int, request: int = 0, priority: int = 0) -> PodUsage:
    c = ContainerUsage("app", {MEMORY: used}, {MEMORY: request} if request else {})
    return PodUsage(key, (c,), priority)


def stats(mem_available: int, disk_available: int = 50 * Gi) -> NodeStats:
    return NodeStats(
        {MEMORY: mem_available, EPHEMERAL_STORAGE: disk_available},
        {MEMORY: 16 * Gi, EPHEMERAL_STORAGE: 100 * Gi},
    )


def test_parse_thresholds_like_eviction_hard() -> None:
    assert parse_thresholds("memory.available<100Mi,nodefs.available<10%") == DEFAULT_THRESHOLDS
    assert parse_thresholds("memory.available<1G") == (Threshold(MEMORY, quantity=10**9),)
    with pytest.raises(ValueError, match="imagefs"):
        parse_thresholds("imagefs.available<15%")


@pytest.mark.parametrize(
    ("pods", "first"),
    [
        # usage above requests goes first, whatever the amount
        ([pod("g", 900 * Mi, 1 * Gi), pod("b", 10 * Mi)], "b"),
        # then lower priority
        ([pod("hi", 50 * Mi, priority=1000), pod("lo", 10 * Mi, priority=0)], "lo"),
        # then the most above requests
        ([pod("a", 300 * Mi, 100 * Mi), pod("c", 500 * Mi, 100 * Mi)], "c"),
    ],
)
def test_rank_memory_pressure(pods: list[PodUsage], first: str) -> None:
    assert rank(pods, MEMORY)[0].key == first


def test_no_pressure_no_eviction() -> None:
    d = decide(stats(2 * Gi), DEFAULT_THRESHOLDS, [pod("default/a", 100 * Mi)])
    assert d.pressure == {MEMORY: False, EPHEMERAL_STORAGE: False} and d.evict is None


def test_memory_pressure_evicts_one_pod_with_the_kubelets_message() -> None:
    pods = [pod("default/guaranteed", 200 * Mi, 256 * Mi), pod("default/hog", 512 * Mi)]
    d = decide(stats(95 * Mi), DEFAULT_THRESHOLDS, pods)
    assert d.pressure[MEMORY] and not d.pressure[EPHEMERAL_STORAGE]
    assert d.evict is not None and d.evict.pod == "default/hog"
    assert d.evict.message == (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 95Mi. "
        "Container app was using 512Mi, request is 0, has larger consumption of memory. "
    )


def test_disk_pressure_by_percentage() -> None:
    d = decide(stats(8 * Gi, disk_available=9 * Gi), DEFAULT_THRESHOLDS, [pod("default/a", 0)])
    assert d.pressure == {MEMORY: False, EPHEMERAL_STORAGE: True}
    assert d.evict is not None and d.evict.resource == EPHEMERAL_STORAGE
    assert "Threshold quantity: 10%, available: 9Gi." in d.evict.message


def test_quantities_print_as_kubernetes_does() -> None:
    assert [quantity_text(n) for n in (100 * Mi, 1536 * Mi, 1000 * (1 << 40), 12345)] == [
        "100Mi",
        "1536Mi",
        "1000Ti",
        "12345",
    ]


def test_an_evicted_pod_fails_and_its_containers_are_killed_at_once() -> None:
    from podkeeper.core.spec import Container
    from podkeeper.core.status import pod_status
    from podkeeper.testing import PodHarness, make_pod

    h = PodHarness(make_pod(Container("app", command=("sleep",))))
    h.start_pending()
    h.poll()
    message = "The node was low on resource: memory. "
    h.machine.evict("Evicted", message, h.clock.now)
    h.poll()
    kill = h.kills()[-1]
    assert kill.grace_seconds == 0 and kill.message == "Stopping container app"
    assert [(e.type, e.reason, e.message) for e in h.events if e.reason == "Evicted"] == [
        ("Warning", "Evicted", message)
    ]
    h.finish_kills(137)
    status = pod_status(h.machine)
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "Evicted", message)
    h.advance(60)
    assert not h.start_pending()  # never restarted

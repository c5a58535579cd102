"""The StatefulSet controller's decisions (core/statefulset.py), table-driven, no clock."""

from __future__ import annotations

from podkeeper.core.statefulset import SetPod, SetSpec, claim_name, pod_name, sync


def ready(i: int, rev: str = "r1", since: float = 0.0) -> SetPod:
    return SetPod(i, rev, running=True, ready_since=since)


def test_names() -> None:
    assert pod_name("web", 0) == "web-0" and claim_name("data", "web", 2) == "data-web-2"


def test_ordered_ready_starts_the_next_only_when_the_previous_is_ready() -> None:
    spec = SetSpec(replicas=3)
    assert sync(spec, [], "r1", 0).create == [0]
    starting = SetPod(0, "r1", running=True)  # running, not Ready yet
    assert sync(spec, [starting], "r1", 0).create == []
    assert sync(spec, [ready(0)], "r1", 0).create == [1]
    assert sync(spec, [ready(0), ready(1)], "r1", 0).create == [2]


def test_parallel_creates_and_deletes_all_at_once() -> None:
    spec = SetSpec(replicas=3, parallel=True)
    assert sync(spec, [], "r1", 0).create == [0, 1, 2]
    spec = SetSpec(replicas=1, parallel=True)
    assert sync(spec, [ready(0), ready(1), ready(2)], "r1", 0).delete == [2, 1]


def test_scale_down_from_the_highest_ordinal_one_at_a_time() -> None:
    spec = SetSpec(replicas=1)
    assert sync(spec, [ready(0), ready(1), ready(2)], "r1", 0).delete == [2]
    gone = SetPod(2, "r1", running=True, ready_since=0, terminating=True)
    assert sync(spec, [ready(0), ready(1), gone], "r1", 0).delete == []


def test_rolling_update_in_reverse_ordinal_order_each_after_the_previous_is_ready() -> None:
    spec = SetSpec(replicas=3)
    pods = [ready(0), ready(1), ready(2)]
    assert sync(spec, pods, "r2", 0).delete == [2]
    # web-2 came back at r2 but is not Ready yet: nothing else goes.
    pods[2] = SetPod(2, "r2", running=True)
    assert sync(spec, pods, "r2", 0).delete == []
    pods[2] = ready(2, "r2")
    assert sync(spec, pods, "r2", 0).delete == [1]


def test_partition_and_on_delete() -> None:
    pods = [ready(0), ready(1), ready(2)]
    assert sync(SetSpec(replicas=3, partition=2), pods, "r2", 0).delete == [2]
    pods[2] = ready(2, "r2")
    assert sync(SetSpec(replicas=3, partition=2), pods, "r2", 0).delete == []
    assert sync(SetSpec(replicas=3, on_delete=True), pods, "r3", 0).delete == []


def test_min_ready_seconds_delays_the_next_pod() -> None:
    spec = SetSpec(replicas=2, min_ready_seconds=10)
    d = sync(spec, [ready(0, since=100)], "r1", 105)
    assert d.create == [] and d.requeue_at == 110
    assert sync(spec, [ready(0, since=100)], "r1", 110).create == [1]

"""DeploymentController against a fake PodHost: naming, replacement, rollouts bounded by
maxSurge/maxUnavailable at every moment, Recreate, scale, undo, status and conditions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_deployments_fakes import FakeHost, deployment, is_ready, rolling, started

from podkeeper.controllers.deployments import DeploymentController
from podkeeper.core import rollout

Obj = dict[str, Any]
ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"


@pytest.fixture
async def host() -> AsyncIterator[FakeHost]:
    h = FakeHost()
    ctl = await started(h)
    yield h
    await ctl.stop()


def _rs_of(pod: Obj) -> str:
    return str(pod["metadata"]["ownerReferences"][0]["name"])


def _conditions(obj: Obj) -> dict[str, tuple[str, str, str]]:
    return {
        c["type"]: (c["status"], c["reason"], c["message"])
        for c in obj["status"].get("conditions", [])
    }


async def _up(host: FakeHost, obj: Obj) -> Obj:
    out = await host.controller.apply(obj)
    host.ready_all()
    return out


def _drive_rollout(host: FakeHost, image: str, replicas: int, steps: int = 200) -> None:
    """Make pods Ready one at a time (oldest first) and let terminations finish, until
    `replicas` pods of `image` are Ready and nothing else is left."""
    for _ in range(steps):
        alive = host.alive()
        if (
            len(alive) == replicas
            and all(p["spec"]["containers"][0]["image"] == image for p in alive)
            and all(is_ready(p) for p in alive)
            and len(host.pods) == replicas
        ):
            return
        host.finish_terminations()
        pending = [p for p in host.alive() if not is_ready(p)]
        if pending:
            host.set_ready(pending[0]["metadata"]["name"])
    raise AssertionError(f"rollout to {image} did not finish: {host.timeline[-1]}")


# ---------------------------------------------------------------------- creation, naming


async def test_pods_are_named_labelled_and_owned_as_kubernetes_does(host: FakeHost) -> None:
    d = await _up(host, deployment(replicas=3))
    pods = host.alive()
    assert len(pods) == 3
    rs_names = {_rs_of(p) for p in pods}
    assert len(rs_names) == 1
    (rs_name,) = rs_names
    assert re.fullmatch(rf"web-{ALNUM}{{6,10}}", rs_name)
    pod_hash = rs_name.removeprefix("web-")
    for p in pods:
        meta = p["metadata"]
        assert re.fullmatch(rf"{rs_name}-{ALNUM}{{5}}", meta["name"])
        assert meta["generateName"] == f"{rs_name}-"
        assert meta["labels"] == {"app": "web", "pod-template-hash": pod_hash}
        ref = meta["ownerReferences"][0]
        assert (ref["kind"], ref["controller"], ref["apiVersion"]) == (
            "ReplicaSet",
            True,
            "apps/v1",
        )
    rs = host.controller.get("ReplicaSet", "default", rs_name)
    assert rs is not None
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["annotations"][rollout.REVISION_ANNOTATION] == "1"
    assert rs["metadata"]["ownerReferences"][0]["name"] == "web"
    assert d["metadata"]["annotations"][rollout.REVISION_ANNOTATION] == "1"
    assert (
        "Deployment",
        "web",
        "ScalingReplicaSet",
        f"Scaled up replica set {rs_name} from 0 to 3",
    ) in host.events


async def test_status_and_conditions_after_a_complete_rollout(host: FakeHost) -> None:
    await _up(host, deployment(replicas=3))
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    s = d["status"]
    assert (s["replicas"], s["updatedReplicas"], s["readyReplicas"], s["availableReplicas"]) == (
        3,
        3,
        3,
        3,
    )
    assert "unavailableReplicas" not in s  # omitempty
    assert s["observedGeneration"] == d["metadata"]["generation"] == 1
    rs_name = _rs_of(host.alive()[0])
    conds = _conditions(d)
    assert conds["Available"] == (
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    assert conds["Progressing"] == (
        "True",
        "NewReplicaSetAvailable",
        f'ReplicaSet "{rs_name}" has successfully progressed.',
    )
    assert rollout.rollout_status(d) == ('deployment "web" successfully rolled out', True)


async def test_conditions_while_pods_are_not_ready(host: FakeHost) -> None:
    await host.controller.apply(deployment(replicas=4))
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    rs_name = _rs_of(host.alive()[0])
    conds = _conditions(d)
    # 25% of 4 → maxUnavailable 1: 0 available < 3 needed.
    assert conds["Available"][1] == "MinimumReplicasUnavailable"
    # NewReplicaSetCreated lasts one sync: the pods the RS then creates are progress.
    assert conds["Progressing"] == (
        "True",
        "ReplicaSetUpdated",
        f'ReplicaSet "{rs_name}" is progressing.',
    )
    assert d["status"]["unavailableReplicas"] == 4
    host.set_ready(host.alive()[0]["metadata"]["name"])
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    assert rollout.rollout_status(d)[0] == (
        'Waiting for deployment "web" rollout to finish: 1 of 4 updated replicas are available...'
    )


# --------------------------------------------------------------------------- replacement


async def test_a_deleted_pod_is_replaced_and_three_stay_ready(host: FakeHost) -> None:
    await _up(host, deployment(replicas=3))
    victim = host.alive()[1]["metadata"]["name"]
    host.user_delete(victim)
    alive = host.alive()
    assert len(alive) == 3 and victim not in {p["metadata"]["name"] for p in alive}
    assert (
        "ReplicaSet",
        _rs_of(alive[0]),
        "SuccessfulCreate",
        f"Created pod: {alive[-1]['metadata']['name']}",
    ) in host.events
    host.finish_terminations()
    host.ready_all()
    assert len(host.pods) == 3 and all(is_ready(p) for p in host.alive())
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None and d["status"]["readyReplicas"] == 3


async def test_a_failed_pod_is_replaced(host: FakeHost) -> None:
    await _up(host, deployment(replicas=2))
    pod = host.alive()[0]
    pod["status"] = {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}]}
    host.controller.pod_changed(pod)
    host.controller.flush()
    assert len(host.alive()) == 2
    assert pod["metadata"].get("deletionTimestamp")


# --------------------------------------------------------------------------------- rollout

BOUNDS = [
    (3, "25%", "25%"),
    (3, 1, 0),
    (3, 0, 1),
    (4, "50%", "50%"),
    (10, 3, 2),
    (10, "30%", "10%"),
    (1, 0, "1%"),  # both resolve to 0 → maxUnavailable 1 (ResolveFenceposts)
    (5, "1%", 0),
    (2, 0, "100%"),
]


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), BOUNDS)
async def test_rolling_update_respects_max_surge_and_max_unavailable_at_every_moment(
    host: FakeHost, replicas: int, surge: int | str, unavailable: int | str
) -> None:
    strategy = rolling(surge, unavailable)
    await _up(host, deployment(replicas=replicas, strategy=strategy))
    max_surge, max_unavailable = rollout.resolve_fenceposts(surge, unavailable, replicas)
    start = len(host.timeline)
    await host.controller.apply(deployment(replicas=replicas, image="v2", strategy=strategy))
    _drive_rollout(host, "v2", replicas)
    moments = host.timeline[start:]
    assert moments, "nothing happened"
    for m in moments:
        assert m.alive <= replicas + max_surge, m
        assert m.ready >= replicas - max_unavailable, m
    # The bound is reached, not just respected: the rollout uses the room it has.
    assert max(m.alive for m in moments) == replicas + max_surge or max_surge == 0
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    assert d["metadata"]["generation"] == 2 and d["status"]["observedGeneration"] == 2
    assert d["metadata"]["annotations"][rollout.REVISION_ANNOTATION] == "2"
    assert rollout.rollout_status(d) == ('deployment "web" successfully rolled out', True)


async def test_rollout_events_scale_new_up_and_old_down(host: FakeHost) -> None:
    strategy = rolling(1, 0)
    await _up(host, deployment(replicas=2, strategy=strategy))
    old_rs = _rs_of(host.alive()[0])
    host.events.clear()
    await host.controller.apply(deployment(replicas=2, image="v2", strategy=strategy))
    _drive_rollout(host, "v2", 2)
    new_rs = _rs_of(host.alive()[0])
    scaling = [e[3] for e in host.events if e[2] == "ScalingReplicaSet"]
    assert scaling == [
        f"Scaled up replica set {new_rs} from 0 to 1",
        f"Scaled down replica set {old_rs} from 2 to 1",
        f"Scaled up replica set {new_rs} from 1 to 2",
        f"Scaled down replica set {old_rs} from 1 to 0",
    ]


async def test_recreate_stops_every_old_pod_before_the_first_new_one(host: FakeHost) -> None:
    strategy = {"type": "Recreate"}
    await _up(host, deployment(replicas=3, strategy=strategy))
    start = len(host.timeline)
    await host.controller.apply(deployment(replicas=3, image="v2", strategy=strategy))
    assert all(m.images.get("v2", 0) == 0 for m in host.timeline[start:])
    assert len(host.pods) == 3 and not host.alive()  # old pods terminating, none new yet
    host.finish_terminations()
    assert len(host.alive()) == 3
    for m in host.timeline[start:]:
        # Never an old pod (terminating or not) beside a new one.
        assert not (m.images.get("v2") and (m.images.get("v1") or m.terminating)), m
    _drive_rollout(host, "v2", 3)


async def test_progress_deadline_exceeded(host: FakeHost) -> None:
    await _up(host, deployment(replicas=2, progressDeadlineSeconds=30))
    await host.controller.apply(deployment(replicas=2, image="broken", progressDeadlineSeconds=30))
    host.advance(20)
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None and _conditions(d)["Progressing"][1] == "ReplicaSetUpdated"
    host.advance(11)
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    new_rs = next(
        _rs_of(p) for p in host.alive() if p["spec"]["containers"][0]["image"] == "broken"
    )
    assert _conditions(d)["Progressing"] == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{new_rs}" has timed out progressing.',
    )
    with pytest.raises(ValueError, match='deployment "web" exceeded its progress deadline'):
        rollout.rollout_status(d)


async def test_min_ready_seconds_delays_availability(host: FakeHost) -> None:
    await host.controller.apply(deployment(replicas=1, minReadySeconds=5))
    host.ready_all()
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    assert d["status"]["readyReplicas"] == 1 and "availableReplicas" not in d["status"]
    host.advance(5.5)
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None and d["status"]["availableReplicas"] == 1


async def test_revision_history_limit_drops_old_replica_sets(host: FakeHost) -> None:
    for i in range(4):
        await host.controller.apply(deployment(replicas=1, image=f"v{i}", revisionHistoryLimit=1))
        _drive_rollout(host, f"v{i}", 1)
    rss = host.controller.list("ReplicaSet", "default")
    assert [r["metadata"]["annotations"][rollout.REVISION_ANNOTATION] for r in rss] != []
    assert sorted(int(r["metadata"]["annotations"][rollout.REVISION_ANNOTATION]) for r in rss) == [
        3,
        4,
    ]


# ----------------------------------------------------------------------------- scale, undo


async def test_scale_up_and_down(host: FakeHost) -> None:
    await _up(host, deployment(replicas=3))
    await host.controller.apply(deployment(replicas=5))
    assert len(host.alive()) == 5
    rs_name = _rs_of(host.alive()[0])
    assert (
        "Deployment",
        "web",
        "ScalingReplicaSet",
        f"Scaled up replica set {rs_name} from 3 to 5",
    ) in host.events
    unready = {p["metadata"]["name"] for p in host.alive() if not is_ready(p)}
    await host.controller.apply(deployment(replicas=2))
    alive = host.alive()
    assert len(alive) == 2 and all(is_ready(p) for p in alive)  # not-ready pods go first
    assert not unready & {p["metadata"]["name"] for p in alive}
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None and d["metadata"]["generation"] == 3
    rs = host.controller.get("ReplicaSet", "default", rs_name)
    assert rs is not None
    assert rs["metadata"]["annotations"][rollout.DESIRED_REPLICAS_ANNOTATION] == "2"


async def test_scale_during_a_rollout_is_proportional(host: FakeHost) -> None:
    strategy = rolling(3, 2)
    await _up(host, deployment(replicas=10, strategy=strategy))
    await host.controller.apply(deployment(replicas=10, image="v2", strategy=strategy))
    # Mid-rollout (new pods not ready): old 8, new 5 (13 = 10 + 3).
    by_rs: dict[str, int] = {}
    for p in host.alive():
        by_rs[p["spec"]["containers"][0]["image"]] = (
            by_rs.get(p["spec"]["containers"][0]["image"], 0) + 1
        )
    assert by_rs == {"v1": 8, "v2": 5}
    await host.controller.apply(deployment(replicas=20, image="v2", strategy=strategy))
    rss = {
        r["spec"]["template"]["spec"]["containers"][0]["image"]: r["spec"]["replicas"]
        for r in host.controller.list("ReplicaSet", "default")
    }
    # allowed 20 + 3 (maxSurge of 20 = 3) = 23 spread over 8:5 → 14:9 (sync.go scale).
    assert sum(rss.values()) == 23
    assert rss == {"v1": 14, "v2": 9}


async def _undo(host: FakeHost, to_revision: int = 0) -> Obj:
    """What `podkeeper rollout undo` does: kubectl's rollback, client side."""
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    owned = {
        rollout.revision_of(r["metadata"]["annotations"]): r
        for r in host.controller.list("ReplicaSet", "default")
        if r["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    }
    rs = rollout.rollback_target(owned, to_revision, "web")
    d["spec"]["template"] = rollout.template_without_hash(rs["spec"]["template"])
    d["metadata"]["annotations"] = rollout.rollback_annotations(
        d["metadata"]["annotations"], rs["metadata"]["annotations"]
    )
    return await host.controller.apply(d)


async def test_undo_restores_the_previous_template_and_reuses_its_replica_set(
    host: FakeHost,
) -> None:
    await _up(host, deployment(replicas=3))
    first_rs = _rs_of(host.alive()[0])
    await host.controller.apply(deployment(replicas=3, image="v2"))
    _drive_rollout(host, "v2", 3)
    await _undo(host)
    _drive_rollout(host, "v1", 3)
    assert {_rs_of(p) for p in host.alive()} == {first_rs}
    d = host.controller.get("Deployment", "default", "web")
    assert d is not None
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    assert d["metadata"]["annotations"][rollout.REVISION_ANNOTATION] == "3"
    rs = host.controller.get("ReplicaSet", "default", first_rs)
    assert rs is not None
    ann = rs["metadata"]["annotations"]
    assert (ann[rollout.REVISION_ANNOTATION], ann[rollout.REVISION_HISTORY_ANNOTATION]) == (
        "3",
        "1",
    )
    # Undo again goes back to revision 2's template (v2).
    await _undo(host)
    _drive_rollout(host, "v2", 3)


async def test_undo_to_a_revision(host: FakeHost) -> None:
    for image in ("v1", "v2", "v3"):
        await host.controller.apply(deployment(replicas=1, image=image))
        _drive_rollout(host, image, 1)
    await _undo(host, to_revision=1)
    _drive_rollout(host, "v1", 1)
    with pytest.raises(ValueError, match="unable to find specified revision 9 in history"):
        await _undo(host, to_revision=9)


# --------------------------------------------------------------------- delete, validation


async def test_deleting_the_deployment_deletes_its_replica_sets_and_pods(host: FakeHost) -> None:
    await _up(host, deployment(replicas=2))
    out = await host.controller.delete("Deployment", "default", "web", None)
    assert out is not None and out["metadata"]["deletionTimestamp"]
    assert not host.alive()
    assert host.controller.list("ReplicaSet", None) == []
    assert host.controller.get("Deployment", "default", "web") is None
    host.finish_terminations()
    assert not host.pods


async def test_selector_is_immutable(host: FakeHost) -> None:
    await _up(host, deployment(replicas=1))
    changed = deployment(replicas=1)
    changed["spec"]["selector"]["matchLabels"]["tier"] = "x"
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    errors = host.controller.validate(changed)
    assert errors and "spec.selector" in errors[0] and "field is immutable" in errors[0]


async def test_a_bare_replica_set_keeps_its_replicas(host: FakeHost) -> None:
    rs = deployment(replicas=2)
    rs["kind"] = "ReplicaSet"
    del rs["spec"]["strategy"]
    for field in ("revisionHistoryLimit", "progressDeadlineSeconds"):
        del rs["spec"][field]
    await host.controller.apply(rs)
    names = [p["metadata"]["name"] for p in host.alive()]
    assert len(names) == 2 and all(re.fullmatch(rf"web-{ALNUM}{{5}}", n) for n in names)
    host.user_delete(names[0])
    assert len(host.alive()) == 2


async def test_restart_adopts_pods_through_the_store(host: FakeHost) -> None:
    store = host.store  # the agent's state database, in memory
    first = DeploymentController()
    host.ctl = first
    await first.start(host)
    await first.apply(deployment(replicas=2))
    host.ready_all()
    for pod in host.pods.values():
        store.put_object(pod)  # the agent stores its pods as they change
    pods_before = set(host.pods)
    created = host.created
    await first.stop()
    # A new agent: the controller reloads, and only then (after a yield to the loop) does
    # the agent restore its pods; one of them could not be restored.
    lost = sorted(pods_before)[0]
    del host.pods[lost]
    second = await started(host)
    second.flush()
    assert host.created == created  # nothing created while the agent restores
    second._settle_restored()
    second.flush()
    assert host.created == created + 1  # the lost pod is replaced, the others adopted
    assert pods_before - {lost} < set(host.pods)
    host.ready_all()
    d = second.get("Deployment", "default", "web")
    assert d is not None and d["status"]["availableReplicas"] == 2
    await second.stop()


async def test_a_stopped_controller_replaces_nothing(host: FakeHost) -> None:
    """The agent's drain stops controllers, then deletes every pod: a controller that still
    reconciled would create replacements nobody drains (their containers outlived `down`)."""
    await _up(host, deployment(replicas=3))
    created = host.created
    await host.controller.stop()
    for p in host.alive():
        host.user_delete(p["metadata"]["name"])  # pod_changed + flush, as during a drain
    host.finish_terminations()
    await asyncio.sleep(0.01)  # a reconcile scheduled on the loop would run here
    assert host.created == created
    assert host.alive() == []

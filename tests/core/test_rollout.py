"""Deployment controller arithmetic (`pkg/controller/deployment`): tables, no clock, no I/O."""

from __future__ import annotations

import re

import pytest

from podkeeper.core import replicaset as rsm
from podkeeper.core import rollout as r
from podkeeper.core.replicaset import PodState
from podkeeper.core.rollout import DeploymentStatus, ReplicaSetState, RolloutSpec, Scale

# ------------------------------------------------------------------ intstr and fenceposts


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (3, 10, True, 3),
        ("25%", 3, True, 1),  # 0.75 → 1
        ("25%", 3, False, 0),  # 0.75 → 0
        ("25%", 4, False, 1),
        ("25%", 10, True, 3),  # 2.5 → 3
        ("25%", 10, False, 2),
        ("100%", 7, False, 7),
        ("0%", 7, True, 0),
        ("1%", 1, True, 1),
        ("1%", 1, False, 0),
        ("33%", 3, True, 1),  # 0.99 → 1
        ("150%", 2, False, 3),
    ],
)
def test_scaled_value_rounds_as_intstr(
    value: int | str, total: int, round_up: bool, expected: int
) -> None:
    assert r.scaled_value(value, total, round_up) == expected


def test_scaled_value_rejects_a_string_without_percent() -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        r.scaled_value("5", 10, True)


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 3, (1, 0)),
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 10, (3, 2)),
        (0, "1%", 2, (0, 1)),  # both resolve to 0 → unavailable 1
        ("0%", "0%", 10, (0, 1)),
        ("1%", 0, 2, (1, 0)),  # surge rounds up
        (0, 0, 5, (0, 1)),
        (2, 5, 3, (2, 5)),  # ResolveFenceposts itself does not clamp
    ],
)
def test_resolve_fenceposts(
    surge: int | str, unavailable: int | str, desired: int, expected: tuple[int, int]
) -> None:
    assert r.resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_clamped_to_replicas_and_zero_for_recreate_or_no_replicas() -> None:
    assert r.max_unavailable(RolloutSpec("d", replicas=3, max_unavailable=5)) == 3
    assert r.max_unavailable(RolloutSpec("d", replicas=0)) == 0
    assert r.max_unavailable(RolloutSpec("d", replicas=4, strategy=r.RECREATE)) == 0
    assert r.max_surge(RolloutSpec("d", replicas=4, strategy=r.RECREATE)) == 0
    assert r.max_surge(RolloutSpec("d", replicas=4)) == 1


def test_spec_from_a_defaulted_object() -> None:
    spec = RolloutSpec.from_object(
        {
            "metadata": {"name": "web", "generation": 4},
            "spec": {
                "replicas": 5,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 2, "maxUnavailable": "10%"},
                },
                "minReadySeconds": 3,
                "progressDeadlineSeconds": 60,
                "revisionHistoryLimit": 2,
            },
        }
    )
    assert spec == RolloutSpec("web", 5, "RollingUpdate", 2, "10%", 3, 60, 2, 4)


# ----------------------------------------------------------------------- rolling update


def _rs(
    name: str, replicas: int, available: int | None = None, created: float = 0.0
) -> ReplicaSetState:
    avail = replicas if available is None else available
    return ReplicaSetState(
        name,
        replicas,
        created=created,
        status_replicas=replicas,
        ready_replicas=avail,
        available_replicas=avail,
    )


@pytest.mark.parametrize(
    ("replicas", "new", "olds", "expected"),
    [
        # 10 replicas, surge 3: the new RS may grow to 13 pods in all.
        (10, 0, [10], 3),
        (10, 3, [10], 3),
        (10, 3, [8], 5),
        (10, 8, [0], 10),  # never past replicas
        (10, 10, [3], 10),
    ],
)
def test_new_rs_new_replicas(replicas: int, new: int, olds: list[int], expected: int) -> None:
    d = RolloutSpec("d", replicas=replicas, max_surge=3, max_unavailable=2)
    new_rs = _rs("new", new)
    all_rss = [new_rs, *(_rs(f"old{i}", n) for i, n in enumerate(olds))]
    assert r.new_rs_new_replicas(d, all_rss, new_rs) == expected
    recreate = RolloutSpec("d", replicas=replicas, strategy=r.RECREATE)
    assert r.new_rs_new_replicas(recreate, all_rss, new_rs) == replicas


def test_rolling_step_follows_the_kubernetes_example() -> None:
    """rolling.go's comment: 10 replicas, maxUnavailable 2, maxSurge 3."""
    d = RolloutSpec("d", replicas=10, max_surge=3, max_unavailable=2)
    # The new RS was created with 3 (13 in all, none available): maxScaledDown is
    # 13 - 8 - 3 = 2, and 10 available - minAvailable 8 = 2 old pods may go.
    new = _rs("new", 3, available=0)
    old = _rs("old", 10)
    assert r.rolling_step(d, new, [old]) == [Scale("old", 10, 8)]
    # Now 11 pods: new grows by 2 to reach 13.
    assert r.rolling_step(d, new, [_rs("old", 8)]) == [Scale("new", 3, 5)]
    # New pods crashloop: nothing more can go (13 - 8 - 5 = 0).
    assert r.rolling_step(d, _rs("new", 5, available=0), [_rs("old", 8)]) == []


def test_unhealthy_old_replicas_are_cleaned_up_first() -> None:
    d = RolloutSpec("d", replicas=4, max_surge=1, max_unavailable=1)
    new = _rs("new", 1, available=0)
    old = _rs("old", 4, available=2)  # 2 old pods are not available anyway
    # maxScaledDown = 5 - 3 - 1 = 1: one unhealthy old pod goes, no healthy one (2 ≤ 3).
    assert r.rolling_step(d, new, [old]) == [Scale("old", 4, 3)]


def test_old_replica_sets_scale_down_oldest_first() -> None:
    d = RolloutSpec("d", replicas=4, max_surge=0, max_unavailable=2)
    new = _rs("new", 0)
    older = _rs("a", 2, created=1.0)
    newer = _rs("b", 2, created=2.0)
    assert r.rolling_step(d, new, [newer, older]) == [Scale("a", 2, 0)]


def test_new_rs_above_replicas_scales_down() -> None:
    d = RolloutSpec("d", replicas=2)
    assert r.rolling_step(d, _rs("new", 5), []) == [Scale("new", 5, 2)]


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [(3, "25%", "25%"), (3, 1, 0), (3, 0, 1), (10, 3, 2), (7, "50%", "50%"), (1, 0, "1%")],
)
def test_simulated_rollout_stays_within_bounds(
    replicas: int, surge: int | str, unavailable: int | str
) -> None:
    """Pods become available one sync after they exist; the bounds hold at every step."""
    d = RolloutSpec("d", replicas=replicas, max_surge=surge, max_unavailable=unavailable)
    max_surge, max_unavailable = r.resolve_fenceposts(surge, unavailable, replicas)
    new, old = _rs("new", 0), _rs("old", replicas)
    for _ in range(100):
        for s in r.rolling_step(d, new, [old]):
            if s.rs == "new":
                new = ReplicaSetState(
                    "new", s.to, status_replicas=s.to, available_replicas=new.available_replicas
                )
            else:
                old = _rs("old", s.to)  # old pods go at once; the survivors stay available
        assert new.replicas + old.replicas <= replicas + max_surge
        assert new.available_replicas + old.available_replicas >= replicas - max_unavailable
        if new.available_replicas == replicas and old.replicas == 0:
            return
        # The new pods that exist become available.
        new = _rs("new", new.replicas)
    raise AssertionError("rollout did not finish")


# --------------------------------------------------------------------------- recreate


def test_recreate_step() -> None:
    d = RolloutSpec("d", replicas=3, strategy=r.RECREATE)
    assert r.recreate_step(d, None, [_rs("old", 3)], True) == ([Scale("old", 3, 0)], False)
    assert r.recreate_step(d, None, [_rs("old", 0)], True) == ([], False)  # pods terminating
    assert r.recreate_step(d, None, [_rs("old", 0)], False) == ([], True)  # create the new RS
    assert r.recreate_step(d, _rs("new", 0), [], False) == ([Scale("new", 0, 3)], False)
    assert r.recreate_step(d, _rs("new", 3), [], False) == ([], False)


# ------------------------------------------------------------------- scaling and cleanup


def test_scaling_event_and_proportional_scaling() -> None:
    d = RolloutSpec("d", replicas=20, max_surge=3, max_unavailable=2)
    old = ReplicaSetState("old", 8, created=1.0, desired_annotation=10, max_annotation=13)
    new = ReplicaSetState("new", 5, created=2.0, desired_annotation=10, max_annotation=13)
    assert r.is_scaling_event(d, [old, new])
    # 23 allowed over 8:5 (of 13) → 8*23/13 = 14.15 → 14 and 5*23/13 = 8.8 → 9.
    scales = r.proportional_scale(d, new, [old], 13)
    assert {s.rs: s.to for s in scales} == {"old": 14, "new": 9}
    down = RolloutSpec("d", replicas=5, max_surge=3, max_unavailable=2)
    scales = r.proportional_scale(down, new, [old], 13)
    assert sum(s.to for s in scales) == 5 + r.max_surge(down)


def test_a_single_active_replica_set_takes_the_whole_size() -> None:
    d = RolloutSpec("d", replicas=6)
    only = ReplicaSetState("new", 3, desired_annotation=3)
    assert r.proportional_scale(d, only, [ReplicaSetState("old", 0)], 3) == [Scale("new", 3, 6)]
    assert not r.is_scaling_event(RolloutSpec("d", replicas=3), [only])


def test_cleanup_keeps_revision_history_limit_of_empty_old_replica_sets() -> None:
    d = RolloutSpec("d", revision_history_limit=1)
    olds = [
        ReplicaSetState("a", 0, revision=1),
        ReplicaSetState("b", 0, revision=3),
        ReplicaSetState("c", 0, revision=2),
        ReplicaSetState("busy", 1, revision=0, status_replicas=1),
    ]
    # 4 old, keep 1: the 3 lowest revisions go, except one that still has pods.
    assert r.cleanup_candidates(d, olds) == ["a", "c"]
    assert r.cleanup_candidates(RolloutSpec("d", revision_history_limit=None), olds) == []


# ------------------------------------------------------------------------ revisions


def test_new_rs_annotations_on_creation_and_on_rollback() -> None:
    created = r.new_rs_annotations(
        {"team": "a", r.REVISION_ANNOTATION: "9", r.LAST_APPLIED_ANNOTATION: "{}"},
        {},
        3,
        False,
        4,
        5,
    )
    assert created == {
        "team": "a",
        r.REVISION_ANNOTATION: "3",
        r.DESIRED_REPLICAS_ANNOTATION: "4",
        r.MAX_REPLICAS_ANNOTATION: "5",
    }
    rolled_back = r.new_rs_annotations({}, {r.REVISION_ANNOTATION: "1"}, 3, True, 4, 5)
    assert rolled_back == {r.REVISION_ANNOTATION: "3", r.REVISION_HISTORY_ANNOTATION: "1"}
    again = r.new_rs_annotations({}, rolled_back, 5, True, 4, 5)
    assert again[r.REVISION_HISTORY_ANNOTATION] == "1,3"
    assert r.new_rs_annotations({}, again, 2, True, 4, 5) == again  # never lowered


def test_equal_ignore_hash() -> None:
    t1 = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"x": 1}}
    t2 = {"metadata": {"labels": {"app": "web"}}, "spec": {"x": 1}}
    assert r.equal_ignore_hash(t1, t2)
    assert not r.equal_ignore_hash(t1, {**t2, "spec": {"x": 2}})
    assert not r.equal_ignore_hash(t1, {"metadata": {"labels": {"app": "api"}}, "spec": {"x": 1}})
    assert r.template_without_hash(t1) == t2


def test_rollback_target_is_kubectls_choice() -> None:
    revisions = {1: "rs1", 2: "rs2", 4: "rs4"}
    assert r.rollback_target(revisions, 0, "web") == "rs2"  # the second newest
    assert r.rollback_target(revisions, 1, "web") == "rs1"
    with pytest.raises(ValueError, match="unable to find specified revision 3 in history"):
        r.rollback_target(revisions, 3, "web")
    with pytest.raises(ValueError, match='no rollout history found for deployment "web"'):
        r.rollback_target({1: "rs1"}, 0, "web")


def test_rollback_annotations() -> None:
    deployment = {r.REVISION_ANNOTATION: "4", "note": "new", r.LAST_APPLIED_ANNOTATION: "{}"}
    rs = {r.REVISION_ANNOTATION: "2", "note": "old", r.CHANGE_CAUSE_ANNOTATION: "v1"}
    assert r.rollback_annotations(deployment, rs) == {
        r.REVISION_ANNOTATION: "4",
        r.LAST_APPLIED_ANNOTATION: "{}",
        "note": "old",
        r.CHANGE_CAUSE_ANNOTATION: "v1",
    }


# ------------------------------------------------------------------------- status


def test_available_condition_and_counts() -> None:
    d = RolloutSpec("web", replicas=4)  # maxUnavailable 1
    new = _rs("web-new", 4, available=3)
    s = r.calculate_status(d, [new], new, DeploymentStatus(), 10.0)
    assert (s.replicas, s.updated_replicas, s.available_replicas, s.unavailable_replicas) == (
        4,
        4,
        3,
        1,
    )
    cond = s.condition("Available")
    assert cond is not None
    assert (cond.status, cond.reason, cond.message) == (
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    s = r.calculate_status(d, [_rs("web-new", 4, available=2)], new, s, 20.0)
    cond = s.condition("Available")
    assert cond is not None
    assert (cond.status, cond.reason, cond.last_transition) == (
        "False",
        "MinimumReplicasUnavailable",
        20.0,
    )


def test_progressing_condition_lifecycle() -> None:
    d = RolloutSpec("web", replicas=2, progress_deadline_seconds=30)
    s = r.new_rs_condition(d, DeploymentStatus(), "web-abc", True, 0.0)
    cond = s.condition("Progressing")
    assert cond is not None and (cond.reason, cond.message) == (
        "NewReplicaSetCreated",
        'Created new replica set "web-abc"',
    )
    new = ReplicaSetState("web-abc", 2, status_replicas=2)
    s = r.sync_rollout_status(d, [new], new, s, 1.0)
    cond = s.condition("Progressing")
    assert cond is not None
    assert (cond.reason, cond.message, cond.last_update, cond.last_transition) == (
        "ReplicaSetUpdated",
        'ReplicaSet "web-abc" is progressing.',
        1.0,
        0.0,
    )
    # No progress for 30 s: still fine at 31.0 (strictly after), timed out after.
    assert r.progress_check_at(d, s) == 31.0
    s = r.sync_rollout_status(d, [new], new, s, 31.0)
    assert s.condition("Progressing").reason == "ReplicaSetUpdated"  # type: ignore[union-attr]
    s = r.sync_rollout_status(d, [new], new, s, 31.5)
    cond = s.condition("Progressing")
    assert cond is not None
    assert (cond.status, cond.reason, cond.message) == (
        "False",
        "ProgressDeadlineExceeded",
        'ReplicaSet "web-abc" has timed out progressing.',
    )
    assert r.progress_check_at(d, s) is None
    done = _rs("web-abc", 2)
    s = r.sync_rollout_status(d, [done], done, s, 40.0)
    cond = s.condition("Progressing")
    assert cond is not None
    assert (cond.status, cond.reason, cond.message) == (
        "True",
        "NewReplicaSetAvailable",
        'ReplicaSet "web-abc" has successfully progressed.',
    )


def test_found_new_replica_set_only_without_a_progressing_condition() -> None:
    d = RolloutSpec("web")
    s = r.new_rs_condition(d, DeploymentStatus(), "web-abc", False, 0.0)
    assert s.condition("Progressing").reason == "FoundNewReplicaSet"  # type: ignore[union-attr]
    assert (
        r.new_rs_condition(
            RolloutSpec("web", progress_deadline_seconds=None), DeploymentStatus(), "x", True, 0
        )
        == DeploymentStatus()
    )


WAIT = 'Waiting for deployment "web" rollout to finish: '


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {"observedGeneration": 1},
            ("Waiting for deployment spec update to be observed...", False),
        ),
        (
            {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1},
            (
                WAIT + "1 out of 3 new replicas have been updated...",
                False,
            ),
        ),
        (
            {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3},
            (
                WAIT + "1 old replicas are pending termination...",
                False,
            ),
        ),
        (
            {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1},
            (
                WAIT + "1 of 3 updated replicas are available...",
                False,
            ),
        ),
        (
            {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
            ('deployment "web" successfully rolled out', True),
        ),
    ],
)
def test_rollout_status_is_kubectls(status: dict[str, int], expected: tuple[str, bool]) -> None:
    d = {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": status}
    assert r.rollout_status(d) == expected


# ------------------------------------------------------------------- names and hashes


def test_fnv32a_matches_go() -> None:
    # hash/fnv test vectors.
    assert rsm.fnv32a(b"") == 0x811C9DC5
    assert rsm.fnv32a(b"a") == 0xE40C292C
    assert rsm.fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_string_and_hash_shape() -> None:
    assert rsm.safe_encode_string("0123456789") == "".join(
        rsm.ALPHANUMS[(48 + i) % 27] for i in range(10)
    )
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a"}]}}
    h = rsm.compute_hash(template)
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}", h)
    assert rsm.compute_hash(template) == h  # stable
    assert rsm.compute_hash({**template, "spec": {}}) != h
    assert rsm.compute_hash(template, 1) != h and rsm.compute_hash(template, 1) != rsm.compute_hash(
        template, 2
    )
    assert rsm.compute_hash(template, None) != rsm.compute_hash(template, 0)


def test_generated_pod_names() -> None:
    assert rsm.random_suffix([0, 1, 26, 27, 30]) == "bc9bf"
    assert rsm.generate_name(rsm.pod_prefix("web-5d8f7"), "xk2z4") == "web-5d8f7-xk2z4"
    long = "a" * 70
    assert len(rsm.generate_name(rsm.pod_prefix(long), "bbbbb")) == 63


# --------------------------------------------------------------------------- pods


def test_pod_availability_with_min_ready_seconds() -> None:
    pod = PodState("p", phase="Running", ready=True, ready_since=10.0)
    assert rsm.is_pod_available(pod, 0, 10.0)
    assert not rsm.is_pod_available(pod, 5, 15.0)  # strictly after
    assert rsm.is_pod_available(pod, 5, 15.1)
    assert rsm.available_at(pod, 5) == 15.0
    assert not rsm.is_pod_available(PodState("q"), 0, 99.0)


def test_deletion_order_prefers_pending_unready_unstable_and_new_pods() -> None:
    now = 1000.0
    pods = [
        PodState("ready-old", "Running", True, ready_since=0.0, created=0.0),
        PodState("ready-new", "Running", True, ready_since=990.0, created=980.0),
        PodState("running-unready", "Running", False, created=5.0),
        PodState("pending", "Pending", False, created=1.0),
        PodState("ready-old-crashy", "Running", True, ready_since=0.0, created=0.0, restarts=4),
        PodState("cheap", "Running", True, ready_since=0.0, created=0.0, deletion_cost=-5),
    ]
    order = [p.name for p in rsm.deletion_order(pods, now)]
    assert order == [
        "pending",
        "running-unready",
        "cheap",
        "ready-new",
        "ready-old-crashy",
        "ready-old",
    ]
    assert not PodState("x", deleting=True).active and not PodState("y", "Failed").active

"""The Job controller's decisions (core/job.py), table-driven, no clock."""

from __future__ import annotations

from podkeeper.core.job import (
    ContainerExit,
    ExitCodesRule,
    FailurePolicyRule,
    JobSpec,
    PodConditionRule,
    PodOutcome,
    backoff_delay,
    match_failure_policy,
    sync,
)


def failed(name: str, code: int = 1, at: float = 0.0) -> PodOutcome:
    return PodOutcome(name, "Failed", finished_at=at, exits=(ContainerExit("app", code),))


def test_backoff_doubles_from_10s_to_6min() -> None:
    assert [backoff_delay(n) for n in range(0, 8)] == [0, 10, 20, 40, 80, 160, 320, 360]


def test_first_pods_by_parallelism_and_completions() -> None:
    assert sync(JobSpec(), [], 0, 0).create == [None]
    assert sync(JobSpec(completions=5, parallelism=2), [], 0, 0).create == [None, None]
    running = [PodOutcome("a", "Running")]
    assert sync(JobSpec(completions=5, parallelism=2), running, 0, 0).create == [None]
    four_done = [PodOutcome(f"s{i}", "Succeeded") for i in range(4)]
    assert sync(JobSpec(completions=5, parallelism=3), four_done, 0, 0).create == [None]


def test_backoff_limit_2_fails_after_three_failed_pods() -> None:
    spec = JobSpec(backoff_limit=2)
    pods = [failed("p1", at=0)]
    d = sync(spec, pods, 0, 1)
    assert d.create == [] and d.requeue_at == 10  # one failure: 10 s back-off
    assert sync(spec, pods, 0, 10).create == [None]
    pods.append(failed("p2", at=20))
    assert sync(spec, pods, 0, 25).requeue_at == 40  # two failures: 20 s
    pods.append(failed("p3", at=60))
    d = sync(spec, pods, 0, 61)
    assert d.failed == 3 and d.condition == (
        "Failed",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )


def test_completions_reached() -> None:
    d = sync(
        JobSpec(completions=2), [PodOutcome("a", "Succeeded"), PodOutcome("b", "Succeeded")], 0, 0
    )
    assert d.condition == (
        "Complete",
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    )


def test_deadline_exceeded() -> None:
    d = sync(JobSpec(active_deadline_seconds=30), [PodOutcome("a", "Running")], 0, 30)
    assert d.condition is not None and d.condition[1] == "DeadlineExceeded" and d.delete_active


def test_pod_failure_policy_ignores_oom_kills_and_fails_on_bad_config() -> None:
    policy = (
        FailurePolicyRule("Ignore", on_exit_codes=ExitCodesRule("In", (137,))),
        FailurePolicyRule("FailJob", on_exit_codes=ExitCodesRule("In", (42,), "app")),
        FailurePolicyRule("Ignore", on_pod_conditions=(PodConditionRule("DisruptionTarget"),)),
    )
    spec = JobSpec(backoff_limit=0, pod_failure_policy=policy)
    # An OOMKilled pod (137) is retried without counting against backoffLimit 0.
    d = sync(spec, [failed("oom", 137)], 0, 1)
    assert (d.failed, d.ignored, d.condition, d.create) == (0, 1, None, [None])
    evicted = PodOutcome("ev", "Failed", conditions=(("DisruptionTarget", "True"),))
    assert sync(spec, [evicted], 0, 1).ignored == 1
    d = sync(spec, [failed("bad", 42)], 0, 1)
    assert d.condition == (
        "Failed",
        "PodFailurePolicy",
        "Container app for pod default/bad failed with exit code 42"
        " matching FailJob rule at index 1",
    )
    # No rule matches: counted.
    assert sync(spec, [failed("plain", 1)], 0, 1).condition is not None


def test_not_in_and_container_name() -> None:
    rules = (FailurePolicyRule("FailJob", on_exit_codes=ExitCodesRule("NotIn", (1, 2), "app")),)
    assert match_failure_policy(rules, failed("x", 3)) is not None
    assert match_failure_policy(rules, failed("x", 2)) is None
    side = PodOutcome("y", "Failed", exits=(ContainerExit("sidecar", 3),))
    assert match_failure_policy(rules, side) is None


def test_indexed_jobs_create_missing_indexes() -> None:
    spec = JobSpec(completions=4, parallelism=2, indexed=True)
    assert sync(spec, [], 0, 0).create == [0, 1]
    pods = [PodOutcome("p0", "Succeeded", index=0), PodOutcome("p1", "Running", index=1)]
    assert sync(spec, pods, 0, 0).create == [2]
    pods += [PodOutcome("p2", "Succeeded", index=2), PodOutcome("p3", "Succeeded", index=3)]
    pods[1] = PodOutcome("p1", "Succeeded", index=1)
    assert sync(spec, pods, 0, 0).condition is not None


def test_on_failure_restarts_count_against_the_backoff_limit() -> None:
    spec = JobSpec(backoff_limit=3, restart_on_failure=True)
    assert sync(spec, [PodOutcome("a", "Running", restarts=2)], 0, 0).condition is None
    d = sync(spec, [PodOutcome("a", "Running", restarts=3)], 0, 0)
    assert d.condition is not None and d.condition[1] == "BackoffLimitExceeded"
    assert d.delete_active
    zero = JobSpec(backoff_limit=0, restart_on_failure=True)
    assert sync(zero, [PodOutcome("a", "Running", restarts=1)], 0, 0).condition is not None


def test_backoff_base_scales_the_curve() -> None:
    assert [backoff_delay(n, 0.5) for n in range(0, 4)] == [0, 0.5, 1.0, 2.0]
    assert backoff_delay(20, 0.5) == 18.0  # the 6 min cap, scaled

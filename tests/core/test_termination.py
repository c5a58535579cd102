"""Grace period choice (`kuberuntime_container.go` `setTerminationGracePeriod`, `killContainer`)."""

from __future__ import annotations

import pytest

from podkeeper.core.spec import (
    Container,
    ExecAction,
    ObjectMeta,
    Pod,
    PodSpec,
    Probe,
    ProbeType,
)
from podkeeper.core.termination import choose_grace, grace_after_pre_stop, pre_stop_budget

TRUE = ExecAction(("true",))


def pod(liveness_grace: int | None, startup_grace: int | None, pod_grace: int = 500) -> Pod:
    c = Container(
        "app",
        liveness_probe=Probe(TRUE, termination_grace_period_seconds=liveness_grace),
        startup_probe=Probe(TRUE, termination_grace_period_seconds=startup_grace),
    )
    return Pod(ObjectMeta("p", uid="u"), PodSpec((c,), termination_grace_period_seconds=pod_grace))


@pytest.mark.parametrize(
    ("liveness", "startup", "deletion", "killed_by", "override", "want"),
    [
        # a probe kill uses that probe's own grace (e2e #18/#19: 5 s instead of 500 s)
        (5, None, None, ProbeType.LIVENESS, None, 5),
        (None, 5, None, ProbeType.STARTUP, None, 5),
        # the other probe's grace does not apply
        (None, 5, None, ProbeType.LIVENESS, None, 500),
        (5, None, None, ProbeType.STARTUP, None, 500),
        # the probe grace may be larger than the pod's (only logged by the kubelet)
        (900, None, None, ProbeType.LIVENESS, None, 900),
        # no probe grace: the pod's
        (None, None, None, ProbeType.LIVENESS, None, 500),
        # not a probe kill (deletion of a pod, postStart failure): the pod's
        (5, 5, None, None, None, 500),
        # deletionGracePeriodSeconds wins over everything but an override
        (5, 5, 7, ProbeType.LIVENESS, None, 7),
        (5, 5, 0, None, None, 0),
        (5, 5, 7, None, 1, 1),
    ],
)
def test_choose_grace(
    liveness: int | None,
    startup: int | None,
    deletion: int | None,
    killed_by: ProbeType | None,
    override: int | None,
    want: int,
) -> None:
    got = choose_grace(
        pod(liveness, startup),
        "app",
        deletion_grace=deletion,
        killed_by=killed_by,
        override=override,
    )
    assert got == want


@pytest.mark.parametrize(
    ("grace", "elapsed", "left"),
    [
        (30, 0.0, 30),
        (30, 4.9, 26),  # elapsed is truncated to whole seconds
        (30, 5.0, 25),
        (30, 29.5, 2),  # never under minimumGracePeriodInSeconds
        (30, 40.0, 2),  # an overrunning preStop still leaves 2 s
        (0, 0.0, 2),  # grace 0 becomes 2 s
        (1, 0.0, 2),
    ],
)
def test_grace_after_pre_stop(grace: int, elapsed: float, left: int) -> None:
    assert grace_after_pre_stop(grace, elapsed) == left


@pytest.mark.parametrize(("grace", "budget"), [(30, 30.0), (1, 1.0), (0, None)])
def test_pre_stop_runs_only_with_grace_and_at_most_grace(grace: int, budget: float | None) -> None:
    assert pre_stop_budget(grace) == budget

"""Probe workers under a fake clock: spec §1-§2 as `pkg/kubelet/prober/worker.go` runs them.

Every test drives the real `PodMachine` through `podkeeper.testing.PodHarness`;
nothing sleeps.
"""

from __future__ import annotations

import pytest

from podkeeper.core.actions import UnresolvedTarget
from podkeeper.core.prober import INITIAL_RESULT, ProbeWorker
from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import (
    Container,
    ContainerPort,
    ExecAction,
    HTTPGetAction,
    Probe,
    ProbeType,
)
from podkeeper.testing import FakeClock, PodHarness, make_pod

CMD = ExecAction(("check",))
OK = ProbeOutcome(Result.SUCCESS)
FAIL = ProbeOutcome(Result.FAILURE, "nope")
ERR = ProbeOutcome(Result.UNKNOWN, error='port "http" not found')
L, R, S = ProbeType.LIVENESS, ProbeType.READINESS, ProbeType.STARTUP


def harness(
    start_at: float = 0.0,
    restart_policy: str = "Always",
    *,
    startup_probe: Probe | None = None,
    readiness_probe: Probe | None = None,
    liveness_probe: Probe | None = None,
) -> PodHarness:
    """One container `app` with the given probes, started at `start_at`."""
    c = Container(
        "app",
        startup_probe=startup_probe,
        readiness_probe=readiness_probe,
        liveness_probe=liveness_probe,
    )
    h = PodHarness(make_pod(c, restart_policy=restart_policy))
    h.clock.set(start_at)
    h.poll()
    h.start_pending()
    return h


def worker(h: PodHarness, ptype: ProbeType) -> ProbeWorker:
    w = h.machine._worker("app", ptype)
    assert w is not None
    return w


def current_id(h: PodHarness) -> str:
    inst = h.record("app").current
    assert inst is not None
    return inst.id


# ------------------------------------------------------------------ initial values


def test_initial_result_per_type_when_the_worker_first_sees_the_container() -> None:
    # newWorker/doProbe step 4: readiness Failure, liveness Success, startup Unknown.
    h = harness(
        startup_probe=Probe(CMD, initial_delay_seconds=100),
        readiness_probe=Probe(CMD, initial_delay_seconds=100),
        liveness_probe=Probe(CMD, initial_delay_seconds=100),
    )
    h.advance(10)  # one tick: each worker sees the container ID, the delay holds the probe
    for ptype in (S, R, L):
        assert worker(h, ptype).cached(current_id(h)) is INITIAL_RESULT[ptype]
    assert INITIAL_RESULT == {R: Result.FAILURE, L: Result.SUCCESS, S: Result.UNKNOWN}
    assert not h.started("app") and not h.ready("app")
    assert h.probes() == []


def test_without_probes_running_means_started_and_ready() -> None:
    h = harness()
    assert h.started("app") and h.ready("app") and h.machine.pod_ready


def test_readiness_alone_is_started_but_not_ready_until_a_success() -> None:
    h = harness(readiness_probe=Probe(CMD, initial_delay_seconds=5))
    assert h.started("app") and not h.ready("app")


# ------------------------------------------------------------------ timing


@pytest.mark.parametrize(
    ("ptype", "start_at", "delay", "period", "first"),
    [
        # int32(time.Since(startedAt).Seconds()) < initialDelaySeconds: truncated age
        (L, 0.7, 2, 1, 3.0),  # ages at ticks 1, 2, 3: 0.3, 1.3, 2.3 -> 0, 1, 2
        (L, 0.0, 2, 1, 2.0),
        (L, 0.2, 0, 10, 10.0),  # the ticker runs from worker creation, not container start
        (L, 0.2, 15, 10, 20.0),
        # readiness of a started, not-ready container is triggered by every status pass,
        # so it probes at once when the container starts (no delay) ...
        (R, 0.2, 0, 10, 0.2),
        # ... and the trigger resets the ticker: 0.2 + 10 = 10.2, +10 = 20.2 (age 20 >= 15)
        (R, 0.2, 15, 10, 20.2),
        (S, 0.5, 3, 2, 4.0),  # ticks 2, 4: ages 1.5 -> 1, 3.5 -> 3
    ],
)
def test_initial_delay_from_started_at_truncated(
    ptype: ProbeType, start_at: float, delay: int, period: int, first: float
) -> None:
    probe = Probe(CMD, initial_delay_seconds=delay, period_seconds=period)
    h = harness(
        start_at,
        startup_probe=probe if ptype is S else None,
        readiness_probe=probe if ptype is R else None,
        liveness_probe=probe if ptype is L else None,
    )
    h.advance(30)
    assert h.probe_times(ptype)[0] == pytest.approx(first)


def test_ticker_phase_is_kept_across_restarts() -> None:
    # The worker (and its ticker) lives as long as the pod: a container restarted at 12.5
    # is probed at 20, on the old phase, not at 22.5.
    h = harness(0.3, liveness_probe=Probe(CMD, period_seconds=10, failure_threshold=1))
    h.advance(10 - h.clock.now)
    assert h.answer_probes(L, FAIL) == 1
    h.clock.set(12.5)
    h.finish_kills()
    h.start_pending()
    h.advance(20 - h.clock.now)
    assert h.probe_times(L) == [10.0, 20.0]


def test_manual_trigger_resets_the_ticker() -> None:
    # worker.go: probeTicker.Reset(period) on a manual run; next periodic probe one full period
    # after it. Readiness is triggered when the container starts at 3.
    h = harness(3.0, readiness_probe=Probe(CMD, period_seconds=10))
    h.answer_probes(R, FAIL)  # cache stays Failure: no change, no new trigger
    for _ in range(2):
        h.advance(10)
        h.answer_probes(R, FAIL)
    assert h.probe_times(R) == [3.0, 13.0, 23.0]


# ------------------------------------------------------------------ thresholds


def drive(h: PodHarness, ptype: ProbeType, script: str) -> list[bool]:
    """Answer successive probes of `ptype` with S (success), F (failure) or E (error, all 3
    tries). Return readiness after each answer."""
    out = []
    for ch in script:
        while not h.probes(ptype):
            wake = h.machine.next_wakeup()
            assert wake is not None
            h.advance(max(wake - h.clock.now, 0.0))
        if ch == "E":
            for _ in range(3):
                assert h.answer_probes(ptype, ERR) == 1
        else:
            h.answer_probes(ptype, OK if ch == "S" else FAIL)
        out.append(h.ready("app"))
    return out


@pytest.mark.parametrize(
    ("success", "failure", "script", "ready_after"),
    [
        (1, 1, "SFS", "101"),
        (2, 3, "SS", "01"),  # two consecutive successes
        (2, 3, "SFS", "000"),  # a different result resets the run
        (2, 3, "SES", "001"),  # an error neither counts nor resets
        (2, 3, "SSFFF", "01110"),  # three consecutive failures
        (2, 3, "SSFFSFF", "0111111"),
        (2, 3, "SSFEFEF", "0111110"),
        (1, 3, "EEE", "000"),  # errors alone never make it ready
    ],
)
def test_readiness_consecutive_thresholds(
    success: int, failure: int, script: str, ready_after: str
) -> None:
    h = harness(
        readiness_probe=Probe(
            CMD, period_seconds=1, success_threshold=success, failure_threshold=failure
        )
    )
    assert drive(h, R, script) == [c == "1" for c in ready_after]


@pytest.mark.parametrize(
    ("failure", "script", "killed_after"),
    [
        (1, "F", 1),
        (3, "FFSFF", None),
        (3, "FFSFFF", 6),
        (3, "FEFEF", 5),  # errors do not break the run
        (2, "EEEEE", None),  # errors are discarded: liveness stays healthy
    ],
)
def test_liveness_consecutive_failures(failure: int, script: str, killed_after: int | None) -> None:
    h = harness(liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=failure))
    for i, ch in enumerate(script, 1):
        drive(h, L, ch)
        if killed_after is not None and i >= killed_after:
            break
        assert h.kills() == []
    if killed_after is not None:
        assert [k.message for k in h.kills()] == [
            "Container app failed liveness probe, will be restarted"
        ]


def test_result_counters_carry_over_a_restart() -> None:
    # §1.5: lastResult/resultRun are not reset on a new container ID, so successes seen by
    # the old instance count towards the new one's successThreshold.
    h = harness(
        readiness_probe=Probe(CMD, period_seconds=1, success_threshold=3),
        liveness_probe=Probe(CMD, period_seconds=100, initial_delay_seconds=1000),
    )
    assert drive(h, R, "SS") == [False, False]
    h.exit("app", 1)
    h.start_pending()
    assert drive(h, R, "S") == [True]


# ------------------------------------------------------------------ startup


def test_startup_gates_liveness_and_readiness_then_readiness_runs_at_once() -> None:
    h = harness(
        startup_probe=Probe(CMD, period_seconds=5, failure_threshold=100),
        readiness_probe=Probe(CMD, period_seconds=30),
        liveness_probe=Probe(CMD, period_seconds=1),
    )
    for _ in range(3):
        h.advance(5)
        assert h.answer_probes(S, FAIL) == 1
        assert h.probes(L) == [] and h.probes(R) == []
    assert h.probe_times(L) == [] and h.probe_times(R) == []
    h.advance(5)
    h.answer_probes(S, OK)
    assert h.started("app") and not h.ready("app")
    # the readiness worker's manual trigger fires in the same status pass (e2e #17)
    assert h.probe_times(R) == [20.0]
    h.answer_probes(R, OK)
    assert h.ready("app")
    # startup is on hold after reaching its threshold: no more startup probes
    h.advance(30)
    assert h.probe_times(S) == [5.0, 10.0, 15.0, 20.0]
    assert h.probe_times(L)[0] == 21.0


def test_startup_failure_threshold_kills_with_startup_message_and_probe_grace() -> None:
    h = harness(
        startup_probe=Probe(
            CMD, period_seconds=1, failure_threshold=3, termination_grace_period_seconds=5
        ),
        liveness_probe=Probe(CMD, termination_grace_period_seconds=7),
    )
    for _ in range(3):
        drive(h, S, "F")
    (kill,) = h.kills()
    assert kill.message == "Container app failed startup probe, will be restarted"
    assert kill.grace_seconds == 5
    assert h.messages("Killing") == [kill.message]
    assert h.messages("Unhealthy") == ["Startup probe failed: nope"] * 3


def test_hold_after_liveness_failure_until_the_new_container() -> None:
    h = harness(
        liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1),
    )
    drive(h, L, "F")
    assert len(h.kills()) == 1
    h.advance(10)  # the container ignores SIGTERM for 10 s: no probe meanwhile
    assert len(h.probe_times(L)) == 1
    h.finish_kills(137)
    h.start_pending()
    h.advance(1)
    assert len(h.probe_times(L)) == 2


def test_dead_container_is_not_ready() -> None:
    h = harness(readiness_probe=Probe(CMD, period_seconds=1), restart_policy="Never")
    drive(h, R, "S")
    assert h.ready("app")
    h.exit("app", 0)
    assert not h.ready("app")


# ------------------------------------------------------------------ results and events


def test_named_port_not_found_is_an_error_retried_three_times_then_discarded() -> None:
    probe = Probe(HTTPGetAction(port="http"), period_seconds=1)
    h = PodHarness(
        make_pod(Container("app", ports=(ContainerPort(80, "web"),), readiness_probe=probe))
    )
    h.start_pending()
    (first,) = h.probes(R)
    assert first.target == UnresolvedTarget('port "http" not found')
    for attempt in (1, 2, 3):
        (p,) = h.probes(R)
        assert p.attempt == attempt
        h.answer_probes(R, ERR)
    assert h.probes(R) == []
    assert h.messages("Unhealthy") == [
        'Readiness probe errored and resulted in unknown state: port "http" not found'
    ]
    assert not h.ready("app")
    assert worker(h, R).result_run == 0


def test_warning_counts_as_success_with_a_probe_warning_event() -> None:
    body = 'Probe terminated redirects, Response body: <a href="http://0.0.0.0/">Found</a>.\n\n'
    h = harness(
        liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1),
        readiness_probe=Probe(CMD, period_seconds=1),
    )
    h.answer_probes(R, ProbeOutcome(Result.WARNING, body))
    assert h.ready("app")
    h.advance(1)
    h.answer_probes(L, ProbeOutcome(Result.WARNING, body))
    assert h.kills() == []
    assert h.messages("ProbeWarning") == [
        "Readiness probe warning: " + body,
        "Liveness probe warning: " + body,
    ]
    assert h.messages("Unhealthy") == []


def test_unknown_without_error_is_a_failure_without_event() -> None:
    h = harness(liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1))
    drive(h, L, "")
    h.advance(1)
    h.answer_probes(L, ProbeOutcome(Result.UNKNOWN))
    assert len(h.kills()) == 1
    assert h.messages("Unhealthy") == []


def test_every_failing_run_is_an_event_even_below_threshold() -> None:
    h = harness(liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=3))
    drive(h, L, "FF")
    assert h.messages("Unhealthy") == ["Liveness probe failed: nope"] * 2
    assert h.kills() == []


# ------------------------------------------------------------------ deletion


def test_deletion_stops_liveness_and_startup_but_readiness_keeps_probing() -> None:
    h = harness(
        readiness_probe=Probe(CMD, period_seconds=1, failure_threshold=1),
        liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1),
    )
    drive(h, R, "S")
    h.machine.delete(h.clock.now)
    h.poll()
    (kill,) = h.kills()
    assert kill.message == "Stopping container app" and kill.grace_seconds == 30
    before = len(h.probe_times(L))
    drive(h, R, "SSF")  # the app drops readiness on SIGTERM
    assert not h.ready("app") and not h.machine.pod_ready
    h.advance(10)
    assert len(h.probe_times(L)) == before
    assert not any("failed liveness probe" in m for m in h.messages())
    h.finish_kills(0)
    assert h.finished()
    assert h.machine.phase() == "Succeeded"


def test_clock_cannot_go_back() -> None:
    c = FakeClock(5.0)
    with pytest.raises(ValueError):
        c.set(4.0)
    with pytest.raises(ValueError):
        c.advance(-1)
    assert c.advance(1.5) == 6.5 and c() == 6.5 and c.monotonic() == 6.5

"""Restart policy, CrashLoopBackOff, kills and sidecars in `PodMachine` (spec §3-§4)."""

from __future__ import annotations

import pytest

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import Container, ExecAction, Lifecycle, Probe, ProbeType
from podkeeper.testing import PodHarness, make_pod

CMD = ExecAction(("check",))
FAIL = ProbeOutcome(Result.FAILURE, "nope")
L = ProbeType.LIVENESS


def started(pod_policy: str = "Always", **kw: object) -> PodHarness:
    h = PodHarness(make_pod(Container("app", **kw), restart_policy=pod_policy))  # type: ignore[arg-type]
    h.start_pending()
    return h


@pytest.mark.parametrize(
    ("policy", "code", "restarted", "phase"),
    [
        ("Always", 0, True, "Running"),
        ("Always", 1, True, "Running"),
        ("OnFailure", 0, False, "Succeeded"),
        ("OnFailure", 1, True, "Running"),
        ("Never", 0, False, "Succeeded"),
        ("Never", 1, False, "Failed"),
    ],
)
def test_restart_policy_on_exit(policy: str, code: int, restarted: bool, phase: str) -> None:
    # ShouldContainerBeRestarted (pkg/kubelet/container/helpers.go) and getPhase.
    h = started(policy)
    h.exit("app", code)
    assert len(h.starts("app")) == (2 if restarted else 1)
    if restarted:
        h.start_pending()
    assert h.machine.phase() == phase


@pytest.mark.parametrize(
    ("policy", "message", "restarts"),
    [
        ("Always", "Container app failed liveness probe, will be restarted", 1),
        ("OnFailure", "Container app failed liveness probe, will be restarted", 1),
        ("Never", "Container app failed liveness probe", 0),
    ],
)
def test_liveness_kill_by_policy(policy: str, message: str, restarts: int) -> None:
    h = started(policy, liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1))
    h.advance(1)
    h.answer_probes(L, FAIL)
    assert [k.message for k in h.kills()] == [message]
    assert h.messages("Killing") == [message]
    h.finish_kills(143)
    assert len(h.starts("app")) == 1 + restarts
    if policy == "Never":
        assert h.machine.phase() == "Failed"
        h.advance(30)
        assert len(h.probe_times(L)) == 1  # the worker ended with the pod


def crash_loop(h: PodHarness, crashes: int, run_for: float = 0.0) -> list[float]:
    """Start, run `run_for`, exit 1, repeatedly; return each restart's delay after the exit."""
    delays: list[float] = []
    for _ in range(crashes):
        h.advance(run_for)
        n = len(h.starts("app"))
        h.exit("app", 1)
        exited = h.clock.now
        while len(h.starts("app")) == n:
            wake = h.machine.next_wakeup()
            assert wake is not None
            h.advance(wake - h.clock.now)
        delays.append(h.clock.now - exited)
        h.start_pending()
    return delays


def test_back_off_curve_from_finished_at() -> None:
    h = started()
    assert crash_loop(h, 9) == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    cur = h.record("app").current
    assert cur is not None and cur.restart_count == 9


def test_back_off_resets_after_ten_minutes_of_running() -> None:
    h = started()
    assert crash_loop(h, 4) == [0, 10, 20, 40]
    # lastUpdate was the last restart; an exit more than 600 s later expires the entry
    assert crash_loop(h, 1, run_for=601) == [0]
    assert crash_loop(h, 2) == [10, 20]
    # 599 s after the last restart the entry is still live: the curve goes on
    assert crash_loop(h, 1, run_for=599) == [40]
    assert crash_loop(h, 1) == [80]


def test_crash_loop_back_off_waiting_state_and_event() -> None:
    h = started()
    h.exit("app", 1)  # first restart is immediate
    h.start_pending()
    h.exit("app", 1)
    from podkeeper.core.status import container_status

    st = container_status(h.machine, h.record("app"))
    assert st["state"] == {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": "back-off 10s restarting failed container=app pod=p_default(uid)",
        }
    }
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert st["restartCount"] == 1
    assert st["ready"] is False and st["started"] is False
    assert h.messages("BackOff") == [
        "Back-off restarting failed container app in pod p_default(uid)"
    ]
    assert h.machine.phase() == "Running"


def test_first_liveness_restart_is_not_backed_off_later_ones_are() -> None:
    # The killed instance is still Running in the sync's snapshot, so doBackOff looks at the
    # older exited one (spec §4, last paragraph).
    h = started(liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1))
    restarts_at: list[float] = []
    for _ in range(5):
        while not h.probes(L):
            h.advance(1)
        h.answer_probes(L, FAIL)
        h.finish_kills()
        while len(h.starts("app")) == len(restarts_at) + 1:
            h.advance(1)
        restarts_at.append(h.clock.now)
        h.start_pending()
    gaps = [b - a for a, b in zip([0.0, *restarts_at], restarts_at, strict=False)]
    # probe 1 s after each start; kills at 1 and 2 restart at once, then the back-off
    # (10, 20, 40 s from the killed instance's finishedAt) adds to the 1 s of running
    assert gaps == [1, 1, 11, 21, 41]


def test_restart_count_goes_up_when_the_new_instance_is_created() -> None:
    h = started()
    h.exit("app", 1)
    rec = h.record("app")
    assert rec.current is not None and rec.current.restart_count == 1
    assert rec.current.started_at is None  # created, not yet running


def test_post_start_failure_kills_with_the_hook_message() -> None:
    h = started(lifecycle=Lifecycle(post_start=CMD))
    (start,) = h.starts("app")
    assert start.post_start is not None
    h.machine.post_start_failed("app", start.instance_id, h.clock.now)
    h.poll()
    assert [k.message for k in h.kills()] == ["FailedPostStartHook"]
    assert h.messages("FailedPostStartHook") == ["PostStartHook failed"]


def test_pre_stop_is_resolved_into_the_kill_and_its_failure_is_an_event() -> None:
    h = started(lifecycle=Lifecycle(pre_stop=ExecAction(("drain",))))
    h.machine.delete(h.clock.now, grace_period_seconds=12)
    h.poll()
    (kill,) = h.kills()
    assert kill.grace_seconds == 12 and kill.pre_stop is not None
    h.machine.pre_stop_failed("app", h.clock.now)
    assert h.machine.drain_events()[-1].message == "PreStopHook failed"


def test_start_error_is_terminated_128_and_backed_off() -> None:
    from podkeeper.core.status import container_status

    h = PodHarness(make_pod(Container("app")))
    h.fail_start("app", 'exec: "nope": executable file not found in $PATH')
    assert h.messages("Failed") == ['Error: exec: "nope": executable file not found in $PATH']
    # first retry is immediate, then it fails again and waits 10 s
    h.fail_start("app", "again")
    st = container_status(h.machine, h.record("app"))
    assert st["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    last = st["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"], last["message"]) == (128, "StartError", "again")


def test_create_container_config_error_waits_and_is_pending() -> None:
    from podkeeper.core.status import container_status

    h = PodHarness(make_pod(Container("app")))
    (start,) = h.starts("app")
    h.machine.container_config_error("app", start.instance_id, "no command", h.clock.now)
    h.poll()
    st = container_status(h.machine, h.record("app"))
    assert st["state"] == {
        "waiting": {"reason": "CreateContainerConfigError", "message": "no command"}
    }
    assert st["restartCount"] == 0
    assert h.machine.phase() == "Pending"
    assert h.messages("Failed") == ["Error: no command"]
    h.advance(60)
    assert len(h.starts("app")) == 1


def test_env_config_error_is_retried_every_sync_and_at_once_on_a_change() -> None:
    """A missing ConfigMap/Secret (core/envsource.py): the kubelet retries the failed sync
    after 10 s (pod_workers.go backOffPeriod) with a Failed event each time; a change of a
    ConfigMap or Secret retries at once."""
    from podkeeper.core.status import container_status

    h = PodHarness(make_pod(Container("app")))
    (start,) = h.starts("app")
    msg = 'secret "s" not found'
    h.machine.container_config_error("app", start.instance_id, msg, h.clock.now, True)
    h.poll()
    st = container_status(h.machine, h.record("app"))
    assert st["state"] == {"waiting": {"reason": "CreateContainerConfigError", "message": msg}}
    assert h.machine.phase() == "Pending"
    assert h.machine.next_wakeup() == h.clock.now + 10
    h.advance(9.9)
    assert len(h.starts("app")) == 1
    h.advance(0.2)
    starts = h.starts("app")
    assert len(starts) == 2
    h.machine.container_config_error("app", starts[-1].instance_id, msg, h.clock.now, True)
    h.advance(1)
    assert len(h.starts("app")) == 2
    assert h.machine.retry_config_errors(h.clock.now)
    h.poll()
    starts = h.starts("app")
    assert len(starts) == 3
    h.machine.container_started("app", starts[-1].instance_id, h.clock.now)
    h.poll()
    assert not h.machine.retry_config_errors(h.clock.now)
    assert h.messages("Failed") == [f"Error: {msg}", f"Error: {msg}"]
    assert container_status(h.machine, h.record("app"))["restartCount"] == 0


# ------------------------------------------------------------------ deletion and sidecars


def sidecar_pod(policy: str = "Always") -> PodHarness:
    side = Container(
        "side",
        restart_policy="Always",
        startup_probe=Probe(CMD, period_seconds=1),
        liveness_probe=Probe(CMD, period_seconds=1, failure_threshold=1),
    )
    return PodHarness(
        make_pod(
            Container("main"),
            init_containers=(Container("init"), side),
            restart_policy=policy,
        )
    )


def test_init_then_sidecar_started_then_regular() -> None:
    h = sidecar_pod()
    assert [s.container for s in h.starts()] == ["init"]
    h.start_pending()
    h.exit("init", 0)
    assert [s.container for s in h.starts()] == ["init", "side"]
    h.start_pending()
    assert h.machine.phase() == "Pending"
    h.advance(1)
    h.answer_probes(ProbeType.STARTUP, ProbeOutcome(Result.SUCCESS))
    assert [s.container for s in h.starts()] == ["init", "side", "main"]
    h.start_pending()
    assert h.machine.phase() == "Running"
    assert h.machine.pod_ready


def test_sidecar_liveness_failure_restarts_it_and_does_not_block_main() -> None:
    h = sidecar_pod()
    h.start_pending()
    h.exit("init", 0)
    h.start_pending()
    h.advance(1)
    h.answer_probes(ProbeType.STARTUP, ProbeOutcome(Result.SUCCESS))
    h.start_pending()
    h.advance(1)
    h.answer_probes(L, FAIL, container="side")
    assert [k.message for k in h.kills()] == ["Init container side failed liveness probe"]
    h.finish_kills()
    assert len(h.starts("side")) == 2
    # main crashes while the sidecar is restarting and unstarted: main still restarts
    h.exit("main", 1)
    assert len(h.starts("main")) == 2
    assert h.machine.phase() == "Running"  # initialized pods do not go back to Pending


def test_deletion_kills_regular_containers_then_sidecars() -> None:
    h = sidecar_pod()
    h.start_pending()
    h.exit("init", 0)
    h.start_pending()
    h.advance(1)
    h.answer_probes(ProbeType.STARTUP, ProbeOutcome(Result.SUCCESS))
    h.start_pending()
    h.machine.delete(h.clock.now, grace_period_seconds=5)
    h.poll()
    assert [(k.container, k.message, k.grace_seconds) for k in h.kills()] == [
        ("main", "Stopping container main", 5)
    ]
    h.finish_kills(143)
    assert [(k.container, k.message) for k in h.kills()][1:] == [
        ("side", "Stopping container side")
    ]
    assert not h.finished()
    h.finish_kills(143)
    assert h.finished()
    assert h.machine.phase() == "Failed"  # 143 is not success


def test_never_pod_stops_sidecars_when_main_completes() -> None:
    h = sidecar_pod("Never")
    h.start_pending()
    h.exit("init", 0)
    h.start_pending()
    h.advance(1)
    h.answer_probes(ProbeType.STARTUP, ProbeOutcome(Result.SUCCESS))
    h.start_pending()
    h.exit("main", 0)
    # getPhase: a running sidecar keeps the pod Running until it is stopped
    assert h.machine.phase() == "Running"
    assert [(k.container, k.message) for k in h.kills()] == [("side", "Stopping container side")]
    h.finish_kills(143)
    assert h.machine.phase() == "Succeeded"  # terminated sidecars do not count
    assert len(h.starts("side")) == 1


def test_active_deadline_fails_the_pod_and_kills_it() -> None:
    """pkg/kubelet/active_deadline.go: Failed, DeadlineExceeded, containers stopped, no restart."""
    from dataclasses import replace as _replace

    from podkeeper.core.actions import KillContainer, StartContainer
    from podkeeper.core.pod import PodMachine
    from podkeeper.core.spec import Container, ObjectMeta, Pod, PodSpec
    from podkeeper.core.status import pod_status

    pod = Pod(ObjectMeta("p", uid="u"), PodSpec((Container("a", command=("x",)),)))
    pod = _replace(pod, spec=_replace(pod.spec, active_deadline_seconds=5))
    m = PodMachine(pod, 0.0)
    start = next(a for a in m.poll(0.0) if isinstance(a, StartContainer))
    m.container_started("a", start.instance_id, 0.1)
    assert m.next_wakeup() == 5.0
    assert m.poll(4.9) == []
    kills = [a for a in m.poll(5.0) if isinstance(a, KillContainer)]
    assert [k.message for k in kills] == ["Stopping container a"]
    m.container_exited("a", start.instance_id, 143, 5.5)
    assert not [a for a in m.poll(6.0) if isinstance(a, StartContainer)]
    status = pod_status(m)
    assert status["phase"] == "Failed"
    assert status["reason"] == "DeadlineExceeded"
    assert status["message"] == "Pod was active on the node longer than the specified deadline"
    assert any(e.reason == "DeadlineExceeded" for e in m.drain_events())


def test_backoff_event_is_recorded_on_every_resync_while_waiting() -> None:
    """A pod in CrashLoopBackOff is retried every 10 s and BackOff recorded each time."""
    from podkeeper.core.actions import StartContainer
    from podkeeper.core.pod import PodMachine
    from podkeeper.core.spec import Container, ObjectMeta, Pod, PodSpec

    m = PodMachine(Pod(ObjectMeta("p", uid="u"), PodSpec((Container("a", command=("x",)),))), 0)
    now = 0.0
    actions = m.poll(now)
    for _ in range(5):  # crash repeatedly: delays 0, 10, 20, 40 s
        start = next(a for a in actions if isinstance(a, StartContainer))
        m.container_started("a", start.instance_id, now)
        now += 1
        m.container_exited("a", start.instance_id, 1, now)
        actions = m.poll(now)
        while not any(isinstance(a, StartContainer) for a in actions):
            wake = m.next_wakeup()
            assert wake is not None
            now = max(now, wake)
            actions = m.poll(now)
    backoffs = [e for e in m.drain_events() if e.reason == "BackOff"]
    # Waits of 10, 20, 40 and 80 s give 1 + 2 + 4 + 8 BackOff records (one per 10 s resync).
    assert len(backoffs) == 15


def test_status_version_moves_with_every_status_change() -> None:
    """The agent skips rebuilding the status while status_version stays put."""
    from podkeeper.core.actions import RunProbe, StartContainer
    from podkeeper.core.pod import PodMachine
    from podkeeper.core.result import ProbeOutcome, Result
    from podkeeper.core.spec import Container, ExecAction, ObjectMeta, Pod, PodSpec, Probe
    from podkeeper.core.status import pod_status

    probe = Probe(ExecAction(("true",)), period_seconds=1, failure_threshold=2)
    c = Container("a", command=("x",), readiness_probe=probe)
    m = PodMachine(Pod(ObjectMeta("p", uid="u"), PodSpec((c,))), 0.0)
    start = next(a for a in m.poll(0.0) if isinstance(a, StartContainer))
    m.container_started("a", start.instance_id, 0.0)
    seen = (m.status_version, pod_status(m))
    now = 0.0
    pending: list[object] = []
    for result in [Result.SUCCESS, Result.SUCCESS, Result.FAILURE, Result.FAILURE, Result.SUCCESS]:
        run = next((a for a in pending if isinstance(a, RunProbe)), None)
        while run is None:
            assert now < 60, "no probe was scheduled"
            run = next((a for a in m.poll(now) if isinstance(a, RunProbe)), None)
            now += 0.25
        m.probe_finished("a", run.instance_id, run.probe_type, ProbeOutcome(result), now)
        pending = list(m.poll(now))
        status = pod_status(m)
        if status != seen[1]:
            assert m.status_version != seen[0], f"status changed without a version bump: {result}"
        seen = (m.status_version, status)

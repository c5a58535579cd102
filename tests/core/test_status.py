"""Pod status: phase (`getPhase`), conditions (`status/generate.go`), container states (§5)."""

from __future__ import annotations

from typing import Any

import pytest

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import Container, ExecAction, Probe, ProbeType
from podkeeper.core.status import container_status, pod_status, rfc3339
from podkeeper.testing import PodHarness, make_pod

CMD = ExecAction(("check",))
R = ProbeType.READINESS


def cond(h: PodHarness, ctype: str) -> dict[str, Any]:
    for c in pod_status(h.machine)["conditions"]:
        if c["type"] == ctype:
            return dict(c)
    raise KeyError(ctype)


def two_ready_probed() -> PodHarness:
    probe = Probe(CMD, period_seconds=1, failure_threshold=1)
    h = PodHarness(
        make_pod(Container("a", readiness_probe=probe), Container("b", readiness_probe=probe))
    )
    h.start_pending()
    return h


def test_unready_containers_listed_in_conditions() -> None:
    h = two_ready_probed()
    want = {
        "status": "False",
        "reason": "ContainersNotReady",
        "message": "containers with unready status: [a b]",
    }
    for ctype in ("ContainersReady", "Ready"):
        c = cond(h, ctype)
        assert {k: c[k] for k in want} == want
    h.answer_probes(R, ProbeOutcome(Result.SUCCESS), container="a")
    assert cond(h, "Ready")["message"] == "containers with unready status: [b]"
    h.answer_probes(R, ProbeOutcome(Result.SUCCESS), container="b")
    ready = cond(h, "Ready")
    assert ready["status"] == "True" and "reason" not in ready
    assert cond(h, "PodScheduled")["status"] == "True"
    assert cond(h, "Initialized")["status"] == "True"


def test_ready_transition_time_is_exact() -> None:
    h = two_ready_probed()
    h.clock.set(7.0)
    h.answer_probes(R, ProbeOutcome(Result.SUCCESS))
    assert h.machine.conditions.since["Ready"] == 7.0
    assert cond(h, "Ready")["lastTransitionTime"] == rfc3339(7.0)


def test_initialized_false_lists_incomplete_init_containers() -> None:
    h = PodHarness(make_pod(Container("main"), init_containers=(Container("i1"),)))
    c = cond(h, "Initialized")
    assert (c["status"], c["reason"], c["message"]) == (
        "False",
        "ContainersNotInitialized",
        "containers with incomplete status: [i1]",
    )
    st = pod_status(h.machine)
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_default_waiting_is_container_creating() -> None:
    h = PodHarness(make_pod(Container("main")))
    st = container_status(h.machine, h.record("main"))
    assert st["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert st["lastState"] == {} and st["restartCount"] == 0
    assert h.machine.phase() == "Pending"


def test_state_and_last_state_after_a_restart() -> None:
    h = PodHarness(make_pod(Container("main", image="busybox")))
    h.clock.set(1.0)
    h.start_pending()
    h.clock.set(4.0)
    h.exit("main", 137, "OOMKilled")
    h.clock.set(4.5)
    h.start_pending()
    st = container_status(h.machine, h.record("main"))
    assert st["state"] == {"running": {"startedAt": rfc3339(4.5)}}
    last = st["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (137, "OOMKilled")
    assert (last["startedAt"], last["finishedAt"]) == (rfc3339(1.0), rfc3339(4.0))
    assert "signal" not in last  # the CRI has no signal field
    assert st["restartCount"] == 1 and st["ready"] and st["started"]
    assert st["image"] == "busybox"


@pytest.mark.parametrize(("code", "reason"), [(0, "Completed"), (1, "Error"), (143, "Error")])
def test_terminated_reason_from_exit_code(code: int, reason: str) -> None:
    h = PodHarness(make_pod(Container("main"), restart_policy="Never"))
    h.start_pending()
    h.exit("main", code)
    st = container_status(h.machine, h.record("main"))
    assert st["state"]["terminated"]["reason"] == reason
    assert st["state"]["terminated"]["exitCode"] == code


# getPhase table: (pod policy, [regular container outcomes]) -> phase.
# outcome: "run" running, "wait" never started, or an exit code.
PHASES = [
    ("Always", ["run", "run"], "Running"),
    ("Always", ["run", "wait"], "Pending"),
    ("Always", [0, 1], "Running"),  # restarting
    ("OnFailure", [0, 0], "Succeeded"),
    ("OnFailure", [0, 1], "Running"),
    ("Never", [0, 0], "Succeeded"),
    ("Never", [0, 1], "Failed"),
    ("Never", ["run", 1], "Running"),
]


@pytest.mark.parametrize(("policy", "outcomes", "phase"), PHASES)
def test_phase(policy: str, outcomes: list[object], phase: str) -> None:
    names = [f"c{i}" for i in range(len(outcomes))]
    h = PodHarness(make_pod(*(Container(n) for n in names), restart_policy=policy))
    for n, o in zip(names, outcomes, strict=True):
        if o != "wait":
            h.start_pending(n)
    for n, o in zip(names, outcomes, strict=True):
        if isinstance(o, int):
            h.exit(n, o)
    assert h.machine.phase() == phase


@pytest.mark.parametrize(("policy", "phase"), [("Never", "Failed"), ("Always", "Pending")])
def test_failed_init_container_phase(policy: str, phase: str) -> None:
    h = PodHarness(
        make_pod(Container("main"), init_containers=(Container("i1"),), restart_policy=policy)
    )
    h.start_pending()
    h.exit("i1", 1)
    assert h.machine.phase() == phase
    # retried like OnFailure unless Never; a succeeded init container is never rerun
    assert len(h.starts("i1")) == (1 if policy == "Never" else 2)
    assert h.starts("main") == []


def test_init_container_ready_when_exited_zero() -> None:
    h = PodHarness(make_pod(Container("main"), init_containers=(Container("i1"),)))
    h.start_pending()
    assert not h.ready("i1")
    h.exit("i1", 0)
    assert h.ready("i1")
    st = pod_status(h.machine)
    assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert [s.container for s in h.starts()] == ["i1", "main"]


def test_deleted_pod_terminal_phase() -> None:
    h = PodHarness(make_pod(Container("main")))
    h.start_pending()
    h.machine.delete(h.clock.now)
    h.poll()
    assert h.machine.phase() == "Running"
    h.finish_kills(0)
    assert h.machine.phase() == "Succeeded"
    assert cond(h, "ContainersReady")["reason"] == "PodCompleted"
    assert cond(h, "PodReadyToStartContainers")["status"] == "False"

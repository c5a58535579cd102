"""`get pods` columns computed like kubectl's printPod, against fixture Pod JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podkeeper.cli.podformat import not_ready_reason, pod_row
from tests.cli.cli_fixtures import event, pod, running, term, terminated, waiting

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def status_of(p: dict[str, object]) -> str:
    return pod_row(p, NOW)[2]


def test_running_pod_row() -> None:
    assert pod_row(pod(), NOW) == ("web", "1/1", "Running", "0", "2m30s")


def test_crashloopbackoff_with_restarts_ago() -> None:
    last = term(1, "Error", finished="2024-05-01T11:58:00Z")
    p = pod(
        statuses=[waiting("app", "CrashLoopBackOff", "back-off 40s", restarts=5, last=last)],
        conditions={"Ready": "False"},
    )
    assert pod_row(p, NOW) == ("web", "0/1", "CrashLoopBackOff", "5 (2m ago)", "2m30s")


def test_error_and_completed_from_terminated_state() -> None:
    assert status_of(pod(statuses=[terminated("app", 1, "Error")], phase="Failed")) == "Error"
    done = pod(statuses=[terminated("app", 0, "Completed")], phase="Succeeded")
    assert status_of(done) == "Completed"


def test_terminated_without_reason_shows_exit_code_or_signal() -> None:
    p = pod(statuses=[terminated("app", 3, "")])
    assert status_of(p) == "ExitCode:3"
    p = pod(statuses=[terminated("app", 137, "", signal=9)])
    assert status_of(p) == "Signal:9"


def test_container_creating() -> None:
    p = pod(statuses=[waiting("app", "ContainerCreating")], phase="Pending")
    assert pod_row(p, NOW)[1:3] == ("0/1", "ContainerCreating")


def test_init_progress_and_init_failures() -> None:
    init = [{"name": "setup", "image": "busybox"}]
    p = pod(
        init=init,
        init_statuses=[running("setup", ready=False)],
        statuses=[waiting("app", "PodInitializing")],
        phase="Pending",
    )
    assert status_of(p) == "Init:0/1"
    p = pod(
        init=init,
        init_statuses=[waiting("setup", "CrashLoopBackOff", restarts=2)],
        statuses=[waiting("app", "PodInitializing")],
        phase="Pending",
    )
    assert pod_row(p, NOW)[2:4] == ("Init:CrashLoopBackOff", "2")
    p = pod(
        init=init,
        init_statuses=[terminated("setup", 2, "Error")],
        statuses=[waiting("app", "PodInitializing")],
        phase="Pending",
    )
    assert status_of(p) == "Init:Error"


def test_terminating_overrides_running() -> None:
    p = pod(deletionTimestamp="2024-05-01T11:59:50Z")
    assert status_of(p) == "Terminating"
    # A pod that already ended keeps its terminal status (kubectl 1.27+).
    done = pod(
        statuses=[terminated("app", 0, "Completed")],
        phase="Succeeded",
        deletionTimestamp="2024-05-01T11:59:50Z",
    )
    assert status_of(done) == "Completed"


def test_not_ready_running_container_is_still_running() -> None:
    # kubectl shows Running (READY 0/1) for a running container that fails readiness.
    p = pod(statuses=[running("app", ready=False)], conditions={"Ready": "False"})
    assert pod_row(p, NOW)[1:3] == ("0/1", "Running")


def test_completed_container_beside_running_one() -> None:
    containers = [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]
    statuses = [running("a"), terminated("b", 0, "Completed")]
    p = pod(containers=containers, statuses=statuses, conditions={"Ready": "True"})
    assert pod_row(p, NOW)[1:3] == ("1/2", "Running")
    p = pod(containers=containers, statuses=statuses, conditions={"Ready": "False"})
    assert status_of(p) == "NotReady"


@pytest.mark.parametrize(
    ("ready_flags", "expected"), [((True, True), "2/2"), ((True, False), "1/2")]
)
def test_ready_counts_regular_containers(ready_flags: tuple[bool, bool], expected: str) -> None:
    containers = [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]
    statuses = [running("a", ready_flags[0]), running("b", ready_flags[1])]
    assert pod_row(pod(containers=containers, statuses=statuses), NOW)[1] == expected


def test_sidecar_counts_in_ready_and_restarts() -> None:
    init = [{"name": "proxy", "image": "x", "restartPolicy": "Always"}]
    last = term(137, "Error", finished="2024-05-01T11:59:30Z")
    p = pod(
        init=init,
        init_statuses=[running("proxy", ready=True, restarts=1, last=last)],
        conditions={"Initialized": "True", "Ready": "True"},
    )
    assert pod_row(p, NOW)[1:4] == ("2/2", "Running", "1 (30s ago)")


def test_restarts_without_last_termination_time() -> None:
    p = pod(statuses=[running("app", restarts=3)])
    assert pod_row(p, NOW)[3] == "3"


def test_not_ready_reason_prefers_waiting_state() -> None:
    p = pod(
        statuses=[waiting("app", "CreateContainerConfigError", "no command given")],
        conditions={"Ready": "False"},
    )
    assert not_ready_reason(p, []) == "container app: CreateContainerConfigError: no command given"


def test_not_ready_reason_condition_and_last_probe_failure() -> None:
    p = pod(statuses=[running("app", ready=False)], conditions={"Ready": "False"})
    p["status"]["conditions"] = [
        {
            "type": "ContainersReady",
            "status": "False",
            "reason": "ContainersNotReady",
            "message": "containers with unready status: [app]",
        }
    ]
    probe = event(
        "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Warning"
    )
    assert not_ready_reason(p, [probe]) == (
        "containers with unready status: [app] (last probe failure: "
        "Readiness probe failed: HTTP probe failed with statuscode: 503)"
    )
    assert not_ready_reason(p, []) == "containers with unready status: [app]"

"""Readiness gates and API-written conditions in the pure core (`core/status.py`).

`pkg/kubelet/status/generate.go` GeneratePodReadyCondition: Ready is True only when the
containers are ready AND each gate's condition is present with status True; the
conditions the kubelet does not own are kept as the API clients wrote them
(`status_manager.go` mergePodStatus) and listed first.
"""

from __future__ import annotations

import dataclasses

from podkeeper.core.spec import Container, ExecAction, Probe
from podkeeper.core.status import (
    api_conditions,
    kubelet_owned,
    pod_status,
    ready_condition,
    written_view,
)
from podkeeper.testing import PodHarness, make_pod

G1, G2 = "k8s.io/test-condition1", "k8s.io/test-condition2"


def gated(*gates: str, **container: object) -> PodHarness:
    pod = make_pod(Container("app", **container))  # type: ignore[arg-type]
    pod = dataclasses.replace(pod, spec=dataclasses.replace(pod.spec, readiness_gates=gates))
    h = PodHarness(pod)
    h.start_pending()
    return h


def ready(h: PodHarness) -> tuple[str, str, str]:
    c = h.machine.conditions
    return c.status["Ready"], c.reason["Ready"], c.message["Ready"]


def cond(ctype: str, status: str) -> dict[str, str]:
    return {"type": ctype, "status": status}


def test_ready_condition_messages_as_generate_go() -> None:
    containers = (True, "", "")
    assert ready_condition(containers, (), []) == (True, "", "")
    assert ready_condition(containers, (G1, G2), [cond(G1, "False")]) == (
        False,
        "ReadinessGatesNotReady",
        f'the status of pod readiness gate "{G1}" is not "True", but False, '
        f'corresponding condition of pod readiness gate "{G2}" does not exist.',
    )
    assert ready_condition(containers, (G1,), [cond(G1, "True")]) == (True, "", "")
    # Containers not ready: Ready says why the containers are not, gates unread.
    unready = (False, "ContainersNotReady", "containers with unready status: [app]")
    assert ready_condition(unready, (G1,), [cond(G1, "True")]) == unready


def test_gates_hold_ready_until_every_condition_is_true() -> None:
    h = gated(G1, G2)
    assert h.machine.conditions.status["ContainersReady"] == "True"
    assert ready(h) == (
        "False",
        "ReadinessGatesNotReady",
        f'corresponding condition of pod readiness gate "{G1}" does not exist., '
        f'corresponding condition of pod readiness gate "{G2}" does not exist.',
    )
    assert h.machine.set_api_conditions([cond(G1, "True")], h.clock.now)
    assert ready(h)[0] == "False" and G2 in ready(h)[2] and G1 not in ready(h)[2]
    version = h.machine.status_version
    assert h.machine.set_api_conditions([cond(G1, "True"), cond(G2, "True")], h.clock.now)
    assert h.machine.status_version > version
    assert ready(h) == ("True", "", "")
    assert h.machine.pod_ready
    h.machine.set_api_conditions([cond(G1, "False"), cond(G2, "True")], h.clock.now)
    assert ready(h)[0] == "False" and h.machine.conditions.reason["Ready"] == (
        "ReadinessGatesNotReady"
    )
    # The same conditions again change nothing.
    assert not h.machine.set_api_conditions([cond(G1, "False"), cond(G2, "True")], h.clock.now)


def test_gates_do_not_make_unready_containers_ready() -> None:
    probe = Probe(ExecAction(("check",)), period_seconds=1)
    h = gated(G1, readiness_probe=probe)
    h.machine.set_api_conditions([cond(G1, "True")], h.clock.now)
    assert ready(h)[:2] == ("False", "ContainersNotReady")


def test_kubelet_owned_conditions_are_not_taken_from_a_write() -> None:
    h = gated()
    written = [cond("Ready", "False"), cond("ContainersReady", "False"), cond("custom", "True")]
    h.machine.set_api_conditions(written, h.clock.now)
    assert h.machine.api_conditions == (cond("custom", "True"),)
    assert ready(h)[0] == "True"
    types = [c["type"] for c in pod_status(h.machine)["conditions"]]
    # The clients' conditions first, then the kubelet's (mergePodStatus).
    assert types[0] == "custom" and types.count("Ready") == 1
    assert kubelet_owned("PodReadyToStartContainers") and not kubelet_owned("DisruptionTarget")


def test_written_view_keeps_written_kubelet_fields_and_backfills_qos() -> None:
    own = {
        "phase": "Running",
        "qosClass": "BestEffort",
        "conditions": [cond("custom", "True"), cond("Ready", "True")],
    }
    written = {
        "phase": "Running",
        "message": "Patched",
        "conditions": [cond("Ready", "False"), cond("custom", "True")],
    }
    view = written_view(own, written)
    assert view["message"] == "Patched" and view["qosClass"] == "BestEffort"
    assert view["conditions"] == [cond("custom", "True"), cond("Ready", "False")]
    assert api_conditions(written) == (cond("custom", "True"),)
    assert api_conditions(None) == ()

"""Node admission (core/admission.py): pkg/kubelet/lifecycle/predicate.go's OS checks and
kubelet.go `rejectPod` as `PodMachine` carries it out."""

from __future__ import annotations

import dataclasses

import pytest

from podkeeper.core.admission import (
    POD_OS_NOT_SUPPORTED,
    POD_OS_SELECTOR_MISMATCH,
    Rejection,
    admit,
)
from podkeeper.core.spec import Container, ObjectMeta
from podkeeper.core.status import pod_status
from podkeeper.testing import PodHarness, make_pod


@pytest.mark.parametrize(
    ("labels", "os_name", "reason"),
    [
        ({}, None, None),
        ({}, "linux", None),
        ({"kubernetes.io/os": "linux"}, "linux", None),
        ({"app": "x"}, "windows", POD_OS_NOT_SUPPORTED),
        ({}, "", POD_OS_NOT_SUPPORTED),  # set but not "linux" (validation rejects it first)
        ({"kubernetes.io/os": "windows"}, None, POD_OS_SELECTOR_MISMATCH),
        # The selector check comes first (Admit's order).
        ({"kubernetes.io/os": "windows"}, "windows", POD_OS_SELECTOR_MISMATCH),
    ],
)
def test_admit(labels: dict[str, str], os_name: str | None, reason: str | None) -> None:
    got = admit(labels, os_name)
    assert (got.reason if got else None) == reason


def test_messages_are_the_kubelets() -> None:
    r = admit({}, "windows")
    assert r == Rejection(
        "PodOSNotSupported", "Failed to admit pod as the OS field doesn't match node OS"
    )
    assert r.status_message == (
        "Pod was rejected: Failed to admit pod as the OS field doesn't match node OS"
    )
    s = admit({"kubernetes.io/os": "darwin"}, None)
    assert s is not None
    assert s.message == (
        "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
    )


def _rejected_harness() -> PodHarness:
    pod = make_pod(Container("app"))
    pod = dataclasses.replace(pod, spec=dataclasses.replace(pod.spec, os_name="windows"))
    return PodHarness(pod)


def test_rejected_pod_fails_and_starts_nothing() -> None:
    h = _rejected_harness()
    h.advance(5)
    assert h.starts() == []
    assert h.machine.phase() == "Failed"
    status = pod_status(h.machine)
    assert status["reason"] == "PodOSNotSupported"
    assert status["message"].startswith("Pod was rejected: ")
    # No container statuses (kubectl's STATUS shows the reason), only PodScheduled.
    assert "containerStatuses" not in status and "podIP" not in status
    assert [c["type"] for c in status["conditions"]] == ["PodScheduled"]
    # The Warning event carries the admit handler's message (no "Pod was rejected").
    assert h.messages("PodOSNotSupported") == [
        "Failed to admit pod as the OS field doesn't match node OS"
    ]
    assert [e.type for e in h.events if e.reason == "PodOSNotSupported"] == ["Warning"]


def test_rejected_pod_finishes_on_delete() -> None:
    h = _rejected_harness()
    h.machine.delete(h.clock.now, 0)
    h.poll()
    assert h.machine.finished


def test_label_mismatch_rejects_through_the_machine() -> None:
    pod = make_pod(Container("app"))
    pod = dataclasses.replace(
        pod, metadata=ObjectMeta("p", uid="uid", labels=(("kubernetes.io/os", "windows"),))
    )
    h = PodHarness(pod)
    assert h.machine.phase() == "Failed"
    assert h.starts() == []
    assert pod_status(h.machine)["reason"] == "PodOSSelectorNodeLabelDoesNotMatch"


def test_linux_pod_is_admitted() -> None:
    pod = make_pod(Container("app"))
    h = PodHarness(dataclasses.replace(pod, spec=dataclasses.replace(pod.spec, os_name="linux")))
    h.start_pending()
    assert h.machine.rejection is None
    assert len(h.starts("app")) == 1

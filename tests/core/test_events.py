"""Event reasons and exact messages (spec §6, `pkg/kubelet/events/event.go` and emitters)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from podkeeper.core import events as ev

CASES: list[tuple[Callable[[], tuple[str, str, str]], tuple[str, str, str]]] = [
    (
        lambda: ev.probe_failed("Liveness", "HTTP probe failed with statuscode: 500"),
        ("Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"),
    ),
    (
        lambda: ev.probe_failed("Liveness", ""),
        ("Warning", "Unhealthy", "Liveness probe failed: "),
    ),
    (
        lambda: ev.probe_errored("Readiness", "unknown", 'port "http" not found'),
        (
            "Warning",
            "Unhealthy",
            'Readiness probe errored and resulted in unknown state: port "http" not found',
        ),
    ),
    (
        lambda: ev.probe_warning(
            "Liveness",
            'Probe terminated redirects, Response body: <a href="http://0.0.0.0/">Found</a>.',
        ),
        (
            "Warning",
            "ProbeWarning",
            "Liveness probe warning: Probe terminated redirects, Response body: "
            '<a href="http://0.0.0.0/">Found</a>.',
        ),
    ),
    (
        lambda: ev.killing("Container app failed liveness probe, will be restarted"),
        ("Normal", "Killing", "Container app failed liveness probe, will be restarted"),
    ),
    (
        lambda: ev.back_off("app", "p_default(uid)"),
        ("Warning", "BackOff", "Back-off restarting failed container app in pod p_default(uid)"),
    ),
    (lambda: ev.created("app"), ("Normal", "Created", "Created container: app")),
    (lambda: ev.started("app"), ("Normal", "Started", "Started container app")),
    (
        lambda: ev.pulled("busybox"),
        ("Normal", "Pulled", 'Container image "busybox" already present on machine'),
    ),
    (lambda: ev.failed("boom"), ("Warning", "Failed", "Error: boom")),
    (
        lambda: ev.failed_post_start(),
        ("Warning", "FailedPostStartHook", "PostStartHook failed"),
    ),
    (lambda: ev.failed_pre_stop(), ("Warning", "FailedPreStopHook", "PreStopHook failed")),
    (
        lambda: ev.scheduled("default", "p", "node1"),
        ("Normal", "Scheduled", "Successfully assigned default/p to node1"),
    ),
]


@pytest.mark.parametrize(("make", "want"), CASES)
def test_event_texts(make: Callable[[], tuple[str, str, str]], want: tuple[str, str, str]) -> None:
    assert make() == want

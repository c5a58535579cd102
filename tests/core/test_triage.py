"""core.triage: which pods are unhealthy, from list data only (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from podkeeper.core.apievidence import parse_time
from podkeeper.core.triage import problem, triage

NOW = parse_time("2026-12-05T10:00:00Z") or 0.0


def pod(phase: str = "Running", created: str = "2026-12-05T09:00:00Z", **status: Any) -> Any:
    s: dict[str, Any] = {"name": "app", "ready": True, "restartCount": 0}
    s.update(status)
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u", "creationTimestamp": created},
        "spec": {"containers": [{"name": "app"}], "nodeName": "n"},
        "status": {"phase": phase, "containerStatuses": [s]},
    }


RUNNING = {"running": {"startedAt": "2026-12-05T09:00:05Z"}}


def ended(finished: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": 1, "startedAt": finished, "finishedAt": finished}}


CASES = [
    ("healthy", pod(state=RUNNING), None),
    ("succeeded", pod("Succeeded"), None),
    ("failed", pod("Failed"), "failed"),
    ("crash loop", pod(state={"waiting": {"reason": "CrashLoopBackOff"}}), "restarting"),
    (
        "restarted a minute ago",
        pod(state=RUNNING, restartCount=1, lastState=ended("2026-12-05T09:59:00Z")),
        "restarting",
    ),
    (
        "restarted yesterday",
        pod(state=RUNNING, restartCount=1, lastState=ended("2026-12-04T09:59:00Z")),
        None,
    ),
    (
        "secret missing",
        pod("Pending", state={"waiting": {"reason": "CreateContainerConfigError"}}, ready=False),
        "waiting: CreateContainerConfigError",
    ),
    (
        "still creating",
        pod("Pending", "2026-12-05T09:59:30Z", state={"waiting": {"reason": "ContainerCreating"}}),
        None,
    ),
    (
        "pending too long",
        pod("Pending", state={"waiting": {"reason": "ContainerCreating"}}),
        "pending",
    ),
    ("not ready", pod(state=RUNNING, ready=False), "not ready"),
]


@pytest.mark.parametrize(("obj", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem(obj: Any, want: str | None) -> None:
    assert problem(obj, NOW) == want


def test_triage_keeps_only_the_unhealthy_most_severe_first() -> None:
    oom = pod(
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        restartCount=3,
        lastState={
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": "2026-12-05T09:58:00Z",
                "finishedAt": "2026-12-05T09:59:00Z",
            }
        },
    )
    oom["metadata"].update(name="oom", uid="u-oom")
    lazy = pod(state=RUNNING, ready=False)
    lazy["metadata"].update(name="lazy", uid="u-lazy")
    fine = pod(state=RUNNING)
    fine["metadata"].update(name="fine", uid="u-fine")
    rows = triage([lazy, fine, oom], [], [], [], NOW)
    assert [(r.pod, r.verdict.kind) for r in rows] == [
        ("oom", "OOMKilled"),
        ("lazy", "ReadinessNeverPasses"),
    ]

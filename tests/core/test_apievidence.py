"""core.apievidence: API objects into evidence records (issue 15)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from podkeeper.core import evidence as E
from podkeeper.core.apievidence import from_api, pick_container, quantity
from podkeeper.core.verdict import VerdictKind, diagnose


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("128Mi", 128 * 2**20),
        ("1Gi", 2**30),
        ("500m", Fraction(1, 2)),
        ("0.5", Fraction(1, 2)),
        ("1e3", 1000),
        ("2k", 2000),
        (3, 3),
        ("lots", None),
        (None, None),
    ],
)
def test_quantity(raw: Any, want: Any) -> None:
    assert quantity(raw) == want


def _pod(state: dict[str, Any], last: dict[str, Any], restarts: int) -> dict[str, Any]:
    live = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "app", "image": "busybox", "livenessProbe": live}],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "state": state, "lastState": last, "restartCount": restarts}
            ],
        },
    }


def _killing(first: str, last: str, count: int) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{app}"},
        "reason": "Killing",
        "message": "Container app failed liveness probe, will be restarted",
        "type": "Normal",
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
    }


ENDED = {
    "terminated": {
        "exitCode": 137,
        "reason": "Error",
        "startedAt": "2026-12-05T08:00:10Z",
        "finishedAt": "2026-12-05T08:00:13Z",
    }
}


def test_the_killing_event_gives_the_cause_and_the_time() -> None:
    pod = _pod({"waiting": {"reason": "CrashLoopBackOff"}}, ENDED, 1)
    ev = from_api(pod, "app", events=[_killing("2026-12-05T08:00:11Z", "2026-12-05T08:00:11Z", 1)])
    assert ev.kill is not None and ev.kill.killed_by == E.LIVENESS
    assert ev.kill.grace == 2 and ev.kill.requested_at is not None
    assert diagnose(ev).kind == VerdictKind.SIGTERM_IGNORED


def test_an_aggregated_killing_event_keeps_the_cause_and_says_the_time_is_lost() -> None:
    # The next instance started at :13 and was killed at :14: the one event now says :14.
    running = {"running": {"startedAt": "2026-12-05T08:00:13Z"}}
    pod = _pod(running, ENDED, 1)
    ev = from_api(pod, "app", events=[_killing("2026-12-05T08:00:11Z", "2026-12-05T08:00:14Z", 2)])
    assert ev.kill is not None and ev.kill.killed_by == E.LIVENESS
    assert ev.kill.requested_at is None
    got = diagnose(ev)
    assert got.kind == VerdictKind.LIVENESS
    assert any("aggregated" in u for u in got.unseen)


def test_pick_container_prefers_the_one_in_trouble() -> None:
    pod = {
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "containerStatuses": [
                {"name": "a", "state": {"running": {}}, "lastState": {}, "ready": True},
                {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            ]
        },
    }
    assert pick_container(pod) == ("b", False)
    assert pick_container(pod, "a") == ("a", False)
    assert pick_container(pod, "zz") is None

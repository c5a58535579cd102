"""`describe pod` and `events` text against fixture Pod/Event JSON."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from podkeeper.cli.describe import describe_pod, describe_probe, last_exit_line
from podkeeper.cli.events import event_list, interval, render_events
from tests.cli.cli_fixtures import event, pod, running, term

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ATTRS = "delay=3s timeout=1s period=3s #success=1 #failure=3"
TIMING = {
    "initialDelaySeconds": 3,
    "timeoutSeconds": 1,
    "periodSeconds": 3,
    "successThreshold": 1,
    "failureThreshold": 3,
}


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # describe prints times in local time, as kubectl does; pin it for exact text.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("handler", "line"),
    [
        (
            {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}},
            f"http-get http://:8080/healthz {ATTRS}",
        ),
        (
            {"httpGet": {"path": "/", "port": "http", "scheme": "HTTPS", "host": "10.0.0.1"}},
            f"http-get https://10.0.0.1:http/ {ATTRS}",
        ),
        ({"exec": {"command": ["cat", "/tmp/health"]}}, f"exec [cat /tmp/health] {ATTRS}"),
        ({"tcpSocket": {"port": 8080}}, f"tcp-socket :8080 {ATTRS}"),
        ({"grpc": {"port": 5000, "service": "liveness"}}, f"grpc <pod>:5000 liveness {ATTRS}"),
        ({"grpc": {"port": 5000}}, f"grpc <pod>:5000  {ATTRS}"),
    ],
)
def test_probe_lines_exactly_as_kubectl(handler: dict[str, object], line: str) -> None:
    assert describe_probe({**handler, **TIMING}) == line


def _described() -> str:
    last = term(137, "OOMKilled", finished="2024-05-01T11:59:00Z")
    p = pod(statuses=[running("app", restarts=2, last=last)])
    p["spec"]["containers"][0].update(
        {
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, **TIMING},
            "resources": {"limits": {"memory": "128Mi"}},
            "env": [{"name": "MODE", "value": "fast"}],
        }
    )
    events = [
        event("Started", "Started container app", first="2024-05-01T11:58:00Z"),
        event(
            "Unhealthy",
            "Liveness probe failed: HTTP probe failed with statuscode: 500",
            "Warning",
            count=3,
            first="2024-05-01T11:58:00Z",
            last="2024-05-01T11:59:50Z",
        ),
    ]
    return describe_pod(p, events, NOW, verdict="killed by the kernel OOM killer")


def test_describe_has_kubectl_sections() -> None:
    text = _described()
    assert text.startswith("Name:         web\nNamespace:    default\n")
    assert "Start Time:   Wed, 01 May 2024 11:57:30 +0000\n" in text
    assert "    State:          Running\n      Started:      Wed, 01 May 2024 11:58:00 +0000\n" in (
        text
    )
    assert "    Last State:     Terminated\n      Reason:       OOMKilled\n" in text
    assert "      Exit Code:    137\n" in text
    assert "    Restart Count:  2\n" in text
    assert "    Limits:\n      memory:  128Mi\n" in text
    # Go's tabwriter: `memory:` and `Liveness:` share one column block.
    assert f"    Liveness:  http-get http://:8080/healthz {ATTRS}\n" in text
    assert "    Environment:\n      MODE:  fast\n" in text
    assert "Conditions:\n  Type           Status\n  Ready          True \n" in text


def test_describe_last_exit_and_verdict_lines() -> None:
    text = _described()
    assert "Last exit:       137 — SIGKILL (128+9); reason OOMKilled, container app, 60s ago\n" in (
        text
    )
    assert "Verdict:         killed by the kernel OOM killer\n" in text


def test_describe_events_with_counts() -> None:
    text = _described()
    assert text.endswith(
        "Events:\n"
        "  Type     Reason     Age               From     Message\n"
        "  ----     ------     ----              ----     -------\n"
        "  Normal   Started    2m                kubelet  Started container app\n"
        "  Warning  Unhealthy  10s (x3 over 2m)  kubelet  "
        "Liveness probe failed: HTTP probe failed with statuscode: 500\n"
    )


def test_describe_without_events_or_exits() -> None:
    text = describe_pod(pod(), [], NOW)
    assert text.endswith("Events:  <none>\n")
    assert "Last exit" not in text
    assert last_exit_line(pod(), NOW) is None


def test_events_interval_like_kubectl() -> None:
    once = event("Pulled", "x", first="2024-05-01T11:59:00Z")
    assert interval(once, NOW) == "60s"
    many = event("BackOff", "x", count=7, first="2024-05-01T11:50:00Z", last="2024-05-01T11:59:58Z")
    assert interval(many, NOW) == "2s (x7 over 10m)"


def test_events_table_oldest_first() -> None:
    newer = event("Killing", "Stopping container app", first="2024-05-01T11:59:40Z")
    older = event("Created", "Created container app", first="2024-05-01T11:58:00Z")
    assert render_events([newer, older], NOW) == (
        "LAST SEEN   TYPE     REASON    OBJECT    MESSAGE\n"
        "2m          Normal   Created   pod/web   Created container app\n"
        "20s         Normal   Killing   pod/web   Stopping container app\n"
    )


def test_event_list_json_shape() -> None:
    listed = event_list([event("Created", "x")])
    assert listed["kind"] == "EventList"
    assert listed["apiVersion"] == "v1"
    assert [e["reason"] for e in listed["items"]] == ["Created"]

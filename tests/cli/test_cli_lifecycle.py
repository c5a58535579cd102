"""`up`'s live view and `--wait`, against a fake agent (no sleeps: sleep is injected)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from podkeeper.cli import lifecycle
from podkeeper.cli._common import CliError
from podkeeper.cli.events import event_key
from tests.cli.cli_fixtures import FakeClient, event, pod, running, waiting

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_render_status_has_table_and_last_ten_events() -> None:
    events = [
        event(f"R{i}", f"message {i}", first=f"2024-05-01T11:59:{i:02d}Z", uid=str(i))
        for i in range(12)
    ]
    text = lifecycle.render_status([pod()], events, NOW)
    assert text.startswith("NAME   READY   STATUS    RESTARTS   AGE\nweb    1/1     Running")
    assert "message 1\n" not in text
    assert "message 2\n" in text
    assert text.endswith("message 11\n")


def test_status_key_ignores_age() -> None:
    older = datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    assert lifecycle.status_key([pod()], NOW) == lifecycle.status_key([pod()], older)


def test_live_view_without_tty_prints_only_changes(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient([pod(statuses=[waiting("app", "ContainerCreating")])])
    client.events_list = [event("Scheduled", "assigned")]
    ticks = iter(range(3))

    def sleep(_: float) -> None:
        step = next(ticks)
        if step == 0:
            client.pods["web"] = pod()  # now Running
        elif step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lifecycle.live_view(client, ["default"], sleep)
    out = capsys.readouterr().out
    assert out.count("NAME   READY") == 2  # ContainerCreating, then Running; not on the 3rd tick
    assert out.count("event: ") == 1


def test_wait_ready_returns_when_ready() -> None:
    client = FakeClient([pod()])
    lifecycle.wait_ready(client, [pod()], timeout=0)


def test_wait_ready_timeout_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    unready = pod(statuses=[running("app", ready=False)], conditions={"Ready": "False"})
    client = FakeClient([unready])
    client.events_list = [event("Unhealthy", "Readiness probe failed: boom", "Warning")]
    with pytest.raises(CliError) as caught:
        lifecycle.wait_ready(client, [pod()], timeout=0)
    assert caught.value.exit_code == 1
    assert caught.value.message.splitlines() == [
        "pod/web is not Ready: Readiness probe failed: boom",
        "error: timed out after 0s waiting for Ready",
    ]


def test_wait_ready_counts_deployment_pods() -> None:
    deployment: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
    }
    client = FakeClient([pod("web")])
    with pytest.raises(CliError) as caught:
        lifecycle.wait_ready(client, [deployment], timeout=0)
    assert "deployment.apps/web is not Ready: 1/2 pods exist" in caught.value.message


def test_event_key_tells_apart_events_sharing_a_name() -> None:
    a = event("Pulled", "x", uid="")
    b = event("Created", "y", uid="")
    a["metadata"] = b["metadata"] = {"name": "web.1", "namespace": "default"}
    assert event_key(a) != event_key(b)


def test_explain_names_the_logs_command_that_shows_the_dead_instance() -> None:
    """Issue 13 item 16: `logs -p` fails when the dead instance is still the current one."""
    from podkeeper.cli.explain import _with_logs_step

    step = "read the last log lines (`podkeeper logs -p`) for the error the program printed"
    record = {"container": "app", "pod": "web", "restart_count": 0, "next_step": step}

    def pod(restarts: int) -> dict[str, object]:
        status = {"containerStatuses": [{"name": "app", "restartCount": restarts}]}
        return {"metadata": {"name": "web"}, "status": status}

    same = _with_logs_step(record, pod(0), "default")["next_step"]
    assert "`podkeeper logs web -c app`" in same and "-p" not in same
    previous = _with_logs_step(record, pod(1), "ns1")["next_step"]
    assert "`podkeeper logs -p web -c app -n ns1`" in previous
    assert _with_logs_step(record, pod(5), "default")["next_step"] == step  # older: as is
    assert _with_logs_step(record, None, "default")["next_step"] == step  # pod gone


def test_apply_goes_in_batches_under_the_limit_and_says_what_went_before_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13 item 15: one request per batch under the agent's body limit; a failing later
    batch says how many objects the earlier ones applied."""
    import json

    import podkeeper.cli.lifecycle as lc
    from podkeeper.api.client import APIError
    from podkeeper.cli._common import CliError

    objs = [
        {"kind": "Pod", "metadata": {"name": f"p{i}"}, "spec": {"x": "y" * 1000}} for i in range(50)
    ]
    batches = lc.apply_batches(objs, limit=10_000)
    assert [o for b in batches for o in b] == objs
    assert all(len(json.dumps({"items": b})) <= 10_000 for b in batches)
    assert len(batches) == 6

    class Failing:
        def __init__(self) -> None:
            self.applied = 0

        def list(self, kind: str, namespace: str | None) -> dict[str, object]:
            return {"items": []}

        def apply(self, items: list[dict[str, object]]) -> dict[str, object]:
            if self.applied:
                body = {"reason": "Invalid", "message": "pod p9 is invalid"}
                raise APIError(422, "pod p9 is invalid", body)
            self.applied += len(items)
            return {"items": items}

    said: list[str] = []
    monkeypatch.setattr(lc, "APPLY_BODY_LIMIT", 10_000)
    monkeypatch.setattr(lc, "warn", said.append)
    with pytest.raises(CliError, match="pod p9 is invalid"):
        lc._apply_files(Failing(), ("f.yaml",), objs)  # type: ignore[arg-type]
    assert said == ["note: the first 9 of 50 objects were applied before this"]

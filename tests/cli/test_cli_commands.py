"""The commands through click's CliRunner: local-only paths, and API paths against a fake client."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

from podkeeper import KUBE_MINOR, __version__
from podkeeper.cli import main
from podkeeper.cli._common import CliError, State
from podkeeper.cli._manifest import check_documents
from tests.cli.cli_fixtures import FakeClient, event, pod, running, term

Obj = dict[str, Any]
# Module-level: `FakeClient.list` shadows the builtin inside the class body.
ObjList = list[Obj]


def run(args: list[str], client: FakeClient | None = None, home: Path | None = None) -> Result:
    state = State(home_option=str(home) if home else None)
    if client is not None:
        state.client_factory = lambda _home: client
    return CliRunner().invoke(main, args, obj=state)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# -- local-only commands -------------------------------------------------------


def test_version_without_agent(home: Path) -> None:
    result = run(["--home", str(home), "version"])
    assert result.exit_code == 0
    assert result.stdout == (
        f"podkeeper {__version__} (kubelet semantics of Kubernetes v{KUBE_MINOR})\n"
    )


def test_version_with_agent(home: Path) -> None:
    result = run(["version"], FakeClient(), home)
    assert result.stdout.splitlines()[1] == "agent: podkeeper 0.1.0 (pid 4242)"


def test_explain_137_text() -> None:
    result = run(["explain", "137"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Exit code 137: SIGKILL (128+9)\n")
    flat = " ".join(result.stdout.split())
    assert "proof of nothing on its own" in flat


def test_explain_137_json() -> None:
    result = run(["explain", "137", "-o", "json"])
    data = json.loads(result.stdout)
    assert data["code"] == 137
    assert data["signal"] == "SIGKILL"
    assert "proof of nothing" in data["in_containers"]


def test_explain_reason_and_bad_codes() -> None:
    assert run(["explain", "OOMKilled"]).stdout.startswith("Reason OOMKilled")
    bad = run(["explain", "300"])
    assert bad.exit_code == 2
    assert "outside 0-255" in bad.stderr
    unknown = run(["explain", "Sleepy"])
    assert unknown.exit_code == 2
    assert "Traceback" not in unknown.output


def test_agent_not_running_message(home: Path) -> None:
    result = run(["--home", str(home), "get", "pods"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no podkeeper agent is running for home {home} "
        "(start one with: podkeeper up -f FILE)\n"
    )
    assert result.stdout == ""


def test_apply_without_agent_fails_in_one_line(home: Path, tmp_path: Path) -> None:
    # Once the manifest loader exists the file is checked first; either way: exit 1, one line.
    if importlib.util.find_spec("podkeeper.manifest.validation") is None:
        pytest.skip("podkeeper.manifest does not validate yet")
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n"
        "spec: {containers: [{name: app, image: busybox, command: [sleep, '9']}]}\n"
    )
    result = run(["--home", str(home), "apply", "-f", str(path)])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "no podkeeper agent is running" in result.stderr


def test_invalid_file_exits_2_and_sends_nothing(home: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("podkeeper.manifest.validation") is None:
        pytest.skip("podkeeper.manifest does not validate yet")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\n"
        "spec: {containers: [{name: app, image: busybox, command: [sleep, '9']}]}\n"
        "---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\n"
        "spec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '9']\n"
        "    livenessProbe:\n      exec: {command: ['true']}\n      successThreshold: 2\n"
    )
    client = FakeClient()
    result = run(["up", "-d", "-f", str(path)], client, home)
    assert result.exit_code == 2
    # Documents are numbered as podkeeper.manifest numbers them (from 0).
    assert result.stderr == (
        f'error: {path}: document 1: Pod "bad" is invalid: '
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1\n"
    )
    assert client.applied == []


def test_check_documents_collects_every_error_and_warns_unimplemented() -> None:
    def validate(obj: Obj) -> list[str]:
        return ["spec.containers: Required value"] if obj["metadata"]["name"] == "bad" else []

    fake = SimpleNamespace(
        default_object=lambda obj: dict(obj),
        validate_object=validate,
        format_invalid=lambda kind, name, errs: f'{kind} "{name}" is invalid: {errs[0]}',
        unimplemented_fields=lambda obj: ["spec.volumes"] if "volumes" in obj["spec"] else [],
    )
    good = SimpleNamespace(
        file="a.yaml",
        index=1,
        obj={"kind": "Pod", "metadata": {"name": "ok"}, "spec": {"volumes": []}},
    )
    bad = SimpleNamespace(
        file="a.yaml", index=2, obj={"kind": "Pod", "metadata": {"name": "bad"}, "spec": {}}
    )
    loaded = check_documents(fake, [good])
    assert loaded.warnings == [
        "warning: a.yaml: document 1: spec.volumes: field not implemented by podkeeper, ignored"
    ]
    with pytest.raises(CliError) as caught:
        check_documents(fake, [good, bad])
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        'error: a.yaml: document 2: Pod "bad" is invalid: spec.containers: Required value'
    )


def test_apply_prints_kubectl_verbs(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from podkeeper.cli import lifecycle

    client = FakeClient([pod("old")])
    lines = lifecycle.apply_objects(
        client,
        [
            {"kind": "Pod", "metadata": {"name": "new"}},
            {"kind": "Pod", "metadata": {"name": "old"}, "spec": client.pods["old"]["spec"]},
        ],
    )
    assert lines == ["pod/new created", "pod/old unchanged"]


# -- commands against the fake agent ---------------------------------------------


def test_get_pods_table_and_formats(home: Path) -> None:
    client = FakeClient([pod("web"), pod("api")])
    table = run(["get", "pods"], client, home)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[0] for line in lines[1:]] == ["api", "web"]
    assert run(["get", "po", "-o", "name"], client, home).stdout == "pod/api\npod/web\n"
    listed = json.loads(run(["get", "pods", "-o", "json"], client, home).stdout)
    assert listed["kind"] == "PodList"
    one = json.loads(run(["get", "pod", "web", "-o", "json"], client, home).stdout)
    assert one["kind"] == "Pod"
    assert "kind: Pod" in run(["get", "pod", "web", "-o", "yaml"], client, home).stdout
    wide = run(["get", "pods", "-o", "wide"], client, home).stdout.splitlines()[0].split()
    assert wide[-2:] == ["IP", "NODE"]


def test_get_not_found(home: Path) -> None:
    result = run(["get", "pod", "nope"], FakeClient(), home)
    assert result.exit_code == 1
    assert result.stderr == 'Error from server (NotFound): pods "nope" not found\n'


def test_get_unknown_resource_is_usage_error(home: Path) -> None:
    result = run(["get", "widgets"], FakeClient(), home)
    assert result.exit_code == 2
    assert 'the server doesn\'t have a resource type "widgets"' in result.stderr


def test_describe_through_cli(home: Path) -> None:
    last = term(137, "OOMKilled")
    client = FakeClient([pod("web", statuses=[running("app", restarts=1, last=last)])])
    client.events_list = [event("Killing", "Stopping container app")]
    client.records = [{"container": "app", "exit_code": 137, "who": "cgroup OOM killer"}]
    result = run(["describe", "pod", "web"], client, home)
    assert result.exit_code == 0
    assert "Verdict:" in result.stdout
    assert "cgroup OOM killer" in result.stdout
    assert "Killing" in result.stdout


def test_logs_default_container_and_missing_previous(home: Path) -> None:
    containers = [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]
    client = FakeClient([pod("web", containers=containers, statuses=[running("a"), running("b")])])
    client.logs_by_container[("a", False)] = b"hello from a\n"
    result = run(["logs", "web"], client, home)
    assert result.exit_code == 0
    assert result.stdout == "hello from a\n"
    prev = run(["logs", "web", "-c", "b", "--previous"], client, home)
    assert prev.exit_code == 1
    assert prev.stderr == (
        'Error from server (BadRequest): previous terminated container "b" in pod "web" not found\n'
    )
    bad = run(["logs", "web", "-c", "zzz"], client, home)
    assert bad.stderr == "error: container zzz is not valid for pod web\n"


def test_events_json_is_an_event_list(home: Path) -> None:
    client = FakeClient([pod("web")])
    client.events_list = [event("Started", "Started container app")]
    data = json.loads(run(["events", "-o", "json"], client, home).stdout)
    assert data["kind"] == "EventList"
    assert data["items"][0]["reason"] == "Started"
    text = run(["events", "web"], client, home).stdout
    assert text.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]


def test_delete_pod_kubectl_words(home: Path) -> None:
    client = FakeClient([pod("web")])
    result = run(["delete", "pod", "web", "--grace-period", "5"], client, home)
    assert result.exit_code == 0
    assert result.stdout == 'pod "web" deleted\n'
    assert client.deleted == [("Pod", "default", "web", 5)]
    missing = run(["delete", "pod", "web", "--no-wait"], client, home)
    assert missing.exit_code == 1
    assert 'Error from server (NotFound): pods "web" not found' in missing.stderr


def test_explain_pod_renders_records(home: Path) -> None:
    client = FakeClient([pod("web")])
    client.records = [
        {
            "time": "2024-05-01T11:59:00Z",
            "container": "app",
            "exit_code": 137,
            "signal": 9,
            "reason": "OOMKilled",
            "who": "the kernel OOM killer (cgroup memory.max reached)",
            "evidence": ["memory.events oom_kill 1"],
            "memory_limit": 134217728,
            "memory_peak": 134217728,
            "last_log_lines": ["allocating 64 MiB"],
            "next_step": "Raise the limit or lower the usage.",
        }
    ]
    result = run(["explain", "pod", "web"], client, home)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Container app terminated at 2024-05-01T11:59:00Z")
    assert "Exit code: 137 (signal 9)" in out
    assert "memory limit 128.0 MiB, peak 128.0 MiB" in out
    assert "| allocating 64 MiB" in out
    assert "Next step: Raise the limit" in out
    data = json.loads(run(["explain", "pod", "web", "-o", "json"], client, home).stdout)
    assert data["terminations"][0]["exit_code"] == 137


def test_down_without_agent(home: Path) -> None:
    result = run(["down"], FakeClient(running=False), home)
    assert result.exit_code == 0
    assert "no agent running" in result.stdout


def test_unexpected_exception_is_one_line(home: Path) -> None:
    class Broken(FakeClient):
        def list(self, kind: str, namespace: str | None) -> ObjList:
            raise RuntimeError("boom")

    result = run(["get", "pods"], Broken(), home)
    assert result.exit_code == 1
    assert result.stderr == "error: internal error: RuntimeError: boom\n"


def test_explain_pod_epoch_time_and_no_limit(home: Path) -> None:
    client = FakeClient([pod("web")])
    client.records = [
        {"time": 1714564740.5, "container": "app", "exit_code": 2, "memory_peak": 1048576}
    ]
    out = run(["explain", "pod", "web"], client, home).stdout
    assert out.startswith("Container app terminated at 2024-05-01T11:59:00Z (")
    assert "memory peak 1.0 MiB (no memory limit)" in out


def test_explain_pod_without_records(home: Path) -> None:
    result = run(["explain", "pod", "web"], FakeClient([pod("web")]), home)
    assert result.exit_code == 0
    assert result.stdout == "pod/web: no recorded termination (no container has exited yet)\n"

"""Issue 14, "simulate real files": bundles, --object, init containers, preStop, SIGTERM, output.

data/bundle.yaml (written for these tests) is an install-bundle-like stream: a
ServiceAccount, a Namespace and a CRD around two workloads; the Deployment has
an ordinary init container, a preStop `sleep 10` and a container named like a
probe type.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from podkeeper.cli.simulate import simulate

BUNDLE = str(Path(__file__).parent / "data" / "bundle.yaml")


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(simulate, list(args), input=stdin)


def timeline(*args: str) -> list[dict[str, object]]:
    result = run("-o", "json", *args)
    assert result.exit_code == 0, result.output
    steps: list[dict[str, object]] = json.loads(result.stdout)["timeline"]
    return steps


def test_bundle_first_workload_with_a_note_and_object_picks() -> None:
    result = run(BUNDLE, "--until", "30s")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("simulating Deployment/web, container liveness\n")
    assert "holds 2 workloads (Deployment/web, StatefulSet/db)" in result.stderr
    assert "--object KIND/NAME" in result.stderr
    other = run(BUNDLE, "--object", "statefulset/db", "--until", "30s")
    assert other.exit_code == 0
    assert other.stdout.startswith("simulating StatefulSet/db, container db\n")
    assert other.stderr == ""
    missing = run(BUNDLE, "--object", "Job/nope")
    assert missing.exit_code == 2
    assert "no workload 'Job/nope' (workloads: Deployment/web, StatefulSet/db)" in missing.stderr


def test_json_and_html_name_the_modelled_inputs() -> None:
    result = run(BUNDLE, "-o", "json", "--until", "30s", "--startup", "5s")
    inputs = json.loads(result.stdout)["inputs"]
    assert inputs["object"] == "Deployment/web"
    assert inputs["container"] == "liveness"
    assert inputs["startup"] == "5s"
    assert inputs["init containers take"] == "1s"
    page = run(BUNDLE, "-o", "html", "--until", "30s", "--startup", "5s").stdout
    assert "Modelled inputs" in page and "Deployment/web" in page
    # A container named `liveness`: its lane and its probe lane read differently.
    assert ">container liveness<" in page
    assert ">  liveness probe<" in page


def test_init_container_runs_to_completion_then_the_pod_is_ready() -> None:
    steps = timeline(BUNDLE, "--until", "30s")
    exits = [(s["time"], s["container"], s["detail"]) for s in steps if s["kind"] == "exit"]
    assert exits[0] == (1.0, "migrate", "exit 0 (exited on its own)")
    ready = [s["time"] for s in steps if s["kind"] == "ready" and s["detail"] == "Ready"]
    assert ready == [1.0]
    slow = timeline(BUNDLE, "--until", "30s", "--init-takes", "12s")
    assert [s["time"] for s in slow if s["kind"] == "ready" and s["detail"] == "Ready"] == [12.0]


def test_a_pod_without_probes_starts_and_runs() -> None:
    steps = timeline(BUNDLE, "--object", "StatefulSet/db", "--until", "1m")
    phases = [s["detail"] for s in steps if s["kind"] == "phase"]
    assert phases == ["Pending", "Running"]
    assert [s["time"] for s in steps if s["kind"] == "ready"] == [0.0]


def _ending(*extra: str) -> list[tuple[object, object, object]]:
    steps = timeline(BUNDLE, "--until", "2m", "--delete-at", "60s", *extra)
    return [
        (s["time"], s["kind"], s["detail"])
        for s in steps
        if s["kind"] in ("prestop", "sigterm", "exit") and s["container"] == "liveness"
    ]


def test_prestop_takes_its_time_before_sigterm() -> None:
    # grace 30 s: the hook's `sleep 10`, then SIGTERM with the 20 s left.
    assert _ending() == [
        (60.0, "prestop", "preStop hook runs 10s"),
        (70.0, "sigterm", "SIGTERM, SIGKILL in 20s"),
        (70.0, "exit", "exit 143 (SIGTERM)"),
    ]


def test_pid_1_without_a_handler_waits_out_the_grace_period() -> None:
    assert _ending("--sigterm", "ignore")[-1] == (90.0, "exit", "exit 137 (SIGKILL)")
    assert _ending("--sigterm", "5s")[-1] == (75.0, "exit", "exit 0 (SIGTERM)")
    assert run(BUNDLE, "--sigterm", "sometimes").exit_code == 2


def test_text_folds_repeated_successful_probes() -> None:
    text = run(BUNDLE, "--until", "2m").stdout
    lines = [line for line in text.splitlines() if "Readiness success" in line]
    assert len(lines) == 2  # the first success, then one folded line for the rest
    assert "(×23, until 116.00s)" in lines[1]
    verbose = run(BUNDLE, "--until", "2m", "-v").stdout
    assert len([line for line in verbose.splitlines() if "Readiness success" in line]) == 24


def test_stdin() -> None:
    result = run(
        "-", "--until", "10s", "--object", "StatefulSet/db", stdin=Path(BUNDLE).read_text()
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("simulating StatefulSet/db")


SHELL_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: looper}
spec:
  terminationGracePeriodSeconds: 15
  containers:
  - name: app
    image: registry.example/busybox:1.36
    command: [sh, -c, "%s"]
"""


def _exit_of(tmp_path: Path, script: str, *extra: str) -> tuple[object, object]:
    path = tmp_path / "pod.yaml"
    path.write_text(SHELL_POD % script)
    steps = timeline(str(path), "--until", "1m", "--delete-at", "10s", *extra)
    (last,) = [(s["time"], s["detail"]) for s in steps if s["kind"] == "exit"]
    return last


def test_a_shell_as_pid_1_waits_out_the_grace_period(tmp_path: Path) -> None:
    # `sh -c` as PID 1 has no SIGTERM handler: the kernel ignores the signal, SIGKILL at 15 s.
    assert _exit_of(tmp_path, "while true; do sleep 1; done") == (25.0, "exit 137 (SIGKILL)")
    # A script that execs its program, or traps the signal, exits on SIGTERM.
    assert _exit_of(tmp_path, "exec server --port 80") == (10.0, "exit 143 (SIGTERM)")
    assert _exit_of(tmp_path, "trap 'exit 0' TERM; sleep 1000 & wait") == (
        10.0,
        "exit 143 (SIGTERM)",
    )
    # The option overrides the guess either way.
    looping = "while true; do sleep 1; done"
    assert _exit_of(tmp_path, looping, "--sigterm", "exit") == (10.0, "exit 143 (SIGTERM)")
    # The page and JSON say what was assumed.
    result = run("-o", "json", str(tmp_path / "pod.yaml"), "--until", "20s")
    inputs = json.loads(result.stdout)["inputs"]
    assert inputs["on SIGTERM"] == "ignored (SIGKILL after the grace period)"

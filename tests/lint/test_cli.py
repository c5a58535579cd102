"""`podkeeper lint` end to end through click: lines, stdin, config, annotations, formats, exits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from podkeeper.cli.lint import lint

DATA = Path(__file__).parent / "data"
RULES = DATA / "rules"
MULTI = str(DATA / "multi.yaml")


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(lint, list(args), input=stdin)


def findings(*args: str, stdin: str | None = None) -> list[dict[str, Any]]:
    result = run("-o", "json", *args, stdin=stdin)
    assert result.exit_code in (0, 1), result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_lines_in_a_multi_document_file() -> None:
    got = [(f["line"], f["rule"], f["kind"], f["path"]) for f in findings(MULTI)]
    assert got == [
        (32, "readiness-missing", "StatefulSet", "spec.template.spec.containers[0]"),
        (34, "requests-missing", "StatefulSet", "spec.template.spec.containers[0].resources"),
        (36, "startup-window", "StatefulSet", "spec.template.spec.containers[0].livenessProbe"),
        (
            37,
            "probe-port-undeclared",
            "StatefulSet",
            "spec.template.spec.containers[0].livenessProbe.tcpSocket.port",
        ),
        (
            38,
            "probe-timeout-exceeds-period",
            "StatefulSet",
            "spec.template.spec.containers[0].livenessProbe.timeoutSeconds",
        ),
        # CronJob: the template where Kubernetes puts it; its ignore annotation drops two rules.
        (46, "cronjob-deadline-missing", "CronJob", "spec"),
        (
            54,
            "memory-limit-missing",
            "CronJob",
            "spec.jobTemplate.spec.template.spec.containers[0].resources",
        ),
        (
            54,
            "requests-missing",
            "CronJob",
            "spec.jobTemplate.spec.template.spec.containers[0].resources",
        ),
        # A List's items keep their own lines.
        (75, "liveness-missing", "DaemonSet", "spec.template.spec.containers[0]"),
        (77, "requests-missing", "DaemonSet", "spec.template.spec.containers[0].resources"),
        (
            80,
            "probe-port-undeclared",
            "DaemonSet",
            "spec.template.spec.containers[0].readinessProbe.httpGet.port",
        ),
    ]


def test_service_selection_names_the_reason() -> None:
    (f,) = [f for f in findings(MULTI) if f["rule"] == "readiness-missing"]
    assert "a Service in the input selects its pods" in f["message"]


def test_stdin() -> None:
    text = Path(MULTI).read_text()
    from_stdin = findings("-", stdin=text)
    from_file = findings(MULTI)
    assert {f["file"] for f in from_stdin} == {"<stdin>"}
    strip = [{k: v for k, v in f.items() if k != "file"} for f in from_stdin]
    assert strip == [{k: v for k, v in f.items() if k != "file"} for f in from_file]


def test_files_and_stdin_together_keep_input_order() -> None:
    text = (RULES / "memory-limit-missing-fail.yaml").read_text()
    got = findings(str(RULES / "good.yaml"), "-", stdin=text)
    assert got[0]["file"].endswith("good.yaml")
    assert got[-1]["file"] == "<stdin>"


def test_exit_codes() -> None:
    assert run(str(RULES / "good.yaml")).exit_code == 0
    # warnings and info only
    assert run(str(RULES / "memory-limit-missing-fail.yaml")).exit_code == 0
    assert run(str(RULES / "probe-port-undeclared-fail.yaml")).exit_code == 1


def test_unreadable_input_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "nope.yaml" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: [a\n")
    result = run(str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}:")
    assert result.stderr.strip().count("\n") == 0


def test_bad_option_and_config_exit_2(tmp_path: Path) -> None:
    assert run("--expect-startup", "soon", str(RULES / "good.yaml")).exit_code == 2
    config = tmp_path / "lint.yaml"
    config.write_text("rules:\n  no-such-rule: off\n")
    result = run("--config", str(config), str(RULES / "good.yaml"))
    assert result.exit_code == 2
    assert "no-such-rule" in result.stderr
    config.write_text("rules:\n  memory-limit-missing: loud\n")
    assert run("--config", str(config), str(RULES / "good.yaml")).exit_code == 2


def test_expect_startup_option() -> None:
    good = str(RULES / "good.yaml")
    assert run("--expect-startup", "45s", good).exit_code == 0
    result = run("--expect-startup", "1m30s", good)
    assert result.exit_code == 1
    assert "expected to take 90s" in result.stdout


def test_config_relevels_and_turns_off(tmp_path: Path) -> None:
    target = str(RULES / "memory-limit-missing-fail.yaml")
    config = tmp_path / "lint.yaml"
    config.write_text(
        "rules:\n  memory-limit-missing: error\n  liveness-missing: off\n  requests-missing: off\n"
    )
    result = run("-o", "json", "--config", str(config), target)
    assert result.exit_code == 1
    got = [(f["rule"], f["severity"]) for f in json.loads(result.stdout)]
    assert got == [("memory-limit-missing", "error")]
    # An error-level rule turned down to info no longer fails the run.
    config.write_text("rules:\n  probe-port-undeclared: info\n")
    port = str(RULES / "probe-port-undeclared-fail.yaml")
    assert run("--config", str(config), port).exit_code == 0


def test_ignore_annotation(tmp_path: Path) -> None:
    text = (RULES / "probe-port-undeclared-fail.yaml").read_text()
    annotated = text.replace(
        "  name: named-port\n",
        "  name: named-port\n"
        "  annotations:\n"
        '    podkeeper.io/lint-ignore: "probe-port-undeclared"\n',
    )
    assert annotated != text
    path = tmp_path / "annotated.yaml"
    path.write_text(annotated)
    assert run(str(RULES / "probe-port-undeclared-fail.yaml")).exit_code == 1
    result = run("-o", "json", str(path))
    assert result.exit_code == 0
    assert "probe-port-undeclared" not in {f["rule"] for f in json.loads(result.stdout)}


def test_text_format() -> None:
    result = run(MULTI, str(RULES / "good.yaml"))
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{MULTI}:32: warning readiness-missing: StatefulSet/api container api: "
        "container 'api' has no readinessProbe (a Service in the input selects its pods)"
    )
    assert lines[1].startswith("    why: ")
    assert any(line.startswith("    fix: ") for line in lines[2:6])
    # Files are separated by a blank line; the summary ends the output.
    assert "" in lines
    assert lines[-2] == "2 file(s) linted, 6 object(s) linted"
    assert lines[-1] == "1 error(s), 4 warning(s), 7 info in 2 file(s)"


def test_json_shape() -> None:
    (f,) = [f for f in findings(MULTI) if f["rule"] == "memory-limit-missing"]
    assert set(f) == {
        "rule",
        "severity",
        "message",
        "why",
        "fix",
        "kind",
        "name",
        "namespace",
        "container",
        "path",
        "file",
        "line",
    }
    assert (f["kind"], f["name"], f["container"]) == ("CronJob", "nightly", "job")


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    return schema


def test_sarif_validates_against_the_schema(sarif_schema: dict[str, Any]) -> None:
    files = [str(p) for p in sorted(RULES.glob("*-fail.yaml"))]
    result = run("-o", "sarif", *files, MULTI)
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    jsonschema.Draft7Validator(sarif_schema).validate(log)
    run_ = log["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "podkeeper"
    assert driver["version"] and driver["informationUri"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert "liveness-before-ready" in rule_ids and len(rule_ids) == len(set(rule_ids))
    for rule in driver["rules"]:
        assert rule["help"]["text"] and rule["fullDescription"]["text"]
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    levels = {r["level"] for r in run_["results"]}
    assert levels == {"error", "warning", "note"}
    for r in run_["results"]:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        loc = r["locations"][0]["physicalLocation"]
        assert loc["region"]["startLine"] >= 1
        assert not loc["artifactLocation"]["uri"].startswith("/")
    (multi,) = [
        r
        for r in run_["results"]
        if r["ruleId"] == "readiness-missing" and "multi.yaml" in str(r["locations"])
    ]
    assert multi["locations"][0]["physicalLocation"]["region"]["startLine"] == 32


def test_sarif_from_stdin_and_config(sarif_schema: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "lint.yaml"
    config.write_text("rules:\n  startup-window: off\n  memory-limit-missing: error\n")
    result = run("-o", "sarif", "--config", str(config), "-", stdin=Path(MULTI).read_text())
    log = json.loads(result.stdout)
    jsonschema.Draft7Validator(sarif_schema).validate(log)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["startup-window"]["defaultConfiguration"]["enabled"] is False
    assert rules["memory-limit-missing"]["defaultConfiguration"]["level"] == "error"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    assert uris == {"stdin"}


def test_registered_in_the_podkeeper_group() -> None:
    from podkeeper.cli import main

    result = CliRunner().invoke(main, ["lint", str(RULES / "good.yaml")])
    assert result.exit_code == 0, result.output

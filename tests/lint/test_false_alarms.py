"""Issue 14, "fewer false alarms": patterns that are right must not be reported.

Fixtures in data/alarms, written for these tests, reproduce each pattern.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from podkeeper.cli.lint import lint
from podkeeper.lint.config import Config
from podkeeper.lint.engine import lint_documents
from podkeeper.lint.finding import Finding
from podkeeper.lint.source import load
from podkeeper.manifest import load_text

ALARMS = Path(__file__).parent / "data" / "alarms"


def lint_file(name: str) -> list[Finding]:
    return lint_documents(load([str(ALARMS / name)], None), Config())


def by_rule(findings: list[Finding], rule: str) -> list[tuple[str, str | None]]:
    return [(f.name, f.container) for f in findings if f.rule == rule]


def test_readiness_missing_not_for_jobs_workers_or_pause() -> None:
    found = lint_file("batch.yaml")
    assert by_rule(found, "readiness-missing") == []


def test_readiness_missing_for_containers_with_ports_only() -> None:
    found = lint_file("ports-no-readiness.yaml")
    assert by_rule(found, "readiness-missing") == [("db", "db"), ("db", "exporter")]


def test_readiness_fix_creates_no_new_finding() -> None:
    text = (ALARMS / "ports-no-readiness.yaml").read_text()
    found = lint_documents(load_text(text, "p.yaml"), Config())
    fixes = {f.container: f.fix for f in found if f.rule == "readiness-missing"}
    assert "port: sql" in fixes["db"]  # the port it declares, not an invented `http`
    assert "port: 9187" in fixes["exporter"]
    (doc,) = load_text(text, "p.yaml")
    obj = doc.obj
    for c in obj["spec"]["template"]["spec"]["containers"]:
        if c["name"] in fixes:
            snippet = re.search(r"`(readinessProbe: .*?)`", fixes[c["name"]])
            assert snippet is not None
            c.update(yaml.safe_load(snippet.group(1)))
    fixed = lint_documents(load_text(yaml.safe_dump(obj), "fixed.yaml"), Config())
    assert by_rule(fixed, "readiness-missing") == []
    assert by_rule(fixed, "probe-port-undeclared") == []


def test_equal_windows_on_separate_endpoints_is_not_a_warning() -> None:
    found = lint_file("livez-readyz.yaml")
    kills = by_rule(found, "liveness-kills-before-unready")
    # The recommended /livez + /readyz pattern is quiet; a quicker liveness is still reported.
    assert kills == [("quick-liveness", "api")]


def test_probe_http_host_not_on_host_network() -> None:
    found = lint_file("host-network.yaml")
    assert by_rule(found, "probe-http-host") == [("elsewhere", "app")]


def test_why_is_said_once_per_rule_in_text(tmp_path: Path) -> None:
    result = CliRunner().invoke(lint, [str(ALARMS / "ports-no-readiness.yaml")])
    out = result.stdout
    assert out.count("memory-limit-missing:") == 3
    assert out.count("why: Without a limit the container can use") == 1
    # Identical fixes are said once too; fixes that differ (per container) are each said.
    assert out.count("fix: Set resources.limits.memory") == 1
    assert out.count("fix: Add a readinessProbe to container") == 2


CORPUS = Path(__file__).parent / "data" / "corpus"


def test_readiness_missing_follows_the_service_target_ports() -> None:
    # The Service sends to 6379 (redis); the exporter's metrics port is not its business.
    found = lint_documents(load([str(CORPUS / "redis.yaml")], None), Config())
    assert by_rule(found, "readiness-missing") == []


def test_mesh_probe_rewrite_is_not_another_containers_port(tmp_path: Path) -> None:
    text = (
        (CORPUS / "api-legacy.yaml")
        .read_text()
        .replace("/ready, port: 15020", "/app-health/orders/readyz, port: 15020")
    )
    path = tmp_path / "mesh.yaml"
    path.write_text(text)
    found = lint_documents(load([str(path)], None), Config())
    assert by_rule(found, "probe-port-other-container") == []


def test_the_hand_judged_corpus_has_no_false_or_missed_finding() -> None:
    from benchmarks.lint_precision import measure, report

    per = measure([str(CORPUS)])
    assert sum(c["false"] for c in per.values()) == 0, report(per)
    assert sum(c["missed"] for c in per.values()) == 0, report(per)
    assert sum(c["true"] for c in per.values()) >= 15
    assert "precision (warnings and errors): " in report(per)

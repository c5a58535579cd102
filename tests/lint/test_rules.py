"""Every rule against a manifest that must trigger it and one that must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from podkeeper.lint.config import Config
from podkeeper.lint.engine import lint_documents
from podkeeper.lint.finding import Finding, Severity
from podkeeper.lint.rules import RULES
from podkeeper.lint.source import load

DATA = Path(__file__).parent / "data" / "rules"
E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def lint_file(name: str, expected_startup: float | None = None) -> list[Finding]:
    return lint_documents(load([str(DATA / name)], None), Config(), expected_startup)


def of(findings: list[Finding], rule: str) -> list[tuple[int, Severity, str]]:
    return [(f.line, f.severity, f.path) for f in findings if f.rule == rule]


# rule, failing file, expected (line, severity, path) findings of that rule.
FAILING = [
    (
        "k8s-invalid",
        "k8s-invalid-fail.yaml",
        [
            (15, E, "spec.containers[0].readinessProbe.periodSeconds"),
            (20, E, "spec.containers[0].livenessProbe.successThreshold"),
        ],
    ),
    (
        "readiness-missing",
        "readiness-missing-fail.yaml",
        [(13, W, "spec.template.spec.containers[0]")],
    ),
    ("readiness-missing", "readiness-missing-service-fail.yaml", [(18, W, "spec.containers[0]")]),
    ("liveness-missing", "liveness-missing-fail.yaml", [(7, INFO, "spec.containers[0]")]),
    ("probe-identical", "probe-identical-fail.yaml", [(15, W, "spec.containers[0].livenessProbe")]),
    (
        "probe-port-undeclared",
        "probe-port-undeclared-fail.yaml",
        [(14, E, "spec.containers[0].readinessProbe.httpGet.port")],
    ),
    (
        "probe-port-undeclared",
        "probe-port-undeclared-numeric.yaml",
        [(12, INFO, "spec.containers[0].readinessProbe.httpGet.port")],
    ),
    (
        "probe-timeout-exceeds-period",
        "probe-timeout-exceeds-period-fail.yaml",
        [(16, W, "spec.containers[0].readinessProbe.timeoutSeconds")],
    ),
    (
        "liveness-before-ready",
        "liveness-before-ready-fail.yaml",
        [(17, E, "spec.containers[0].livenessProbe")],
    ),
    (
        "liveness-kills-before-unready",
        "liveness-kills-before-unready-fail.yaml",
        [(17, E, "spec.containers[0].livenessProbe")],
    ),
    ("startup-window", "startup-window-fail.yaml", [(18, E, "spec.containers[0].livenessProbe")]),
    (
        "probe-http-host",
        "probe-http-host-fail.yaml",
        [(14, W, "spec.containers[0].readinessProbe.httpGet.host")],
    ),
    (
        "exec-probe-tool-missing",
        "exec-probe-tool-missing-fail.yaml",
        [
            (13, E, "spec.containers[0].readinessProbe.exec.command"),
            (21, E, "spec.containers[1].lifecycle.preStop.exec.command"),
        ],
    ),
    (
        "prestop-exceeds-grace",
        "prestop-exceeds-grace-fail.yaml",
        [
            (15, E, "spec.containers[0].lifecycle.preStop.exec.command"),
            (22, E, "spec.containers[1].lifecycle.preStop.sleep.seconds"),
        ],
    ),
    (
        "memory-limit-missing",
        "memory-limit-missing-fail.yaml",
        [(9, W, "spec.containers[0].resources")],
    ),
    (
        "jvm-heap-near-limit",
        "jvm-heap-near-limit-fail.yaml",
        [(11, W, "spec.containers[0].env[0].value"), (16, E, "spec.containers[1].command[1]")],
    ),
    ("api-removed", "api-removed-fail.yaml", [(1, E, "apiVersion"), (19, E, "apiVersion")]),
    (
        "probe-identical",
        "probe-identical-timings-fail.yaml",
        [(15, W, "spec.containers[0].livenessProbe")],
    ),
    (
        "probe-port-other-container",
        "probe-port-other-container-fail.yaml",
        [(14, W, "spec.containers[0].livenessProbe.httpGet.port")],
    ),
    (
        "startup-shorter-than-liveness",
        "startup-shorter-than-liveness-fail.yaml",
        [(13, W, "spec.containers[0].startupProbe")],
    ),
    (
        "liveness-delay-long",
        "liveness-delay-long-fail.yaml",
        [(15, W, "spec.containers[0].livenessProbe.initialDelaySeconds")],
    ),
    (
        "exec-probe-never-fails",
        "exec-probe-never-fails-fail.yaml",
        [
            (line, W, f"spec.containers[{i}].livenessProbe.exec.command")
            for i, line in enumerate((12, 18, 24, 30, 36))
        ],
    ),
    (
        "exec-probe-client-timeout",
        "exec-probe-client-timeout-fail.yaml",
        [
            (13, W, "spec.containers[0].readinessProbe.timeoutSeconds"),
            (23, W, "spec.containers[1].livenessProbe.timeoutSeconds"),
        ],
    ),
    (
        "requests-missing",
        "requests-missing-fail.yaml",
        [(7, W, "spec.containers[0].resources"), (11, INFO, "spec.containers[1].resources")],
    ),
    ("cronjob-deadline-missing", "cronjob-deadline-missing-fail.yaml", [(5, INFO, "spec")]),
    ("job-ttl-missing", "job-ttl-missing-fail.yaml", [(5, INFO, "spec")]),
    ("job-backoff-default", "job-backoff-default-fail.yaml", [(5, INFO, "spec")]),
    (
        "jvm-heap-near-limit",
        "jvm-heap-env-fail.yaml",
        [(10, E, "spec.containers[0].env[0].value"), (17, W, "spec.containers[1].env[1].value")],
    ),
    (
        "sidecar-probe-misplaced",
        "sidecar-probe-misplaced-fail.yaml",
        [(11, E, "spec.initContainers[0].readinessProbe")],
    ),
]

# rule, passing file: no finding of the rule above info (info is the rule's report, not a fault).
PASSING = [
    ("k8s-invalid", "good.yaml"),
    ("readiness-missing", "readiness-missing-pass.yaml"),
    ("readiness-missing", "readiness-missing-service-pass.yaml"),
    ("liveness-missing", "good.yaml"),
    ("probe-identical", "probe-identical-pass.yaml"),
    ("probe-port-undeclared", "good.yaml"),
    ("probe-timeout-exceeds-period", "good.yaml"),
    ("liveness-before-ready", "liveness-before-ready-pass.yaml"),
    ("liveness-kills-before-unready", "good.yaml"),
    ("startup-window", "startup-window-pass.yaml"),
    ("probe-http-host", "probe-http-host-pass.yaml"),
    ("exec-probe-tool-missing", "exec-probe-tool-missing-pass.yaml"),
    ("prestop-exceeds-grace", "prestop-exceeds-grace-pass.yaml"),
    ("memory-limit-missing", "good.yaml"),
    ("jvm-heap-near-limit", "jvm-heap-near-limit-pass.yaml"),
    ("sidecar-probe-misplaced", "sidecar-probe-misplaced-pass.yaml"),
    ("api-removed", "api-removed-pass.yaml"),
    ("probe-port-other-container", "probe-port-other-container-pass.yaml"),
    ("startup-shorter-than-liveness", "startup-shorter-than-liveness-pass.yaml"),
    ("liveness-delay-long", "liveness-delay-long-pass.yaml"),
    ("exec-probe-never-fails", "exec-probe-never-fails-pass.yaml"),
    ("exec-probe-client-timeout", "exec-probe-client-timeout-pass.yaml"),
    ("requests-missing", "requests-missing-pass.yaml"),
    ("cronjob-deadline-missing", "cronjob-deadline-missing-pass.yaml"),
    ("job-ttl-missing", "job-ttl-missing-pass.yaml"),
    ("job-backoff-default", "job-backoff-default-pass.yaml"),
]

# Rules whose every report is info by design: the passing file may still carry it.
_INFO_BY_DESIGN = {"startup-window"}


@pytest.mark.parametrize(("rule", "name", "expected"), FAILING)
def test_failing_manifest_triggers_rule(
    rule: str, name: str, expected: list[tuple[int, Severity, str]]
) -> None:
    assert of(lint_file(name), rule) == expected


@pytest.mark.parametrize(("rule", "name"), PASSING)
def test_passing_manifest_does_not(rule: str, name: str) -> None:
    found = of(lint_file(name), rule)
    if rule in _INFO_BY_DESIGN:
        assert all(sev is INFO for _, sev, _ in found)
    else:
        assert found == []


def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    ids = {r.id for r in RULES}
    assert {r for r, _, _ in FAILING} == ids
    assert {r for r, _ in PASSING} == ids


def test_good_manifest_only_reports_the_startup_window() -> None:
    assert [(f.rule, f.severity) for f in lint_file("good.yaml")] == [("startup-window", INFO)]


def test_messages_carry_the_numbers() -> None:
    (f,) = [
        f for f in lint_file("liveness-before-ready-fail.yaml") if f.rule == "liveness-before-ready"
    ]
    assert "30-40s after start" in f.message
    assert "initialDelaySeconds 10 + failureThreshold 3 × periodSeconds 10" in f.message
    assert "cannot succeed before 60s" in f.message
    assert "initialDelaySeconds to at least 40" in f.fix
    (f,) = [
        f
        for f in lint_file("liveness-kills-before-unready-fail.yaml")
        if f.rule == "liveness-kills-before-unready"
    ]
    # liveness 2 × 5 + 1 at the latest = 11s; readiness (3-1) × 10 + 1 at the earliest = 21s.
    assert "kills it 6-11s later" in f.message
    assert "unready only 21-31s later" in f.message
    (f, g) = [
        f for f in lint_file("jvm-heap-near-limit-fail.yaml") if f.rule == "jvm-heap-near-limit"
    ]
    assert "-Xmx900Mi" in f.message and "leaves 124Mi (12%) of the 1Gi" in f.message
    assert "-Xmx768m" in f.fix and "1200Mi" in f.fix
    assert "MaxRAMPercentage=95 of the 2Gi limit" in g.message


def test_startup_window_levels() -> None:
    # good.yaml: liveness 0 + 6 × 10 = 60s at most, 50s guaranteed.
    def level(expected: float) -> Severity:
        (f,) = of(lint_file("good.yaml", expected), "startup-window")
        return f[1]

    assert level(50) is INFO
    assert level(55) is W
    assert level(60) is E
    # The annotation (2m) wins over --expect-startup.
    (f,) = of(lint_file("startup-window-fail.yaml", 1), "startup-window")
    assert f[1] is E


def test_exec_tool_message_names_the_tools() -> None:
    found = [
        f
        for f in lint_file("exec-probe-tool-missing-fail.yaml")
        if f.rule == "exec-probe-tool-missing"
    ]
    assert "runs curl, sh" in found[0].message
    assert "runs wget" in found[1].message


def test_finding_fields() -> None:
    (f,) = [f for f in lint_file("readiness-missing-fail.yaml") if f.rule == "readiness-missing"]
    assert (f.kind, f.name, f.namespace, f.container) == ("Deployment", "web", "default", "app")
    assert f.file.endswith("readiness-missing-fail.yaml")
    assert f.why and f.fix

"""Findings as text (for people), JSON (for scripts) and SARIF 2.1.0 (for code scanning)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from podkeeper import __version__
from podkeeper.lint.config import Config
from podkeeper.lint.finding import Finding, Rule, Severity
from podkeeper.lint.rules import RULES
from podkeeper.lint.source import STDIN_NAME

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/podkeeper/"
_WIDTH = 100


def _object(f: Finding) -> str:
    """`Kind/name container c: ` before a message; nothing for an input error."""
    if not f.kind:
        return ""
    text = f"{f.kind}/{f.name}"
    if f.container:
        text += f" container {f.container}"
    return text + ": "


@dataclass(frozen=True)
class Summary:
    """What was read: files and objects linted, objects skipped by reason."""

    files: int
    objects: int
    skipped: dict[str, int]

    def line(self) -> str:
        text = f"{self.files} file(s) linted, {self.objects} object(s) linted"
        total = sum(self.skipped.values())
        if total:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            text += f", {total} skipped ({reasons})"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"files": self.files, "objects": self.objects, "skipped": dict(self.skipped)}


def text(findings: Sequence[Finding], summary: Summary | None = None) -> str:
    """`FILE:LINE: severity rule-id: message`, then why and fix indented; files apart.

    A rule's why is said once; its fix again only when it differs from the
    last one shown for that rule (the same advice per container is noise).
    """
    lines: list[str] = []
    last_file: str | None = None
    said_why: set[str] = set()
    last_fix: dict[str, str] = {}
    for f in findings:
        if last_file is not None and f.file != last_file:
            lines.append("")
        last_file = f.file
        lines.append(f"{f.file}:{f.line}: {f.severity.value} {f.rule}: {_object(f)}{f.message}")
        parts = []
        if f.rule not in said_why:
            parts.append(("why", f.why))
            said_why.add(f.rule)
        if last_fix.get(f.rule) != f.fix:
            parts.append(("fix", f.fix))
            last_fix[f.rule] = f.fix
        for label, body in parts:
            lines.extend(
                textwrap.wrap(
                    f"{label}: {body}",
                    width=_WIDTH,
                    initial_indent="    ",
                    subsequent_indent="         ",
                    break_on_hyphens=False,
                )
            )
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    files = len({f.file for f in findings})
    if findings:
        lines.append("")
    if summary is not None:
        lines.append(summary.line())
    lines.append(
        f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
        f"{counts[Severity.INFO]} info in {files} file(s)"
    )
    return "\n".join(lines) + "\n"


def as_json(findings: Sequence[Finding]) -> str:
    """A JSON list of finding objects (`Finding.as_json`)."""
    return json.dumps([f.as_json() for f in findings], indent=2) + "\n"


def artifact_uri(file: str) -> str:
    """A SARIF `artifactLocation.uri`: relative paths stay relative (code scanning wants
    them relative to the repository root), absolute ones become `file://` URIs."""
    if file == STDIN_NAME:
        return "stdin"
    path = PurePosixPath(file.replace("\\", "/"))
    if path.is_absolute():
        return "file://" + quote(str(path))
    return quote(str(path).removeprefix("./"))


def _rule(rule: Rule, config: Config) -> dict[str, Any]:
    # The run's configuration is what this run used: re-levelled rules show their
    # configured level, rules turned off are `enabled: false`.
    configuration: dict[str, Any] = {"level": rule.severity.sarif_level}
    if rule.id in config.levels:
        level = config.levels[rule.id]
        if level is None:
            configuration["enabled"] = False
        else:
            configuration["level"] = level.sarif_level
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.help},
        "help": {
            "text": rule.help,
            "markdown": f"**{rule.title}**\n\n{rule.help}",
        },
        "defaultConfiguration": configuration,
        # Read by GitHub code scanning: how sure the rule is, and how it ranks the alert.
        "properties": {
            "tags": ["kubernetes", "reliability"],
            "precision": "medium" if rule.id in _HEURISTIC else "high",
            "problem.severity": _PROBLEM_SEVERITY[rule.severity],
        },
    }


_PROBLEM_SEVERITY = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "recommendation",
}
# Rules that read intent from text (commands, flags, partial objects) rather than from
# the kubelet's arithmetic: right most of the time, not always.
_HEURISTIC = frozenset(
    {
        "exec-probe-never-fails",
        "exec-probe-client-timeout",
        "exec-probe-tool-missing",
        "jvm-heap-near-limit",
        "prestop-exceeds-grace",
        "requests-missing",
        "liveness-missing",
    }
)


def _logical(f: Finding) -> dict[str, Any]:
    if not f.path:
        return {}
    return {
        "logicalLocations": [
            {
                "name": f.path,
                "fullyQualifiedName": f"{f.namespace}/{f.kind}/{f.name}:{f.path}",
                "kind": "member",
            }
        ]
    }


def sarif(findings: Sequence[Finding], config: Config, summary: Summary | None = None) -> str:
    """A SARIF 2.1.0 log with one run: every rule as metadata, every finding as a result."""
    index = {r.id: i for i, r in enumerate(RULES)}
    results = []
    for f in findings:
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": f.severity.sarif_level,
                "message": {"text": f"{_object(f)}{f.message}\n\nWhy: {f.why}\n\nFix: {f.fix}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact_uri(f.file)},
                            "region": {"startLine": f.line},
                        },
                        **_logical(f),
                    }
                ],
                "properties": {
                    "kind": f.kind,
                    "name": f.name,
                    "namespace": f.namespace,
                    "container": f.container,
                    "path": f.path,
                },
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "podkeeper",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(r, config) for r in RULES],
                    }
                },
                "results": results,
                **({"properties": summary.as_json()} if summary is not None else {}),
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"

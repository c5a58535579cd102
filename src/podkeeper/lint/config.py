"""Lint configuration: the YAML config file, annotations, and duration strings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from podkeeper.lint.finding import Severity
from podkeeper.lint.rules import BY_ID

#: Per-object annotation: comma-separated rule ids to skip for that object.
IGNORE_ANNOTATION = "podkeeper.io/lint-ignore"
#: Per-object annotation: how long the application takes to start (`90s`, `2m`).
EXPECTED_STARTUP_ANNOTATION = "podkeeper.io/expected-startup"

_OFF = "off"
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class ConfigError(Exception):
    """A config file or option lint cannot use; `str()` names the file and what is wrong."""


@dataclass(frozen=True)
class Config:
    """Per-rule level overrides: a Severity, or None for `off`."""

    levels: dict[str, Severity | None] = field(default_factory=dict)

    def level(self, rule: str, found: Severity) -> Severity | None:
        """The severity to report `found` at, or None when the rule is off."""
        if rule in self.levels:
            return self.levels[rule]
        return found


def parse_config(data: Any, source: str) -> Config:
    """A Config from the parsed YAML `{rules: {rule-id: off|error|warning|info}}`."""
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a `rules` key")
    unknown_keys = sorted(str(k) for k in data if k != "rules")
    if unknown_keys:
        raise ConfigError(f"{source}: unknown key {unknown_keys[0]!r} (only `rules` is read)")
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise ConfigError(f"{source}: `rules` must map rule ids to off|error|warning|info")
    levels: dict[str, Severity | None] = {}
    words = {s.value: s for s in Severity}
    for rule, raw in rules.items():
        if rule not in BY_ID:
            raise ConfigError(
                f"{source}: unknown rule {rule!r} (known: {', '.join(sorted(BY_ID))})"
            )
        # YAML 1.1 reads a bare `off` as false; accept it as the user meant it.
        word = _OFF if raw is False else str(raw).lower()
        if word == _OFF:
            levels[str(rule)] = None
        elif word in words:
            levels[str(rule)] = words[word]
        else:
            raise ConfigError(
                f"{source}: rule {rule!r}: {raw!r} is not one of off, error, warning, info"
            )
    return Config(levels)


def load_config(path: str) -> Config:
    """Read a config file; raises ConfigError naming the file (and line for YAML errors)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(f"{where}: {getattr(err, 'problem', None) or err}") from None
    return parse_config(data, path)


def parse_duration(text: str) -> float:
    """Seconds in a duration: Go syntax (`90s`, `1m30s`, `1.5h`, `500ms`) or a bare number.

    Raises ValueError.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if value < 0:
            raise ValueError(f"negative duration {text!r}")
        return value
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART_RE.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (use e.g. 90s, 2m, 1m30s)")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return total


def ignored_rules(annotations: dict[str, Any]) -> frozenset[str]:
    """Rule ids listed in the lint-ignore annotation (unknown ids are harmless)."""
    raw = annotations.get(IGNORE_ANNOTATION)
    if not isinstance(raw, str):
        return frozenset()
    return frozenset(part.strip() for part in raw.split(",") if part.strip())

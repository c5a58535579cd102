"""Label and field selectors as the API server parses and matches them.

Label selectors: apimachinery `pkg/labels/selector.go` (`=`, `==`, `!=`,
`in (...)`, `notin (...)`, `key`, `!key`). Field selectors:
`pkg/fields/selector.go` (`=`, `==`, `!=` on the fields each kind
registers, e.g. `pkg/registry/core/pod/strategy.go` `ToSelectableFields`).
Pure functions; errors are `SelectorError` with the API server's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


class SelectorError(ValueError):
    """An unparsable or unsupported selector (answered 400 BadRequest)."""


@dataclass(frozen=True)
class Requirement:
    """One label requirement: `op` is `=`, `!=`, `in`, `notin`, `exists` or `!`."""

    key: str
    op: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and value in self.values
        # `!=` and `notin` match objects without the label too (selector.go Matches).
        return not has or value not in self.values


_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_KEY_RE = re.compile(rf"^{_KEY}$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        # apimachinery validateLabelValue.
        raise SelectorError(
            f"unable to parse requirement: values[0]: Invalid value: {value!r}: a valid label"
            " must be an empty string or consist of alphanumeric characters, '-', '_' or '.',"
            " and must start and end with an alphanumeric character"
        )
    return value


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_labels(text: str) -> list[Requirement]:
    """`app=web,tier in (a,b),!canary` → requirements (all must match)."""
    reqs: list[Requirement] = []
    for term in _split_top(text):
        m = _SET_RE.match(term)
        if m:
            values = frozenset(_check_value(v.strip()) for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
            continue
        for op in ("!=", "==", "="):
            if op in term:
                key, value = (s.strip() for s in term.split(op, 1))
                if not _KEY_RE.match(key):
                    raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
                _check_value(value)
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", frozenset({value})))
                break
        else:
            negate = term.startswith("!")
            key = term[1:].strip() if negate else term
            if not _KEY_RE.match(key):
                raise SelectorError(f"unable to parse requirement: found '{term}', expected: key")
            reqs.append(Requirement(key, "!" if negate else "exists", frozenset()))
    return reqs


def labels_match(reqs: list[Requirement], obj: Obj) -> bool:
    """True when the object's labels satisfy every requirement."""
    if not reqs:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


def selector_from_match(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """A `LabelSelector` object (`matchLabels`, `matchExpressions`) as requirements."""
    if not selector:
        return []
    reqs = [
        Requirement(str(k), "=", frozenset({str(v)}))
        for k, v in (selector.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(str(expr.get("operator")))
        if op is not None:
            reqs.append(Requirement(str(expr.get("key")), op, frozenset(expr.get("values") or ())))
    return reqs


def format_selector(selector: Mapping[str, Any] | None) -> str:
    """`app=web,tier in (a,b)`: a LabelSelector as kubectl prints it (FormatLabelSelector)."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = str(expr.get("operator"))
        key = expr.get("key")
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "<none>"


# -- field selectors ------------------------------------------------------

FieldGetter = Callable[[Obj], str]


def _path(dotted: str) -> FieldGetter:
    parts = dotted.split(".")

    def get(obj: Obj) -> str:
        value: Any = obj
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


def fields(*names: str, extra: Mapping[str, FieldGetter] | None = None) -> dict[str, FieldGetter]:
    """The selectable fields: `metadata.name`, `metadata.namespace` and `names` (dotted paths)."""
    out = {n: _path(n) for n in ("metadata.name", "metadata.namespace", *names)}
    out.update(extra or {})
    return out


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str
    equal: bool


def parse_fields(text: str, known: Mapping[str, FieldGetter], kind: str) -> list[FieldTerm]:
    """`a=b,c!=d` → terms; an unknown field is refused as the API server refuses it."""
    terms = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            equal = False
        elif "==" in term:
            key, value = term.split("==", 1)
            equal = True
        elif "=" in term:
            key, value = term.split("=", 1)
            equal = True
        else:
            raise SelectorError(f"invalid selector: '{term}'; can't understand '{term}'")
        key = key.strip()
        if key not in known:
            # apiserver: `field label not supported: spec.x` (pkg/registry/.../strategy.go).
            raise SelectorError(f"field label not supported: {key}")
        terms.append(FieldTerm(key, value.strip(), equal))
    return terms


def fields_match(terms: list[FieldTerm], known: Mapping[str, FieldGetter], obj: Obj) -> bool:
    return all((known[t.field](obj) == t.value) == t.equal for t in terms)

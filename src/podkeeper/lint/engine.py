"""Running the rules over loaded documents: defaults, Services, annotations, config, lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from podkeeper.lint import rules
from podkeeper.lint.config import (
    EXPECTED_STARTUP_ANNOTATION,
    Config,
    ignored_rules,
    parse_duration,
)
from podkeeper.lint.finding import Finding, Hit, RawTarget, Rule, Severity, Target
from podkeeper.lint.source import Item, Loaded, from_documents
from podkeeper.manifest import (
    Document,
    ManifestError,
    default_object,
    pod_from_object,
    pod_template,
    validate_object,
)

_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _map(obj: object, name: str) -> dict[str, Any]:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class _Selector:
    namespace: str
    labels: dict[str, Any]
    target_ports: frozenset[int | str]


def _services(items: Iterable[Item]) -> list[_Selector]:
    """The pod selectors of the Services in the input (an empty selector selects nothing)."""
    found = []
    for item in items:
        if item.kind != "Service":
            continue
        spec = _map(item.obj, "spec")
        selector = spec.get("selector")
        if isinstance(selector, dict) and selector:
            found.append(_Selector(item.doc.namespace, selector, _target_ports(spec)))
    return found


def _target_ports(spec: dict[str, Any]) -> frozenset[int | str]:
    """The container ports a Service sends to: each port's targetPort (default: its port)."""
    out: set[int | str] = set()
    ports = spec.get("ports")
    for p in ports if isinstance(ports, list) else []:
        if isinstance(p, dict):
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, int | str) and not isinstance(target, bool):
                out.add(target)
    return frozenset(out)


def _selected(
    namespace: str, labels: dict[str, Any], services: Sequence[_Selector]
) -> frozenset[int | str] | None:
    """The target ports of the Services selecting these pod labels; None when none does.

    A Service selects pods of its own namespace whose labels include its selector.
    """
    found: set[int | str] | None = None
    for s in services:
        if s.namespace == namespace and all(labels.get(k) == v for k, v in s.labels.items()):
            found = (found or set()) | s.target_ports
    return None if found is None else frozenset(found)


def _annotations(obj: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """The object's annotations over its pod template's.

    Users annotate the workload, but helm charts often put annotations on the
    pod template, so both count; the object's own win.
    """
    merged: dict[str, Any] = {}
    for source in (template, obj):
        annotations = _map(source, "metadata").get("annotations")
        if isinstance(annotations, dict):
            merged.update(annotations)
    return merged


def _pod_object(kind: str, name: str, namespace: str, template: dict[str, Any]) -> dict[str, Any]:
    """A Pod dict built from a workload's (defaulted) template, named after the workload."""
    meta = dict(_map(template, "metadata"))
    meta["name"] = name
    meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": _map(template, "spec")}


@dataclass
class _Emitter:
    """Turns a document's Hits into Findings: ignore list, config level, line."""

    doc: Document
    kind: str
    config: Config
    ignored: frozenset[str]
    out: list[Finding]

    def emit(self, rule: Rule, hits: Iterable[Hit]) -> None:
        if rule.id in self.ignored:
            return
        for hit in hits:
            severity = self.config.level(rule.id, hit.severity or rule.severity)
            if severity is None:
                continue
            self.out.append(
                Finding(
                    rule=rule.id,
                    severity=severity,
                    message=hit.message,
                    why=hit.why,
                    fix=hit.fix,
                    kind=self.kind,
                    name=self.doc.name,
                    namespace=self.doc.namespace,
                    container=hit.container,
                    path=hit.path,
                    file=self.doc.file,
                    line=self.doc.line_of(hit.path) if hit.path else self.doc.line,
                )
            )


def _invalid_hits(obj: dict[str, Any]) -> list[Hit]:
    return [
        Hit(
            path=err.path,
            message=str(err),
            why=(
                "The API server validates every object before storing it "
                "(pkg/apis/core/validation); this one would be refused with this message, so "
                "`kubectl apply` fails and nothing of the change is rolled out."
            ),
            fix=f"Correct `{err.path}` as the message says ({err.type}).",
        )
        for err in validate_object(obj)
    ]


def lint_documents(
    loaded: Loaded | Sequence[Document], config: Config, expected_startup: float | None = None
) -> list[Finding]:
    """Every finding in the input, sorted by file (input order), line, severity, rule.

    Input errors (`loaded.errors`) are `k8s-invalid` findings of their file.
    `expected_startup` (seconds, from `--expect-startup`) applies to objects
    without their own `podkeeper.io/expected-startup` annotation.
    """
    if not isinstance(loaded, Loaded):
        loaded = from_documents(loaded)
    services = _services(loaded.items)
    findings: list[Finding] = []
    severity = config.level(rules.K8S_INVALID, Severity.ERROR)
    if severity is not None:
        findings.extend(_input_error(err, severity) for err in loaded.errors)
    for item in loaded.items:
        _lint_item(item, services, config, expected_startup, findings)
    # Files in the order given (text output groups by file), then by line.
    order = {f: i for i, f in enumerate(loaded.files)}
    findings.sort(
        key=lambda f: (order.get(f.file, len(order)), f.line, _SEVERITY_ORDER[f.severity], f.rule)
    )
    return findings


def _input_error(err: ManifestError, severity: Severity) -> Finding:
    """A loader error as a `k8s-invalid` finding of its file (input errors are always errors)."""
    message = str(err)
    for prefix in (f"{err.file}:{err.line}:", f"{err.file}:", f"{err.file} "):
        if err.file and message.startswith(prefix):
            message = message[len(prefix) :].lstrip(" 0123456789:")
            break
    if err.code == "duplicate-key":
        message += (
            "; kubectl refuses the file, and readers that accept it keep only the later value, "
            "silently dropping the earlier one"
        )
    return Finding(
        rule=rules.K8S_INVALID,
        severity=severity,
        message=message,
        why=(
            "kubectl and the API server cannot read this input as written, so applying it "
            "fails (or, for a duplicated key, one of the two values is silently lost)."
        ),
        fix="Correct the input at this line as the message says.",
        kind="",
        name="",
        namespace="",
        container=None,
        path="",
        file=err.file or "<input>",
        line=max(err.line, 1),
    )


def _lint_item(
    item: Item,
    services: Sequence[_Selector],
    config: Config,
    expected_startup: float | None,
    findings: list[Finding],
) -> None:
    doc = item.doc
    obj = default_object(item.obj)
    found = pod_template(obj)
    prefix, template = found if found is not None else ("", {})
    ignored = ignored_rules(_annotations(obj, template))
    emitter = _Emitter(doc, item.kind, config, ignored, findings)
    if item.removed is not None:
        emitter.emit(rules.BY_ID[rules.API_REMOVED], [_removed_hit(item)])
    emitter.emit(rules.BY_ID[rules.K8S_INVALID], _invalid_hits(obj))
    if found is None:
        return
    raw = RawTarget(item.kind, doc.name, doc.namespace, obj, template, prefix)
    expected = expected_startup
    annotation = _annotations(obj, template).get(EXPECTED_STARTUP_ANNOTATION)
    if annotation is not None:
        try:
            expected = parse_duration(str(annotation))
        except ValueError as err:
            emitter.emit(rules.BY_ID["startup-window"], [_bad_annotation(str(err))])
    pod = pod_from_object(_pod_object(item.kind, doc.name, doc.namespace, template))
    labels = _map(template, "metadata").get("labels")
    target = Target(
        kind=raw.kind,
        name=raw.name,
        namespace=raw.namespace,
        obj=obj,
        template=template,
        pod_path=prefix,
        pod=pod,
        service_ports=_selected(
            doc.namespace, labels if isinstance(labels, dict) else {}, services
        ),
        expected_startup=expected,
    )
    for rule in rules.RULES:
        if rule.raw_check is not None:
            emitter.emit(rule, rule.raw_check(raw))
        elif rule.check is not None:
            emitter.emit(rule, rule.check(target))


def _removed_hit(item: Item) -> Hit:
    r = item.removed
    assert r is not None
    return Hit(
        path="apiVersion",
        message=(
            f"{item.kind} in {r.api_version} is no longer served since Kubernetes "
            f"{r.removed_in}: use {r.replacement}"
        ),
        why=(
            f"The API server stopped serving {r.api_version} {item.kind} in {r.removed_in}, so "
            f'`kubectl apply` fails with `no matches for kind "{item.kind}" in version '
            f'"{r.api_version}"`. Its pod template was linted as {r.replacement} anyway.'
        ),
        fix=(
            f"Change apiVersion to {r.replacement}"
            + (
                " and make sure spec.selector is set (it is required there)"
                if r.replacement == "apps/v1"
                else ""
            )
            + "; `kubectl convert` does it for you."
        ),
    )


def _bad_annotation(detail: str) -> Hit:
    return Hit(
        path=f"metadata.annotations[{EXPECTED_STARTUP_ANNOTATION}]",
        severity=Severity.WARNING,
        message=f"annotation {EXPECTED_STARTUP_ANNOTATION}: {detail}",
        why="The expected startup cannot be checked against the probes' window.",
        fix=f'Write a duration such as "90s" or "2m" in {EXPECTED_STARTUP_ANNOTATION}.',
    )


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is error-level (lint then exits 1)."""
    return any(f.severity is Severity.ERROR for f in findings)

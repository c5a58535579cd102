"""What a lint rule reports, and the shapes rules are written against."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from podkeeper.core.spec import Container, Pod


class Severity(Enum):
    """Finding levels, most severe first; `.value` is the word users write in config."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def sarif_level(self) -> str:
        """SARIF 2.1.0 `level` (§3.27.10): info is `note`."""
        return "note" if self is Severity.INFO else self.value


@dataclass(frozen=True)
class Hit:
    """What a rule function yields: the engine adds object, file, line and final severity.

    `severity` None means the rule's default; rules set it when one rule has
    two strengths (a named port not declared is an error, a number only info).
    """

    path: str
    message: str
    why: str
    fix: str
    container: str | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class Finding:
    """One problem found in one object, located by field path and by file line."""

    rule: str
    severity: Severity
    message: str
    why: str
    fix: str
    kind: str
    name: str
    namespace: str
    container: str | None
    path: str
    file: str
    line: int

    def as_json(self) -> dict[str, Any]:
        """The `-o json` shape: plain fields, severity as its word."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "why": self.why,
            "fix": self.fix,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "container": self.container,
            "path": self.path,
            "file": self.file,
            "line": self.line,
        }


@dataclass(frozen=True)
class RawTarget:
    """One object with a pod template, raw: for rules about what the API server rejects.

    Such objects may not convert to `core.spec` types, so these rules read
    the dicts. `pod_path` is the field path of the pod template
    (`spec.template` for a Deployment, `` for a Pod).
    """

    kind: str
    name: str
    namespace: str
    obj: dict[str, Any]
    template: dict[str, Any]
    pod_path: str

    def spec_path(self, rest: str) -> str:
        """`spec.template.spec.<rest>` (or `spec.<rest>` for a Pod)."""
        return f"{self.pod_path}.spec.{rest}" if self.pod_path else f"spec.{rest}"


@dataclass(frozen=True)
class Target(RawTarget):
    """A RawTarget that converted to a `core.spec.Pod` (defaults applied) plus what lint knows.

    `service_ports`: the target ports (numbers or names) of the Services in the same
    input that select its pods, None when none does;
    `expected_startup`: seconds, from the annotation or `--expect-startup`.
    """

    pod: Pod
    service_ports: frozenset[int | str] | None
    expected_startup: float | None

    @property
    def selected_by_service(self) -> bool:
        """A Service in the same input selects the pods."""
        return self.service_ports is not None

    def containers(self) -> Iterator[tuple[str, Container]]:
        """(field path, container) for every regular container."""
        for i, c in enumerate(self.pod.spec.containers):
            yield self.spec_path(f"containers[{i}]"), c

    def init_containers(self) -> Iterator[tuple[str, Container]]:
        """(field path, container) for every init container, sidecars included."""
        for i, c in enumerate(self.pod.spec.init_containers):
            yield self.spec_path(f"initContainers[{i}]"), c

    def probed_containers(self) -> Iterator[tuple[str, Container]]:
        """Containers whose probes the kubelet runs: regular ones and sidecars (§1.1 AddPod)."""
        yield from self.containers()
        for path, c in self.init_containers():
            if c.is_sidecar:
                yield path, c

    @property
    def long_running(self) -> bool:
        """Jobs and CronJobs run to completion; readiness and liveness matter less there."""
        return self.kind not in ("Job", "CronJob")


Check = Callable[[Target], Iterable[Hit]]
RawCheck = Callable[[RawTarget], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: id, default level, and the texts SARIF shows as rule metadata.

    Exactly one of `check` (on converted pods) and `raw_check` (on the raw
    template) is set, except for `k8s-invalid`, which the engine runs itself.
    """

    id: str
    severity: Severity
    title: str
    help: str
    check: Check | None = None
    raw_check: RawCheck | None = None

"""Node-pressure eviction: the kubelet's eviction manager's decisions as pure functions.

`pkg/kubelet/eviction/eviction_manager.go` `synchronize`, every monitoring period:
observe the signals (`memory.available`, `nodefs.available`), compare them with the
hard thresholds (defaults `memory.available<100Mi`, `nodefs.available<10%`,
`pkg/kubelet/apis/config/v1beta1/defaults_linux.go`), set the node conditions
(MemoryPressure, DiskPressure), and when a threshold is met rank the active pods for
that resource and evict at most one pod per period (`evictPod`), with a grace period
of 0 for a hard threshold (which the runtime raises to its 2 s minimum).

Ranking (`pkg/kubelet/eviction/helpers.go`): memory `rankMemoryPressure` orders by
whether usage exceeds requests, then priority, then usage above requests; disk
`rankDiskPressureFunc` the same with ephemeral-storage usage. A Guaranteed pod whose
usage is within its requests therefore goes last, BestEffort (requests 0) first.

Messages (`helpers.go` `evictionMessage`): "The node was low on resource: memory.
Threshold quantity: 100Mi, available: 95Mi. Container app was using 500Mi, request
is 0, has larger consumption of memory. " with the pod's status reason `Evicted`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
REASON = "Evicted"
#: The node condition and its event reasons per resource (`nodeConditionsFor...`).
CONDITIONS = {MEMORY: "MemoryPressure", EPHEMERAL_STORAGE: "DiskPressure"}
SIGNALS = {MEMORY: "memory.available", EPHEMERAL_STORAGE: "nodefs.available"}


@dataclass(frozen=True)
class Threshold:
    """`memory.available<100Mi` (bytes) or `nodefs.available<10%` (a fraction of capacity)."""

    resource: str
    quantity: int | None = None
    percentage: float | None = None

    def limit(self, capacity: int) -> int:
        if self.percentage is not None:
            return int(capacity * self.percentage)
        return self.quantity or 0

    def text(self) -> str:
        if self.percentage is not None:
            return f"{self.percentage * 100:g}%"
        return quantity_text(self.quantity or 0)


DEFAULT_THRESHOLDS = (
    Threshold(MEMORY, quantity=100 * 1024 * 1024),
    Threshold(EPHEMERAL_STORAGE, percentage=0.10),
)

_SPEC = re.compile(r"^(memory\.available|nodefs\.available)<(\d+)(Ki|Mi|Gi|Ti|k|M|G|T|%)?$")
_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
}


def parse_thresholds(text: str) -> tuple[Threshold, ...]:
    """`--eviction-hard` syntax: `memory.available<100Mi,nodefs.available<10%`.

    Raises ValueError naming the bad entry."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = _SPEC.match(part)
        if m is None:
            raise ValueError(f"invalid eviction threshold {part!r}")
        signal, number, unit = m.group(1), int(m.group(2)), m.group(3) or ""
        resource = MEMORY if signal == "memory.available" else EPHEMERAL_STORAGE
        if unit == "%":
            out.append(Threshold(resource, percentage=number / 100))
        else:
            out.append(Threshold(resource, quantity=number * _UNITS[unit]))
    return tuple(out)


def quantity_text(n: int) -> str:
    """Bytes as a Kubernetes quantity, the way resource.Quantity.String prints round values."""
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


@dataclass(frozen=True)
class NodeStats:
    """What the node has: available and capacity per resource, in bytes."""

    available: dict[str, int]
    capacity: dict[str, int]


@dataclass(frozen=True)
class ContainerUsage:
    name: str
    usage: dict[str, int] = field(default_factory=dict)  # bytes per resource
    requests: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PodUsage:
    key: str  # namespace/name, to name the pod to evict
    containers: tuple[ContainerUsage, ...]
    priority: int = 0

    def usage(self, resource: str) -> int:
        return sum(c.usage.get(resource, 0) for c in self.containers)

    def request(self, resource: str) -> int:
        return sum(c.requests.get(resource, 0) for c in self.containers)


@dataclass(frozen=True)
class Eviction:
    pod: str
    resource: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The node conditions (True when under pressure) and at most one pod to evict."""

    pressure: dict[str, bool]
    evict: Eviction | None


def thresholds_met(stats: NodeStats, thresholds: tuple[Threshold, ...]) -> list[Threshold]:
    """The thresholds whose signal is below its limit (`thresholdsMet`)."""
    met = []
    for t in thresholds:
        available = stats.available.get(t.resource)
        if available is None:
            continue
        if available < t.limit(stats.capacity.get(t.resource, 0)):
            met.append(t)
    return met


def rank(pods: list[PodUsage], resource: str) -> list[PodUsage]:
    """`rankMemoryPressure` / `rankDiskPressureFunc`: who goes first."""
    return sorted(
        pods,
        key=lambda p: (
            not p.usage(resource) > p.request(resource),  # exceeding requests first
            p.priority,  # lower priority first
            -(p.usage(resource) - p.request(resource)),  # most above requests first
        ),
    )


def eviction_message(pod: PodUsage, threshold: Threshold, available: int) -> str:
    """`evictionMessage`: the node, the threshold and each container above its request."""
    resource = threshold.resource
    message = f"The node was low on resource: {resource}. "
    message += (
        f"Threshold quantity: {threshold.text()}, available: {quantity_text(max(available, 0))}. "
    )
    for c in pod.containers:
        used, req = c.usage.get(resource, 0), c.requests.get(resource, 0)
        if used > req:
            message += (
                f"Container {c.name} was using {quantity_text(used)}, request is"
                f" {quantity_text(req)}, has larger consumption of {resource}. "
            )
    return message


def decide(stats: NodeStats, thresholds: tuple[Threshold, ...], pods: list[PodUsage]) -> Decision:
    """One `synchronize` pass: node pressure per resource and the pod to evict, if any."""
    met = thresholds_met(stats, thresholds)
    pressure = {r: any(t.resource == r for t in met) for r in CONDITIONS}
    for t in met:  # memory first, as the thresholds are ordered by the caller
        candidates = [p for p in pods if p.containers]
        if not candidates:
            continue
        victim = rank(candidates, t.resource)[0]
        available = stats.available.get(t.resource, 0)
        return Decision(
            pressure, Eviction(victim.key, t.resource, eviction_message(victim, t, available))
        )
    return Decision(pressure, None)

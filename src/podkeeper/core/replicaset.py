"""The ReplicaSet controller's pure parts: pod names, the template hash, pod ranking, availability.

From `pkg/controller/controller_utils.go` (ActivePodsWithRanks, IsPodActive,
getPodsPrefix), `pkg/api/v1/pod/util.go` (IsPodAvailable), `controller.ComputeHash`,
`k8s.io/apimachinery/pkg/util/rand` (String, SafeEncodeString) and
`k8s.io/apiserver/pkg/storage/names` (SimpleNameGenerator). Pure: random name
characters come in as integers, time as `now: float` (monotonic seconds).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# ------------------------------------------------------------------------- hash and names

#: `k8s.io/apimachinery/pkg/util/rand` alphanums: no vowels (no words), no 0/1/3 (no l33t).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
#: `names.SimpleNameGenerator`: 63 - randomLength(5).
MAX_GENERATED_NAME_LENGTH = 58
RANDOM_LENGTH = 5


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's `hash/fnv.New32a`)."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """`rand.SafeEncodeString`: each character mapped into ALPHANUMS by code point."""
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in s)


def compute_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """`controller.ComputeHash`: fnv32a over the template, then the collision count as 8
    little-endian bytes (`binary.LittleEndian.PutUint32` into an 8-byte slice), printed in
    decimal and SafeEncodeString'd.

    Kubernetes feeds the hasher with `hashutil.DeepHashObject` (spew's dump of the Go struct),
    which only Go can reproduce; podkeeper feeds it canonical JSON (sorted keys). Names keep
    their shape and stability (same template, same hash) but not a cluster's exact value."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\0\0\0\0"
    return safe_encode_string(str(fnv32a(data)))


def random_suffix(randoms: Iterable[int]) -> str:
    """`utilrand.String`: characters of ALPHANUMS picked by the given random integers."""
    return "".join(ALPHANUMS[r % len(ALPHANUMS)] for r in randoms)


def generate_name(base: str, suffix: str) -> str:
    """`SimpleNameGenerator.GenerateName`: base cut to 58 characters, plus the suffix."""
    return base[:MAX_GENERATED_NAME_LENGTH] + suffix


def pod_prefix(controller_name: str) -> str:
    """`getPodsPrefix`: `<rs>-` (generateName of the RS's pods)."""
    return f"{controller_name}-"


# ---------------------------------------------------------------------------------- pods


@dataclass(frozen=True)
class PodState:
    """One pod of a ReplicaSet as the controllers read it."""

    name: str
    phase: str = "Pending"
    ready: bool = False
    ready_since: float | None = None  # when the Ready condition last became True
    deleting: bool = False
    restarts: int = 0
    created: float = 0.0
    deletion_cost: int = 0

    @property
    def active(self) -> bool:
        """`controller.IsPodActive`: not terminal and not being deleted."""
        return not self.deleting and self.phase not in ("Succeeded", "Failed")


def is_pod_available(pod: PodState, min_ready_seconds: int, now: float) -> bool:
    """`podutil.IsPodAvailable`: Ready, and for more than minReadySeconds."""
    if not pod.ready:
        return False
    if min_ready_seconds == 0:
        return True
    return pod.ready_since is not None and pod.ready_since + min_ready_seconds < now


def available_at(pod: PodState, min_ready_seconds: int) -> float | None:
    """When a Ready pod will count as available (None: not Ready, or already)."""
    if not pod.ready or min_ready_seconds == 0 or pod.ready_since is None:
        return None
    return pod.ready_since + min_ready_seconds


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_order(pods: Iterable[PodState], now: float) -> list[PodState]:
    """`controller.ActivePodsWithRanks` Less, the RS's choice of pods to delete first:
    pending < unknown < running; not ready < ready; lower pod-deletion-cost; ready for a
    shorter time (LogarithmicScaleDown buckets by powers of two); more restarts; newer."""

    def key(p: PodState) -> tuple[int, int, int, int, int, float]:
        ready_for = 0
        if p.ready and p.ready_since is not None:
            seconds = max(0.0, now - p.ready_since)
            ready_for = int(math.log2(seconds)) + 1 if seconds >= 1 else 0
        return (
            _PHASE_RANK.get(p.phase, 2),
            1 if p.ready else 0,
            p.deletion_cost,
            ready_for,
            -p.restarts,
            -p.created,
        )

    return sorted(pods, key=key)

"""What the node has left: the eviction manager's signals, read from the host.

The kubelet computes `memory.available` as the node's capacity less the root cgroup's
working set and `nodefs.available` from the filesystem of its root directory
(`pkg/kubelet/eviction/helpers.go` `makeSignalObservations`). podkeeper is not alone on
its host, so it reads the kernel's own estimate, MemAvailable from /proc/meminfo, and
the free space of the filesystem holding the agent's home (where logs and state grow).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from podkeeper.core.envsource import Allocatable
from podkeeper.core.eviction import (
    DEFAULT_THRESHOLDS,
    EPHEMERAL_STORAGE,
    MEMORY,
    NodeStats,
    Threshold,
    parse_thresholds,
)

log = logging.getLogger(__name__)

#: `--eviction-hard`, from the agent's environment.
EVICTION_HARD_ENV = "PODKEEPER_EVICTION_HARD"


def configured_thresholds() -> tuple[Threshold, ...]:
    """The hard eviction thresholds: `PODKEEPER_EVICTION_HARD` or the kubelet's defaults."""
    raw = os.environ.get(EVICTION_HARD_ENV)
    if not raw:
        return DEFAULT_THRESHOLDS
    try:
        return parse_thresholds(raw)
    except ValueError as e:
        log.warning("%s: %s; using the defaults", EVICTION_HARD_ENV, e)
        return DEFAULT_THRESHOLDS


def read_node_stats(home: Path) -> NodeStats:
    available: dict[str, int] = {}
    capacity: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            info = {k: v for k, _, v in (line.partition(":") for line in f)}
        available[MEMORY] = int(info["MemAvailable"].split()[0]) * 1024
        capacity[MEMORY] = int(info["MemTotal"].split()[0]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        st = os.statvfs(home)
        available[EPHEMERAL_STORAGE] = st.f_bavail * st.f_frsize
        capacity[EPHEMERAL_STORAGE] = st.f_blocks * st.f_frsize
    except OSError:
        pass
    return NodeStats(available, capacity)


def node_allocatable(home: Path) -> Allocatable:
    """The node's allocatable cpu, memory and ephemeral storage, as the Node object shows
    them (api/cluster.py: capacity, nothing reserved): the default of a missing limit
    for `resourceFieldRef` (`defaultPodLimitsForDownwardAPI`)."""
    stats = read_node_stats(home)
    return Allocatable(
        (os.cpu_count() or 1) * 1000,
        stats.capacity.get(MEMORY, 0),
        stats.capacity.get(EPHEMERAL_STORAGE, 0) // 1024 * 1024,
    )

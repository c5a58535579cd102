"""`metrics.k8s.io/v1beta1` for `kubectl top pods|nodes`, from the cgroups the agent creates.

metrics-server reports, per container, CPU as the rate of `usage` over a
window and memory as the working set (usage minus inactive file pages,
`pkg/kubelet/stats`); here the same numbers come straight from each
instance's cgroup (`runtime/cgroups.py`: `<root>/<pod uid>/<instance id>`),
matched to containers by their `containerID` (`podkeeper://<instance id>`).
The node's come from `/proc/stat` and `/proc/meminfo`. A rate needs two
samples: a request uses the previous one when it is recent and saw every
running instance, else samples twice, `WINDOW` seconds apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from podkeeper.api.backend import AgentBackend, Obj
from podkeeper.runtime.cgroups import CgroupManager, InstanceCgroup, root_name_for_home

#: Seconds between the two samples of a first request.
WINDOW = 0.5
#: A previous sample older than this is not used for a rate.
MAX_AGE = 60.0


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_stat(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
    return out


def _sample(cg: InstanceCgroup) -> tuple[int, int]:
    """(cpu usage ns, memory working set bytes) of one instance cgroup."""
    cpu = cg.read_evidence().cpu_usage_ns or 0
    if "unified" in cg.dirs:
        d = cg.dirs["unified"]
        usage = _read_int(os.path.join(d, "memory.current")) or 0
        inactive = _read_stat(os.path.join(d, "memory.stat")).get("inactive_file", 0)
    else:
        d = cg.dirs.get("memory", "")
        usage = _read_int(os.path.join(d, "memory.usage_in_bytes")) or 0
        inactive = _read_stat(os.path.join(d, "memory.stat")).get("total_inactive_file", 0)
    return cpu, max(0, usage - inactive)


def _node_sample() -> tuple[int, int]:
    """(cpu busy ns summed over CPUs, memory working set bytes) of the host."""
    busy = 0
    with contextlib.suppress(OSError, ValueError):
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(f) for f in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        busy = (sum(ticks[:8]) - idle) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    mem: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                mem[name] = int(parts[0]) * 1024
    return busy, max(0, mem.get("MemTotal", 0) - mem.get("MemAvailable", 0))


def _cpu(nanocores: float) -> str:
    return f"{max(0, int(nanocores))}n"


def _memory(working_set: int) -> str:
    return f"{working_set // 1024}Ki"


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class Metrics:
    """Samples of the home's container cgroups and of the node, and the metrics objects."""

    def __init__(self, backend: AgentBackend, home: Path | None, node_name: str) -> None:
        self.backend = backend
        self.node_name = node_name
        self._cgroups = CgroupManager(root_name_for_home(str(home))) if home is not None else None
        self._prev: tuple[float, dict[str, tuple[int, int]], tuple[int, int]] | None = None
        self._last: tuple[float, dict[str, tuple[int, int]], tuple[int, int]] | None = None

    def _take(self) -> tuple[float, dict[str, tuple[int, int]], tuple[int, int]]:
        per: dict[str, tuple[int, int]] = {}
        if self._cgroups is not None:
            with contextlib.suppress(OSError):
                for cg in self._cgroups.instances():
                    per[cg.rel_path.rsplit("/", 1)[-1]] = _sample(cg)
        return time.monotonic(), per, _node_sample()

    async def refresh(self) -> None:
        """A new sample, and the rate window it closes: since the previous sample when
        that is recent and saw every current instance, else `WINDOW` seconds from now."""
        sample = self._take()
        last = self._last
        if last is None or sample[0] - last[0] > MAX_AGE or not set(sample[1]) <= set(last[1]):
            last = sample
        if sample[0] - last[0] < WINDOW:
            await asyncio.sleep(WINDOW - (sample[0] - last[0]))
            sample = self._take()
        self._prev, self._last = last, sample

    def _window(self) -> tuple[float, dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
        if self._prev is None or self._last is None:
            return 1.0, {}, {}
        return max(1e-3, self._last[0] - self._prev[0]), self._prev[1], self._last[1]

    def pods(self, namespace: str | None) -> list[Obj]:
        seconds, before, after = self._window()
        out = []
        for pod in self.backend.list_objects("Pod", namespace):
            meta = pod.get("metadata") or {}
            containers = []
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                iid = str(cs.get("containerID") or "").rpartition("://")[2]
                if "running" not in (cs.get("state") or {}) or iid not in after:
                    continue
                cpu_now, mem = after[iid]
                cpu_then = before.get(iid, (cpu_now, 0))[0]
                containers.append(
                    {
                        "name": cs.get("name"),
                        "usage": {
                            "cpu": _cpu((cpu_now - cpu_then) / seconds),
                            "memory": _memory(mem),
                        },
                    }
                )
            if not containers:
                continue  # metrics-server lists only pods it has samples of
            out.append(
                {
                    "kind": "PodMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": meta.get("name"),
                        "namespace": meta.get("namespace", "default"),
                        "creationTimestamp": _rfc3339(time.time()),
                        "labels": meta.get("labels") or {},
                    },
                    "timestamp": _rfc3339(time.time()),
                    "window": f"{seconds:.3f}s",
                    "containers": containers,
                }
            )
        return out

    def nodes(self) -> list[Obj]:
        if self._prev is None or self._last is None:
            return []
        seconds = max(1e-3, self._last[0] - self._prev[0])
        busy = (self._last[2][0] - self._prev[2][0]) / seconds
        return [
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": self.node_name, "creationTimestamp": _rfc3339(time.time())},
                "timestamp": _rfc3339(time.time()),
                "window": f"{seconds:.3f}s",
                "usage": {"cpu": _cpu(busy), "memory": _memory(self._last[2][1])},
            }
        ]

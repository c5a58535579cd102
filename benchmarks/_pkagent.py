"""A real podkeeper agent with timestamps, run as its own process by ``bench_podkeeper``.

``python -m benchmarks._pkagent HOME [--host-sandboxes] [--no-trace]`` runs
``podkeeper.runtime.agent.Agent`` exactly as ``podkeeper agent``
(``api.daemon.main``) does (API on ``HOME/agent.sock``, SQLite store, the runtime
``$PODKEEPER_RUNTIME`` names, controllers, probe metrics) and records,
from the agent's own clock:

- probe lateness: actual probe start minus the tick that made it due
  (``PodWorker.probe_trace``);
- reactions: liveness Failure -> SIGTERM sent (``runtime.stop``), container
  exit (the runtime's reap time) -> first restart started, startup Success ->
  readiness probe started, readiness Failure -> pod no longer Ready (after the
  controllers saw the change, so Service endpoints are updated too).

More reactions, in the stats' ``extra_reactions`` (kept out of ``reactions``,
whose keys ``bench_podkeeper`` waits on all of):

- ``backoff_restart_lateness``: the second restart (third instance started)
  minus the second instance's exit (the runtime's reap time) plus the
  back-off then in force (``core.backoff.INITIAL_SECONDS``: the first restart
  is immediate and starts the back-off at 10 s, the second waits it out);
- ``readiness_to_endpoint_removed``: readiness Failure -> the pod's address
  gone from the backends of its Service's load balancer (``PortProxy.set_backends``);
- ``liveness_to_restart``: liveness Failure -> the next instance of that container
  started (the runtime's start returned: the process runs), ``bench_peers``'s
  "failing check to a new running instance".

``SIGUSR1`` starts a measurement window (clears the lateness samples);
``SIGUSR2`` writes ``HOME/bench-stats.json`` (atomically). The parent reads
CPU and RSS from ``/proc/<pid>`` of this process itself.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

STATS_NAME = "bench-stats.json"


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


def summary(values: list[float]) -> dict[str, float]:
    """count, p50, p99, max of ``values`` (seconds in, milliseconds out)."""
    s = sorted(values)
    return {
        "count": float(len(s)),
        "p50_ms": _pct(s, 0.50) * 1e3,
        "p99_ms": _pct(s, 0.99) * 1e3,
        "max_ms": (s[-1] * 1e3) if s else float("nan"),
    }


def main(argv: list[str]) -> int:
    from podkeeper.core.backoff import INITIAL_SECONDS
    from podkeeper.core.result import Result
    from podkeeper.core.spec import ProbeType
    from podkeeper.lb.proxy import PortProxy
    from podkeeper.runtime import agent as agent_mod
    from podkeeper.runtime.interface import HostSandboxes
    from podkeeper.runtime.podworker import PodWorker

    home = Path(argv[0])
    host_sandboxes = "--host-sandboxes" in argv
    trace = "--no-trace" not in argv
    home.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if host_sandboxes:
        agent_mod.make_sandboxes = lambda home, describe=None: HostSandboxes()

    lateness: list[float] = []
    window_start = [time.monotonic()]
    reactions: dict[str, list[float]] = {
        "liveness_to_sigterm": [],
        "exit_to_restart": [],
        "startup_to_readiness": [],
        "readiness_to_unready": [],
    }
    extra_reactions: dict[str, list[float]] = {
        "backoff_restart_lateness": [],
        "readiness_to_endpoint_removed": [],
        "liveness_to_restart": [],
    }
    # (namespace, pod) -> its first readiness Failure not yet followed by its address
    # leaving a load balancer (or by Ready again).
    endpoint_fail: dict[tuple[str, str], float] = {}
    live_fail: dict[tuple[str, str], float] = {}
    # (pod, container) -> its liveness Failure not yet followed by a new instance
    live_fail_restart: dict[tuple[str, str], float] = {}
    ready_fail: dict[str, float] = {}
    startup_ok: dict[tuple[str, str], float] = {}
    exits: dict[tuple[str, str], float] = {}
    starts: dict[tuple[str, str], int] = {}
    was_ready: dict[str, bool] = {}
    instance_keys: dict[int, tuple[str, str]] = {}  # id(runtime instance) -> (pod, container)
    probes_started = [0]
    failures: list[Any] = [0, ""]
    by_kind: dict[str, int] = {}
    late_by_kind: dict[str, list[float]] = {}
    raw_samples: list[tuple[float, float]] | None = [] if os.environ.get("PK_BENCH_RAW") else None
    wall_offset = time.time() - time.monotonic()

    def on_probe_start(worker: Any, a: Any, scheduled: float | None, started: float) -> None:
        probes_started[0] += 1
        kind = type(a.target).__name__
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if scheduled is not None:
            lateness.append(started - scheduled)
            late_by_kind.setdefault(kind, []).append(started - scheduled)
            if raw_samples is not None:
                raw_samples.append((started, started - scheduled))
        if a.probe_type is ProbeType.READINESS:
            t = startup_ok.pop((worker.name, a.container), None)
            if t is not None:
                reactions["startup_to_readiness"].append(started - t)

    class TracedAgent(agent_mod.Agent):
        async def _open_slot(self, kind: str) -> Any:
            # Every runtime the agent opens (runtime/runtimes.py): the process one, or
            # containerd through the CRI for bench_peers' `containerd_cri` row.
            slot = await super()._open_slot(kind)
            self._trace(slot.runtime)  # patched in place: the slot keeps the same object
            return slot

        def _trace(self, rt: Any) -> Any:
            start, stop = rt.start, rt.stop

            async def traced_start(request: Any) -> Any:
                inst = await start(request)
                now = time.monotonic()
                key = (request.pod_name, request.container_name)
                instance_keys[id(inst)] = key
                n = starts[key] = starts.get(key, 0) + 1
                t = exits.pop(key, None)
                t_fail = live_fail_restart.pop(key, None)
                if t_fail is not None:
                    extra_reactions["liveness_to_restart"].append(now - t_fail)
                if n == 2 and t is not None:
                    reactions["exit_to_restart"].append(now - t)
                if n == 3 and t is not None:
                    # The second restart is the first one backed off, by INITIAL_SECONDS.
                    extra_reactions["backoff_restart_lateness"].append(now - (t + INITIAL_SECONDS))
                wait = inst.wait

                async def traced_wait() -> Any:
                    info = await wait()
                    if info.sent_by_us is None and info.finished_at:
                        exits[key] = info.finished_at - wall_offset
                    return info

                inst.wait = traced_wait
                return inst

            async def traced_stop(instance: Any, grace: float) -> None:
                # The process runtime's instance carries its request, the CRI's does not:
                # the key recorded at start serves both.
                key = instance_keys.get(id(instance), ("", ""))
                t = live_fail.pop(key, None)
                if t is not None:
                    reactions["liveness_to_sigterm"].append(time.monotonic() - t)
                await stop(instance, grace)

            rt.start, rt.stop = traced_start, traced_stop
            return rt

        def observe_probe(self, worker: Any, a: Any, outcome: Any, seconds: float) -> None:
            super().observe_probe(worker, a, outcome, seconds)  # the product's metrics
            now = time.monotonic()
            if outcome.result is not Result.SUCCESS:
                failures[0] += 1
                failures[1] = f"{outcome.result.value}: {outcome.output or outcome.error}"
            key = (worker.name, a.container)
            if a.probe_type is ProbeType.LIVENESS:
                if outcome.result is Result.FAILURE:
                    live_fail[key] = now
                    live_fail_restart.setdefault(key, now)
            elif a.probe_type is ProbeType.READINESS:
                if outcome.result is Result.FAILURE:
                    ready_fail.setdefault(worker.name, now)
                    endpoint_fail.setdefault((worker.namespace, worker.name), now)
            elif outcome.result is Result.SUCCESS:
                startup_ok[key] = now

        def _pod_changed(self, worker: Any) -> None:
            super()._pod_changed(worker)
            ready = worker.machine.pod_ready
            name = worker.name
            if was_ready.get(name) and not ready:
                t = ready_fail.pop(name, None)
                if t is not None:
                    reactions["readiness_to_unready"].append(time.monotonic() - t)
            elif ready:
                ready_fail.pop(name, None)
                endpoint_fail.pop((worker.namespace, name), None)
            was_ready[name] = ready

    def pods_behind(backends: set[tuple[str, int]]) -> set[tuple[str, str]]:
        """(namespace, pod) of the Service endpoints with one of these (ip, port) backends."""
        out = set()
        for c in agent.controllers:
            for entries in getattr(c, "entries", {}).values():
                for e in entries.values():
                    if any((e.ip, p.port) in backends for p in e.ports):
                        out.add((e.namespace, e.pod_name))
        return out

    set_backends = PortProxy.set_backends

    def traced_set_backends(self: Any, backends: Any) -> None:
        removed = set(self.backends) - set(backends)
        set_backends(self, backends)
        if removed and endpoint_fail:
            now = time.monotonic()
            for key in pods_behind(removed):
                t = endpoint_fail.pop(key, None)
                if t is not None:
                    extra_reactions["readiness_to_endpoint_removed"].append(now - t)

    if trace:
        PodWorker.probe_trace = on_probe_start
        PortProxy.set_backends = traced_set_backends  # type: ignore[method-assign]

    gc_pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif info.get("generation") == 2:
            gc_pauses.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)

    def mark() -> None:
        lateness.clear()
        gc_pauses.clear()
        probes_started[0] = 0
        by_kind.clear()
        late_by_kind.clear()
        window_start[0] = time.monotonic()

    def dump() -> None:
        now = time.monotonic()
        out = {
            "window_s": now - window_start[0],
            "probes_started": probes_started[0],
            "lateness": summary(lateness),
            "reactions": {k: summary(v) for k, v in reactions.items()},
            "extra_reactions": {k: summary(v) for k, v in extra_reactions.items()},
            "pods": len(agent.pods),
            "gc2_pauses": summary(gc_pauses),
            "failures": failures[0],
            "last_failure": failures[1],
            "ready_pods": sum(1 for w in agent.pods.values() if w.machine.pod_ready),
            "by_kind": by_kind,
            "lateness_by_kind": {k: summary(v) for k, v in late_by_kind.items()},
        }
        if raw_samples is not None:
            out["raw"] = raw_samples[-20000:]
        tmp = home / (STATS_NAME + ".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(home / STATS_NAME)

    agent = TracedAgent(home)

    async def run() -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, mark)
        loop.add_signal_handler(signal.SIGUSR2, dump)
        from podkeeper.api.daemon import controllers
        from podkeeper.api.server import serve

        return await agent.run(serve=serve, controllers=controllers())

    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

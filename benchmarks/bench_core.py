"""What the pure core costs per probe: the floor under every handler's per-probe CPU.

The agent's per-probe cost is the checker's syscalls, the event loop, the pod
worker's pass and the core's decision. This isolates the last one: 200 pods with
readiness and liveness probes at period 1 s, driven through `PodMachine.poll` and
`probe_finished` under a fake clock, as the pod worker drives it (no I/O at all).
"""

from __future__ import annotations

import time

from benchmarks import BenchContext, Measurement, benchmark


@benchmark("core.per_probe", quick_budget_s=1.5, full_budget_s=5)
def core_per_probe(ctx: BenchContext) -> list[Measurement]:
    from podkeeper.core.actions import RunProbe
    from podkeeper.core.result import ProbeOutcome, Result
    from podkeeper.core.spec import Container, Probe, TCPSocketAction
    from podkeeper.testing import PodHarness, make_pod

    probe = Probe(TCPSocketAction(80, "127.0.0.1"), period_seconds=1)
    ok = ProbeOutcome(Result.SUCCESS, "")
    machines = []
    for i in range(200):
        container = Container("c", command=("sleep",), readiness_probe=probe, liveness_probe=probe)
        h = PodHarness(make_pod(container, name=f"p{i}", uid=f"u{i}"))
        h.start_pending()
        machines.append(h.machine)
    now = 0.0
    best = float("inf")
    rounds = 0
    while rounds < 3 or (time.monotonic() < ctx.deadline - 0.3 and rounds < 200):
        probes = 0
        t0 = time.perf_counter()
        for _ in range(5):  # five simulated seconds: every probe ticks five times
            now += 1.0
            for m in machines:
                for a in m.poll(now):
                    if isinstance(a, RunProbe):
                        m.probe_finished(a.container, a.instance_id, a.probe_type, ok, now)
                        probes += 1
                m.poll(now)  # the pass that follows a result, as in the pod worker
                m.drain_events()
                m.next_wakeup()
        if probes:
            best = min(best, (time.perf_counter() - t0) / probes)
        rounds += 1
    return [Measurement("core.per_probe", best * 1e6, "µs", better="lower")]

"""gRPC probe throughput, the first backed-off restart, and endpoint removal on readiness Failure.

Same method as ``bench_podkeeper`` (whose helpers this module imports): a real traced
agent in its own process (``benchmarks._pkagent``) with host sandboxes (pod IP
127.0.0.1), pods fed through the real API client, timestamps taken on the agent's own
clock, CPU from ``/proc/<pid>``. Every loop is bounded in count and by
``ctx.deadline``; everything started here is stopped in ``finally`` (``traced_agent``,
``grpc_server``).
"""

from __future__ import annotations

import sys
import time

from benchmarks import BenchContext, Measurement, benchmark
from benchmarks.bench_podkeeper import (
    LATENESS_TARGET_MS,
    MAX_PODS,
    SLEEP,
    AgentProc,
    Obj,
    _pods,
    _wait_ready,
    _window,
    exec_cmd,
    pod,
    probe,
    socket_closed_port,
    throughput_rows,
    traced_agent,
)
from benchmarks.raw import grpc_server

# ------------------------------------------------------------------- 1. gRPC probes

GRPC_KIND = "GRPCTarget"  # the agent's lateness-by-kind key: the probe target's class


def _grpc(port: int) -> Obj:
    # No host: the kubelet's grpc probe always dials the pod IP (127.0.0.1 here).
    return {"grpc": {"port": port}}


def _grpc_level(agent_stats: Obj) -> tuple[float, float]:
    """(probes/s, p99 lateness ms) of the gRPC probes in one window's stats."""
    late = agent_stats["lateness_by_kind"].get(GRPC_KIND, {})
    rate = agent_stats["by_kind"].get(GRPC_KIND, 0) / agent_stats["window_s"]
    return rate, float(late.get("p99_ms", float("nan")))


def _grpc_throughput(levels: list[int], window: float, end: float, quick: bool) -> Obj:
    """As ``bench_podkeeper._throughput_one`` does for http/tcp: raise the offered rate
    level by level (2 probes/s per pod: readiness and liveness, period 1 s) until p99
    lateness reaches 50 ms, the levels end or time runs out; the best passing level.
    --quick: the first level only, reported whatever its lateness (a smoke test)."""
    best: Obj = {"rate": 0.0, "p99": float("nan"), "cpu": float("nan"), "offered": 0}
    with grpc_server(max(5.0, end - time.monotonic() + 10)) as port, traced_agent() as agent:
        have = 0
        for offered in levels:
            pods = min(MAX_PODS, offered // 2)
            # a level needs ~1 s per 150 new pods to apply and 1 s to settle
            if not quick and time.monotonic() + (pods - have) / 150 + 1.0 + window > end:
                break
            h = _grpc(port)
            objs = _pods(
                "grpc-", pods - have, have, readinessProbe=probe(h), livenessProbe=probe(h)
            )
            agent.apply_spread(objs, 0.5 if quick else 1.0, batches=10 if quick else 20)
            have = pods
            ready = _wait_ready(agent, have, min(end - window, time.monotonic() + 10))
            if not ready and not quick:
                break
            time.sleep(max(0.0, min(1.0, end - window - time.monotonic())))  # the first ticks
            stats, cpu, _ = _window(agent, max(0.5, min(window, end - time.monotonic())))
            rate, p99 = _grpc_level(stats)
            print(
                f"  probe.grpc: {have} pods, {rate:,.0f} probe/s, p99 lateness {p99:.1f} ms, "
                f"agent {cpu:.0f} % of a core, {stats['failures']} failed probes in all"
                + (f" (last: {stats['last_failure']})" if stats["failures"] else ""),
                file=sys.stderr,
            )
            if quick:
                best = {"rate": rate, "p99": p99, "cpu": cpu, "offered": offered}
                break
            if not p99 < LATENESS_TARGET_MS:
                break
            best = {"rate": rate, "p99": p99, "cpu": cpu, "offered": offered}
    return best


@benchmark("probe.grpc", quick_budget_s=5, full_budget_s=60, requires=("raw.grpc",))
def probe_grpc(ctx: BenchContext) -> list[Measurement]:
    """Highest gRPC probe rate with p99 lateness < 50 ms, on the agent's one core.

    Pods with readiness and liveness ``grpc`` probes (period 1 s) against one
    grpcio health server (``benchmarks.raw.grpc_server``, the server ``raw.grpc``
    is measured against); levels 200, 400, 800, 1,200, 1,400 ... probes/s offered.
    ``rate`` is what the agent sustained (a lower bound when the budget ends
    the search); ``capacity`` divides it by the agent's CPU share: the rate one
    fully busy core would reach. --quick: one level of 100 pods, rate and
    lateness only (a smoke test: the rate is the offered load).
    """
    if ctx.quick:
        best = _grpc_throughput([200], 1.0, ctx.deadline, quick=True)
    else:
        # 1,400: the knee was between 1,200 and 1,600 on the first runs here.
        levels = [200, 400, 800, 1200, 1400, 1600, 2000, 2400, 3000]
        best = _grpc_throughput(levels, 3.0, ctx.deadline, quick=False)
    return throughput_rows("grpc", best, "raw.grpc", with_cpu=not ctx.quick, smoke=ctx.quick)


# ------------------------------------------------- 2. the first backed-off restart

# Exits with an error soon after starting: restartPolicy Always restarts it at once the
# first time, then after the CrashLoopBackOff of 10 s (core.backoff: initial 10 s).
CRASH = ["sh", "-c", "sleep 0.2; exit 1"]


def _wait_extra(agent: AgentProc, key: str, n: int, end: float, interval: float) -> Obj:
    """Poll the agent's stats until ``extra_reactions[key]`` has ``n`` samples or ``end``."""
    while True:
        stats = agent.stats()
        if stats["extra_reactions"][key]["count"] >= n or time.monotonic() >= end:
            return stats
        time.sleep(min(interval, max(0.0, end - time.monotonic())))


def _reaction_rows(name: str, r: Obj) -> list[Measurement]:
    if not r["count"]:
        raise RuntimeError(f"{name}: no sample within the budget")
    return [
        Measurement(f"{name}.p99", r["p99_ms"], "ms", target="< 100 ms", better="lower"),
        Measurement(f"{name}.samples", r["count"], "n"),
    ]


@benchmark("reaction.backoff", quick_budget_s=None, full_budget_s=25)
def reaction_backoff(ctx: BenchContext) -> list[Measurement]:
    """How late the second restart comes after its CrashLoopBackOff expires.

    30 pods (quick: 10) whose container exits 1 after 0.2 s, created one after the
    other over 3 s (quick: 1 s) so the restarts are timed alone, not as one burst.
    The first restart is immediate; the second waits 10 s from the second exit. The
    row is the third instance's start minus (the second instance's exit, as the
    runtime reaped it, + 10 s), from the agent's clock (``_pkagent``). It takes ~11 s
    by nature: the back-off itself.
    """
    n = 10 if ctx.quick else 30  # quick only when named with --only and --budget
    with traced_agent() as agent:
        agent.apply_spread([pod(f"crash{i}", CRASH) for i in range(n)], n / 10, batches=n)
        # Nothing to see before the back-off ends: ~10.5 s after the last pod was created.
        time.sleep(max(0.0, min(9.5, ctx.remaining() - 1.0)))
        stats = _wait_extra(agent, "backoff_restart_lateness", n, ctx.deadline - 0.3, 0.1)
    return _reaction_rows(
        "reaction.backoff_restart_lateness", stats["extra_reactions"]["backoff_restart_lateness"]
    )


# --------------------------------------------- 3. readiness Failure -> endpoint removed


def _service(port: int) -> Obj:
    # A named targetPort: each pod declares its own number, so with host sandboxes (every
    # pod on 127.0.0.1) each pod is a distinct (ip, port) backend of the load balancer.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ep"},
        "spec": {
            "selector": {"bench": "podkeeper"},
            "ports": [{"name": "web", "port": port, "targetPort": "web"}],
        },
    }


@benchmark("reaction.endpoints", quick_budget_s=6, full_budget_s=20)
def reaction_endpoints(ctx: BenchContext) -> list[Measurement]:
    """Readiness Failure -> the pod's address gone from its Service's load balancer.

    60 pods (quick: 10) behind one Service (userspace proxy on 127.0.0.1: host
    sandboxes), each with an exec readiness probe (period 1 s, failureThreshold 1)
    on its own file; once all are Ready the files are created one after the other
    over 6 s (quick: 1 s), so each removal is timed alone. From the agent's clock:
    the readiness Failure result to ``PortProxy.set_backends`` without the pod's
    (ip, port) (``_pkagent``).
    """
    n = 10 if ctx.quick else 60
    spread = 1.0 if ctx.quick else 6.0
    with traced_agent() as agent:
        flags = [agent.home / f"unready{i}" for i in range(n)]
        agent.client.apply([_service(socket_closed_port())])
        objs = []
        for i, flag in enumerate(flags):
            obj = pod(
                f"ep{i}",
                SLEEP,
                readinessProbe=probe(exec_cmd("test", "!", "-e", str(flag)), failureThreshold=1),
            )
            # Nothing listens there: the proxy only connects when a client does.
            obj["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 20000 + i}]
            objs.append(obj)
        agent.apply_spread(objs, 0.5 if ctx.quick else 2.0)
        if not _wait_ready(agent, n, ctx.deadline - spread - 1.5):
            raise RuntimeError(f"not all {n} pods Ready in time")
        t0 = time.monotonic()
        for i, flag in enumerate(flags):
            time.sleep(max(0.0, t0 + i * spread / n - time.monotonic()))
            flag.touch()
        stats = _wait_extra(agent, "readiness_to_endpoint_removed", n, ctx.deadline - 0.3, 0.1)
    return _reaction_rows(
        "reaction.readiness_fail_to_endpoint_removed",
        stats["extra_reactions"]["readiness_to_endpoint_removed"],
    )

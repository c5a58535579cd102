"""podkeeper against the machine: probe throughput, scale, reaction, idle overhead, cold start.

Every benchmark runs a real agent in its own process (``benchmarks._pkagent``:
the product's ``Agent`` with timestamps taken on the agent's own clock, see
that module), feeds it pods through the real API client and reads the
agent's CPU and RSS from ``/proc/<pid>``. Cold start drives the real CLI.
Probe targets are the raw benchmarks' forked servers on 127.0.0.1, so
podkeeper and the limit it is compared with hit the same server. Every loop
is bounded in count and by ``ctx.deadline``; every agent and container this
module starts is killed in ``finally``.

Pods run with host sandboxes (pod IP 127.0.0.1, no network namespace): these
benchmarks measure podkeeper's probe and reaction machinery, not the cost of
``ip netns``; cold start uses the CLI's defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from benchmarks import BenchContext, Measurement, benchmark
from benchmarks.raw import forked_server

Obj = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
LATENESS_TARGET_MS = 50.0
STATS_NAME = "bench-stats.json"
#: Hard caps on what one benchmark creates, whatever the budget says.
MAX_PODS = 4000


# ------------------------------------------------------------------ manifests


def probe(handler: Obj, period: int = 1, **extra: int) -> Obj:
    return {"periodSeconds": period, "timeoutSeconds": 1, **extra, **handler}


def http_get(port: int, path: str = "/") -> Obj:
    return {"httpGet": {"host": "127.0.0.1", "port": port, "path": path}}


def tcp_socket(port: int) -> Obj:
    return {"tcpSocket": {"host": "127.0.0.1", "port": port}}


def exec_cmd(*argv: str) -> Obj:
    return {"exec": {"command": list(argv)}}


def pod(name: str, command: list[str], **probes: Obj) -> Obj:
    container: Obj = {"name": "c", "image": "local", "command": command, **probes}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "podkeeper"}},
        "spec": {
            "containers": [container],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 2,
        },
    }


SLEEP = ["sleep", "600"]


# ------------------------------------------------------------------- the agent


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _proc_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class AgentProc:
    """A traced agent process for one private home, and its API client."""

    def __init__(self, home: Path, proc: subprocess.Popen[bytes]) -> None:
        from podkeeper.api.client import Client

        self.home = home
        self.proc = proc
        self.pid = proc.pid
        self.client = Client(home / "agent.sock", timeout=60)

    def cpu(self) -> float:
        return _proc_cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        return _proc_rss_mib(self.pid)

    def mark(self) -> None:
        """Start a measurement window (clears the agent's lateness samples)."""
        os.kill(self.pid, signal.SIGUSR1)

    def stats(self, timeout: float = 5.0) -> Obj:
        path = self.home / STATS_NAME
        path.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR2)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data: Obj = json.loads(path.read_text())
                return data
            except (FileNotFoundError, ValueError):
                time.sleep(0.005)
        raise RuntimeError("the agent did not write its stats")

    def apply_spread(self, objs: list[Obj], spread_s: float, batches: int = 20) -> None:
        """Apply `objs` in `batches` evenly over `spread_s` seconds (spreads probe phases)."""
        batches = max(1, min(batches, len(objs)))
        t0 = time.monotonic()
        for i in range(batches):
            chunk = objs[i * len(objs) // batches : (i + 1) * len(objs) // batches]
            delay = t0 + i * spread_s / batches - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if chunk:
                self.client.apply(chunk)

    def pods(self) -> list[Obj]:
        return self.client.list_objects("Pod", None)

    def wait_pods(self, pred: Any, count: int, deadline: float, interval: float = 0.1) -> bool:
        while time.monotonic() < deadline:
            if sum(1 for p in self.pods() if pred(p)) >= count:
                return True
            time.sleep(interval)
        return False


def is_ready(p: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in p.get("status", {}).get("conditions", [])
    )


def is_running(p: Obj) -> bool:
    return bool(p.get("status", {}).get("phase") == "Running")


def _kill_containers(home: Path) -> None:
    """SIGKILL every container process group the agent recorded (it is dead by then)."""
    try:
        live = json.loads((home / "containers.json").read_text())
    except (FileNotFoundError, ValueError):
        return
    for info in live.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(info["pid"]), signal.SIGKILL)


def _remove_cgroups(home: Path) -> None:
    """Do what the next agent of this home would: remove its instance cgroups (the home is
    a temp folder no agent will use again, and memory cgroups are a finite resource)."""
    from podkeeper.runtime.cgroups import CgroupManager, root_name_for_home

    cgroups = CgroupManager(root_name_for_home(str(home)))
    if cgroups.available()[0]:
        cgroups.cleanup_stale()
        # The root too (checking availability makes it, unmarked): once the home is
        # deleted no sweep can prove whose it was, and each benchmark agent left one.
        cgroups.remove_root(timeout=5.0)


@contextlib.contextmanager
def traced_agent(
    *,
    trace: bool = True,
    start_timeout: float = 15.0,
    runtime: str = "process",
    cgroup_procs: Path | None = None,
) -> Iterator[AgentProc]:
    """Start ``benchmarks._pkagent`` in a fresh home; kill it and its containers after.

    ``runtime`` is ``$PODKEEPER_RUNTIME`` for the agent (the process runtime unless a
    benchmark asks for containerd). ``cgroup_procs``: a ``cgroup.procs`` file the agent
    joins before it starts anything, so its children (a managed containerd, its shims)
    are accounted with it. A containerd agent is drained with ``down`` (which stops its
    containerd) before the kill."""
    home = Path(tempfile.mkdtemp(prefix="pk-bench-"))
    args = [sys.executable, "-m", "benchmarks._pkagent", str(home)]
    if runtime == "process":
        args.append("--host-sandboxes")
    if not trace:
        args.append("--no-trace")
    if cgroup_procs is not None:
        args = ["/bin/sh", "-c", f'echo $$ > "{cgroup_procs}" && exec "$@"', "sh", *args]
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'src'}", PODKEEPER_RUNTIME=runtime)
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(home / "agent.stderr", "wb"),  # noqa: SIM115 - closed by the child's exit
    )
    try:
        agent = AgentProc(home, proc)
        end = time.monotonic() + start_timeout
        while not agent.client.ping():
            if proc.poll() is not None or time.monotonic() > end:
                err = (home / "agent.stderr").read_text()[-2000:]
                raise RuntimeError(f"benchmark agent did not start: {err}")
            time.sleep(0.02)
        yield agent
    finally:
        if runtime != "process" and proc.poll() is None:
            with contextlib.suppress(Exception):
                _cli(home, "down", "--timeout", "60s", timeout=90)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        _kill_containers(home)
        _remove_cgroups(home)
        shutil.rmtree(home, ignore_errors=True)


def _window(agent: AgentProc, seconds: float) -> tuple[Obj, float, float]:
    """Measure for `seconds`: (agent stats, CPU % of one core, peak RSS MiB)."""
    agent.mark()
    c0, t0 = agent.cpu(), time.monotonic()
    rss = agent.rss_mib()
    end = t0 + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.25, left))
        rss = max(rss, agent.rss_mib())
    stats = agent.stats()
    cpu = (agent.cpu() - c0) / (time.monotonic() - t0) * 100
    return stats, cpu, rss


def _wait_ready(agent: AgentProc, count: int, deadline: float) -> bool:
    """Until `count` pods are Ready (the agent's own count: no API listing under load)."""
    while time.monotonic() < deadline:
        if agent.stats()["ready_pods"] >= count:
            return True
        time.sleep(0.05)
    return False


def _pods(prefix: str, count: int, start: int = 0, **probes: Obj) -> list[Obj]:
    return [pod(f"{prefix}{i}", SLEEP, **probes) for i in range(start, start + count)]


# ------------------------------------------------------------ 1. throughput

_KINDS = {"http": "HTTPTarget", "tcp": "TCPTarget", "exec": "ExecTarget"}


def _handler(kind: str, port: int) -> Obj:
    if kind == "http":
        return http_get(port)
    if kind == "tcp":
        return tcp_socket(port)
    return exec_cmd("/bin/true")


def _throughput_one(kind: str, levels: list[int], window: float, end: float) -> Obj:
    """Raise the probe rate level by level (2 probes/s per pod) until p99 lateness reaches
    50 ms, the level list ends or time runs out; the best passing level and its numbers."""
    best: Obj = {"rate": 0.0, "p99": float("nan"), "cpu": float("nan"), "offered": 0}
    server_kind: Literal["http", "tcp"] = "http" if kind == "http" else "tcp"
    with (
        forked_server(server_kind, max(5.0, end - time.monotonic() + 10)) as port,
        traced_agent() as agent,
    ):
        have = 0
        for offered in levels:
            pods = min(MAX_PODS, offered // 2)
            # a level needs ~1 s per 150 new pods to apply and 1 s to settle
            if time.monotonic() + (pods - have) / 150 + 1.0 + window > end:
                break
            h = _handler(kind, port)
            agent.apply_spread(
                _pods(
                    f"{kind}-",
                    pods - have,
                    have,
                    readinessProbe=probe(h),
                    livenessProbe=probe(h),
                ),
                1.0,
            )
            have = pods
            if not _wait_ready(agent, have, min(end, time.monotonic() + 10)):
                break
            time.sleep(1.0)  # the first ticks of the newest pods
            stats, cpu, _ = _window(agent, window)
            n = stats["by_kind"].get(_KINDS[kind], 0)
            late = stats["lateness_by_kind"].get(_KINDS[kind], {})
            p99 = float(late.get("p99_ms", float("nan")))
            rate = n / stats["window_s"]
            print(
                f"  probe.{kind}: {have} pods, {rate:,.0f} probe/s, p99 lateness {p99:.1f} ms, "
                f"agent {cpu:.0f} % of a core",
                file=sys.stderr,
            )
            if not p99 < LATENESS_TARGET_MS:
                break
            best = {"rate": rate, "p99": p99, "cpu": cpu, "offered": offered}
    return best


def _throughput_quick(ctx: BenchContext) -> dict[str, Obj]:
    """--quick: one agent, 100 http + 100 tcp + 50 exec pods at once, one window."""
    counts = {"http": 100, "tcp": 100, "exec": 50}
    best: dict[str, Obj] = {}
    with (
        forked_server("http", ctx.budget_s * 1.5 + 15) as hport,
        forked_server("tcp", ctx.budget_s * 1.5 + 15) as tport,
        traced_agent() as agent,
    ):
        objs = []
        for kind, count in counts.items():
            h = _handler(kind, hport if kind == "http" else tport)
            objs += _pods(f"{kind}-", count, readinessProbe=probe(h), livenessProbe=probe(h))
        agent.apply_spread(objs, 0.5, batches=10)
        _wait_ready(agent, len(objs), ctx.deadline - 1.5)
        time.sleep(max(0.0, min(0.5, ctx.remaining() - 1.0)))
        stats, _, _ = _window(agent, max(0.5, min(1.0, ctx.remaining())))
    for kind in counts:
        late = stats["lateness_by_kind"].get(_KINDS[kind], {})
        rate = stats["by_kind"].get(_KINDS[kind], 0) / stats["window_s"]
        best[kind] = {"rate": rate, "p99": late.get("p99_ms", float("nan")), "cpu": float("nan")}
    return best


@benchmark(
    "probe.throughput",
    quick_budget_s=4,
    full_budget_s=200,
    requires=("raw.spawn", "raw.tcp", "raw.http"),
)
def probe_throughput(ctx: BenchContext) -> list[Measurement]:
    """Highest probe rate per handler with p99 lateness < 50 ms, on the agent's one core.

    `probe.<h>.rate` is what the agent sustained (bounded by how many pods the
    budget let us create, so a lower bound); `probe.<h>.capacity` divides it by
    the agent's CPU share at that rate: the rate one fully busy core would reach.
    --quick runs one small mixed load (a smoke test: rates are the offered load,
    no capacity); the full run searches each handler alone, level by level.
    """
    limits = {"http": "raw.http", "tcp": "raw.tcp", "exec": "raw.spawn"}
    if ctx.quick:
        results = _throughput_quick(ctx)
    else:
        # Levels up to what one core did in trial runs; each handler gets a share of the
        # budget in proportion to the pods its top levels need (tcp ~4,000).
        plan = {
            "http": ([1000, 2000, 3000, 4000, 5000, 6000], 0.35),
            "tcp": ([1000, 2000, 4000, 6000, 8000], 0.45),
            "exec": ([400, 800, 1000, 1200, 1400, 1600], 0.20),
        }
        results = {}
        left = 1.0
        for kind, (levels, weight) in plan.items():
            share = ctx.remaining() * weight / left
            left -= weight
            results[kind] = _throughput_one(kind, levels, 3.0, time.monotonic() + share)
    out: list[Measurement] = []
    for kind, best in results.items():
        out += throughput_rows(kind, best, limits[kind], with_cpu=not ctx.quick, smoke=ctx.quick)
    return out


#: Handlers whose throughput is a tracked figure against its raw limit, without a
#: pass/fail: 0.7 of a C-speed loopback loop would need a compiled prober, and one
#: core's capacity is already ~40x what a full default kubelet node needs (issue 16).
TRACKED_ONLY = frozenset({"http", "tcp"})


def throughput_rows(
    kind: str, best: Obj, limit: str, *, with_cpu: bool, smoke: bool = False
) -> list[Measurement]:
    """`probe.<kind>.rate` and `.p99_lateness`; with the CPU share, `.agent_cpu` and
    `.capacity` (the rate divided by that share: what one fully busy core would do).

    `smoke`: the rate is a --quick run's offered load, not the searched limit, so
    its ratio target is shown but not judged. httpGet and tcpSocket rates carry
    no target at all (`TRACKED_ONLY`)."""
    ratio_target = None if kind in TRACKED_ONLY else "ratio >= 0.7"
    out = [
        Measurement(
            f"probe.{kind}.rate", best["rate"], "probe/s", limit, ratio_target, smoke=smoke
        ),
        Measurement(
            f"probe.{kind}.p99_lateness",
            best["p99"],
            "ms",
            "raw.timers.p99",
            "< 50 ms",
            better="lower",
        ),
    ]
    if with_cpu:
        cpu = best["cpu"]
        capacity = best["rate"] / (cpu / 100) if cpu == cpu and cpu > 0 else float("nan")
        out += [
            Measurement(f"probe.{kind}.agent_cpu", cpu, "% core", better="lower"),
            Measurement(f"probe.{kind}.capacity", capacity, "probe/s", limit, ratio_target),
        ]
    return out


# ------------------------------------------------------------------ 2. scale


@benchmark("probe.scale", quick_budget_s=4, full_budget_s=45, requires=("raw.timers",))
def probe_scale(ctx: BenchContext) -> list[Measurement]:
    """1,000 pods (quick: 200), each with startup (tcp), readiness (http) and liveness (tcp)
    probes at period 1 s against shared servers: lateness, agent CPU and RSS."""
    n = 200 if ctx.quick else 1000
    window = 1.0 if ctx.quick else 10.0
    with (
        forked_server("http", ctx.budget_s * 1.5 + 15) as hport,
        forked_server("tcp", ctx.budget_s * 1.5 + 15) as tport,
        traced_agent() as agent,
    ):
        objs = _pods(
            "s",
            n,
            startupProbe=probe(tcp_socket(tport)),
            readinessProbe=probe(http_get(hport)),
            livenessProbe=probe(tcp_socket(tport)),
        )
        t0 = time.monotonic()
        agent.apply_spread(objs, 0.5 if ctx.quick else 1.0)
        ready = _wait_ready(agent, n, max(ctx.deadline - window - 0.5, time.monotonic() + 2.0))
        to_ready = time.monotonic() - t0
        time.sleep(max(0.0, min(1.0, ctx.remaining() - window)))
        stats, cpu, rss = _window(agent, max(0.5, min(window, ctx.remaining())))
    late = stats["lateness"]
    rate = stats["probes_started"] / stats["window_s"]
    p = f"scale{n}"
    return [
        Measurement(f"{p}.all_ready_s", to_ready if ready else float("nan"), "s", better="lower"),
        Measurement(f"{p}.probe_rate", rate, "probe/s"),
        Measurement(f"{p}.lateness.p50", late["p50_ms"], "ms", "raw.timers.p50", better="lower"),
        Measurement(
            f"{p}.lateness.p99", late["p99_ms"], "ms", "raw.timers.p99", "< 50 ms", better="lower"
        ),
        Measurement(f"{p}.lateness.max", late["max_ms"], "ms", "raw.timers.max", better="lower"),
        Measurement(f"{p}.agent_cpu", cpu, "% core", target="< 100", better="lower"),
        Measurement(f"{p}.agent_rss", rss, "MiB", better="lower"),
        # Full collections walk every pod's objects; they explain most of the tail.
        Measurement(f"{p}.gc_gen2.count", stats["gc2_pauses"]["count"], "n", better="lower"),
        # No pause in the window gives NaN from the summary; JSON (allow_nan=False) needs 0.
        Measurement(
            f"{p}.gc_gen2.max",
            stats["gc2_pauses"]["max_ms"] if stats["gc2_pauses"]["count"] else 0.0,
            "ms",
            better="lower",
        ),
    ]


# --------------------------------------------------------------- 3. reaction


@benchmark("probe.reaction", quick_budget_s=3.5, full_budget_s=30)
def probe_reaction(ctx: BenchContext) -> list[Measurement]:
    """Time from a decision's input to the agent acting on it, from the agent's own clock.

    - liveness Failure (tcp to a closed port, failureThreshold 1) -> SIGTERM sent;
    - container exit (`sleep 0.3`, exit 0) -> first restart started (back-off 0);
    - startup Success -> the immediate readiness probe started;
    - readiness Failure (exec `test ! -e FILE`, the file created by us) -> pod not Ready,
      after the controllers (Service endpoints) saw it.

    The groups of three pods are created one after the other over 12 s (quick: 1.2 s).
    """
    n = 8 if ctx.quick else 60
    with forked_server("tcp", ctx.budget_s * 1.5 + 15) as tport:
        closed = socket_closed_port()
        with traced_agent() as agent:
            flag = agent.home / "unready"
            objs: list[Obj] = []
            for i in range(n):
                objs.append(
                    pod(
                        f"live{i}",
                        SLEEP,
                        livenessProbe=probe(tcp_socket(closed), failureThreshold=1),
                    )
                )
                objs.append(pod(f"exit{i}", ["sleep", "0.3"]))
                objs.append(
                    pod(
                        f"start{i}",
                        SLEEP,
                        startupProbe=probe(tcp_socket(tport)),
                        readinessProbe=probe(
                            exec_cmd("test", "!", "-e", str(flag)), failureThreshold=1
                        ),
                    )
                )
            # One group of three pods at a time, spread out: each reaction is measured
            # alone, not behind a burst of simultaneous crashes (that is the scale run).
            agent.apply_spread(objs, 1.2 if ctx.quick else 12.0, batches=n)
            # The start* pods must all be Ready before their readiness fails, or a pod
            # that never was Ready gives no sample; the agent's ready count alone also
            # counts the live* and exit* pods, so the API says which ones.
            _wait_ready(agent, n, ctx.deadline - 1.5)
            agent.wait_pods(
                lambda p: p["metadata"]["name"].startswith("start") and is_ready(p),
                n,
                ctx.deadline - 1.5,
            )
            flag.touch()
            end = ctx.deadline - 0.2
            while time.monotonic() < end:
                r = agent.stats()["reactions"]
                if all(r[k]["count"] >= n for k in r):
                    break
                time.sleep(0.1)
            reactions = agent.stats()["reactions"]
    names = {
        "liveness_to_sigterm": "reaction.liveness_fail_to_sigterm",
        "exit_to_restart": "reaction.exit_to_restart",
        "startup_to_readiness": "reaction.startup_ok_to_readiness_probe",
        "readiness_to_unready": "reaction.readiness_fail_to_unready",
    }
    out = []
    for key, name in names.items():
        r = reactions[key]
        out.append(Measurement(f"{name}.p99", r["p99_ms"], "ms", target="< 100 ms", better="lower"))
        out.append(Measurement(f"{name}.samples", r["count"], "n"))
    return out


def socket_closed_port() -> int:
    """A loopback port nobody listens on (bound then closed: connect is refused)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


# -------------------------------------------------------------------- 4. idle


#: The probes' default period: the idle window is a whole number of them.
IDLE_PERIOD_S = 10.0


@benchmark("agent.idle", quick_budget_s=13.5, full_budget_s=40)
def agent_idle(ctx: BenchContext) -> list[Measurement]:
    """100 pods with default-period (10 s) readiness and liveness probes: agent CPU and RSS.

    The window is whole probe periods, one with --quick, three in full runs. A
    1.5 s window (--quick before issue 16) measured a phase of the period, not
    the idle cost: twelve 1.5 s windows in a row read 0.67-2.7 % of a core
    (``/proc`` counts 10 ms ticks, 0.67 % each in 1.5 s; the threads' own
    nanosecond clocks said 0.8-2.3 %) while 10 s and 30 s windows read 1.0-1.3 %.
    """
    n = 100
    window = IDLE_PERIOD_S if ctx.quick else 3 * IDLE_PERIOD_S
    with (
        forked_server("http", ctx.budget_s * 1.5 + 15) as hport,
        forked_server("tcp", ctx.budget_s * 1.5 + 15) as tport,
        traced_agent(trace=False) as agent,
    ):
        objs = [
            pod(
                f"idle{i}",
                SLEEP,
                readinessProbe={"tcpSocket": tcp_socket(tport)["tcpSocket"]},
                livenessProbe={"httpGet": http_get(hport)["httpGet"]},
            )
            for i in range(n)
        ]
        agent.client.apply(objs)
        agent.wait_pods(is_running, n, time.monotonic() + 10)
        time.sleep(min(1.0, ctx.remaining()))
        _, cpu, rss = _window(agent, max(0.5, min(window, ctx.remaining() - 0.3)))
    return [
        Measurement("idle100.agent_cpu", cpu, "% core", target="< 2", better="lower"),
        Measurement("idle100.agent_rss", rss, "MiB", target="< 150", better="lower"),
    ]


# -------------------------------------------------------------- 5. cold start


def _cli(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "podkeeper", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        check=True,
    )


def _stop_cli_agent(home: Path) -> None:
    try:
        pid = int((home / "agent.pid").read_text())
    except (FileNotFoundError, ValueError):
        pid = None
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + 5
        while time.monotonic() < end and Path(f"/proc/{pid}").exists():
            time.sleep(0.01)
    _kill_containers(home)


@benchmark("cold_start", quick_budget_s=3, full_budget_s=30)
def cold_start(ctx: BenchContext) -> list[Measurement]:
    """`podkeeper up -d` with no agent running: one pod to Running, 100 pods to all Ready
    (--quick: the one pod only).

    Wall time of the CLI call (it starts the agent), then until the API shows the
    pod(s) Running/Ready (polled every 10 ms through the API client)."""
    import yaml

    from podkeeper.api.client import Client

    out = []
    with forked_server("tcp", ctx.budget_s * 1.5 + 15) as tport:
        for n in (1,) if ctx.quick else (1, 100):
            home = Path(tempfile.mkdtemp(prefix="pk-cold-"))
            try:
                manifest = home.parent / f"{home.name}.yaml"
                docs = [
                    pod(f"cold{i}", SLEEP, readinessProbe=probe(tcp_socket(tport)))
                    if n > 1
                    else pod("cold0", SLEEP)
                    for i in range(n)
                ]
                manifest.write_text(yaml.safe_dump_all(docs))
                t0 = time.monotonic()
                _cli(home, "up", "-d", "-f", str(manifest))
                t_cli = time.monotonic() - t0
                client = Client(home / "agent.sock")
                pred = is_running if n == 1 else is_ready
                end = time.monotonic() + 20
                done = float("nan")
                while time.monotonic() < end:
                    if sum(1 for p in client.list_objects("Pod", None) if pred(p)) >= n:
                        done = time.monotonic() - t0
                        break
                    time.sleep(0.01)
                what = "running" if n == 1 else "all_ready"
                target = "< 1 s" if n == 1 else None
                out.append(Measurement(f"cold_start.pods{n}.cli", t_cli, "s", better="lower"))
                out.append(
                    Measurement(
                        f"cold_start.pods{n}.{what}", done, "s", target=target, better="lower"
                    )
                )
                manifest.unlink(missing_ok=True)
            finally:
                _stop_cli_agent(home)
                shutil.rmtree(home, ignore_errors=True)
    return out

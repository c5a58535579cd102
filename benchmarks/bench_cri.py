"""The containerd runtime (issue 10): pod start through podkeeper against the same CRI calls
made directly, exit -> restart, and the CPU of exec probes through ExecSync.

Each benchmark starts its own private containerd (`ManagedContainerd`, ~0.1 s) in a
temporary home, builds and imports the busybox test images, and stops it (with every
sandbox, shim and cgroup) in ``finally``. Without root, containerd, runc, the CNI
plugins, busybox-static or gcc it prints why and returns no rows.

- ``cri.pod_start.direct`` / ``cri.pod_start.podkeeper``: one pod = RunPodSandbox,
  PodSandboxStatus, CreateContainer, StartContainer (and ImageStatus). Direct: those
  calls on a bare ``grpc.aio`` channel with the generated messages. podkeeper:
  ``CriSandboxes.create`` + ``CriRuntime.start`` (its config building, labels, log
  pump, exit watch). Pods alternate between the two, so load drifts hit both alike.
  Target: podkeeper adds at most 10 % (ratio <= 1.1).
- ``cri.exit_restart``: a container exits (containerd's finishedAt) -> podkeeper saw it
  (`wait()` returned) -> the next instance is started (StartContainer returned), in the
  same sandbox, as the pod worker restarts without back-off. Target p99 <= 100 ms (the
  kubelet's PLEG relist alone is ~1 s).
- ``cri.agent_exit_restart``: the same through the whole agent on its containerd runtime
  (``benchmarks._pkagent``): N pods of the busybox image whose container exits 0.3 s after
  it starts (restartPolicy Always, so the first restart has no back-off); the agent's own
  measure of the exit (containerd's finishedAt) -> the next instance started, which adds
  the exit event's way through ``ctr events``, the pod worker's decision and its
  bookkeeping to the runtime's part above. Target p99 <= 100 ms.
- ``cri.exec.cpu_per_1000``: CPU seconds of containerd + its shims (+ their reaped runc
  children) and of podkeeper's process per 1,000 ExecSync of `true`, with p50/p99 latency.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from benchmarks import BenchContext, Measurement, benchmark

_TICK = os.sysconf("SC_CLK_TCK")


def _skip_reason() -> str | None:
    from podkeeper.runtime.cri.containerd import unavailable_reason
    from podkeeper.runtime.cri.testimages import busybox_available

    return unavailable_reason() or busybox_available()


@asynccontextmanager
async def _containerd() -> AsyncIterator[Any]:
    """A private containerd with the test images; yields (managed, state, runtime, sandboxes)."""
    from podkeeper.runtime.cri import CriClient, CriRuntime, CriSandboxes, CriState
    from podkeeper.runtime.cri.containerd import ManagedContainerd
    from podkeeper.runtime.cri.testimages import build_all

    with tempfile.TemporaryDirectory(prefix="pkbench-") as tmp:
        tars = build_all(Path(tmp) / "images")
        managed = ManagedContainerd(Path(tmp) / "home")
        await managed.start()
        runtime = None
        try:
            for tar in tars.values():
                subprocess.run(
                    [
                        "ctr",
                        "-a",
                        str(managed.socket),
                        "-n",
                        "k8s.io",
                        "images",
                        "import",
                        str(tar),
                    ],
                    check=True,
                    capture_output=True,
                )
            state = CriState(
                CriClient(managed.endpoint), managed.home, managed.tag, managed.cgroup_parent
            )
            runtime = CriRuntime(state, "containerd", events_address=str(managed.socket))
            yield managed, state, runtime, CriSandboxes(state)
        finally:
            if runtime is not None:
                await runtime.shutdown()
            await managed.stop()


def _request(sandbox: Any, state: Any, name: str, command: tuple[str, ...]) -> Any:
    from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE
    from podkeeper.runtime.interface import StartRequest
    from podkeeper.runtime.logs import container_log_path

    pod = f"bench-{sandbox.pod_uid[:8]}"
    return StartRequest(
        pod_name=pod,
        namespace="default",
        pod_uid=sandbox.pod_uid,
        container_name=name,
        instance_id=uuid.uuid4().hex,
        argv=command,
        env={},
        working_dir="",
        log_path=container_log_path(state.home, "default", pod, sandbox.pod_uid, name, 0),
        sandbox=sandbox,
        image=BUSYBOX_IMAGE,
        command=command,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------ 1. pod start


async def _direct_pod(channel: Any, state: Any, image: str, i: int) -> float:
    """RunPodSandbox + PodSandboxStatus + ImageStatus + CreateContainer + StartContainer."""
    from podkeeper.runtime.cri._gen import api_pb2 as pb

    def call(method: str, response: Any) -> Any:
        return channel.unary_unary(
            f"/runtime.v1.RuntimeService/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )

    uid = str(uuid.uuid4())
    log_dir = os.path.join(state.home, "pods", f"default_direct-{i}_{uid}")
    os.makedirs(log_dir, exist_ok=True)
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=f"direct-{i}", uid=uid, namespace="default"),
        hostname=f"direct-{i}",
        log_directory=log_dir,
        labels={"podkeeper.home": state.tag},
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=f"{state.cgroup_parent}/pod{uid}"),
    )
    t0 = time.perf_counter()
    sid = (
        await call("RunPodSandbox", pb.RunPodSandboxResponse)(
            pb.RunPodSandboxRequest(config=config), timeout=60
        )
    ).pod_sandbox_id
    await call("PodSandboxStatus", pb.PodSandboxStatusResponse)(
        pb.PodSandboxStatusRequest(pod_sandbox_id=sid), timeout=60
    )
    image_status = channel.unary_unary(
        "/runtime.v1.ImageService/ImageStatus",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=pb.ImageStatusResponse.FromString,
    )
    ref = (await image_status(pb.ImageStatusRequest(image=pb.ImageSpec(image=image)))).image.id
    cid = (
        await call("CreateContainer", pb.CreateContainerResponse)(
            pb.CreateContainerRequest(
                pod_sandbox_id=sid,
                config=pb.ContainerConfig(
                    metadata=pb.ContainerMetadata(name="app"),
                    image=pb.ImageSpec(image=ref),
                    command=["sleep", "300"],
                    log_path="app/0.cri.log",
                    labels={"podkeeper.home": state.tag},
                ),
                sandbox_config=config,
            ),
            timeout=60,
        )
    ).container_id
    await call("StartContainer", pb.StartContainerResponse)(
        pb.StartContainerRequest(container_id=cid), timeout=60
    )
    return time.perf_counter() - t0


async def _pod_start(ctx: BenchContext) -> list[Measurement]:
    import grpc.aio

    from podkeeper.runtime.cri.sandboxes import remove_sandbox
    from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE

    pods = 6 if ctx.quick else 30
    direct: list[float] = []
    ours: list[float] = []
    async with _containerd() as (managed, state, runtime, sandboxes):
        channel = grpc.aio.insecure_channel(managed.endpoint)
        try:
            # Warm both paths once (first sandbox creates the bridge).
            await _direct_pod(channel, state, BUSYBOX_IMAGE, -1)
            for i in range(pods):
                if time.monotonic() > ctx.deadline - 5:
                    break
                direct.append(await _direct_pod(channel, state, BUSYBOX_IMAGE, i))
                uid = str(uuid.uuid4())
                t0 = time.perf_counter()
                sandbox = await sandboxes.create(uid, f"pk-{i}", False)
                await runtime.start(_request(sandbox, state, "app", ("sleep", "300")))
                ours.append(time.perf_counter() - t0)
        finally:
            await channel.close()
            for item in await sandboxes.list_own():
                await remove_sandbox(state.client, item.id)
    if not direct or not ours:
        return []
    d, o = statistics.median(direct) * 1000, statistics.median(ours) * 1000
    print(
        f"  cri.pod_start: {len(ours)} pods each way, direct p50 {d:.0f} ms, podkeeper {o:.0f} ms"
    )
    return [
        Measurement("cri.pod_start.direct.p50", d, "ms", better="lower"),
        Measurement(
            "cri.pod_start.podkeeper.p50",
            o,
            "ms",
            limit_name="cri.pod_start.direct.p50",
            target="ratio <= 1.1",
            better="lower",
        ),
    ]


@benchmark("cri.pod_start", quick_budget_s=20, full_budget_s=60)
def pod_start(ctx: BenchContext) -> list[Measurement]:
    why = _skip_reason()
    if why:
        print(f"  cri.pod_start: skipped: {why}")
        return []
    return asyncio.run(_pod_start(ctx))


# ------------------------------------------------------------ 2. exit -> restart


async def _exit_restart(ctx: BenchContext) -> list[Measurement]:
    rounds = 8 if ctx.quick else 40
    seen: list[float] = []
    restarted: list[float] = []
    calls: dict[str, list[float]] = {}
    async with _containerd() as (_managed, state, runtime, sandboxes):
        sandbox = await sandboxes.create(str(uuid.uuid4()), "restarts", False)
        # The container ends 0.3 s after it starts: the exit is not on the heels of the start.
        cmd = ("sh", "-c", "sleep 0.3; exit 1")
        inst = await runtime.start(_request(sandbox, state, "app", cmd))
        plain_call = state.client.call
        timing = False

        async def timed_call(method: str, request: Any, timeout: float = 60.0) -> Any:
            t = time.perf_counter()
            try:
                return await plain_call(method, request, timeout)
            finally:
                if timing:
                    calls.setdefault(method, []).append((time.perf_counter() - t) * 1000)

        state.client.call = timed_call  # where the restart's time goes, per CRI call
        for _ in range(rounds):
            if time.monotonic() > ctx.deadline - 3:
                break
            info = await inst.wait()
            t_seen = time.time()
            timing = True
            inst = await runtime.start(_request(sandbox, state, "app", cmd))
            timing = False
            t_started = time.time()
            seen.append((t_seen - info.finished_at) * 1000)
            restarted.append((t_started - info.finished_at) * 1000)
        await runtime.stop(inst, 0)
        await sandboxes.destroy(sandbox)
    if not restarted:
        return []
    per_call = ", ".join(
        f"{m} {statistics.median(v):.1f}/{_pct(v, 0.99):.1f}" for m, v in sorted(calls.items())
    )
    print(
        f"  cri.exit_restart: {len(restarted)} exits, seen p50 {statistics.median(seen):.1f} ms "
        f"p99 {_pct(seen, 0.99):.1f} ms, restarted p50 {statistics.median(restarted):.1f} ms "
        f"p99 {_pct(restarted, 0.99):.1f} ms; CRI calls during the restart, p50/p99 ms: "
        f"{per_call}"
    )
    return [
        Measurement("cri.exit_seen.p50", statistics.median(seen), "ms", better="lower"),
        Measurement("cri.exit_seen.p99", _pct(seen, 0.99), "ms", better="lower"),
        # The restart's own share: ImageStatus + CreateContainer + StartContainer in containerd.
        Measurement(
            "cri.exit_restart.start_part.p50",
            statistics.median(r - s for r, s in zip(restarted, seen, strict=True)),
            "ms",
            better="lower",
        ),
        Measurement("cri.exit_restart.p50", statistics.median(restarted), "ms", better="lower"),
        Measurement(
            "cri.exit_restart.p99", _pct(restarted, 0.99), "ms", target="<= 100 ms", better="lower"
        ),
    ]


@benchmark("cri.exit_restart", quick_budget_s=20, full_budget_s=60)
def exit_restart(ctx: BenchContext) -> list[Measurement]:
    why = _skip_reason()
    if why:
        print(f"  cri.exit_restart: skipped: {why}")
        return []
    return asyncio.run(_exit_restart(ctx))


# ------------------------------------------------------------ 3. ExecSync CPU


# ------------------------------------------------- 2b. exit -> restart, whole agent


def _agent_exit_restart(ctx: BenchContext) -> list[Measurement]:
    from benchmarks.bench_podkeeper import _cli, traced_agent
    from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE, build_all

    n = 6 if ctx.quick else 20
    with tempfile.TemporaryDirectory(prefix="pkbench-") as tmp:
        tars = build_all(Path(tmp) / "images")
        with traced_agent(runtime="containerd", start_timeout=60) as agent:
            for tar in tars.values():
                _cli(agent.home, "image", "import", str(tar), timeout=120)
            pods = [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"exit{i}"},
                    "spec": {
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "c",
                                "image": BUSYBOX_IMAGE,
                                "imagePullPolicy": "Never",
                                "command": ["sh", "-c", "sleep 0.3"],
                            }
                        ],
                    },
                }
                for i in range(n)
            ]
            # One pod at a time, spread out: each restart is measured alone, not behind a
            # burst of simultaneous starts.
            agent.apply_spread(pods, 0.5 * n, batches=n)
            end = ctx.deadline - 1
            while time.monotonic() < end:
                if agent.stats()["reactions"]["exit_to_restart"]["count"] >= n:
                    break
                time.sleep(0.2)
            r = agent.stats()["reactions"]["exit_to_restart"]
    print(
        f"  cri.agent_exit_restart: {int(r['count'])} restarts through the agent, "
        f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms max {r['max_ms']:.1f} ms"
    )
    if not r["count"]:
        return []
    return [
        Measurement("cri.agent_exit_restart.p50", r["p50_ms"], "ms", better="lower"),
        Measurement(
            "cri.agent_exit_restart.p99", r["p99_ms"], "ms", target="<= 100 ms", better="lower"
        ),
        Measurement("cri.agent_exit_restart.samples", r["count"], "n"),
    ]


@benchmark("cri.agent_exit_restart", quick_budget_s=40, full_budget_s=90)
def agent_exit_restart(ctx: BenchContext) -> list[Measurement]:
    why = _skip_reason()
    if why:
        print(f"  cri.agent_exit_restart: skipped: {why}")
        return []
    return _agent_exit_restart(ctx)


def _cpu_seconds(pid: int, children: bool = True) -> float:
    """utime + stime (+ reaped children's) of `pid`, seconds; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _runtime_cpu(managed: Any) -> float:
    pids = [managed.pid, *managed.shim_pids()]
    return sum(_cpu_seconds(p) for p in pids if p)


async def _exec_cpu(ctx: BenchContext) -> list[Measurement]:
    n = 100 if ctx.quick else 1000
    lat: list[float] = []
    async with _containerd() as (managed, state, runtime, sandboxes):
        sandbox = await sandboxes.create(str(uuid.uuid4()), "execs", False)
        inst = await runtime.start(_request(sandbox, state, "app", ("sleep", "3600")))
        await runtime.exec_sync(inst, ["true"], 5)  # warm
        rt0, me0 = _runtime_cpu(managed), _cpu_seconds(os.getpid(), children=False)
        for _ in range(n):
            if time.monotonic() > ctx.deadline - 3:
                break
            t0 = time.perf_counter()
            out = await runtime.exec_sync(inst, ["true"], 5)
            lat.append((time.perf_counter() - t0) * 1000)
            assert out.output == "" and out.error is None, out
        rt1, me1 = _runtime_cpu(managed), _cpu_seconds(os.getpid(), children=False)
        await runtime.stop(inst, 0)
        await sandboxes.destroy(sandbox)
    if not lat:
        return []
    per = 1000 / len(lat)
    runtime_cpu, own_cpu = (rt1 - rt0) * per, (me1 - me0) * per
    print(
        f"  cri.exec: {len(lat)} ExecSync, p50 {statistics.median(lat):.1f} ms, p99 "
        f"{_pct(lat, 0.99):.1f} ms; CPU per 1,000: containerd+shim+runc {runtime_cpu:.1f} s, "
        f"podkeeper {own_cpu:.2f} s"
    )
    return [
        Measurement("cri.exec.p50", statistics.median(lat), "ms", better="lower"),
        Measurement("cri.exec.p99", _pct(lat, 0.99), "ms", better="lower"),
        Measurement("cri.exec.runtime_cpu_per_1000", runtime_cpu, "cpu-s", better="lower"),
        Measurement("cri.exec.podkeeper_cpu_per_1000", own_cpu, "cpu-s", better="lower"),
    ]


@benchmark("cri.exec", quick_budget_s=20, full_budget_s=90)
def exec_cpu(ctx: BenchContext) -> list[Measurement]:
    why = _skip_reason()
    if why:
        print(f"  cri.exec: skipped: {why}")
        return []
    return asyncio.run(_exec_cpu(ctx))

"""The Kubernetes API under load (issue 11): list, watch latency, watcher cost.

A real agent (`podkeeper up -d`) in a temporary home with 1,000 host-network
pods (quick: 200), reached over its HTTPS listener with the kubeconfig's
client certificate:

- `api.kubectl_get_pods`: wall time of the real `kubectl get pods` (best of 3),
- `api.list_pods`: one `GET /api/v1/namespaces/default/pods` as JSON,
- `api.watch_status_latency`: a container SIGKILLed by the benchmark to the watch
  event that shows it terminated (exit seen, status rebuilt, event delivered),
- `api.watchers_cpu`: the agent's CPU with 50 idle watches of every pod.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import BenchContext, Measurement, benchmark

_KUBECTL = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.32")
WATCHERS = 50
BASE = 700000


def _pods(n: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"load{i:04d}", "labels": {"app": "load"}},
            "spec": {
                "hostNetwork": True,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    # A distinct argument per pod, to find its process.
                    {"name": "app", "image": "busybox", "command": ["sleep", str(BASE + i)]}
                ],
            },
        }
        for i in range(n)
    ]


def _cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podkeeper", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pid_of(arg: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", arg.encode()]:
                    return int(entry.name)
            except OSError:
                continue
    raise RuntimeError(f"no process `sleep {arg}`")


async def _measure(home: Path, n: int, deadline: float) -> dict[str, float]:
    import aiohttp

    config = yaml.safe_load((home / "kubeconfig").read_text())
    base = config["clusters"][0]["cluster"]["server"]
    ctx = ssl.create_default_context(cafile=str(home / "pki/ca.crt"))
    ctx.load_cert_chain(str(home / "pki/admin.crt"), str(home / "pki/admin.key"))
    pid = int((home / "agent.pid").read_text())
    out: dict[str, float] = {}
    conn = aiohttp.TCPConnector(ssl=ctx, limit=0)
    async with aiohttp.ClientSession(base_url=base, connector=conn) as s:
        path = "/api/v1/namespaces/default/pods"
        while time.monotonic() < deadline:
            async with s.get(path, params={"fieldSelector": "status.phase=Running"}) as r:
                if len((await r.json())["items"]) >= n:
                    break
            await asyncio.sleep(0.5)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            async with s.get(path) as r:
                await r.json()
            best = min(best, time.perf_counter() - t)
        out["list"] = best * 1000
        await asyncio.sleep(2)  # let the start-up settle
        lat = []
        for i in range(7):
            name = f"load{i:04d}"
            params = {"watch": "true", "fieldSelector": f"metadata.name={name}"}
            async with s.get(path, params=params) as w:
                await asyncio.wait_for(w.content.readline(), 30)  # ADDED: the watch is live
                await asyncio.sleep(0.3)
                os.kill(_pid_of(str(BASE + i)), signal.SIGKILL)
                t0 = time.perf_counter()
                while True:
                    ev = json.loads(await asyncio.wait_for(w.content.readline(), 30))
                    statuses = (ev["object"].get("status") or {}).get("containerStatuses") or []
                    if any(
                        "terminated" in (c.get("lastState") or {})
                        or "terminated" in (c.get("state") or {})
                        for c in statuses
                    ):
                        lat.append((time.perf_counter() - t0) * 1000)
                        break
        out["watch"] = sorted(lat)[len(lat) // 2]
        streams = [await s.get("/api/v1/pods", params={"watch": "true"}) for _ in range(WATCHERS)]

        async def drain(r: Any) -> None:
            async for _ in r.content:
                pass

        tasks = [asyncio.create_task(drain(r)) for r in streams]
        await asyncio.sleep(2)
        c0, t0 = _cpu(pid), time.monotonic()
        await asyncio.sleep(min(10.0, max(2.0, deadline - time.monotonic() - 5)))
        out["cpu"] = (_cpu(pid) - c0) / (time.monotonic() - t0) * 100
        for task in tasks:
            task.cancel()
        for r in streams:
            r.close()
    return out


@benchmark("api.load", quick_budget_s=60, full_budget_s=180)
def api_load(ctx: BenchContext) -> list[Measurement]:
    n = 200 if ctx.quick else 1000
    tmp = Path(tempfile.mkdtemp(prefix="pk-bench-api-"))
    home = tmp / "home"
    manifest = tmp / "pods.yaml"
    manifest.write_text(yaml.safe_dump_all(_pods(n)))
    rows: list[Measurement] = []
    try:
        up = _cli(home, "up", "-d", "-f", str(manifest))
        if up.returncode != 0:
            raise RuntimeError(f"podkeeper up failed: {up.stderr}")
        got = asyncio.run(_measure(home, n, ctx.deadline - 20))
        kubectl = str(_KUBECTL) if _KUBECTL.exists() else shutil.which("kubectl")
        if kubectl:
            env = {**os.environ, "KUBECONFIG": str(home / "kubeconfig")}
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                subprocess.run([kubectl, "get", "pods"], capture_output=True, env=env, check=True)
                best = min(best, time.perf_counter() - t)
            rows.append(
                Measurement(f"api.kubectl_get_pods.{n}", best, "s", target="< 1 s", better="lower")
            )
        rows += [
            Measurement(f"api.list_pods.{n}", got["list"], "ms", better="lower"),
            Measurement(
                "api.watch_status_latency", got["watch"], "ms", target="< 100 ms", better="lower"
            ),
            Measurement(
                f"api.watchers_cpu.{WATCHERS}", got["cpu"], "%", target="< 10 %", better="lower"
            ),
        ]
    finally:
        _cli(home, "down", timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows

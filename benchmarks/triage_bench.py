"""`podkeeper triage -A` over 1,000 pods against the local agent (issue 15): target < 2 s.

A real agent (`podkeeper up -d`) in a temporary home with N pods (quick: 200)
that cost nothing to run: containers without `command` cannot run on the
process runtime, so every pod waits in `CreateContainerConfigError` and every
one of them is unhealthy: the worst case for triage (a verdict per pod). The
figure is the wall time of the real command line (`podkeeper triage -A -o
json`, best of 3: interpreter start, the kubernetes client, the list calls
over the agent's TLS listener, the verdicts, the JSON), read through the
kubeconfig the agent writes.

Run alone: `python -m benchmarks.triage_bench [N]`; in the suite as `triage.all`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import BenchContext, Measurement, benchmark


def _pods(n: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"broken{i:04d}", "labels": {"app": "broken"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": "busybox"}],
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


def measure(n: int, deadline: float) -> dict[str, float]:
    """Seconds of `triage -A` (best of 3) over `n` unhealthy pods, and the rows it printed."""
    tmp = Path(tempfile.mkdtemp(prefix="pk-bench-triage-"))
    home = tmp / "home"
    manifest = tmp / "pods.yaml"
    manifest.write_text(yaml.safe_dump_all(_pods(n)))
    try:
        up = _cli(home, "up", "-d", "-f", str(manifest))
        if up.returncode != 0:
            raise RuntimeError(f"podkeeper up failed: {up.stderr}")
        rows = 0
        while time.monotonic() < deadline:  # every pod has its waiting status
            got = _cli(home, "triage", "-A", "-o", "json")
            rows = len(json.loads(got.stdout or '{"items": []}')["items"])
            if rows >= n:
                break
            time.sleep(1)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            got = _cli(home, "triage", "-A", "-o", "json")
            best = min(best, time.perf_counter() - t)
        rows = len(json.loads(got.stdout)["items"])
        return {"seconds": best, "rows": float(rows)}
    finally:
        _cli(home, "down", timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


@benchmark("triage.all", quick_budget_s=60, full_budget_s=180)
def triage_all(ctx: BenchContext) -> list[Measurement]:
    n = 200 if ctx.quick else 1000
    got = measure(n, ctx.deadline - 30)
    if got["rows"] < n:
        raise RuntimeError(f"triage printed {got['rows']:.0f} rows for {n} unhealthy pods")
    return [
        Measurement(
            f"triage.all_namespaces.{n}", got["seconds"], "s", target="< 2 s", better="lower"
        )
    ]


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    result = measure(count, time.monotonic() + 240)
    print(f"triage -A over {count} pods: {result['seconds']:.2f} s ({result['rows']:.0f} rows)")

"""End-to-end (issue 4 §2): a rolling update of a 4-replica Deployment through the real agent
and CLI respects maxSurge and maxUnavailable at every moment, and `rollout undo` restores the
previous template under the same bounds.

Two threads poll `podkeeper get pods -o json` back to back (a sample about every 50-100 ms)
while the rollout runs; every sample must satisfy, as the deployment controller counts them
(`pkg/controller/deployment/rolling.go`, `util/deployment_util.go`):

- pods that are not terminating ≤ replicas + maxSurge (a terminating pod no longer counts
  in a ReplicaSet's `status.replicas`),
- Ready pods that are not terminating ≥ replicas − maxUnavailable (minReadySeconds 0: Ready
  is available; a terminating pod is never available).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from typing import Any

import pytest

from .conftest import PK, is_ready

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
REPLICAS = 4
APP = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"  # PID 1 needs a handler
    "time.sleep(3600)\n"
)


def deployment(version: str, surge: int | str, unavailable: int | str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "roll"},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": "roll"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            "template": {
                "metadata": {"labels": {"app": "roll"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"example/roll:{version}",
                            "command": ["python3", "-c", APP],
                            "env": [{"name": "VERSION", "value": version}],
                            # Ready 1 s after start, so that each step of the rollout
                            # lasts long enough for the pollers to see it.
                            "readinessProbe": {
                                "exec": {"command": ["true"]},
                                "initialDelaySeconds": 1,
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def absolute(value: int | str, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent against REPLICAS."""
    if isinstance(value, int):
        return value
    scaled = int(value.rstrip("%")) * REPLICAS / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


Sample = tuple[float, int, int, frozenset[str]]  # (time, live, ready, live versions)


class Poller:
    """Threads that list pods back to back over the agent's API and record every sample.

    The API client runs in this process: a `podkeeper get pods` subprocess per sample
    took 0.3-1 s on a busy 2-core machine, too few samples to see a rollout's steps
    (issue 13 item 17). The rollout itself still goes through the real CLI."""

    def __init__(self, pk: PK, threads: int = 2) -> None:
        self.pk = pk
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        from podkeeper.api.client import Client

        client = Client(str(self.pk.home / "agent.sock"), timeout=10.0)
        while not self._stop.is_set():
            try:
                items = client.list_objects("Pod", None)
            except Exception as e:
                self.errors.append(repr(e))
                continue
            pods = [p for p in items if not p["metadata"].get("deletionTimestamp")]
            versions = frozenset(p["spec"]["containers"][0]["env"][0]["value"] for p in pods)
            ready = sum(1 for p in pods if is_ready(p))
            self.samples.append((time.monotonic(), len(pods), ready, versions))
            time.sleep(0.02)

    def __enter__(self) -> Poller:
        for t in self._threads:
            t.start()
            time.sleep(0.05)  # offset the threads: samples interleave
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)


def roll_and_check(pk: PK, to: Obj, surge: int, unavailable: int, *cmd: str) -> list[Sample]:
    """Apply `to` (or run `cmd` instead, e.g. rollout undo) while polling; check every sample;
    return them."""
    version = to["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
    with Poller(pk) as poller:
        time.sleep(0.2)
        if cmd:
            pk.run(*cmd)
        else:
            pk.run("apply", "-f", str(pk.write("roll.yaml", to)))
        pk.run("rollout", "status", "deployment/roll", "--timeout", "40s", timeout=60)
        pk.wait_for(
            "all replaced",
            lambda: (
                poller.samples
                and poller.samples[-1][1:] == (REPLICAS, REPLICAS, frozenset({version}))
            ),
            20,
            0.1,
        )
    samples = sorted(poller.samples)
    assert not poller.errors, poller.errors[:3]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(samples)]
    assert len(samples) >= 20 and max(gaps) < 0.5, (len(samples), max(gaps))
    bad = [s for s in samples if s[1] > REPLICAS + surge or s[2] < REPLICAS - unavailable]
    assert not bad, f"bounds broken (t, live, ready, versions): {bad[:5]}"
    # It did roll through intermediate states, not all at once.
    assert any(len(s[3]) == 2 for s in samples), samples
    return samples


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("surge", "unavailable"), [(1, 1), ("25%", 0)], ids=["surge1-unavail1", "25pct-0"]
)
def test_rollout_respects_max_surge_and_max_unavailable(
    pk: PK, surge: int | str, unavailable: int | str
) -> None:
    s, u = absolute(surge, True), absolute(unavailable, False)
    pk.up(deployment("v1", surge, unavailable), wait=True)
    pk.wait_for("4 ready v1", lambda: sum(is_ready(p) for p in pk_pods(pk)) == REPLICAS, 30, 0.2)
    v1_hash = {p["metadata"]["labels"]["pod-template-hash"] for p in pk_pods(pk)}
    samples = roll_and_check(pk, deployment("v2", surge, unavailable), s, u)
    peak = max(x[1] for x in samples)
    assert peak == REPLICAS + s  # the surge was used, not just respected
    if isinstance(surge, str):
        return
    # Undo: the previous template (same pod-template-hash), under the same bounds.
    roll_and_check(
        pk, deployment("v1", surge, unavailable), s, u, "rollout", "undo", "deployment/roll"
    )
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pk_pods(pk)} == v1_hash


def pk_pods(pk: PK) -> list[Obj]:
    items: list[Obj] = json.loads(pk.run("get", "pods", "-o", "json").out)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]

"""A Deployment through the real CLI and agent: up --wait, Kubernetes pod names, a deleted
pod replaced, a rolling update, rollout status/history/undo and scale (issue 4, section 2).

The pods run on the host network when the agent is not root, so they do not each listen
on one port: readiness is an exec probe with a 1 s period, and the version lives in env.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import reap_home

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {{app: web}}
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: example/web:{version}
        command: ["{python}", "-c", "import time; time.sleep(3600)"]
        env:
        - {{name: VERSION, value: "{version}"}}
        readinessProbe:
          exec: {{command: ["true"]}}
          periodSeconds: 1
"""


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home

    def run(
        self, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "podkeeper", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PODKEEPER_LOG_LEVEL": "WARNING"},
        )
        if check:
            assert proc.returncode == 0, (
                f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def pods(self) -> list[Obj]:
        items: list[Obj] = json.loads(self.run("get", "pods", "-o", "json").stdout)["items"]
        return items


def _alive(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def _version(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["env"][0]["value"])


def _wait_for(cli: Cli, check: Any, timeout: float = 40.0) -> list[Obj]:
    deadline = time.monotonic() + timeout
    while True:
        pods = cli.pods()
        if check(pods):
            return pods
        if time.monotonic() > deadline:
            raise AssertionError(json.dumps([p["metadata"]["name"] for p in pods]))
        time.sleep(0.2)


@pytest.fixture
def cli() -> Iterator[Cli]:
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    home = Path(tempfile.mkdtemp(prefix="pk-"))
    c = Cli(home)
    try:
        yield c
    finally:
        c.run("down", timeout=60, check=False)
        reap_home(home)
        shutil.rmtree(home, ignore_errors=True)


def _write(home: Path, version: str) -> Path:
    path = home / "deploy.yaml"
    path.write_text(MANIFEST.format(version=version, python=sys.executable))
    return path


@pytest.mark.timeout(240)
def test_deployment_lifecycle_through_the_cli(cli: Cli) -> None:
    manifest = _write(cli.home, "v1")
    up = cli.run("up", "-d", "-f", str(manifest), "--wait", "--timeout", "60s", timeout=90)
    assert "deployment.apps/web created" in up.stdout

    # Three Ready pods named <deploy>-<pod-template-hash>-<5 chars>.
    pods = _wait_for(cli, lambda ps: len(_alive(ps)) == 3 and all(_ready(p) for p in ps))
    names = [p["metadata"]["name"] for p in pods]
    assert all(re.fullmatch(rf"web-{ALNUM}+-{ALNUM}{{5}}", n) for n in names), names
    pod_hash = pods[0]["metadata"]["labels"]["pod-template-hash"]
    assert all(n.startswith(f"web-{pod_hash}-") for n in names)
    table = cli.run("get", "deployments").stdout
    assert re.search(r"^web\s+3/3\s+3\s+3\s+", table, re.M), table

    # A deleted pod is replaced; three stay Ready.
    victim = names[0]
    cli.run("delete", "pod", victim, "--grace-period", "1")
    pods = _wait_for(
        cli,
        lambda ps: (
            len(_alive(ps)) == 3
            and all(_ready(p) for p in _alive(ps))
            and victim not in {p["metadata"]["name"] for p in ps}
        ),
    )

    # A changed template rolls out.
    cli.run("apply", "-f", str(_write(cli.home, "v2")))
    status = cli.run("rollout", "status", "deployment/web", "--timeout", "60s", timeout=90)
    assert status.stdout.rstrip().endswith('deployment "web" successfully rolled out'), (
        status.stdout
    )
    pods = _wait_for(cli, lambda ps: len(ps) == 3 and all(_version(p) == "v2" for p in ps))
    assert all(_ready(p) for p in pods)
    assert cli.run("rollout", "history", "deployment/web").stdout.split("\n")[:4] == [
        "deployment.apps/web ",
        "REVISION  CHANGE-CAUSE",
        "1         <none>",
        "2         <none>",
    ]

    # Undo restores the previous template (and its ReplicaSet, hence its hash).
    assert (
        cli.run("rollout", "undo", "deployment/web").stdout.strip()
        == "deployment.apps/web rolled back"
    )
    cli.run("rollout", "status", "deployment/web", "--timeout", "60s", timeout=90)
    pods = _wait_for(cli, lambda ps: len(ps) == 3 and all(_version(p) == "v1" for p in ps))
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {pod_hash}
    deployment = json.loads(cli.run("get", "deployment", "web", "-o", "json").stdout)
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    conditions = {c["type"]: c["reason"] for c in deployment["status"]["conditions"]}
    assert conditions == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }

    # Scale.
    assert (
        cli.run("scale", "deployment/web", "--replicas", "1").stdout.strip()
        == "deployment.apps/web scaled"
    )
    _wait_for(cli, lambda ps: len(ps) == 1)
    events = cli.run("events").stdout
    assert f"Scaled down replica set web-{pod_hash} from 3 to 1" in events

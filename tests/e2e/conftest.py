"""End-to-end fixtures: a private PODKEEPER_HOME per test and the real `podkeeper` CLI.

Every test talks to a real agent through the real command line, exactly as a
user would; the agent is drained (`down`) and, if that fails, killed at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class PK:
    """Runs `podkeeper --home H ...` and reads JSON back."""

    home: Path
    tmp: Path

    def run(self, *args: str, timeout: float = 60, check: bool = True) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "podkeeper", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        res = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"podkeeper {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
            )
        return res

    def write(self, name: str, objs: Any) -> Path:
        path = self.tmp / name
        docs = objs if isinstance(objs, list) else [objs]
        path.write_text(yaml.safe_dump_all(docs))
        return path

    def up(self, *objs: dict[str, Any], wait: bool = False, timeout: str = "60s") -> Result:
        path = self.write(f"m{time.monotonic_ns()}.yaml", list(objs))
        args = ["up", "-d", "-f", str(path)]
        if wait:
            args += ["--wait", "--timeout", timeout]
        return self.run(*args, timeout=120)

    def pod(self, name: str) -> dict[str, Any]:
        return json.loads(self.run("get", "pod", name, "-o", "json").out)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        args = ["events", "-o", "json"] + ([name] if name else [])
        return list(json.loads(self.run(*args).out)["items"])

    def wait_for(
        self, what: str, pred: Callable[[], Any], timeout: float, interval: float = 0.2
    ) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = pred()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def agent_pid(self) -> int | None:
        try:
            return int((self.home / "agent.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None


def reap_home(home: Path) -> None:
    """What the next agent of `home` would do, for a test home no agent will use again:
    kill the containers a dead or stuck agent left (containers.json) and remove its
    cgroups. Without this a failed `down` leaks processes and memory cgroups across runs."""
    try:
        live = json.loads((home / "containers.json").read_text())
    except (FileNotFoundError, ValueError):
        live = {}
    for info in live.values():
        try:
            os.killpg(int(info["pid"]), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    from podkeeper.runtime.cgroups import CgroupManager, root_name_for_home

    cgroups = CgroupManager(root_name_for_home(str(home)))
    if os.geteuid() == 0 and cgroups.available()[0]:
        cgroups.cleanup_stale()
        # The home's root too (checking availability makes it): a root left behind is
        # never swept once pytest deletes the home, and every e2e test left one.
        cgroups.remove_root(timeout=5.0)


@pytest.fixture
def pk(tmp_path: Path) -> Iterator[PK]:
    home = tmp_path / "home"
    p = PK(home, tmp_path)
    yield p
    pid = p.agent_pid()
    if (home / "agent.sock").exists():
        p.run("down", timeout=90, check=False)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_home(home)


def container_status(pod: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    statuses = pod["status"].get("containerStatuses", []) + pod["status"].get(
        "initContainerStatuses", []
    )
    for s in statuses:
        if name is None or s["name"] == name:
            return dict(s)
    raise KeyError(name)


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def pod_manifest(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A Pod with a 2 s grace unless given: a PID 1 without a SIGTERM handler (python, sleep)
    ignores SIGTERM in its PID namespace, so every stop would otherwise take 30 s."""
    spec.setdefault("terminationGracePeriodSeconds", 2)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers, **spec},
    }

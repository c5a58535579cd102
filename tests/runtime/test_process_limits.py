"""Resource limits and OOM evidence with real cgroups (root only, issue 3)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podkeeper.core.spec import Resources
from podkeeper.runtime.cgroups import CgroupManager
from podkeeper.runtime.interface import ExitInfo, StartRequest
from podkeeper.runtime.logs import container_log_path
from podkeeper.runtime.process import ProcessRuntime
from podkeeper.testing import cgroup_skip_reason

PY = sys.executable
MI = 1 << 20


_SKIP = cgroup_skip_reason()
pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(_SKIP), reason=_SKIP or "n/a")]


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    mgr = CgroupManager(root_name=f"podkeeper-test-{uuid.uuid4().hex[:8]}")
    runtime = ProcessRuntime(str(tmp_path), mgr)
    yield runtime
    await asyncio.wait_for(runtime.shutdown(), 10)
    assert mgr.instances() == [], "instance cgroups left behind"
    mgr.remove_root()


def req(rt: ProcessRuntime, code: str, resources: Resources) -> StartRequest:
    n = uuid.uuid4().hex[:8]
    return StartRequest(
        pod_name="p",
        namespace="default",
        pod_uid="uid-limits",
        container_name="c",
        instance_id=f"inst-{n}",
        argv=(PY, "-c", code),
        command=(PY, "-c", code),
        env={"PATH": "/usr/bin:/bin"},
        working_dir="",
        log_path=container_log_path(rt.home, "default", "p", "uid-limits", "c", 0) + n,
        resources=resources,
    )


async def run(rt: ProcessRuntime, r: StartRequest, timeout: float = 20) -> ExitInfo:
    inst = await rt.start(r)
    return await asyncio.wait_for(inst.wait(), timeout)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


async def test_over_memory_limit_is_oom_killed(rt: ProcessRuntime) -> None:
    code = "x = b'x' * (200 * 1024 * 1024); print('survived')"
    info = await run(rt, req(rt, code, Resources(limits_memory=64 * MI)))
    assert (info.exit_code, info.signal) == (137, signal.SIGKILL)
    assert info.oom_killed
    assert info.oom_kills_in_instance >= 1
    assert info.memory_limit == 64 * MI
    assert info.memory_peak is not None and 32 * MI < info.memory_peak <= 64 * MI
    assert info.sent_by_us is None


async def test_child_oom_while_parent_lives_is_not_the_verdict(rt: ProcessRuntime) -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-c', \"x = b'x' * (200 * 1024 * 1024)\"])\n"
        "print('child', p.returncode, flush=True)\n"
    )
    r = req(rt, code, Resources(limits_memory=64 * MI))
    info = await run(rt, r)
    assert info.exit_code == 0 and info.signal is None
    assert not info.oom_killed
    assert info.oom_kills_in_instance >= 1
    assert "child -9" in _read(r.log_path)
    # Best effort: the kernel log names the victim when /dev/kmsg is readable.
    if os.access("/dev/kmsg", os.R_OK):
        assert len(info.oom_victims) == 1 and info.oom_victims[0].startswith("pid ")
        assert "python" in info.oom_victims[0]


async def test_cpu_limit_throttles(rt: ProcessRuntime) -> None:
    code = "import time\nend = time.time() + 2.0\nwhile time.time() < end: pass\n"
    info = await run(rt, req(rt, code, Resources(limits_cpu_milli=200)))
    assert info.exit_code == 0
    assert info.cpu_usage_seconds is not None
    # 200m over ~2 s = 0.4 s of CPU; allow 10 % (plus interpreter start-up before the loop).
    assert info.cpu_usage_seconds <= 0.4 * 1.1 + 0.05
    assert info.cpu_usage_seconds >= 0.2
    assert info.cpu_nr_throttled is not None and info.cpu_nr_throttled > 0


async def test_pids_limit_stops_a_fork_loop(rt: ProcessRuntime) -> None:
    code = (
        "import os, time\n"
        "made = 0\n"
        "deadline = time.time() + 5\n"
        "for _ in range(200):\n"
        "    if time.time() > deadline: break\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(5)\n"
        "        os._exit(0)\n"
        "    made += 1\n"
        "print('made', made, flush=True)\n"
    )
    r = req(rt, code, Resources(limits_pids=50))
    info = await run(rt, r)
    assert info.exit_code == 0
    made = int(_read(r.log_path).split()[-1])
    assert 40 <= made < 50

"""Per-instance cgroups: layout detection (pure) and real cgroups (root)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from podkeeper.runtime.cgroups import (
    CgroupManager,
    cpu_quota_us,
    cpu_shares,
    cpu_weight,
    detect,
    parse_mountinfo,
    root_name_for_home,
)

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /mnt/with\\040space rw - cgroup cgroup rw,freezer
"""


def test_parse_mountinfo() -> None:
    assert parse_mountinfo(MOUNTINFO) == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory",
        "pids": "/sys/fs/cgroup/pids",
    }


def test_detect_v1_when_no_unified_controllers(tmp_path: pytest.TempPathFactory) -> None:
    mi = os.path.join(str(tmp_path), "mountinfo")
    with open(mi, "w") as f:
        f.write(MOUNTINFO)
    layout = detect(mount=str(tmp_path), mountinfo=mi)
    assert layout.version == 1 and layout.v1_mount("memory") == "/sys/fs/cgroup/memory"
    open(os.path.join(str(tmp_path), "cgroup.controllers"), "w").close()
    assert detect(mount=str(tmp_path), mountinfo=mi).version == 2


@pytest.mark.parametrize(
    ("milli", "quota", "shares"), [(200, 20000, 204), (1000, 100000, 1024), (1, 1000, 2)]
)
def test_cpu_conversions(milli: int, quota: int, shares: int) -> None:
    # pkg/kubelet/cm/helpers_linux.go MilliCPUToQuota / MilliCPUToShares.
    assert cpu_quota_us(milli) == quota
    assert cpu_shares(milli) == shares
    assert cpu_weight(2) == 1 and cpu_weight(262144) == 10000


def test_root_name_for_home_is_stable_and_distinct() -> None:
    assert root_name_for_home("/a") == root_name_for_home("/a/")
    assert root_name_for_home("/a") != root_name_for_home("/b")


def _cat(*parts: str) -> str:
    with open(os.path.join(*parts)) as f:
        return f.read().strip()


def _manager() -> CgroupManager:
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    mgr = CgroupManager(root_name=f"podkeeper-test-{uuid.uuid4().hex[:8]}")
    ok, why = mgr.available()
    if not ok:
        pytest.skip(f"cgroups unavailable: {why}")
    return mgr


def _cleanup(mgr: CgroupManager) -> None:
    mgr.cleanup_stale()
    mgr.remove_root()


def test_not_root_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ok, why = CgroupManager(root_name="podkeeper-never").available()
    assert not ok and "not running as root" in why


@pytest.mark.root
def test_create_limits_evidence_kill_remove() -> None:
    mgr = _manager()
    try:
        cg = mgr.create(
            "pod1",
            "inst1",
            memory_bytes=64 << 20,
            cpu_milli=200,
            cpu_request_milli=100,
            pids_max=50,
        )
        if mgr.layout.version == 1:
            mem = cg.dirs["memory"]
            assert _cat(mem, "memory.limit_in_bytes") == str(64 << 20)
            cpu = cg.dirs["cpu"]
            assert _cat(cpu, "cpu.cfs_quota_us") == "20000"
            assert _cat(cpu, "cpu.cfs_period_us") == "100000"
            assert _cat(cg.dirs["pids"], "pids.max") == "50"
        proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            cg.add(proc.pid)
            assert cg.pids() == {proc.pid}
            ev = cg.read_evidence()
            assert ev.memory_limit == 64 << 20
            assert ev.pids_limit == 50
            assert ev.oom_kills == 0
            assert ev.memory_peak is not None  # v1 does not move charges of a moved process
            assert cg.kill_all(signal.SIGKILL) == 1
            assert proc.wait(timeout=5) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert cg.remove_sync(timeout=2)
        assert all(not os.path.exists(d) for d in cg.dirs.values())
        assert mgr.instances() == []
    finally:
        _cleanup(mgr)


@pytest.mark.root
async def test_remove_kills_leftovers_and_cleanup_stale() -> None:
    mgr = _manager()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        a = mgr.create("podA", "a1")
        b = mgr.create("podA", "a2")
        for cg in (a, b):
            p = subprocess.Popen(["sleep", "30"], start_new_session=True)
            procs.append(p)
            cg.add(p.pid)
        assert await a.remove(timeout=2)
        assert procs[0].wait(timeout=5) == -signal.SIGKILL
        # A new agent finds b (as if left by a crashed agent) and removes it, sparing `keep`.
        c = mgr.create("podB", "keepme")
        assert [os.path.basename(i.rel_path) for i in mgr.instances()] == ["a2", "keepme"]
        assert mgr.cleanup_stale(keep=frozenset({"keepme"})) == 1
        assert procs[1].wait(timeout=5) == -signal.SIGKILL
        assert [i.rel_path for i in mgr.instances()] == [c.rel_path]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        _cleanup(mgr)


def _dead_home(path: Path) -> str:
    """A home whose agent provably died: its lock file free, its pid file naming no process."""
    path.mkdir()
    (path / "agent.lock").touch()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (path / "agent.pid").write_text(str(dead.pid))
    return str(path)


def test_sweep_abandoned_removes_only_what_a_provably_dead_home_owns(tmp_path: Path) -> None:
    """A temp home's dead agent must not leak cgroups forever (the memcg cap is 65,535), and
    a sweep must never touch a live home's, an unmarked root or a vanished home's (issue 13
    item 8): before, every other `podkeeper-*` root's empty folders went."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    from podkeeper.home import hold_agent_lock

    dead_home = _dead_home(tmp_path / "dead")
    live_home = str(tmp_path / "live")
    os.mkdir(live_home)
    gone_home = str(tmp_path / "gone")
    mine = CgroupManager("podkeeper-sweepme0")
    dead = CgroupManager(root_name_for_home(dead_home), home=dead_home)
    live = CgroupManager(root_name_for_home(live_home), home=live_home)
    gone = CgroupManager(root_name_for_home(gone_home), home=gone_home)
    unmarked = CgroupManager("podkeeper-sweepunm")
    managers = (mine, dead, live, gone, unmarked)
    if not all(m.available()[0] for m in managers):
        pytest.skip("cgroups unavailable here")
    lock = hold_agent_lock(Path(live_home))
    assert lock is not None
    empty = dead.create("pod-a", "inst-empty")
    busy = dead.create("pod-b", "inst-busy")
    kept = {
        "live": live.create("pod-l", "inst-live"),
        "gone": gone.create("pod-g", "inst-gone"),
        "unmarked": unmarked.create("pod-u", "inst-unm"),
        "own": mine.create("pod-c", "inst-mine"),
    }
    proc = subprocess.Popen(["sleep", "30"])
    try:
        busy.add(proc.pid)
        mine.sweep_abandoned(min_age=0)
        assert not any(os.path.isdir(d) for d in empty.dirs.values())
        assert all(os.path.isdir(d) for d in busy.dirs.values())  # something runs there
        for why, cg in kept.items():
            assert all(os.path.isdir(d) for d in cg.dirs.values()), why
        # The live agent dies: now its empty cgroups go too.
        os.close(lock)
        lock = None
        (Path(live_home) / "agent.pid").write_text("999999999")
        mine.sweep_abandoned(min_age=0)
        assert not any(os.path.isdir(d) for d in kept["live"].dirs.values())
    finally:
        if lock is not None:
            os.close(lock)
        proc.kill()
        proc.wait()
        busy.remove_sync()
        for m in managers:
            m.cleanup_stale()
            m.remove_root()


@pytest.mark.root
def test_oom_eventfd_fires_at_the_oom() -> None:
    """The kernel's OOM notification (v1) arrives for a cgroup that hits its limit, so the
    CRI runtime can read the memory peak before runc removes the cgroup."""
    import select

    mgr = _manager()
    if mgr.layout.version != 1:
        _cleanup(mgr)
        pytest.skip("the OOM eventfd is cgroup v1's; v2 has memory.events")
    try:
        cg = mgr.create("pod1", "hog", memory_bytes=16 << 20)
        efd = cg.oom_eventfd()
        assert efd is not None
        try:
            assert select.select([efd], [], [], 0)[0] == []  # nothing yet
            hog = subprocess.Popen(
                ["sh", "-c", "read go; exec tail /dev/zero"],
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
            cg.add(hog.pid)
            assert hog.stdin is not None
            hog.stdin.write(b"go\n")
            hog.stdin.close()
            assert hog.wait(timeout=60) == -signal.SIGKILL
            assert select.select([efd], [], [], 10)[0] == [efd]
            assert int.from_bytes(os.read(efd, 8), "little") >= 1
            ev = cg.read_evidence()
            assert ev.oom_kills >= 1
            assert ev.memory_peak is not None and ev.memory_peak > 8 << 20
        finally:
            os.close(efd)
        assert cg.remove_sync(timeout=5)
    finally:
        _cleanup(mgr)

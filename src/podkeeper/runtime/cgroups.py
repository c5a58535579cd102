"""One cgroup per container instance: limits, a kill that reaches every descendant, evidence.

Mimics what the kubelet asks of runc through containerd (`pkg/kubelet/cm/helpers_linux.go`
`MilliCPUToQuota`/`MilliCPUToShares`, runc `libcontainer/cgroups/fs` and `fs2`):
memory, cpu and pids limits on a per-instance cgroup, created before the process
execs and removed once its evidence is read. Both cgroup v2 (unified) and v1
(a hierarchy per controller, found in /proc/self/mountinfo) are handled.

Layout: `<hierarchy>/<root_name>/<pod_uid>/<instance_id>`, like the kubelet's
`/kubepods/pod<uid>/<container id>`. The hierarchy root (not the agent's own
cgroup) is used, as the kubelet does, so every instance is found again by
`cleanup_stale` after an agent crash. Give each agent home its own `root_name`
(`root_name_for_home`) so two agents never touch each other's cgroups.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

from podkeeper.home import home_agent_gone

CGROUP_MOUNT = "/sys/fs/cgroup"
# `pkg/kubelet/cm/helpers_linux.go`: QuotaPeriod 100ms, MinQuotaPeriod 1ms, MinShares 2.
CPU_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000
MIN_SHARES = 2
SHARES_PER_CPU = 1024
# v1 controllers used; cpuacct is read for usage, freezer is not needed.
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V1_REQUIRED = ("memory", "cpu", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class CgroupLayout:
    """Where the cgroup hierarchies are. `version` 2: `v2_root`; 1: controller → mount dir."""

    version: int
    v2_root: str = ""
    v1_mounts: tuple[tuple[str, str], ...] = ()

    def v1_mount(self, controller: str) -> str | None:
        return dict(self.v1_mounts).get(controller)


def _unescape_mount(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out: list[str] = []
    i = 0
    while i < len(path):
        if path[i] == "\\" and path[i + 1 : i + 4].isdigit() and len(path[i + 1 : i + 4]) == 3:
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> dict[str, str]:
    """v1 controller name → mount point, from /proc/self/mountinfo text.

    Co-mounted controllers (`cpu,cpuacct`) map to the same directory."""
    mounts: dict[str, str] = {}
    for line in text.splitlines():
        if " - " not in line:
            continue
        pre, post = line.split(" - ", 1)
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        mount_point = _unescape_mount(fields[4])
        for opt in tail[2].split(","):
            if opt in V1_CONTROLLERS and opt not in mounts:
                mounts[opt] = mount_point
    return mounts


def detect(mount: str = CGROUP_MOUNT, mountinfo: str = "/proc/self/mountinfo") -> CgroupLayout:
    """v2 when `<mount>/cgroup.controllers` exists, else the v1 per-controller mounts.

    A hybrid host (v1 controllers plus an empty v2 at /sys/fs/cgroup/unified) is v1."""
    if os.path.exists(os.path.join(mount, "cgroup.controllers")):
        return CgroupLayout(version=2, v2_root=mount)
    try:
        with open(mountinfo, encoding="utf-8") as f:
            mounts = parse_mountinfo(f.read())
    except OSError:
        mounts = {}
    return CgroupLayout(version=1, v1_mounts=tuple(sorted(mounts.items())))


#: Extended attribute on a home's cgroup root folders naming the home (absolute path).
HOME_XATTR = "trusted.podkeeper.home"


def _home_mark(path: str) -> str | None:
    try:
        return os.getxattr(path, HOME_XATTR).decode()
    except (OSError, UnicodeDecodeError):
        return None


def _remove_empty(root: str, now: float, min_age: float) -> int:
    """rmdir every empty cgroup folder under (and including) `root`, deepest first,
    that is older than `min_age` seconds and has no process; how many went."""
    removed = 0
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        try:
            # (min_age 0 skips the check: cgroupfs stamps with a coarse clock)
            if min_age > 0 and now - os.stat(dirpath).st_mtime < min_age:
                continue
            if _read(os.path.join(dirpath, "cgroup.procs")):
                continue  # something still runs there
            os.rmdir(dirpath)
            removed += 1
        except OSError:
            continue
    return removed


def root_name_for_home(home: str) -> str:
    """A cgroup root name private to one agent home: `podkeeper-<8 hex of its path>`."""
    digest = hashlib.sha256(os.path.abspath(home).encode()).hexdigest()[:8]
    return f"podkeeper-{digest}"


def cpu_quota_us(milli_cpu: int, period_us: int = CPU_PERIOD_US) -> int:
    """`MilliCPUToQuota`: millicores → CFS quota in µs per `period_us`, at least 1 ms."""
    return max(milli_cpu * period_us // 1000, MIN_QUOTA_US)


def cpu_shares(milli_cpu: int) -> int:
    """`MilliCPUToShares`: millicores → v1 cpu.shares, at least 2."""
    return max(milli_cpu * SHARES_PER_CPU // 1000, MIN_SHARES)


def cpu_weight(shares: int) -> int:
    """runc/systemd conversion of v1 shares to v2 cpu.weight (1-10000)."""
    return 1 + ((shares - 2) * 9999) // 262142


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


@dataclass
class CgroupEvidence:
    """What the instance's cgroup recorded, read before teardown.

    Bytes, nanoseconds, counts. `oom_kills` is this cgroup's own count (a fresh
    cgroup per instance, so never cumulative across restarts); `oom_source`
    says where it came from: "memory.events", "memory.oom_control", or
    "memory.failcnt" (v1 kernels without the oom_kill line: limit hits, which is
    weaker evidence) ."""

    memory_limit: int | None = None
    memory_peak: int | None = None
    oom_kills: int = 0
    oom_source: str | None = None
    cpu_usage_ns: int | None = None
    cpu_nr_periods: int | None = None
    cpu_nr_throttled: int | None = None
    cpu_throttled_ns: int | None = None
    pids_limit: int | None = None


class InstanceCgroup:
    """The cgroup(s) of one container instance (one directory per v1 controller, or one v2)."""

    def __init__(self, layout: CgroupLayout, rel_path: str, dirs: dict[str, str]) -> None:
        self.layout = layout
        self.rel_path = rel_path  # "/<root>/<pod>/<instance>": as the kernel's OOM line prints it
        self.dirs = dirs  # controller ("unified" on v2) → absolute directory

    @property
    def procs_files(self) -> tuple[str, ...]:
        """Every `cgroup.procs` a process must be written to (deduplicated)."""
        return tuple(sorted({os.path.join(d, "cgroup.procs") for d in self.dirs.values()}))

    def _dir(self, controller: str) -> str | None:
        if self.layout.version == 2:
            return self.dirs.get("unified")
        return self.dirs.get(controller)

    def add(self, pid: int) -> None:
        """Move process `pid` (all its threads) into every controller of this instance."""
        for procs in self.procs_files:
            _write(procs, str(pid))

    def oom_eventfd(self) -> int | None:
        """An eventfd the kernel signals when this cgroup hits its memory limit (cgroup v1
        memory controller: `cgroup.event_control` with `memory.oom_control`,
        Documentation/admin-guide/cgroup-v1/memory.rst section 9), or None (v2, no memory
        controller, or not permitted). It fires at the OOM itself, before the victim dies,
        so the evidence can be read before a runtime that removes the cgroup at the exit
        (runc) takes it away; it also fires when the cgroup is removed."""
        mem = self._dir("memory")
        if self.layout.version == 2 or mem is None:
            return None
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            ofd = os.open(os.path.join(mem, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                _write(os.path.join(mem, "cgroup.event_control"), f"{efd} {ofd}")
            finally:
                os.close(ofd)
        except OSError:
            os.close(efd)
            return None
        return efd

    def pids(self) -> set[int]:
        """Every process currently in the cgroup (union over controllers)."""
        found: set[int] = set()
        for procs in self.procs_files:
            for line in (_read(procs) or "").split():
                if line.isdigit():
                    found.add(int(line))
        return found

    def kill_all(self, sig: int) -> int:
        """Send `sig` to every process in the cgroup, however far it wandered from the
        process group (setsid, double fork). Returns how many were signalled."""
        n = 0
        for pid in self.pids():
            try:
                os.kill(pid, sig)
                n += 1
            except ProcessLookupError:
                pass
        return n

    def memory_working_set(self) -> int | None:
        """Bytes in use less the inactive page cache: the kubelet's (cAdvisor's) working
        set, which its memory eviction ranks pods by. None without a memory controller."""
        if self.layout.version == 2:
            d = self.dirs.get("unified")
            usage = _read_int(os.path.join(d, "memory.current")) if d else None
            inactive = _read_kv(os.path.join(d, "memory.stat")).get("inactive_file") if d else None
        else:
            mem = self._dir("memory")
            usage = _read_int(os.path.join(mem, "memory.usage_in_bytes")) if mem else None
            inactive = (
                _read_kv(os.path.join(mem, "memory.stat")).get("total_inactive_file")
                if mem
                else None
            )
        if usage is None:
            return None
        return max(usage - (inactive or 0), 0)

    def read_evidence(self) -> CgroupEvidence:
        """Read limits, peak, OOM kills and CPU accounting. Call before `remove`."""
        ev = CgroupEvidence()
        if self.layout.version == 2:
            d = self.dirs["unified"]
            ev.memory_limit = _read_int(os.path.join(d, "memory.max"))
            ev.memory_peak = _read_int(os.path.join(d, "memory.peak"))
            events = _read_kv(os.path.join(d, "memory.events"))
            if "oom_kill" in events:
                ev.oom_kills, ev.oom_source = events["oom_kill"], "memory.events"
            stat = _read_kv(os.path.join(d, "cpu.stat"))
            if "usage_usec" in stat:
                ev.cpu_usage_ns = stat["usage_usec"] * 1000
            if "throttled_usec" in stat:
                ev.cpu_throttled_ns = stat["throttled_usec"] * 1000
            ev.cpu_nr_periods = stat.get("nr_periods")
            ev.cpu_nr_throttled = stat.get("nr_throttled")
            ev.pids_limit = _read_int(os.path.join(d, "pids.max"))
            return ev
        mem = self._dir("memory")
        if mem:
            limit = _read_int(os.path.join(mem, "memory.limit_in_bytes"))
            # v1 reports "no limit" as PAGE_COUNTER_MAX pages (~2^63).
            ev.memory_limit = limit if limit is not None and limit < 1 << 62 else None
            ev.memory_peak = _read_int(os.path.join(mem, "memory.max_usage_in_bytes"))
            oom = _read_kv(os.path.join(mem, "memory.oom_control"))
            if "oom_kill" in oom:
                ev.oom_kills, ev.oom_source = oom["oom_kill"], "memory.oom_control"
            else:
                failcnt = _read_int(os.path.join(mem, "memory.failcnt"))
                if failcnt:
                    ev.oom_kills, ev.oom_source = failcnt, "memory.failcnt"
        acct = self._dir("cpuacct")
        if acct:
            ev.cpu_usage_ns = _read_int(os.path.join(acct, "cpuacct.usage"))
        cpu = self._dir("cpu")
        if cpu:
            stat = _read_kv(os.path.join(cpu, "cpu.stat"))
            ev.cpu_nr_periods = stat.get("nr_periods")
            ev.cpu_nr_throttled = stat.get("nr_throttled")
            ev.cpu_throttled_ns = stat.get("throttled_time")
        pids = self._dir("pids")
        if pids:
            ev.pids_limit = _read_int(os.path.join(pids, "pids.max"))
        return ev

    async def remove(self, timeout: float = 2.0) -> bool:
        """SIGKILL whatever is left, wait for it to go, and rmdir (retrying on EBUSY).

        Returns True when every directory is gone. Also removes the pod's
        directory once its last instance is gone."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.kill_all(signal.SIGKILL)
            if _rmdir_all(self.dirs.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005 if left == 0 else 0.01)

    def remove_sync(self, timeout: float = 2.0) -> bool:
        """`remove` for code without an event loop (stale cleanup at agent start)."""
        deadline = time.monotonic() + timeout
        while True:
            self.kill_all(signal.SIGKILL)
            if _rmdir_all(self.dirs.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _rmdir_all(dirs: Iterable[str]) -> bool:
    ok = True
    for d in dirs:
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
                ok = False
            else:
                raise
        else:
            # The pod directory goes with its last instance; a sibling keeps it (ENOTEMPTY).
            try:
                os.rmdir(os.path.dirname(d))
            except OSError:
                pass
    return ok


class CgroupManager:
    """Creates, finds and cleans up per-instance cgroups under `root_name`."""

    def __init__(
        self,
        root_name: str = "podkeeper",
        layout: CgroupLayout | None = None,
        home: str | None = None,
    ) -> None:
        self.root_name = root_name
        self.layout = layout if layout is not None else detect()
        self._available: tuple[bool, str] | None = None
        #: The agent home this root belongs to, written on the root folders
        #: (`HOME_XATTR`) so that other agents' sweeps can prove whose it is.
        self.home = home

    def _bases(self) -> dict[str, str]:
        """controller (or "unified") → the hierarchy directory holding `root_name`."""
        if self.layout.version == 2:
            return {"unified": self.layout.v2_root}
        return {c: m for c, m in self.layout.v1_mounts if c in V1_CONTROLLERS}

    def available(self) -> tuple[bool, str]:
        """(True, "") when instances can get cgroups, else (False, why) to warn about once.

        Checks root privileges, the controllers, and that the root directory can
        be created (a read-only /sys/fs/cgroup fails here)."""
        if self._available is None:
            self._available = self._check()
        return self._available

    def _check(self) -> tuple[bool, str]:
        if os.geteuid() != 0:
            return False, "not running as root: cannot create cgroups, limits are not enforced"
        if self.layout.version == 2:
            ctrl = (_read(os.path.join(self.layout.v2_root, "cgroup.controllers")) or "").split()
            missing = [c for c in V2_CONTROLLERS if c not in ctrl]
        else:
            missing = [c for c in V1_REQUIRED if self.layout.v1_mount(c) is None]
        if missing:
            return False, f"cgroup controller(s) not available: {', '.join(missing)}"
        try:
            for base in self._bases().values():
                os.makedirs(os.path.join(base, self.root_name), exist_ok=True)
                self._mark_home(os.path.join(base, self.root_name))
            if self.layout.version == 2:
                self._enable_v2(os.path.join(self.layout.v2_root, self.root_name))
        except OSError as e:
            return False, f"cannot create cgroups under {CGROUP_MOUNT}: {e.strerror or e}"
        return True, ""

    def _mark_home(self, root: str) -> None:
        """Name this manager's home on its root folder (best effort: without the mark,
        other agents never sweep the folder)."""
        if self.home is None:
            return
        try:
            os.setxattr(root, HOME_XATTR, os.path.abspath(self.home).encode())
        except OSError:
            pass

    def _enable_v2(self, path: str) -> None:
        """Enable memory, cpu and pids for the children of every level down to `path`'s parent."""
        root = self.layout.v2_root
        rel = os.path.relpath(path, root)
        cur = root
        want = " ".join("+" + c for c in V2_CONTROLLERS)
        for part in ["", *rel.split(os.sep)[:-1]]:
            cur = os.path.join(cur, part) if part else cur
            have = (_read(os.path.join(cur, "cgroup.subtree_control")) or "").split()
            if not all(c in have for c in V2_CONTROLLERS):
                _write(os.path.join(cur, "cgroup.subtree_control"), want)

    def create(
        self,
        pod_uid: str,
        instance_id: str,
        *,
        memory_bytes: int | None = None,
        cpu_milli: int | None = None,
        cpu_request_milli: int | None = None,
        pids_max: int | None = None,
    ) -> InstanceCgroup:
        """Create the instance's cgroup with its limits. Raises OSError on failure."""
        rel = "/" + "/".join((self.root_name, pod_uid or "_", instance_id))
        dirs: dict[str, str] = {}
        for ctrl, base in self._bases().items():
            dirs[ctrl] = base + rel
        # A retried start may find a leftover directory: reuse it only if empty.
        for d in set(dirs.values()):
            root = os.path.dirname(os.path.dirname(d))
            if not os.path.isdir(root):  # removed since `available` (the mark went with it)
                os.makedirs(root, exist_ok=True)
                self._mark_home(root)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            if self.layout.version == 2:
                self._enable_v2(d)
            os.makedirs(d, exist_ok=True)
        cg = InstanceCgroup(self.layout, rel, dirs)
        try:
            self._set_limits(cg, memory_bytes, cpu_milli, cpu_request_milli, pids_max)
        except OSError:
            _rmdir_all(dirs.values())
            raise
        return cg

    def _set_limits(
        self,
        cg: InstanceCgroup,
        memory_bytes: int | None,
        cpu_milli: int | None,
        cpu_request_milli: int | None,
        pids_max: int | None,
    ) -> None:
        def put(ctrl: str, name: str, value: str, optional: bool = False) -> None:
            d = cg._dir(ctrl)
            if d is None:
                if optional:
                    return
                raise OSError(errno.ENOENT, f"no {ctrl} controller for {name}")
            path = os.path.join(d, name)
            if optional and not os.path.exists(path):
                return
            _write(path, value)

        v2 = self.layout.version == 2
        if memory_bytes is not None:
            if v2:
                put("memory", "memory.max", str(memory_bytes))
                put("memory", "memory.swap.max", "0", optional=True)
            else:
                put("memory", "memory.limit_in_bytes", str(memory_bytes))
                # memory+swap = memory: no escape into swap (runc does the same for swap=limit).
                put("memory", "memory.memsw.limit_in_bytes", str(memory_bytes), optional=True)
        if cpu_request_milli is not None:
            shares = cpu_shares(cpu_request_milli)
            if v2:
                put("cpu", "cpu.weight", str(cpu_weight(shares)), optional=True)
            else:
                put("cpu", "cpu.shares", str(shares), optional=True)
        if cpu_milli is not None:
            quota = cpu_quota_us(cpu_milli)
            if v2:
                put("cpu", "cpu.max", f"{quota} {CPU_PERIOD_US}")
            else:
                put("cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US))
                put("cpu", "cpu.cfs_quota_us", str(quota))
        if pids_max is not None:
            put("pids", "pids.max", str(pids_max))

    def instances(self) -> list[InstanceCgroup]:
        """Every instance cgroup under `root_name` (e.g. left by a crashed agent)."""
        found: dict[str, dict[str, str]] = {}
        for ctrl, base in self._bases().items():
            root = os.path.join(base, self.root_name)
            try:
                pods = [e for e in os.scandir(root) if e.is_dir()]
            except OSError:
                continue
            for pod in pods:
                try:
                    insts = [e for e in os.scandir(pod.path) if e.is_dir()]
                except OSError:
                    continue
                for inst in insts:
                    rel = f"/{self.root_name}/{pod.name}/{inst.name}"
                    found.setdefault(rel, {})[ctrl] = inst.path
        return [InstanceCgroup(self.layout, rel, dirs) for rel, dirs in sorted(found.items())]

    def find(self, rel_path: str) -> InstanceCgroup | None:
        """The existing instance cgroup at `rel_path` (from `InstanceCgroup.rel_path`), for
        an agent that re-attaches to a running container; None when it is gone or not
        under this manager's root."""
        if not rel_path.startswith(f"/{self.root_name}/") or ".." in rel_path.split("/"):
            return None
        dirs = {
            ctrl: path
            for ctrl, base in self._bases().items()
            if os.path.isdir(path := os.path.join(base, rel_path.lstrip("/")))
        }
        return InstanceCgroup(self.layout, rel_path, dirs) if dirs else None

    def remove_root(self, timeout: float = 0.0) -> bool:
        """Remove this manager's (empty) root folders; what is still in use stays, retried
        for up to `timeout` seconds (instance cgroups are removed as their processes
        finish exiting). True when none is left."""
        deadline = time.monotonic() + timeout
        while True:
            left = []
            for base in self._bases().values():
                path = os.path.join(base, self.root_name)
                try:
                    os.rmdir(path)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(path)
            if not left or time.monotonic() >= deadline:
                return not left
            time.sleep(0.05)

    def sweep_abandoned(self, min_age: float = 60.0) -> int:
        """Remove empty podkeeper cgroups of *other* homes whose agent is provably gone,
        older than `min_age` seconds.

        An agent that dies abruptly leaves its instance cgroups until the next agent of the
        same home cleans up; a home that is never used again (a test's or benchmark's temp
        folder) would leak them forever, and the kernel caps memory cgroups at 65,535 (then
        mkdir fails with EBUSY, seen here). Proof of whose a root is (issue 13 item 8): its
        `HOME_XATTR` names a home whose `root_name_for_home` is the root's name, and
        `home_agent_gone` proves that home's agent dead (holding its locks meanwhile). A
        root without the mark, of a live agent or of a home that is gone, stays. Returns
        how many folders went."""
        removed = 0
        now = time.time()
        owners: dict[str, str | None] = {}
        for base in self._bases().values():
            try:
                roots = [
                    e
                    for e in os.scandir(base)
                    if e.is_dir() and e.name.startswith("podkeeper-") and e.name != self.root_name
                ]
            except OSError:
                continue
            for root in roots:
                home = owners.get(root.name) or _home_mark(root.path)
                owners[root.name] = home
                if home is None or root_name_for_home(home) != root.name:
                    continue
                with home_agent_gone(home) as dead:
                    if dead:
                        removed += _remove_empty(root.path, now, min_age)
        return removed

    def cleanup_stale(self, keep: frozenset[str] = frozenset(), timeout: float = 2.0) -> int:
        """Kill and remove every instance cgroup under `root_name` whose instance id is
        not in `keep`, then the emptied pod directories. Returns how many were removed.

        Synchronous: meant for agent start, before any pod runs."""
        removed = 0
        for cg in self.instances():
            if os.path.basename(cg.rel_path) in keep:
                continue
            if cg.remove_sync(timeout):
                removed += 1
        return removed

"""podkeeper side by side with the tools a user would pick instead, in the same run (issue 16).

The same work for each tool: N containers (``PK_BENCH_PEERS_N``, default 20) of a
locally built busybox image, each with an exec health check every second that runs
busybox ``true``, measured over a window (``PK_BENCH_PEERS_WINDOW``, default 60 s,
10 s with ``--quick``). Rows:

- ``peers.<tool>.cpu_per_1k_checks``: CPU-seconds the whole tool used in the window
  per 1,000 checks it ran, and ``peers.podkeeper_vs_<tool>.cpu_per_1k_checks`` whose
  ratio is podkeeper / peer (target <= 0.2);
- ``peers.<tool>.fail_to_new_instance``: a container made to fail its check, from
  the failing check to a new running instance ("never" for Docker: it only marks
  the container unhealthy), and podkeeper's ratio to it (target < 1);
- ``peers.<tool>.start_one``: one more container, from the user's command to running.

What "the whole tool" counts:

- podkeeper: the agent process from ``/proc/<pid>/stat``, utime + stime of all its
  threads plus cutime + cstime, the children it reaped in the window (every check
  process: the ``/bin/sh`` that joins the container's cgroup and execs busybox
  ``true``). There is no other process: no daemon, no shim. Checks are the exec
  probes the agent started in the window (its own trace, ``_pkagent``).
- Docker: a private ``dockerd`` started in a cpuacct cgroup of its own; everything
  it starts inherits it (its containerd, every ``containerd-shim-runc-v2``, every
  ``runc`` create/exec/start). The containers' cgroups are
  created under the same cgroup (``--cgroup-parent``), so the check processes and
  ``runc init`` count too. The total is that cgroup's ``cpuacct.usage`` (ns, every
  task that ever ran in it, exited ones included); the two halves are reported as
  ``.daemons`` and ``.containers``. Checks are the ``exec_die`` events of the
  window, followed live by a ``docker events`` client (dockerd keeps only its last
  256 events for ``--since``). The ``docker`` CLI calls made to set up are outside
  the window.
- containerd without the kubelet (``peers.containerd_ctr``): a private containerd
  (its own root, state and socket, the CRI plugin off) in a cgroup of its own, the
  containers' cgroups under it (``ctr run --cgroup``), and in a third one the
  checker a kubelet would be: per container a shell loop ``ctr task exec … true;
  sleep 1``. Reported as ``.daemons`` (containerd, shims, runc), ``.driver`` (a
  ``ctr`` process per check, the shell, ``sleep``) and ``.containers``. A
  long-lived CRI client would cost less than a ``ctr`` process per check: read the
  ``.daemons`` row for containerd's own share. Checks are the loops' successful
  execs. containerd neither checks nor restarts anything by itself, so it has no
  "failing check to a new instance" row.

Docker: Debian's ``docker.io`` (``apt-get install docker.io``). The daemon is
private: its own ``--data-root``, ``--exec-root``, ``--pidfile`` and unix socket
under a temp dir, ``--bridge=none --iptables=false --ip6tables=false
--ip-forward=false --ip-masq=false`` and containers with ``--network none``: no
change to the host's network. The image is built here from ``/bin/busybox``
(Debian's ``busybox-static``) as a docker-archive tar and ``docker load``-ed;
nothing is pulled. Afterwards every container and the image are removed, the
daemon is stopped (SIGTERM, then SIGKILL to its whole cgroup), any mount left
under the temp dir is unmounted, and the cgroups and the temp dir are removed.

- containerd through the CRI (``peers.containerd_cri``), the kubelet's own path:
  podkeeper's agent on its containerd runtime (``PODKEEPER_RUNTIME=containerd``)
  with the same pods of the busybox test image, checks run by ExecSync. The agent
  joins a cpuacct cgroup of ours before it starts its private containerd, so
  containerd, the shims and their ``runc`` count with it; the pods' cgroups are under
  the runtime's parent ``/pkcri-<tag>``. Reported as ``.driver`` (the agent: the
  kubelet's place), ``.daemons`` (containerd, shims, runc) and ``.containers``.
  Its failing-check pod traps SIGTERM (it is PID 1 of its container), so the row
  measures the restart, not a grace period.

Not measured here, with its reason in the table: Podman (its healthchecks are
systemd timers: ``podman run --health-cmd`` creates a transient ``systemd-run`` unit
per container, so without systemd as PID 1 no check ever runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import BenchContext, Measurement, benchmark
from benchmarks.bench_podkeeper import CLK_TCK, _cli, is_running, pod, traced_agent

Obj = dict[str, Any]

BUSYBOX = Path("/bin/busybox")
IMAGE = "pk-bench-busybox:1"
#: busybox applets linked into the image (``/bin/<name>`` -> busybox)
APPLETS = ("sh", "true", "false", "sleep", "test", "touch", "rm", "cat")
CHECK = ["true"]  # the exec form: no shell, as podkeeper's `command: [true]`
SLEEP_S = 3600
CHECK_PERIOD_S = 1
MAX_CONTAINERS = 200  # whatever PK_BENCH_PEERS_N says
CPU_TARGET = "ratio <= 0.2"  # podkeeper <= 1/5 of the peer's CPU per check
FASTER_TARGET = "ratio < 1"


class PeerUnavailable(Exception):
    """The peer cannot run on this machine; the message says why (shown as the skip reason)."""


def settings(quick: bool) -> tuple[int, float]:
    """(containers, window seconds) from the environment, or the defaults."""
    n = int(os.environ.get("PK_BENCH_PEERS_N", "20"))
    window = float(os.environ.get("PK_BENCH_PEERS_WINDOW", "10" if quick else "60"))
    if not 1 <= n <= MAX_CONTAINERS or window <= 0:
        raise ValueError(f"PK_BENCH_PEERS_N must be 1..{MAX_CONTAINERS}, the window > 0")
    return n, window


def fit_window(ctx: BenchContext, window: float, overhead_s: float) -> float:
    """The window, shortened (and said so) when it and the set-up would overrun the budget:
    a longer PK_BENCH_PEERS_WINDOW needs a larger --budget."""
    room = ctx.remaining() - overhead_s
    if window <= room:
        return window
    fitted = max(1.0, room)
    _log(f"window {window:g} s cut to {fitted:.0f} s by the budget (--budget gives more)")
    return fitted


def _log(msg: str) -> None:
    print(f"  peers: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- the image


def _tar_add(t: tarfile.TarFile, name: str, data: bytes | None = None, **attrs: Any) -> None:
    ti = tarfile.TarInfo(name)
    ti.mtime = 946684800  # fixed: the same busybox gives the same image id
    for key, val in attrs.items():
        setattr(ti, key, val)
    if data is not None:
        ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data is not None else None)


def build_busybox_image(path: Path, busybox: Path = BUSYBOX, tag: str = IMAGE) -> str:
    """Write a docker-archive tar (``docker load`` / ``ctr import``) of one layer:
    ``/bin/busybox`` and its applet links, ``/tmp``. Its config runs ``sleep 3600`` with
    the exec-form health check ``["CMD", "true"]``. Returns the image id (hex)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)):
            _tar_add(t, d, type=tarfile.DIRTYPE, mode=mode)
        _tar_add(t, "bin/busybox", busybox.read_bytes(), mode=0o755)
        for name in APPLETS:
            _tar_add(t, f"bin/{name}", type=tarfile.SYMTYPE, linkname="busybox", mode=0o777)
    layer_bytes = layer.getvalue()
    layer_sha = hashlib.sha256(layer_bytes).hexdigest()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    created = "2000-01-01T00:00:00Z"
    config = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {
            "Cmd": ["sleep", str(SLEEP_S)],
            "Env": ["PATH=/bin"],
            "Healthcheck": {"Test": ["CMD", *CHECK]},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]},
        "history": [{"created": created, "created_by": "podkeeper benchmarks: /bin/busybox"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_sha = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_sha}.json", "RepoTags": [tag], "Layers": []}]
    manifest[0]["Layers"] = [f"{layer_sha}/layer.tar"]
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        _tar_add(t, f"{layer_sha}/layer.tar", layer_bytes, mode=0o644)
        _tar_add(t, f"{config_sha}.json", config_bytes, mode=0o644)
        _tar_add(t, "manifest.json", json.dumps(manifest).encode(), mode=0o644)
    return config_sha


# ------------------------------------------------------------------ cgroups


class CpuCgroup:
    """A cgroup of our own for CPU accounting: cgroup v1 ``cpuacct`` or the v2 tree.

    ``path(sub)`` is the cgroup path (``/pk-peers-…/sub``) that a daemon's
    ``--cgroup-parent`` may name; ``usage_ns(sub)`` counts every task that ever ran
    in it or below it. ``remove()`` removes it, and what runc made under it in
    every other controller, deepest first.
    """

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, prefix: str = "pk-peers") -> None:
        self.name = f"{prefix}-{os.getpid()}-{random.randrange(1 << 32):08x}"
        self.v2 = (self.ROOT / "cgroup.controllers").exists()
        self.base = self.ROOT / self.name if self.v2 else self.ROOT / "cpuacct" / self.name
        if not self.v2 and not (self.ROOT / "cpuacct" / "cpuacct.usage").exists():
            raise PeerUnavailable("no cpuacct cgroup controller to account a daemon's CPU")
        try:
            self.base.mkdir()
        except OSError as exc:
            raise PeerUnavailable(f"cannot create a cgroup for the daemon: {exc}") from exc

    def path(self, sub: str = "") -> str:
        return f"/{self.name}/{sub}" if sub else f"/{self.name}"

    def make(self, sub: str) -> Path:
        d = self.base / sub
        d.mkdir(exist_ok=True)
        return d

    def procs_file(self, sub: str) -> Path:
        return self.make(sub) / "cgroup.procs"

    def usage_ns(self, sub: str = "") -> int:
        d = self.base / sub if sub else self.base
        if not d.exists():
            return 0
        if self.v2:
            for line in (d / "cpu.stat").read_text().splitlines():
                key, _, val = line.partition(" ")
                if key == "usage_usec":
                    return int(val) * 1000
            return 0
        return int((d / "cpuacct.usage").read_text())

    def pids(self) -> list[int]:
        """Every process still in the cgroup, at any depth."""
        out = []
        for procs in self.base.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                out += [int(x) for x in procs.read_text().split()]
        return out

    def remove(self) -> None:
        roots = [self.ROOT / self.name] if self.v2 else list(self.ROOT.glob(f"*/{self.name}"))
        for root in roots:
            dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for d in [*dirs, root]:
                for _ in range(50):
                    try:
                        d.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)  # a task still exiting


# --------------------------------------------------------------- /proc helpers


def proc_cpu_with_children(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid`` in seconds: its threads and the children
    it has reaped."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def systemd_absent_reason() -> str | None:
    """Why systemd cannot run timers here, or None when it is PID 1."""
    try:
        comm = Path("/proc/1/comm").read_text().strip()
    except OSError:
        comm = "?"
    if comm == "systemd" and Path("/run/systemd/system").is_dir():
        return None
    return f"PID 1 is {comm!r}, not systemd"


# -------------------------------------------------------------------- Docker


class PrivateDocker:
    """A dockerd of our own in a temp dir, its CPU in ``cgroup``; ``close()`` leaves nothing."""

    def __init__(self, cgroup: CpuCgroup, start_timeout: float = 30.0) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise PeerUnavailable("dockerd not installed (Debian: apt-get install docker.io)")
        # Debian's docker.io puts its CLI in /usr/bin; another one may come first in PATH.
        cli = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")
        if cli is None:
            raise PeerUnavailable("the docker CLI is not installed (apt-get install docker.io)")
        self.cli = cli
        self.cgroup = cgroup
        self.dir = Path(tempfile.mkdtemp(prefix="pk-peers-docker-"))
        self.sock = self.dir / "docker.sock"
        self.env = dict(
            os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(self.dir / "cli")
        )
        self.log = self.dir / "dockerd.log"
        self.ids: list[str] = []  # full container ids, for their shims' sockets
        procs = cgroup.procs_file("daemons")
        cgroup.make("containers")
        args = [
            dockerd,
            f"--data-root={self.dir / 'data'}",
            f"--exec-root={self.dir / 'exec'}",
            f"--pidfile={self.dir / 'dockerd.pid'}",
            f"--host=unix://{self.sock}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            f"--cgroup-parent={cgroup.path('containers')}",
            "--log-level=warn",
        ]
        self.proc = spawn_in_cgroup(args, procs, self.log)
        end = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                self.close()
                raise PeerUnavailable(f"dockerd exited {self.proc.returncode}: {' | '.join(tail)}")
            if self.sock.exists() and self.docker("version", check=False).returncode == 0:
                break
            if time.monotonic() > end:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                self.close()
                raise PeerUnavailable(f"dockerd not ready in {start_timeout:.0f} s: {tail}")
            time.sleep(0.1)

    def docker(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [self.cli, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {r.stderr.strip()}")
        return r

    def close(self) -> None:
        """Containers and image, then the daemon, mounts, cgroups and files. Never raises."""
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq", check=False, timeout=20).stdout.split()
                if ids:
                    self.docker("rm", "-f", "-v", *ids, check=False, timeout=60)
                self.docker("rmi", "-f", IMAGE, check=False, timeout=20)
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        finish_daemon(self.proc, self.cgroup, self.dir)
        # dockerd's containerd: its socket under the exec root, namespace "moby"
        address = self.dir / "exec" / "containerd" / "containerd.sock"
        left = remove_dead_shim_sockets([shim_socket(address, "moby", i) for i in self.ids])
        if left:
            _log(f"docker: removed {left} socket(s) of killed shims")


def spawn_in_cgroup(
    args: list[str], procs: Path, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``args`` in the cgroup of ``procs`` (a ``cgroup.procs`` file): a shell joins it,
    then becomes the program, so everything it starts inherits the cgroup."""
    with open(log or os.devnull, "wb") as err:  # the child keeps its own descriptor
        return subprocess.Popen(
            ["/bin/sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def finish_daemon(proc: subprocess.Popen[bytes], cgroup: CpuCgroup, d: Path) -> None:
    """After a daemon's own shutdown: SIGKILL whatever is left in our cgroup (a daemon, a
    shim, a container: all started by this benchmark), unmount under ``d``, remove ``d``."""
    for _ in range(3):
        pids = cgroup.pids()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
    _unmount_under(d)
    shutil.rmtree(d, ignore_errors=True)


def _unmount_under(d: Path) -> None:
    """Lazily unmount every mount point at or below ``d``, deepest first."""
    prefix = str(d)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines]
    mine = [p for p in points if p == prefix or p.startswith(prefix + "/")]
    for p in sorted(set(mine), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True, check=False)


@contextlib.contextmanager
def docker_check_events(d: PrivateDocker) -> Iterator[Callable[[float, float], int]]:
    """Count health-check execs: dockerd's ``exec_die`` events, followed live.

    ``docker events --since`` would replay them from dockerd's in-memory log, which
    keeps only the last 256 events (a check makes three): it undercounts past ~85
    checks. So a ``docker events`` client follows them as they happen; yields
    ``count(since, until)`` (epoch seconds)."""
    out = d.dir / "exec-die.txt"
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [d.cli, "events", "--filter", "event=exec_die", "--format", "{{.TimeNano}}"],
            env=d.env,
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.DEVNULL,
        )

    def count(since: float, until: float) -> int:
        time.sleep(0.5)  # the last events on their way to the client
        stamps = [int(x) for x in out.read_text().split() if x.isdigit()]
        return sum(1 for t in stamps if since * 1e9 <= t <= until * 1e9)

    try:
        time.sleep(0.5)  # subscribed
        yield count
    finally:
        proc.kill()
        proc.wait()


def _go_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with nanoseconds, as Docker writes them."""
    from datetime import datetime

    head, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.fromisoformat(head + "+00:00")
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def _docker_check_ms(d: PrivateDocker, names: list[str]) -> float:
    """Median check duration (Start to End) over the health logs (5 latest each)."""
    data = json.loads(d.docker("inspect", *names, timeout=30).stdout)
    durations = sorted(
        _go_time(e["End"]) - _go_time(e["Start"])
        for c in data
        for e in (c["State"].get("Health") or {}).get("Log") or []
        if e.get("End") and e.get("Start")
    )
    return durations[len(durations) // 2] * 1e3 if durations else math.nan


def _docker_run(d: PrivateDocker, name: str, *extra: str) -> None:
    r = d.docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        f"--health-interval={CHECK_PERIOD_S}s",
        "--health-timeout=1s",
        *extra,
        IMAGE,
    )
    d.ids.append(r.stdout.strip())


def docker_side(ctx: BenchContext, n: int, window: float) -> list[Measurement]:
    cgroup = CpuCgroup()
    try:
        t0 = time.monotonic()
        d = PrivateDocker(cgroup)
        try:
            version = d.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
            _log(f"dockerd {version} up in {time.monotonic() - t0:.1f} s")
            tar = d.dir / "busybox.tar"
            build_busybox_image(tar)
            d.docker("load", "-i", str(tar))
            for i in range(n):
                _docker_run(d, f"pkb{i}")
            # Each container's first check comes one interval after its start.
            end = time.monotonic() + 15
            while time.monotonic() < end:
                out = d.docker("ps", "--filter", "health=healthy", "-q").stdout.split()
                if len(out) >= n:
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"only {len(out)} of {n} Docker containers became healthy")
            with docker_check_events(d) as count_checks:
                time.sleep(0.5)
                wall0, u0, u0d = time.time(), cgroup.usage_ns(), cgroup.usage_ns("daemons")
                m0 = time.monotonic()
                time.sleep(window)
                wall1, u1, u1d = time.time(), cgroup.usage_ns(), cgroup.usage_ns("daemons")
                took = time.monotonic() - m0
                checks = count_checks(wall0, wall1)
            check_ms = _docker_check_ms(d, [f"pkb{i}" for i in range(n)])
            cpu_s, daemons_s = (u1 - u0) / 1e9, (u1d - u0d) / 1e9
            _log(
                f"docker: {checks} checks in {took:.1f} s, CPU {cpu_s:.2f} s "
                f"(daemons {daemons_s:.2f} s, containers {cpu_s - daemons_s:.2f} s)"
            )
            fail_ms, fail_note = _docker_fail(d, 3.0 if ctx.quick else 10.0)
            start_ms = _docker_start_one(d)
        finally:
            d.close()
    finally:
        cgroup.remove()
    per_k = cpu_s / checks * 1000 if checks else math.nan
    return [
        Measurement(
            "peers.docker.checks_per_s",
            checks / took,
            "check/s",
            note=f"{n} containers at --health-interval {CHECK_PERIOD_S}s: the next check "
            f"starts an interval after the last one ended",
        ),
        Measurement(
            "peers.docker.check_duration.p50",
            check_ms,
            "ms",
            better="lower",
            note="one check's Start to End in dockerd's health log",
        ),
        Measurement("peers.docker.cpu_per_1k_checks", per_k, "CPU-s", better="lower"),
        Measurement(
            "peers.docker.cpu_per_1k_checks.daemons",
            daemons_s / checks * 1000 if checks else math.nan,
            "CPU-s",
            better="lower",
            note="dockerd, containerd, shims, runc",
        ),
        Measurement(
            "peers.docker.cpu_per_1k_checks.containers",
            (cpu_s - daemons_s) / checks * 1000 if checks else math.nan,
            "CPU-s",
            better="lower",
            note="in the containers' cgroups: checks, runc init",
        ),
        Measurement(
            "peers.docker.fail_to_new_instance", fail_ms, "ms", better="lower", note=fail_note
        ),
        Measurement("peers.docker.start_one", start_ms, "ms", better="lower"),
    ]


def _inspect(d: PrivateDocker, name: str) -> Obj:
    data: list[Obj] = json.loads(d.docker("inspect", name, timeout=20).stdout)
    return data[0]


def _docker_fail(d: PrivateDocker, observe_s: float) -> tuple[float, str]:
    """A container (restart policy ``always``) whose check starts failing: how long until a
    new instance runs. Docker marks it unhealthy and never restarts it: inf ("never")."""
    _docker_run(
        d,
        "pkfail",
        "--restart=always",
        "--health-retries=1",
        "--health-cmd=test ! -e /tmp/fail",
    )
    end = time.monotonic() + 15
    while _inspect(d, "pkfail")["State"].get("Health", {}).get("Status") != "healthy":
        if time.monotonic() > end:
            raise RuntimeError("the failing-check container never became healthy")
        time.sleep(0.1)
    before = _inspect(d, "pkfail")
    d.docker("exec", "pkfail", "touch", "/tmp/fail")
    t_flag = time.monotonic()
    t_unhealthy = math.nan
    end = t_flag + 10 + observe_s
    while time.monotonic() < end:
        st = _inspect(d, "pkfail")
        if st["State"]["StartedAt"] != before["State"]["StartedAt"] or st["RestartCount"]:
            # A Docker that restarts on a failed check: time it from the flag (an upper
            # bound on "from the failing check", by at most one interval).
            return (time.monotonic() - t_flag) * 1e3, "restarted (timed from the flag)"
        if math.isnan(t_unhealthy) and st["State"]["Health"]["Status"] == "unhealthy":
            t_unhealthy = time.monotonic()
            end = t_unhealthy + observe_s
        time.sleep(0.1)
    if math.isnan(t_unhealthy):
        raise RuntimeError("the failing-check container never became unhealthy")
    return math.inf, (
        f"never: unhealthy {t_unhealthy - t_flag:.1f} s after the flag, "
        f"still the same instance {observe_s:.0f} s later (--restart=always)"
    )


def _docker_start_one(d: PrivateDocker) -> float:
    """``docker run -d`` of one more container until it runs, in ms (the CLI returns after
    the start; ``inspect`` confirms, polled until Running if it was not yet)."""
    t0 = time.monotonic()
    r = d.docker("run", "-d", "--name", "pkone", "--network", "none", IMAGE)
    d.ids.append(r.stdout.strip())
    while not _inspect(d, "pkone")["State"]["Running"]:
        if time.monotonic() - t0 > 20:
            raise RuntimeError("docker run: the container did not start")
        time.sleep(0.01)
    return (time.monotonic() - t0) * 1e3


# ------------------------------------------------------------------ podkeeper


def _busybox(*argv: str) -> list[str]:
    return [str(BUSYBOX), *argv]


def podkeeper_side(ctx: BenchContext, n: int, window: float) -> list[Measurement]:
    """The real agent (``_pkagent``, process runtime), N pods of busybox ``sleep`` with an
    exec liveness probe (busybox ``true``) every second."""
    exec_probe = {
        "exec": {"command": _busybox(*CHECK)},
        "periodSeconds": CHECK_PERIOD_S,
        "timeoutSeconds": 1,
    }
    sleep = _busybox("sleep", str(SLEEP_S))
    with traced_agent() as agent:
        objs = [pod(f"peer{i}", sleep, livenessProbe=exec_probe) for i in range(n)]
        agent.client.apply(objs)
        if not agent.wait_pods(is_running, n, time.monotonic() + 15):
            raise RuntimeError(f"not all {n} podkeeper pods ran")
        time.sleep(2.0)  # past every pod's first probe
        failed_before = int(agent.stats()["failures"])
        agent.mark()
        c0, m0 = proc_cpu_with_children(agent.pid), time.monotonic()
        time.sleep(window)
        stats = agent.stats()
        c1, took = proc_cpu_with_children(agent.pid), time.monotonic() - m0
        checks = int(stats["by_kind"].get("ExecTarget", 0))
        # A check that failed (a 1 s timeout on a machine busy with other work) still
        # counts as a check, as it does for the peers; the row says so.
        failed = int(stats["failures"]) - failed_before
        if failed:
            _log(f"podkeeper: {failed} check(s) failed, last: {stats['last_failure']}")
        cpu_s = c1 - c0
        _log(f"podkeeper: {checks} checks in {took:.1f} s, CPU {cpu_s:.2f} s")

        # A container made to fail its check: liveness Failure -> new instance running.
        flag = agent.home / "fail-flag"
        fail = pod(
            "pkfail",
            sleep,
            livenessProbe={
                "exec": {"command": _busybox("test", "!", "-e", str(flag))},
                "periodSeconds": CHECK_PERIOD_S,
                "timeoutSeconds": 1,
                "failureThreshold": 1,
            },
        )
        fail_ms = fail_to_new_instance(agent, fail, flag.touch)
        flag.unlink(missing_ok=True)

        # One container from the user's command (the real CLI) to Running in the API.
        manifest = agent.home / "one.yaml"
        manifest.write_text(json.dumps(pod("pkone", sleep)))
        t0 = time.monotonic()
        _cli(agent.home, "apply", "-f", str(manifest))
        start_ms = math.nan
        while time.monotonic() - t0 < 20:
            if any(p["metadata"]["name"] == "pkone" and is_running(p) for p in agent.pods()):
                start_ms = (time.monotonic() - t0) * 1e3
                break
            time.sleep(0.01)
    per_k = cpu_s / checks * 1000 if checks else math.nan
    return [
        Measurement(
            "peers.podkeeper.checks_per_s",
            checks / took,
            "check/s",
            note=f"{failed} failed (timed out)" if failed else None,
        ),
        Measurement("peers.podkeeper.cpu_per_1k_checks", per_k, "CPU-s", better="lower"),
        Measurement("peers.podkeeper.fail_to_new_instance", fail_ms, "ms", better="lower"),
        Measurement("peers.podkeeper.start_one", start_ms, "ms", better="lower"),
    ]


def fail_to_new_instance(agent: Any, fail: Obj, trigger: Callable[[], object] | None) -> float:
    """Apply ``fail`` (a pod named ``pkfail`` whose liveness check fails once ``trigger``
    ran, or by itself when ``trigger`` is None) and return the agent's own measure of
    liveness Failure -> the next instance started, in ms (NaN if it never came)."""
    agent.client.apply([fail])
    # Bounds with room for a machine busy with other work (the value is the agent's own
    # measure, not this wait): a CRI pod's start and first restart took over 20 s at load 20.
    agent.wait_pods(
        lambda p: p["metadata"]["name"] == "pkfail" and is_running(p), 1, time.monotonic() + 90
    )
    if trigger is not None:
        time.sleep(1.5)  # a first successful check
        trigger()
    end = time.monotonic() + 90
    while time.monotonic() < end:
        r = agent.stats()["extra_reactions"]["liveness_to_restart"]
        if r["count"] >= 1:
            return float(r["max_ms"])
        time.sleep(0.05)
    pods = [p for p in agent.pods() if p["metadata"]["name"] == "pkfail"]
    statuses = pods[0].get("status", {}).get("containerStatuses", []) if pods else []
    _log(f"no liveness restart of pkfail seen: {json.dumps(statuses)[:600]}")
    with contextlib.suppress(Exception):
        events = _cli(agent.home, "events", "pkfail").stdout
        _log("events of pkfail:\n" + events[-2000:])
    return math.nan


def versus(peer: str, limits: Any) -> list[Measurement]:
    """podkeeper's rows again with the peer's as the limit: ratio = podkeeper / peer."""
    out = []
    for row, target in (
        ("cpu_per_1k_checks", CPU_TARGET),
        ("fail_to_new_instance", FASTER_TARGET),
        ("start_one", None),
    ):
        mine = limits.get(f"peers.podkeeper.{row}")
        theirs = limits.get(f"peers.{peer}.{row}")
        if mine is None or theirs is None or math.isnan(theirs):
            continue
        unit = "CPU-s" if row.startswith("cpu") else "ms"
        out.append(
            Measurement(
                f"peers.podkeeper_vs_{peer}.{row}",
                mine,
                unit,
                f"peers.{peer}.{row}",
                target,
                better="lower",
            )
        )
    return out


# ---------------------------------------------------------- containerd (ctr)

CTR_IMAGE = f"docker.io/library/{IMAGE}"
CRI_IMAGE = "podkeeper.local/busybox:1.35"  # runtime/cri/testimages.py BUSYBOX_IMAGE
#: containerd 1.6 puts every shim's socket here, whatever its root and state dirs are.
SHIM_SOCKETS = Path("/run/containerd/s")


def shim_socket(address: Path | str, namespace: str, container_id: str) -> Path:
    """Where containerd 1.6's shim for this container listens
    (``runtime/v2/shim/util_unix.go`` ``SocketAddress``: sha256 of address/ns/id)."""
    key = os.path.join(str(address), namespace, container_id)
    return SHIM_SOCKETS / hashlib.sha256(key.encode()).hexdigest()


def remove_dead_shim_sockets(paths: list[Path]) -> int:
    """Unlink those of ``paths`` that exist and nobody listens on (a shim that was killed
    leaves its socket behind); returns how many."""
    import socket

    n = 0
    for p in paths:
        if not p.exists():
            continue
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(p))
        except OSError:
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
        finally:
            s.close()
    return n


class PrivateContainerd:
    """A containerd of our own (root, state and socket in a temp dir, the CRI plugin off),
    its CPU in ``cgroup``; ``close()`` leaves nothing."""

    def __init__(self, cgroup: CpuCgroup, start_timeout: float = 20.0) -> None:
        containerd, ctr = shutil.which("containerd"), shutil.which("ctr")
        if containerd is None or ctr is None:
            raise PeerUnavailable("containerd not installed (Debian: apt-get install containerd)")
        self.ctr_bin, self.cgroup = ctr, cgroup
        self.dir = Path(tempfile.mkdtemp(prefix="pk-peers-containerd-"))
        self.ns = f"pkbench-{os.getpid()}-{random.randrange(1 << 32):08x}"
        # runc's state and ctr's stdio fifos default to /run/containerd/{runc,fifo}: here.
        self.runc_root = self.dir / "runc"
        self.fifo_dir = self.dir / "fifo"
        self.fifo_dir.mkdir()
        self.sock = self.dir / "containerd.sock"
        self.log = self.dir / "containerd.log"
        config = self.dir / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.dir / "root"}"\n'
            f'state = "{self.dir / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.sock}"\n'
            '[ttrpc]\n  address = ""\n[debug]\n  address = ""\n'
        )
        cgroup.make("containers")
        cgroup.make("driver")
        self.containers: list[str] = []
        self.proc = spawn_in_cgroup(
            [containerd, "--config", str(config), "--log-level", "warn"],
            cgroup.procs_file("daemons"),
            self.log,
        )
        end = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                self.close()
                raise PeerUnavailable(f"containerd exited: {' | '.join(tail)}")
            if self.sock.exists() and self.ctr("version", check=False).returncode == 0:
                break
            if time.monotonic() > end:
                self.close()
                raise PeerUnavailable(f"containerd not ready in {start_timeout:.0f} s")
            time.sleep(0.1)

    def argv(self, *args: str) -> list[str]:
        return [self.ctr_bin, "--address", str(self.sock), "-n", self.ns, *args]

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {r.stderr.strip()}")
        return r

    def run(self, name: str) -> None:
        """``ctr run -d`` in a cgroup under ours: returns once the task runs."""
        self.containers.append(name)
        cg = f"{self.cgroup.path('containers')}/{name}"
        self.ctr(
            "run",
            "-d",
            "--null-io",
            f"--runc-root={self.runc_root}",
            f"--fifo-dir={self.fifo_dir}",
            f"--cgroup={cg}",
            CTR_IMAGE,
            name,
        )

    def close(self) -> None:
        """Every task and container (so each shim exits and removes its socket), then the
        daemon, mounts, cgroups and files. Never raises."""
        if self.proc.poll() is None:
            for name in self.containers:
                with contextlib.suppress(Exception):
                    self.ctr("task", "kill", "-s", "KILL", name, check=False, timeout=20)
            for name in self.containers:
                end = time.monotonic() + 20
                while time.monotonic() < end:
                    try:
                        r = self.ctr("task", "delete", "-f", name, check=False, timeout=20)
                    except subprocess.TimeoutExpired:
                        continue
                    if r.returncode == 0 or "not found" in r.stderr:
                        break
                    time.sleep(0.2)
                with contextlib.suppress(Exception):
                    self.ctr("container", "delete", name, check=False, timeout=20)
            with contextlib.suppress(Exception):
                self.ctr("image", "rm", CTR_IMAGE, check=False, timeout=20)
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        finish_daemon(self.proc, self.cgroup, self.dir)
        left = remove_dead_shim_sockets(
            [shim_socket(self.sock, self.ns, name) for name in self.containers]
        )
        if left:
            _log(f"containerd: removed {left} socket(s) of killed shims")


def _ctr_driver(c: PrivateContainerd, name: str, count: Path) -> subprocess.Popen[bytes]:
    """The stand-in for a kubelet's prober: a shell loop running ``ctr task exec … true``,
    then ``sleep 1``, one byte appended to ``count`` per successful check."""
    exec_argv = " ".join(
        c.argv("task", "exec", f"--fifo-dir={c.fifo_dir}", "--exec-id", "chk$k", name, *CHECK)
    )
    loop = f'k=0; while :; do k=$((k+1)); {exec_argv} && printf . >> "{count}"; sleep 1; done'
    return spawn_in_cgroup(["/bin/sh", "-c", loop], c.cgroup.procs_file("driver"))


def containerd_side(ctx: BenchContext, n: int, window: float) -> list[Measurement]:
    cgroup = CpuCgroup()
    drivers: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.monotonic()
        c = PrivateContainerd(cgroup)
        try:
            _log(f"containerd up in {time.monotonic() - t0:.1f} s")
            tar = c.dir / "busybox.tar"
            build_busybox_image(tar)
            c.ctr("image", "import", str(tar))
            counts = [c.dir / f"checks-{i}" for i in range(n)]
            for i in range(n):
                c.run(f"pkc{i}")
                counts[i].touch()
            drivers = [_ctr_driver(c, f"pkc{i}", counts[i]) for i in range(n)]

            def done() -> int:
                return sum(p.stat().st_size for p in counts)

            time.sleep(2.0)  # every driver past its first check
            if done() == 0:
                raise RuntimeError("no ctr exec check succeeded")
            parts = ("", "daemons", "driver")
            u0, k0, m0 = [cgroup.usage_ns(p) for p in parts], done(), time.monotonic()
            time.sleep(window)
            u1, k1, took = [cgroup.usage_ns(p) for p in parts], done(), time.monotonic() - m0
            for p in drivers:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            drivers = []
            checks = k1 - k0
            total_s, daemons_s, driver_s = ((b - a) / 1e9 for a, b in zip(u0, u1, strict=True))
            _log(
                f"containerd: {checks} checks in {took:.1f} s, CPU {total_s:.2f} s (daemons "
                f"{daemons_s:.2f} s, ctr driver {driver_s:.2f} s)"
            )
            t0 = time.monotonic()
            c.run("pkone")
            start_ms = (time.monotonic() - t0) * 1e3
        finally:
            for p in drivers:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            c.close()
    finally:
        cgroup.remove()

    def per_k(cpu: float) -> float:
        return cpu / checks * 1000 if checks else math.nan

    return [
        Measurement(
            "peers.containerd_ctr.checks_per_s",
            checks / took,
            "check/s",
            note=f"{n} containers, a `ctr task exec` then `sleep 1` loop each",
        ),
        Measurement(
            "peers.containerd_ctr.cpu_per_1k_checks", per_k(total_s), "CPU-s", better="lower"
        ),
        Measurement(
            "peers.containerd_ctr.cpu_per_1k_checks.daemons",
            per_k(daemons_s),
            "CPU-s",
            better="lower",
            note="containerd, shims, runc",
        ),
        Measurement(
            "peers.containerd_ctr.cpu_per_1k_checks.driver",
            per_k(driver_s),
            "CPU-s",
            better="lower",
            note="a ctr process (and sh, sleep) per check: the kubelet's place",
        ),
        Measurement(
            "peers.containerd_ctr.cpu_per_1k_checks.containers",
            per_k(total_s - daemons_s - driver_s),
            "CPU-s",
            better="lower",
            note="in the containers' cgroups: checks, runc init",
        ),
        Measurement.skip(
            "peers.containerd_ctr.fail_to_new_instance",
            "containerd has no checks or restarts of its own (the kubelet's job)",
        ),
        Measurement("peers.containerd_ctr.start_one", start_ms, "ms", better="lower"),
    ]


# ------------------------------------------------------- containerd (CRI)


def _cri_pod(name: str, probe: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "peers"}},
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "c",
                    "image": CRI_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", str(SLEEP_S)],
                    "livenessProbe": probe,
                }
            ],
        },
    }


def cri_side(ctx: BenchContext, n: int, window: float) -> list[Measurement]:
    """podkeeper's agent on its containerd runtime (``PODKEEPER_RUNTIME=containerd``): a
    private containerd the agent starts, N pods of the busybox test image with the same
    exec liveness check, run through the CRI's ExecSync as the kubelet runs it.

    CPU: the agent and everything it starts (containerd, the shims it spawns, their
    ``runc``) run in a cpuacct cgroup of ours; the pods' cgroups (checks, ``runc init``)
    are under the runtime's cgroup parent ``/pkcri-<tag>``. ``.driver`` is the agent's
    own CPU (the kubelet's place), ``.daemons`` the rest of our cgroup."""
    from benchmarks.bench_podkeeper import traced_agent
    from podkeeper.runtime.cri.containerd import home_tag, unavailable_reason
    from podkeeper.runtime.cri.testimages import build_all, busybox_available

    why = unavailable_reason() or busybox_available()
    if why is None and shutil.which("gcc") is None and shutil.which("cc") is None:
        why = "no C compiler to build the pause image (apt-get install gcc)"
    if why is not None:
        raise PeerUnavailable(why)
    cgroup = CpuCgroup("pk-peers-cri")
    pods_cg: Path | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="pk-peers-cri-") as tmp:
            tars = build_all(Path(tmp))
            procs = cgroup.procs_file("agent")
            with traced_agent(runtime="containerd", cgroup_procs=procs) as agent:
                for tar in tars.values():
                    _cli(agent.home, "image", "import", str(tar), timeout=120)
                probe = {
                    "exec": {"command": CHECK},
                    "periodSeconds": CHECK_PERIOD_S,
                    "timeoutSeconds": 1,
                }
                agent.client.apply([_cri_pod(f"peer{i}", probe) for i in range(n)])
                if not agent.wait_pods(is_running, n, time.monotonic() + 60 + 2 * n):
                    raise RuntimeError(f"not all {n} pods ran on containerd")
                time.sleep(2.0)  # past every pod's first check
                root = Path("/sys/fs/cgroup")
                tag = home_tag(str(agent.home))
                pods_cg = (
                    root / f"pkcri-{tag}"
                    if (root / "cgroup.controllers").exists()
                    else root / "cpuacct" / f"pkcri-{tag}"
                )

                def pods_ns() -> int:
                    if not pods_cg.exists():
                        return 0
                    if cgroup.v2:
                        for line in (pods_cg / "cpu.stat").read_text().splitlines():
                            if line.startswith("usage_usec "):
                                return int(line.split()[1]) * 1000
                        return 0
                    return int((pods_cg / "cpuacct.usage").read_text())

                failed_before = int(agent.stats()["failures"])
                agent.mark()
                u0, p0, a0 = cgroup.usage_ns(), pods_ns(), agent_self_cpu(agent.pid)
                m0 = time.monotonic()
                time.sleep(window)
                stats = agent.stats()
                u1, p1, a1 = cgroup.usage_ns(), pods_ns(), agent_self_cpu(agent.pid)
                took = time.monotonic() - m0
                checks = int(stats["by_kind"].get("ExecTarget", 0))
                failed = int(stats["failures"]) - failed_before
                if failed:
                    _log(f"containerd (CRI): {failed} check(s) failed: {stats['last_failure']}")
                ours_s, pods_s, driver_s = (u1 - u0) / 1e9, (p1 - p0) / 1e9, a1 - a0
                total_s = ours_s + pods_s
                _log(
                    f"containerd (CRI): {checks} checks in {took:.1f} s, CPU {total_s:.2f} s "
                    f"(agent {driver_s:.2f}, containerd+shims {ours_s - driver_s:.2f}, "
                    f"pods {pods_s:.2f})"
                )
                # The flag is made inside the container (a new container starts without it).
                fail = _cri_pod(
                    "pkfail",
                    {**probe, "exec": {"command": ["sh", "-c", "[ ! -e /tmp/fail ]"]}},
                )
                fail["spec"]["containers"][0]["command"] = [
                    "sh",
                    "-c",
                    # PID 1 of its container: without the trap SIGTERM would be ignored
                    # and the grace period measured instead of the restart.
                    "trap 'exit 0' TERM; sleep 3; mkdir -p /tmp; touch /tmp/fail; "
                    f"sleep {SLEEP_S} & wait",
                ]
                fail["spec"]["containers"][0]["livenessProbe"]["failureThreshold"] = 1
                fail_ms = fail_to_new_instance(agent, fail, None)
                manifest = agent.home / "one.json"
                manifest.write_text(json.dumps(_cri_pod("pkone", probe)))
                t0 = time.monotonic()
                _cli(agent.home, "apply", "-f", str(manifest))
                start_ms = math.nan
                while time.monotonic() - t0 < 30:
                    if any(
                        p["metadata"]["name"] == "pkone" and is_running(p) for p in agent.pods()
                    ):
                        start_ms = (time.monotonic() - t0) * 1e3
                        break
                    time.sleep(0.01)
    finally:
        # A shim or containerd the drain left: kill until the cgroup is empty (a task
        # still exiting keeps it busy), then remove it.
        for _ in range(50):
            pids = cgroup.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        cgroup.remove()

    def per_k(cpu: float) -> float:
        return cpu / checks * 1000 if checks else math.nan

    return [
        Measurement(
            "peers.containerd_cri.checks_per_s",
            checks / took,
            "check/s",
            note=f"{n} pods via podkeeper's CRI runtime"
            + (f", {failed} failed (timed out)" if failed else ""),
        ),
        Measurement(
            "peers.containerd_cri.cpu_per_1k_checks", per_k(total_s), "CPU-s", better="lower"
        ),
        Measurement(
            "peers.containerd_cri.cpu_per_1k_checks.daemons",
            per_k(ours_s - driver_s),
            "CPU-s",
            better="lower",
            note="containerd, shims, runc",
        ),
        Measurement(
            "peers.containerd_cri.cpu_per_1k_checks.driver",
            per_k(driver_s),
            "CPU-s",
            better="lower",
            note="podkeeper's agent as the CRI client: the kubelet's place",
        ),
        Measurement(
            "peers.containerd_cri.cpu_per_1k_checks.containers",
            per_k(pods_s),
            "CPU-s",
            better="lower",
            note="in the pods' cgroups: checks, runc init",
        ),
        Measurement("peers.containerd_cri.fail_to_new_instance", fail_ms, "ms", better="lower"),
        Measurement("peers.containerd_cri.start_one", start_ms, "ms", better="lower"),
    ]


def agent_self_cpu(pid: int) -> float:
    """utime + stime of ``pid``'s threads, without its children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --------------------------------------------------------------- registration


@benchmark("peers.podkeeper", quick_budget_s=25, full_budget_s=90)
def peers_podkeeper(ctx: BenchContext) -> list[Measurement]:
    """podkeeper's side of the comparison (the peers use its rows as their limits)."""
    n, window = settings(ctx.quick)
    return podkeeper_side(ctx, n, fit_window(ctx, window, 20))


@benchmark("peers.docker", quick_budget_s=50, full_budget_s=120, requires=("peers.podkeeper",))
def peers_docker(ctx: BenchContext) -> list[Measurement]:
    """Docker's health checks doing podkeeper's work, and podkeeper / Docker."""
    n, window = settings(ctx.quick)
    try:
        rows = docker_side(ctx, n, fit_window(ctx, window, 40))
    except PeerUnavailable as exc:
        _log(f"docker skipped: {exc}")
        return [Measurement.skip("peers.docker", str(exc))]
    return rows + versus("docker", {**ctx.limits, **{m.name: m.value for m in rows}})


@benchmark("peers.podman", quick_budget_s=1, full_budget_s=1)
def peers_podman(ctx: BenchContext) -> list[Measurement]:
    """Podman runs its healthchecks from systemd timers; where systemd is absent, skip."""
    why = systemd_absent_reason()
    if why is not None:
        reason = f"podman's healthchecks are systemd timers and {why}"
    elif shutil.which("podman") is None:
        reason = "podman not installed (Debian: apt-get install podman)"
    else:
        reason = "not automated yet: systemd is here, measure podman by hand (issue 16)"
    return [Measurement.skip("peers.podman", reason)]


@benchmark(
    "peers.containerd_cri", quick_budget_s=150, full_budget_s=240, requires=("peers.podkeeper",)
)
def peers_containerd_cri(ctx: BenchContext) -> list[Measurement]:
    """containerd through the CRI, the kubelet's own path: podkeeper's CRI runtime drives a
    private containerd with the same pods and checks (ExecSync)."""
    n, window = settings(ctx.quick)
    try:
        rows = cri_side(ctx, n, fit_window(ctx, window, 45))
    except PeerUnavailable as exc:
        _log(f"containerd (CRI) skipped: {exc}")
        return [Measurement.skip("peers.containerd_cri", str(exc))]
    return rows + versus("containerd_cri", {**ctx.limits, **{m.name: m.value for m in rows}})


@benchmark(
    "peers.containerd_ctr",
    quick_budget_s=45,
    full_budget_s=120,
    requires=("peers.podkeeper",),
)
def peers_containerd_ctr(ctx: BenchContext) -> list[Measurement]:
    """containerd without the kubelet: `ctr task exec` every second per container."""
    n, window = settings(ctx.quick)
    try:
        rows = containerd_side(ctx, n, fit_window(ctx, window, 25))
    except PeerUnavailable as exc:
        _log(f"containerd skipped: {exc}")
        return [Measurement.skip("peers.containerd_ctr", str(exc))]
    return rows + versus("containerd_ctr", {**ctx.limits, **{m.name: m.value for m in rows}})

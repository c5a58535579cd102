"""A private containerd owned by the agent (as k3s runs its own), configured for CRI.

Everything it keeps lives under `$PODKEEPER_HOME/containerd/`: `config.toml`,
`root/` (images, snapshots), `state/`, the runc root, the CNI config and the
host-local IPAM store, and `containerd.log`. Its socket is
`$PODKEEPER_HOME/containerd/containerd.sock`, or, when that path would not fit
containerd's limit for its socket paths (104 bytes, with `.ttrpc` added),
`/run/podkeeper-cri-<hash of the home>/`.
Pods' cgroups go under `pkcri-<hash>` in every controller, so `stop` can
remove what runc left.

The settings are the ones measured to work on a Debian 12 host with cgroup v1
and no CAP_SYS_RESOURCE (issue 10): `restrict_oom_score_adj = true` (without
it RunPodSandbox fails with "can't get final child's PID from pipe: EOF"),
`disable_apparmor = true`, runc with its own Root and `SystemdCgroup = false`,
CNI bridge + host-local from /usr/lib/cni with masquerade off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger("podkeeper.containerd")

DEFAULT_SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni")
CRI_NAMESPACE = "k8s.io"
CGROUP_ROOT = "/sys/fs/cgroup"
# containerd refuses a longer socket path itself ("unix socket path too long (> 104)",
# containerd pkg/sys/socket_unix.go), below Linux's sizeof(sockaddr_un.sun_path) - 1 = 107.
_SUN_PATH_MAX = 104


def home_tag(home: str) -> str:
    """8 hex characters naming this home in host-global places (bridge, cgroups, /run)."""
    return hashlib.sha256(os.path.abspath(home).encode()).hexdigest()[:8]


def find_cni_bin_dir() -> str | None:
    for d in CNI_BIN_DIRS:
        if os.path.isfile(os.path.join(d, "bridge")) and os.path.isfile(
            os.path.join(d, "host-local")
        ):
            return d
    return None


def unavailable_reason() -> str | None:
    """None when a managed containerd can run here, else why not (for `auto` and skips)."""
    if os.geteuid() != 0:
        return "the containerd runtime needs root (the agent runs as an ordinary user)"
    for tool in ("containerd", "runc", "ctr"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install containerd runc)"
    if find_cni_bin_dir() is None:
        return (
            "the CNI bridge and host-local plugins are not installed "
            "(apt-get install containernetworking-plugins)"
        )
    return None


def pod_subnet(home: str) -> ipaddress.IPv4Network:
    """The /24 this home's pods get: $PODKEEPER_CRI_CIDR, else 10.130-193.x.0/24 by home hash
    (the process runtime's sandboxes use 10.88-10.127)."""
    env = os.environ.get("PODKEEPER_CRI_CIDR")
    if env:
        return ipaddress.IPv4Network(env, strict=False)
    h = int(home_tag(home), 16)
    return ipaddress.IPv4Network(f"10.{130 + (h >> 8) % 64}.{h % 256}.0/24")


class ManagedContainerd:
    """Start, health-check and stop one containerd for one agent home."""

    def __init__(self, home: str | Path, sandbox_image: str | None = None) -> None:
        self.home = os.path.abspath(str(home))
        self.tag = home_tag(self.home)
        self.dir = Path(self.home) / "containerd"
        self.sandbox_image = (
            sandbox_image or os.environ.get("PODKEEPER_SANDBOX_IMAGE") or DEFAULT_SANDBOX_IMAGE
        )
        sock = self.dir / "containerd.sock"
        if len(str(sock)) + len(".ttrpc") > _SUN_PATH_MAX:
            sock = Path(f"/run/podkeeper-cri-{self.tag}") / "containerd.sock"
        self.socket = sock
        self.bridge = f"pkcri{self.tag}"[:15]
        self.network = f"podkeeper-{self.tag}"
        self.cgroup_parent = f"/pkcri-{self.tag}"
        self.subnet = pod_subnet(self.home)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: int | None = None

    # ------------------------------------------------------------------ paths

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def config_path(self) -> Path:
        return self.dir / "config.toml"

    @property
    def log_path(self) -> Path:
        return self.dir / "containerd.log"

    @property
    def runc_root(self) -> Path:
        return self.dir / "runc"

    def config_text(self) -> str:
        cni_bin = find_cni_bin_dir() or CNI_BIN_DIRS[0]
        d = self.dir
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""# Written by podkeeper for the agent of {self.home}; rewritten at every start.
version = 2
root = "{d / "root"}"
state = "{d / "state"}"
oom_score = 0
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{self.sandbox_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  max_container_log_line_size = 16384
  disable_cgroup = false
  enable_unprivileged_ports = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which("runc") or "runc"}"
  Root = "{self.runc_root}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{cni_bin}"
  conf_dir = "{d / "cni"}"
  max_conf_num = 1
"""

    def cni_conflist(self) -> dict[str, object]:
        net = self.subnet
        return {
            "cniVersion": "0.4.0",
            "name": self.network,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.dir / "ipam"),
                        "ranges": [[{"subnet": str(net), "gateway": str(net[1])}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }

    def write_config(self) -> None:
        for sub in ("root", "state", "cni", "ipam", "runc"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        conflist = self.dir / "cni" / "10-podkeeper.conflist"
        conflist.write_text(json.dumps(self.cni_conflist(), indent=2))

    # -------------------------------------------------------------- lifecycle

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, timeout: float = 30.0) -> None:
        """Start containerd and wait until its CRI service answers; raise RuntimeError saying
        why it did not (with the tail of its log)."""
        why = unavailable_reason()
        if why is not None:
            raise RuntimeError(why)
        self._kill_previous()
        self.write_config()
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        self._log_file = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._proc = subprocess.Popen(
            ["containerd", "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            start_new_session=True,
        )
        (self.dir / "containerd.pid").write_text(str(self._proc.pid))
        deadline = time.monotonic() + timeout
        from podkeeper.runtime.cri.client import CriClient

        client = CriClient(self.endpoint)
        try:
            while True:
                if self._proc.poll() is not None:
                    raise RuntimeError(
                        f"containerd exited with code {self._proc.returncode} at start: "
                        f"{self.log_tail()}"
                    )
                if self.socket.exists():
                    try:
                        await client.version(timeout=2.0)
                        return
                    except Exception:
                        pass
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(
                        f"containerd did not answer on {self.socket} within {timeout:.0f}s: "
                        f"{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)
        finally:
            await client.close()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        errors = [ln for ln in text if "level=error" in ln or "level=fatal" in ln]
        return " | ".join((errors or text)[-lines:])

    def _kill_previous(self) -> None:
        """A containerd left by an agent that died abruptly: stop it first. Its shims (and
        their containers) stay: the new containerd reconnects to them, so a restarted agent
        can take its pods over; what it does not take over it removes through CRI."""
        try:
            pid = int((self.dir / "containerd.pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and _cmdline(pid).startswith("containerd\0--config\0" + str(self.config_path)):
            log.warning("stopping containerd (pid %d) left by a previous agent", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)

    def shim_pids(self) -> list[int]:
        """containerd-shim-runc-v2 processes started by this containerd (by its socket)."""
        out = []
        needle = f"\0-address\0{self.socket}\0"
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                cmd = _cmdline(int(entry))
                if "containerd-shim" in cmd.split("\0", 1)[0] and needle in cmd + "\0":
                    out.append(int(entry))
        return out

    def _kill_shims(self) -> None:
        """SIGKILL the shims (and with them their containers: runc's init is the shim's child,
        and each container's cgroup is emptied below)."""
        for pid in self.shim_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._kill_cgroup_processes()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop containerd (SIGTERM, SIGKILL after `timeout`), then remove what it leaves on
        the host: shims, container processes, the CNI bridge, its cgroups, the short socket
        directory. Pods should already be removed through CRI (the runtime does it)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            while proc.poll() is None and time.monotonic() - t0 < timeout:
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if self._log_file is not None:
            os.close(self._log_file)
            self._log_file = None
        self._kill_shims()
        self._unmount_leftovers()
        self._remove_bridge()
        self._remove_cgroups()
        (self.dir / "containerd.pid").unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{self.socket}.ttrpc").unlink()
        if self.socket.parent != self.dir:
            with contextlib.suppress(OSError):
                self.socket.parent.rmdir()

    def _unmount_leftovers(self) -> None:
        """Mounts under our root/state (rootfs overlays, sandbox shm) left by a killed shim."""
        prefixes = (str(self.dir / "root") + "/", str(self.dir / "state") + "/")
        try:
            mounts = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return
        targets = [ln.split()[1] for ln in mounts if len(ln.split()) > 1]
        for target in sorted((t for t in targets if t.startswith(prefixes)), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)

    def _remove_bridge(self) -> None:
        if os.path.exists(f"/sys/class/net/{self.bridge}"):
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)

    def _cgroup_dirs(self) -> list[Path]:
        return cgroup_dirs(self.cgroup_parent)

    def _kill_cgroup_processes(self) -> None:
        for top in self._cgroup_dirs():
            for dirpath, _dirs, files in os.walk(top):
                if "cgroup.procs" in files:
                    try:
                        pids = Path(dirpath, "cgroup.procs").read_text().split()
                    except OSError:
                        continue
                    for p in pids:
                        with contextlib.suppress(ProcessLookupError, ValueError):
                            os.kill(int(p), signal.SIGKILL)

    def _remove_cgroups(self) -> None:
        remove_cgroup_tree(self.cgroup_parent)


def cgroup_dirs(parent: str) -> list[Path]:
    """`parent` (a cgroupfs path such as /pkcri-1a2b3c4d) in every mounted hierarchy."""
    root = Path(CGROUP_ROOT)
    found = []
    with contextlib.suppress(OSError):
        for ctrl in root.iterdir():
            d = ctrl / parent.lstrip("/")
            if d.is_dir():
                found.append(d)
    d = root / parent.lstrip("/")
    if d.is_dir() and (d / "cgroup.procs").exists():
        found.append(d)
    return found


def remove_cgroup_tree(parent: str, retries: int = 50) -> None:
    """Remove the (empty) cgroups under and of `parent`, deepest first, in every hierarchy;
    runc removes a container's own cgroup but not the pod cgroups above it."""
    for top in cgroup_dirs(parent):
        for _ in range(retries):
            for dirpath, _dirs, _files in sorted(
                os.walk(top), key=lambda w: len(w[0]), reverse=True
            ):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
            if not top.exists():
                break
            time.sleep(0.02)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.02)


async def reap_home(home: str | Path) -> list[str]:
    """What the next agent of `home` does after one that died abruptly: stop the containerd
    and shims it left, start containerd again, remove every sandbox of this home through CRI
    (CNI teardown included), and stop it, leaving nothing. Returns what was removed."""
    from podkeeper.runtime.cri.client import CriClient
    from podkeeper.runtime.cri.sandboxes import CriSandboxes, CriState

    managed = ManagedContainerd(home)
    if not managed.config_path.exists():
        return []
    await managed.start()
    client = CriClient(managed.endpoint)
    try:
        sandboxes = CriSandboxes(CriState(client, managed.home, managed.tag))
        return await sandboxes.cleanup_stale(frozenset())
    finally:
        await client.close()
        await managed.stop()

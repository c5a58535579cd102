"""Pod sandboxes from Linux namespaces: what a CRI runtime's RunPodSandbox gives a pod.

Per pod (root on Linux only):
- a network namespace `/run/netns/pk-<home tag>-<pod uid>` made with
  `ip netns add`, its loopback up, and one veth pair: `eth0` inside, the host
  end enslaved to a bridge this agent owns (`pk<home tag>0`) which holds the
  pod CIDR's first address; the pod gets the next free address and a default
  route via the bridge. This is the CNI `bridge` plugin with `host-local`
  IPAM (containernetworking/plugins `plugins/main/bridge/bridge.go`,
  `plugins/ipam/host-local/backend/allocator/allocator.go`), minus
  `ipMasq`: pods reach the host and each other, never the outside world.
- per container (done by `runtime.py` with `container_prefix` and
  `PidNamespaceSpawner`): a PID namespace in which the container's process
  itself is PID 1, a UTS namespace whose hostname is the pod name, and a
  mount namespace with its own tmpfs on /tmp and its own /proc (runc's
  default namespace set). `hostNetwork: true` pods
  keep the host network and hostname, as in Kubernetes, but still get the PID
  and mount namespaces.

Every name carries a tag derived from the agent home, so two agents never touch
each other's links or namespaces, and a restarted agent can find and remove what
a crashed one left (`cleanup_stale`). A record per pod under `<home>/sandboxes/`
says which veth and address belong to which pod.

Why `ip -batch` and not pyroute2: it is not installed, and two `ip` processes per
pod cost ~5-10 ms in all (measured: see `NamespaceSandboxes.timings`), well under
the budget for `up -d` → Running, without a new dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from podkeeper.core.hostports import PortMapping
from podkeeper.core.hostsfile import truncate_hostname
from podkeeper.core.sysctls import NET, SAFE_SYSCTLS
from podkeeper.home import home_agent_gone, make_private_dirs, write_private
from podkeeper.runtime.interface import PodSandboxSpec, SandboxError, SandboxInfo
from podkeeper.runtime.mounts import hide_step, message_step, open_message_step, volume_steps
from podkeeper.runtime.process.hostports import HostPort, HostPortTable

T = TypeVar("T")

log = logging.getLogger(__name__)

POD_CIDR_ENV = "PODKEEPER_POD_CIDR"
DEFAULT_POD_CIDR = "10.88.0.0/16"  # the CNI bridge examples' and podman's default
NETNS_DIR = "/run/netns"  # where `ip netns add` bind-mounts namespaces
# iproute2's convention: `ip netns exec NAME` bind-mounts /etc/netns/NAME/* over /etc/*.
# Earlier agents kept pods' hosts files there; they are still removed with the namespace.
# The hosts file now lives in the pod's folder under the home (runtime/hostsfile.py).
NETNS_ETC = "/etc/netns"
RECORDS_DIR = "sandboxes"  # under the agent home
# One bind-mounted IPC namespace file per pod, named like its network namespace: outside
# the home (an nsfs file reads as mode 0444, and nothing under a home is for others),
# root-only, and hidden from containers like /run/netns.
IPC_ROOT = "/run/podkeeper-ipc"
_MNT_DETACH = 2
# Held (flock) by the live agent of a home; a free lock means its sandboxes are orphans.
OWNER_LOCK = "owner.lock"
_HIDDEN_TTL = 10.0
_BRIDGE_NAME = re.compile(r"^pk([0-9a-f]{6})0$")
# systemd's EXIT_NAMESPACE: the container's namespaces could not be set up.
EXIT_NAMESPACE = 226
NAMESPACE_SETUP_FAILED = "podkeeper: cannot set up the container's namespaces"
_IP_TIMEOUT = 10.0
_CAP_NET_ADMIN = 12
_CAP_SYS_ADMIN = 21

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log `message` as a warning once per process (the non-root fallback line)."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def home_tag(home: Path | str) -> str:
    """Six hex digits naming this agent home's links and namespaces."""
    real = os.path.realpath(str(home))
    return hashlib.sha256(real.encode()).hexdigest()[:6]


def pod_hostname(pod_name: str) -> str:
    """The pod's hostname: its name cut to 63 characters without a trailing '-' or '.'.

    kubelet `truncatePodHostnameIfNeeded` (core/hostsfile.py, which the hosts file uses)."""
    return truncate_hostname(pod_name)


def pod_cidr(value: str | None = None) -> ipaddress.IPv4Network:
    """The pod CIDR from `value` or $PODKEEPER_POD_CIDR (default 10.88.0.0/16).

    Raises ValueError for anything but an IPv4 network with room for a bridge and a pod."""
    text = value if value is not None else os.environ.get(POD_CIDR_ENV, DEFAULT_POD_CIDR)
    net = ipaddress.ip_network(text.strip(), strict=False)
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"{POD_CIDR_ENV}={text!r}: only IPv4 pod CIDRs are supported")
    if net.prefixlen > 30:
        raise ValueError(f"{POD_CIDR_ENV}={text!r}: needs at least a /30")
    return net


class AddressPool:
    """Pod addresses of one CIDR: .1 is the bridge (gateway), pods get .2 and up.

    Allocation goes round-robin from the last address handed out, as CNI
    `host-local` does (`allocator.go` `GetIter` starts after `lastReservedIP`),
    so a just-freed address is not reused at once by the next pod (stale
    conntrack entries and clients that cached it see a refusal, not another pod)."""

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        self.network = network
        self.gateway = network.network_address + 1
        self._first = int(network.network_address) + 2
        self._last = int(network.broadcast_address) - 1  # no broadcast address
        self._used: set[int] = set()
        self._next = self._first

    @property
    def size(self) -> int:
        return self._last - self._first + 1

    def allocate(self) -> ipaddress.IPv4Address:
        """A free address; raises SandboxError when the CIDR is exhausted."""
        for i in range(self.size):
            cand = self._first + (self._next - self._first + i) % self.size
            if cand not in self._used:
                self._used.add(cand)
                self._next = cand + 1 if cand < self._last else self._first
                return ipaddress.IPv4Address(cand)
        raise SandboxError(f"no free address left in pod CIDR {self.network}")

    def reserve(self, addr: ipaddress.IPv4Address) -> None:
        """Mark `addr` used (a record a previous agent left for a pod that is kept)."""
        if self._first <= int(addr) <= self._last:
            self._used.add(int(addr))

    def release(self, addr: ipaddress.IPv4Address) -> None:
        self._used.discard(int(addr))

    def in_use(self) -> int:
        return len(self._used)


@dataclass(frozen=True)
class SandboxRecord:
    """What `create` made for one pod, kept on disk so a later agent can undo it."""

    pod_uid: str
    netns: str  # name under /run/netns
    veth: str  # host end
    ip: str
    # hostPorts (protocol, containerPort, hostPort, hostIP): a restarted agent that keeps
    # the pod maps them again; records of earlier versions have none.
    ports: tuple[PortMapping, ...] = ()
    # The pod's IPC namespace, kept by a bind mount on this file ("" for older records).
    ipc: str = ""

    def dump(self) -> str:
        return json.dumps({**self.__dict__, "ports": [list(p) for p in self.ports]})

    @staticmethod
    def load(text: str) -> SandboxRecord:
        d = json.loads(text)
        ports = tuple((str(p[0]), int(p[1]), int(p[2]), str(p[3])) for p in d.get("ports") or ())
        return SandboxRecord(
            str(d["pod_uid"]),
            str(d["netns"]),
            str(d["veth"]),
            str(d["ip"]),
            ports,
            str(d.get("ipc") or ""),
        )


def _effective_caps() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def unavailable_reason() -> str | None:
    """None when this process can make pod sandboxes, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return f"pod sandboxes need Linux namespaces (this is {sys.platform})"
    if os.geteuid() != 0:
        return "pod sandboxes need root (network, UTS, mount and PID namespaces)"
    caps = _effective_caps()
    for cap, name in ((_CAP_SYS_ADMIN, "CAP_SYS_ADMIN"), (_CAP_NET_ADMIN, "CAP_NET_ADMIN")):
        if not caps & (1 << cap):
            return f"pod sandboxes need {name}, which this root process does not have"
    for tool in ("ip", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            return f"pod sandboxes need the `{tool}` command (iproute2 / util-linux)"
    # The namespaces themselves: a seccomp profile or a nested container can refuse them.
    try:
        res = subprocess.run(
            [
                "unshare",
                "--net",
                "--uts",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "true",
            ],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot create namespaces: {e}"
    if res.returncode != 0:
        why = res.stderr.decode(errors="replace").strip().splitlines()
        return f"cannot create namespaces: {why[-1] if why else f'exit {res.returncode}'}"
    return None


def _routes_overlapping(network: ipaddress.IPv4Network, ignore_dev: str) -> list[str]:
    """IPv4 routes of other devices that overlap `network` ("10.88.0.0/16 dev cni-podman0")."""
    try:
        out = subprocess.run(
            ["ip", "-o", "-4", "route", "show", "table", "all"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    hits = []
    for line in out.splitlines():
        words = line.split()
        if not words or words[0] in ("default", "broadcast", "local", "unreachable"):
            continue
        if "dev" not in words:
            continue
        dev = words[words.index("dev") + 1]
        if dev == ignore_dev or dev == "lo":
            continue
        try:
            dest = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        if isinstance(dest, ipaddress.IPv4Network) and dest.overlaps(network):
            hits.append(f"{dest} dev {dev}")
    return hits


# A private /tmp: an overlay whose writable layer is a fresh tmpfs over the host's /tmp.
# Writes and deletions stay in the container (as in its own image layer) while what the
# host keeps in /tmp stays readable: the process runtime runs host binaries, and a program
# or virtualenv living under /tmp (a CI checkout, say) must still start. The tmpfs is
# mounted on a scratch folder, then detached and the folder removed (the overlay keeps its
# own reference), so nothing is left on the host. Without overlayfs: a plain empty tmpfs.
SCRATCH = (
    "mkdir -p /run/podkeeper-tmp"
    " && mount -t tmpfs -o mode=0700,size=64k,nosuid,nodev tmpfs /run/podkeeper-tmp"
)
PRIVATE_TMP = (
    '{ D=/run/podkeeper-tmp/$(cat /proc/sys/kernel/random/uuid) && mkdir -p "$D"'
    ' && mount -t tmpfs -o mode=0700,nosuid,nodev tmpfs "$D"'
    ' && mkdir "$D/u" "$D/w" && chmod 1777 "$D/u"'
    ' && mount -t overlay -o "lowerdir=/tmp,upperdir=$D/u,workdir=$D/w" overlay /tmp'
    ' && umount -l "$D" && rmdir "$D"; }'
    " || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp"
)


def container_prefix(
    sandbox: SandboxInfo,
    unshare: str = "unshare",
    nsenter: str = "nsenter",
    message: tuple[str, str] | None = None,
    volumes: Sequence[tuple[str, str, bool]] = (),
    workdir: str = "",
    hosts_file: str = "",
) -> list[str]:
    """The argv prefix that puts a container's process into its sandbox; [] for none.

    Exec-only, so the pid never changes: `nsenter --net=<netns> --ipc=<ipc>` joins the
    pod's network and IPC namespaces (all containers of a pod share them, as they share
    the pause container's in Kubernetes), `unshare --uts --mount` makes the
    container's own UTS and mount namespaces (private propagation, unshare's
    default), then a shell sets the hostname, mounts /proc for the container's
    PID namespace (made by `PidNamespaceSpawner` at fork) and a private /tmp
    (`PRIVATE_TMP`: the container's writes go to its own tmpfs layer), and
    execs the rest (`exec "$@"`), as runc's init sets up the container before
    exec'ing its process. The tmpfs dies with the mount namespace (nothing to
    clean up), and a restarted container starts from the host's /tmp again, as
    a new writable layer would; like an emptyDir with medium Memory it counts
    towards the memory limit. The caller appends the container's
    own argv (e.g. `env -i -- ...`).

    `message` (agent-owned file, `terminationMessagePath`) and
    `sandbox.hidden_paths` add the steps of runtime/mounts.py, which need the
    mount namespace: without one (no pid namespace nor private /tmp) neither applies.
    `volumes` ((mountPath, host path, read-only) of runtime/mounts.py `volume_steps`) are
    mounted there too, and `workdir` is entered after them (it may be inside one); the
    caller refuses volumes without a mount namespace. `hosts_file` (the pod's managed
    hosts file, runtime/hostsfile.py) is bind-mounted at /etc/hosts when there is a mount
    namespace (the kubelet mounts it only where the runtime can map a single file).
    Raises `MountPlanError`."""
    prefix: list[str] = []
    joins = [f"--net={sandbox.netns_path}"] if sandbox.netns_path else []
    if sandbox.ipc_path:
        joins.append(f"--ipc={sandbox.ipc_path}")
    if joins:
        prefix += [nsenter, *joins, "--"]
    flags: list[str] = []
    steps: list[str] = []
    if sandbox.hostname:
        flags.append("--uts")
        steps.append('echo "$0" >/proc/sys/kernel/hostname')
    if sandbox.pid_namespace or sandbox.private_tmp:
        flags.append("--mount")
    if sandbox.pid_namespace:
        # The container's own /proc: `ps` shows its processes, /proc/1 is itself.
        steps.append("mount -t proc -o nosuid,nodev,noexec proc /proc")
    if sandbox.private_tmp:
        steps.append(PRIVATE_TMP)
    if hosts_file and "--mount" in flags:
        steps.append(f"mount --bind {shlex.quote(hosts_file)} /etc/hosts")
    plan = volume_steps(volumes) if volumes and "--mount" in flags else None
    if "--mount" in flags:
        if message is not None:
            steps.insert(0, open_message_step(message[0]))
            steps.append(message_step(message[1]))
        if plan is not None:
            steps[0:0] = plan.stage
            steps += plan.mount
        if sandbox.hidden_paths:
            steps.append(hide_step(sandbox.hidden_paths))
        if plan is not None:
            # The working directory is entered again after the mounts (it may be in one).
            steps.insert(0, "PKWD=$(pwd)")
            steps += plan.root
        # Scratch folders (/run/podkeeper-tmp/<uuid>) are made on a tmpfs private to this
        # mount namespace: a setup step that fails half-way leaves nothing on the host.
        steps.insert(0, SCRATCH)
    if flags:
        prefix += [unshare, *flags, "--"]
    if steps:
        run = 'exec "$@"'
        if plan is not None:
            wd = shlex.quote(workdir) if workdir else '"$PKWD"'
            run = f'cd {wd} 2>/dev/null; exec "$@"'
            if plan.switches_root:
                chroot = shutil.which("chroot") or "/usr/sbin/chroot"
                inner = 'cd "$0" 2>/dev/null || cd /; exec "$@"'
                run = f'exec {chroot} . /bin/sh -c {shlex.quote(inner)} {wd} "$@"'
        script = (
            "{ " + " && ".join(steps) + "; } || "
            f'{{ echo "{NAMESPACE_SETUP_FAILED}" >&2; exit {EXIT_NAMESPACE}; }}; {run}'
        )
        prefix += ["/bin/sh", "-c", script, sandbox.hostname or "sh"]
    return prefix


def exec_prefix(init_pid: int, nsenter: str = "nsenter") -> tuple[str, ...]:
    """The argv prefix that runs a command inside a container's namespaces (net, ipc, uts,
    mnt, pid).

    The CRI `ExecSync` as runc exec does it: join the container init's
    namespaces; nsenter forks so the command is a process of the container's
    PID namespace, and `--wd` (no value) takes the container init's working
    directory, since entering a mount namespace resets it to `/`."""
    return (nsenter, "-t", str(init_pid), "-n", "-i", "-u", "-m", "-p", "--wd", "--")


_CLONE_NEWPID = 0x20000000


class PidNamespaceSpawner:
    """Runs spawn functions so that the process they fork is PID 1 of a new PID namespace.

    `unshare(CLONE_NEWPID)` changes the namespace of the caller's *next
    children* only, and only for the calling thread (namespaces hang off the
    task), so one dedicated thread does unshare → fork/exec → `setns` back to
    the agent's own PID namespace (which makes the next unshare legal again).
    The child itself is then PID 1, with no shim in between: its exit status,
    signals and OOM kill are seen directly, and the kernel makes it ignore a
    SIGTERM it has no handler for, as a container's init does. (util-linux
    `unshare --pid --fork` would be a shim, and 2.38's exits 1 instead of dying
    of SIGKILL when its child is OOM-killed.) Nothing else forks from this thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podkeeper-pidns")
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._host_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self._broken: str | None = None

    def _in_new_namespace(self, fn: Callable[[], T]) -> T:
        if self._broken is not None:
            raise OSError(self._broken)
        if self._libc.unshare(_CLONE_NEWPID) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWPID): {os.strerror(err)}")
        try:
            return fn()
        finally:
            if self._libc.setns(self._host_ns, _CLONE_NEWPID) != 0:
                # Children of this thread would share one namespace: never spawn here again.
                self._broken = f"setns back to the host PID namespace: errno {ctypes.get_errno()}"
                log.error("%s", self._broken)

    async def run(self, fn: Callable[[], T]) -> T:
        """Call `fn` (which forks one child, e.g. `subprocess.Popen`) in the spawn thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._in_new_namespace, fn)


_spawner: PidNamespaceSpawner | None = None
_spawner_lock = threading.Lock()


def pid_namespace_spawner() -> PidNamespaceSpawner:
    """The process-wide spawner (one thread, made on first use)."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = PidNamespaceSpawner()
        return _spawner


@dataclass
class _Live:
    record: SandboxRecord
    ip: ipaddress.IPv4Address


class NamespaceSandboxes:
    """`SandboxManager` with a network namespace, veth and address per pod (root on Linux).

    Build it with `for_home`, which returns None when namespaces cannot be used."""

    def __init__(self, home: Path, network: ipaddress.IPv4Network, auto_cidr: bool = False) -> None:
        self.home = Path(home)
        self._auto_cidr = auto_cidr
        self._hidden: tuple[float, tuple[str, ...]] | None = None
        self.tag = home_tag(home)
        self.bridge = f"pk{self.tag}0"
        self.pool = AddressPool(network)
        self.records = self.home / RECORDS_DIR
        self._live: dict[str, _Live] = {}
        self._lock = asyncio.Lock()
        self._bridge_up = False
        self._ip = shutil.which("ip") or "/usr/sbin/ip"
        self._unshare = shutil.which("unshare") or "/usr/bin/unshare"
        self._nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        # What the agent knows of a pod by its uid (its hostname, its hostPorts, which
        # this home's nftables table maps as the CNI portmap plugin would: hostports.py).
        self.describe: Callable[[str], PodSandboxSpec | None] = lambda uid: None
        self._host_ports = HostPortTable(str(self.home), self.bridge)
        # Seconds of the last create/destroy, for the benchmark and the report.
        self.timings: dict[str, float] = {}
        self._owner_fd: int | None = None

    def hold_owner_lock(self) -> None:
        """Mark this home's sandboxes as owned by a live agent (released at exit, even
        on SIGKILL), so that other agents' sweeps leave them alone."""
        if self._owner_fd is not None:
            return
        make_private_dirs(self.records)
        fd = os.open(self.records / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.warning("another agent holds %s", self.records / OWNER_LOCK)
        self._owner_fd = fd

    # ------------------------------------------------------------------ names

    @property
    def netns_prefix(self) -> str:
        return f"pk-{self.tag}-"

    @property
    def veth_prefix(self) -> str:
        return f"pk{self.tag}v"

    def netns_name(self, pod_uid: str) -> str:
        return f"{self.netns_prefix}{pod_uid}"

    def veth_name(self, addr: ipaddress.IPv4Address) -> str:
        """Host end of the pod's veth: unique per address, ≤ 15 bytes (IFNAMSIZ)."""
        return f"{self.veth_prefix}{int(addr) - int(self.pool.network.network_address):x}"

    # ---------------------------------------------------------------- factory

    @classmethod
    def for_home(cls, home: Path, cidr: str | None = None) -> NamespaceSandboxes | None:
        """Sandboxes for the agent of `home`, or None (with a one-time warning) when
        this process cannot make them: not Linux, not root, no namespaces, a bad
        or already routed pod CIDR. The caller falls back to host networking.

        `cidr` (else $PODKEEPER_POD_CIDR) is used as given and must be free. With
        neither, the pod CIDR is 10.88.0.0/16 or, when another podkeeper home or a
        container engine (podman's default is the same) already routes it, the
        first free one of 10.89.0.0/16 ... 10.127.0.0/16, chosen when the bridge
        is made, so that several agents (parallel test runs) coexist."""
        why = unavailable_reason()
        explicit = cidr if cidr is not None else os.environ.get(POD_CIDR_ENV)
        network = ipaddress.IPv4Network(DEFAULT_POD_CIDR)
        if why is None and explicit is not None:
            try:
                network = pod_cidr(explicit)
            except ValueError as e:
                why = str(e)
        if why is None:
            mgr = cls(home, network, auto_cidr=explicit is None)
            clash = [] if explicit is None else _routes_overlapping(network, mgr.bridge)
            if not clash:
                mgr.hold_owner_lock()
                return mgr
            why = (
                f"pod CIDR {network} is already routed ({'; '.join(clash)}): another "
                f"podkeeper home or container engine uses it; set {POD_CIDR_ENV}"
            )
        warn_once(f"{why}; pods fall back to the host network (pod IP 127.0.0.1)")
        return None

    def _choose_network(self) -> ipaddress.IPv4Network:
        """The configured CIDR, or the first free default one (see `for_home`)."""
        if not self._auto_cidr:
            return self.pool.network
        for second in range(88, 128):
            cand = ipaddress.IPv4Network(f"10.{second}.0.0/16")
            if not _routes_overlapping(cand, self.bridge):
                if second != 88:
                    log.info("pod CIDR %s is in use; this agent uses %s", DEFAULT_POD_CIDR, cand)
                return cand
        raise SandboxError(f"no free pod CIDR in 10.88.0.0/16-10.127.0.0/16; set {POD_CIDR_ENV}")

    # -------------------------------------------------------------- commands

    def _run_ip(self, lines: Sequence[str], netns: str | None = None, force: bool = False) -> str:
        argv = [self._ip]
        if netns is not None:
            argv += ["-n", netns]
        if force:
            argv.append("-force")  # batch: go on after a failed line (cleanup of half-made things)
        argv += ["-batch", "-"]
        try:
            res = subprocess.run(
                argv,
                input="\n".join(lines) + "\n",
                capture_output=True,
                text=True,
                timeout=_IP_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SandboxError(f"{' '.join(argv)}: {e}") from e
        if res.returncode != 0 and not force:
            raise SandboxError(f"{' '.join(argv)}: {res.stderr.strip()}")
        return res.stderr

    def _links(self) -> list[str]:
        out = subprocess.run(
            [self._ip, "-o", "link", "show"], capture_output=True, text=True, check=False
        ).stdout
        names = []
        for line in out.splitlines():
            parts = line.split(":", 2)
            if len(parts) >= 2:
                names.append(parts[1].strip().split("@", 1)[0])
        return names

    def _ensure_bridge(self) -> None:
        if self._bridge_up:
            return
        if self.bridge not in self._links():
            if self.pool.in_use() == 0:
                self.pool = AddressPool(self._choose_network())
            gw = f"{self.pool.gateway}/{self.pool.network.prefixlen}"
            self._run_ip(
                [
                    f"link add {self.bridge} type bridge",
                    # The owner's home, for other agents' sweeps (`_sweep_dead_homes`).
                    f"link set {self.bridge} alias {json.dumps(os.path.realpath(self.home))}",
                    f"addr add {gw} dev {self.bridge}",
                    f"link set {self.bridge} up",
                ]
            )
        _bridge_forwarding(self.bridge, self.tag, add=True)
        self._bridge_up = True

    def _remove_bridge(self) -> bool:
        _bridge_forwarding(self.bridge, self.tag, add=False)
        self._bridge_up = False
        if self.bridge not in self._links():
            return False
        self._run_ip([f"link del {self.bridge}"], force=True)
        return True

    # ------------------------------------------------------------- interface

    async def create(self, pod_uid: str, pod_name: str, host_network: bool) -> SandboxInfo:
        """Make the pod's network namespace, veth and address (~5-10 ms).

        `hostNetwork` pods share the host's network and UTS namespaces (as in
        Kubernetes) but still get per-container PID and mount namespaces. If the
        network cannot be made (a full disk, no free address) this raises
        `SandboxError`."""
        spec = self.describe(pod_uid) or PodSandboxSpec()
        shared = sorted(n for n in spec.sysctls if SAFE_SYSCTLS.get(n) != NET)
        if shared and host_network:
            # A hostNetwork pod gets no namespaces of its own here (the IPC one included):
            # kernel.shm_rmid_forced would change the node's.
            raise SandboxError(
                f"sysctl {', '.join(shared)}: a hostNetwork pod on the process runtime has no"
                " IPC namespace of its own; run it with runtimeClassName: podkeeper-containerd"
            )
        hidden = await asyncio.to_thread(self.hidden_paths)
        if host_network:
            return SandboxInfo(
                pod_uid, "127.0.0.1", pid_namespace=True, private_tmp=True, hidden_paths=hidden
            )
        t0 = time.perf_counter()
        async with self._lock:
            try:
                live = await asyncio.to_thread(
                    self._create_sync, pod_uid, pod_name, spec.port_mappings, spec.sysctls
                )
            except (SandboxError, OSError) as e:
                # Never the host network for a pod that asked for its own (issue 13
                # item 9): the pod worker reports it and tries again, as the kubelet
                # retries a failed RunPodSandbox.
                raise SandboxError(str(e)) from e
        self.timings["create"] = time.perf_counter() - t0
        return SandboxInfo(
            pod_uid,
            live.record.ip,
            netns_path=os.path.join(NETNS_DIR, live.record.netns),
            ipc_path=live.record.ipc or None,
            hostname=spec.hostname or pod_hostname(pod_name),
            pid_namespace=True,
            private_tmp=True,
            hidden_paths=hidden,
        )

    def hidden_paths(self) -> tuple[str, ...]:
        """What a pod's containers must not see (issue 13 item 3): every network
        namespace under /run/netns (this agent's other pods' and other agents'), this
        home, and the homes of the other agents this host's bridges name (their alias).

        Looked up at most every `_HIDDEN_TTL` seconds: a restart restores hundreds of
        pods at once, and one `ip link` each was most of its time."""
        now = time.monotonic()
        cached = self._hidden
        if cached is not None and now - cached[0] < _HIDDEN_TTL:
            return cached[1]
        paths = self._find_hidden_paths()
        self._hidden = (now, paths)
        return paths

    def _bridges(self) -> list[dict[str, Any]] | None:
        """Every bridge on the host as `ip -j link` reports it (None when `ip` fails)."""
        try:
            out = subprocess.run(
                [self._ip, "-j", "link", "show", "type", "bridge"],
                capture_output=True,
                text=True,
                timeout=_IP_TIMEOUT,
                check=False,
            ).stdout
            bridges = json.loads(out or "[]")
        except (OSError, subprocess.TimeoutExpired, ValueError):
            return None
        return [b for b in bridges if isinstance(b, dict)] if isinstance(bridges, list) else None

    def _find_hidden_paths(self) -> tuple[str, ...]:
        homes = [str(self.home)]
        for br in self._bridges() or []:
            alias = br.get("ifalias")
            if _BRIDGE_NAME.match(str(br.get("ifname", ""))) and isinstance(alias, str):
                homes.append(alias)
        return (NETNS_DIR, IPC_ROOT, *dict.fromkeys(h for h in homes if os.path.isabs(h)))

    def _create_sync(
        self,
        pod_uid: str,
        pod_name: str,
        ports: tuple[PortMapping, ...] = (),
        sysctls: Mapping[str, str] | None = None,
    ) -> _Live:
        if pod_uid in self._live:  # a worker restarted for the same pod: same sandbox
            return self._live[pod_uid]
        sysctls = sysctls or {}
        self._ensure_bridge()
        addr = self.pool.allocate()
        netns, veth = self.netns_name(pod_uid), self.veth_name(addr)
        ipc = os.path.join(IPC_ROOT, netns)
        rec = SandboxRecord(pod_uid, netns, veth, str(addr), ports, ipc)
        make_private_dirs(self.records)
        # Written first: a crash half-way still leaves enough to clean up. Owner-only,
        # like everything under the home (issue 13 item 5).
        write_private(self.records / pod_uid, rec.dump())
        try:
            # The peer is created straight inside the namespace as eth0 (no rename
            # step), as the CNI bridge plugin's `SetupVeth` ends up.
            self._run_ip(
                [
                    f"netns add {rec.netns}",
                    f"link add {rec.veth} type veth peer name eth0 netns {rec.netns}",
                    f"link set {rec.veth} master {self.bridge} up",
                ]
            )
            self._run_ip(
                [
                    "link set lo up",
                    f"addr add {addr}/{self.pool.network.prefixlen} dev eth0",
                    "link set eth0 up",
                    f"route add default via {self.pool.gateway} dev eth0",
                ],
                netns=rec.netns,
            )
            self._make_ipc_namespace(ipc)
            for name, value in sorted(sysctls.items()):
                self._set_sysctl(rec, name, value)
        except (SandboxError, OSError):
            self._undo(rec)
            self.pool.release(addr)
            raise
        live = _Live(rec, addr)
        self._live[pod_uid] = live
        if ports:
            try:
                self._sync_host_ports()
            except OSError:
                # As a failed portmap fails the CNI ADD: no sandbox, the pod worker retries.
                del self._live[pod_uid]
                self._undo(rec)
                self.pool.release(addr)
                raise
        return live

    def _make_ipc_namespace(self, path: str) -> None:
        """A new IPC namespace for the pod, kept by a bind mount on `path` (`unshare
        --ipc=FILE`, as `ip netns add` keeps a network namespace): every container of the
        pod joins it, as they share the sandbox's in Kubernetes, and no other pod sees
        its System V shared memory, semaphores or message queues."""
        os.makedirs(IPC_ROOT, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
        _run_tool([self._unshare, f"--ipc={path}", "true"], "unshare --ipc")

    def _set_sysctl(self, rec: SandboxRecord, name: str, value: str) -> None:
        """Write a sysctl inside the pod's network or IPC namespace (/proc/sys/net and the
        IPC sysctls show the namespace of whoever opens them). `name` is on the safe list
        (core/sysctls.py), so its path stays under /proc/sys; the value goes as an
        argument, unquoted."""
        path = "/proc/sys/" + name.translate(str.maketrans("./", "/."))
        if SAFE_SYSCTLS.get(name) == NET:
            join = f"--net={os.path.join(NETNS_DIR, rec.netns)}"
        elif rec.ipc:
            join = f"--ipc={rec.ipc}"
        else:
            raise SandboxError(f"sysctl {name}: this sandbox has no namespace for it")
        script = 'printf "%s\\n" "$0" > "$1"'
        argv = [self._nsenter, join, "--", "sh", "-c", script, value, path]
        _run_tool(argv, f"sysctl {name}={value}")

    def _sync_host_ports(self) -> None:
        """Write the live sandboxes' hostPorts (none: remove the table). OSError says why not."""
        self._host_ports.sync(
            [
                HostPort(proto, host_ip, host_port, lv.record.ip, container_port)
                for lv in self._live.values()
                for proto, container_port, host_port, host_ip in lv.record.ports
            ]
        )

    def _undo(self, rec: SandboxRecord) -> None:
        # Deleting the host end removes both ends at once; a namespace's own
        # removal frees its veth only later, from a kernel work queue.
        self._run_ip([f"link del {rec.veth}", f"netns del {rec.netns}"], force=True)
        if rec.ipc:
            _remove_ns_file(rec.ipc)
        shutil.rmtree(os.path.join(NETNS_ETC, rec.netns), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.records / rec.pod_uid).unlink()

    async def destroy(self, sandbox: SandboxInfo) -> None:
        """Remove the pod's veth, namespace and address; the bridge goes with the last pod."""
        t0 = time.perf_counter()
        async with self._lock:
            live = self._live.pop(sandbox.pod_uid, None)
            if live is None:
                return
            await asyncio.to_thread(self._destroy_sync, live)
        self.timings["destroy"] = time.perf_counter() - t0

    def _destroy_sync(self, live: _Live) -> None:
        if live.record.ports:
            self._sync_host_ports_quietly()
        self._undo(live.record)
        self.pool.release(live.ip)
        if not self._live:
            # The agent's drain deletes every pod before it exits, so the last
            # destroy is also the agent's shutdown: leave no bridge behind.
            self._remove_bridge()

    async def cleanup_stale(self, keep: frozenset[str]) -> list[str]:
        """Remove namespaces, veths and records of pods not in `keep` (pod uids) that
        an earlier agent of this home left, and the bridge when nothing is kept."""
        async with self._lock:
            return await asyncio.to_thread(self._cleanup_sync, keep)

    def _cleanup_sync(self, keep: frozenset[str]) -> list[str]:
        gone = self._sweep_dead_homes()
        kept_veths: set[str] = set()
        if self.records.is_dir():
            for path in sorted(self.records.iterdir()):
                if path.name == OWNER_LOCK or not path.is_file():
                    continue
                try:
                    rec = SandboxRecord.load(path.read_text())
                except (OSError, ValueError, KeyError):
                    path.unlink(missing_ok=True)
                    continue
                if rec.pod_uid in keep or rec.pod_uid in self._live:
                    # Adopt a kept pod's sandbox so that its `destroy` finds it.
                    kept_veths.add(rec.veth)
                    addr = ipaddress.IPv4Address(rec.ip)
                    if (
                        self._auto_cidr
                        and self.pool.in_use() == 0
                        and addr not in self.pool.network
                    ):
                        # The earlier agent chose another free /16 (its bridge still has
                        # it): keep using that one, or new pods would clash with kept ones.
                        self.pool = AddressPool(ipaddress.IPv4Network(f"{addr}/16", strict=False))
                    self.pool.reserve(addr)
                    self._live.setdefault(rec.pod_uid, _Live(rec, addr))
                    continue
                self._undo(rec)
                gone.append(f"pod sandbox of uid {rec.pod_uid}: address {rec.ip}")
        live_ns = {lv.record.netns for lv in self._live.values()}
        kept_veths |= {lv.record.veth for lv in self._live.values()}
        for name in self._orphans(NETNS_DIR, live_ns, keep):
            self._run_ip([f"netns del {name}"], force=True)
            shutil.rmtree(os.path.join(NETNS_ETC, name), ignore_errors=True)
            gone.append(f"network namespace {name}")
        for name in self._orphans(IPC_ROOT, live_ns, keep):
            _remove_ns_file(os.path.join(IPC_ROOT, name))
            gone.append(f"IPC namespace {name}")
        links = self._links()
        for name in links:
            if name.startswith(self.veth_prefix) and name not in kept_veths:
                self._run_ip([f"link del {name}"], force=True)
                gone.append(f"veth {name}")
        if not keep and not self._live and self.bridge in links and self._remove_bridge():
            gone.append(f"bridge {self.bridge}")
        # The kept pods' hostPorts stay mapped; a crashed agent's other mappings go.
        self._sync_host_ports_quietly()
        return gone

    def _sync_host_ports_quietly(self) -> None:
        try:
            self._sync_host_ports()
        except OSError as e:
            log.warning("%s", e)

    def _orphans(self, folder: str, live: set[str], keep: frozenset[str]) -> list[str]:
        """This home's namespace files in `folder` (named pk-<tag>-<uid>) that neither a
        live sandbox nor a pod in `keep` owns."""
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        prefix = self.netns_prefix
        return [
            n
            for n in names
            if n.startswith(prefix) and n not in live and n[len(prefix) :] not in keep
        ]

    def _sweep_dead_homes(self) -> list[str]:
        """Remove the bridges, namespaces and veths of other homes whose agent is provably gone.

        A home's tests or users may never start its agent again (a temporary
        home, a SIGKILLed test agent), and its pods' addresses would stay taken
        forever. What "provably" means (issue 13 item 8): the bridge's alias
        names a home whose tag is the bridge's own; `home_agent_gone` proves that
        home's agent dead (its lock files free, its pid gone) and holds its locks
        meanwhile; and only what that home's sandbox records name (namespaces,
        veths) goes with the bridge, never everything sharing the 6-hex tag. A
        home that is gone, unreadable or alive keeps everything; a gone home's
        bridge is only reported (once), with the command that removes it."""
        bridges = self._bridges()
        if bridges is None:
            return []
        gone: list[str] = []
        for br in bridges:
            name, home = str(br.get("ifname", "")), br.get("ifalias")
            m = _BRIDGE_NAME.match(name)
            if m is None or name == self.bridge or not isinstance(home, str):
                continue
            tag = m.group(1)
            if not os.path.isabs(home) or home_tag(home) != tag:
                continue
            with home_agent_gone(home) as dead:
                if not dead:
                    if not os.path.isdir(home):
                        warn_once(
                            f"bridge {name} belongs to home {home}, which no longer exists here: "
                            f"left alone (remove it with `ip link del {name}` if it is unused)"
                        )
                    continue
                records = Path(home) / RECORDS_DIR
                lines = [f"link del {name}"]
                owned = 0
                with contextlib.suppress(OSError):
                    for path in sorted(records.iterdir()):
                        if path.name == OWNER_LOCK or not path.is_file():
                            continue
                        try:
                            rec = SandboxRecord.load(path.read_text())
                        except (OSError, ValueError, KeyError):
                            continue
                        if rec.netns.startswith(f"pk-{tag}-") and rec.veth.startswith(f"pk{tag}v"):
                            lines += [f"link del {rec.veth}", f"netns del {rec.netns}"]
                            shutil.rmtree(os.path.join(NETNS_ETC, rec.netns), ignore_errors=True)
                            if rec.ipc == os.path.join(IPC_ROOT, rec.netns):
                                _remove_ns_file(rec.ipc)
                            owned += 1
                        path.unlink(missing_ok=True)
                self._run_ip(lines, force=True)
                _bridge_forwarding(name, tag, add=False)
                gone.append(
                    f"bridge {name} of {home}, whose agent is gone, and its {owned} pod sandbox(es)"
                )
        return gone


def _run_tool(argv: Sequence[str], what: str) -> None:
    """Run a setup command (unshare, nsenter); SandboxError saying `what` failed and why."""
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=_IP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SandboxError(f"{what}: {e}") from e
    if res.returncode != 0:
        raise SandboxError(f"{what}: {res.stderr.strip()}")


def _remove_ns_file(path: str) -> None:
    """Unmount a namespace kept by a bind mount on `path` and remove the file (either may
    be gone already: a half-made sandbox, a second cleanup)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (2, 22):  # ENOENT, EINVAL (not a mount point)
            log.warning("umount %s: errno %d", path, err)
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        os.unlink(path)


def _bridge_forwarding(bridge: str, tag: str, add: bool) -> None:
    """Let pod-to-pod traffic through iptables when bridged frames go through it.

    With br_netfilter loaded and `bridge-nf-call-iptables` = 1, frames between
    two ports of a bridge traverse the FORWARD chain, which Docker sets to DROP;
    Docker itself adds `-A FORWARD -i docker0 -o docker0 -j ACCEPT` for this.
    Only that one rule (no NAT): without iptables, or with the sysctl off,
    nothing is needed and nothing is done."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            if f.read().strip() != "1":
                return
    except OSError:
        return
    iptables = shutil.which("iptables")
    if iptables is None:
        return
    rule = ["FORWARD", "-i", bridge, "-o", bridge, "-m", "comment"]
    rule += ["--comment", f"podkeeper {tag}", "-j", "ACCEPT"]
    present = (
        subprocess.run([iptables, "-w", "-C", *rule], capture_output=True, check=False).returncode
        == 0
    )
    if add and not present:
        op = "-I"
    elif not add and present:
        op = "-D"
    else:
        return
    res = subprocess.run([iptables, "-w", op, *rule], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        log.warning("iptables %s for bridge %s: %s", op, bridge, res.stderr.strip())

"""Pod sandboxes (issue 4 §1): the pure parts everywhere, real namespaces as root.

The root tests drive `ProcessRuntime` directly with a `NamespaceSandboxes` (no
agent) and talk only to loopback and the pod addresses on the agent's bridge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from podkeeper.core import hostsfile
from podkeeper.core.result import Result
from podkeeper.core.spec import Resources
from podkeeper.runtime.cgroups import CgroupManager
from podkeeper.runtime.checkers.exec import exec_probe
from podkeeper.runtime.hostsfile import ensure_hosts_file
from podkeeper.runtime.interface import SandboxInfo, StartRequest
from podkeeper.runtime.process import ProcessInstance, ProcessRuntime
from podkeeper.runtime.process import sandbox as sb
from podkeeper.runtime.process.sandbox import (
    AddressPool,
    NamespaceSandboxes,
    SandboxError,
    container_prefix,
    pod_cidr,
    pod_hostname,
)

PY = sys.executable
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}

# --------------------------------------------------------------- pure parts


def test_pool_starts_after_gateway_and_goes_round_robin() -> None:
    pool = AddressPool(ipaddress.IPv4Network("10.1.2.0/29"))  # .1 bridge, .2-.6 pods
    assert str(pool.gateway) == "10.1.2.1"
    got = [str(pool.allocate()) for _ in range(3)]
    assert got == ["10.1.2.2", "10.1.2.3", "10.1.2.4"]
    pool.release(ipaddress.IPv4Address("10.1.2.2"))
    # host-local: the next address after the last one handed out, not the freed one.
    assert str(pool.allocate()) == "10.1.2.5"
    assert str(pool.allocate()) == "10.1.2.6"
    assert str(pool.allocate()) == "10.1.2.2"  # wrapped around, .7 (broadcast) skipped
    with pytest.raises(SandboxError, match="no free address"):
        pool.allocate()


def test_pool_reserve_skips_addresses_of_kept_pods() -> None:
    pool = AddressPool(ipaddress.IPv4Network("10.1.2.0/29"))
    pool.reserve(ipaddress.IPv4Address("10.1.2.2"))
    pool.reserve(ipaddress.IPv4Address("10.9.9.9"))  # outside: ignored
    assert str(pool.allocate()) == "10.1.2.3"
    assert pool.in_use() == 2


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("web", "web"),
        ("a" * 63, "a" * 63),
        ("a" * 62 + "-b", "a" * 62),  # cut at 63 leaves a trailing '-': trimmed
        ("a" * 61 + ".-xyz", "a" * 61),
    ],
)
def test_hostname_truncated_as_the_kubelet_does(name: str, want: str) -> None:
    assert pod_hostname(name) == want


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("10.88.0.0/16", None),
        ("10.200.0.7/24", None),  # host bits are dropped
        ("fd00::/64", "only IPv4"),
        ("10.0.0.0/31", "at least a /30"),
        ("bogus", "does not appear to be"),
    ],
)
def test_pod_cidr_validation(value: str, error: str | None) -> None:
    if error is None:
        assert pod_cidr(value).prefixlen <= 30
    else:
        with pytest.raises(ValueError, match=error):
            pod_cidr(value)


def test_names_are_per_home_and_fit_ifnamsiz(tmp_path: Path) -> None:
    a = NamespaceSandboxes(tmp_path / "a", ipaddress.IPv4Network("10.88.0.0/16"))
    b = NamespaceSandboxes(tmp_path / "b", ipaddress.IPv4Network("10.88.0.0/16"))
    assert a.bridge != b.bridge and a.veth_prefix != b.veth_prefix
    last = ipaddress.IPv4Address("10.88.255.254")
    assert len(a.veth_name(last).encode()) <= 15 and len(a.bridge) <= 15


def test_container_prefix_shapes() -> None:
    host = container_prefix(SandboxInfo("u"))
    assert host == []
    full = container_prefix(
        SandboxInfo("u", "10.0.0.2", "/run/netns/x", "web", pid_namespace=True, private_tmp=True)
    )
    assert full[:3] == ["nsenter", "--net=/run/netns/x", "--"]
    # Exec-only (no --fork): the PID namespace comes from the spawner, not a shim.
    assert full[3:7] == ["unshare", "--uts", "--mount", "--"]
    assert "mount -t proc" in full[-2] and "mount -t overlay" in full[-2]
    assert full[-1] == "web"  # $0 of the setup shell: the hostname to set
    # The pod's IPC namespace is joined with its network one (shared by its containers).
    ipc = SandboxInfo("u", "10.0.0.2", "/run/netns/x", "web", ipc_path="/run/podkeeper-ipc/x")
    assert container_prefix(ipc)[:4] == [
        "nsenter",
        "--net=/run/netns/x",
        "--ipc=/run/podkeeper-ipc/x",
        "--",
    ]
    # hostNetwork: no network or UTS namespace, still PID (its /proc) and mount.
    hn = container_prefix(SandboxInfo("u", pid_namespace=True, private_tmp=True))
    assert hn[:3] == ["unshare", "--mount", "--"] and hn[-1] == "sh"


def test_container_prefix_mounts_the_hosts_file_only_with_a_mount_namespace() -> None:
    ns = SandboxInfo("u", pid_namespace=True, private_tmp=True)
    assert (
        "mount --bind '/h o/etc-hosts' /etc/hosts"
        in container_prefix(ns, hosts_file="/h o/etc-hosts")[-2]
    )
    assert "/etc/hosts" not in container_prefix(ns)[-2]  # a container mounting its own
    assert container_prefix(SandboxInfo("u"), hosts_file="/h/etc-hosts") == []  # no namespaces


def test_for_home_without_root_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sb, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="podkeeper.runtime.process.sandbox"):
        assert NamespaceSandboxes.for_home(tmp_path) is None
        assert NamespaceSandboxes.for_home(tmp_path) is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "need root" in lines[0] and "host network" in lines[0]


def test_for_home_with_bad_cidr_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sb, "unavailable_reason", lambda: None)
    monkeypatch.setattr(sb, "_warned", set())
    monkeypatch.setenv(sb.POD_CIDR_ENV, "fd00::/64")
    with caplog.at_level(logging.WARNING, logger="podkeeper.runtime.process.sandbox"):
        assert NamespaceSandboxes.for_home(tmp_path) is None
    assert "only IPv4" in caplog.text


# ------------------------------------------------------------- real namespaces

_WHY = sb.unavailable_reason()
root = pytest.mark.skipif(_WHY is not None, reason=_WHY or "n/a")


@dataclass
class Rig:
    home: Path
    sandboxes: NamespaceSandboxes
    runtime: ProcessRuntime
    cgroups: CgroupManager | None

    def request(self, box: SandboxInfo, container: str, argv: list[str]) -> StartRequest:
        iid = f"{container}-{uuid.uuid4().hex[:8]}"
        return StartRequest(
            pod_name="p",
            namespace="default",
            pod_uid=box.pod_uid,
            container_name=container,
            instance_id=iid,
            argv=tuple(argv),
            command=tuple(argv),
            env=dict(ENV),
            working_dir="",
            log_path=str(self.home / "logs" / f"{iid}.log"),
            sandbox=box,
        )

    async def start(self, box: SandboxInfo, container: str, code: str) -> ProcessInstance:
        return await self.runtime.start(self.request(box, container, [PY, "-c", code]))


def _leftovers(mgr: NamespaceSandboxes) -> list[str]:
    """Every netns, link and record of this home still present."""
    out = [n for n in os.listdir(sb.NETNS_DIR) if n.startswith(mgr.netns_prefix)]
    if os.path.isdir(sb.NETNS_ETC):
        out += [f"etc:{n}" for n in os.listdir(sb.NETNS_ETC) if n.startswith(mgr.netns_prefix)]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(":", 2)[1].strip().split("@", 1)[0]
        if name.startswith(f"pk{mgr.tag}"):
            out.append(name)
    if mgr.records.is_dir():
        out += [p.name for p in mgr.records.iterdir() if p.name != sb.OWNER_LOCK]
    return out


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    if _WHY is not None:
        pytest.skip(_WHY)
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    mgr = NamespaceSandboxes.for_home(home)
    assert mgr is not None
    cg: CgroupManager | None = CgroupManager(f"podkeeper-sbtest-{uuid.uuid4().hex[:8]}")
    if cg is not None and not cg.available()[0]:
        cg = None
    rt = ProcessRuntime(str(home), cg)
    yield Rig(home, mgr, rt, cg)
    try:
        await rt.shutdown()
    finally:
        # The pods a test left (a failed assertion), as the agent's drain destroys them
        # (the last takes the bridge): cleanup_stale keeps this manager's own live pods,
        # so their bridge stayed and, once pytest deleted the home, no later agent could
        # prove it dead: each run used up one of the 40 auto-chosen /16s for good.
        for uid in list(mgr._live):
            await mgr.destroy(SandboxInfo(uid))
        # Whatever else a test left, as a restarted agent would clean it.
        await mgr.cleanup_stale(frozenset())
        assert mgr.bridge not in _bridges(), "the rig left its bridge"
    if cg is not None:
        cg.cleanup_stale()
        cg.remove_root()  # the root is this fixture's own: leave nothing in cgroupfs


def _uid() -> str:
    return str(uuid.uuid4())


async def _connect(ip: str, port: int, timeout: float = 5.0) -> bytes:
    """Connect from the host (retrying until the pod listens) and read the reply."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(ip, port), 1.0)
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
            continue
        data = await asyncio.wait_for(r.read(), 2.0)
        w.close()
        return data


# Replies "<hostname> <pid> <peer>" to every connection on 0.0.0.0:8080.
SERVER = (
    "import os, socket\n"
    "s = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen()\n"
    "while True:\n"
    "    c, peer = s.accept()\n"
    "    c.sendall(f'{socket.gethostname()} {os.getpid()} {peer[0]}'.encode()); c.close()\n"
)


@root
async def test_two_pods_get_different_ips_and_share_a_port(rig: Rig) -> None:
    a = await rig.sandboxes.create(_uid(), "pod-a", False)
    b = await rig.sandboxes.create(_uid(), "pod-b", False)
    assert a.ip != b.ip
    net = rig.sandboxes.pool.network
    assert ipaddress.IPv4Address(a.ip) in net and ipaddress.IPv4Address(b.ip) in net
    ia = await rig.start(a, "srv", SERVER)
    ib = await rig.start(b, "srv", SERVER)
    # Both listen on 8080 at once; each answers on its own address with its own
    # hostname (= pod name), as PID 1 of its own PID namespace, and sees the
    # host coming from the bridge address.
    gw = str(rig.sandboxes.pool.gateway)
    assert (await _connect(a.ip, 8080)).decode() == f"pod-a 1 {gw}"
    assert (await _connect(b.ip, 8080)).decode() == f"pod-b 1 {gw}"
    # Pod to pod across the bridge.
    probe = await exec_probe(
        [PY, "-c", f"import socket; print(socket.create_connection(('{b.ip}', 8080)).recv(99))"],
        5,
        enter=ia.enter,
    )
    assert probe.result is Result.SUCCESS, probe.output
    assert f"pod-b 1 {a.ip}" in probe.output
    for inst in (ia, ib):
        await rig.runtime.stop(inst, 0.2)


@root
async def test_containers_of_a_pod_talk_over_localhost(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "duo", False)
    app = await rig.start(
        box,
        "app",
        "import socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 9000)); s.listen()\n"
        "c, _ = s.accept(); c.sendall(b'hello from app'); c.close()\n",
    )
    side = await rig.start(
        box,
        "sidecar",
        "import socket, time\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        print(socket.create_connection(('127.0.0.1', 9000)).recv(99).decode()); break\n"
        "    except OSError: time.sleep(0.02)\n",
    )
    assert (await asyncio.wait_for(side.wait(), 10)).exit_code == 0
    assert (await asyncio.wait_for(app.wait(), 10)).exit_code == 0
    assert "hello from app" in Path(side.request.log_path).read_text()
    # The host's loopback is not the pod's: nothing listens there for it.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9000), timeout=0.5).close()


@root
async def test_private_tmp_pid1_and_exec_probe_inside(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "tmp-pod", False)
    marker = f"podkeeper-{uuid.uuid4().hex}"
    inst = await rig.start(
        box,
        "c",
        "import os, time\n"
        f"open('/tmp/{marker}', 'w').write('{marker}')\n"
        "print('pid', os.getpid(), flush=True)\n"
        "time.sleep(600)\n",
    )
    for _ in range(200):
        if "pid" in Path(inst.request.log_path).read_text():
            break
        await asyncio.sleep(0.01)
    assert Path(inst.request.log_path).read_text().split() == ["pid", "1"]
    # The container's writes to /tmp stay in its own layer, not the host's /tmp.
    assert not Path(f"/tmp/{marker}").exists()
    # The exec probe runs in the container's mount, UTS and PID namespaces.
    for argv, want in (
        (["cat", f"/tmp/{marker}"], marker),
        (["hostname"], "tmp-pod"),
        (["sh", "-c", "echo $$"], None),
    ):
        out = await exec_probe(argv, 5, env=ENV, enter=inst.enter)
        assert out.result is Result.SUCCESS, out.output
        if want is not None:
            assert out.output.strip() == want
        else:
            assert 1 < int(out.output) < 100  # a small pid of the container's namespace
    # Without `enter` the same command sees the host's /tmp.
    host = await exec_probe(["cat", f"/tmp/{marker}"], 5, env=ENV)
    assert host.result is Result.FAILURE and "No such file" in host.output
    if rig.cgroups is not None and inst.cgroup is not None:
        # The cgroup was joined before exec: PID 1 (the tracked pid, no shim) is inside it.
        assert inst.pid in inst.cgroup.pids()
    await rig.runtime.stop(inst, 0.2)


@root
async def test_pid1_without_sigterm_handler_is_killed_after_grace(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "stubborn", False)
    inst = await rig.start(box, "c", "import time; time.sleep(600)")
    t0 = time.monotonic()
    await rig.runtime.stop(inst, 0.5)
    info = await inst.wait()
    assert time.monotonic() - t0 >= 0.5  # SIGTERM ignored, as by a container's PID 1
    assert info.exit_code == 137 and info.signal == signal.SIGKILL
    assert info.sent_by_us == "SIGKILL after grace"


@root
async def test_pid1_with_sigterm_handler_exits_on_its_own(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "polite", False)
    inst = await rig.start(
        box,
        "c",
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
        "print('ready', flush=True); time.sleep(600)\n",
    )
    for _ in range(300):
        if "ready" in Path(inst.request.log_path).read_text():
            break
        await asyncio.sleep(0.01)
    t0 = time.monotonic()
    await rig.runtime.stop(inst, 5)
    info = await inst.wait()
    assert time.monotonic() - t0 < 2
    assert info.exit_code == 3 and info.sent_by_us == "SIGTERM"


@root
async def test_host_network_pod_keeps_host_net_but_gets_pid_namespace(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "hostnet", True)
    assert box.ip == "127.0.0.1" and box.netns_path is None and box.hostname is None
    inst = await rig.start(box, "c", "import os, socket; print(os.getpid(), socket.gethostname())")
    assert (await asyncio.wait_for(inst.wait(), 10)).exit_code == 0
    assert Path(inst.request.log_path).read_text().split() == ["1", socket.gethostname()]
    await rig.sandboxes.destroy(box)


@root
async def test_destroy_leaves_nothing_and_last_pod_takes_the_bridge(rig: Rig) -> None:
    mgr = rig.sandboxes
    a = await mgr.create(_uid(), "a", False)
    b = await mgr.create(_uid(), "b", False)
    left = _leftovers(mgr)
    # bridge; netns, veth, record each (the hosts file is the pod worker's, in the home)
    assert mgr.bridge in left and len(left) == 1 + 2 * 3
    await mgr.destroy(a)
    assert not any(a.pod_uid in x for x in _leftovers(mgr))
    assert mgr.pool.in_use() == 1
    await mgr.destroy(b)
    assert _leftovers(mgr) == []
    assert mgr.pool.in_use() == 0


@root
async def test_cleanup_after_a_crashed_agent(rig: Rig) -> None:
    crashed = rig.sandboxes
    boxes = [await crashed.create(_uid(), f"p{i}", False) for i in range(3)]
    inst = await rig.start(boxes[0], "c", "import time; time.sleep(600)")
    assert len(_leftovers(crashed)) == 1 + 3 * 3  # bridge; netns, veth, record each
    # A new agent of the same home (the old one SIGKILLed: no destroy ran).
    await rig.runtime.shutdown()
    assert inst.done
    fresh = NamespaceSandboxes.for_home(rig.home)
    assert fresh is not None
    other = NamespaceSandboxes.for_home(rig.home.parent / "elsewhere")
    assert other is not None
    kept = await fresh.cleanup_stale(frozenset({boxes[2].pod_uid}))
    assert sum("pod sandbox" in line for line in kept) == 2
    assert any(boxes[2].pod_uid in x for x in _leftovers(fresh))
    assert fresh.bridge in _leftovers(fresh)
    # That agent crashes too; the next one keeps nothing: the bridge goes as well.
    last = NamespaceSandboxes.for_home(rig.home)
    assert last is not None
    gone = await last.cleanup_stale(frozenset())
    assert gone == [
        f"pod sandbox of uid {boxes[2].pod_uid}: address {boxes[2].ip}",
        f"bridge {last.bridge}",
    ]
    assert _leftovers(last) == []
    # Another home's cleanup never touches ours (nothing of it existed): no lines.
    assert await other.cleanup_stale(frozenset()) == []


@root
async def test_create_destroy_time(rig: Rig) -> None:
    """Not a benchmark gate: prints the numbers and fails only when absurd (> 1 s)."""
    mgr = rig.sandboxes
    keep = await mgr.create(_uid(), "keep", False)  # the bridge exists on the hot path
    creates, destroys = [], []
    for i in range(10):
        t0 = time.perf_counter()
        box = await mgr.create(_uid(), f"t{i}", False)
        creates.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await mgr.destroy(box)
        destroys.append(time.perf_counter() - t0)
    await mgr.destroy(keep)
    creates.sort()
    destroys.sort()
    print(f"sandbox create median {creates[5] * 1e3:.1f} ms, destroy {destroys[5] * 1e3:.1f} ms")
    assert creates[5] < 1.0 and destroys[5] < 1.0


@root
async def test_exit_codes_and_exec_timeout_in_a_sandbox(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "codes", False)
    done = await rig.start(box, "c", "import sys; sys.exit(3)")
    assert (await asyncio.wait_for(done.wait(), 10)).exit_code == 3
    inst = await rig.start(box, "d", "import time; time.sleep(600)")
    t0 = time.monotonic()
    out = await exec_probe(["sleep", "30"], 0.3, env=ENV, enter=inst.enter)
    assert out.result is Result.FAILURE and "timed out after 300ms" in out.output
    assert time.monotonic() - t0 < 3
    # The timed-out command (a process of the container's PID namespace) is dead. It may
    # linger as a zombie: it was reparented to the container's PID 1, and a PID 1 that
    # never calls wait() (this python, like many real ones) leaves zombies, as in a pod.
    script = "for s in /proc/[0-9]*/stat; do cat $s; echo; done"
    for _ in range(20):
        ps = await exec_probe(["sh", "-c", script], 5, env=ENV, enter=inst.enter)
        live = [ln for ln in ps.output.splitlines() if "(sleep)" in ln and ") Z " not in ln]
        if not live:
            break
        await asyncio.sleep(0.05)
    assert not live, ps.output
    await rig.runtime.stop(inst, 0.1)


@root
async def test_oom_kill_of_pid1_is_the_verdict(rig: Rig) -> None:
    if rig.cgroups is None:
        pytest.skip("no cgroups: no memory limit to hit")
    box = await rig.sandboxes.create(_uid(), "oom", False)
    req = rig.request(box, "c", [PY, "-c", "x = b'x' * (200 * 1024 * 1024)"])
    req = StartRequest(**{**req.__dict__, "resources": Resources(limits_memory=64 * 1024 * 1024)})
    inst = await rig.runtime.start(req)
    info = await asyncio.wait_for(inst.wait(), 20)
    # PID 1 is the tracked process itself: its SIGKILL and the kernel's victim line are
    # seen directly (a `unshare --fork` shim of util-linux 2.38 would exit 1 here).
    assert (info.exit_code, info.signal) == (137, signal.SIGKILL)
    assert info.oom_killed


@root
async def test_own_hostname_resolves_to_pod_ip_without_dns(rig: Rig) -> None:
    box = await rig.sandboxes.create(_uid(), "named", False)
    # The pod worker writes the pod's managed hosts file; the runtime mounts it.
    text = hostsfile.managed_content([box.ip], "named", "")
    hosts = ensure_hosts_file(rig.home / "pod-named", text)
    code = (
        "import socket, time\n"
        "t = time.monotonic(); fq = socket.getfqdn()\n"  # http.server does this at bind
        "print(socket.gethostbyname(socket.gethostname()), fq, time.monotonic() - t < 1)\n"
    )
    request = rig.request(box, "c", [PY, "-c", code])
    inst = await rig.runtime.start(dataclasses.replace(request, hosts_file=hosts))
    assert (await asyncio.wait_for(inst.wait(), 20)).exit_code == 0
    assert Path(inst.request.log_path).read_text().split() == [box.ip, "named", "True"]


@root
async def test_private_tmp_still_shows_host_files(rig: Rig, tmp_path: Path) -> None:
    """A program under the host's /tmp (a CI checkout, a virtualenv) still runs in a pod,
    and what the container writes or deletes there stays private."""
    here = Path("/tmp") / f"pk-host-{uuid.uuid4().hex}"
    here.mkdir()
    try:
        (here / "keep").write_text("host")
        box = await rig.sandboxes.create(_uid(), "tmp-overlay", False)
        script = (
            f"import os; print(open('{here}/keep').read()); os.remove('{here}/keep'); "
            f"open('{here}/new', 'w').write('c')"
        )
        done = await rig.start(box, "c", script)
        info = await asyncio.wait_for(done.wait(), 10)
        assert info.exit_code == 0, Path(done.request.log_path).read_text()
        assert "host" in Path(done.request.log_path).read_text()
        assert (here / "keep").read_text() == "host"  # the deletion was private
        assert not (here / "new").exists()  # so was the write
        assert not any(Path("/run/podkeeper-tmp").glob("*"))  # no scratch left behind
    finally:
        for p in here.iterdir():
            p.unlink()
        here.rmdir()


def _bridges() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True)
    return {line.split(":", 2)[1].strip() for line in out.stdout.decode().splitlines()}


@root
async def test_sweep_touches_only_what_a_provably_dead_home_owns(tmp_path: Path) -> None:
    """Issue 13 item 8: an agent's start-up sweep removed other homes' bridges and every
    namespace sharing their tag when it believed them dead, also for a home that is not
    there (moved, another mount namespace). Now: only a home whose agent is proven gone,
    and only what its records name."""
    homes = {k: tmp_path / k for k in ("dead", "live", "moved", "mine")}
    for h in homes.values():
        h.mkdir()
    mgrs = {k: NamespaceSandboxes.for_home(h) for k, h in homes.items()}
    assert all(m is not None for m in mgrs.values())
    dead, live, moved, mine = (mgrs[k] for k in ("dead", "live", "moved", "mine"))
    assert dead is not None and live is not None and moved is not None and mine is not None
    boxes = {k: await m.create(_uid(), k, False) for k, m in mgrs.items() if k != "mine"}
    # A namespace with the dead home's tag that its records do not name: not provably its.
    stray = f"{dead.netns_prefix}stray"
    subprocess.run(["ip", "netns", "add", stray], check=True)
    # The dead home's agent dies (its lock goes with it); the moved one's home disappears.
    for m in (dead, moved):
        assert m._owner_fd is not None
        os.close(m._owner_fd)
        m._owner_fd = None
    homes["moved"].rename(tmp_path / "moved-away")
    try:
        gone = await mine.cleanup_stale(frozenset())
        assert [line for line in gone if dead.bridge in line], gone
        assert not any(live.bridge in line or moved.bridge in line for line in gone), gone
        bridges = _bridges()
        assert dead.bridge not in bridges
        assert live.bridge in bridges and moved.bridge in bridges
        assert stray in os.listdir(sb.NETNS_DIR)
        assert not any(boxes["dead"].pod_uid in x for x in _leftovers(dead) if x != stray)
        assert any(boxes["live"].pod_uid in x for x in _leftovers(live))
    finally:
        subprocess.run(["ip", "netns", "del", stray], check=False)
        (tmp_path / "moved-away").rename(homes["moved"])
        await live.destroy(boxes["live"])
        await moved.destroy(boxes["moved"])
        await dead.cleanup_stale(frozenset())
    assert not ({dead.bridge, live.bridge, moved.bridge} & _bridges())

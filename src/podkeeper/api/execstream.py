"""`kubectl exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`).

Each WebSocket message starts with a channel byte: 0 stdin, 1 stdout, 2
stderr, 3 the error channel (a `v1 Status` at the end: Success, or
`NonZeroExitCode` with the exit code as a cause, which kubectl turns into its
own exit status), 4 resize; v5 adds `255, <channel>` to close a channel (how
stdin's end reaches the command). See client-go `tools/remotecommand` and the
kubelet's `cri/streaming/remotecommand`.

The command runs where the container runs, as the CRI's Exec does: in the
namespaces of the container's main process (found in the instance's cgroup,
`runtime/cgroups.py`), with its environment and working directory, and joined
to its cgroup; and with its identity: user, groups, capability bounding set and
no_new_privs are read from the main process (`/proc/<pid>/status`) and applied with
`setpriv`, as runc's exec runs the command with the container's process spec
(`runc/libcontainer/init_linux.go` setupUser, capabilities). Without that, a
`kubectl exec` into a `runAsUser: 1000` container with every capability dropped
would get a root shell with all of them. No TTY (`-t` is refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSMsgType, web

from podkeeper.runtime.cgroups import CgroupManager, InstanceCgroup, root_name_for_home

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_STDIN, _STDOUT, _STDERR, _ERROR, _CLOSE = 0, 1, 2, 3, 255
_NAMESPACES = (("mnt", "-m"), ("uts", "-u"), ("ipc", "-i"), ("net", "-n"), ("pid", "-p"))


class ExecError(Exception):
    """The container cannot take an exec (no process, no cgroup); a 400 before the upgrade."""


def _instance_cgroup(home: Path, instance_id: str) -> InstanceCgroup | None:
    for cg in CgroupManager(root_name_for_home(str(home))).instances():
        if cg.rel_path.rsplit("/", 1)[-1] == instance_id:
            return cg
    return None


def container_process(home: Path, instance_id: str) -> tuple[int, InstanceCgroup]:
    """The main process of a running container instance and its cgroup."""
    cg = _instance_cgroup(home, instance_id)
    if cg is None:
        raise ExecError("the container has no cgroup on this host (exec needs cgroups)")
    pids = sorted(cg.pids())
    if not pids:
        raise ExecError("the container has no running process")
    return pids[0], cg


#: The process runtime's start chain (runtime/process/runtime.py `_spawn`): a shell that
#: joins the cgroup, nsenter/unshare, the namespace set-up shell, setpriv, env; each execs
#: the next in the same pid, and only the last exec is the container's own command.
_SETUP_TOOLS = frozenset({"nsenter", "unshare", "setpriv", "env"})
_SETUP_MARKS = (b"cgroup.procs", b"/run/podkeeper-tmp")
SETTLE_TIMEOUT = 30.0


def _setting_up(pid: int) -> bool:
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # gone: command_line says so
    return exe in _SETUP_TOOLS or any(mark in cmdline for mark in _SETUP_MARKS)


async def settled_process(
    home: Path, instance_id: str, timeout: float = SETTLE_TIMEOUT
) -> tuple[int, InstanceCgroup]:
    """`container_process` once its start chain has reached the container's command.

    A container is Running (and Ready without a readiness probe) as soon as its process
    exists, but until `setpriv` has run, that process is still root with every capability:
    an exec copying its identity then would be a root shell in a `runAsUser: 1000`
    container (seen on a loaded machine). So wait, bounded, and refuse rather than guess."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        pid, cg = container_process(home, instance_id)
        if not _setting_up(pid):
            return pid, cg
        if asyncio.get_running_loop().time() >= deadline:
            raise ExecError(f"the container is still starting after {timeout:.0f} s; try again")
        await asyncio.sleep(0.05)


#: Linux capability numbers (`include/uapi/linux/capability.h`) → the names setpriv takes.
CAPABILITIES = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
]


@dataclass(frozen=True)
class Identity:
    """Who a process is, as far as an exec beside it must copy: `/proc/<pid>/status`."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    bounding: int  # CapBnd bits
    no_new_privs: bool


def parse_identity(status: str) -> Identity:
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Identity(
        uid=int(fields["Uid"].split()[1]),  # effective
        gid=int(fields["Gid"].split()[1]),
        groups=tuple(int(g) for g in fields.get("Groups", "").split()),
        bounding=int(fields["CapBnd"].strip(), 16),
        no_new_privs=fields.get("NoNewPrivs", "0").strip() == "1",
    )


def identity_prefix(target: Identity, ours: Identity, setpriv: str | None) -> list[str]:
    """The `setpriv` argv prefix that makes an exec `target` (nothing when we already are).

    Capabilities this table cannot name (newer than it) are dropped: never more than the
    container has. An agent that is not root cannot change anything, and its containers
    already run as it."""
    if target == ours:
        return []
    if setpriv is None:
        raise ExecError("the container runs as another identity and `setpriv` is missing")
    kept = [name for bit, name in enumerate(CAPABILITIES) if target.bounding >> bit & 1]
    caps = ",".join(["-all", *(f"+{name}" for name in kept)])
    argv = [setpriv, f"--reuid={target.uid}", f"--regid={target.gid}"]
    argv.append(
        f"--groups={','.join(map(str, target.groups))}" if target.groups else "--clear-groups"
    )
    # A non-root user keeps no inheritable capabilities (as the kubelet's non-root
    # containers: their effective set is empty), root keeps the bounding set.
    argv += [f"--inh-caps={caps if target.uid == 0 else '-all'}", f"--bounding-set={caps}"]
    if target.no_new_privs:
        argv.append("--no-new-privs")
    return argv


def _identity_of(pid: int | str) -> Identity | None:
    try:
        return parse_identity(Path(f"/proc/{pid}/status").read_text())
    except (OSError, KeyError, ValueError, IndexError):
        return None


def command_line(pid: int, command: list[str]) -> tuple[list[str], dict[str, str], str]:
    """The argv (through nsenter when the container has its own namespaces, then setpriv
    when it runs as another identity), env and cwd."""
    env: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep:
                env[key.decode(errors="replace")] = value.decode(errors="replace")
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = "/"
    flags = []
    for ns, flag in _NAMESPACES:
        try:
            if os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"):
                flags.append(flag)
        except OSError:
            continue
    target, ours = _identity_of(pid), _identity_of("self")
    if target is None or ours is None:
        raise ExecError("the container's process is gone")
    command = [*identity_prefix(target, ours, shutil.which("setpriv")), *command]
    nsenter = shutil.which("nsenter")
    if flags and nsenter:
        return [nsenter, "-t", str(pid), *flags, f"--wd={cwd}", "--", *command], env, "/"
    return command, env, cwd


def _status(code: int | None, command: list[str], error: str | None = None) -> bytes:
    if error is not None:
        body = {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    elif code == 0:
        body = {"metadata": {}, "status": "Success"}
    else:
        body = {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command"
            f" {command}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return json.dumps(body).encode()


async def run(
    ws: web.WebSocketResponse,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    command: list[str],
    cgroup: InstanceCgroup | None,
    stdin: bool,
) -> None:
    """Run the command, streaming its stdio over `ws`, then send its Status and close."""
    v5 = ws.ws_protocol == PROTOCOLS[0]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        await ws.send_bytes(bytes([_ERROR]) + _status(None, command, f"exec failed: {exc}"))
        await ws.close()
        return
    if cgroup is not None:
        with contextlib.suppress(OSError):
            cgroup.add(proc.pid)

    async def pump(reader: asyncio.StreamReader | None, channel: int) -> None:
        if reader is None:
            return
        while True:
            chunk = await reader.read(32 * 1024)
            if not chunk:
                return
            await ws.send_bytes(bytes([channel]) + chunk)

    async def feed() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            data: bytes = msg.data
            channel = data[0]
            if channel == _STDIN and proc.stdin is not None:
                proc.stdin.write(data[1:])
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.drain()
            elif (
                v5 and channel == _CLOSE and data[1:2] == bytes([_STDIN]) and proc.stdin is not None
            ):
                proc.stdin.close()
        # The client went away: the command goes too.
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    feeder = asyncio.ensure_future(feed())
    try:
        await asyncio.gather(pump(proc.stdout, _STDOUT), pump(proc.stderr, _STDERR))
        code = await proc.wait()
        await ws.send_bytes(bytes([_ERROR]) + _status(code, command))
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        await ws.close()


async def send_result(
    ws: web.WebSocketResponse,
    command: list[str],
    code: int | None,
    stdout: bytes,
    stderr: bytes,
    error: str | None = None,
) -> None:
    """A finished command's output and Status over `ws` (CRI ExecSync gives it whole)."""
    for channel, data in ((_STDOUT, stdout), (_STDERR, stderr)):
        for i in range(0, len(data), 32 * 1024):
            await ws.send_bytes(bytes([channel]) + data[i : i + 32 * 1024])
    await ws.send_bytes(bytes([_ERROR]) + _status(code, command, error))
    await ws.close()

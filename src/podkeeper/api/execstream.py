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
to its cgroup. No TTY (`-t` is refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
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


def command_line(pid: int, command: list[str]) -> tuple[list[str], dict[str, str], str]:
    """The argv (through nsenter when the container has its own namespaces), env and cwd."""
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

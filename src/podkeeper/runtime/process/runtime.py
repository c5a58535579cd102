"""The process runtime: containers as local processes, the way runc+containerd run them.

What it mimics, and from where:
- start: runc's `exec.LookPath` in the container's env and its chdir to the
  workingDir; a failure is a `StartError` with runc's message wrapped as
  containerd wraps it (containerd `internal/cri/server/container_start.go`),
  which the status shows as exit 128 / StartError.
- each instance in its own session and process group (pid == pgid) and in its
  own cgroup from before it execs, so every descendant is inside.
- exit: 128+signal (containerd `sys/reaper/reaper_unix.go`); when the main
  process dies every process left in its group and cgroup is SIGKILLed, as the
  kernel does to a pid namespace whose init dies (`zap_pid_ns_processes`).
- stop: SIGTERM, `grace` seconds, SIGKILL (containerd `StopContainer`,
  kubelet `kuberuntime_container.go` `killContainer`), to the whole group and
  cgroup as the runtime interface asks.
- OOM evidence is read from this instance's own cgroup before teardown, so it
  is never a cumulative counter (kubernetes#140718) and a child's OOM kill is
  not the container's verdict (#104454).

How an instance enters its cgroup before exec (measured on this machine,
`/bin/true`, 4 v1 controllers): `subprocess` with a `preexec_fn` that writes
"0" to each `cgroup.procs` costs 1.7 ms with a small agent but 8.8 ms with a
500 MiB agent (preexec_fn forces fork() instead of vfork(), copying page
tables) and runs Python code in the child of a threaded process, which the
docs warn can deadlock. A `/bin/sh` wrapper spawned with vfork() that writes
"0" (= itself) into each `cgroup.procs` and then execs costs 1.5 ms flat,
whatever the agent's size, with no Python in the child. dash drops env names
that are not shell identifiers (Kubernetes allows `my.var`) and exports PWD,
so the wrapper execs `env -i -- NAME=VALUE... argv...`, which sets exactly the
requested environment. Without cgroups the argv is spawned directly.

In a pod sandbox (`request.sandbox`, see runtime/process/sandbox.py) the instance is
forked as PID 1 of a new PID namespace (`PidNamespaceSpawner`) and the wrapper
execs `nsenter --net` + `unshare --uts --mount` + a setup shell before
`env -i`: exec-only, so the cgroup is still joined before anything execs and
the tracked pid stays the container's PID 1. SIGTERM goes to that process
alone, as runc's `kill` signals only the init process (containerd
`StopContainer` → `task.Kill` without `WithKillAll`); the kernel makes a
namespace init ignore a signal it has no handler for, so such a PID 1 lives
until the SIGKILL after the grace period, exactly as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import select
import shlex
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podkeeper.core.exitcode import exit_code_for
from podkeeper.core.result import ProbeOutcome
from podkeeper.runtime.cgroups import CgroupEvidence, CgroupManager, InstanceCgroup
from podkeeper.runtime.checkers.exec import exec_probe
from podkeeper.runtime.interface import (
    ConfigError,
    ExitInfo,
    RunningInstance,
    StartError,
    StartRequest,
)
from podkeeper.runtime.logs import open_log
from podkeeper.runtime.mounts import MountPlanError, host_view, volume_steps
from podkeeper.runtime.process.monitor import monitor_binary
from podkeeper.runtime.process.privileges import check_security, privilege_prefix
from podkeeper.runtime.process.sandbox import (
    NAMESPACE_SETUP_FAILED,
    container_prefix,
    exec_prefix,
    pid_namespace_spawner,
)

log = logging.getLogger(__name__)

# systemd's EXIT_CGROUP: the wrapper could not join the instance's cgroup.
EXIT_CGROUP = 219
# Time to let a kernel OOM kill's counter catch up with the victim's exit.
_OOM_COUNTER_GRACE = 0.02
_KMSG_MAX_SECONDS = 0.1
_GROUP_GONE_TIMEOUT = 1.0
_KMSG_MAX_RECORDS = 100_000
# How long pkmon may take to fork the container and report its pid.
_MONITOR_REPORT_TIMEOUT = 10.0


def _oci_error(inner: str) -> str:
    """runc's start error as containerd wraps it for the CRI status message."""
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create"
        f" failed: runc create failed: unable to start container process: {inner}: unknown"
    )


def _find_executable(path: str) -> str | None:
    """Go `os/exec` `findExecutable`: None when `path` is a runnable file, else the error."""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"stat {path}: {(e.strerror or str(e)).lower()}"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if st.st_mode & 0o111 == 0 or not os.access(path, os.X_OK):
        return "permission denied"
    return None


def _same(path: str) -> str:
    return path


def preflight(
    argv: tuple[str, ...],
    env: dict[str, str],
    working_dir: str,
    resolve: Callable[[str], str] = _same,
) -> str:
    """Check what runc checks before exec and return the resolved executable path.

    Raises `StartError` with runc's message for a bad workingDir, a missing
    or non-executable binary (Go `exec.LookPath` in the container's PATH).
    `resolve` maps a container path to the host (volume mounts); messages keep the
    container's paths."""
    if not argv:
        raise StartError(_oci_error("no command specified"))
    if working_dir:
        try:
            st = os.stat(resolve(working_dir))
            bad = None if stat.S_ISDIR(st.st_mode) else "not a directory"
        except OSError as e:
            bad = (e.strerror or str(e)).lower()
        if bad is not None:
            raise StartError(
                _oci_error(
                    "error during container init: chdir to cwd"
                    f' ("{working_dir}") set in config.json failed: {bad}'
                )
            )
    name = argv[0]
    if "/" in name:
        path = name if os.path.isabs(name) or not working_dir else os.path.join(working_dir, name)
        err = _find_executable(resolve(path))
        if err is not None:
            raise StartError(_oci_error(f'exec: "{name}": {err}'))
        return path
    for d in env.get("PATH", os.defpath).split(":"):
        candidate = os.path.join(d or ".", name)
        if _find_executable(resolve(candidate)) is None:
            return candidate
    raise StartError(_oci_error(f'exec: "{name}": executable file not found in $PATH'))


@dataclass(frozen=True)
class OomVictim:
    pid: int
    comm: str
    line: str


_OOM_KILL_PID = re.compile(r"[,:]pid=(\d+)")
_KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)")


def read_kernel_oom_victims(memcg_path: str) -> list[OomVictim] | None:
    """OOM kills the kernel logged for the memory cgroup `memcg_path`: from /dev/kmsg, else
    (no such device, or not readable) from `dmesg`, else from `journalctl -k` (issue 3).

    Best effort and bounded in time; None when no kernel log is readable.
    Matches the `oom-kill:...,oom_memcg=<path>,...,pid=N` summary line and the
    `Killed process N (comm)` line (kernel `mm/oom_kill.c` `dump_oom_summary`,
    `__oom_kill_process`)."""
    messages = _kmsg_messages()
    if messages is None:
        messages = _kernel_log_from_commands()
    if messages is None:
        return None
    ours: list[int] = []
    killed: dict[int, OomVictim] = {}
    needles = (f"oom_memcg={memcg_path},", f"task_memcg={memcg_path},")
    for msg in messages:
        if msg.startswith("oom-kill:") and any(n in msg for n in needles):
            m = _OOM_KILL_PID.search(msg)
            if m:
                ours.append(int(m.group(1)))
        elif "Killed process" in msg:
            k = _KILLED.search(msg)
            if k:
                killed[int(k.group(1))] = OomVictim(int(k.group(1)), k.group(2), msg.strip())
    victims = []
    for pid in dict.fromkeys(ours):
        victims.append(killed.get(pid, OomVictim(pid, "?", "")))
    return victims


def _kmsg_messages() -> list[str] | None:
    """The kernel log's messages from /dev/kmsg, oldest first; None when not readable."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    out: list[str] = []
    deadline = time.monotonic() + _KMSG_MAX_SECONDS
    try:
        for _ in range(_KMSG_MAX_RECORDS):
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue  # the record was overwritten; the next read resumes
            except OSError:
                if not out:
                    return None  # e.g. EPERM with dmesg_restrict: try the fallbacks
                break
            if not rec or time.monotonic() > deadline:
                break
            out.append(rec.decode("utf-8", errors="replace").partition(";")[2].split("\n", 1)[0])
    finally:
        os.close(fd)
    return out


# (argv, how long it may take): dmesg reads the ring buffer through syslog(2), which
# works where /dev/kmsg is missing; journalctl has the kernel messages systemd kept.
_KERNEL_LOG_COMMANDS = (
    (("dmesg", "--notime"), 0.5),
    (("journalctl", "-k", "-b", "--no-pager", "-o", "cat", "-n", "5000"), 1.0),
)


def _kernel_log_from_commands() -> list[str] | None:
    for argv, timeout in _KERNEL_LOG_COMMANDS:
        exe = shutil.which(argv[0])
        if exe is None:
            continue
        try:
            res = subprocess.run(
                [exe, *argv[1:]],
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if res.returncode == 0 and res.stdout:
            return [line.strip() for line in res.stdout.decode(errors="replace").splitlines()]
    return None


@dataclass(frozen=True)
class Monitored:
    """A container whose parent is its pkmon (runtime/process/monitor.py): the container's pid,
    the monitor's, and the file the monitor writes the exit status to."""

    pid: int
    monitor_pid: int
    status_file: str


def read_status(path: str) -> tuple[int, int | None, float] | None:
    """(exit code, signal or None, finish time in epoch seconds) from a pkmon status file."""
    try:
        with open(path) as f:
            code, sig, ns = f.read().split()
    except (OSError, ValueError):
        return None
    return int(code), (int(sig) or None), int(ns) / 1e9


def _popen_pid(popen: subprocess.Popen[bytes] | None) -> int:
    assert popen is not None, "an unmonitored instance is the agent's own child"
    return popen.pid


def _pidfd_open(pid: int) -> int | None:
    if pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def proc_start(pid: int) -> str | None:
    """The process start time from /proc (field 22), to tell a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data.rpartition(")")[2].split()[19]


def _pidfd_exited(fd: int) -> bool:
    """True once the process behind pidfd `fd` has ended (the pidfd turns readable)."""
    return bool(select.select([fd], [], [], 0)[0])


class ProcessInstance:
    """A running container instance (implements `RunningInstance`)."""

    def __init__(
        self,
        request: StartRequest,
        popen: subprocess.Popen[bytes] | None,
        cgroup: InstanceCgroup | None,
        started_at: float,
        monitor: Monitored | None = None,
    ) -> None:
        """`popen` is the process this agent spawned: the container's main process
        itself, or with `monitor` its pkmon (None when adopted from an earlier agent)."""
        self.request = request
        self._popen = popen
        self.monitor = monitor
        self._pid = monitor.pid if monitor is not None else _popen_pid(popen)
        self.cgroup = cgroup
        self._started_at = started_at
        self.exited = asyncio.Event()  # the main process has exited (not yet torn down)
        self._done: asyncio.Future[ExitInfo] = asyncio.get_running_loop().create_future()
        self._reaped = False
        self.sent_by_us: str | None = None
        self.sigterm_at: float | None = None  # monotonic
        self.sigterm_ignored_seconds: float | None = None
        self._pidfd = _pidfd_open(self._pid)
        # Without a monitor the main process's exit wakes us; with one, the monitor's
        # (it exits once the exit status is in its file).
        self._watch = _pidfd_open(monitor.monitor_pid) if monitor is not None else self._pidfd
        loop = asyncio.get_running_loop()
        if self._watch is None:
            loop.call_soon(self._on_exit)  # already gone
        else:
            loop.add_reader(self._watch, self._on_exit)
        self._finisher: asyncio.Task[None] | None = None
        # In a PID namespace the main process is the container's PID 1.
        self.pid_namespace = request.sandbox is not None and request.sandbox.pid_namespace

    @property
    def instance_id(self) -> str:
        return self.request.instance_id

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def done(self) -> bool:
        return self._done.done()

    @property
    def enter(self) -> tuple[str, ...] | None:
        """The argv prefix running a command in this container's namespaces (exec
        probes and hooks), or None when it has none (not sandboxed)."""
        return exec_prefix(self._pid) if self.pid_namespace else None

    async def wait(self) -> ExitInfo:
        """Wait until the instance has ended and been torn down; returns how it ended."""
        return await asyncio.shield(self._done)

    def adoption_state(self) -> dict[str, Any]:
        """The monitor's and the container's pids (with their start times, against pid
        reuse), the status file and the cgroup; {} without a monitor (not adoptable)."""
        mon = self.monitor
        if mon is None:
            return {}
        return {
            "pid": mon.pid,
            "pid_start": proc_start(mon.pid),
            "monitor_pid": mon.monitor_pid,
            "monitor_start": proc_start(mon.monitor_pid),
            "status_file": mon.status_file,
            "cgroup": self.cgroup.rel_path if self.cgroup is not None else None,
            "started_at": self._started_at,
        }

    def signal_all(self, sig: int) -> None:
        """Send `sig` to the process group and every process in the cgroup.

        Safe against pid reuse: the main process is reaped only after the final
        kill, so until then its (zombie) pid holds the process group id."""
        if self._reaped:
            return
        if sig == signal.SIGTERM and self.pid_namespace:
            # runc signals the init process only; the pidfd is safe against pid reuse.
            if self._pidfd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(self._pidfd, sig)
            return
        # With a monitor the main process is not ours to reap: its pid (and so its
        # process group id) is safe only while it has not ended.
        if self.monitor is None or (self._pidfd is not None and not _pidfd_exited(self._pidfd)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, sig)
        if self.cgroup is not None:
            try:
                self.cgroup.kill_all(sig)
            except OSError as e:
                log.debug("signal cgroup %s: %s", self.cgroup.rel_path, e)

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        if self._watch is not None:
            loop.remove_reader(self._watch)
        self._finisher = loop.create_task(self._finish())

    async def _finish(self) -> None:
        try:
            info = await self._collect()
        except BaseException as e:  # never leave waiters hanging
            if not self._done.done():
                self._done.set_exception(e)
            raise
        else:
            self._done.set_result(info)

    async def _collect(self) -> ExitInfo:
        if self.monitor is not None:
            return await self._collect_monitored(self.monitor)
        assert self._popen is not None and self._pidfd is not None
        # Peek at the status without reaping (WNOWAIT): the zombie keeps the pgid ours.
        res = os.waitid(os.P_PID, self._pid, os.WEXITED | os.WNOWAIT)
        finished_at = time.time()
        if res is not None and res.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
            sig: int | None = res.si_status
            code = exit_code_for(-res.si_status)
        else:
            sig = None
            code = exit_code_for(res.si_status if res is not None else 0)
        self.exited.set()
        info = ExitInfo(exit_code=code, signal=sig, finished_at=finished_at)
        info.sent_by_us = self.sent_by_us
        info.sigterm_ignored_seconds = self.sigterm_ignored_seconds
        ev: CgroupEvidence | None = None
        if self.cgroup is not None:
            ev = self.cgroup.read_evidence()
            if (
                sig == signal.SIGKILL
                and ev.oom_kills == 0
                and ev.memory_limit is not None
                and self.sent_by_us is None
            ):
                # The OOM killer counts the kill just after signalling; give it a moment.
                await asyncio.sleep(_OOM_COUNTER_GRACE)
                ev = self.cgroup.read_evidence()
        # The main process is gone: kill what is left, as a pid namespace's end would.
        self.signal_all(signal.SIGKILL)
        os.waitpid(self._pid, 0)  # reap (already a zombie, so this does not block)
        self._reaped = True
        self._popen.returncode = -sig if sig is not None else code
        os.close(self._pidfd)
        await _wait_group_gone(self._pid, _GROUP_GONE_TIMEOUT)
        if ev is not None and self.cgroup is not None:
            await self._apply_evidence(info, ev, self.cgroup)
            if not await self.cgroup.remove():
                log.warning("cgroup %s could not be removed", self.cgroup.rel_path)
        return info

    async def _collect_monitored(self, mon: Monitored) -> ExitInfo:
        """The monitor has exited: its status file says how the main process ended (it
        already SIGKILLed the rest of the process group and reaped the main process)."""
        if self._popen is not None:
            self._popen.wait()  # our child: reap it (it has exited, this does not block)
        status = read_status(mon.status_file)
        sig: int | None
        if status is None:
            # The monitor died before the container (someone SIGKILLed it): the exit
            # status is lost; kill what is left, as the kubelet reports a container it
            # cannot find (ContainerStatusUnknown, 137).
            code, sig, finished_at = 137, int(signal.SIGKILL), time.time()
            if self._pidfd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            log.warning("monitor of %s died before it: exit status unknown", self.instance_id)
        else:
            code, sig, finished_at = status
        self.exited.set()
        info = ExitInfo(exit_code=code, signal=sig, finished_at=finished_at)
        info.sent_by_us = self.sent_by_us
        info.sigterm_ignored_seconds = self.sigterm_ignored_seconds
        ev: CgroupEvidence | None = None
        if self.cgroup is not None:
            ev = self.cgroup.read_evidence()
            if sig == signal.SIGKILL and ev.oom_kills == 0 and ev.memory_limit is not None:
                await asyncio.sleep(_OOM_COUNTER_GRACE)
                ev = self.cgroup.read_evidence()
            with contextlib.suppress(OSError):
                self.cgroup.kill_all(signal.SIGKILL)  # what left the process group
        self._reaped = True
        for fd in {self._pidfd, self._watch}:
            if fd is not None:
                os.close(fd)
        if self._pid > 0:
            # The monitor SIGKILLed the rest of the group before it reaped the main
            # process; wait (bounded) until they are really gone, as without a monitor.
            await _wait_group_gone(self._pid, _GROUP_GONE_TIMEOUT)
        with contextlib.suppress(OSError):
            os.unlink(mon.status_file)
        if ev is not None and self.cgroup is not None:
            await self._apply_evidence(info, ev, self.cgroup)
            if not await self.cgroup.remove():
                log.warning("cgroup %s could not be removed", self.cgroup.rel_path)
        return info

    async def _apply_evidence(self, info: ExitInfo, ev: CgroupEvidence, cg: InstanceCgroup) -> None:
        info.memory_limit = ev.memory_limit
        info.memory_peak = ev.memory_peak
        info.oom_kills_in_instance = ev.oom_kills
        if ev.cpu_usage_ns is not None:
            info.cpu_usage_seconds = ev.cpu_usage_ns / 1e9
        info.cpu_nr_throttled = ev.cpu_nr_throttled
        # memory.failcnt only says the limit was hit, not that anything was killed.
        real_oom = ev.oom_kills > 0 and ev.oom_source != "memory.failcnt"
        victims = (
            await asyncio.to_thread(read_kernel_oom_victims, cg.rel_path) if real_oom else None
        )
        main_victim = None
        for v in victims or []:
            if v.pid == self._pid:
                main_victim = v
            else:
                info.oom_victims.append(f"pid {v.pid} ({v.comm})")
        if main_victim is not None:
            info.kernel_oom_line = main_victim.line or None
        elif victims:
            info.kernel_oom_line = victims[0].line or None
        died_by_kill = info.signal == signal.SIGKILL
        if victims:
            # The kernel named its victims: the verdict is exact.
            info.oom_killed = died_by_kill and main_victim is not None
        else:
            # Only the per-instance counter: OOMKilled when the main process died of
            # SIGKILL that we did not send, with an OOM kill counted in this instance.
            info.oom_killed = (
                died_by_kill and ev.oom_kills > 0 and info.sent_by_us != "SIGKILL after grace"
            )


class ProcessRuntime:
    """`ContainerRuntime` running containers as local processes.

    `home` is the agent's state folder (logs live under it, paths come in the
    request). `cgroups` None, or unavailable, runs without limits: ask
    `cgroups_available()` once per pod to warn."""

    name = "process"

    def __init__(
        self, home: str, cgroups: CgroupManager | None = None, use_monitor: bool = True
    ) -> None:
        self.home = home
        #: Containers under pkmon survive the agent (runtime/process/monitor.py), when it builds.
        self.use_monitor = use_monitor
        self._cgroups = cgroups
        self._live: dict[str, ProcessInstance] = {}
        self._sh = shutil.which("sh") or "/bin/sh"
        self._env = shutil.which("env") or "/usr/bin/env"

    def cgroups_available(self) -> tuple[bool, str]:
        """(True, "") when instances get cgroups and limits, else (False, why)."""
        if self._cgroups is None:
            return False, "cgroups disabled: limits are not enforced"
        return self._cgroups.available()

    def live_instances(self) -> list[ProcessInstance]:
        return list(self._live.values())

    async def start(self, request: StartRequest) -> ProcessInstance:
        """Spawn the instance; raise `StartError` when it cannot run.

        stdin is /dev/null; stdout and stderr both append to `request.log_path`.
        An empty `working_dir` means the agent's own cwd (there is no image
        WORKDIR to fall back on). Measured here: ~0.6 ms with a cgroup, ~0.15 ms
        without (median, /bin/true)."""
        if not request.command:
            # interface.md: the process runtime has no image ENTRYPOINT to fall back on.
            raise ConfigError(
                f"container {request.container_name!r} has no command: the process runtime"
                " runs `command` + `args` and treats `image` as a label; to run the image's"
                " entrypoint, set spec.runtimeClassName: podkeeper-containerd (or start the"
                " agent with --runtime containerd)"
            )
        check_security(request.security, request.pod_key, request.container_name)
        env = dict(request.env)
        if request.mounts:
            sb = request.sandbox
            if sb is None or not (sb.pid_namespace or sb.private_tmp):
                raise ConfigError(
                    f"container {request.container_name!r} mounts volumes, which the process"
                    " runtime makes in the container's mount namespace: that needs root"
                )
            try:
                volume_steps([(m.container_path, m.host_path, m.read_only) for m in request.mounts])
            except MountPlanError as e:
                raise ConfigError(str(e)) from None
        preflight(request.argv, env, request.working_dir, host_view(request.mounts))
        # mkdir in cgroupfs (a memory cgroup allocates per-CPU state) and the log
        # directory take milliseconds: off the loop, or every other pod's probes and
        # reactions wait behind each container start (seen as 30 ms stalls when a few
        # containers started at once).
        cgroup = await asyncio.to_thread(self._create_cgroup, request)
        try:
            log_fd = await asyncio.to_thread(open_log, request.log_path)
        except OSError as e:
            await _discard(cgroup)
            raise StartError(_oci_error(f"open log {request.log_path}: {e.strerror}")) from e
        monitored: Monitored | None = None
        monitor = monitor_binary()[0] if self.use_monitor else None
        try:
            if monitor is not None:
                popen, monitored = await self._spawn_monitored(
                    monitor, request, env, cgroup, log_fd
                )
            elif request.sandbox is not None and request.sandbox.pid_namespace:
                popen = await pid_namespace_spawner().run(
                    lambda: self._spawn(request, env, cgroup, log_fd)
                )
            else:
                popen = self._spawn(request, env, cgroup, log_fd)
        except OSError as e:
            await _discard(cgroup)
            raise StartError(_oci_error(_spawn_error(request, e))) from e
        finally:
            os.close(log_fd)
        inst = ProcessInstance(request, popen, cgroup, time.time(), monitored)
        self._live[request.instance_id] = inst
        inst._done.add_done_callback(lambda _: self._live.pop(request.instance_id, None))
        if request.mounts:
            # runc reports a container started once its mounts exist: an exec probe run at
            # once must find its volumes. Wait for the setup shell to exec the container.
            await _setup_done(inst)
        return inst

    def _create_cgroup(self, request: StartRequest) -> InstanceCgroup | None:
        if self._cgroups is None or not self._cgroups.available()[0]:
            return None
        r = request.resources
        try:
            return self._cgroups.create(
                request.pod_uid,
                request.instance_id,
                memory_bytes=r.limits_memory,
                cpu_milli=r.limits_cpu_milli,
                cpu_request_milli=r.requests_cpu_milli,
                pids_max=r.limits_pids,
            )
        except OSError as e:
            # Like an unavailable cgroup: run without limits rather than fail (issue 3).
            log.warning("cgroup for %s not created: %s", request.instance_id, e)
            return None

    async def _spawn_monitored(
        self,
        monitor: str,
        request: StartRequest,
        env: dict[str, str],
        cgroup: InstanceCgroup | None,
        log_fd: int,
    ) -> tuple[subprocess.Popen[bytes], Monitored]:
        """Spawn pkmon, which forks the container (as PID 1 of a new PID namespace in a
        sandbox) and reports its pid on a pipe; ~1 ms more than a direct spawn."""
        status_file = os.path.splitext(request.log_path)[0] + ".exit"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(status_file)
        pidns = request.sandbox is not None and request.sandbox.pid_namespace
        r, w = os.pipe()
        try:
            wrap = [monitor, status_file, "1" if pidns else "0", str(w), "--"]
            popen = self._spawn(request, env, cgroup, log_fd, wrap=wrap, pass_fds=(w,))
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        try:
            text = (await _read_to_eof(r, _MONITOR_REPORT_TIMEOUT)).decode(errors="replace")
        finally:
            os.close(r)
        if not text.strip().isdigit():
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait()
            await _discard(cgroup)
            raise StartError(_oci_error(f"container monitor: {text.strip() or 'no pid'}"))
        return popen, Monitored(int(text), popen.pid, status_file)

    def _spawn(
        self,
        request: StartRequest,
        env: dict[str, str],
        cgroup: InstanceCgroup | None,
        log_fd: int,
        wrap: Sequence[str] = (),
        pass_fds: tuple[int, ...] = (),
    ) -> subprocess.Popen[bytes]:
        """Spawn the container's argv chain, after `wrap` (the monitor) when given."""
        cwd = request.working_dir or None
        message = None
        if request.termination_message_file and request.termination_message_path:
            message = (request.termination_message_file, request.termination_message_path)
        volumes = [(m.container_path, m.host_path, m.read_only) for m in request.mounts]
        if volumes and cwd is not None and host_view(request.mounts)(cwd) != cwd:
            cwd = None  # inside a volume: entered by the setup script, after the mounts
        try:
            sandbox = (
                []
                if request.sandbox is None
                else container_prefix(
                    request.sandbox,
                    message=message,
                    volumes=volumes,
                    workdir=request.working_dir,
                    hosts_file=request.hosts_file,
                )
            )
        except MountPlanError as e:
            raise ConfigError(str(e)) from None
        if cgroup is None and not sandbox and not privilege_prefix(request.security):
            return subprocess.Popen(
                [*wrap, *request.argv],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        if "=" in request.argv[0]:
            raise StartError(_oci_error(f'exec: "{request.argv[0]}": "=" in a command name'))
        assignments = [f"{k}={v}" for k, v in env.items()]
        drop = privilege_prefix(request.security)
        run = [*sandbox, *drop, self._env, "-i", "--", *assignments, *request.argv]
        if cgroup is not None:
            joins = " && ".join(f"echo 0 >{shlex.quote(p)}" for p in cgroup.procs_files)
            script = f'{joins} || exit {EXIT_CGROUP}; exec "$@"'
            run = [self._sh, "-c", script, "sh", *run]
        return subprocess.Popen(
            [*wrap, *run],
            env={},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
            pass_fds=pass_fds,
        )

    async def adopt(
        self, request: StartRequest, state: Mapping[str, Any]
    ) -> ProcessInstance | None:
        """Re-attach to a monitored container an earlier agent started: its monitor is
        still running (same pid and start time), or has left the exit status behind."""
        try:
            mon = Monitored(int(state["pid"]), int(state["monitor_pid"]), str(state["status_file"]))
        except (KeyError, TypeError, ValueError):
            return None
        monitor_alive = proc_start(mon.monitor_pid) == state.get("monitor_start")
        if not monitor_alive and read_status(mon.status_file) is None:
            return None
        if proc_start(mon.pid) != state.get("pid_start"):
            mon = Monitored(-1, mon.monitor_pid, mon.status_file)  # ended (or pid reused)
        cgroup = None
        if state.get("cgroup") and self._cgroups is not None:
            cgroup = self._cgroups.find(str(state["cgroup"]))
        inst = ProcessInstance(
            request,
            None,
            cgroup,
            float(state.get("started_at") or time.time()),
            mon if monitor_alive else Monitored(mon.pid, -1, mon.status_file),
        )
        self._live[request.instance_id] = inst
        inst._done.add_done_callback(lambda _: self._live.pop(request.instance_id, None))
        return inst

    def usage(self, instance: RunningInstance) -> dict[str, int]:
        """The working set of the instance's memory cgroup and the size of its log (host
        processes write into the host's filesystem: only the log is theirs for sure)."""
        if not isinstance(instance, ProcessInstance):
            raise TypeError(f"not a process instance: {instance!r}")
        out: dict[str, int] = {}
        if instance.cgroup is not None:
            ws = instance.cgroup.memory_working_set()
            if ws is not None:
                out["memory"] = ws
        try:
            out["ephemeral-storage"] = os.stat(instance.request.log_path).st_size
        except OSError:
            pass
        return out

    async def exec_sync(
        self, instance: RunningInstance, argv: Sequence[str], timeout: float
    ) -> ProbeOutcome:
        """Run `argv` in the instance's cgroup (joined before exec, so the probe is billed
        to and limited by the container, issue 13), its namespaces (`nsenter` into its
        PID 1's), as its user and capability set, with its env and workingDir."""
        if not isinstance(instance, ProcessInstance):
            raise TypeError(f"not a process instance: {instance!r}")
        req = instance.request
        enter = [*(instance.enter or ()), *privilege_prefix(req.security)]
        return await exec_probe(
            argv,
            timeout,
            env=req.env,
            cwd=req.working_dir or None,
            cgroup_procs=instance.cgroup.procs_files if instance.cgroup is not None else None,
            enter=enter or None,
        )

    async def stop(self, instance: RunningInstance, grace_seconds: float) -> None:
        """SIGTERM the group and cgroup, SIGKILL after `grace_seconds`; returns once reaped."""
        if not isinstance(instance, ProcessInstance):
            raise TypeError(f"not a process instance: {instance!r}")
        if not instance.exited.is_set():
            instance.sent_by_us = "SIGTERM"
            instance.sigterm_at = time.monotonic()
            instance.signal_all(signal.SIGTERM)
            try:
                await asyncio.wait_for(instance.exited.wait(), timeout=max(grace_seconds, 0))
            except TimeoutError:
                if not instance.exited.is_set():
                    instance.sent_by_us = "SIGKILL after grace"
                    instance.sigterm_ignored_seconds = time.monotonic() - instance.sigterm_at
                    instance.signal_all(signal.SIGKILL)
        await instance.wait()

    async def shutdown(self) -> None:
        """SIGKILL every live instance and wait for them to be torn down."""
        live = list(self._live.values())
        for inst in live:
            if not inst.exited.is_set():
                inst.sent_by_us = "SIGKILL"
            inst.signal_all(signal.SIGKILL)
        if live:
            await asyncio.gather(*(i.wait() for i in live), return_exceptions=True)


async def _setup_done(inst: ProcessInstance, timeout: float = 10.0) -> None:
    """Wait (at most `timeout` s) until the instance's process runs past the sandbox setup
    script (whose argv carries `NAMESPACE_SETUP_FAILED`), or is gone. An empty cmdline
    (the moment of a fork or an exec) is not yet an answer."""
    marker = NAMESPACE_SETUP_FAILED.encode()
    deadline = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < deadline and not inst.done:
        try:
            with open(f"/proc/{inst.pid}/cmdline", "rb") as f:
                data = f.read()
        except OSError:
            return
        if data and marker not in data:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)


async def _read_to_eof(fd: int, timeout: float) -> bytes:
    """Everything written to pipe `fd` until its writers close it (bounded in time)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    chunks: list[bytes] = []

    def readable() -> None:
        data = os.read(fd, 4096)
        if data:
            chunks.append(data)
        elif not done.done():
            done.set_result(None)

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(done, timeout)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)
    return b"".join(chunks)


async def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait (bounded) until no process of group `pgid` is left, so that a torn-down
    instance really has no survivors. Orphaned zombies count until init reaps them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        # Members left: dead ones wait as zombies for init to reap them (which some
        # inits do only every second or two); those are not survivors.
        if not _live_group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.002)


def _live_group_members(pgid: int) -> list[int]:
    """Pids of non-zombie processes in process group `pgid` (from /proc/<pid>/stat)."""
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # Fields after "(comm)": state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            alive.append(int(name))
    return alive


async def _discard(cgroup: InstanceCgroup | None) -> None:
    if cgroup is not None:
        await cgroup.remove()


def _spawn_error(request: StartRequest, e: OSError) -> str:
    """A spawn failure that slipped past `preflight` (a race), in runc's words."""
    reason = (e.strerror or str(e)).lower()
    if e.filename == request.working_dir and request.working_dir:
        return (
            "error during container init: chdir to cwd"
            f' ("{request.working_dir}") set in config.json failed: {reason}'
        )
    return f'exec: "{request.argv[0]}": {reason}'

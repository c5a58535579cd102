"""The exec probe: run a command, judge it by its exit code.

Mirrors `pkg/probe/exec/exec.go` fed by the CRI `ExecSync` call
(`pkg/kubelet/kuberuntime/kuberuntime_container.go` `RunInContainer`,
`staging/src/k8s.io/cri-client/pkg/remote_runtime.go` `ExecSync`): stdout then
stderr, concatenated and capped at 10 KiB; exit 0 is Success, anything else
Failure with the output; a timeout is Failure with the cri-client error text.

Why not `asyncio.create_subprocess_exec`: on Python 3.11 its default child
watcher starts one thread per child to `waitpid` it. Here the child is
spawned with `subprocess.Popen` (vfork, no `preexec_fn`) and watched through
a pidfd and non-blocking pipe reads registered on the event loop: no threads,
a handful of syscalls per probe. The only caveat is a process-wide
`waitpid(-1)` reaper (asyncio's deprecated `FastChildWatcher`) which would
steal the exit status; podkeeper does not install one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers._go import go_duration, go_errno, go_quote

# `pkg/probe/exec/exec.go`: maxReadLength = 10 * 1 << 10, applied to stdout+stderr together.
MAX_OUTPUT = 10 * 1024
_READ_CHUNK = 65536
# How long to wait for a SIGKILLed group leader to be reaped before giving up on it
# (a process stuck in uninterruptible sleep); Popen's own zombie list reaps it later.
_REAP_GRACE = 5.0

# Joining a cgroup without preexec_fn (which would force fork instead of vfork and
# run Python in the child): a tiny /bin/sh moves itself into the cgroup and then
# execs the probe, so the probe and everything it forks start inside the cgroup.
# Costs one extra exec of sh per probe, only when a cgroup is asked for. The
# alternative, writing the child's pid after spawn, is cheaper but racy: the
# probe could fork (or allocate) before it is moved.
_SH = "/bin/sh"
_CGROUP_JOIN_FAILED = "podkeeper: cannot join cgroup"
_CGROUP_JOIN_EXIT = 125
# `$0` is how many `cgroup.procs` files follow (one per v1 controller, one on v2).
_CGROUP_SCRIPT = (
    'n=$0; while [ "$n" -gt 0 ]; do { echo $$ >"$1"; } 2>/dev/null'
    ' || { echo "' + _CGROUP_JOIN_FAILED + '" >&2; exit 125; }; shift; n=$((n-1)); done; '
    'exec "$@"'
)


def _spawn_error(argv0: str, err: OSError, cwd: str | None) -> str:
    """A runc-like message for a probe command that could not be started."""
    if cwd is not None and err.filename == cwd:
        # runc: `chdir to cwd ("/x") set in config.json failed: no such file or directory`
        return f"chdir to cwd ({go_quote(cwd)}) failed: {go_errno(err)}"
    if isinstance(err, FileNotFoundError):
        if "/" not in argv0:
            return f"exec: {go_quote(argv0)}: executable file not found in $PATH"
        return f"exec: {go_quote(argv0)}: stat {argv0}: no such file or directory"
    return f"exec: {go_quote(argv0)}: {go_errno(err)}"


def _resolve(argv0: str, env: Mapping[str, str] | None, cwd: str | None) -> str:
    """Find `argv0` as execvpe would (PATH from `env`); raise OSError like a failed exec."""
    if "/" in argv0:
        path = argv0 if os.path.isabs(argv0) or cwd is None else os.path.join(cwd, argv0)
        candidates = [path]
    else:
        candidates = [os.path.join(d or ".", argv0) for d in os.get_exec_path(env)]
    denied = False
    for path in candidates:
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return path
            denied = True
    if denied:
        raise PermissionError(13, os.strerror(13), argv0)
    raise FileNotFoundError(2, os.strerror(2), argv0)


class _Run:
    """One running probe command: its pipes and exit, watched by event-loop callbacks."""

    __slots__ = ("_loop", "_open", "done", "err", "exited", "out", "proc")

    def __init__(self, loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes]) -> None:
        self._loop = loop
        self.proc = proc
        self.out = bytearray()
        self.err = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()  # exited and both pipes at EOF
        self._open = 2
        assert proc.stdout is not None and proc.stderr is not None
        for pipe, buf in ((proc.stdout, self.out), (proc.stderr, self.err)):
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_readable, fd, buf)
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:  # pre-5.3 kernel: fall back to polling the child
            loop.call_soon(self._poll_exit)
        else:
            loop.add_reader(pidfd, self._on_exit, pidfd)

    def _on_readable(self, fd: int, buf: bytearray) -> None:
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            room = MAX_OUTPUT - len(buf)
            if room > 0:
                buf += data[:room]
            # else: keep reading and discarding, so the child never blocks on a full pipe
            return
        self._loop.remove_reader(fd)
        self._open -= 1
        self._check_done()

    def _on_exit(self, pidfd: int) -> None:
        self._loop.remove_reader(pidfd)
        os.close(pidfd)
        self.proc.poll()  # reaps: waitpid(pid, WNOHANG) on a process the pidfd says is dead
        self._set_exited()

    def _poll_exit(self) -> None:
        if self.proc.poll() is None:
            self._loop.call_later(0.005, self._poll_exit)
        else:
            self._set_exited()

    def _set_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
        self._check_done()

    def _check_done(self) -> None:
        if self._open == 0 and self.exited.done() and not self.done.done():
            self.done.set_result(None)

    def close_pipes(self) -> None:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                self._loop.remove_reader(pipe.fileno())
                pipe.close()

    def kill_group(self) -> None:
        """SIGKILL the probe's whole process group (it leads its own session)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is already gone


async def exec_probe(
    argv: Sequence[str],
    timeout: float,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    cgroup_procs: str | Sequence[str] | None = None,
    enter: Sequence[str] | None = None,
) -> ProbeOutcome:
    """Run `argv` (no shell) for at most `timeout` seconds and judge its exit code.

    - exit 0 → SUCCESS, non-zero → FAILURE; `output` is stdout followed by
      stderr, at most 10240 bytes in total, decoded as UTF-8 (errors replaced).
      The rest of the output is read and discarded so the command never blocks.
    - the command runs in a new session (its own process group); on timeout
      the whole group is SIGKILLed and reaped, and the result is FAILURE with
      `command timed out: "<argv joined by spaces>" timed out after <1s>`.
      Whatever of the group is still alive when the command ends is killed
      too, so a probe never leaks background processes.
    - a command that cannot be started is FAILURE with a runc-like message:
      `exec: "/nope": stat /nope: no such file or directory`,
      `exec: "nope": executable file not found in $PATH`,
      `exec: "/etc/passwd": permission denied`. A shell would report these
      as exit 127 (not found) and 126 (not executable).
    - `cgroup_procs` (a `cgroup.procs` path, or several: one per cgroup v1
      controller): the command joins those cgroups
      before it execs (through a tiny /bin/sh wrapper; argv[0] becomes the
      resolved path). If it cannot join, the result is UNKNOWN with `error`
      set (the prober failed, not the target).
    - `enter` (an argv prefix such as `nsenter -t PID -n -u -m -p --wd --`, from
      `sandbox.exec_prefix`): the command runs inside the container's
      namespaces, as CRI `ExecSync` runs it inside the container. argv[0] is
      resolved first (as above) so a missing binary keeps runc's message; the
      prefix runs after the cgroup join, so the command is in both.
    """
    if not argv:
        return ProbeOutcome(Result.FAILURE, 'exec: "": executable file not found in $PATH')
    argv0 = argv[0]
    args: Sequence[str] = argv
    procs = [cgroup_procs] if isinstance(cgroup_procs, str) else list(cgroup_procs or ())
    try:
        if enter or procs:
            args = [_resolve(argv0, env, cwd), *argv[1:]]
        if enter:
            args = [*enter, *args]
        if procs:
            args = [_SH, "-c", _CGROUP_SCRIPT, str(len(procs)), *procs, *args]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            bufsize=0,
        )
    except OSError as err:
        return ProbeOutcome(Result.FAILURE, _spawn_error(argv0, err, cwd))
    except ValueError:  # an argument or env entry with a NUL byte: execve would say EINVAL
        return ProbeOutcome(Result.FAILURE, f"exec: {go_quote(argv0)}: invalid argument")

    loop = asyncio.get_running_loop()
    run = _Run(loop, proc)
    timer = loop.call_later(timeout, _expire, run.done)
    timed_out = False
    try:
        await run.done
    except TimeoutError:
        timed_out = True
    finally:
        timer.cancel()
        # A grandchild may still hold the pipes; stop reading, kill the group.
        run.close_pipes()
        run.kill_group()
    if timed_out:
        if not run.exited.done():
            try:
                await asyncio.wait_for(asyncio.shield(run.exited), _REAP_GRACE)
            except TimeoutError:
                pass
        # staging/src/k8s.io/cri-client/pkg/remote_runtime.go: `%w: %q timed out after %s`
        # with ErrCommandTimedOut = "command timed out"; pkg/probe/exec/exec.go makes it a Failure.
        cmd = go_quote(" ".join(argv))
        return ProbeOutcome(
            Result.FAILURE, f"command timed out: {cmd} timed out after {go_duration(timeout)}"
        )

    code = proc.returncode
    if (
        procs
        and code == _CGROUP_JOIN_EXIT
        and not run.out
        and run.err.decode(errors="replace").strip() == _CGROUP_JOIN_FAILED
    ):
        return ProbeOutcome(Result.UNKNOWN, "", error=f"cannot join cgroup {' '.join(procs)}")
    data = run.out + run.err
    output = bytes(data[:MAX_OUTPUT]).decode("utf-8", errors="replace")
    return ProbeOutcome(Result.SUCCESS if code == 0 else Result.FAILURE, output)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())

"""Where an agent keeps its state: the `PODKEEPER_HOME` folder and the files in it.

Resolution order (interface.md, "Names"): an explicit path (the CLI's
`--home`), then `$PODKEEPER_HOME`, then `$XDG_STATE_HOME/podkeeper`, then
`~/.local/state/podkeeper`. Two homes never see each other's agent.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

#: The agent's REST API socket (unix domain, mode 0600).
SOCKET_NAME = "agent.sock"
#: The SQLite state database (runtime/store.py).
DB_NAME = "state.db"
#: The detached agent's own log (stdout + stderr).
LOG_NAME = "agent.log"
#: The running agent's process id, as decimal text.
PID_NAME = "agent.pid"
#: Held (flock) by the home's live agent for its whole life; released by the kernel
#: when it exits, even on SIGKILL. Other agents' sweeps read it (`home_agent_gone`).
AGENT_LOCK_NAME = "agent.lock"
#: The sandbox manager's own lock (runtime/process/sandbox.py), also proof of a live agent.
SANDBOX_LOCK = os.path.join("sandboxes", "owner.lock")
#: Container log files live under this sub-folder.
LOGS_DIR_NAME = "logs"

HOME_ENV = "PODKEEPER_HOME"


def default_home() -> Path:
    """The home used when nothing explicit is given (not created)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "podkeeper"
    return Path.home() / ".local" / "state" / "podkeeper"


def resolve_home(explicit: str | None) -> Path:
    """The absolute home folder, created with mode 0700 if missing.

    An existing folder keeps its mode here; the agent (and `up`) tighten it
    with `secure_home` and say so (issue 13 item 5)."""
    home = Path(explicit).expanduser() if explicit else default_home()
    home = home.absolute()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def socket_path(home: Path) -> Path:
    """The API socket of the agent for `home`."""
    return home / SOCKET_NAME


def db_path(home: Path) -> Path:
    """The state database of the agent for `home`."""
    return home / DB_NAME


def log_path(home: Path) -> Path:
    """The agent's own log file for `home`."""
    return home / LOG_NAME


def pid_path(home: Path) -> Path:
    """The file holding the agent's process id for `home`."""
    return home / PID_NAME


#: The agent's own folders, tightened in full by `secure_home` (other folders are left
#: alone: a runtime may keep files there that a container's user must reach).
_PRIVATE_DIRS = frozenset({"pods", "sandboxes", LOGS_DIR_NAME})
#: The only mode bits anything under a home may have beyond the owner's.
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def write_private(path: Path, text: str) -> None:
    """Write `path` created owner-only (0600), also when it existed with a looser mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make_private_dirs(path: str | Path) -> None:
    """`mkdir -p` where every folder made is owner-only (0700).

    `os.makedirs(mode=...)` applies the mode to the last folder only."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        make_private_dirs(parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass


def secure_home(home: Path) -> str | None:
    """Make `home` 0700 and the agent's files under it owner-only (no group or other bits);
    returns the line that says what changed, or None when nothing was.

    Why: a home that existed as 0755 left `state.db` and its WAL readable by
    every local user, and the WAL held a pod's env values (issue 13 item 5).
    Walked: the home's own files and the agent's folders (`_PRIVATE_DIRS`);
    symbolic links are neither followed nor changed. A shared folder (sticky
    bit, as /tmp) or one owned by another user keeps its mode, with a line
    saying so: chmod-ing it would break its other users."""
    st = os.stat(home)
    mode = stat.S_IMODE(st.st_mode)
    parts = []
    if mode & _OTHERS:
        if mode & stat.S_ISVTX or st.st_uid != os.geteuid():
            parts.append(
                f"home {home} has mode {mode:04o} and is shared (sticky or another user's): "
                "left as is; use a private folder as PODKEEPER_HOME"
            )
        else:
            os.chmod(home, mode & ~_OTHERS)
            parts.append(
                f"home {home} had mode {mode:04o}: made it {mode & ~_OTHERS:04o} (owner-only)"
            )
    fixed = 0
    for entry in os.scandir(home):
        if entry.is_dir(follow_symlinks=False):
            if entry.name in _PRIVATE_DIRS:
                fixed += _tighten(entry.path)
                for dirpath, dirnames, filenames in os.walk(entry.path):
                    for name in (*dirnames, *filenames):
                        fixed += _tighten(os.path.join(dirpath, name))
        else:
            fixed += _tighten(entry.path)
    if fixed:
        parts.append(f"{fixed} file(s) under it readable by others made owner-only")
    return "; ".join(parts) or None


def _tighten(path: str) -> int:
    """Drop group/other bits of `path` (not of a symlink); 1 if it changed."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & _OTHERS:
            return 0
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~_OTHERS)
    except OSError:
        return 0
    return 1


def hold_agent_lock(home: Path, wait: float = 2.0) -> int | None:
    """Take `home`'s agent lock for the life of this process; the open fd, or None when
    another process still holds it after `wait` seconds (another agent of this home;
    a sweep of another home's agent holds it only for a moment)."""
    fd = os.open(home / AGENT_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # unreadable: cannot tell, so alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _monitors_alive(home: Path) -> bool:
    """True while a container monitor (pkmon) the home's last agent started still runs:
    its containers wait for a new agent of that home to take them over (issue 13 item
    6), so the home's sandboxes and cgroups are not abandoned."""
    import json

    try:
        live = json.loads((home / "containers.json").read_text())
    except (OSError, ValueError):
        return False
    for info in live.values() if isinstance(live, dict) else ():
        state = info.get("state") if isinstance(info, dict) else None
        if not isinstance(state, dict) or not state.get("monitor_pid"):
            continue
        try:
            with open(f"/proc/{int(state['monitor_pid'])}/stat") as f:
                start = f.read().rpartition(")")[2].split()[19]
        except (OSError, ValueError, IndexError):
            continue
        if start == state.get("monitor_start"):
            return True
    return False


@contextlib.contextmanager
def home_agent_gone(home: str | Path) -> Iterator[bool]:
    """Whether the agent of another `home` is provably gone; while the block runs, the
    home's locks are held so that no agent of it can start in between.

    Proven gone (issue 13 item 8) only when: `home` is an absolute path that exists;
    at least one of its lock files exists (`agent.lock`, or `sandboxes/owner.lock`
    of agents before it) and every one present can be locked now (a live agent holds
    its locks until it dies, SIGKILL included); its `agent.pid` names no live
    process; and no container monitor it started still runs. Anything else (home
    gone or moved, no lock file, a lock held, a live pid, an error) yields False:
    leave that home's things alone."""
    held: list[int] = []
    gone = False
    try:
        path = Path(home)
        if path.is_absolute() and path.is_dir():
            locks = [path / AGENT_LOCK_NAME, path / SANDBOX_LOCK]
            present = 0
            free = True
            for lock in locks:
                try:
                    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                except OSError:
                    free = False
                    break
                present += 1
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    free = False
                    break
                held.append(fd)
            gone = (
                free
                and present > 0
                and not _pid_alive(pid_path(path))
                and not _monitors_alive(path)
            )
        yield gone
    finally:
        for fd in held:
            os.close(fd)  # also drops the lock

"""The per-container monitor (`pkmon.c`): found, or built once with the host's C compiler.

Why a monitor (issue 13 item 6): a container that is the agent's child dies or goes
unsupervised with the agent, and its exit status goes to whoever reaps it. With
`pkmon` as its parent (containerd-shim, conmon), the agent can be killed and started
again under running containers: the next agent re-attaches to them and reads each exit
status from the file the monitor leaves.

The binary is compiled from the C source shipped in this package, once per machine and
source version, into a cache folder only its owner can write (the agent runs it as
root, so a binary another user could replace would be a way to root): root uses
/var/cache/podkeeper, others `$XDG_CACHE_HOME/podkeeper` (`~/.cache/podkeeper`).
Without a C compiler the process runtime falls back to spawning containers as its own
children (they die with the agent, as before) and says so. `PODKEEPER_MONITOR=off`
chooses that fallback on purpose.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("pkmon.c")
_COMPILE_TIMEOUT = 60.0


def _cache_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/cache/podkeeper")
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "podkeeper"


def _trusted(path: Path) -> bool:
    """Owned by us and writable by nobody else (the file and its folder)."""
    try:
        for p in (path, path.parent):
            st = p.lstat()
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
            if p is path and not stat.S_ISREG(st.st_mode):
                return False
    except OSError:
        return False
    return True


@functools.cache
def monitor_binary() -> tuple[str | None, str]:
    """(path of a runnable pkmon, "") or (None, why there is none). Cached per process."""
    if os.environ.get("PODKEEPER_MONITOR", "").lower() in ("off", "0", "no"):
        return None, "PODKEEPER_MONITOR=off"
    try:
        digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    except OSError as e:
        return None, f"monitor source missing: {e}"
    folder = _cache_dir()
    binary = folder / f"pkmon-{digest}"
    if _trusted(binary):
        return str(binary), ""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler (cc) to build the container monitor"
    try:
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        tmp = folder / f".pkmon-{digest}-{os.getpid()}"
        res = subprocess.run(
            [cc, "-O2", "-o", str(tmp), str(SOURCE)],
            capture_output=True,
            text=True,
            timeout=_COMPILE_TIMEOUT,
            check=False,
        )
        if res.returncode != 0:
            tmp.unlink(missing_ok=True)
            return None, f"building the container monitor failed: {res.stderr.strip()[:300]}"
        os.chmod(tmp, 0o755)
        os.replace(tmp, binary)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"building the container monitor failed: {e}"
    if not _trusted(binary):
        return None, f"{binary} is writable by other users: not running it as the monitor"
    log.info("built the container monitor %s", binary)
    return str(binary), ""

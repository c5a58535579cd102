"""Container log rotation, as the kubelet's container log manager does it (issue 13 item 11).

`pkg/kubelet/logs/container_log_manager.go`: every `logMonitorPeriod` the kubelet looks
at each running container's log; one over `containerLogMaxSize` (10Mi) is rotated: the
oldest rotated files beyond `containerLogMaxFiles` (5, the live file included) are
removed, the older rotated ones gzip-compressed (all but the newest), and the live file
becomes `<log>.<YYYYMMDD-hhmmss>`. The kubelet then asks the runtime to reopen the log
(`ReopenContainerLog`); a host process writes its log through the descriptor it was
started with, which cannot be reopened, so here the live file is copied to the rotated
name and truncated in place (logrotate's copytruncate; the descriptor is O_APPEND, so
the next write lands at the start of the emptied file). What the container writes
between the copy and the truncation can be lost: at most the few bytes of that instant.

Configurable in the agent's environment: `PODKEEPER_CONTAINER_LOG_MAX_SIZE` (a
quantity, default 10Mi) and `PODKEEPER_CONTAINER_LOG_MAX_FILES` (default 5, at least 2).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5
#: How often the agent looks (the kubelet's logMonitorPeriod is 10 s; a stat per live
#: container a second is cheap and keeps a fast writer from running far past the limit).
MONITOR_PERIOD = 1.0
_ROTATED = re.compile(r"^(?P<base>.+\.log)\.(?P<ts>\d{8}-\d{6})(?P<gz>\.gz)?$")
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class LogPolicy:
    max_size: int = DEFAULT_MAX_SIZE
    max_files: int = DEFAULT_MAX_FILES

    @classmethod
    def from_env(cls) -> LogPolicy:
        size, files = DEFAULT_MAX_SIZE, DEFAULT_MAX_FILES
        raw = os.environ.get("PODKEEPER_CONTAINER_LOG_MAX_SIZE")
        if raw:
            try:
                size = _bytes(raw)
            except ValueError:
                log.warning("PODKEEPER_CONTAINER_LOG_MAX_SIZE=%r is not a quantity", raw)
        raw = os.environ.get("PODKEEPER_CONTAINER_LOG_MAX_FILES")
        if raw:
            try:
                files = int(raw)
            except ValueError:
                log.warning("PODKEEPER_CONTAINER_LOG_MAX_FILES=%r is not a number", raw)
        # The kubelet refuses containerLogMaxFiles < 2 (validation.go).
        return cls(max(size, 1), max(files, 2))


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def _bytes(raw: str) -> int:
    """`10Mi`, `500k`, `1048576`: the kubelet's containerLogMaxSize quantities."""
    m = re.fullmatch(r"(\d+)([kMG]i?|Ki)?", raw.strip())
    if m is None:
        raise ValueError(raw)
    unit = _UNITS.get(m.group(2) or "")
    if unit is None:
        raise ValueError(raw)
    return int(m.group(1)) * unit


def rotated_files(path: str) -> list[str]:
    """The rotated files of live log `path`, oldest first."""
    folder, name = os.path.split(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for n in names:
        m = _ROTATED.match(n)
        if m and m.group("base") == name:
            found.append((m.group("ts"), n))
    return [os.path.join(folder, n) for _, n in sorted(found)]


def rotate_if_needed(path: str, policy: LogPolicy, now: float | None = None) -> bool:
    """Rotate live log `path` when it is over `policy.max_size`; True when it did."""
    try:
        if os.stat(path).st_size < policy.max_size:
            return False
    except OSError:
        return False
    old = rotated_files(path)
    # removeExcessLogs: keep max_files - 2 rotated files, so that after this rotation
    # there are max_files - 1 of them beside the live one.
    for stale in old[: max(len(old) - (policy.max_files - 2), 0)]:
        _remove(stale)
    old = old[max(len(old) - (policy.max_files - 2), 0) :]
    for done in old:
        if not done.endswith(".gz"):
            _compress(done)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    target = f"{path}.{stamp}"
    if os.path.exists(target) or os.path.exists(target + ".gz"):
        return False  # rotated this second already
    try:
        _copy_truncate(path, target)
    except OSError as e:
        log.warning("rotating %s: %s", path, e)
        return False
    return True


def rotate_all(paths: Iterable[str], policy: LogPolicy) -> int:
    """One monitor pass over the live logs of running containers; how many rotated."""
    return sum(1 for p in paths if rotate_if_needed(p, policy))


def _copy_truncate(path: str, target: str) -> None:
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            offset = 0
            while True:  # up to the end as it is now, then what came during the copy
                n = os.copy_file_range(fd, out, _COPY_CHUNK, offset_src=offset)
                if n == 0:
                    break
                offset += n
        finally:
            os.close(out)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _compress(path: str) -> None:
    try:
        with open(path, "rb") as src, gzip.open(path + ".tmp", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(path + ".tmp", 0o600)
        os.replace(path + ".tmp", path + ".gz")
        os.unlink(path)
    except OSError as e:
        log.warning("compressing %s: %s", path, e)
        _remove(path + ".tmp")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

"""Per-instance container log files, laid out like the kubelet's /var/log/pods.

`<home>/pods/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`
(kubelet `pkg/kubelet/kuberuntime/helpers.go` `BuildPodLogsDirectory`,
`BuildContainerLogsDirectory`, `buildContainerLogsPath`): one file per
restart, so `logs --previous` reads `<restartCount-1>.log`. Lines are stored as
the process wrote them (stdout and stderr interleaved), without the CRI
timestamp/stream prefix.
"""

from __future__ import annotations

import hashlib
import os
import re

from podkeeper.home import make_private_dirs

# `pkg/kubelet/container/runtime.go`: MaxContainerTerminationMessageLogLines / ...Length.
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
_BLOCK = 8192
_LOG_NAME = re.compile(r"^(\d+)\.log$")


#: Longest file name component (Linux NAME_MAX, bytes).
NAME_MAX = 255
#: Hex digits of the hash that stands for the cut part of a long name.
_HASH_HEX = 10


def fit_component(name: str, limit: int = NAME_MAX) -> str:
    """`name` if it fits in one path component of `limit` bytes, else its head cut so
    that `<head>-<10 hex of sha256(name)>` fits (issue 13 item 14).

    Names up to 253 characters are valid Kubernetes names but `<ns>_<pod>_<uid>`
    can reach 354 bytes ("File name too long"); short names keep the kubelet's
    layout unchanged so existing logs stay where they are."""
    raw = name.encode()
    if len(raw) <= limit:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_HEX]
    head = raw[: limit - _HASH_HEX - 1].decode("utf-8", errors="ignore")
    return f"{head}-{digest}"


def pod_log_dir(home: str, namespace: str, pod_name: str, pod_uid: str) -> str:
    """`<home>/pods/<namespace>_<pod>_<uid>`; with a pod name too long for one component,
    the name is cut and hashed (`fit_component`) and the uid kept whole."""
    tail = f"_{pod_uid}"
    component = f"{namespace}_{pod_name}{tail}"
    if len(component.encode()) > NAME_MAX:
        component = fit_component(f"{namespace}_{pod_name}", NAME_MAX - len(tail.encode())) + tail
    return os.path.join(home, "pods", component)


def container_log_dir(
    home: str, namespace: str, pod_name: str, pod_uid: str, container: str
) -> str:
    """`<home>/pods/<namespace>_<pod>_<uid>/<container>`."""
    return os.path.join(pod_log_dir(home, namespace, pod_name, pod_uid), fit_component(container))


def container_log_path(
    home: str, namespace: str, pod_name: str, pod_uid: str, container: str, restart_count: int
) -> str:
    """`.../<container>/<restartCount>.log`: the file of one container instance."""
    return os.path.join(
        container_log_dir(home, namespace, pod_name, pod_uid, container), f"{restart_count}.log"
    )


def instance_logs(
    home: str, namespace: str, pod_name: str, pod_uid: str, container: str
) -> list[tuple[int, str]]:
    """(restartCount, path) of every log file of a container, oldest first."""
    d = container_log_dir(home, namespace, pod_name, pod_uid, container)
    try:
        names = os.listdir(d)
    except OSError:
        return []
    found = [(int(m.group(1)), os.path.join(d, n)) for n in names if (m := _LOG_NAME.match(n))]
    return sorted(found)


def open_log(path: str) -> int:
    """Open (creating parents) `path` for appending; returns an fd to give the process
    as both stdout and stderr. O_APPEND keeps the two streams' writes whole and in order.

    Folders and file are made owner-only (a log may hold secrets; issue 13 item 5)."""
    make_private_dirs(os.path.dirname(path))
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


def read_tail_bytes(path: str, max_bytes: int) -> bytes:
    """The last `max_bytes` bytes of a file (kubernetes `pkg/util/tail.ReadAtMost`).

    Raises OSError (e.g. FileNotFoundError) when the file cannot be read."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - max_bytes))
        return f.read(max_bytes)


def tail_lines(path: str, n: int) -> list[bytes]:
    """The last `n` lines of a file, each with its newline (the last may lack one).

    Reads backwards in blocks, so a large log costs only what is returned.
    A missing file gives []."""
    if n <= 0:
        return []
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, reading backwards by hand
    except OSError:
        return []
    with f:
        end = f.seek(0, os.SEEK_END)
        pos = end
        data = b""
        # Count newlines, ignoring a final one that just terminates the last line.
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
            body = data[:-1] if data.endswith(b"\n") else data
            if body.count(b"\n") >= n:
                break
    lines = data.splitlines(keepends=True)
    return lines[-n:]


def fallback_message(path: str) -> str:
    """The termination message for FallbackToLogsOnError: the last 80 lines of the log,
    of which at most the last 2048 bytes (kubelet `kuberuntime_container.go`
    `readLastStringFromContainerLogs` writes 80 tail lines through a 2048-byte
    circular buffer). "" when there is no log."""
    data = b"".join(tail_lines(path, FALLBACK_LOG_LINES))
    return data[-FALLBACK_LOG_BYTES:].decode("utf-8", errors="replace")

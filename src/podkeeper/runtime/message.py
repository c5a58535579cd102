"""The termination-message file of a container instance (issue 13 item 1).

The kubelet creates one file per container instance in its own pod directory, mounts it
at `terminationMessagePath` and reads that file back, never the container's path
(`pkg/kubelet/kuberuntime/kuberuntime_container.go` `makeMounts`,
`getTerminationMessage`). The runtime does the mounting (runtime/mounts.py for host
processes, a CRI mount for containerd); this module owns the file.
"""

from __future__ import annotations

import contextlib
import os
import stat

from podkeeper.home import make_private_dirs

# `pkg/kubelet/container/runtime.go` MaxContainerTerminationMessageLength.
MAX_TERMINATION_MESSAGE_BYTES = 4096


def read_termination_message(path: str) -> str | None:
    """The last 4096 bytes of an agent-owned termination-message file; None when unset
    or missing (kubelet `getTerminationMessage`: `tail.ReadAtMost(path, 4096)`).

    The file is the one the agent made for the instance (`make_message_file`), never
    the container's `terminationMessagePath` on the host (issue 13 item 1). It is still
    opened without following a symlink and without blocking, and read only if it is a
    regular file, so nothing a container does can make the agent read another file or
    hang on a FIFO."""
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"Error on reading termination log {path}: {e}"
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return f"Error on reading termination log {path}: not a regular file"
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - MAX_TERMINATION_MESSAGE_BYTES))
        data = f.read(MAX_TERMINATION_MESSAGE_BYTES)
    return data.decode("utf-8", errors="replace")


def make_message_file(path: str, uid: int | None, gid: int | None) -> None:
    """Create (or empty) the agent-owned termination-message file of one instance.

    Owned by the container's user so that a non-root container can write it (the
    kubelet makes its file world-writable; here only that user may), mode 0600 in the
    agent's owner-only home. Never follows a symlink."""
    make_private_dirs(os.path.dirname(path))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if (uid is not None or gid is not None) and os.geteuid() == 0:
            os.fchown(fd, uid if uid is not None else -1, gid if gid is not None else -1)
    finally:
        os.close(fd)

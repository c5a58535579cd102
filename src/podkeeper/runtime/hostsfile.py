"""Writes a pod's kubelet-managed hosts file (the text is core/hostsfile.py's).

The file is `<pod folder>/etc-hosts` under the agent home (`$PODKEEPER_HOME/volumes/pods/
<uid>/etc-hosts`, runtime/volumes.py's pod folder, every folder owner-only): the kubelet's
`<pod dir>/etc-hosts`. The runtimes bind-mount it at /etc/hosts; the container sees the
file through the mount, never its folders. The pod uid is the agent's own (a UUID), so no
manifest value reaches the path.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from podkeeper.core.hostsfile import FILE_NAME
from podkeeper.home import make_private_dirs

NODE_HOSTS = "/etc/hosts"


def read_node_hosts(path: str = NODE_HOSTS) -> str:
    """The node's /etc/hosts for a hostNetwork pod's file ("" if it cannot be read: the
    kubelet fails the container start then; an empty list of names is the safer loss here)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def ensure_hosts_file(pod_dir: Path, text: str) -> str:
    """Make `<pod_dir>/etc-hosts` hold `text` and return its path.

    Rewritten in place (as the kubelet's WriteFile does), so running containers, whose
    mount holds the file's inode, see the new text; left alone when it already says it
    (a reader in another container never sees it half-written for nothing). Mode 0644:
    any user in the container reads it, as /etc/hosts. O_NOFOLLOW: never through a link."""
    make_private_dirs(pod_dir)
    path = pod_dir / FILE_NAME
    data = text.encode()
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.read(fd, len(data) + 1) == data:
                return str(path)
        finally:
            os.close(fd)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.ftruncate(fd, 0)
        os.write(fd, data)
    finally:
        os.close(fd)
    return str(path)


def remove_hosts_file(pod_dir: Path) -> None:
    """Remove the file, and the pod folder when nothing else is left in it."""
    with contextlib.suppress(OSError):
        (pod_dir / FILE_NAME).unlink()
    with contextlib.suppress(OSError):
        pod_dir.rmdir()

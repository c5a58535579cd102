"""Mount-namespace steps of a host-process container: its termination-message file and
what it must not see (issue 13, items 1 and 3).

Each function returns one shell step for the setup script that `container_prefix`
(runtime/sandbox.py) runs as root inside the container's fresh mount namespace
(private propagation), after /proc and /tmp and before the container's own argv is
exec'd. Mounts made there exist only in that namespace: the host's files are never
written, truncated or followed by the agent.

Termination message. The kubelet creates a file per container instance under its
own pod directory and mounts it at `terminationMessagePath`
(`pkg/kubelet/kuberuntime/kuberuntime_container.go` `makeMounts`), then reads that
host file, never the container's path (`getTerminationMessage`). Here the agent-owned
file is bind-mounted over the path. When nothing is there yet (the default
`/dev/termination-log`, or a file the application creates), the parent folder gets an
overlay whose upper layer is a fresh tmpfs holding an empty placeholder, so the path
exists in the container only; the parent's own submounts (/dev/pts, /dev/shm, ...) are
carried over the overlay with `mount --move`, or the container would lose them.

Hiding. `/run/netns` holds every pod's network namespace of every agent on the host
(`nsenter --net=/run/netns/...` would put a process into another pod's network), and an
agent's home holds its API socket, database and logs: a tmpfs over each hides them.
"""

from __future__ import annotations

import shlex

#: Mounts directly below the parent folder, to carry over its overlay (mountinfo field 5).
_SUBMOUNTS = (
    'awk -v p="$P/" \'index($5, p) == 1 && index(substr($5, length(p) + 1), "/") == 0'
    " { print $5 }' /proc/self/mountinfo"
)

_MESSAGE_FN = (
    "pk_msg() { T=$1; F=$2;"
    ' if [ ! -e "$T" ] && [ ! -L "$T" ]; then'
    ' P=$(dirname "$T"); [ "$P" != / ] && [ -d "$P" ] || return 1;'
    ' D=/run/podkeeper-tmp/$(cat /proc/sys/kernel/random/uuid); mkdir -p "$D"'
    ' && mount -t tmpfs -o mode=0700,nosuid,nodev tmpfs "$D"'
    ' && mkdir "$D/u" "$D/w" "$D/s" && : >"$D/u/$(basename "$T")" || return 1;'
    f" S=$({_SUBMOUNTS}); i=0;"
    ' for m in $S; do mkdir "$D/s/$i" && mount --rbind "$m" "$D/s/$i" || return 1;'
    " i=$((i+1)); done;"
    ' mount -t overlay -o "lowerdir=$P,upperdir=$D/u,workdir=$D/w" overlay "$P" || return 1;'
    ' i=0; for m in $S; do mount --move "$D/s/$i" "$m" || return 1; i=$((i+1)); done;'
    ' umount -l "$D" && rmdir "$D"; fi;'
    ' mount --no-canonicalize --bind "$F" "$T"; }'
)


# `--no-canonicalize`: util-linux would turn /proc/self/fd/9 back into a path and resolve
# it through the overlay; the kernel itself follows the magic link to the agent's file.
#: The descriptor that holds the agent's file between `open_message_step` and `message_step`.
_FD = 9


def open_message_step(file: str) -> str:
    """Open agent-owned `file` first, before the private /tmp overlay: a home under /tmp
    would otherwise be seen through that overlay, and the container's writes would land
    in its writable layer instead of the agent's file."""
    return f"exec {_FD}<>{shlex.quote(file)}"


def message_step(target: str) -> str:
    """Make the file opened by `open_message_step` appear at `target` in the container,
    then close the descriptor so the container does not inherit it."""
    return (
        f"{{ {_MESSAGE_FN}; pk_msg {shlex.quote(target)} /proc/self/fd/{_FD} && exec {_FD}>&-; }}"
    )


def hide_step(paths: tuple[str, ...]) -> str:
    """Cover each existing folder in `paths` with an empty read-only tmpfs."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return (
        '{ pk_hide() { for h in "$@"; do [ ! -d "$h" ] || mount -t tmpfs'
        ' -o ro,mode=0755,size=4k,nosuid,nodev,noexec tmpfs "$h" || return 1; done; };'
        f" pk_hide {quoted}; }}"
    )

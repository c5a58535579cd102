"""Mount-namespace steps of a host-process container: its termination-message file and
what it must not see (issue 13, items 1 and 3).

Each function returns one shell step for the setup script that `container_prefix`
(runtime/process/sandbox.py) runs as root inside the container's fresh mount namespace
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

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from podkeeper.runtime.interface import Mount

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


# ---------------------------------------------------------------- volume mounts
#
# A volume (runtime/volumes.py made it under the agent home, or a hostPath) is bind-mounted
# in two steps. Staging, first thing in the mount namespace: each source is bound onto a
# folder of the private scratch tmpfs, while the host's paths are still the host's (the
# private /tmp overlay would otherwise turn a home under /tmp into a copy-on-write view,
# and two containers sharing an emptyDir would write to two different upper layers).
# Mounting, after /tmp, /etc/hosts and the termination message: each staged mount is
# moved onto its mountPath (in depth order, parents first, as containerd sorts mounts),
# then made read-only when asked. A mountPath missing from the host is created in the
# container only, under an overlay of its nearest existing folder (the same trick as the
# termination message), so the host is never written.

_OVERLAY_FN = (
    "pk_ovl() { P=$1; shift;"
    ' D=/run/podkeeper-tmp/$(cat /proc/sys/kernel/random/uuid); mkdir -p "$D"'
    ' && mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$D"'
    ' && mkdir "$D/u" "$D/w" "$D/s" || return 1;'
    ' chown --reference="$P" "$D/u" && chmod --reference="$P" "$D/u" || return 1;'
    ' for e in "$@"; do r=${e#?:};'
    ' case $e in d:*) (umask 022; mkdir -p "$D/u/$r") ;;'
    ' *) (umask 022; mkdir -p "$D/u/$(dirname "$r")" && : >"$D/u/$r") ;; esac || return 1;'
    " done;"
    f" S=$({_SUBMOUNTS}); i=0;"
    # A submount may be a file (/etc/hosts): its stand-in must be a file too.
    ' for m in $S; do { if [ -d "$m" ]; then mkdir "$D/s/$i"; else : >"$D/s/$i"; fi; }'
    ' && mount --rbind "$m" "$D/s/$i" || return 1; i=$((i+1)); done;'
    ' mount -t overlay -o "lowerdir=$P,upperdir=$D/u,workdir=$D/w" overlay "$P" || return 1;'
    ' i=0; for m in $S; do mount --move "$D/s/$i" "$m" || return 1; i=$((i+1)); done;'
    ' umount -l "$D" && rmdir "$D"; }'
)
_STAGE = "/run/podkeeper-tmp/vol"


class MountPlanError(Exception):
    """A mountPath the process runtime cannot provide (CreateContainerConfigError)."""


def _within(path: str, parent: str) -> bool:
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


@dataclass(frozen=True)
class VolumePlan:
    """The shell steps of a container's volume mounts, by phase (see `volume_steps`)."""

    stage: list[str]  # first, while host paths are the host's
    mount: list[str]  # after /tmp, /etc/hosts and the termination message
    root: list[str]  # last (after hiding): build the new root and switch to it

    @property
    def switches_root(self) -> bool:
        return bool(self.root)


#: Where a container that needs a new root (a top-level mountPath) gets it built.
NEW_ROOT = "/run/podkeeper-tmp/root"
_NEW_ROOT_RW = "/run/podkeeper-tmp/root-rw"
# The mounts hanging directly off the root mount (mountinfo: field 1 id, 2 parent, 5 path),
# without those below another such mount: that one was mounted later, over them (a host
# bind under /tmp before the private /tmp overlay), so the container never sees them.
_ROOT_CHILDREN_AWK = (
    'NR==FNR { if ($5 == "/") r = $1; next }'
    ' $2 == r && $5 != "/" && !($5 in s) { s[$5] = 1; p[n++] = $5 }'
    " END { for (i = 0; i < n; i++) { k = 1;"
    ' for (j = 0; j < n; j++) if (index(p[i], p[j] "/") == 1) k = 0;'
    " if (k) print p[i] } }"
)
_ROOT_CHILDREN = f"awk {shlex.quote(_ROOT_CHILDREN_AWK)} /proc/self/mountinfo /proc/self/mountinfo"
_ROOT_FN = (
    "pk_root() { R=" + NEW_ROOT + "; D=" + _NEW_ROOT_RW + ";"
    ' mkdir -p "$R" "$D" && mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$D"'
    ' && mkdir "$D/u" "$D/w" || return 1;'
    ' chown --reference=/ "$D/u" && chmod --reference=/ "$D/u" || return 1;'
    ' for e in "$@"; do r=${e#?:};'
    ' case $e in d:*) (umask 022; mkdir -p "$D/u/$r") ;;'
    ' *) (umask 022; mkdir -p "$D/u/$(dirname "$r")" && : >"$D/u/$r") ;; esac || return 1;'
    " done;"
    ' mount -t overlay -o "lowerdir=/,upperdir=$D/u,workdir=$D/w" overlay "$R" || return 1;'
    f" S=$({_ROOT_CHILDREN});"
    " for m in $S; do case $m in /run/podkeeper-tmp|/run/podkeeper-tmp/*) continue ;; esac;"
    ' mount --rbind "$m" "$R$m" || return 1; done;'
    # A copy of the scratch tmpfs (carried with /run) holds the new root itself: drop it.
    ' if [ -d "$R/run/podkeeper-tmp/root" ]; then umount -l "$R/run/podkeeper-tmp"; fi;'
    " return 0; }"
)


def volume_steps(
    mounts: Sequence[tuple[str, str, bool]],
    exists: Callable[[str], bool] = os.path.lexists,
    is_dir: Callable[[str], bool] = os.path.isdir,
) -> VolumePlan:
    """The steps for `mounts` = (container_path, host_path, read_only) tuples.

    A mountPath below an existing folder other than `/` gets its mount point from an
    overlay of that folder. One whose nearest existing folder is `/` (`/data`) needs a
    new root: an overlay of `/` holding the missing folders, every mount below `/`
    carried over (rbind), the volumes moved in, then `switch_root`'s moves: the overlay
    is moved onto `/` and the container is chroot'ed into it (`container_prefix` adds the
    chroot to its exec); `nsenter -m` finds that root too (the kernel follows mounts
    stacked on a namespace's root). Raises `MountPlanError` for a relative mountPath."""
    order = sorted(range(len(mounts)), key=lambda i: mounts[i][0].rstrip("/").count("/"))
    stage: list[str] = []
    overlays: dict[str, list[str]] = {}
    moves: list[str] = []
    top: list[str] = []
    root_moves: list[str] = []
    in_root: set[str] = set()
    targets = [os.path.normpath(m[0]) for m in mounts]
    for n, i in enumerate(order):
        target, host, read_only = targets[i], mounts[i][1], mounts[i][2]
        if not target.startswith("/") or target == "/":
            raise MountPlanError(f"mountPath {mounts[i][0]!r} must be an absolute path below /")
        folder = is_dir(host)
        staged = f"{_STAGE}/{n}"
        make = f"mkdir -p {staged}" if folder else f"mkdir -p {_STAGE} && : >{staged}"
        stage.append(f"{make} && mount --rbind {shlex.quote(host)} {staged}")
        parents = [t for t in targets if _within(target, t) and t != target]
        phase = moves
        prefix = ""
        if any(t in in_root for t in parents):
            phase, prefix = root_moves, NEW_ROOT
            in_root.add(target)
        q = shlex.quote(prefix + target)
        if parents:
            # Inside another volume: runc creates the mountpoint in that volume.
            if folder:
                phase.append(f"mkdir -p {q}")
            else:
                phase.append(f'mkdir -p "$(dirname {q})" && {{ [ -e {q} ] || : >{q}; }}')
        elif not exists(target):
            anc = os.path.dirname(target)
            while anc != "/" and not exists(anc):
                anc = os.path.dirname(anc)
            rel = os.path.relpath(target, anc)
            entry = ("d:" if folder else "f:") + rel
            if anc == "/":
                top.append(entry)
                phase, prefix = root_moves, NEW_ROOT
                in_root.add(target)
                q = shlex.quote(prefix + target)
            elif not is_dir(anc):
                raise MountPlanError(f"mountPath {target}: {anc} is not a folder")
            else:
                overlays.setdefault(anc, []).append(entry)
        phase.append(f"mount --move {staged} {q}")
        if read_only:
            phase.append(f"mount -o remount,bind,ro {q}")
    steps = []
    if overlays:
        calls = " && ".join(
            f"pk_ovl {shlex.quote(anc)} " + " ".join(shlex.quote(e) for e in entries)
            for anc, entries in overlays.items()
        )
        steps.append(f"{{ {_OVERLAY_FN}; {calls}; }}")
    root: list[str] = []
    if top:
        root.append(f"{{ {_ROOT_FN}; pk_root " + " ".join(shlex.quote(e) for e in top) + "; }")
        root += root_moves
        root.append(f"cd {NEW_ROOT} && mount --move {NEW_ROOT} /")
    return VolumePlan(stage, steps + moves, root)


def host_view(mounts: Sequence[Mount]) -> Callable[[str], str]:
    """Where a container path is on the host, through the container's volume mounts
    (the deepest mount wins), for the checks made before the mounts exist."""
    pairs = sorted(
        ((os.path.normpath(m.container_path), m.host_path) for m in mounts),
        key=lambda p: -len(p[0]),
    )

    def resolve(path: str) -> str:
        norm = os.path.normpath(path) if path.startswith("/") else path
        for target, host in pairs:
            if norm == target:
                return host
            if norm.startswith(target.rstrip("/") + "/"):
                return os.path.join(host, norm[len(target) :].lstrip("/"))
        return path

    return resolve

"""The volume manager: each pod's volumes on the host, as the kubelet's volume manager
and volume plugins make them (`pkg/kubelet/volumemanager`, `pkg/volume/*`).

Layout (all under the agent home, every folder owner-only on the host):

    $PODKEEPER_HOME/volumes/pods/<pod uid>/volumes/<plugin>/<volume>   emptyDir, configMap...
    $PODKEEPER_HOME/volumes/pods/<pod uid>/volume-subpaths/<volume>/<container>/<index>
    $PODKEEPER_HOME/volumes/pvc/<namespace>/<claim>                     persistentVolumeClaim

What each source becomes:
- emptyDir: a 0777 folder (`pkg/volume/emptydir/empty_dir.go` `setupDir`); `medium: Memory`
  is a tmpfs of `sizeLimit` bytes. A `sizeLimit` on disk is not enforced (the kubelet
  evicts the pod when it is exceeded): a Warning event says so.
- configMap / secret / downwardAPI / projected: the payload of core/volumes.py written
  with the kubelet's AtomicWriter layout (`pkg/volume/util/atomic_writer.go`): the files
  in a `..<timestamp>` folder, a `..data` symlink to it swapped by rename, and the
  user-visible names as symlinks through `..data`, so a reader sees the old or the new
  set, never half of each. Rewritten (`resync`) when the objects change; always mounted
  read-only (these plugins report ReadOnly). Secret volumes live on a tmpfs when the agent
  is root (as the kubelet's), so their values never reach the disk.
- hostPath: the host path itself after the `type` check (`pkg/volume/hostpath/host_path.go`
  `checkType`), never created through a dangling symlink.
- persistentVolumeClaim: `volumes/pvc/<ns>/<claim>` (contract 2), made owner-only if missing
  and kept when the pod goes.

subPath / subPathExpr (`pkg/volume/util/subpath/subpath_linux.go`): the path is resolved
with every symlink evaluated, must stay inside the volume, is then opened component by
component with O_NOFOLLOW (so a symlink swapped in meanwhile is refused) and the opened
file is bind-mounted to `volume-subpaths/...`; the runtime mounts that. A subPath mount is
a snapshot of its file: it never sees a later configMap update, as in Kubernetes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podkeeper.core.envsource import Allocatable
from podkeeper.core.spec import Container
from podkeeper.core.volumes import (
    Payload,
    VolumeError,
    expand_subpath_expr,
    subpath_error,
    validate_path,
    volume_payload,
    volume_source,
)
from podkeeper.home import make_private_dirs
from podkeeper.runtime.interface import ConfigError, Mount
from podkeeper.runtime.nodestats import node_allocatable

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: (kind, namespace, name) -> the stored object or None (runtime/store.py `get_object`).
ObjectGetter = Callable[[str, str, str], Obj | None]

DATA_DIR = "..data"  # atomic_writer.go dataDirName
_DATA_TMP = "..data_tmp"
_PLUGINS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
#: Sources the kubelet always mounts read-only (their plugins' `GetAttributes().ReadOnly`).
_READ_ONLY_SOURCES = frozenset({"configMap", "secret", "downwardAPI", "projected"})
#: hostPath `type` values (`v1.HostPathType`); "" is no check.
HOST_PATH_TYPES = (
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
)

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MNT_DETACH = 2
_libc: ctypes.CDLL | None = None


def _sys_mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    rc = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _sys_umount(target: str) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.umount2(target.encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path` in this mount namespace, deepest first."""
    prefix = os.path.realpath(path)
    found: list[str] = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = _unescape(line.split()[4])
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    except OSError:
        return []
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


class MountError(Exception):
    """A volume could not be set up: `MountVolume.SetUp failed for volume "<v>" : <message>`."""

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {message}')
        self.volume = volume
        self.message = message


@dataclass
class PodVolumes:
    """One pod's volumes on the host: volume name -> host path, and what was written."""

    uid: str
    namespace: str
    root: Path
    paths: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # name -> source key
    written: dict[str, Payload] = field(default_factory=dict)
    read_only: set[str] = field(default_factory=set)  # mounted read-only whatever the mount says
    #: The last resync error per volume (an event is recorded only when it changes).
    errors: dict[str, str] = field(default_factory=dict)


class VolumeManager:
    """Sets up, resyncs and tears down pods' volumes under `home` (see the module doc)."""

    def __init__(self, home: Path, get_object: ObjectGetter, can_mount: bool | None = None) -> None:
        self.home = Path(home)
        self.base = self.home / "volumes"
        self.get_object = get_object
        self.can_mount = os.geteuid() == 0 if can_mount is None else can_mount
        self._alloc: Allocatable | None = None

    # ------------------------------------------------------------------ paths

    def pod_dir(self, uid: str) -> Path:
        if not uid or "/" in uid or uid in (".", ".."):
            raise ValueError(f"bad pod uid {uid!r}")
        return self.base / "pods" / uid

    def pvc_dir(self, namespace: str, claim: str) -> Path:
        for part in (namespace, claim):
            if not part or "/" in part or part.startswith("."):
                raise MountError(claim, f"invalid claim name {claim!r}")
        return self.base / "pvc" / namespace / claim

    @property
    def alloc(self) -> Allocatable:
        if self._alloc is None:
            self._alloc = node_allocatable(self.home)
        return self._alloc

    # ------------------------------------------------------------------ setup

    def setup(
        self,
        pod: Mapping[str, Any],
        containers: Sequence[Container],
        warn: Callable[[str, str], None],
        state: PodVolumes | None = None,
        keep_existing: bool = False,
    ) -> tuple[PodVolumes, list[MountError]]:
        """Make every volume of `pod` (idempotent: what exists is kept). Returns the
        state and the volumes that failed (retry later: `MountVolume.SetUp failed`).
        `warn(reason, message)` records a Warning event on the pod. `keep_existing`
        (an agent re-attaching to running containers): a configMap/secret/... volume that
        cannot be made now but is on disk from before is used as it is (and resynced), as
        a restarted kubelet leaves the volumes of running containers mounted."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        ns = str(meta.get("namespace") or "default")
        root = self.pod_dir(uid)
        if state is None:
            state = PodVolumes(uid, ns, root)
        make_private_dirs(root / "volumes")
        failed: list[MountError] = []
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = str(vol.get("name", ""))
            if name in state.paths:
                continue
            try:
                self._setup_one(vol, pod, state, containers, warn)
            except MountError as e:
                source = volume_source(vol)
                old = root / "volumes" / _PLUGINS.get(source or "", "-") / name
                if keep_existing and source in _PLUGINS and old.is_dir():
                    state.paths[name], state.sources[name] = str(old), str(source)
                    if source != "emptyDir":
                        state.written[name] = {}  # unknown: the next resync rewrites it
                    state.errors[name] = e.message
                failed.append(e)
            except OSError as e:
                failed.append(MountError(name, e.strerror or str(e)))
        return state, failed

    def _setup_one(
        self,
        vol: Mapping[str, Any],
        pod: Mapping[str, Any],
        state: PodVolumes,
        containers: Sequence[Container],
        warn: Callable[[str, str], None],
    ) -> None:
        name = str(vol.get("name", ""))
        source = volume_source(vol)
        if source is None:
            raise MountError(name, "volume type not supported by podkeeper")
        if source == "hostPath":
            hp = vol["hostPath"]
            host = str(hp.get("path", ""))
            check_host_path(host, str(hp.get("type") or ""), name)
            warn(
                "HostPathVolume",
                f'volume "{name}" mounts host path {host}: the pod can read (and unless'
                " readOnly, change) the host's files there",
            )
            state.paths[name], state.sources[name] = host, source
            return
        if source == "persistentVolumeClaim":
            claim = str(vol["persistentVolumeClaim"].get("claimName", ""))
            path = self.pvc_dir(state.namespace, claim)
            make_private_dirs(path.parent)
            if not path.is_dir():
                os.mkdir(path, 0o700)
            state.paths[name], state.sources[name] = str(path), source
            if vol["persistentVolumeClaim"].get("readOnly") is True:
                state.read_only.add(name)
            return
        plugin_dir = state.root / "volumes" / _PLUGINS[source]
        make_private_dirs(plugin_dir)
        path = plugin_dir / name
        if source == "emptyDir":
            self._setup_empty_dir(path, vol["emptyDir"] or {}, pod, name, warn)
            state.paths[name], state.sources[name] = str(path), source
            return
        lookup = self._lookup(state.namespace)
        try:
            payload = volume_payload(
                vol, pod, lookup, containers, self.alloc, lambda m: warn("VolumeSourceIgnored", m)
            )
        except VolumeError as e:
            raise MountError(name, str(e)) from None
        assert payload is not None
        if not path.is_dir():
            path.mkdir(mode=0o755)
            if source == "secret" and self.can_mount:
                # The kubelet wraps secret volumes in a memory emptyDir: values stay off disk.
                _sys_mount("tmpfs", str(path), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")
            os.chmod(path, 0o755)
        write_atomic(str(path), payload, _fs_group(pod))
        state.paths[name], state.sources[name] = str(path), source
        state.written[name] = payload

    def _setup_empty_dir(
        self,
        path: Path,
        spec: Mapping[str, Any],
        pod: Mapping[str, Any],
        name: str,
        warn: Callable[[str, str], None],
    ) -> None:
        size = spec.get("sizeLimit")
        fresh = not path.is_dir()
        if fresh:
            path.mkdir()
        if spec.get("medium") == "Memory":
            if not self.can_mount:
                warn("EmptyDirMemoryNotSupported", f'emptyDir "{name}": tmpfs needs root: on disk')
            elif fresh or not os.path.ismount(path):
                opts = "mode=0777"
                if size is not None:
                    opts += f",size={quantity_bytes(size)}"
                _sys_mount("tmpfs", str(path), "tmpfs", _MS_NOSUID | _MS_NODEV, opts)
        elif size is not None and fresh:
            warn(
                "EmptyDirSizeLimitNotEnforced",
                f'emptyDir "{name}": sizeLimit {size} on disk is not enforced by podkeeper',
            )
        os.chmod(path, 0o777)  # empty_dir.go: the folder is world-writable
        group = _fs_group(pod)
        if group is not None and fresh:
            os.chown(path, -1, group)
            os.chmod(path, 0o777 | stat.S_ISGID)

    def _lookup(self, namespace: str) -> Callable[[str, str], Obj | None]:
        return lambda kind, name: self.get_object(kind, namespace, name)

    # ----------------------------------------------------------------- resync

    def resync(
        self,
        pod: Mapping[str, Any],
        state: PodVolumes,
        containers: Sequence[Container],
    ) -> tuple[list[str], list[MountError]]:
        """Rewrite the configMap/secret/downwardAPI/projected volumes whose payload
        changed; returns (rewritten volume names, errors). A failing volume keeps its
        last content, as the kubelet's does."""
        changed: list[str] = []
        errors: list[MountError] = []
        lookup = self._lookup(state.namespace)
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = str(vol.get("name", ""))
            if name not in state.written:
                continue
            try:
                payload = volume_payload(vol, pod, lookup, containers, self.alloc)
            except VolumeError as e:
                errors.append(MountError(name, str(e)))
                continue
            if payload is None or payload == state.written[name]:
                continue
            try:
                write_atomic(state.paths[name], payload, _fs_group(pod))
            except OSError as e:
                errors.append(MountError(name, e.strerror or str(e)))
                continue
            state.written[name] = payload
            changed.append(name)
        return changed, errors

    # ----------------------------------------------------------------- mounts

    def container_mounts(
        self,
        state: PodVolumes,
        container: Mapping[str, Any],
        env: Mapping[str, str],
    ) -> tuple[Mount, ...]:
        """The runtime mounts of one container (`makeMounts`); raises `ConfigError`
        (CreateContainerConfigError) with the kubelet's message for a bad subPath."""
        out: list[Mount] = []
        cname = str(container.get("name", ""))
        for index, vm in enumerate(container.get("volumeMounts") or []):
            vname = str(vm.get("name", ""))
            host = state.paths.get(vname)
            if host is None:
                raise ConfigError(f"cannot find volume {vname!r} to mount into container {cname!r}")
            read_only = (
                bool(vm.get("readOnly"))
                or state.sources.get(vname) in _READ_ONLY_SOURCES
                or vname in state.read_only
            )
            sub = str(vm.get("subPath") or "")
            expr = str(vm.get("subPathExpr") or "")
            if expr:
                try:
                    sub = expand_subpath_expr(expr, env)
                except VolumeError as e:
                    raise ConfigError(str(e)) from None
            if sub:
                err = subpath_error(sub)
                if err is not None:
                    raise ConfigError(err)
                target = state.root / "volume-subpaths" / vname / cname / str(index)
                try:
                    host = self._bind_subpath(host, sub, target)
                except SubPathError as e:
                    log.warning(
                        "pod %s container %s: subPath %r of volume %s refused: %s",
                        state.uid,
                        cname,
                        sub,
                        vname,
                        e,
                    )
                    raise ConfigError(e.user_message(vname, cname)) from None
            out.append(Mount(str(vm.get("mountPath", "")), host, read_only))
        return tuple(out)

    def _bind_subpath(self, volume: str, sub: str, target: Path) -> str:
        base = os.path.realpath(volume)
        path = os.path.join(base, sub)
        if not os.path.lexists(path):
            try:
                safe_make_dir(base, sub)
            except OSError as e:
                raise SubPathError(str(e), create=True) from None
        resolved = os.path.realpath(path)
        if resolved != base and not resolved.startswith(base.rstrip("/") + "/"):
            raise SubPathError(f"subpath {resolved!r} not within volume path {base!r}")
        rel = os.path.relpath(resolved, base)
        fd = safe_open(base, "" if rel == "." else rel)
        try:
            if not self.can_mount:
                return resolved  # no bind without root; the process runtime cannot mount then
            make_private_dirs(target.parent)
            with contextlib.suppress(OSError):
                _sys_umount(str(target))
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            if os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    os.rmdir(target)
                else:
                    os.unlink(target)
            if is_dir:
                os.mkdir(target, 0o700)
            else:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            _sys_mount(f"/proc/self/fd/{fd}", str(target), None, _MS_BIND, None)
        finally:
            os.close(fd)
        return str(target)

    # --------------------------------------------------------------- teardown

    def teardown(self, uid: str) -> list[str]:
        """Unmount and remove everything under the pod's folder (never a hostPath's or a
        claim's content: those are not under it). Returns what could not be removed."""
        root = self.pod_dir(uid)
        if not root.exists():
            return []
        problems: list[str] = []
        for point in mounts_under(str(root)):
            try:
                _sys_umount(point)
            except OSError as e:
                problems.append(str(e))
        if mounts_under(str(root)):
            # Never rmtree through a mount (a subPath of a hostPath would lose host files).
            problems.append(f"{root}: mounts remain, left in place")
            return problems
        shutil.rmtree(root, ignore_errors=True)
        return problems

    def cleanup_stale(self, keep: frozenset[str]) -> list[str]:
        """Tear down the volumes of pods not in `keep` (uids) that an earlier agent left."""
        pods = self.base / "pods"
        gone: list[str] = []
        with contextlib.suppress(OSError):
            for entry in sorted(os.listdir(pods)):
                if entry not in keep:
                    self.teardown(entry)
                    gone.append(f"volumes of pod uid {entry}")
        return gone


class SubPathError(Exception):
    def __init__(self, detail: str, create: bool = False) -> None:
        super().__init__(detail)
        self.create = create

    def user_message(self, volume: str, container: str) -> str:
        """kubelet_pods.go `makeMounts`: no host detail goes back to the user."""
        if self.create:
            return (
                f'failed to create subPath directory for volumeMount "{volume}"'
                f' of container "{container}"'
            )
        return f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"'


def _fs_group(pod: Mapping[str, Any]) -> int | None:
    sc = (pod.get("spec") or {}).get("securityContext") or {}
    group = sc.get("fsGroup")
    return group if isinstance(group, int) and not isinstance(group, bool) else None


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(value: object) -> int:
    """A memory quantity (`64Mi`, `1G`, `1000`) in bytes, for a tmpfs size."""
    s = str(value).strip()
    for table in (_BINARY, _DECIMAL):
        for suffix, mult in table.items():
            if s.endswith(suffix):
                return int(float(s[: -len(suffix)]) * mult)
    return int(float(s))


# -------------------------------------------------------------- hostPath


def check_host_path(path: str, kind: str, volume: str) -> None:
    """host_path.go `checkType` (with its messages); the `...OrCreate` types never create
    through a dangling symlink (it would make a file wherever the link points)."""
    if not path.startswith("/"):
        raise MountError(volume, f"hostPath {path!r} is not absolute")
    exists = os.path.exists(path)
    if kind not in HOST_PATH_TYPES:
        raise MountError(volume, f"{kind} is an invalid volume type")
    if kind in ("DirectoryOrCreate", "FileOrCreate") and not exists:
        if os.path.lexists(path):
            raise MountError(
                volume,
                f"hostPath type check failed: {path} is a symbolic link to nothing:"
                " not created through it",
            )
        try:
            if kind == "DirectoryOrCreate":
                os.makedirs(path, 0o755)
            else:
                fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                os.close(fd)
        except OSError as e:
            raise MountError(volume, f"hostPath type check failed: {path}: {e.strerror}") from None
        return
    if not kind:
        return
    if not exists:
        raise MountError(volume, f"hostPath type check failed: {path} does not exist")
    mode = os.stat(path).st_mode
    checks = {
        "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"),
        "Directory": (stat.S_ISDIR, "is not a directory"),
        "FileOrCreate": (stat.S_ISREG, "is not a file"),
        "File": (stat.S_ISREG, "is not a file"),
        "Socket": (stat.S_ISSOCK, "is not a socket file"),
        "CharDevice": (stat.S_ISCHR, "is not a character device"),
        "BlockDevice": (stat.S_ISBLK, "is not a block device"),
    }
    test, message = checks[kind]
    if not test(mode):
        raise MountError(volume, f"hostPath type check failed: {path} {message}")


# -------------------------------------------------------------- subPath


def safe_open(base: str, rel: str) -> int:
    """subpath_linux.go `doSafeOpen`: open `base/rel` one component at a time with
    O_NOFOLLOW, so no symlink (even one swapped in after the check) is followed. Returns
    an O_PATH descriptor."""
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(base, flags | os.O_DIRECTORY)
    try:
        for part in [p for p in rel.split("/") if p]:
            if part in (".", ".."):
                raise SubPathError(f"invalid path component {part!r}")
            nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise SubPathError(f"{part!r} is a symlink")
        return fd
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SubPathError(f"symlink in path: {e}") from None
        raise SubPathError(str(e)) from None
    except SubPathError:
        os.close(fd)
        raise


def safe_make_dir(base: str, rel: str) -> None:
    """subpath_linux.go `doSafeMakeDir`: create the missing folders of `rel` below `base`
    with the volume's permissions, never following a symlink."""
    perm = stat.S_IMODE(os.stat(base).st_mode)
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
    fd = os.open(base, flags)
    try:
        for part in [p for p in rel.split("/") if p]:
            if part in (".", ".."):
                raise OSError(errno.EINVAL, f"invalid path component {part!r}")
            try:
                os.mkdir(part, perm, dir_fd=fd)
                os.chmod(f"/proc/self/fd/{fd}/{part}", perm)
            except FileExistsError:
                pass
            nxt = os.open(part, flags, dir_fd=fd)  # ELOOP/ENOTDIR on a symlink or a file
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)


# -------------------------------------------------------------- AtomicWriter


def _ts_dir_name() -> str:
    t = time.time()
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(t))
    return f"..{stamp}.{int((t % 1) * 1e9):09d}{os.getpid() % 1000:03d}"


def _read_dir_payload(ts_dir: str) -> dict[str, tuple[bytes, int]] | None:
    out: dict[str, tuple[bytes, int]] = {}
    try:
        for dirpath, _dirs, files in os.walk(ts_dir):
            for f in files:
                p = os.path.join(dirpath, f)
                st = os.lstat(p)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, ts_dir)] = (fh.read(), stat.S_IMODE(st.st_mode))
    except OSError:
        return None
    return out


def write_atomic(target_dir: str, payload: Payload, fs_group: int | None = None) -> bool:
    """atomic_writer.go `Write`: make `target_dir` hold exactly `payload`, switching the
    `..data` symlink by rename(2). Returns False when the content was already there.
    Payload paths must pass `validate_path` (checked again here)."""
    for p in payload:
        err = validate_path(p)
        if err is not None:
            raise OSError(errno.EINVAL, err)
    clean = {os.path.normpath(p): v for p, v in payload.items()}
    data_link = os.path.join(target_dir, DATA_DIR)
    old_ts = None
    with contextlib.suppress(OSError):
        old_ts = os.readlink(data_link)
        if "/" in old_ts or not old_ts.startswith(".."):
            old_ts = None
    want = {p: (fp.data, _final_mode(fp.mode, fs_group)) for p, fp in clean.items()}
    if old_ts is not None:
        current = _read_dir_payload(os.path.join(target_dir, old_ts))
        if current == want:
            return False
    ts_name = _ts_dir_name()
    ts_dir = os.path.join(target_dir, ts_name)
    os.mkdir(ts_dir, 0o755)
    os.chmod(ts_dir, 0o755)
    for rel, (data, mode) in sorted(want.items()):
        full = os.path.join(ts_dir, rel)
        parent = os.path.dirname(full)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fs_group is not None:
                os.fchown(fd, -1, fs_group)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    if fs_group is not None:
        for dirpath, dirs, _files in os.walk(ts_dir):
            for d in [dirpath, *(os.path.join(dirpath, x) for x in dirs)]:
                os.chown(d, -1, fs_group)
    tmp_link = os.path.join(target_dir, _DATA_TMP)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_link)
    os.symlink(ts_name, tmp_link)
    os.rename(tmp_link, data_link)
    # User-visible names: a symlink per top-level entry through ..data.
    tops = {p.split("/", 1)[0] for p in want}
    for top in sorted(tops):
        visible = os.path.join(target_dir, top)
        if not os.path.lexists(visible):
            os.symlink(os.path.join(DATA_DIR, top), visible)
    for entry in os.listdir(target_dir):
        if entry.startswith(".."):
            continue
        if entry not in tops:
            full = os.path.join(target_dir, entry)
            if os.path.islink(full):
                os.unlink(full)
    if old_ts is not None and old_ts != ts_name:
        shutil.rmtree(os.path.join(target_dir, old_ts), ignore_errors=True)
    return True


def _final_mode(mode: int, fs_group: int | None) -> int:
    """volume_linux.go `changeFilePermission` for a read-only volume: group-readable."""
    mode &= 0o7777
    return mode | 0o440 if fs_group is not None else mode

"""runtime/volumes.py: the volume manager on a real filesystem (mounts need root)."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from podkeeper.core.spec import Container
from podkeeper.core.volumes import FileProjection
from podkeeper.runtime.interface import ConfigError
from podkeeper.runtime.volumes import (
    DATA_DIR,
    MountError,
    VolumeManager,
    check_host_path,
    mounts_under,
    write_atomic,
)

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="bind and tmpfs mounts need root")


def fp(text: str, mode: int = 0o644) -> FileProjection:
    return FileProjection(text.encode(), mode)


def test_atomic_writer_layout_and_update(tmp_path: Path) -> None:
    d = tmp_path / "vol"
    d.mkdir()
    assert write_atomic(str(d), {"a": fp("1"), "dir/b": fp("2", 0o400)})
    first = os.readlink(d / DATA_DIR)
    assert first.startswith("..") and (d / first).is_dir()
    assert os.readlink(d / "a") == "..data/a" and os.readlink(d / "dir") == "..data/dir"
    assert (d / "dir" / "b").read_text() == "2"
    assert stat.S_IMODE(os.stat(d / "dir" / "b").st_mode) == 0o400
    # Same payload: nothing written.
    assert not write_atomic(str(d), {"a": fp("1"), "dir/b": fp("2", 0o400)})
    assert os.readlink(d / DATA_DIR) == first
    # A new payload: new timestamped folder, old one and the dropped key gone.
    assert write_atomic(str(d), {"a": fp("changed")})
    second = os.readlink(d / DATA_DIR)
    assert second != first and not (d / first).exists()
    assert (d / "a").read_text() == "changed"
    assert not os.path.lexists(d / "dir")
    assert sorted(os.listdir(d)) == sorted(["a", DATA_DIR, second])


def test_atomic_writer_refuses_escaping_paths(tmp_path: Path) -> None:
    for bad in ("../x", "/etc/passwd", "..data/x"):
        with pytest.raises(OSError):
            write_atomic(str(tmp_path), {bad: fp("x")})
    assert os.listdir(tmp_path) == []


class Objects:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.items.get((kind, ns, name))


def pod(volumes: list[dict[str, Any]], uid: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": uid, "labels": {"a": "1"}},
        "spec": {"volumes": volumes, "containers": [{"name": "c"}]},
    }


def manager(tmp_path: Path, objects: Objects) -> VolumeManager:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return VolumeManager(home, objects.get)


_res = (Container("c"),)


def test_configmap_missing_then_present_and_resynced(tmp_path: Path) -> None:
    objs = Objects()
    vm = manager(tmp_path, objs)
    warnings: list[tuple[str, str]] = []
    p = pod([{"name": "c", "configMap": {"name": "late"}}])
    state, failed = vm.setup(p, _res, lambda r, m: warnings.append((r, m)))
    assert [str(e) for e in failed] == [
        'MountVolume.SetUp failed for volume "c" : configmap "late" not found'
    ]
    objs.items[("ConfigMap", "default", "late")] = {"data": {"k": "v1"}}
    state, failed = vm.setup(p, _res, lambda r, m: None, state)
    assert failed == []
    path = Path(state.paths["c"])
    assert (path / "k").read_text() == "v1"
    # The pod's folders are owner-only on the host.
    assert stat.S_IMODE((vm.base / "pods" / "uid-1").stat().st_mode) == 0o700
    assert vm.resync(p, state, _res) == ([], [])
    objs.items[("ConfigMap", "default", "late")] = {"data": {"k": "v2"}}
    assert vm.resync(p, state, _res) == (["c"], [])
    assert (path / "k").read_text() == "v2"
    # Deleted: the content stays, the error is reported.
    del objs.items[("ConfigMap", "default", "late")]
    changed, errors = vm.resync(p, state, _res)
    assert changed == [] and [e.message for e in errors] == ['configmap "late" not found']
    assert (path / "k").read_text() == "v2"


def test_downward_api_follows_labels(tmp_path: Path) -> None:
    vm = manager(tmp_path, Objects())
    p = pod(
        [
            {
                "name": "i",
                "downwardAPI": {
                    "items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]
                },
            }
        ]
    )
    state, failed = vm.setup(p, _res, lambda r, m: None)
    assert failed == []
    assert (Path(state.paths["i"]) / "l").read_text() == 'a="1"'
    p["metadata"]["labels"]["b"] = "2"
    assert vm.resync(p, state, _res)[0] == ["i"]
    assert (Path(state.paths["i"]) / "l").read_text() == 'a="1"\nb="2"'


def test_host_path_type_checks(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    d = tmp_path / "dir"
    d.mkdir()
    check_host_path(str(d), "Directory", "v")
    check_host_path(str(f), "File", "v")
    check_host_path(str(f), "", "v")
    cases = [
        (str(f), "Directory", f"hostPath type check failed: {f} is not a directory"),
        (str(d), "File", f"hostPath type check failed: {d} is not a file"),
        (str(f), "Socket", f"hostPath type check failed: {f} is not a socket file"),
        (str(f), "CharDevice", f"hostPath type check failed: {f} is not a character device"),
        (str(f), "BlockDevice", f"hostPath type check failed: {f} is not a block device"),
        (
            str(tmp_path / "nope"),
            "Directory",
            f"hostPath type check failed: {tmp_path}/nope does not exist",
        ),
        (str(f), "Weird", "Weird is an invalid volume type"),
    ]
    for path, kind, message in cases:
        with pytest.raises(MountError) as err:
            check_host_path(path, kind, "v")
        assert err.value.message == message
    check_host_path(str(tmp_path / "new" / "deep"), "DirectoryOrCreate", "v")
    assert (tmp_path / "new" / "deep").is_dir()
    check_host_path(str(tmp_path / "newfile"), "FileOrCreate", "v")
    assert (tmp_path / "newfile").is_file()
    # Never created through a dangling symlink (it would land wherever the link points).
    target = tmp_path / "elsewhere"
    (tmp_path / "dangling").symlink_to(target)
    for kind in ("FileOrCreate", "DirectoryOrCreate"):
        with pytest.raises(MountError, match="symbolic link"):
            check_host_path(str(tmp_path / "dangling"), kind, "v")
    assert not target.exists()
    sock = tmp_path / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    try:
        check_host_path(str(sock), "Socket", "v")
    finally:
        s.close()


def test_pvc_folder_is_owner_only_and_survives_teardown(tmp_path: Path) -> None:
    vm = manager(tmp_path, Objects())
    p = pod([{"name": "d", "persistentVolumeClaim": {"claimName": "data-web-0"}}])
    state, failed = vm.setup(p, _res, lambda r, m: None)
    assert failed == []
    claim = vm.base / "pvc" / "default" / "data-web-0"
    assert state.paths["d"] == str(claim)
    assert stat.S_IMODE(claim.stat().st_mode) == 0o700
    (claim / "keep").write_text("x")
    assert vm.teardown("uid-1") == []
    assert (claim / "keep").read_text() == "x"
    assert not (vm.base / "pods" / "uid-1").exists()


@needs_root
def test_subpath_escape_is_refused_and_inside_links_work(tmp_path: Path) -> None:
    vm = manager(tmp_path, Objects())
    p = pod([{"name": "d", "emptyDir": {}}])
    state, failed = vm.setup(p, _res, lambda r, m: None)
    assert failed == []
    vol = Path(state.paths["d"])
    secret_dir = tmp_path / "host-secret"
    secret_dir.mkdir()
    (vol / "evil").symlink_to("/")
    (vol / "evil2").symlink_to(secret_dir)
    (vol / "real").mkdir()
    (vol / "real" / "f").write_text("ok")
    (vol / "good").symlink_to("real")
    try:
        for sub in ("evil", "evil2", "evil/etc", "real/../../.."):
            c = {"name": "c", "volumeMounts": [{"name": "d", "mountPath": "/x", "subPath": sub}]}
            with pytest.raises(ConfigError) as err:
                vm.container_mounts(state, c, {})
            assert err.value.message in (
                'failed to prepare subPath for volumeMount "d" of container "c"',
                "unable to provision SubPath `real/../../..`: must not contain '..'",
            )
        c = {"name": "c", "volumeMounts": [{"name": "d", "mountPath": "/x", "subPath": "good"}]}
        (m,) = vm.container_mounts(state, c, {})
        assert Path(m.host_path, "f").read_text() == "ok"
        assert m.host_path in mounts_under(str(vm.base))
        # A missing subPath folder is created (HP3), and subPathExpr expands from env.
        c = {
            "name": "c",
            "volumeMounts": [{"name": "d", "mountPath": "/y", "subPathExpr": "$(POD)/logs"}],
        }
        (m,) = vm.container_mounts(state, c, {"POD": "p1"})
        assert (vol / "p1" / "logs").is_dir()
        with pytest.raises(ConfigError, match="missing value for POD"):
            vm.container_mounts(state, c, {})
    finally:
        assert vm.teardown("uid-1") == []
    assert mounts_under(str(vm.base)) == []
    assert (secret_dir).exists() and os.path.isdir("/etc")


@needs_root
def test_memory_empty_dir_and_secret_are_tmpfs_and_unmounted(tmp_path: Path) -> None:
    objs = Objects()
    objs.items[("Secret", "default", "s")] = {"data": {"k": "dmFsdWU="}}
    vm = manager(tmp_path, objs)
    p = pod(
        [
            {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}},
            {"name": "s", "secret": {"secretName": "s"}},
        ]
    )
    state, failed = vm.setup(p, _res, lambda r, m: None)
    assert failed == []
    points = mounts_under(str(vm.base))
    assert state.paths["m"] in points and state.paths["s"] in points
    assert (Path(state.paths["s"]) / "k").read_text() == "value"
    assert stat.S_IMODE(os.stat(state.paths["m"]).st_mode) == 0o777
    assert vm.teardown("uid-1") == []
    assert mounts_under(str(vm.base)) == []
    assert not (vm.base / "pods" / "uid-1").exists()

"""runtime/hostsfile.py: the pod's hosts file on disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from podkeeper.runtime.hostsfile import ensure_hosts_file, read_node_hosts, remove_hosts_file


def test_written_in_place_with_owner_only_folders(tmp_path: Path) -> None:
    pod_dir = tmp_path / "home" / "volumes" / "pods" / "uid"
    path = ensure_hosts_file(pod_dir, "one\n")
    assert Path(path) == pod_dir / "etc-hosts"
    assert Path(path).read_text() == "one\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    for folder in (pod_dir, pod_dir.parent, pod_dir.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    inode = os.stat(path).st_ino
    ensure_hosts_file(pod_dir, "longer text\n")
    ensure_hosts_file(pod_dir, "two\n")
    # The same inode (a running container's bind mount sees the new text), no tail left.
    assert os.stat(path).st_ino == inode
    assert Path(path).read_text() == "two\n"
    remove_hosts_file(pod_dir)
    assert not pod_dir.exists()


def test_never_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    pod_dir = tmp_path / "pod"
    pod_dir.mkdir(mode=0o700)
    (pod_dir / "etc-hosts").symlink_to(target)
    with pytest.raises(OSError):
        ensure_hosts_file(pod_dir, "x\n")
    assert target.read_text() == "keep"


def test_remove_keeps_a_folder_with_other_content(tmp_path: Path) -> None:
    ensure_hosts_file(tmp_path / "pod", "x\n")
    (tmp_path / "pod" / "volumes").mkdir()
    remove_hosts_file(tmp_path / "pod")
    assert (tmp_path / "pod" / "volumes").is_dir()
    assert not (tmp_path / "pod" / "etc-hosts").exists()


def test_read_node_hosts(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    f.write_text("127.0.0.1\tlocalhost\n")
    assert read_node_hosts(str(f)) == "127.0.0.1\tlocalhost\n"
    assert read_node_hosts(str(tmp_path / "missing")) == ""

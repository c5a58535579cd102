"""Container log rotation (issue 13 item 11), as the kubelet's container log manager."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from podkeeper.runtime.logrotate import LogPolicy, rotate_if_needed, rotated_files


def test_under_the_limit_nothing_happens(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(b"x" * 99)
    assert not rotate_if_needed(str(log), LogPolicy(max_size=100, max_files=3))
    assert rotated_files(str(log)) == [] and log.stat().st_size == 99


def test_rotation_keeps_max_files_compresses_older_and_the_writer_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    policy = LogPolicy(max_size=100, max_files=3)
    # The container's own descriptor: O_APPEND, kept open across rotations.
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for i in range(4):
            os.write(fd, f"round {i} ".encode() * 20)
            assert rotate_if_needed(str(log), policy, now=1_000_000 + i * 10)
            assert log.stat().st_size == 0
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    rotated = rotated_files(str(log))
    # max_files counts the live file: two rotated ones are left, the older compressed.
    assert len(rotated) == 2, rotated
    assert rotated[0].endswith(".gz") and not rotated[1].endswith(".gz")
    with gzip.open(rotated[0]) as f:
        assert f.read().startswith(b"round 2 ")
    assert Path(rotated[1]).read_bytes().startswith(b"round 3 ")
    assert log.read_bytes() == b"after\n"
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in rotated)


def test_policy_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_CONTAINER_LOG_MAX_SIZE", "100Ki")
    monkeypatch.setenv("PODKEEPER_CONTAINER_LOG_MAX_FILES", "1")
    assert LogPolicy.from_env() == LogPolicy(max_size=100 * 1024, max_files=2)
    monkeypatch.setenv("PODKEEPER_CONTAINER_LOG_MAX_SIZE", "lots")
    assert LogPolicy.from_env().max_size == 10 * 1024 * 1024

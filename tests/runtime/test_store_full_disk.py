"""A full disk under the home (issue 13 item 9): the store keeps events and terminations
in memory, answers from memory, and saves everything once space returns, on a real
(tiny) filesystem."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from podkeeper.runtime.store import Store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _event(i: int, reason: str = "Started") -> dict[str, object]:
    return {
        "reason": reason,
        "message": f"event {i} " + "x" * 2000,
        "type": "Normal",
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": f"p{i % 3}"},
        "source": {"component": "kubelet"},
    }


def _fill(mnt: Path) -> Path:
    filler = mnt / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_full_disk_keeps_writes_in_memory_and_saves_them_when_space_returns(
    small_fs: Path,
) -> None:
    store = Store(small_fs / "state.db")
    changes: list[str | None] = []
    store.on_degraded = changes.append
    store.record_event(_event(0))
    store.flush()
    filler = _fill(small_fs)
    for i in range(1, 200):
        store.record_event(_event(i))
        store.record_event(_event(i))  # a repeat merges (count 2)
        store.flush()
    store.add_termination(
        {
            "namespace": "default",
            "pod": "p1",
            "container": "c",
            "instance_id": "i1",
            "exit_code": 137,
        }
    )
    store.flush()
    assert store.degraded is not None and "full" in store.degraded.lower()
    assert changes == [store.degraded]
    # Answered from memory meanwhile.
    events = store.list_events("default", None)
    assert len(events) == 200 and all(e["count"] == 2 for e in events[1:])
    assert len(store.list_events("default", "p1")) == len([i for i in range(200) if i % 3 == 1])
    assert [t["exit_code"] for t in store.terminations("default", "p1", None)] == [137]
    # Space returns: the next flush saves everything, without a restart.
    filler.unlink()
    store.flush()
    assert store.degraded is None and changes[-1] is None
    store.close()
    reopened = Store(small_fs / "state.db")
    assert len(reopened.list_events(None, None)) == 200
    assert all(e["count"] == 2 for e in reopened.list_events(None, None)[1:])
    assert [t["exit_code"] for t in reopened.terminations("default", "p1", "c")] == [137]

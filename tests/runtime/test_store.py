"""The state store: event merging, history across reopen, instance ordering, schema version."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from podkeeper.runtime.store import (
    MAX_LOG_LINES,
    SCHEMA_VERSION,
    InstanceRecord,
    Store,
    StoreError,
)

pytestmark = pytest.mark.timeout(10)


def _event(
    message: str = "Liveness probe failed: HTTP probe failed with statuscode: 500",
    *,
    first: str = "2024-05-01T10:00:00Z",
    last: str | None = None,
    pod: str = "web",
    field: str = "spec.containers{app}",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.17a", "namespace": "default"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": pod,
            "uid": "u1",
            "fieldPath": field,
        },
        "reason": "Unhealthy",
        "message": message,
        "type": "Warning",
        "source": {"component": "kubelet"},
        "firstTimestamp": first,
        "lastTimestamp": last or first,
        "count": 1,
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "state.db")
    yield s  # type: ignore[misc]
    s.close()


def test_event_repeat_merges_count_and_keeps_first_timestamp(store: Store) -> None:
    ev, created = store.record_event(_event(first="2024-05-01T10:00:00Z"))
    assert created and ev["count"] == 1
    ev, created = store.record_event(_event(first="2024-05-01T10:00:03Z"))
    assert not created
    ev, _ = store.record_event(_event(first="2024-05-01T10:00:06Z"))
    assert ev["count"] == 3
    assert ev["firstTimestamp"] == "2024-05-01T10:00:00Z"
    assert ev["lastTimestamp"] == "2024-05-01T10:00:06Z"
    assert ev["metadata"]["name"] == "web.17a"
    [stored] = store.list_events("default", "web")
    assert stored == ev


@pytest.mark.parametrize(
    "change",
    [
        {"message": "Readiness probe failed: x"},
        {"reason": "Killing"},
        {"type": "Normal"},
        {"source": {"component": "other"}},
        {
            "involvedObject": {
                "kind": "Pod",
                "namespace": "default",
                "name": "web",
                "uid": "u2",
                "fieldPath": "spec.containers{app}",
            }
        },
        {
            "involvedObject": {
                "kind": "Pod",
                "namespace": "default",
                "name": "web",
                "uid": "u1",
                "fieldPath": "spec.containers{side}",
            }
        },
    ],
)
def test_event_differing_in_any_key_part_is_a_new_event(
    store: Store, change: dict[str, Any]
) -> None:
    store.record_event(_event())
    _, created = store.record_event({**_event(), **change})
    assert created
    assert len(store.list_events(None, None)) == 2


def test_events_oldest_first_and_filtered(store: Store) -> None:
    # Sub-second times must sort by time, not by text ("00.5Z" < "00Z" as text).
    store.record_event(_event("b", first="2024-05-01T10:00:01Z", pod="a"))
    store.record_event(_event("a", first="2024-05-01T10:00:00.500Z", pod="b"))
    store.record_event(_event("c", first="2024-05-01T10:00:00Z", pod="a"))
    assert [e["message"] for e in store.list_events(None, None)] == ["c", "a", "b"]
    assert [e["message"] for e in store.list_events("default", "a")] == ["c", "b"]
    assert store.list_events("other", None) == []


def test_prune_events_keeps_newest(store: Store) -> None:
    for i in range(5):
        store.record_event(_event(str(i), first=f"2024-05-01T10:00:0{i}Z"))
    assert store.prune_events(2) == 3
    assert [e["message"] for e in store.list_events(None, None)] == ["3", "4"]


def test_objects_roundtrip_and_list_order(store: Store) -> None:
    for ns, name in [("b", "x"), ("a", "y"), ("a", "x")]:
        store.put_object({"kind": "Pod", "metadata": {"name": name, "namespace": ns}})
    store.put_object({"kind": "Service", "metadata": {"name": "s"}})
    assert [
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list_objects("Pod", None)
    ] == [("a", "x"), ("a", "y"), ("b", "x")]
    assert [o["metadata"]["name"] for o in store.list_objects("Pod", "a")] == ["x", "y"]
    assert store.get_object("Service", "default", "s") is not None
    store.put_object({"kind": "Pod", "metadata": {"name": "x", "namespace": "a"}, "status": {}})
    assert store.get_object("Pod", "a", "x") == {
        "kind": "Pod",
        "metadata": {"name": "x", "namespace": "a"},
        "status": {},
    }
    assert store.delete_object("Pod", "a", "x")
    assert not store.delete_object("Pod", "a", "x")
    assert store.get_object("Pod", "a", "x") is None
    with pytest.raises(StoreError):
        store.put_object({"kind": "Pod", "metadata": {}})


def test_instances_newest_first(store: Store) -> None:
    for n, started in [(0, 100.0), (2, 300.0), (1, 200.0)]:
        store.add_instance(
            InstanceRecord("default", "web", "u1", "app", f"i{n}", n, f"/logs/i{n}.log", started)
        )
    store.add_instance(InstanceRecord("default", "web", "u1", "side", "s0", 0, "/l", 150.0))
    assert [i.instance_id for i in store.instances("default", "web", "app")] == ["i2", "i1", "i0"]
    assert store.instances("default", "web", "none") == []


def _termination(n: int, container: str = "app", **extra: Any) -> dict[str, Any]:
    return {
        "namespace": "default",
        "pod": "web",
        "pod_uid": "u1",
        "container": container,
        "instance_id": f"i{n}",
        "time": 1000.0 + n,
        "exit_code": 137,
        "signal": 9,
        "reason": "OOMKilled",
        "message": "",
        "who": "kernel OOM killer",
        "evidence": {"oom_kills": 1},
        "memory_limit": 64 << 20,
        "memory_peak": 64 << 20,
        "run_seconds": 3.5,
        "last_log_lines": [f"line {k}" for k in range(80)],
        **extra,
    }


def test_terminations_survive_reopen_oldest_first(tmp_path: Path) -> None:
    s = Store(tmp_path / "state.db")
    s.add_termination(_termination(2))
    s.add_termination(_termination(1))
    s.add_termination(_termination(3, container="side"))
    # Not flushed explicitly: close() must flush.
    s.close()
    s = Store(tmp_path / "state.db")
    try:
        got = s.terminations("default", "web", None)
        assert [t["instance_id"] for t in got] == ["i1", "i2", "i3"]
        assert [t["instance_id"] for t in s.terminations("default", "web", "app")] == ["i1", "i2"]
        first = got[0]
        assert first["evidence"] == {"oom_kills": 1}
        assert len(first["last_log_lines"]) == MAX_LOG_LINES
        assert first["last_log_lines"][-1] == "line 79"
        # The same instance ending twice is two records: never overwritten.
        s.add_termination(_termination(1, exit_code=0))
        assert len(s.terminations("default", "web", "app")) == 3
    finally:
        s.close()


def test_termination_requires_identity(store: Store) -> None:
    with pytest.raises(StoreError, match="instance_id"):
        store.add_termination({"namespace": "d", "pod": "p", "container": "c"})
    t = store.add_termination(
        {"ns": "d", "pod": "p", "container": "c", "instance_id": "i", "last_log_lines": "a\nb\n"}
    )
    assert t["namespace"] == "d" and t["last_log_lines"] == ["a", "b"]


def test_batched_writes_visible_before_flush_and_durable_after(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    s = Store(db)
    try:
        s.record_event(_event())
        assert s.pending == 1
        assert len(s.list_events(None, None)) == 1  # same connection sees it
        other = sqlite3.connect(db)
        assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        s.flush()
        assert s.pending == 0
        assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        other.close()
    finally:
        s.close()


async def test_flush_periodically_commits(tmp_path: Path) -> None:
    import asyncio

    db = tmp_path / "state.db"
    s = Store(db)
    task = asyncio.create_task(s.flush_periodically(0.01))
    try:
        s.record_event(_event())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if s.pending == 0:
                break
        assert s.pending == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        s.close()


def test_unbatched_commits_each_write(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    s = Store(db, batch=False)
    try:
        s.record_event(_event())
        other = sqlite3.connect(db)
        assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        other.close()
    finally:
        s.close()


def test_schema_version_and_newer_schema_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    s = Store(db)
    assert s.schema_version == SCHEMA_VERSION
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer podkeeper"):
        Store(db)


# -- a damaged database (issue 13 item 10) ---------------------------------------------


def _filled(path: Path, pods: int = 300) -> None:
    s = Store(path, batch=False)
    for i in range(pods):
        s.put_object({"kind": "Pod", "metadata": {"name": f"p{i:03d}"}, "spec": {"x": "y" * 200}})
    for i in range(100):
        s.record_event(_event(f"message {i}"))
    s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()


def test_sound_database_opens_as_is(tmp_path: Path) -> None:
    from podkeeper.runtime.store import open_store

    _filled(tmp_path / "state.db", 5)
    store, notes = open_store(tmp_path / "state.db")
    assert notes == []
    assert len(store.list_objects("Pod", None)) == 5
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []


def test_garbage_header_is_rebuilt_and_every_row_recovered(tmp_path: Path) -> None:
    from podkeeper.runtime.store import open_store

    db = tmp_path / "state.db"
    _filled(db)
    with open(db, "r+b") as f:
        f.write(b"\xff" * 100)
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(db).execute("SELECT * FROM objects").fetchall()
    store, notes = open_store(db, now=0.0)
    assert "was damaged (file is not a database)" in notes[0]
    assert "moved aside to state.db.corrupt-19700101T000000Z" in notes[0]
    assert "recovered 300 objects, 100 events" in notes[0]
    assert len(store.list_objects("Pod", None)) == 300
    assert len(store.list_events(None, None)) == 100
    store.put_object({"kind": "Pod", "metadata": {"name": "new"}})  # writable
    store.close()
    assert (tmp_path / "state.db.corrupt-19700101T000000Z").exists()
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"


def test_damaged_page_keeps_rows_on_both_sides_and_says_rows_were_lost(tmp_path: Path) -> None:
    from podkeeper.runtime.store import check_database, open_store

    db = tmp_path / "state.db"
    _filled(db)
    size = db.stat().st_size
    with open(db, "r+b") as f:  # a leaf page in the middle of the objects table
        f.seek(4096 * 30)
        f.write(os.urandom(4096))
    assert check_database(db) is not None
    store, notes = open_store(db)
    pods = store.list_objects("Pod", None)
    assert 200 < len(pods) < 300, len(pods)
    names = sorted(p["metadata"]["name"] for p in pods)
    assert names[0] == "p000" and names[-1] == "p299"  # both ends survive
    assert "objects: a damaged page stopped the scan; rows on it are lost" in notes[0]
    assert "objects recovered: Pod default/p000" in notes[1]
    assert size > 0
    store.close()
    assert check_database(db) is None

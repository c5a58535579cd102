"""The agent's state database: objects, events, container instances and terminations.

Why it exists: `describe`, `logs --previous`, `events` and `explain` must
answer after the agent restarts (interface.md), so everything they read is
persisted here, in one SQLite file under `PODKEEPER_HOME`.

Threading: one `sqlite3` connection, owned by the agent's event-loop thread
(sqlite3's `check_same_thread` enforces it). WAL journal with
`synchronous=NORMAL`: a commit is an append to the WAL without fsync, durable
against a crash of the agent, not of the machine.

Batching: writes are cheap because they only enter an open transaction; they
become durable at `flush()`, which the agent calls at most every
`FLUSH_INTERVAL` seconds (`flush_periodically`). Reads on the same connection
see unflushed writes. A crash loses at most one interval of writes. With
`batch=False` every write commits at once (tests, tools).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

#: The schema this code writes (`PRAGMA user_version`).
SCHEMA_VERSION = 1
#: Seconds between commits of batched writes (the agent loop's cadence).
FLUSH_INTERVAL = 0.05
#: At most this many trailing log lines are kept with a termination.
MAX_LOG_LINES = 50

# Each entry migrates from version (key - 1) to version key.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE objects (
        kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (kind, namespace, name)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        correlation_key TEXT NOT NULL UNIQUE,
        namespace TEXT NOT NULL,
        involved_name TEXT NOT NULL,
        first_time REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events (first_time, id);
    CREATE INDEX events_by_object ON events (namespace, involved_name);
    CREATE TABLE instances (
        instance_id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL, pod TEXT NOT NULL, pod_uid TEXT NOT NULL,
        container TEXT NOT NULL,
        restart_count INTEGER NOT NULL,
        log_path TEXT NOT NULL,
        started_at REAL NOT NULL
    );
    CREATE INDEX instances_by_container ON instances (namespace, pod, container, started_at);
    CREATE TABLE terminations (
        id INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL, pod TEXT NOT NULL, pod_uid TEXT NOT NULL,
        container TEXT NOT NULL, instance_id TEXT NOT NULL,
        time REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX terminations_by_pod ON terminations (namespace, pod, time, id);
    """,
}


class StoreError(Exception):
    """The database cannot be used (newer schema, bad record)."""


@dataclass(frozen=True)
class InstanceRecord:
    """One started container instance. `started_at` is wall-clock epoch seconds."""

    namespace: str
    pod: str
    pod_uid: str
    container: str
    instance_id: str
    restart_count: int
    log_path: str
    started_at: float


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _loads(text: str) -> Obj:
    value: Obj = json.loads(text)
    return value


def rfc3339(epoch: float) -> str:
    """Epoch seconds → RFC 3339 UTC with second precision, as Kubernetes writes event times."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(ts: str) -> float:
    """RFC 3339 → epoch seconds; sorting on this avoids `00.5Z` < `00Z` in text order."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def event_correlation_key(ev: Mapping[str, Any]) -> str:
    """The key under which repeats of an event merge.

    client-go `tools/record/events_cache.go` `getEventKey`: source component
    and host, involvedObject kind/namespace/name/uid/apiVersion/fieldPath,
    type, reason, message. (Host and apiVersion are constant for one agent.)
    """
    obj = ev.get("involvedObject") or {}
    src = ev.get("source") or {}
    return _dumps(
        [
            obj.get("kind", ""),
            obj.get("namespace", ""),
            obj.get("name", ""),
            obj.get("uid", ""),
            obj.get("fieldPath", ""),
            ev.get("reason", ""),
            ev.get("message", ""),
            ev.get("type", ""),
            src.get("component", ""),
        ]
    )


class Store:
    """The SQLite state database at `path` (created, or migrated, on open)."""

    def __init__(self, path: str | Path, *, batch: bool = True) -> None:
        self.path = Path(path)
        self._batch = batch
        self._pending = 0
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=2000")
        self._migrate()

    # -- lifecycle -------------------------------------------------------

    def _migrate(self) -> None:
        version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise StoreError(
                f"{self.path} was written by a newer podkeeper "
                f"(schema {version}, this one knows {SCHEMA_VERSION})"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # executescript commits first; DDL and the version bump commit together.
            self._conn.executescript(
                f"BEGIN; {_MIGRATIONS[target]}; PRAGMA user_version={target}; COMMIT;"
            )

    @property
    def schema_version(self) -> int:
        """The database's `user_version`."""
        version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    @property
    def pending(self) -> int:
        """Writes not yet committed (0 when `batch=False`)."""
        return self._pending

    def flush(self) -> None:
        """Commit every pending write. Cheap when there is none."""
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")
        self._pending = 0

    async def flush_periodically(self, interval: float = FLUSH_INTERVAL) -> None:
        """Flush every `interval` seconds until cancelled (run it as a task of the agent loop)."""
        try:
            while True:
                await asyncio.sleep(interval)
                if self._pending:
                    self.flush()
        finally:
            self.flush()

    def close(self) -> None:
        """Flush and close; the store is unusable afterwards."""
        self.flush()
        self._conn.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")
        cur = self._conn.execute(sql, params)
        if self._batch:
            self._pending += 1
        else:
            self._conn.execute("COMMIT")
        return cur

    # -- objects ---------------------------------------------------------

    def put_object(self, obj: Mapping[str, Any]) -> None:
        """Store (replace) a Kubernetes object under its kind, namespace and name.

        The namespace defaults to `default`, as the API server's does."""
        meta = obj.get("metadata") or {}
        kind, name = obj.get("kind"), meta.get("name")
        if not kind or not name:
            raise StoreError("an object needs kind and metadata.name")
        namespace = meta.get("namespace") or "default"
        self._write(
            "INSERT OR REPLACE INTO objects (kind, namespace, name, doc) VALUES (?, ?, ?, ?)",
            (kind, namespace, name, _dumps(obj)),
        )

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The stored object, or None."""
        row = self._conn.execute(
            "SELECT doc FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
            (kind, namespace, name),
        ).fetchone()
        return _loads(row[0]) if row else None

    def list_objects(self, kind: str, namespace: str | None) -> list[Obj]:
        """Objects of `kind` in `namespace` (None: all), ordered by namespace then name."""
        if namespace is None:
            rows = self._conn.execute(
                "SELECT doc FROM objects WHERE kind = ? ORDER BY namespace, name", (kind,)
            )
        else:
            rows = self._conn.execute(
                "SELECT doc FROM objects WHERE kind = ? AND namespace = ? ORDER BY name",
                (kind, namespace),
            )
        return [_loads(r[0]) for r in rows]

    def delete_object(self, kind: str, namespace: str, name: str) -> bool:
        """Forget an object; False when there was none."""
        cur = self._write(
            "DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
            (kind, namespace, name),
        )
        return cur.rowcount > 0

    # -- events ----------------------------------------------------------

    def record_event(self, ev: Mapping[str, Any]) -> tuple[Obj, bool]:
        """Record one occurrence of a `v1 Event`; returns (the stored event, created).

        A repeat (same `event_correlation_key`) merges as the kubelet's
        recorder does (client-go `events_cache.go` `eventObserve`): `count`
        grows by the occurrence's count (default 1), `lastTimestamp` becomes
        the occurrence's, `firstTimestamp` and `metadata` stay the first's.
        A missing `firstTimestamp` means now; a missing `lastTimestamp`
        means the `firstTimestamp`.
        """
        key = event_correlation_key(ev)
        first = ev.get("firstTimestamp") or ev.get("lastTimestamp") or rfc3339(_now())
        last = ev.get("lastTimestamp") or first
        count = int(ev.get("count") or 1)
        row = self._conn.execute(
            "SELECT id, doc FROM events WHERE correlation_key = ?", (key,)
        ).fetchone()
        if row is not None:
            stored = _loads(row[1])
            stored["count"] = int(stored.get("count") or 1) + count
            stored["lastTimestamp"] = max(last, stored.get("lastTimestamp") or last, key=_epoch)
            self._write("UPDATE events SET doc = ? WHERE id = ?", (_dumps(stored), row[0]))
            return stored, False
        stored = dict(ev)
        stored.update(firstTimestamp=first, lastTimestamp=last, count=count)
        obj = ev.get("involvedObject") or {}
        self._write(
            "INSERT INTO events (correlation_key, namespace, involved_name, first_time, doc)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                key,
                obj.get("namespace") or (ev.get("metadata") or {}).get("namespace") or "default",
                obj.get("name", ""),
                _epoch(first),
                _dumps(stored),
            ),
        )
        return stored, True

    def list_events(self, namespace: str | None, involved_name: str | None) -> list[Obj]:
        """Events, oldest first by `firstTimestamp`, filtered by namespace and involved object."""
        where, params = [], []
        if namespace is not None:
            where.append("namespace = ?")
            params.append(namespace)
        if involved_name is not None:
            where.append("involved_name = ?")
            params.append(involved_name)
        sql = "SELECT doc FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY first_time, id"
        return [_loads(r[0]) for r in self._conn.execute(sql, params)]

    def prune_events(self, keep: int) -> int:
        """Drop all but the `keep` most recently first-seen events; returns how many went.

        The API server keeps events one hour (`--event-ttl`); a long-lived
        agent bounds them by count instead."""
        cur = self._write(
            "DELETE FROM events WHERE id NOT IN"
            " (SELECT id FROM events ORDER BY first_time DESC, id DESC LIMIT ?)",
            (keep,),
        )
        return cur.rowcount

    # -- instances -------------------------------------------------------

    def add_instance(self, rec: InstanceRecord) -> None:
        """Record a started container instance (replaces one with the same instance_id)."""
        self._write(
            "INSERT OR REPLACE INTO instances (instance_id, namespace, pod, pod_uid, container,"
            " restart_count, log_path, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rec.instance_id,
                rec.namespace,
                rec.pod,
                rec.pod_uid,
                rec.container,
                rec.restart_count,
                rec.log_path,
                rec.started_at,
            ),
        )

    def instances(self, namespace: str, pod: str, container: str) -> list[InstanceRecord]:
        """The container's instances, newest first (index 0 current, 1 `--previous`)."""
        rows = self._conn.execute(
            "SELECT namespace, pod, pod_uid, container, instance_id, restart_count, log_path,"
            " started_at FROM instances WHERE namespace = ? AND pod = ? AND container = ?"
            " ORDER BY started_at DESC, rowid DESC",
            (namespace, pod, container),
        )
        return [InstanceRecord(*r) for r in rows]

    # -- terminations ----------------------------------------------------

    def add_termination(self, t: Mapping[str, Any]) -> Obj:
        """Append the record of one ended instance (never overwritten); returns it as stored.

        Keys: `namespace`, `pod`, `pod_uid`, `container`, `instance_id`
        (required but pod_uid), `time` (finish, epoch seconds), `exit_code`,
        `signal`, `reason`, `message`, `who` (free text), `evidence` (a JSON
        object), `memory_limit` / `memory_peak` (bytes), `run_seconds`,
        `last_log_lines` (a list or text; only the last `MAX_LOG_LINES` kept).
        Unknown keys are kept as given.
        """
        doc = dict(t)
        if "namespace" not in doc and "ns" in doc:
            doc["namespace"] = doc.pop("ns")
        missing = [k for k in ("namespace", "pod", "container", "instance_id") if not doc.get(k)]
        if missing:
            raise StoreError(f"a termination needs {', '.join(missing)}")
        lines = doc.get("last_log_lines")
        if isinstance(lines, str):
            lines = lines.splitlines()
        if lines is not None:
            doc["last_log_lines"] = list(lines)[-MAX_LOG_LINES:]
        doc.setdefault("time", _now())
        self._write(
            "INSERT INTO terminations (namespace, pod, pod_uid, container, instance_id, time, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                doc["namespace"],
                doc["pod"],
                doc.get("pod_uid") or "",
                doc["container"],
                doc["instance_id"],
                float(doc["time"]),
                _dumps(doc),
            ),
        )
        return doc

    def terminations(self, namespace: str, pod: str, container: str | None) -> list[Obj]:
        """The pod's (or one container's) termination records, oldest first."""
        if container is None:
            rows = self._conn.execute(
                "SELECT doc FROM terminations WHERE namespace = ? AND pod = ? ORDER BY time, id",
                (namespace, pod),
            )
        else:
            rows = self._conn.execute(
                "SELECT doc FROM terminations WHERE namespace = ? AND pod = ? AND container = ?"
                " ORDER BY time, id",
                (namespace, pod, container),
            )
        return [_loads(r[0]) for r in rows]


def _now() -> float:
    return datetime.now(UTC).timestamp()

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
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

#: The schema this code writes (`PRAGMA user_version`).
SCHEMA_VERSION = 1
#: Seconds between commits of batched writes (the agent loop's cadence).
FLUSH_INTERVAL = 0.05
log = logging.getLogger(__name__)

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
        # A full disk (issue 13 item 9): writes that cannot be committed wait here, in
        # order, and are replayed when space returns; until then the events and
        # terminations they carry are answered from memory.
        self._txn: list[tuple[str, tuple[Any, ...]]] = []
        self._backlog: list[tuple[str, tuple[Any, ...]]] = []
        self._mem_events: dict[str, Obj] = {}
        self._mem_terminations: list[Obj] = []
        self.dropped = 0
        #: Why writes are not reaching the disk, or None when they are.
        self.degraded: str | None = None
        #: Called with the reason when writes start failing, with None when they recover.
        self.on_degraded: Callable[[str | None], None] | None = None
        _make_private(self.path)
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
        """Commit every pending write. Cheap when there is none. When the disk was full,
        first replay what waited (and say the store recovered once it went through)."""
        if self.degraded is not None:
            self._replay()
            return
        if self._conn.in_transaction:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self._degrade(e)
                return
        self._txn.clear()
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

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        """Execute one write; returns its row count (0 while the disk is full)."""
        if self.degraded is not None:
            self._queue(sql, params)
            return 0
        try:
            if not self._conn.in_transaction:
                self._conn.execute("BEGIN")
            cur = self._conn.execute(sql, params)
            self._txn.append((sql, params))
            if self._batch:
                self._pending += 1
            else:
                self._conn.execute("COMMIT")
                self._txn.clear()
        except sqlite3.OperationalError as e:
            if (sql, params) not in self._txn[-1:]:
                self._txn.append((sql, params))
            self._degrade(e)
            return 0
        return cur.rowcount

    def _degrade(self, err: sqlite3.OperationalError) -> None:
        """A write or commit failed (disk full, I/O error): roll back, keep every write of
        the transaction for later, and answer from memory until space returns."""
        if not _disk_error(err):
            raise err
        with contextlib.suppress(sqlite3.Error):
            self._conn.rollback()
        for sql, params in self._txn:  # rolled back: what they said must still be answered
            self._remember(sql, params)
        self._backlog.extend(self._txn)
        self._txn.clear()
        self._pending = 0
        self._trim()
        if self.degraded is None:
            self.degraded = str(err)
            log.error("state database %s: %s; keeping writes in memory", self.path, err)
            if self.on_degraded is not None:
                self.on_degraded(self.degraded)

    def _remember(self, sql: str, params: tuple[Any, ...]) -> None:
        """Put a rolled-back event or termination write into the memory overlay."""
        if sql.startswith("INSERT INTO events"):
            self._mem_events[str(params[0])] = _loads(params[4])
        elif sql.startswith("UPDATE events"):
            self._mem_events[str(params[1])] = _loads(params[0])
        elif sql.startswith("INSERT INTO terminations"):
            self._mem_terminations.append(_loads(params[6]))

    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        self._backlog.append((sql, params))
        self._trim()

    def _trim(self) -> None:
        over = len(self._backlog) - MAX_BACKLOG
        if over > 0:
            del self._backlog[:over]
            self.dropped += over

    def _replay(self) -> None:
        try:
            self._conn.execute("BEGIN")
            for sql, params in self._backlog:
                self._conn.execute(sql, params)
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            with contextlib.suppress(sqlite3.Error):
                self._conn.rollback()
            if not _disk_error(e):
                raise
            return  # still full: try again at the next flush
        written = len(self._backlog)
        self._backlog.clear()
        self._mem_events.clear()
        self._mem_terminations.clear()
        self._pending = 0
        log.warning(
            "state database %s writable again: %d waiting writes saved%s",
            self.path,
            written,
            f", {self.dropped} dropped" if self.dropped else "",
        )
        self.degraded = None
        if self.on_degraded is not None:
            self.on_degraded(None)

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
        return (
            self._write(
                "DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                (kind, namespace, name),
            )
            > 0
        )

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
        known = self._mem_events.get(key) or (_loads(row[1]) if row is not None else None)
        if known is not None:
            stored = known
            stored["count"] = int(stored.get("count") or 1) + count
            stored["lastTimestamp"] = max(last, stored.get("lastTimestamp") or last, key=_epoch)
            self._write(
                "UPDATE events SET doc = ? WHERE correlation_key = ?", (_dumps(stored), key)
            )
            if self.degraded is not None:
                self._mem_events[key] = stored
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
        if self.degraded is not None:
            self._mem_events[key] = stored
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
        found = [_loads(r[0]) for r in self._conn.execute(sql, params)]
        if not self._mem_events:
            return found
        # Recorded while the disk was full: the newer state of a stored one, or new.
        mem = {
            k: e
            for k, e in self._mem_events.items()
            if (namespace is None or _event_namespace(e) == namespace)
            and (
                involved_name is None
                or (e.get("involvedObject") or {}).get("name") == involved_name
            )
        }
        out = [mem.pop(event_correlation_key(e), e) for e in found]
        out += sorted(mem.values(), key=lambda e: _epoch(e["firstTimestamp"]))
        return out

    def prune_events(self, keep: int) -> int:
        """Drop all but the `keep` most recently first-seen events; returns how many went.

        The API server keeps events one hour (`--event-ttl`); a long-lived
        agent bounds them by count instead."""
        return self._write(
            "DELETE FROM events WHERE id NOT IN"
            " (SELECT id FROM events ORDER BY first_time DESC, id DESC LIMIT ?)",
            (keep,),
        )

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
        if self.degraded is not None:
            self._mem_terminations.append(doc)
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
        found = [_loads(r[0]) for r in rows]
        found += [
            t
            for t in self._mem_terminations
            if t["namespace"] == namespace
            and t["pod"] == pod
            and (container is None or t["container"] == container)
        ]
        return found


#: Writes kept in memory while the disk is full (then the oldest go, counted).
MAX_BACKLOG = 100_000


def _disk_error(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "full" in text or "disk i/o" in text or "no space" in text


def _event_namespace(ev: Mapping[str, Any]) -> str:
    obj = ev.get("involvedObject") or {}
    return str(obj.get("namespace") or (ev.get("metadata") or {}).get("namespace") or "default")


# -- a damaged database (issue 13 item 10) -------------------------------------

#: Each table's columns, in the order `_recover_rows` copies them, and a key that
#: orders a scan (a scan from each end gets past one damaged page).
_TABLES: dict[str, tuple[str, str]] = {
    "objects": ("kind, namespace, name, doc", "kind, namespace, name"),
    "events": ("id, correlation_key, namespace, involved_name, first_time, doc", "id"),
    "instances": (
        "instance_id, namespace, pod, pod_uid, container, restart_count, log_path, started_at",
        "instance_id",
    ),
    "terminations": ("id, namespace, pod, pod_uid, container, instance_id, time, doc", "id"),
}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_database(path: Path) -> str | None:
    """None when the database at `path` is absent, empty or passes SQLite's
    `PRAGMA quick_check`; else what is wrong (the first problem SQLite names)."""
    try:
        if path.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.OperationalError:
        return None  # cannot open (locked, no access): not damage; the Store says why
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError:
        return None
    except sqlite3.DatabaseError as e:  # "file is not a database", "... malformed"
        return str(e)
    finally:
        conn.close()
    # quick_check answers lines such as "*** in database main ***\nPage 6: ..."
    problems = [
        line.strip()
        for r in rows
        if r and r[0] != "ok"
        for line in str(r[0]).splitlines()
        if line.strip() and not line.startswith("***")
    ]
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        return problems[0] + more
    return None


def _scan(
    conn: sqlite3.Connection, table: str
) -> tuple[dict[tuple[Any, ...], tuple[Any, ...]], bool]:
    """The readable rows of `table` (key → row) and whether every row was read.

    Scans in key order from the first row and, when a damaged page stops that,
    from the last row backwards, so rows on both sides of the damage are kept."""
    cols, key = _TABLES[table]
    nkey = len(key.split(","))
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    complete = True
    for order in ("ASC", "DESC"):
        keys = ", ".join(f"{k.strip()} {order}" for k in key.split(","))
        try:
            for row in conn.execute(f"SELECT {cols} FROM {table} ORDER BY {keys}"):
                rows[tuple(row[:nkey])] = tuple(row)
        except sqlite3.Error:
            complete = False
            continue
        if order == "ASC":
            break
    return rows, complete


def _header_repaired_copy(src: Path, dst: Path) -> bool:
    """Copy `src` to `dst` with a rebuilt 100-byte SQLite header when the page size can
    be guessed from the file size; True if `dst` then opens as a database.

    A garbage header alone ("file is not a database") otherwise loses every row
    of an intact file; the header's other fields are rebuilt with safe values
    (no free list, UTF-8, this schema's user_version)."""
    data = bytearray(src.read_bytes())
    if len(data) < 512:
        return False
    wal = Path(f"{src}-wal")
    if wal.exists():
        _write_private_bytes(Path(f"{dst}-wal"), wal.read_bytes())
    journal = 2 if wal.exists() else 1  # WAL (its file goes along) or rollback
    v = sqlite3.sqlite_version_info
    version = v[0] * 1_000_000 + v[1] * 1_000 + v[2]
    for page in (4096, 8192, 16384, 32768, 65536, 1024, 2048, 512):  # SQLite's default first
        if len(data) % page:
            continue
        head = bytearray(100)
        head[0:16] = _SQLITE_MAGIC
        head[16:18] = (page if page < 65536 else 1).to_bytes(2, "big")
        head[18], head[19], head[20] = journal, journal, 0  # read/write versions, no reserve
        head[21], head[22], head[23] = 64, 32, 32
        head[24:28] = (1).to_bytes(4, "big")
        head[28:32] = (len(data) // page).to_bytes(4, "big")
        head[40:44] = (1).to_bytes(4, "big")  # schema cookie
        head[44:48] = (4).to_bytes(4, "big")  # schema format
        head[56:60] = (1).to_bytes(4, "big")  # UTF-8
        head[60:64] = SCHEMA_VERSION.to_bytes(4, "big")
        head[92:96] = (1).to_bytes(4, "big")
        head[96:100] = version.to_bytes(4, "big")
        data[0:100] = head
        _write_private_bytes(dst, bytes(data))
        try:
            conn = sqlite3.connect(f"file:{dst}?mode=ro", uri=True)
            try:
                conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
                conn.execute("SELECT count(*) FROM objects").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            continue
        return True
    return False


def _recover_rows(src: Path, tmp: Path) -> tuple[dict[str, list[tuple[Any, ...]]], list[str]]:
    """Every readable row of each table of the damaged database `src`, and per table a
    note on what could not be read."""
    notes: list[str] = []
    found: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _TABLES}
    readable = src
    if src.read_bytes()[:16] != _SQLITE_MAGIC and _header_repaired_copy(src, tmp):
        notes.append("its header was unreadable and was rebuilt to read the rest")
        readable = tmp
    try:
        conn = sqlite3.connect(f"file:{readable}?mode=ro", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as e:
        return found, [f"nothing could be read ({e})"]
    try:
        for table in _TABLES:
            try:
                rows, complete = _scan(conn, table)
            except sqlite3.Error as e:
                notes.append(f"{table}: unreadable ({e})")
                continue
            found[table] = list(rows.values())
            if not complete:
                notes.append(f"{table}: a damaged page stopped the scan; rows on it are lost")
    finally:
        conn.close()
    return found, notes


def open_store(
    path: str | Path, *, batch: bool = True, now: float | None = None
) -> tuple[Store, list[str]]:
    """Open the state database at `path`, recovering from a damaged one.

    SQLite's `quick_check` runs first. A damaged file (and its -wal/-shm) is
    moved aside as `state.db.corrupt-<UTC time>`, a new database is made, and
    every row that can still be read is copied into it. Returns the store and
    the lines that say what happened and what was lost (empty when the file
    was sound), for the agent's log and a Warning event on the node."""
    path = Path(path)
    problem = check_database(path)
    if problem is None:
        return Store(path, batch=batch), []
    stamp = datetime.fromtimestamp(now if now is not None else _now(), UTC).strftime(
        "%Y%m%dT%H%M%SZ"
    )
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    tmp = path.with_name(f"{path.name}.recovering")
    try:
        found, notes = _recover_rows(aside, tmp)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    store = Store(path, batch=False)
    for table, rows in found.items():
        if not rows:
            continue
        cols = _TABLES[table][0]
        marks = ", ".join("?" * len(cols.split(",")))
        for row in rows:
            with contextlib.suppress(sqlite3.Error):
                store._write(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", row)
    store._batch = batch
    objects = sorted(f"{r[0]} {r[1]}/{r[2]}" for r in found["objects"])
    counts = ", ".join(f"{len(found[t])} {t}" for t in _TABLES)
    lines = [
        f"{path} was damaged ({problem}): moved aside to {aside.name}; recovered {counts}"
        + (f" ({'; '.join(notes)})" if notes else ""),
    ]
    if objects:
        shown = ", ".join(objects[:20]) + (
            f" and {len(objects) - 20} more" if len(objects) > 20 else ""
        )
        lines.append(
            f"objects recovered: {shown}; any other object applied before is lost: apply it again"
        )
    else:
        lines.append("no object could be recovered: apply your manifests again")
    return store, lines


def _write_private_bytes(path: Path, data: bytes) -> None:
    """Write `path` owner-only (0600): a copy of the state holds what the database holds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as f:
        f.write(data)


def _make_private(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it, and tighten
    an existing one with its -wal and -shm: SQLite's unix VFS gives the journal
    files the database file's mode (`findCreateFileMode`), and the WAL holds every
    applied object, Secret-like env values included (issue 13 item 5)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def _now() -> float:
    return datetime.now(UTC).timestamp()

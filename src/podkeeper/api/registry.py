"""The generic registry: resourceVersions, change history and watches for every kind.

Why: the agent's objects are live views (a pod's snapshot, a Deployment
rendered by its controller) without versions. The kube-apiserver's generic
store (`registry/generic/registry/store.go`) and its watch cache
(`storage/cacher`) give every change a resourceVersion, keep a window of
recent changes for watches that resume, answer `410 Gone` for older ones and
fan changes out to watchers. Here the registry *observes* objects: whenever
it lists or gets one (a request, or its own poll while anyone watches) and
finds it different from what it last saw, that is a change with the next
resourceVersion. Writes still go through the agent (`AgentBackend`).

resourceVersions are integers that start at the agent's start time in
milliseconds, so they only grow across restarts; a watch from a version this
agent never recorded gets `410 Gone` and relists, as against a compacted etcd.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import json
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podkeeper.api import cluster
from podkeeper.api.backend import AgentBackend, Obj
from podkeeper.api.kinds import BY_KIND, Kind
from podkeeper.api.metrics import Metrics

#: Seconds between polls of the agent's objects while anyone watches.
POLL_INTERVAL = 0.1
#: Seconds between polls of a kind whose changes are also pushed (`PodFeed`): a safety net.
FED_POLL_INTERVAL = 2.0
#: Changes kept for watches that resume from a resourceVersion (each holds a whole
#: object version; the kube-apiserver's watch cache kept 100 per resource by default).
#: Older resumes get 410 Gone and relist, as client-go's reflector does.
HISTORY = 1_000

Key = tuple[str, str, str]


@dataclass
class _Entry:
    source: Obj
    out: Obj
    rv: int
    uid: str


@dataclass(frozen=True)
class Change:
    """One recorded change: `type` ADDED, MODIFIED or DELETED; `obj` carries its version."""

    rv: int
    type: str
    kind: str
    namespace: str
    obj: Obj


@dataclass(eq=False)
class Watch:
    """One watcher's queue of changes of `kind` (in `namespace`, or all when None)."""

    kind: str
    namespace: str | None
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)


class Expired(Exception):
    """The requested resourceVersion is older than the history kept (410 Gone)."""


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _unwrap_event(item: Any) -> Obj | None:
    # The agent's event stream yields {"type", "object"}; test fakes yield the event.
    if isinstance(item, dict) and "object" in item and "kind" not in item:
        obj = item.get("object")
        return obj if isinstance(obj, dict) else None
    return item if isinstance(item, dict) else None


class Registry:
    """Versioned views of the agent's objects (and the API's own Node and Namespaces)."""

    def __init__(self, backend: AgentBackend, home: Path | None = None) -> None:
        self.backend = backend
        self.home = home
        self.started = time.time()
        self._rv = int(self.started * 1000)
        #: Watches from a version at or below this cannot be served (history lost).
        self._compacted = self._rv
        self._entries: dict[Key, _Entry] = {}
        self._history: deque[Change] = deque()
        self._watches: set[Watch] = set()
        self._poller: asyncio.Task[None] | None = None
        self._event_pump: asyncio.Task[None] | None = None
        self.cluster = cluster.Cluster(backend, home, self.started)
        self.metrics = Metrics(backend, home, self.cluster.node_name)
        #: The last configuration applied server-side, by (kind, ns, name, manager).
        self.applied: dict[tuple[str, str, str, str], Obj] = {}
        #: Kinds whose changes the agent pushes (see `PodFeed`); polled only as a safety net.
        self.fed: set[str] = set()
        self._polled: dict[str, float] = {}

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out."""
        return self._rv

    # -- sources ---------------------------------------------------------

    def _raw_list(
        self, kind: Kind, namespace: str | None, involved: str | None = None
    ) -> list[Obj]:
        if kind.source == "backend":
            return self.backend.list_objects(kind.name, namespace)
        if kind.source == "events":
            found = []
            for item in self.backend.list_events(namespace, involved):
                ev = _unwrap_event(item)
                if ev is not None:
                    found.append(_event_defaults(ev))
            return found
        if kind.source == "metrics":
            return (
                self.metrics.pods(namespace) if kind.name == "PodMetrics" else self.metrics.nodes()
            )
        if kind.source == "endpointslices":
            return [
                cluster.endpoint_slice(ep)
                for ep in self.backend.list_objects("Endpoints", namespace)
            ]
        return [
            o
            for o in self.cluster.list(kind.name)
            if namespace is None or not kind.namespaced or _meta(o).get("namespace") == namespace
        ]

    def _raw_get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        if kind.source == "backend":
            return self.backend.get_object(kind.name, namespace, name)
        if kind.source in ("events", "endpointslices", "lease", "metrics"):
            for obj in self._raw_list(kind, namespace):
                if _meta(obj).get("name") == name:
                    return obj
            return None
        return self.cluster.get(kind.name, name)

    # -- observing -------------------------------------------------------

    def _key(self, kind: Kind, obj: Obj) -> Key:
        meta = _meta(obj)
        ns = str(meta.get("namespace") or "default") if kind.namespaced else ""
        return (kind.name, ns, str(meta.get("name", "")))

    def observe(self, kind: Kind, obj: Obj) -> Obj:
        """`obj` with its resourceVersion; a difference from the last sight is a change."""
        key = self._key(kind, obj)
        entry = self._entries.get(key)
        # Compared with a private copy: a backend may change its objects in place.
        if entry is not None and entry.source == obj:
            return entry.out
        uid = str(_meta(obj).get("uid") or "")
        if entry is not None and entry.uid != uid and entry.uid and uid:
            # Same name, another object: the old one is gone first.
            self._forget(key, entry)
            entry = None
        self._rv += 1
        out = copy.deepcopy(obj)
        meta = _meta(out)
        meta["resourceVersion"] = str(self._rv)
        if kind.namespaced:
            meta.setdefault("namespace", "default")
        out["metadata"] = meta
        out.setdefault("apiVersion", kind.resource.group_version)
        out.setdefault("kind", kind.name)
        self._entries[key] = _Entry(copy.deepcopy(obj), out, self._rv, uid)
        self._record(Change(self._rv, "MODIFIED" if entry else "ADDED", kind.name, key[1], out))
        return out

    def _forget(self, key: Key, entry: _Entry) -> None:
        del self._entries[key]
        self._rv += 1
        out = dict(entry.out)
        out["metadata"] = {**_meta(entry.out), "resourceVersion": str(self._rv)}
        self._record(Change(self._rv, "DELETED", key[0], key[1], out))

    def _record(self, change: Change) -> None:
        self._history.append(change)
        while len(self._history) > HISTORY:
            self._compacted = self._history.popleft().rv
        for w in self._watches:
            if w.kind == change.kind and (w.namespace is None or w.namespace == change.namespace):
                w.queue.put_nowait(change)

    def _sweep(self, kind: Kind, namespace: str | None, present: set[Key]) -> None:
        for key, entry in list(self._entries.items()):
            mine = key[0] == kind.name and (namespace is None or key[1] == namespace)
            if mine and key not in present:
                self._forget(key, entry)

    def list(
        self, kind: Kind, namespace: str | None, involved: str | None = None
    ) -> builtins.list[Obj]:
        """Every object of `kind` (in `namespace`), versioned; vanished ones recorded DELETED."""
        ns = namespace if kind.namespaced else None
        if kind.source == "metrics":  # samples, not objects: no versions, no watch
            return self._raw_list(kind, ns, involved)
        out = [self.observe(kind, o) for o in self._raw_list(kind, ns, involved)]
        if involved is None:
            self._sweep(kind, ns, {self._key(kind, o) for o in out})
        return out

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        """One object, versioned (None when it does not exist, recorded DELETED if it did)."""
        ns = namespace if kind.namespaced else ""
        obj = self._raw_get(kind, ns, name)
        if kind.source == "metrics":
            return obj
        if obj is None:
            key = (kind.name, ns, name)
            entry = self._entries.get(key)
            if entry is not None:
                self._forget(key, entry)
            return None
        return self.observe(kind, obj)

    # -- watching --------------------------------------------------------

    def watch(
        self, kind: Kind, namespace: str | None, since: int | None
    ) -> tuple[Watch, builtins.list[Change], builtins.list[Obj]]:
        """Subscribe; returns the watch, the changes after `since` to replay first and the
        current objects (sent as ADDED when `since` is None, meaning "from now").

        Raises Expired when changes after `since` are no longer kept."""
        ns = namespace if kind.namespaced else None
        # Bring the view up to date first, so the replay ends at the present.
        current = self.list(kind, ns)
        replay: builtins.list[Change] = []
        if since is not None:
            if since < self._compacted:
                raise Expired(f"too old resource version: {since} ({self._compacted})")
            replay = [
                c
                for c in self._history
                if c.rv > since and c.kind == kind.name and (ns is None or c.namespace == ns)
            ]
        w = Watch(kind.name, ns)
        self._watches.add(w)
        self._ensure_poller()
        return w, replay, current

    def unwatch(self, w: Watch) -> None:
        self._watches.discard(w)
        if not self._watches and self._event_pump is not None:
            # Nobody watches: stop listening to the agent's event stream too.
            self._event_pump.cancel()
            self._event_pump = None

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        if self._event_pump is None or self._event_pump.done():
            self._event_pump = asyncio.get_running_loop().create_task(self._pump_events())

    async def _poll(self) -> None:
        """While anyone watches, look at the watched kinds every POLL_INTERVAL seconds
        (kinds the agent pushes every FED_POLL_INTERVAL)."""
        loop = asyncio.get_running_loop()
        while self._watches:
            kinds = {w.kind for w in self._watches}
            now = loop.time()
            for name in kinds:
                kind = BY_KIND[name]
                interval = FED_POLL_INTERVAL if name in self.fed else POLL_INTERVAL
                if kind.source == "events" or now - self._polled.get(name, 0.0) < interval:
                    continue
                self._polled[name] = now
                try:
                    self.list(kind, None)
                except Exception:  # a failing source must not end every watch
                    pass
            await asyncio.sleep(POLL_INTERVAL)

    def watched(self, kind: str) -> bool:
        """True while anyone watches `kind`."""
        return any(w.kind == kind for w in self._watches)

    def pushed(self, kind: Kind, obj: Obj, gone: bool) -> None:
        """A change the agent announces: observed at once when anyone watches the kind."""
        if not self.watched(kind.name):
            return
        if gone:
            key = self._key(kind, obj)
            entry = self._entries.get(key)
            uid = str(_meta(obj).get("uid") or "")
            if entry is not None and (not uid or entry.uid == uid):
                self._forget(key, entry)
        else:
            self.observe(kind, obj)

    async def _pump_events(self) -> None:
        kind = BY_KIND["Event"]
        stream = self.backend.watch_events()
        try:
            async for item in stream:
                ev = _unwrap_event(item)
                if ev is not None:
                    self.observe(kind, _event_defaults(ev))
                if not self._watches:
                    break
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        """End every watch and the background tasks."""
        for w in list(self._watches):
            w.queue.put_nowait(None)
        self._watches.clear()
        for task in (self._poller, self._event_pump):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _event_defaults(ev: Obj) -> Obj:
    """Events written before names existed get one (kubectl needs metadata.name)."""
    meta = _meta(ev)
    if meta.get("name"):
        return ev
    involved = ev.get("involvedObject") or {}
    digest = zlib.crc32(
        json.dumps([involved, ev.get("reason"), ev.get("message")], sort_keys=True).encode()
    )
    out = dict(ev)
    out["metadata"] = {
        **meta,
        "name": f"{involved.get('name', 'event')}.{digest:x}",
        "namespace": meta.get("namespace") or involved.get("namespace") or "default",
    }
    return out


ChangeFilter = Callable[[Obj], bool]

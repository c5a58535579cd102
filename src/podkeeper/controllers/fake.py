"""`FakeObjectStore`: the controllers' `ObjectStore` in memory, beside the interface.

As `runtime/fake.py` is for the container runtime: the controllers' unit tests
hand their fake `PodHost` one of these instead of a state database, and
`check_object_store` holds it and the agent's `Store` (runtime/store.py) to the
same contract.
"""

from __future__ import annotations

import copy

from podkeeper.controllers.interface import Obj, ObjectStore

__all__ = ["FakeObjectStore", "check_object_store"]


class FakeObjectStore:
    """Objects by (kind, namespace, name); stores and returns copies, as a database would."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list_objects(self, kind: str, namespace: str | None) -> list[Obj]:
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in sorted(self.objects.items())
            if k == kind and namespace in (None, ns)
        ]

    def put_object(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        kind, name = obj.get("kind"), meta.get("name")
        if not kind or not name:
            raise ValueError("an object needs kind and metadata.name")
        key = (str(kind), str(meta.get("namespace") or "default"), str(name))
        self.objects[key] = copy.deepcopy(obj)

    def delete_object(self, kind: str, namespace: str, name: str) -> bool:
        return self.objects.pop((kind, namespace, name), None) is not None


def check_object_store(store: ObjectStore) -> None:
    """The `ObjectStore` contract, for any implementation (an empty store)."""

    def obj(kind: str, ns: str | None, name: str, value: int = 0) -> Obj:
        meta: Obj = {"name": name}
        if ns is not None:
            meta["namespace"] = ns
        return {"kind": kind, "metadata": meta, "spec": {"value": value}}

    assert store.get_object("Job", "default", "a") is None
    assert store.list_objects("Job", None) == []
    store.put_object(obj("Job", "b-ns", "z"))
    store.put_object(obj("Job", "a-ns", "y"))
    store.put_object(obj("Job", None, "x"))  # the namespace defaults to `default`
    store.put_object(obj("CronJob", "a-ns", "y"))
    got = store.get_object("Job", "default", "x")
    assert got is not None and got["spec"] == {"value": 0}
    # Ordered by namespace, then name.
    assert [o["metadata"]["name"] for o in store.list_objects("Job", None)] == ["y", "z", "x"]
    assert [o["metadata"]["name"] for o in store.list_objects("Job", "default")] == ["x"]
    assert [o["metadata"]["name"] for o in store.list_objects("Job", "a-ns")] == ["y"]
    assert [o["kind"] for o in store.list_objects("CronJob", None)] == ["CronJob"]
    store.put_object(obj("Job", "a-ns", "y", value=2))  # replaces
    again = store.get_object("Job", "a-ns", "y")
    assert again is not None and again["spec"] == {"value": 2}
    assert len(store.list_objects("Job", "a-ns")) == 1
    # What a caller changes in a returned object does not change the stored one.
    again["spec"]["value"] = 3
    kept = store.get_object("Job", "a-ns", "y")
    assert kept is not None and kept["spec"] == {"value": 2}
    assert store.delete_object("Job", "a-ns", "y") is True
    assert store.delete_object("Job", "a-ns", "y") is False
    assert store.get_object("Job", "a-ns", "y") is None
    assert store.get_object("CronJob", "a-ns", "y") is not None

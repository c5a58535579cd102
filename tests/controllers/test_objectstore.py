"""The controllers' `ObjectStore` contract (controllers/interface.py), held by both
implementations: the agent's state database and the fake the controller tests use."""

from __future__ import annotations

from pathlib import Path

from podkeeper.controllers.fake import FakeObjectStore, check_object_store
from podkeeper.runtime.store import Store


def test_the_fake_keeps_the_contract() -> None:
    check_object_store(FakeObjectStore())


def test_the_state_database_keeps_the_contract(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        check_object_store(store)
        store.flush()
        assert [o["metadata"]["name"] for o in store.list_objects("Job", None)] == ["z", "x"]
    finally:
        store.close()

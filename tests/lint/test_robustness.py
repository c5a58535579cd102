"""Lint never crashes: every field of every rule fixture replaced by every odd type."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podkeeper.lint.config import Config
from podkeeper.lint.engine import lint_documents
from podkeeper.lint.source import from_documents
from podkeeper.manifest import Document
from podkeeper.manifest.document import read_text

DATA = Path(__file__).parent / "data"
FILES = sorted((DATA / "rules").glob("*.yaml")) + sorted((DATA / "corpus").glob("*.yaml"))
ODD: list[Any] = [None, "x", -5, 3.5, True, [], {}, [1], {"a": 1}, "sh -c 'unclosed"]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k)
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i)
            yield from _paths(v, (*path, i))


@pytest.mark.parametrize("file", FILES, ids=[f.name for f in FILES])
def test_odd_values_anywhere(file: Path) -> None:
    docs = [d for d in read_text(file.read_text(), file.name) if isinstance(d, Document)]
    for doc in docs:
        for path in _paths(doc.obj):
            if path[0] in ("apiVersion", "kind"):
                continue
            for value in ODD:
                obj = copy.deepcopy(doc.obj)
                node: Any = obj
                for part in path[:-1]:
                    node = node[part]
                node[path[-1]] = value
                broken = Document(doc.file, doc.index, doc.item, doc.line, obj, doc.lines)
                for f in lint_documents(from_documents([broken]), Config()):
                    assert f.line >= 1 and f.message

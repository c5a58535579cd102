"""Reading manifest files: YAML multi-document streams, JSON, `List` kinds, with line numbers.

kubectl reads files through `k8s.io/apimachinery/pkg/util/yaml`
(`NewYAMLOrJSONDecoder`): a stream of YAML documents separated by `---`, or a
stream of JSON objects. `List`/`*List` objects are flattened into their
`items` (`k8s.io/cli-runtime/pkg/resource/visitor.go`).

Each input is parsed once, with libyaml (PyYAML's C parser) when it is
installed. Hostile input stays cheap (issue 13 item 13): an input is at most
`MAX_INPUT_BYTES`, a document at most `MAX_DEPTH` levels deep, and aliases
may not expand a document beyond `MAX_EXPANSION_FACTOR` times its own size
(plus `MAX_EXPANSION_FLOOR` nodes). Each such input is a ManifestError
(exit 2) found before anything walks the expanded tree; go-yaml refuses the
same inputs ("exceeded max depth", "document contains excessive aliasing").

`read_text` never raises for one bad document: it returns the documents and
the errors in input order, so lint can report one and read the rest.
`load_text` (for `apply`) raises the first error.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from podkeeper.manifest import kinds
from podkeeper.manifest.yamltree import (
    MAX_DEPTH,
    MAX_EXPANSION_FACTOR,
    MAX_EXPANSION_FLOOR,
    MAX_INPUT_BYTES,
    USES_LIBYAML,
    Loader,
    ManifestError,
    build,
    check_nul,
    check_size,
    duplicate_error,
    line_col,
    line_map,
    mark_error,
    too_large,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPANSION_FACTOR",
    "MAX_EXPANSION_FLOOR",
    "MAX_INPUT_BYTES",
    "USES_LIBYAML",
    "Document",
    "ManifestError",
    "check_size",
    "kind_error",
    "load_documents",
    "load_text",
    "read_file",
    "read_text",
]


class _Lines(Mapping[str, int]):
    """Field path -> line, computed from the YAML node tree on first use (lint needs few)."""

    def __init__(self, node: yaml.Node | None, kind: str, lazy: _JsonNode | None = None) -> None:
        self._node = node
        self._kind = kind
        self._lazy = lazy
        self._map: dict[str, int] | None = None

    def _built(self) -> dict[str, int]:
        if self._map is None:
            node = self._node
            if node is None and self._lazy is not None:
                node = self._lazy.node()
            self._map = line_map(node, self._kind) if node is not None else {}
            self._node = None
            self._lazy = None
        return self._map

    def __getitem__(self, key: str) -> int:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


@dataclass(frozen=True)
class Document:
    """One Kubernetes object read from a file, as written (no defaults)."""

    file: str
    index: int
    item: int | None
    line: int
    obj: dict[str, Any]
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def kind(self) -> str:
        kind = self.obj.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def api_version(self) -> str:
        version = self.obj.get("apiVersion")
        return version if isinstance(version, str) else ""

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else ""

    @property
    def namespace(self) -> str:
        meta = self.obj.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return ns if isinstance(ns, str) and ns else "default"

    @property
    def where(self) -> str:
        """`FILE: document N (line L)`, the prefix of messages about this object."""
        return _where(self.file, self.index, self.line)

    def line_of(self, path: str) -> int:
        """The line of `path`, or of its nearest ancestor present in the file."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                break
            path = path[:cut]
        return self.lines.get(path, self.line)


def _where(file: str, index: int, line: int) -> str:
    return f"{file}: document {index} (line {line})"


def _mapping_items(node: yaml.Node | None, name: str) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            is_key = isinstance(key_node, yaml.ScalarNode) and key_node.value == name
            if is_key and isinstance(value_node, yaml.SequenceNode):
                return list(value_node.value)
    return []


def _type_name(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a scalar"


def _object_error(obj: object, file: str, index: int, line: int) -> ManifestError | None:
    """Why `obj` is not a Kubernetes object (no apiVersion/kind), or None."""
    where = _where(file, index, line)
    if not isinstance(obj, dict):
        return ManifestError(
            f"{where}: expected an object, found {_type_name(obj)}", file, line, index, "not-object"
        )
    version, kind = obj.get("apiVersion"), obj.get("kind")
    missing = []
    if not isinstance(version, str) or not version:
        missing.append("apiVersion not set")
    if not isinstance(kind, str) or not kind:
        missing.append("kind not set")
    if missing:
        code = "not-object" if len(missing) == 2 else "no-kind" if "kind not set" in missing else ""
        return ManifestError(f"{where}: {', '.join(missing)}", file, line, index, code)
    return None


def kind_error(doc: Document) -> ManifestError | None:
    """kubectl's `no matches for kind` error when podkeeper does not serve the kind/version."""
    if kinds.KIND_VERSIONS.get(doc.kind) == doc.api_version:
        return None
    return ManifestError(
        f"{doc.where}: {kinds.no_match_message(doc.kind, doc.api_version)}",
        doc.file,
        doc.line,
        doc.index,
    )


class _LazyNodes:
    """A JSON input's YAML node trees, composed only when a line number is asked for."""

    def __init__(self, text: str, file: str) -> None:
        self._text = text
        self._file = file
        self._nodes: list[yaml.Node] | None = None

    def all(self) -> list[yaml.Node]:
        if self._nodes is None:
            self._nodes = []
            # JSON is YAML (JSON strings cannot hold raw tabs, so tabs are only indentation).
            loader = Loader(self._text.replace("\t", " "))
            try:
                while loader.check_node():
                    node = loader.get_node()
                    if node is not None:
                        self._nodes.append(node)
            except (yaml.YAMLError, RecursionError):
                pass
            finally:
                loader.dispose()
            if len(self._nodes) == 1 and isinstance(self._nodes[0], yaml.SequenceNode):
                self._nodes = list(self._nodes[0].value)  # a top-level array
        return self._nodes


@dataclass
class _JsonNode:
    nodes: _LazyNodes
    index: int
    item: int | None

    def node(self) -> yaml.Node | None:
        nodes = self.nodes.all()
        if self.index >= len(nodes):
            return None
        node = nodes[self.index]
        if self.item is not None:
            items = _mapping_items(node, "items")
            return items[self.item] if self.item < len(items) else None
        return node


def _expand(
    file: str,
    index: int,
    node: yaml.Node | None,
    obj: object,
    line: int,
    json_nodes: _LazyNodes | None = None,
) -> list[Document | ManifestError]:
    """The document, or the items of a List, as Documents, and errors in their place."""
    error = _object_error(obj, file, index, line)
    if error is not None:
        return [error]
    assert isinstance(obj, dict)
    kind = str(obj["kind"])
    if not kinds.is_list_kind(kind):
        lines = _Lines(node, kind, _JsonNode(json_nodes, index, None) if json_nodes else None)
        return [Document(file, index, None, line, obj, lines)]
    items = obj.get("items") or []
    if not isinstance(items, list):
        return [ManifestError(f"{_where(file, index, line)}: items must be a list", file, line)]
    item_nodes = _mapping_items(node, "items")
    out: list[Document | ManifestError] = []
    for i, item in enumerate(items):
        item_node = item_nodes[i] if i < len(item_nodes) else None
        item_line = item_node.start_mark.line + 1 if item_node is not None else line
        if isinstance(item, dict) and kind != "List":
            # `PodList` items from the API may omit their own kind and apiVersion.
            item = dict(item)
            item.setdefault("kind", kind[: -len("List")])
            item.setdefault("apiVersion", obj["apiVersion"])
        error = _object_error(item, file, index, item_line)
        if error is not None:
            out.append(error)
            continue
        item_kind = str(item["kind"])
        if kinds.is_list_kind(item_kind):
            out.append(
                ManifestError(
                    f"{_where(file, index, item_line)}: a List may not contain a List",
                    file,
                    item_line,
                    index,
                )
            )
            continue
        lazy = _JsonNode(json_nodes, index, i) if json_nodes is not None else None
        lines = _Lines(item_node, item_kind, lazy)
        out.append(Document(file, index, i, item_line, item, lines))
    return out


def _read_yaml(text: str, file: str) -> list[Document | ManifestError]:
    out: list[Document | ManifestError] = []
    loader = Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            this = index
            index += 1
            line = node.start_mark.line + 1
            try:
                built = build(node, loader, file)
            except ManifestError as err:
                err.index = this
                out.append(err)
                continue
            for key_node, first in built.duplicates:
                dup = duplicate_error(file, key_node, first)
                dup.index = this
                out.append(dup)
            if built.value is None:
                continue  # an empty document (`---` twice, or only comments)
            out.extend(_expand(file, this, node, built.value, line))
    except yaml.YAMLError as err:
        out.append(mark_error(file, err, text))
    except RecursionError:
        # The pure-Python parser recurses per level; libyaml stops at 1000 levels itself.
        out.append(
            ManifestError(f"{file}: nesting deeper than {MAX_DEPTH} levels", file, index=index)
        )
    finally:
        loader.dispose()
    return out


_JSON_NESTING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_depth_error(text: str, file: str) -> ManifestError | None:
    depth = 0
    for m in _JSON_NESTING_RE.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH + 1:  # +1: a top-level array of documents
                line, col = line_col(text, m.start())
                return ManifestError(
                    f"{file}:{line}:{col}: nesting deeper than {MAX_DEPTH} levels", file, line
                )
        elif c in "]}":
            depth -= 1
    return None


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _JsonDuplicate(k)
            seen.add(k)
    return out


class _JsonDuplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _json_array(
    text: str, pos: int, decoder: json.JSONDecoder, file: str
) -> list[tuple[Any, int, list[ManifestError]]] | None:
    """A top-level JSON array's elements (each a document) with their lines; None when
    the array is not only that (then the caller decodes it whole for the error)."""
    out: list[tuple[Any, int, list[ManifestError]]] = []
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos < len(text) and text[pos] == "]" and not out:
            break
        line = text.count("\n", 0, pos) + 1
        errors: list[ManifestError] = []
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        except _JsonDuplicate as dup:
            errors.append(_json_duplicate(file, line, dup.key, len(out)))
            value, pos = json.JSONDecoder().raw_decode(text, pos)
        out.append((value, line, errors))
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "]":
            break
        return None
    if text[pos + 1 :].strip():
        return None
    return out


def _json_duplicate(file: str, line: int, key: str, index: int) -> ManifestError:
    return ManifestError(
        f'{file}:{line}: key "{key}" set twice in one object of the JSON value starting here',
        file,
        line,
        index,
        "duplicate-key",
    )


def _read_json(text: str, file: str) -> list[Document | ManifestError]:
    if text.count("[") + text.count("{") > MAX_DEPTH:
        error = _json_depth_error(text, file)
        if error is not None:
            return [error]
    decoder = json.JSONDecoder(object_pairs_hook=_json_pairs)
    # (value, line, errors found in it); a decode error ends the stream.
    values: list[tuple[Any, int, list[ManifestError]]] = []
    tail: list[ManifestError] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos) + 1
        errors: list[ManifestError] = []
        if not values and text[pos] == "[":
            elements = _json_array(text, pos, decoder, file)
            if elements is not None:
                values.extend(elements)
                break
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            tail.append(
                ManifestError(f"{file}:{err.lineno}:{err.colno}: {err.msg}", file, err.lineno)
            )
            break
        except _JsonDuplicate as dup:
            # Read it again keeping the last value, as the YAML path does, and say so.
            errors.append(_json_duplicate(file, line, dup.key, len(values)))
            value, end = json.JSONDecoder().raw_decode(text, pos)
        values.append((value, line, errors))
        pos = end
    lazy = _LazyNodes(text, file)
    out: list[Document | ManifestError] = []
    for i, (value, line, errors) in enumerate(values):
        out.extend(errors)
        out.extend(_expand(file, i, None, value, line, lazy))
    return out + tail


def read_text(text: str, file: str = "<string>") -> list[Document | ManifestError]:
    """Every object in `text` (YAML stream or JSON) and every error, in input order.

    Objects of any kind are returned (`kind_error` says whether podkeeper
    serves it). A document with duplicate keys is returned (the last value
    wins, as PyYAML reads it) after its errors. Errors about the whole input
    (size, NUL bytes) are raised.
    """
    check_size(text, file)
    check_nul(text, file)
    # The parse allocates a node and a value per scalar and keeps them: the cyclic
    # collector would rescan the growing heap again and again (6× the parse time on a
    # 2 MB bundle). Nothing here makes reference cycles worth collecting meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if text.lstrip().startswith(("{", "[")):
            return _read_json(text, file)
        return _read_yaml(text, file)
    finally:
        if collecting:
            gc.enable()


def load_text(text: str, file: str = "<string>") -> list[Document]:
    """Every object in `text` (YAML stream or JSON); raises the first ManifestError."""
    docs: list[Document] = []
    for entry in read_text(text, file):
        if isinstance(entry, ManifestError):
            raise entry
        error = kind_error(entry) if not kinds.is_list_kind(entry.kind) else None
        if error is not None:
            raise error
        docs.append(entry)
    return docs


def read_file(path: str) -> str:
    """The text of a manifest file, at most MAX_INPUT_BYTES; raises ManifestError."""
    try:
        with open(path, encoding="utf-8") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_INPUT_BYTES:
                raise ManifestError(too_large(path, size), path)
            text = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f'the path "{path}" does not exist', path) from None
    except IsADirectoryError:
        raise ManifestError(f'the path "{path}" is a directory', path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: {err}", path) from None
    check_size(text, path)
    return text


def load_documents(paths: Sequence[str], stdin_text: str | None = None) -> list[Document]:
    """Every object in the files, in order; `-` reads `stdin_text`. Raises ManifestError."""
    docs: list[Document] = []
    for path in paths:
        if path == "-":
            if stdin_text is None:
                raise ManifestError("<stdin>: no input on stdin", "<stdin>")
            docs.extend(load_text(stdin_text, "<stdin>"))
            continue
        docs.extend(load_text(read_file(path), path))
    return docs

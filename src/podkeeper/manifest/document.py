"""Reading manifest files: YAML multi-document streams, JSON, `List` kinds, with line numbers.

kubectl reads files through `k8s.io/apimachinery/pkg/util/yaml`
(`NewYAMLOrJSONDecoder`): a stream of YAML documents separated by `---`, or a
stream of JSON objects. `List`/`*List` objects are flattened into their
`items` (`k8s.io/cli-runtime/pkg/resource/visitor.go`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from podkeeper.manifest import kinds

# Values of these keys are maps of user strings, addressed as `labels[app]`
# the way `field.Path.Key` prints them.
_MAP_FIELDS = frozenset(
    {"labels", "annotations", "matchLabels", "nodeSelector", "limits", "requests"}
)


class ManifestError(Exception):
    """Input that cannot be read as Kubernetes objects; `str()` names the file and place."""

    def __init__(self, message: str, file: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


@dataclass(frozen=True)
class Document:
    """One Kubernetes object read from a file, as written (no defaults)."""

    file: str
    index: int
    item: int | None
    line: int
    obj: dict[str, Any]
    lines: Mapping[str, int]

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


def _no_timestamps() -> type[yaml.SafeLoader]:
    """A SafeLoader that keeps `2024-01-01` a string, as sigs.k8s.io/yaml does."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


_Loader = _no_timestamps()


def _mark_error(file: str, err: yaml.YAMLError) -> ManifestError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        if mark is not None:
            line = mark.line + 1
            return ManifestError(f"{file}:{line}:{mark.column + 1}: {problem}", file, line)
        return ManifestError(f"{file}: {problem}", file)
    return ManifestError(f"{file}: {err}", file)


def _compose_all(text: str, file: str) -> Iterator[tuple[yaml.Node, Any]]:
    """Each YAML document's node tree and constructed value."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node, loader.construct_document(node)
    except yaml.YAMLError as err:
        raise _mark_error(file, err) from None
    finally:
        loader.dispose()


def _line_map(node: yaml.Node, file: str, kind: str) -> dict[str, int]:
    """Field path -> line for every key and list item under `node`."""
    lines: dict[str, int] = {}
    _walk(node, "", lines, file, kind == "Service", False)
    return lines


def _walk(
    node: yaml.Node, path: str, lines: dict[str, int], file: str, service: bool, map_keys: bool
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            name = str(key_node.value)
            line = key_node.start_mark.line + 1
            if name in seen:
                # go-yaml refuses duplicate keys; PyYAML would silently keep the last.
                raise ManifestError(
                    f"{file}:{line}:{key_node.start_mark.column + 1}: "
                    f'key "{name}" already set in map (line {seen[name]})',
                    file,
                    line,
                )
            seen[name] = line
            sub = f"{path}[{name}]" if map_keys else (f"{path}.{name}" if path else name)
            lines.setdefault(sub, line)
            # A Service's `spec.selector` is a plain map; a workload's is a LabelSelector.
            map_value = name in _MAP_FIELDS or (service and sub == "spec.selector")
            _walk(value_node, sub, lines, file, service, map_value)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines.setdefault(sub, item.start_mark.line + 1)
            _walk(item, sub, lines, file, service, False)


def _mapping_items(node: yaml.Node, name: str) -> list[yaml.Node]:
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


def _checked(obj: object, file: str, index: int, line: int) -> dict[str, Any]:
    """The object, or ManifestError when it is not a known Kubernetes object."""
    where = _where(file, index, line)
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: expected an object, found {_type_name(obj)}", file, line)
    version, kind = obj.get("apiVersion"), obj.get("kind")
    missing = []
    if not isinstance(version, str) or not version:
        missing.append("apiVersion not set")
    if not isinstance(kind, str) or not kind:
        missing.append("kind not set")
    if missing:
        raise ManifestError(f"{where}: {', '.join(missing)}", file, line)
    assert isinstance(kind, str) and isinstance(version, str)
    if not kinds.is_list_kind(kind) and kinds.KIND_VERSIONS.get(kind) != version:
        raise ManifestError(f"{where}: {kinds.no_match_message(kind, version)}", file, line)
    return obj


def _expand(
    file: str, index: int, node: yaml.Node | None, obj: object, line: int
) -> list[Document]:
    """The document, or the items of a List, as Documents."""
    checked = _checked(obj, file, index, line)
    kind = str(checked["kind"])
    if not kinds.is_list_kind(kind):
        lines = _line_map(node, file, kind) if node is not None else {}
        return [Document(file, index, None, line, checked, lines)]
    items = checked.get("items") or []
    if not isinstance(items, list):
        raise ManifestError(f"{_where(file, index, line)}: items must be a list", file, line)
    item_nodes = _mapping_items(node, "items") if node is not None else []
    docs = []
    for i, item in enumerate(items):
        item_node = item_nodes[i] if i < len(item_nodes) else None
        item_line = item_node.start_mark.line + 1 if item_node is not None else line
        if isinstance(item, dict) and kind != "List":
            # `PodList` items from the API may omit their own kind and apiVersion.
            item = dict(item)
            item.setdefault("kind", kind[: -len("List")])
            item.setdefault("apiVersion", checked["apiVersion"])
        checked_item = _checked(item, file, index, item_line)
        if kinds.is_list_kind(str(checked_item["kind"])):
            raise ManifestError(
                f"{_where(file, index, item_line)}: a List may not contain a List", file, item_line
            )
        item_kind = str(checked_item["kind"])
        lines = _line_map(item_node, file, item_kind) if item_node is not None else {}
        docs.append(Document(file, index, i, item_line, checked_item, lines))
    return docs


def _load_json(text: str, file: str) -> list[Document]:
    decoder = json.JSONDecoder()
    values: list[tuple[Any, int]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise ManifestError(
                f"{file}:{err.lineno}:{err.colno}: {err.msg}", file, err.lineno
            ) from None
        values.append((value, text.count("\n", 0, pos) + 1))
        pos = end
    # JSON is YAML (JSON strings cannot hold raw tabs, so tabs are only indentation):
    # the YAML composer gives the line of every key.
    nodes: list[yaml.Node | None] = []
    try:
        nodes = [node for node, _ in _compose_all(text.replace("\t", " "), file)]
    except ManifestError:
        nodes = []
    if len(values) == 1 and isinstance(values[0][0], list):
        # A top-level JSON array: each element is a document.
        array_nodes = (
            list(nodes[0].value) if nodes and isinstance(nodes[0], yaml.SequenceNode) else []
        )
        values = [(v, values[0][1]) for v in values[0][0]]
        nodes = list(array_nodes)
    docs: list[Document] = []
    for i, (value, line) in enumerate(values):
        node = nodes[i] if i < len(nodes) else None
        start = node.start_mark.line + 1 if node is not None else line
        docs.extend(_expand(file, i, node, value, start))
    return docs


def load_text(text: str, file: str = "<string>") -> list[Document]:
    """Every object in `text` (YAML stream or JSON); raises ManifestError."""
    if text.lstrip().startswith(("{", "[")):
        return _load_json(text, file)
    docs: list[Document] = []
    for index, (node, value) in enumerate(_compose_all(text, file)):
        if value is None:
            continue  # an empty document (`---` twice, or only comments)
        docs.extend(_expand(file, index, node, value, node.start_mark.line + 1))
    return docs


def load_documents(paths: Sequence[str], stdin_text: str | None = None) -> list[Document]:
    """Every object in the files, in order; `-` reads `stdin_text`. Raises ManifestError."""
    docs: list[Document] = []
    for path in paths:
        if path == "-":
            if stdin_text is None:
                raise ManifestError("<stdin>: no input on stdin", "<stdin>")
            docs.extend(load_text(stdin_text, "<stdin>"))
            continue
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise ManifestError(f'the path "{path}" does not exist', path) from None
        except IsADirectoryError:
            raise ManifestError(f'the path "{path}" is a directory', path) from None
        except (OSError, UnicodeDecodeError) as err:
            raise ManifestError(f"{path}: {err}", path) from None
        docs.extend(load_text(text, path))
    return docs

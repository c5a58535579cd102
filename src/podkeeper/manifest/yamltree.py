"""YAML node trees for the manifest loader: the parser, and the checks that keep hostile
input cheap (issue 13 item 13).

libyaml (PyYAML's C parser) parses when PyYAML was built with it, with a
memoised resolver. `build` turns a document's node tree into values in one
iterative pass over its distinct nodes, refusing documents deeper than
`MAX_DEPTH`, alias cycles, and aliases that expand a document past
`MAX_EXPANSION_FACTOR` times its size plus `MAX_EXPANSION_FLOOR` nodes (the
"billion laughs"); go-yaml refuses the same ("exceeded max depth", "document
contains excessive aliasing"). `line_map` gives the line of every field path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

#: The largest input read, in bytes (characters for text already read).
MAX_INPUT_BYTES = 32 * 1024 * 1024
#: The deepest nesting of maps and lists in one document, aliases expanded.
MAX_DEPTH = 256
#: Aliases may expand a document to this many times its distinct nodes...
MAX_EXPANSION_FACTOR = 10
#: ...plus this many nodes.
MAX_EXPANSION_FLOOR = 10_000

# Values of these keys are maps of user strings, addressed as `labels[app]`
# the way `field.Path.Key` prints them.
MAP_FIELDS = frozenset(
    {"labels", "annotations", "matchLabels", "nodeSelector", "limits", "requests"}
)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
# Scalar tags constructed by PyYAML's SafeConstructor (ints, floats, booleans, null).
_SIMPLE_SCALARS = frozenset(
    {
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }
)


class ManifestError(Exception):
    """Input that cannot be read as Kubernetes objects; `str()` names the file and place."""

    def __init__(
        self, message: str, file: str = "", line: int = 0, index: int = -1, code: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        #: The document it concerns (-1: the whole input).
        self.index = index
        #: What kind of problem: `not-object` (no apiVersion and no kind, or not a map),
        #: `no-kind` (apiVersion without kind), `duplicate-key`, or "" for the rest.
        self.code = code


def _base_loader() -> type[yaml.SafeLoader]:
    # libyaml when PyYAML was built with it: ~10× faster, and it limits nesting itself.
    base = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None
    return base if base is not None else yaml.SafeLoader


def _no_timestamps() -> type[yaml.SafeLoader]:
    """A safe loader that keeps `2024-01-01` a string, as sigs.k8s.io/yaml does."""
    base = _base_loader()

    class Loader(base):  # type: ignore[valid-type,misc]
        # The resolver is called from the C parser for every node; without path resolvers
        # its answer depends on the plain scalar's text alone, so it is memoised, and the
        # path bookkeeping is skipped (half the parse time of a large bundle otherwise).
        # One cache per parse: nothing of one input outlives its reading.
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._tags: dict[str, str] = {}

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode:
                if not implicit[0]:
                    return _STR
                tag = self._tags.get(value)
                if tag is None:
                    tag = base.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]
                    if len(self._tags) < 65536:
                        self._tags[value] = tag
                return tag
            if kind is yaml.SequenceNode:
                return _SEQ
            return _MAP

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return Loader


Loader = _no_timestamps()
#: True when the C parser (libyaml) reads manifests.
USES_LIBYAML = Loader.__mro__[1] is not yaml.SafeLoader


def line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def mark_error(file: str, err: yaml.YAMLError, text: str) -> ManifestError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        if "maximum nesting depth" in problem:
            problem = f"nesting too deep: {problem} (podkeeper reads at most {MAX_DEPTH} levels)"
        if mark is not None:
            line = mark.line + 1
            return ManifestError(f"{file}:{line}:{mark.column + 1}: {problem}", file, line)
        return ManifestError(f"{file}: {problem}", file)
    if isinstance(err, yaml.reader.ReaderError):
        line, col = line_col(text, err.position)
        char = f"#x{err.character:04x}" if isinstance(err.character, int) else repr(err.character)
        return ManifestError(
            f"{file}:{line}:{col}: unacceptable character {char}: {err.reason}", file, line
        )
    return ManifestError(f"{file}: {err}", file)


def check_size(text: str, file: str) -> None:
    """ManifestError when `text` is over MAX_INPUT_BYTES."""
    if len(text) > MAX_INPUT_BYTES:
        raise ManifestError(too_large(file, len(text)), file)


def too_large(file: str, size: int) -> str:
    return (
        f"{file}: input too large ({size / 1048576:.1f} MiB; podkeeper reads at most "
        f"{MAX_INPUT_BYTES // 1048576} MiB per file)"
    )


def check_nul(text: str, file: str) -> None:
    pos = text.find("\x00")
    if pos >= 0:
        line, col = line_col(text, pos)
        raise ManifestError(
            f"{file}:{line}:{col}: NUL byte in input (a manifest is text; is this a binary file?)",
            file,
            line,
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


@dataclass
class Built:
    value: Any
    duplicates: list[tuple[yaml.Node, int]]


def build(node: yaml.Node, loader: Any, file: str) -> Built:
    """The value of a document's node tree, checked for depth, aliasing and duplicate keys.

    Iterative (no recursion, so depth cannot crash it) and linear in the
    distinct nodes: an alias is a node seen before, whose value is shared, as
    PyYAML shares it. Only when a node is seen twice is the expanded size
    computed (`_check_expansion`).
    """
    values: dict[int, Any] = {}
    duplicates: list[tuple[yaml.Node, int]] = []
    shared = False
    fallback = False
    root_value: Any = None
    # (node, depth, container to fill or None, key to set in it)
    stack: list[tuple[yaml.Node, int, Any, Any]] = [(node, 1, None, None)]
    while stack:
        n, depth, parent, key = stack.pop()
        nid = id(n)
        if nid in values:
            shared = True
            value = values[nid]
        elif depth > MAX_DEPTH:
            raise _too_deep(file, n)
        elif isinstance(n, yaml.ScalarNode):
            tag = n.tag
            if tag == _STR:
                value = n.value
            elif tag in _SIMPLE_SCALARS:
                value = loader.yaml_constructors[tag](loader, n)
            else:
                fallback = True
                value = None
            values[nid] = value
        elif isinstance(n, yaml.SequenceNode):
            if n.tag != _SEQ:
                fallback = True
            value = [None] * len(n.value)
            values[nid] = value
            for i in range(len(n.value) - 1, -1, -1):
                stack.append((n.value[i], depth + 1, value, i))
        elif isinstance(n, yaml.MappingNode):
            if n.tag != _MAP:
                fallback = True
            value = {}
            values[nid] = value
            seen: dict[Any, int] = {}
            pairs = []
            for key_node, value_node in n.value:
                if key_node.tag == _MERGE:
                    fallback = True
                    continue
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR:
                    k: Any = key_node.value
                elif isinstance(key_node, yaml.ScalarNode) and key_node.tag in _SIMPLE_SCALARS:
                    k = loader.yaml_constructors[key_node.tag](loader, key_node)
                else:
                    fallback = True  # a complex key: PyYAML decides (and refuses)
                    continue
                try:
                    if k in seen:
                        # go-yaml refuses duplicate keys; PyYAML would silently keep the last.
                        duplicates.append((key_node, seen[k]))
                    seen[k] = key_node.start_mark.line + 1
                except TypeError:
                    fallback = True
                    continue
                pairs.append((k, value_node))
            # Later keys win, as in PyYAML; set in order so the dict keeps the file's order.
            for k, value_node in reversed(pairs):
                stack.append((value_node, depth + 1, value, k))
        else:  # pragma: no cover - PyYAML has no other node kinds
            raise ManifestError(f"{file}: unexpected YAML node {type(n).__name__}", file)
        if parent is None:
            root_value = value
        else:
            parent[key] = value
    if shared:
        _check_expansion(node, len(values), file)
    if fallback:
        try:
            root_value = loader.construct_document(node)
        except yaml.YAMLError as err:
            raise mark_error(file, err, "") from None
    return Built(root_value, duplicates)


def _too_deep(file: str, node: yaml.Node) -> ManifestError:
    line = node.start_mark.line + 1
    return ManifestError(
        f"{file}:{line}:{node.start_mark.column + 1}: nesting deeper than {MAX_DEPTH} levels "
        "(podkeeper reads at most that many, aliases expanded)",
        file,
        line,
    )


def _check_expansion(root: yaml.Node, distinct: int, file: str) -> None:
    """Refuse alias cycles and documents whose aliases expand past the limits.

    Post-order over distinct nodes with the expanded size and depth of each
    memoised, so a "billion laughs" costs as much as its few hundred nodes.
    """
    limit = MAX_EXPANSION_FACTOR * distinct + MAX_EXPANSION_FLOOR
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        n, done = stack.pop()
        nid = id(n)
        kids = _children(n)
        if done:
            on_path.discard(nid)
            size[nid] = 1 + sum(size[id(k)] for k in kids)
            depth[nid] = 1 + max((depth[id(k)] for k in kids), default=0)
            if depth[nid] > MAX_DEPTH:
                raise _too_deep(file, n)
            if size[nid] > limit:
                line = n.start_mark.line + 1
                raise ManifestError(
                    f"{file}:{line}:{n.start_mark.column + 1}: YAML aliases expand this "
                    f"document from {distinct} to more than {limit} nodes (podkeeper allows "
                    f"{MAX_EXPANSION_FACTOR}× plus {MAX_EXPANSION_FLOOR}: an alias bomb?)",
                    file,
                    line,
                )
            continue
        if nid in size:
            continue
        on_path.add(nid)
        stack.append((n, True))
        for k in kids:
            kid = id(k)
            if kid in on_path:
                line = k.start_mark.line + 1
                raise ManifestError(
                    f"{file}:{line}:{k.start_mark.column + 1}: a YAML alias refers to a node "
                    "that contains it (a recursive structure is not a Kubernetes object)",
                    file,
                    line,
                )
            if kid not in size:
                stack.append((k, False))


def duplicate_error(file: str, key_node: yaml.Node, first: int) -> ManifestError:
    line = key_node.start_mark.line + 1
    return ManifestError(
        f"{file}:{line}:{key_node.start_mark.column + 1}: "
        f'key "{key_node.value}" already set in map (line {first})',
        file,
        line,
        code="duplicate-key",
    )


def line_map(node: yaml.Node, kind: str) -> dict[str, int]:
    """Field path -> line for every key and list item under `node` (iterative)."""
    lines: dict[str, int] = {}
    service = kind == "Service"
    stack: list[tuple[yaml.Node, str, bool, int]] = [(node, "", False, 0)]
    while stack:
        n, path, map_keys, depth = stack.pop()
        if depth > MAX_DEPTH:
            continue
        if isinstance(n, yaml.MappingNode):
            children = []
            for key_node, value_node in n.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue
                name = str(key_node.value)
                sub = f"{path}[{name}]" if map_keys else (f"{path}.{name}" if path else name)
                # A duplicated key: the last one is the value read, so its line wins.
                lines[sub] = key_node.start_mark.line + 1
                # A Service's `spec.selector` is a plain map; a workload's is a LabelSelector.
                map_value = name in MAP_FIELDS or (service and sub == "spec.selector")
                children.append((value_node, sub, map_value, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(n, yaml.SequenceNode):
            for i in range(len(n.value) - 1, -1, -1):
                item = n.value[i]
                sub = f"{path}[{i}]"
                lines[sub] = item.start_mark.line + 1
                stack.append((item, sub, False, depth + 1))
    return lines

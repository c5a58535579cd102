"""The four patch types of the Kubernetes API, as pure functions on JSON values.

- JSON patch (RFC 6902, `application/json-patch+json`),
- JSON merge patch (RFC 7386, `application/merge-patch+json`),
- strategic merge patch (`application/strategic-merge-patch+json`,
  apimachinery `pkg/util/strategicpatch/patch.go`): lists with a
  `patchMergeKey` merge by that key, `$patch: delete|replace` and
  `$deleteFromPrimitiveList/`, `$retainKeys`, `$setElementOrder/` directives,
- and the field-level merge server-side apply needs (`apply_merge`).
"""

from __future__ import annotations

import copy
from typing import Any

from podkeeper.api.kinds import MERGE_KEYS


class PatchError(ValueError):
    """A patch that cannot be applied (answered 422 or 400)."""


# -- JSON patch -----------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return cur


def _index(container: list[Any], token: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r} in {path!r}")
    i = int(token)
    if i > len(container) or (i == len(container) and not allow_end):
        raise PatchError(f"array index out of bounds: {path!r}")
    return i


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for p in _pointer(path):
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return cur


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if parts[-1] not in parent:
            raise PatchError(f"unable to remove nonexistent key: {parts[-1]}: missing value")
        return parent.pop(parts[-1])
    if isinstance(parent, list):
        return parent.pop(_index(parent, parts[-1], path, False))
    raise PatchError(f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any, replace: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if replace and parts[-1] not in parent:
            raise PatchError(f"doc is missing key: {path!r}: missing value")
        parent[parts[-1]] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, parts[-1], path, False)] = value
        else:
            parent.insert(_index(parent, parts[-1], path, True), value)
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply RFC 6902 operations to a copy of `doc`."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    out = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], str(op["path"])
        if kind == "add":
            out = _add(out, path, copy.deepcopy(op.get("value")), False)
        elif kind == "replace":
            out = _add(out, path, copy.deepcopy(op.get("value")), True)
        elif kind == "remove":
            _remove(out, path)
        elif kind == "move":
            value = _remove(out, str(op.get("from", "")))
            out = _add(out, path, value, False)
        elif kind == "copy":
            out = _add(out, path, copy.deepcopy(_get(out, str(op.get("from", "")))), False)
        elif kind == "test":
            if _get(out, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"unexpected kind of operation: {kind!r}")
    return out


# -- merge patch ----------------------------------------------------------


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# -- strategic merge patch ------------------------------------------------

_DIRECTIVE = "$patch"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_RETAIN = "$retainKeys"


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        # ContainerPort merges by containerPort, ServicePort by port.
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(doc: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to a copy of `doc`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get(_DIRECTIVE) == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != _DIRECTIVE}
    if patch.get(_DIRECTIVE) == "delete":
        return None
    out = dict(doc) if isinstance(doc, dict) else {}
    retain = patch.get(_RETAIN)
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN) or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(out.get(name), list) and isinstance(value, list):
                out[name] = [v for v in out[name] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
            continue
        current = out.get(key)
        if isinstance(value, list):
            out[key] = _merge_list(key, current, value)
        elif isinstance(value, dict):
            merged = strategic_merge(current, value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        keep = set(retain)
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    mkey = _merge_key(field, [*patch, *(current if isinstance(current, list) else [])])
    if mkey is None or not all(isinstance(i, dict) for i in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and _DIRECTIVE in v)]
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get(_DIRECTIVE) != "replace"]
    out = [copy.deepcopy(i) for i in current] if isinstance(current, list) else []
    for item in patch:
        key_value = item.get(mkey)
        idx = next(
            (n for n, e in enumerate(out) if isinstance(e, dict) and e.get(mkey) == key_value),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


# -- apply (server-side and client-side) ----------------------------------


def removals(previous: Any, current: Any) -> Any:
    """A patch that sets to null what `previous` had and `current` no longer has.

    kubectl's three-way merge and server-side apply both remove the fields a
    manager stopped applying; objects recurse, lists and values are replaced."""
    if not isinstance(previous, dict) or not isinstance(current, dict):
        return current
    out: dict[str, Any] = {}
    for key, value in current.items():
        out[key] = removals(previous.get(key), value)
    for key in previous:
        if key not in current:
            out[key] = None
    return out


def apply_merge(live: Any, previous: Any, applied: Any) -> Any:
    """Server-side apply for one manager: `applied` merged over `live`, minus what it dropped."""
    return strategic_merge(live, removals(previous, applied))


def depth(value: Any, limit: int) -> int:
    """The nesting depth of `value`, counting no further than `limit + 1`."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        cur, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        if isinstance(cur, dict):
            stack.extend((v, d + 1) for v in cur.values())
        elif isinstance(cur, list):
            stack.extend((v, d + 1) for v in cur)
    return deepest

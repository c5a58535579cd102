"""The generic REST handlers: list, watch, get, create, update, patch, delete for every kind.

One set of handlers serves every row of `kinds.KINDS`, the way the
kube-apiserver's `pkg/endpoints/handlers` serve every registry: selectors,
`limit`/`continue`, `resourceVersion` and watches, optimistic concurrency
(409 on a stale resourceVersion), the four patch types, `dryRun`,
`gracePeriodSeconds`, server-side printing (`as=Table`) and `Status` bodies
with the API server's codes, reasons and messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from aiohttp import web

from podkeeper.api import discovery, kinds, openapi, patch, protobuf, selectors, tables
from podkeeper.api.backend import AgentBackend, ApplyError, Obj
from podkeeper.api.kinds import Kind
from podkeeper.api.registry import Change, Expired, Registry
from podkeeper.api.status import StatusError

REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
STOP: web.AppKey[asyncio.Event] = web.AppKey("kube-stop")

#: Request bodies above this many bytes are refused with 413 (and the limit said).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Objects nested deeper than this are refused (a 400-deep pod broke `get -o yaml`).
MAX_DEPTH = 64
#: Seconds between checks, in an idle watch, whether the client or the server went away.
WATCH_CHECK_INTERVAL = 0.5
#: A watch sends a BOOKMARK (when allowed) after this many idle seconds.
BOOKMARK_INTERVAL = 30.0

_SERVER_FIELDS = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- helpers ---------------------------------------------------------------


def _bad(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def _not_found(kind: Kind, name: str) -> StatusError:
    details: Obj = {"name": name, "kind": kind.plural}
    if kind.group:
        details["group"] = kind.group
    return StatusError(404, "NotFound", f'{kind.qualified()} "{name}" not found', details)


def _conflict(kind: Kind, name: str) -> StatusError:
    details: Obj = {"name": name, "kind": kind.plural}
    if kind.group:
        details["group"] = kind.group
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified()} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        details,
    )


def _invalid(kind: Kind, name: str, causes: list[tuple[str, str]]) -> StatusError:
    text = "; ".join(f"{f}: {m}" if f else m for f, m in causes)
    details: Obj = {
        "name": name,
        "kind": kind.name,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    }
    if kind.group:
        details["group"] = kind.group
    return StatusError(422, "Invalid", f'{kind.name} "{name}" is invalid: {text}', details)


def _meta(obj: Any) -> Obj:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _registry(request: web.Request) -> Registry:
    return request.app[REGISTRY]


def _backend(request: web.Request) -> AgentBackend:
    return request.app[REGISTRY].backend


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise _bad(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return bool(values)


async def _shielded(call: Awaitable[Any]) -> Any:
    return await asyncio.shield(call)


async def read_body(request: web.Request, *, metadata_only: bool = False) -> Any:
    """The request body as JSON (YAML for apply patches); 415, 413 and 400 as the API server."""
    ctype = request.content_type or "application/json"
    # Issue 13 item 15: a text/plain body was accepted. JSON and YAML media types pass;
    # clients that label JSON `application/octet-stream` (the Python client's create)
    # are read as JSON.
    if ctype.startswith(("text/", "multipart/", "application/x-www-form-urlencoded")):
        # apiserver `negotiation.NewUnsupportedMediaTypeError`.
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml, application/vnd.kubernetes.protobuf"
            f" (got {ctype})",
        )
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large(length)
    raw = await request.read()
    if not raw.strip():
        return None
    if ctype == protobuf.MEDIA_TYPE:
        try:
            if not metadata_only:
                raise protobuf.ProtobufError("the object has a spec")
            return protobuf.decode(raw)
        except protobuf.ProtobufError as exc:
            raise StatusError(
                415,
                "UnsupportedMediaType",
                f"this server reads protobuf bodies only for namespaces ({exc}):"
                " send application/json",
            ) from None
    try:
        value = yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw)
    except RecursionError:
        raise _bad(f"the request body is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise _bad(
            f"the request body is not valid {'YAML' if 'yaml' in ctype else 'JSON'}: {exc}"
        ) from None
    if patch.depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise _bad(f"the request body is nested more than {MAX_DEPTH} levels deep")
    return value


def too_large(size: int | None) -> StatusError:
    have = f"{size} bytes, " if size else ""
    return StatusError(
        413,
        "RequestEntityTooLarge",
        f"the request body is too large ({have}the limit is {MAX_BODY_BYTES} bytes,"
        f" {MAX_BODY_BYTES // (1024 * 1024)} MiB): split it into smaller requests",
    )


def check_shape(body: Obj, kind: Kind) -> None:
    """`metadata`, `spec` and `status` must be objects: a 422 naming the field otherwise."""
    meta = body.get("metadata", {})
    if not isinstance(meta, dict):
        raise _invalid(
            kind, "", [("metadata", f"Invalid value: {type(meta).__name__}: must be an object")]
        )
    for section in ("spec", "status"):
        if section in body and body[section] is not None and not isinstance(body[section], dict):
            raise _invalid(
                kind,
                str(meta.get("name", "")),
                [(section, f"Invalid value: {type(body[section]).__name__}: must be an object")],
            )


def _object_body(body: Any, kind: Kind) -> Obj:
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a {kind.name} object")
    body.setdefault("apiVersion", kind.resource.group_version)
    body.setdefault("kind", kind.name)
    if body["kind"] != kind.name:
        raise _bad(
            f"the API version in the data ({body['apiVersion']}) does not match the expected"
            f" API version ({kind.resource.group_version})"
            if body["apiVersion"] != kind.resource.group_version
            else f"the body is a {body['kind']}, not a {kind.name}"
        )
    check_shape(body, kind)
    body.setdefault("metadata", {})
    return body


def _clean(obj: Obj) -> Obj:
    """The object as a client may write it: no status, no server-set metadata."""
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in _meta(obj).items() if k not in _SERVER_FIELDS}
    return out


def _check_namespace(kind: Kind, meta: Obj, namespace: str | None) -> None:
    if not kind.namespaced:
        meta.pop("namespace", None)
        return
    if meta.setdefault("namespace", namespace) != namespace:
        # apiserver `pkg/endpoints/handlers/rest.go` wording.
        raise _bad(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def _generate_name(prefix: str) -> str:
    # apiserver `names.SimpleNameGenerator`: five random lowercase alphanumerics.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(5))


_CAUSE_REASONS = {
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Forbidden": "FieldValueForbidden",
    "Duplicate value": "FieldValueDuplicate",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
    "Not found": "FieldValueNotFound",
}


def _invalid_status(kind: Kind, name: str, message: str, causes: list[Obj]) -> StatusError:
    details: Obj = {"name": name, "kind": kind.name, "causes": causes}
    if kind.group:
        details["group"] = kind.group
    return StatusError(422, "Invalid", message, details)


def _validate(kind: Kind, obj: Obj) -> Obj:
    """Defaults and validation; a 422 whose causes name each field (`field.ErrorList`)."""
    from podkeeper.manifest import default_object, format_invalid, validate_object

    defaulted = default_object(obj)
    problems = validate_object(defaulted)
    if problems:
        name = str(_meta(obj).get("name", ""))
        causes = [
            {
                "reason": _CAUSE_REASONS.get(p.type, "FieldValueInvalid"),
                "message": p.body(),
                "field": p.path,
            }
            for p in problems
        ]
        raise _invalid_status(kind, name, format_invalid(kind.name, name, problems), causes)
    return defaulted


def _apply_error(kind: Kind, name: str, exc: ApplyError) -> StatusError:
    """The agent's own refusals (e.g. an immutable field) as a 422 with causes."""
    causes = []
    for message in exc.messages:
        _, sep, rest = message.partition(" is invalid: ")
        body = rest if sep else message
        field, sep, detail = body.partition(": ")
        if sep and field and " " not in field:
            causes.append({"reason": "FieldValueInvalid", "message": detail, "field": field})
        else:
            causes.append({"reason": "FieldValueInvalid", "message": body})
    return _invalid_status(kind, name, "; ".join(exc.messages), causes)


#: Fields whose empty object means the same as no field (a Go struct's zero value).
_EMPTY_IS_ABSENT = frozenset({"resources"})


def normalize(value: Any) -> Any:
    """`null` fields dropped, `resources: {}` too: what a Go client serializes for zero values
    (`creationTimestamp: null` in templates) means "unset", as the API server decodes it.
    Without this, `kubectl rollout undo` (which sends a template read back from a
    ReplicaSet) would look like a new template and start a new rollout."""
    if isinstance(value, dict):
        return {
            k: normalize(v)
            for k, v in value.items()
            if v is not None and not (k in _EMPTY_IS_ABSENT and v == {})
        }
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


async def _store(request: web.Request, kind: Kind, obj: Obj, dry_run: bool) -> Obj:
    """Write `obj` through the agent (or the API's own namespaces) and return it versioned."""
    reg = _registry(request)
    obj = normalize(obj)
    if kind.source == "namespace":
        if dry_run:
            return obj
        return reg.observe(kind, reg.cluster.create_namespace(obj))
    if kind.source != "backend":
        raise StatusError(
            405, "MethodNotAllowed", f"{kind.qualified()} are maintained by the agent itself"
        )
    defaulted = _validate(kind, obj)
    if dry_run:
        return defaulted
    try:
        stored = await _shielded(_backend(request).apply([obj]))
    except ApplyError as exc:
        raise _apply_error(kind, str(_meta(obj).get("name", "")), exc) from None
    return reg.observe(kind, stored[0] if stored else obj)


def _respond(request: web.Request, kind: Kind, obj: Obj, status: int = 200) -> web.Response:
    if wants_table(request):
        return web.json_response(_table(request, kind, [obj]), status=status)
    return web.json_response(obj, status=status)


def _table(request: web.Request, kind: Kind, items: list[Obj]) -> Obj:
    include = request.query.get("includeObject", "Metadata")
    rv = str(_registry(request).resource_version)
    return tables.table(kind.columns, kind.printer, items, time.time(), include, rv)


# -- list and watch ---------------------------------------------------------


def _selectors(
    request: web.Request, kind: Kind
) -> tuple[list[selectors.Requirement], list[selectors.FieldTerm]]:
    try:
        labels = selectors.parse_labels(request.query.get("labelSelector", ""))
        fields = selectors.parse_fields(
            request.query.get("fieldSelector", ""), kind.fields, kind.name
        )
    except selectors.SelectorError as exc:
        raise _bad(str(exc)) from None
    return labels, fields


def _matcher(
    kind: Kind, labels: list[selectors.Requirement], fields: list[selectors.FieldTerm]
) -> Callable[[Obj], bool]:
    def match(obj: Obj) -> bool:
        return selectors.labels_match(labels, obj) and selectors.fields_match(
            fields, kind.fields, obj
        )

    return match


def _continue_token(rv: int, start: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": start}).encode()).decode()


def _parse_continue(token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["start"])
    except (ValueError, KeyError, TypeError):
        raise _bad("continue key is not valid") from None


async def list_or_watch(
    request: web.Request, kind: Kind, namespace: str | None
) -> web.StreamResponse:
    labels, fields = _selectors(request, kind)
    match = _matcher(kind, labels, fields)
    reg = _registry(request)
    if kind.source == "metrics":
        await reg.metrics.refresh()
    elif request.query.get("watch", "").lower() in ("true", "1"):
        return await _watch(request, kind, namespace, match)
    involved = next((t.value for t in fields if t.field == "involvedObject.name" and t.equal), None)
    items = [o for o in reg.list(kind, namespace, involved) if match(o)]
    rv = reg.resource_version
    meta: Obj = {"resourceVersion": str(rv)}
    start = _parse_continue(request.query["continue"]) if request.query.get("continue") else 0
    limit_text = request.query.get("limit")
    if start or limit_text:
        try:
            limit = int(limit_text) if limit_text else 0
        except ValueError:
            raise _bad(f"limit: invalid value {limit_text!r}: must be an integer") from None
        end = start + limit if limit > 0 else len(items)
        if end < len(items):
            meta["continue"] = _continue_token(rv, end)
            meta["remainingItemCount"] = len(items) - end
        items = items[start:end]
    if wants_table(request):
        table = _table(request, kind, items)
        table["metadata"] = meta
        return web.json_response(table)
    return web.json_response(
        {
            "apiVersion": kind.resource.group_version,
            "kind": kind.resource.list_kind,
            "metadata": meta,
            "items": items,
        }
    )


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _watch(
    request: web.Request, kind: Kind, namespace: str | None, match: Callable[[Obj], bool]
) -> web.StreamResponse:
    reg = _registry(request)
    rv_text = request.query.get("resourceVersion", "")
    try:
        since = None if rv_text in ("", "0") else int(rv_text)
    except ValueError:
        raise _bad(f"resourceVersion: invalid value {rv_text!r}") from None
    timeout_text = request.query.get("timeoutSeconds")
    deadline = time.monotonic() + float(timeout_text) if timeout_text else None
    bookmarks = request.query.get("allowWatchBookmarks", "").lower() == "true"
    table = wants_table(request)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()

    async def send(kind_word: str, obj: Obj) -> None:
        body = _table(request, kind, [obj]) if table and kind_word != "BOOKMARK" else obj
        await resp.write(json.dumps({"type": kind_word, "object": body}).encode() + b"\n")

    try:
        w, replay, current = reg.watch(kind, namespace, since)
    except Expired as exc:
        await resp.prepare(request)
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(exc),
            "reason": "Expired",
            "code": 410,
        }
        await resp.write(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
        await resp.write_eof()
        return resp
    stop = request.app[STOP]
    try:
        await resp.prepare(request)

        # What this watcher has been shown: an object leaving its selection is DELETED
        # for it, one entering is ADDED (apiserver `cacher.go` watch filtering).
        def key(obj: Obj) -> tuple[str, str]:
            meta = _meta(obj)
            return (str(meta.get("namespace", "")), str(meta.get("name", "")))

        visible: set[tuple[str, str]] = set()

        async def deliver(change_type: str, obj: Obj) -> bool:
            k, now_matches = key(obj), match(obj)
            was = k in visible
            if change_type == "DELETED" or not now_matches:
                visible.discard(k)
                if was:
                    await send("DELETED", obj)
                return was
            visible.add(k)
            await send("ADDED" if not was else change_type, obj)
            return True

        if since is None:
            for obj in current:
                await deliver("ADDED", obj)
        else:
            visible.update(key(o) for o in current if match(o))
            visible.update(key(c.obj) for c in replay if c.type != "ADDED")
            for old in replay:
                await deliver(old.type, old.obj)
        idle_since = time.monotonic()
        while not stop.is_set() and not _client_gone(request):
            wait = WATCH_CHECK_INTERVAL
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            try:
                change: Change | None = await asyncio.wait_for(w.queue.get(), wait)
            except TimeoutError:
                if bookmarks and time.monotonic() - idle_since > BOOKMARK_INTERVAL:
                    idle_since = time.monotonic()
                    await send(
                        "BOOKMARK",
                        {
                            "kind": kind.name,
                            "apiVersion": kind.resource.group_version,
                            "metadata": {"resourceVersion": str(reg.resource_version)},
                        },
                    )
                continue
            if change is None:
                break
            if await deliver(change.type, change.obj):
                idle_since = time.monotonic()
    except (ConnectionResetError, asyncio.CancelledError):
        reg.unwatch(w)
        raise
    finally:
        reg.unwatch(w)
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp


# -- item verbs --------------------------------------------------------------


async def get_item(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if kind.source == "metrics":
        await _registry(request).metrics.refresh()
    obj = _registry(request).get(kind, namespace, name)
    if obj is None:
        raise _not_found(kind, name)
    return _respond(request, kind, obj)


async def create(request: web.Request, kind: Kind, namespace: str | None) -> web.Response:
    if "create" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"create is not supported on {kind.qualified()}")
    body = _object_body(await read_body(request, metadata_only=kind.source == "namespace"), kind)
    meta = _meta(body)
    _check_namespace(kind, meta, namespace)
    if not meta.get("name"):
        if meta.get("generateName"):
            meta["name"] = _generate_name(str(meta["generateName"]))
        else:
            raise _invalid(
                kind, "", [("metadata.name", "Required value: name or generateName is required")]
            )
    name = str(meta["name"])
    reg = _registry(request)
    if reg.get(kind, namespace or "", name) is not None:
        details: Obj = {"name": name, "kind": kind.plural}
        if kind.group:
            details["group"] = kind.group
        raise StatusError(
            409, "AlreadyExists", f'{kind.qualified()} "{name}" already exists', details
        )
    obj = _clean(body)
    out = await _store(request, kind, obj, _dry_run(request))
    return web.json_response(out, status=201)


async def update(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if "update" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"update is not supported on {kind.qualified()}")
    body = _object_body(await read_body(request), kind)
    meta = _meta(body)
    _check_namespace(kind, meta, namespace if kind.namespaced else None)
    if meta.get("name", name) != name:
        raise _bad(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL"
            f" ({name})"
        )
    meta["name"] = name
    existing = _registry(request).get(kind, namespace, name)
    if existing is None:
        raise _not_found(kind, name)
    given = meta.get("resourceVersion")
    if given and str(given) != _meta(existing).get("resourceVersion"):
        raise _conflict(kind, name)
    out = await _store(request, kind, _clean(body), _dry_run(request))
    return web.json_response(out)


_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


async def patch_item(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if "patch" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"patch is not supported on {kind.qualified()}")
    ptype = _PATCH_TYPES.get(request.content_type)
    if ptype is None:
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(_PATCH_TYPES)}",
        )
    body = await read_body(request)
    reg = _registry(request)
    existing = reg.get(kind, namespace, name)
    dry_run = _dry_run(request)
    if ptype == "apply":
        return await _server_side_apply(request, kind, namespace, name, existing, body, dry_run)
    if existing is None:
        raise _not_found(kind, name)
    try:
        if ptype == "json":
            patched = patch.json_patch(existing, body)
        elif ptype == "merge":
            patched = patch.merge_patch(existing, body)
        else:
            patched = patch.strategic_merge(existing, body)
    except patch.PatchError as exc:
        raise StatusError(422, "Invalid", str(exc)) from None
    if not isinstance(patched, dict):
        raise _bad("the patched object is not an object")
    given = _meta(patched).get("resourceVersion")
    if given and str(given) != _meta(existing).get("resourceVersion"):
        raise _conflict(kind, name)
    patched = _object_body(patched, kind)
    if _meta(patched).get("name") != name:
        raise _bad("the name of the object may not be changed by a patch")
    cleaned = _clean(patched)
    if normalize(cleaned) == normalize(_clean(existing)):
        return web.json_response(existing)
    out = await _store(request, kind, cleaned, dry_run)
    return web.json_response(out)


async def _server_side_apply(
    request: web.Request,
    kind: Kind,
    namespace: str,
    name: str,
    existing: Obj | None,
    body: Any,
    dry_run: bool,
) -> web.Response:
    manager = request.query.get("fieldManager", "")
    if not manager:
        raise _invalid(
            kind, name, [("fieldManager", "Required value: is required for apply patch")]
        )
    applied = _object_body(body, kind)
    if _meta(applied).get("name", name) != name:
        raise _bad(
            f"the name of the object ({_meta(applied).get('name')}) does not match the name on"
            f" the URL ({name})"
        )
    _meta(applied)["name"] = name
    _check_namespace(kind, _meta(applied), namespace if kind.namespaced else None)
    reg = _registry(request)
    key = (kind.name, namespace, name, manager)
    previous = reg.applied.get(key) if existing is not None else None
    base = _clean(existing) if existing is not None else {}
    merged = patch.apply_merge(base, _clean(previous) if previous else None, _clean(applied))
    if existing is not None and merged == base:
        if not dry_run:
            reg.applied[key] = applied
        return web.json_response(existing)
    out = await _store(request, kind, merged, dry_run)
    if not dry_run:
        reg.applied[key] = applied
    return web.json_response(out, status=201 if existing is None else 200)


async def delete_item(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if "delete" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"delete is not supported on {kind.qualified()}")
    grace_text = request.query.get("gracePeriodSeconds")
    options = await read_body(request) if request.can_read_body else None
    grace: int | None = None
    try:
        if grace_text not in (None, ""):
            grace = int(grace_text)
        elif isinstance(options, dict) and options.get("gracePeriodSeconds") is not None:
            grace = int(options["gracePeriodSeconds"])
    except (TypeError, ValueError):
        raise _bad("gracePeriodSeconds: must be an integer") from None
    if grace is not None and grace < 0:
        raise _bad("gracePeriodSeconds: must be greater than or equal to 0")
    policy = request.query.get("propagationPolicy") or (
        options.get("propagationPolicy") if isinstance(options, dict) else None
    )
    if policy not in (None, "", "Orphan", "Background", "Foreground"):
        raise _invalid(kind, name, [("propagationPolicy", f'Unsupported value: "{policy}"')])
    dry_run = _dry_run(request) or (isinstance(options, dict) and bool(options.get("dryRun")))
    reg = _registry(request)
    existing = reg.get(kind, namespace, name)
    if existing is None:
        raise _not_found(kind, name)
    if dry_run:
        return web.json_response(existing)
    if kind.source == "namespace":
        if not reg.cluster.delete_namespace(name):
            raise StatusError(
                403,
                "Forbidden",
                f'namespace "{name}" is managed by the agent and cannot be deleted',
            )
        reg.get(kind, "", name)
        return web.json_response(existing)
    obj = await _shielded(_backend(request).delete(kind.name, namespace, name, grace))
    if obj is None:
        raise _not_found(kind, name)
    after = reg.get(kind, namespace, name)
    return web.json_response(after if after is not None else obj)


# -- subresources ------------------------------------------------------------


def _scale(deployment: Obj) -> Obj:
    meta = _meta(deployment)
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {
            "replicas": int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        },
        "status": {
            "replicas": int(status.get("replicas") or 0),
            "selector": selectors.format_selector(spec.get("selector")).replace("<none>", ""),
        },
    }


async def scale(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    reg = _registry(request)
    existing = reg.get(kind, namespace, name)
    if existing is None:
        raise _not_found(kind, name)
    current = _scale(existing)
    if request.method == "GET":
        return web.json_response(current)
    body = await read_body(request)
    if request.method == "PATCH":
        ptype = _PATCH_TYPES.get(request.content_type, "merge")
        try:
            if ptype == "json":
                wanted = patch.json_patch(current, body)
            elif ptype == "strategic":
                wanted = patch.strategic_merge(current, body)
            else:
                wanted = patch.merge_patch(current, body)
        except patch.PatchError as exc:
            raise StatusError(422, "Invalid", str(exc)) from None
    else:
        wanted = body
    if not isinstance(wanted, dict):
        raise _bad("the request body must be a Scale object")
    given = _meta(wanted).get("resourceVersion")
    if given and str(given) != _meta(existing).get("resourceVersion"):
        raise _conflict(kind, name)
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise _invalid(
            kind,
            name,
            [("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
        )
    updated = _clean(existing)
    updated.setdefault("spec", {})["replicas"] = replicas
    out = await _store(request, kind, updated, _dry_run(request))
    return web.json_response(_scale(out))


async def evict(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    """`pods/eviction` (kubectl drain): a graceful delete; no PodDisruptionBudgets here."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise _bad("the request body must be a policy/v1 Eviction")
    if _meta(body).get("name", name) != name:
        raise _bad("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    grace = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
    if _registry(request).get(kind, namespace, name) is None:
        raise _not_found(kind, name)
    if not _dry_run(request):
        await _shielded(
            _backend(request).delete(
                kind.name, namespace, name, None if grace is None else int(grace)
            )
        )
        _registry(request).get(kind, namespace, name)
    return web.json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        status=201,
    )


# -- discovery and version -------------------------------------------------


def _server_address(request: web.Request) -> str:
    host = request.host or "127.0.0.1"
    return host


async def apis_root(request: web.Request) -> web.Response:
    version = discovery.wants_aggregated(request.headers.get("Accept", ""))
    if version:
        return web.Response(
            body=json.dumps(discovery.aggregated(False, version)).encode(),
            headers={"Content-Type": discovery.aggregated_content_type(version)},
        )
    return web.json_response(discovery.api_group_list())


def routes() -> list[web.RouteDef]:
    """Every generic route of every kind, plus discovery."""
    out: list[web.RouteDef] = [
        web.get("/api", _aggregated_core),
        web.get("/apis", apis_root),
        web.get("/openapi/v3", _openapi_index),
        web.get("/openapi/v3/{tail:.+}", _openapi_doc),
        web.get("/openapi/v2", _openapi_v2),
    ]
    for gv in kinds.group_versions():
        prefix = f"/apis/{gv}" if "/" in gv else f"/api/{gv}"
        out.append(web.get(prefix, _resource_list(gv)))
        if "/" in gv:
            out.append(web.get(f"/apis/{gv.split('/')[0]}", _group(gv.split("/")[0])))
    for kind in kinds.KINDS:
        out += _kind_routes(kind)
    return out


async def _aggregated_core(request: web.Request) -> web.Response:
    version = discovery.wants_aggregated(request.headers.get("Accept", ""))
    if version:
        return web.Response(
            body=json.dumps(discovery.aggregated(True, version)).encode(),
            headers={"Content-Type": discovery.aggregated_content_type(version)},
        )
    return web.json_response(discovery.api_versions(_server_address(request)))


async def _openapi_index(request: web.Request) -> web.Response:
    return web.json_response(openapi.index())


async def _openapi_doc(request: web.Request) -> web.Response:
    gv = openapi.group_version_of(request.match_info["tail"])
    if gv is None:
        raise StatusError(404, "NotFound", "the server could not find the requested resource")
    return web.Response(
        body=openapi.document(gv),
        content_type="application/json",
        headers={"Cache-Control": "public, immutable"} if request.query.get("hash") else None,
    )


async def _openapi_v2(request: web.Request) -> web.Response:
    return web.Response(body=openapi.swagger_v2(), content_type="application/json")


def _resource_list(gv: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(discovery.resource_list(gv))

    return handler


def _group(group: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(discovery.api_group(group))

    return handler


def _kind_routes(kind: Kind) -> list[web.RouteDef]:
    r = kind.resource

    async def list_all(request: web.Request) -> web.StreamResponse:
        return await list_or_watch(request, kind, None)

    async def list_ns(request: web.Request) -> web.StreamResponse:
        return await list_or_watch(request, kind, request.match_info["ns"])

    async def create_ns(request: web.Request) -> web.Response:
        return await create(request, kind, request.match_info["ns"])

    async def create_cluster(request: web.Request) -> web.Response:
        return await create(request, kind, None)

    def ns_of(request: web.Request) -> str:
        return request.match_info.get("ns", "")

    async def get_one(request: web.Request) -> web.Response:
        return await get_item(request, kind, ns_of(request), request.match_info["name"])

    async def put_one(request: web.Request) -> web.Response:
        return await update(request, kind, ns_of(request), request.match_info["name"])

    async def patch_one(request: web.Request) -> web.Response:
        return await patch_item(request, kind, ns_of(request), request.match_info["name"])

    async def delete_one(request: web.Request) -> web.Response:
        return await delete_item(request, kind, ns_of(request), request.match_info["name"])

    async def scale_one(request: web.Request) -> web.Response:
        return await scale(request, kind, ns_of(request), request.match_info["name"])

    async def evict_one(request: web.Request) -> web.Response:
        return await evict(request, kind, ns_of(request), request.match_info["name"])

    if kind.namespaced:
        coll = f"{r.prefix}/namespaces/{{ns}}/{r.plural}"
        out = [
            web.get(f"{r.prefix}/{r.plural}", list_all),
            web.get(coll, list_ns),
            web.post(coll, create_ns),
        ]
    else:
        coll = f"{r.prefix}/{r.plural}"
        out = [web.get(coll, list_all), web.post(coll, create_cluster)]
    item = f"{coll}/{{name}}"
    out += [
        web.get(item, get_one),
        web.put(item, put_one),
        web.patch(item, patch_one),
        web.delete(item, delete_one),
    ]
    for sub in kind.subresources:
        if sub.name == "status":
            out.append(web.get(f"{item}/status", get_one))
        elif sub.name == "eviction":
            out.append(web.post(f"{item}/eviction", evict_one))
        elif sub.name == "scale":
            out += [
                web.get(f"{item}/scale", scale_one),
                web.put(f"{item}/scale", scale_one),
                web.patch(f"{item}/scale", scale_one),
            ]
    return out

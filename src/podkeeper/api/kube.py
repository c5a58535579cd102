"""The generic REST routes of every kind: list, watch, get, discovery, OpenAPI.

One set of handlers serves every row of `kinds.KINDS`, the way the
kube-apiserver's `pkg/endpoints/handlers` serve every registry: selectors,
`limit`/`continue`, `resourceVersion` and watches (410 when too old),
server-side printing (`as=Table`) and `Status` bodies with the API server's
codes, reasons and messages. The write verbs are in `writes.py`, what they
share in `shared.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from podkeeper.api import discovery, kinds, openapi, selectors
from podkeeper.api.backend import Obj
from podkeeper.api.kinds import Kind
from podkeeper.api.registry import Change, Expired
from podkeeper.api.shared import (
    REGISTRY,
    STOP,
    bad,
    meta_of,
    not_found,
    read_body,
    registry_of,
    respond,
    table_of,
    wants_table,
)
from podkeeper.api.status import StatusError
from podkeeper.api.writes import (
    create,
    delete_collection,
    delete_item,
    evict,
    patch_item,
    scale,
    update,
    write_status,
)

__all__ = ["REGISTRY", "STOP", "read_body", "routes"]

#: Seconds between checks, in an idle watch, whether the client or the server went away.
WATCH_CHECK_INTERVAL = 0.5
#: A watch sends a BOOKMARK (when allowed) after this many idle seconds.
BOOKMARK_INTERVAL = 30.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        raise bad(str(exc)) from None
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
        raise bad("continue key is not valid") from None


async def list_or_watch(
    request: web.Request, kind: Kind, namespace: str | None
) -> web.StreamResponse:
    labels, fields = _selectors(request, kind)
    match = _matcher(kind, labels, fields)
    reg = registry_of(request)
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
            raise bad(f"limit: invalid value {limit_text!r}: must be an integer") from None
        end = start + limit if limit > 0 else len(items)
        if end < len(items):
            meta["continue"] = _continue_token(rv, end)
            meta["remainingItemCount"] = len(items) - end
        items = items[start:end]
    if wants_table(request):
        table = table_of(request, kind, items)
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
    reg = registry_of(request)
    rv_text = request.query.get("resourceVersion", "")
    try:
        since = None if rv_text in ("", "0") else int(rv_text)
    except ValueError:
        raise bad(f"resourceVersion: invalid value {rv_text!r}") from None
    timeout_text = request.query.get("timeoutSeconds")
    deadline = time.monotonic() + float(timeout_text) if timeout_text else None
    bookmarks = request.query.get("allowWatchBookmarks", "").lower() == "true"
    table = wants_table(request)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()

    async def send(kind_word: str, obj: Obj) -> None:
        body = table_of(request, kind, [obj]) if table and kind_word != "BOOKMARK" else obj
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
            meta = meta_of(obj)
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
        await registry_of(request).metrics.refresh()
    obj = registry_of(request).get(kind, namespace, name)
    if obj is None:
        raise not_found(kind, name)
    return respond(request, kind, obj)


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

    async def delete_all(request: web.Request) -> web.Response:
        # Only in one namespace (or of a cluster-scoped kind): the API server serves no
        # DELETE on `/api/v1/pods` across namespaces (`api_installer.go` registers LIST and
        # WATCHLIST there only), so that path answers 405 as it does.
        namespace = request.match_info.get("ns") if kind.namespaced else None
        labels, fields = _selectors(request, kind)
        return await delete_collection(request, kind, namespace, _matcher(kind, labels, fields))

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

    async def write_status_one(request: web.Request) -> web.Response:
        return await write_status(request, kind, ns_of(request), request.match_info["name"])

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
    if "deletecollection" in kind.verbs:
        out.append(web.delete(coll, delete_all))
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
            if "update" in sub.verbs:
                out += [
                    web.put(f"{item}/status", write_status_one),
                    web.patch(f"{item}/status", write_status_one),
                ]
        elif sub.name == "eviction":
            out.append(web.post(f"{item}/eviction", evict_one))
        elif sub.name == "scale":
            out += [
                web.get(f"{item}/scale", scale_one),
                web.put(f"{item}/scale", scale_one),
                web.patch(f"{item}/scale", scale_one),
            ]
    return out

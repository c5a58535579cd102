"""The write verbs: create, update (409 on a stale resourceVersion), the four patch types,
server-side apply, delete with gracePeriodSeconds / propagationPolicy / dryRun, and the
`scale` and `eviction` subresources. Every write goes through the agent (`AgentBackend`)
after the API's own defaults and validation, and comes back versioned by the registry.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from podkeeper.api import patch, selectors
from podkeeper.api.backend import ApplyError, Obj
from podkeeper.api.kinds import Kind
from podkeeper.api.shared import (
    backend_of,
    bad,
    conflict,
    invalid,
    meta_of,
    not_found,
    object_body,
    read_body,
    registry_of,
    shielded,
    wants_dry_run,
)
from podkeeper.api.status import StatusError

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


def clean(obj: Obj) -> Obj:
    """The object as a client may write it: no status, no server-set metadata."""
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in meta_of(obj).items() if k not in _SERVER_FIELDS}
    return out


def check_namespace(kind: Kind, meta: Obj, namespace: str | None) -> None:
    if not kind.namespaced:
        meta.pop("namespace", None)
        return
    if meta.setdefault("namespace", namespace) != namespace:
        # apiserver `pkg/endpoints/handlers/rest.go` wording.
        raise bad(
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


def invalid_status(kind: Kind, name: str, message: str, causes: list[Obj]) -> StatusError:
    details: Obj = {"name": name, "kind": kind.name, "causes": causes}
    if kind.group:
        details["group"] = kind.group
    return StatusError(422, "Invalid", message, details)


def validate(kind: Kind, obj: Obj) -> Obj:
    """Defaults and validation; a 422 whose causes name each field (`field.ErrorList`)."""
    from podkeeper.manifest import default_object, format_invalid, validate_object

    defaulted = default_object(obj)
    problems = validate_object(defaulted)
    if problems:
        name = str(meta_of(obj).get("name", ""))
        causes = [
            {
                "reason": _CAUSE_REASONS.get(p.type, "FieldValueInvalid"),
                "message": p.body(),
                "field": p.path,
            }
            for p in problems
        ]
        raise invalid_status(kind, name, format_invalid(kind.name, name, problems), causes)
    return defaulted


def apply_error(kind: Kind, name: str, exc: ApplyError) -> StatusError:
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
    return invalid_status(kind, name, "; ".join(exc.messages), causes)


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


async def store(request: web.Request, kind: Kind, obj: Obj, dry_run: bool) -> Obj:
    """Write `obj` through the agent (or the API's own namespaces) and return it versioned."""
    reg = registry_of(request)
    obj = normalize(obj)
    if kind.source == "namespace":
        if dry_run:
            return obj
        return reg.observe(kind, reg.cluster.create_namespace(obj))
    if kind.source != "backend":
        raise StatusError(
            405, "MethodNotAllowed", f"{kind.qualified()} are maintained by the agent itself"
        )
    defaulted = validate(kind, obj)
    if dry_run:
        return defaulted
    try:
        stored = await shielded(backend_of(request).apply([obj]))
    except ApplyError as exc:
        raise apply_error(kind, str(meta_of(obj).get("name", "")), exc) from None
    return reg.observe(kind, stored[0] if stored else obj)


async def create(request: web.Request, kind: Kind, namespace: str | None) -> web.Response:
    if "create" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"create is not supported on {kind.qualified()}")
    body = object_body(await read_body(request, metadata_only=kind.source == "namespace"), kind)
    meta = meta_of(body)
    check_namespace(kind, meta, namespace)
    if not meta.get("name"):
        if meta.get("generateName"):
            meta["name"] = _generate_name(str(meta["generateName"]))
        else:
            raise invalid(
                kind, "", [("metadata.name", "Required value: name or generateName is required")]
            )
    name = str(meta["name"])
    reg = registry_of(request)
    if reg.get(kind, namespace or "", name) is not None:
        details: Obj = {"name": name, "kind": kind.plural}
        if kind.group:
            details["group"] = kind.group
        raise StatusError(
            409, "AlreadyExists", f'{kind.qualified()} "{name}" already exists', details
        )
    obj = clean(body)
    out = await store(request, kind, obj, wants_dry_run(request))
    return web.json_response(out, status=201)


async def update(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if "update" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"update is not supported on {kind.qualified()}")
    body = object_body(await read_body(request), kind)
    meta = meta_of(body)
    check_namespace(kind, meta, namespace if kind.namespaced else None)
    if meta.get("name", name) != name:
        raise bad(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL"
            f" ({name})"
        )
    meta["name"] = name
    existing = registry_of(request).get(kind, namespace, name)
    if existing is None:
        raise not_found(kind, name)
    given = meta.get("resourceVersion")
    if given and str(given) != meta_of(existing).get("resourceVersion"):
        raise conflict(kind, name)
    out = await store(request, kind, clean(body), wants_dry_run(request))
    return web.json_response(out)


_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


def _patch_type(request: web.Request) -> str:
    """json | merge | strategic | apply, from the Content-Type; 415 as the API server."""
    ptype = _PATCH_TYPES.get(request.content_type)
    if ptype is None:
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(_PATCH_TYPES)}",
        )
    return ptype


def _plain_patch(ptype: str, existing: Obj, body: Any) -> Any:
    """`existing` with a json, merge or strategic merge patch applied; PatchError if not."""
    if ptype == "json":
        return patch.json_patch(existing, body)
    if ptype == "merge":
        return patch.merge_patch(existing, body)
    return patch.strategic_merge(existing, body)


async def patch_item(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if "patch" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"patch is not supported on {kind.qualified()}")
    ptype = _patch_type(request)
    body = await read_body(request)
    reg = registry_of(request)
    existing = reg.get(kind, namespace, name)
    dry_run = wants_dry_run(request)
    if ptype == "apply":
        return await _server_side_apply(request, kind, namespace, name, existing, body, dry_run)
    if existing is None:
        raise not_found(kind, name)
    try:
        patched = _plain_patch(ptype, existing, body)
    except patch.PatchError as exc:
        raise StatusError(422, "Invalid", str(exc)) from None
    if not isinstance(patched, dict):
        raise bad("the patched object is not an object")
    given = meta_of(patched).get("resourceVersion")
    if given and str(given) != meta_of(existing).get("resourceVersion"):
        raise conflict(kind, name)
    patched = object_body(patched, kind)
    if meta_of(patched).get("name") != name:
        raise bad("the name of the object may not be changed by a patch")
    cleaned = clean(patched)
    if normalize(cleaned) == normalize(clean(existing)):
        return web.json_response(existing)
    out = await store(request, kind, cleaned, dry_run)
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
        raise invalid(kind, name, [("fieldManager", "Required value: is required for apply patch")])
    applied = object_body(body, kind)
    if meta_of(applied).get("name", name) != name:
        raise bad(
            f"the name of the object ({meta_of(applied).get('name')}) does not match the name on"
            f" the URL ({name})"
        )
    meta_of(applied)["name"] = name
    check_namespace(kind, meta_of(applied), namespace if kind.namespaced else None)
    reg = registry_of(request)
    key = (kind.name, namespace, name, manager)
    previous = reg.applied.get(key) if existing is not None else None
    base = clean(existing) if existing is not None else {}
    merged = patch.apply_merge(base, clean(previous) if previous else None, clean(applied))
    if existing is not None and merged == base:
        if not dry_run:
            reg.applied[key] = applied
        return web.json_response(existing)
    out = await store(request, kind, merged, dry_run)
    if not dry_run:
        reg.applied[key] = applied
    return web.json_response(out, status=201 if existing is None else 200)


async def _delete_options(request: web.Request, kind: Kind, name: str) -> tuple[int | None, bool]:
    """`DeleteOptions` from the query or the body (apiserver `handlers/delete.go`): the grace
    period (validated) and whether this is a dry run; propagationPolicy is validated only
    (dependents are the controllers' business here)."""
    grace_text = request.query.get("gracePeriodSeconds")
    options = await read_body(request) if request.can_read_body else None
    grace: int | None = None
    try:
        if grace_text not in (None, ""):
            grace = int(grace_text)
        elif isinstance(options, dict) and options.get("gracePeriodSeconds") is not None:
            grace = int(options["gracePeriodSeconds"])
    except (TypeError, ValueError):
        raise bad("gracePeriodSeconds: must be an integer") from None
    if grace is not None and grace < 0:
        raise bad("gracePeriodSeconds: must be greater than or equal to 0")
    policy = request.query.get("propagationPolicy") or (
        options.get("propagationPolicy") if isinstance(options, dict) else None
    )
    if policy not in (None, "", "Orphan", "Background", "Foreground"):
        raise invalid(kind, name, [("propagationPolicy", f'Unsupported value: "{policy}"')])
    dry_run = wants_dry_run(request) or (isinstance(options, dict) and bool(options.get("dryRun")))
    return grace, dry_run


async def delete_item(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    if "delete" not in kind.verbs:
        raise StatusError(405, "MethodNotAllowed", f"delete is not supported on {kind.qualified()}")
    grace, dry_run = await _delete_options(request, kind, name)
    reg = registry_of(request)
    existing = reg.get(kind, namespace, name)
    if existing is None:
        raise not_found(kind, name)
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
    obj = await shielded(backend_of(request).delete(kind.name, namespace, name, grace))
    if obj is None:
        raise not_found(kind, name)
    after = reg.get(kind, namespace, name)
    return web.json_response(after if after is not None else obj)


async def delete_collection(
    request: web.Request, kind: Kind, namespace: str | None, match: Callable[[Obj], bool]
) -> web.Response:
    """`DELETE` on a collection: every object the list options select is deleted as a single
    DELETE would (pods gracefully), and the answer is the list of them as they were listed
    (apiserver `registry/generic/registry/store.go` DeleteCollection: "In case of success,
    the list of deleted objects will be returned"; an object already gone is skipped)."""
    if "deletecollection" not in kind.verbs or kind.source != "backend":
        raise StatusError(
            405, "MethodNotAllowed", f"deletecollection is not supported on {kind.qualified()}"
        )
    grace, dry_run = await _delete_options(request, kind, "")
    reg = registry_of(request)
    items = [o for o in reg.list(kind, namespace) if match(o)]
    if not dry_run:
        backend = backend_of(request)
        for obj in items:
            meta = meta_of(obj)
            ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
            await shielded(backend.delete(kind.name, ns, name, grace))
            reg.get(kind, ns, name)  # records the deletion (or the deletionTimestamp) at once
    return web.json_response(
        {
            "apiVersion": kind.resource.group_version,
            "kind": kind.resource.list_kind,
            "metadata": {"resourceVersion": str(reg.resource_version)},
            "items": items,
        }
    )


# -- subresources ------------------------------------------------------------

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _canonical_times(value: Any) -> Any:
    """RFC 3339 times as the API server stores them once decoded into `metav1.Time`: UTC,
    second precision, `Z` (a Python client sends `+00:00` and microseconds)."""
    if isinstance(value, dict):
        return {k: _canonical_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_times(v) for v in value]
    if isinstance(value, str) and _TIME.fullmatch(value):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


_SYSTEM_CONDITIONS = frozenset(
    {"PodScheduled", "Ready", "Initialized", "ContainersReady", "DisruptionTarget"}
)


def _validate_status(kind: Kind, name: str, status: Any) -> Obj:
    """`ValidatePodStatusUpdate`, the part a client can get wrong here: a status object whose
    conditions each have a type, a qualified name unless it is a system one
    (`validatePodConditions`)."""
    from podkeeper.manifest.names import is_qualified_name

    if status is None:
        return {}
    if not isinstance(status, dict):
        raise invalid(kind, name, [("status", "Invalid value: must be an object")])
    problems: list[tuple[str, str]] = []
    conditions = status.get("conditions")
    if conditions is not None and not isinstance(conditions, list):
        problems.append(("status.conditions", "Invalid value: must be a list"))
    for i, cond in enumerate(conditions if isinstance(conditions, list) else []):
        path = f"status.conditions[{i}]"
        ctype = cond.get("type") if isinstance(cond, dict) else None
        if not isinstance(ctype, str) or not ctype:
            problems.append((f"{path}.type", "Required value"))
        elif ctype not in _SYSTEM_CONDITIONS:
            problems += [
                (f"{path}.type", f'Invalid value: "{ctype}": {m}') for m in is_qualified_name(ctype)
            ]
    if problems:
        raise invalid(kind, name, problems)
    return status


async def write_status(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    """`PUT`/`PATCH pods/<name>/status` (every patch type the pod itself takes).

    As `podStatusStrategy.PrepareForUpdate` (`pkg/registry/core/pod/strategy.go`): the spec,
    ownerReferences and deletionTimestamp stay the old pod's; labels and annotations may
    change; a stale resourceVersion is a 409. The status goes to the agent, which keeps the
    conditions the kubelet does not own and overwrites its own fields with its next status
    (`AgentBackend.write_pod_status`)."""
    reg = registry_of(request)
    existing = reg.get(kind, namespace, name)
    body = await read_body(request)
    if request.method == "PUT":
        if existing is None:
            raise not_found(kind, name)
        wanted = object_body(body, kind)
        check_namespace(kind, meta_of(wanted), namespace)
        if meta_of(wanted).get("name", name) != name:
            raise bad(
                f"the name of the object ({meta_of(wanted).get('name')}) does not match the name"
                f" on the URL ({name})"
            )
    else:
        ptype = _patch_type(request)
        if existing is None:
            raise not_found(kind, name)
        try:
            if ptype != "apply":
                wanted = _plain_patch(ptype, existing, body)
            else:
                manager = request.query.get("fieldManager", "")
                if not manager:
                    raise invalid(
                        kind,
                        name,
                        [("fieldManager", "Required value: is required for apply patch")],
                    )
                applied = object_body(body, kind)
                key = (kind.name, namespace, name, f"{manager}/status")
                wanted = patch.apply_merge(existing, reg.applied.get(key), applied)
                if not wants_dry_run(request):
                    reg.applied[key] = applied
        except patch.PatchError as exc:
            raise StatusError(422, "Invalid", str(exc)) from None
        if not isinstance(wanted, dict):
            raise bad("the patched object is not an object")
    given = meta_of(wanted).get("resourceVersion")
    if given and str(given) != meta_of(existing).get("resourceVersion"):
        raise conflict(kind, name)
    status = _canonical_times(_validate_status(kind, name, wanted.get("status")))
    labels_annotations = {k: meta_of(wanted).get(k) for k in ("labels", "annotations")}
    if wants_dry_run(request):
        return web.json_response({**existing, "status": status})
    if any(labels_annotations[k] != meta_of(existing).get(k) for k in labels_annotations):
        updated = clean(existing)
        for k, v in labels_annotations.items():
            if v:
                updated["metadata"][k] = v
            else:
                updated["metadata"].pop(k, None)
        await store(request, kind, updated, False)
    out = await shielded(backend_of(request).write_pod_status(namespace, name, status))
    if out is None:
        raise not_found(kind, name)
    return web.json_response(reg.observe(kind, out))


def _scale(deployment: Obj) -> Obj:
    meta = meta_of(deployment)
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
    reg = registry_of(request)
    existing = reg.get(kind, namespace, name)
    if existing is None:
        raise not_found(kind, name)
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
        raise bad("the request body must be a Scale object")
    given = meta_of(wanted).get("resourceVersion")
    if given and str(given) != meta_of(existing).get("resourceVersion"):
        raise conflict(kind, name)
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise invalid(
            kind,
            name,
            [("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
        )
    updated = clean(existing)
    updated.setdefault("spec", {})["replicas"] = replicas
    out = await store(request, kind, updated, wants_dry_run(request))
    return web.json_response(_scale(out))


async def evict(request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
    """`pods/eviction` (kubectl drain): a graceful delete; no PodDisruptionBudgets here."""
    body = await read_body(request)
    if not isinstance(body, dict):
        raise bad("the request body must be a policy/v1 Eviction")
    if meta_of(body).get("name", name) != name:
        raise bad("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    grace = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
    if registry_of(request).get(kind, namespace, name) is None:
        raise not_found(kind, name)
    if not wants_dry_run(request):
        await shielded(
            backend_of(request).delete(
                kind.name, namespace, name, None if grace is None else int(grace)
            )
        )
        registry_of(request).get(kind, namespace, name)
    return web.json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        status=201,
    )

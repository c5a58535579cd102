"""OpenAPI v3 (and v2) documents for the served kinds: `kubectl explain` and `apply` read them.

kubectl 1.27+ reads `/openapi/v3` (an index of group/versions) and then one
document per group/version. `kubectl apply` looks there for the
`fieldValidation` query parameter on each kind's PATCH operation
(cli-runtime `query_param_verifier_v3.go`): found, it lets the server
validate (strict) instead of downloading schemas; `kubectl explain` renders
the schemas, found by their `x-kubernetes-group-version-kind`. The schemas
come from the official client's types (`openapi_schemas.json.gz`, made by
`tests/api/gen_openapi.py`); the paths are built from `kinds.KINDS`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from podkeeper import KUBE_MINOR
from podkeeper.api import kinds

Obj = dict[str, Any]

_SCHEMAS = Path(__file__).with_name("openapi_schemas.json.gz")
_QUERY = ("fieldValidation", "dryRun", "fieldManager", "pretty")


@functools.cache
def schemas() -> dict[str, Any]:
    """Every schema by definition name (`io.k8s.api.Pod`)."""
    try:
        data: dict[str, Any] = json.loads(gzip.decompress(_SCHEMAS.read_bytes()))
    except OSError:
        return {}
    return data


def _schema_for(kind: kinds.Kind) -> str | None:
    gvk = {"group": kind.group, "version": kind.version, "kind": kind.name}
    for name, s in schemas().items():
        if gvk in (s.get("x-kubernetes-group-version-kind") or []):
            return name
    return None


def _params() -> list[Obj]:
    return [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in _QUERY
    ]


def _operation(kind: kinds.Kind, verb: str, schema: str | None) -> Obj:
    op: Obj = {
        "operationId": f"{verb}{kind.name}",
        "parameters": _params(),
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": kind.group,
            "version": kind.version,
            "kind": kind.name,
        },
        "responses": {"200": {"description": "OK"}},
    }
    if schema is not None:
        ref = {"$ref": f"#/components/schemas/{schema}"}
        op["responses"]["200"]["content"] = {"application/json": {"schema": ref}}
        if verb in ("put", "post"):
            op["requestBody"] = {"content": {"*/*": {"schema": ref}}, "required": True}
    return op


def _path_key(group_version: str) -> str:
    return f"apis/{group_version}" if "/" in group_version else f"api/{group_version}"


@functools.cache
def document(group_version: str) -> bytes:
    """The OpenAPI v3 document of one group/version, as JSON bytes."""
    paths: Obj = {}
    for kind in kinds.kinds_in(group_version):
        schema = _schema_for(kind)
        r = kind.resource
        if kind.namespaced:
            coll = f"{r.prefix}/namespaces/{{namespace}}/{r.plural}"
        else:
            coll = f"{r.prefix}/{r.plural}"
        paths[coll] = {"get": _operation(kind, "list", None)}
        item = f"{coll}/{{name}}"
        paths[item] = {"get": _operation(kind, "get", schema)}
        if "create" in kind.verbs:
            paths[coll]["post"] = _operation(kind, "post", schema)
        if "update" in kind.verbs:
            paths[item]["put"] = _operation(kind, "put", schema)
        if "patch" in kind.verbs:
            paths[item]["patch"] = _operation(kind, "patch", schema)
        if "delete" in kind.verbs:
            paths[item]["delete"] = _operation(kind, "delete", None)
        if "deletecollection" in kind.verbs:
            paths[coll]["delete"] = _operation(kind, "deletecollection", None)
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (podkeeper)", "version": f"v{KUBE_MINOR}.0"},
        "paths": paths,
        "components": {"schemas": schemas()},
    }
    return json.dumps(doc).encode()


def _hash(group_version: str) -> str:
    return hashlib.sha512(document(group_version)).hexdigest()[:128].upper()


def index() -> Obj:
    """`/openapi/v3`: where each group/version's document is."""
    return {
        "paths": {
            _path_key(gv): {"serverRelativeURL": f"/openapi/v3/{_path_key(gv)}?hash={_hash(gv)}"}
            for gv in kinds.group_versions()
        }
    }


def group_version_of(path_tail: str) -> str | None:
    """`api/v1` → `v1`, `apis/apps/v1` → `apps/v1`; None for an unknown one."""
    for gv in kinds.group_versions():
        if _path_key(gv) == path_tail.strip("/"):
            return gv
    return None


@functools.cache
def swagger_v2() -> bytes:
    """`/openapi/v2`: the same schemas as Swagger 2 definitions (older clients)."""
    text = json.dumps(schemas()).replace("#/components/schemas/", "#/definitions/")
    paths: Obj = {}
    for gv in kinds.group_versions():
        v3 = json.loads(document(gv))
        for p, ops in v3["paths"].items():
            paths[p] = {
                verb: {
                    "operationId": op["operationId"],
                    "parameters": [
                        {"name": q["name"], "in": "query", "type": "string", "uniqueItems": True}
                        for q in op["parameters"]
                    ],
                    "x-kubernetes-action": op["x-kubernetes-action"],
                    "x-kubernetes-group-version-kind": op["x-kubernetes-group-version-kind"],
                    "responses": {"200": {"description": "OK"}},
                }
                for verb, op in ops.items()
            }
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes (podkeeper)", "version": f"v{KUBE_MINOR}.0"},
        "paths": paths,
        "definitions": json.loads(text),
    }
    return json.dumps(doc).encode()

"""Regenerate `src/podkeeper/api/openapi_schemas.json.gz` from the official Python client.

The `kubernetes` client (a test dependency) carries every API type with its
field descriptions as pydantic models; their JSON schemas, renamed to the
Kubernetes definition names (`io.k8s.api.core.v1.Probe`), are what
`kubectl explain` and `kubectl apply` read from `/openapi/v3`. Run:
`.venv/bin/python -m tests.api.gen_openapi`.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

ROOTS = {
    ("", "v1", "Pod"): "V1Pod",
    ("", "v1", "Service"): "V1Service",
    ("", "v1", "Endpoints"): "V1Endpoints",
    ("", "v1", "Event"): "CoreV1Event",
    ("", "v1", "Node"): "V1Node",
    ("", "v1", "Namespace"): "V1Namespace",
    ("", "v1", "ConfigMap"): "V1ConfigMap",
    ("", "v1", "Secret"): "V1Secret",
    ("apps", "v1", "Deployment"): "V1Deployment",
    ("apps", "v1", "ReplicaSet"): "V1ReplicaSet",
    ("apps", "v1", "StatefulSet"): "V1StatefulSet",
    ("apps", "v1", "DaemonSet"): "V1DaemonSet",
    ("batch", "v1", "Job"): "V1Job",
    ("batch", "v1", "CronJob"): "V1CronJob",
    ("", "v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
}
_PREFIX = re.compile(r"^(Core|Apps|Events|Discovery)?V\d+((alpha|beta)\d+)?")
OUT = Path(__file__).resolve().parents[2] / "src/podkeeper/api/openapi_schemas.json.gz"


def short(name: str) -> str:
    return _PREFIX.sub("", name)


def clean_description(text: str | None) -> str | None:
    if not text:
        return None
    return text.split("\n\nAttributes:")[0].strip() or None


def convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [convert(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o != {"type": "null"}]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        if len(options) == 1:
            merged = {**convert(options[0], defs), **convert(rest, defs)}
            return merged
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in ("title", "default") or (k == "additionalProperties" and v is False):
            continue
        if k == "$ref":
            name = short(v.rsplit("/", 1)[1])
            ref = f"#/components/schemas/io.k8s.api.{name}"
            return {"allOf": [{"$ref": ref}]}
        if k == "description":
            v = clean_description(v)
            if v is None:
                continue
        if k == "properties":
            out[k] = {pk: convert(pv, defs) for pk, pv in v.items()}
            continue
        out[k] = convert(v, defs)
    return out


def main() -> None:
    import kubernetes.client as client

    schemas: dict[str, Any] = {}
    for (group, version, kind), model in ROOTS.items():
        schema = getattr(client, model).model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        defs = schema.pop("$defs", {})
        for name, d in defs.items():
            schemas[f"io.k8s.api.{short(name)}"] = convert(d, defs)
        top = convert(schema, defs)
        top["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
        schemas[f"io.k8s.api.{short(model)}"] = top
    OUT.write_bytes(gzip.compress(json.dumps(schemas, sort_keys=True).encode(), mtime=0))
    print(f"{OUT}: {len(schemas)} schemas")


if __name__ == "__main__":
    main()

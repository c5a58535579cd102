"""API discovery: `/api`, `/apis`, the per-group resource lists and aggregated discovery.

kubectl resolves `get pods`, short names (`po`, `deploy`) and `get all` from
these documents. Legacy discovery (`APIVersions`, `APIGroupList`,
`APIResourceList`) as in `staging/src/k8s.io/apiserver/pkg/endpoints/discovery`;
aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`,
asked for by kubectl 1.30+ in its Accept header) as in
`.../endpoints/discovery/aggregated`. All built from `kinds.KINDS`.
"""

from __future__ import annotations

from typing import Any

from podkeeper.api import kinds
from podkeeper.api.kinds import Kind

Obj = dict[str, Any]

AGGREGATED_TYPES = ("v2", "v2beta1")


def wants_aggregated(accept: str) -> str | None:
    """The apidiscovery version the client asked for first in `accept`, else None."""
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
            if params.get("v") in AGGREGATED_TYPES:
                return params["v"]
        elif part.split(";")[0].strip() in ("application/json", "*/*"):
            return None
    return None


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _groups() -> list[str]:
    return [gv.split("/")[0] for gv in kinds.group_versions() if "/" in gv]


def api_group(group: str) -> Obj:
    gv = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [gv],
        "preferredVersion": gv,
    }


def api_group_list() -> Obj:
    groups = [api_group(g) for g in _groups()]
    for g in groups:
        g.pop("kind")
        g.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group_version: str) -> Obj:
    resources: list[Obj] = []
    for k in kinds.kinds_in(group_version):
        entry: Obj = {
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.name,
            "verbs": list(k.verbs),
        }
        if k.resource.short_names:
            entry["shortNames"] = [s for s in k.resource.short_names if s != k.singular]
        if k.categories:
            entry["categories"] = list(k.categories)
        resources.append(entry)
        for sub in k.subresources:
            sub_entry: Obj = {
                "name": f"{k.plural}/{sub.name}",
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group_version:
                group, _, version = sub.group_version.partition("/")
                sub_entry.update(group=group, version=version)
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _discovery_resource(k: Kind) -> Obj:
    out: Obj = {
        "resource": k.plural,
        "responseKind": {"group": k.group, "version": k.version, "kind": k.name},
        "scope": "Namespaced" if k.namespaced else "Cluster",
        "singularResource": k.singular,
        "verbs": list(k.verbs),
    }
    short = [s for s in k.resource.short_names if s != k.singular]
    if short:
        out["shortNames"] = short
    if k.categories:
        out["categories"] = list(k.categories)
    subs = []
    for sub in k.subresources:
        group, _, version = (sub.group_version or k.resource.group_version).rpartition("/")
        subs.append(
            {
                "subresource": sub.name,
                "responseKind": {"group": group, "version": version, "kind": sub.kind},
                "verbs": list(sub.verbs),
            }
        )
    if subs:
        out["subresources"] = subs
    return out


def aggregated(core: bool, version: str) -> Obj:
    """`/api` (core) or `/apis` as an `APIGroupDiscoveryList`."""
    items = []
    for gv in kinds.group_versions():
        if ("/" not in gv) != core:
            continue
        group, _, ver = gv.rpartition("/")
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": ver,
                        "resources": [_discovery_resource(k) for k in kinds.kinds_in(gv)],
                        "freshness": "Current",
                    }
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"

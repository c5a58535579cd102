"""`podkeeper get`: kubectl's tables, `-o wide|json|yaml|name`, one object or a list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from podkeeper.cli import kinds
from podkeeper.cli._common import (
    CliError,
    get_or_none,
    items_of,
    namespace_option,
    not_found_line,
    print_json,
    print_yaml,
    state_of,
    warn,
)
from podkeeper.cli._text import get as field
from podkeeper.cli._text import table, utcnow
from podkeeper.cli.podformat import pod_row, pod_wide

Obj = dict[str, Any]
RowFn = Callable[[Obj, datetime, bool], list[str]]

# kind -> (api group suffix for `-o name`, header, wide extra header, row function)
_POD_HEADER = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def _pod_cells(pod: Obj, now: datetime, wide: bool) -> list[str]:
    row = list(pod_row(pod, now))
    if wide:
        row += list(pod_wide(pod))
    return row


_TABLES: dict[str, tuple[list[str], list[str], RowFn]] = {
    "Pod": (_POD_HEADER, ["IP", "NODE"], _pod_cells),
    "Deployment": (
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        kinds.deployment_row,
    ),
    "ReplicaSet": (
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        kinds.replicaset_row,
    ),
    "Service": (
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["SELECTOR"],
        kinds.service_row,
    ),
    "Endpoints": (["NAME", "ENDPOINTS", "AGE"], [], kinds.endpoints_row),
    "ConfigMap": (["NAME", "DATA", "AGE"], [], kinds.configmap_row),
    "Secret": (["NAME", "TYPE", "DATA", "AGE"], [], kinds.secret_row),
    **kinds.WORKLOAD_TABLES,
    "RuntimeClass": (["NAME", "HANDLER", "AGE"], [], kinds.runtimeclass_row),
}

#: kubectl's `-o name` prefix: `pod/x`, `deployment.apps/x`.
_NAME_PREFIX = {
    "Pod": "pod",
    "Deployment": "deployment.apps",
    "ReplicaSet": "replicaset.apps",
    "Service": "service",
    "Endpoints": "endpoints",
    "ConfigMap": "configmap",
    "Secret": "secret",
    "Job": "job.batch",
    "CronJob": "cronjob.batch",
    "StatefulSet": "statefulset.apps",
    "DaemonSet": "daemonset.apps",
    "PersistentVolumeClaim": "persistentvolumeclaim",
    "RuntimeClass": "runtimeclass.node.k8s.io",
}

_GROUP_VERSIONS = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "RuntimeClass": "node.k8s.io/v1",
}


def render_table(
    kind: str, objects: list[Obj], now: datetime, wide: bool = False, all_ns: bool = False
) -> str:
    """The `kubectl get` table of `objects` (all of `kind`), header included."""
    header, wide_header, row_fn = _TABLES[kind]
    cols = header + (wide_header if wide else [])
    rows = []
    for obj in objects:
        row = row_fn(obj, now, wide)
        if all_ns:
            row = [str(field(obj, "metadata", "namespace") or ""), *row]
        rows.append(row)
    if all_ns:
        cols = ["NAMESPACE", *cols]
    return table(cols, rows)


def object_name(kind: str, obj: Obj) -> str:
    """`-o name` form: `pod/NAME`."""
    return f"{_NAME_PREFIX.get(kind, kind.lower())}/{field(obj, 'metadata', 'name') or ''}"


def list_object(kind: str, objects: list[Obj]) -> Obj:
    """A `v1 PodList`-style list object of `objects`."""
    return {
        "apiVersion": _GROUP_VERSIONS.get(kind, "v1"),
        "kind": f"{kind}List",
        "metadata": {"resourceVersion": ""},
        "items": objects,
    }


def _resolve(resource: str) -> tuple[str, str]:
    """(Kind, plural) for a word kubectl accepts (`pods`, `po`, `svc`, `deploy`)."""
    from podkeeper.api.paths import resource_for

    try:
        res = resource_for(resource)
    except KeyError as exc:
        raise CliError(f"error: {exc.args[0]}", 2) from None
    if res.kind not in _TABLES:
        raise CliError(f'error: the server doesn\'t have a resource type "{resource}"', 2)
    return res.kind, res.plural


def emit(kind: str, objects: list[Obj], output: str | None, single: bool, all_ns: bool) -> None:
    """Print `objects` in the chosen output format."""
    if output == "json":
        print_json(objects[0] if single else list_object(kind, objects))
    elif output == "yaml":
        print_yaml(objects[0] if single else list_object(kind, objects))
    elif output == "name":
        for obj in objects:
            click.echo(object_name(kind, obj))
    else:
        click.echo(
            render_table(kind, objects, utcnow(), wide=output == "wide", all_ns=all_ns), nl=False
        )


@click.command()
@click.argument("resource")
@click.argument("name", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["wide", "json", "yaml", "name"]),
    default=None,
    help="Output format.",
)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.pass_context
def get(
    ctx: click.Context,
    resource: str,
    name: str | None,
    output: str | None,
    namespace: str,
    all_namespaces: bool,
) -> None:
    """Display pods, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs,
    persistentvolumeclaims, services or endpoints (kubectl's columns)."""
    if "/" in resource and name is None:
        resource, name = resource.split("/", 1)
    kind, plural = _resolve(resource)
    client = state_of(ctx).client()
    if name is not None:
        obj = get_or_none(client, kind, namespace, name)
        if obj is None:
            raise CliError(not_found_line(plural, name))
        emit(kind, [obj], output, single=True, all_ns=False)
        return
    objects = items_of(client.list(kind, None if all_namespaces else namespace))
    objects.sort(
        key=lambda o: (
            str(field(o, "metadata", "namespace") or ""),
            str(field(o, "metadata", "name") or ""),
        )
    )
    if not objects and output in (None, "wide"):
        where = "" if all_namespaces else f" in {namespace} namespace"
        warn(f"No resources found{where}.")
        return
    emit(kind, objects, output, single=False, all_ns=all_namespaces)

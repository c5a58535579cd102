"""`podkeeper rollout status|history|undo` and `podkeeper scale`, as kubectl does them.

All client side over the existing routes, as kubectl itself works today:
`scale` is GET + set `spec.replicas` + apply; `rollout undo` is kubectl's
`DeploymentRollbacker` (`rollback.go`): find the owned ReplicaSet of the
wanted revision, copy its template (without `pod-template-hash`) and its
annotations into the Deployment, apply. The agent's controller then finds that
ReplicaSet again by template and gives it the next revision, as the
Kubernetes deployment controller does. `rollout status` polls the Deployment
and prints kubectl's `DeploymentStatusViewer` lines as they change.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import click

from podkeeper.cli._common import (
    EXIT_PROBLEM,
    EXIT_USAGE,
    AgentClient,
    CliError,
    items_of,
    namespace_option,
    parse_duration,
    state_of,
)
from podkeeper.cli._text import dicts, get, tabwrite

Obj = dict[str, Any]

#: Seconds between two looks at the Deployment while `rollout status` waits.
POLL = 0.2

_KINDS = {
    "deployment": ("Deployment", "deployment.apps"),
    "deployments": ("Deployment", "deployment.apps"),
    "deploy": ("Deployment", "deployment.apps"),
    "deployment.apps": ("Deployment", "deployment.apps"),
    "replicaset": ("ReplicaSet", "replicaset.apps"),
    "replicasets": ("ReplicaSet", "replicaset.apps"),
    "rs": ("ReplicaSet", "replicaset.apps"),
    "replicaset.apps": ("ReplicaSet", "replicaset.apps"),
    **dict.fromkeys(
        ("statefulset", "statefulsets", "sts", "statefulset.apps"),
        ("StatefulSet", "statefulset.apps"),
    ),
    **dict.fromkeys(
        ("daemonset", "daemonsets", "ds", "daemonset.apps"), ("DaemonSet", "daemonset.apps")
    ),
}

#: `kubectl rollout restart` stamps the pod template with this annotation.
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


def parse_target(args: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, str, str]:
    """(kind, `-o name` prefix, name) from `TYPE/NAME` or `TYPE NAME`, as kubectl accepts."""
    if len(args) == 1 and "/" in args[0]:
        word, _, name = args[0].partition("/")
    elif len(args) == 2 and "/" not in args[0]:
        word, name = args
    else:
        raise CliError(
            "error: you must specify one resource as TYPE/NAME or TYPE NAME (e.g. deployment/web)",
            EXIT_USAGE,
        )
    found = _KINDS.get(word.lower())
    if found is None or found[0] not in allowed or not name:
        kinds = ", ".join(k.lower() + "s" for k in allowed)
        raise CliError(f'error: "{word}" is not supported here (supported: {kinds})', EXIT_USAGE)
    return found[0], found[1], name


def _rollout_status(deployment: Obj) -> tuple[str, bool]:
    from podkeeper.core import workload_status
    from podkeeper.core.rollout import rollout_status

    kind = deployment.get("kind")
    try:
        if kind == "StatefulSet":
            return workload_status.statefulset_status(deployment)
        if kind == "DaemonSet":
            return workload_status.daemonset_status(deployment)
        return rollout_status(deployment)
    except ValueError as exc:
        raise CliError(f"error: {exc}", EXIT_PROBLEM) from None


def wait_rollout(
    client: AgentClient,
    namespace: str,
    name: str,
    timeout: float,
    watch: bool,
    revision: int = 0,
    kind: str = "Deployment",
) -> None:
    """kubectl `rollout status`: print each new status line until done (or the timeout)."""
    from podkeeper.core.rollout import revision_of

    deadline = time.monotonic() + timeout if timeout > 0 else None
    last = ""
    while True:
        d = client.get_object(kind, namespace, name)
        if revision > 0 and kind == "Deployment":
            running = revision_of(get(d, "metadata", "annotations"))
            if running != revision:
                raise CliError(
                    f"error: desired revision ({revision}) is different from the running "
                    f"revision ({running})"
                )
        message, done = _rollout_status(d)
        if message != last:
            click.echo(message)
            last = message
        if done or not watch:
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError("error: timed out waiting for the condition", EXIT_PROBLEM)
        time.sleep(POLL)


def owned_replica_sets(client: AgentClient, deployment: Obj) -> list[Obj]:
    """The ReplicaSets whose controller is `deployment` (by uid)."""
    namespace = str(get(deployment, "metadata", "namespace") or "default")
    uid = get(deployment, "metadata", "uid")
    return [
        rs
        for rs in items_of(client.list("ReplicaSet", namespace))
        if any(
            ref.get("controller") and ref.get("uid") == uid
            for ref in dicts(get(rs, "metadata", "ownerReferences"))
        )
    ]


def history_table(replica_sets: list[Obj]) -> str:
    """kubectl `DeploymentHistoryViewer.ViewHistory`: REVISION CHANGE-CAUSE, oldest first."""
    from podkeeper.core.rollout import CHANGE_CAUSE_ANNOTATION, revision_of

    causes: dict[int, str] = {}
    for rs in replica_sets:
        annotations = get(rs, "metadata", "annotations") or {}
        causes[revision_of(annotations)] = str(annotations.get(CHANGE_CAUSE_ANNOTATION) or "")
    if not causes:
        return "No rollout history found.\n"
    lines = ["REVISION\tCHANGE-CAUSE"]
    lines += [f"{r}\t{causes[r] or '<none>'}" for r in sorted(causes)]
    return tabwrite(lines)


def template_text(template: Obj) -> str:
    """A short `Pod Template:` block (kubectl's DescribePodTemplate, main lines only)."""

    def multi(title: str, values: list[str], indent: str) -> list[str]:
        # describe's printLabelsMultiline: the first value beside the title, then one a line.
        if not values:
            return [f"{indent}{title}:\t<none>"]
        return [f"{indent}{title}:\t{values[0]}"] + [f"{indent}\t{v}" for v in values[1:]]

    labels = get(template, "metadata", "labels") or {}
    annotations = get(template, "metadata", "annotations") or {}
    lines = ["Pod Template:"]
    lines += multi("Labels", [f"{k}={v}" for k, v in sorted(labels.items())], "  ")
    if annotations:
        lines += multi("Annotations", [f"{k}: {v}" for k, v in sorted(annotations.items())], "  ")
    lines.append("  Containers:")
    for c in dicts(get(template, "spec", "containers")):
        lines.append(f"   {c.get('name')}:")
        lines.append(f"    Image:\t{c.get('image') or ''}")
        ports = [
            f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in dicts(c.get("ports"))
        ]
        lines.append("    Port:\t" + (", ".join(ports) or "<none>"))
        for title in ("command", "args"):
            if c.get(title):
                lines.append(f"    {title.capitalize()}:")
                lines += [f"      {a}" for arg in c[title] for a in str(arg).split("\n")]
        env = [f"      {e.get('name')}:\t{e.get('value', '')}" for e in dicts(c.get("env"))]
        lines.append("    Environment:" + ("" if env else "\t<none>"))
        lines += env
    return tabwrite(lines)


@click.group()
def rollout() -> None:
    """Manage the rollout of a Deployment, StatefulSet or DaemonSet (status, history, undo,
    restart)."""


@rollout.command("status")
@click.argument("target", nargs=-1, required=True)
@namespace_option
@click.option(
    "--timeout",
    default="0s",
    show_default=True,
    help="How long to wait before giving up (0: forever), e.g. 90s, 5m.",
)
@click.option("-w", "--watch/--no-watch", default=True, show_default=True, help="Wait until done.")
@click.option("--revision", type=int, default=0, help="Pin to a revision (0: the latest).")
@click.pass_context
def status(
    ctx: click.Context,
    target: tuple[str, ...],
    namespace: str,
    timeout: str,
    watch: bool,
    revision: int,
) -> None:
    """Show the rollout status and, by default, wait until it is complete."""
    kind, _, name = parse_target(target, ("Deployment", "StatefulSet", "DaemonSet"))
    limit = parse_duration(timeout)
    wait_rollout(state_of(ctx).client(), namespace, name, limit, watch, revision, kind)


@rollout.command("restart")
@click.argument("target", nargs=-1, required=True)
@namespace_option
@click.pass_context
def restart(ctx: click.Context, target: tuple[str, ...], namespace: str) -> None:
    """Restart every pod of a Deployment, StatefulSet or DaemonSet with a rolling update
    (kubectl's `restartedAt` annotation on the pod template)."""
    from datetime import UTC, datetime

    kind, prefix, name = parse_target(target, ("Deployment", "StatefulSet", "DaemonSet"))
    client = state_of(ctx).client()
    obj = client.get_object(kind, namespace, name)
    template = obj.setdefault("spec", {}).setdefault("template", {})
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[RESTARTED_AT_ANNOTATION] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj.pop("status", None)
    client.apply([obj])
    click.echo(f"{prefix}/{name} restarted")


@rollout.command("history")
@click.argument("target", nargs=-1, required=True)
@namespace_option
@click.option("--revision", type=int, default=0, help="Show the pod template of one revision.")
@click.pass_context
def history(ctx: click.Context, target: tuple[str, ...], namespace: str, revision: int) -> None:
    """List the revisions of a Deployment (REVISION CHANGE-CAUSE)."""
    from podkeeper.core.rollout import revision_of

    _, prefix, name = parse_target(target, ("Deployment",))
    client = state_of(ctx).client()
    d = client.get_object("Deployment", namespace, name)
    replica_sets = owned_replica_sets(client, d)
    if revision > 0:
        found = [
            rs for rs in replica_sets if revision_of(get(rs, "metadata", "annotations")) == revision
        ]
        if not found:
            raise CliError("error: unable to find the specified revision")
        template = copy.deepcopy(get(found[0], "spec", "template") or {})
        cause = (get(found[0], "metadata", "annotations") or {}).get("kubernetes.io/change-cause")
        if cause:
            template.setdefault("metadata", {}).setdefault("annotations", {})[
                "kubernetes.io/change-cause"
            ] = cause
        click.echo(f"{prefix}/{name} with revision #{revision}")
        click.echo(template_text(template))
        return
    # kubectl prints the resource with the table as its "operation": `deployment.apps/web `.
    click.echo(f"{prefix}/{name} ")
    click.echo(history_table(replica_sets))


@rollout.command("undo")
@click.argument("target", nargs=-1, required=True)
@namespace_option
@click.option(
    "--to-revision", type=int, default=0, help="The revision to go back to (0: the previous one)."
)
@click.pass_context
def undo(ctx: click.Context, target: tuple[str, ...], namespace: str, to_revision: int) -> None:
    """Roll back to the previous (or a given) revision's pod template."""
    from podkeeper.core import rollout as rollout_math

    _, prefix, name = parse_target(target, ("Deployment",))
    client = state_of(ctx).client()
    d = client.get_object("Deployment", namespace, name)
    by_revision = {
        rollout_math.revision_of(get(rs, "metadata", "annotations")): rs
        for rs in owned_replica_sets(client, d)
    }
    try:
        rs = rollout_math.rollback_target(by_revision, to_revision, name)
    except ValueError as exc:
        raise CliError(f"error: {exc}") from None
    template = get(rs, "spec", "template") or {}
    if rollout_math.equal_ignore_hash(template, get(d, "spec", "template") or {}):
        click.echo(
            f"{prefix}/{name} skipped rollback (current template already matches revision "
            f"{to_revision})"
        )
        return
    d["spec"]["template"] = copy.deepcopy(rollout_math.template_without_hash(template))
    d["metadata"]["annotations"] = rollout_math.rollback_annotations(
        get(d, "metadata", "annotations") or {}, get(rs, "metadata", "annotations") or {}
    )
    d.pop("status", None)
    client.apply([d])
    click.echo(f"{prefix}/{name} rolled back")


@click.command()
@click.argument("target", nargs=-1, required=True)
@click.option("--replicas", type=click.IntRange(min=0), required=True, help="The new size.")
@namespace_option
@click.pass_context
def scale(ctx: click.Context, target: tuple[str, ...], replicas: int, namespace: str) -> None:
    """Set the number of replicas of a Deployment or ReplicaSet."""
    kind, prefix, name = parse_target(target, ("Deployment", "ReplicaSet"))
    client = state_of(ctx).client()
    obj = client.get_object(kind, namespace, name)
    obj["spec"]["replicas"] = replicas
    obj.pop("status", None)
    client.apply([obj])
    click.echo(f"{prefix}/{name} scaled")

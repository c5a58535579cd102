"""`podkeeper triage`: one line per unhealthy pod with its verdict, most severe first (issue 15).

Reads a cluster's API through the official client with list calls only
(pods, events, nodes, the owners' kinds: once each). Without `--context` or
`--kubeconfig` it reads the local agent through the kubeconfig it writes
(`$PODKEEPER_HOME/kubeconfig`); as `kubectl podkeeper triage` it reads
kubectl's current context.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from podkeeper.cli._cluster import PLUGIN, cluster_options
from podkeeper.cli._common import CliError, print_json, state_of

_HEADER = ("NAMESPACE", "POD", "CONTAINER", "PROBLEM", "RESTARTS", "VERDICT")


def _row_dict(row: Any) -> dict[str, Any]:
    v = row.verdict
    out: dict[str, Any] = {
        "namespace": row.namespace,
        "pod": row.pod,
        "container": row.container,
        "problem": row.problem,
        "restarts": row.restarts,
        "severity": row.severity,
        **dataclasses.asdict(v),
    }
    ns = f" -n {row.namespace}" if row.namespace != "default" else ""
    out["next_step"] = str(out["next_step"]).replace(
        "`podkeeper logs -p`", f"`kubectl logs -p {row.pod} -c {row.container}{ns}`"
    )
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[dict[str, Any]], where: str) -> str:
    """A Markdown table for an incident channel."""
    lines = [f"**podkeeper triage** ({where}): {len(rows)} unhealthy pod(s)", ""]
    if not rows:
        return lines[0]
    lines.append("| pod | container | problem | restarts | verdict | next step |")
    lines.append("| --- | --- | --- | ---: | --- | --- |")
    for r in rows:
        lines.append(
            f"| `{r['namespace']}/{r['pod']}` | {r['container']} | {_cell(r['problem'])} | "
            f"{r['restarts']} | **{r['kind']}**: {_cell(r['summary'])} | {_cell(r['next_step'])} |"
        )
    return "\n".join(lines)


def render_text(rows: list[dict[str, Any]], all_namespaces: bool) -> str:
    head = _HEADER if all_namespaces else _HEADER[1:]
    table = [list(head)]
    for r in rows:
        cells = [r["pod"], r["container"], r["problem"], str(r["restarts"]), r["summary"]]
        table.append([r["namespace"], *cells] if all_namespaces else cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "   " + row[-1]
        for row in table
    )


@click.command()
@click.option("-n", "--namespace", default=None, help="Only this namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace.")
@click.option("-o", "--output", type=click.Choice(["text", "json", "markdown"]), default="text")
@cluster_options
@click.pass_context
def triage(
    ctx: click.Context,
    namespace: str | None,
    all_namespaces: bool,
    output: str,
    context: str | None,
    kubeconfig: str | None,
    cluster: bool,
) -> None:
    """One line per unhealthy pod (restarting, not ready, failed, pending too long), with
    its verdict, most severe first.

    \b
    podkeeper triage -A
    podkeeper triage -n shop --context prod -o markdown
    """
    from podkeeper.api.remote import ClusterError, RemoteCluster

    if namespace is not None and all_namespaces:
        raise CliError("error: -n and -A exclude each other", 2)
    if kubeconfig is None and context is None and not cluster and not PLUGIN["active"]:
        # The local agent, through the kubeconfig it writes for its TLS API.
        local = state_of(ctx).home / "kubeconfig"
        if not local.exists():
            raise CliError(
                f"error: no kubeconfig at {local}: start the agent (`podkeeper up`) or "
                "name a cluster with --context/--kubeconfig"
            )
        kubeconfig = str(local)
    try:
        with RemoteCluster(kubeconfig, context) as remote:
            ns = None if all_namespaces else (namespace or remote.namespace)
            rows = [_row_dict(r) for r in remote.triage(ns)]
            where = remote.context_name or "cluster"
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    where += " all namespaces" if ns is None else f" namespace {ns}"
    if output == "json":
        print_json({"context": where, "items": rows})
    elif output == "markdown":
        click.echo(render_markdown(rows, where))
    elif not rows:
        click.echo(f"No unhealthy pods ({where}).")
    else:
        click.echo(render_text(rows, ns is None))
    if rows:
        ctx.exit(1)

"""`podkeeper simulate FILE`: what the kubelet would do to a modelled app, as a timeline (issue 5).

Runs the pod's probes, restarts, back-off and kills on the pure core under a
virtual clock (`podkeeper.simulate`), with no agent and no processes, and
prints the timeline and a summary as text, JSON or a self-contained HTML page.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from podkeeper.cli._common import EXIT_USAGE, CliError, parse_duration


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


def _pick_pod(file: str, stdin_text: str | None) -> Any:
    """The first Pod (or workload's pod template) of FILE as a core `Pod`."""
    from podkeeper.manifest import (
        default_object,
        format_invalid,
        load_documents,
        pod_from_object,
        pod_template,
        validate_object,
    )

    docs = load_documents([file], stdin_text)
    for doc in docs:
        if pod_template(doc.obj) is None:
            continue
        obj = default_object(doc.obj)
        errors = validate_object(obj)
        if errors:
            raise CliError(f"{doc.where}: {format_invalid(doc.kind, doc.name, errors)}", EXIT_USAGE)
        found = pod_template(obj)
        assert found is not None
        _, template = found
        if doc.kind != "Pod":
            meta = dict(template.get("metadata") or {})
            meta["name"] = doc.name
            meta.setdefault("namespace", doc.namespace)
            obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
        return pod_from_object(obj, uid="simulated")
    raise CliError(f"error: {file}: no Pod or workload with a pod template", EXIT_USAGE)


@click.command("simulate")
@click.argument("file", metavar="FILE")
@click.option(
    "--container",
    "-c",
    metavar="NAME",
    help="The modelled container (default: the first with probes).",
)
@click.option(
    "--startup",
    metavar="DUR",
    callback=_duration,
    help="Probes fail until each instance is this old.",
)
@click.option(
    "--unhealthy-after",
    metavar="DUR",
    callback=_duration,
    help="Health checks fail from this time on.",
)
@click.option(
    "--unhealthy-for",
    metavar="DUR",
    callback=_duration,
    help="...for this long (default: to the end).",
)
@click.option(
    "--exit-after", metavar="DUR", callback=_duration, help="Each instance exits when this old."
)
@click.option(
    "--exit-code", metavar="N", type=int, default=1, show_default=True, help="Its exit code."
)
@click.option(
    "--probe-latency", metavar="DUR", callback=_duration, help="How long each probe takes."
)
@click.option("--until", metavar="DUR", default="10m", show_default=True, help="Simulated time.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
)
@click.option("--output-file", metavar="F", help="Write there instead of stdout.")
def simulate(
    file: str,
    container: str | None,
    startup: float | None,
    unhealthy_after: float | None,
    unhealthy_for: float | None,
    exit_after: float | None,
    exit_code: int,
    probe_latency: float | None,
    until: str,
    output: str,
    output_file: str | None,
) -> None:
    """Simulate the kubelet running FILE's pod against a modelled app, and show the timeline.

    Durations are Go-style (90s, 2m, 1m30s, 500ms) or plain seconds. The
    modelled container fails every probe until --startup, fails its health
    checks from --unhealthy-after for --unhealthy-for (a restart does not cure
    that), exits with --exit-code after --exit-after, and answers each probe
    after --probe-latency. The other containers are healthy."""
    from podkeeper.simulate.apps import BehaviourApp
    from podkeeper.simulate.engine import Simulation
    from podkeeper.simulate.html import render_html
    from podkeeper.simulate.timeline import render_json, render_text, summarize

    horizon = parse_duration(until)
    if horizon <= 0:
        raise click.BadParameter("must be positive", param_hint="--until")
    stdin_text = sys.stdin.read() if file == "-" else None
    pod = _pick_pod(file, stdin_text)
    names = [c.name for c in pod.all_containers()]
    if container is None:
        with_probes = [
            c.name
            for c in pod.all_containers()
            if c.startup_probe or c.readiness_probe or c.liveness_probe
        ]
        container = (with_probes or [c.name for c in pod.spec.containers])[0]
    elif container not in names:
        raise CliError(
            f"error: container {container!r} not found in pod {pod.metadata.name!r}"
            f" (containers: {', '.join(names)})",
            EXIT_USAGE,
        )
    behaviour: dict[str, Any] = {"kind": "generic"}
    for key, value in (
        ("startup", startup),
        ("unhealthy_after", unhealthy_after),
        ("unhealthy_for", unhealthy_for),
        ("exit_after", exit_after),
        ("latency", probe_latency),
    ):
        if value is not None:
            behaviour[key] = value
    behaviour["exit_code"] = exit_code
    behaviours = {n: {"kind": "generic", "latency": probe_latency or 0.0} for n in names}
    behaviours[container] = behaviour
    sim = Simulation(pod, BehaviourApp(behaviours).model()).run(horizon)
    # The time to detect is measured from an injected health fault; a crash is its own signal.
    summary = summarize(sim, fault_at=unhealthy_after)
    if output == "json":
        text = render_json(sim, summary)
    elif output == "html":
        text = render_html(sim, summary)
    else:
        text = render_text(sim, summary)
    if output_file:
        with open(output_file, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)

"""`podkeeper simulate FILE`: what the kubelet would do to a modelled app, as a timeline (issue 5).

Runs the pod's probes, restarts, back-off and kills on the pure core under a
virtual clock (`podkeeper.simulate`), with no agent and no processes, and
prints the timeline and a summary as text, JSON or a self-contained HTML page.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from podkeeper.cli._common import EXIT_USAGE, CliError, parse_duration


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


def _fail(message: str) -> NoReturn:
    # Printed here (not left to the root group) so the command behaves the same alone.
    click.echo(message, err=True)
    raise click.exceptions.Exit(EXIT_USAGE)


def _pick_pod(file: str, stdin_text: str | None, wanted: str | None) -> tuple[Any, str, str]:
    """(core Pod, `Kind/name` simulated, note) of FILE, read with the linter's loader.

    Kinds without a pod template (ServiceAccounts, CRDs...) are passed over;
    `wanted` (`KIND/NAME`, kind case-insensitive) picks one workload among
    several; without it the first is taken and the note says which and how to
    pick another (issue 14: never silently).
    """
    from podkeeper.lint.source import load
    from podkeeper.manifest import (
        default_object,
        format_invalid,
        pod_from_object,
        pod_template,
        validate_object,
    )

    loaded = load([file], stdin_text)
    if loaded.errors:
        _fail("\n".join(f"error: {e}" for e in loaded.errors))
    workloads = [i for i in loaded.items if pod_template(i.obj) is not None]
    names = [f"{i.kind}/{i.doc.name}" for i in workloads]
    if not workloads:
        _fail(f"error: {file}: no Pod or workload with a pod template")
    note = ""
    if wanted is not None:
        kind, _, name = wanted.partition("/")
        chosen = [i for i in workloads if i.kind.lower() == kind.lower() and i.doc.name == name]
        if not name or not chosen:
            _fail(f"error: {file}: no workload {wanted!r} (workloads: {', '.join(names)})")
        item = chosen[0]
    else:
        item = workloads[0]
        if len(workloads) > 1:
            note = (
                f"{file} holds {len(workloads)} workloads ({', '.join(names)}); simulating the "
                "first, choose another with --object KIND/NAME"
            )
    doc = item.doc
    obj = default_object(item.obj)
    errors = validate_object(obj)
    if errors:
        _fail(f"error: {doc.where}: {format_invalid(doc.kind, doc.name, errors)}")
    found = pod_template(obj)
    assert found is not None
    _, template = found
    if obj.get("kind") != "Pod":
        meta = dict(template.get("metadata") or {})
        meta["name"] = doc.name
        meta.setdefault("namespace", doc.namespace)
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
    return pod_from_object(obj, uid="simulated"), f"{item.kind}/{doc.name}", note


def _sigterm(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, Any] | None:
    """`auto` (None), `exit`, `ignore`, or a duration: the modelled reaction to SIGTERM."""
    if value == "auto":
        return None
    if value == "exit":
        return {}
    if value == "ignore":
        return {"ignore_sigterm": True}
    try:
        return {"on_sigterm": {"exit_after": parse_duration(value), "exit_code": 0}}
    except click.BadParameter:
        raise click.BadParameter(
            f"{value!r}: use auto, exit, ignore or a duration (10s)", ctx, param
        ) from None


_SHELLS = frozenset({"sh", "bash", "ash", "dash"})


def shell_pid_1(command: tuple[str, ...]) -> bool:
    """A container whose PID 1 is a shell running a script: the shell neither handles nor
    forwards SIGTERM (the kernel ignores signals without a handler for a namespace's
    PID 1), unless the script `exec`s its program or `trap`s the signal."""
    if len(command) < 3 or command[0].rsplit("/", 1)[-1] not in _SHELLS or command[1] != "-c":
        return False
    script = command[2].strip()
    return not (script.startswith("exec ") or "trap " in script)


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
@click.option(
    "--init-takes",
    metavar="DUR",
    default="1s",
    show_default=True,
    help="How long each ordinary init container runs before it exits 0.",
)
@click.option(
    "--sigterm",
    "on_sigterm",
    metavar="auto|exit|ignore|DUR",
    default="auto",
    show_default=True,
    callback=_sigterm,
    help="The modelled container on SIGTERM: exits at once (143); ignores it like a PID 1 "
    "without a handler (SIGKILL after the grace period); or shuts down in DUR and exits 0. "
    "auto: ignore when PID 1 is a shell running a script (`sh -c` without exec or trap), "
    "else exit.",
)
@click.option("--delete-at", metavar="DUR", callback=_duration, help="Delete the pod at this time.")
@click.option(
    "--object",
    "wanted",
    metavar="KIND/NAME",
    help="The workload to simulate when FILE holds several (default: the first).",
)
@click.option("-v", "--verbose", is_flag=True, help="Text: every probe, none folded.")
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
    init_takes: str,
    on_sigterm: dict[str, Any] | None,
    delete_at: float | None,
    wanted: str | None,
    verbose: bool,
    until: str,
    output: str,
    output_file: str | None,
) -> None:
    """Simulate the kubelet running FILE's pod against a modelled app, and show the timeline.

    Durations are Go-style (90s, 2m, 1m30s, 500ms) or plain seconds. The
    modelled container fails every probe until --startup, fails its health
    checks from --unhealthy-after for --unhealthy-for (a restart does not cure
    that), exits with --exit-code after --exit-after, and answers each probe
    after --probe-latency. The other containers are healthy; ordinary init
    containers run --init-takes and exit 0. A preStop hook takes its own time
    (`sleep N`, the sleep action) before SIGTERM. FILE may hold other kinds
    (ServiceAccounts, CRDs...); --object KIND/NAME picks among several
    workloads."""
    from podkeeper.simulate.apps import BehaviourApp
    from podkeeper.simulate.engine import Simulation
    from podkeeper.simulate.html import render_html
    from podkeeper.simulate.timeline import render_json, render_text, summarize

    horizon = parse_duration(until)
    if horizon <= 0:
        raise click.BadParameter("must be positive", param_hint="--until")
    from podkeeper.lint.source import read_stdin

    stdin_text = read_stdin(sys.stdin) if file == "-" else None
    pod, simulated, note = _pick_pod(file, stdin_text, wanted)
    if note:
        click.echo(f"note: {note}", err=True)
    init_seconds = parse_duration(init_takes)
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
    if on_sigterm is None:
        modelled = next(c for c in pod.all_containers() if c.name == container)
        on_sigterm = {"ignore_sigterm": True} if shell_pid_1(modelled.command) else {}
    behaviour.update(on_sigterm)
    behaviours: dict[str, dict[str, Any]] = {
        n: {"kind": "generic", "latency": probe_latency or 0.0} for n in names
    }
    for c in pod.spec.init_containers:
        if not c.is_sidecar:
            # Ordinary init containers run to completion, one after another.
            behaviours[c.name].update(exit_after=init_seconds, exit_code=0)
    behaviours[container] = {**behaviours[container], **behaviour}
    inputs = {
        "object": simulated,
        "container": container,
        **{k: _show(v) for k, v in behaviour.items() if k != "kind"},
        "on SIGTERM": (
            "ignored (SIGKILL after the grace period)"
            if behaviour.get("ignore_sigterm")
            else _show(behaviour["on_sigterm"])
            if "on_sigterm" in behaviour
            else "exits at once (143)"
        ),
        "init containers take": init_takes if pod.spec.init_containers else "-",
        "until": until,
    }
    simulation = Simulation(pod, BehaviourApp(behaviours).model())
    if delete_at is not None:
        simulation.delete(delete_at)
        inputs["delete at"] = _show(delete_at)
    sim = simulation.run(horizon)
    # The time to detect is measured from an injected health fault; a crash is its own signal.
    summary = summarize(sim, fault_at=unhealthy_after)
    if output == "json":
        text = render_json(sim, summary, inputs)
    elif output == "html":
        text = render_html(sim, summary, inputs=inputs)
    else:
        text = f"simulating {simulated}, container {container}\n" + render_text(
            sim, summary, verbose=verbose
        )
    if output_file:
        with open(output_file, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}s"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    return str(value)

"""`podkeeper lint`: static checks of probe, lifecycle and memory configuration.

Formatting and exit codes only; the rules live in `podkeeper.lint` and use
the pure core, so linting needs no agent. Exit 1 when an error-level finding
exists, 0 otherwise, 2 when the input or the config cannot be read.
"""

from __future__ import annotations

import gc
import sys
from typing import NoReturn

import click

from podkeeper.cli._common import EXIT_PROBLEM, EXIT_USAGE


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from podkeeper.lint.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None


def _fail(message: str) -> NoReturn:
    # Printed and exited here rather than left to the root group, so the command
    # behaves the same when run on its own (tests, embedding).
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(EXIT_USAGE)


@click.command("lint")
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR|-...")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Output format; sarif is SARIF 2.1.0 for code scanning.",
)
@click.option(
    "--expect-startup",
    metavar="DUR",
    callback=_duration,
    help="How long the applications take to start (90s, 2m); objects may say it with the "
    "annotation podkeeper.io/expected-startup.",
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="YAML file `rules: {rule-id: off|error|warning|info}`.",
)
def lint(
    files: tuple[str, ...], output: str, expect_startup: float | None, config_path: str | None
) -> None:
    """Check probes, lifecycle hooks and memory settings in manifests.

    Reads files, directories (their .yaml, .yml and .json files) and stdin
    (`-`, e.g. `helm template . | podkeeper lint -`). Lints Pods,
    Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
    Jobs, CronJobs (also on removed API versions) and Services (for selection)
    in multi-document YAML, JSON and Lists; other kinds and kustomize patches
    are skipped and counted. Per object, the annotation
    podkeeper.io/lint-ignore: "rule-a,rule-b" turns rules off.

    Exit status: 0 no error-level finding, 1 error-level findings, 2 an input
    that cannot be read (reported as k8s-invalid; the other inputs are still
    linted) or a bad option.
    """
    from podkeeper.lint import output as render
    from podkeeper.lint.config import Config, ConfigError, load_config
    from podkeeper.lint.engine import has_errors, lint_documents
    from podkeeper.lint.source import load, read_stdin

    try:
        config = load_config(config_path) if config_path is not None else Config()
    except ConfigError as err:
        _fail(str(err))
    stdin_text = read_stdin(sys.stdin) if "-" in files else None
    # A short run over many objects: the cyclic collector only slows it (it rescans
    # the growing heap of parsed manifests), and nothing here leaks cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        loaded = load(files, stdin_text)
        findings = lint_documents(loaded, config, expect_startup)
    finally:
        if collecting:
            gc.enable()
    summary = render.Summary(len(loaded.files), len(loaded.items), dict(loaded.skip_reasons()))
    if output == "json":
        click.echo(render.as_json(findings), nl=False)
    elif output == "sarif":
        click.echo(render.sarif(findings, config, summary), nl=False)
    else:
        click.echo(render.text(findings, summary), nl=False)
    for problem in loaded.errors:
        click.echo(f"error: {problem}", err=True)
    if loaded.errors:
        raise click.exceptions.Exit(EXIT_USAGE)
    if has_errors(findings):
        raise click.exceptions.Exit(EXIT_PROBLEM)

"""The `podkeeper` command: a kubectl-shaped client of the node agent's REST API.

One module per command group, formatting only. Start-up stays cheap: the
command modules import only click and the stdlib at module level; the API
client, YAML and the manifest loader are imported inside the commands that
need them (never aiohttp or grpc).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from podkeeper.cli._common import (
    EXIT_PROBLEM,
    EXIT_USAGE,
    CliError,
    State,
    agent_not_running_message,
    api_error_line,
    api_status,
    is_error,
)


class _Group(click.Group):
    """The root group: turns every library exception into a short message and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except CliError as exc:
            if exc.message:
                click.echo(exc.message, err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except BrokenPipeError:
            # `podkeeper logs x | head`: the reader left; not an error worth a word.
            _silence_stdout()
            raise click.exceptions.Exit(0) from None
        except Exception as exc:
            error = _translate(exc, ctx)
            click.echo(error.message, err=True)
            raise click.exceptions.Exit(error.exit_code) from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _translate(exc: Exception, ctx: click.Context) -> CliError:
    if os.environ.get("PODKEEPER_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    if is_error(exc, "AgentNotRunning"):
        state = ctx.find_object(State)
        if state is not None:
            return CliError(agent_not_running_message(state.home))
        return CliError(f"error: {exc}")
    if is_error(exc, "ManifestError"):
        return CliError(f"error: {exc}", EXIT_USAGE)
    if is_error(exc, "APIError"):
        code = EXIT_USAGE if api_status(exc) in (400, 422) else EXIT_PROBLEM
        return CliError(api_error_line(exc), code)
    if is_error(exc, "ClientError"):
        return CliError(f"error: {exc}")
    if isinstance(exc, ConnectionError | TimeoutError):
        return CliError(f"error: lost the connection to the agent: {exc}")
    return CliError(f"error: internal error: {type(exc).__name__}: {exc}")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    metavar="DIR",
    default=None,
    help="State folder of the agent (default: $PODKEEPER_HOME, else $XDG_STATE_HOME/podkeeper).",
)
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """Run Kubernetes Pod manifests as local processes, the way the kubelet does."""
    state = ctx.ensure_object(State)
    if home is not None:
        state.home_option = home


def _register() -> None:
    from podkeeper.cli import (
        describe,
        events,
        explain,
        get,
        lifecycle,
        logs,
    )

    for command in (
        lifecycle.up,
        lifecycle.apply,
        get.get,
        describe.describe,
        logs.logs,
        events.events,
        lifecycle.delete,
        lifecycle.down,
        explain.explain,
        lifecycle.version,
        lifecycle.agent,
    ):
        main.add_command(command)
    # Further command groups register here, one line each, e.g.:
    #   from podkeeper.cli import lint, simulate
    #   main.add_command(lint.lint)
    #   main.add_command(simulate.simulate)
    for optional in ("lint", "simulate", "kubeconfig"):
        name = f"podkeeper.cli.{optional}"
        try:
            module = __import__(name, fromlist=[optional])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found = getattr(module, optional, None)
        if isinstance(found, click.Command):
            main.add_command(found)
    from podkeeper.cli import images, rollout, triage

    main.add_command(images.image)
    main.add_command(rollout.rollout)
    main.add_command(rollout.scale)
    main.add_command(triage.triage)


_register()


def kubectl_main() -> None:
    """`kubectl-podkeeper`: kubectl's plugin name for podkeeper (`kubectl podkeeper explain pod
    X`, `kubectl podkeeper triage`); explain and triage read kubectl's current context."""
    from podkeeper.cli._cluster import PLUGIN

    PLUGIN["active"] = True
    main(prog_name="kubectl podkeeper")


__all__ = ["kubectl_main", "main"]

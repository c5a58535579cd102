"""`podkeeper kubeconfig [--merge]`: the kubeconfig for the agent's Kubernetes API (issue 11).

The agent writes `$PODKEEPER_HOME/kubeconfig` (mode 0600) each time it
starts its HTTPS listener; this command prints it, or merges its cluster,
user and context `podkeeper` into `~/.kube/config` (or `--kubeconfig FILE`)
without touching the other entries.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from podkeeper.cli._common import EXIT_PROBLEM, CliError, State


@click.command("kubeconfig")
@click.option("--merge", is_flag=True, help="Add context `podkeeper` to ~/.kube/config.")
@click.option(
    "--kubeconfig",
    "target",
    metavar="FILE",
    default=None,
    help="With --merge: the file to merge into (default ~/.kube/config).",
)
@click.pass_obj
def kubeconfig(state: State, merge: bool, target: str | None) -> None:
    """Print the kubeconfig for kubectl and client libraries (context `podkeeper`)."""
    import yaml

    from podkeeper.api import pki

    source = state.home / pki.KUBECONFIG_NAME
    try:
        text = source.read_text()
    except FileNotFoundError:
        raise CliError(
            f"error: no kubeconfig in {state.home} yet: the agent writes it when it starts "
            "(podkeeper up -f FILE)",
            EXIT_PROBLEM,
        ) from None
    if not merge:
        click.echo(text, nl=False)
        return
    dest = Path(target).expanduser() if target else Path.home() / ".kube" / "config"
    try:
        existing = yaml.safe_load(dest.read_text()) if dest.exists() else None
    except yaml.YAMLError as exc:
        raise CliError(f"error: {dest} is not valid YAML: {exc}", EXIT_PROBLEM) from None
    if existing is not None and not isinstance(existing, dict):
        raise CliError(f"error: {dest} is not a kubeconfig", EXIT_PROBLEM)
    merged = pki.merge_kubeconfig(existing, yaml.safe_load(text))
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".podkeeper.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(merged, f, sort_keys=False)
    os.replace(tmp, dest)
    current = merged.get("current-context")
    click.echo(
        f'merged context "{pki.CONTEXT}" into {dest}'
        + ("" if current == pki.CONTEXT else f' (current context stays "{current}")')
    )

"""`podkeeper logs`: a container's stdout+stderr, current or previous instance, maybe followed."""

from __future__ import annotations

import click

from podkeeper.cli._common import (
    CliError,
    api_error_line,
    api_status,
    get_or_none,
    is_error,
    namespace_option,
    not_found_line,
    state_of,
    write_bytes,
)
from podkeeper.cli._text import dicts, get


def container_names(pod: dict[str, object]) -> tuple[list[str], list[str]]:
    """(regular, init) container names of a pod, in spec order."""
    return (
        [str(c.get("name")) for c in dicts(get(pod, "spec", "containers"))],
        [str(c.get("name")) for c in dicts(get(pod, "spec", "initContainers"))],
    )


def choose_container(pod: dict[str, object], requested: str | None) -> str:
    """The container to read: `-c` when given (must exist), else the default one.

    kubectl's current rule: the `kubectl.kubernetes.io/default-container` annotation,
    else the first regular container."""
    regular, init = container_names(pod)
    name = str(get(pod, "metadata", "name") or "")
    if requested is not None:
        if requested in regular or requested in init:
            return requested
        raise CliError(f"error: container {requested} is not valid for pod {name}")
    annotated = get(pod, "metadata", "annotations", "kubectl.kubernetes.io/default-container")
    if isinstance(annotated, str) and annotated in regular + init:
        return annotated
    if not regular:
        raise CliError(f"error: pod {name} has no containers")
    return regular[0]


def previous_missing_line(container: str, pod: str) -> str:
    """kubectl's words when there is no previous instance."""
    return (
        f'Error from server (BadRequest): previous terminated container "{container}" '
        f'in pod "{pod}" not found'
    )


@click.command()
@click.argument("pod")
@click.option("-c", "--container", default=None, help="Container name (default: the first).")
@click.option("-p", "--previous", is_flag=True, help="The instance before the current one.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming as the container writes.")
@namespace_option
@click.pass_context
def logs(
    ctx: click.Context,
    pod: str,
    container: str | None,
    previous: bool,
    follow: bool,
    namespace: str,
) -> None:
    """Print a container's logs (stdout and stderr)."""
    if pod.startswith(("pod/", "pods/")):
        pod = pod.split("/", 1)[1]
    client = state_of(ctx).client()
    obj = get_or_none(client, "Pod", namespace, pod)
    if obj is None:
        raise CliError(not_found_line("pods", pod))
    name = choose_container(obj, container)
    try:
        for chunk in client.logs(namespace, pod, name, previous, follow):
            write_bytes(chunk)
    except KeyboardInterrupt:
        return
    except Exception as exc:
        if is_error(exc, "APIError"):
            if previous and api_status(exc) in (400, 404):
                raise CliError(previous_missing_line(name, pod)) from None
            raise CliError(api_error_line(exc)) from None
        raise

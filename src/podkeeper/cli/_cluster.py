"""Cluster mode for explain and triage (issue 15): which kubeconfig and context to use.

`podkeeper` talks to its own agent unless `--context`, `--kubeconfig` or
`--cluster` is given; run as the kubectl plugin `kubectl-podkeeper` it always
uses the cluster of kubectl's current context (`$KUBECONFIG`, else
`~/.kube/config`), as kubectl's plugins do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Set by the `kubectl-podkeeper` entry point: cluster mode by default.
PLUGIN = {"active": False}


def cluster_options(func: F) -> F:
    """`--context`, `--kubeconfig` and `--cluster`, as kubectl spells the first two."""
    func = click.option(
        "--cluster",
        "cluster",
        is_flag=True,
        help="Read the cluster of the current kubeconfig context instead of the local agent.",
    )(func)
    func = click.option(
        "--kubeconfig",
        default=None,
        metavar="FILE",
        help="Kubeconfig file to use (cluster mode).",
    )(func)
    func = click.option(
        "--context",
        default=None,
        metavar="CTX",
        help="Kubeconfig context to use (cluster mode).",
    )(func)
    return func


def use_cluster(context: str | None, kubeconfig: str | None, cluster: bool) -> bool:
    """Whether the command reads a cluster's API rather than the local agent's history."""
    return bool(PLUGIN["active"] or cluster or context or kubeconfig)

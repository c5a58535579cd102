"""`podkeeper agent`: the node agent process, its API server and its controllers wired together.

The runtime's `Agent` does the kubelet's work; this module is the one place
that gives it the REST API (`api.server`) and the controllers that live in
other layers (Services in `lb`), so the runtime never imports them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from pathlib import Path

from podkeeper.api.feed import PodFeed
from podkeeper.api.server import serve
from podkeeper.controllers.interface import Controller
from podkeeper.runtime.agent import Agent


def controllers(home: Path | None = None) -> list[Controller]:
    """Deployments/ReplicaSets, the other workloads (Jobs, CronJobs, StatefulSets,
    DaemonSets, claims) and Services, as kube-controller-manager and kube-proxy."""
    from podkeeper.controllers.deployments import DeploymentController
    from podkeeper.controllers.workloads import WorkloadController, WorkloadSettings
    from podkeeper.lb.services import ServiceController

    return [
        DeploymentController(),
        WorkloadController(WorkloadSettings.from_env(home)),
        ServiceController(),
    ]


def main(home: str) -> int:
    """Run the agent for `home` in the foreground until `down`, SIGTERM or SIGINT."""
    logging.basicConfig(
        level=os.environ.get("PODKEEPER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    agent_home = Path(home)
    agent_home.mkdir(parents=True, exist_ok=True)
    # The feed tells the API's watches about pod changes as they happen (no polling).
    feed = PodFeed()
    try:
        return asyncio.run(
            Agent(agent_home).run(
                serve=functools.partial(serve, feed=feed),
                controllers=[*controllers(agent_home), feed],
            )
        )
    except KeyboardInterrupt:
        return 0

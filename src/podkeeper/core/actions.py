"""What the pod machine asks the runtime to do, as plain data.

Handlers are resolved here (named ports, the pod IP as default host, static
`$(VAR)` expansion of exec commands) so that checkers stay functions of
host, port and timeout, as `pkg/probe/*` are.
"""

from __future__ import annotations

from dataclasses import dataclass

from podkeeper.core.spec import ProbeType


@dataclass(frozen=True)
class ExecTarget:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class HTTPTarget:
    scheme: str  # lower case, as request.go uses it
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TCPTarget:
    host: str
    port: int


@dataclass(frozen=True)
class GRPCTarget:
    host: str
    port: int
    service: str | None


@dataclass(frozen=True)
class SleepTarget:
    seconds: int


@dataclass(frozen=True)
class UnresolvedTarget:
    """The handler could not be resolved (e.g. `port "http" not found`): a prober error."""

    error: str


Target = ExecTarget | HTTPTarget | TCPTarget | GRPCTarget | SleepTarget | UnresolvedTarget


@dataclass(frozen=True)
class StartContainer:
    container: str
    instance_id: str
    restart_count: int
    post_start: Target | None = None


@dataclass(frozen=True)
class KillContainer:
    """Stop an instance: `pre_stop` (bounded by the grace), SIGTERM, SIGKILL after the rest."""

    container: str
    instance_id: str
    grace_seconds: int
    message: str
    pre_stop: Target | None = None
    # Who asked for the kill (`core.evidence` LIVENESS, STARTUP, STOP, POST_START, EVICTION).
    killed_by: str | None = None


@dataclass(frozen=True)
class RunProbe:
    container: str
    instance_id: str
    probe_type: ProbeType
    target: Target
    timeout_seconds: int
    attempt: int = 1


@dataclass(frozen=True)
class PodFinished:
    """Every container of a deleted pod has stopped: the agent may forget it."""


Action = StartContainer | KillContainer | RunProbe | PodFinished

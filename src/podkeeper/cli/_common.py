"""What every command shares: the home, the agent client, errors and output.

Errors are `CliError`s carrying the exit status (interface.md: 1 = the command
ran and found a problem, 2 = bad usage or invalid input); the group maps
library exceptions (`AgentNotRunning`, `APIError`, `ManifestError`) onto them
so that no traceback ever reaches the user.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

if TYPE_CHECKING:
    from collections.abc import Sequence

Obj = dict[str, Any]

EXIT_PROBLEM = 1
EXIT_USAGE = 2

#: kubectl's reason words for HTTP statuses, used when an error body has no `reason`.
_STATUS_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class CliError(Exception):
    """A failure shown as `message` on stderr (no prefix added) with `exit_code`.

    The root group prints it and exits; commands just raise it."""

    def __init__(self, message: str, exit_code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class AgentClient(Protocol):
    """The slice of `podkeeper.api.client.Client` the CLI uses (its planned API)."""

    def ping(self) -> bool: ...
    def apply(self, items: list[Obj]) -> Any: ...
    def list(self, kind: str, namespace: str | None) -> Any: ...
    def get_object(self, kind: str, namespace: str, name: str) -> Any: ...
    def delete_object(
        self, kind: str, namespace: str, name: str, grace: int | None = None
    ) -> Any: ...
    def events(self, namespace: str | None, name: str | None = None) -> Any: ...
    def watch_events(self, namespace: str | None, name: str | None = None) -> Iterator[Obj]: ...
    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        previous: bool = False,
        follow: bool = False,
    ) -> Iterator[bytes]: ...
    def terminations(self, namespace: str, pod: str, container: str | None = None) -> Any: ...
    def shutdown(self) -> Any: ...
    def version(self) -> Any: ...
    def open_image_runtime(self) -> Any: ...


ClientFactory = Callable[[Path], AgentClient]


def _real_client(home: Path) -> AgentClient:
    from podkeeper.api.client import Client
    from podkeeper.home import socket_path

    return Client(socket_path(home))


@dataclass
class State:
    """The group's context object. Tests pass one with a fake `client_factory`."""

    home_option: str | None = None
    client_factory: ClientFactory | None = None
    _home: Path | None = field(default=None, repr=False)

    @property
    def home(self) -> Path:
        """The resolved (and created) PODKEEPER_HOME."""
        if self._home is None:
            from podkeeper.home import resolve_home

            try:
                self._home = resolve_home(self.home_option)
            except OSError as exc:
                raise CliError(f"error: cannot use home {self.home_option}: {exc}", 2) from None
        return self._home

    def raw_client(self) -> AgentClient:
        """A client for this home's socket (connects lazily; may not answer)."""
        factory = self.client_factory or _real_client
        return factory(self.home)

    def client(self) -> AgentClient:
        """A client of a running agent; a clear one-line error (exit 1) when none answers."""
        client = self.raw_client()
        if not agent_answers(client):
            raise CliError(agent_not_running_message(self.home))
        return client


def agent_not_running_message(home: Path) -> str:
    """The one line shown when a command needs an agent and none answers."""
    return (
        f"error: no podkeeper agent is running for home {home} "
        "(start one with: podkeeper up -f FILE)"
    )


def agent_answers(client: AgentClient) -> bool:
    """True when the agent behind `client` answers a ping."""
    try:
        return bool(client.ping())
    except Exception as exc:
        if is_error(exc, "AgentNotRunning") or isinstance(exc, OSError):
            return False
        raise


def state_of(ctx: click.Context) -> State:
    """The State of the invocation (created by the group)."""
    obj = ctx.find_object(State)
    if obj is None:
        obj = ctx.ensure_object(State)
    return obj


def is_error(exc: BaseException, name: str) -> bool:
    """`exc` is (a subclass of) the library exception class called `name`.

    Matched by name so that the CLI needs not import the API client at start-up."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def api_status(exc: BaseException) -> int:
    """The HTTP status of an `APIError` (0 when unknown)."""
    status = getattr(exc, "status", 0)
    return status if isinstance(status, int) else 0


def api_error_line(exc: BaseException) -> str:
    """kubectl's `Error from server (Reason): message` for an `APIError`."""
    body = getattr(exc, "body", None)
    reason = ""
    message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
    status = api_status(exc)
    reason = reason or _STATUS_REASONS.get(status, f"Status{status}" if status else "Unknown")
    message = message or str(getattr(exc, "message", "") or exc)
    return f"Error from server ({reason}): {message}"


def not_found_line(plural: str, name: str) -> str:
    """kubectl's NotFound line: `Error from server (NotFound): pods "x" not found`."""
    return f'Error from server (NotFound): {plural} "{name}" not found'


def get_or_none(client: AgentClient, kind: str, namespace: str, name: str) -> Obj | None:
    """The object, or None when the API says it does not exist."""
    try:
        got = client.get_object(kind, namespace, name)
    except Exception as exc:
        if is_error(exc, "APIError") and api_status(exc) == 404:
            return None
        raise
    return got if isinstance(got, dict) else None


def items_of(listed: Any) -> list[Obj]:
    """The objects of a list answer (a bare list or a `...List` object)."""
    if isinstance(listed, dict):
        listed = listed.get("items")
    if not isinstance(listed, list):
        return []
    return [o for o in listed if isinstance(o, dict)]


def print_json(value: Any) -> None:
    """JSON as kubectl prints it (indent 4)."""
    click.echo(json.dumps(value, indent=4, ensure_ascii=False))


def print_yaml(value: Any) -> None:
    """YAML as kubectl prints it (keys sorted, block style)."""
    import yaml

    click.echo(yaml.safe_dump(value, sort_keys=True, default_flow_style=False).rstrip("\n"))


def warn(message: str) -> None:
    """One line on stderr."""
    click.echo(message, err=True)


def write_bytes(data: bytes) -> None:
    """Raw bytes to stdout (logs), flushed so `-f` is live."""
    # sys.stdout.buffer, not click.get_binary_stream (deprecated in click 8.5).
    sys.stdout.flush()
    stream = sys.stdout.buffer
    stream.write(data)
    stream.flush()


namespace_option = click.option(
    "-n",
    "--namespace",
    default="default",
    show_default=True,
    help="Namespace of the objects.",
)


def parse_duration(text: str) -> float:
    """A Go-style duration (`90s`, `5m`, `1h30m`, `500ms`) or plain seconds, in seconds."""
    import re

    raw = text.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise click.BadParameter(f"invalid duration {text!r} (use e.g. 90s, 5m, 1h30m)")
    return sum(float(n) * units[u] for n, u in parts)


def join_lines(lines: Sequence[str]) -> str:
    """Lines joined with newlines, without a trailing one."""
    return "\n".join(lines)


def stdin_is_tty() -> bool:
    """Whether stdout is an interactive terminal."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False

"""`up`, `apply`, `delete`, `down`, `version` and the hidden `agent`: starting, feeding and
stopping the node agent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from podkeeper.cli._common import (
    EXIT_PROBLEM,
    AgentClient,
    CliError,
    State,
    agent_answers,
    api_status,
    get_or_none,
    is_error,
    items_of,
    parse_duration,
    state_of,
    stdin_is_tty,
    warn,
)
from podkeeper.cli._text import get, utcnow

Obj = dict[str, Any]

#: How long `up` waits for a freshly started agent's socket, and how often it asks (seconds).
#: An agent that exits while starting is reported at once, so the wait only bounds a slow
#: start: on a 2-core machine held by other work an agent took over 5 s to import and
#: listen (issue 13 item 17), and starting a private containerd adds seconds more.
AGENT_START_TIMEOUT = 60.0
AGENT_POLL = 0.01
#: How often `--wait`, `delete` and `down` look again (seconds).
POLL = 0.1
#: How often the live view of `up` redraws (seconds).
REFRESH = 0.5
#: kubectl's default `terminationGracePeriodSeconds`.
DEFAULT_GRACE = 30

_KIND_WORDS = {
    "Pod": ("pod", "pods"),
    "Deployment": ("deployment.apps", "deployments.apps"),
    "ReplicaSet": ("replicaset.apps", "replicasets.apps"),
    "Service": ("service", "services"),
    "Endpoints": ("endpoints", "endpoints"),
    "Job": ("job.batch", "jobs.batch"),
    "CronJob": ("cronjob.batch", "cronjobs.batch"),
    "StatefulSet": ("statefulset.apps", "statefulsets.apps"),
    "DaemonSet": ("daemonset.apps", "daemonsets.apps"),
    "PersistentVolumeClaim": ("persistentvolumeclaim", "persistentvolumeclaims"),
}


def kind_word(kind: str) -> str:
    """kubectl's singular resource word for messages: `pod`, `deployment.apps`."""
    return _KIND_WORDS.get(kind, (kind.lower(), kind.lower() + "s"))[0]


def _meta(obj: Obj) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("kind") or ""),
        str(meta.get("namespace") or "default"),
        str(meta.get("name") or ""),
    )


# -- the agent process -------------------------------------------------------


@dataclass
class Agent:
    """A running agent for a home: its client, and its process when this command started it."""

    client: AgentClient
    process: subprocess.Popen[bytes] | None = None


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("  " + line for line in text.strip().splitlines()[-lines:])


def runtime_options(fn: Any) -> Any:
    """`--runtime` and `--cri-endpoint` (issue 10), for the commands that start the agent."""
    fn = click.option(
        "--cri-endpoint",
        default=None,
        help="With --runtime cri: the CRI socket (default unix:///run/containerd/containerd.sock).",
    )(fn)
    return click.option(
        "--runtime",
        type=click.Choice(["auto", "process", "containerd", "cri"]),
        default=None,
        help="Container runtime of the agent this starts (default $PODKEEPER_RUNTIME, else auto).",
    )(fn)


def _warn_other_runtime(client: AgentClient, asked: str) -> None:
    """`--runtime` only chooses when the agent starts: say so when the running one differs."""
    from podkeeper.runtime.selection import resolve

    try:
        info = client.version()
    except Exception:
        return
    running = info.get("runtime") if isinstance(info, dict) else None
    if running and running != resolve(asked):
        warn(
            f"warning: the agent for this home already runs the {running} runtime; "
            f"--runtime {asked} applies when it starts (podkeeper down first)"
        )


def start_agent(state: State, runtime: str | None = None, cri_endpoint: str | None = None) -> Agent:
    """The agent answering on the home's socket; started detached when none answers
    (with `runtime`/`cri_endpoint`, passed as PODKEEPER_RUNTIME/PODKEEPER_CRI_ENDPOINT)."""
    from podkeeper.home import log_path

    client = state.raw_client()
    if agent_answers(client):
        return Agent(client)
    env = dict(os.environ)
    if runtime:
        env["PODKEEPER_RUNTIME"] = runtime
    if cri_endpoint:
        env["PODKEEPER_CRI_ENDPOINT"] = cri_endpoint
    home = state.home
    log_file = log_path(home)
    # Owner-only: the log may quote pod specs (issue 13 item 5).
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    with open(fd, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "podkeeper", "--home", str(home), "agent"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    deadline = time.monotonic() + AGENT_START_TIMEOUT
    while time.monotonic() < deadline:
        if agent_answers(client):
            return Agent(client, process)
        code = process.poll()
        if code is not None:
            tail = _log_tail(log_file)
            raise CliError(
                f"error: the agent exited with status {code} while starting; see {log_file}"
                + (f":\n{tail}" if tail else "")
            )
        time.sleep(AGENT_POLL)
    raise CliError(
        f"error: the agent did not answer on {home / 'agent.sock'} within "
        f"{AGENT_START_TIMEOUT:.0f}s (pid {process.pid}); see {log_file}"
    )


def _pid_alive(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None and process.pid == pid:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _agent_pid(home: Path) -> int | None:
    from podkeeper.home import pid_path

    try:
        return int(pid_path(home).read_text().strip())
    except (OSError, ValueError):
        return None


def stop_agent(state: State, agent: Agent, timeout: float) -> None:
    """Ask the agent to drain and stop; wait (bounded) until its process or socket is gone."""
    from podkeeper.home import socket_path

    home = state.home
    pid = agent.process.pid if agent.process is not None else _agent_pid(home)
    try:
        agent.client.shutdown()
    except Exception as exc:
        if not is_error(exc, "AgentNotRunning"):
            raise
    sock = socket_path(home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None:
            if not _pid_alive(pid, agent.process):
                return
        elif not sock.exists() or not agent_answers(agent.client):
            return
        time.sleep(POLL)
    which = f"pid {pid}" if pid is not None else str(sock)
    raise CliError(
        f"error: the agent ({which}) is still draining after {timeout:.0f}s; "
        "it keeps stopping in the background (see agent.log)"
    )


# -- apply -------------------------------------------------------------------


def _version_marks(obj: Obj | None) -> tuple[Any, Any, Any]:
    if obj is None:
        return (None, None, None)
    meta = obj.get("metadata") or {}
    return (meta.get("resourceVersion"), meta.get("generation"), obj.get("spec"))


#: The largest request body the agent reads (aiohttp's `client_max_size`, 1 MiB: the
#: API server builds its application with the default). An apply bigger than this is
#: sent in batches (issue 13 item 15).
APPLY_BODY_LIMIT = 1024 * 1024
#: Bytes of `{"items": [...]}` around a batch, with room to spare.
_WRAPPER_BYTES = 64


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.2f} MiB"


def apply_batches(
    objects: list[Obj], places: list[str] | None = None, limit: int | None = None
) -> list[list[Obj]]:
    """`objects` cut, in order, into runs whose JSON request body fits in `limit` bytes
    (default `APPLY_BODY_LIMIT`).

    CliError (exit 2) when one object alone does not fit, naming it and the limit."""
    import json

    limit = APPLY_BODY_LIMIT if limit is None else limit
    batches: list[list[Obj]] = []
    current: list[Obj] = []
    size = _WRAPPER_BYTES
    room = limit - _WRAPPER_BYTES
    for i, obj in enumerate(objects):
        n = len(json.dumps(obj).encode()) + 2  # ", " between items
        if n > room:
            kind, _, name = _meta(obj)
            place = f"{places[i]}: " if places and i < len(places) else ""
            raise CliError(
                f"error: {place}{kind_word(kind)}/{name} is {_mib(n)} as JSON, over the agent's "
                f"request limit of {_mib(limit)}: make it smaller (large data belongs in files)",
                2,
            )
        if current and size + n > limit:
            batches.append(current)
            current, size = [], _WRAPPER_BYTES
        current.append(obj)
        size += n
    if current:
        batches.append(current)
    return batches


def _existing_marks(
    client: AgentClient, objects: list[Obj]
) -> dict[tuple[str, str, str], tuple[Any, Any, Any] | None]:
    """What each object is in the agent now (None: absent), with one list call per
    kind and namespace rather than one GET per object (10,000 pods took 13.5 s)."""
    before: dict[tuple[str, str, str], tuple[Any, Any, Any] | None] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for obj in objects:
        kind, ns, name = _meta(obj)
        if name:
            groups.setdefault((kind, ns), []).append(name)
    for (kind, ns), names in groups.items():
        listed: dict[str, Obj] | None = None
        if len(names) > 1:
            try:
                listed = {_meta(o)[2]: o for o in items_of(client.list(kind, ns))}
            except Exception as exc:
                # A kind the list route does not know: one GET each, as before.
                if not (isinstance(exc, KeyError) or is_error(exc, "APIError")):
                    raise
        for name in names:
            old = listed.get(name) if listed is not None else get_or_none(client, kind, ns, name)
            before[(kind, ns, name)] = _version_marks(old) if old is not None else None
    return before


def apply_objects(
    client: AgentClient,
    objects: list[Obj],
    places: list[str] | None = None,
    limit: int | None = None,
) -> list[str]:
    """Send `objects` (in batches under the agent's body limit); kubectl apply's lines
    (`pod/x created|configured|unchanged`).

    The verb comes from comparing each object before and after the apply (the API
    answers with the stored objects only)."""
    batches = apply_batches(objects, places, limit)
    before = _existing_marks(client, objects)
    stored: list[Obj] = []
    for batch in batches:
        try:
            answered = items_of(client.apply(batch))
        except Exception as exc:
            # Earlier batches stay applied: say so with the error (`_apply_files`).
            exc.applied_before = len(stored)  # type: ignore[attr-defined]
            raise
        # Keep positions aligned with `batch` even if the agent answered fewer.
        stored += answered[: len(batch)] + [{}] * (len(batch) - len(answered))
    lines = []
    for i, obj in enumerate(objects):
        kind, ns, name = _meta(obj)
        after = stored[i] if i < len(stored) and stored[i] else None
        if after is not None:
            name = _meta(after)[2] or name
        old_marks = before.get((kind, ns, name))
        if old_marks is None:
            verb = "created"
        elif after is None:
            verb = "configured"
        else:
            new_marks = _version_marks(after)
            same_version = old_marks[0] is not None and old_marks[0] == new_marks[0]
            same_gen_spec = old_marks[1:] == new_marks[1:]
            verb = (
                "unchanged"
                if same_version or (old_marks[0] is None and same_gen_spec)
                else ("configured")
            )
        lines.append(f"{kind_word(kind)}/{name} {verb}")
    return lines


def _apply_files(
    client: AgentClient,
    files: tuple[str, ...],
    objects: list[Obj],
    places: list[str] | None = None,
) -> list[str]:
    try:
        return apply_objects(client, objects, places)
    except Exception as exc:
        applied = getattr(exc, "applied_before", 0)
        if applied:
            warn(f"note: the first {applied} of {len(objects)} objects were applied before this")
        if is_error(exc, "APIError") and api_status(exc) == 413:
            text = str(getattr(exc, "message", exc))
            raise CliError(
                f"error: {', '.join(files)}: the agent refused the request as too large "
                f"({text}); podkeeper sends batches of at most {_mib(APPLY_BODY_LIMIT)}",
                2,
            ) from None
        if is_error(exc, "APIError") and api_status(exc) == 422:
            causes = getattr(exc, "causes", []) or []
            details = [str(c.get("message")) for c in causes if c.get("message")]
            text = str(getattr(exc, "message", exc))
            lines = [f"error: {', '.join(files)}: {text}"]
            lines += [f"  {d}" for d in details if d not in text]
            raise CliError("\n".join(lines), 2) from None
        raise


# -- waiting for Ready -------------------------------------------------------


def _selector_matches(selector: Any, labels: Any) -> bool:
    match = (selector or {}).get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(match, dict) or not match:
        return False
    labels = labels if isinstance(labels, dict) else {}
    return all(labels.get(k) == v for k, v in match.items())


def wanted_pods(objects: list[Obj], pods: list[Obj]) -> tuple[list[Obj], list[str]]:
    """The pods `--wait` waits for among `pods`, and the lines of what is still missing.

    A Pod waits for itself; a Deployment, ReplicaSet or StatefulSet for `replicas` pods of
    its selector, a DaemonSet for its one pod."""
    by_key = {(_meta(p)[1], _meta(p)[2]): p for p in pods}
    chosen: dict[tuple[str, str], Obj] = {}
    missing: list[str] = []
    for obj in objects:
        kind, ns, name = _meta(obj)
        if kind == "Pod":
            pod = by_key.get((ns, name))
            if pod is None:
                missing.append(f"pod/{name} is not Ready: not created yet")
            else:
                chosen[(ns, name)] = pod
        elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
            selector = get(obj, "spec", "selector")
            owned = [
                p
                for p in pods
                if _meta(p)[1] == ns
                and _selector_matches(selector, get(p, "metadata", "labels"))
                and not get(p, "metadata", "deletionTimestamp")
            ]
            replicas = get(obj, "spec", "replicas")
            # A DaemonSet has one pod on this single node.
            replicas = replicas if isinstance(replicas, int) and kind != "DaemonSet" else 1
            if len(owned) < replicas:
                missing.append(
                    f"{kind_word(kind)}/{name} is not Ready: {len(owned)}/{replicas} pods exist"
                )
            for p in owned:
                chosen[(_meta(p)[1], _meta(p)[2])] = p
    return list(chosen.values()), missing


def wait_ready(client: AgentClient, objects: list[Obj], timeout: float) -> None:
    """Poll until every applied pod is Ready; CliError (exit 1) saying why when time runs out."""
    from podkeeper.cli.podformat import is_ready, not_ready_reason

    if not any(
        _meta(o)[0] in ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
        for o in objects
    ):
        return
    namespaces = sorted({_meta(o)[1] for o in objects})
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for ns in namespaces for p in items_of(client.list("Pod", ns))]
        targets, missing = wanted_pods(objects, pods)
        unready = [p for p in targets if not is_ready(p)]
        if not missing and not unready:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    lines = list(missing)
    for pod in unready:
        _, ns, name = _meta(pod)
        events = items_of(client.events(ns, name))
        lines.append(f"pod/{name} is not Ready: {not_ready_reason(pod, events)}")
    lines.append(f"error: timed out after {timeout:g}s waiting for Ready")
    raise CliError("\n".join(lines), EXIT_PROBLEM)


# -- the live view of `up` ---------------------------------------------------


def render_status(pods: list[Obj], events: list[Obj], now: Any) -> str:
    """The live view: the `get pods` table and the last 10 events."""
    from podkeeper.cli.events import render_events, sort_key
    from podkeeper.cli.get import render_table

    parts = [render_table("Pod", pods, now) if pods else "No pods.\n"]
    recent = sorted(events, key=sort_key)[-10:]
    if recent:
        parts.append(render_events(recent, now))
    return "\n".join(parts)


def status_key(pods: list[Obj], now: Any) -> list[tuple[str, ...]]:
    """What the non-tty view compares: the pod rows without AGE and the restarts' `ago`."""
    from podkeeper.cli.podformat import pod_row

    keys: list[tuple[str, ...]] = []
    for p in pods:
        name, ready, status, restarts, _age = pod_row(p, now)
        keys.append((name, ready, status, restarts.split(" ")[0]))
    return keys


def live_view(
    client: AgentClient,
    namespaces: list[str],
    sleep: Callable[[float], None],
    owns_agent: bool = True,
) -> None:
    """Redraw the status every REFRESH seconds until KeyboardInterrupt (Ctrl-C).

    On a terminal: clear and redraw. Otherwise print only what changed: the pods
    table when a pod's READY, STATUS or RESTARTS changes, and each new or repeated event."""
    from podkeeper.cli.events import event_key, event_row, sort_key
    from podkeeper.cli.get import render_table

    tty = stdin_is_tty()
    last_key: list[tuple[str, ...]] | None = None
    seen: dict[str, Any] = {}
    while True:
        pods = [p for ns in namespaces for p in items_of(client.list("Pod", ns))]
        events = [e for ns in namespaces for e in items_of(client.events(ns, None))]
        pods.sort(key=lambda p: _meta(p)[2])
        now = utcnow()
        if tty:
            click.echo("\x1b[H\x1b[J" + render_status(pods, events, now), nl=False)
            click.echo(
                "(Ctrl-C stops every pod and the agent)"
                if owns_agent
                else "(Ctrl-C deletes what this `up` created; the running agent stays)"
            )
        else:
            key = status_key(pods, now)
            if key != last_key:
                click.echo(render_table("Pod", pods, now) if pods else "No pods.\n", nl=False)
                last_key = key
            for event in sorted(events, key=sort_key):
                ident = event_key(event)
                if seen.get(ident) != event.get("count"):
                    seen[ident] = event.get("count")
                    click.echo("event: " + "   ".join(event_row(event, now)))
        sleep(REFRESH)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# -- commands ----------------------------------------------------------------


def _files_option(required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "-f",
        "--filename",
        "files",
        multiple=True,
        required=required,
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Manifest file (YAML or JSON; `-` is stdin). Repeatable.",
    )


@click.command()
@_files_option(required=True)
@click.option("-d", "--detach", is_flag=True, help="Return once the agent accepted the objects.")
@click.option("--wait", is_flag=True, help="With -d: return once every pod is Ready.")
@click.option("--timeout", default="5m", show_default=True, help="Limit of --wait (e.g. 90s, 5m).")
@runtime_options
@click.pass_context
def up(
    ctx: click.Context,
    files: tuple[str, ...],
    detach: bool,
    wait: bool,
    timeout: str,
    runtime: str | None,
    cri_endpoint: str | None,
) -> None:
    """Start the agent for this home if none runs, and apply the files."""
    from podkeeper.cli._manifest import load_files

    limit = parse_duration(timeout)
    loaded = load_files(files)
    for line in loaded.warnings:
        warn(line)
    state = state_of(ctx)
    loose = _loose_home_mode(state.home)
    agent = start_agent(state, runtime, cri_endpoint)
    _say_home_secured(state.home, loose)
    if agent.process is not None:
        _say_start_warnings(agent.client)
    elif runtime:
        _warn_other_runtime(agent.client, runtime)
    lines = _apply_files(agent.client, files, loaded.objects, loaded.places)
    for line in lines:
        click.echo(line)
    if detach or wait:
        if wait:
            wait_ready(agent.client, loaded.objects, limit)
        return
    namespaces = sorted({_meta(o)[1] for o in loaded.objects})
    import signal

    # Ctrl-C and SIGTERM both mean "stop", even when a script started us in the
    # background (where the shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        live_view(agent.client, namespaces, time.sleep, owns_agent=agent.process is not None)
    except KeyboardInterrupt:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if agent.process is None:
        # The agent was there before this `up` (started with -d, or by another `up`): it
        # may run other workloads. Stop only what this `up` created (issue 13 item 16).
        try:
            _stop_own_objects(agent.client, loaded.objects, lines)
        except KeyboardInterrupt:
            raise CliError("interrupted: the deletions go on in the agent", 130) from None
        return
    click.echo("draining…")
    try:
        stop_agent(state, agent, timeout=120.0)
    except KeyboardInterrupt:
        raise CliError("interrupted: the agent keeps draining in the background", 130) from None
    click.echo("agent stopped")


def _loose_home_mode(home: Path) -> int | None:
    """The home's mode when others may read or enter it, else None."""
    try:
        mode = home.stat().st_mode & 0o7777
    except OSError:
        return None
    return mode if mode & 0o077 else None


def _say_home_secured(home: Path, loose: int | None) -> None:
    """Make the home owner-only (the agent does it at start too) and say so (issue 13 item 5)."""
    from podkeeper.home import secure_home

    line = secure_home(home)
    if (
        loose is not None
        and not _loose_home_mode(home)
        and (line is None or "had mode" not in line)
    ):
        # The agent this command started did it first (and logged it).
        done = f"home {home} had mode {loose:04o}: made it {loose & ~0o077:04o} (owner-only)"
        line = f"{done}; {line}" if line else done
    if line:
        warn(f"note: {line}")


#: Node Warning events an agent records about its own start (runtime/agent.py).
_START_REASONS = ("StateDatabaseRecovered",)


def _say_start_warnings(client: AgentClient) -> None:
    """Repeat what the agent this command started found wrong at start (a damaged state
    database: what was recovered and lost), so that it is not only in agent.log."""
    try:
        events = items_of(client.events("default", None))
    except Exception as exc:
        if is_error(exc, "ClientError"):
            return
        raise
    for ev in events:
        involved = ev.get("involvedObject") or {}
        if involved.get("kind") == "Node" and ev.get("reason") in _START_REASONS:
            warn(f"warning: {ev.get('reason')}: {ev.get('message')}")


def _stop_own_objects(client: AgentClient, objects: list[Obj], lines: list[str]) -> None:
    """Delete the objects this `up` created (its `created` lines), leave the rest and the
    agent, and say which."""
    created = [o for o, line in zip(objects, lines, strict=False) if line.endswith(" created")]
    kept = [o for o, line in zip(objects, lines, strict=False) if not line.endswith(" created")]
    click.echo("stopping what this `up` created; the agent was already running and keeps running")
    targets: list[tuple[str, str, str]] = []
    for obj in created:
        kind, ns, name = _meta(obj)
        try:
            client.delete_object(kind, ns, name, None)
        except Exception as exc:
            if is_error(exc, "APIError") and api_status(exc) == 404:
                continue
            raise
        click.echo(f'{kind_word(kind)} "{name}" deleted')
        targets.append((kind, ns, name))
    for obj in kept:
        kind, _, name = _meta(obj)
        click.echo(f"{kind_word(kind)}/{name} left running: it existed before this `up`")
    left = _wait_gone(client, targets, DEFAULT_GRACE + 30)
    if left:
        names_left = ", ".join(f"{kind_word(k)}/{n}" for k, _, n in left)
        raise CliError(f"error: timed out waiting for the deletion of {names_left}")
    click.echo("agent left running (`podkeeper down` stops it)")


@click.command()
@_files_option(required=True)
@click.pass_context
def apply(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Create or update objects in the running agent."""
    from podkeeper.cli._manifest import load_files

    loaded = load_files(files)
    for line in loaded.warnings:
        warn(line)
    client = state_of(ctx).client()
    for line in _apply_files(client, files, loaded.objects, loaded.places):
        click.echo(line)


def _wait_gone(
    client: AgentClient,
    targets: list[tuple[str, str, str]],
    timeout: float,
    uids: dict[tuple[str, str, str], str] | None = None,
) -> list[tuple[str, str, str]]:
    """The targets still there after `timeout`. With `uids`, an object of the same name but
    another uid (a StatefulSet's pod created again) counts as gone, as kubectl's wait does."""
    deadline = time.monotonic() + timeout
    remaining = list(targets)

    def there(t: tuple[str, str, str]) -> bool:
        obj = get_or_none(client, *t)
        if obj is None:
            return False
        uid = (uids or {}).get(t)
        return not uid or get(obj, "metadata", "uid") == uid

    while remaining:
        remaining = [t for t in remaining if there(t)]
        if not remaining or time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    return remaining


@click.command()
@click.argument("resource", required=False)
@click.argument("names", nargs=-1)
@_files_option(required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option(
    "--grace-period",
    type=int,
    default=None,
    help="Seconds of grace for the pod's termination (default: the pod's own; 0 = 2s minimum).",
)
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Wait until the objects are gone."
)
@click.pass_context
def delete(
    ctx: click.Context,
    resource: str | None,
    names: tuple[str, ...],
    files: tuple[str, ...],
    namespace: str,
    grace_period: int | None,
    wait: bool,
) -> None:
    """Delete pods (or other objects) gracefully: `delete pod NAME` or `delete -f FILE`."""
    from podkeeper.api.paths import resource_for

    if grace_period is not None and grace_period < 0:
        grace_period = None  # kubectl: -1 means the object's own grace period
    targets: list[tuple[str, str, str]] = []
    if files:
        if resource:
            raise CliError("error: give either -f FILE or RESOURCE NAME, not both", 2)
        from podkeeper.cli._manifest import load_files

        for obj in load_files(files).objects:
            kind, ns, name = _meta(obj)
            targets.append((kind, ns, name))
    else:
        if not resource:
            raise CliError("error: delete needs RESOURCE NAME or -f FILE", 2)
        if "/" in resource:
            resource, first = resource.split("/", 1)
            names = (first, *names)
        if not names:
            raise CliError("error: resource(s) were provided, but no name was specified", 2)
        try:
            kind = resource_for(resource).kind
        except KeyError as exc:
            raise CliError(f"error: {exc.args[0]}", 2) from None
        targets = [(kind, namespace, name) for name in names]

    client = state_of(ctx).client()
    deleted: list[tuple[str, str, str]] = []
    uids: dict[tuple[str, str, str], str] = {}
    longest_grace = 0
    failed = False
    for kind, ns, name in targets:
        try:
            obj = client.delete_object(kind, ns, name, grace_period)
        except Exception as exc:
            if is_error(exc, "APIError") and api_status(exc) == 404:
                plural = _KIND_WORDS.get(kind, ("", kind.lower() + "s"))[1]
                warn(f'Error from server (NotFound): {plural} "{name}" not found')
                failed = True
                continue
            raise
        click.echo(f'{kind_word(kind)} "{name}" deleted')
        deleted.append((kind, ns, name))
        uid = get(obj, "metadata", "uid") if isinstance(obj, dict) else None
        if uid:
            uids[(kind, ns, name)] = str(uid)
        grace = grace_period
        if grace is None:
            own = (
                get(obj, "spec", "terminationGracePeriodSeconds") if isinstance(obj, dict) else None
            )
            grace = own if isinstance(own, int) else DEFAULT_GRACE
        longest_grace = max(longest_grace, grace)
    if wait and deleted:
        left = _wait_gone(client, deleted, longest_grace + 30, uids)
        if left:
            names_left = ", ".join(
                f"{_KIND_WORDS.get(k, ('', k.lower()))[1]}/{n}" for k, _, n in left
            )
            raise CliError(f"error: timed out waiting for the deletion of {names_left}")
    if failed:
        ctx.exit(EXIT_PROBLEM)


@click.command()
@click.option(
    "--timeout", default="120s", show_default=True, help="How long to wait for the drain."
)
@click.pass_context
def down(ctx: click.Context, timeout: str) -> None:
    """Drain every pod gracefully and stop the agent."""
    limit = parse_duration(timeout)
    state = state_of(ctx)
    client = state.raw_client()
    if agent_answers(client):
        agent = Agent(client)
    else:
        left = leftovers(state.home)
        if not left:
            click.echo(f"no agent running for home {state.home}")
            return
        # issue 13 item 7: an agent that died abruptly left containers and sandboxes;
        # a new agent takes them over (or cleans them up), then drains as usual.
        click.echo(f"no agent running; starting one to drain what the last one left ({left})")
        agent = start_agent(state)
    try:
        pods: int | None = len(agent.client.list("Pod", None))
    except Exception:
        pods = None  # the count is a courtesy
    # On stdout, so that every capture shows the lines in order (issue 13 item 16).
    click.echo("draining…" if pods is None else f"draining {pods} pod(s)…")
    stop_agent(state, agent, limit)
    click.echo("agent stopped")


def leftovers(home: Path) -> str:
    """What an agent that died abruptly left in `home`, in words; "" for nothing."""
    import json

    try:
        live = json.loads((home / "containers.json").read_text())
    except (OSError, ValueError):
        live = {}
    records = home / "sandboxes"
    sandboxes = (
        [p for p in records.iterdir() if p.is_file() and p.name != "owner.lock"]
        if records.is_dir()
        else []
    )
    parts = []
    if live:
        parts.append(f"{len(live)} container(s)")
    if sandboxes:
        parts.append(f"{len(sandboxes)} pod sandbox(es)")
    return ", ".join(parts)


def version_line() -> str:
    """`podkeeper 0.1.0 (kubelet semantics of Kubernetes v1.33)`."""
    from podkeeper import KUBE_MINOR, __version__

    return f"podkeeper {__version__} (kubelet semantics of Kubernetes v{KUBE_MINOR})"


def agent_version_line(info: Any) -> str:
    """One line about the running agent's version object."""
    if not isinstance(info, dict):
        return f"agent: {info}"
    version = info.get("podkeeper") or info.get("version") or info.get("gitVersion") or "?"
    extras = []
    for key in ("kubernetes", "kubeVersion", "runtime", "pid"):
        if info.get(key) is not None:
            extras.append(f"{key} {info[key]}")
        others = [r for r in info.get("runtimes") or [] if r != info.get("runtime")]
        if key == "runtime" and others:  # opened beside the default for a RuntimeClass
            extras.append(f"also {', '.join(map(str, others))}")
    return f"agent: podkeeper {version}" + (f" ({', '.join(extras)})" if extras else "")


@click.command()
@click.pass_context
def version(ctx: click.Context) -> None:
    """Print the versions of this CLI and of the running agent, if any."""
    click.echo(version_line())
    state = state_of(ctx)
    try:
        client = state.raw_client()
        if agent_answers(client):
            click.echo(agent_version_line(client.version()))
    except Exception:
        # The agent's version is a courtesy; the CLI's own answer stands without it.
        return


@click.command(hidden=True)
@click.pass_context
def agent(ctx: click.Context) -> None:
    """Run the node agent in the foreground (what `up` starts detached)."""
    import importlib

    home = state_of(ctx).home
    runtime_agent: Any = importlib.import_module("podkeeper.api.daemon")
    ctx.exit(int(runtime_agent.main(str(home)) or 0))

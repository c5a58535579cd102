"""The agent's Kubernetes-shaped REST API, served on a unix socket (interface.md, "The agent").

Paths and bodies are the Kubernetes API's (`/api/v1/namespaces/{ns}/pods`,
`/apis/apps/v1/...`, `Status` bodies on errors in kubectl's words) so that
the CLI, scripts and kubectl-minded users read familiar JSON. podkeeper's own
endpoints live under `/podkeeper/v1`. Every answer comes from the
`AgentBackend`; this module only translates HTTP to backend calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hmac
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TypeVar

from aiohttp import web

from podkeeper.api import execstream, kube, paths, pki, portforward, shared
from podkeeper.api.backend import AgentBackend, ApplyError, Obj
from podkeeper.api.feed import PodFeed
from podkeeper.api.kinds import BY_KIND
from podkeeper.api.paths import Resource
from podkeeper.api.registry import Registry
from podkeeper.api.status import StatusError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between checks of a followed log file for appended bytes.
LOG_POLL_INTERVAL = 0.05
#: Seconds between checks, in an idle stream, whether the client or the server went away.
STREAM_CHECK_INTERVAL = 0.5
#: Seconds that open streams get to end when the server stops.
SHUTDOWN_TIMEOUT = 2.0
_CHUNK = 64 * 1024

#: Where the TLS listener binds (loopback unless asked otherwise) and on which port
#: (default: the previous kubeconfig's port when free, else any free port).
ADDRESS_ENV = "PODKEEPER_API_ADDRESS"
PORT_ENV = "PODKEEPER_API_PORT"

BACKEND: web.AppKey[AgentBackend] = web.AppKey("backend")
#: The bearer token of the TLS listener (a one-item list: the app is frozen once serving).
TOKEN: web.AppKey[list[str]] = web.AppKey("token")
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("stopping")
TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("tasks")


def _bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def _resource_name(res: Resource) -> str:
    # kubectl's words: `pods "x" not found`, `deployments.apps "x" not found`.
    group = res.group_version.rpartition("/")[0]
    return f"{res.plural}.{group}" if group else res.plural


def _not_found(res: Resource, name: str) -> StatusError:
    return StatusError(
        404,
        "NotFound",
        f'{_resource_name(res)} "{name}" not found',
        {"name": name, "kind": res.plural, **_group(res)},
    )


def _group(res: Resource) -> dict[str, str]:
    group = res.group_version.rpartition("/")[0]
    return {"group": group} if group else {}


async def _shielded(call: Awaitable[T]) -> T:
    """Finish a state change even when its client hangs up mid-call.

    Handlers are cancelled on disconnect (so streams end); an apply or delete
    cut in half would leave the agent between two states."""
    return await asyncio.shield(call)


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _bad_request(f"{name}: invalid value {value!r}: must be an integer") from None


def _bool_param(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() in ("true", "1")


def _apply_failure(exc: ApplyError) -> StatusError:
    causes = []
    for message in exc.messages:
        cause: Obj = {"reason": "FieldValueInvalid", "message": message}
        # Kubernetes causes name the field: `spec.x: Invalid value: ...` → field `spec.x`.
        head, sep, _ = message.partition(": ")
        if sep and head and " " not in head:
            cause["field"] = head
        causes.append(cause)
    return StatusError(422, "Invalid", str(exc), {"causes": causes})


def _authenticated(request: web.Request) -> bool:
    """Requests on the unix socket are the home owner's (mode 0600); TLS ones must prove it.

    A client certificate signed by the home's CA (verified in the handshake) or the
    bearer token from `pki/token`, as the API server's x509 and token authenticators."""
    transport = request.transport
    if transport is None or transport.get_extra_info("ssl_object") is None:
        return True
    if transport.get_extra_info("peercert"):
        return True
    tokens = request.app[TOKEN]
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return (
        bool(tokens)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), tokens[0].encode())
    )


@web.middleware
async def _status_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every error into a `Status` body, as the API server answers."""
    if not _authenticated(request):
        return StatusError(401, "Unauthorized", "Unauthorized").response()
    try:
        return await handler(request)
    except StatusError as exc:
        return exc.response()
    except ApplyError as exc:
        return _apply_failure(exc).response()
    except web.HTTPRequestEntityTooLarge as exc:
        size = exc.actual_size if hasattr(exc, "actual_size") else None
        return shared.too_large(size).response()
    except web.HTTPNotFound:
        return StatusError(
            404, "NotFound", "the server could not find the requested resource"
        ).response()
    except web.HTTPMethodNotAllowed as exc:
        return StatusError(
            405, "MethodNotAllowed", f"the server does not allow this method: {exc.method}"
        ).response()
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return StatusError(500, "InternalError", f"internal error: {exc}").response()


# -- streams --------------------------------------------------------------


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait_stopping(request: web.Request, timeout: float) -> bool:
    """Sleep up to `timeout` seconds; True when the server is stopping."""
    stopping = request.app[STOPPING]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout)
    return stopping.is_set()


async def _stream_response(request: web.Request, content_type: str) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


# -- pod logs -------------------------------------------------------------


def _tail_offset(f: IO[bytes], lines: int) -> int:
    """The byte offset where the last `lines` lines of `f` start (a final partial line counts)."""
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    pos, newlines = end, 0
    # A trailing newline ends the last line; it does not start another.
    f.seek(end - 1 if end else 0)
    if end and f.read(1) == b"\n":
        pos -= 1
    while pos > 0:
        step = min(_CHUNK, pos)
        f.seek(pos - step)
        block = f.read(step)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            newlines += 1
            if newlines == lines:
                return pos - step + idx + 1
        pos -= step
    return 0


def _pick_container(pod: Obj, name: str, container: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [str(c.get("name", "")) for c in spec.get("containers") or []]
    init_names = [str(c.get("name", "")) for c in spec.get("initContainers") or []]
    if container is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise _bad_request(f"pod {name} has no containers")
        # kubelet `pkg/registry/core/pod/strategy.go` LogLocation wording.
        raise _bad_request(
            f"a container name must be specified for pod {name}, "
            f"choose one of: [{' '.join(names)}]"
            + (f" or one of the init containers: [{' '.join(init_names)}]" if init_names else "")
        )
    if container not in names and container not in init_names:
        raise _bad_request(f"container {container} is not valid for pod {name}")
    return container


def _waiting_reason(pod: Obj, container: str) -> str:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                return str(waiting["reason"])
    return "ContainerCreating"


async def _pod_log(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    ns, name = request.match_info["ns"], request.match_info["name"]
    pod = backend.get_object("Pod", ns, name)
    if pod is None:
        raise _not_found(paths.POD, name)
    container = _pick_container(pod, name, request.query.get("container") or None)
    previous = _bool_param(request, "previous")
    follow = _bool_param(request, "follow") and not previous
    tail = _int_param(request, "tailLines")
    path = backend.log_path(ns, name, container, previous)
    if path is None:
        if previous:
            raise _bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        raise _bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: '
            f"{_waiting_reason(pod, container)}"
        )
    timestamps = _bool_param(request, "timestamps")
    limit = _int_param(request, "limitBytes")
    since = _int_param(request, "sinceSeconds")
    if since is not None and since <= 0:
        raise _bad_request("sinceSeconds: Invalid value: must be greater than 0")
    if limit is not None and limit <= 0:
        raise _bad_request("limitBytes: Invalid value: must be greater than 0")
    resp = await _stream_response(request, "text/plain; charset=utf-8")
    sent = 0
    stamper = _Stamper(path) if timestamps else None
    f: IO[bytes] | None = None
    try:
        if since is not None:
            with contextlib.suppress(OSError):
                # Lines carry no time of their own (runtime/logs.py): a file last written
                # before the window has nothing in it.
                if os.stat(path).st_mtime < time.time() - since:
                    f = open(path, "rb")  # noqa: SIM115 - held across awaits, closed below
                    f.seek(0, os.SEEK_END)
        while True:
            if f is None:
                with contextlib.suppress(FileNotFoundError):
                    f = open(path, "rb")  # noqa: SIM115 - held across awaits, closed below
                    f.seek(_tail_offset(f, tail) if tail is not None else 0)
            chunk = f.read(_CHUNK) if f is not None else b""
            if chunk:
                if stamper is not None:
                    chunk = stamper.stamp(chunk)
                if limit is not None:
                    chunk = chunk[: limit - sent]
                await resp.write(chunk)
                sent += len(chunk)
                if limit is not None and sent >= limit:
                    break
                continue
            if stamper is not None:
                stamper.caught_up()
            if not follow or _client_gone(request):
                break
            # kubelet `pkg/kubelet/kuberuntime/logs` ReadLogs: a followed log ends once
            # its container is no longer running (after draining what is left): when
            # it exited, the pod is gone, or a newer instance writes elsewhere. kubectl's
            # `logs -f` on an exited container returns (issue 13 item 16).
            current_pod = backend.get_object("Pod", ns, name)
            if current_pod is None or (current_pod.get("metadata") or {}).get("uid") != (
                pod.get("metadata") or {}
            ).get("uid"):
                follow = False
                continue
            if backend.log_path(ns, name, container, False) != path:
                follow = False
                continue
            if not _container_running(current_pod, container):
                follow = False
                continue
            if await _wait_stopping(request, LOG_POLL_INTERVAL):
                follow = False
    finally:
        if f is not None:
            f.close()
    await resp.write_eof()
    return resp


def _container_running(pod: Obj, container: str) -> bool:
    """True unless the container's status says it is not running (waiting or terminated)."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            return "running" in (cs.get("state") or {})
    return True


class _Stamper:
    """`timestamps=true`: each line prefixed with an RFC 3339 time, as the kubelet's CRI log.

    podkeeper's log files keep no per-line times (runtime/logs.py), so lines that
    were in the file when the request came get the file's last write time (an upper
    bound), and lines that arrive while following get the time they were read."""

    def __init__(self, path: str) -> None:
        try:
            self._time: float | None = os.stat(path).st_mtime
        except OSError:
            self._time = None
        self._at_line_start = True

    def caught_up(self) -> None:
        self._time = None

    def stamp(self, chunk: bytes) -> bytes:
        when = self._time if self._time is not None else time.time()
        prefix = (
            datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            + " "
        ).encode()
        out = bytearray()
        for line in chunk.splitlines(keepends=True):
            if self._at_line_start:
                out += prefix
            out += line
            self._at_line_start = line.endswith(b"\n")
        return bytes(out)


# -- port-forward -----------------------------------------------------------


async def _port_forward(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    ns, name = request.match_info["ns"], request.match_info["name"]
    pod = backend.get_object("Pod", ns, name)
    if pod is None:
        raise _not_found(paths.POD, name)
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        # apiserver/kubelet wording for a pod that cannot take a stream.
        raise _bad_request(
            f"unable to upgrade connection: pod {name} is not running (phase {status.get('phase')})"
        )
    ws = web.WebSocketResponse(protocols=[portforward.SUBPROTOCOL], max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise _bad_request(
            "port-forward is served over WebSocket (subprotocol "
            f"{portforward.SUBPROTOCOL}); SPDY upgrades are not supported"
        )
    await ws.prepare(request)
    await portforward.SpdyServer(ws, str(status.get("podIP") or "127.0.0.1")).run()
    return ws


# -- exec -------------------------------------------------------------------


async def _exec(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    ns, name = request.match_info["ns"], request.match_info["name"]
    pod = backend.get_object("Pod", ns, name)
    if pod is None:
        raise _not_found(paths.POD, name)
    container = _pick_container(pod, name, request.query.get("container") or None)
    command = request.query.getall("command", [])
    if not command:
        raise _bad_request("you must specify at least one command for the container")
    if _bool_param(request, "tty"):
        raise _bad_request("a TTY is not supported by this agent: run without -t")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    current: Obj = next((c for c in statuses if c.get("name") == container), {})
    if "running" not in (current.get("state") or {}):
        # kubelet wording (`pkg/kubelet/kubelet_pods.go` GetExec).
        raise _bad_request(f'unable to upgrade connection: container not found ("{container}")')
    if backend.runtime_name(ns, name) != "process":
        return await _exec_through_cri(request, ns, name, container, command)
    instance = str(current.get("containerID") or "").rpartition("://")[2]
    home = request.app[kube.REGISTRY].home
    try:
        if home is None:
            raise execstream.ExecError("the agent has no home")
        pid, cgroup = await execstream.settled_process(home, instance)
        argv, env, cwd = execstream.command_line(pid, command)
    except execstream.ExecError as exc:
        raise _bad_request(f"unable to exec in container {container}: {exc}") from None
    ws = web.WebSocketResponse(protocols=execstream.PROTOCOLS, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise _bad_request(
            "exec is served over WebSocket (v5.channel.k8s.io); SPDY upgrades are not supported"
        )
    await ws.prepare(request)
    await execstream.run(ws, argv, env, cwd, command, cgroup, stdin=_bool_param(request, "stdin"))
    return ws


async def _exec_through_cri(
    request: web.Request, ns: str, name: str, container: str, command: list[str]
) -> web.StreamResponse:
    """An image runtime's container: without stdin the command runs through CRI ExecSync
    (the kubelet's `RunInContainer`), its output sent when it ends; with stdin (-i) it is
    streamed through containerd's own exec (CriRuntime `exec_stream_argv` says why)."""
    backend = request.app[BACKEND]
    stream_argv: list[str] | None = None
    if _bool_param(request, "stdin"):
        try:
            stream_argv = backend.exec_stream_argv(ns, name, container, command)
        except LookupError as exc:
            raise _bad_request(f"unable to upgrade connection: {exc}") from None
        except RuntimeError as exc:
            raise _bad_request(f"unable to exec in container {container}: {exc}") from None
    ws = web.WebSocketResponse(protocols=execstream.PROTOCOLS, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise _bad_request(
            "exec is served over WebSocket (v5.channel.k8s.io); SPDY upgrades are not supported"
        )
    await ws.prepare(request)
    if stream_argv is not None:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        await execstream.run(ws, stream_argv, env, "/", command, None, stdin=True)
        return ws
    try:
        code, out, err = await backend.exec_captured(ns, name, container, command)
    except (LookupError, RuntimeError) as exc:
        await execstream.send_result(ws, command, None, b"", b"", f"exec failed: {exc}")
    else:
        await execstream.send_result(ws, command, code, out, err)
    return ws


# -- podkeeper's own endpoints -------------------------------------------


async def _apply(request: web.Request) -> web.Response:
    # The same checks as the Kubernetes endpoints (issue 13 item 15): 415 for text/plain,
    # 413 saying the limit, deep nesting refused before anything is stored, and each
    # object's metadata/spec must be objects (422, not a 500 from deep inside).
    body = await kube.read_body(request)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _bad_request('the request body must be {"items": [objects...]}')
    for item in items:
        kind = BY_KIND.get(str(item.get("kind")))
        if kind is not None:
            shared.check_shape(item, kind)
    stored = await _shielded(request.app[BACKEND].apply(items))
    # Versioned like every other answer, so a client can tell "unchanged" from "configured".
    registry = request.app[kube.REGISTRY]
    versioned = [
        registry.observe(BY_KIND[o["kind"]], o) if o.get("kind") in BY_KIND else o for o in stored
    ]
    return web.json_response(
        {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": versioned}
    )


async def _terminations(request: web.Request) -> web.Response:
    ns, pod = request.match_info["ns"], request.match_info["pod"]
    items = request.app[BACKEND].terminations(ns, pod, request.query.get("container") or None)
    return web.json_response(
        {"apiVersion": "podkeeper/v1", "kind": "TerminationList", "metadata": {}, "items": items}
    )


async def _shutdown(request: web.Request) -> web.StreamResponse:
    resp = web.json_response(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "message": "the agent is shutting down",
        },
        status=202,
    )
    # Answer first: shutdown() drains pods and stops this very server.
    await resp.prepare(request)
    await resp.write_eof()
    task = asyncio.create_task(request.app[BACKEND].shutdown())
    tasks = request.app[TASKS]
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return resp


async def _image_runtime(request: web.Request) -> web.Response:
    try:
        info = await request.app[BACKEND].open_image_runtime()
    except RuntimeError as err:
        raise StatusError(503, "ServiceUnavailable", f"no image runtime: {err}") from None
    return web.json_response(info)


async def _version(request: web.Request) -> web.Response:
    # kubectl parses `version.Info` (major, minor, gitVersion...); podkeeper's CLI reads its
    # own keys from the same object.
    info = request.app[kube.REGISTRY].cluster.version_info()
    info.update(request.app[BACKEND].version())
    return web.json_response(info)


async def _probe_metrics(request: web.Request) -> web.Response:
    # The kubelet serves probe metrics on their own path (server.go proberMetricsPath).
    backend = request.app[BACKEND]
    text = getattr(backend, "metrics_text", lambda: b"")()
    return web.Response(body=text, content_type="text/plain", charset="utf-8")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _on_shutdown(app: web.Application) -> None:
    # Open log follows and watches end within one poll instead of holding the stop.
    app[STOPPING].set()
    await app[kube.REGISTRY].close()


def build_app(backend: AgentBackend, home: Path | None = None) -> web.Application:
    """The API application over `backend` (not yet bound to a socket)."""
    app = web.Application(middlewares=[_status_middleware], client_max_size=shared.MAX_BODY_BYTES)
    app[BACKEND] = backend
    registry = Registry(backend, home)
    app[kube.REGISTRY] = registry
    app[TOKEN] = []
    app[STOPPING] = asyncio.Event()
    app[TASKS] = set()
    app[kube.STOP] = app[STOPPING]
    routes: list[web.RouteDef] = [
        web.get("/api/v1/namespaces/{ns}/pods/{name}/log", _pod_log),
        web.get("/api/v1/namespaces/{ns}/pods/{name}/portforward", _port_forward),
        web.get("/api/v1/namespaces/{ns}/pods/{name}/exec", _exec),
        web.post("/api/v1/namespaces/{ns}/pods/{name}/exec", _exec),
        *kube.routes(),
        web.post(paths.APPLY_PATH, _apply),
        web.get("/podkeeper/v1/terminations/{ns}/{pod}", _terminations),
        web.post(paths.SHUTDOWN_PATH, _shutdown),
        web.post(paths.IMAGE_RUNTIME_PATH, _image_runtime),
        web.get(paths.VERSION_PATH, _version),
        web.get(paths.HEALTHZ_PATH, _healthz),
        web.get("/metrics/probes", _probe_metrics),
    ]
    app.add_routes(routes)
    app.on_shutdown.append(_on_shutdown)
    return app


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket left by a dead agent; refuse to replace a live one."""
    if not (path.exists() or path.is_symlink()):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        pass
    except OSError:
        pass
    else:
        raise RuntimeError(f"another podkeeper agent is already serving on {path}")
    finally:
        probe.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _tls_socket(home: Path) -> socket.socket:
    address = os.environ.get(ADDRESS_ENV) or "127.0.0.1"
    wanted = os.environ.get(PORT_ENV)
    ports = [int(wanted)] if wanted else [p for p in (pki.previous_port(home), 0) if p is not None]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for i, port in enumerate(ports):
        try:
            return socket.create_server((address, port), family=family, backlog=128)
        except OSError:
            if i == len(ports) - 1:
                raise
    raise AssertionError("unreachable")


async def _start_tls(runner: web.AppRunner, home: Path) -> int:
    """The HTTPS listener for kubectl and client libraries; writes `home/kubeconfig`."""
    sock = _tls_socket(home)
    address, port = sock.getsockname()[:2]
    hosts = [] if address in ("0.0.0.0", "::") else [address]
    creds = await asyncio.to_thread(pki.ensure, home, hosts)
    runner.app[TOKEN][:] = [creds.read_token()]
    try:
        await web.SockSite(runner, sock, ssl_context=creds.server_context()).start()
    except BaseException:
        sock.close()
        raise
    host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
    url_host = f"[{host}]" if ":" in host else host
    pki.write_kubeconfig(home, pki.kubeconfig(creds, f"https://{url_host}:{port}"))
    log.info(
        "Kubernetes API on https://%s:%d (kubeconfig: %s)", url_host, port, home / "kubeconfig"
    )
    return int(port)


async def serve(
    backend: AgentBackend,
    socket_path: str | Path,
    *,
    tls: bool = True,
    feed: PodFeed | None = None,
) -> web.AppRunner:
    """Serve the API on the unix socket `socket_path` (mode 0600); stop with `runner.cleanup()`.

    A stale socket file is removed first; a live agent on it raises RuntimeError.
    The socket file is removed again on cleanup (unless another agent replaced it).
    With `tls`, the same API is also served over HTTPS on loopback for kubectl
    (`PODKEEPER_API_ADDRESS`, `PODKEEPER_API_PORT`; PORT `off` disables it), with
    credentials and a kubeconfig next to the socket (`api/pki.py`)."""
    path = Path(socket_path)
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        # The home folder is 0700 already; the socket gets the same privacy on its own.
        os.chmod(path, 0o600)
        inode = os.stat(path).st_ino
    except BaseException:
        sock.close()
        raise

    async def unlink_socket(_: web.Application) -> None:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == inode:
                path.unlink()

    app = build_app(backend, path.parent)
    if feed is not None:
        feed.connect(app[kube.REGISTRY])
    app.on_cleanup.append(unlink_socket)
    runner = web.AppRunner(
        app, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None
    )
    try:
        await runner.setup()
        # HTTPS first: once the unix socket answers, `up` applies at once, and the agent
        # must not be inside an await of this function then (its controllers start after).
        if tls and os.environ.get(PORT_ENV) != "off":
            await _start_tls(runner, path.parent)
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        sock.close()
        raise
    return runner

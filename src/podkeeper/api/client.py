"""The CLI's synchronous client of the agent's REST API over its unix socket.

Standard library only (`http.client` on an AF_UNIX socket) so that a CLI
command starts without importing aiohttp. One connection per request: the
CLI makes a handful, and a fresh connection never sees a stale keep-alive.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from podkeeper.api import paths

Obj = dict[str, Any]
Params = dict[str, str | int | bool | None]
# Module-level, because `Client.list` (kubectl's verb) shadows `list` in the class body.
ObjList = list[Obj]

#: Seconds a non-streaming request may take before the client gives up.
DEFAULT_TIMEOUT = 30.0


class ClientError(Exception):
    """Talking to the agent failed."""


class AgentNotRunning(ClientError):
    """No agent listens on the socket (absent, or nobody accepts on it)."""

    def __init__(self, socket_path: str | Path) -> None:
        self.socket_path = Path(socket_path)
        self.home = self.socket_path.parent
        super().__init__(
            f"no podkeeper agent is running for home {self.home}; "
            "start one with `podkeeper up -f FILE`"
        )


class APIError(ClientError):
    """The agent answered with a non-2xx status; `message` is the Status body's message."""

    def __init__(self, status: int, message: str, body: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body

    @property
    def reason(self) -> str:
        """The Kubernetes Status reason (`NotFound`, `Invalid`, ...), or ''."""
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""

    @property
    def causes(self) -> list[Obj]:
        """`details.causes` of an Invalid Status (each with `message`, maybe `field`)."""
        if not isinstance(self.body, dict):
            return []
        causes = (self.body.get("details") or {}).get("causes") or []
        return [c for c in causes if isinstance(c, dict)]


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection to a unix socket; `timeout` in seconds, None blocks forever."""

    def __init__(self, socket_path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _query(params: Params | None) -> str:
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else ""


class Client:
    """A client of the agent listening on `socket_path`."""

    def __init__(self, socket_path: str | Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout

    # -- transport -------------------------------------------------------

    def _open(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        timeout: float | None,
    ) -> tuple[UnixHTTPConnection, http.client.HTTPResponse]:
        """Send a request; returns the open connection and a 2xx response (else raises)."""
        conn = UnixHTTPConnection(self.socket_path, timeout)
        headers = {"Accept": "application/json"}
        payload: bytes | None = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            try:
                conn.connect()
            except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
                raise AgentNotRunning(self.socket_path) from None
            conn.request(method, path + _query(params), body=payload, headers=headers)
            resp = conn.getresponse()
        except ClientError:
            conn.close()
            raise
        except TimeoutError:
            conn.close()
            raise ClientError(
                f"the podkeeper agent at {self.socket_path} did not answer within {timeout} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ClientError(
                f"lost the connection to the podkeeper agent at {self.socket_path}: {exc}"
            ) from None
        if not 200 <= resp.status < 300:
            try:
                raw = resp.read()
            finally:
                conn.close()
            raise _api_error(resp.status, raw)
        return conn, resp

    def _call(self, method: str, path: str, params: Params | None, body: Any) -> bytes:
        conn, resp = self._open(method, path, params, body, self.timeout)
        try:
            return resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ClientError(
                f"lost the connection to the podkeeper agent at {self.socket_path}: {exc}"
            ) from None
        finally:
            conn.close()

    def get(self, path: str, params: Params | None = None) -> Obj:
        """GET a JSON object."""
        return _json(self._call("GET", path, params, None))

    def get_bytes(self, path: str, params: Params | None = None) -> bytes:
        """GET a body as bytes (logs without follow)."""
        return self._call("GET", path, params, None)

    def post(self, path: str, body: Any) -> Obj:
        """POST a JSON body; returns the JSON answer."""
        return _json(self._call("POST", path, None, body))

    def delete_path(self, path: str, params: Params | None = None, body: Any = None) -> Obj:
        """DELETE `path`; returns the JSON answer."""
        return _json(self._call("DELETE", path, params, body))

    def stream(self, path: str, params: Params | None = None) -> Iterator[bytes]:
        """GET a streamed body, one line (with its `\\n`) at a time; no read timeout.

        The request is made (and errors raised) at the call, not at the first
        `next()`. Closing the iterator closes the connection."""
        conn, resp = self._open("GET", path, params, None, None)
        return self._lines(conn, resp)

    def _lines(
        self, conn: UnixHTTPConnection, resp: http.client.HTTPResponse
    ) -> Generator[bytes, None, None]:
        try:
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException) as exc:
                    raise ClientError(
                        f"lost the connection to the podkeeper agent at {self.socket_path}: {exc}"
                    ) from None
                if not line:
                    return
                yield line
        finally:
            conn.close()

    def ping(self) -> bool:
        """True when an agent answers `/healthz` with `ok`."""
        try:
            return self.get_bytes(paths.HEALTHZ_PATH).strip() == b"ok"
        except ClientError:
            return False

    # -- conveniences ----------------------------------------------------

    def apply(self, items: ObjList) -> ObjList:
        """Create or update a mixed-kind list; returns the stored objects.

        Raises APIError 422 (reason Invalid, `causes`) when anything is rejected."""
        return _items(self.post(paths.APPLY_PATH, {"items": items}))

    def list_objects(self, kind: str, namespace: str | None) -> ObjList:
        """Objects of `kind` (kind, plural or short name) in `namespace` (None: all)."""
        return _items(self.get(paths.resource_for(kind).collection_path(namespace)))

    list = list_objects

    def get_object(self, kind: str, namespace: str, name: str) -> Obj:
        """One object; raises APIError 404 (`pods "x" not found`) when absent."""
        return self.get(paths.resource_for(kind).item_path(namespace, name))

    def delete(self, kind: str, namespace: str, name: str, grace: int | None = None) -> Obj:
        """Start graceful deletion, `grace` seconds (None: the object's own); returns the object.

        Raises APIError 404 when there is no such object."""
        return self.delete_path(
            paths.resource_for(kind).item_path(namespace, name), {"gracePeriodSeconds": grace}
        )

    delete_object = delete

    def events(self, namespace: str | None, name: str | None = None) -> ObjList:
        """Events oldest first, of one involved object when `name` is given."""
        return _items(self.get(*_events_request(namespace, name)))

    def watch_events(self, namespace: str | None, name: str | None = None) -> Iterator[Obj]:
        """`{"type": "ADDED"|"MODIFIED", "object": event}` as they happen (current ones first)."""
        path, params = _events_request(namespace, name)
        lines = self._lines(*self._open("GET", path, {**params, "watch": True}, None, None))

        def decode() -> Iterator[Obj]:
            with contextlib.closing(lines):
                for line in lines:
                    if line.strip():
                        yield _json(line)

        return decode()

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        previous: bool = False,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> Iterator[bytes]:
        """The container's log, line by line; with `follow`, until the container or pod ends."""
        params: Params = {
            "container": container,
            "previous": previous or None,
            "follow": follow or None,
            "tailLines": tail_lines,
        }
        return self.stream(paths.pod_log_path(namespace, pod), params)

    def terminations(self, namespace: str, pod: str, container: str | None = None) -> ObjList:
        """Recorded terminations of the pod's containers, oldest first."""
        return _items(self.get(paths.terminations_path(namespace, pod), {"container": container}))

    def shutdown(self) -> Obj:
        """Ask the agent to drain and stop; returns at once (the Status it answered)."""
        return self.post(paths.SHUTDOWN_PATH, None)

    def open_image_runtime(self) -> Obj:
        """Have the agent open its image runtime: {"runtime", "criEndpoint"}."""
        return self.post(paths.IMAGE_RUNTIME_PATH, None)

    def version(self) -> Obj:
        """The agent's version object."""
        return self.get(paths.VERSION_PATH)


def _events_request(namespace: str | None, name: str | None) -> tuple[str, Params]:
    params: Params = {}
    if name is not None:
        params["fieldSelector"] = f"involvedObject.name={name}"
    return paths.EVENT.collection_path(namespace), params


def _json(raw: bytes) -> Obj:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ClientError(f"the agent answered with invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ClientError("the agent answered with JSON that is not an object")
    return value


def _items(body: Obj) -> ObjList:
    items = body.get("items") or []
    return [i for i in items if isinstance(i, dict)]


def _api_error(status: int, raw: bytes) -> APIError:
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
    else:
        message = (str(body).strip() if body else "") or f"HTTP {status}"
    return APIError(status, message, body)

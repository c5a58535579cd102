"""A small Kubernetes API server over recorded objects, for the official client (issue 15).

Serves GET for single objects, lists (with `fieldSelector` terms `a.b=c`),
and pod logs (`previous`, `tailLines`) from an in-memory table; 404 with a
`v1 Status` for anything else (so metrics.k8s.io is "not served"). Requires the
bearer token of the kubeconfig it writes, so the client's auth is exercised.
Every request path is recorded, so tests can assert triage makes list calls only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]
TOKEN = "recorded-token"

# kind -> (API prefix, plural, namespaced)
KINDS = {
    "Pod": ("/api/v1", "pods", True),
    "Event": ("/api/v1", "events", True),
    "Node": ("/api/v1", "nodes", False),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "Job": ("/apis/batch/v1", "jobs", True),
}


def _field(obj: Any, dotted: str) -> str:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return "" if obj is None else str(obj)


@dataclass
class Recorded:
    """The served objects, their logs ((ns, pod, container, previous) -> text) and the log of
    request paths."""

    objects: list[Obj] = field(default_factory=list)
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if path.endswith("/log") and len(parts) == 7:
            ns, pod = parts[3], parts[5]
            container = query.get("container", [""])[0]
            previous = query.get("previous", ["false"])[0] == "true"
            text = self.logs.get((ns, pod, container, previous))
            if text is None:
                return 400, _status(
                    400, f'previous terminated container "{container}" in pod "{pod}" not found'
                )
            tail = int(query.get("tailLines", ["0"])[0] or 0)
            lines = text.splitlines(keepends=True)
            return 200, "".join(lines[-tail:] if tail else lines)
        for kind, (prefix, plural, namespaced) in KINDS.items():
            if not path.startswith(prefix + "/"):
                continue
            rest = [p for p in path[len(prefix) :].split("/") if p]
            ns: str | None = None
            if namespaced and len(rest) >= 2 and rest[0] == "namespaces":
                ns, rest = rest[1], rest[2:]
            if not rest or rest[0] != plural:
                continue
            items = [
                o
                for o in self.objects
                if o["kind"] == kind and (ns is None or o["metadata"].get("namespace") == ns)
            ]
            if len(rest) == 2:
                found = next((o for o in items if o["metadata"]["name"] == rest[1]), None)
                if found is None:
                    return 404, _status(404, f'{plural} "{rest[1]}" not found')
                return 200, found
            for term in filter(None, query.get("fieldSelector", [""])[0].split(",")):
                key, _, value = term.partition("=")
                items = [o for o in items if _field(o, key) == value]
            listed = [
                {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items
            ]
            return 200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {}, "items": listed}
        return 404, _status(404, "the server could not find the requested resource")


def _status(code: int, message: str) -> Obj:
    reason = {404: "NotFound", 400: "BadRequest", 401: "Unauthorized"}.get(code, "Unknown")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler(rec: Recorded) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            rec.requests.append(url.path + (f"?{url.query}" if url.query else ""))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                code, body = 401, _status(401, "Unauthorized")
            else:
                code, body = rec.answer(url.path, parse_qs(url.query))
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            ctype = "text/plain" if isinstance(body, str) else "application/json"
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(rec: Recorded, tmp: Path, namespace: str = "default") -> Iterator[Path]:
    """Serve `rec` on loopback; yields the path of a kubeconfig (context `recorded`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    config = tmp / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "rec", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [
                    {
                        "name": "recorded",
                        "context": {"cluster": "rec", "user": "u", "namespace": namespace},
                    }
                ],
                "current-context": "recorded",
            }
        )
    )
    try:
        yield config
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

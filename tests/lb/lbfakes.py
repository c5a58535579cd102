"""Fakes for the load-balancer tests: pod snapshots, a PodHost, loopback HTTP backends."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from pathlib import Path
from typing import Any

from podkeeper.controllers.fake import FakeObjectStore

Obj = dict[str, Any]


def pod(
    name: str,
    ip: str = "127.0.0.1",
    port: int = 8080,
    *,
    ready: bool = True,
    deleting: bool = False,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    port_name: str = "http",
    namespace: str = "default",
) -> Obj:
    """A pod snapshot as the agent publishes it (only the fields endpoints read)."""
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "labels": {"app": "web"} if labels is None else labels,
    }
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
                }
            ]
        },
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def service(
    name: str = "web",
    port: int = 0,
    target: int | str = "http",
    selector: dict[str, str] | None = None,
    **port_extra: Any,
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web"} if selector is None else selector,
            "ports": [{"port": port, "targetPort": target, "protocol": "TCP", **port_extra}],
        },
    }


class FakeHost:
    """A `PodHost` whose pods are a dict of snapshots."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.node_name = "node"
        self.store = FakeObjectStore()
        self.pods: dict[str, Obj] = {}
        self.closers: list[Any] = []  # servers the test started, closed by the fixture

    def create_pod(self, obj: Obj) -> Obj:
        raise NotImplementedError

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> Obj | None:
        raise NotImplementedError

    def pod_snapshots(self, namespace: str | None) -> list[Obj]:
        return list(self.pods.values())

    def record_object_event(
        self, obj: Obj, type_: str, reason: str, message: str, component: str
    ) -> None:
        pass

    def now(self) -> float:
        return asyncio.get_running_loop().time()


class Backend(asyncio.Protocol):
    """A keep-alive HTTP/1.1 responder that counts requests; `delay` holds each response."""

    def __init__(self, server: BackendServer) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.transports.add(transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.server.hits += 1
            body = self.server.name.encode()
            resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            if self.server.delay:
                asyncio.get_running_loop().call_later(self.server.delay, self._send, resp)
            else:
                self._send(resp)

    def _send(self, resp: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(resp)


class BackendServer:
    def __init__(self, name: str, delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.hits = 0
        self.transports: set[asyncio.Transport] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1") -> BackendServer:
        self.server = await asyncio.get_running_loop().create_server(lambda: Backend(self), host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in self.transports:
            t.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def get(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> str:
    """One GET on a new connection; returns the body (the backend's name)."""

    async def run() -> str:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            return (await reader.readexactly(length)).decode()
        finally:
            writer.close()

    return await asyncio.wait_for(run(), timeout)


async def spread(port: int, n: int) -> Counter[str]:
    """`n` sequential GETs, each on a new connection: responses per backend name."""
    out: Counter[str] = Counter()
    for _ in range(n):
        out[await get(port)] += 1
    return out

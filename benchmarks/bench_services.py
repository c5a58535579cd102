"""Services through a real agent (issue 4 load test, issue 6 item 6), both data paths.

`podkeeper up -d` starts a real agent (as root: pod sandboxes with their own IPs) with
`PODKEEPER_PROXY_MODE=userspace|nftables` in its environment, running a 3-replica
Deployment of `POD_APP` behind a Service on 127.0.0.1; everything after is driven by the
real CLI (`apply`, `rollout status`, `delete pod`, `get`).

Throughput: one blocking client, one request at a time, directly to one pod IP and through
the Service, with a new connection per request and on one keep-alive connection; latency
percentiles, and their difference (added by the Service).

Zero downtime: 8 clients at a steady total rate (4 with a new connection per request, 4
keep-alive) during (a) a rolling update of the Deployment (apply a changed template, until
`rollout status` succeeds and the old pods are gone), (b) `delete pod` of one pod (until a
replacement is Ready and in the endpoints), (c) one pod unready for 5 s (quick: 2.5 s;
its app creates the file its exec readiness probe checks). Every request's outcome is
recorded. A keep-alive client retries once when a reused connection is closed before any
response byte (RFC 9112 §9.3.1; Go's Transport and urllib3 do the same); that retry is
counted apart
(`retried_idle`), not as a failure. Bounded: at most 30 s and rate x 30 s requests per case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import BenchContext, Measurement, benchmark

MAX_REQUESTS = 200_000
# The pod of the e2e tests and the load test: answers every request with its pod name
# (hostname), keep-alive; GET /unready and /ready create and remove /tmp/unready, which
# an exec readiness probe checks; SIGTERM: a graceful shutdown.
POD_APP = r"""
import asyncio, os, signal, socket, sys, time
NAME = socket.gethostname().encode()
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
conns = set()
stopping = False
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
        conns.add(self)
    def connection_lost(self, exc):
        conns.discard(self)
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
            if path == b"/unready":
                open("/tmp/unready", "w").close()
            elif path == b"/ready" and os.path.exists("/tmp/unready"):
                os.remove("/tmp/unready")
            close = b"Connection: close\r\n" if stopping else b""
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(NAME), close)
            self.t.write(head + NAME)
            if stopping:
                self.t.close()
                return
async def main():
    global stopping
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "0.0.0.0", PORT, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # PID 1 ignores SIGTERM otherwise
    open("/tmp/listening", "w").close()  # the readiness probe checks it: Ready means serving
    await stop.wait()
    # Graceful shutdown as Go's http.Server.Shutdown: stop accepting, close idle
    # keep-alive connections, let a request in progress finish with Connection: close.
    stopping = True
    srv.close()
    for c in list(conns):
        if not c.buf:
            c.t.close()
    deadline = time.monotonic() + 5
    while conns and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
asyncio.run(main())
"""
BACKEND = r"""
import asyncio, sys
name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = name.encode()
resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.t.write(resp)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, host, port, backlog=4096)
    print("up", flush=True)
    await asyncio.Future()
asyncio.run(main())
"""


# The exec readiness probe of POD_APP: listening (the app has bound its port) and not
# flipped unready. Without the first half a new pod is Ready before it listens, and the
# Service sends it connections that are refused.
READINESS = ["test", "-e", "/tmp/listening", "-a", "!", "-e", "/tmp/unready"]

# ---------------------------------------------------------------------- client

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def _read_response(sock: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("closed before a response")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("closed mid-response")
        body += chunk
    return body


def rate_new_conn(ip: str, port: int, deadline: float) -> tuple[float, list[float]]:
    """(requests/s, latencies s) with a new connection per request."""
    lat: list[float] = []
    t0 = time.perf_counter()
    n = 0
    while n < MAX_REQUESTS and time.monotonic() < deadline:
        s0 = time.perf_counter()
        with socket.create_connection((ip, port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(REQUEST)
            _read_response(s)
        lat.append(time.perf_counter() - s0)
        n += 1
    return n / (time.perf_counter() - t0), lat


def rate_keepalive(ip: str, port: int, deadline: float) -> tuple[float, list[float]]:
    lat: list[float] = []
    n = 0
    with socket.create_connection((ip, port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        while n < MAX_REQUESTS and time.monotonic() < deadline:
            s0 = time.perf_counter()
            s.sendall(REQUEST)
            _read_response(s)
            lat.append(time.perf_counter() - s0)
            n += 1
        return n / (time.perf_counter() - t0), lat


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] * 1000


class Outcomes:
    def __init__(self) -> None:
        self.ok = 0
        self.failed: list[str] = []
        self.retried = 0
        self.by_backend: dict[str, list[float]] = {}
        self.by_backend_newconn: dict[str, list[float]] = {}


async def _client(
    port: int, keepalive: bool, interval: float, stop: list[float], out: Outcomes, max_n: int
) -> None:
    """Paced requests until `stop[0]` (may move while running); records every outcome."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    nxt = time.monotonic()
    for _ in range(max_n):
        if time.monotonic() >= stop[0]:
            break
        nxt += interval
        retried = False
        while True:
            reused = writer is not None
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                writer.write(REQUEST)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body = (await asyncio.wait_for(reader.readexactly(length), 5)).decode()
                out.ok += 1
                out.by_backend.setdefault(body, []).append(time.monotonic())
                if not keepalive:
                    out.by_backend_newconn.setdefault(body, []).append(time.monotonic())
                if not keepalive or b"Connection: close" in head:
                    writer.close()
                    writer = None
                break
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                if writer is not None:
                    writer.close()
                writer = None
                partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
                if keepalive and reused and not partial and not retried:
                    out.retried += 1  # idle connection closed under us: retry once
                    retried = True
                    continue
                out.failed.append(f"{type(exc).__name__}: {exc}")
                break
        await asyncio.sleep(max(nxt - time.monotonic(), 0))
    if writer is not None:
        writer.close()


# ----------------------------------------------------------------------- agent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _nft_usable() -> bool:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        return False
    from podkeeper.lb.nft import available

    return available()[0]


def _modes() -> list[str]:
    return ["userspace", "nftables"] if _nft_usable() else ["userspace"]


def manifest(version: str, svc_port: int) -> list[dict[str, Any]]:
    """A 3-replica Deployment of POD_APP (default strategy: 25%/25%, i.e. surge 1,
    unavailable 0 for 3) and its Service on 127.0.0.1:svc_port."""
    probe = {
        "exec": {"command": READINESS},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    container = {
        "name": "app",
        "image": f"example/web:{version}",
        "command": ["python3", "-c", POD_APP],
        "env": [{"name": "VERSION", "value": version}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": probe,
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "web", "port": svc_port, "targetPort": "http"}],
            },
        },
    ]


class Agent:
    """A real podkeeper agent (started by `podkeeper up -d`) driven by the real CLI."""

    def __init__(self, mode: str) -> None:
        self.home = tempfile.mkdtemp(prefix="pkbs-")  # short: unix socket path limit
        self.env = {**os.environ, "PODKEEPER_PROXY_MODE": mode, "PODKEEPER_LOG_LEVEL": "WARNING"}
        self.port = _free_port()

    def cli(self, *args: str, timeout: float = 60) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "podkeeper", "--home", self.home, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"podkeeper {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def apply(self, version: str, verb: str = "apply") -> None:
        path = os.path.join(self.home, f"{version}.yaml")
        with open(path, "w") as f:
            json.dump(
                {"apiVersion": "v1", "kind": "List", "items": manifest(version, self.port)}, f
            )
        if verb == "up":
            self.cli("up", "-d", "-f", path, "--wait", "--timeout", "40s", timeout=60)
        else:
            self.cli("apply", "-f", path)

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.cli("get", "pods", "-o", "json"))["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def mode(self) -> str:
        svc = json.loads(self.cli("get", "service", "web", "-o", "json"))
        return str(svc["metadata"]["annotations"].get("podkeeper.io/proxy-mode"))

    def ready_endpoints(self) -> set[str]:
        ep = json.loads(self.cli("get", "endpoints", "web", "-o", "json"))
        return {
            a["targetRef"]["name"]
            for s in ep.get("subsets") or ()
            for a in s.get("addresses") or ()
        }

    def wait(self, what: str, pred: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    def settled(self) -> list[dict[str, Any]]:
        """3 Ready pods, all in the Service's ready endpoints."""

        def check() -> list[dict[str, Any]] | None:
            pods = self.pods()
            names = {p["metadata"]["name"] for p in pods}
            ready = all(
                any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"]["conditions"]
                )
                for p in pods
            )
            return pods if len(pods) == 3 and ready and self.ready_endpoints() == names else None

        result: list[dict[str, Any]] = self.wait("3 ready endpoints", check, 30)
        return result

    def down(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.cli("down", timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)


def _direct(ip: str, path: str) -> None:
    with socket.create_connection((ip, 8080), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: pod\r\n\r\n".encode())
        _read_response(s)


async def _under_load(
    port: int, rate: float, action: Any, tail_s: float, max_s: float
) -> tuple[Outcomes, float]:
    """Steady load (8 clients: 4 new-connection, 4 keep-alive) from 0.5 s before `action`
    (run in a thread) until `tail_s` after it returns; every outcome recorded; bounded by
    `max_s` in time and by rate * max_s in count. Returns (outcomes, action seconds)."""
    out = Outcomes()
    clients = 8
    interval = clients / rate
    stop = [time.monotonic() + max_s]
    max_n = int(max_s * rate / clients) + 1

    async def client(keepalive: bool) -> None:
        await _client(port, keepalive, interval, stop, out, max_n)

    tasks = [asyncio.create_task(client(i % 2 == 1)) for i in range(clients)]
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    try:
        await asyncio.to_thread(action)
    finally:
        took = time.monotonic() - t0
        stop[0] = min(stop[0], time.monotonic() + tail_s)
        await asyncio.gather(*tasks)
    return out, took


def _scenarios(agent: Agent, unready_s: float) -> list[tuple[str, Any, float]]:
    def rolling_update() -> None:
        agent.apply("v2")
        agent.cli("rollout", "status", "deployment/web", "--timeout", "40s", timeout=60)
        agent.wait("old pods gone", lambda: len(agent.cli("get", "pods").splitlines()) == 4, 20)

    def delete_pod() -> None:
        pods = agent.settled()
        victim = sorted(p["metadata"]["name"] for p in pods)[0]
        agent.cli("delete", "pod", victim)  # returns when it is gone (kubectl --wait)
        agent.settled()

    def unready() -> None:
        pods = agent.settled()
        ip = sorted(pods, key=lambda p: str(p["metadata"]["name"]))[0]["status"]["podIP"]
        _direct(ip, "/unready")
        time.sleep(unready_s)
        _direct(ip, "/ready")
        agent.settled()

    return [
        ("rolling_update", rolling_update, 1.0),
        ("delete", delete_pod, 1.0),
        ("unready", unready, 0.5),
    ]


@benchmark("services.agent", quick_budget_s=22, full_budget_s=120)
def services_through_agent(ctx: BenchContext) -> list[Measurement]:
    """Both data paths through a real agent: proxy throughput and added latency against a
    direct connection to one pod, then the three zero-downtime cases under steady load."""
    out: list[Measurement] = []
    # --quick measures the path the agent would choose (kernel when usable), so the whole
    # quick suite stays under a minute; the full run measures both.
    modes = _modes()[-1:] if ctx.quick else _modes()
    rate = 200.0 if ctx.quick else 400.0
    slice_s = 0.4 if ctx.quick else 1.5
    for mode in modes:
        agent = Agent(mode)
        try:
            agent.apply("v1", verb="up")
            pods = agent.settled()
            got = agent.mode()
            if got != mode:
                print(f"services.agent: asked for {mode}, agent chose {got}", file=sys.stderr)
                continue
            ip = pods[0]["status"]["podIP"]
            svc = ("127.0.0.1", agent.port)
            d_rate, d_lat = rate_new_conn(ip, 8080, time.monotonic() + slice_s)
            s_rate, s_lat = rate_new_conn(*svc, time.monotonic() + slice_s)
            dk_rate, dk_lat = rate_keepalive(ip, 8080, time.monotonic() + slice_s)
            sk_rate, sk_lat = rate_keepalive(*svc, time.monotonic() + slice_s)
            p = f"services.{mode}"
            out += [
                Measurement(f"{p}.direct_newconn", d_rate, "req/s"),
                Measurement(f"{p}.newconn", s_rate, "req/s", f"{p}.direct_newconn"),
                Measurement(f"{p}.direct_keepalive", dk_rate, "req/s"),
                Measurement(f"{p}.keepalive", sk_rate, "req/s", f"{p}.direct_keepalive"),
                Measurement(
                    f"{p}.added_p50", _pct(s_lat, 50) - _pct(d_lat, 50), "ms", better="lower"
                ),
                Measurement(
                    f"{p}.added_p99", _pct(s_lat, 99) - _pct(d_lat, 99), "ms", better="lower"
                ),
                Measurement(
                    f"{p}.keepalive_added_p50",
                    _pct(sk_lat, 50) - _pct(dk_lat, 50),
                    "ms",
                    better="lower",
                ),
            ]
            # The unready case must outlast a few readiness periods (1 s) to show a gap.
            for case, action, tail in _scenarios(agent, 2.5 if ctx.quick else 5.0):
                outcomes, took = asyncio.run(_under_load(agent.port, rate, action, tail, 30.0))
                name = f"{p}.{case}"
                total = outcomes.ok + len(outcomes.failed)
                out += [
                    Measurement(
                        f"{name}.failed", len(outcomes.failed), "req", target="<= 0", better="lower"
                    ),
                    Measurement(f"{name}.requests", total, "req"),
                    Measurement(f"{name}.retried_idle", outcomes.retried, "req", better="lower"),
                    Measurement(f"{name}.seconds", took, "s", better="lower"),
                ]
                if outcomes.failed:
                    print(f"{name}: {outcomes.failed[:3]}", file=sys.stderr)
        finally:
            agent.down()
    return out

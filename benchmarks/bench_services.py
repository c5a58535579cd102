"""Services (issue 4 §3-§4, issue 6 item 6): proxy throughput and added latency, both data
paths, and the zero-downtime load test.

The proxy runs in its own process (`python -m benchmarks.bench_services serve CONFIG`):
a `ServiceController` with loopback-addressed pods, driven by commands on stdin the
way the agent drives it (`pod_changed` on readiness/deletion, `before_pod_stop`,
`pod_gone`). Backends are keep-alive HTTP/1.1 servers in their own processes: on
127.0.0.1 for the userspace path, in throwaway network namespaces (`pkb-*`, bridge
10.252.0.0/24) for the nftables path when root and `nft` work.

Throughput: one blocking client, one request at a time, against one backend directly
and through the Service, with a new connection per request and on one keep-alive
connection; latency percentiles of the new-connection requests, and their
difference (added by the Service). Every loop is bounded in count and time.

Zero-downtime: clients at a steady total rate (half new-connection, half keep-alive)
while (b) a pod is deleted (leave endpoints, drain, then SIGTERM, then gone) and
(c) a pod is unready for a while; every request's outcome is recorded. A keep-alive
client retries once when a reused connection is closed before any response byte
(RFC 9112 §9.3.1; Go's Transport and urllib3 do the same) and that retry is counted
apart, not as a failure. (a) rolling update of a Deployment: pending until
`podkeeper.runtime.deployments` lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


# ------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=False, capture_output=True, timeout=10)


@contextlib.contextmanager
def backends(n: int, netns: bool) -> Iterator[list[tuple[str, str, int, subprocess.Popen[bytes]]]]:
    """n backend processes: (name, ip, port, process)."""
    procs: list[tuple[str, str, int, subprocess.Popen[bytes]]] = []
    try:
        if netns:
            _ip("link", "del", "pkb-br0")
            _ip("link", "add", "pkb-br0", "type", "bridge")
            _ip("addr", "add", "10.252.0.1/24", "dev", "pkb-br0")
            _ip("link", "set", "pkb-br0", "up")
        for i in range(n):
            name = f"p{i}"
            if netns:
                ns, ip, port = f"pkb-ns{i}", f"10.252.0.{10 + i}", 8080
                _ip("netns", "del", ns)
                _ip("netns", "add", ns)
                _ip("link", "add", f"pkb-v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", f"pkb-v{i}", "master", "pkb-br0", "up")
                _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                argv = ["ip", "netns", "exec", ns, sys.executable]
            else:
                ip, port = "127.0.0.1", _free_port()
                argv = [sys.executable]
            p = subprocess.Popen(
                [*argv, "-c", BACKEND, name, ip, str(port)], stdout=subprocess.PIPE
            )
            assert p.stdout is not None
            p.stdout.readline()
            procs.append((name, ip, port, p))
        yield procs
    finally:
        for *_, p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait()
        if netns:
            _ip("link", "del", "pkb-br0")
            for i in range(n):
                _ip("link", "del", f"pkb-v{i}")
                _ip("netns", "del", f"pkb-ns{i}")


class ProxyProcess:
    """The Service's data path in its own process, commanded over stdin."""

    def __init__(self, mode: str, port: int, pods: list[tuple[str, str, int]]) -> None:
        cfg = json.dumps({"mode": mode, "port": port, "pods": pods})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_services", "serve", cfg],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.mode = self.read().split()[-1]

    def read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _serve(cfg_text: str) -> int:
    """The proxy process: a ServiceController over the given pods."""
    from podkeeper.lb.services import ServiceController

    cfg = json.loads(cfg_text)

    def pod(name: str, ip: str, port: int, ready: bool = True, deleting: bool = False) -> Any:
        meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "b"}}
        if deleting:
            meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        return {
            "metadata": meta,
            "spec": {
                "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]
            },
            "status": {
                "phase": "Running",
                "podIP": ip,
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }

    pods = {name: (name, ip, port) for name, ip, port in cfg["pods"]}

    class Host:
        home = f"/tmp/podkeeper-bench-{os.getpid()}"
        node_name = "bench"

        def pod_snapshots(self, namespace: str | None) -> list[Any]:
            return [pod(*p) for p in pods.values()]

    async def main() -> None:
        ctl = ServiceController(address="127.0.0.1", mode=cfg["mode"])
        await ctl.start(Host())  # type: ignore[arg-type]
        await ctl.apply(
            {
                "kind": "Service",
                "metadata": {"name": "bench", "namespace": "default"},
                "spec": {
                    "selector": {"app": "b"},
                    "ports": [{"port": cfg["port"], "targetPort": "http", "protocol": "TCP"}],
                },
            }
        )
        await ctl.nft_synced()
        await asyncio.sleep(0.05)
        print("ready", ctl.modes[("default", "bench")], flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().split():
            cmd, args = line[0], line[1:]
            if cmd == "quit":
                break
            p = pods[args[0]]
            if cmd in ("ready", "unready"):
                ctl.pod_changed(pod(*p, ready=cmd == "ready"))
                await ctl.nft_synced()
                print("ok", flush=True)
            elif cmd == "delete":
                t0 = time.monotonic()
                await ctl.before_pod_stop(pod(*p, deleting=True), 30.0)
                print(f"drained {time.monotonic() - t0:.3f}", flush=True)
            elif cmd == "gone":
                ctl.pod_gone(pod(*pods.pop(args[0]), deleting=True))
                print("ok", flush=True)
        await ctl.stop()

    asyncio.run(main())
    return 0


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


def _nft_usable() -> bool:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        return False
    from podkeeper.lb.nft import available

    return available()[0]


def _modes() -> list[str]:
    return ["userspace", "nftables"] if _nft_usable() else ["userspace"]


@benchmark("services.proxy", quick_budget_s=14, full_budget_s=40)
def proxy_throughput(ctx: BenchContext) -> list[Measurement]:
    out: list[Measurement] = []
    modes = _modes()
    slice_s = max(ctx.remaining() / (len(modes) * 4 + 1), 0.3)
    for mode in modes:
        with backends(1, netns=mode == "nftables") as procs:
            name, ip, port, _ = procs[0]
            svc_port = _free_port()
            proxy = ProxyProcess(mode, svc_port, [(name, ip, port)])
            try:
                if proxy.mode != mode:
                    continue
                d_rate, d_lat = rate_new_conn(ip, port, time.monotonic() + slice_s)
                s_rate, s_lat = rate_new_conn("127.0.0.1", svc_port, time.monotonic() + slice_s)
                dk_rate, dk_lat = rate_keepalive(ip, port, time.monotonic() + slice_s)
                sk_rate, sk_lat = rate_keepalive("127.0.0.1", svc_port, time.monotonic() + slice_s)
            finally:
                proxy.close()
        p = f"services.{mode}"
        out += [
            Measurement(f"{p}.direct_newconn", d_rate, "req/s"),
            Measurement(f"{p}.newconn", s_rate, "req/s", f"{p}.direct_newconn"),
            Measurement(f"{p}.direct_keepalive", dk_rate, "req/s"),
            Measurement(f"{p}.keepalive", sk_rate, "req/s", f"{p}.direct_keepalive"),
            Measurement(f"{p}.added_p50", _pct(s_lat, 50) - _pct(d_lat, 50), "ms", better="lower"),
            Measurement(f"{p}.added_p99", _pct(s_lat, 99) - _pct(d_lat, 99), "ms", better="lower"),
            Measurement(
                f"{p}.keepalive_added_p50",
                _pct(sk_lat, 50) - _pct(dk_lat, 50),
                "ms",
                better="lower",
            ),
        ]
    return out


# ---------------------------------------------------------------- zero downtime


class Outcomes:
    def __init__(self) -> None:
        self.ok = 0
        self.failed: list[str] = []
        self.retried = 0
        self.by_backend: dict[str, list[float]] = {}
        self.by_backend_newconn: dict[str, list[float]] = {}


async def _client(
    port: int, keepalive: bool, interval: float, stop: float, out: Outcomes, max_n: int
) -> None:
    """Paced requests until `stop`; records every outcome."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    nxt = time.monotonic()
    for _ in range(max_n):
        if time.monotonic() >= stop:
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
                if not keepalive:
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


async def _load(
    port: int,
    rate: float,
    seconds: float,
    script: list[tuple[float, str]],
    proxy: ProxyProcess,
    procs: dict[str, subprocess.Popen[bytes]],
) -> tuple[Outcomes, list[tuple[float, str, str]]]:
    out = Outcomes()
    clients = 8
    interval = clients / rate
    start = time.monotonic()
    stop = start + seconds
    max_n = int(seconds * rate / clients) + 1
    tasks = [
        asyncio.create_task(_client(port, i % 2 == 1, interval, stop, out, max_n))
        for i in range(clients)
    ]
    log: list[tuple[float, str, str]] = []
    for at, cmd in script:
        await asyncio.sleep(max(start + at - time.monotonic(), 0))
        verb, name = cmd.split()
        if verb == "kill":  # SIGTERM after the drain: the app exits (no handler)
            procs[name].send_signal(signal.SIGTERM)
            procs[name].wait()
            reply = "killed"
        else:
            proxy.send(cmd)
            reply = await asyncio.to_thread(proxy.read)
        log.append((time.monotonic(), cmd, reply))
    await asyncio.gather(*tasks)
    return out, log


@benchmark("services.zero_downtime", quick_budget_s=16, full_budget_s=45)
def zero_downtime(ctx: BenchContext) -> list[Measurement]:
    out: list[Measurement] = []
    modes = _modes()
    per = max(ctx.remaining() / (2 * len(modes)) - 1.0, 2.0)
    unready_s = 5.0 if per >= 7 else per / 2
    rate = 400.0 if not ctx.quick else 200.0
    for mode in modes:
        for case in ("delete", "unready"):
            with backends(3, netns=mode == "nftables") as bs:
                svc_port = _free_port()
                proxy = ProxyProcess(mode, svc_port, [(n, ip, p) for n, ip, p, _ in bs])
                procs = {n: pr for n, _, _, pr in bs}
                try:
                    if case == "delete":
                        script = [
                            (per * 0.3, "delete p1"),
                            (per * 0.3, "kill p1"),
                            (per * 0.3, "gone p1"),
                        ]
                    else:
                        t = (per - unready_s) / 2
                        script = [(t, "unready p1"), (t + unready_s, "ready p1")]
                    outcomes, log = asyncio.run(_load(svc_port, rate, per, script, proxy, procs))
                finally:
                    proxy.close()
            name = f"services.{mode}.{case}"
            total = outcomes.ok + len(outcomes.failed)
            out.append(
                Measurement(
                    f"{name}.failed", len(outcomes.failed), "req", target="<= 0", better="lower"
                )
            )
            out.append(Measurement(f"{name}.requests", total, "req"))
            out.append(Measurement(f"{name}.retried_idle", outcomes.retried, "req", better="lower"))
            if case == "unready":
                t_off = log[0][0]
                t_on = log[1][0]

                # New connections must never reach the unready pod. Established keep-alive
                # ones are closed when idle by the userspace proxy; in the kernel path
                # conntrack keeps them (as with kube-proxy), so that row has no target there.
                def leaked(times: dict[str, list[float]], lo: float, hi: float) -> int:
                    return sum(1 for ts in times.get("p1", []) if lo + 0.05 < ts < hi)

                newconn = leaked(outcomes.by_backend_newconn, t_off, t_on)
                every = leaked(outcomes.by_backend, t_off, t_on)
                out.append(
                    Measurement(f"{name}.newconn_to_unready", newconn, "req", None, "<= 0", "lower")
                )
                all_target = "<= 0" if mode == "userspace" else None
                out.append(
                    Measurement(f"{name}.all_to_unready", every, "req", None, all_target, "lower")
                )
            else:
                drained = log[0][2]
                with contextlib.suppress(ValueError, IndexError):
                    out.append(
                        Measurement(
                            f"{name}.drain", float(drained.split()[1]) * 1000, "ms", better="lower"
                        )
                    )
            if outcomes.failed:
                print(f"{name}: {outcomes.failed[:3]}", file=sys.stderr)
    out.append(Measurement("services.rolling_update.pending", 1, "flag", better="lower"))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        raise SystemExit(_serve(sys.argv[2]))
    raise SystemExit("usage: python -m benchmarks.bench_services serve CONFIG_JSON")

"""This machine's raw limits, as plain Python programs written for speed.

No podkeeper code here: these are the ceilings podkeeper's figures are divided
by. Each program is bounded in count (``MAX_*``) and in time (a deadline
checked in every loop, plus ``signal.alarm`` as a hard stop). Each group runs
in its own interpreter (``python -m benchmarks.raw GROUP --budget S``, which
prints a JSON list of rows) so that one group's threads, sockets or heap
cannot disturb the next. Servers are forked children on 127.0.0.1; the
measuring client is single-threaded, so every rate is "per second on one
core". Each group has a ``concurrent`` variant that keeps several operations
in flight on one asyncio loop, as the agent keeps many probes in flight: a
one-at-a-time loop measures a round trip, and with the server on the other
core both sides idle for part of it.

Groups and the rows they print (``raw.<group>`` is the best variant, the limit
other benchmarks name):

- ``spawn``: spawn ``/bin/true`` and reap it, spawns/s, one at a time via
  ``os.posix_spawn`` + ``os.waitpid``, ``subprocess.Popen`` (vfork path),
  asyncio ``create_subprocess_exec`` with the default child watcher and with
  ``PidfdChildWatcher``, and ``posix_spawn`` + a pidfd in the event loop; and
  that last one with 8 children in flight.
- ``tcp``: connect to and close a loopback TCP connection, connections/s, via
  blocking sockets (left to the scheduler, and pinned with the server on
  another CPU or on the same one), ``loop.sock_connect`` one at a time and
  ``CONCURRENCY`` at a time, and ``asyncio.open_connection``.
- ``http``: ``GET /`` on a new connection per request against a minimal
  server answering ``200 OK`` with ``Connection: close``, requests/s, with
  the same kinds of client.
- ``timers``: N periodic timers on one asyncio loop (``call_at`` callbacks
  and, separately, one sleeping task per timer): lateness p50/p99/max in ms
  and the loop's CPU % of one core.
- ``grpc``: ``grpc.health.v1.Health/Check`` on a new channel (so a new
  connection) per call, as the kubelet dials anew for every grpc probe, against
  a grpcio health server answering SERVING, calls/s, via grpcio's blocking API
  and ``grpc.aio``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from benchmarks import BenchContext, Measurement, benchmark

TRUE = "/bin/true"
HOST = "127.0.0.1"
MAX_SPAWNS = 200_000
MAX_CONNECTIONS = 500_000
MAX_GRPC_CALLS = 100_000  # ~1k calls/s here: far above what any budget allows
# The timers benchmark: N timers, each firing once per period.
TIMERS_FULL = (1000, 1.0)
TIMERS_QUICK = (250, 0.25)

HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 2\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"ok"
)


class Row(TypedDict):
    name: str
    value: float
    unit: str
    better: Literal["higher", "lower"]


@dataclass
class Rate:
    """``count`` operations in ``elapsed`` seconds; ``errors`` stopped the loop early."""

    count: int
    elapsed: float
    errors: int = 0

    @property
    def per_s(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0


# --------------------------------------------------------------------------- concurrency

#: Operations in flight in the ``*_concurrent`` variants.
CONCURRENCY = 32


def _concurrently(
    op: Callable[[], Awaitable[object]], deadline: float, max_count: int, width: int = CONCURRENCY
) -> Rate:
    """Run ``op`` with ``width`` of them in flight on one asyncio loop, until ``max_count``
    or ``deadline``; an ``op`` that raises OSError ends the run as an error.

    A one-at-a-time loop measures a round trip (client, kernel, server, back), not
    what one core can drive: with the server on the other core both sides idle
    half of the time. The agent keeps many probes in flight, so the fair limit is
    the better of the two kinds of client (still one thread, one core)."""

    async def main() -> Rate:
        clock = time.monotonic
        count, errors, t0 = [0], [0], clock()

        async def worker() -> None:
            while count[0] < max_count and not errors[0]:
                try:
                    await op()
                except OSError:
                    errors[0] += 1
                    return
                count[0] += 1
                if clock() >= deadline:
                    return

        await asyncio.gather(*(worker() for _ in range(width)))
        return Rate(count[0], clock() - t0, errors[0])

    return asyncio.run(main())


# --------------------------------------------------------------------------- spawn


def spawn_posix_spawn(deadline: float, max_count: int = MAX_SPAWNS) -> Rate:
    """``os.posix_spawn`` (glibc uses clone(CLONE_VFORK)) then a blocking ``waitpid``."""
    argv, env = [TRUE], os.environ
    spawn, waitpid, clock = os.posix_spawn, os.waitpid, time.monotonic
    n, t0 = 0, clock()
    while n < max_count:
        waitpid(spawn(TRUE, argv, env), 0)
        n += 1
        if clock() >= deadline:
            break
    return Rate(n, clock() - t0)


def spawn_popen(deadline: float, max_count: int = MAX_SPAWNS) -> Rate:
    """``subprocess.Popen(...).wait()``; CPython uses vfork when no preexec_fn etc. is given."""
    argv, popen, clock = [TRUE], subprocess.Popen, time.monotonic
    n, t0 = 0, clock()
    while n < max_count:
        popen(argv).wait()
        n += 1
        if clock() >= deadline:
            break
    return Rate(n, clock() - t0)


def spawn_asyncio(deadline: float, max_count: int = MAX_SPAWNS, *, pidfd: bool = False) -> Rate:
    """``asyncio.create_subprocess_exec`` + ``wait()``, default watcher or PidfdChildWatcher."""

    async def main() -> Rate:
        policy = asyncio.get_event_loop_policy()
        watcher: asyncio.AbstractChildWatcher | None = None
        if pidfd:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                watcher = asyncio.PidfdChildWatcher()
                watcher.attach_loop(asyncio.get_running_loop())
                policy.set_child_watcher(watcher)
        create, clock = asyncio.create_subprocess_exec, time.monotonic
        n, t0 = 0, clock()
        try:
            while n < max_count:
                proc = await create(TRUE)
                await proc.wait()
                n += 1
                if clock() >= deadline:
                    break
            return Rate(n, clock() - t0)
        finally:
            if watcher is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    # None drops our watcher; typeshed does not admit it, CPython does.
                    policy.set_child_watcher(None)  # type: ignore[arg-type]

    return asyncio.run(main())


def spawn_pidfd_loop(deadline: float, max_count: int = MAX_SPAWNS) -> Rate:
    """``os.posix_spawn`` and wait for exit on a pidfd in the event loop: a lean asyncio path."""

    async def main() -> Rate:
        loop = asyncio.get_running_loop()
        argv, env = [TRUE], os.environ
        spawn, pidfd_open, waitpid, clock = (
            os.posix_spawn,
            os.pidfd_open,
            os.waitpid,
            time.monotonic,
        )
        n, t0 = 0, clock()
        while n < max_count:
            pid = spawn(TRUE, argv, env)
            fd = pidfd_open(pid)
            exited: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, exited.set_result, None)
            try:
                await exited
            finally:
                loop.remove_reader(fd)
                os.close(fd)
            waitpid(pid, 0)
            n += 1
            if clock() >= deadline:
                break
        return Rate(n, clock() - t0)

    return asyncio.run(main())


def spawn_concurrent(deadline: float, max_count: int = MAX_SPAWNS) -> Rate:
    """``os.posix_spawn`` + a pidfd in the event loop with 8 children in flight
    (children exec and exit on the other core while the loop spawns the next)."""
    argv, env = [TRUE], os.environ

    async def op() -> None:
        loop = asyncio.get_running_loop()
        pid = os.posix_spawn(TRUE, argv, env)
        fd = os.pidfd_open(pid)
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, exited.set_result, None)
        try:
            await exited
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        os.waitpid(pid, 0)

    return _concurrently(op, deadline, max_count, width=8)


def run_spawn(budget_s: float, quick: bool) -> list[Row]:
    variants: list[tuple[str, Callable[[float], Rate]]] = [
        ("posix_spawn", spawn_posix_spawn),
        ("popen_vfork", spawn_popen),
        ("asyncio", spawn_asyncio),
        ("asyncio_pidfd_watcher", lambda d: spawn_asyncio(d, pidfd=True)),
        ("pidfd_loop", spawn_pidfd_loop),
        ("concurrent", spawn_concurrent),
    ]
    return _rates("spawn", "spawn/s", variants, budget_s)


# --------------------------------------------------------------------------- servers


class _HttpResponder(asyncio.Protocol):
    """Answer the first complete request head with a fixed 200 and close (server closes first)."""

    def __init__(self) -> None:
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if b"\r\n\r\n" in self._buf and self._transport is not None:
            self._transport.write(HTTP_RESPONSE)
            self._transport.close()


def _serve_blocking(srv: socket.socket, kind: Literal["tcp", "http"]) -> None:
    """A blocking accept loop: for one client at a time, faster than any asyncio server."""
    accept = srv.accept
    if kind == "tcp":
        while True:
            conn, _ = accept()
            conn.close()
    while True:
        conn, _ = accept()
        try:
            head = conn.recv(65536)
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
            conn.sendall(HTTP_RESPONSE)
        except OSError:
            pass
        finally:
            conn.close()


@contextmanager
def forked_server(
    kind: Literal["tcp", "http"],
    hard_deadline_s: float,
    impl: Literal["blocking", "asyncio"] = "blocking",
) -> Iterator[int]:
    """Fork a child serving on 127.0.0.1:0; yield its port. Reusable by podkeeper benchmarks.

    ``tcp`` accepts and closes; ``http`` answers every request head with
    ``HTTP_RESPONSE`` and closes (the server closes first). ``impl="blocking"``
    is a plain accept loop; ``impl="asyncio"`` is an ``asyncio.Protocol`` server,
    kept as a reference: its accept path (~20k/s here) is slower than a blocking
    client, so the client overfills the accept queue, a SYN is dropped and the
    client stalls for the 1 s SYN retransmit: that measures the server, not
    the machine. The child dies by SIGTERM on exit of the block, or by its own
    alarm if the parent was killed.
    """
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(4096)
    port: int = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            signal.alarm(math.ceil(hard_deadline_s))
            if impl == "blocking":
                _serve_blocking(srv, kind)

            async def serve() -> None:
                factory = asyncio.Protocol if kind == "tcp" else _HttpResponder
                await asyncio.get_running_loop().create_server(factory, sock=srv, backlog=4096)
                await asyncio.Future()  # until SIGTERM

            asyncio.run(serve())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    srv.close()
    try:
        yield port
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


# --------------------------------------------------------------------------- tcp

_REFERENCE = frozenset({"blocking_vs_asyncio_server"})


def _served(
    kind: Literal["tcp", "http"],
    client: Callable[[int, float], Rate],
    budget_s: float,
    impl: Literal["blocking", "asyncio"] = "blocking",
    *,
    pinned: Literal["split", "shared"] | None = None,
) -> Callable[[float], Rate]:
    """A variant that runs ``client(port, deadline)`` against its own fresh server.

    A fresh listening port per variant matters: the client closes first, so
    each variant leaves thousands of TIME_WAIT sockets towards its port, and the
    kernel's ephemeral-port search for that same destination slows down
    (``__inet_hash_connect``), which would penalise whichever variant runs next.

    ``pinned``: ``split`` puts the server on the last CPU and the client on the
    first; ``shared`` puts both on the first. On this VM a one-at-a-time client
    left to the scheduler spends much of each round trip waiting for a CPU to
    wake up (same http code: 13k req/s free, 36k shared, tcp 22k free, 73k
    split), so the pinned variants show what the hardware can do.
    """

    def run(deadline: float) -> Rate:
        if not pinned:
            with forked_server(kind, budget_s * 1.5 + 5, impl) as port:
                return client(port, deadline)
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return Rate(0, 1.0)  # nothing to pin apart: the free variants stand alone
        try:
            # the forked server inherits this
            os.sched_setaffinity(0, {cpus[-1] if pinned == "split" else cpus[0]})
            with forked_server(kind, budget_s * 1.5 + 5, impl) as port:
                os.sched_setaffinity(0, {cpus[0]})
                return client(port, deadline)
        finally:
            os.sched_setaffinity(0, cpus)

    return run


def tcp_blocking(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """Blocking ``socket.connect`` + ``close``."""
    addr, new, clock = (HOST, port), socket.socket, time.monotonic
    n, errors, t0 = 0, 0, clock()
    while n < max_count:
        s = new()
        try:
            s.connect(addr)
        except OSError:
            errors += 1
            break  # e.g. EADDRNOTAVAIL: ports exhausted; report what we have
        finally:
            s.close()
        n += 1
        if clock() >= deadline:
            break
    return Rate(n, clock() - t0, errors)


async def _tcp_connect_aio(addr: tuple[str, int]) -> None:
    """Non-blocking socket and ``loop.sock_connect`` + ``close``."""
    s = socket.socket()
    s.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(s, addr)
    finally:
        s.close()


def tcp_asyncio_sock(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """``_tcp_connect_aio``, one at a time."""
    addr = (HOST, port)
    return _concurrently(lambda: _tcp_connect_aio(addr), deadline, max_count, width=1)


def tcp_asyncio_streams(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """``asyncio.open_connection`` + ``close`` + ``wait_closed``."""

    async def main() -> Rate:
        open_connection, clock = asyncio.open_connection, time.monotonic
        n, errors, t0 = 0, 0, clock()
        while n < max_count:
            try:
                _, writer = await open_connection(HOST, port)
            except OSError:
                errors += 1
                break
            writer.close()
            await writer.wait_closed()
            n += 1
            if clock() >= deadline:
                break
        return Rate(n, clock() - t0, errors)

    return asyncio.run(main())


def tcp_asyncio_concurrent(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """``_tcp_connect_aio`` with ``CONCURRENCY`` connects in flight."""
    addr = (HOST, port)
    return _concurrently(lambda: _tcp_connect_aio(addr), deadline, max_count)


Client = Callable[[int, float], Rate]


def _socket_variants(
    kind: Literal["tcp", "http"],
    blocking: Client,
    asyncio_sock: Client,
    asyncio_streams: Client,
    concurrent: Client,
    *,
    budget_s: float,
) -> list[tuple[str, Callable[[float], Rate]]]:
    """The same seven variants for tcp and http, each against its own fresh server."""
    return [
        ("blocking", _served(kind, blocking, budget_s)),
        ("asyncio_sock", _served(kind, asyncio_sock, budget_s)),
        ("asyncio_streams", _served(kind, asyncio_streams, budget_s)),
        ("concurrent", _served(kind, concurrent, budget_s)),
        ("blocking_split", _served(kind, blocking, budget_s, pinned="split")),
        ("blocking_shared", _served(kind, blocking, budget_s, pinned="shared")),
        # Reference only: the server is the bottleneck here (see forked_server).
        ("blocking_vs_asyncio_server", _served(kind, blocking, budget_s, "asyncio")),
    ]


def run_tcp(budget_s: float, quick: bool) -> list[Row]:
    clients = (tcp_blocking, tcp_asyncio_sock, tcp_asyncio_streams, tcp_asyncio_concurrent)
    variants = _socket_variants("tcp", *clients, budget_s=budget_s)
    return _rates("tcp", "conn/s", variants, budget_s - 0.1, reference=_REFERENCE)


# --------------------------------------------------------------------------- http


def _request(port: int) -> bytes:
    # What a kubelet httpGet probe sends (pkg/probe/http/request.go), minus gzip.
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: kube-probe/1.31\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode()


def http_blocking(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """Blocking socket: connect, send the request, read to EOF, check the status line."""
    addr, req, new, clock = (HOST, port), _request(port), socket.socket, time.monotonic
    n, errors, t0 = 0, 0, clock()
    while n < max_count:
        s = new()
        try:
            s.connect(addr)
            s.sendall(req)
            resp = s.recv(65536)
            while chunk := s.recv(65536):
                resp += chunk
        except OSError:
            errors += 1
            break
        finally:
            s.close()
        if not resp.startswith(b"HTTP/1.1 200 "):
            errors += 1
            break
        n += 1
        if clock() >= deadline:
            break
    return Rate(n, clock() - t0, errors)


async def _http_get_aio(addr: tuple[str, int], req: bytes) -> None:
    """Non-blocking socket with ``loop.sock_connect/sock_sendall/sock_recv``, read to EOF,
    check ``200``; OSError otherwise."""
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setblocking(False)
    try:
        await loop.sock_connect(s, addr)
        await loop.sock_sendall(s, req)
        resp = await loop.sock_recv(s, 65536)
        while chunk := await loop.sock_recv(s, 65536):
            resp += chunk
    finally:
        s.close()
    if not resp.startswith(b"HTTP/1.1 200 "):
        raise OSError(0, f"unexpected response {resp[:40]!r}")


def http_asyncio_sock(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """``_http_get_aio``, one request at a time."""
    addr, req = (HOST, port), _request(port)
    return _concurrently(lambda: _http_get_aio(addr, req), deadline, max_count, width=1)


def http_asyncio_streams(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """``asyncio.open_connection``, write, ``read()`` to EOF, close."""

    async def main() -> Rate:
        open_connection, req, clock = asyncio.open_connection, _request(port), time.monotonic
        n, errors, t0 = 0, 0, clock()
        while n < max_count:
            try:
                reader, writer = await open_connection(HOST, port)
                writer.write(req)
                resp = await reader.read()
                writer.close()
                await writer.wait_closed()
            except OSError:
                errors += 1
                break
            if not resp.startswith(b"HTTP/1.1 200 "):
                errors += 1
                break
            n += 1
            if clock() >= deadline:
                break
        return Rate(n, clock() - t0, errors)

    return asyncio.run(main())


def http_asyncio_concurrent(port: int, deadline: float, max_count: int = MAX_CONNECTIONS) -> Rate:
    """``_http_get_aio`` with ``CONCURRENCY`` requests in flight."""
    addr, req = (HOST, port), _request(port)
    return _concurrently(lambda: _http_get_aio(addr, req), deadline, max_count)


def run_http(budget_s: float, quick: bool) -> list[Row]:
    clients = (http_blocking, http_asyncio_sock, http_asyncio_streams, http_asyncio_concurrent)
    variants = _socket_variants("http", *clients, budget_s=budget_s)
    return _rates("http", "req/s", variants, budget_s - 0.1, reference=_REFERENCE)


# --------------------------------------------------------------------------- grpc

GRPC_CHECK = "/grpc.health.v1.Health/Check"
# A new connection per channel: without a local subchannel pool, channels to one target
# may share a connection (podkeeper's grpc checker sets the same option).
GRPC_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.enable_retries", 0),
    ("grpc.enable_http_proxy", 0),
)


def serve_grpc(hard_deadline_s: float) -> None:
    """The gRPC server process: grpc.health.v1 answering SERVING for the service "" on
    127.0.0.1:0; prints the port on stdout, then serves until SIGTERM or its own alarm."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    # Default SIGALRM action: the process ends even if the parent was killed.
    signal.alarm(math.ceil(hard_deadline_s))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    # Threads: the agent probes many pods at once; one client at a time needs one.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"{HOST}:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


@contextmanager
def grpc_server(hard_deadline_s: float, start_timeout_s: float = 15.0) -> Iterator[int]:
    """Start a gRPC health server (``serve_grpc``) in a new process; yield its port.

    Fork and exec, not a bare fork like ``forked_server``: gRPC's core does not
    survive a fork once the parent has made a channel (its threads and polling
    state are not copied), and the raw client has by the second slice. Starting
    takes ~0.1 s. Reusable by podkeeper benchmarks as a grpc probe target.
    """
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    code = "import sys; from benchmarks.raw import serve_grpc; serve_grpc(float(sys.argv[1]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, repr(hard_deadline_s)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        line = b""
        end = time.monotonic() + start_timeout_s
        while not line.endswith(b"\n"):
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the gRPC server did not start (exit {proc.returncode})")
            try:
                line += os.read(proc.stdout.fileno(), 64)
            except BlockingIOError:
                time.sleep(0.005)
        yield int(line)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _tcp_active_opens() -> int | None:
    """The kernel's count of TCP connects (all processes): checks a new connection per call."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        return int(rows[1][rows[0].index("ActiveOpens")])
    except (OSError, ValueError, IndexError):
        return None


def _check_new_connections(variant: str, opens0: int | None, calls: int) -> None:
    opens1 = _tcp_active_opens()
    if opens0 is not None and opens1 is not None and opens1 - opens0 < calls:
        _note(f"  grpc/{variant}: {calls} calls but {opens1 - opens0} connects: channels shared")


def grpc_sync(port: int, deadline: float, max_count: int = MAX_GRPC_CALLS) -> Rate:
    """grpcio's blocking API: a new channel, one Check, check SERVING, close the channel."""
    import grpc
    from grpc_health.v1 import health_pb2

    target, req = f"ipv4:{HOST}:{port}", health_pb2.HealthCheckRequest().SerializeToString()
    parse, serving = (
        health_pb2.HealthCheckResponse.FromString,
        health_pb2.HealthCheckResponse.SERVING,
    )
    new, clock = grpc.insecure_channel, time.monotonic
    opens0 = _tcp_active_opens()
    n, errors, t0 = 0, 0, clock()
    while n < max_count:
        channel = new(target, options=GRPC_OPTIONS)
        try:
            resp = channel.unary_unary(GRPC_CHECK, response_deserializer=parse)(req, timeout=1.0)
        except grpc.RpcError:
            errors += 1
            break
        finally:
            channel.close()
        if resp.status != serving:
            errors += 1
            break
        n += 1
        if clock() >= deadline:
            break
    rate = Rate(n, clock() - t0, errors)
    _check_new_connections("sync", opens0, n)
    return rate


async def _grpc_check_aio(target: str) -> None:
    """``grpc.aio``: a new channel, await one Check, check SERVING, await the channel's close.
    Raises OSError on any failure (``_concurrently`` counts it as an error)."""
    import grpc

    req, parse, serving = _grpc_messages()
    channel = grpc.aio.insecure_channel(target, options=GRPC_OPTIONS)
    try:
        call = channel.unary_unary(GRPC_CHECK, response_deserializer=parse)
        resp = await call(req, timeout=1.0)
    except grpc.RpcError as err:
        raise OSError(0, f"grpc: {err}") from None
    finally:
        await channel.close()
    if resp.status != serving:
        raise OSError(0, f"grpc: status {resp.status}")


@functools.cache
def _grpc_messages() -> tuple[bytes, Callable[[bytes], Any], int]:
    """(serialized request, response parser, SERVING), built once."""
    from grpc_health.v1 import health_pb2

    return (
        health_pb2.HealthCheckRequest().SerializeToString(),
        health_pb2.HealthCheckResponse.FromString,
        health_pb2.HealthCheckResponse.SERVING,
    )


def grpc_asyncio(port: int, deadline: float, max_count: int = MAX_GRPC_CALLS) -> Rate:
    """``grpc.aio`` one call at a time: a new channel, await one Check, check SERVING,
    await the channel's close.

    The loop is written out rather than awaiting ``_grpc_check_aio``: a channel freed
    right after ``close()`` (as when the coroutine that made it returns) makes gRPC's
    deallocation wait for the core's shutdown, ~0.9 ms of CPU per call here; rebinding
    the name on the next call frees it later, and that is the faster client."""
    import grpc

    async def main() -> Rate:
        target = f"ipv4:{HOST}:{port}"
        req, parse, serving = _grpc_messages()
        new, clock = grpc.aio.insecure_channel, time.monotonic
        opens0 = _tcp_active_opens()
        n, errors, t0 = 0, 0, clock()
        while n < max_count:
            channel = new(target, options=GRPC_OPTIONS)
            try:
                call = channel.unary_unary(GRPC_CHECK, response_deserializer=parse)
                resp = await call(req, timeout=1.0)
            except grpc.RpcError:
                errors += 1
                break
            finally:
                await channel.close()
            if resp.status != serving:
                errors += 1
                break
            n += 1
            if clock() >= deadline:
                break
        rate = Rate(n, clock() - t0, errors)
        _check_new_connections("asyncio", opens0, n)
        return rate

    return asyncio.run(main())


def grpc_concurrent(port: int, deadline: float, max_count: int = MAX_GRPC_CALLS) -> Rate:
    """``_grpc_check_aio`` (a new channel each) with 16 calls in flight."""
    target = f"ipv4:{HOST}:{port}"
    opens0 = _tcp_active_opens()
    rate = _concurrently(lambda: _grpc_check_aio(target), deadline, max_count, width=16)
    _check_new_connections("concurrent", opens0, rate.count)
    return rate


def _grpc_served(client: Callable[[int, float], Rate], budget_s: float) -> Callable[[float], Rate]:
    """A variant against its own fresh server (fresh port: see ``_served``)."""

    def run(deadline: float) -> Rate:
        with grpc_server(budget_s * 1.5 + 5) as port:
            return client(port, deadline)

    return run


def run_grpc(budget_s: float, quick: bool) -> list[Row]:
    variants: list[tuple[str, Callable[[float], Rate]]] = [
        ("sync", _grpc_served(grpc_sync, budget_s)),
        ("asyncio", _grpc_served(grpc_asyncio, budget_s)),
        ("concurrent", _grpc_served(grpc_concurrent, budget_s)),
    ]
    # Slices of at least 1 s: starting the server process takes ~0.1 s of each.
    return _rates("grpc", "call/s", variants, budget_s - 0.1, min_slice_s=1.0)


# --------------------------------------------------------------------------- timers


@dataclass
class Lateness:
    """Timer lateness samples (seconds, fire time minus scheduled time) and loop CPU use."""

    samples: list[float]
    cpu_percent: float

    def percentile_ms(self, p: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1e3


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def timers_call_at(n: int, period: float, duration: float) -> Lateness:
    """N self-rescheduling ``loop.call_at`` callbacks, start times spread over one period.

    The first period is warm-up and not sampled.
    """

    async def main() -> Lateness:
        loop = asyncio.get_running_loop()
        now = loop.time
        start = now() + 0.02
        sample_from, end = start + period, start + duration
        samples: list[float] = []
        record = samples.append
        done: asyncio.Future[None] = loop.create_future()
        live = n

        def fire(when: float) -> None:
            nonlocal live
            late = now() - when
            if when >= sample_from:
                record(late)
            nxt = when + period
            if nxt < end:
                loop.call_at(nxt, fire, nxt)
            else:
                live -= 1
                if live == 0:
                    done.set_result(None)

        for i in range(n):
            when = start + period * i / n
            loop.call_at(when, fire, when)
        cpu0, t0 = _cpu_seconds(), time.monotonic()
        await done
        cpu = _cpu_seconds() - cpu0
        return Lateness(samples, 100.0 * cpu / max(1e-9, time.monotonic() - t0))

    return asyncio.run(main())


def timers_tasks(n: int, period: float, duration: float) -> Lateness:
    """N tasks, each ``await asyncio.sleep(...)`` until its next period; first period unsampled."""

    async def main() -> Lateness:
        loop = asyncio.get_running_loop()
        now = loop.time
        start = now() + 0.02
        sample_from, end = start + period, start + duration
        samples: list[float] = []
        record = samples.append
        sleep = asyncio.sleep

        async def worker(when: float) -> None:
            while when < end:
                await sleep(when - now())
                late = now() - when
                if when >= sample_from:
                    record(late)
                when += period

        cpu0, t0 = _cpu_seconds(), time.monotonic()
        await asyncio.gather(*(worker(start + period * i / n) for i in range(n)))
        cpu = _cpu_seconds() - cpu0
        return Lateness(samples, 100.0 * cpu / max(1e-9, time.monotonic() - t0))

    return asyncio.run(main())


def run_timers(budget_s: float, quick: bool) -> list[Row]:
    n, period = TIMERS_QUICK if quick else TIMERS_FULL
    duration = max(0.05, (budget_s - 0.3) / 2)
    # Tiny budgets (smoke tests) shrink the period so there are sampled rounds at all.
    period = min(period, duration / 3)
    rows: list[Row] = []
    for variant, fn in (("call_at", timers_call_at), ("tasks", timers_tasks)):
        lat = fn(n, period, duration)
        prefix = "raw.timers" if variant == "call_at" else f"raw.timers.{variant}"
        rows += [
            _row(f"{prefix}.p50", lat.percentile_ms(0.50), "ms", "lower"),
            _row(f"{prefix}.p99", lat.percentile_ms(0.99), "ms", "lower"),
            _row(f"{prefix}.max", lat.percentile_ms(1.0), "ms", "lower"),
            _row(f"{prefix}.cpu", lat.cpu_percent, "% core", "lower"),
        ]
        _note(
            f"  timers/{variant}: n={n} period={period:g}s samples={len(lat.samples)} "
            f"p50={lat.percentile_ms(0.5):.3f}ms p99={lat.percentile_ms(0.99):.3f}ms "
            f"max={lat.percentile_ms(1.0):.3f}ms cpu={lat.cpu_percent:.1f}%"
        )
    return rows


# --------------------------------------------------------------------------- plumbing


def _row(name: str, value: float, unit: str, better: Literal["higher", "lower"]) -> Row:
    return Row(name=name, value=value, unit=unit, better=better)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _rates(
    group: str,
    unit: str,
    variants: list[tuple[str, Callable[[float], Rate]]],
    budget_s: float,
    max_rounds: int = 3,
    min_slice_s: float = 0.5,
    reference: frozenset[str] = frozenset(),
) -> list[Row]:
    """Rows per variant, then ``raw.<group>``: the best of them, ``reference`` ones aside.

    The budget is cut into up to ``max_rounds`` x ``len(variants)`` equal
    slices run round-robin, and each variant reports its best slice: a limit is
    the best the machine can do, and interleaving keeps a noisy moment (another
    process, kernel state left by the previous variant) from sinking one
    variant alone. Slices are at least ``min_slice_s`` when the budget allows,
    because a very short slice measures a burst (e.g. connections completing
    in the kernel before the server's accept queue fills), not a sustained
    rate. Slice ends are fixed on one schedule, so set-up costs never push the
    group past its budget.
    """
    rounds = max(1, min(max_rounds, int(budget_s / (len(variants) * min_slice_s))))
    n_slices = rounds * len(variants)
    slice_s = max(0.01, budget_s / n_slices)
    t0 = time.monotonic()
    best: dict[str, Rate] = {}
    for k in range(n_slices):
        variant, fn = variants[k % len(variants)]
        rate = fn(max(time.monotonic() + 0.005, t0 + (k + 1) * slice_s))
        if rate.errors:
            _note(f"  {group}/{variant}: {rate.errors} error(s) ended a slice early")
        # A slice cut short by the previous one's overrun measures a burst; it may
        # only win when the variant has nothing better.
        short = rate.elapsed < slice_s / 2
        prev = best.get(variant)
        if (
            prev is None
            or (rate.per_s > prev.per_s and (not short or prev.elapsed < slice_s / 2))
            or (prev.elapsed < slice_s / 2 and not short)
        ):
            best[variant] = rate
    rows: list[Row] = []
    for variant, _ in variants:
        rate = best[variant]
        _note(
            f"  {group}/{variant}: best slice {rate.count} in {rate.elapsed:.3f}s"
            f" = {rate.per_s:,.0f} {unit}"
        )
        rows.append(_row(f"raw.{group}.{variant}", rate.per_s, unit, "higher"))
    limit = max(r.per_s for v, r in best.items() if v not in reference)
    rows.append(_row(f"raw.{group}", limit, unit, "higher"))
    return rows


GROUPS: dict[str, Callable[[float, bool], list[Row]]] = {
    "spawn": run_spawn,
    "tcp": run_tcp,
    "http": run_http,
    "timers": run_timers,
    "grpc": run_grpc,
}


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.raw GROUP --budget S [--quick]``: print the group's rows as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.raw", description=__doc__)
    parser.add_argument("group", choices=sorted(GROUPS))
    parser.add_argument("--budget", type=float, required=True, help="seconds to spend")
    parser.add_argument("--quick", action="store_true", help="smaller timer population")
    args = parser.parse_args(argv)
    # Hard stop: the default SIGALRM action ends the process whatever it is doing.
    signal.alarm(math.ceil(args.budget * 1.5 + 5))
    rows = GROUPS[args.group](args.budget, args.quick)
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")
    return 0


# --------------------------------------------------------------------------- registration


def _isolated(group: str, ctx: BenchContext) -> list[Measurement]:
    """Run one group in a fresh interpreter and turn its JSON rows into Measurements."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "benchmarks.raw", group, "--budget", repr(ctx.budget_s)]
    if ctx.quick:
        cmd.append("--quick")
    proc = subprocess.run(
        cmd, stdout=subprocess.PIPE, text=True, env=env, timeout=ctx.budget_s * 1.5 + 10
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return [Measurement(r["name"], float(r["value"]), r["unit"], better=r["better"]) for r in rows]


def _register(group: str, quick_budget_s: float, full_budget_s: float) -> None:
    def run(ctx: BenchContext) -> list[Measurement]:
        return _isolated(group, ctx)

    run.__doc__ = f"Raw limit group {group!r}, in its own interpreter."
    benchmark(f"raw.{group}", quick_budget_s, full_budget_s, kind="raw")(run)


# Budgets (seconds): quick ~17 s in all, full ~115 s in all.
_register("spawn", 3.0, 30.0)
_register("tcp", 3.0, 20.0)
_register("http", 3.0, 20.0)
_register("timers", 3.0, 30.0)
_register("grpc", 3.0, 15.0)

if __name__ == "__main__":
    sys.exit(main())

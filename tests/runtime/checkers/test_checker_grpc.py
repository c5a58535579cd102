"""grpc_probe against an in-test grpc.aio server (pkg/probe/grpc/grpc.go behaviour)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers import grpc_probe

pytestmark = pytest.mark.timeout(20)

UA = "kube-probe/1.30"


class _AgentRecorder(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.user_agents: list[str] = []

    async def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        for key, value in details.invocation_metadata:
            if key == "user-agent":
                self.user_agents.append(value)
        return await continuation(details)


@contextlib.asynccontextmanager
async def health_server(
    statuses: dict[str, int] | None, recorder: _AgentRecorder | None = None
) -> AsyncIterator[int]:
    """A grpc.aio server on 127.0.0.1; with `statuses` it serves grpc.health.v1."""
    server = grpc.aio.server(interceptors=[recorder] if recorder else None)
    if statuses is not None:
        servicer = health.aio.HealthServicer()
        for service, status in statuses.items():
            await servicer.set(service, status)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_serving_is_success_and_sends_user_agent() -> None:
    recorder = _AgentRecorder()
    async with health_server({"": SERVING}, recorder) as port:
        outcome = await grpc_probe("127.0.0.1", port, None, 2, user_agent=UA)
    assert outcome == ProbeOutcome(Result.SUCCESS, "service healthy")
    assert recorder.user_agents and recorder.user_agents[0].startswith(UA)


async def test_named_service_not_serving() -> None:
    async with health_server({"": SERVING, "db": NOT_SERVING}) as port:
        outcome = await grpc_probe("127.0.0.1", port, "db", 2, user_agent=UA)
    assert outcome == ProbeOutcome(
        Result.FAILURE, 'service unhealthy (responded with "NOT_SERVING")'
    )


async def test_unknown_service_is_rpc_error() -> None:
    async with health_server({"": SERVING}) as port:
        outcome = await grpc_probe("127.0.0.1", port, "nope", 2, user_agent=UA)
    assert outcome.result is Result.FAILURE
    assert outcome.output.startswith(
        "error: health rpc probe failed: rpc error: code = NotFound desc = "
    )


async def test_unimplemented() -> None:
    async with health_server(None) as port:
        outcome = await grpc_probe("127.0.0.1", port, None, 2, user_agent=UA)
    assert outcome.result is Result.FAILURE
    assert outcome.output.startswith(
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
    )


async def test_nothing_listening_times_out_connecting() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcome = await grpc_probe("127.0.0.1", port, None, 0.3, user_agent=UA)
        elapsed = loop.time() - start
    # grpc.go dials with WithBlock: it retries until the deadline, then reports the timeout.
    assert outcome == ProbeOutcome(
        Result.FAILURE,
        f'timeout: failed to connect service "127.0.0.1:{port}" within 300ms: '
        "context deadline exceeded",
    )
    assert elapsed < 1.5


async def test_repeated_probes_close_their_channels() -> None:
    async with health_server({"": SERVING}) as port:
        outcomes = await asyncio.gather(
            *(grpc_probe("127.0.0.1", port, None, 5, user_agent=UA) for _ in range(20))
        )
    assert {o.output for o in outcomes} == {"service healthy"}


class _SlowHealth(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    async def Check(self, request, context):  # type: ignore[no-untyped-def]
        await asyncio.sleep(5)
        return health_pb2.HealthCheckResponse(status=SERVING)


async def test_rpc_deadline() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(_SlowHealth(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        outcome = await grpc_probe("127.0.0.1", port, None, 0.3, user_agent=UA)
    finally:
        await server.stop(None)
    assert outcome == ProbeOutcome(
        Result.FAILURE, "timeout: health rpc did not complete within 300ms"
    )

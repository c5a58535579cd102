"""The grpc probe: `grpc.health.v1.Health/Check` over a fresh plaintext channel.

Copies `pkg/probe/grpc/grpc.go`: blocking dial and the RPC share one deadline;
every outcome is Success or Failure with the kubelet's exact texts.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.checkers._dial import numeric_host
from podkeeper.runtime.checkers._go import go_duration, go_quote, join_host_port

_CHECK = "/grpc.health.v1.Health/Check"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_HEALTHY = ProbeOutcome(Result.SUCCESS, "service healthy")

# grpc-go's codes.Code.String() spellings (Python's enum names are upper snake case).
_GO_CODE_NAMES = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}


@functools.lru_cache(maxsize=64)
def _options(user_agent: str) -> tuple[tuple[str, Any], ...]:
    return (
        ("grpc.primary_user_agent", user_agent),  # grpc.WithUserAgent
        # A new connection per probe, as the kubelet dials anew each time: without this,
        # channels to the same target share subchannels (and their connections).
        ("grpc.use_local_subchannel_pool", 1),
        # grpc-go skips proxies when given a custom dialer, as the kubelet's is.
        ("grpc.enable_http_proxy", 0),
        ("grpc.enable_retries", 0),
    )


@functools.lru_cache(maxsize=1024)
def _target(host: str, port: int) -> str:
    """The channel target; IP literals skip the DNS resolver."""
    numeric = numeric_host(host)
    if numeric is None:
        return f"dns:///{join_host_port(host, port)}"
    scheme = "ipv6" if ":" in numeric[1] else "ipv4"
    return f"{scheme}:{join_host_port(host, port)}"


@functools.lru_cache(maxsize=1024)
def _request(service: str) -> bytes:
    return health_pb2.HealthCheckRequest(service=service).SerializeToString()  # type: ignore[no-any-return]


def _status_name(status: int) -> str:
    try:
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
    except ValueError:
        return str(status)  # Go prints an unknown enum value as its number


async def grpc_probe(
    host: str, port: int, service: str | None, timeout: float, *, user_agent: str
) -> ProbeOutcome:
    """Call `grpc.health.v1.Health/Check{service or ""}` on `host:port` within `timeout` seconds.

    SERVING → SUCCESS `service healthy`; anything else FAILURE, as in
    `pkg/probe/grpc/grpc.go`:
    `service unhealthy (responded with "NOT_SERVING")`,
    `timeout: failed to connect service "<addr>" within <t>: context deadline exceeded`
    (the dial blocks until the deadline, so nothing listening ends this way),
    `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): <msg>`,
    `timeout: health rpc did not complete within <t>`,
    `error: health rpc probe failed: rpc error: code = <Code> desc = <msg>`.
    The channel is closed every time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    addr = join_host_port(host, port)
    try:
        channel = grpc.aio.insecure_channel(_target(host, port), options=_options(user_agent))
    except Exception as err:  # an unusable target: grpc.go's "other dial error"
        return ProbeOutcome(
            Result.FAILURE, f"error: failed to connect service at {go_quote(addr)}: {err}"
        )
    try:
        try:
            async with asyncio.timeout_at(deadline):
                await channel.channel_ready()
        except TimeoutError:
            return ProbeOutcome(
                Result.FAILURE,
                f"timeout: failed to connect service {go_quote(addr)} within "
                f"{go_duration(timeout)}: context deadline exceeded",
            )
        check = channel.unary_unary(
            _CHECK,
            request_serializer=None,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            remaining = max(deadline - loop.time(), 0.0)
            response = await check(_request(service or ""), timeout=remaining)
        except grpc.aio.AioRpcError as err:
            return _rpc_failure(err, timeout)
    except Exception as err:  # a prober bug must not kill the probe worker: report, retry
        return ProbeOutcome(Result.UNKNOWN, "", error=f"grpc probe: {err!r}")
    finally:
        await channel.close()
    if response.status != _SERVING:
        name = go_quote(_status_name(response.status))
        return ProbeOutcome(Result.FAILURE, f"service unhealthy (responded with {name})")
    return _HEALTHY


def _rpc_failure(err: Any, timeout: float) -> ProbeOutcome:
    code = err.code()
    message = err.details() or ""
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ProbeOutcome(
            Result.FAILURE,
            "error: this server does not implement the grpc health protocol "
            f"(grpc.health.v1.Health): {message}",
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ProbeOutcome(
            Result.FAILURE, f"timeout: health rpc did not complete within {go_duration(timeout)}"
        )
    name = _GO_CODE_NAMES.get(code.name, code.name)
    return ProbeOutcome(
        Result.FAILURE, f"error: health rpc probe failed: rpc error: code = {name} desc = {message}"
    )

"""agnhost `grpc-health-checking`: grpc.health.v1 answering SERVING; loopback only."""

from __future__ import annotations

import argparse
import os
import signal
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    # agnhost is a Go program: the Go runtime exits on SIGTERM even as PID 1 (exit 2).
    # A Python PID 1 would ignore it, so say so explicitly.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(2))
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5000)
    args = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"0.0.0.0:{args.port}")  # the pod IP, as in a pod
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()

"""Probe checkers: plain async functions of host, port and timeout that know nothing about pods.

Each returns a `podkeeper.core.result.ProbeOutcome` whose `output` is the text
the kubelet's handler would return (`pkg/probe/{exec,http,tcp,grpc}`), so
events read exactly like Kubernetes'.
"""

from __future__ import annotations

from podkeeper.runtime.checkers._go import go_duration, go_quote
from podkeeper.runtime.checkers._request import canonical_header_key
from podkeeper.runtime.checkers.exec import exec_probe
from podkeeper.runtime.checkers.grpc import grpc_probe
from podkeeper.runtime.checkers.http import http_probe
from podkeeper.runtime.checkers.tcp import tcp_probe

__all__ = [
    "canonical_header_key",
    "exec_probe",
    "go_duration",
    "go_quote",
    "grpc_probe",
    "http_probe",
    "tcp_probe",
]

"""Probe handler results, as `pkg/probe/probe.go` defines them.

A checker returns a `ProbeOutcome`. `error` is set only when the *prober*
failed (e.g. a named port that does not resolve); the target failing is a
`FAILURE` with `error=None`. The kubelet retries errors up to 3 times and then
discards the result (`pkg/kubelet/prober/prober.go` `runProbeWithRetries`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Result(Enum):
    SUCCESS = "success"
    WARNING = "warning"  # logically a success, with extra information (e.g. unfollowed redirect)
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe execution returned. `output` is the text events quote."""

    result: Result
    output: str = ""
    error: str | None = None

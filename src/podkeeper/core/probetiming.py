"""The time windows a probe configuration allows, as the kubelet's probe worker produces them.

Pure arithmetic over `core.spec.Probe` (seconds, defaults already applied), or
any record with the same timing fields (`ProbeTiming`): the linter predicts with
it, the verdict rules (core/verdict.py) judge a liveness kill with it (issue 15).
The facts used, all from `pkg/kubelet/prober/worker.go` (see
`../shared/spec/kubelet-semantics.md` §1.2):

- Each worker probes on a `time.Ticker(periodSeconds)` whose phase is set when
  the worker is created, not when the container starts. Relative to the
  container's start the first tick therefore falls anywhere in one period:
  every window below has an *earliest* and a *latest* value one period apart.
- The initial delay is checked as `int32(time.Since(startedAt).Seconds()) <
  initialDelaySeconds` (age truncated to whole seconds), so the first probe
  may run at exactly `initialDelaySeconds` and at the latest one period later.
- Thresholds count consecutive identical results; the cached result changes
  on the `failureThreshold`-th failure (or `successThreshold`-th success).
  With probes one period apart, N results take (N-1) periods after the first.
- `doProbe` runs the probe synchronously, so a hung target is seen as a
  failure only after `timeoutSeconds`.
- A not-ready container's readiness worker is also triggered on every status
  pass (`prober_manager.go` `UpdatePodStatus`), so readiness *successes* can
  come sooner than the period; the earliest values below stay valid lower
  bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ProbeTiming(Protocol):
    """The timing fields of a probe (seconds, defaults applied): `core.spec.Probe`, or the
    probe configuration an evidence record read from a cluster (`core.evidence.ProbeConfig`)."""

    @property
    def initial_delay_seconds(self) -> int: ...
    @property
    def timeout_seconds(self) -> int: ...
    @property
    def period_seconds(self) -> int: ...
    @property
    def success_threshold(self) -> int: ...
    @property
    def failure_threshold(self) -> int: ...


Probe = ProbeTiming


@dataclass(frozen=True)
class Window:
    """A moment in seconds after some start, known only within one probe period.

    `earliest` is reached when the worker's tick lands exactly on the first
    eligible moment, `latest` (exclusive) when it lands just after it.
    """

    earliest: float
    latest: float

    def text(self) -> str:
        """`30s` when both ends agree, else `20-30s`."""
        if self.earliest == self.latest:
            return f"{_num(self.earliest)}s"
        return f"{_num(self.earliest)}-{_num(self.latest)}s"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def failure_window(probe: Probe) -> Window:
    """From container start to the `failureThreshold`-th failure of a target that never answers.

    The first probe runs at `initialDelaySeconds` at the earliest (truncated
    age, worker.go step 8) and one period later at the latest; the failures
    that follow are one period apart. For liveness this is when the kubelet
    kills the container; for a startup probe it is the longest startup the
    probe tolerates. A target that refuses connections fails at once, so no
    timeout is added.
    """
    first = float(probe.initial_delay_seconds)
    runs = (probe.failure_threshold - 1) * probe.period_seconds
    return Window(first + runs, first + runs + probe.period_seconds)


def first_success(probe: Probe) -> Window:
    """From container start to the earliest moment readiness can report Ready.

    `successThreshold` consecutive successes are needed, the first at
    `initialDelaySeconds` at the earliest; the later ones one period apart
    (earliest), or as soon as the next status pass triggers the worker.
    """
    first = float(probe.initial_delay_seconds)
    runs = (probe.success_threshold - 1) * probe.period_seconds
    return Window(first + runs, first + runs + probe.period_seconds)


def hang_detection(probe: Probe) -> Window:
    """From the moment a running container hangs to the `failureThreshold`-th failed probe.

    The next tick comes within one period of the hang; each failing probe of
    a hung target returns only after `timeoutSeconds`. So the result flips
    after `(failureThreshold-1) × period + timeout` at the earliest and
    `failureThreshold × period + timeout` at the latest.
    """
    runs = (probe.failure_threshold - 1) * probe.period_seconds + probe.timeout_seconds
    return Window(float(runs), float(runs + probe.period_seconds))


def nominal_failure(probe: Probe) -> float:
    """`initialDelaySeconds + failureThreshold × periodSeconds`, the documented window."""
    return float(probe.initial_delay_seconds + probe.failure_threshold * probe.period_seconds)


def nominal_hang_detection(probe: Probe) -> float:
    """`failureThreshold × periodSeconds + timeoutSeconds`: time to act on a hung container."""
    return float(probe.failure_threshold * probe.period_seconds + probe.timeout_seconds)

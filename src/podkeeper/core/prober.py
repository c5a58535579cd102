"""One probe worker per (pod, container, probe type): the kubelet's `worker.go` as pure state.

The kubelet runs `doProbe` once when the worker starts, then on every tick of
a `time.Ticker(period)` created with the worker (so its phase is the pod's
creation, kept across container restarts), and on a manual trigger, which in
v1.28+ also resets the ticker (`pkg/kubelet/prober/worker.go` `run`). A Go
ticker buffers one tick: a tick that comes while a probe runs is delivered as
soon as it returns, later ones are dropped. Here the same schedule is data:
`next_tick`, `tick_pending` and `in_flight`, driven by the pod machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podkeeper.core.result import Result
from podkeeper.core.spec import Probe, ProbeType

# The value a fresh container ID gets in each results cache (`newWorker` in worker.go).
INITIAL_RESULT: dict[ProbeType, Result] = {
    ProbeType.READINESS: Result.FAILURE,  # not ready until a probe succeeds
    ProbeType.LIVENESS: Result.SUCCESS,  # healthy until proven otherwise
    ProbeType.STARTUP: Result.UNKNOWN,
}

MAX_PROBE_RETRIES = 3  # prober.go maxProbeRetries: only errors are retried


@dataclass
class ProbeWorker:
    """Scheduling and threshold state of one worker. Times are clock seconds."""

    probe_type: ProbeType
    probe: Probe
    container: str
    next_tick: float
    # Threshold counting (worker.go lastResult/resultRun). These survive a
    # container restart; they are zeroed only when a liveness failure or a
    # startup result puts the worker on hold (issue 117153 fix).
    last_result: Result = Result.UNKNOWN
    result_run: int = 0
    on_hold: bool = False
    container_id: str | None = None
    in_flight: bool = False
    tick_pending: bool = False
    manual_pending: bool = False
    attempt: int = 0
    stopped: bool = False
    # Results cache for this probe type, by container instance ID (results_manager.go).
    cache: dict[str, Result] = field(default_factory=dict)

    @property
    def period(self) -> float:
        return float(self.probe.period_seconds)

    def cached(self, container_id: str | None) -> Result | None:
        return self.cache.get(container_id) if container_id else None

    def set_result(self, container_id: str, result: Result) -> bool:
        """`results.Manager.Set`: store; say whether it changed (only then is an update sent)."""
        previous = self.cache.get(container_id)
        self.cache[container_id] = result
        return previous is not result

    def new_container(self, container_id: str) -> None:
        """Step 4 of doProbe: a new container ID gets the type's initial value; hold is cleared."""
        if self.container_id is not None:
            self.cache.pop(self.container_id, None)
        self.container_id = container_id
        self.cache[container_id] = INITIAL_RESULT[self.probe_type]
        self.on_hold = False

    def count(self, result: Result) -> bool:
        """Steps 12-13: count consecutive identical results; True when the threshold is reached."""
        if result is self.last_result:
            self.result_run += 1
        else:
            self.last_result = result
            self.result_run = 1
        if result is Result.FAILURE:
            return self.result_run >= self.probe.failure_threshold
        return self.result_run >= self.probe.success_threshold

    def due(self, now: float) -> bool:
        return (
            not self.stopped
            and not self.in_flight
            and (self.manual_pending or now >= self.next_tick)
        )

    def advance(self, now: float) -> None:
        """Consume what made the worker due: a tick moves to the next period boundary after
        `now`; a manual trigger resets the ticker to one full period from now."""
        if self.manual_pending:
            self.manual_pending = False
            self.next_tick = now + self.period
            return
        while self.next_tick <= now:
            self.next_tick += self.period

    def on_tick_while_busy(self, now: float) -> None:
        """A tick during a running probe is buffered (one, like a Go ticker channel)."""
        if self.in_flight and now >= self.next_tick:
            self.tick_pending = True
            while self.next_tick <= now:
                self.next_tick += self.period

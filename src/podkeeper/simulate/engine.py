"""Discrete-event driver for the core: the agent's decisions under a virtual clock.

`Simulation` feeds a modelled application into the very `PodMachine` the
agent runs, jumping from one deadline to the next (trio's MockClock idea), so
ten simulated minutes take milliseconds. The application is a function of
(container, probe type, target, seconds since the instance started) giving a
probe outcome, plus when instances exit on their own and how they react to
SIGTERM.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from podkeeper.core.actions import Action, KillContainer, PodFinished, RunProbe, StartContainer
from podkeeper.core.events import Event
from podkeeper.core.pod import PodMachine
from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import Pod, ProbeType

ProbeModel = Callable[[str, ProbeType, object, float], ProbeOutcome]
"""(container, probe type, resolved target, seconds since instance start) -> outcome."""


@dataclass
class AppModel:
    """How the modelled application behaves. Times are seconds since an instance started."""

    probe: ProbeModel = lambda c, t, target, age: ProbeOutcome(Result.SUCCESS)
    probe_latency: float = 0.0
    exit_after: Callable[[str, int], float | None] = lambda container, restart: None
    exit_code: Callable[[str, int], int] = lambda container, restart: 1
    # Seconds from SIGTERM to exit; None = ignores SIGTERM (SIGKILL after the grace: 137).
    sigterm_exit_after: float | None = 0.0
    sigterm_exit_code: int = 143
    start_fails: Callable[[str, int], str | None] = lambda container, restart: None


@dataclass(frozen=True)
class Step:
    """One line of the timeline."""

    time: float
    kind: str  # probe, start, started, exit, kill, event, ready, phase
    container: str
    detail: str
    probe_type: str = ""
    result: str = ""


@dataclass
class Simulation:
    pod: Pod
    app: AppModel = field(default_factory=AppModel)
    start: float = 0.0
    timeline: list[Step] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.now = self.start
        self.machine = PodMachine(self.pod, self.start)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._started_at: dict[str, float] = {}
        self._restart: dict[str, int] = {}
        self._ready = False
        self._phase = ""
        self._collect()

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), fn))

    def run(self, until: float) -> Simulation:
        """Advance the virtual clock to `until` seconds after start."""
        end = self.start + until
        while True:
            wake = self.machine.next_wakeup()
            nxt = self._queue[0][0] if self._queue else None
            candidates = [t for t in (wake, nxt) if t is not None]
            if not candidates:
                break
            t = max(min(candidates), self.now)
            if t > end:
                break
            self.now = t
            while self._queue and self._queue[0][0] <= t:
                _, _, fn = heapq.heappop(self._queue)
                fn()
            self._perform(self.machine.poll(t))
            self._collect()
        self.now = end
        return self

    # ------------------------------------------------------------------ internals

    def _step(
        self, kind: str, container: str, detail: str, ptype: str = "", result: str = ""
    ) -> None:
        self.timeline.append(Step(self.now, kind, container, detail, ptype, result))

    def _collect(self) -> None:
        for e in self.machine.drain_events():
            self.events.append(e)
            self._step(
                "event",
                (e.field_path or "").partition("{")[2].rstrip("}"),
                f"{e.type} {e.reason}: {e.message}",
            )
        ready = self.machine.pod_ready
        if ready != self._ready:
            self._ready = ready
            self._step("ready", "", "Ready" if ready else "NotReady")
        phase = self.machine.phase()
        if phase != self._phase:
            self._phase = phase
            self._step("phase", "", phase)

    def _perform(self, actions: Sequence[Action]) -> None:
        for a in actions:
            if isinstance(a, StartContainer):
                self._start(a)
            elif isinstance(a, RunProbe):
                self._probe(a)
            elif isinstance(a, KillContainer):
                self._kill(a)
            elif isinstance(a, PodFinished):
                self._step("finished", "", "all containers stopped")

    def _start(self, a: StartContainer) -> None:
        name, iid, rc = a.container, a.instance_id, a.restart_count
        self._step("start", name, f"restart #{rc}")
        error = self.app.start_fails(name, rc)
        now = self.now

        def go() -> None:
            if error:
                self.machine.container_start_failed(name, iid, error, self.now)
                return
            self._started_at[iid] = self.now
            self.machine.container_started(name, iid, self.now)
            after = self.app.exit_after(name, rc)
            if after is not None:
                code = self.app.exit_code(name, rc)
                self.at(self.now + after, lambda: self._exit(name, iid, code, "exited on its own"))

        self.at(now, go)

    def _exit(self, name: str, iid: str, code: int, why: str) -> None:
        inst = self.machine._instance(name, iid)
        if inst is None or inst.finished_at is not None:
            return
        self._step("exit", name, f"exit {code} ({why})")
        self.machine.container_exited(name, iid, code, self.now)

    def _probe(self, a: RunProbe) -> None:
        age = self.now - self._started_at.get(a.instance_id, self.now)
        outcome = self.app.probe(a.container, a.probe_type, a.target, age)
        latency = self.app.probe_latency
        if latency >= a.timeout_seconds:
            latency = float(a.timeout_seconds)
            outcome = ProbeOutcome(Result.FAILURE, f"probe timed out after {a.timeout_seconds}s")

        def done() -> None:
            self._step(
                "probe", a.container, outcome.output, a.probe_type.value, outcome.result.value
            )
            self.machine.probe_finished(a.container, a.instance_id, a.probe_type, outcome, self.now)

        self.at(self.now + latency, done)

    def _kill(self, a: KillContainer) -> None:
        self._step("kill", a.container, f"{a.message} (grace {a.grace_seconds}s)")
        after = self.app.sigterm_exit_after
        if after is None or after >= max(a.grace_seconds, 2):
            self.at(
                self.now + max(a.grace_seconds, 2),
                lambda: self._exit(a.container, a.instance_id, 137, "SIGKILL after grace"),
            )
        else:
            code = self.app.sigterm_exit_code
            self.at(
                self.now + after, lambda: self._exit(a.container, a.instance_id, code, "SIGTERM")
            )

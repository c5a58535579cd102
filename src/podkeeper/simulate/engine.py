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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from podkeeper.core.actions import (
    Action,
    ExecTarget,
    KillContainer,
    PodFinished,
    RunProbe,
    SleepTarget,
    StartContainer,
    Target,
)
from podkeeper.core.duration import go_duration
from podkeeper.core.events import Event
from podkeeper.core.pod import PodMachine
from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import Pod, ProbeType
from podkeeper.core.termination import grace_after_pre_stop, pre_stop_budget


@dataclass(frozen=True)
class ProbeCall:
    """What a modelled probe is asked: the resolved target and the instance it hits."""

    container: str
    probe_type: ProbeType
    target: Target
    timeout_seconds: int
    age: float  # seconds since this instance started
    restart_count: int
    since_sigterm: float | None  # seconds since the instance got SIGTERM, None if it did not
    time: float = 0.0  # seconds since the simulation started


@dataclass(frozen=True)
class ProbeReply:
    """A modelled probe's outcome and how long it took (capped at the timeout by the engine)."""

    outcome: ProbeOutcome
    latency: float = 0.0


def _always_ok(call: ProbeCall) -> ProbeReply:
    return ProbeReply(ProbeOutcome(Result.SUCCESS))


@dataclass
class AppModel:
    """How the modelled application behaves. Times are seconds since an instance started.

    `sigterm(container)` gives (seconds from SIGTERM to exit, exit code); None as the
    time means the process ignores SIGTERM and dies by SIGKILL (137) after the grace."""

    probe: Callable[[ProbeCall], ProbeReply] = _always_ok
    exit_after: Callable[[str, int], float | None] = lambda container, restart: None
    exit_code: Callable[[str, int], int] = lambda container, restart: 1
    sigterm: Callable[[str], tuple[float | None, int]] = lambda container: (0.0, 143)
    start_fails: Callable[[str, int], str | None] = lambda container, restart: None
    pre_stop: Callable[[str, Target], float] = lambda container, hook: hook_seconds(hook)


_SLEEP_RE = re.compile(r"(?:^|[;&|]\s*|\bsh -c\s+)sleep\s+(\d+(?:\.\d+)?)(s|m)?\b")


def hook_seconds(hook: Target) -> float:
    """How long a preStop hook runs: a `sleep` action's seconds, or the `sleep N` of an exec
    hook (the usual drain delay); other hooks are taken as instant."""
    if isinstance(hook, SleepTarget):
        return float(hook.seconds)
    if isinstance(hook, ExecTarget):
        total = 0.0
        for m in _SLEEP_RE.finditer(" ".join(hook.argv)):
            total += float(m.group(1)) * (60 if m.group(2) == "m" else 1)
        return total
    return 0.0


@dataclass(frozen=True)
class Step:
    """One line of the timeline."""

    time: float
    # probe, start (asked), exit, kill, delete, event, ready (pod), phase, finished,
    # started / container-ready (that container's status flags, detail "true"/"false")
    kind: str
    container: str
    detail: str
    probe_type: str = ""
    result: str = ""
    duration: float = 0.0  # probes: seconds from the probe's start to its result


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
        self._sigterm_at: dict[str, float] = {}
        self._ready = False
        self._phase = ""
        self._flags: dict[tuple[str, str], bool] = {}
        self._polled = False
        self._collect()

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), fn))

    def run(self, until: float) -> Simulation:
        """Advance the virtual clock to `until` seconds after start."""
        end = self.start + until
        if not self._polled:
            # The first sync starts the containers even when nothing else is due (a pod
            # without probes has no wake-up of its own: issue 14).
            self._polled = True
            self._perform(self.machine.poll(self.now))
            self._collect()
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

    def delete(self, at: float, grace_period_seconds: int | None = None) -> None:
        """Schedule a graceful deletion `at` seconds after the start (as `kubectl delete`)."""

        def go() -> None:
            self._step("delete", "", "pod deleted")
            self.machine.delete(self.now, grace_period_seconds)

        self.at(self.start + at, go)

    def _step(
        self,
        kind: str,
        container: str,
        detail: str,
        ptype: str = "",
        result: str = "",
        duration: float = 0.0,
    ) -> None:
        self.timeline.append(Step(self.now, kind, container, detail, ptype, result, duration))

    def _collect(self) -> None:
        for e in self.machine.drain_events():
            self.events.append(e)
            self._step(
                "event",
                (e.field_path or "").partition("{")[2].rstrip("}"),
                f"{e.type} {e.reason}: {e.message}",
            )
        m = self.machine
        for name, rec in m.records.items():
            # containerStatuses[].started / .ready as the API would show them
            for kind, value in (("started", m.started(rec)), ("container-ready", m.ready(rec))):
                if self._flags.get((kind, name), False) != value:
                    self._flags[(kind, name)] = value
                    self._step(kind, name, "true" if value else "false")
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
            self._restart[iid] = rc
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
        iid = a.instance_id
        age = self.now - self._started_at.get(iid, self.now)
        sigterm_at = self._sigterm_at.get(iid)
        call = ProbeCall(
            a.container,
            a.probe_type,
            a.target,
            a.timeout_seconds,
            age,
            self._restart.get(iid, 0),
            None if sigterm_at is None else self.now - sigterm_at,
            self.now - self.start,
        )
        reply = self.app.probe(call)
        outcome, latency = reply.outcome, max(reply.latency, 0.0)
        if latency >= a.timeout_seconds and outcome.error is None:
            # The checker gives up at timeoutSeconds: a Failure whose text says so.
            latency = float(a.timeout_seconds)
            if outcome.result is not Result.FAILURE or not outcome.output:
                outcome = ProbeOutcome(
                    Result.FAILURE, f"probe timed out after {go_duration(a.timeout_seconds)}"
                )
        began = self.now

        def done() -> None:
            self._step(
                "probe",
                a.container,
                outcome.error or outcome.output,
                a.probe_type.value,
                "error" if outcome.error is not None else outcome.result.value,
                self.now - began,
            )
            self.machine.probe_finished(a.container, iid, a.probe_type, outcome, self.now)

        self.at(self.now + latency, done)

    def _kill(self, a: KillContainer) -> None:
        self._step("kill", a.container, f"{a.message} (grace {a.grace_seconds}s)")
        iid = a.instance_id
        budget = pre_stop_budget(a.grace_seconds)
        if a.pre_stop is None or budget is None:
            self._sigterm(a.container, iid, a.grace_seconds)
            return
        # The kubelet runs preStop first, waits for it at most the grace period, then
        # sends SIGTERM with what is left, never under 2 s (kuberuntime_container.go
        # killContainer / executePreStopHook).
        took = min(self.app.pre_stop(a.container, a.pre_stop), budget)
        self._step("prestop", a.container, f"preStop hook runs {go_duration(took)}")
        left = grace_after_pre_stop(a.grace_seconds, took)
        self.at(self.now + took, lambda: self._sigterm(a.container, iid, left))

    def _sigterm(self, container: str, iid: str, grace: int) -> None:
        inst = self.machine._instance(container, iid)
        if inst is None or inst.finished_at is not None:
            return
        self._step("sigterm", container, f"SIGTERM, SIGKILL in {grace}s")
        self._sigterm_at.setdefault(iid, self.now)
        after, code = self.app.sigterm(container)
        if after is None or after >= grace:
            self.at(self.now + grace, lambda: self._exit(container, iid, 137, "SIGKILL"))
        else:
            self.at(self.now + after, lambda: self._exit(container, iid, code, "SIGTERM"))

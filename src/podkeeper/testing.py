"""Fakes for tests of podkeeper and of code built on it: a fake clock, a pod harness, and
(from runtime/) `FakeContainerRuntime` with the contract every runtime keeps.

`FakeClock` is the clock the agent would read, moved by hand (trio's
MockClock idea, without the autojump). `PodHarness` drives a
`podkeeper.core.pod.PodMachine` the way the agent's runtime does, but every
answer comes from the test: which starts succeed, what each probe returns,
when a container exits. Nothing sleeps; a ten-minute scenario is a loop.

    clock = FakeClock()
    h = PodHarness(pod, clock)
    h.start_pending()                      # the runtime started what the core asked
    clock.advance(10)
    h.poll()
    h.answer_probes(ProbeType.LIVENESS, ProbeOutcome(Result.FAILURE, "boom"))
    assert h.kills()[0].message == "Container app failed liveness probe, will be restarted"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podkeeper.core.actions import Action, KillContainer, PodFinished, RunProbe, StartContainer
from podkeeper.core.events import Event
from podkeeper.core.pod import ContainerRecord, PodMachine
from podkeeper.core.result import ProbeOutcome
from podkeeper.core.spec import Container, ObjectMeta, Pod, PodSpec, ProbeType
from podkeeper.runtime.contract import check_container_runtime
from podkeeper.runtime.fake import FakeContainerRuntime

__all__ = [
    "FakeClock",
    "FakeContainerRuntime",
    "PodHarness",
    "check_container_runtime",
    "make_pod",
]


def make_pod(
    *containers: Container,
    init_containers: tuple[Container, ...] = (),
    restart_policy: str = "Always",
    termination_grace_period_seconds: int = 30,
    name: str = "p",
    uid: str = "uid",
) -> Pod:
    """A pod in namespace `default` (so `pod.key` is `p_default(uid)`), defaults applied."""
    return Pod(
        ObjectMeta(name, uid=uid),
        PodSpec(
            containers,
            init_containers=init_containers,
            restart_policy=restart_policy,
            termination_grace_period_seconds=termination_grace_period_seconds,
        ),
    )


@dataclass
class FakeClock:
    """A monotonic clock in seconds that only moves when told to."""

    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        self.now += seconds
        return self.now

    def set(self, when: float) -> float:
        """Jump to `when` (not earlier than now)."""
        if when < self.now:
            raise ValueError(f"cannot go back from {self.now} to {when}")
        self.now = when
        return self.now


@dataclass
class PodHarness:
    """A `PodMachine` plus the actions it asked for, answered by the test.

    Every action from `poll` is kept in `actions` (all of them, in order) and
    in `pending` until the test answers it. Events accumulate in `events`."""

    pod: Pod
    clock: FakeClock = field(default_factory=FakeClock)
    actions: list[Action] = field(default_factory=list)
    pending: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each of `actions` was asked

    def __post_init__(self) -> None:
        self.machine = PodMachine(self.pod, self.clock.now)
        self.poll()

    # ---------------------------------------------------------------- driving

    def poll(self) -> list[Action]:
        """`poll(now)` and remember the actions and events."""
        new = self.machine.poll(self.clock.now)
        self.actions.extend(new)
        self.times.extend(self.clock.now for _ in new)
        self.pending.extend(new)
        self.events.extend(self.machine.drain_events())
        return new

    def advance(self, seconds: float) -> list[Action]:
        """Move the clock by `seconds`, stopping at every wakeup on the way, polling each time."""
        end = self.clock.now + seconds
        out: list[Action] = []
        while True:
            wake = self.machine.next_wakeup()
            if wake is None or wake > end:
                break
            self.clock.set(max(wake, self.clock.now))
            out.extend(self.poll())
        self.clock.set(end)
        out.extend(self.poll())
        return out

    def _take(self, kind: type[Action], container: str | None = None) -> list[Action]:
        taken = [
            a
            for a in self.pending
            if isinstance(a, kind)
            and (container is None or getattr(a, "container", None) == container)
        ]
        self.pending = [a for a in self.pending if a not in taken]
        return taken

    def start_pending(self, container: str | None = None) -> list[StartContainer]:
        """Report every pending `StartContainer` as started now."""
        starts = [a for a in self._take(StartContainer, container) if isinstance(a, StartContainer)]
        for a in starts:
            self.machine.container_started(a.container, a.instance_id, self.clock.now)
        self.poll()
        return starts

    def fail_start(self, container: str, message: str) -> None:
        for a in self._take(StartContainer, container):
            assert isinstance(a, StartContainer)
            self.machine.container_start_failed(a.container, a.instance_id, message, self.clock.now)
        self.poll()

    def probes(self, probe_type: ProbeType | None = None) -> list[RunProbe]:
        """Pending `RunProbe` actions (not taken)."""
        return [
            a
            for a in self.pending
            if isinstance(a, RunProbe) and (probe_type is None or a.probe_type is probe_type)
        ]

    def answer_probes(
        self, probe_type: ProbeType, outcome: ProbeOutcome, container: str | None = None
    ) -> int:
        """Answer every pending probe of `probe_type` with `outcome`; return how many."""
        todo = [a for a in self.probes(probe_type) if container is None or a.container == container]
        self.pending = [a for a in self.pending if a not in todo]
        for a in todo:
            self.machine.probe_finished(
                a.container, a.instance_id, a.probe_type, outcome, self.clock.now
            )
        self.poll()
        return len(todo)

    def exit(self, container: str, code: int, reason: str = "") -> None:
        """The current instance of `container` exits with `code`."""
        inst = self.record(container).current
        assert inst is not None
        self.machine.container_exited(container, inst.id, code, self.clock.now, reason)
        self.poll()

    def finish_kills(self, code: int = 143) -> list[KillContainer]:
        """Every pending kill ends now with `code` (143: died on SIGTERM)."""
        kills = [a for a in self._take(KillContainer) if isinstance(a, KillContainer)]
        for a in kills:
            self.machine.container_exited(a.container, a.instance_id, code, self.clock.now)
        self.poll()
        return kills

    # ---------------------------------------------------------------- reading

    def record(self, container: str) -> ContainerRecord:
        return self.machine.records[container]

    def kills(self) -> list[KillContainer]:
        return [a for a in self.actions if isinstance(a, KillContainer)]

    def starts(self, container: str | None = None) -> list[StartContainer]:
        return [
            a
            for a in self.actions
            if isinstance(a, StartContainer) and (container is None or a.container == container)
        ]

    def probe_times(self, probe_type: ProbeType, container: str | None = None) -> list[float]:
        """When each probe of `probe_type` was asked for (retries included)."""
        return [
            t
            for a, t in zip(self.actions, self.times, strict=True)
            if isinstance(a, RunProbe)
            and a.probe_type is probe_type
            and (container is None or a.container == container)
        ]

    def finished(self) -> bool:
        return any(isinstance(a, PodFinished) for a in self.actions)

    def messages(self, reason: str | None = None) -> list[str]:
        return [e.message for e in self.events if reason is None or e.reason == reason]

    def ready(self, container: str) -> bool:
        return self.machine.ready(self.record(container))

    def started(self, container: str) -> bool:
        return self.machine.started(self.record(container))


def cgroup_skip_reason(probe_name: str = "podkeeper-probe") -> str:
    """Why tests that need per-container cgroups cannot run here, or "" when they can.

    Creates (and removes) a throw-away root cgroup to find out, as the agent does."""
    import os

    from podkeeper.runtime.cgroups import CgroupManager

    if os.geteuid() != 0:
        return "needs root: the agent creates a cgroup per container instance"
    mgr = CgroupManager(root_name=f"{probe_name}-{os.getpid()}")
    ok, why = mgr.available()
    mgr.remove_root()
    return "" if ok else f"cgroups unavailable here: {why}"

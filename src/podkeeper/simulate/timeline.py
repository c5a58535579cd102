"""What a simulation means for the people running the pod: a summary and text/JSON renderings.

`summarize` reads a finished `Simulation` (its timeline and kubelet events)
and answers: when did the pod first become Ready, how long was it out of
rotation afterwards, how often was each container restarted, how long did the
kubelet take to notice an injected fault, and when was a container waiting in
CrashLoopBackOff. Times are seconds from the pod's creation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from podkeeper.core.duration import go_duration
from podkeeper.simulate.engine import Simulation


@dataclass(frozen=True)
class Interval:
    container: str
    start: float
    end: float  # the end of the simulation when still open
    detail: str = ""

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Instance:
    """One container instance's life: from its start to its exit (or the end)."""

    container: str
    restart_count: int
    start: float
    end: float
    exit_code: int | None
    how: str  # "exited on its own", "SIGTERM", "SIGKILL", "" while running


@dataclass(frozen=True)
class Kill:
    time: float
    container: str
    message: str


@dataclass
class Summary:
    """The headline numbers of a simulated run (seconds)."""

    duration: float
    time_to_ready: float | None
    out_of_rotation: float  # not Ready after first becoming Ready
    restarts: dict[str, int]
    fault_at: float | None
    time_to_unready: float | None  # fault -> first NotReady after it
    time_to_kill: float | None  # fault -> first kill after it
    final_phase: str
    crash_loop_back_off: list[Interval] = field(default_factory=list)
    not_ready: list[Interval] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    probes: dict[str, dict[str, int]] = field(default_factory=dict)


def summarize(sim: Simulation, fault_at: float | None = None) -> Summary:
    """Summarize `sim` (already run). `fault_at`: when an injected fault began, if any."""
    t0 = sim.start
    end = sim.now - t0
    steps = sim.timeline
    ready_since: float | None = None
    first_ready: float | None = None
    not_ready: list[Interval] = []
    unready_since: float | None = None
    for s in steps:
        if s.kind != "ready":
            continue
        t = s.time - t0
        if s.detail == "Ready":
            if first_ready is None:
                first_ready = t
            if unready_since is not None:
                not_ready.append(Interval("", unready_since, t))
                unready_since = None
            ready_since = t
        elif ready_since is not None:
            unready_since = t
            ready_since = None
    if unready_since is not None:
        not_ready.append(Interval("", unready_since, end))

    instances: list[Instance] = []
    open_: dict[str, tuple[int, float]] = {}
    kills: list[Kill] = []
    for s in steps:
        t = s.time - t0
        if s.kind == "start":
            rc = int(s.detail.rsplit("#", 1)[1])
            open_[s.container] = (rc, t)
        elif s.kind == "exit" and s.container in open_:
            rc, start = open_.pop(s.container)
            code = int(s.detail.split()[1])
            how = s.detail.partition("(")[2].rstrip(")")
            instances.append(Instance(s.container, rc, start, t, code, how))
        elif s.kind == "kill":
            kills.append(Kill(t, s.container, s.detail))
    for name, (rc, start) in open_.items():
        instances.append(Instance(name, rc, start, end, None, ""))
    instances.sort(key=lambda i: (i.start, i.container))

    # CrashLoopBackOff: from the BackOff event to the container's next start.
    back_off: list[Interval] = []
    pending: dict[str, tuple[float, str]] = {}
    for s in steps:
        t = s.time - t0
        if s.kind == "event" and " BackOff: " in s.detail and s.container:
            pending.setdefault(s.container, (t, s.detail))
        elif s.kind == "start" and s.container in pending:
            since, _ = pending.pop(s.container)
            back_off.append(Interval(s.container, since, t, f"back-off {go_duration(t - since)}"))
    for name, (since, _) in pending.items():
        back_off.append(Interval(name, since, end, "back-off"))

    probes: dict[str, dict[str, int]] = {}
    for s in steps:
        if s.kind == "probe":
            by = probes.setdefault(s.probe_type, {})
            by[s.result] = by.get(s.result, 0) + 1

    restarts = {
        name: (rec.current.restart_count if rec.current else 0)
        for name, rec in sim.machine.records.items()
    }
    time_to_unready = time_to_kill = None
    if fault_at is not None:
        after = [i.start for i in not_ready if i.start >= fault_at]
        time_to_unready = after[0] - fault_at if after else None
        k = [k.time for k in kills if k.time >= fault_at]
        time_to_kill = k[0] - fault_at if k else None
    return Summary(
        duration=end,
        time_to_ready=first_ready,
        out_of_rotation=sum(i.length for i in not_ready),
        restarts=restarts,
        fault_at=fault_at,
        time_to_unready=time_to_unready,
        time_to_kill=time_to_kill,
        final_phase=sim.machine.phase(),
        crash_loop_back_off=back_off,
        not_ready=not_ready,
        kills=kills,
        instances=instances,
        probes=probes,
    )


def _secs(value: float | None) -> str:
    return "never" if value is None else go_duration(round(value, 3))


def summary_lines(s: Summary) -> list[str]:
    lines = [
        f"simulated:          {_secs(s.duration)} (final phase {s.final_phase})",
        f"time to Ready:      {_secs(s.time_to_ready)}",
        f"out of rotation:    {_secs(s.out_of_rotation)} after first Ready"
        f" ({len(s.not_ready)} period{'s' if len(s.not_ready) != 1 else ''})",
        "restarts:           " + (", ".join(f"{k}={v}" for k, v in s.restarts.items()) or "none"),
    ]
    if s.fault_at is not None:
        lines.append(
            f"fault at {_secs(s.fault_at)}: out of rotation after {_secs(s.time_to_unready)},"
            f" killed after {_secs(s.time_to_kill)}"
        )
    if s.crash_loop_back_off:
        total = sum(i.length for i in s.crash_loop_back_off)
        lines.append(
            f"CrashLoopBackOff:   {len(s.crash_loop_back_off)} waits, {_secs(total)} in all"
        )
    for ptype, by in sorted(s.probes.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
        lines.append(f"{(ptype + ' probes:'):<20}{counts}")
    return lines


def render_text(sim: Simulation, summary: Summary, *, verbose: bool = False) -> str:
    """The timeline, one line per step, then the summary.

    Unless `verbose`, a run of identical successful probes of one container
    and type is folded into its first line (`×N until T`): the interesting
    lines are the changes (issue 14).
    """
    out: list[str] = []
    quiet = {"started", "container-ready"} if not verbose else set()
    # (container, probe type) -> [line index, count, last time, text] of a run of successes
    runs: dict[tuple[str, str], list[Any]] = {}

    def flush() -> None:
        for index, count, last, _ in runs.values():
            if count > 1:
                out[index] += f"  (×{count}, until {last:.2f}s)"
        runs.clear()

    for s in sim.timeline:
        if s.kind in quiet:
            continue
        t = s.time - sim.start
        what = s.detail.strip().replace("\n", " | ")
        if s.kind == "probe":
            what = f"{s.probe_type} {s.result}" + (f": {what}" if what else "")
            key = (s.container, s.probe_type)
            if not verbose and s.result == "success":
                run = runs.get(key)
                if run is not None and run[3] == what:
                    run[1] += 1
                    run[2] = t
                    continue
            elif key in runs:
                index, count, last, _ = runs.pop(key)
                if count > 1:
                    out[index] += f"  (×{count}, until {last:.2f}s)"
        else:
            flush()
        out.append(f"{t:9.2f}s  {s.kind:<8} {s.container:<12} {what}")
        if s.kind == "probe" and s.result == "success" and not verbose:
            runs[(s.container, s.probe_type)] = [len(out) - 1, 1, t, what]
    flush()
    out.append("")
    out.append("summary")
    out.extend("  " + line for line in summary_lines(summary))
    return "\n".join(out) + "\n"


def to_json(
    sim: Simulation, summary: Summary, inputs: dict[str, str] | None = None
) -> dict[str, Any]:
    """A JSON-ready dict: `summary`, `timeline` (steps) and `events` (kubelet events);
    `inputs` (what was modelled) when given."""
    t0 = sim.start
    return {
        **({"inputs": inputs} if inputs is not None else {}),
        "summary": asdict(summary),
        "timeline": [{**asdict(s), "time": round(s.time - t0, 6)} for s in sim.timeline],
        "events": [
            {
                "time": round(e.time - t0, 6),
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "fieldPath": e.field_path,
            }
            for e in sim.events
        ],
    }


def render_json(sim: Simulation, summary: Summary, inputs: dict[str, str] | None = None) -> str:
    return json.dumps(to_json(sim, summary, inputs), indent=2) + "\n"

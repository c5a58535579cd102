"""The verdict record and the small helpers every verdict rule shares (issue 15).

Pure. `Verdict` is what the diagnosis engine (core/verdict.py) returns, `VerdictKind`
its stable names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podkeeper.core.evidence import EventRecord, Evidence
from podkeeper.core.exitcode import signal_name


class VerdictKind:
    """The stable names of the verdicts (what `triage -o json` prints and tests compare)."""

    COMPLETED = "Completed"
    EXITED = "ExitedWithError"  # exited on its own with a non-zero code
    CRASH_ON_START = "CrashOnStart"  # a non-zero exit soon after start, restarting
    START_ERROR = "StartError"
    OOM_LIMIT = "OOMKilled"  # the container's own memory limit
    OOM_NODE = "NodeOOMKilled"  # the node's OOM killer (SystemOOM)
    EVICTED = "Evicted"
    LIVENESS = "LivenessKilled"
    STARTUP = "StartupKilled"
    SIGTERM_IGNORED = "SigtermIgnored"
    STOPPED = "Stopped"  # deletion, drain
    POST_START = "PostStartHookFailed"
    KILLED = "KilledBySignal"  # a signal from outside
    CONFIG_ERROR = "CreateContainerConfigError"
    IMAGE = "ImagePullBackOff"
    READINESS = "ReadinessNeverPasses"
    UNSCHEDULABLE = "Unschedulable"
    WAITING = "Waiting"
    HEALTHY = "Healthy"


@dataclass(frozen=True)
class Verdict:
    """One read of the evidence: `summary` (the one-line verdict), `who` ended it, the
    `evidence` chain it rests on (oldest fact first), a concrete `next_step`, its `kind`
    (a VerdictKind name) and what the source could not see (`unseen`)."""

    summary: str
    who: str
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""
    kind: str = ""
    unseen: list[str] = field(default_factory=list)


def signame(sig: int) -> str:
    return signal_name(sig)


def time_text(t: float | None) -> str:
    if t is None:
        return "?"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_text(e: EventRecord) -> str:
    count = f" (x{e.count})" if e.count > 1 else ""
    where = f" on {e.kind.lower()}/{e.name}" if e.kind != "Pod" and e.name else ""
    when = f" at {time_text(e.last_time)}" if e.last_time is not None else ""
    return f"{e.type} {e.reason}{where}{count}{when}: {e.message}".rstrip(": ")


def unseen_of(ev: Evidence, *more: str) -> list[str]:
    out = list(ev.unseen)
    out += [m for m in more if m and m not in out]
    return out


def owner_facts(ev: Evidence) -> list[str]:
    out: list[str] = []
    for o in ev.owners:
        for c in o.conditions:
            bad = (c.type == "Progressing" and c.status == "False") or (
                c.type == "Failed" and c.status == "True"
            )
            if bad:
                out.append(
                    f"{o.kind} {o.name}: {c.type}={c.status} {c.reason}"
                    + (f": {c.message}" if c.message else "")
                )
    return out

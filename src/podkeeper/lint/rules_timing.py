"""Rules that compare probe time windows (`lint.timing`): what fires first, and when."""

from __future__ import annotations

import math
from collections.abc import Iterator

from podkeeper.core.spec import Probe
from podkeeper.lint import timing
from podkeeper.lint.finding import Hit, Severity, Target
from podkeeper.lint.rules_probes import identical


def _fail_formula(p: Probe) -> str:
    return (
        f"initialDelaySeconds {p.initial_delay_seconds} + failureThreshold "
        f"{p.failure_threshold} × periodSeconds {p.period_seconds}"
    )


def _hang_formula(p: Probe) -> str:
    return (
        f"failureThreshold {p.failure_threshold} × periodSeconds {p.period_seconds} "
        f"+ timeoutSeconds {p.timeout_seconds}"
    )


def liveness_before_ready(t: Target) -> Iterator[Hit]:
    """Liveness can kill a starting container before readiness could ever have succeeded.

    Readiness's `initialDelaySeconds` (plus the extra successes its threshold
    needs) says when the application can be up at the soonest. Liveness fails
    a not-yet-up application on every probe, so it kills at its failure
    window. With a startup probe neither runs before startup succeeds
    (worker.go step 9), so such containers are skipped.
    """
    for path, c in t.probed_containers():
        live, ready = c.liveness_probe, c.readiness_probe
        if live is None or ready is None or c.startup_probe is not None:
            continue
        kill = timing.failure_window(live)
        up = timing.first_success(ready).earliest
        if kill.earliest >= up:
            continue
        always = kill.latest <= up
        need = math.ceil(up - (live.failure_threshold - 1) * live.period_seconds)
        yield Hit(
            path=f"{path}.livenessProbe",
            container=c.name,
            severity=Severity.ERROR if always else Severity.WARNING,
            message=(
                f"livenessProbe of {c.name!r} kills a container that is not up yet "
                f"{kill.text()} after start ({_fail_formula(live)}), but its readinessProbe "
                f"cannot succeed before {up:g}s (initialDelaySeconds "
                f"{ready.initial_delay_seconds} + (successThreshold {ready.success_threshold} "
                f"- 1) × periodSeconds {ready.period_seconds})"
                + ("" if always else "; whether it does depends on the probe ticker's phase")
            ),
            why=(
                "The readiness delay says the application needs that long to come up. Until "
                "it is up the liveness probe fails on every tick, and the kubelet kills the "
                f"container after {live.failure_threshold} consecutive failures: the first probe "
                "runs at "
                f"initialDelaySeconds at the earliest and up to one period later (the worker's "
                "ticker phase is fixed when the pod is added, worker.go), so the kill lands "
                f"{kill.text()} after start. The container is restarted before it could ever "
                "become Ready, and then again with growing back-off: CrashLoopBackOff."
            ),
            fix=(
                "Add a startupProbe whose initialDelaySeconds + failureThreshold × "
                "periodSeconds covers the startup (liveness and readiness wait for it), or "
                f"raise livenessProbe.initialDelaySeconds to at least {need}."
            ),
        )


def liveness_kills_before_unready(t: Target) -> Iterator[Hit]:
    """Liveness restarts a hung container before (or as) readiness takes it out of rotation."""
    for path, c in t.probed_containers():
        live, ready = c.liveness_probe, c.readiness_probe
        if live is None or ready is None or identical(c):
            # The identical pair is probe-identical's finding; saying it twice helps nobody.
            continue
        kill = timing.hang_detection(live)
        unready = timing.hang_detection(ready)
        if kill.earliest >= unready.latest:
            continue
        if timing.nominal_hang_detection(live) >= timing.nominal_hang_detection(ready):
            # Equal windows on separate endpoints (`/livez`, `/readyz`) is the documented
            # pattern: not a fault. Only a strictly quicker liveness is (issue 14). The same
            # check on both is probe-identical's finding.
            continue
        always = kill.latest <= unready.earliest
        yield Hit(
            path=f"{path}.livenessProbe",
            container=c.name,
            severity=Severity.ERROR if always else Severity.WARNING,
            message=(
                f"when {c.name!r} hangs, liveness kills it {kill.text()} later "
                f"({_hang_formula(live)}) while readiness marks it unready only "
                f"{unready.text()} later ({_hang_formula(ready)})"
                + ("" if always else ", so liveness may act first or at the same time")
            ),
            why=(
                "A hung container should first be taken out of rotation by readiness, so "
                "clients fail over cleanly, and only then be restarted by liveness. Each worker "
                "sees a hang at its next tick (up to one period later) and each failing probe "
                "waits its timeoutSeconds (worker.go doProbe), so the windows above are "
                "(failureThreshold-1) × period + timeout to failureThreshold × period + "
                "timeout. When liveness wins, the pod is still an endpoint while it is killed "
                "and users see connection errors instead of a failover."
            ),
            fix=(
                "Make liveness slower than readiness: e.g. livenessProbe.failureThreshold: "
                f"{_kill_threshold(live, unready.latest)}, or a shorter readiness "
                "periodSeconds."
            ),
        )


def _kill_threshold(live: Probe, after: float) -> int:
    """The smallest liveness failureThreshold whose earliest kill is at or after `after`."""
    runs = (after - live.timeout_seconds) / live.period_seconds
    return max(live.failure_threshold + 1, math.ceil(runs) + 1)


def startup_window(t: Target) -> Iterator[Hit]:
    """The longest startup the probes tolerate; an error when the expected startup is longer."""
    for path, c in t.containers():
        probe = c.startup_probe or c.liveness_probe
        if probe is None:
            continue
        field = "startupProbe" if c.startup_probe is not None else "livenessProbe"
        w = timing.failure_window(probe)
        expected = t.expected_startup
        severity = Severity.INFO
        if expected is not None and expected >= w.latest:
            severity = Severity.ERROR
        elif expected is not None and expected > w.earliest:
            severity = Severity.WARNING
        message = (
            f"{c.name!r} may take at most {w.latest:g}s to start ({_fail_formula(probe)} "
            f"of its {field}); only {w.earliest:g}s is guaranteed"
        )
        if severity is not Severity.INFO and expected is not None:
            message += f", but it is expected to take {expected:g}s"
        needed = probe.failure_threshold
        if expected is not None:
            needed = max(
                needed,
                math.ceil((expected - probe.initial_delay_seconds) / probe.period_seconds) + 1,
            )
        yield Hit(
            path=f"{path}.{field}",
            container=c.name,
            severity=severity,
            message=message,
            why=(
                f"The {field} fails on every tick until the application answers and the "
                f"kubelet kills the container after {probe.failure_threshold} consecutive "
                "failures. "
                "The first probe runs at initialDelaySeconds at the earliest and up to one "
                "period later (the ticker's phase is fixed when the pod is added; the age is "
                "truncated to whole seconds, worker.go), so a startup longer than "
                f"{w.earliest:g}s may be killed and one of {w.latest:g}s or more always is, "
                "then restarted into the same fate (CrashLoopBackOff)."
                + (
                    ""
                    if field == "startupProbe"
                    else " Without a startupProbe, liveness is what limits startup."
                )
            ),
            fix=(
                (
                    f"Set {field}.failureThreshold to {needed} or more"
                    if expected is not None
                    else f"If startup can take longer than {w.earliest:g}s, raise "
                    f"{field}.failureThreshold"
                )
                + (
                    " (or add a startupProbe so liveness can stay quick)"
                    if field == "livenessProbe"
                    else ""
                )
                + "; declare the expected startup with the annotation "
                'podkeeper.io/expected-startup (e.g. "90s") or --expect-startup to have lint '
                "check it."
            ),
        )


#: A liveness initialDelaySeconds at or above this is a startup probe's job (issue 14).
LONG_LIVENESS_DELAY = 300


def startup_shorter_than_liveness(t: Target) -> Iterator[Hit]:
    """A startup probe that allows less time than the liveness probe it protects would."""
    for path, c in t.containers():
        start, live = c.startup_probe, c.liveness_probe
        if start is None or live is None:
            continue
        allowed = timing.nominal_failure(start)
        without = timing.nominal_failure(live)
        if allowed >= without:
            continue
        yield Hit(
            path=f"{path}.startupProbe",
            container=c.name,
            message=(
                f"startupProbe of {c.name!r} allows {allowed:g}s to start ({_fail_formula(start)})"
                f", less than the {without:g}s its livenessProbe alone would allow "
                f"({_fail_formula(live)})"
            ),
            why=(
                "A startup probe exists to give a slow start more time than liveness can: "
                "liveness and readiness wait until it succeeds (worker.go), and when it fails "
                "failureThreshold times the container is killed. One shorter than the liveness "
                "window kills a slow start sooner than having no startup probe would."
            ),
            fix=(
                "Raise startupProbe.failureThreshold so that failureThreshold × periodSeconds "
                f"covers the longest startup (at least {math.ceil(without / start.period_seconds)}"
                f" with periodSeconds {start.period_seconds}), and let liveness stay quick."
            ),
        )


def liveness_delay_long(t: Target) -> Iterator[Hit]:
    """A liveness initialDelaySeconds of minutes where a startup probe belongs."""
    for path, c in t.containers():
        live = c.liveness_probe
        if live is None or c.startup_probe is not None:
            continue
        if live.initial_delay_seconds < LONG_LIVENESS_DELAY:
            continue
        delay = live.initial_delay_seconds
        yield Hit(
            path=f"{path}.livenessProbe.initialDelaySeconds",
            container=c.name,
            message=(
                f"livenessProbe of {c.name!r} waits {delay}s (initialDelaySeconds) before its "
                "first check, after every start"
            ),
            why=(
                "The initial delay applies to every start, including restarts: a container that "
                f"hangs during its first {delay}s, or comes back hung, is not detected for that "
                "long, even when the application starts in seconds. A startupProbe gives a slow "
                "start the same time and hands over to liveness as soon as it succeeds."
            ),
            fix=(
                "Remove initialDelaySeconds from the livenessProbe and add a startupProbe on the "
                f"same check with periodSeconds: 10, failureThreshold: {math.ceil(delay / 10) + 1}."
            ),
        )

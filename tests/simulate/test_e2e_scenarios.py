"""Consumer 1 of `tests/scenarios.py`: every e2e probe case through the simulator.

Virtual time: the whole table runs in well under a second. The agent's e2e
suite asserts the same `Expect`s against real processes.
"""

from __future__ import annotations

import pytest

from podkeeper.simulate.apps import BehaviourApp
from podkeeper.simulate.engine import Simulation, Step
from tests.scenarios import SCENARIOS, Scenario


def first_time(steps: list[Step], kind: str, container: str, detail: str) -> float | None:
    for s in steps:
        if s.kind == kind and s.container == container and s.detail == detail:
            return s.time
    return None


def run(s: Scenario) -> tuple[Simulation, float | None]:
    """Run `s` for `expect.within`; return the simulation and the delete time if any."""
    e = s.expect
    sim = Simulation(s.build(), BehaviourApp(s.behaviours()).model())
    deleted_at = None
    if e.delete_after_ready is not None:
        t = 0.0
        while not sim.machine.pod_ready:
            t += 0.25
            assert t <= e.within, "never Ready, cannot test deletion"
            sim.run(t)
        ready_at = first_time(sim.timeline, "ready", "", "Ready")
        assert ready_at is not None
        deleted_at = ready_at + e.delete_after_ready
        sim.delete(deleted_at)
    sim.run(e.within)
    return sim, deleted_at


def restart_count(sim: Simulation, container: str) -> int:
    cur = sim.machine.records[container].current
    return 0 if cur is None else cur.restart_count


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(s: Scenario) -> None:
    e = s.expect
    sim, deleted_at = run(s)
    tl = sim.timeline
    restarts = restart_count(sim, s.watch)
    # RunLivenessTest: the restart count never goes down
    counts = [
        int(x.detail.split("#")[1]) for x in tl if x.kind == "start" and x.container == s.watch
    ]
    assert counts == sorted(counts)
    if e.restarts is not None:
        assert restarts == e.restarts, sim_text(sim)
    if e.min_restarts is not None:
        assert restarts >= e.min_restarts, sim_text(sim)
    if e.never_ready:
        assert first_time(tl, "ready", "", "Ready") is None, sim_text(sim)
    if e.ready_not_before is not None:
        ready = first_time(tl, "ready", "", "Ready")
        cur = sim.machine.records[s.watch].instances[0]
        assert ready is not None and cur.started_at is not None, sim_text(sim)
        assert ready - cur.started_at >= e.ready_not_before
    if e.ready_within_after_started is not None:
        started = first_time(tl, "started", s.first_container, "true")
        ready = first_time(tl, "ready", "", "Ready")
        assert started is not None and ready is not None, sim_text(sim)
        assert 0 <= ready - started <= e.ready_within_after_started, sim_text(sim)
    for reason, text in e.event_contains:
        assert any(ev.reason == reason and text in ev.message for ev in sim.events), sim_text(sim)
    if deleted_at is not None:
        if e.not_ready_within_after_delete is not None:
            not_ready = [
                x.time
                for x in tl
                if x.kind == "ready" and x.detail == "NotReady" and x.time >= deleted_at
            ]
            assert not_ready, sim_text(sim)
            assert not_ready[0] - deleted_at <= e.not_ready_within_after_delete
        if e.quiet_after_delete is not None:
            text, seconds = e.quiet_after_delete
            assert not [
                ev
                for ev in sim.events
                if deleted_at <= ev.time <= deleted_at + seconds and text in ev.message
            ], sim_text(sim)


def sim_text(sim: Simulation) -> str:
    return "\n".join(
        f"{x.time:8.2f} {x.kind:15} {x.container:5} {x.probe_type:9} {x.result:8} {x.detail}"
        for x in sim.timeline
    )


def test_table_covers_every_case() -> None:
    ids = {s.id for s in SCENARIOS}
    want = {str(i) for i in range(1, 24)} | {f"S{i}" for i in range(1, 24)}
    assert ids == want


def test_sidecar_variant_shape() -> None:
    from tests.scenarios import BY_ID

    pod = BY_ID["S5"].build()
    assert [c.name for c in pod.spec.init_containers] == ["app"]
    assert pod.spec.init_containers[0].restart_policy == "Always"
    assert [c.name for c in pod.spec.containers] == ["main"]

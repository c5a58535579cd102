"""The Kubernetes e2e probe conformance cases, run for real through the CLI (issue 2).

Every scenario of `tests/scenarios.py` (#1-#23 and the sidecar variants S1-S23;
the simulator runs the same table in `tests/simulate/test_e2e_scenarios.py`)
becomes a pod with its own ports and state folder. All pods go to one agent in
one `podkeeper up -d`, and one observer polls `podkeeper get pods -o json`
(as the e2e framework polls the API server) until each scenario's window has
passed, deleting pods when a case asks for it. Each case is then judged by its
own test with the e2e test's assertions.

The table runs once per runtime (issue 10): `process` (host binaries) and
`containerd` (image pods through the CRI, skipped with the reason when containerd,
runc, the CNI plugins, busybox-static or root are missing). On containerd every
container runs `podkeeper.local/e2e-apps:1.0`, built here from busybox-static and
this host's own Python (testimages.python_apps_image) with the same test apps, so
the same argv runs inside the container, each pod on its own pod IP.
`PODKEEPER_CONFORMANCE_RUNTIMES=process` (comma-separated) limits the runtimes.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from podkeeper.api.client import Client
from podkeeper.core.spec import Pod
from tests.scenarios import APPS_DIR, SCENARIOS, Env, Scenario

from .conftest import PK, reap_home
from .podyaml import manifest

# One agent runs every case at once; #7's five restarts need the real back-off (~2.5 min).
pytestmark = pytest.mark.timeout(420)

RUNTIMES = ["process", "containerd"]


def _wanted(runtime: str) -> bool:
    chosen = os.environ.get("PODKEEPER_CONFORMANCE_RUNTIMES", "")
    return not chosen or runtime in {r.strip() for r in chosen.split(",")}


def _containerd_unavailable() -> str | None:
    from podkeeper.runtime.cri.containerd import unavailable_reason
    from podkeeper.runtime.cri.testimages import busybox_available

    return unavailable_reason() or busybox_available()


def _in_image(pod: Pod, image: str) -> Pod:
    """Every container of `pod` from `image` (the scenario table names agnhost, busybox...)."""
    spec = pod.spec
    return replace(
        pod,
        spec=replace(
            spec,
            containers=tuple(replace(c, image=image) for c in spec.containers),
            init_containers=tuple(replace(c, image=image) for c in spec.init_containers),
        ),
    )


POLL = 0.5
SLACK = 5.0  # seconds of observation beyond a scenario's window, for a loaded 2-core CI box
START_GRACE = 60.0  # seconds a pod may take to start its watched container before its window


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    # Exact whole seconds: the local-offset arithmetic this replaced drifted by
    # microseconds per call, so a Ready transition exactly 3 s after startedAt read 2.999998.
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


@dataclass
class Observed:
    scenario: Scenario
    name: str
    created: float = 0.0
    ran_at: float | None = None
    restart_counts: list[int] = field(default_factory=list)
    ever_ready: bool = False
    ready_since: float | None = None
    first_ready_transition: float | None = None
    watch_started_at: float | None = None
    started_seen: float | None = None
    ready_seen_after_started: float | None = None
    deleted_at: float | None = None
    deleted_wall: float | None = None
    not_ready_after_delete: float | None = None
    done: bool = False
    last_pod: dict[str, Any] | None = None


def _status(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
    st = pod.get("status", {})
    for s in st.get("containerStatuses", []) + st.get("initContainerStatuses", []):
        if s["name"] == name:
            return dict(s)
    return None


def _ready(pod: dict[str, Any]) -> tuple[bool, str | None]:
    for c in pod.get("status", {}).get("conditions", []):
        if c["type"] == "Ready":
            return c["status"] == "True", c.get("lastTransitionTime")
    return False, None


def _observe(o: Observed, pod: dict[str, Any], now: float) -> None:
    sc = o.scenario
    o.last_pod = pod
    st = _status(pod, sc.watch)
    if o.ran_at is None and st is not None and set(st.get("state", {})) - {"waiting"}:
        o.ran_at = now
    if st is not None:
        o.restart_counts.append(int(st.get("restartCount", 0)))
        running = st.get("state", {}).get("running")
        if running and o.watch_started_at is None:
            o.watch_started_at = _ts(running.get("startedAt"))
    first = _status(pod, sc.first_container)
    if first is not None and first.get("started") and o.started_seen is None:
        o.started_seen = now
    ready, since = _ready(pod)
    if ready:
        if not o.ever_ready:
            o.first_ready_transition = _ts(since)
        o.ever_ready = True
        if o.ready_since is None:
            o.ready_since = now
        if o.started_seen is not None and o.ready_seen_after_started is None:
            o.ready_seen_after_started = now
    else:
        o.ready_since = None
        if o.deleted_at is not None and o.not_ready_after_delete is None:
            o.not_ready_after_delete = now


@pytest.fixture(scope="module", params=RUNTIMES)
def conformance(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Observed]]:
    runtime: str = request.param
    if not _wanted(runtime):
        pytest.skip(f"PODKEEPER_CONFORMANCE_RUNTIMES excludes {runtime}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PODKEEPER_RUNTIME", runtime)
        if runtime == "containerd":
            why = _containerd_unavailable()
            if why:
                pytest.skip(why)
        yield from _run_table(runtime, tmp_path_factory.mktemp(f"conformance-{runtime}"))


def _run_table(runtime: str, tmp: Path) -> Iterator[dict[str, Observed]]:
    pk = PK(tmp / "home", tmp)
    observed: dict[str, Observed] = {}
    docs = []
    image = None
    if runtime == "containerd":
        from podkeeper.runtime.cri.testimages import (
            APPS_IMAGE,
            build_all,
            python_apps_image,
            write_docker_archive,
        )

        tars = build_all(tmp / "images")
        apps = write_docker_archive(python_apps_image(APPS_DIR), tmp / "images" / "apps.tar")
        pk.run("image", "import", str(tars["registry.k8s.io/pause:3.10"]), str(apps), timeout=180)
        image = APPS_IMAGE
    for sc in SCENARIOS:
        http, closed, grpc = _free_ports(3)
        if image is None:
            env = Env(state=str(tmp / f"state-{sc.id}"), http=http, closed=closed, grpc=grpc)
            Path(env.state).mkdir()
        else:  # paths inside the container; each pod has its own IP, so any ports do
            python = str(Path(sys.executable).resolve())
            env = Env(python=python, apps="/apps", state="/tmp/state", http=http, closed=closed)
            env = replace(env, grpc=grpc)
        pod = sc.build(env)
        if image is not None:
            pod = _in_image(pod, image)
        docs.append(manifest(pod))
        observed[sc.id] = Observed(sc, pod.metadata.name)
    path = pk.write("scenarios.yaml", docs)
    t0 = time.monotonic()
    pk.run("up", "-d", "-f", str(path), timeout=180)
    for o in observed.values():
        o.created = t0
    client = Client(str(pk.home / "agent.sock"), timeout=30.0)
    try:
        deadline = t0 + max(sc.expect.within for sc in SCENARIOS) + SLACK + START_GRACE
        while time.monotonic() < deadline and not all(o.done for o in observed.values()):
            now = time.monotonic()
            # Read through the agent's API in-process: a CLI process per poll costs
            # seconds on a loaded 2-core box, and a terminating pod (cases 22/23) lives
            # only 5 s after its delete, so too few samples would see it go not-Ready
            # (issue 13 item 17). `up` and `delete` still go through the real CLI.
            pods = {p["metadata"]["name"]: p for p in client.list_objects("Pod", None)}
            for o in observed.values():
                if o.done:
                    continue
                pod = pods.get(o.name)
                if pod is not None:
                    _observe(o, pod, now)
                ex = o.scenario.expect
                if (
                    ex.delete_after_ready is not None
                    and o.deleted_at is None
                    and o.ready_since is not None
                    and now - o.ready_since >= ex.delete_after_ready
                ):
                    pk.run("delete", "pod", o.name, "--no-wait")
                    o.deleted_at = time.monotonic()
                    o.deleted_wall = time.time()
                # The e2e tests start their clock once the pod is no longer Pending
                # (test/e2e/common/node/container_probe.go RunLivenessTest:
                # WaitForPodNotPending, then the deadline), not at creation: with 46
                # image pods starting at once, the last one runs seconds after the first.
                # Here: once the watched container has run (a sidecar's pod stays Pending
                # until its startup probe succeeds, which some cases never let happen).
                start = o.ran_at if o.ran_at is not None else o.created + START_GRACE
                window = ex.within
                if ex.quiet_after_delete and o.deleted_at is not None:
                    window = max(window, o.deleted_at - start + ex.quiet_after_delete[1])
                if now - start >= window + SLACK * (ex.min_restarts is not None) or (
                    ex.min_restarts is not None
                    and o.restart_counts
                    and o.restart_counts[-1] >= ex.min_restarts
                ):
                    o.done = True
            time.sleep(POLL)
        late = sorted(
            ((o.ran_at or time.monotonic()) - o.created, o.name) for o in observed.values()
        )
        print(
            f"\n{runtime}: seconds from `up` until the watched container ran, slowest: {late[-3:]}"
        )
        events = json.loads(pk.run("events", "-o", "json").out)["items"]
        for o in observed.values():
            o.last_pod = (o.last_pod or {}) | {
                "_events": [e for e in events if e["involvedObject"]["name"] == o.name]
            }
        yield observed
    finally:
        pk.run("down", timeout=180, check=False)
        reap_home(pk.home)
        if runtime == "containerd":
            from podkeeper.runtime.cri import containerd

            with contextlib.suppress(Exception):
                asyncio.run(containerd.reap_home(pk.home))


@pytest.mark.parametrize("sc", SCENARIOS, ids=[f"case-{s.id}" for s in SCENARIOS])
def test_probe_case(conformance: dict[str, Observed], sc: Scenario) -> None:
    o = conformance[sc.id]
    try:
        _judge(o, sc)
    except AssertionError as err:
        events = (o.last_pod or {}).get("_events", [])
        lines = [
            f"{e.get('firstTimestamp')}..{e.get('lastTimestamp')} x{e.get('count')} "
            f"{e['reason']}: {e['message']}"
            for e in events
        ]
        started = None if o.ran_at is None else round(o.ran_at - o.created, 1)
        st = _status(o.last_pod or {}, sc.watch) or {}
        raise AssertionError(
            f"{err}\nwatched container ran {started} s after `up`; last state "
            f"{st.get('lastState')}; events:\n" + "\n".join(lines)
        ) from None


def _judge(o: Observed, sc: Scenario) -> None:
    ex = sc.expect
    counts = o.restart_counts
    assert counts, f"{sc.id}: the watched container never appeared"
    assert all(b >= a for a, b in pairwise(counts)), f"{sc.id}: restartCount went down: {counts}"
    if ex.restarts is not None:
        assert counts[-1] == ex.restarts, f"{sc.id}: restarts {counts[-1]} != {ex.restarts}"
    if ex.min_restarts is not None:
        assert counts[-1] >= ex.min_restarts, (
            f"{sc.id}: {counts[-1]} restarts within the window, expected >= {ex.min_restarts}"
        )
    if ex.never_ready:
        assert not o.ever_ready, f"{sc.id}: the pod became Ready"
    if ex.ready_not_before is not None:
        assert o.first_ready_transition is not None and o.watch_started_at is not None, (
            f"{sc.id}: never Ready"
        )
        assert o.first_ready_transition - o.watch_started_at >= ex.ready_not_before - 1e-6
    if ex.ready_within_after_started is not None:
        assert o.started_seen is not None and o.ready_seen_after_started is not None
        assert o.ready_seen_after_started - o.started_seen <= ex.ready_within_after_started + POLL
    events = (o.last_pod or {}).get("_events", [])
    for reason, text in ex.event_contains:
        assert any(e["reason"] == reason and text in e["message"] for e in events), (
            f"{sc.id}: no {reason} event containing {text!r}: "
            + "; ".join(f"{e['reason']}: {e['message']}" for e in events)
        )
    if ex.not_ready_within_after_delete is not None:
        assert o.deleted_at is not None, f"{sc.id}: never Ready long enough to be deleted"
        assert o.not_ready_after_delete is not None, f"{sc.id}: stayed Ready after the delete"
        assert o.not_ready_after_delete - o.deleted_at <= ex.not_ready_within_after_delete + POLL
    if ex.quiet_after_delete is not None:
        text, _ = ex.quiet_after_delete
        assert o.deleted_wall is not None
        late = [
            e
            for e in events
            if text in e["message"] and (_ts(e["lastTimestamp"]) or 0) > o.deleted_wall + 1
        ]
        assert not late, f"{sc.id}: {text!r} after the delete: {late}"

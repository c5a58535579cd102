"""The e2e probe cases of `shared/spec/e2e-probe-cases.md` as one data table, two consumers.

Consumers: `tests/simulate/test_e2e_scenarios.py` runs each scenario through
`podkeeper.simulate.Simulation` (virtual time); the agent's end-to-end suite
runs the same scenarios as real processes through the CLI (real time).

Table format
------------
`SCENARIOS` is a list of `Scenario`, one per case: `#1`..`#23` (regular
containers) and `S1`..`S23` (the probed container is `initContainers[0]`
with `restartPolicy: Always`, next to a main container `main` that only
waits, like agnhost `pause`). Build the pod for an environment with
`scenario.build(env)` where `Env` gives the python interpreter, the
`tests/apps` directory, a per-scenario state directory and free ports; the
defaults are fine for the simulator.

`Scenario` fields:

- `id`, `name`: `"5"` / `"S5"` and the e2e test's It string.
- `build(env) -> core.spec.Pod`: the pod, Kubernetes defaults applied, with
  timings scaled down (period 10 s -> 1 s, initialDelay 15 s -> 2-4 s, "healthy
  for 10 s" -> 3 s, grace 500 s -> 300 s vs probe grace 3 s). Relationships the
  case tests are kept (e.g. initial delay > healthy time). The container's
  `command` is the real process: `python tests/apps/<app>.py ...`.
- `watch`: the probed container's name (`app`); `main` is the other container
  of the S-cases.
- `behaviours(env) -> {container: dict}`: what each container does, as a
  `podkeeper.simulate.apps` behaviour (kinds `liveness_server`,
  `test_webserver`, `grpc_health`, `script`, `pause`); the real app
  implements the same dict from its argv.
- `expect`: an `Expect` (all times in seconds from pod creation unless said):
  - `within`: how long to observe (the e2e timeout, scaled);
  - `restarts`: exact restartCount of `watch` at `within` (0 = never restarted);
  - `min_restarts`: at least this many by `within` (e2e `RunLivenessTest` with expect>0
    stops as soon as it is reached);
  - `never_ready`: the pod is not Ready at any time up to `within`;
  - `ready_not_before`: the pod's Ready transition minus `watch`'s startedAt
    is at least this (case #1);
  - `ready_within_after_started`: pod Ready at most this long after
    `containerStatuses[0].started` turned true (case #17; for S17 that is `main`);
  - `event_contains`: (reason, substring) pairs that some event must match
    (e2e `WaitTimeoutForEvent` matches with `strings.Contains`);
  - `delete_after_ready`: delete the pod (default grace) this long after it is Ready;
  - `not_ready_within_after_delete`: the pod must turn not Ready within this
    many seconds of the delete (cases #22/#23);
  - `quiet_after_delete`: (substring, seconds): no event containing the
    substring during that many seconds after the delete (case #23).
- `notes`: what scaling changed.

Back-off is not scaled (10, 20, 40 s are the kubelet's constants), so #7's five
restarts take about two minutes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podkeeper.core.spec import (
    Container,
    ContainerPort,
    EnvVar,
    ExecAction,
    GRPCAction,
    HTTPGetAction,
    ObjectMeta,
    Pod,
    PodSpec,
    Probe,
    TCPSocketAction,
)

APPS_DIR = Path(__file__).parent / "apps"


@dataclass(frozen=True)
class Env:
    """Where a scenario runs. Ports: `http` the app's HTTP port, `closed` one nothing
    listens on (the cases' port 81 / 2333 / 8080-without-server), `grpc` the gRPC port."""

    python: str = sys.executable
    apps: str = str(APPS_DIR)
    state: str = "/tmp/podkeeper-scenario"
    http: int = 8080
    closed: int = 8081
    grpc: int = 5000
    uid: str = "uid"


@dataclass(frozen=True)
class Expect:
    within: float
    restarts: int | None = None
    min_restarts: int | None = None
    never_ready: bool = False
    ready_not_before: float | None = None
    ready_within_after_started: float | None = None
    event_contains: tuple[tuple[str, str], ...] = ()
    delete_after_ready: float | None = None
    not_ready_within_after_delete: float | None = None
    quiet_after_delete: tuple[str, float] | None = None


Behaviours = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    make: Callable[[Env], tuple[Container, dict[str, Any], int]] = field(repr=False)
    expect: Expect
    notes: str = ""
    sidecar: bool = False
    watch: str = "app"

    @property
    def first_container(self) -> str:
        """`containerStatuses[0]`: what e2e `WaitForPodContainerStarted(pod, 0)` watches."""
        return "main" if self.sidecar else "app"

    def _parts(self, env: Env) -> tuple[Container, dict[str, Any], int]:
        return self.make(env)

    def build(self, env: Env | None = None) -> Pod:
        env = env or Env()
        app, _, grace = self._parts(env)
        meta = ObjectMeta(f"case-{self.id.lower()}", uid=env.uid)
        if not self.sidecar:
            return Pod(meta, PodSpec((app,), termination_grace_period_seconds=grace))
        pause = ("--state", env.state, "--sigterm-exit-after", "0", "--sigterm-exit-code", "0")
        main = Container("main", image="pause", command=_cmd(env, "script.py", *pause))
        side = replace(app, restart_policy="Always")
        return Pod(
            meta,
            PodSpec((main,), init_containers=(side,), termination_grace_period_seconds=grace),
        )

    def behaviours(self, env: Env | None = None) -> Behaviours:
        env = env or Env()
        _, behaviour, _ = self._parts(env)
        out: Behaviours = {"app": behaviour}
        if self.sidecar:
            out["main"] = {"kind": "pause"}
        return out


# ---------------------------------------------------------------------- builders


def _cmd(env: Env, app: str, *args: str) -> tuple[str, ...]:
    return (env.python, f"{env.apps}/{app}", *args)


def _script(
    env: Env,
    files: Mapping[str, tuple[float, float | None]] = {},
    *,
    on_sigterm: Mapping[str, Any] | None = None,
    ignore_sigterm: bool = False,
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """busybox running a script: the real argv for tests/apps/script.py and its behaviour."""
    args = ["--state", env.state]
    for name, (start, end) in files.items():
        args += ["--file", f"{name}:{start}:{'' if end is None else end}"]
    if on_sigterm:
        for name in on_sigterm.get("remove", ()):
            args += ["--sigterm-remove", name]
        args += ["--sigterm-exit-after", str(on_sigterm.get("exit_after", 0))]
        args += ["--sigterm-exit-code", str(on_sigterm.get("exit_code", 0))]
    if ignore_sigterm:
        args.append("--ignore-sigterm")
    behaviour: dict[str, Any] = {
        "kind": "script",
        "files": {k: [v[0], v[1]] for k, v in files.items()},
    }
    if on_sigterm:
        behaviour["on_sigterm"] = dict(on_sigterm)
    if ignore_sigterm:
        behaviour["ignore_sigterm"] = True
    return _cmd(env, "script.py", *args), behaviour


def _cat(env: Env, name: str) -> ExecAction:
    # The state dir reaches the probe through static env expansion, as in a real pod.
    return ExecAction(("cat", f"$(STATE)/{name}"))


def _state_env(env: Env) -> tuple[EnvVar, ...]:
    return (EnvVar("STATE", env.state),)


def liveness_server(env: Env, healthy_for: float = 3) -> tuple[tuple[str, ...], dict[str, Any]]:
    cmd = _cmd(
        env, "liveness_server.py", "--port", str(env.http), "--healthy-for", str(healthy_for)
    )
    return cmd, {"kind": "liveness_server", "port": env.http, "healthy_for": healthy_for}


def test_webserver(env: Env) -> tuple[tuple[str, ...], dict[str, Any]]:
    cmd = _cmd(env, "test_webserver.py", "--port", str(env.http))
    return cmd, {"kind": "test_webserver", "port": env.http}


def grpc_health(env: Env) -> tuple[tuple[str, ...], dict[str, Any]]:
    cmd = _cmd(env, "grpc_health_server.py", "--port", str(env.grpc))
    return cmd, {"kind": "grpc_health", "port": env.grpc}


def _c(
    cmd: tuple[str, ...],
    *,
    image: str,
    env: Env,
    ports: tuple[int, ...] = (),
    **probes: Probe,
) -> Container:
    return Container(
        "app",
        image=image,
        command=cmd,
        env=_state_env(env),
        ports=tuple(ContainerPort(p) for p in ports),
        startup_probe=probes.get("startup"),
        readiness_probe=probes.get("readiness"),
        liveness_probe=probes.get("liveness"),
    )


# The pod grace period, scaled 30 s -> 2 s (the kubelet's minimum). The busybox
# containers of the e2e cases run a shell as PID 1, which ignores SIGTERM, so a
# liveness kill takes the whole grace; the cases' 4-minute windows absorb 30 s,
# the scaled windows need the grace scaled with them.
GRACE = 2


# The "should *not* be restarted" cases keep the e2e's initialDelay of 15 s: their apps
# (Python servers and scripts) must be up before the first probe, failureThreshold is 1,
# and on a 2-core machine under load a Python program can need several seconds to start
# listening (seen: connection refused 4 s and a gRPC dial timeout 7 s after the start,
# at load 15). Their windows end 10 s after the first probe (issue 13 item 17).
NOT_RESTARTED_DELAY = 15


def case1(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = test_webserver(env)
    p = Probe(HTTPGetAction(env.http), initial_delay_seconds=3, period_seconds=1)
    return _c(cmd, image="test-webserver", env=env, ports=(env.http,), readiness=p), b, GRACE


def case2(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = test_webserver(env)
    p = Probe(HTTPGetAction(env.closed), period_seconds=1)
    return _c(cmd, image="test-webserver", env=env, ports=(env.http,), readiness=p), b, GRACE


def _health_file(env: Env, lifetime: float | None) -> tuple[tuple[str, ...], dict[str, Any]]:
    return _script(env, {"health": (0, lifetime)})


def case3(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _health_file(env, 3)
    p = Probe(
        _cat(env, "health"),
        initial_delay_seconds=4,
        timeout_seconds=5,
        failure_threshold=1,
        period_seconds=1,
    )
    return _c(cmd, image="busybox", env=env, liveness=p), b, GRACE


def case4(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _health_file(env, None)
    p = Probe(
        _cat(env, "health"),
        initial_delay_seconds=NOT_RESTARTED_DELAY,
        timeout_seconds=5,
        failure_threshold=1,
        period_seconds=1,
    )
    return _c(cmd, image="busybox", env=env, liveness=p), b, GRACE


def _http_liveness(
    path: str, delay: int, *, timeout: int = 1, failure: int = 1
) -> Callable[[Env], tuple[Container, dict[str, Any], int]]:
    def make(env: Env) -> tuple[Container, dict[str, Any], int]:
        cmd, b = liveness_server(env)
        p = Probe(
            HTTPGetAction(env.http, path=path),
            initial_delay_seconds=delay,
            timeout_seconds=timeout,
            failure_threshold=failure,
            period_seconds=1,
        )
        return _c(cmd, image="agnhost", env=env, ports=(env.http,), liveness=p), b, GRACE

    return make


def case6(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = liveness_server(env)
    p = Probe(
        TCPSocketAction(env.http),
        initial_delay_seconds=NOT_RESTARTED_DELAY,
        failure_threshold=1,
        period_seconds=1,
    )
    return _c(cmd, image="agnhost", env=env, ports=(env.http,), liveness=p), b, GRACE


def case8(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = test_webserver(env)
    p = Probe(
        HTTPGetAction(env.http),
        initial_delay_seconds=NOT_RESTARTED_DELAY,
        timeout_seconds=5,
        failure_threshold=5,
        period_seconds=1,
    )
    return _c(cmd, image="test-webserver", env=env, ports=(env.http,), liveness=p), b, GRACE


def _exec_sleep(
    script: str, *, readiness: bool = False
) -> Callable[[Env], tuple[Container, dict[str, Any], int]]:
    def make(env: Env) -> tuple[Container, dict[str, Any], int]:
        cmd, b = _script(env)
        p = Probe(
            ExecAction(("/bin/sh", "-c", script)),
            initial_delay_seconds=2,
            timeout_seconds=1,
            failure_threshold=1,
            period_seconds=2,
        )
        if readiness:
            return _c(cmd, image="busybox", env=env, readiness=p), b, GRACE
        return _c(cmd, image="busybox", env=env, liveness=p), b, GRACE

    return make


def case14(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _script(env)
    startup = Probe(
        ExecAction(("/bin/false",)), initial_delay_seconds=2, failure_threshold=3, period_seconds=1
    )
    live = Probe(
        ExecAction(("/bin/true",)), initial_delay_seconds=2, failure_threshold=1, period_seconds=1
    )
    return _c(cmd, image="busybox", env=env, startup=startup, liveness=live), b, GRACE


def case15(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _script(env)
    startup = Probe(
        ExecAction(("/bin/false",)), initial_delay_seconds=2, failure_threshold=60, period_seconds=1
    )
    live = Probe(
        ExecAction(("/bin/false",)), initial_delay_seconds=2, failure_threshold=1, period_seconds=1
    )
    return _c(cmd, image="busybox", env=env, startup=startup, liveness=live), b, GRACE


def case16(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _script(env, {"startup": (3, None)})
    startup = Probe(
        _cat(env, "startup"), initial_delay_seconds=2, failure_threshold=60, period_seconds=1
    )
    live = Probe(
        ExecAction(("/bin/false",)), initial_delay_seconds=2, failure_threshold=1, period_seconds=1
    )
    return _c(cmd, image="busybox", env=env, startup=startup, liveness=live), b, GRACE


def case17(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _script(env, {"health": (0, None), "startup": (4, None)})
    ready = Probe(_cat(env, "health"), initial_delay_seconds=0, period_seconds=10)
    startup = Probe(
        _cat(env, "startup"), initial_delay_seconds=0, failure_threshold=120, period_seconds=1
    )
    return _c(cmd, image="busybox", env=env, startup=startup, readiness=ready), b, GRACE


BIG_GRACE = 300  # the pod's 500 s: far beyond the observation window
PROBE_GRACE = 3  # the probe's 5 s


def case18(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _script(env, ignore_sigterm=True)
    p = Probe(
        HTTPGetAction(env.closed, path="/healthz"),
        initial_delay_seconds=2,
        failure_threshold=1,
        period_seconds=1,
        termination_grace_period_seconds=PROBE_GRACE,
    )
    return _c(cmd, image="busybox", env=env, liveness=p), b, BIG_GRACE


def case19(env: Env) -> tuple[Container, dict[str, Any], int]:
    cmd, b = _script(env, ignore_sigterm=True)
    live = Probe(
        ExecAction(("/bin/true",)), initial_delay_seconds=3, failure_threshold=1, period_seconds=1
    )
    startup = Probe(
        _cat(env, "startup"),
        initial_delay_seconds=2,
        failure_threshold=1,
        period_seconds=1,
        termination_grace_period_seconds=PROBE_GRACE,
    )
    return _c(cmd, image="busybox", env=env, startup=startup, liveness=live), b, BIG_GRACE


def _grpc(
    port_of: Callable[[Env], int], delay: int, timeout: int = 1
) -> Callable[[Env], tuple[Container, dict[str, Any], int]]:
    def make(env: Env) -> tuple[Container, dict[str, Any], int]:
        cmd, b = grpc_health(env)
        p = Probe(
            GRPCAction(port_of(env)),
            initial_delay_seconds=delay,
            timeout_seconds=timeout,
            failure_threshold=1,
            period_seconds=2,
        )
        return _c(cmd, image="agnhost", env=env, ports=(env.grpc,), liveness=p), b, GRACE

    return make


def _terminating(with_liveness: bool) -> Callable[[Env], tuple[Container, dict[str, Any], int]]:
    def make(env: Env) -> tuple[Container, dict[str, Any], int]:
        files: dict[str, tuple[float, float | None]] = {"ready": (0, None)}
        remove = ["ready"]
        if with_liveness:
            files["liveness"] = (0, None)
            remove.append("liveness")
        cmd, b = _script(env, files, on_sigterm={"remove": remove, "exit_after": 5, "exit_code": 0})
        # initialDelay 5 as in the e2e: the script is a Python program that creates its
        # files only once it runs, which on a busy 2-core machine takes over a second,
        # and with failureThreshold 1 an earlier first liveness probe kills a healthy
        # container (issue 13 item 17).
        ready = Probe(
            _cat(env, "ready"), initial_delay_seconds=5, failure_threshold=1, period_seconds=1
        )
        live = (
            Probe(
                _cat(env, "liveness"),
                initial_delay_seconds=5,
                failure_threshold=1,
                period_seconds=1,
            )
            if with_liveness
            else None
        )
        c = _c(cmd, image="agnhost", env=env, readiness=ready)
        return replace(c, liveness_probe=live), b, 10

    return make


REGULAR: list[Scenario] = [
    Scenario(
        "1",
        "with readiness probe should not be ready before initial delay and never restart",
        case1,
        Expect(within=8, restarts=0, ready_not_before=3),
        "initialDelay 15 -> 3, period 10 -> 1",
    ),
    Scenario(
        "2",
        "with readiness probe that fails should never be ready and never restart",
        case2,
        Expect(within=6, restarts=0, never_ready=True),
        "port 81 -> a closed port; 1 min -> 6 s",
    ),
    Scenario(
        "3",
        'should be restarted with a exec "cat /tmp/health" liveness probe',
        case3,
        Expect(within=15, min_restarts=1),
        "file lives 10 -> 3 s; initialDelay 15 -> 4 (still after the file is gone)",
    ),
    Scenario(
        "4",
        'should *not* be restarted with a exec "cat /tmp/health" liveness probe',
        case4,
        Expect(within=25, restarts=0),
        "4 min -> 25 s",
    ),
    Scenario(
        "5",
        "should be restarted with a /healthz http liveness probe",
        _http_liveness("/healthz", 4),
        Expect(within=15, min_restarts=1),
        "healthy 10 -> 3 s, initialDelay 15 -> 4",
    ),
    Scenario(
        "6",
        "should *not* be restarted with a tcp:8080 liveness probe",
        case6,
        Expect(within=25, restarts=0),
        "HTTP turns 500 after 3 s; the socket stays open; 4 min -> 25 s",
    ),
    Scenario(
        "7",
        "should have monotonically increasing restart count",
        _http_liveness("/healthz", 1),
        Expect(within=150, min_restarts=5),
        "initialDelay 5 -> 1; back-off is not scaled (0, 0, 10, 20, 40 s)",
    ),
    Scenario(
        "8",
        "should *not* be restarted with a /healthz http liveness probe",
        case8,
        Expect(within=25, restarts=0),
        "4 min -> 25 s",
    ),
    Scenario(
        "9",
        "should be restarted with an exec liveness probe with timeout",
        _exec_sleep("sleep 3"),
        Expect(within=15, min_restarts=1),
        "sleep 10 -> 3 with timeout 1",
    ),
    Scenario(
        "10",
        "should not be ready with an exec readiness probe timeout",
        _exec_sleep("sleep 3", readiness=True),
        Expect(within=8, restarts=0, never_ready=True),
    ),
    Scenario(
        "11",
        "should be restarted with a failing exec liveness probe that took longer than the timeout",
        _exec_sleep("sleep 3 & exit 1"),
        Expect(within=15, min_restarts=1),
    ),
    Scenario(
        "12",
        "should be restarted with a local redirect http liveness probe",
        _http_liveness("/redirect?loc=%2Fhealthz", 4),
        Expect(within=15, min_restarts=1),
    ),
    Scenario(
        "13",
        "should *not* be restarted with a non-local redirect http liveness probe",
        _http_liveness("/redirect?loc=http%3A%2F%2F0.0.0.0%2F", NOT_RESTARTED_DELAY),
        Expect(
            within=25,
            restarts=0,
            event_contains=(
                (
                    "ProbeWarning",
                    'Probe terminated redirects, Response body: <a href="http://0.0.0.0/">Found</a>.',
                ),
                ("ProbeWarning", "Liveness probe warning: "),
            ),
        ),
    ),
    Scenario(
        "14",
        "should be restarted startup probe fails",
        case14,
        Expect(within=15, min_restarts=1),
        "startup fails after 2 + 3 x 1 s",
    ),
    Scenario(
        "15",
        "should *not* be restarted by liveness probe because startup probe delays it",
        case15,
        Expect(within=10, restarts=0),
        "startup window 60 x 1 s outlasts the observation",
    ),
    Scenario(
        "16",
        "should be restarted by liveness probe after startup probe enables it",
        case16,
        Expect(within=15, min_restarts=1),
        "startup file after 10 -> 3 s",
    ),
    Scenario(
        "17",
        "should be ready immediately after startupProbe succeeds",
        case17,
        Expect(within=12, restarts=0, ready_within_after_started=2),
        "readiness period 30 -> 10 (vs 25 -> 2 s allowed), startup file at 32 -> 4 s",
    ),
    Scenario(
        "18",
        "should override timeoutGracePeriodSeconds when LivenessProbe field is set",
        case18,
        Expect(within=12, min_restarts=1),
        "pod grace 500 -> 300, probe grace 5 -> 3; the app ignores SIGTERM",
    ),
    Scenario(
        "19",
        "should override timeoutGracePeriodSeconds when StartupProbe field is set",
        case19,
        Expect(within=12, min_restarts=1),
        "pod grace 500 -> 300, probe grace 5 -> 3; the app ignores SIGTERM",
    ),
    Scenario(
        "20",
        "should *not* be restarted with a GRPC liveness probe",
        _grpc(lambda e: e.grpc, NOT_RESTARTED_DELAY, timeout=5),
        Expect(within=25, restarts=0),
        "4 min -> 25 s",
    ),
    Scenario(
        "21",
        "should be restarted with a GRPC liveness probe",
        _grpc(lambda e: e.closed, 5),
        Expect(within=15, min_restarts=1),
        "initialDelay 60 -> 5",
    ),
    Scenario(
        "22",
        "should mark readiness on pods to false while pod is in progress of terminating "
        "when a pod has a readiness probe",
        _terminating(False),
        Expect(within=12, delete_after_ready=1, not_ready_within_after_delete=3),
        "readiness period 2 -> 1; SIGTERM handler: rm ready, sleep 30 -> 5, exit 0;"
        " pod grace 30 -> 10",
    ),
    Scenario(
        "23",
        "should mark readiness on pods to false and disable liveness probes while pod is in "
        "progress of terminating",
        _terminating(True),
        Expect(
            within=12,
            delete_after_ready=1,
            not_ready_within_after_delete=3,
            quiet_after_delete=("failed liveness probe", 6),
        ),
        "as #22, the handler also removes the liveness file; liveness initialDelay 5 as the e2e",
    ),
]


def _sidecar(s: Scenario) -> Scenario:
    return replace(s, id=f"S{s.id}", sidecar=True)


SIDECARS: list[Scenario] = [_sidecar(s) for s in REGULAR]
SCENARIOS: list[Scenario] = REGULAR + SIDECARS
BY_ID: dict[str, Scenario] = {s.id: s for s in SCENARIOS}

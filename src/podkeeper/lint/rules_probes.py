"""Rules about probe presence and probe fields: each a function from a Target to Hits."""

from __future__ import annotations

from collections.abc import Iterator

from podkeeper.core.spec import (
    Container,
    ExecAction,
    GRPCAction,
    Handler,
    HTTPGetAction,
    Probe,
    ProbeType,
    SleepAction,
    TCPSocketAction,
)
from podkeeper.lint.finding import Hit, RawTarget, Severity, Target
from podkeeper.lint.images import normalise

_PROBE_TYPES = (ProbeType.STARTUP, ProbeType.READINESS, ProbeType.LIVENESS)

# Workloads whose pods are meant to serve: a missing readiness probe matters
# even when no Service in the input selects them (the Service may live elsewhere).
_SERVING_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"}
)
# The infrastructure image (`registry.k8s.io/pause` and mirrors) only holds namespaces:
# nothing in it to be ready for.


def _is_pause(image: str) -> bool:
    ref = normalise(image).rsplit(":", 1)[0]
    return ref == "pause" or ref.endswith("/pause")


def _readiness_example(c: Container) -> str:
    """A readinessProbe for `c` that itself raises no finding: it probes a port `c` declares."""
    named = [p.name for p in c.ports if p.name]
    if named:
        return (
            f"`readinessProbe: {{httpGet: {{path: /ready, port: {named[0]}}}, periodSeconds: 5}}`"
        )
    if c.ports:
        port = c.ports[0].container_port
        return f"`readinessProbe: {{tcpSocket: {{port: {port}}}, periodSeconds: 5}}`"
    return "`readinessProbe: {exec: {command: [<a command that succeeds when ready>]}}`"


def probes(path: str, c: Container) -> Iterator[tuple[str, ProbeType, Probe]]:
    """(field path, type, probe) for each probe a container has."""
    for t in _PROBE_TYPES:
        p = c.probe(t)
        if p is not None:
            yield f"{path}.{t.field}", t, p


def handler_field(h: Handler) -> str:
    """The YAML key of a handler: `httpGet`, `tcpSocket`, `grpc`, `exec`, `sleep`."""
    if isinstance(h, HTTPGetAction):
        return "httpGet"
    if isinstance(h, TCPSocketAction):
        return "tcpSocket"
    if isinstance(h, GRPCAction):
        return "grpc"
    return "sleep" if isinstance(h, SleepAction) else "exec"


def readiness_missing(t: Target) -> Iterator[Hit]:
    """A serving container without a readiness probe.

    Serving means: it declares ports (in a workload kind that serves), or a
    Service in the input selects the pod. One-shot Jobs, workers without
    ports and the pause container are not reported (issue 14: false alarms).
    """
    if not t.long_running:
        return
    candidates = [(p, c) for p, c in t.containers() if not _is_pause(c.image)]
    with_ports = [(p, c) for p, c in candidates if c.ports]
    if t.service_ports is not None:
        # The Service reaches the containers declaring its target ports; when none
        # declares them (ports are optional), those with ports, or any container.
        targeted = [
            (p, c)
            for p, c in candidates
            if any(
                cp.container_port in t.service_ports or cp.name in t.service_ports for cp in c.ports
            )
        ]
        serving = targeted or with_ports or candidates
        reason = "a Service in the input selects its pods"
    elif t.kind in _SERVING_KINDS:
        serving = with_ports
        reason = f"a {t.kind} container with ports"
    else:
        return
    for path, c in serving:
        if c.readiness_probe is not None:
            continue
        yield Hit(
            path=path,
            container=c.name,
            message=f"container {c.name!r} has no readinessProbe ({reason})",
            why=(
                "Without a readiness probe the kubelet reports the container ready as soon as "
                "it has started (prober_manager.go UpdatePodStatus: no readiness worker means "
                "ready), so Services route traffic to it before the application listens, during "
                "rolling updates too, and keep routing to it when it cannot serve."
            ),
            fix=(
                f"Add a readinessProbe to container {c.name!r} that checks it can serve "
                f"requests, e.g. {_readiness_example(c)}."
            ),
        )


def liveness_missing(t: Target) -> Iterator[Hit]:
    """A long-running container without a liveness probe (info)."""
    if not t.long_running:
        return
    for path, c in t.containers():
        if c.liveness_probe is not None:
            continue
        yield Hit(
            path=path,
            container=c.name,
            message=f"container {c.name!r} has no livenessProbe",
            why=(
                "The kubelet restarts a container only when it exits or fails its liveness "
                "probe; a process that deadlocks or stops making progress without exiting stays "
                "up, and stays in rotation unless readiness catches it."
            ),
            fix=(
                "If the application can hang, add a livenessProbe on a cheap endpoint that "
                "fails only when the process itself is stuck (not when a dependency is down), "
                "with a longer failure window than the readiness probe."
            ),
        )


def _timing(p: Probe) -> tuple[int, int, int, int, int]:
    return (
        p.initial_delay_seconds,
        p.timeout_seconds,
        p.period_seconds,
        p.success_threshold,
        p.failure_threshold,
    )


def identical(c: Container) -> bool:
    """Liveness and readiness with the same handler and the same timing and thresholds."""
    live, ready = c.liveness_probe, c.readiness_probe
    if live is None or ready is None:
        return False
    return live.handler == ready.handler and _timing(live) == _timing(ready)


def _port_number(c: Container, port: int | str) -> int | str:
    if isinstance(port, str):
        for cp in c.ports:
            if cp.name == port:
                return cp.container_port
    return port


def check_key(c: Container, h: Handler) -> tuple[object, ...]:
    """What a probe handler checks, named ports resolved: equal keys run the same check."""
    if isinstance(h, HTTPGetAction):
        path = "/" + h.path.lstrip("/") if h.path else "/"
        return ("httpGet", h.host, h.scheme, _port_number(c, h.port), path.rstrip("/") or "/")
    if isinstance(h, TCPSocketAction):
        return ("tcpSocket", h.host, _port_number(c, h.port))
    if isinstance(h, GRPCAction):
        return ("grpc", h.port, h.service or "")
    if isinstance(h, ExecAction):
        return ("exec", tuple(" ".join(h.command).split()))
    return ("other", h)


def describe_check(c: Container, h: Handler) -> str:
    """`httpGet /healthz on port 8080`, for messages."""
    if isinstance(h, HTTPGetAction):
        return f"httpGet {h.path or '/'} on port {h.port}"
    if isinstance(h, TCPSocketAction):
        return f"tcpSocket on port {h.port}"
    if isinstance(h, GRPCAction):
        return f"grpc on port {h.port}" + (f" service {h.service!r}" if h.service else "")
    if isinstance(h, ExecAction):
        return f"exec {' '.join(h.command)!r}"
    return handler_field(h)


def same_check(c: Container) -> bool:
    """Liveness and readiness run the same check (same handler, path, port or command)."""
    live, ready = c.liveness_probe, c.readiness_probe
    if live is None or ready is None:
        return False
    return check_key(c, live.handler) == check_key(c, ready.handler)


def probe_identical(t: Target) -> Iterator[Hit]:
    """Liveness runs the same check as readiness: a dependency blip restarts every replica."""
    for path, c in t.probed_containers():
        if not same_check(c) or c.liveness_probe is None:
            continue
        p = c.liveness_probe
        what = describe_check(c, p.handler)
        if identical(c):
            message = (
                f"livenessProbe of {c.name!r} is identical to its readinessProbe "
                f"(same {handler_field(p.handler)} handler, periodSeconds {p.period_seconds}, "
                f"failureThreshold {p.failure_threshold}, timeoutSeconds {p.timeout_seconds})"
            )
        else:
            message = (
                f"livenessProbe of {c.name!r} runs the same check as its readinessProbe "
                f"({what}), only with other timings"
            )
        yield Hit(
            path=f"{path}.livenessProbe",
            container=c.name,
            message=message,
            why=(
                "Both probes fail on the same ticks, so the moment readiness would take the pod "
                "out of rotation liveness restarts it as well. When the check depends on "
                "something shared (a database, a slow downstream), every replica fails together "
                "and is restarted together instead of being drained and waited for. Longer "
                "liveness timings only delay this: whatever makes readiness fail for long "
                "enough restarts the container."
            ),
            fix=(
                "Point liveness at a cheap endpoint that only says the process is alive "
                "(e.g. /livez) and keep the dependency checks in readiness (/readyz); give "
                "liveness a failure window at least as long as readiness's."
            ),
        )


def _port_hits(target: Target, path: str, c: Container, t: ProbeType, p: Probe) -> Iterator[Hit]:
    h = p.handler
    if not isinstance(h, HTTPGetAction | TCPSocketAction | GRPCAction):
        return
    port = h.port
    port_path = f"{path}.{handler_field(h)}.port"
    if isinstance(port, str):
        if any(cp.name == port for cp in c.ports):
            return
        declared = ", ".join(cp.name for cp in c.ports if cp.name) or "none"
        owner = _owner(target, c, port)
        elsewhere = f"; container {owner.name!r} declares it" if owner is not None else ""
        yield Hit(
            path=port_path,
            container=c.name,
            severity=Severity.ERROR,
            message=(
                f"{t.field} of {c.name!r} uses port {port!r}, which no containerPort of "
                f"{c.name!r} names (named ports: {declared}{elsewhere})"
            ),
            why=(
                "The kubelet resolves a named probe port among the container's own ports "
                f'only; when none matches, every probe errors with `port "{port}" not found` '
                "and its result is discarded (kubelet-semantics §8): readiness then stays false "
                "forever and liveness never detects anything."
            ),
            fix=(
                f"Add `ports: [{{name: {port}, containerPort: <port>}}]` to {c.name!r}, or use "
                "the port number in the probe."
            ),
        )
        return
    if any(cp.container_port == port for cp in c.ports) or _owner(target, c, port) is not None:
        return  # declared here, or probe-port-other-container's finding
    yield Hit(
        path=port_path,
        container=c.name,
        severity=Severity.INFO,
        message=f"{t.field} of {c.name!r} probes port {port}, which {c.name!r} does not declare",
        why=(
            "Declaring container ports is optional and the probe works without it, but an "
            "undeclared port is often a typo or a port the application no longer opens, and a "
            "declared, named port lets probes and Services follow a port change."
        ),
        fix=(
            f"Declare it: `ports: [{{name: http, containerPort: {port}}}]`, then probe "
            "`port: http`."
        ),
    )


def probe_port_other_container(t: Target) -> Iterator[Hit]:
    """A probe aimed at a port that another container of the pod declares."""
    for path, c in t.probed_containers():
        own = {cp.container_port for cp in c.ports} | {cp.name for cp in c.ports if cp.name}
        for probe_path, pt, p in probes(path, c):
            h = p.handler
            if not isinstance(h, HTTPGetAction | TCPSocketAction | GRPCAction):
                continue
            if isinstance(h, HTTPGetAction | TCPSocketAction) and h.host:
                continue
            if h.port in own:
                continue
            if isinstance(h, HTTPGetAction) and h.path.startswith("/app-health/"):
                continue  # a service mesh's probe rewrite: its proxy forwards to the app
            if isinstance(h.port, str):
                continue  # a named port: probe-port-undeclared reports it (an error)
            owner = _owner(t, c, h.port)
            if owner is None:
                continue
            yield Hit(
                path=f"{probe_path}.{handler_field(h)}.port",
                container=c.name,
                message=(
                    f"{pt.field} of {c.name!r} probes port {h.port}, which container "
                    f"{owner.name!r} declares"
                ),
                why=(
                    "Containers of a pod share one network namespace, so the probe reaches "
                    f"{owner.name!r}, not {c.name!r}: it says nothing about {c.name!r}, and "
                    f"when {owner.name!r} fails it is {c.name!r} that is restarted or taken "
                    "out of rotation."
                ),
                fix=(
                    f"Move the probe to container {owner.name!r}, or probe a port that "
                    f"{c.name!r} itself serves."
                ),
            )


def _owner(t: Target, c: Container, port: int | str) -> Container | None:
    """Another container of the pod that declares `port` (by number or name)."""
    for _, o in [*t.containers(), *t.init_containers()]:
        if o.name != c.name and any(cp.container_port == port or cp.name == port for cp in o.ports):
            return o
    return None


def probe_port_undeclared(t: Target) -> Iterator[Hit]:
    """A probe port no containerPort declares: named is an error, numeric only info."""
    for path, c in t.probed_containers():
        for probe_path, pt, p in probes(path, c):
            yield from _port_hits(t, probe_path, c, pt, p)


def probe_timeout_exceeds_period(t: Target) -> Iterator[Hit]:
    """`timeoutSeconds >= periodSeconds`."""
    for path, c in t.probed_containers():
        for probe_path, pt, p in probes(path, c):
            # A non-positive period is k8s-invalid's finding, not a timing problem.
            if p.period_seconds <= 0 or p.timeout_seconds < p.period_seconds:
                continue
            yield Hit(
                path=f"{probe_path}.timeoutSeconds",
                container=c.name,
                message=(
                    f"{pt.field} of {c.name!r}: timeoutSeconds {p.timeout_seconds} >= "
                    f"periodSeconds {p.period_seconds}"
                ),
                why=(
                    "The probe worker runs each probe synchronously (worker.go doProbe), so "
                    "while a slow target holds a probe until its timeout the ticker's ticks are "
                    "dropped: the probe really runs every max(timeout, period) seconds and a "
                    "hung container is detected later than periodSeconds × failureThreshold "
                    "suggests."
                ),
                fix=(
                    f"Set timeoutSeconds below periodSeconds (e.g. timeoutSeconds: "
                    f"{max(1, p.period_seconds // 2)}), or raise periodSeconds above "
                    f"{p.timeout_seconds}."
                ),
            )


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def probe_http_host(t: Target) -> Iterator[Hit]:
    """`httpGet.host` set on a probe or hook."""
    for path, c in t.probed_containers():
        handlers: list[tuple[str, Handler]] = [
            (f"{probe_path}.httpGet", p.handler) for probe_path, _, p in probes(path, c)
        ]
        for hook in ("postStart", "preStop"):
            h = getattr(c.lifecycle, "post_start" if hook == "postStart" else "pre_stop")
            if h is not None:
                handlers.append((f"{path}.lifecycle.{hook}.httpGet", h))
        for hpath, h in handlers:
            if not isinstance(h, HTTPGetAction) or not h.host:
                continue
            if t.pod.spec.host_network and h.host in _LOOPBACK:
                # With hostNetwork the pod shares the node's network namespace: loopback
                # is the pod itself (and the usual way to probe a port bound to it).
                continue
            yield Hit(
                path=f"{hpath}.host",
                container=c.name,
                message=f"httpGet of {c.name!r} is sent to host {h.host!r}, not to the pod",
                why=(
                    "With host set the kubelet connects to that address instead of the pod IP, "
                    "so the check tests another machine (or the node) and says nothing about "
                    "this container; every replica gets the same verdict. To send a virtual "
                    "host name the Host header is the right tool."
                ),
                fix=(
                    "Remove httpGet.host; if the application needs a virtual host, add "
                    f"`httpHeaders: [{{name: Host, value: {h.host}}}]`."
                ),
            )


def sidecar_probe_misplaced(t: RawTarget) -> Iterator[Hit]:
    """Probes on an init container that is not a sidecar (`restartPolicy: Always`).

    Raw, because the API server rejects such a pod, so it may not convert.
    """
    spec = t.template.get("spec")
    inits = spec.get("initContainers") if isinstance(spec, dict) else None
    if not isinstance(inits, list):
        return
    for i, c in enumerate(inits):
        if not isinstance(c, dict) or c.get("restartPolicy") == "Always":
            continue
        name = str(c.get("name", f"#{i}"))
        for pt in _PROBE_TYPES:
            if c.get(pt.field) is None:
                continue
            yield Hit(
                path=t.spec_path(f"initContainers[{i}].{pt.field}"),
                container=name,
                message=f"init container {name!r} has a {pt.field} but no restartPolicy: Always",
                why=(
                    "Ordinary init containers run to completion one after another; the kubelet "
                    "starts probe workers only for regular containers and restartable init "
                    "containers (prober_manager.go AddPod), and the API server rejects the "
                    "field (`may not be set for init containers without restartPolicy=Always`)."
                ),
                fix=(
                    f"If {name!r} is a sidecar that keeps running, add `restartPolicy: Always` "
                    "to it (Kubernetes 1.29+); otherwise remove the probe."
                ),
            )

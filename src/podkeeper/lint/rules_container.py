"""Rules about images, hooks and memory: exec tools, preStop, limits, JVM heap."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterator

from podkeeper.core.spec import Container, ExecAction, Handler, SleepAction
from podkeeper.lint import images, jvm
from podkeeper.lint.finding import Hit, Severity, Target
from podkeeper.lint.rules_probes import probes

_SHELLS = frozenset({"sh", "bash", "ash", "dash"})
# Words in a `sh -c` script that run a listed tool (at the start or after ; | & && ||).
_SCRIPT_TOOL_RE = re.compile(r"(?:^|[;&|(`]|\$\()\s*(?:[\w./-]*/)?(sh|bash|curl|wget)\b")
# `sleep 20`, `sleep 20s`, `sleep 1m` (GNU/busybox sleep suffixes).
_SLEEP_RE = re.compile(r"(?<![\w-])sleep\s+(\d+(?:\.\d+)?)([smh]?)(?![\w.])")
_SLEEP_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}

MIB = 1 << 20
#: Non-heap memory below these leaves too little for metaspace, threads, code cache, GC.
NON_HEAP_MIN_FRACTION = 0.25
NON_HEAP_MIN_BYTES = 256 * MIB
#: Heap at or above this share of the limit: OOMKilled as soon as the heap fills.
HEAP_ERROR_FRACTION = 0.9


def _exec_handlers(path: str, c: Container) -> Iterator[tuple[str, str, ExecAction]]:
    """(field path of `exec`, what it is, action) for every exec probe and hook."""
    for probe_path, pt, p in probes(path, c):
        if isinstance(p.handler, ExecAction):
            yield f"{probe_path}.exec", pt.field, p.handler
    hooks: tuple[tuple[str, Handler | None], ...] = (
        ("postStart", c.lifecycle.post_start),
        ("preStop", c.lifecycle.pre_stop),
    )
    for hook, h in hooks:
        if isinstance(h, ExecAction):
            yield f"{path}.lifecycle.{hook}.exec", f"{hook} hook", h


def tools_called(command: tuple[str, ...]) -> set[str]:
    """sh/bash/curl/wget that a command runs: its program, and commands in a `-c` script."""
    if not command:
        return set()
    program = posixpath.basename(command[0])
    found = {program} & images.ALL_TOOLS
    if program in _SHELLS:
        for arg in command[1:]:
            found.update(m.group(1) for m in _SCRIPT_TOOL_RE.finditer(arg))
    return found


def exec_probe_tool_missing(t: Target) -> Iterator[Hit]:
    """An exec probe or hook calling a tool the image does not ship."""
    for path, c in [*t.containers(), *t.init_containers()]:
        lacks, what = images.missing_tools(c.image)
        if not lacks:
            continue
        for exec_path, where, action in _exec_handlers(path, c):
            missing = sorted(tools_called(action.command) & lacks)
            if not missing:
                continue
            names = ", ".join(missing)
            yield Hit(
                path=f"{exec_path}.command",
                container=c.name,
                message=f"{where} of {c.name!r} runs {names}, which {c.image!r} does not contain",
                why=(
                    f"{c.image} is {what}, which ships no {names}. The runtime cannot start "
                    "the command (`executable file not found in $PATH`, exit 126/127 in a "
                    "shell), so the check fails every time: a liveness or startup probe "
                    "restarts the container forever, a readiness probe keeps it out of "
                    "rotation, a preStop hook fails (FailedPreStopHook) without draining."
                ),
                fix=(
                    "Use an httpGet, tcpSocket or grpc probe, which needs nothing in the image; "
                    "or call the application's own binary; or use an image variant that ships "
                    "a shell (distroless `:debug`, Chainguard `-dev`)."
                ),
            )


def sleep_seconds(h: Handler) -> tuple[float, str] | None:
    """How long a preStop handler sleeps, and the field that says so; None if unknown."""
    if isinstance(h, SleepAction):
        return float(h.seconds), "sleep.seconds"
    if isinstance(h, ExecAction):
        total = 0.0
        for arg in h.command:
            for m in _SLEEP_RE.finditer(arg):
                total += float(m.group(1)) * _SLEEP_UNITS[m.group(2)]
        # `["sleep", "20"]`: the number is its own argument.
        for a, b in zip(h.command, h.command[1:], strict=False):
            pair = _SLEEP_RE.fullmatch(f"sleep {b}")
            if posixpath.basename(a) == "sleep" and pair is not None:
                total += float(pair.group(1)) * _SLEEP_UNITS[pair.group(2)]
        return (total, "exec.command") if total else None
    return None


def prestop_exceeds_grace(t: Target) -> Iterator[Hit]:
    """A preStop sleep at or over terminationGracePeriodSeconds."""
    grace = t.pod.spec.termination_grace_period_seconds
    for path, c in t.probed_containers():
        h = c.lifecycle.pre_stop
        found = sleep_seconds(h) if h is not None else None
        if found is None or found[0] < grace:
            continue
        seconds, field = found
        yield Hit(
            path=f"{path}.lifecycle.preStop.{field}",
            container=c.name,
            message=(
                f"preStop of {c.name!r} sleeps {seconds:g}s, but terminationGracePeriodSeconds "
                f"is {grace}"
            ),
            why=(
                "The grace period covers the preStop hook and the shutdown after it: the "
                "kubelet waits at most the grace period for the hook, subtracts the time it "
                "took, and gives the container only the 2 s minimum before SIGKILL when "
                "nothing is left (kuberuntime_container.go killContainer). The application "
                "never gets to drain on SIGTERM; in-flight requests are cut off."
            ),
            fix=(
                f"Raise terminationGracePeriodSeconds to at least {math.ceil(seconds) + 10} "
                "(the sleep plus the application's own shutdown time), or shorten the sleep."
            ),
        )


def memory_limit_missing(t: Target) -> Iterator[Hit]:
    """A container without `resources.limits.memory`."""
    for path, c in [*t.containers(), *t.init_containers()]:
        if c.resources.limits_memory is not None:
            continue
        yield Hit(
            path=f"{path}.resources",
            container=c.name,
            message=f"container {c.name!r} has no memory limit",
            why=(
                "Without a limit the container can use all of the node's memory; the kernel's "
                "OOM killer then chooses victims across the node (other pods, system daemons) "
                "instead of this container, and runtimes such as the JVM size their heaps from "
                "the node's memory rather than the container's share."
            ),
            fix=(
                "Set resources.limits.memory (and requests.memory) to the measured peak plus "
                "headroom, e.g. `resources: {limits: {memory: 512Mi}}`."
            ),
        )


def _java_sources(path: str, c: Container) -> Iterator[tuple[str, str]]:
    # HotSpot reads JAVA_TOOL_OPTIONS first and the launcher puts JDK_JAVA_OPTIONS
    # before the command line; scripts put JAVA_OPTS on it. Later flags win.
    by_name = {e.name: (i, e) for i, e in enumerate(c.env)}
    for name in jvm.ENV_VARS:
        if name in by_name:
            i, e = by_name[name]
            if e.value:
                yield f"{path}.env[{i}].value", e.value
    for field, values in (("command", c.command), ("args", c.args)):
        for i, v in enumerate(values):
            yield f"{path}.{field}[{i}]", v
    if jvm.LAST_ENV_VAR in by_name:
        i, e = by_name[jvm.LAST_ENV_VAR]
        if e.value:
            yield f"{path}.env[{i}].value", e.value


def jvm_heap_near_limit(t: Target) -> Iterator[Hit]:
    """A JVM heap leaving under 25 % or under 256 MiB of the memory limit for non-heap."""
    for path, c in [*t.containers(), *t.init_containers()]:
        limit = c.resources.limits_memory
        if limit is None:
            continue
        flags = jvm.scan(_java_sources(path, c))
        heap = jvm.max_heap(flags, limit)
        if heap is None:
            continue
        left = limit - heap.bytes
        if left >= NON_HEAP_MIN_FRACTION * limit and left >= NON_HEAP_MIN_BYTES:
            continue
        error = heap.bytes >= HEAP_ERROR_FRACTION * limit
        share = max(left, 0) / limit * 100
        best_heap = min(int(limit * (1 - NON_HEAP_MIN_FRACTION)), limit - NON_HEAP_MIN_BYTES)
        best_limit = max(
            math.ceil(heap.bytes / (1 - NON_HEAP_MIN_FRACTION)), heap.bytes + NON_HEAP_MIN_BYTES
        )
        best_limit = math.ceil(best_limit / MIB) * MIB
        lower = (
            f"lower the heap to at most -Xmx{best_heap // MIB}m (or -XX:MaxRAMPercentage="
            f"{best_heap * 100 // limit}), or "
            if best_heap > 0
            else ""
        )
        yield Hit(
            path=heap.path,
            container=c.name,
            severity=Severity.ERROR if error else Severity.WARNING,
            message=(
                f"JVM heap of {c.name!r} ({heap.how}: {jvm.mib(heap.bytes)}) leaves "
                f"{jvm.mib(max(left, 0))} ({share:.0f}%) of the {jvm.mib(limit)} memory limit "
                "for everything else"
            ),
            why=(
                "The memory limit covers the whole process, not just the heap: metaspace, "
                "thread stacks, the JIT's code cache, GC bookkeeping, direct and mapped "
                "buffers usually need at least 256 MiB and a quarter of the limit. When the "
                "heap grows into the rest, the kernel kills the process (OOMKilled, exit 137) "
                "while the JVM still believes it has room: the classic 'heap below the limit "
                "but still OOMKilled'."
            ),
            fix=(
                (lower[:1].upper() + lower[1:] + "raise" if lower else "Raise")
                + f" resources.limits.memory to at least {jvm.mib(best_limit)}."
            ),
        )

"""The JVM's heap ceiling from its flags, for the OOM verdicts (issue 3; split from verdict.py).

Pure: the flags come from the container's argv and environment as the JVM
launcher reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MiB = 1024 * 1024

# The JVM's default -XX:MaxRAMPercentage: with no heap flag, the heap may take a quarter
# of the container limit (HotSpot `arguments.cpp`, container-aware since JDK 10).
JVM_DEFAULT_MAX_RAM_PERCENTAGE = 25.0
# What the JVM needs beyond its heap, as a share of the limit, before it is at risk.
NON_HEAP_HEADROOM = 0.25


@dataclass(frozen=True)
class JvmHeap:
    """The heap ceiling of a JVM (or of the modelled one, HEAP_MB) and what set it."""

    bytes: int
    source: str  # "-Xmx64m", "-XX:MaxRAMPercentage=75 of 256 MiB", "HEAP_MB=48", ...


def mib(n: int | None) -> str:
    return "?" if n is None else f"{n / MiB:.0f} MiB"


_HEAP_SIZE = re.compile(r"(?:-Xmx|-XX:MaxHeapSize=)(\d+)([kKmMgGtT]?)(?![\w.])")
_PCT = re.compile(r"-XX:MaxRAMPercentage=(\d+(?:\.\d+)?)")
_JAVA = re.compile(r"(?:^|[\s/])java(?:\s|$)")
_SCALE = {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB, "t": 1024 * 1024 * MiB}
# Option variables in the order the launcher applies them; later ones win.
_JVM_ENV = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_OPTS")


def jvm_heap(argv: tuple[str, ...], env: Mapping[str, str], limit: int | None) -> JvmHeap | None:
    """The JVM heap ceiling: the last -Xmx/-XX:MaxHeapSize, else the last
    -XX:MaxRAMPercentage of `limit` (bytes), from JAVA_TOOL_OPTIONS,
    JDK_JAVA_OPTIONS, JAVA_OPTS and then the command line, as the JVM reads them;
    a plain `java` command gets the JVM's default 25 % of the limit. The modelled
    JVM of `examples/jvm-oom` declares its heap in HEAP_MB (MiB). None when the
    instance is not a JVM, or its ceiling cannot be known."""
    text = " ".join([*(env.get(k, "") for k in _JVM_ENV), *argv])
    sizes = _HEAP_SIZE.findall(text)
    if sizes:
        number, unit = sizes[-1]
        flag = "-Xmx" if f"-Xmx{number}{unit}" in text else "-XX:MaxHeapSize="
        return JvmHeap(int(number) * _SCALE[unit.lower()], f"{flag}{number}{unit}")
    pcts = _PCT.findall(text)
    if pcts and limit:
        pct = float(pcts[-1])
        return JvmHeap(int(limit * pct / 100), f"-XX:MaxRAMPercentage={pcts[-1]} of {mib(limit)}")
    heap_mb = env.get("HEAP_MB", "")
    if heap_mb.isdigit():
        return JvmHeap(int(heap_mb) * MiB, f"HEAP_MB={heap_mb}")
    if limit and _JAVA.search(" ".join(argv)):
        pct = JVM_DEFAULT_MAX_RAM_PERCENTAGE
        return JvmHeap(int(limit * pct / 100), f"the JVM default MaxRAMPercentage={pct:g}")
    return None


def jvm_heap_bytes(argv: tuple[str, ...], env: Mapping[str, str], limit: int | None) -> int | None:
    """`jvm_heap` in bytes only."""
    heap = jvm_heap(argv, env, limit)
    return heap.bytes if heap is not None else None

"""The JVM's maximum heap as HotSpot derives it from its flags and the container limit.

HotSpot (`arguments.cpp` `Arguments::set_heap_size`): `-Xmx` / `-XX:MaxHeapSize`
wins; otherwise the heap is `MaxRAMPercentage` (default 25) % of the
physical memory, which in a container is the cgroup memory limit, unless
`-XX:MaxRAM` is given explicitly, in which case it replaces the physical
memory even when larger than the limit. When a flag appears several times
the last one wins; `JAVA_TOOL_OPTIONS` is read before `JDK_JAVA_OPTIONS`,
which the launcher puts before the command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SIZE = r"(\d+)([kKmMgGtT]?)"
_XMX_RE = re.compile(r"(?<![\w-])-(?:Xmx|XX:MaxHeapSize=)" + _SIZE + r"(?![\w.])")
_PERCENT_RE = re.compile(r"(?<![\w-])-XX:MaxRAMPercentage=(\d+(?:\.\d*)?)(?![\w.])")
_MAXRAM_RE = re.compile(r"(?<![\w-])-XX:MaxRAM=" + _SIZE + r"(?![\w.])")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

#: Where the JVM and its launch scripts read options from the environment, in the order
#: they reach HotSpot (later flags win): JAVA_TOOL_OPTIONS is read first, the `java`
#: launcher puts JDK_JAVA_OPTIONS before the command line, start scripts put JAVA_OPTS,
#: JVM_OPTS (Cassandra, Kafka), CATALINA_OPTS (Tomcat) and ES_JAVA_OPTS (Elasticsearch,
#: OpenSearch) on it.
ENV_VARS = (
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "JAVA_OPTS",
    "JVM_OPTS",
    "CATALINA_OPTS",
    "ES_JAVA_OPTS",
)
#: Read by HotSpot after the command line, so its flags override everything else.
LAST_ENV_VAR = "_JAVA_OPTIONS"

DEFAULT_MAX_RAM_PERCENTAGE = 25.0


def parse_size(number: str, unit: str) -> int:
    """`512` `m` -> 536870912: HotSpot memory sizes, binary units, case-insensitive."""
    return int(number) * _UNITS[unit.lower()]


@dataclass(frozen=True)
class HeapFlags:
    """The heap flags found, each with the field path it came from (last one wins)."""

    xmx: tuple[int, str] | None = None
    max_ram_percentage: tuple[float, str] | None = None
    max_ram: tuple[int, str] | None = None

    @property
    def any(self) -> bool:
        return (
            self.xmx is not None or self.max_ram_percentage is not None or self.max_ram is not None
        )


def scan(sources: Iterable[tuple[str, str]]) -> HeapFlags:
    """Heap flags in (field path, text) pairs given in the JVM's reading order."""
    xmx: tuple[int, str] | None = None
    pct: tuple[float, str] | None = None
    ram: tuple[int, str] | None = None
    for path, text in sources:
        for m in _XMX_RE.finditer(text):
            xmx = (parse_size(m.group(1), m.group(2)), path)
        for m in _PERCENT_RE.finditer(text):
            pct = (float(m.group(1)), path)
        for m in _MAXRAM_RE.finditer(text):
            ram = (parse_size(m.group(1), m.group(2)), path)
    return HeapFlags(xmx, pct, ram)


@dataclass(frozen=True)
class Heap:
    """The resulting maximum heap in bytes, how it was derived, and the flag's field path."""

    bytes: int
    how: str
    path: str


def max_heap(flags: HeapFlags, limit_bytes: int) -> Heap | None:
    """The heap HotSpot will allow under a `limit_bytes` memory limit; None without heap flags."""
    if flags.xmx is not None:
        size, path = flags.xmx
        return Heap(size, f"-Xmx{mib(size)}", path)
    if flags.max_ram_percentage is None and flags.max_ram is None:
        return None
    pct, path = DEFAULT_MAX_RAM_PERCENTAGE, ""
    if flags.max_ram_percentage is not None:
        pct, path = flags.max_ram_percentage
    ram = limit_bytes
    how = f"-XX:MaxRAMPercentage={pct:g} of the {mib(limit_bytes)} limit"
    if flags.max_ram is not None:
        ram, ram_path = flags.max_ram
        path = path or ram_path
        how = f"-XX:MaxRAMPercentage={pct:g} of -XX:MaxRAM={mib(ram)}"
    return Heap(int(ram * pct / 100), how, path)


def mib(size: int) -> str:
    """Bytes as `2Gi` when whole gibibytes, else `1200Mi` (rounded up)."""
    if size and size % (1 << 30) == 0:
        return f"{size >> 30}Gi"
    return f"{-(-size // (1 << 20))}Mi"

"""A model of a JVM that is OOMKilled below its heap limit, for machines without a JDK.

The "heap" is a list of byte arrays that never grows past HEAP_MB MiB (the modelled
-Xmx): a real JVM would collect garbage or throw OutOfMemoryError there. "Native"
memory (what a JVM spends on metaspace, thread stacks, direct buffers and native
libraries) is anonymous memory outside it, NATIVE_STEP_MB MiB at a time, every page
touched so it is resident and charged to the container's cgroup. It grows until the
container's memory limit is reached and the kernel OOM-kills the process.

Environment: HEAP_MB (default 48), NATIVE_STEP_MB (default 8), STEP_SECONDS between
native steps (default 0.02), NATIVE_MAX_MB to stop growing (default: never).
"""

from __future__ import annotations

import mmap
import os
import time

MiB = 1 << 20
PAGE = mmap.PAGESIZE


def touched(size: int) -> mmap.mmap:
    """`size` bytes of anonymous memory with every page written (resident)."""
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for off in range(0, size, PAGE):
        m[off] = 1
    return m


def main() -> None:
    heap_mb = int(os.environ.get("HEAP_MB", "48"))
    step_mb = int(os.environ.get("NATIVE_STEP_MB", "8"))
    pause = float(os.environ.get("STEP_SECONDS", "0.02"))
    native_max = int(os.environ.get("NATIVE_MAX_MB", "0")) or None
    # The heap: filled to 90 % of its ceiling and then left alone, like a healthy JVM.
    heap = [b"h" * MiB for _ in range(heap_mb * 9 // 10)]
    print(f"heap {len(heap)} MiB used of {heap_mb} MiB (HEAP_MB)")
    native: list[mmap.mmap] = []
    while native_max is None or len(native) * step_mb < native_max:
        native.append(touched(step_mb * MiB))
        print(f"native {len(native) * step_mb} MiB, heap {len(heap)} MiB of {heap_mb} MiB")
        time.sleep(pause)
    print("native allocation stopped at NATIVE_MAX_MB; exiting")


if __name__ == "__main__":
    main()

"""Where `nft` is, and a /proc/sys writer: shared by the hostPort table
(runtime/process/hostports.py) and the Services' data path (lb/nft.py), which may import
the runtime layer but not the reverse."""

from __future__ import annotations

import logging
import os
import shutil

log = logging.getLogger(__name__)


def nft_path() -> str | None:
    """The `nft` binary on PATH or in the sbin folders root's PATH may lack."""
    return shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None
    )


def write_proc(path: str, value: str) -> None:
    """Write a /proc/sys value (route_localnet), logging instead of failing: the rules
    work without it for every client but loopback."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        log.warning("could not write %s: %s", path, exc)

"""Where `nft` is: shared by the hostPort table (runtime/process/hostports.py) and the
Services' data path (lb/nft.py), which may import the runtime layer but not the reverse."""

from __future__ import annotations

import os
import shutil


def nft_path() -> str | None:
    """The `nft` binary on PATH or in the sbin folders root's PATH may lack."""
    return shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None
    )

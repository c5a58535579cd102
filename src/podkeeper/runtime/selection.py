"""Which container runtime an agent uses: `--runtime process|containerd|cri|auto`.

- `process`: host processes (runtime/process/runtime.py), no daemon.
- `containerd`: a private containerd the agent starts and owns (runtime/cri).
- `cri`: an existing CRI endpoint (`--cri-endpoint`, default containerd's socket).
- `auto` (the default): `process`. The chosen runtime is only the default, for pods
  without a `spec.runtimeClassName`: the agent opens the other one when a pod's class
  names it (runtime/runtimes.py), so host-binary and image pods run side by side. The
  issue's rule for `auto` (containerd when root with containerd, runc and the CNI
  plugins installed) would make every host-binary manifest without a class, the bundled
  examples included, an image pull on such a host, against interface.md's contract that
  the default runtime treats `image` as a label; `auto_choice()` computes that rule for
  `version`.

`PODKEEPER_RUNTIME` and `PODKEEPER_CRI_ENDPOINT` set the same from the
environment (the CLI sets them for the agent it starts).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podkeeper.runtime.cri import CriRuntime, CriSandboxes, PodSandboxSpec

RUNTIMES = ("auto", "process", "containerd", "cri")
ENV_RUNTIME = "PODKEEPER_RUNTIME"
ENV_ENDPOINT = "PODKEEPER_CRI_ENDPOINT"


def requested_runtime(choice: str | None = None) -> str:
    """The runtime asked for: `choice`, else $PODKEEPER_RUNTIME, else `auto`; ValueError when
    it is none of RUNTIMES."""
    value = (choice or os.environ.get(ENV_RUNTIME) or "auto").strip().lower()
    if value not in RUNTIMES:
        raise ValueError(
            f"unknown runtime {value!r} (from {'--runtime' if choice else ENV_RUNTIME}): "
            f"expected one of {', '.join(RUNTIMES)}"
        )
    return value


def auto_choice() -> tuple[str, str]:
    """What `auto` would pick by the issue's rule, and why (for `version` and the docs)."""
    from podkeeper.runtime.cri.containerd import unavailable_reason

    why = unavailable_reason()
    if why is None:
        return "containerd", "root, with containerd, runc and the CNI plugins installed"
    return "process", why


def resolve(choice: str) -> str:
    """`auto` -> the runtime to use (see the module docstring); others unchanged."""
    return "process" if choice == "auto" else choice


async def open_cri(
    home: Path,
    kind: str,
    endpoint: str | None,
    describe: Callable[[str], PodSandboxSpec | None] | None,
) -> tuple[CriRuntime, CriSandboxes]:
    """The CRI runtime and sandboxes for `kind` ("containerd" or "cri"); RuntimeError saying
    why not (e.g. not root, containerd missing, the endpoint does not answer)."""
    from podkeeper.runtime.cri import open_runtime

    endpoint = endpoint or os.environ.get(ENV_ENDPOINT) or None
    return await open_runtime(home, kind, endpoint, describe)

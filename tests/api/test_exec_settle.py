"""`kubectl exec` waits for a process-runtime container's start chain (api/execstream.py)."""

from __future__ import annotations

import subprocess
import time

from podkeeper.api import execstream


def _spawn(*argv: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv)
    time.sleep(0.2)  # let it exec; the assertions below only read /proc
    return proc


def test_the_start_chain_is_not_the_container_yet() -> None:
    # The first link of the chain: a shell whose script joins the cgroup.
    chain = _spawn("sh", "-c", "echo 0 >/dev/null # cgroup.procs\nsleep 30")
    app = _spawn("sleep", "30")
    try:
        assert execstream._setting_up(chain.pid)
        assert not execstream._setting_up(app.pid)
    finally:
        for p in (chain, app):
            p.kill()
            p.wait()
    assert not execstream._setting_up(chain.pid)  # gone: command_line reports it

"""busybox running the e2e cases' shell scripts: files appear and vanish on a schedule.

--file NAME:FROM:UNTIL creates STATE/NAME FROM seconds after start and removes it
at UNTIL (empty: never). On SIGTERM: --sigterm-remove NAME... are removed, then
the process exits with --sigterm-exit-code after --sigterm-exit-after seconds;
without those options it dies by SIGTERM (143); --ignore-sigterm ignores it
(like busybox `sleep` as PID 1), so only SIGKILL ends it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", default="/tmp/podkeeper-scenario")
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--sigterm-remove", action="append", default=[])
    ap.add_argument("--sigterm-exit-after", type=float, default=None)
    ap.add_argument("--sigterm-exit-code", type=int, default=0)
    ap.add_argument("--ignore-sigterm", action="store_true")
    args = ap.parse_args()
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    plan: list[tuple[float, str, bool]] = []  # (at, name, create?)
    for spec in args.file:
        name, start, end = spec.split(":")
        plan.append((float(start), name, True))
        if end:
            plan.append((float(end), name, False))
    plan.sort()

    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif args.sigterm_remove or args.sigterm_exit_after is not None:

        def on_term(signum: int, frame: FrameType | None) -> None:
            for name in args.sigterm_remove:
                try:
                    (state / name).unlink()
                except FileNotFoundError:
                    pass
            time.sleep(args.sigterm_exit_after or 0)
            sys.stdout.flush()
            os._exit(args.sigterm_exit_code)

        signal.signal(signal.SIGTERM, on_term)

    for at, name, create in plan:
        delay = started + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        path = state / name
        if create:
            path.write_text("ok\n")
        else:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

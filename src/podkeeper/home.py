"""Where an agent keeps its state: the `PODKEEPER_HOME` folder and the files in it.

Resolution order (interface.md, "Names"): an explicit path (the CLI's
`--home`), then `$PODKEEPER_HOME`, then `$XDG_STATE_HOME/podkeeper`, then
`~/.local/state/podkeeper`. Two homes never see each other's agent.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The agent's REST API socket (unix domain, mode 0600).
SOCKET_NAME = "agent.sock"
#: The SQLite state database (runtime/store.py).
DB_NAME = "state.db"
#: The detached agent's own log (stdout + stderr).
LOG_NAME = "agent.log"
#: The running agent's process id, as decimal text.
PID_NAME = "agent.pid"
#: Container log files live under this sub-folder.
LOGS_DIR_NAME = "logs"

HOME_ENV = "PODKEEPER_HOME"


def default_home() -> Path:
    """The home used when nothing explicit is given (not created)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "podkeeper"
    return Path.home() / ".local" / "state" / "podkeeper"


def resolve_home(explicit: str | None) -> Path:
    """The absolute home folder, created with mode 0700 if missing.

    An existing folder keeps its mode: the user may have chosen it."""
    home = Path(explicit).expanduser() if explicit else default_home()
    home = home.absolute()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def socket_path(home: Path) -> Path:
    """The API socket of the agent for `home`."""
    return home / SOCKET_NAME


def db_path(home: Path) -> Path:
    """The state database of the agent for `home`."""
    return home / DB_NAME


def log_path(home: Path) -> Path:
    """The agent's own log file for `home`."""
    return home / LOG_NAME


def pid_path(home: Path) -> Path:
    """The file holding the agent's process id for `home`."""
    return home / PID_NAME

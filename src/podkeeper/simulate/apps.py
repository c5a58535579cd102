"""Modelled applications: a behaviour description (plain dict) turned into an `AppModel`.

The same descriptions drive the e2e scenario table (`tests/scenarios.py`),
where a real process under `tests/apps/` realises each one, and the
`podkeeper simulate` command (kind `generic`). Times are seconds.

Kinds (every kind also takes `exit_after` + `exit_code`, the instance's own exit):

- `liveness_server` (`port`, `healthy_for`): agnhost `liveness`
  (`test/images/agnhost/liveness/server.go`): `/healthz` 200 `ok` while the
  process is at most `healthy_for` s old, then 500; `/redirect?loc=` 302 with
  Go's `http.Redirect` body; `/started`. Dies on SIGTERM (143).
- `test_webserver` (`port`): 200 on `/`, 404 elsewhere.
- `grpc_health` (`port`): `grpc.health.v1` answering SERVING.
- `script` (`files`: name -> [present_from, present_until or null],
  `on_sigterm`: {`remove`: [names], `exit_after`, `exit_code`}, `ignore_sigterm`):
  busybox running a shell script that creates and removes files; exec probes
  `cat <dir>/<name>` see them. Without `on_sigterm` it dies on SIGTERM (143);
  with `ignore_sigterm` only SIGKILL ends it (PID 1 busybox `sleep`).
- `pause`: does nothing; exits 0 on SIGTERM (agnhost pause).
- `generic` (`startup`, `unhealthy_after`, `unhealthy_for`, `latency`): every
  probe fails until the instance is `startup` s old; from simulation time
  `unhealthy_after` for `unhealthy_for` s health checks fail (a restart does not
  cure it: the cause is outside the process); every probe takes `latency` s.

Exec probes are read as the few commands the e2e cases use: `cat FILE`,
`true`, `false`, `sh -c "sleep N"`, `sh -c "sleep N & exit 1"`; a `generic`
app answers any command with its health.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from podkeeper.core.actions import ExecTarget, GRPCTarget, HTTPTarget, Target, TCPTarget
from podkeeper.core.duration import go_duration
from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.core.spec import ProbeType
from podkeeper.simulate.engine import AppModel, ProbeCall, ProbeReply, hook_seconds

Behaviour = Mapping[str, Any]

OK = ProbeOutcome(Result.SUCCESS)


def _refused(host: str, port: int) -> str:
    return f"dial tcp {host}:{port}: connect: connection refused"


def _http_refused(t: HTTPTarget) -> ProbeOutcome:
    # pkg/probe/http/http.go: a transport error is a Failure with Go's error text.
    url = f"{t.scheme}://{t.host}:{t.port}{t.path}"
    return ProbeOutcome(Result.FAILURE, f'Get "{url}": {_refused(t.host, t.port)}')


def _status_failure(code: int) -> ProbeOutcome:
    return ProbeOutcome(Result.FAILURE, f"HTTP probe failed with statuscode: {code}")


def go_redirect_body(location: str) -> str:
    """`net/http.Redirect`'s GET body: `<a href="LOC">Found</a>.` + "\\n", printed with Fprintln."""
    escaped = (
        location.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )
    return f'<a href="{escaped}">Found</a>.\n\n'


class BehaviourApp:
    """Answers probes, exits and SIGTERM for each container from its behaviour dict."""

    def __init__(self, behaviours: Mapping[str, Behaviour]) -> None:
        self.behaviours = dict(behaviours)

    def model(self) -> AppModel:
        return AppModel(
            probe=self.probe,
            exit_after=self.exit_after,
            exit_code=self.exit_code,
            sigterm=self.sigterm,
            pre_stop=self.pre_stop,
        )

    def pre_stop(self, container: str, hook: Target) -> float:
        """The hook's own duration, unless the behaviour sets `pre_stop` (seconds)."""
        value = self._b(container).get("pre_stop")
        return hook_seconds(hook) if value is None else float(value)

    def _b(self, container: str) -> Behaviour:
        return self.behaviours.get(container, {"kind": "pause"})

    # ------------------------------------------------------------- lifecycle

    def exit_after(self, container: str, restart: int) -> float | None:
        value = self._b(container).get("exit_after")
        return None if value is None else float(value)

    def exit_code(self, container: str, restart: int) -> int:
        return int(self._b(container).get("exit_code", 1))

    def sigterm(self, container: str) -> tuple[float | None, int]:
        b = self._b(container)
        if b.get("ignore_sigterm"):
            return None, 137
        if b["kind"] == "pause":
            return 0.0, 0
        on = b.get("on_sigterm")
        if on:
            return float(on.get("exit_after", 0)), int(on.get("exit_code", 0))
        return 0.0, 143

    # ---------------------------------------------------------------- probes

    def probe(self, call: ProbeCall) -> ProbeReply:
        b = self._b(call.container)
        if b["kind"] == "generic":
            return self._generic(b, call)
        t = call.target
        if isinstance(t, ExecTarget):
            return self._exec(b, call, t)
        if isinstance(t, HTTPTarget):
            return ProbeReply(self._http(b, call, t))
        if isinstance(t, TCPTarget):
            return ProbeReply(OK if t.port in _ports(b) else _tcp_refused(t))
        if isinstance(t, GRPCTarget):
            if b["kind"] == "grpc_health" and t.port == b.get("port"):
                return ProbeReply(ProbeOutcome(Result.SUCCESS, "service healthy"))
            # A blocking dial to a closed port retries until the deadline (pkg/probe/grpc).
            addr = f"{t.host}:{t.port}"
            text = (
                f'timeout: failed to connect service "{addr}" within '
                f"{go_duration(call.timeout_seconds)}: context deadline exceeded"
            )
            return ProbeReply(ProbeOutcome(Result.FAILURE, text), float(call.timeout_seconds))
        return ProbeReply(OK)

    def _file_present(self, b: Behaviour, call: ProbeCall, name: str) -> bool:
        window = b.get("files", {}).get(name)
        if window is None:
            return False
        on = b.get("on_sigterm") or {}
        if call.since_sigterm is not None and name in on.get("remove", ()):
            return False
        start, end = window
        return bool(call.age >= start and (end is None or call.age < end))

    def _exec(self, b: Behaviour, call: ProbeCall, t: ExecTarget) -> ProbeReply:
        argv = list(t.argv)
        prog = os.path.basename(argv[0]) if argv else ""
        if prog == "cat" and len(argv) == 2:
            name = os.path.basename(argv[1])
            if self._file_present(b, call, name):
                return ProbeReply(ProbeOutcome(Result.SUCCESS, "ok\n"))
            return ProbeReply(
                ProbeOutcome(
                    Result.FAILURE, f"cat: can't open '{argv[1]}': No such file or directory\n"
                )
            )
        if prog == "true":
            return ProbeReply(OK)
        if prog == "false":
            return ProbeReply(ProbeOutcome(Result.FAILURE, ""))
        if prog in ("sh", "bash") and len(argv) == 3 and argv[1] == "-c":
            m = re.fullmatch(r"sleep (\d+(?:\.\d+)?)( & exit (\d+))?", argv[2].strip())
            if m:
                secs = float(m.group(1))
                if secs >= call.timeout_seconds or m.group(2):
                    # ExecSync times out (a background sleep keeps the output pipe open too).
                    text = (
                        f'command timed out: "{shlex.join(argv)}" timed out after '
                        f"{go_duration(call.timeout_seconds)}"
                    )
                    return ProbeReply(
                        ProbeOutcome(Result.FAILURE, text), float(call.timeout_seconds)
                    )
                return ProbeReply(OK, secs)
        return ProbeReply(OK)

    def _http(self, b: Behaviour, call: ProbeCall, t: HTTPTarget) -> ProbeOutcome:
        kind = b["kind"]
        if kind not in ("liveness_server", "test_webserver") or t.port != b.get("port"):
            return _http_refused(t)
        path = t.path
        for _ in range(10):  # same-host redirects are followed, up to 10 (http.go)
            parts = urlsplit(path)
            if kind == "test_webserver":
                return OK if parts.path == "/" else _status_failure(404)
            if parts.path == "/healthz":
                healthy = call.age <= float(b.get("healthy_for", 10))
                return ProbeOutcome(Result.SUCCESS, "ok") if healthy else _status_failure(500)
            if parts.path == "/started":
                return ProbeOutcome(Result.SUCCESS, f"{call.age}")
            if parts.path != "/redirect":
                return _status_failure(404)
            loc = parse_qs(parts.query).get("loc", [""])[0]
            dest = urlsplit(loc)
            if dest.hostname and dest.hostname != t.host:
                # A redirect to another host is not followed: Warning with the 302 body.
                body = go_redirect_body(loc)
                return ProbeOutcome(
                    Result.WARNING, f"Probe terminated redirects, Response body: {body}"
                )
            path = dest.path + (f"?{dest.query}" if dest.query else "")
        return ProbeOutcome(Result.FAILURE, 'Get "...": stopped after 10 redirects')

    def _generic(self, b: Behaviour, call: ProbeCall) -> ProbeReply:
        latency = float(b.get("latency", 0.0) or 0.0)
        starting = call.age < float(b.get("startup", 0.0) or 0.0)
        after = b.get("unhealthy_after")
        unhealthy = False
        if after is not None:
            length = b.get("unhealthy_for")
            sim_time = call.time
            unhealthy = sim_time >= float(after) and (
                length is None or sim_time < float(after) + float(length)
            )
        t = call.target
        if not (starting or unhealthy):
            return ProbeReply(OK, latency)
        if isinstance(t, TCPTarget):
            # The port opens when the app has started; an unhealthy app still accepts.
            return ProbeReply(OK if not starting else _tcp_refused(t), latency)
        if isinstance(t, HTTPTarget):
            if starting:
                return ProbeReply(_http_refused(t), latency)
            return ProbeReply(_status_failure(503), latency)
        if isinstance(t, GRPCTarget):
            text = 'service unhealthy (responded with "NOT_SERVING")'
            return ProbeReply(ProbeOutcome(Result.FAILURE, text), latency)
        return ProbeReply(ProbeOutcome(Result.FAILURE, ""), latency)


def _tcp_refused(t: TCPTarget) -> ProbeOutcome:
    return ProbeOutcome(Result.FAILURE, _refused(t.host, t.port))


def _ports(b: Behaviour) -> set[int]:
    ports = {b.get("port"), b.get("http_port")}
    return {int(p) for p in ports if p is not None}


__all__ = ["Behaviour", "BehaviourApp", "ProbeType", "go_redirect_body"]

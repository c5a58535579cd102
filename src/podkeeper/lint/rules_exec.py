"""Rules about what exec probes run: checks that cannot fail, clients that need more time."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator

from podkeeper.core.spec import ExecAction, Probe
from podkeeper.lint.finding import Hit, Target
from podkeeper.lint.rules_probes import probes

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
# Commands whose exit status is 0 whatever the state of the application.
_ALWAYS = frozenset({"true", ":", "echo", "printf", "pwd", "date", "whoami", "id", "hostname"})
# `/proc/1` always exists in a container: PID 1 is the container's own process.
_PROC1_RE = re.compile(r"^/proc/1(/(status|stat|cmdline|environ|comm|fd|exe|root|cwd))?/?$")

#: Client programs that connect somewhere before answering, and their timeout options.
CLIENTS = frozenset(
    {
        "grpc_health_probe",
        "grpc-health-probe",
        "mysql",
        "mysqladmin",
        "psql",
        "pg_isready",
        "redis-cli",
        "curl",
        "wget",
        "mongo",
        "mongosh",
        "cqlsh",
        "nc",
        "kafka-broker-api-versions.sh",
        "rabbitmq-diagnostics",
    }
)
# `-connect-timeout=5s`, `--connect-timeout 5`, `--max-time=10`, `-m 10`, `-T 10`, `-t 10`...
_TIMEOUT_OPTIONS = {
    "-connect-timeout",
    "-rpc-timeout",
    "--connect-timeout",
    "--connect_timeout",
    "--max-time",
    "--timeout",
    "-timeout",
    "-m",
    "-T",
    "-t",
    "-w",
}
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def _words(command: tuple[str, ...]) -> list[list[str]]:
    """The simple commands a probe runs, in order: its program, or a `sh -c` script's."""
    if command and posixpath.basename(command[0]) in _SHELLS and "-c" in command[1:]:
        script = command[command.index("-c") + 1] if command.index("-c") + 1 < len(command) else ""
        try:
            tokens = shlex.split(script.replace(";", " ; "), posix=True)
        except ValueError:
            return [list(command)]
        out: list[list[str]] = [[]]
        for tok in tokens:
            if tok in (";", "&&", "||", "|"):
                out.append([tok])
                out.append([])
            else:
                out[-1].append(tok)
        return [w for w in out if w]
    return [list(command)]


def _always_ok(words: list[str]) -> bool:
    if not words:
        return True
    program = posixpath.basename(words[0])
    args = words[1:]
    if program in _ALWAYS:
        return True
    if program == "exit":
        return args in ([], ["0"])
    if program in ("test", "[") and len(args) >= 2 and args[0] in ("-d", "-e", "-r"):
        return bool(_PROC1_RE.match(args[1]))
    return program in ("cat", "ls") and bool(args) and all(_PROC1_RE.match(a) for a in args)


def never_fails(command: tuple[str, ...]) -> bool:
    """True when the probe command exits 0 whatever happens (`true`, `cat /proc/1/status`,
    `test -d /proc/1`, `exit 0`, `check || true`...)."""
    parts = _words(command)
    # A list of commands exits with the last one's status, `a || b` succeeds when b does.
    segments: list[tuple[str, list[str]]] = []
    op = ";"
    for part in parts:
        if len(part) == 1 and part[0] in (";", "&&", "||", "|"):
            op = part[0]
            continue
        segments.append((op, part))
    if not segments:
        return False
    status = _always_ok(segments[0][1])
    for op, words in segments[1:]:
        ok = _always_ok(words)
        if op in (";", "|"):
            status = ok
        elif op == "&&":
            status = status and ok
        else:  # "||"
            status = status or ok
    return status


def exec_probe_never_fails(t: Target) -> Iterator[Hit]:
    """An exec probe whose command succeeds whatever the application's state."""
    for path, c in t.probed_containers():
        for probe_path, pt, p in probes(path, c):
            if not isinstance(p.handler, ExecAction) or not never_fails(p.handler.command):
                continue
            shown = " ".join(p.handler.command)
            yield Hit(
                path=f"{probe_path}.exec.command",
                container=c.name,
                message=f"{pt.field} of {c.name!r} runs {shown!r}, which cannot fail",
                why=(
                    "The kubelet counts exit status 0 as success. This command exits 0 whatever "
                    "the application does (`/proc/1` always exists in a container: it is the "
                    "container's own PID 1), so the probe never detects anything: "
                    + (
                        "a hung container is never restarted."
                        if pt.field == "livenessProbe"
                        else "the container is ready as soon as it starts, and stays ready."
                        if pt.field == "readinessProbe"
                        else "startup is declared over at once."
                    )
                ),
                fix=(
                    "Check something the application does: an httpGet or tcpSocket probe on its "
                    "port, or a command that asks the application itself and fails when it "
                    "does not answer."
                ),
            )


def _seconds(text: str) -> float | None:
    m = _DURATION_RE.match(text.strip())
    if m is None:
        return None
    value = float(m.group(1))
    unit = m.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def client_timeout(words: list[str]) -> float | None:
    """The client-side timeout a command line sets, in seconds; None when none is given."""
    found: float | None = None
    for i, w in enumerate(words):
        name, sep, value = w.partition("=")
        if name in _TIMEOUT_OPTIONS:
            if not sep:
                value = words[i + 1] if i + 1 < len(words) else ""
            seconds = _seconds(value)
            if seconds is not None:
                found = seconds if found is None else max(found, seconds)
    return found


def _clients(command: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    return [
        (posixpath.basename(w[0]), w)
        for w in _words(command)
        if w and posixpath.basename(w[0]) in CLIENTS
    ]


def exec_probe_client_timeout(t: Target) -> Iterator[Hit]:
    """An exec probe running a network client within 1 s, or with a longer client timeout."""
    for path, c in t.probed_containers():
        for probe_path, pt, p in probes(path, c):
            if not isinstance(p.handler, ExecAction):
                continue
            for program, words in _clients(p.handler.command):
                hit = _client_hit(probe_path, c.name, pt.field, p, program, words)
                if hit is not None:
                    yield hit
                    break


def _client_hit(
    probe_path: str, container: str, field: str, p: Probe, program: str, words: list[str]
) -> Hit | None:
    own = client_timeout(words)
    why_exec = (
        "An exec probe is a new process in the container: the client starts, resolves, "
        "connects (TLS, authentication) and only then asks; under load that easily takes "
        "over a second. The kubelet kills the probe at timeoutSeconds and counts a failure "
        "(exec probe timeouts are enforced since Kubernetes 1.20)."
    )
    if own is not None and own > p.timeout_seconds:
        return Hit(
            path=f"{probe_path}.timeoutSeconds",
            container=container,
            message=(
                f"{field} of {container!r} runs {program} with a {own:g}s client timeout, but "
                f"timeoutSeconds is {p.timeout_seconds}"
            ),
            why=why_exec + f" The client would wait {own:g}s; the kubelet gives up after "
            f"{p.timeout_seconds}s, so the client's timeout never applies.",
            fix=(
                f"Set timeoutSeconds to at least {int(own) + 1} (above the client's timeout), "
                f"or lower the client's timeout below {p.timeout_seconds}s."
            ),
        )
    if p.timeout_seconds <= 1 and own is None:
        return Hit(
            path=f"{probe_path}.timeoutSeconds",
            container=container,
            message=(
                f"{field} of {container!r} runs {program} within timeoutSeconds "
                f"{p.timeout_seconds} (the default)"
                if p.timeout_seconds == 1
                else f"{field} of {container!r} runs {program} within {p.timeout_seconds}s"
            ),
            why=why_exec,
            fix=(
                "Set timeoutSeconds to 5 or more for a probe that runs a client, and give the "
                "client a shorter timeout of its own; or use a grpc, httpGet or tcpSocket "
                "probe, which the kubelet runs without a process."
            ),
        )
    return None

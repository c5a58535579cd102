"""`$(VAR)` expansion and container environments, as the kubelet builds them.

Pure: no I/O. The expansion mimics kubernetes
`third_party/forked/golang/expansion/expand.go` (`Expand`, `tryReadVariableName`,
`MappingFuncFor`); the environment mimics `pkg/kubelet/kubelet_pods.go`
`makeEnvironmentVariables`; the argv mimics `pkg/kubelet/container/helpers.go`
`ExpandContainerCommandAndArgs`.
"""

from __future__ import annotations

from collections.abc import Mapping

from podkeeper.core.spec import Container

_OPERATOR = "$"
_OPENER = "("
_CLOSER = ")"


class EnvError(ValueError):
    """An env entry cannot be resolved (the kubelet's CreateContainerConfigError)."""


def _try_read_variable_name(rest: str) -> tuple[str, bool, int]:
    """`tryReadVariableName`: (text or name, is a variable, characters consumed).

    `rest` is the input after a `$` and is never empty."""
    first = rest[0]
    if first == _OPERATOR:
        # `$$` is an escaped operator.
        return _OPERATOR, False, 1
    if first == _OPENER:
        closer = rest.find(_CLOSER, 1)
        if closer != -1:
            return rest[1:closer], True, closer + 1
        # Incomplete reference: emit "$(" and carry on after the "(".
        return _OPERATOR + _OPENER, False, 1
    # A `$` not starting an expression is kept with the next character.
    # (Go works on bytes and would mangle a multi-byte character here; we keep it whole.)
    return _OPERATOR + first, False, 1


def expand(s: str, mapping: Mapping[str, str]) -> str:
    """Expand `$(VAR)` references in `s` from `mapping`, exactly as Kubernetes does.

    `$(VAR)` becomes `mapping[VAR]` when present and stays literally `$(VAR)`
    otherwise; `$$` becomes `$`, so `$$(VAR)` gives the literal `$(VAR)`; a
    lone or trailing `$` and an unterminated `$(` are kept as written."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(s)
    while cursor < n:
        if s[cursor] == _OPERATOR and cursor + 1 < n:
            out.append(s[checkpoint:cursor])
            read, is_var, advance = _try_read_variable_name(s[cursor + 1 :])
            if is_var:
                value = mapping.get(read)
                # `MappingFuncFor`: an unknown name is written back as `$(name)`.
                out.append(value if value is not None else _OPERATOR + _OPENER + read + _CLOSER)
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(s[checkpoint:])
    return "".join(out)


def container_env(
    container: Container,
    pod_name: str,
    namespace: str,
    pod_ip: str,
    node_name: str,
    *,
    pod_uid: str = "",
    host_ip: str = "",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's `env` resolved in order, as `makeEnvironmentVariables` does, for a
    pod without ConfigMaps or Secrets (`core/envsource.py` `resolve_env` does the work:
    a `value` is expanded against the entries defined before it, a `fieldRef` taken
    verbatim). Raises `EnvError` for an unsupported fieldPath or a missing source."""
    from podkeeper.core.envsource import DownwardPod, resolve_env

    pod = DownwardPod(
        pod_name,
        namespace,
        pod_uid,
        labels or {},
        annotations or {},
        node_name,
        "default",
        host_ips=(host_ip,) if host_ip else (),
        pod_ips=(pod_ip,) if pod_ip else (),
    )
    return resolve_env(container, pod, lambda kind, name: None).env


def command_argv(container: Container, env: Mapping[str, str]) -> tuple[str, ...]:
    """`command` + `args`, each element expanded against `env`.

    There is no image here, so no ENTRYPOINT/CMD to fall back on: the argv is
    simply the expanded command followed by the expanded args."""
    return tuple(expand(a, env) for a in container.command) + tuple(
        expand(a, env) for a in container.args
    )

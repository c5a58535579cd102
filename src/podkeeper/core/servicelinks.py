"""Service environment variables (`FOO_SERVICE_HOST`...), as the kubelet sets them. Pure.

`pkg/kubelet/kubelet_pods.go` `getServiceEnvVarMap`: every Service with a cluster IP
(not headless `None`, not empty) of the pod's namespace when `spec.enableServiceLinks`
(default true), and always the `kubernetes` Service of `default` (the "master
services"); then `pkg/kubelet/envvars/envvars.go` `FromServices` for each:

- `<NAME>_SERVICE_HOST` = clusterIP, `<NAME>_SERVICE_PORT` = the first port,
  `<NAME>_SERVICE_PORT_<PORTNAME>` for every named port;
- the Docker-link variables (`makeLinkVariables`): `<NAME>_PORT` =
  `tcp://IP:PORT` of the first port, and per port `<NAME>_PORT_<PORT>_<PROTO>`
  (`tcp://IP:PORT`), `..._PROTO`, `..._PORT`, `..._ADDR`.

`<NAME>` is the Service name upper-cased with `-` as `_` (`makeEnvVariableName`).
The variables are computed when a container starts, from the Services that exist
then (the e2e case "should contain environment variables for services" creates its
client pod after the Service for this reason). `makeEnvironmentVariables` lets the
container's own `env` expand `$(FOO_SERVICE_HOST)` and override a service variable
of the same name (core/envsource.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: `masterServices` of kubelet_pods.go: their variables reach every pod.
MASTER_SERVICES = frozenset({"kubernetes"})
DEFAULT_NAMESPACE = "default"


def _env_name(text: str) -> str:
    return text.upper().replace("-", "_")


def _cluster_ip(service: Mapping[str, Any]) -> str:
    ip = str((service.get("spec") or {}).get("clusterIP") or "")
    return "" if ip == "None" else ip  # v1helper.IsServiceIPSet


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"  # net.JoinHostPort


def from_service(service: Mapping[str, Any]) -> dict[str, str]:
    """`envvars.FromServices` for one Service with a cluster IP (no ports: nothing)."""
    ip = _cluster_ip(service)
    ports = [p for p in (service.get("spec") or {}).get("ports") or () if isinstance(p, dict)]
    if not ip or not ports:
        return {}
    prefix = _env_name(str((service.get("metadata") or {}).get("name") or ""))
    out = {f"{prefix}_SERVICE_HOST": ip}
    name = f"{prefix}_SERVICE_PORT"
    out[name] = str(int(ports[0].get("port") or 0))
    for p in ports:  # only the first may be unnamed (validation)
        if p.get("name"):
            out[f"{name}_{_env_name(str(p['name']))}"] = str(int(p.get("port") or 0))
    for i, p in enumerate(ports):
        port = int(p.get("port") or 0)
        proto = str(p.get("protocol") or "TCP")
        url = f"{proto.lower()}://{_host_port(ip, port)}"
        if i == 0:  # Docker special-cases the first port
            out[f"{prefix}_PORT"] = url
        pp = f"{prefix}_PORT_{port}_{proto.upper()}"
        out[pp] = url
        out[f"{pp}_PROTO"] = proto.lower()
        out[f"{pp}_PORT"] = str(port)
        out[f"{pp}_ADDR"] = ip
    return out


def service_env(
    services: Iterable[Mapping[str, Any]], namespace: str, enable_service_links: bool = True
) -> dict[str, str]:
    """`getServiceEnvVarMap`: the variables of the Services a pod of `namespace` sees."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for svc in services:
        if not _cluster_ip(svc):
            continue
        meta = svc.get("metadata") or {}
        name, ns = str(meta.get("name") or ""), str(meta.get("namespace") or DEFAULT_NAMESPACE)
        if ns == DEFAULT_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, svc)
        elif ns == namespace and enable_service_links:
            chosen[name] = svc
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(from_service(chosen[name]))
    return out

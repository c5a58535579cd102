"""`podkeeper describe pod|service|deployment`: kubectl's layouts (`describe.go`
`describePod`, `describeService`, `describeDeployment`). A pod also gets its last exit
explained in one line and, when the agent recorded one, the verdict on who ended it; a
Service gets the data path that serves it (`Proxy Mode:`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from podkeeper.cli._common import (
    CliError,
    get_or_none,
    items_of,
    namespace_option,
    not_found_line,
    state_of,
)
from podkeeper.cli._text import dicts, get, parse_time, rfc1123z, since, tabwrite, utcnow
from podkeeper.cli.events import sort_key
from podkeeper.cli.kinds import format_labels, format_selector

Obj = dict[str, Any]

L1, L2, L3 = "  ", "    ", "      "


def _port_text(port: Any) -> str:
    return "" if port is None else str(port)


def _go_list(items: Any) -> str:
    # Go's `%v` of a []string: `[cat /tmp/health]`.
    return "[" + " ".join(str(i) for i in (items or [])) + "]"


def describe_probe(probe: Obj) -> str:
    """kubectl's `DescribeProbe`: `http-get http://:8080/healthz delay=3s timeout=1s period=3s
    #success=1 #failure=3`, `exec [cat /tmp/health] ...`, `tcp-socket :8080 ...`, `grpc <pod>:5000
    <service> ...`. Probe fields are printed as given (the agent returns them defaulted)."""
    attrs = (
        f"delay={probe.get('initialDelaySeconds', 0)}s "
        f"timeout={probe.get('timeoutSeconds', 1)}s "
        f"period={probe.get('periodSeconds', 10)}s "
        f"#success={probe.get('successThreshold', 1)} "
        f"#failure={probe.get('failureThreshold', 3)}"
    )
    if isinstance(probe.get("exec"), dict):
        return f"exec {_go_list(probe['exec'].get('command'))} {attrs}"
    if isinstance(probe.get("httpGet"), dict):
        http = probe["httpGet"]
        scheme = str(http.get("scheme") or "HTTP").lower()
        host = str(http.get("host") or "")
        port = _port_text(http.get("port"))
        hostport = host
        if port:
            hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        path = str(http.get("path") or "")
        if path and not path.startswith("/"):
            path = "/" + path
        return f"http-get {scheme}://{hostport}{path} {attrs}"
    if isinstance(probe.get("tcpSocket"), dict):
        tcp = probe["tcpSocket"]
        return f"tcp-socket {tcp.get('host') or ''}:{_port_text(tcp.get('port'))} {attrs}"
    if isinstance(probe.get("grpc"), dict):
        grpc = probe["grpc"]
        return f"grpc <pod>:{grpc.get('port')} {grpc.get('service') or ''} {attrs}"
    return f"unknown {attrs}"


def _multiline(label: str, mapping: Any, lines: list[str]) -> None:
    # kubectl `printLabelsMultiline`: first pair on the label's line, the rest below it.
    if not isinstance(mapping, dict) or not mapping:
        lines.append(f"{label}:\t<none>")
        return
    for i, (key, value) in enumerate(sorted(mapping.items())):
        lines.append(f"{label}:\t{key}={value}" if i == 0 else f"\t{key}={value}")


def _state_lines(title: str, state: Any, lines: list[str]) -> None:
    # kubectl `describeStatus`.
    state = state if isinstance(state, dict) else {}
    running, waiting, term = state.get("running"), state.get("waiting"), state.get("terminated")
    if isinstance(running, dict):
        lines.append(f"{L2}{title}:\tRunning")
        lines.append(f"{L3}Started:\t{rfc1123z(running.get('startedAt'))}")
    elif isinstance(waiting, dict):
        lines.append(f"{L2}{title}:\tWaiting")
        if waiting.get("reason"):
            lines.append(f"{L3}Reason:\t{waiting['reason']}")
    elif isinstance(term, dict):
        lines.append(f"{L2}{title}:\tTerminated")
        if term.get("reason"):
            lines.append(f"{L3}Reason:\t{term['reason']}")
        if term.get("message"):
            lines.append(f"{L3}Message:\t{term['message']}")
        lines.append(f"{L3}Exit Code:\t{term.get('exitCode', 0)}")
        if term.get("signal"):
            lines.append(f"{L3}Signal:\t{term['signal']}")
        lines.append(f"{L3}Started:\t{rfc1123z(term.get('startedAt'))}")
        lines.append(f"{L3}Finished:\t{rfc1123z(term.get('finishedAt'))}")
    else:
        lines.append(f"{L2}{title}:\tWaiting")


def _env_value(pod: Obj, env: Obj) -> str:
    ref = get(env, "valueFrom", "fieldRef")
    if isinstance(ref, dict):
        path = str(ref.get("fieldPath") or "")
        value: Any = None
        if path.startswith("metadata.labels['") or path.startswith("metadata.annotations['"):
            section, key = path.split("['", 1)
            value = get(pod, "metadata", section.split(".")[1], key.rstrip("']"))
        else:
            value = get(pod, *path.split("."))
        return f"{'' if value is None else value} ({ref.get('apiVersion') or 'v1'}:{path})"
    res = get(env, "valueFrom", "resourceFieldRef")
    if isinstance(res, dict):
        return f"({res.get('resource')})"
    secret = get(env, "valueFrom", "secretKeyRef")
    if isinstance(secret, dict):
        opt = "true" if secret.get("optional") else "false"
        return (
            f"<set to the key '{secret.get('key')}' in secret '{secret.get('name')}'>"
            f"\tOptional: {opt}"
        )
    cm = get(env, "valueFrom", "configMapKeyRef")
    if isinstance(cm, dict):
        opt = "true" if cm.get("optional") else "false"
        return (
            f"<set to the key '{cm.get('key')}' of config map '{cm.get('name')}'>\tOptional: {opt}"
        )
    return ""


def _env_from_lines(sources: list[Obj], lines: list[str]) -> None:
    # kubectl `describeContainerEnvVars`: the envFrom sources before the variables.
    if sources:
        lines.append(f"{L2}Environment Variables from:")
    for e in sources:
        kind, ref = (
            ("ConfigMap", e.get("configMapRef"))
            if e.get("configMapRef")
            else (
                "Secret",
                e.get("secretRef"),
            )
        )
        ref = ref if isinstance(ref, dict) else {}
        opt = "true" if ref.get("optional") else "false"
        prefix = f" with prefix '{e['prefix']}'" if e.get("prefix") else ""
        lines.append(f"{L3}{ref.get('name', '')}\t{kind}{prefix}\tOptional: {opt}")


def _container_lines(pod: Obj, label: str, specs: list[Obj], statuses: list[Obj]) -> list[str]:
    # kubectl `describeContainers`.
    by_name = {s.get("name"): s for s in statuses}
    lines = [f"{label}:" + ("" if specs else " <none>")]
    for c in specs:
        status = by_name.get(c.get("name"))
        lines.append(f"{L1}{c.get('name')}:")
        if status is not None:
            lines.append(f"{L2}Container ID:\t{status.get('containerID') or ''}")
        lines.append(f"{L2}Image:\t{c.get('image') or ''}")
        if status is not None:
            lines.append(f"{L2}Image ID:\t{status.get('imageID') or ''}")
        ports = [
            f"{p.get('containerPort')}/{p.get('protocol') or 'TCP'}" for p in dicts(c.get("ports"))
        ]
        hports = [
            f"{p.get('hostPort', 0)}/{p.get('protocol') or 'TCP'}" for p in dicts(c.get("ports"))
        ]
        lines.append(f"{L2}Port{'s' if len(ports) > 1 else ''}:\t{', '.join(ports) or '<none>'}")
        lines.append(
            f"{L2}Host Port{'s' if len(hports) > 1 else ''}:\t{', '.join(hports) or '<none>'}"
        )
        for key, title in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                lines.append(f"{L2}{title}:")
                for arg in c[key]:
                    lines.extend(f"{L3}{part}" for part in str(arg).split("\n"))
        if status is not None:
            _state_lines("State", status.get("state"), lines)
            if isinstance(get(status, "lastState", "terminated"), dict):
                _state_lines("Last State", status.get("lastState"), lines)
            lines.append(f"{L2}Ready:\t{'True' if status.get('ready') else 'False'}")
            lines.append(f"{L2}Restart Count:\t{status.get('restartCount', 0)}")
        resources = c.get("resources") or {}
        for key, title in (("limits", "Limits"), ("requests", "Requests")):
            values = resources.get(key)
            if isinstance(values, dict) and values:
                lines.append(f"{L2}{title}:")
                lines.extend(f"{L3}{name}:\t{values[name]}" for name in sorted(values))
        for key, title in (
            ("livenessProbe", "Liveness"),
            ("readinessProbe", "Readiness"),
            ("startupProbe", "Startup"),
        ):
            if isinstance(c.get(key), dict):
                lines.append(f"{L2}{title}:\t{describe_probe(c[key])}")
        _env_from_lines(dicts(c.get("envFrom")), lines)
        envs = dicts(c.get("env"))
        lines.append(f"{L2}Environment:" + ("" if envs else "\t<none>"))
        for env in envs:
            if "valueFrom" not in env:
                for i, part in enumerate(str(env.get("value", "")).split("\n")):
                    lines.append(f"{L3}{env.get('name')}:\t{part}" if i == 0 else f"{L3}\t{part}")
            else:
                lines.append(f"{L3}{env.get('name')}:\t{_env_value(pod, env)}")
        mounts = dicts(c.get("volumeMounts"))
        lines.append(f"{L2}Mounts:" + ("" if mounts else "\t<none>"))
        for m in sorted(mounts, key=lambda m: str(m.get("mountPath"))):
            flag = "ro" if m.get("readOnly") else "rw"
            if m.get("subPath"):
                flag += f',path="{m["subPath"]}"'
            elif m.get("subPathExpr"):
                flag += f',path="{m["subPathExpr"]}"'
            lines.append(f"{L3}{m.get('mountPath')} from {m.get('name')} ({flag})")
    return lines


def _optional(src: Obj) -> str:
    return "true" if src.get("optional") is True else "false"


def volume_lines(v: Obj) -> list[str]:
    """kubectl's `describeVolumes` lines of one volume (pkg/describe/describe.go); no data."""
    if isinstance(v.get("emptyDir"), dict):
        e = v["emptyDir"]
        return [
            "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
            f"Medium:\t{e.get('medium') or ''}",
            f"SizeLimit:\t{e.get('sizeLimit') or '<unset>'}",
        ]
    if isinstance(v.get("configMap"), dict):
        c = v["configMap"]
        return [
            "Type:\tConfigMap (a volume populated by a ConfigMap)",
            f"Name:\t{c.get('name', '')}",
            f"Optional:\t{_optional(c)}",
        ]
    if isinstance(v.get("secret"), dict):
        c = v["secret"]
        return [
            "Type:\tSecret (a volume populated by a Secret)",
            f"SecretName:\t{c.get('secretName', '')}",
            f"Optional:\t{_optional(c)}",
        ]
    if isinstance(v.get("hostPath"), dict):
        h = v["hostPath"]
        return [
            "Type:\tHostPath (bare host directory volume)",
            f"Path:\t{h.get('path', '')}",
            f"HostPathType:\t{h.get('type') or ''}",
        ]
    if isinstance(v.get("persistentVolumeClaim"), dict):
        c = v["persistentVolumeClaim"]
        return [
            "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same"
            " namespace)",
            f"ClaimName:\t{c.get('claimName', '')}",
            f"ReadOnly:\t{'true' if c.get('readOnly') else 'false'}",
        ]
    if isinstance(v.get("downwardAPI"), dict):
        out = ["Type:\tDownwardAPI (a volume populated by information about the pod)", "Items:"]
        for item in dicts(v["downwardAPI"].get("items")):
            ref = item.get("fieldRef") or item.get("resourceFieldRef") or {}
            what = ref.get("fieldPath") or ref.get("resource") or ""
            out.append(f"  {what} -> {item.get('path', '')}")
        return out
    if isinstance(v.get("projected"), dict):
        out = ["Type:\tProjected (a volume that contains injected data from multiple sources)"]
        for src in dicts(v["projected"].get("sources")):
            if isinstance(src.get("configMap"), dict):
                out.append(f"ConfigMapName:\t{src['configMap'].get('name', '')}")
                out.append(f"Optional:\t{_optional(src['configMap'])}")
            elif isinstance(src.get("secret"), dict):
                out.append(f"SecretName:\t{src['secret'].get('name', '')}")
                out.append(f"Optional:\t{_optional(src['secret'])}")
            elif isinstance(src.get("downwardAPI"), dict):
                out.append("DownwardAPI:\ttrue")
            elif isinstance(src.get("serviceAccountToken"), dict):
                out.append("TokenExpirationSeconds:\t<not supported by podkeeper>")
        return out
    return ["Type:\t<not implemented by podkeeper, ignored>"]


def qos_class(pod: Obj) -> str:
    """The pod's QoS class as Kubernetes derives it (`qos.GetPodQOS`), simplified to cpu/memory."""
    containers = dicts(get(pod, "spec", "containers")) + dicts(get(pod, "spec", "initContainers"))
    any_set = False
    guaranteed = True
    for c in containers:
        limits = get(c, "resources", "limits") or {}
        requests = get(c, "resources", "requests") or {}
        if limits or requests:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in limits or str(requests.get(res, limits[res])) != str(limits[res]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def last_termination(pod: Obj) -> tuple[str, Obj] | None:
    """(container, terminated state) of the pod's most recent container exit, if any."""
    best: tuple[str, Obj] | None = None
    best_time: datetime | None = None
    status = pod.get("status") or {}
    for cs in dicts(status.get("initContainerStatuses")) + dicts(status.get("containerStatuses")):
        for term in (get(cs, "state", "terminated"), get(cs, "lastState", "terminated")):
            if not isinstance(term, dict):
                continue
            when = parse_time(term.get("finishedAt"))
            if best is None or (when is not None and (best_time is None or when > best_time)):
                best, best_time = (str(cs.get("name")), term), when
    return best


def last_exit_line(pod: Obj, now: datetime) -> str | None:
    """`137 — SIGKILL (128+9); reason OOMKilled, container app, 2m ago` for the last exit."""
    found = last_termination(pod)
    if found is None:
        return None
    container, term = found
    code = term.get("exitCode", 0)
    code = code if isinstance(code, int) else 0
    title = ""
    try:
        from podkeeper.core.exitcode import explain

        title = explain(code).title
    except (ImportError, ValueError):
        pass
    parts = [f"{code} — {title}" if title else str(code)]
    details = []
    if term.get("reason"):
        details.append(f"reason {term['reason']}")
    details.append(f"container {container}")
    if term.get("finishedAt"):
        details.append(f"{since(term['finishedAt'], now)} ago")
    return f"{parts[0]}; {', '.join(details)}"


def verdict_text(record: Obj) -> str | None:
    """The one-line verdict of a termination record (its `verdict`, else `who`)."""
    text = record.get("verdict") or record.get("who")
    return str(text).strip() if text else None


def describe_events(events: list[Obj], now: datetime) -> str:
    """kubectl's `DescribeEvents` block (its own tab alignment, as kubectl flushes first)."""
    if not events:
        return tabwrite(["Events:\t<none>"])
    from podkeeper.cli.events import interval

    lines = [
        "Events:",
        f"{L1}Type\tReason\tAge\tFrom\tMessage",
        f"{L1}----\t------\t----\t----\t-------",
    ]
    for e in sorted(events, key=sort_key):
        source = get(e, "source", "component") or e.get("reportingComponent") or ""
        lines.append(
            f"{L1}{e.get('type') or ''}\t{e.get('reason') or ''}\t{interval(e, now)}\t"
            f"{source}\t{str(e.get('message') or '').strip()}"
        )
    return tabwrite(lines)


def describe_pod(pod: Obj, events: list[Obj], now: datetime, verdict: str | None = None) -> str:
    """The whole `describe pod` text."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace') or 'default'}"]
    if spec.get("priority") is not None:
        lines.append(f"Priority:\t{spec['priority']}")
    if spec.get("runtimeClassName"):  # kubectl describe.go describePod: the pod's runtime
        lines.append(f"Runtime Class Name:\t{spec['runtimeClassName']}")
    if spec.get("serviceAccountName"):
        lines.append(f"Service Account:\t{spec['serviceAccountName']}")
    node = spec.get("nodeName")
    lines.append(f"Node:\t{node}/{status.get('hostIP') or ''}" if node else "Node:\t<none>")
    if status.get("startTime"):
        lines.append(f"Start Time:\t{rfc1123z(status['startTime'])}")
    _multiline("Labels", meta.get("labels"), lines)
    _multiline("Annotations", meta.get("annotations"), lines)
    phase = status.get("phase") or ""
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        lines.append(f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'], now)})")
        grace = meta.get("deletionGracePeriodSeconds")
        lines.append(f"Termination Grace Period:\t{grace if grace is not None else 30}s")
    else:
        lines.append(f"Status:\t{phase}")
    if status.get("reason"):
        lines.append(f"Reason:\t{status['reason']}")
    if status.get("message"):
        lines.append(f"Message:\t{status['message']}")
    lines.append(f"IP:\t{status.get('podIP') or ''}")
    ips = dicts(status.get("podIPs"))
    if ips:
        lines.append("IPs:")
        lines.extend(f"{L1}IP:\t{ip.get('ip')}" for ip in ips)
    else:
        lines.append("IPs:\t<none>")
    for ref in dicts(meta.get("ownerReferences")):
        if ref.get("controller"):
            lines.append(f"Controlled By:\t{ref.get('kind')}/{ref.get('name')}")
    if spec.get("initContainers"):
        lines += _container_lines(
            pod,
            "Init Containers",
            dicts(spec.get("initContainers")),
            dicts(status.get("initContainerStatuses")),
        )
    lines += _container_lines(
        pod, "Containers", dicts(spec.get("containers")), dicts(status.get("containerStatuses"))
    )
    conditions = dicts(status.get("conditions"))
    if conditions:
        lines.append("Conditions:")
        lines.append(f"{L1}Type\tStatus")
        lines.extend(f"{L1}{c.get('type')} \t{c.get('status')} " for c in conditions)
    volumes = dicts(spec.get("volumes"))
    if volumes:
        lines.append("Volumes:")
        for v in volumes:
            lines.append(f"{L1}{v.get('name')}:")
            lines.extend(f"{L2}{x}" for x in volume_lines(v))
    else:
        lines.append("Volumes:\t<none>")
    lines.append(f"QoS Class:\t{qos_class(pod)}")
    _multiline("Node-Selectors", spec.get("nodeSelector"), lines)
    tolerations = dicts(spec.get("tolerations"))
    lines.append("Tolerations:\t" + ("<none>" if not tolerations else ""))
    exit_line = last_exit_line(pod, now)
    if exit_line:
        lines.append(f"Last exit:\t{exit_line}")
    if verdict:
        lines.append(f"Verdict:\t{verdict}")
    return tabwrite(lines) + describe_events(events, now)


# ----------------------------------------------------------------- services

PROXY_MODE_ANNOTATION = "podkeeper.io/proxy-mode"  # set by lb.services on every Service
ENDPOINTS_SHOWN = 3  # kubectl `formatEndpoints`: the first 3, then "+ N more..."


def _protocol(port: Obj) -> str:
    return str(port.get("protocol") or "TCP")


def _annotations(mapping: Any, lines: list[str], indent: str = "") -> None:
    # kubectl `printAnnotationsMultiline`: `key: value`, sorted, the applied config skipped.
    skip = "kubectl.kubernetes.io/last-applied-configuration"
    shown = mapping if isinstance(mapping, dict) else {}
    pairs = sorted((k, v) for k, v in shown.items() if k != skip)
    if not pairs:
        lines.append(f"{indent}Annotations:\t<none>")
    for i, (key, value) in enumerate(pairs):
        lines.append(f"{indent}Annotations:\t{key}: {value}" if i == 0 else f"\t{key}: {value}")


def _with_events(lines: list[str], events: list[Obj], now: datetime) -> str:
    # kubectl `DescribeEvents`: `Events:\t<none>` in the same tabwriter block; with events it
    # flushes first, so the table aligns on its own.
    if not events:
        return tabwrite([*lines, "Events:\t<none>"])
    return tabwrite(lines) + describe_events(events, now)


def format_endpoints(endpoints: Obj | None, port_name: str) -> str:
    """kubectl `formatEndpoints`: the READY `ip:port` pairs for one service port (by name),
    the first three then `+ N more...`; `<none>` when there is none."""
    pairs: list[str] = []
    for subset in dicts((endpoints or {}).get("subsets")):
        for port in dicts(subset.get("ports")):
            if str(port.get("name") or "") != port_name:
                continue
            pairs += [f"{a.get('ip')}:{port.get('port')}" for a in dicts(subset.get("addresses"))]
    if not pairs:
        return "<none>"
    text = ",".join(pairs[:ENDPOINTS_SHOWN])
    if len(pairs) > ENDPOINTS_SHOWN:
        text += f" + {len(pairs) - ENDPOINTS_SHOWN} more..."
    return text


def describe_service(svc: Obj, endpoints: Obj | None, events: list[Obj], now: datetime) -> str:
    """The whole `describe service` text: kubectl's lines, then `Proxy Mode:` (podkeeper's
    data path for it, `userspace` or `nftables`) before the events."""
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace') or 'default'}"]
    _multiline("Labels", meta.get("labels"), lines)
    _annotations(meta.get("annotations"), lines)
    lines.append(f"Selector:\t{format_labels(spec.get('selector'))}")
    svc_type = str(spec.get("type") or "ClusterIP")
    lines.append(f"Type:\t{svc_type}")
    if spec.get("ipFamilyPolicy"):
        lines.append(f"IP Family Policy:\t{spec['ipFamilyPolicy']}")
    families = ",".join(str(f) for f in spec.get("ipFamilies") or ())
    lines.append(f"IP Families:\t{families or '<none>'}")
    lines.append(f"IP:\t{spec.get('clusterIP') or ''}")
    if spec.get("clusterIPs"):
        lines.append(f"IPs:\t{','.join(str(ip) for ip in spec['clusterIPs'])}")
    if svc_type == "ExternalName":
        lines.append(f"External Name:\t{spec.get('externalName') or ''}")
    for port in dicts(spec.get("ports")):
        name = str(port.get("name") or "")
        proto = _protocol(port)
        lines.append(f"Port:\t{name or '<unset>'}\t{port.get('port')}/{proto}")
        target = port.get("targetPort", port.get("port"))
        lines.append(f"TargetPort:\t{target}/{proto}")
        if port.get("nodePort"):
            lines.append(f"NodePort:\t{name or '<unset>'}\t{port['nodePort']}/{proto}")
        lines.append(f"Endpoints:\t{format_endpoints(endpoints, name)}")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity') or 'None'}")
    if spec.get("externalTrafficPolicy"):
        lines.append(f"External Traffic Policy:\t{spec['externalTrafficPolicy']}")
    if spec.get("internalTrafficPolicy"):
        lines.append(f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}")
    mode = (meta.get("annotations") or {}).get(PROXY_MODE_ANNOTATION)
    if mode:
        lines.append(f"Proxy Mode:\t{mode}")
    return _with_events(lines, events, now)


# -------------------------------------------------------------- deployments


def _replica_sets_text(replica_sets: list[Obj]) -> str:
    # kubectl `printReplicaSetsByLabels`.
    parts = [
        f"{get(rs, 'metadata', 'name')} "
        f"({_count(get(rs, 'status', 'replicas'))}/{_count(get(rs, 'spec', 'replicas'))} "
        "replicas created)"
        for rs in replica_sets
    ]
    return ", ".join(parts) or "<none>"


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _pod_template_lines(template: Obj) -> list[str]:
    # kubectl `DescribePodTemplate`: the container block of describe pod, one level in.
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    lines = ["Pod Template:"]
    _multiline(f"{L1}Labels", meta.get("labels"), lines)
    if meta.get("annotations"):
        _annotations(meta.get("annotations"), lines, L1)
    if spec.get("serviceAccountName"):
        lines.append(f"{L1}Service Account:\t{spec['serviceAccountName']}")

    def indented(block: list[str]) -> list[str]:
        # "  Containers:", "   app:" (one space more than in a pod), fields as in a pod.
        out = [L1 + block[0]]
        out += [
            " " + line if line.startswith(L1) and not line.startswith(L2) else line
            for line in block[1:]
        ]
        return out

    if spec.get("initContainers"):
        lines += indented(
            _container_lines({}, "Init Containers", dicts(spec["initContainers"]), [])
        )
    lines += indented(_container_lines({}, "Containers", dicts(spec.get("containers")), []))
    volumes = dicts(spec.get("volumes"))
    if volumes:
        lines.append(f"{L1}Volumes:")
        for v in volumes:
            lines.append(f"{L2}{v.get('name')}:")
            lines.extend(f"{L3}{x}" for x in volume_lines(v))
    else:
        lines.append(f"{L1}Volumes:\t<none>")
    _multiline(f"{L1}Node-Selectors", spec.get("nodeSelector"), lines)
    tolerations = dicts(spec.get("tolerations"))
    lines.append(f"{L1}Tolerations:\t" + ("<none>" if not tolerations else ""))
    return lines


def owned_replica_sets(deployment: Obj, replica_sets: list[Obj]) -> tuple[list[Obj], Obj | None]:
    """(old ReplicaSets that still have replicas, the new one) of `deployment`, as kubectl's
    `deploymentutil.GetAllReplicaSets`; the new one carries the Deployment's revision."""
    uid = get(deployment, "metadata", "uid")
    name = get(deployment, "metadata", "name")
    revision = (get(deployment, "metadata", "annotations") or {}).get(
        "deployment.kubernetes.io/revision"
    )
    old: list[Obj] = []
    new: Obj | None = None
    for rs in replica_sets:
        refs = dicts(get(rs, "metadata", "ownerReferences"))
        if not any(
            r.get("controller")
            and r.get("kind") == "Deployment"
            and (r.get("uid") == uid if uid else r.get("name") == name)
            for r in refs
        ):
            continue
        rs_revision = (get(rs, "metadata", "annotations") or {}).get(
            "deployment.kubernetes.io/revision"
        )
        if revision is not None and rs_revision == revision and new is None:
            new = rs
        elif _count(get(rs, "spec", "replicas")) != 0:
            old.append(rs)
    old.sort(key=lambda rs: str(get(rs, "metadata", "creationTimestamp") or ""))
    return old, new


def describe_deployment(
    deployment: Obj, replica_sets: list[Obj], events: list[Obj], now: datetime
) -> str:
    """The whole `describe deployment` text (kubectl `describeDeployment`)."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    strategy = spec.get("strategy") or {}
    lines = [
        f"Name:\t{meta.get('name', '')}",
        f"Namespace:\t{meta.get('namespace') or 'default'}",
        f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}",
    ]
    _multiline("Labels", meta.get("labels"), lines)
    _annotations(meta.get("annotations"), lines)
    lines.append(f"Selector:\t{format_selector(spec.get('selector'))}")
    desired = spec.get("replicas", 1)
    lines.append(
        f"Replicas:\t{_count(desired)} desired | {_count(status.get('updatedReplicas'))} updated"
        f" | {_count(status.get('replicas'))} total"
        f" | {_count(status.get('availableReplicas'))} available"
        f" | {_count(status.get('unavailableReplicas'))} unavailable"
    )
    lines.append(f"StrategyType:\t{strategy.get('type') or 'RollingUpdate'}")
    lines.append(f"MinReadySeconds:\t{_count(spec.get('minReadySeconds'))}")
    rolling = strategy.get("rollingUpdate")
    if isinstance(rolling, dict):
        lines.append(
            f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable', '25%')} max unavailable, "
            f"{rolling.get('maxSurge', '25%')} max surge"
        )
    lines += _pod_template_lines(spec.get("template") or {})
    conditions = dicts(status.get("conditions"))
    if conditions:
        lines.append("Conditions:")
        lines.append(f"{L1}Type\tStatus\tReason")
        lines.append(f"{L1}----\t------\t------")
        lines.extend(
            f"{L1}{c.get('type')} \t{c.get('status')}\t{c.get('reason') or ''}" for c in conditions
        )
    old, new = owned_replica_sets(deployment, replica_sets)
    lines.append(f"OldReplicaSets:\t{_replica_sets_text(old)}")
    lines.append(f"NewReplicaSet:\t{_replica_sets_text([new] if new else [])}")
    return _with_events(lines, events, now)


def _events_of(client: Any, namespace: str, name: str, kind: str) -> list[Obj]:
    return [
        e
        for e in items_of(client.events(namespace, name))
        if get(e, "involvedObject", "kind") == kind
    ]


def _verdict_for(client: Any, pod: Obj) -> str | None:
    found = last_termination(pod)
    if found is None:
        return None
    meta = pod.get("metadata") or {}
    try:
        records = client.terminations(
            meta.get("namespace") or "default", meta.get("name"), found[0]
        )
    except Exception:
        # The verdict is a bonus line: an agent without history must not break describe.
        return None
    records = items_of(records)
    return verdict_text(records[-1]) if records else None


@click.command()
@click.argument("resource")
@click.argument("name", required=False)
@namespace_option
@click.pass_context
def describe(ctx: click.Context, resource: str, name: str | None, namespace: str) -> None:
    """Show a pod, service or deployment in detail, like `kubectl describe KIND NAME`."""
    if "/" in resource and name is None:
        resource, name = resource.split("/", 1)
    kind = KINDS.get(resource.lower())
    if kind is None:
        raise CliError(
            "error: podkeeper describes pods, services, deployments, statefulsets, daemonsets, "
            "jobs, cronjobs, persistentvolumeclaims, configmaps and secrets, "
            f'not "{resource}"',
            2,
        )
    if not name:
        raise CliError(f"error: describe {resource} needs a NAME", 2)
    client = state_of(ctx).client()
    obj = get_or_none(client, kind, namespace, name)
    if obj is None:
        raise CliError(not_found_line(PLURALS[kind], name))
    now = utcnow()
    if kind == "Service":
        endpoints = get_or_none(client, "Endpoints", namespace, name)
        events = _events_of(client, namespace, name, "Service")
        click.echo(describe_service(obj, endpoints, events, now), nl=False)
        return
    if kind in ("ConfigMap", "Secret"):
        from podkeeper.cli.describeconfig import describe_configmap, describe_secret

        if kind == "Secret":  # kubectl shows no events for a Secret
            click.echo(describe_secret(obj), nl=False)
        else:
            events = _events_of(client, namespace, name, kind)
            click.echo(describe_configmap(obj, events, now), nl=False)
        return
    if kind in WORKLOAD_KINDS:
        from podkeeper.cli.describe_workloads import describe_workload

        owned_by = get(obj, "metadata", "uid")
        pods = [
            p
            for p in items_of(client.list("Pod", namespace))
            if kind == "PersistentVolumeClaim"
            or any(r.get("uid") == owned_by for r in dicts(get(p, "metadata", "ownerReferences")))
        ]
        events = _events_of(client, namespace, name, kind)
        click.echo(describe_workload(obj, pods, events, now), nl=False)
        return
    if kind == "Deployment":
        replica_sets = items_of(client.list("ReplicaSet", namespace))
        events = _events_of(client, namespace, name, "Deployment")
        click.echo(describe_deployment(obj, replica_sets, events, now), nl=False)
        return
    # Issue 13 item 16: only this pod's events, not those of an earlier pod of the same name.
    uid = get(obj, "metadata", "uid")
    events = [
        e
        for e in items_of(client.events(namespace, name))
        if not uid or get(e, "involvedObject", "uid") in (uid, None, "")
    ]
    click.echo(describe_pod(obj, events, now, _verdict_for(client, obj)), nl=False)


KINDS = {
    **dict.fromkeys(("pod", "pods", "po"), "Pod"),
    **dict.fromkeys(("service", "services", "svc"), "Service"),
    **dict.fromkeys(("deployment", "deployments", "deploy"), "Deployment"),
    **dict.fromkeys(("configmap", "configmaps", "cm"), "ConfigMap"),
    **dict.fromkeys(("secret", "secrets"), "Secret"),
    **dict.fromkeys(("job", "jobs"), "Job"),
    **dict.fromkeys(("cronjob", "cronjobs", "cj"), "CronJob"),
    **dict.fromkeys(("statefulset", "statefulsets", "sts"), "StatefulSet"),
    **dict.fromkeys(("daemonset", "daemonsets", "ds"), "DaemonSet"),
    **dict.fromkeys(
        ("persistentvolumeclaim", "persistentvolumeclaims", "pvc"), "PersistentVolumeClaim"
    ),
}
PLURALS = {
    "Pod": "pods",
    "Service": "services",
    "Deployment": "deployments.apps",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Job": "jobs.batch",
    "CronJob": "cronjobs.batch",
    "StatefulSet": "statefulsets.apps",
    "DaemonSet": "daemonsets.apps",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}
#: Described by cli/describe_workloads.py.
WORKLOAD_KINDS = ("Job", "CronJob", "StatefulSet", "DaemonSet", "PersistentVolumeClaim")

"""`podkeeper explain CODE|REASON` and `podkeeper explain pod NAME`: what an exit means, and why a
pod's container last died, with the evidence the agent recorded (issue 3)."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from typing import Any

import click

from podkeeper.cli._cluster import cluster_options, use_cluster
from podkeeper.cli._common import (
    CliError,
    get_or_none,
    items_of,
    not_found_line,
    print_json,
    state_of,
)
from podkeeper.cli._text import since, utcnow

Obj = dict[str, Any]

_WIDTH = 88


def as_dict(value: Any) -> Obj:
    """An explanation object (dataclass, namedtuple or plain object) as a JSON-ready dict."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = dataclasses.asdict(value)
    elif hasattr(value, "_asdict"):
        data = dict(value._asdict())
    elif isinstance(value, dict):
        data = dict(value)
    else:
        data = {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _wrap(label: str, text: str, indent: int = 2) -> list[str]:
    head = " " * indent + (f"{label}: " if label else "")
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_on_hyphens=False,
    ) or [head.rstrip()]


def render_code(data: Obj) -> str:
    """Text for one exit code explanation (keys of `core.exitcode.Explanation`)."""
    lines = [f"Exit code {data.get('code')}: {data.get('title', '')}".rstrip()]
    if data.get("meaning"):
        lines += _wrap("", str(data["meaning"]))
    if data.get("in_containers"):
        lines += _wrap("In containers", str(data["in_containers"]))
    conventions = data.get("conventions") or []
    if conventions:
        lines.append("  Conventions:")
        for conv in conventions:
            lines += _wrap("", f"- {conv}", indent=4)
    known = {"code", "title", "meaning", "in_containers", "conventions", "signal", "signal_number"}
    for key, value in data.items():
        if key not in known and isinstance(value, str) and value:
            lines += _wrap(key.replace("_", " ").capitalize(), value)
    return "\n".join(lines)


def render_reason(data: Obj) -> str:
    """Text for a Kubernetes reason (keys of `core.exitcode.ReasonExplanation`)."""
    head = f"Reason {data.get('reason')}"
    if isinstance(data.get("exit_code"), int):
        head += f" (usually exit code {data['exit_code']})"
    lines = [head]
    if data.get("meaning"):
        lines += _wrap("", str(data["meaning"]))
    if data.get("next_step"):
        lines += _wrap("Next step", str(data["next_step"]))
    return "\n".join(lines)


def _record_time(record: Obj, now: datetime) -> str:
    when = record.get("time")
    if isinstance(when, int | float) and not isinstance(when, bool):
        # The store keeps epoch seconds; show RFC 3339 UTC like every other time.
        when = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not when:
        return "unknown time"
    return f"{when} ({since(when, now)} ago)"


def _exit_text(record: Obj) -> str:
    code = record.get("exit_code")
    if code is None:
        return "unknown"
    text = str(code)
    signal = record.get("signal")
    if signal:
        text += f" (signal {signal})"
    elif isinstance(code, int):
        try:
            from podkeeper.core.exitcode import explain as explain_code

            text += f" ({explain_code(code).title})"
        except (ImportError, ValueError):
            pass
    return text


def _mib(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value / (1024 * 1024):.1f} MiB"
    return str(value)


def render_record(record: Obj, now: datetime) -> str:
    """One termination record: when, exit code, reason, who ended it, evidence, next step
    (and, for a verdict from a cluster's API, what it could not see)."""
    container = record.get("container") or "?"
    if record.get("exit_code") is None and record.get("state"):
        lines = [f"Container {container} is {record['state']}"]
    else:
        lines = [f"Container {container} terminated at {_record_time(record, now)}"]
        lines += _wrap("Exit code", _exit_text(record))
    if record.get("reason"):
        lines += _wrap("Reason", str(record["reason"]))
    if record.get("message"):
        lines += _wrap("Message", str(record["message"]).strip())
    if record.get("verdict"):
        lines += _wrap("Verdict", str(record["verdict"]))
    if record.get("who"):
        lines += _wrap("Who", str(record["who"]))
    if isinstance(record.get("run_seconds"), int | float):
        lines += _wrap("Ran for", f"{record['run_seconds']:.1f}s")
    evidence = [str(e) for e in record.get("evidence") or []]
    limit, peak = record.get("memory_limit"), record.get("memory_peak")
    if any(e.startswith("memory ") for e in evidence):
        pass  # the verdict already put the memory facts in the chain
    elif limit is not None:
        peak_text = _mib(peak) if peak is not None else "unknown"
        evidence.insert(0, f"memory limit {_mib(limit)}, peak {peak_text}")
    elif peak is not None:
        evidence.insert(0, f"memory peak {_mib(peak)} (no memory limit)")
    if evidence:
        lines.append("  Evidence:")
        for item in evidence:
            lines += _wrap("", f"- {item}", indent=4)
    log_lines = [str(x) for x in record.get("last_log_lines") or []]
    if log_lines:
        lines.append(f"  Last {len(log_lines)} log lines:")
        lines += [f"    | {line.rstrip()}" for line in log_lines]
    if record.get("next_step"):
        lines += _wrap("Next step", str(record["next_step"]))
    unseen = [str(u) for u in record.get("unseen") or []]
    if unseen:
        lines.append("  Could not see:")
        for item in unseen:
            lines += _wrap("", f"- {item}", indent=4)
    return "\n".join(lines)


def _explain_value(arg: str, output: str | None) -> None:
    from podkeeper.core import exitcode

    try:
        code = int(arg, 10)
    except ValueError:
        found = exitcode.explain_reason(arg)
        if found is None:
            known = ", ".join(exitcode.known_reasons())
            raise CliError(
                f"error: {arg!r} is neither an exit code (0-255) nor a known reason ({known})",
                2,
            ) from None
        data = as_dict(found)
        print_json(data) if output == "json" else click.echo(render_reason(data))
        return
    if not 0 <= code <= 255:
        raise CliError(f"error: exit code {code} is outside 0-255 (exit statuses are one byte)", 2)
    data = as_dict(exitcode.explain(code))
    print_json(data) if output == "json" else click.echo(render_code(data))


@click.command()
@click.argument("what")
@click.argument("name", required=False)
@click.option("-c", "--container", default=None, help="Only this container (explain pod).")
@click.option("--all", "show_all", is_flag=True, help="Every recorded termination, oldest first.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default=None)
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Namespace of the pod (default: `default`; on a cluster, the context's).",
)
@cluster_options
@click.pass_context
def explain(
    ctx: click.Context,
    what: str,
    name: str | None,
    container: str | None,
    show_all: bool,
    output: str | None,
    namespace: str | None,
    context: str | None,
    kubeconfig: str | None,
    cluster: bool,
) -> None:
    """Explain an exit code (0-255) or reason, or why a pod's container last died.

    \b
    podkeeper explain 137
    podkeeper explain OOMKilled
    podkeeper explain pod NAME [-c CONTAINER] [--all]
    podkeeper explain pod NAME [-n NS] [--context CTX | --kubeconfig FILE | --cluster]
    """
    if what.lower() not in ("pod", "pods", "po") and not what.startswith("pod/"):
        if name is not None:
            raise CliError(f"error: unexpected argument {name!r}", 2)
        _explain_value(what, output)
        return
    if what.startswith("pod/"):
        name = what.split("/", 1)[1]
    if not name:
        raise CliError("error: explain pod needs a NAME", 2)
    if use_cluster(context, kubeconfig, cluster):
        _explain_remote(name, namespace, container, kubeconfig, context, output)
        return
    namespace = namespace or "default"
    client = state_of(ctx).client()
    # History outlives the pod (issue 3): a deleted pod still has its terminations.
    records = items_of(client.terminations(namespace, name, container))
    if not records and get_or_none(client, "Pod", namespace, name) is None:
        raise CliError(not_found_line("pods", name))
    if container is not None:
        records = [r for r in records if r.get("container") in (None, container)]
    chosen = records if show_all else records[-1:]
    if output == "json":
        print_json({"namespace": namespace, "pod": name, "terminations": chosen})
        return
    if not chosen:
        diagnosed = _explain_live(client, namespace, name, container)
        if diagnosed is not None:
            click.echo(render_record(diagnosed, utcnow()))
            return
        who = f"container {container} of pod/{name}" if container else f"pod/{name}"
        click.echo(f"{who}: no recorded termination (no container has exited yet)")
        return
    now = utcnow()
    pod = get_or_none(client, "Pod", namespace, name)
    chosen = [_with_logs_step(r, pod, namespace) for r in chosen]
    click.echo("\n\n".join(render_record(r, now) for r in chosen))


_LOGS_PREVIOUS = "`podkeeper logs -p`"


def _with_logs_step(record: Obj, pod: Obj | None, namespace: str) -> Obj:
    """The record with its next step naming the `logs` command that shows its instance.

    `logs -p` reads the instance before the current one; when the instance that
    died is still the current one (restartPolicy Never, or no restart yet) it
    fails, and plain `logs` is the right command (issue 13 item 16)."""
    step = record.get("next_step")
    if not isinstance(step, str) or _LOGS_PREVIOUS not in step or pod is None:
        return record
    container = str(record.get("container") or "")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    statuses += (pod.get("status") or {}).get("initContainerStatuses") or []
    current = next(
        (
            s.get("restartCount")
            for s in statuses
            if isinstance(s, dict) and s.get("name") == container
        ),
        None,
    )
    died = record.get("restart_count")
    if not isinstance(current, int) or not isinstance(died, int):
        return record
    name = (pod.get("metadata") or {}).get("name") or record.get("pod") or ""
    ns = f" -n {namespace}" if namespace != "default" else ""
    if died == current:
        command = f"`podkeeper logs {name} -c {container}{ns}`"
    elif died == current - 1:
        command = f"`podkeeper logs -p {name} -c {container}{ns}`"
    else:
        return record
    return {**record, "next_step": step.replace(_LOGS_PREVIOUS, command)}


def verdict_record(ev: Any, v: Any) -> Obj:
    """A verdict from the diagnosis engine as the same record shape the agent keeps (so that
    `render_record` and `-o json` treat local and cluster verdicts alike)."""
    t = ev.termination
    record: Obj = {
        "namespace": ev.namespace,
        "pod": ev.pod,
        "container": ev.container,
        "source": ev.source,
        "state": ev.state,
        "restart_count": ev.restart_count,
        "kind": v.kind,
        "verdict": v.summary,
        "who": v.who,
        "evidence": list(v.evidence),
        "unseen": list(v.unseen),
        "next_step": v.next_step,
        "last_log_lines": list(ev.log_tail),
        "memory_limit": ev.resources.memory_limit,
    }
    if t is not None:
        record.update(
            time=t.finished_at,
            exit_code=t.exit_code,
            signal=t.signal,
            reason=t.reason,
            message=t.message,
            run_seconds=t.run_seconds,
        )
    elif ev.state_reason:
        record["reason"] = ev.state_reason
    if ev.source == "cluster" and isinstance(record["next_step"], str):
        ns = f" -n {ev.namespace}" if ev.namespace != "default" else ""
        previous = "-p " if ev.state != "terminated" else ""
        record["next_step"] = record["next_step"].replace(
            _LOGS_PREVIOUS, f"`kubectl logs {previous}{ev.pod} -c {ev.container}{ns}`"
        )
    return record


def _explain_remote(
    name: str,
    namespace: str | None,
    container: str | None,
    kubeconfig: str | None,
    context: str | None,
    output: str | None,
) -> None:
    """explain pod from a cluster's API (issue 15): the same engine, evidence from the API."""
    from podkeeper.api.remote import ClusterError, RemoteCluster
    from podkeeper.core.verdict import diagnose

    try:
        with RemoteCluster(kubeconfig, context) as remote:
            ev = remote.evidence(name, namespace or remote.namespace, container)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    record = verdict_record(ev, diagnose(ev))
    if output == "json":
        print_json({"namespace": ev.namespace, "pod": name, "terminations": [record]})
        return
    click.echo(render_record(record, utcnow()))


def _explain_live(client: Any, namespace: str, name: str, container: str | None) -> Obj | None:
    """A pod with no recorded termination (waiting on its config, never Ready): the verdict
    from its object and events, through the same engine; None when it looks healthy."""
    from podkeeper.core.apievidence import from_api, pick_container
    from podkeeper.core.verdict import VerdictKind, diagnose

    pod = get_or_none(client, "Pod", namespace, name)
    if pod is None:
        return None
    picked = pick_container(pod, container)
    if picked is None:
        return None
    uid = (pod.get("metadata") or {}).get("uid")
    events = [
        e
        for e in items_of(client.events(namespace, name))
        if not uid or (e.get("involvedObject") or {}).get("uid") in (None, uid)
    ]
    ev = from_api(
        pod,
        picked[0],
        events=events,
        owners=_local_owners(client, pod, namespace),
        source="podkeeper",
        actor="podkeeper",
    )
    v = diagnose(ev)
    if v.kind in (VerdictKind.HEALTHY, VerdictKind.WAITING) and not ev.state_reason:
        return None
    return verdict_record(ev, v)


def _local_owners(client: Any, pod: Obj, namespace: str) -> list[Obj]:
    """The pod's controller chain from the local agent (ReplicaSet, then its Deployment)."""
    chain: list[Obj] = []
    obj = pod
    for _ in range(3):
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        ref = next((r for r in refs if isinstance(r, dict) and r.get("controller")), None)
        if ref is None:
            break
        try:
            found = get_or_none(client, str(ref.get("kind")), namespace, str(ref.get("name")))
        except Exception:  # a kind this agent does not serve: the chain stops there
            found = None
        if found is None:
            break
        found.setdefault("kind", ref.get("kind"))
        chain.append(found)
        obj = found
    return chain

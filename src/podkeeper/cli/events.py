"""`podkeeper events`: LAST SEEN TYPE REASON OBJECT MESSAGE like `kubectl events`, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from podkeeper.cli._common import items_of, namespace_option, print_json, state_of, warn
from podkeeper.cli._text import get, parse_time, since, table, utcnow

Obj = dict[str, Any]


def _first_seen(event: Obj) -> Any:
    return event.get("eventTime") or event.get("firstTimestamp")


def _last_seen(event: Obj) -> Any:
    series = event.get("series")
    if isinstance(series, dict) and series.get("lastObservedTime"):
        return series["lastObservedTime"]
    return event.get("lastTimestamp") or _first_seen(event)


def interval(event: Obj, now: datetime) -> str:
    """kubectl's `getInterval`: `2m`, or `10s (x3 over 2m)` for a repeated event."""
    first = since(_first_seen(event), now)
    series = event.get("series")
    if isinstance(series, dict) and series.get("count"):
        return f"{since(series.get('lastObservedTime'), now)} (x{series['count']} over {first})"
    count = event.get("count")
    if isinstance(count, int) and count > 1:
        return f"{since(event.get('lastTimestamp'), now)} (x{count} over {first})"
    return first


def involved(event: Obj) -> str:
    """`pod/NAME`: the involved object's kind (lower case) and name."""
    kind = str(get(event, "involvedObject", "kind") or "")
    name = str(get(event, "involvedObject", "name") or "")
    return f"{kind.lower()}/{name}" if kind else name


def sort_key(event: Obj) -> tuple[float, str]:
    """Oldest first, by when each event was last seen."""
    when = parse_time(_last_seen(event))
    return (when.timestamp() if when else 0.0, str(get(event, "metadata", "name") or ""))


def event_row(event: Obj, now: datetime, all_ns: bool = False) -> list[str]:
    """One `kubectl events` row."""
    row = [
        interval(event, now),
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        involved(event),
        str(event.get("message") or "").strip(),
    ]
    if all_ns:
        row.insert(0, str(get(event, "metadata", "namespace") or ""))
    return row


def render_events(events: list[Obj], now: datetime, all_ns: bool = False) -> str:
    """The `kubectl events` table, oldest first."""
    header = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if all_ns:
        header.insert(0, "NAMESPACE")
    rows = [event_row(e, now, all_ns) for e in sorted(events, key=sort_key)]
    return table(header, rows)


def event_list(events: list[Obj]) -> Obj:
    """A `v1 EventList`."""
    return {
        "apiVersion": "v1",
        "kind": "EventList",
        "metadata": {"resourceVersion": ""},
        "items": sorted(events, key=sort_key),
    }


def event_key(event: Obj) -> str:
    """What makes an event the same event across listings (its count may grow).

    The uid when there is one; else name, reason, object and first time together,
    since the names alone need not be unique."""
    meta = event.get("metadata") or {}
    if meta.get("uid"):
        return str(meta["uid"])
    obj = event.get("involvedObject") or {}
    return "|".join(
        str(x)
        for x in (
            meta.get("name"),
            event.get("reason"),
            obj.get("uid") or obj.get("name"),
            obj.get("fieldPath"),
            _first_seen(event),
            event.get("message") if not event.get("count") else "",
        )
    )


def _identity(event: Obj) -> tuple[str, Any, Any]:
    return event_key(event), event.get("count"), _last_seen(event)


@click.command()
@click.argument("pod", required=False)
@click.option("-o", "--output", type=click.Choice(["json"]), default=None, help="Output format.")
@click.option("-w", "--watch", is_flag=True, help="After listing, print new events as they come.")
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="Events of every namespace.")
@click.pass_context
def events(
    ctx: click.Context,
    pod: str | None,
    output: str | None,
    watch: bool,
    namespace: str,
    all_namespaces: bool,
) -> None:
    """List events, oldest first (optionally only those of POD)."""
    client = state_of(ctx).client()
    ns = None if all_namespaces else namespace

    def fetch() -> list[Obj]:
        return items_of(client.events(ns, pod))

    current = fetch()
    if output == "json" and not watch:
        print_json(event_list(current))
        return
    if output == "json":
        for event in sorted(current, key=sort_key):
            print_json(event)
    elif current:
        click.echo(render_events(current, utcnow(), all_namespaces), nl=False)
    elif not watch:
        where = "" if all_namespaces else f" in {namespace} namespace"
        warn(f"No events found{where}.")
        return
    if not watch:
        return
    seen = {_identity(e) for e in current}
    header_done = bool(current) or output == "json"
    # The agent streams `{"type": ..., "object": event}`, current events first: skip those seen.
    for update in client.watch_events(ns, pod):
        item: Any = update.get("object") if isinstance(update.get("object"), dict) else update
        if not isinstance(item, dict) or _identity(item) in seen:
            continue
        seen.add(_identity(item))
        if output == "json":
            print_json(item)
            continue
        now = utcnow()
        if not header_done:
            click.echo(render_events([item], now, all_namespaces), nl=False)
            header_done = True
        else:
            # Streamed rows cannot share column widths with later ones; kubectl pads the same.
            click.echo("   ".join(event_row(item, now, all_namespaces)))

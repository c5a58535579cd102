"""A self-contained HTML page of a simulated timeline: inline SVG and CSS, no external assets.

One lane per container and probe type: probes are ticks coloured by result,
container instances are bars (hatched while waiting in CrashLoopBackOff),
kills and restarts are markers, and the pod's Ready condition is a band on top.
A legend and the summary follow.
"""

from __future__ import annotations

import math
from html import escape

from podkeeper.core.spec import ProbeType
from podkeeper.simulate.engine import Simulation
from podkeeper.simulate.timeline import Summary, summary_lines

COLOURS = {
    "success": "#2e9d44",
    "warning": "#e69b00",
    "failure": "#d7263d",
    "unknown": "#d7263d",
    "error": "#8a8a8a",
}
LEFT = 190  # label gutter, px
PLOT = 960  # plot width, px
LANE = 26
PROBE_ORDER = ("Startup", "Readiness", "Liveness")

CSS = "\n".join(
    [
        "body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;"
        "color:#222;background:#fff}",
        "h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:18px 0 6px}",
        "p.sub{margin:0 0 16px;color:#555}",
        "svg.timeline{display:block;background:#fcfcfc;border:1px solid #ddd;border-radius:6px}",
        "svg text{font:12px system-ui,sans-serif;fill:#333}",
        "svg .axis text{fill:#666;font-size:11px}",
        "svg .grid{stroke:#eee}",
        ".legend{display:flex;flex-wrap:wrap;gap:14px;margin:12px 0 18px;padding:0;"
        "list-style:none}",
        ".legend li{display:flex;align-items:center;gap:6px}",
        ".sw{display:inline-block;width:14px;height:14px;border-radius:3px}",
        "pre.summary{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;"
        "padding:12px 14px;font:13px/1.5 ui-monospace,Menlo,Consolas,monospace}",
        "table.events{border-collapse:collapse;font-size:12px;margin-top:8px}",
        "table.inputs{border-collapse:collapse;margin-bottom:14px}",
        "table.inputs th{text-align:left;padding:2px 12px 2px 0;font-weight:600}",
        "table.events td,table.events th{border-bottom:1px solid #eee;padding:3px 8px;"
        "text-align:left;vertical-align:top}",
    ]
)


def _nice_step(span: float) -> float:
    """A round tick interval giving about 10 ticks over `span` seconds."""
    raw = max(span / 10, 1e-3)
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * exp:
            step = m * exp
            break
    for s in (15, 30, 60, 120, 300, 600):  # prefer clock-friendly steps above 10 s
        if step > 10 and s >= step:
            return float(s)
    return float(step)


def _label(t: float) -> str:
    if t >= 60 and t % 60 == 0:
        return f"{int(t // 60)}m"
    if t >= 60:
        return f"{int(t // 60)}m{int(t % 60)}s"
    return f"{t:g}s"


def render_html(
    sim: Simulation,
    summary: Summary,
    title: str = "podkeeper simulate",
    inputs: dict[str, str] | None = None,
) -> str:
    """The page; `inputs` (what was modelled, name -> value) is shown above the timeline."""
    t0 = sim.start
    span = max(summary.duration, 1e-6)

    def x(t: float) -> float:
        return LEFT + PLOT * min(max(t, 0.0), span) / span

    m = sim.machine
    lanes: list[tuple[str, str, str]] = [("pod", "ready", "Pod Ready")]
    for name, rec in m.records.items():
        # "container NAME" and "  NAME liveness probe": distinct even for a container
        # named `liveness` (issue 14).
        lanes.append((name, "container", f"container {name}"))
        for ptype in PROBE_ORDER:
            if rec.spec.probe(_ptype(ptype)) is not None:
                lanes.append((name, ptype, f"  {ptype.lower()} probe"))
    top = 10
    height = top + LANE * len(lanes) + 40
    y_of = {(c, k): top + i * LANE for i, (c, k, _) in enumerate(lanes)}
    parts: list[str] = []
    add = parts.append
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + PLOT + 30}" height="{height}"'
        f' viewBox="0 0 {LEFT + PLOT + 30} {height}" role="img" aria-label="timeline"'
        ' class="timeline">'
    )
    add(
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff3e0"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#f0a040" stroke-width="3"/></pattern></defs>'
    )
    # grid and axis
    step = _nice_step(span)
    add('<g class="axis">')
    t = 0.0
    axis_y = top + LANE * len(lanes) + 6
    while t <= span + 1e-9:
        xx = x(t)
        add(f'<line class="grid" x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{axis_y}"/>')
        add(f'<text x="{xx:.1f}" y="{axis_y + 16}" text-anchor="middle">{_label(t)}</text>')
        t += step
    add("</g>")
    # lane labels and separators
    for (_c, k, label), i in zip(lanes, range(len(lanes)), strict=True):
        y = top + i * LANE
        weight = "600" if k in ("ready", "container") else "400"
        add(
            f'<text x="10" y="{y + LANE * 0.65:.1f}" font-weight="{weight}"'
            f' xml:space="preserve">{escape(label)}</text>'
        )
        if k == "container" and i:
            add(f'<line x1="0" y1="{y}" x2="{LEFT + PLOT + 30}" y2="{y}" stroke="#ddd"/>')
    # pod Ready band
    y = y_of[("pod", "ready")]
    ready_from: float | None = None
    for s in sim.timeline:
        if s.kind != "ready":
            continue
        tt = s.time - t0
        if s.detail == "Ready":
            ready_from = tt
        elif ready_from is not None:
            add(_band(x(ready_from), x(tt), y, "#2e9d44", f"Ready {ready_from:.1f}-{tt:.1f}s"))
            ready_from = None
    if ready_from is not None:
        add(_band(x(ready_from), x(span), y, "#2e9d44", f"Ready from {ready_from:.1f}s"))
    # container instances
    for inst in summary.instances:
        y = y_of[(inst.container, "container")]
        colour = "#4a7fc1" if inst.exit_code is None or inst.how else "#7aa6d8"
        tip = f"{inst.container} #{inst.restart_count}: {inst.start:.1f}-{inst.end:.1f}s"
        if inst.exit_code is not None:
            tip += f", exit {inst.exit_code} ({inst.how})"
        add(_band(x(inst.start), x(inst.end), y, colour, tip, opacity=0.55, stroke="#fff"))
        if inst.restart_count > 0:
            cy = y + LANE - 7
            add(
                f'<circle class="restart" cx="{x(inst.start):.1f}" cy="{cy:.1f}" r="5"'
                f' fill="#1f5fa8" stroke="#fff"><title>restart #{inst.restart_count} at'
                f" {inst.start:.1f}s</title></circle>"
            )
    for iv in summary.crash_loop_back_off:
        y = y_of[(iv.container, "container")]
        add(
            f'<rect class="backoff" x="{x(iv.start):.1f}" y="{y + 4}"'
            f' width="{max(x(iv.end) - x(iv.start), 1):.1f}" height="{LANE - 8}"'
            f' fill="url(#hatch)" stroke="#f0a040"><title>CrashLoopBackOff'
            f" {iv.start:.1f}-{iv.end:.1f}s</title></rect>"
        )
    for kill in summary.kills:
        y = y_of[(kill.container, "container")]
        xx = x(kill.time)
        add(
            f'<path class="kill" d="M{xx - 6:.1f},{y + 2} L{xx + 6:.1f},{y + 2}'
            f' L{xx:.1f},{y + 13} Z" fill="#d7263d" stroke="#fff">'
            f"<title>{escape(kill.message)} at {kill.time:.1f}s</title></path>"
        )
    # probe ticks
    for s in sim.timeline:
        if s.kind != "probe" or (s.container, s.probe_type) not in y_of:
            continue
        y = y_of[(s.container, s.probe_type)]
        tt = s.time - t0
        colour = COLOURS.get(s.result, "#555")
        detail = s.detail.strip().replace("\n", " ")
        tip = f"{s.probe_type} {s.result} at {tt:.2f}s" + (f": {detail}" if detail else "")
        add(
            f'<rect class="probe {s.result}" x="{x(tt) - 1.5:.1f}" y="{y + 5}" width="3"'
            f' height="{LANE - 10}" fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
    add("</svg>")
    svg = "\n".join(parts)

    legend = [
        ("#2e9d44", "probe success / pod Ready"),
        ("#e69b00", "probe warning (counts as success)"),
        ("#d7263d", "probe failure"),
        ("#8a8a8a", "probe error (discarded)"),
        ("#4a7fc1", "container running"),
        ("url", "CrashLoopBackOff"),
    ]
    items = []
    for colour, text in legend:
        if colour == "url":
            sw = (
                '<span class="sw" style="background:repeating-linear-gradient(45deg,'
                '#f0a040 0 3px,#fff3e0 3px 6px);border:1px solid #f0a040"></span>'
            )
        else:
            sw = f'<span class="sw" style="background:{colour}"></span>'
        items.append(f"<li>{sw}{escape(text)}</li>")
    items.append(
        '<li><svg width="14" height="14" style="border:0;background:none">'
        '<path d="M1,2 L13,2 L7,13 Z" fill="#d7263d"/></svg>kill</li>'
    )
    items.append(
        '<li><svg width="14" height="14" style="border:0;background:none">'
        '<circle cx="7" cy="7" r="5" fill="#1f5fa8"/></svg>restart</li>'
    )
    rows = "\n".join(
        f"<tr><td>{e.time - t0:.2f}s</td><td>{escape(e.type)}</td><td>{escape(e.reason)}</td>"
        f"<td>{escape(e.message.strip())}</td></tr>"
        for e in sim.events
    )
    pod = m.pod.metadata
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="podkeeper simulate">
<title>{escape(title)}: {escape(pod.name)}</title>
<style>{CSS}</style></head>
<body>
<h1>{escape(title)}: pod {escape(pod.namespace)}/{escape(pod.name)}</h1>
<p class="sub">Simulated {summary.duration:g}s on podkeeper's kubelet core
(probe workers, thresholds, back-off, grace) under a virtual clock.</p>
{_inputs_table(inputs)}
{svg}
<ul class="legend">{"".join(items)}</ul>
<h2>Summary</h2>
<pre class="summary">{escape(chr(10).join(summary_lines(summary)))}</pre>
<details><summary>Events ({len(sim.events)})</summary>
<table class="events"><tr><th>time</th><th>type</th><th>reason</th><th>message</th></tr>
{rows}
</table></details>
</body></html>
"""


def _band(
    x1: float, x2: float, y: float, colour: str, tip: str, opacity: float = 0.8, stroke: str = ""
) -> str:
    edge = f' stroke="{stroke}" stroke-width="1.5"' if stroke else ""
    return (
        f'<rect class="band" x="{x1:.1f}" y="{y + 4}" width="{max(x2 - x1, 1):.1f}"'
        f' height="{LANE - 8}" rx="3" fill="{colour}" fill-opacity="{opacity}"{edge}>'
        f"<title>{escape(tip)}</title></rect>"
    )


def _ptype(name: str) -> ProbeType:
    return ProbeType(name)


def _inputs_table(inputs: dict[str, str] | None) -> str:
    if not inputs:
        return ""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in inputs.items())
    return f'<h2>Modelled inputs</h2>\n<table class="inputs">{rows}</table>'

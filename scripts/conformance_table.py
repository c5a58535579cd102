"""Run the node conformance table on both runtimes and print it as Markdown.

    python scripts/conformance_table.py                 # runs tests/e2e/test_node_conformance.py
    python scripts/conformance_table.py --junit FILE    # formats an earlier run's JUnit XML

One row per case id of `shared/spec/e2e-node-conformance.md` (the table is
tests/e2e/nodeconf_cases.py): pass, fail, xfail or skip per runtime, the reasons as
numbered notes below the table, then totals per group. Run it as root from the
repository (containerd cases skip, with their reason, where containerd is missing).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_node_conformance.py"


def run_pytest(junit: Path) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    cmd += ["--junitxml", str(junit), "-o", "junit_family=xunit2"]
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def outcomes(junit: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(runtime, case id) -> (pass|fail|xfail|skip, reason)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        m = re.search(r"\[(\w+)-([A-Z]+\d+)\]", tc.get("name", ""))
        if not m:
            continue
        key = (m.group(1), m.group(2))
        failure = tc.find("failure")
        if failure is None:
            failure = tc.find("error")
        skipped = tc.find("skipped")
        if failure is not None:
            msg = failure.get("message", "")
            if "XPASS(strict)" in msg:
                out[key] = ("fail", "passes now (XPASS): " + msg.split("]", 1)[-1].strip())
            else:
                out[key] = ("fail", _first_line(msg))
        elif skipped is not None:
            kind = "xfail" if skipped.get("type") == "pytest.xfail" else "skip"
            reason = skipped.get("message", "")
            reason = re.sub(r"^(Skipped|xfail): ?", "", reason).strip()
            out[key] = (kind, reason)
        else:
            out[key] = ("pass", "")
    return out


def _first_line(msg: str) -> str:
    msg = re.sub(r"^AssertionError: ", "", msg.strip())
    return msg.splitlines()[0][:300] if msg else ""


def table(results: dict[tuple[str, str], tuple[str, str]]) -> str:
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    from tests.e2e.nodeconf_cases import CASES, RUNTIMES

    notes: dict[str, int] = {}

    def cell(rt: str, cid: str) -> str:
        kind, reason = results.get((rt, cid), ("not run", ""))
        if kind == "pass" or not reason:
            return "**fail**" if kind == "fail" else kind
        n = notes.setdefault(reason, len(notes) + 1)
        return f"**fail** [{n}]" if kind == "fail" else f"{kind} [{n}]"

    lines = [
        "| case | name | " + " | ".join(RUNTIMES) + " |",
        "|---|---|" + "---|" * len(RUNTIMES),
    ]
    totals: dict[tuple[str, str], Counter[str]] = {}
    for c in CASES:
        lines.append(
            f"| {c.id} | {c.name} | " + " | ".join(cell(rt, c.id) for rt in RUNTIMES) + " |"
        )
        for rt in RUNTIMES:
            kind = results.get((rt, c.id), ("not run", ""))[0]
            totals.setdefault((c.group, rt), Counter())[kind] += 1
    lines.append("")
    lines += [f"[{n}] {reason}" for reason, n in notes.items()]
    lines += ["", "| group | cases | " + " | ".join(RUNTIMES) + " |"]
    lines.append("|---|---|" + "---|" * len(RUNTIMES))
    groups = list(dict.fromkeys(c.group for c in CASES))
    grand: dict[str, Counter[str]] = {rt: Counter() for rt in RUNTIMES}

    def fmt(cnt: Counter[str]) -> str:
        order = ("pass", "fail", "xfail", "skip", "not run")
        return ", ".join(f"{cnt[k]} {k}" for k in order if cnt[k])

    for g in groups:
        n = sum(1 for c in CASES if c.group == g)
        row = []
        for rt in RUNTIMES:
            cnt = totals[(g, rt)]
            grand[rt].update(cnt)
            row.append(fmt(cnt))
        lines.append(f"| {g} | {n} | " + " | ".join(row) + " |")
    lines.append(
        f"| **all** | {len(CASES)} | " + " | ".join(fmt(grand[rt]) for rt in RUNTIMES) + " |"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--junit", type=Path, help="format this JUnit XML instead of running")
    args = ap.parse_args()
    code = 0
    junit = args.junit
    if junit is None:
        junit = Path(tempfile.mkdtemp(prefix="nodeconf-")) / "junit.xml"
        code = run_pytest(junit)
    print(table(outcomes(junit)))
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main())

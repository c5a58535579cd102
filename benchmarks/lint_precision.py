"""``python -m benchmarks.lint_precision [DIR|FILE ...]``: findings per rule, judged.

Lints manifests (default: ``tests/lint/data/corpus``, written for this
project; no third-party files are stored) and compares every finding with
the judgements written into the files: a trailing ``# expect: rule-a, rule-b``
comment on a line marks those findings there as checked by hand and true.
A finding without such a mark counts as false; a mark without a finding as
missed. Prints, per rule, findings / true / false / missed and the precision
of the warning- and error-level findings (info findings are reports, listed
apart). Exit status 0.

To measure real manifests: put them in a directory (they stay outside the
repository), run ``podkeeper lint -o json DIR``, judge each finding, add the
marks, and run this on the directory.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "lint" / "data" / "corpus"
_MARK_RE = re.compile(r"#\s*expect:\s*([\w\-, ]+)\s*$")


def marks(files: list[str]) -> set[tuple[str, int, str]]:
    """(file, line, rule) of every `# expect:` mark."""
    found: set[tuple[str, int, str]] = set()
    for file in files:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for n, line in enumerate(text.splitlines(), start=1):
            m = _MARK_RE.search(line)
            if m:
                for rule in m.group(1).split(","):
                    if rule.strip():
                        found.add((file, n, rule.strip()))
    return found


def measure(paths: list[str]) -> dict[str, Counter[str]]:
    """Per rule: `findings`, `true`, `false`, `missed`, `info` counts."""
    from podkeeper.lint.config import Config
    from podkeeper.lint.engine import lint_documents
    from podkeeper.lint.finding import Severity
    from podkeeper.lint.source import load

    loaded = load(paths, None)
    findings = lint_documents(loaded, Config())
    expected = marks(loaded.files)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    seen: set[tuple[str, int, str]] = set()
    for f in findings:
        key = (f.file, f.line, f.rule)
        seen.add(key)
        if f.severity is Severity.INFO:
            per[f.rule]["info"] += 1
            continue
        per[f.rule]["findings"] += 1
        per[f.rule]["true" if key in expected else "false"] += 1
    for _file, _line, rule in expected - seen:
        per[rule]["missed"] += 1
    return per


def report(per: dict[str, Counter[str]]) -> str:
    rows = [f"{'rule':<32}{'findings':>9}{'true':>6}{'false':>7}{'missed':>8}{'info':>6}"]
    total: Counter[str] = Counter()
    for rule in sorted(per):
        c = per[rule]
        total.update(c)
        rows.append(
            f"{rule:<32}{c['findings']:>9}{c['true']:>6}{c['false']:>7}{c['missed']:>8}"
            f"{c['info']:>6}"
        )
    rows.append(
        f"{'all':<32}{total['findings']:>9}{total['true']:>6}{total['false']:>7}"
        f"{total['missed']:>8}{total['info']:>6}"
    )
    if total["findings"]:
        rows.append(
            f"precision (warnings and errors): {total['true']}/{total['findings']} = "
            f"{100 * total['true'] / total['findings']:.0f} %"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lint_precision")
    parser.add_argument("paths", nargs="*", default=[str(DEFAULT)])
    args = parser.parse_args(argv)
    sys.stdout.write(report(measure(args.paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

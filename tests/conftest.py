"""Suite-wide scheduling for `pytest -n 3 --dist loadfile` (the README's test command).

The two conformance files are the suite's long poles (the probe table about 3.5 min,
the node table about 6.5 min of wall time) and each starts a hundred or more pods at
once. They go first, so that the suite does not end waiting on one of them, and into
one xdist work unit, so that they never start their pods at the same time: with both
at once and the rest of the suite beside them the load average went past 80 on two
cores. The other files are one work unit each, as `loadfile` makes them.
"""

from __future__ import annotations

from typing import Any

import pytest

CONFORMANCE = ("tests/e2e/test_probe_conformance.py", "tests/e2e/test_node_conformance.py")


def _is_conformance(nodeid: str) -> bool:
    return nodeid.split("::", 1)[0] in CONFORMANCE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not _is_conformance(item.nodeid))  # stable: order kept


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None  # xdist's own
    from xdist.scheduler import LoadFileScheduling

    class ConformanceTogether(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "conformance" if _is_conformance(nodeid) else str(super()._split_scope(nodeid))

    return ConformanceTogether(config, log)

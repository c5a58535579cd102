"""The pure pieces: timing windows, JVM flags, image table, durations, config, import layering."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from podkeeper.core.spec import ExecAction, HTTPGetAction, Probe, SleepAction
from podkeeper.lint import images, jvm, timing
from podkeeper.lint.config import ConfigError, parse_config, parse_duration
from podkeeper.lint.finding import Severity
from podkeeper.lint.rules_container import sleep_seconds, tools_called

HTTP = HTTPGetAction(port=8080)


@pytest.mark.parametrize(
    ("probe", "failure", "success", "hang"),
    [
        # Defaults: period 10, failure 3, timeout 1.
        (Probe(HTTP), (20, 30), (0, 10), (21, 31)),
        (
            Probe(HTTP, initial_delay_seconds=5, period_seconds=2, failure_threshold=1),
            (5, 7),
            (5, 7),
            (1, 3),
        ),
        (
            Probe(HTTP, initial_delay_seconds=10, success_threshold=3, timeout_seconds=4),
            (30, 40),
            (30, 40),
            (24, 34),
        ),
    ],
)
def test_windows(
    probe: Probe,
    failure: tuple[float, float],
    success: tuple[float, float],
    hang: tuple[float, float],
) -> None:
    f, s, h = (
        timing.failure_window(probe),
        timing.first_success(probe),
        timing.hang_detection(probe),
    )
    assert (f.earliest, f.latest) == failure
    assert (s.earliest, s.latest) == success
    assert (h.earliest, h.latest) == hang
    # The documented formulas are the latest ends.
    assert timing.nominal_failure(probe) == f.latest
    assert timing.nominal_hang_detection(probe) == h.latest


def test_window_text() -> None:
    assert timing.Window(20, 30).text() == "20-30s"
    assert timing.Window(5, 5).text() == "5s"
    assert timing.Window(1.5, 2).text() == "1.5-2s"


@pytest.mark.parametrize(
    ("text", "size"),
    [("-Xmx512m", 512 << 20), ("-Xmx2g", 2 << 30), ("-Xmx1024k", 1 << 20), ("-Xmx2G", 2 << 30),
     ("-Xmx1000", 1000), ("-XX:MaxHeapSize=3g", 3 << 30)],
)  # fmt: skip
def test_xmx_sizes(text: str, size: int) -> None:
    flags = jvm.scan([("args[0]", text)])
    assert flags.xmx == (size, "args[0]")


def test_heap_derivation() -> None:
    limit = 1 << 30
    # The last flag wins, in the JVM's reading order.
    flags = jvm.scan([("env", "-Xmx900m"), ("args", "-Xmx512m")])
    heap = jvm.max_heap(flags, limit)
    assert heap is not None and heap.bytes == 512 << 20 and heap.path == "args"
    pct = jvm.max_heap(jvm.scan([("cmd", "java -XX:MaxRAMPercentage=75.0 -jar a")]), limit)
    assert pct is not None and pct.bytes == 768 << 20
    # An explicit MaxRAM replaces the container limit, even above it; 25 % by default.
    ram = jvm.max_heap(jvm.scan([("cmd", "-XX:MaxRAM=4g")]), limit)
    assert ram is not None and ram.bytes == 1 << 30
    assert jvm.max_heap(jvm.scan([("cmd", "-Xms512m -Xss1m")]), limit) is None
    # Not a flag: part of another word.
    assert not jvm.scan([("x", "my-Xmx512m")]).any


@pytest.mark.parametrize(
    ("image", "lacks"),
    [
        ("gcr.io/distroless/static:nonroot", images.ALL_TOOLS),
        ("gcr.io/distroless/java17-debian12", images.ALL_TOOLS),
        ("gcr.io/distroless/base:debug-nonroot", {"bash", "curl"}),
        ("gcr.io/distroless/static@sha256:" + "0" * 64, images.ALL_TOOLS),
        ("cgr.dev/chainguard/static:latest", images.ALL_TOOLS),
        ("cgr.dev/chainguard/glibc-dynamic-static", images.ALL_TOOLS),
        ("docker.io/chainguard/static", images.ALL_TOOLS),
        ("mcr.microsoft.com/cbl-mariner/distroless/base:2.0", images.ALL_TOOLS),
        ("scratch", images.ALL_TOOLS),
        ("registry.k8s.io/pause:3.9", images.ALL_TOOLS),
        ("busybox", set()),
        ("docker.io/library/nginx:1.25", set()),
        ("cgr.dev/chainguard/python:latest-dev", set()),
    ],
)
def test_image_table(image: str, lacks: set[str]) -> None:
    assert images.missing_tools(image)[0] == lacks


def test_tools_called() -> None:
    assert tools_called(("/bin/sh", "-c", "curl -f localhost && wget x")) == {"sh", "curl", "wget"}
    assert tools_called(("/app/healthcheck", "--curl")) == set()
    assert tools_called(("bash", "-c", "echo curl")) == {"bash"}
    assert tools_called(()) == set()


def test_sleep_seconds() -> None:
    assert sleep_seconds(SleepAction(12)) == (12.0, "sleep.seconds")
    assert sleep_seconds(ExecAction(("sleep", "20"))) == (20.0, "exec.command")
    assert sleep_seconds(ExecAction(("sh", "-c", "sleep 1m; sleep 5s"))) == (65.0, "exec.command")
    assert sleep_seconds(ExecAction(("nginx", "-s", "quit"))) is None
    assert sleep_seconds(HTTP) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("2m", 120), ("1m30s", 90), ("1.5h", 5400), ("500ms", 0.5), ("45", 45)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10 s", "-5", "5d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_config() -> None:
    config = parse_config(
        {"rules": {"memory-limit-missing": "ERROR", "liveness-missing": False}}, "c.yaml"
    )
    assert config.levels == {"memory-limit-missing": Severity.ERROR, "liveness-missing": None}
    assert parse_config(None, "c.yaml").levels == {}
    bads: list[object] = [
        [1],
        {"rule": {}},
        {"rules": {"nope": "off"}},
        {"rules": {"k8s-invalid": "x"}},
    ]
    for bad in bads:
        with pytest.raises(ConfigError, match=r"^c\.yaml: "):
            parse_config(bad, "c.yaml")


_SRC = Path(__file__).parents[2] / "src" / "podkeeper"


def test_lint_imports_only_core_and_manifest() -> None:
    # architecture.md: lint may import core and manifest, never runtime, api or cli.
    for path in (_SRC / "lint").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("podkeeper."):
                    layer = name.split(".")[1]
                    assert layer in ("core", "manifest", "lint"), f"{path.name} imports {name}"

"""Go formatting helpers the checkers' messages depend on."""

from __future__ import annotations

import pytest

from podkeeper.runtime.checkers import canonical_header_key, go_duration, go_quote


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (1.5, "1.5s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (0.000002, "2µs"),
        (0.000000003, "3ns"),
        (10, "10s"),
        (60, "1m0s"),
        (80, "1m20s"),
        (120, "2m0s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (3725.25, "1h2m5.25s"),
        (-1.5, "-1.5s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("http://127.0.0.1:81/", '"http://127.0.0.1:81/"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x01", '"\\x01"'),
        ("héllo", '"héllo"'),
    ],
)
def test_go_quote(raw: str, quoted: str) -> None:
    assert go_quote(raw) == quoted


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("x-forwarded-for", "X-Forwarded-For"),
        ("USER-AGENT", "User-Agent"),
        ("accept", "Accept"),
        ("x--y", "X--Y"),
        ("bad name", "bad name"),  # not a token: Go leaves it alone
    ],
)
def test_canonical_header_key(name: str, canonical: str) -> None:
    assert canonical_header_key(name) == canonical

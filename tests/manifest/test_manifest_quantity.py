"""Resource quantities: resource.ParseQuantity values, rounding and canonical strings."""

from __future__ import annotations

from fractions import Fraction

import pytest

from podkeeper.manifest import cpu_millis, memory_bytes, parse_quantity
from podkeeper.manifest.quantity import ERR_FORMAT, ERR_SUFFIX, parse

GOOD = [
    # (input, exact value, canonical String())
    ("128Mi", Fraction(128 * 2**20), "128Mi"),
    ("1G", Fraction(10**9), "1G"),
    ("500m", Fraction(1, 2), "500m"),
    ("0.5", Fraction(1, 2), "500m"),
    (0.5, Fraction(1, 2), "500m"),
    ("1e3", Fraction(1000), "1e3"),
    ("1E3", Fraction(1000), "1e3"),
    ("2.5Gi", Fraction(5 * 2**29), "2560Mi"),
    ("1536Mi", Fraction(1536 * 2**20), "1536Mi"),
    ("1024Mi", Fraction(2**30), "1Gi"),
    ("1000", Fraction(1000), "1k"),
    (1000, Fraction(1000), "1k"),
    ("1500", Fraction(1500), "1500"),
    ("1000m", Fraction(1), "1"),
    ("100u", Fraction(1, 10**4), "100u"),
    ("5n", Fraction(5, 10**9), "5n"),
    ("0.1n", Fraction(1, 10**9), "1n"),  # rounded up to the nano scale
    ("2", Fraction(2), "2"),
    ("0", Fraction(0), "0"),
    ("+1k", Fraction(1000), "1k"),
    ("-1", Fraction(-1), "-1"),
    ("512Ki", Fraction(512 * 1024), "512Ki"),
    ("0.5Ki", Fraction(512), "512"),  # binary below 1024 prints as decimal
    ("1.", Fraction(1), "1"),
    (".5", Fraction(1, 2), "500m"),
    ("1e-3", Fraction(1, 1000), "1e-3"),
    ("7Ei", Fraction(7 * 2**60), "7Ei"),
]


@pytest.mark.parametrize(("raw", "value", "text"), GOOD)
def test_parse_and_print(raw: str | int | float, value: Fraction, text: str) -> None:
    assert parse_quantity(raw) == value
    assert str(parse(raw)) == text


BAD = [
    ("12Q", ERR_FORMAT),
    ("", ERR_FORMAT),
    ("abc", ERR_FORMAT),
    ("1.2.3", ERR_FORMAT),
    ("1 Gi", ERR_FORMAT),
    ("12K", ERR_SUFFIX),  # only lower-case k is kilo
    ("5e", ERR_SUFFIX),
    ("1Mb", ERR_FORMAT),  # "b" is not a suffix character at all
    ("1mi", ERR_SUFFIX),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_bad_quantities(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity(raw)
    assert str(info.value) == message


def test_format_message_is_kubernetes_text() -> None:
    assert ERR_FORMAT == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("raw", "bytes_", "millis"),
    [
        ("128Mi", 134217728, 134217728000),
        ("1.5", 2, 1500),  # Value() rounds up
        ("100m", 1, 100),
        ("0.0001", 1, 1),  # MilliValue() rounds up too
        ("1G", 10**9, 10**12),
    ],
)
def test_value_and_milli_value_round_up(raw: str, bytes_: int, millis: int) -> None:
    assert memory_bytes(raw) == bytes_
    assert cpu_millis(raw) == millis
    assert memory_bytes(parse_quantity(raw)) == bytes_

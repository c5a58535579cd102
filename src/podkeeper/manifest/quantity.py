"""Resource quantities (`128Mi`, `500m`, `1e3`) parsed and printed as Kubernetes does.

Follows `staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go`
(`ParseQuantity`, `parseQuantityString`, `CanonicalizeBytes`) and
`suffix.go`. Values are exact `Fraction`s; nothing goes through floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{_SPLIT_RE}'"
ERR_SUFFIX = "unable to parse quantity's suffix"

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

# suffix.go newSuffixer: decimal and binary suffix tables.
_DEC_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {e: s for s, e in _DEC_SUFFIXES.items()}
_BIN_BY_STEP = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_DIGITS = "0123456789"
_NANO = Fraction(1, 10**9)


@dataclass(frozen=True)
class Quantity:
    """An exact amount and the format its suffix chose (`DecimalSI`, `BinarySI`, ...)."""

    value: Fraction
    format: str = DECIMAL_SI

    def __str__(self) -> str:
        return canonical(self.value, self.format)


def _split(s: str) -> tuple[bool, str, str, str]:
    """`parseQuantityString`: sign, numerator digits, denominator digits, suffix."""
    positive = True
    pos = 0
    end = len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] == "+"
        pos += 1
    while pos < end and s[pos] == "0":  # strip leading zeros
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    denom = ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
    suffix_start = pos
    while pos < end and s[pos] in "eEinumkKMGTP":
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        # A non-digit after the suffix: not a valid exponent.
        raise ValueError(ERR_FORMAT)
    return positive, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """`suffixHandler.interpret`: (base, exponent, format) of a suffix."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        try:
            return 10, int(suffix[1:]), DECIMAL_EXPONENT
        except ValueError:
            pass
    raise ValueError(ERR_SUFFIX)


def _text(raw: str | int | float) -> str:
    if isinstance(raw, bool):
        raise ValueError(ERR_FORMAT)
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError(ERR_FORMAT)
        return repr(raw)
    if isinstance(raw, str):
        return raw
    raise ValueError(ERR_FORMAT)


def parse(raw: str | int | float) -> Quantity:
    """`resource.ParseQuantity`, keeping the format for printing. Raises ValueError."""
    s = _text(raw)
    if not s:
        raise ValueError(ERR_FORMAT)
    positive, num, denom, suffix = _split(s)
    base, exponent, fmt = _interpret(suffix)
    amount = Fraction(int(num + denom), 10 ** len(denom))
    amount *= Fraction(base) ** exponent
    # Non-zero values round up to the nano scale ("if you want some resources, you
    # should get some").
    if amount:
        amount = Fraction(math.ceil(amount / _NANO)) * _NANO
    if fmt == BINARY_SI and 0 < amount < 1:
        fmt = DECIMAL_SI
    return Quantity(amount if positive else -amount, fmt)


def parse_quantity(raw: str | int | float) -> Fraction:
    """The exact value of a Kubernetes quantity (`128Mi` -> 134217728). Raises ValueError."""
    return parse(raw).value


def round_up_milli(q: Quantity) -> Quantity:
    """`Quantity.RoundUp(-3)` as `SetDefaults_ResourceList` applies it."""
    milli = Fraction(1, 1000)
    return Quantity(Fraction(math.ceil(q.value / milli)) * milli, q.format)


def memory_bytes(q: str | int | float | Fraction) -> int:
    """`Quantity.Value()`: whole units, rounded up."""
    value = q if isinstance(q, Fraction) else parse_quantity(q)
    return math.ceil(value)


def cpu_millis(q: str | int | float | Fraction) -> int:
    """`Quantity.MilliValue()`: thousandths, rounded up."""
    value = q if isinstance(q, Fraction) else parse_quantity(q)
    return math.ceil(value * 1000)


def canonical(value: Fraction, fmt: str = DECIMAL_SI) -> str:
    """`Quantity.String()`: the canonical form (`0.5` -> `500m`, `1536Mi`, `1e3`)."""
    if fmt == BINARY_SI and (-1024 < value < 1024 or value.denominator != 1):
        fmt = DECIMAL_SI
    sign = "-" if value < 0 else ""
    value = abs(value)
    if fmt == BINARY_SI:
        n = int(value)
        step = 0
        while step < 6 and n % 1024 == 0:
            n //= 1024
            step += 1
        return f"{sign}{n}{_BIN_BY_STEP[step]}"
    if value == 0:
        return "0"
    # AsCanonicalBytes: strip factors of ten, then lower the exponent to a multiple of 3.
    mantissa = math.ceil(value / _NANO)
    exponent = -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_EXPONENT:
        suffix = f"e{exponent}" if exponent else ""
    else:
        suffix = _DEC_BY_EXP.get(exponent, f"e{exponent}")
    return f"{sign}{mantissa}{suffix}"

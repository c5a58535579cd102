"""Field errors printed exactly as Kubernetes prints them.

Mirrors `staging/src/k8s.io/apimachinery/pkg/util/validation/field/errors.go`
(`Error.Error`, `ErrorBody`, `ErrorList.ToAggregate`) and the API server's
`NewInvalid` message (`staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

INVALID = "Invalid value"
REQUIRED = "Required value"
FORBIDDEN = "Forbidden"
NOT_SUPPORTED = "Unsupported value"
DUPLICATE = "Duplicate value"
NOT_FOUND = "Not found"

# field/errors.go ErrorBody: these types never print the bad value.
_VALUELESS = frozenset({REQUIRED, FORBIDDEN, "Too long", "Internal error"})

# The API group each kind's qualified name carries in `NewInvalid` ("Deployment.apps").
_GROUPS = {
    "Deployment": "apps",
    "ReplicaSet": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "Job": "batch",
    "CronJob": "batch",
}


@dataclass(frozen=True)
class GoValue:
    """A bad value whose Go `%#v` text is already known (maps, structs, IntOrString)."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class FieldError:
    """One validation error: `path: type[: value][: detail]` as `field.Error` prints it."""

    path: str
    type: str
    value: object = None
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"

    def body(self) -> str:
        """The message without the path (`field.Error.ErrorBody`)."""
        text = self.type if self.type in _VALUELESS else f"{self.type}: {go_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text


def go_quote(s: str) -> str:
    """Go's `strconv.Quote` (`%q`): double quotes, backslash escapes, printable runes kept."""
    out = ['"']
    escapes = {
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
        "\\": "\\\\",
        '"': '\\"',
    }
    for ch in s:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_float(f: float) -> str:
    """Go's `%v` for a float64 (shortest representation, `e+NN` exponents)."""
    if f.is_integer() and abs(f) < 1e21:
        return str(int(f))
    text = repr(f)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{int(exp.lstrip('+-')):02d}"
    return text


def go_value(value: object) -> str:
    """`%v`/`%q`/`%#v` as `field.Error.ErrorBody` chooses them for a bad value."""
    if value is None:
        return "null"
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping):
        return go_string_map(value).text
    if isinstance(value, Sequence):
        return "[]interface {}{" + ", ".join(go_value(v) for v in value) + "}"
    return str(value)


def go_string_map(labels: object) -> GoValue:
    """`%#v` of a `map[string]string`: keys sorted, `map[string]string(nil)` when absent."""
    if not isinstance(labels, Mapping):
        return GoValue("map[string]string(nil)")
    items = ", ".join(
        f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in sorted(labels.items(), key=_key)
    )
    return GoValue("map[string]string{" + items + "}")


def _key(item: tuple[object, object]) -> str:
    return str(item[0])


def go_int_or_string(value: object) -> GoValue:
    """`%#v` of an `intstr.IntOrString` (value type, so its pointer `String()` is not used)."""
    if isinstance(value, str):
        return GoValue(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}")
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return GoValue(f'intstr.IntOrString{{Type:0, IntVal:{number}, StrVal:""}}')


def supported(values: Iterable[str]) -> str:
    """The detail of `field.NotSupported`: `supported values: "A", "B"`."""
    return "supported values: " + ", ".join(go_quote(v) for v in values)


def aggregate(errors: Iterable[FieldError]) -> str:
    """`ErrorList.ToAggregate().Error()`: duplicates dropped, several in `[a, b]`."""
    seen: list[str] = []
    for err in errors:
        msg = str(err)
        if msg not in seen:
            seen.append(msg)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def qualified_kind(kind: str) -> str:
    """`schema.GroupKind.String()`: `Pod`, `Deployment.apps`, `Job.batch`."""
    group = _GROUPS.get(kind)
    return f"{kind}.{group}" if group else kind


def format_invalid(kind: str, name: str, errors: list[FieldError]) -> str:
    """The API server's 422 message: `Pod "web" is invalid: <errors>` (`errors.NewInvalid`)."""
    return f"{qualified_kind(kind)} {go_quote(name)} is invalid: {aggregate(errors)}"


def child(path: str, name: str) -> str:
    """`field.Path.Child`: `a.b`, or just `b` at the root."""
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    """`field.Path.Index`: `a[0]`."""
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    """`field.Path.Key`: `a[k]`."""
    return f"{path}[{k}]"

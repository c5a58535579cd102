"""Table-driven tests for `$(VAR)` expansion, after kubernetes
`third_party/forked/golang/expansion/expand_test.go`."""

from __future__ import annotations

import pytest

from podkeeper.core.envexpand import EnvError, command_argv, container_env, expand
from podkeeper.core.spec import Container, EnvVar

MAPPING = {
    "VAR_A": "A",
    "VAR_B": "B",
    "VAR_C": "C",
    "VAR_REF": "$(VAR_A)",
    "VAR_EMPTY": "",
}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_A)-1", "A-1"),
        ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
        ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        ("$$(VAR_B)_$$(VAR_A)", "$(VAR_B)_$(VAR_A)"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("foo\\$(VAR_C)bar", "foo\\Cbar"),
        ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
        ("$(VAR_A)$(VAR_A)", "AA"),
        ("$(VAR_REF)", "$(VAR_A)"),  # no recursion
        ("foo$(VAR_EMPTY)bar", "foobar"),
        ("$(VAR_EMPTY)", ""),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("foo$(VAR_DNE)bar", "foo$(VAR_DNE)bar"),
        ("$()", "$()"),
        ("$(VAR_A", "$(VAR_A"),
        ("$(", "$("),
        ("$VAR_A", "$VAR_A"),
        ("foo$", "foo$"),
        ("$", "$"),
        ("$$", "$"),
        ("$$$", "$$"),
        ("$$$$", "$$"),
        ("$$$(VAR_A)", "$A"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        ("$(VAR_A)$", "A$"),
        ("$((VAR_A)", "$((VAR_A)"),
        ("$(VAR_A))", "A)"),
        ("$(VAR A)", "$(VAR A)"),
        ("", ""),
        ("no refs here", "no refs here"),
        ("héllo $é $(VAR_A)", "héllo $é A"),
    ],
)
def test_expand(given: str, expected: str) -> None:
    assert expand(given, MAPPING) == expected


def _c(*env: EnvVar, command: tuple[str, ...] = (), args: tuple[str, ...] = ()) -> Container:
    return Container(name="app", env=env, command=command, args=args)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ((EnvVar("A", "1"), EnvVar("B", "$(A)-2")), {"A": "1", "B": "1-2"}),
        # Later entries are not visible to earlier ones.
        ((EnvVar("B", "$(A)-2"), EnvVar("A", "1")), {"B": "$(A)-2", "A": "1"}),
        ((EnvVar("A", "x"), EnvVar("A", "$(A)y")), {"A": "xy"}),
        ((EnvVar("E"),), {"E": ""}),
        ((EnvVar("D", "$$(A)"), EnvVar("A", "1")), {"D": "$(A)", "A": "1"}),
        (
            (
                EnvVar("POD", field_ref="metadata.name"),
                EnvVar("NS", field_ref="metadata.namespace"),
                EnvVar("IP", field_ref="status.podIP"),
                EnvVar("NODE", field_ref="spec.nodeName"),
                EnvVar("URL", "http://$(IP):80/$(POD)"),
            ),
            {
                "POD": "web",
                "NS": "prod",
                "IP": "10.0.0.7",
                "NODE": "n1",
                "URL": "http://10.0.0.7:80/web",
            },
        ),
        # A fieldRef value is never expanded.
        ((EnvVar("A", "1"), EnvVar("POD", field_ref="metadata.name")), {"A": "1", "POD": "web"}),
    ],
)
def test_container_env(env: tuple[EnvVar, ...], expected: dict[str, str]) -> None:
    got = container_env(_c(*env), "web", "prod", "10.0.0.7", "n1")
    assert got == expected
    assert list(got) == list(expected)


def test_container_env_labels_and_unsupported() -> None:
    c = _c(EnvVar("L", field_ref="metadata.labels['app']"), EnvVar("U", field_ref="metadata.uid"))
    assert container_env(c, "p", "ns", "", "", pod_uid="u1", labels={"app": "x"}) == {
        "L": "x",
        "U": "u1",
    }
    with pytest.raises(EnvError, match="unsupported fieldPath"):
        container_env(_c(EnvVar("X", field_ref="spec.bogus")), "p", "ns", "", "")


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        (("echo",), ("$(A)", "$(MISSING)", "$$(A)"), ("echo", "1", "$(MISSING)", "$(A)")),
        (("sh", "-c", "echo $(A) $A"), (), ("sh", "-c", "echo 1 $A")),
        ((), ("x",), ("x",)),
        ((), (), ()),
    ],
)
def test_command_argv(
    command: tuple[str, ...], args: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert command_argv(_c(command=command, args=args), {"A": "1"}) == expected

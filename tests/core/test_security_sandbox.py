"""`has_privileged_container` (pkg/kubelet/container/helpers.go HasPrivilegedContainer),
which makes a CRI pod sandbox privileged."""

from __future__ import annotations

from podkeeper.core.security import has_privileged_container
from podkeeper.core.spec import Container, SecurityContext
from podkeeper.testing import make_pod

PRIV = SecurityContext(privileged=True)


def test_no_privileged_container() -> None:
    assert not has_privileged_container(make_pod(Container("a")))
    assert not has_privileged_container(
        make_pod(Container("a", security_context=SecurityContext(privileged=False)))
    )


def test_any_container_type_counts() -> None:
    assert has_privileged_container(make_pod(Container("a"), Container("b", security_context=PRIV)))
    assert has_privileged_container(
        make_pod(Container("a"), init_containers=(Container("i", security_context=PRIV),))
    )
    sidecar = Container("s", restart_policy="Always", security_context=PRIV)
    assert has_privileged_container(make_pod(Container("a"), init_containers=(sidecar,)))

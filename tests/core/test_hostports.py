"""hostPort mappings and conflicts (core/hostports.py)."""

from __future__ import annotations

from podkeeper.core.hostports import conflicting_ports, host_port_mappings
from podkeeper.core.spec import Container, ContainerPort, ObjectMeta, Pod, PodSpec


def _pod(name: str, *ports: ContainerPort) -> Pod:
    return Pod(ObjectMeta(name), PodSpec((Container("c", image="x", ports=ports),)))


def test_only_ports_with_a_host_port_are_mapped() -> None:
    pod = _pod("a", ContainerPort(80, host_port=8080), ContainerPort(81))
    assert host_port_mappings(pod) == (("TCP", 80, 8080, ""),)


def test_conflicts_as_the_nodeports_filter() -> None:
    a = _pod("a", ContainerPort(80, host_port=8080))
    assert conflicting_ports(_pod("b", ContainerPort(90, host_port=8080)), [a])
    assert not conflicting_ports(_pod("b", ContainerPort(80, host_port=8081)), [a])
    assert not conflicting_ports(_pod("b", ContainerPort(80, host_port=8080, protocol="UDP")), [a])
    ip1 = _pod("c", ContainerPort(80, host_port=9000, host_ip="127.0.0.1"))
    ip2 = _pod("d", ContainerPort(80, host_port=9000, host_ip="127.0.0.2"))
    assert not conflicting_ports(ip2, [ip1])
    assert conflicting_ports(_pod("e", ContainerPort(80, host_port=9000)), [ip1])

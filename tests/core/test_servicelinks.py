"""Service environment variables (core/servicelinks.py), as pkg/kubelet/envvars/envvars.go
and kubelet_pods.go getServiceEnvVarMap make them; cases after envvars_test.go."""

from __future__ import annotations

from typing import Any

from podkeeper.core.envsource import DownwardPod, resolve_env
from podkeeper.core.servicelinks import from_service, service_env
from podkeeper.core.spec import Container, EnvVar


def svc(name: str, ip: str, *ports: dict[str, Any], ns: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": list(ports)},
    }


def test_from_services_as_envvars_test() -> None:
    foo = svc(
        "foo-bar",
        "1.2.3.4",
        {"name": "port1", "port": 8080, "protocol": "TCP"},
        {"name": "port2", "port": 8081, "protocol": "UDP"},
    )
    assert from_service(foo) == {
        "FOO_BAR_SERVICE_HOST": "1.2.3.4",
        "FOO_BAR_SERVICE_PORT": "8080",
        "FOO_BAR_SERVICE_PORT_PORT1": "8080",
        "FOO_BAR_SERVICE_PORT_PORT2": "8081",
        "FOO_BAR_PORT": "tcp://1.2.3.4:8080",
        "FOO_BAR_PORT_8080_TCP": "tcp://1.2.3.4:8080",
        "FOO_BAR_PORT_8080_TCP_PROTO": "tcp",
        "FOO_BAR_PORT_8080_TCP_PORT": "8080",
        "FOO_BAR_PORT_8080_TCP_ADDR": "1.2.3.4",
        "FOO_BAR_PORT_8081_UDP": "udp://1.2.3.4:8081",
        "FOO_BAR_PORT_8081_UDP_PROTO": "udp",
        "FOO_BAR_PORT_8081_UDP_PORT": "8081",
        "FOO_BAR_PORT_8081_UDP_ADDR": "1.2.3.4",
    }
    # An unnamed single port, no protocol (TCP), an IPv6 cluster IP.
    six = from_service(svc("super-ipv6", "2001:DB8::", {"port": 8084}))
    assert six["SUPER_IPV6_PORT"] == "tcp://[2001:DB8::]:8084"
    assert six["SUPER_IPV6_SERVICE_PORT"] == "8084"
    assert not any(k.startswith("SUPER_IPV6_SERVICE_PORT_") for k in six)


def test_headless_and_ipless_services_give_nothing() -> None:
    assert from_service(svc("headless", "None", {"port": 80})) == {}
    assert from_service(svc("noip", "", {"port": 80})) == {}


def test_the_namespace_services_and_the_master_service() -> None:
    services = [
        svc("kubernetes", "10.0.0.1", {"name": "https", "port": 443}),
        svc("web", "10.0.0.2", {"port": 80}, ns="shop"),
        svc("other", "10.0.0.3", {"port": 81}, ns="elsewhere"),
    ]
    env = service_env(services, "shop")
    assert env["WEB_SERVICE_HOST"] == "10.0.0.2"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"  # master services reach every pod
    assert not any(k.startswith("OTHER_") for k in env)
    # enableServiceLinks: false leaves only the master services.
    off = service_env(services, "shop", enable_service_links=False)
    assert "WEB_SERVICE_HOST" not in off and off["KUBERNETES_SERVICE_HOST"] == "10.0.0.1"


def test_container_env_expands_and_overrides_service_variables() -> None:
    pod = DownwardPod("p", "ns", "uid", {}, {}, "node", "default")
    links = from_service(svc("db", "127.0.0.1", {"port": 5432}))
    container = Container(
        "app",
        env=(
            EnvVar("URL", "postgres://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)/x"),
            EnvVar("DB_SERVICE_PORT", "6000"),
        ),
    )
    env = resolve_env(container, pod, lambda kind, name: None, services=links).env
    assert env["URL"] == "postgres://127.0.0.1:5432/x"
    assert env["DB_SERVICE_PORT"] == "6000"  # the container's own value wins
    assert env["DB_PORT_5432_TCP_ADDR"] == "127.0.0.1"
    # Without service variables nothing is expanded or added.
    plain = resolve_env(container, pod, lambda kind, name: None).env
    assert plain == {
        "URL": "postgres://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)/x",
        "DB_SERVICE_PORT": "6000",
    }

"""`describe configmap|secret` and a pod's envFrom lines, as kubectl prints them."""

from __future__ import annotations

from datetime import UTC, datetime

from podkeeper.cli.describe import describe_pod
from podkeeper.cli.describeconfig import describe_configmap, describe_secret
from podkeeper.cli.get import render_table
from tests.cli.cli_fixtures import pod

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
META = {"name": "app", "namespace": "default", "creationTimestamp": "2024-05-01T11:59:00Z"}


def test_describe_configmap_layout() -> None:
    cm = {"metadata": {**META, "labels": {"a": "b"}}, "data": {"MODE": "prod", "multi": "x\ny"}}
    cm["binaryData"] = {"bin": "3sr+"}
    assert describe_configmap(cm, [], NOW) == (
        "Name:         app\n"
        "Namespace:    default\n"
        "Labels:       a=b\n"
        "Annotations:  <none>\n"
        "\n"
        "Data\n"
        "====\n"
        "MODE:\n----\nprod\n\n"
        "multi:\n----\nx\ny\n\n"
        "\n"
        "BinaryData\n"
        "====\n"
        "bin: 3 bytes\n"
        "\n"
        "Events:  <none>\n"
    )


def test_describe_secret_shows_sizes_never_values() -> None:
    secret = {
        "metadata": META,
        "type": "kubernetes.io/service-account-token",
        "data": {"token": "c2VjcmV0LXRva2Vu", "ca.crt": "Y2E="},
    }
    text = describe_secret(secret)
    assert text == (
        "Name:         app\n"
        "Namespace:    default\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "\n"
        "Type:  kubernetes.io/service-account-token\n"
        "\n"
        "Data\n"
        "====\n"
        "ca.crt:  2 bytes\n"
        "token:   12 bytes\n"
    )
    assert "secret-token" not in text and "c2VjcmV0" not in text


def test_tables() -> None:
    cm = {"metadata": META, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    secret = {"metadata": META, "type": "Opaque", "data": {"a": "MQ=="}}
    assert render_table("ConfigMap", [cm], NOW).splitlines() == [
        "NAME   DATA   AGE",
        "app    2      60s",
    ]
    assert render_table("Secret", [secret], NOW).splitlines() == [
        "NAME   TYPE     DATA   AGE",
        "app    Opaque   1      60s",
    ]


def test_describe_pod_env_from_lines() -> None:
    container = {
        "name": "app",
        "image": "busybox",
        "envFrom": [
            {"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
            {"secretRef": {"name": "sec", "optional": True}},
        ],
        "env": [{"name": "A", "value": "1"}],
    }
    text = describe_pod(pod(containers=[container]), [], NOW)
    assert (
        "    Environment Variables from:\n"
        "      cfg  ConfigMap with prefix 'CFG_'  Optional: false\n"
        "      sec  Secret                        Optional: true\n"
        "    Environment:\n"
        "      A:     1\n"
    ) in text

"""hostPort on the process runtime: the nftables rules (pure) and the sandbox record."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from podkeeper.runtime.process.hostports import HostPort, ruleset, table_name
from podkeeper.runtime.process.sandbox import SandboxRecord

PORTS = [
    HostPort("TCP", "", 18080, "10.88.0.2", 80),
    HostPort("UDP", "127.0.0.1", 18081, "10.88.0.3", 53),
]


def test_every_local_address_or_the_host_ip_is_dnated_to_the_pod() -> None:
    text = ruleset("podkeeper-hp-x", "pkabc0", PORTS)
    assert "    meta l4proto tcp th dport 18080 dnat to 10.88.0.2:80" in text
    assert "    ip daddr 127.0.0.1 meta l4proto udp th dport 18081 dnat to 10.88.0.3:53" in text
    # Only packets for this host: portmap's `-m addrtype --dst-type LOCAL`.
    assert text.count("fib daddr type local jump hostports") == 2  # prerouting and output


def test_loopback_and_hairpin_are_masqueraded_and_the_bridge_cannot_reach_loopback() -> None:
    text = ruleset("podkeeper-hp-x", "pkabc0", PORTS)
    assert "ct status dnat ip saddr 127.0.0.0/8 masquerade" in text
    assert "ct status dnat ip saddr 10.88.0.2 ip daddr 10.88.0.2 masquerade" in text
    # CVE-2020-8558: route_localnet on the bridge must not open the host's loopback to pods.
    drop = 'iifname "pkabc0" ip daddr 127.0.0.0/8 ct state != { established, related } drop'
    assert drop in text


def test_no_ports_only_deletes_the_table() -> None:
    assert ruleset("t", "b", []) == "table ip t {}\ndelete table ip t\n"


def test_the_table_is_named_by_the_home() -> None:
    assert table_name("/a") == table_name("/a//") != table_name("/b")
    assert table_name("/a").startswith("podkeeper-hp-")


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_nft_accepts_the_ruleset() -> None:
    r = subprocess.run(
        ["nft", "-c", "-f", "-"],
        input=ruleset("podkeeper-hp-check", "pkabc0", PORTS),
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert r.returncode == 0, r.stderr


def test_the_sandbox_record_keeps_the_ports_and_reads_older_records() -> None:
    rec = SandboxRecord("u", "pk-x-u", "pkxv2", "10.88.0.2", (("TCP", 80, 18080, ""),))
    assert SandboxRecord.load(rec.dump()) == rec
    old = json.dumps({"pod_uid": "u", "netns": "n", "veth": "v", "ip": "10.88.0.2"})
    assert SandboxRecord.load(old).ports == ()

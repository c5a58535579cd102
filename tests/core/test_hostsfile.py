"""The pod's managed /etc/hosts (core/hostsfile.py), as pkg/kubelet/kubelet_pods.go
writes it: `managedHostsFileContent`, `nodeHostsFileContent`,
`hostsEntriesFromHostAliases`, `GeneratePodHostNameAndDomain`, `makeMounts`."""

from __future__ import annotations

import pytest

from podkeeper.core import hostsfile as hf

BOILERPLATE = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def test_managed_without_domain() -> None:
    # The kubelet's TestManagedHostsFileContent "hosts test file1".
    assert hf.managed_content(["123.45.67.89"], "podFoo", "") == (
        BOILERPLATE + "123.45.67.89\tpodFoo\n"
    )


def test_managed_with_domain_and_two_ips() -> None:
    got = hf.managed_content(["203.0.113.1", "fd00::6"], "podFoo", "domainFoo")
    assert got == (
        BOILERPLATE + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\nfd00::6\tpodFoo.domainFoo\tpodFoo\n"
    )


def test_aliases_one_line_per_entry() -> None:
    aliases = (("123.45.67.89", ("foo", "bar", "baz")), ("456.78.90.123", ("park", "doo")))
    got = hf.managed_content(["203.0.113.1"], "podFoo", "", aliases)
    assert got == (
        BOILERPLATE + "203.0.113.1\tpodFoo\n"
        "\n# Entries added by HostAliases.\n"
        "123.45.67.89\tfoo\tbar\tbaz\n"
        "456.78.90.123\tpark\tdoo\n"
    )


def test_no_aliases_no_section() -> None:
    assert hf.aliases_entries(()) == ""


def test_node_content() -> None:
    node = "127.0.0.1\tlocalhost\n10.0.0.5\tmynode\n"
    assert hf.node_content(node) == hf.HOST_NETWORK_HEADER + node
    got = hf.node_content(node, (("1.2.3.4", ("foo",)),))
    assert got == (
        "# Kubernetes-managed hosts file (host network).\n"
        + node
        + "\n# Entries added by HostAliases.\n1.2.3.4\tfoo\n"
    )


def test_content_picks_by_host_network() -> None:
    kw = {"pod_ips": ["10.0.0.9"], "hostname": "p", "domain": "", "aliases": ()}
    assert hf.content(host_network=False, node_hosts="x\n", **kw).startswith(hf.MANAGED_HEADER)
    assert hf.content(host_network=True, node_hosts="x\n", **kw) == hf.HOST_NETWORK_HEADER + "x\n"
    # The node header never contains the managed header (KU7 tells them apart).
    assert hf.MANAGED_HEADER.strip() not in hf.HOST_NETWORK_HEADER


@pytest.mark.parametrize(
    ("name", "spec_hostname", "subdomain", "want"),
    [
        ("web-0", "", "", ("web-0", "")),
        ("web-0", "h", "", ("h", "")),
        ("web-0", "web-0", "nginx", ("web-0", "nginx.ns.svc.cluster.local")),
        ("a" * 62 + "-b", "", "", ("a" * 62, "")),  # cut to 63, then the '-' goes
    ],
)
def test_hostname_and_domain(
    name: str, spec_hostname: str, subdomain: str, want: tuple[str, str]
) -> None:
    assert hf.hostname_and_domain(name, "ns", spec_hostname, subdomain) == want


def test_host_aliases_from_spec() -> None:
    spec = {"hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a", "b"]}, {"ip": "5.6.7.8"}]}
    assert hf.host_aliases(spec) == (("1.2.3.4", ("a", "b")), ("5.6.7.8", ()))
    assert hf.host_aliases({}) == ()


def test_mounts_hosts_file_unless_the_container_mounts_etc_hosts() -> None:
    assert hf.mounts_hosts_file([])
    assert hf.mounts_hosts_file(["/etc", "/data"])
    assert not hf.mounts_hosts_file(["/data", "/etc/hosts"])
    # The kubelet compares the mountPath as written.
    assert hf.mounts_hosts_file(["/etc/hosts/"])

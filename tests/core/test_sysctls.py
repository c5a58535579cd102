"""Pod sysctls (core/sysctls.py): names, validation, the kubelet's admission."""

from __future__ import annotations

from podkeeper.core.admission import admit
from podkeeper.core.sysctls import FORBIDDEN_REASON, dotted, forbidden, invalid_name


def test_slash_names_become_dotted_as_the_kubelet_converts_them() -> None:
    assert dotted("kernel/shm_rmid_forced") == "kernel.shm_rmid_forced"
    assert dotted("net/ipv4/conf/eno2.100/rp_filter") == "net.ipv4.conf.eno2/100.rp_filter"
    assert dotted("net.ipv4.conf.eno2/100.rp_filter") == "net.ipv4.conf.eno2/100.rp_filter"
    assert dotted("plain") == "plain"


def test_validation_as_the_e2e_case_expects() -> None:
    assert invalid_name("foo-") and invalid_name("bar..")
    assert invalid_name("kernel.shmmax") is None and invalid_name("safe-and-unsafe") is None
    assert invalid_name("kernel/shm_rmid_forced") is None
    assert invalid_name("a" * 254)


def test_admission_takes_the_safe_list_only() -> None:
    assert forbidden([("kernel.shm_rmid_forced", "1")], host_network=False) is None
    assert forbidden([("kernel/shm_rmid_forced", "1")], host_network=False) is None
    assert forbidden([("net.ipv4.ip_local_port_range", "1024 65535")], False) is None
    assert (
        forbidden([("kernel.msgmax", "10000000000")], False)
        == 'forbidden sysctl: "kernel.msgmax" not allowlisted'
    )
    # A net sysctl of a pod on the host network would change the node's.
    assert (
        forbidden([("net.ipv4.tcp_syncookies", "1")], host_network=True)
        == 'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled'
    )


def test_a_refused_sysctl_rejects_the_pod() -> None:
    rejection = admit({}, None, [("kernel.msgmax", "1")])
    assert rejection is not None and rejection.reason == FORBIDDEN_REASON == "SysctlForbidden"
    assert rejection.status_message == (
        'Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted'
    )
    assert admit({}, None, [("kernel.shm_rmid_forced", "1")]) is None

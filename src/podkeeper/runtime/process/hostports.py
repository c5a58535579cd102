"""hostPort on the process runtime: what the CNI portmap plugin does for containerd.

The kubelet hands every container port with a hostPort to the runtime as the sandbox's
PortMappings (core/hostports.py); containerd gives them to the `portmap` CNI plugin
(containernetworking/plugins `plugins/meta/portmap`), which DNATs
`hostIP:hostPort` to `podIP:containerPort` for traffic to any local address (an
empty hostIP) or to the hostIP only, and masquerades the two cases that would not
come back otherwise: connections from loopback (it sets `route_localnet` on the
bridge so 127.0.0.1-sourced packets may leave it) and hairpin (a pod reaching its
own hostPort). Here the same is one nftables table per agent home, rewritten whole
in one `nft -f` transaction whenever a sandbox with mappings comes or goes (as
lb/nft.py does for Services):

- `hostports`: `[ip daddr HOSTIP] meta l4proto P th dport HOSTPORT dnat to IP:PORT`,
  jumped to from prerouting (other hosts, pods) and output (this host) for packets
  to a local address only (`fib daddr type local`, portmap's `-m addrtype
  --dst-type LOCAL`).
- `postrouting`: masquerade DNATed packets from 127.0.0.0/8 and hairpin packets.
- `input`: drop packets for 127.0.0.0/8 that arrive on the pods' bridge and are no
  reply: `route_localnet` would otherwise let a pod reach the host's loopback-only
  services (CVE-2020-8558; kube-proxy's KUBE-FIREWALL rule
  `! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`).

The table's name depends on the home only, so a restarted agent rewrites or removes
what a crashed one left.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from podkeeper.runtime.nftables import nft_path, write_proc

ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/{dev}/route_localnet"
_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def table_name(home: str) -> str:
    """`podkeeper-hp-<8 hex of sha256(real home)>`: found again after a crash."""
    real = os.path.realpath(home)
    return "podkeeper-hp-" + hashlib.sha256(real.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class HostPort:
    """One mapping of a live sandbox: hostIP:hostPort/protocol -> podIP:containerPort."""

    protocol: str  # TCP, UDP or SCTP, as the pod spec says
    host_ip: str  # "" or 0.0.0.0: every local address
    host_port: int
    pod_ip: str
    container_port: int


def ruleset(table: str, bridge: str, ports: Sequence[HostPort]) -> str:
    """The nft script that replaces `table` with `ports` (pure). No ports: only the delete."""
    lines = [f"table ip {table} {{}}", f"delete table ip {table}"]
    if not ports:
        return "\n".join(lines) + "\n"
    dnat = []
    for p in ports:
        match = "" if p.host_ip in ("", "0.0.0.0") else f"ip daddr {p.host_ip} "
        proto = _PROTOCOLS.get(p.protocol.upper(), "tcp")
        dnat.append(
            f"    {match}meta l4proto {proto} th dport {p.host_port} "
            f"dnat to {p.pod_ip}:{p.container_port}"
        )
    hairpin = sorted({p.pod_ip for p in ports})
    lines += [
        f"table ip {table} {{",
        "  chain hostports {",
        *dnat,
        "  }",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump hostports",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    fib daddr type local jump hostports",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        "    ct status dnat ip saddr 127.0.0.0/8 masquerade",
        *(f"    ct status dnat ip saddr {ip} ip daddr {ip} masquerade" for ip in hairpin),
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        f'    iifname "{bridge}" ip daddr 127.0.0.0/8 ct state != {{ established, related }} drop',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


class HostPortTable:
    """This home's hostPort table; `sync` is called under the sandbox manager's lock."""

    def __init__(self, home: str, bridge: str) -> None:
        self.table = table_name(home)
        self.bridge = bridge
        self._present: bool | None = None  # None: not known (an earlier agent may have left it)

    def sync(self, ports: Sequence[HostPort]) -> None:
        """Make the table say `ports` (remove it when there are none). Raises OSError with
        nft's words when the rules cannot be written."""
        if not ports and self._present is False:
            return
        nft = nft_path()
        if nft is None:
            if ports:
                raise OSError("hostPort needs nftables: nft is not installed (apt nftables)")
            self._present = False
            return
        if ports:
            # 127.0.0.1-sourced packets may leave through the bridge (portmap does the same);
            # the bridge is ours and goes with the last pod, so nothing is restored.
            write_proc(ROUTE_LOCALNET.format(dev=self.bridge), "1")
        try:
            r = subprocess.run(
                [nft, "-f", "-"],
                input=ruleset(self.table, self.bridge, ports).encode(),
                capture_output=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise OSError(f"nft timed out writing the hostPort table {self.table}") from e
        if r.returncode != 0:
            err = r.stderr.decode(errors="replace").strip()
            raise OSError(f"cannot write the hostPort table {self.table}: {err}")
        self._present = bool(ports)

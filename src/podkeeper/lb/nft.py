"""The kernel data path: one nftables table per agent home, as kube-proxy's nftables mode.

The ruleset follows kube-proxy `pkg/proxy/nftables/proxier.go` (see its
README.md in the same directory), cut to what a single host needs:

- `service-ips` map: `daddr . l4proto . dport : goto service-<hash>` (ClusterIP
  traffic; here the Service's listen address and port or nodePort).
- a service chain: `numgen random mod N vmap { i : goto endpoint-<hash> }`:
  per-connection random choice among READY endpoints only.
- an endpoint chain: mark for masquerade when the source is the endpoint itself
  (hairpin) or loopback (a localhost service address, kube-proxy's "localhost
  nodeports"), then `dnat to ip:port`.
- `no-endpoint-services` map evaluated in a filter chain at priority -110
  (before DNAT): `goto reject-chain` → `reject with tcp reset`, so a Service
  without ready endpoints refuses at once instead of timing out.
- masquerade in postrouting for marked packets (mark 0x4000, as kube-proxy).

NAT happens on a connection's first packet only; conntrack keeps established
connections on their endpoint when the endpoint leaves the map, which is what
lets `before_pod_stop` drain them (see `conntrack_in_flight`).

Every change rewrites the whole table in one `nft -f` transaction (delete +
add is atomic), which is simple and, for the few services of one host, cheap
(~ms). kube-proxy writes incremental transactions because it has thousands.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from podkeeper.runtime.nftables import nft_path, write_proc

log = logging.getLogger("podkeeper.lb.nft")

MASQ_MARK = 0x4000  # kube-proxy's masquerade bit
ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/{dev}/route_localnet"
CONNTRACK_PATH = "/proc/net/nf_conntrack"
ESTABLISHED_TIMEOUT_PATH = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"


def table_name(home: str) -> str:
    """`podkeeper-<8 hex of sha256(home)>`: one table per agent home, found again after a
    crash because the name depends on the home only."""
    return "podkeeper-" + hashlib.sha256(home.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class NftService:
    """One load-balanced service port: listen (address, port) → ready backends."""

    key: str  # "ns/name/tcp/portname", hashed into chain names as kube-proxy does
    address: str
    port: int
    protocol: str  # "tcp"
    backends: tuple[tuple[str, int], ...]


def _chain_id(text: str) -> str:
    # kube-proxy names chains "service-<8 base32 of sha256>-<ns>/<name>/<proto>/<port>";
    # a hex hash alone keeps ours within nft's identifier rules.
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ruleset(table: str, services: Sequence[NftService]) -> str:
    """The nft script that replaces `table` with rules for `services` (pure)."""
    lines = [
        f"table ip {table} {{}}",  # make sure it exists so the delete below cannot fail
        f"delete table ip {table}",
        f"table ip {table} {{",
        "  map service-ips {",
        "    type ipv4_addr . inet_proto . inet_service : verdict",
    ]
    with_eps = [s for s in services if s.backends]
    without = [s for s in services if not s.backends]
    if with_eps:
        elems = ", ".join(
            f"{s.address} . {s.protocol} . {s.port} : goto service-{_chain_id(s.key)}"
            for s in with_eps
        )
        lines.append(f"    elements = {{ {elems} }}")
    lines += [
        "  }",
        "  map no-endpoint-services {",
        "    type ipv4_addr . inet_proto . inet_service : verdict",
    ]
    if without:
        elems = ", ".join(
            f"{s.address} . {s.protocol} . {s.port} : goto reject-chain" for s in without
        )
        lines.append(f"    elements = {{ {elems} }}")
    lines += [
        "  }",
        "  chain reject-chain {",
        "    reject with tcp reset",
        "  }",
        "  chain filter-output {",
        "    type filter hook output priority -110; policy accept;",
        "    ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        "  }",
        "  chain filter-input {",
        "    type filter hook input priority -110; policy accept;",
        "    ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        "  }",
        "  chain mark-for-masquerade {",
        f"    meta mark set meta mark or {MASQ_MARK:#x}",
        "  }",
        "  chain masquerading {",
        f"    meta mark & {MASQ_MARK:#x} == 0 return",
        f"    meta mark set meta mark xor {MASQ_MARK:#x}",
        "    masquerade fully-random",
        "  }",
        "  chain services {",
        "    ip daddr . meta l4proto . th dport vmap @service-ips",
        "  }",
        "  chain nat-prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    jump services",
        "  }",
        "  chain nat-output {",
        "    type nat hook output priority -100; policy accept;",
        "    jump services",
        "  }",
        "  chain nat-postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        "    jump masquerading",
        "  }",
    ]
    for s in with_eps:
        sid = _chain_id(s.key)
        eps = [(ip, port, _chain_id(f"{s.key}/{ip}:{port}")) for ip, port in s.backends]
        vmap = ", ".join(f"{i} : goto endpoint-{eid}" for i, (_, _, eid) in enumerate(eps))
        lines += [
            f"  chain service-{sid} {{",
            # localhost clients need SNAT to leave loopback (route_localnet + masquerade).
            "    ip saddr 127.0.0.0/8 jump mark-for-masquerade",
            f"    numgen random mod {len(eps)} vmap {{ {vmap} }}",
            "  }",
        ]
        for ip, port, eid in eps:
            lines += [
                f"  chain endpoint-{eid} {{",
                f"    ip saddr {ip} jump mark-for-masquerade",  # hairpin
                f"    meta l4proto {s.protocol} dnat to {ip}:{port}",
                "  }",
            ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def available() -> tuple[bool, str]:
    """(True, "") when this process can program nftables; else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    nft = nft_path()
    if nft is None:
        return False, "nft not installed"
    probe = "podkeeper-probe"
    script = f"table ip {probe} {{}}\ndelete table ip {probe}\n"
    try:
        r = subprocess.run(
            [nft, "-f", "-"], input=script.encode(), capture_output=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"nft failed: {exc}"
    if r.returncode != 0:
        return False, "nft failed: " + r.stderr.decode(errors="replace").strip()
    return True, ""


class NftTable:
    """Our table: `apply` replaces it atomically, `remove` deletes it (start and stop)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._nft = nft_path() or "nft"
        self._localnet: dict[str, str] = {}  # device → previous route_localnet value
        self._lock = asyncio.Lock()

    async def _run(self, script: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self._nft,
            "-f",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate(script.encode())
        if proc.returncode != 0:
            raise RuntimeError(f"nft -f failed: {err.decode(errors='replace').strip()}")

    async def apply(self, services: Sequence[NftService]) -> None:
        async with self._lock:
            if any(_is_loopback(s.address) for s in services if s.backends):
                await self._route_localnet({ip for s in services for ip, _ in s.backends})
            await self._run(ruleset(self.table, services))

    def remove_sync(self) -> bool:
        """Delete the table if present (a crashed agent's leftovers too); True if it existed."""
        r = subprocess.run(
            [self._nft, "delete", "table", "ip", self.table],
            capture_output=True,
            timeout=5,
            check=False,
        )
        for dev, old in self._localnet.items():
            write_proc(ROUTE_LOCALNET.format(dev=dev), old)
        self._localnet.clear()
        return r.returncode == 0

    async def _route_localnet(self, ips: Iterable[str]) -> None:
        """Allow 127.0.0.1-sourced packets out of the device toward the pods (the kernel
        drops them otherwise: `__mkroute_output` checks route_localnet of the out device),
        as kube-proxy's iptables mode does for localhost nodeports."""
        for ip in ips:
            dev = await _route_dev(ip)
            if dev is None or dev in self._localnet or dev == "lo":
                continue
            path = ROUTE_LOCALNET.format(dev=dev)
            old = _read(path)
            if old is None:
                continue
            self._localnet[dev] = old.strip()
            write_proc(path, "1")


async def _route_dev(ip: str) -> str | None:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "-o",
        "route",
        "get",
        ip,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    words = out.decode().split()
    if "dev" in words and words.index("dev") + 1 < len(words):
        return words[words.index("dev") + 1]
    return None


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.")


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


_IN_FLIGHT_STATES = frozenset({"SYN_SENT", "SYN_RECV", "ESTABLISHED"})


def conntrack_in_flight(
    text: str, ip: str, port: int, established_timeout: int, idle_seconds: int = 1
) -> int | None:
    """Count connections NATed to ip:port that are still carrying traffic, from the text of
    /proc/net/nf_conntrack (pure).

    An entry's reply tuple has `src=<endpoint ip> sport=<endpoint port>`. Opening states
    count; an ESTABLISHED entry counts unless it has been idle `idle_seconds` (its timeout,
    refreshed to nf_conntrack_tcp_timeout_established by every packet, has run down that
    far): an idle keep-alive connection is no request in flight, and the app closes it on
    SIGTERM as it would in Kubernetes."""
    count = 0
    for line in text.splitlines():
        words = line.split()
        if len(words) < 6 or words[2] != "tcp":
            continue
        srcs = [w[4:] for w in words if w.startswith("src=")]
        sports = [w[6:] for w in words if w.startswith("sport=")]
        if len(srcs) < 2 or len(sports) < 2:
            continue
        if srcs[1] != ip or sports[1] != str(port):
            continue
        state = words[5]
        if state not in _IN_FLIGHT_STATES:
            continue
        try:
            timeout = int(words[4])
        except ValueError:
            timeout = established_timeout
        # /proc shows whole seconds rounded down: just after a packet it reads timeout - 1.
        if state == "ESTABLISHED" and timeout < established_timeout - idle_seconds:
            continue
        count += 1
    return count


def read_conntrack(ip: str, port: int) -> int | None:
    """In-flight connections to ip:port per `conntrack_in_flight`; None if unreadable."""
    text = _read(CONNTRACK_PATH)
    if text is None:
        return None
    timeout_text = _read(ESTABLISHED_TIMEOUT_PATH)
    est = int(timeout_text) if timeout_text and timeout_text.strip().isdigit() else 432000
    return conntrack_in_flight(text, ip, port, est)

"""A throwaway bridge and two network namespaces with backends, for the nftables tests.

Names start with `pkt-` so they cannot collide with the agent's sandboxes (`pk-`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

BRIDGE = "pkt-br0"
GATEWAY = "10.251.0.1"
BACKEND_PORT = 8080

BACKEND = r"""
import socket, sys, time
name, host, port, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(128)
body = name.encode()
while True:
    c, _ = s.accept()
    c.recv(65536)
    if delay:
        time.sleep(delay)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
              % (len(body), body))
    c.close()
"""


def usable() -> str | None:
    """None when the netns fixture can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("nft") is None or shutil.which("ip") is None:
        return "needs nft and ip"
    return None


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True, timeout=10)


def _teardown(n: int) -> None:
    _ip("link", "del", BRIDGE, check=False)
    for i in range(1, n + 1):
        _ip("link", "del", f"pkt-v{i}", check=False)
        _ip("netns", "del", f"pkt-ns{i}", check=False)


@contextlib.contextmanager
def pod_network(delays: tuple[float, ...] = (0.0, 0.0)) -> Iterator[list[str]]:
    """Pods 10.251.0.1{i} on a bridge, each serving its name on :8080; yields the IPs."""
    n = len(delays)
    _teardown(n)
    procs = []
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        ips = []
        for i in range(1, n + 1):
            ns, ip = f"pkt-ns{i}", f"10.251.0.1{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", f"pkt-v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", f"pkt-v{i}", "master", BRIDGE, "up")
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", GATEWAY)
            procs.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        sys.executable,
                        "-c",
                        BACKEND,
                        f"p{i}",
                        ip,
                        str(BACKEND_PORT),
                        str(delays[i - 1]),
                    ]
                )
            )
            ips.append(ip)
        time.sleep(0.3)  # backends bind
        yield ips
    finally:
        for p in procs:
            p.kill()
            p.wait()
        _teardown(n)

"""Services: endpoints from pod readiness and a load balancer per service port (issue 4 §3-§4).

`ServiceController` plays the endpoints controllers and kube-proxy on one host:
it stores `v1 Service` objects, keeps each Service's endpoints (EndpointSlice
entries, `core.endpoints`) current on every pod change, and programs a data
path per Service:

- `nftables` (kernel): root, `nft` works, and every endpoint is a pod IP off
  loopback (sandboxes in use). DNAT from a 127.0.0.1 service address to
  127.0.0.1 host-network endpoints would need route_localnet on `lo` and gains
  nothing, so those Services use the userspace path.
- `userspace`: the asyncio relay in `lb.proxy`, everywhere else.

`PODKEEPER_PROXY_MODE=auto|userspace|nftables` overrides the choice
(`nftables` still falls back when unavailable). The listen address is
`PODKEEPER_SERVICE_ADDRESS` (default 127.0.0.1), shown as `spec.clusterIP`;
the port is `nodePort` when given, else `port`. The chosen mode is shown in
the Service's annotation `podkeeper.io/proxy-mode`.

Zero downtime (§4): a terminating pod is not `ready`, so `pod_changed` (called
on every status change, deletion included) removes it from new-connection
routing at once; `before_pod_stop` then waits for its in-flight connections
before the pod worker runs preStop and sends SIGTERM.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import time
import uuid
from typing import Any

from podkeeper.controllers.interface import PodHost
from podkeeper.core.endpoints import (
    EndpointEntry,
    endpoint_entries,
    endpoints_object,
    pod_ip,
    ready_backends,
    selector_matches,
    slice_endpoints,
)
from podkeeper.lb import nft
from podkeeper.lb.proxy import Backend, PortProxy, drain

log = logging.getLogger("podkeeper.lb")

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Objs = list[Obj]  # (the class defines `list`, which shadows the builtin in its body)
NftServices = list[nft.NftService]

MODE_ANNOTATION = "podkeeper.io/proxy-mode"
LISTEN_ANNOTATION = "podkeeper.io/listen"
CONDITIONS_ANNOTATION = "podkeeper.io/endpoint-conditions"
USERSPACE = "userspace"
NFTABLES = "nftables"
STOP_RESERVE_S = 2.0  # grace left for SIGTERM after a drain (the kubelet's minimum grace)
CONNTRACK_POLL_S = 0.02
UNREADABLE_CONNTRACK_WAIT_S = 1.0


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or "default"), str(meta.get("name") or ""))


def listen_port(port: Obj) -> int:
    """The host port a service port is served on: nodePort when given, else port."""
    node_port = port.get("nodePort")
    return int(node_port) if node_port else int(port.get("port") or 0)


class ServiceController:
    """Services and Endpoints for the agent (a `controllers.interface.Controller`)."""

    kinds = ("Service", "Endpoints")

    def __init__(self, address: str | None = None, mode: str | None = None) -> None:
        self.address = address or os.environ.get("PODKEEPER_SERVICE_ADDRESS") or "127.0.0.1"
        self.mode_pref = (mode or os.environ.get("PODKEEPER_PROXY_MODE") or "auto").lower()
        self.host: PodHost | None = None
        self.services: dict[Key, Obj] = {}
        self.entries: dict[Key, dict[Key, EndpointEntry]] = {}  # service → pod → entry
        self.modes: dict[Key, str] = {}
        self.proxies: dict[tuple[str, str, str], PortProxy] = {}  # (ns, svc, port name)
        self.nft_ok = False
        self.nft_why = ""
        self.table: nft.NftTable | None = None
        self._nft_wanted = 0
        self._nft_applied = 0
        self._nft_task: asyncio.Task[None] | None = None
        self._nft_changed = asyncio.Event()
        self._stopped = False

    # ------------------------------------------------------------- lifecycle

    async def start(self, host: PodHost) -> None:
        self.host = host
        home = str(host.home)
        if self.mode_pref != USERSPACE:
            self.nft_ok, self.nft_why = await asyncio.to_thread(nft.available)
        if self.nft_ok:
            self.table = nft.NftTable(nft.table_name(home))
            if await asyncio.to_thread(self.table.remove_sync):
                log.warning("removed nftables table %s left by a previous agent", self.table.table)
            self._nft_task = asyncio.create_task(self._nft_writer(), name="nft writer")
        elif self.mode_pref == NFTABLES:
            log.warning("nftables proxy mode unavailable (%s): using userspace", self.nft_why)
        for obj in host.store.list_objects("Service", None):
            try:
                await self.apply(obj)
            except Exception:
                log.exception("could not restore service %s", _key(obj))

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for proxy in self.proxies.values():
            await proxy.close()
        self.proxies.clear()
        if self._nft_task is not None:
            self._nft_task.cancel()
            try:
                await self._nft_task
            except asyncio.CancelledError:
                pass
        if self.table is not None:
            await asyncio.to_thread(self.table.remove_sync)

    # ------------------------------------------------------------ objects

    def validate(self, obj: Obj) -> list[str]:
        kind = obj.get("kind")
        ns, name = _key(obj)
        if kind == "Endpoints":
            return [
                f'Endpoints "{name}": podkeeper manages endpoints from Service selectors; '
                "apply the Service instead"
            ]
        spec = obj.get("spec") or {}
        errors = []
        for i, port in enumerate(spec.get("ports") or ()):
            number = listen_port(port)
            for other_key, other in self.services.items():
                if other_key == (ns, name):
                    continue
                for other_port in (other.get("spec") or {}).get("ports") or ():
                    if listen_port(other_port) == number:
                        field = "nodePort" if port.get("nodePort") else "port"
                        errors.append(
                            f'Service "{name}" is invalid: spec.ports[{i}].{field}: '
                            f"Invalid value: {number}: provided port is already allocated "
                            f"(service {other_key[0]}/{other_key[1]} on {self.address})"
                        )
        return errors

    async def apply(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        key = _key(obj)
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = key[0]
        old = self.services.get(key)
        old_meta = old.get("metadata", {}) if old else {}
        meta["uid"] = old_meta.get("uid") or meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = (
            old_meta.get("creationTimestamp")
            or meta.get("creationTimestamp")
            or _rfc3339(time.time())
        )
        spec = obj.setdefault("spec", {})
        if spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
            # One host: the service address stands for the ClusterIP (all services share it).
            spec["clusterIP"] = self.address
            spec["clusterIPs"] = [self.address]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        obj["status"] = {"loadBalancer": {}}
        self.services[key] = obj
        if self.host is not None:
            self.host.store.put_object(obj)
        # Ports may have changed: drop proxies of ports that are gone.
        names = {str(p.get("name") or "") for p in self._ports(obj)}
        for pkey in [k for k in self.proxies if k[:2] == key and k[2] not in names]:
            await self.proxies.pop(pkey).close()
        pods = self.host.pod_snapshots(key[0]) if self.host is not None else []
        self.entries[key] = {(e.namespace, e.pod_name): e for e in endpoint_entries(obj, pods)}
        self._sync(key)
        return self._shown(obj)

    async def delete(self, kind: str, namespace: str, name: str, grace: int | None) -> Obj | None:
        key = (namespace, name)
        if kind == "Endpoints":
            # The endpoints controller recreates a Service's Endpoints at once.
            return self.get(kind, namespace, name)
        obj = self.services.pop(key, None)
        if obj is None:
            return None
        self.entries.pop(key, None)
        for pkey in [k for k in self.proxies if k[:2] == key]:
            await self.proxies.pop(pkey).close()
        if self.modes.pop(key, None) == NFTABLES:
            self._mark_nft()
        if self.host is not None:
            self.host.store.delete_object("Service", namespace, name)
        return self._shown(obj)

    def list(self, kind: str, namespace: str | None) -> Objs:
        keys = sorted(k for k in self.services if namespace is None or k[0] == namespace)
        return [o for o in (self.get(kind, *k) for k in keys) if o is not None]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        svc = self.services.get((namespace, name))
        if svc is None:
            return None
        if kind == "Service":
            return self._shown(svc)
        entries = list(self.entries.get((namespace, name), {}).values())
        entries.sort(key=lambda e: (e.pod_name, e.ip))
        node = self.host.node_name if self.host is not None else None
        ep = endpoints_object(svc, entries, node)
        ep["metadata"]["creationTimestamp"] = svc["metadata"].get("creationTimestamp")
        ep["metadata"]["annotations"] = {
            CONDITIONS_ANNOTATION: json.dumps(slice_endpoints(entries), separators=(",", ":"))
        }
        return ep

    def _shown(self, svc: Obj) -> Obj:
        out = copy.deepcopy(svc)
        key = _key(svc)
        ann = out["metadata"].setdefault("annotations", {})
        ann[MODE_ANNOTATION] = self.modes.get(key, USERSPACE)
        listen = [f"{self.address}:{listen_port(p)}" for p in self._ports(svc)]
        ann[LISTEN_ANNOTATION] = ",".join(listen)
        errors = [
            f"{p.address}:{p.port}: {p.listen_error}"
            for k, p in self.proxies.items()
            if k[:2] == key and p.listen_error
        ]
        if errors:
            ann["podkeeper.io/listen-error"] = "; ".join(errors)
        return out

    @staticmethod
    def _ports(svc: Obj) -> Objs:
        spec = svc.get("spec") or {}
        if spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName":
            return []  # headless / ExternalName: nothing to proxy
        return [p for p in spec.get("ports") or () if (p.get("protocol") or "TCP") == "TCP"]

    # --------------------------------------------------------------- pods

    def pod_changed(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        ns = str(meta.get("namespace") or "default")
        pkey = (ns, str(meta.get("name") or ""))
        labels = meta.get("labels") or {}
        for key, svc in self.services.items():
            if key[0] != ns:
                continue
            current = self.entries.setdefault(key, {})
            selected = selector_matches((svc.get("spec") or {}).get("selector"), labels)
            if not selected and pkey not in current:
                continue
            new = endpoint_entries(svc, [pod]) if selected else []
            before = current.get(pkey)
            if new:
                current[pkey] = new[0]
            else:
                current.pop(pkey, None)
            after = current.get(pkey)
            if before != after:
                self._sync(key)

    def pod_gone(self, pod: Obj) -> None:
        pkey = _key(pod)
        for key, current in self.entries.items():
            if current.pop(pkey, None) is not None:
                self._sync(key)

    # ---------------------------------------------------------- data path

    def _mode_for(self, key: Key) -> str:
        entries = self.entries.get(key, {})
        if not self.nft_ok or self.mode_pref == USERSPACE:
            return USERSPACE
        # Only routable (ready) endpoints decide: a pod's first snapshots carry the
        # placeholder 127.0.0.1 until its sandbox has an IP, and counting that flipped the
        # Service to userspace and back during every rollout, dropping new connections in
        # between (found by the zero-downtime load test).
        ips = [e.ip for e in entries.values() if e.ready]
        if not ips:
            return self.modes.get(key, NFTABLES if self.mode_pref == NFTABLES else USERSPACE)
        if any(ip.startswith("127.") for ip in ips):
            return USERSPACE
        return NFTABLES

    def _sync(self, key: Key) -> None:
        """Bring the data path of one Service in line with its ready endpoints."""
        svc = self.services.get(key)
        if svc is None or self._stopped:
            return
        mode = self._mode_for(key)
        previous = self.modes.get(key)
        self.modes[key] = mode
        entries = list(self.entries.get(key, {}).values())
        for port in self._ports(svc):
            name = str(port.get("name") or "")
            pkey = (key[0], key[1], name)
            proxy = self.proxies.get(pkey)
            number = listen_port(port)
            if proxy is not None and proxy.port != number:
                asyncio.get_running_loop().create_task(self.proxies.pop(pkey).close())
                proxy = None
            if mode == USERSPACE:
                if proxy is None:
                    proxy = self.proxies[pkey] = PortProxy(
                        self.address, number, f"{key[0]}/{key[1]}:{name or number}"
                    )
                proxy.set_backends(ready_backends(entries, name))
            elif proxy is not None:
                proxy.set_backends([])  # stop listening; existing connections keep relaying
        if mode == NFTABLES or previous == NFTABLES:
            self._mark_nft()
        if previous is not None and previous != mode:
            log.info("service %s/%s: proxy mode %s -> %s", *key, previous, mode)

    def _mark_nft(self) -> None:
        self._nft_wanted += 1
        self._nft_changed.set()

    def _nft_services(self) -> NftServices:
        out = []
        for key, svc in self.services.items():
            if self.modes.get(key) != NFTABLES:
                continue
            entries = list(self.entries.get(key, {}).values())
            for port in self._ports(svc):
                name = str(port.get("name") or "")
                out.append(
                    nft.NftService(
                        key=f"{key[0]}/{key[1]}/tcp/{name}",
                        address=self.address,
                        port=listen_port(port),
                        protocol="tcp",
                        backends=tuple(sorted(ready_backends(entries, name))),
                    )
                )
        return out

    async def _nft_writer(self) -> None:
        """Apply the ruleset whenever it changed; changes that arrive meanwhile coalesce."""
        assert self.table is not None
        while True:
            await self._nft_changed.wait()
            self._nft_changed.clear()
            wanted = self._nft_wanted
            try:
                await self.table.apply(self._nft_services())
            except Exception:
                log.exception("nftables update failed")
            self._nft_applied = wanted

    async def nft_synced(self, timeout: float = 5.0) -> None:
        """Wait until every change made so far is in the kernel."""
        wanted = self._nft_wanted
        deadline = time.monotonic() + timeout
        while self._nft_applied < wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    # -------------------------------------------------------------- drain

    async def before_pod_stop(self, pod: Obj, budget: float) -> None:
        """Return once nothing new is routed to `pod` and its in-flight connections are done,
        or at `budget - 2 s` (leaving the kubelet's minimum grace for SIGTERM)."""
        self.pod_changed(pod)  # the deletion snapshot: not ready → out of the routing
        t0 = time.monotonic()
        limit = budget - STOP_RESERVE_S if budget > 2 * STOP_RESERVE_S else budget / 2
        deadline = t0 + max(limit, 0.0)
        pkey = _key(pod)
        ip = pod_ip(pod)
        user_backends: set[Backend] = set()
        kernel_backends: set[Backend] = set()
        for key, svc in self.services.items():
            entry = self.entries.get(key, {}).get(pkey)
            ports = self._ports(svc)
            for port in ports:
                name = str(port.get("name") or "")
                number = entry.port(name) if entry is not None else None
                if number is None and entry is None:
                    # Already gone from the entries (e.g. pod_gone): drain by spec ports.
                    continue
                if number is None:
                    continue
                user_backends.add((ip, number))
                if self.modes.get(key) == NFTABLES:
                    kernel_backends.add((ip, number))
        # Any proxy may hold connections to the pod (a mode switch leaves them relaying).
        proxies = [p for p in self.proxies.values() if p.connections_to(user_backends)]
        waits = []
        if proxies:
            waits.append(drain(proxies, user_backends, deadline))
        if kernel_backends and self.table is not None:
            waits.append(self._drain_conntrack(kernel_backends, deadline))
        if waits:
            await asyncio.gather(*waits)
        log.debug("pod %s/%s drained in %.3fs", pkey[0], pkey[1], time.monotonic() - t0)

    async def _drain_conntrack(self, backends: set[Backend], deadline: float) -> bool:
        """Kernel path: the endpoint leaves the nft map first (new connections go elsewhere);
        then wait until conntrack shows no connection to it still carrying traffic
        (`nft.conntrack_in_flight`). Without a readable conntrack table, wait a short fixed
        time instead."""
        await self.nft_synced(max(deadline - time.monotonic(), 0.0))
        while True:
            counts = [await asyncio.to_thread(nft.read_conntrack, *b) for b in backends]
            if any(c is None for c in counts):
                await asyncio.sleep(
                    max(min(UNREADABLE_CONNTRACK_WAIT_S, deadline - time.monotonic()), 0.0)
                )
                return False
            if sum(c or 0 for c in counts) == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(CONNTRACK_POLL_S)

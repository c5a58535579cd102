"""The kubelet-managed /etc/hosts of a pod's containers, pure: what the file says and
which containers get it. Both runtimes mount the text computed here, so their files are
identical (runtime/hostsfile.py writes it; the runtimes mount it).

From pkg/kubelet/kubelet_pods.go:
- `makeMounts`: every container gets the file at /etc/hosts once the pod has an IP,
  except a container that mounts something at /etc/hosts itself (`mountEtcHostsFile`
  compares each volumeMount's mountPath with "/etc/hosts" as written);
- `makeHostsMount`: the file is `<pod dir>/etc-hosts`, mounted read-write;
- `ensureHostsFile`: a pod with its own network gets `managedHostsFileContent`; a
  hostNetwork pod gets `nodeHostsFileContent`, the node's /etc/hosts under its own header;
  both end with `hostsEntriesFromHostAliases`;
- `GeneratePodHostNameAndDomain`: the hostname is `spec.hostname` or the pod name
  (`truncatePodHostnameIfNeeded`), the domain `<subdomain>.<namespace>.svc.<cluster domain>`
  when `spec.subdomain` is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ETC_HOSTS = "/etc/hosts"
#: The file's name in the pod's folder (`getEtcHostsPath`).
FILE_NAME = "etc-hosts"
MANAGED_HEADER = "# Kubernetes-managed hosts file.\n"
HOST_NETWORK_HEADER = "# Kubernetes-managed hosts file (host network).\n"
#: The kubelet's --cluster-domain as kubeadm and kind set it (podkeeper has no DNS).
CLUSTER_DOMAIN = "cluster.local"
#: validation.DNS1123LabelMaxLength: a hostname longer than this is cut.
HOSTNAME_MAX = 63

#: (ip, hostnames) of one `spec.hostAliases` entry.
HostAlias = tuple[str, tuple[str, ...]]


def truncate_hostname(pod_name: str) -> str:
    """`truncatePodHostnameIfNeeded`: the pod name cut to 63 characters, then without a
    trailing '-' or '.'."""
    if len(pod_name) <= HOSTNAME_MAX:
        return pod_name
    return pod_name[:HOSTNAME_MAX].rstrip("-.")


def hostname_and_domain(
    pod_name: str,
    namespace: str,
    spec_hostname: str = "",
    subdomain: str = "",
    cluster_domain: str = CLUSTER_DOMAIN,
) -> tuple[str, str]:
    """`GeneratePodHostNameAndDomain`: (hostname, domain; "" without a subdomain)."""
    hostname = spec_hostname or truncate_hostname(pod_name)
    domain = f"{subdomain}.{namespace}.svc.{cluster_domain}" if subdomain else ""
    return hostname, domain


def host_aliases(spec: Mapping[str, Any]) -> tuple[HostAlias, ...]:
    """`spec.hostAliases` of a pod object (validation has checked the IPs and names)."""
    out: list[HostAlias] = []
    for entry in spec.get("hostAliases") or ():
        if isinstance(entry, Mapping) and entry.get("ip"):
            names = tuple(str(n) for n in entry.get("hostnames") or () if n)
            out.append((str(entry["ip"]), names))
    return tuple(out)


def aliases_entries(aliases: Sequence[HostAlias]) -> str:
    """`hostsEntriesFromHostAliases`: a blank line, a comment, then one line per entry with
    all its hostnames (tab-separated); "" without aliases."""
    if not aliases:
        return ""
    lines = "".join(f"{ip}\t{chr(9).join(names)}\n" for ip, names in aliases)
    return "\n# Entries added by HostAliases.\n" + lines


def managed_content(
    pod_ips: Sequence[str], hostname: str, domain: str, aliases: Sequence[HostAlias] = ()
) -> str:
    """`managedHostsFileContent`: localhost lines, then each pod IP with the FQDN (when
    there is a domain) and the hostname, then the hostAliases entries."""
    text = (
        MANAGED_HEADER + "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
    )
    for ip in pod_ips:
        text += f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n"
    return text + aliases_entries(aliases)


def node_content(node_hosts: str, aliases: Sequence[HostAlias] = ()) -> str:
    """`nodeHostsFileContent`: the node's /etc/hosts (`node_hosts`, as read) under the
    host-network header, then the hostAliases entries."""
    return HOST_NETWORK_HEADER + node_hosts + aliases_entries(aliases)


def content(
    *,
    host_network: bool,
    pod_ips: Sequence[str],
    hostname: str,
    domain: str,
    aliases: Sequence[HostAlias],
    node_hosts: str,
) -> str:
    """`ensureHostsFile`: the text of the pod's file."""
    if host_network:
        return node_content(node_hosts, aliases)
    return managed_content(pod_ips, hostname, domain, aliases)


def mounts_hosts_file(mount_paths: Iterable[str]) -> bool:
    """Whether a container whose volumeMounts have these `mountPath`s gets the managed
    file (`mountEtcHostsFile`: not when one of them is exactly /etc/hosts)."""
    return all(path != ETC_HOSTS for path in mount_paths)

"""The TLS listener's credentials: a CA, a serving certificate, a client certificate, a token.

Why: kubectl, the client libraries and every tool built on them speak to an
API server over HTTPS and authenticate (issue 11). The agent makes its own
small PKI under `$PODKEEPER_HOME/pki` the first time it serves, the way
kubeadm's `certs` phase writes `/etc/kubernetes/pki` (ca.crt, apiserver.crt,
a client certificate with organization `system:masters`), and writes a
kubeconfig that uses it. Every file is owner-only (0600, folder 0700): whoever
can read the home can act as the agent's admin, and nobody else can.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PKI_DIR = "pki"
KUBECONFIG_NAME = "kubeconfig"
#: The context, cluster and user name in the generated kubeconfig.
CONTEXT = "podkeeper"
#: The client certificate's subject: kubectl shows it as the user; `system:masters` as kubeadm's.
ADMIN_USER = "podkeeper-admin"
ADMIN_GROUP = "system:masters"
#: Certificates last ten years (the CA) and one year (leaf); leaves renew at start when near.
CA_DAYS = 3650
LEAF_DAYS = 365
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class Credentials:
    """Paths of the PKI files of one home."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def client_cert(self) -> Path:
        return self.folder / "admin.crt"

    @property
    def client_key(self) -> Path:
        return self.folder / "admin.key"

    @property
    def token(self) -> Path:
        return self.folder / "token"

    def read_token(self) -> str:
        """The bearer token (without its newline)."""
        return self.token.read_text().strip()

    def server_context(self) -> ssl.SSLContext:
        """TLS for the listener: the serving pair, client certificates optional and CA-verified."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca_cert))
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        # A bearer token authenticates as well; a certificate, when sent, must be the CA's.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def client_context(self, with_cert: bool = True) -> ssl.SSLContext:
        """TLS for a client of the listener (tests, tools): trusts only this CA."""
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        if with_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


def credentials(home: Path) -> Credentials:
    """The PKI of `home` (not created)."""
    return Credentials(home / PKI_DIR)


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file with mode 0600 (never readable by others, even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


def _pem_cert(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return data


def _name(common_name: str, organization: str | None = None) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _make_ca(creds: Credentials) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    subject = _name(f"podkeeper-ca@{int(_now().timestamp())}")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(creds.ca_key, _pem_key(key))
    _write_private(creds.ca_cert, _pem_cert(cert))


def _load_ca(creds: Credentials) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(creds.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(creds.ca_key.read_bytes(), password=None)
    return cert, key


def _make_leaf(
    creds: Credentials,
    cert_path: Path,
    key_path: Path,
    subject: Any,
    server: bool,
    hosts: list[str],
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_cert, ca_key = _load_ca(creds)
    key = _key()
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(key_path, _pem_key(key))
    _write_private(cert_path, _pem_cert(cert))


def _needs_renewal(cert_path: Path, hosts: list[str] | None = None) -> bool:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return True
    if cert.not_valid_after_utc - _now() < datetime.timedelta(days=RENEW_BEFORE_DAYS):
        return True
    if hosts is not None:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return True
        have = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
        have |= set(san.get_values_for_type(x509.DNSName))
        if not set(hosts) <= have:
            return True
    return False


def ensure(home: Path, hosts: list[str]) -> Credentials:
    """Create (or complete, or renew) the PKI of `home`; the server certificate covers `hosts`.

    Existing valid files are kept, so a kubeconfig merged into `~/.kube/config`
    stays valid across agent restarts."""
    creds = credentials(home)
    creds.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(creds.folder, 0o700)
    fresh_ca = False
    if not (creds.ca_cert.exists() and creds.ca_key.exists()) or _needs_renewal(creds.ca_cert):
        _make_ca(creds)
        fresh_ca = True
    all_hosts = sorted({"127.0.0.1", "localhost", *hosts})
    if fresh_ca or _needs_renewal(creds.server_cert, all_hosts) or not creds.server_key.exists():
        _make_leaf(
            creds,
            creds.server_cert,
            creds.server_key,
            _name("podkeeper-apiserver"),
            True,
            all_hosts,
        )
    if fresh_ca or _needs_renewal(creds.client_cert) or not creds.client_key.exists():
        _make_leaf(
            creds,
            creds.client_cert,
            creds.client_key,
            _name(ADMIN_USER, ADMIN_GROUP),
            False,
            [],
        )
    if not creds.token.exists() or not creds.read_token():
        _write_private(creds.token, (secrets.token_urlsafe(32) + "\n").encode())
    return creds


def kubeconfig(creds: Credentials, server: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig (as a dict) for `server` with context `podkeeper` and the client certificate."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": server, "certificate-authority-data": b64(creds.ca_cert)},
            }
        ],
        "users": [
            {
                "name": CONTEXT,
                "user": {
                    "client-certificate-data": b64(creds.client_cert),
                    "client-key-data": b64(creds.client_key),
                },
            }
        ],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }


def write_kubeconfig(home: Path, config: dict[str, Any]) -> Path:
    """Write `$PODKEEPER_HOME/kubeconfig` (0600)."""
    path = home / KUBECONFIG_NAME
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path


def merge_kubeconfig(target: dict[str, Any] | None, ours: dict[str, Any]) -> dict[str, Any]:
    """`target` with our cluster, user and context replaced or added; other entries untouched.

    The current context is set only when the target had none."""
    out: dict[str, Any] = dict(target or {})
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        entries = [e for e in (out.get(section) or []) if isinstance(e, dict)]
        names = {e["name"] for e in ours[section]}
        out[section] = [e for e in entries if e.get("name") not in names] + ours[section]
    if not out.get("current-context"):
        out["current-context"] = ours["current-context"]
    return out


def previous_port(home: Path) -> int | None:
    """The port of the last kubeconfig written for `home`, to serve on it again if free."""
    try:
        config = yaml.safe_load((home / KUBECONFIG_NAME).read_text())
        server = str(config["clusters"][0]["cluster"]["server"])
        return int(server.rsplit(":", 1)[1].rstrip("/"))
    except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None

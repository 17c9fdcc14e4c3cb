"""Certificates and keys for a local control plane, generated into its directory."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server_names: tuple[str, ...] = (),
    usage: tuple[x509.ObjectIdentifier, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server_names:
        sans: list[x509.GeneralName] = []
        for name in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _new_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Name, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return key, name, _issue(name, key, name, key, ca=True)


def generate(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_name, ca = _new_ca("ferris-devcluster-ca")

    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        server_key,
        ca_name,
        ca_key,
        server_names=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
    )
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _issue(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "ferris-admin"),
            ]
        ),
        admin_key,
        ca_name,
        ca_key,
        usage=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pem = serialization.Encoding.PEM
    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    pki.ca_cert.write_bytes(ca.public_bytes(pem))
    _write_key(pki.ca_key, ca_key)  # kept, to issue users' client certificates
    pki.server_cert.write_bytes(server.public_bytes(pem))
    _write_key(pki.server_key, server_key)
    pki.admin_cert.write_bytes(admin.public_bytes(pem))
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


def serving_certificate(directory: Path, names: tuple[str, ...]) -> Path:
    """A CA and a server certificate for ``names``, as a TLS Secret lays them out (``ca.crt``,
    ``tls.crt``, ``tls.key``) in ``directory``, which is returned."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_name, ca = _new_ca("ferris-runner-api-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]),
        key,
        ca_name,
        ca_key,
        server_names=names,
        usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
    (directory / "tls.crt").write_bytes(cert.public_bytes(pem))
    _write_key(directory / "tls.key", key)
    return directory


def client_certificate(pki_dir: Path, user: str, groups: tuple[str, ...], out: Path) -> tuple[Path, Path]:
    """A client certificate for ``user`` in ``groups``, signed by the cluster's CA (in
    ``pki_dir``), as an administrator hands one to a person: (certificate, key) in ``out``."""
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the cluster CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    subject = x509.Name([*names, x509.NameAttribute(NameOID.COMMON_NAME, user)])
    cert = _issue(subject, key, ca.subject, ca_key, usage=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / f"{user}.crt", out / f"{user}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path

"""Certificates made in the test (``cryptography``): a CA, server certificates that verify or
fail in one specific way (self-signed, expired, wrong host name), written as PEM files.

Shared by the PostgreSQL test cluster (its server certificate) and the TLS refusal tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CIO Desktop tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_pair(directory: Path, stem: str, key: ec.EllipticCurvePrivateKey,
                cert: x509.Certificate) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class CertKit:
    """PEM paths: ``ca`` is the trust anchor; each ``*_cert``/``*_key`` pair is a server identity."""

    dir: Path
    ca: Path
    good_cert: Path
    good_key: Path
    expired_cert: Path
    expired_key: Path
    wrong_host_cert: Path
    wrong_host_key: Path
    self_signed_cert: Path
    self_signed_key: Path

    __test__ = False


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name("CIO Team Test CA")).issuer_name(_name("CIO Team Test CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _server(issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Certificate | None, *,
            hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), expired: bool = False
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    start, end = ((now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired
                  else (now - dt.timedelta(days=1), now + dt.timedelta(days=30)))
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    subject = _name(hosts[0])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer is not None else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectAlternativeName(sans), critical=False))
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def make_cert_kit(directory: Path) -> CertKit:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca()
    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    good = _write_pair(directory, "server", *_server(ca_key, ca_cert))
    expired = _write_pair(directory, "expired", *_server(ca_key, ca_cert, expired=True))
    wrong = _write_pair(directory, "wronghost", *_server(ca_key, ca_cert, hosts=("bank.example.org",)))
    selfsigned = _write_pair(directory, "selfsigned", *_server(None, None))
    return CertKit(directory, ca_path, *good, *expired, *wrong, *selfsigned)

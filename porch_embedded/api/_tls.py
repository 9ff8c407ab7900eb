"""The standalone server's own PKI: a CA made on first start, a serving certificate, client certs.

Keys are EC P-256 and written with mode 0600. The CA signs both the serving
certificate (SANs localhost, 127.0.0.1, ::1 and any extra names) and client
certificates, whose CN is the user and O the groups, as kube-apiserver reads them.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "ensure_pki", "issue_client_certificate"]

_VALIDITY = _dt.timedelta(days=3650)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return certificate, key


def _sign(subject: x509.Name, public_key: ec.EllipticCurvePublicKey, issuer: x509.Certificate | None,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, sans: list[x509.GeneralName] | None = None,
          client: bool = False) -> x509.Certificate:
    now = _dt.datetime.now(_dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _names_missing(certificate_path: Path, names: tuple[str, ...]) -> bool:
    """Whether the certificate lacks any of ``names`` among its subject alternative names."""
    if not names:
        return False
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    try:
        present = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    return any(_general_name(name) not in present for name in names)


def ensure_pki(directory: Path, extra_names: tuple[str, ...] = ()) -> Pki:
    """Create the CA and serving certificate in ``directory`` unless they exist; return their paths.

    A serving certificate that lacks one of ``extra_names`` (a --tls-san added on a later
    start) is made again under the same CA, so clients that trust the CA keep working and
    the new name verifies; names dropped from the flags stay in the certificate.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.crt", directory / "ca.key", directory / "serving.crt", directory / "serving.key")
    if not pki.ca_cert.exists() or not pki.ca_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "porch-embedded-ca")])
        certificate = _sign(name, key.public_key(), None, key, ca=True)
        _write_private(pki.ca_key, _key_pem(key))
        pki.ca_cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        pki.serving_cert.unlink(missing_ok=True)
    if pki.serving_cert.exists() and _names_missing(pki.serving_cert, extra_names):
        pki.serving_cert.unlink()
    if not pki.serving_cert.exists() or not pki.serving_key.exists():
        ca_cert, ca_key = _load(pki.ca_cert, pki.ca_key)
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
        sans += [_general_name(name) for name in extra_names]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "porch-embedded")])
        certificate = _sign(subject, key.public_key(), ca_cert, ca_key, ca=False, sans=sans)
        _write_private(pki.serving_key, _key_pem(key))
        pki.serving_cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return pki


def issue_client_certificate(pki: Pki, user: str, groups: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A client certificate (PEM) and key (PEM) for ``user`` in ``groups``, signed by the CA."""
    ca_cert, ca_key = _load(pki.ca_cert, pki.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    certificate = _sign(x509.Name(attributes), key.public_key(), ca_cert, ca_key, ca=False, client=True)
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)

"""Certificates for the https probe tests: a throwaway CA and leaves valid for 127.0.0.1.

Made with the ``cryptography`` package, dates set directly (an expired certificate is one
whose not-after is in the past), so no clock needs faking.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_ca(dir: Path) -> tuple[Path, x509.Certificate, object]:
    """(PEM path, certificate, key) of a CA valid from yesterday for a year."""
    key, now = _key(), dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("stackscope test CA"))
            .issuer_name(_name("stackscope test CA")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return _write_cert(cert, dir / "ca.pem"), cert, key


def make_leaf(dir: Path, name: str, *, days_left: float, ca=None) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, expiring ``days_left`` days from now
    (negative: expired), signed by ``ca`` = (certificate, key) or else by itself."""
    key, now = _key(), dt.datetime.now(dt.UTC)
    issuer, signer = (ca[0].subject, ca[1]) if ca else (_name(name), key)
    not_after = now + dt.timedelta(days=days_left)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after) - dt.timedelta(days=30))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(signer, hashes.SHA256()))
    return _write_cert(cert, dir / f"{name}.pem"), _write_key(key, dir / f"{name}.key")

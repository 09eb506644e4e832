"""TLS material for the VM's engine: a CA, a server certificate and a client certificate, in
docker-machine's layout (ca.pem, server-cert.pem, server-key.pem, cert.pem, key.pem)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(cn: str, issuer: Any, key: Any, start: dt.datetime, end: dt.datetime) -> Any:
    from cryptography import x509

    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _sans(hosts: tuple[str, ...]) -> list[Any]:
    import ipaddress

    from cryptography import x509

    sans: list[Any] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    return sans


def _pem_key(k: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return data


def make_certs(
    cert_dir: Path, days: int = 30, expired: bool = False, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> None:
    """A CA, a server certificate for ``hosts`` and a client certificate, as docker-machine
    lays them out (ca.pem, cert.pem, key.pem; server-cert.pem, server-key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.timezone.utc)
    start, end = (
        (now - dt.timedelta(days=10), now - dt.timedelta(days=1))
        if expired
        else (now - dt.timedelta(hours=1), now + dt.timedelta(days=days))
    )
    ca_key = _key()
    ca = (
        _builder("isobench CA", _name("isobench CA"), ca_key, start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: Any, sans: list[Any]) -> tuple[Any, Any]:
        k = _key()
        b = _builder(cn, ca.subject, k, start, end).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return k, b.sign(ca_key, hashes.SHA256())

    s_key, s_cert = leaf("isobench engine", ExtendedKeyUsageOID.SERVER_AUTH, _sans(hosts))
    c_key, c_cert = leaf("isobench client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    pem = serialization.Encoding.PEM
    files = {
        "ca.pem": ca.public_bytes(pem), "ca-key.pem": _pem_key(ca_key),
        "server-cert.pem": s_cert.public_bytes(pem), "server-key.pem": _pem_key(s_key),
        "cert.pem": c_cert.public_bytes(pem), "key.pem": _pem_key(c_key),
    }  # fmt: skip
    cert_dir.mkdir(parents=True, exist_ok=True)
    for fname, data in files.items():
        path = cert_dir / fname
        path.write_bytes(data)
        path.chmod(0o600 if fname.endswith("key.pem") else 0o644)


# -- the boot image -------------------------------------------------------------------

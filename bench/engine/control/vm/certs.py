"""TLS material for the VM's engine: a CA, a server certificate and a client certificate, in
docker-machine's layout (ca.pem, server-cert.pem, server-key.pem, cert.pem, key.pem)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


def make_certs(cert_dir: Path, days: int = 30, expired: bool = False, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
    """A CA, a server certificate for ``hosts`` and a client certificate, as docker-machine
    lays them out (ca.pem, cert.pem, key.pem; server-cert.pem, server-key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else (now - dt.timedelta(hours=1), now + dt.timedelta(days=days))

    def key() -> Any:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = key()
    ca = (x509.CertificateBuilder().subject_name(name("isobench CA")).issuer_name(name("isobench CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(end).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage: Any, sans: list[Any]) -> tuple[Any, Any]:
        k = key()
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return k, b.sign(ca_key, hashes.SHA256())

    sans: list[Any] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    s_key, s_cert = leaf("isobench engine", ExtendedKeyUsageOID.SERVER_AUTH, sans)
    c_key, c_cert = leaf("isobench client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def pem_key(k: Any) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())

    files = {"ca.pem": ca.public_bytes(serialization.Encoding.PEM), "ca-key.pem": pem_key(ca_key),
             "server-cert.pem": s_cert.public_bytes(serialization.Encoding.PEM), "server-key.pem": pem_key(s_key),
             "cert.pem": c_cert.public_bytes(serialization.Encoding.PEM), "key.pem": pem_key(c_key)}
    for fname, data in files.items():
        path = cert_dir / fname
        path.write_bytes(data)
        path.chmod(0o600 if fname.endswith("key.pem") else 0o644)


# -- the boot image -------------------------------------------------------------------

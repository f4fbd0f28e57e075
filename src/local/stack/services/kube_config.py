"""Pure builders for the local control plane: certificates, command lines, token file, kubeconfig.

The flags follow what controller-runtime's envtest gives kube-apiserver (a single API server on
loopback, RBAC, no ServiceAccount admission, privileged allowed) with two differences: the serving
certificate comes from a CA we generate (so clients verify TLS instead of skipping it), and the
admin authenticates with a static token in the group system:masters.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# The first address of the service range is the in-cluster `kubernetes` Service; it must be a SAN.
KUBERNETES_SERVICE_IP = "10.0.0.1"
SERVING_HOSTS = (
    "127.0.0.1",
    "localhost",
    KUBERNETES_SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "fraudlake-admin"
CERT_LIFETIME = dt.timedelta(days=365)


@dataclass(frozen=True)
class KubePaths:
    """Where one stack keeps its control-plane files (all under the kube data folder)."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def serving_cert(self) -> Path:
        return self.pki / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.pki / "apiserver.key"

    @property
    def sa_public_key(self) -> Path:
        return self.pki / "sa.pub"

    @property
    def sa_private_key(self) -> Path:
        return self.pki / "sa.key"

    @property
    def token_file(self) -> Path:
        return self.pki / "tokens.csv"


# --- certificates ----------------------------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def self_signed_ca(common_name: str = "fraudlake-local-ca") -> tuple[bytes, bytes]:
    """A new CA as (key PEM, certificate PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem_key(key), _pem_cert(cert)


def serving_certificate(
    ca_key_pem: bytes, ca_cert_pem: bytes, hosts: tuple[str, ...] = SERVING_HOSTS
) -> tuple[bytes, bytes]:
    """A TLS server certificate for `hosts` signed by the CA, as (key PEM, certificate PEM)."""
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _pem_key(key), _pem_cert(cert)


def service_account_keypair() -> tuple[bytes, bytes]:
    """RSA key pair that signs and verifies service-account tokens, as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _pem_key(key), public


def write_pki(paths: KubePaths) -> None:
    """Create the CA, serving certificate, service-account keys and admin token unless present.

    Kept for the life of the stack folder, so a restart keeps existing tokens and kubeconfigs valid.
    """
    if all(
        p.exists()
        for p in (
            paths.ca_cert,
            paths.serving_cert,
            paths.serving_key,
            paths.sa_public_key,
            paths.sa_private_key,
            paths.token_file,
        )
    ):
        return
    paths.pki.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = self_signed_ca()
    serving_key, serving_cert = serving_certificate(ca_key, ca_cert)
    sa_key, sa_pub = service_account_keypair()
    _write_private(paths.pki / "ca.key", ca_key)
    paths.ca_cert.write_bytes(ca_cert)
    _write_private(paths.serving_key, serving_key)
    paths.serving_cert.write_bytes(serving_cert)
    _write_private(paths.sa_private_key, sa_key)
    paths.sa_public_key.write_bytes(sa_pub)
    _write_private(paths.token_file, token_file_line(secrets.token_urlsafe(32)).encode())


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


# --- token file and kubeconfig ---------------------------------------------------------------


def token_file_line(token: str, user: str = ADMIN_USER, groups: tuple[str, ...] = ("system:masters",)) -> str:
    """One line of kube-apiserver's --token-auth-file: token,user,uid,"group1,group2"."""
    return f'{token},{user},{user},"{",".join(groups)}"\n'


def admin_token(token_file: Path) -> str:
    """The admin token recorded in a token file written by `write_pki`."""
    return token_file.read_text().split(",", 1)[0]


def kubeconfig(server: str, ca_cert_pem: bytes, token: str, name: str = "fraudlake-local") -> dict[str, Any]:
    """A kubeconfig (as plain data) with one cluster, one token user and one current context."""
    import base64

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_cert_pem).decode(),
                },
            }
        ],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": ADMIN_USER, "namespace": "default"}}
        ],
        "current-context": name,
    }


# --- command lines ---------------------------------------------------------------------------


def etcd_args(
    etcd: Path, data_dir: Path, client_port: int, peer_port: int, name: str = "fraudlake"
) -> list[str]:
    """etcd as a single loopback member; fsync off like envtest (a throw-away local store)."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(etcd),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={name}={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_args(apiserver: Path, paths: KubePaths, etcd_client_port: int, secure_port: int) -> list[str]:
    """kube-apiserver with envtest's defaults, our certificates and the static admin token."""
    return [
        str(apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_client_port}",
        f"--secure-port={secure_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--cert-dir={paths.pki}",
        f"--tls-cert-file={paths.serving_cert}",
        f"--tls-private-key-file={paths.serving_key}",
        f"--client-ca-file={paths.ca_cert}",
        f"--token-auth-file={paths.token_file}",
        f"--service-account-key-file={paths.sa_public_key}",
        f"--service-account-signing-key-file={paths.sa_private_key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
    ]

"""Control-plane builders: certificates verify, flags match envtest, kubeconfig is usable."""

from __future__ import annotations

import base64
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from fraudlake.local.stack.services import kube_config as kc
from fraudlake.local.stack.services.kube import crd_files, crd_names

pytestmark = pytest.mark.unit


def test_serving_certificate_is_signed_by_the_ca_for_loopback_and_service_names() -> None:
    ca_key, ca_pem = kc.self_signed_ca()
    _, cert_pem = kc.serving_certificate(ca_key, ca_pem)
    ca, cert = x509.load_pem_x509_certificate(ca_pem), x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address(kc.KUBERNETES_SERVICE_IP) in san.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in san.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_write_pki_is_private_and_kept_across_calls(tmp_path: Path) -> None:
    paths = kc.KubePaths(tmp_path)
    kc.write_pki(paths)
    token = kc.admin_token(paths.token_file)
    first_cert = paths.ca_cert.read_bytes()
    kc.write_pki(paths)
    assert kc.admin_token(paths.token_file) == token
    assert paths.ca_cert.read_bytes() == first_cert
    for secret in (paths.serving_key, paths.sa_private_key, paths.token_file):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(token) >= 32


def test_token_file_line_puts_the_admin_in_system_masters() -> None:
    assert kc.token_file_line("abc") == 'abc,fraudlake-admin,fraudlake-admin,"system:masters"\n'
    assert kc.token_file_line("t", "u", ("a", "b")) == 't,u,u,"a,b"\n'


def test_kubeconfig_points_at_the_server_with_ca_and_token() -> None:
    config = kc.kubeconfig("https://127.0.0.1:6443", b"PEM", "tok")
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"PEM"
    assert config["users"][0]["user"] == {"token": "tok"}
    assert config["current-context"] == config["contexts"][0]["name"]


def test_apiserver_args_follow_envtest_defaults(tmp_path: Path) -> None:
    args = kc.apiserver_args(Path("/bin/kube-apiserver"), kc.KubePaths(tmp_path), 2379, 6443)
    flags = dict(a.split("=", 1) for a in args[1:])
    assert flags["--etcd-servers"] == "http://127.0.0.1:2379"
    assert flags["--secure-port"] == "6443"
    assert flags["--bind-address"] == flags["--advertise-address"] == "127.0.0.1"
    assert flags["--authorization-mode"] == "RBAC"
    assert flags["--service-cluster-ip-range"] == "10.0.0.0/24"
    assert flags["--disable-admission-plugins"] == "ServiceAccount"
    assert flags["--allow-privileged"] == "true"
    assert flags["--token-auth-file"] == str(tmp_path / "pki" / "tokens.csv")
    assert flags["--service-account-signing-key-file"] == str(tmp_path / "pki" / "sa.key")


def test_etcd_args_use_loopback_ports(tmp_path: Path) -> None:
    args = kc.etcd_args(Path("/bin/etcd"), tmp_path, 1111, 2222)
    assert "--listen-client-urls=http://127.0.0.1:1111" in args
    assert "--initial-cluster=fraudlake=http://127.0.0.1:2222" in args
    assert f"--data-dir={tmp_path}" in args


def test_crd_files_cover_strimzi_and_altinity() -> None:
    names = crd_names(crd_files())
    assert {
        "kafkatopics.kafka.strimzi.io",
        "kafkaconnectors.kafka.strimzi.io",
        "kafkas.kafka.strimzi.io",
        "clickhouseinstallations.clickhouse.altinity.com",
    } <= set(names)

"""A real Kubernetes API server for the local stack: etcd + kube-apiserver, envtest-style.

No kubelet, scheduler or controller-manager: objects are stored and validated (CRD schemas, CEL)
exactly as in a cluster, which is what the operator and `kubectl apply` need. The Strimzi and
Altinity CRDs are installed at start so their custom resources validate server-side.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

import yaml
from rich.console import Console

from fraudlake.local.stack.gotools import kube_bin_dir
from fraudlake.local.stack.paths import vendored_crds
from fraudlake.local.stack.process import (
    free_port,
    pinned_or_free_port,
    run_checked,
    stop_process_group,
    wait_until,
)
from fraudlake.local.stack.service import ScrapeJob, Service, ServiceRecord, StackContext
from fraudlake.local.stack.services.kube_config import (
    KubePaths,
    admin_token,
    apiserver_args,
    etcd_args,
    kubeconfig,
    write_pki,
)


def crd_files() -> list[Path]:
    """Every CRD the local API server gets: Strimzi 1.2 and Altinity ClickHouseInstallation."""
    return vendored_crds()


def crd_names(files: list[Path]) -> list[str]:
    """metadata.name of every CustomResourceDefinition in `files`."""
    names = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
    return names


class KubeService(Service):
    name = "kube"
    summary = "kube-apiserver + etcd (built from the Go module proxy) with the Strimzi/Altinity CRDs"

    def install(self, console: Console) -> None:
        kube_bin_dir(console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        bin_dir = kube_bin_dir(ctx.console)
        paths = KubePaths(ctx.data_dir(self.name))
        write_pki(paths)
        etcd_pid, etcd_port = self._start_etcd(ctx, bin_dir, paths)
        try:
            record = self._start_apiserver(ctx, bin_dir, paths, etcd_pid, etcd_port)
        except BaseException:
            stop_process_group(etcd_pid)
            raise
        try:
            self._install_crds(ctx, bin_dir, Path(record.endpoints["kubeconfig"]))
        except BaseException:
            self.stop(record)  # the API server and its etcd: neither is recorded yet
            raise
        return record

    def _start_etcd(self, ctx: StackContext, bin_dir: Path, paths: KubePaths) -> tuple[int, int]:
        """Start etcd and wait for /health; returns (pid, client port)."""
        client_port, peer_port = free_port(), free_port()
        log = ctx.log("etcd")
        pid = ctx.spawn(self.name, etcd_args(bin_dir / "etcd", paths.etcd_data, client_port, peer_port), log)
        url = f"http://127.0.0.1:{client_port}/health"
        wait_until("etcd", lambda: _etcd_healthy(url), pid, log, timeout=60)
        return pid, client_port

    def _start_apiserver(
        self, ctx: StackContext, bin_dir: Path, paths: KubePaths, etcd_pid: int, etcd_port: int
    ) -> ServiceRecord:
        port = pinned_or_free_port(ctx.requested_ports.get(self.name), self.name)
        log = ctx.log(self.name)
        argv = apiserver_args(bin_dir / "kube-apiserver", paths, etcd_port, port)
        pid = ctx.spawn(self.name, argv, log)
        url = f"https://127.0.0.1:{port}"
        token = admin_token(paths.token_file)
        try:
            wait_until(
                self.name,
                lambda: _readyz(url, paths.ca_cert, token),
                pid,
                log,
                timeout=120,
                what="for /readyz",
            )
        except BaseException:
            stop_process_group(pid)
            raise
        config_path = ctx.stack_dir / "kubeconfig"
        _write_private_text(config_path, yaml.safe_dump(kubeconfig(url, paths.ca_cert.read_bytes(), token)))
        # Stop order is reversed pids: the API server first, then its etcd.
        return ServiceRecord(
            self.name,
            pids=[etcd_pid, pid],
            endpoints={
                "url": url,
                "kubeconfig": str(config_path),
                "ca_cert": str(paths.ca_cert),
                "etcd": f"http://127.0.0.1:{etcd_port}",
            },
            credentials={"token": token},
            log=str(log),
        )

    def _install_crds(self, ctx: StackContext, bin_dir: Path, config: Path) -> None:
        files = crd_files()
        log = ctx.log("kube-crds")
        kubectl = [str(bin_dir / "kubectl"), f"--kubeconfig={config}"]
        # Server-side apply: Strimzi's Kafka CRD is too large for the client-side last-applied annotation.
        apply = [*kubectl, "apply", "--server-side", "--force-conflicts"]
        run_checked(
            [*apply, *(f"--filename={f}" for f in files)], log, "installing the Strimzi/Altinity CRDs"
        )
        wait = [*kubectl, "wait", "--for=condition=Established", "--timeout=60s"]
        run_checked(
            [*wait, *(f"crd/{n}" for n in crd_names(files))], log, "waiting for the CRDs to be Established"
        )

    def healthy(self, record: ServiceRecord) -> bool:
        if not record.alive():
            return False
        try:
            return _readyz(
                record.endpoints["url"], Path(record.endpoints["ca_cert"]), record.credentials["token"]
            )
        except Exception:
            return False

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        jobs = [
            # Its /metrics is large (megabytes): every 10 s is plenty locally.
            ScrapeJob(
                "kube-apiserver",
                (record.endpoints["url"].removeprefix("https://"),),
                scheme="https",
                interval="10s",
                ca_file=record.endpoints["ca_cert"],
                bearer_token=record.credentials["token"],
            )
        ]
        if "etcd" in record.endpoints:  # recorded by starts since Prometheus joined the stack
            jobs.append(ScrapeJob("etcd", (record.endpoints["etcd"].removeprefix("http://"),)))
        return jobs


def _etcd_healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URL we built
        return json.load(resp).get("health") == "true"


def _readyz(url: str, ca_cert: Path, token: str) -> bool:
    context = ssl.create_default_context(cafile=str(ca_cert))
    request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=3, context=context) as resp:  # noqa: S310
        return resp.status == 200 and resp.read().strip() == b"ok"


def _write_private_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)

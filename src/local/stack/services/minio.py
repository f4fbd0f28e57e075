"""MinIO for the local stack: the real server, built from the Go module proxy, as the S3 lake."""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.gotools import minio_binary
from fraudlake.local.stack.process import (
    free_port,
    pinned_or_free_port,
    stop_process_group,
    wait_until,
)
from fraudlake.local.stack.service import ScrapeJob, Service, ServiceRecord, StackContext

CREDENTIALS_FILE = "root-credentials.json"


def root_credentials(data_dir: Path) -> dict[str, str]:
    """The stack's MinIO root user and password: random on first start, then kept with the data.

    MinIO encrypts its IAM state with the root credentials, so a restarted server must see the same.
    """
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    creds = {"access_key": "fraudlake-" + secrets.token_hex(4), "secret_key": secrets.token_urlsafe(24)}
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(creds))
    return creds


def server_args(minio: Path, storage: Path, port: int, console_port: int) -> list[str]:
    """`minio server` on loopback: S3 API on `port`, web console on `console_port`."""
    return [
        str(minio),
        "server",
        str(storage),
        f"--address=127.0.0.1:{port}",
        f"--console-address=127.0.0.1:{console_port}",
        "--quiet",
    ]


def server_env(creds: dict[str, str]) -> dict[str, str]:
    return {
        "MINIO_ROOT_USER": creds["access_key"],
        "MINIO_ROOT_PASSWORD": creds["secret_key"],
        # No phoning home from a local stack: no update checks, no anonymous usage reports.
        "MINIO_UPDATE": "off",
        "MINIO_CALLHOME_ENABLE": "off",
        # The stack's Prometheus scrapes /minio/v2/metrics/cluster without a token (loopback only).
        "MINIO_PROMETHEUS_AUTH_TYPE": "public",
    }


class MinioService(Service):
    name = "minio"
    summary = "MinIO S3 object store (built from the Go module proxy)"

    def install(self, console: Console) -> None:
        minio_binary(console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        minio = minio_binary(ctx.console)
        data_dir = ctx.data_dir(self.name)
        storage = data_dir / "storage"
        storage.mkdir(exist_ok=True)
        creds = root_credentials(data_dir)
        port = pinned_or_free_port(ctx.requested_ports.get(self.name), self.name)
        console_port = free_port()
        log = ctx.log(self.name)
        pid = ctx.spawn(
            self.name, server_args(minio, storage, port, console_port), log, env=server_env(creds)
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(self.name, lambda: _live(url), pid, log, timeout=60, what="for /minio/health/live")
        except BaseException:
            stop_process_group(pid)
            raise
        return ServiceRecord(
            self.name,
            pids=[pid],
            endpoints={"url": url, "console": f"http://127.0.0.1:{console_port}"},
            credentials=creds,
            log=str(log),
        )

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and _live(record.endpoints["url"])
        except Exception:
            return False

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        address = record.endpoints["url"].removeprefix("http://")
        return [ScrapeJob(self.name, (address,), metrics_path="/minio/v2/metrics/cluster")]


def _live(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/minio/health/live", timeout=2) as resp:  # noqa: S310 - loopback
        return resp.status == 200

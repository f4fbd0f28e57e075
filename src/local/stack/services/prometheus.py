"""Prometheus for the local stack: the real server, built from the Go module proxy, scraping every component.

Two kinds of targets, both generated, none written by hand:

- the stack's services, from their records (`Service.scrape_jobs`): the config is rewritten and
  reloaded (SIGHUP) whenever a service of the stack starts or stops (`stack_changed`);
- processes that come and go with a run (the demo's scoring API and stream scorer, a test's): whoever
  starts one calls `publish_targets(stack_dir, name, jobs)` and `withdraw_targets` when it stops it.
  They land as file_sd JSON files in the Prometheus data folder, picked up within seconds, whether
  Prometheus is already running or starts later.

The server has no web UI pages (see gotools.prometheus_build); its HTTP API is what the tests and the
Fraudlake UI read.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from fraudlake.local.stack.gotools import prometheus_bin_dir
from fraudlake.local.stack.process import pinned_or_free_port, wait_until
from fraudlake.local.stack.service import ScrapeJob, Service, ServiceRecord, StackContext

NAME = "prometheus"
# Short, so a local run's charts and tests see a change within seconds.
SCRAPE_INTERVAL = "2s"
EVALUATION_INTERVAL = "5s"
RETENTION = "2d"
TARGETS_DIR = "targets"  # file_sd files: <data dir>/targets/<name>.json
_START_TIMEOUT = 60.0


def data_dir(stack_dir: Path) -> Path:
    """The Prometheus data folder of the stack in `stack_dir` (what StackContext.data_dir gives it)."""
    return stack_dir / "data" / NAME


def publish_targets(stack_dir: Path, name: str, jobs: Sequence[ScrapeJob]) -> Path:
    """Have the stack's Prometheus scrape `jobs` (plain http, no credentials) until withdrawn.

    `name` identifies the publisher (one file each: a later call replaces its earlier targets). Works
    whether or not Prometheus runs yet; returns the file written.
    """
    folder = data_dir(stack_dir) / TARGETS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".tmp")  # Prometheus reads *.json only: it never sees a half-written file
    tmp.write_text(json.dumps(file_sd_groups(jobs), indent=2) + "\n")
    tmp.replace(path)
    return path


def withdraw_targets(stack_dir: Path, name: str) -> None:
    """Stop scraping what `publish_targets(stack_dir, name, …)` published."""
    (data_dir(stack_dir) / TARGETS_DIR / f"{name}.json").unlink(missing_ok=True)


def file_sd_groups(jobs: Iterable[ScrapeJob]) -> list[dict[str, Any]]:
    """`jobs` as file_sd target groups; the job name, path and scheme travel as the targets' labels."""
    groups = []
    for job in jobs:
        if job.ca_file or job.bearer_token or job.interval:
            raise ValueError(f"{job.job}: file_sd targets are plain http at the default interval")
        labels = {"job": job.job, "__metrics_path__": job.metrics_path, "__scheme__": job.scheme}
        groups.append({"targets": list(job.targets), "labels": {**labels, **job.labels}})
    return groups


def render_config(
    own_address: str,
    jobs: Sequence[ScrapeJob],
    targets_dir: Path,
    secrets_dir: Path,
    interval: str = SCRAPE_INTERVAL,
) -> tuple[str, dict[str, str]]:
    """prometheus.yml scraping Prometheus itself, the static `jobs` and every file_sd file in `targets_dir`.

    Returns the YAML and the credential files it refers to ({path: content}, for the caller to write
    owner-only): bearer tokens stay out of the config file.
    """
    scrape_configs: list[dict[str, Any]] = [
        {"job_name": NAME, "static_configs": [{"targets": [own_address]}]}
    ]
    secrets: dict[str, str] = {}
    names = [NAME]
    for job in jobs:
        if job.job in names:
            raise ValueError(f"two scrape jobs are named {job.job!r}")
        names.append(job.job)
        scrape: dict[str, Any] = {
            "job_name": job.job,
            "metrics_path": job.metrics_path,
            "scheme": job.scheme,
            "static_configs": [
                {"targets": list(job.targets), **({"labels": job.labels} if job.labels else {})}
            ],
        }
        if job.interval:
            scrape["scrape_interval"] = scrape["scrape_timeout"] = job.interval
        if job.ca_file:
            scrape["tls_config"] = {"ca_file": job.ca_file}
        if job.bearer_token:
            token_file = secrets_dir / f"{job.job}.token"
            secrets[str(token_file)] = job.bearer_token
            scrape["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
        scrape_configs.append(scrape)
    # Targets published at run time (publish_targets); the job label each carries names its job.
    scrape_configs.append(
        {
            "job_name": "published",
            "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": "5s"}],
        }
    )
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": EVALUATION_INTERVAL,
            "external_labels": {"stack": "local"},
        },
        "scrape_configs": scrape_configs,
    }
    return yaml.safe_dump(config, sort_keys=False), secrets


def server_args(prometheus: Path, config: Path, storage: Path, port: int) -> list[str]:
    """`prometheus` on loopback with a small local retention."""
    return [
        str(prometheus),
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]


def stack_jobs(records: Mapping[str, ServiceRecord], services: Mapping[str, Service]) -> list[ScrapeJob]:
    """What the stack's recorded services serve metrics at (Prometheus itself aside)."""
    return [
        job
        for name, record in records.items()
        if name != NAME and name in services
        for job in services[name].scrape_jobs(record)
    ]


class PrometheusService(Service):
    name = NAME
    summary = "Prometheus server (built from the Go module proxy) scraping every component of the stack"

    def install(self, console: Console) -> None:
        prometheus_bin_dir(console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        binary = prometheus_bin_dir(ctx.console) / "prometheus"
        folder = ctx.data_dir(self.name)
        (folder / TARGETS_DIR).mkdir(exist_ok=True)
        port = pinned_or_free_port(ctx.requested_ports.get(self.name), self.name)
        url = f"http://127.0.0.1:{port}"
        record = ServiceRecord(
            self.name,
            endpoints={"url": url, "config": str(folder / "prometheus.yml")},
            log=str(ctx.log(self.name)),
        )
        _write_config(record, folder, ctx.load_state())
        log = ctx.log(self.name)
        argv = server_args(binary, folder / "prometheus.yml", folder / "tsdb", port)
        record.pids = [ctx.spawn(self.name, argv, log)]
        try:
            wait_until(self.name, lambda: _ready(url), record.pids[0], log, _START_TIMEOUT, "for /-/ready")
        except BaseException:
            self.stop(record)
            raise
        return record

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and _ready(record.endpoints["url"])
        except Exception:
            return False

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        return []  # scrapes itself under its own name (render_config)

    def stack_changed(self, ctx: StackContext, records: dict[str, ServiceRecord]) -> None:
        record = records.get(self.name)
        if record is None or not record.alive():
            return
        if _write_config(record, ctx.data_dir(self.name), records):
            os.kill(record.pids[0], signal.SIGHUP)  # Prometheus reloads its config on SIGHUP


def _write_config(record: ServiceRecord, folder: Path, records: Mapping[str, ServiceRecord]) -> bool:
    """Write prometheus.yml (and its token files) for the stack's current services; whether it changed."""
    from fraudlake.local.stack.services import registry

    own = record.endpoints["url"].removeprefix("http://")
    text, secrets = render_config(
        own, stack_jobs(records, registry()), folder / TARGETS_DIR, folder / "secrets"
    )
    for path, content in secrets.items():
        _write_private(Path(path), content)
    config = folder / "prometheus.yml"
    if config.exists() and config.read_text() == text:
        return False
    tmp = config.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(config)
    return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:  # noqa: S310 - loopback URL we built
        return resp.status == 200

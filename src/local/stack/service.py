"""The contract every local service implements, and the state the stack records about it."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console

from fraudlake.local.stack.process import owner_env, pid_alive, spawn, stop_process_group


@dataclass
class ServiceRecord:
    """What `up` learned about a running service: how to reach it and how to stop it."""

    name: str
    pids: list[int] = field(default_factory=list)
    endpoints: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    log: str = ""

    def alive(self) -> bool:
        return all(pid_alive(pid) for pid in self.pids)


@dataclass(frozen=True)
class ScrapeJob:
    """Where a component serves Prometheus metrics: what the stack's Prometheus scrapes, as job `job`."""

    job: str
    targets: tuple[str, ...]  # host:port
    metrics_path: str = "/metrics"
    scheme: str = "http"
    interval: str | None = None  # None: the stack's default scrape interval
    ca_file: str | None = None  # https with our own CA
    bearer_token: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class StackContext:
    """One stack's run folder: logs/, data/<service>/ and state.json."""

    stack_dir: Path
    console: Console = field(default_factory=lambda: Console(stderr=True))
    requested_ports: dict[str, int] = field(default_factory=dict)

    @property
    def logs_dir(self) -> Path:
        return self.stack_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.stack_dir / "state.json"

    def log(self, name: str) -> Path:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        return self.logs_dir / f"{name}.log"

    def data_dir(self, name: str) -> Path:
        path = self.stack_dir / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def spawn(
        self,
        service: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """`process.spawn`, marked as this stack's: every stop finds it and all it forks, recorded or not."""
        return spawn(service, argv, log, {**(env or {}), **owner_env(self.stack_dir, service)}, cwd)

    def load_state(self) -> dict[str, ServiceRecord]:
        if not self.state_file.exists():
            return {}
        raw = json.loads(self.state_file.read_text())
        return {name: ServiceRecord(**rec) for name, rec in raw.get("services", {}).items()}

    def save_state(self, records: dict[str, ServiceRecord]) -> None:
        self.stack_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        # Credentials are local throw-away secrets, still: owner-only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"services": {n: asdict(r) for n, r in records.items()}}, fh, indent=2)
        tmp.replace(self.state_file)


class Service(ABC):
    """A real component of the local stack, installed from the package registries into the cache."""

    name: ClassVar[str]
    summary: ClassVar[str]
    depends_on: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def install(self, console: Console) -> None:
        """Build or fetch what the service needs into the cache; a no-op when already cached."""

    @abstractmethod
    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        """Start the service, wait until it answers, and return how to reach it."""

    def healthy(self, record: ServiceRecord) -> bool:
        """Whether a previously started service still answers (default: its processes live)."""
        return record.alive()

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        """Where the running service serves Prometheus metrics (default: nowhere)."""
        return []

    def stack_changed(self, ctx: StackContext, records: dict[str, ServiceRecord]) -> None:  # noqa: B027
        """Called on a running service after others of the stack started or stopped (most ignore it)."""

    def stop(self, record: ServiceRecord) -> None:
        for pid in reversed(record.pids):
            stop_process_group(pid)

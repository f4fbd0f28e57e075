"""Run the local ClickHouse server (`fraudlake clickhouse serve`) as its own process.

The process that owns a chDB data directory must not be the one that uses it over HTTP (chDB
allows one engine per process), so tests and benchmarks start the server as a child process
with the stack's process helpers and talk to it through its http:// DSN. Importing this module
does not load chDB.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from fraudlake.local.stack.process import pinned_or_free_port, spawn, stop_process_group, wait_until

SERVICE = "clickhouse-server"


class LocalClickHouseServer:
    """`fraudlake clickhouse serve --path DATA_DIR` in its own process group, ready once /ping answers.

    Use as a context manager (or start()/stop()); `dsn` is the http:// DSN for
    `fraudlake.clickhouse.client.connect` and for the operator's endpoint Secret.
    """

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        port: int | None = None,
        user: str = "default",
        password: str = "",
        start_timeout: float = 60.0,
        users_file: Path | None = None,
    ) -> None:
        self.data_dir, self.log, self.user, self.password = data_dir, log, user, password
        self.users_file = users_file  # users.xml: the settings profile and grants of every request
        self._pinned_port, self._start_timeout = port, start_timeout
        self.port = 0
        self.pid = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@"
        return f"http://{credentials}127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = pinned_or_free_port(self._pinned_port, SERVICE)
        argv = [
            sys.executable, "-m", "fraudlake.cli", "clickhouse", "serve",
            f"--path={self.data_dir}", "--host=127.0.0.1", f"--port={self.port}",
        ]  # fmt: skip
        if self.users_file is not None:
            argv.append(f"--users-file={self.users_file}")
        # The password goes through the environment, not argv (visible to every user in ps).
        env = {
            **os.environ,
            "FRAUDLAKE_CLICKHOUSE_USER": self.user,
            "FRAUDLAKE_CLICKHOUSE_PASSWORD": self.password,
        }
        self.pid = spawn(SERVICE, argv, self.log, env)
        wait_until(SERVICE, self.ping, self.pid, self.log, self._start_timeout, "for GET /ping")

    def ping(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200 and response.read() == b"Ok.\n")

    def stop(self) -> None:
        """SIGTERM (the server closes its engine and exits), SIGKILL after the grace period."""
        if self.pid:
            stop_process_group(self.pid, grace=20.0)
            self.pid = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

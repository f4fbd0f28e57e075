"""PostgreSQL for the local stack: the bank's database (users, cards) that Debezium captures changes from.

Debian's own server binaries (the `postgresql` package, /usr/lib/postgresql/<major>/bin) run a private
cluster in the stack's data folder on a free loopback port, TCP only, with wal_level=logical so that
Debezium's PostgreSQL connector can stream the write-ahead log through the built-in pgoutput plugin.
The superuser's password is generated on first start and kept with the cluster.

PostgreSQL refuses to run as root. When the stack runs as root (a CI container), the server runs as the
`postgres` account the package creates, with the one capability it needs to reach a data folder under
root's private directories (CAP_DAC_READ_SEARCH: traverse and read, nothing else); the cluster folder
itself is handed to that account, as PostgreSQL insists on owning it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.errors import StackError, ToolchainMissingError
from fraudlake.local.stack.process import pid_alive, pinned_or_free_port, stop_process_group, wait_until
from fraudlake.local.stack.service import Service, ServiceRecord, StackContext

POSTGRES_LIB = Path("/usr/lib/postgresql")
SERVER_ACCOUNT_WHEN_ROOT = "postgres"
SUPERUSER = "fraudlake"
DATABASE = "bank"
CREDENTIALS_FILE = "credentials.json"
INSTALL_HINT = (
    "install Debian's PostgreSQL server (`apt-get install -y postgresql`; scripts/bootstrap.sh does)"
)

# What Debezium's connector needs from the server: the logical WAL, a sender and a slot per connector
# (a few spare for tests that run several at once).
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",  # TCP only: the default socket folder belongs to the system's cluster
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "shared_buffers": "32MB",
    "fsync": "off",  # a throw-away local cluster: durability across power loss is not worth the I/O
    "log_min_messages": "warning",
}


def server_bin_dir() -> Path:
    """The newest PostgreSQL major's binaries Debian installed (FRAUDLAKE_POSTGRES_BIN overrides)."""
    override = os.environ.get("FRAUDLAKE_POSTGRES_BIN")
    candidates = [Path(override)] if override else sorted(
        (p / "bin" for p in POSTGRES_LIB.glob("*") if p.name.isdigit()), key=lambda p: int(p.parent.name)
    )  # fmt: skip
    for bin_dir in reversed(candidates):
        if (bin_dir / "postgres").is_file() and (bin_dir / "initdb").is_file():
            return bin_dir
    raise ToolchainMissingError("postgres", "the bank database (stack service postgres)", INSTALL_HINT)


def superuser_credentials(data_dir: Path) -> dict[str, str]:
    """The cluster's superuser and password: random on first start, then kept with the data."""
    path = data_dir / CREDENTIALS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    creds = {"user": SUPERUSER, "password": secrets.token_urlsafe(24)}
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(creds))
    return creds


def dsn(host: str, port: int, database: str, user: str, password: str) -> str:
    """A libpq connection URI (psycopg, psql)."""
    return f"postgresql://{user}:{password}@{host}:{port}/{database}"


def server_args(bin_dir: Path, cluster: Path, port: int) -> list[str]:
    settings = [arg for key, value in SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
    return [str(bin_dir / "postgres"), "-D", str(cluster), "-p", str(port), *settings]


def as_server_account(argv: list[str]) -> list[str]:
    """`argv` as run by the server's account: itself when not root, else `postgres` via setpriv.

    setpriv execs in place, so the recorded pid is the postmaster's and stopping its group stops it.
    """
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        raise ToolchainMissingError(
            "setpriv", "PostgreSQL as root (it must drop to postgres)", "install util-linux"
        )
    return [
        "setpriv", f"--reuid={SERVER_ACCOUNT_WHEN_ROOT}", f"--regid={SERVER_ACCOUNT_WHEN_ROOT}",
        "--init-groups", "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *argv,
    ]  # fmt: skip


def _hand_to_server_account(path: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
    except KeyError as exc:
        raise StackError(
            f"running as root, PostgreSQL needs the '{SERVER_ACCOUNT_WHEN_ROOT}' account; {INSTALL_HINT}"
        ) from exc
    for entry in [path, *path.rglob("*")]:
        os.chown(entry, account.pw_uid, account.pw_gid)


def init_cluster(bin_dir: Path, cluster: Path, creds: dict[str, str], log: Path) -> None:
    """initdb a new cluster: the generated superuser, password authentication on every connection."""
    cluster.mkdir(mode=0o700)
    _hand_to_server_account(cluster)
    password_file = cluster.parent / "initdb-password"
    password_file.touch(mode=0o600)
    password_file.write_text(creds["password"] + "\n")
    argv = [
        str(bin_dir / "initdb"), "-D", str(cluster), "-U", creds["user"], f"--pwfile={password_file}",
        "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
    ]  # fmt: skip
    try:
        with log.open("ab") as out:
            code = subprocess.call(as_server_account(argv), stdout=out, stderr=subprocess.STDOUT)
    finally:
        password_file.unlink()
    if code != 0:
        shutil.rmtree(cluster, ignore_errors=True)
        raise StackError(f"initdb failed (exit {code}); log: {log}")


def _connect(conninfo: str):  # psycopg imported lazily: `fraudlake --help` stays quick
    import psycopg

    return psycopg.connect(conninfo, connect_timeout=2, autocommit=True)


def _accepts(admin_dsn: str) -> bool:
    with _connect(admin_dsn) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def ensure_database(admin_dsn: str, database: str) -> None:
    with _connect(admin_dsn) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')


class PostgresService(Service):
    name = "postgres"
    summary = "PostgreSQL (Debian's server, wal_level=logical): the bank's users and cards for Debezium"

    def install(self, console: Console) -> None:
        server_bin_dir()

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        bin_dir = server_bin_dir()
        data_dir = ctx.data_dir(self.name)
        cluster = data_dir / "cluster"
        creds = superuser_credentials(data_dir)
        log = ctx.log(self.name)
        if not (cluster / "PG_VERSION").exists():
            shutil.rmtree(cluster, ignore_errors=True)  # an interrupted initdb
            init_cluster(bin_dir, cluster, creds, log)
        _clear_stale_pid_file(cluster)
        port = pinned_or_free_port(ctx.requested_ports.get(self.name), self.name)
        pid = ctx.spawn(self.name, as_server_account(server_args(bin_dir, cluster, port)), log)
        admin_dsn = dsn("127.0.0.1", port, "postgres", creds["user"], creds["password"])
        try:
            wait_until(self.name, lambda: _accepts(admin_dsn), pid, log, timeout=60, what="for connections")
            ensure_database(admin_dsn, DATABASE)
        except BaseException:
            self.stop(ServiceRecord(self.name, pids=[pid]))
            raise
        endpoints = {"host": "127.0.0.1", "port": port, "database": DATABASE}
        # The DSN carries the password: a credential, never printed with the endpoints.
        credentials = {**creds, "dsn": dsn("127.0.0.1", port, DATABASE, creds["user"], creds["password"])}
        return ServiceRecord(
            self.name, pids=[pid], endpoints=endpoints, credentials=credentials, log=str(log)
        )

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and _accepts(record.credentials["dsn"])
        except Exception:
            return False

    def stop(self, record: ServiceRecord) -> None:
        # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client (a Debezium walsender
        # may never leave); SIGINT is the "fast" one: roll back, disconnect, checkpoint, exit.
        for pid in record.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 20
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            stop_process_group(pid)


def _clear_stale_pid_file(cluster: Path) -> None:
    """A postmaster.pid left by a killed server whose pid is gone would make the next start refuse."""
    pid_file = cluster / "postmaster.pid"
    if not pid_file.exists():
        return
    first_line = pid_file.read_text().splitlines()[:1]
    if first_line and first_line[0].strip().isdigit() and not pid_alive(int(first_line[0])):
        pid_file.unlink()

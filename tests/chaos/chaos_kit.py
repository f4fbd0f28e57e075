"""The fault matrix's pieces: the one oracle, the kill points, restarts on the same address and data.

A kill point is a share of the run's rows that the component's downstream has consumed or
committed (rows the sink wrote to the lake, rows in ClickHouse, offsets the scorer committed), never
a sleep: the test polls that count and kills the moment it reaches the share.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from unittest import mock

from fraudlake.lake.fingerprint import TxnFingerprint
from fraudlake.local.chdb_http import process as chdb_process
from fraudlake.local.chdb_http.process import LocalClickHouseServer

KILL_POINTS = (0.1, 0.5, 0.9)
LOAD_CHILD = Path(__file__).with_name("load_child.py")


# --- the oracle -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What arrived against what was produced: same rows, no duplicate txn_id, same checksum."""

    expected_rows: int
    rows: int
    duplicates: int
    checksum_equal: bool
    ready: bool | None = None  # the pipeline's Ready condition, where an operator is involved

    @property
    def passed(self) -> bool:
        return (
            self.rows == self.expected_rows
            and self.duplicates == 0
            and self.checksum_equal
            and self.ready is not False
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"passed": self.passed}


def oracle(produced_ids: Iterable[str], arrived: TxnFingerprint, ready: bool | None = None) -> Verdict:
    """The one check of every cell: `arrived` (ClickHouse's table or the committed decisions) must
    be exactly the produced transactions, each once."""
    expected = TxnFingerprint.of_ids(produced_ids)
    return Verdict(
        expected_rows=expected.rows,
        rows=arrived.rows,
        duplicates=arrived.rows - arrived.distinct,
        checksum_equal=arrived.checksum == expected.checksum and arrived.distinct == expected.distinct,
        ready=ready,
    )


# --- kill points ----------------------------------------------------------------------------------


def wait_for_share(
    done: Callable[[], int], total: int, share: float, alive: Callable[[], bool], timeout: float = 300
) -> float:
    """Poll `done()` until it reaches `share` of `total`; the share reached (the actual kill point).

    Fails if `alive()` turns false first: the run ended before the kill point, so the cell would
    not test a kill mid-run.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = done()
        if count >= share * total:
            return count / total
        if not alive():
            raise AssertionError(f"the run ended at {count}/{total} rows, before the kill point {share:.0%}")
        time.sleep(0.1)
    raise AssertionError(f"{share:.0%} of {total} rows not reached within {timeout:.0f}s")


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads: no flush, no commit, no goodbye."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while True:  # reap or wait until the kernel has really taken it (ports and files freed)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


# --- the ClickHouse server, restartable on its port and data directory ------------------------------


class RestartableClickHouse:
    """The local ClickHouse server (HTTP in front of chDB) as its own process, so that the loader
    in another process reaches it over HTTP and the test can SIGKILL it and start it again on the
    same port and data directory."""

    def __init__(self, data_dir: Path, log: Path, password: str = "chaos") -> None:  # noqa: S107 - a local test server
        self.server = LocalClickHouseServer(data_dir, log, password=password)
        self.data_dir, self.log, self.password = data_dir, log, password

    @property
    def dsn(self) -> str:
        return self.server.dsn

    def start(self) -> None:
        self.server.start()

    def kill_and_restart(self) -> None:
        port = self.server.port
        kill_group(self.server.pid)
        self.server = LocalClickHouseServer(self.data_dir, self.log, port=port, password=self.password)
        # The killed server's connections stay in TIME_WAIT for a minute. The server binds with
        # SO_REUSEADDR (http.server's allow_reuse_address) and would start at once, but the
        # pre-start check of a pinned port binds without it and refuses the port meanwhile.
        with mock.patch.object(chdb_process, "pinned_or_free_port", lambda pinned, _service: pinned):
            self.server.start()

    def stop(self) -> None:
        self.server.stop()


# --- the loader in a child process -----------------------------------------------------------------


class LoaderProcess:
    """`lake_to_clickhouse` run with dag.test() in a child process (tests/chaos/load_child.py), so
    that a kill takes the loader mid-insert and nothing of it survives in the test process."""

    def __init__(
        self, stack_dir: Path, pipeline: str, dsn: str, interval: tuple[str, str], log: Path
    ) -> None:
        argv = [
            sys.executable, str(LOAD_CHILD), f"--stack-dir={stack_dir}", f"--pipeline={pipeline}",
            f"--start={interval[0]}", f"--end={interval[1]}",
        ]  # fmt: skip
        self.log = log
        with log.open("ab") as out:
            # The DSN holds the server's password: environment, not argv.
            env = {**os.environ, "CHAOS_CLICKHOUSE_DSN": dsn}
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        kill_group(self.proc.pid)
        self.proc.wait()

    def wait(self, timeout: float = 600) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


# --- the matrix -------------------------------------------------------------------------------------


@dataclass
class Cell:
    component: str
    kill_point: str  # "10%", "50%", "90%" or "control"
    killed_at: float | None = None  # the share of rows consumed downstream when the kill landed
    verdict: Verdict | None = None
    expect_pass: bool = True  # False for the negative control: the oracle must fail
    seconds: float = 0.0
    error: str = ""

    @property
    def result(self) -> str:
        if self.verdict is None:
            return "error"
        if self.verdict.passed == self.expect_pass:
            return "pass" if self.expect_pass else "detected"
        return "FAIL"

    def as_dict(self) -> dict[str, object]:
        return {
            "component": self.component,
            "kill_point": self.kill_point,
            "killed_at": self.killed_at,
            "result": self.result,
            "seconds": round(self.seconds, 1),
            "oracle": self.verdict.as_dict() if self.verdict else None,
            "error": self.error,
        }


@dataclass
class Matrix:
    cells: list[Cell] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def table(self) -> str:
        points = ["10%", "50%", "90%"]
        components = list(dict.fromkeys(c.component for c in self.cells if c.kill_point != "control"))
        rows = [["component", *points]]
        for component in components:
            by_point = {c.kill_point: c for c in self.cells if c.component == component}
            rows.append([component, *(_describe(by_point.get(p)) for p in points)])
        lines = _aligned(rows)
        for control in (c for c in self.cells if c.kill_point == "control"):
            lines.append(f"negative control ({control.component}): {_describe(control)}")
        return "\n".join(lines)


def _describe(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if cell.verdict is None:
        return "error"
    v = cell.verdict
    return f"{cell.result} {v.rows}/{v.expected_rows} rows, {v.duplicates} dups"


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [" | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) for row in rows]


MATRIX = Matrix()

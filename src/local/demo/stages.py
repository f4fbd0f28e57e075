"""Stage bookkeeping for the demo: every failure names its stage, component and log file.

The terminal shows the demo's own lines only: stage headers, results, one line per failure.
Everything libraries say while a stage runs (kopf's retries, Airflow's task logs, warnings, a
thread's traceback) goes to the run's log file, and SIGTERM stops a stage the way Ctrl-C does,
so the caller's clean-up runs either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console

log = logging.getLogger(__name__)

# Names a stage (its number, e.g. "2", or its whole name) that fails on purpose once its work is
# done: how the tests check that a failure at any stage leaves no process behind.
FAIL_AT_ENV = "FRAUDLAKE_DEMO_FAIL_AT"


class StageError(Exception):
    """A demo stage failed; the message says which stage, which component and where to look."""

    def __init__(self, stage: str, component: str, log: str, cause: BaseException) -> None:
        super().__init__(f"stage '{stage}' failed in {component}: {cause}\n  read: {log}")
        self.stage, self.component, self.log = stage, component, log


class InjectedFailureError(RuntimeError):
    """The failure `FAIL_AT_ENV` asked for."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the current stage stops and the caller's clean-up runs."""


def stage_matches(name: str, wanted: str) -> bool:
    """Whether `wanted` names the stage `name` ("2. pipeline"): by its number or in full."""
    return bool(wanted) and wanted.strip() in (name, name.split(".", 1)[0])


@dataclass
class StageTimer:
    console: Console
    durations: dict[str, float] = field(default_factory=dict)
    fail_at: str = ""  # a stage to fail on purpose after its work (see FAIL_AT_ENV)

    @contextmanager
    def stage(self, name: str, component: str, log_file: str) -> Iterator[None]:
        """Run one stage: a header, its duration, and a StageError that names it on error.

        The terminal gets one line per failure; the traceback goes to the log.
        """
        self.console.rule(f"[bold]{name}")
        started = time.monotonic()
        try:
            yield
            if stage_matches(name, self.fail_at):
                raise InjectedFailureError(f"failed on purpose after its work ({FAIL_AT_ENV}={self.fail_at})")
        except StageError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # any failure becomes one readable line naming the stage
            log.error("stage %s failed in %s", name, component, exc_info=exc)
            raise StageError(name, component, log_file, exc) from exc
        finally:
            self.durations[name] = time.monotonic() - started
        self.console.print(f"[green]✓[/] {name} ({self.durations[name]:.1f}s)")


@contextmanager
def library_output_to(log_file: Path) -> Iterator[None]:
    """Send this process's library output to `log_file` until the block ends.

    Logging (kopf, Airflow, the local stack; Airflow re-configures the root logger when it is
    imported, and writes to whatever `sys.stdout` is then), warnings, prints and threads' tracebacks
    all go through `sys.stdout` / `sys.stderr` or the root logger, so redirecting those catches
    them. A console writing to the terminal must hold the terminal's stream itself (`Console(file=
    sys.stdout)` made beforehand). Child processes keep the terminal (the producer's progress bar).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Left open: daemon threads may still log after the block; the process's exit closes it.
    sink: TextIO = log_file.open("a", buffering=1, encoding="utf-8")
    sink.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} fraudlake demo\n")
    root = logging.getLogger()
    saved_out, saved_err, saved_handlers, saved_level = sys.stdout, sys.stderr, root.handlers[:], root.level
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    sys.stdout = sys.stderr = sink
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        sink.flush()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises `Terminated` in the main thread, as Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: object) -> None:
        raise Terminated(f"stopped by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class DemoConsole(Console):
    """The demo's terminal console: once nobody reads it, it goes quiet instead of ending the process.

    `make demo | tee demo.out` and Ctrl-C: tee dies at once, and every later write of the demo fails with
    EPIPE. Rich's answer is to point stdout at /dev/null and raise SystemExit(1), which would abort the
    clean-up half-way and leave the stack running. The demo keeps the first half and drops the second:
    it must still stop everything it started.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        # The stream's descriptor too (the terminal's stdout; during the run sys.stdout is the log): its
        # last buffered bytes and the interpreter's final flush then go nowhere instead of failing again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())
            os.close(devnull)


@contextmanager
def uninterrupted(console: Console, doing: str) -> Iterator[None]:
    """Let a clean-up finish: Ctrl-C and SIGTERM within the block only print that it is under way.

    Every stop it makes is bounded (SIGKILL after a grace period), so waiting is always short.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(_signum: int, _frame: object) -> None:
        console.print(f"[yellow]still {doing}; a few seconds more[/]")

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

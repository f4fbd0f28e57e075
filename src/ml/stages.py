"""Seconds and peak memory per training stage, for the model card and the benchmark.

Peak RSS is the process's high-water mark (`getrusage`) when the stage ends: it never goes down, so
the stage where it jumps is the stage that needed the memory.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024**3 if sys.platform == "darwin" else 1024**2)


class StageLog:
    """Stages in the order they ran: name, seconds, peak RSS at the end. Use `stage(name)` around a
    stage, or `progress` as a training progress callback (a stage ends when done == total)."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self._open: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self._close(name, started)

    def progress(self, name: str, done: int, total: int) -> None:
        started = self._open.setdefault(name, time.perf_counter())
        if done >= total:
            self._close(name, started)

    def _close(self, name: str, started: float) -> None:
        self.stages[name] = {
            "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_gb": round(peak_rss_gb(), 3),
        }

    def report(self, path: str, rows: int) -> dict[str, Any]:
        """The model card's and metrics.json's `training_run`."""
        return {
            "path": path,
            "rows": rows,
            "seconds": round(time.perf_counter() - self.started, 1),
            "peak_rss_gb": round(peak_rss_gb(), 3),
            "stages": self.stages,
        }

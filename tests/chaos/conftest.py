"""The fault matrix's table: every cell a test fills, printed at the session's end and written to
bench/results/chaos.json (component × kill point → pass/fail, rows, duplicates)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))  # lake_kit
sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "stream"))  # stream_kit
sys.path.insert(0, str(Path(__file__).parents[1]))  # model_kit

from chaos_kit import MATRIX, Cell

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "chaos.json"


# The default run (`make test`, CI) takes the matrix's 50% column and the negative control: one
# kill of every component and the proof that the oracle can fail, in about a third of the time.
# Asked for by marker (`-m chaos`, `make chaos`), the whole matrix runs.
DEFAULT_COLUMN = "at50"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.option.markexpr or ""):
        return
    chaos_dir = Path(__file__).parent
    skipped = [
        item
        for item in items
        if item.path.parent == chaos_dir and "[" in item.name and DEFAULT_COLUMN not in item.name
    ]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if item not in skipped]


@pytest.fixture
def cell(request: pytest.FixtureRequest) -> Iterator[Cell]:
    """The matrix cell of this test; the test names it and fills in the verdict."""
    entry = Cell(component="?", kill_point="?")
    started = time.monotonic()
    yield entry
    entry.seconds = time.monotonic() - started
    report = getattr(request.node, "chaos_call_report", None)
    if report is not None and report.failed and entry.verdict is None:
        entry.error = str(report.longrepr)[-2000:]
    MATRIX.cells.append(entry)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.chaos_call_report = report  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MATRIX.cells:
        return
    minutes = (time.monotonic() - MATRIX.started) / 60
    terminalreporter.section("fault matrix")
    terminalreporter.write_line(MATRIX.table())
    terminalreporter.write_line(f"({len(MATRIX.cells)} runs, {minutes:.1f} min including the stack's start)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "minutes": round(minutes, 1),
                "table": MATRIX.table().splitlines(),
                "cells": [c.as_dict() for c in MATRIX.cells],
            },
            indent=1,
        )
        + "\n"
    )

"""What the producer CLI shows: a live progress bar with rates, and the end-of-run summary."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from fraudlake.producer.csv_reader import ReadReport
from fraudlake.producer.delivery import StreamProgress

_REFRESH_S = 0.2


class RichReporter:
    """One progress line per stream: produced/total, records/s, MB/s, delivered, failed."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            TextColumn("{task.completed:>10,.0f}{task.fields[of]}"),
            TextColumn("{task.fields[rate]:>10,.0f} rec/s {task.fields[mbps]:>6.1f} MB/s"),
            TextColumn("delivered {task.fields[delivered]:,} failed {task.fields[failed]:,}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._last = 0.0

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def update(self, stream: str, progress: StreamProgress, total: int | None) -> None:
        now = time.monotonic()
        if stream not in self._tasks:
            self._started[stream] = now
            self._tasks[stream] = self._progress.add_task(
                stream, total=total, of="", rate=0.0, mbps=0.0, delivered=0, failed=0
            )
        if now - self._last < _REFRESH_S and progress.produced != total:
            return
        self._last = now
        elapsed = max(now - self._started[stream], 1e-6)
        self._progress.update(
            self._tasks[stream],
            completed=progress.produced,
            of=f" / {total:,}" if total else "",
            rate=progress.produced / elapsed,
            mbps=progress.bytes / elapsed / 1e6,
            delivered=progress.delivered,
            failed=progress.failed,
        )


def print_summary(
    console: Console, result: Any, topics: dict[str, str], state_file: Path, csv_report: ReadReport | None
) -> None:
    """Per-stream outcome, the checkpoint, CSV rows skipped as malformed, and why the run failed."""
    table = Table(title="fraudlake produce", title_justify="left")
    for column in ("stream", "topic", "produced", "delivered", "failed", "rec/s", "MB/s"):
        table.add_column(column, justify="right" if column not in {"stream", "topic"} else "left")
    for stream, progress in result.streams.items():
        table.add_row(
            stream,
            topics[stream],
            f"{progress.produced:,}",
            f"{progress.delivered:,}",
            f"{progress.failed:,}",
            f"{progress.produced / progress.seconds:,.0f}",
            f"{progress.bytes / progress.seconds / 1e6:.1f}",
        )
    console.print(table)
    console.print(
        f"checkpoint {state_file}: delivered through {result.checkpoint.delivered_through}"
        f"{' (complete)' if result.checkpoint.complete else ''}"
    )
    if csv_report is not None and csv_report.malformed:
        console.print(f"[yellow]{csv_report.malformed:,} malformed CSV row(s) skipped[/], e.g.:")
        for row in csv_report.samples[:10]:
            console.print(f"  line {row.line}: {row.reason}: {row.text[:100]}")
    for stream, progress in result.streams.items():
        if progress.failed:
            console.print(
                f"[red]{progress.failed:,} {stream} record(s) not delivered:[/] {progress.first_error}"
            )
    if result.broker_errors:
        console.print(f"broker errors: {'; '.join(sorted(set(result.broker_errors))[:5])}")
    if result.interrupted:
        console.print("[yellow]interrupted[/]: queued records were flushed; continue with --resume")


def write_generated(
    console: Console,
    config: Any,
    token_key: bytes,
    data_dir: Path,
    out: Path,
    with_truth: bool,
    ledger: Path | None,
    show_progress: bool,
    chargebacks_out: Path | None = None,
) -> None:
    """Generate into a CSV (Kaggle format) or Parquet file, chunk by chunk, with a progress bar; with
    `chargebacks_out`, the frauds' chargebacks (`fraudlake.producer.chargebacks`) into that Parquet
    file in the `labels` table's columns."""
    import pyarrow.parquet as pq

    from fraudlake.producer.chargebacks import LABELS_SCHEMA, ChargebackConfig, chargebacks
    from fraudlake.producer.entities import CARDS_FILE, USERS_FILE, load_cards, load_users
    from fraudlake.producer.generator import TransactionGenerator
    from fraudlake.producer.table_builder import TRUTH_COLUMNS
    from fraudlake.producer.writers import KaggleCsvWriter, ParquetTransactionWriter

    generator = TransactionGenerator(
        config, users=load_users(data_dir / USERS_FILE), cards=load_cards(token_key, data_dir / CARDS_FILE)
    )
    writer = (
        KaggleCsvWriter(out)
        if out.suffix == ".csv"
        else ParquetTransactionWriter(out, TRUTH_COLUMNS if with_truth else None)
    )
    labels = pq.ParquetWriter(chargebacks_out, LABELS_SCHEMA) if chargebacks_out is not None else None
    disputes = ChargebackConfig(seed=config.seed)
    started, frauds = time.monotonic(), 0
    with Progress(
        TextColumn("generate"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
    ) as bar:
        task = bar.add_task("rows", total=config.rows)
        try:
            for chunk in generator.chunks():
                writer.write(chunk)
                if labels is not None:
                    labels.write_table(chargebacks(chunk, disputes))
                frauds += pc.sum(chunk["is_fraud"]).as_py() or 0
                bar.advance(task, chunk.num_rows)
        finally:
            writer.close()
            if labels is not None:
                labels.close()
    elapsed = time.monotonic() - started
    console.print(
        f"wrote {writer.rows:,} rows ({frauds:,} fraud) to {out} in {elapsed:.1f}s "
        f"({writer.rows / max(elapsed, 1e-6):,.0f} rows/s)"
    )
    if chargebacks_out is not None:
        console.print(f"chargebacks of the {frauds:,} frauds (labels table columns): {chargebacks_out}")
    if ledger is not None:
        ledger.write_text(json.dumps(asdict(generator.ledger)))
        console.print(f"fraud ground truth: {ledger}")

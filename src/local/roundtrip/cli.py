"""`fraudlake lake …`: the lake path on the local stack.

Heavy imports (Airflow, pyarrow, the producer) happen inside the command so `fraudlake --help`
stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from fraudlake.local.roundtrip.harness import Comparison, DagRunOutcome, LocalLake

lake_app = typer.Typer(help="Kafka → S3/MinIO Parquet → ClickHouse (the lake path).", no_args_is_help=True)
console = Console(stderr=True)


@lake_app.command()
def run(
    rows: Annotated[int, typer.Option(help="Transactions to produce.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline name (default: a fresh lake-run-<time>, so runs never mix).")
    ] = None,
    namespace: Annotated[
        str, typer.Option(help="Pipeline namespace (topic fraudlake.<ns>.<pipeline>.*).")
    ] = "fraud",
    max_records: Annotated[
        int | None, typer.Option(help="Sink: records per Parquet object (spec default).")
    ] = None,
    flush_seconds: Annotated[
        int | None, typer.Option(help="Sink: flush interval in seconds (spec default).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sink to flush.")] = 600,
    keep_connector: Annotated[
        bool, typer.Option(help="Leave the sink connector running afterwards.")
    ] = False,
    stack_dir: Annotated[
        Path | None,
        typer.Option("--stack-dir", envvar="FRAUDLAKE_STACK_DIR", help="Local stack run folder."),
    ] = None,
) -> None:
    """Produce N transactions, let Kafka Connect write them to the lake, run the lake_to_clickhouse
    DAG for real (dag.test in this process) and check ClickHouse holds exactly the produced ids.

    Exit code 0 when count, distinct count and checksum of txn_ids match (plain count(), no FINAL).
    """
    from fraudlake.local.roundtrip import harness
    from fraudlake.local.stack import manager
    from fraudlake.local.stack.errors import StackError
    from fraudlake.local.stack.paths import default_stack_dir
    from fraudlake.local.stack.service import StackContext

    name = pipeline or f"lake-run-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    flush = {k: v for k, v in {"maxRecords": max_records, "intervalSeconds": flush_seconds}.items() if v}
    try:
        services = manager.up(StackContext(stack_dir or default_stack_dir(), console), list(harness.SERVICES))
        lake = harness.local_lake(services, name, namespace, flush=flush)
        steps: list[tuple[str, float, str]] = []
        with _step(steps, "provision", f"topics, bucket, tables {lake.database}, connector {lake.connector}"):
            harness.provision(lake)
        with _step(steps, "generate", f"{rows} transactions (seed {seed})"):
            source, transactions = harness.generate(rows, seed)
        started = datetime.now(UTC)
        with _step(steps, "produce", "users, cards, transactions → Kafka"):
            produced = harness.produce(lake, source, transactions)
        with _step(steps, "sink flush", "until the sink committed every offset"):
            harness.wait_for_sink(lake, timeout)
        with _step(steps, "DAG", "lake_to_clickhouse via dag.test()"):
            outcome = harness.run_lake_dag(lake, harness.interval_around(started))
        comparison = harness.compare(lake, produced.txn_ids)
        if not keep_connector:
            harness.stop_sink(lake)
    except (StackError, harness.LakePathError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    _print_result(steps, outcome, comparison, lake)
    if outcome.state != "success" or not comparison.exact:
        raise typer.Exit(code=1)


@contextmanager
def _step(steps: list[tuple[str, float, str]], name: str, what: str) -> Iterator[None]:
    """Announce a step, time it, and record (name, seconds, what) once it succeeded."""
    console.print(f"[bold]{name}[/]: {what} …")
    started = time.monotonic()
    yield
    steps.append((name, time.monotonic() - started, what))


def _print_result(
    steps: list[tuple[str, float, str]], outcome: DagRunOutcome, comparison: Comparison, lake: LocalLake
) -> None:
    timing = Table("step", "seconds", "what")
    for name, seconds, what in steps:
        timing.add_row(name, f"{seconds:.1f}", what)
    console.print(timing)
    console.print(f"DAG run {outcome.run_id}: {outcome.state} " + str(outcome.task_states))
    check = Table("txn_ids", "produced", f"{lake.database}.transactions", "match")
    for field in ("rows", "distinct", "checksum"):
        want, got = getattr(comparison.expected, field), getattr(comparison.actual, field)
        check.add_row(field, str(want), str(got), "[green]yes[/]" if want == got else "[red]NO[/]")
    console.print(check)
    verdict = "[green]exactly once[/]" if comparison.exact else "[red]MISMATCH[/]"
    console.print(
        f"{verdict}: ClickHouse holds {comparison.actual.rows} of {comparison.expected.rows} produced"
    )

"""`fraudlake train`: train, evaluate and store a model version (locally and/or in the object store)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
train_app = typer.Typer(help="Train the fraud model.", no_args_is_help=False, invoke_without_command=True)


class RichProgress:
    """Training stages as rich progress bars (the `train.Progress` callback)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _load(
    input_path: Path | None,
    dsn: str | None,
    database: str,
    start: str | None,
    end: str | None,
    max_rows: int | None,
) -> tuple[Any, str]:
    from fraudlake.ml import data

    if input_path is not None and dsn is None:
        return data.read_file(input_path, max_rows), str(input_path)
    if dsn is not None and input_path is None:
        frame = data.read_clickhouse(dsn, database, _parse_time(start), _parse_time(end), max_rows)
        return frame, f"clickhouse:{database}.transactions"
    raise typer.BadParameter("give exactly one of --input FILE or --dsn CLICKHOUSE_DSN")


def _registry() -> Any:
    """The object store of the FRAUDLAKE_S3_* settings: AWS S3 without an endpoint (IRSA / the AWS
    environment), MinIO with one. `fraudlake` sets them from a running local stack's state."""
    from fraudlake.ml.registry import ModelStoreSettings, registry_from_settings

    return registry_from_settings(ModelStoreSettings())


def _metrics_table(metrics: dict[str, Any]) -> Table:
    from fraudlake.ml.report import LABELS

    table = Table(title="Test period")
    for col in ("model", "AUC-PR", "95% card bootstrap", "ROC-AUC", "recall@P90", "recall@P95"):
        table.add_column(col)
    ci = metrics["test_auc_pr_ci95_by_card_bootstrap"]
    for key, m in metrics["test"].items():
        interval = ", ".join(f"{v:.3f}" for v in ci.get(key, []))
        table.add_row(
            LABELS[key],
            f"{m['auc_pr']:.4f}",
            f"[{interval}]",
            f"{m['roc_auc']:.4f}",
            f"{m['recall_at_p90']:.3f}",
            f"{m['recall_at_p95']:.3f}",
        )
    return table


@train_app.callback()
def train(
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Parquet or CSV (platform or Kaggle format).")
    ] = None,
    dsn: Annotated[str | None, typer.Option(help="ClickHouse DSN: chdb:///path or http(s)://…")] = None,
    database: Annotated[str, typer.Option(help="ClickHouse database of the pipeline.")] = "fraudlake",
    start: Annotated[str | None, typer.Option(help="ClickHouse: first event time (ISO 8601, UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="ClickHouse: end of the window (exclusive).")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Use only the first N rows.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the version's files under OUT/<version>/.")] = None,
    upload: Annotated[
        bool, typer.Option(help="Upload to the object store and run the champion gate.")
    ] = False,
    split_at: Annotated[
        str | None,
        typer.Option(help="Explicit period starts 'FIT,VALID,TEST' (ISO dates) instead of row fractions."),
    ] = None,
    label_delay_days: Annotated[float, typer.Option(help="Labels count only when this old.")] = 7.0,
) -> None:
    """Train (a) rule, (b) XGBoost, (b+) XGBoost + graph aggregates, (c) XGBoost + GraphSAGE on a time
    split, serve the gate's choice and store the model."""
    from fraudlake.ml.data import TrainingDataError, label_sources
    from fraudlake.ml.features import DAY_MS
    from fraudlake.ml.report import artifact_files
    from fraudlake.ml.train import SplitConfig, TrainConfig
    from fraudlake.ml.train import train as run_training

    if out is None and not upload:
        raise typer.BadParameter("nothing would be kept: give --out DIR and/or --upload")
    config = TrainConfig()
    config = replace(config, features=replace(config.features, label_delay_ms=int(label_delay_days * DAY_MS)))
    if split_at:
        config = replace(config, split=SplitConfig(starts=tuple(split_at.split(","))))
    try:
        frame, source = _load(input_path, dsn, database, start, end, max_rows)
        console.print(f"{len(frame):,} transactions, {int(frame['is_fraud'].sum())} frauds from {source}")
        columns = (
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            result = run_training(frame, config, RichProgress(progress))
            result.metrics["labels"] = frame.attrs.get("label_sources") or label_sources(frame)
            files = artifact_files(result, source)
    except TrainingDataError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    Console().print(_metrics_table(result.metrics))
    review = result.metrics["thresholds"]["review"]
    console.print(
        f"served: {result.served} ({result.metrics['gate']['reason']}); review threshold by"
        f" {review['basis']}: {review['value']:.4f}"
    )
    if out is not None:
        from fraudlake.ml.artifact import write_dir

        write_dir(files, out / result.version)
        console.print(f"model {result.version} written to {out / result.version}")
    if upload:
        outcome = _registry().publish(files)
        console.print(f"uploaded {outcome.uri}; champion gate: {outcome.reason}")
    summary = {"version": result.version, "served_model": result.served, "test": result.metrics["test"]}
    typer.echo(json.dumps(summary))

"""What the `train_model` DAG's tasks call: configuration from Airflow, then the training pipeline.

Configuration reuses the lake DAG's channels (`fraudlake.lake.runtime`): Variable `fraudlake_lake`
(database, bucket), Connection `fraudlake_lake` (S3/MinIO endpoint and keys, or IRSA) and
Connection `fraudlake_clickhouse` (the DSN). Optional Variable `fraudlake_model`
(`AIRFLOW_VAR_FRAUDLAKE_MODEL`), JSON: `lookback_days` (default 180), `label_delay_days` (7),
`min_frauds` (30), `training_path` ("auto", "memory" or "chunked"), `chunked_above_rows` (3,000,000:
"auto" trains out of core above this many rows), `dask_scheduler` (a Dask scheduler address: the
chunked path fits its XGBoost models on that cluster; docs/training.md). Both paths upload the
version they train.

A run trains on the `lookback_days` before its data interval's end, so a rerun of the same interval
sees the same rows and produces the same version; tasks hand over versions, not data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from fraudlake.ml.data import TrainingDataError
from fraudlake.ml.registry import ModelRegistry, ModelStoreSettings, registry_from_settings
from fraudlake.orchestration.failures import fail_without_retry

MODEL_VARIABLE = "fraudlake_model"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelJob:
    database: str
    clickhouse_dsn: str
    store: ModelStoreSettings
    lookback_days: float = 180.0
    label_delay_days: float = 7.0
    min_frauds: int = 30
    training_path: str = "auto"  # auto | memory | chunked
    chunked_above_rows: int = 3_000_000  # ~2.5 KB a row in memory: 3M rows ≈ 7 GB
    dask_scheduler: str | None = None

    def path_for(self, rows: int) -> str:
        """The training path for a window of `rows` transactions."""
        if self.training_path not in ("auto", "memory", "chunked"):
            raise TrainingDataError(
                f"training_path must be auto, memory or chunked, not {self.training_path!r}"
            )
        if self.training_path != "auto":
            return self.training_path
        return "chunked" if rows > self.chunked_above_rows else "memory"

    def window(self, interval_end: datetime) -> tuple[datetime, datetime]:
        return interval_end - timedelta(days=self.lookback_days), interval_end

    def registry(self) -> ModelRegistry:
        return registry_from_settings(self.store)


def job_from_airflow() -> ModelJob:
    from airflow.sdk import Variable

    from fraudlake.lake.runtime import clickhouse_dsn_from_airflow, pipeline_from_airflow, store_from_airflow

    pipeline = pipeline_from_airflow()
    lake = store_from_airflow(pipeline)
    store = ModelStoreSettings(
        s3_endpoint=lake.endpoint_url,
        s3_access_key=lake.access_key,
        s3_secret_key=SecretStr(lake.secret_key) if lake.secret_key is not None else None,
        s3_region=lake.region,
        lake_bucket=pipeline.bucket,
    )
    options = Variable.get(MODEL_VARIABLE, default=None, deserialize_json=True) or {}
    return ModelJob(pipeline.database, clickhouse_dsn_from_airflow(), store, **options)


# Too little data (or fraud) is permanent for a run's window: it fails at once instead of retrying.
@fail_without_retry(TrainingDataError)
def check_training_data(job: ModelJob, interval_end: datetime) -> dict[str, Any]:
    """Rows and frauds in the training window; fails the task when there is too little fraud to learn."""
    from fraudlake.clickhouse.client import connect
    from fraudlake.ml.data import _identifier

    start, end = job.window(interval_end)
    client = connect(job.clickhouse_dsn)
    try:
        rows, frauds = client.query(
            f"SELECT count(), countIf(is_fraud) FROM {_identifier(job.database)}.transactions FINAL "
            "WHERE event_ts >= {start:DateTime64(3, 'UTC')} AND event_ts < {end:DateTime64(3, 'UTC')}",
            parameters={"start": start, "end": end},
        ).result_rows[0]
    finally:
        client.close()
    if frauds < job.min_frauds:
        raise TrainingDataError(f"{frauds} frauds in [{start}, {end}) (need {job.min_frauds}): not training")
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rows": int(rows),
        "frauds": int(frauds),
        "path": job.path_for(int(rows)),
    }


@fail_without_retry(TrainingDataError)
def train_candidate(job: ModelJob, interval_end: datetime, path: str = "memory") -> dict[str, Any]:
    """Train on the window by `path` (`check_training_data`'s choice); the memory path uploads the
    version (without promoting it) and returns its reference."""
    from fraudlake.ml.features import DAY_MS
    from fraudlake.ml.train import TrainConfig

    config = TrainConfig()
    config = replace(
        config, features=replace(config.features, label_delay_ms=int(job.label_delay_days * DAY_MS))
    )
    if path == "chunked":
        return _train_chunked(job, interval_end, config)
    return _train_in_memory(job, interval_end, config)


def _train_in_memory(job: ModelJob, interval_end: datetime, config: Any) -> dict[str, Any]:
    from fraudlake.ml.data import label_sources, read_clickhouse
    from fraudlake.ml.report import artifact_files
    from fraudlake.ml.stages import StageLog
    from fraudlake.ml.train import train

    start, end = job.window(interval_end)
    stages = StageLog()
    with stages.stage("read ClickHouse"):
        frame = read_clickhouse(job.clickhouse_dsn, job.database, start, end)

    def progress(stage: str, done: int, total: int) -> None:
        stages.progress(stage, done, total)
        if done == total:
            log.info("%s: done (%d)", stage, total)

    result = train(frame, config, progress)
    result.metrics["training_run"] = stages.report("memory", len(frame))  # the model card shows it
    # … and how many labels came from analysts
    result.metrics["labels"] = frame.attrs.get("label_sources") or label_sources(frame)
    files = artifact_files(
        result, f"clickhouse:{job.database}.transactions [{start:%Y-%m-%d}, {end:%Y-%m-%d})"
    )
    version = job.registry().upload(files)
    test = result.metrics["test"]
    return {
        "version": version,
        "path": "memory",
        "served_model": result.served,
        "served_because": result.metrics["gate"]["reason"],
        "test_auc_pr": {k: v["auc_pr"] for k, v in test.items()},
        "rows": len(frame),
        "training_run": result.metrics["training_run"],
        "labels": result.metrics["labels"],
    }


def _train_chunked(job: ModelJob, interval_end: datetime, config: Any) -> dict[str, Any]:
    """Out of core: every model from ClickHouse about 500,000 rows at a time (GraphSAGE on whole or
    sampled snapshots, XGBoost from chunk iterators or on Dask when configured); uploads the version
    like the memory path (docs/training.md)."""
    from fraudlake.ml.chunked_features import clickhouse_chunks
    from fraudlake.ml.data import read_label_sources
    from fraudlake.ml.out_of_core import train_out_of_core
    from fraudlake.ml.report import artifact_files

    start, end = job.window(interval_end)
    chunks = clickhouse_chunks(job.clickhouse_dsn, job.database, start, end)
    if job.dask_scheduler:
        from distributed import Client

        with Client(job.dask_scheduler) as client:
            result = train_out_of_core(chunks, config, client=client)
    else:
        result = train_out_of_core(chunks, config)
    run = result.metrics["training_run"]
    log.info(
        "chunked training: %d rows, %.0f s, peak RSS %.2f GB", run["rows"], run["seconds"], run["peak_rss_gb"]
    )
    result.metrics["labels"] = read_label_sources(job.clickhouse_dsn, job.database, start, end)
    files = artifact_files(
        result, f"clickhouse:{job.database}.transactions [{start:%Y-%m-%d}, {end:%Y-%m-%d}) (chunked)"
    )
    version = job.registry().upload(files)
    return {
        "version": version,
        "path": run["path"],
        "served_model": result.served,
        "served_because": result.metrics["gate"]["reason"],
        "test_auc_pr": {k: v["auc_pr"] for k, v in result.metrics["test"].items()},
        "rows": run["rows"],
        "training_run": run,
        "labels": result.metrics["labels"],
    }


def champion_gate(job: ModelJob, version: str | None) -> dict[str, Any]:
    """Promote `version` if its test AUC-PR beats the champion's (None: nothing was uploaded)."""
    if version is None:
        reason = "no version to gate (nothing was uploaded): champion unchanged"
        log.info("champion gate: %s", reason)
        return {"version": None, "promoted": False, "reason": reason, "uri": None}
    outcome = job.registry().promote(version)
    log.info("champion gate for %s: %s", version, outcome.reason)
    return {"version": version, "promoted": outcome.promoted, "reason": outcome.reason, "uri": outcome.uri}

"""Permanent failures fail an Airflow task at once; everything else keeps the retry policy."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from fraudlake.lake.quality import LakeLoadError
from fraudlake.lake.runtime import data_problems_fail_the_task
from fraudlake.ml.data import TrainingDataError
from fraudlake.ml.registry import ModelStoreSettings
from fraudlake.ml.runtime import ModelJob, train_candidate
from fraudlake.orchestration.failures import fail_without_retry

pytestmark = pytest.mark.unit


def test_a_permanent_error_becomes_a_fail_exception_with_its_message() -> None:
    with pytest.raises(AirflowFailException, match="2 frauds"), fail_without_retry(TrainingDataError):
        raise TrainingDataError("2 frauds in the window")


def test_other_errors_keep_their_type_so_airflow_retries_them() -> None:
    with pytest.raises(ConnectionError), fail_without_retry(TrainingDataError):
        raise ConnectionError("ClickHouse is restarting")


def test_as_a_decorator() -> None:
    @fail_without_retry(LakeLoadError)
    def load() -> None:
        raise LakeLoadError("corrupt object s3://lake/raw/x.parquet")

    with pytest.raises(AirflowFailException, match="corrupt object"):
        load()


def test_lake_data_problems_do_not_retry() -> None:
    with pytest.raises(AirflowFailException), data_problems_fail_the_task():
        raise LakeLoadError("bad rows")


def test_training_on_an_unusable_window_does_not_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    import fraudlake.ml.data

    def short_history(*_args: object, **_kwargs: object) -> None:
        raise TrainingDataError("the GNN period is shorter than horizon + label delay; use more history")

    monkeypatch.setattr(fraudlake.ml.data, "read_clickhouse", short_history)
    job = ModelJob("fraud_demo", "chdb:///nowhere", ModelStoreSettings(lake_bucket="lake"))
    from datetime import UTC, datetime

    with pytest.raises(AirflowFailException, match="GNN period"):
        train_candidate(job, datetime(2026, 12, 1, tzinfo=UTC))

"""Which training path a run takes, and what it reports about itself (rows, seconds, memory)."""

from __future__ import annotations

import pytest

from fraudlake.ml.data import TrainingDataError
from fraudlake.ml.registry import ModelStoreSettings
from fraudlake.ml.report import _training_run
from fraudlake.ml.runtime import ModelJob, champion_gate
from fraudlake.ml.stages import StageLog

pytestmark = pytest.mark.unit


def job(**options) -> ModelJob:
    return ModelJob("fraud_demo", "chdb:///nowhere", ModelStoreSettings(lake_bucket="lake"), **options)


def test_auto_trains_out_of_core_above_the_row_limit() -> None:
    assert job(chunked_above_rows=1000).path_for(1000) == "memory"
    assert job(chunked_above_rows=1000).path_for(1001) == "chunked"
    assert job(training_path="memory", chunked_above_rows=10).path_for(10**9) == "memory"
    assert job(training_path="chunked").path_for(5) == "chunked"
    with pytest.raises(TrainingDataError, match="training_path"):
        job(training_path="gpu").path_for(5)


def test_nothing_uploaded_leaves_the_champion_alone() -> None:
    class NoRegistry(ModelJob):
        def registry(self):
            raise AssertionError("the gate must not touch the registry without a version")

    gated = champion_gate(NoRegistry("d", "chdb:///x", ModelStoreSettings(lake_bucket="lake")), None)
    assert gated["promoted"] is False
    assert "nothing was uploaded" in gated["reason"]


def test_stage_log_and_model_card_section() -> None:
    stages = StageLog()
    with stages.stage("features"):
        blob = bytearray(50 * 1024**2)  # the peak must reach at least this
    stages.progress("XGBoost", 0, 2)
    stages.progress("XGBoost", 2, 2)
    run = stages.report("chunked", 1234)
    del blob
    assert list(run["stages"]) == ["features", "XGBoost"]
    assert run["peak_rss_gb"] >= run["stages"]["features"]["peak_rss_gb"] >= 0.05
    card = _training_run(run)
    assert "1,234 rows on the chunked path" in card
    assert "| XGBoost |" in card
    assert _training_run(None) == ""

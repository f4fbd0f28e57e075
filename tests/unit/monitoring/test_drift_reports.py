"""The drift report's pieces: the reference window from a model's metrics, report rows, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fraudlake.model_monitoring import drift, job, reports
from fraudlake.model_monitoring.runtime import reference_from_conf

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 1, tzinfo=UTC)
METRICS = {
    "periods": {
        "gnn": {"start": "2025-09-01T00:00:00+00:00", "end": "2025-11-30T23:59:00+00:00", "rows": 10},
        "fit": {"start": "2025-12-01T00:00:00+00:00", "end": "2026-01-31T10:00:00+00:00", "rows": 10},
        "test": {"start": "2026-02-01T00:00:00+00:00", "end": "2026-02-27T12:30:00.500000+00:00", "rows": 10},
    }
}


def test_the_reference_is_the_span_of_the_training_periods_with_an_exclusive_end() -> None:
    window = job.reference_window(METRICS)
    assert window.start == datetime(2025, 9, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 2, 27, 12, 30, 0, 501000, tzinfo=UTC)


def test_metrics_without_periods_give_no_reference() -> None:
    with pytest.raises(ValueError, match="no training periods"):
        job.reference_window({"periods": {}})


def test_a_run_may_name_its_own_reference_window() -> None:
    assert reference_from_conf({}) is None
    assert reference_from_conf(None) is None
    version, window = reference_from_conf(
        {"reference_start": "2026-01-01T00:00:00+00:00", "reference_end": "2026-02-01T00:00:00+00:00"}
    )
    assert version == "conf"
    assert window.end - window.start == timedelta(days=31)


def _report() -> job.DriftReport:
    drift_job = job.DriftJob(
        "fp",
        "ns/demo",
        "v7",
        job.Window(AT - timedelta(days=60), AT - timedelta(days=30)),
        job.Window(AT - timedelta(hours=1), AT),
    )
    features = (
        drift.FeatureDrift("amount", 0.42, "drifting", 5000, 300),
        drift.FeatureDrift("hour", 0.01, "ok", 5000, 300),
        drift.FeatureDrift("mcc", 0.25, "drifting", 5000, 300),
        drift.FeatureDrift("score", None, "insufficient", 10, 300),
    )
    return job.DriftReport(drift_job, features, 0.05, 0.4, 20)


def test_report_rows_follow_the_table_columns_one_per_monitored_column() -> None:
    rows = job.report_rows(_report(), "run-1", AT)
    assert len(rows) == 4
    first = dict(zip(reports.COLUMNS, rows[0], strict=True))
    assert first["pipeline"] == "ns/demo"
    assert (first["feature"], first["psi"], first["level"]) == ("amount", 0.42, "drifting")
    assert (first["alert_rate"], first["flagged_precision"], first["flagged_labelled"]) == (0.05, 0.4, 20)
    assert _report().drifting == ["amount", "mcc"]


def _rows(report: job.DriftReport) -> list[dict]:
    return [dict(zip(reports.COLUMNS, row, strict=True)) for row in job.report_rows(report, "r", AT)]


def test_the_verdict_names_drifting_columns_worst_first_and_ignores_unjudged_ones() -> None:
    verdict = reports.verdict(_rows(_report()))
    assert verdict is not None
    assert not verdict.healthy
    assert verdict.drifting == ("amount", "mcc")
    assert "amount, mcc" in verdict.message
    assert "v7" in verdict.message


def test_no_drifting_column_is_healthy_and_no_report_has_no_verdict() -> None:
    report = _report()
    calm = job.DriftReport(report.job, report.features[1:2], None, None, 0)
    verdict = reports.verdict(_rows(calm))
    assert verdict is not None
    assert verdict.healthy
    assert reports.verdict([]) is None

"""The drift job: the served model's training window against the recent window, per monitored column.

Reference: the pipeline's own ClickHouse rows in the model's training window (the periods its
metrics.json records, `reference_window`), so no profile has to be shipped with the model and the bins
are always cut on the data the model learned from. Recent: the last `recent` interval.

Monitored columns:

- the model's per-transaction features (`fraudlake.ml.features`, group "transaction": amount, hour,
  day of week, online/chip, MCC, foreign, error flags), computed by the feature spec's own formulas
  from the `transactions` rows. The history features (velocities, norms, risk) need each row's
  whole history and are not recomputed here; they derive from these inputs, so a shift in the
  inputs shows first;
- the score, from the scorer's `decisions` in each window (not judged while the reference window has
  fewer than `drift.MIN_ROWS` decisions, e.g. a model trained on data scored by no scorer).

Run-level numbers: the alert rate (review or decline) of the recent decisions, and the precision of
flagged decisions one label delay older than the recent window (their chargebacks have had time to
arrive), against `transactions.is_fraud`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from fraudlake.ml import data, features
from fraudlake.model_monitoring import drift, reports

TRANSACTION_FEATURES: tuple[str, ...] = tuple(f.name for f in features.FEATURES if f.group == "transaction")
FLAGGED = ("review", "decline")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime  # exclusive


@dataclass(frozen=True)
class DriftJob:
    database: str
    pipeline: str  # <namespace>/<name>
    model_version: str
    reference: Window
    recent: Window
    label_delay: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class DriftReport:
    job: DriftJob
    features: tuple[drift.FeatureDrift, ...]
    alert_rate: float | None
    flagged_precision: float | None
    flagged_labelled: int

    @property
    def drifting(self) -> list[str]:
        return drift.drifting(self.features)


def reference_window(metrics: Mapping[str, Any]) -> Window:
    """The span of the training run's periods (metrics.json `periods`: gnn, fit, valid, test)."""
    periods = (metrics.get("periods") or {}).values()
    if not periods:
        raise ValueError("the model's metrics record no training periods")
    start = min(pd.Timestamp(p["start"]) for p in periods)
    end = max(pd.Timestamp(p["end"]) for p in periods)
    # The recorded end is the last row's time; the window's end is exclusive.
    return Window(start.to_pydatetime(), (end + pd.Timedelta(milliseconds=1)).to_pydatetime())


def transaction_features(client: Client, database: str, window: Window) -> dict[str, np.ndarray]:
    """The per-transaction features of the window's rows, by the feature spec's formulas."""
    table = f"{_identifier(database)}.transactions"
    frame = client.query_arrow(
        f"SELECT {', '.join(data.COLUMNS)} FROM {table} FINAL "
        "WHERE event_ts >= {start:DateTime64(3, 'UTC')} AND event_ts < {end:DateTime64(3, 'UTC')}",
        parameters={"start": window.start, "end": window.end},
    ).to_pandas()
    if frame.empty:
        return {name: np.empty(0) for name in TRANSACTION_FEATURES}
    cols = data.columns(data.prepare(frame))
    # The transaction group's formulas read no aggregates: zeros stand in for the history.
    raw = np.zeros((len(frame), len(features.RAW_AGGREGATES)), dtype=np.int64)
    matrix = features.assemble(cols, raw, features.FeatureConfig())
    return {name: matrix[:, features.FEATURE_NAMES.index(name)] for name in TRANSACTION_FEATURES}


def decisions(client: Client, database: str, window: Window) -> tuple[np.ndarray, list[str]]:
    """Scores and decisions of the window's decided transactions."""
    result = client.query(
        f"SELECT score, decision FROM {_identifier(database)}.decisions FINAL "
        "WHERE event_ts >= {start:DateTime64(3, 'UTC')} AND event_ts < {end:DateTime64(3, 'UTC')}",
        parameters={"start": window.start, "end": window.end},
    )
    rows = result.result_rows
    return np.array([r[0] for r in rows], dtype=float), [str(r[1]) for r in rows]


def flagged_labels(client: Client, database: str, window: Window) -> list[bool]:
    """Fraud labels of the window's flagged decisions."""
    db = _identifier(database)
    result = client.query(
        f"SELECT t.is_fraud FROM {db}.decisions AS d FINAL INNER JOIN "
        f"(SELECT txn_id, is_fraud FROM {db}.transactions FINAL) AS t ON t.txn_id = d.txn_id "
        "WHERE d.decision IN {flagged:Array(String)} "
        "AND d.event_ts >= {start:DateTime64(3, 'UTC')} AND d.event_ts < {end:DateTime64(3, 'UTC')}",
        parameters={"flagged": list(FLAGGED), "start": window.start, "end": window.end},
    )
    return [bool(r[0]) for r in result.result_rows]


def compute(client: Client, job: DriftJob) -> DriftReport:
    """PSI of every monitored column, the alert rate and the label-delayed precision."""
    reference = transaction_features(client, job.database, job.reference)
    recent = transaction_features(client, job.database, job.recent)
    results = [drift.feature_drift(name, reference[name], recent[name]) for name in TRANSACTION_FEATURES]
    reference_scores, _ = decisions(client, job.database, job.reference)
    recent_scores, recent_decisions = decisions(client, job.database, job.recent)
    results.append(drift.feature_drift(reports.SCORE, reference_scores, recent_scores))
    labelled = Window(job.recent.start - job.label_delay, job.recent.end - job.label_delay)
    labels = flagged_labels(client, job.database, labelled)
    return DriftReport(
        job,
        tuple(results),
        drift.alert_rate(recent_decisions),
        drift.flagged_precision(labels),
        len(labels),
    )


def report_rows(report: DriftReport, run_id: str, computed_at: datetime) -> list[tuple[Any, ...]]:
    """The report as `model_drift` rows (`reports.COLUMNS` order), one per monitored column."""
    job = report.job
    return [
        (
            job.pipeline,
            run_id,
            computed_at,
            job.model_version,
            result.feature,
            result.psi,
            result.level,
            result.reference_rows,
            result.recent_rows,
            job.reference.start,
            job.reference.end,
            job.recent.start,
            job.recent.end,
            report.alert_rate,
            report.flagged_precision,
            report.flagged_labelled,
        )
        for result in report.features
    ]


def run(client: Client, job: DriftJob, run_id: str, computed_at: datetime) -> DriftReport:
    """Compute the report and append it to `model_drift`."""
    report = compute(client, job)
    reports.write(client, job.database, report_rows(report, run_id, computed_at))
    return report


def summary(report: DriftReport) -> dict[str, Any]:
    """What the DAG task returns (XCom) and logs."""
    return {
        "model_version": report.job.model_version,
        "drifting": report.drifting,
        "psi": {r.feature: r.psi for r in report.features},
        "alert_rate": report.alert_rate,
        "flagged_precision": report.flagged_precision,
    }


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[:1].isalpha():
        raise ValueError(f"invalid database name {name!r}")
    return name


__all__: Sequence[str] = ("DriftJob", "DriftReport", "Window", "compute", "reference_window", "run")

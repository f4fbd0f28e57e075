"""Metrics of the lake loader, sent through Airflow's own StatsD client.

Why StatsD and not a Prometheus endpoint or a Pushgateway: the loader runs inside short Airflow
tasks (KubernetesExecutor: one pod per task), which live for seconds and are never scraped. Airflow
already sends its scheduler and task metrics to the Airflow chart's StatsD exporter
(helm/values/airflow.yaml: `statsd.enabled`), which Prometheus scrapes; the loader's metrics ride
the same client (`airflow.sdk.observability.stats`), so no second path, no Pushgateway to run and no
stale pushed groups to expire. The exporter keeps counters and the last gauge value between runs.

Plain StatsD has no labels, so the pipeline and the table are parts of the name
(``fraudlake_lake.<namespace>.<pipeline>.…``); the exporter's mappings in helm/values/airflow.yaml
turn them back into labels (`STATSD_MAPPINGS` below is the one list both are checked against):

- ``fraudlake_lake_loaded_rows_total{pipeline_namespace, pipeline, table}``
- ``fraudlake_lake_objects_total{pipeline_namespace, pipeline, outcome}`` (loaded, skipped, failed)
- ``fraudlake_lake_newest_loaded_timestamp_seconds`` — last-modified time of the newest object loaded:
  ``time() - …`` is how far ClickHouse trails the lake, and it grows while no run loads anything;
- ``fraudlake_lake_lag_seconds`` — at the end of a run, the age of the oldest listed object that is
  still not loaded (0 when every listed object was loaded): how far the loader is behind the sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from fraudlake.lake.layout import LakeObject
from fraudlake.lake.loader import LakeLoadFailedError, LoadReport

PREFIX = "fraudlake_lake"

# StatsD name (after Airflow's `statsd_prefix`, "airflow") → Prometheus name and labels, in the
# statsd_exporter's glob mapping form; helm/values/airflow.yaml carries the same mappings.
STATSD_MAPPINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (f"airflow.{PREFIX}.*.*.rows_loaded.*", "fraudlake_lake_loaded_rows_total", ("table",)),
    (f"airflow.{PREFIX}.*.*.objects.*", "fraudlake_lake_objects_total", ("outcome",)),
    (
        f"airflow.{PREFIX}.*.*.newest_loaded_timestamp_seconds",
        "fraudlake_lake_newest_loaded_timestamp_seconds",
        (),
    ),
    (f"airflow.{PREFIX}.*.*.lag_seconds", "fraudlake_lake_lag_seconds", ()),
)


class StatsSink(Protocol):
    """What the loader needs of `airflow.sdk.observability.stats`."""

    def incr(self, stat: str, count: int | None = None) -> None: ...

    def gauge(self, stat: str, value: float) -> None: ...


def airflow_stats() -> StatsSink:
    """Airflow's StatsD client of this task (a no-op unless `[metrics] statsd_on`)."""
    from airflow.sdk.observability import stats

    return stats


def counted_load(
    load: Callable[[], LoadReport],
    namespace: str,
    pipeline: str,
    listed: Sequence[LakeObject],
    stats: StatsSink | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> LoadReport:
    """Run `load` and send what it did, also when some objects failed (the error is re-raised)."""
    try:
        report = load()
    except LakeLoadFailedError as exc:
        send(exc.report, namespace, pipeline, listed, stats or airflow_stats(), now())
        raise
    send(report, namespace, pipeline, listed, stats or airflow_stats(), now())
    return report


def send(
    report: LoadReport,
    namespace: str,
    pipeline: str,
    listed: Sequence[LakeObject],
    stats: StatsSink,
    at: datetime,
) -> None:
    """Send one load's counts and gauges under ``fraudlake_lake.<namespace>.<pipeline>``."""
    base = f"{PREFIX}.{namespace}.{pipeline}"
    for table, rows in sorted(report.rows_per_table.items()):
        stats.incr(f"{base}.rows_loaded.{table}", rows)
    outcomes = {
        "loaded": len(report.loaded),
        "skipped": report.already_loaded + report.ignored,
        "failed": len(unloaded(report, listed)),
    }
    for outcome, count in outcomes.items():
        stats.incr(f"{base}.objects.{outcome}", count)
    loaded = set(report.loaded)
    newest = max((obj.last_modified for obj in listed if obj.key in loaded), default=None)
    if newest is not None:
        stats.gauge(f"{base}.newest_loaded_timestamp_seconds", newest.timestamp())
    oldest_left = min((obj.last_modified for obj in unloaded(report, listed)), default=None)
    stats.gauge(f"{base}.lag_seconds", max(0.0, (at - oldest_left).total_seconds()) if oldest_left else 0.0)


def unloaded(report: LoadReport, listed: Sequence[LakeObject]) -> list[LakeObject]:
    """Listed objects the load failed: named by key, or by topic when a whole topic failed its
    data-quality check."""
    return [obj for obj in listed if obj.key in report.failed or obj.topic in report.failed]

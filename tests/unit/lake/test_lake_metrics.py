"""The lake loader's StatsD metrics: what a load sends, through Airflow's own StatsD logger, and the
exporter mappings in helm/values/airflow.yaml that turn the names into Prometheus series."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from fraudlake.lake import metrics
from fraudlake.lake.layout import LakeObject
from fraudlake.lake.loader import LakeLoadFailedError, LoadReport

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TOPIC = "fraudlake.fraud.card-demo.transactions"
AIRFLOW_VALUES = Path(__file__).resolve().parents[3] / "helm" / "values" / "airflow.yaml"


def lake_object(name: str, minutes_ago: int, topic: str = TOPIC) -> LakeObject:
    return LakeObject(
        key=f"lake/raw/{topic}/{name}.parquet",
        etag="e",
        size=10,
        last_modified=NOW - timedelta(minutes=minutes_ago),
        topic=topic,
        partition=0,
        start_offset=0,
    )


class RecordingClient:
    """Stands in for the UDP `statsd.StatsClient` under Airflow's SafeStatsdLogger: records what would
    go on the wire (``<prefix>.<stat>``), so the names pass Airflow's real validation first."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, float]] = []

    def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
        self.sent.append(("c", f"airflow.{stat}", count))

    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False) -> None:
        self.sent.append(("g", f"airflow.{stat}", value))


@pytest.fixture
def airflow_statsd() -> Iterator[RecordingClient]:
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk._shared.observability.metrics.statsd_logger import SafeStatsdLogger
    from airflow.sdk.observability import stats

    client = RecordingClient()
    stats.initialize(factory=lambda: SafeStatsdLogger(client), export_legacy_names=False)  # type: ignore[arg-type]
    yield client
    stats.initialize(factory=NoStatsLogger, export_legacy_names=True)


def test_a_load_sends_rows_objects_freshness_and_lag(airflow_statsd: RecordingClient) -> None:
    old, new, broken = lake_object("a", 30), lake_object("b", 5), lake_object("c", 50)
    report = LoadReport(loaded=[old.key, new.key], rows=120, already_loaded=1, ignored=2)
    report.rows_per_table["transactions"] = 120
    report.failed[broken.key] = "decoded 3 rows but its Parquet footer says 4"

    def load() -> LoadReport:
        raise LakeLoadFailedError(report)

    with pytest.raises(LakeLoadFailedError):
        metrics.counted_load(load, "fraud", "card-demo", [old, new, broken], now=lambda: NOW)

    base = "airflow.fraudlake_lake.fraud.card-demo"
    assert set(airflow_statsd.sent) == {
        ("c", f"{base}.rows_loaded.transactions", 120),
        ("c", f"{base}.objects.loaded", 2),
        ("c", f"{base}.objects.skipped", 3),
        ("c", f"{base}.objects.failed", 1),
        ("g", f"{base}.newest_loaded_timestamp_seconds", new.last_modified.timestamp()),
        ("g", f"{base}.lag_seconds", 50 * 60.0),
    }


def test_a_topic_that_failed_its_quality_check_counts_all_its_objects(
    airflow_statsd: RecordingClient,
) -> None:
    listed = [lake_object("a", 20), lake_object("b", 10)]
    report = LoadReport()
    report.failed[TOPIC] = "fraud rate 0.4 outside [0.0005, 0.05]"

    with pytest.raises(LakeLoadFailedError):
        metrics.counted_load(lambda: _raise(report), "fraud", "card-demo", listed, now=lambda: NOW)

    sent = {stat: value for _, stat, value in airflow_statsd.sent}
    assert sent["airflow.fraudlake_lake.fraud.card-demo.objects.failed"] == 2
    assert sent["airflow.fraudlake_lake.fraud.card-demo.lag_seconds"] == 20 * 60.0
    # Nothing loaded: the freshness gauge keeps its last value in the exporter, and grows in time().
    assert not any(stat.endswith("newest_loaded_timestamp_seconds") for stat in sent)


def test_a_clean_load_reports_no_lag(airflow_statsd: RecordingClient) -> None:
    listed = [lake_object("a", 20)]
    report = metrics.counted_load(lambda: LoadReport(loaded=[listed[0].key]), "fraud", "demo", listed)
    assert report.loaded == [listed[0].key]
    sent = {stat: value for _, stat, value in airflow_statsd.sent}
    assert sent["airflow.fraudlake_lake.fraud.demo.lag_seconds"] == 0.0
    assert sent["airflow.fraudlake_lake.fraud.demo.objects.loaded"] == 1


def test_without_statsd_configured_a_load_still_runs() -> None:
    """Outside an Airflow task with `statsd_on`, Airflow's stats are a no-op: loading is unaffected."""
    report = metrics.counted_load(lambda: LoadReport(rows=3), "fraud", "demo", [])
    assert report.rows == 3


def _raise(report: LoadReport) -> LoadReport:
    raise LakeLoadFailedError(report)


def exporter_mappings() -> list[dict[str, object]]:
    return yaml.safe_load(AIRFLOW_VALUES.read_text())["statsd"]["extraMappings"]


def test_the_airflow_statsd_exporter_maps_every_loader_metric(airflow_statsd: RecordingClient) -> None:
    listed = [lake_object("a", 20), lake_object("b", 10)]
    report = LoadReport(loaded=[listed[0].key])
    report.rows_per_table["transactions"] = 7
    report.failed[listed[1].key] = "corrupt"
    with pytest.raises(LakeLoadFailedError):
        metrics.counted_load(lambda: _raise(report), "fraud", "demo", listed, now=lambda: NOW)

    mappings = exporter_mappings()
    ours = [(m["match"], m["name"]) for m in mappings if str(m["name"]).startswith("fraudlake_lake_")]
    assert sorted(ours) == sorted((match, name) for match, name, _ in metrics.STATSD_MAPPINGS)
    for _, stat, _ in airflow_statsd.sent:
        matching = [m for m in mappings if _glob_matches(str(m["match"]), stat)]
        assert len(matching) == 1, stat
        labels = matching[0]["labels"]
        assert (labels["pipeline_namespace"], labels["pipeline"]) == ("$1", "$2"), matching[0]


def _glob_matches(pattern: str, stat: str) -> bool:
    """statsd_exporter's glob: `*` stands for one dot-separated component."""
    parts, names = pattern.split("."), stat.split(".")
    if len(parts) != len(names):
        return False
    return all(fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names, strict=True))

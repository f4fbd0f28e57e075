"""The stack's Airflow processes and in-process DAG runs share one StatsD exporter, as in the chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudlake.lake.metrics import STATSD_MAPPINGS
from fraudlake.local.stack.airflow_home import STATSD_ADDRESS_FILE, airflow_env
from fraudlake.local.stack.services.airflow import statsd_mappings

pytestmark = pytest.mark.unit


def test_no_exporter_no_statsd(tmp_path: Path) -> None:
    env = airflow_env(tmp_path)
    assert not any(key.startswith("AIRFLOW__METRICS__") for key in env)


def test_every_airflow_process_sends_to_the_exporter_the_service_started(tmp_path: Path) -> None:
    (tmp_path / STATSD_ADDRESS_FILE).write_text("127.0.0.1:40125\n")
    env = airflow_env(tmp_path)
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert (env["AIRFLOW__METRICS__STATSD_HOST"], env["AIRFLOW__METRICS__STATSD_PORT"]) == (
        "127.0.0.1",
        "40125",
    )
    # The prefix the exporter's mappings (and the chart's) expect in front of the loader's names.
    assert env["AIRFLOW__METRICS__STATSD_PREFIX"] == "airflow"


def test_the_local_exporter_maps_the_loader_metrics_as_the_chart_does() -> None:
    local = {(m["match"], m["name"]) for m in statsd_mappings()}
    assert {(match, name) for match, name, _ in STATSD_MAPPINGS} <= local

"""The Grafana dashboards the charts ship: valid against the dashboard JSON model's schema, laid out on
Grafana's 24-column grid, and reading only metrics that something of the platform exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fraudlake.local.deploy.layout import HELM_DIR
from fraudlake.local.deploy.monitoring import (
    code_metric_names,
    dashboard_files,
    is_exported,
    jmx_name_patterns,
    promql_metric_names,
    unknown_metrics,
)

pytestmark = pytest.mark.unit

SCHEMA = json.loads((Path(__file__).with_name("grafana-dashboard.schema.json")).read_text())
# The dashboards issue 25 asks for, by the chart that owns their components.
EXPECTED = {
    "fraudlake-operator/dashboards/platform-overview.json",
    "fraudlake-api/dashboards/scoring.json",
    "fraudlake-api/dashboards/model-quality.json",
    "fraudlake-kafka/dashboards/lake-freshness.json",
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_expected_dashboard_is_shipped() -> None:
    assert {str(p.relative_to(HELM_DIR)) for p in dashboard_files()} == EXPECTED


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_dashboard_matches_the_schema(path: Path) -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.validate(load(path), SCHEMA)


def test_the_schema_is_tight() -> None:
    dashboard = load(dashboard_files()[0])
    panel = dashboard["panels"][0]
    for broken in (
        {**dashboard, "rows": []},  # the pre-5.0 model
        {**dashboard, "panels": [{**panel, "gridPos": {**panel["gridPos"], "w": 25}}]},
        {**dashboard, "panels": [{**panel, "datasource": "Prometheus"}]},  # a hard-coded data source
        {**dashboard, "panels": [{**panel, "targets": [{"refId": "A"}]}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_dashboard_uids_are_unique() -> None:
    uids = [load(path)["uid"] for path in dashboard_files()]
    assert len(uids) == len(set(uids)), uids


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_panels_have_unique_ids_and_do_not_overlap(path: Path) -> None:
    panels = load(path)["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["title"]


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_dashboard_queries_read_only_exported_metrics(path: Path) -> None:
    queries = exprs(load(path))
    assert all(promql_metric_names(q) for q in queries), "a query that reads no metric at all"
    assert unknown_metrics(queries) == {}


def test_a_misspelt_metric_is_caught() -> None:
    """Negative control: one letter off, and the check names the query."""
    typo = "sum by (decision) (rate(fraudlake_scorer_decision_total[$__rate_interval]))"
    assert unknown_metrics([typo]) == {typo: {"fraudlake_scorer_decision_total"}}


def test_promql_names_leave_out_functions_labels_strings_and_variables() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (namespace, le) (rate(a_bucket{route="/v1/score", x=~"b|c"}[5m])))'
        " / ignoring (decision) group_left () sum(rate(b_total[$__rate_interval])) > 0.5"
        " or vector(0) and on (pod) c_gauge offset 5m unless time() - d_seconds"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b_total", "c_gauge", "d_seconds"}


def test_exported_names_come_from_the_code_and_the_charts_exporters() -> None:
    code, connect = code_metric_names(), jmx_name_patterns()
    for name in (
        "fraudlake_operator_reconciles_total",
        "fraudlake_operator_step_duration_seconds_bucket",
        "fraudlake_operator_pipeline_condition",
        "fraudlake_api_model_info",
        "fraudlake_scorer_consumer_lag",
        "fraudlake_ui_api_request_duration_seconds_count",
        "fraudlake_lake_newest_loaded_timestamp_seconds",
        "kafka_consumergroup_lag",
        "kafka_connect_task_error_metrics_deadletterqueue_produce_requests",
    ):
        assert is_exported(name, code, connect), name
    assert not is_exported("fraudlake_api_model_loaded_total", code, connect)
    assert is_exported("kafka_server_replicamanager_underreplicatedpartitions", code, connect)
    assert not is_exported("kafka_connect_task_status", code, connect)

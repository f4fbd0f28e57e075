"""GET /v1/model/report: the served model's report card, from the version's own files.

The model is the real small model of tests/model_kit.py (trained by the production code); an "older"
version is the same model republished without evaluation.json, as versions trained before it exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_kit import AUTH, api_settings, registry_with, wait_for_model
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fraudlake.api.main import create_app
from fraudlake.api.routers.model_report import NO_EVALUATION, TOP_FEATURES
from fraudlake.ml.artifact import manifest

pytestmark = pytest.mark.unit
REPORT = "/v1/model/report"
VARIANTS = ["a_rule", "b_xgb_tabular", "b_plus_xgb_aggregates", "c_xgb_graph"]


def republished(files: dict[str, bytes], suffix: str, evaluation: dict[str, Any] | None) -> dict[str, bytes]:
    """The same model as another version, with `evaluation` as its evaluation.json (None: without one)."""
    body = json.loads(files["manifest.json"])
    out = {name: data for name, data in files.items() if name not in {"manifest.json", "evaluation.json"}}
    if evaluation is not None:
        out["evaluation.json"] = json.dumps(evaluation).encode()
    out["manifest.json"] = manifest(f"{body['version']}-{suffix}", out, body["headline"])
    return out


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[[dict[str, bytes]], TestClient]]:
    """A started app serving the given version; apps are stopped at the end of the module."""
    clients: list[TestClient] = []

    def start(files: dict[str, bytes]) -> TestClient:
        app: FastAPI = create_app(api_settings(), registry_with(files))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        wait_for_model(app)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def report(client: TestClient) -> dict[str, Any]:
    response = client.get(REPORT, headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_report_names_the_served_version_and_why_the_gate_chose_it(
    report: dict[str, Any], model_files: dict[str, bytes]
) -> None:
    metrics = json.loads(model_files["metrics.json"])
    served = report["served"]
    assert served["version"] == json.loads(model_files["manifest.json"])["version"]
    assert served["model"] == metrics["served_model"]
    assert served["label"] in {"(b)", "(b+)", "(c)"}
    assert served["reason"] == metrics["gate"]["reason"]
    assert served["servable"] is True
    assert served["validation_fraud_cards"] == metrics["gate"]["validation_fraud_cards"]
    assert report["evaluation_schema"] == 1
    assert report["notes"] == []
    assert report["request_id"]
    period = report["test_period"]
    assert (period["rows"], period["frauds"]) == (
        metrics["periods"]["test"]["rows"],
        metrics["periods"]["test"]["frauds"],
    )


def test_each_variant_has_its_test_metrics_intervals_and_gate_verdict(
    report: dict[str, Any], model_files: dict[str, bytes]
) -> None:
    metrics = json.loads(model_files["metrics.json"])
    intervals = metrics["test_auc_pr_ci95_by_card_bootstrap"]
    variants = {v["key"]: v for v in report["variants"]}
    assert list(variants) == VARIANTS
    assert [v["key"] for v in report["variants"] if v["served"]] == [metrics["served_model"]]
    for key, variant in variants.items():
        values = {m["name"]: m for m in variant["metrics"]}
        assert set(values) == {"auc_pr", "roc_auc", "recall_at_p90", "recall_at_p95"}
        assert values["auc_pr"]["value"] == pytest.approx(metrics["test"][key]["auc_pr"])
        assert values["auc_pr"]["ci95"] == pytest.approx(intervals[key])
        assert values["roc_auc"]["ci95"] is None  # training bootstraps AUC-PR only
    assert variants["a_rule"]["gate"] is None  # the rule is a baseline, not a gate candidate
    assert variants["a_rule"]["auc_pr_difference_ci95"] is None
    assert variants["b_xgb_tabular"]["compared_with"] == "a_rule"
    assert variants["c_xgb_graph"]["auc_pr_difference_ci95"] == pytest.approx(
        intervals["c_xgb_graph-b_xgb_tabular"]
    )
    for key in VARIANTS[1:]:
        verdict = metrics["gate"]["candidates"][key]
        assert variants[key]["gate"]["note"] == verdict["note"]
        assert variants[key]["gate"]["validation_auc_pr"] == pytest.approx(verdict["auc_pr"])
    assert variants["b_xgb_tabular"]["gate"]["difference_ci95"] is None


def test_pr_curves_are_downsampled_and_in_recall_order(report: dict[str, Any]) -> None:
    curves = {c["variant"]: c for c in report["pr_curves"]}
    assert list(curves) == VARIANTS
    for curve in curves.values():
        assert 2 <= len(curve["recall"]) == len(curve["precision"]) <= 200
        assert curve["recall"] == sorted(curve["recall"])
        assert curve["recall"][-1] == 1.0
        assert all(0 <= p <= 1 for p in curve["precision"])


def test_feature_importance_comes_from_the_served_booster(
    report: dict[str, Any], model_files: dict[str, bytes]
) -> None:
    importance = report["feature_importance"]
    names = {f["name"] for f in json.loads(model_files["feature_spec.json"])["features"]}
    assert 5 <= len(importance) <= TOP_FEATURES
    gains = [f["total_gain"] for f in importance]
    assert gains == sorted(gains, reverse=True)
    assert gains[0] > 0
    assert {f["feature"] for f in importance} <= names
    assert all(f["description"] and f["group"] for f in importance)
    assert 0 < sum(f["share"] for f in importance) <= 1 + 1e-9


def test_thresholds_and_the_decision_table_agree_with_the_served_thresholds(
    client: TestClient, report: dict[str, Any], model_files: dict[str, bytes]
) -> None:
    served = client.get("/v1/model", headers=AUTH).json()["thresholds"]
    bands = {t["band"]: t for t in report["thresholds"]}
    assert bands["review"]["value"] == pytest.approx(served["review"])
    assert bands["review"]["basis"] == served["review_basis"]
    assert bands["review"]["target_precision"] == 0.30
    table = report["decision_table"]
    thresholds = [row["threshold"] for row in table]
    assert thresholds == sorted(thresholds)
    assert len(table) > 10  # the grid, not just the two bands
    frauds = report["test_period"]["frauds"]
    for row in table:
        assert row["caught"] + row["missed"] == frauds
        assert row["caught"] + row["false_alarms"] == row["flagged"]
    flagged = [row["flagged"] for row in table]
    assert flagged == sorted(flagged, reverse=True)  # a higher threshold flags no more
    review = next(row for row in table if "review" in row["bands"])
    assert review["threshold"] == pytest.approx(served["review"])
    # The row at the review threshold is what metrics.json's test decisions say review + decline did.
    decided = json.loads(model_files["metrics.json"])["test_decisions"]
    assert review["flagged"] == decided["review"]["rows"] + decided["decline"]["rows"]
    assert review["caught"] == decided["review"]["frauds"] + decided["decline"]["frauds"]


def test_an_older_version_without_evaluation_json_reports_nulls_with_a_note(
    serve: Callable[[dict[str, bytes]], TestClient], model_files: dict[str, bytes], report: dict[str, Any]
) -> None:
    response = serve(republished(model_files, "old", None)).get(REPORT, headers=AUTH)
    assert response.status_code == 200, response.text
    old = response.json()
    assert old["served"]["version"].endswith("-old")
    assert old["pr_curves"] is None
    assert old["evaluation_schema"] is None
    assert old["notes"] == [NO_EVALUATION]
    # What metrics.json carries is still there: metrics, gate, importance, thresholds …
    assert old["variants"] == report["variants"]
    assert old["feature_importance"] == report["feature_importance"]
    assert old["served"]["reason"] == report["served"]["reason"]
    # … and the decision table at the review/decline thresholds, the same rows the grid has there.
    banded = [row for row in report["decision_table"] if row["bands"]]
    assert old["decision_table"] == banded


def test_an_evaluation_json_of_an_unknown_schema_is_left_out_with_a_note(
    serve: Callable[[dict[str, bytes]], TestClient], model_files: dict[str, bytes]
) -> None:
    evaluation = json.loads(model_files["evaluation.json"]) | {"schema_version": 99}
    body = serve(republished(model_files, "future", evaluation)).get(REPORT, headers=AUTH).json()
    assert body["pr_curves"] is None
    assert "schema_version 99" in body["notes"][0]
    assert all(row["bands"] for row in body["decision_table"])


def test_the_report_needs_a_key_and_a_loaded_model(
    client: TestClient, make_app: Callable[..., FastAPI]
) -> None:
    missing = client.get(REPORT)
    assert (missing.status_code, missing.json()["error"]) == (401, "unauthorized")
    assert client.get(REPORT, headers={"X-API-Key": "wrong-key-but-long-enough"}).status_code == 401
    with TestClient(make_app()) as empty:
        response = empty.get(REPORT, headers=AUTH)
    assert (response.status_code, response.json()["error"]) == (503, "model_not_ready")


def test_the_report_is_documented_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"][REPORT]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ModelReport"
    }
    assert {"401", "503"} <= set(operation["responses"])
    assert {"ApiKey": []} in operation["security"]

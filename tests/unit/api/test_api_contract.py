"""Contract of every endpoint: shapes, status codes, auth, validation messages, limits, metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_kit import API_KEY, AUTH, OTHER_KEY
from fastapi.testclient import TestClient

from fraudlake.api.models import MAX_BATCH

pytestmark = pytest.mark.unit
PROTECTED = [
    ("POST", "/v1/score"),
    ("POST", "/v1/score/batch"),
    ("GET", "/v1/model"),
    ("GET", "/v1/model/report"),
]


# -- health, readiness, metrics: no key needed ------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_and_metrics_answer_without_a_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_readyz_reports_the_loaded_version(client: TestClient, model_files: dict[str, bytes]) -> None:
    body = client.get("/readyz").json()
    assert body["ready"] is True
    assert body["model_version"] == json.loads(model_files["manifest.json"])["version"]


# -- auth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_missing_key_is_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "X-API-Key" in response.json()["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "wrong-key-but-long-enough"},
        {"Authorization": "Bearer wrong-key-but-long-enough"},
        {"X-API-Key": API_KEY[:-1]},
        {"Authorization": f"Basic {API_KEY}"},
    ],
)
def test_a_wrong_key_is_401(client: TestClient, method: str, path: str, headers: dict[str, str]) -> None:
    assert client.request(method, path, json={}, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": API_KEY}, {"X-API-Key": OTHER_KEY}, {"Authorization": f"Bearer {API_KEY}"}]
)
def test_every_configured_key_works_in_either_header(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/v1/model", headers=headers).status_code == 200


def test_openapi_declares_both_auth_schemes_on_protected_routes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert doc["paths"]["/v1/score"]["post"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in doc["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("path", "model"), [("/v1/score", "TransactionIn"), ("/v1/score/batch", "BatchRequest")]
)
def test_openapi_documents_the_scoring_bodies(client: TestClient, path: str, model: str) -> None:
    """The scoring routes read their bodies themselves (JsonBody); the document still describes them."""
    doc = client.get("/openapi.json").json()
    body = doc["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert "amount" in doc["components"]["schemas"]["TransactionIn"]["properties"]


def test_openapi_shows_examples_of_a_transaction(client: TestClient) -> None:
    media = client.get("/openapi.json").json()["paths"]["/v1/score"]["post"]["requestBody"]["content"]
    assert set(media["application/json"]["examples"]) == {"online", "in_store"}


# -- POST /v1/score ---------------------------------------------------------------------------------


def test_score_returns_score_decision_reasons_rules_version_and_request_id(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    response = client.post("/v1/score", json=transactions[0], headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "txn_id",
        "score",
        "decision",
        "reasons",
        "rules_fired",
        "model_version",
        "request_id",
    }
    assert body["txn_id"] == transactions[0]["txn_id"]
    assert 0.0 <= body["score"] <= 1.0
    assert body["decision"] in ("approve", "review", "decline")
    assert body["request_id"] == response.headers["x-request-id"]
    assert 1 <= len(body["reasons"]) <= 5
    magnitudes = [abs(r["contribution"]) for r in body["reasons"]]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert all(r["description"] and " " in r["description"] for r in body["reasons"])  # words, not codes


def test_decision_follows_the_model_thresholds(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    thresholds = client.get("/v1/model", headers=AUTH).json()["thresholds"]
    review = thresholds["review"] if thresholds["review"] is not None else float("inf")
    decline = thresholds["decline"] if thresholds["decline"] is not None else float("inf")
    batch = client.post("/v1/score/batch", json={"transactions": transactions[1:400]}, headers=AUTH).json()
    for result in batch["results"]:
        expected = (
            "decline" if result["score"] >= decline else "review" if result["score"] >= review else "approve"
        )
        assert result["decision"] == expected
    assert batch["decisions"]["review"] + batch["decisions"]["decline"] > 0  # the test data has fraud


def test_a_client_request_id_is_echoed_and_a_malformed_one_replaced(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    mine = client.post("/v1/score", json=transactions[400], headers=AUTH | {"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123" == mine.json()["request_id"]
    bad = client.post("/v1/score", json=transactions[401], headers=AUTH | {"X-Request-ID": "x" * 300})
    assert bad.headers["x-request-id"] != "x" * 300
    assert len(bad.headers["x-request-id"]) == 32


def test_a_missing_txn_id_is_assigned(client: TestClient, transactions: list[dict[str, Any]]) -> None:
    body = {k: v for k, v in transactions[402].items() if k != "txn_id"}
    txn_id = client.post("/v1/score", json=body, headers=AUTH).json()["txn_id"]
    assert len(txn_id) == 32
    assert int(txn_id, 16) >= 0


def test_the_whole_platform_record_is_accepted(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    record = transactions[403] | {
        "card_token": "tok_" + "0" * 32,
        "user": 7,
        "card": 1,
        "year": 2018,
        "month": 3,
        "day": 4,
        "time": "12:30",
        "merchant_name": -4282466774399734331,
        "merchant_city": "ONLINE",
        "zip": None,
        "is_fraud": True,
    }
    assert client.post("/v1/score", json=record, headers=AUTH).status_code == 200


# -- 422: the message names the field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "twelve"}, "amount"),
        ({"amount": 1e12}, "amount"),
        ({"mcc": 123456}, "mcc"),
        ({"use_chip": "Tap"}, "use_chip"),
        ({"event_ts": "yesterday"}, "event_ts"),
        ({"event_ts": "1969-07-20T20:17:00Z"}, "event_ts"),
        ({"card_id": "a b"}, "card_id"),
        ({"card_id": None}, "card_id"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_422_names_the_bad_field(
    client: TestClient, transactions: list[dict[str, Any]], change: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/score", json=transactions[404] | change, headers=AUTH)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert [f["field"] for f in body["fields"]] == [field]
    assert body["message"].startswith(f"invalid request: {field}: ")


def test_422_for_a_missing_field_and_for_broken_json(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    missing = {k: v for k, v in transactions[405].items() if k != "merchant_id"}
    body = client.post("/v1/score", json=missing, headers=AUTH).json()
    assert body["fields"] == [{"field": "merchant_id", "message": "Field required"}]
    broken = client.post(
        "/v1/score", content=b'{"amount": ', headers=AUTH | {"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["error"] == "validation_error"


@pytest.mark.parametrize("content", [b"\xff\xfe{}", b"", b"[]"])  # not UTF-8, empty, not an object
def test_422_for_a_body_that_is_not_a_json_object(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/score", content=content, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["body"]


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_422_for_a_body_not_sent_as_json(
    client: TestClient, transactions: list[dict[str, Any]], content_type: str | None
) -> None:
    headers = AUTH | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/v1/score", content=json.dumps(transactions[405]).encode(), headers=headers)
    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"field": "body", "message": "the body must be JSON, sent as Content-Type: application/json"}
    ]


def test_the_single_score_reads_json_types_as_the_contract_does(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    """The route validates the JSON text itself: 5411.0 is an integer, "5411" is not."""
    assert client.post("/v1/score", json=transactions[406] | {"mcc": 5411.0}, headers=AUTH).status_code == 200
    quoted = client.post("/v1/score", json=transactions[407] | {"mcc": "5411"}, headers=AUTH)
    assert [f["field"] for f in quoted.json()["fields"]] == ["mcc"]


def test_422_in_a_batch_names_the_item(client: TestClient, transactions: list[dict[str, Any]]) -> None:
    items = [transactions[406], transactions[407] | {"amount": None}]
    body = client.post("/v1/score/batch", json={"transactions": items}, headers=AUTH).json()
    assert body["fields"][0]["field"] == "transactions[1].amount"


# -- POST /v1/score/batch ---------------------------------------------------------------------------


def test_batch_scores_in_order_with_reasons_for_flagged_only(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    items = transactions[500:700]
    response = client.post("/v1/score/batch", json={"transactions": items}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert [r["txn_id"] for r in body["results"]] == [t["txn_id"] for t in items]
    assert sum(body["decisions"].values()) == len(items)
    for result in body["results"]:
        assert bool(result["reasons"]) == (result["decision"] != "approve")


@pytest.mark.parametrize(("policy", "all_have_reasons"), [("all", True), ("none", False)])
def test_batch_reason_policy(
    client: TestClient, transactions: list[dict[str, Any]], policy: str, all_have_reasons: bool
) -> None:
    body = client.post(
        "/v1/score/batch", json={"transactions": transactions[700:710], "reasons": policy}, headers=AUTH
    ).json()
    assert all(bool(r["reasons"]) == all_have_reasons for r in body["results"])


def test_batch_size_limit_is_documented_and_enforced(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["BatchRequest"]
    assert schema["properties"]["transactions"]["maxItems"] == MAX_BATCH
    too_many = [transactions[0]] * (MAX_BATCH + 1)
    response = client.post("/v1/score/batch", json={"transactions": too_many}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "transactions"
    assert str(MAX_BATCH) in response.json()["fields"][0]["message"]
    empty = client.post("/v1/score/batch", json={"transactions": []}, headers=AUTH)
    assert empty.status_code == 422


# -- body size limit --------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(make_app, model_files) -> None:
    from api_kit import registry_with

    app = make_app(registry_with(model_files), max_body_bytes=4096)
    with TestClient(app) as small:
        declared = small.post("/v1/score", content=b"{" + b" " * 5000 + b"}", headers=AUTH)
        assert declared.status_code == 413
        assert declared.json()["error"] == "payload_too_large"

        def chunks():
            for _ in range(10):
                yield b" " * 1000

        streamed = small.post(
            "/v1/score", content=chunks(), headers=AUTH | {"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413


# -- GET /v1/model ----------------------------------------------------------------------------------


def test_model_info(client: TestClient, model_files: dict[str, bytes]) -> None:
    body = client.get("/v1/model", headers=AUTH).json()
    manifest = json.loads(model_files["manifest.json"])
    assert body["version"] == manifest["version"]
    assert body["features"] == len(json.loads(model_files["feature_spec.json"])["features"])
    assert body["trained_on"]["rows"] == 20_000
    assert body["trained_on"]["start"] < body["trained_on"]["end"]
    assert set(body["periods"]) == {"gnn", "fit", "valid", "test"}
    served = body["served_model"]
    assert served == manifest["headline"]["served_model"]
    assert body["gate_reason"]
    assert body["metrics"][served]["auc_pr"] == pytest.approx(manifest["headline"]["test_auc_pr"])
    assert set(body["thresholds"]) == {"review", "decline", "review_basis", "review_capacity"}
    # Training always sets a review band: by a precision target, or as a capacity queue.
    assert body["thresholds"]["review"] is not None
    assert body["thresholds"]["review_basis"] in {"precision", "capacity"}


# -- metrics ----------------------------------------------------------------------------------------


def test_metrics_expose_latency_decisions_and_model_version(
    client: TestClient, transactions: list[dict[str, Any]], model_files: dict[str, bytes]
) -> None:
    client.post("/v1/score", json=transactions[800], headers=AUTH)
    text = client.get("/metrics").text
    assert (
        'fraudlake_api_request_duration_seconds_bucket{le="0.001",method="POST",route="/v1/score",status="200"}'
        in text
    )
    assert 'fraudlake_api_scores_total{decision="' in text
    version = json.loads(model_files["manifest.json"])["version"]
    assert f'fraudlake_api_model_info{{version="{version}"}} 1.0' in text


def test_unknown_routes_get_the_common_error_body(client: TestClient) -> None:
    response = client.get("/v1/nothing", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["request_id"]

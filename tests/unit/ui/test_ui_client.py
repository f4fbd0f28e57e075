"""The UI's HTTP client against a mock transport: auth header, answers read with the API's own models,
errors by kind."""

from __future__ import annotations

import httpx
import pytest

from fraudlake.api.errors import ApiError as ApiServerError
from fraudlake.api.errors import KubernetesUnreachableError, PipelinesUnavailableError
from fraudlake.api.models import PipelineList
from fraudlake.api.pipelines import pipeline_view
from fraudlake.ui.client import (
    ApiError,
    ApiUnreachableError,
    EndpointMissingError,
    FraudlakeClient,
    UnexpectedAnswerError,
)

pytestmark = pytest.mark.unit

SCORE_BODY = {
    "txn_id": "t1",
    "score": 0.4,
    "decision": "review",
    "reasons": [{"feature": "f", "description": "d", "value": None, "contribution": 0.2}],
    "rules_fired": [{"rule": "r", "type": "Velocity", "message": "m"}],
    "request_id": "req",
    "model_version": "v1",
}


def _client(handler) -> FraudlakeClient:
    return FraudlakeClient("http://api", "k" * 20, transport=httpx.MockTransport(handler))


def test_score_sends_the_key_and_parses_the_result() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SCORE_BODY)

    result = _client(handler).score({"amount": 1})
    assert seen[0].headers["X-API-Key"] == "k" * 20
    assert seen[0].url.path == "/v1/score"
    assert result.decision == "review"
    assert result.reasons[0].value is None
    assert result.rules_fired[0].type == "Velocity"


def test_error_body_becomes_api_error_with_fields() -> None:
    body = {
        "error": "validation_error",
        "message": "invalid request: zip: bad",
        "request_id": "r",
        "fields": [{"field": "zip", "message": "bad"}],
    }
    client = _client(lambda _: httpx.Response(422, json=body))
    with pytest.raises(ApiError) as caught:
        client.score({})
    assert caught.value.status == 422
    assert caught.value.fields[0].field == "zip"


def test_route_404_means_the_feature_is_missing_but_resource_404_does_not() -> None:
    route_missing = {"error": "not_found", "message": "Not Found", "request_id": "r"}
    with pytest.raises(EndpointMissingError):
        _client(lambda _: httpx.Response(404, json=route_missing)).sql("SELECT 1")
    alert_missing = {"error": "not_found", "message": "no alert abc", "request_id": "r"}
    with pytest.raises(ApiError, match="no alert abc"):
        _client(lambda _: httpx.Response(404, json=alert_missing)).draft_notification("abc")


def test_connection_refused_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(ApiUnreachableError, match="cannot reach the API at http://api"):
        _client(refuse).model()


def test_chat_answers_carry_their_citations() -> None:
    body = {
        "request_id": "r",
        "session_id": "s",
        "answer": "a",
        "offline": True,
        "provider": "offline",
        "citations": {
            "documents": [{"id": "card:1", "kind": "card", "excerpt": "card 1"}],
            "sql": [{"sql": "SELECT 1", "columns": ["x"], "rows": [[1]], "row_count": 1, "truncated": False}],
            "scores": [],
        },
        "notes": [],
    }
    answer = _client(lambda _: httpx.Response(200, json=body)).chat("q")
    assert answer.citations.documents[0].id == "card:1"
    assert (answer.citations.sql[0].columns, answer.citations.sql[0].rows) == (["x"], [[1]])


def test_fields_a_newer_api_adds_are_ignored() -> None:
    body = SCORE_BODY | {"explanation_url": "https://…"}
    body["reasons"] = [body["reasons"][0] | {"direction": "up"}]
    assert _client(lambda _: httpx.Response(200, json=body)).score({}).reasons[0].feature == "f"


def test_model_thresholds_are_read_as_the_api_s_model() -> None:
    body = {"version": "v1", "loaded_at": "2026-01-01T00:00:00Z", "source": "memory",
            "thresholds": {"review": 0.4, "decline": None}, "trained_on": {}, "periods": {}, "metrics": {},
            "features": 48}  # fmt: skip
    model = _client(lambda _: httpx.Response(200, json=body)).model()
    assert (model.version, model.thresholds.review, model.thresholds.decline) == ("v1", 0.4, None)


def test_an_answer_the_models_cannot_read_is_unexpected_not_a_crash() -> None:
    missing_score = {k: v for k, v in SCORE_BODY.items() if k != "score"}
    with pytest.raises(
        UnexpectedAnswerError, match=r"/v1/score is not a ScoreResponse \(score: Field required"
    ):
        _client(lambda _: httpx.Response(200, json=missing_score)).score({})
    with pytest.raises(UnexpectedAnswerError, match="is http://api a Fraudlake scoring API"):
        _client(lambda _: httpx.Response(200, text="<html>login</html>")).sql("SELECT 1")


def test_an_error_page_not_in_the_api_s_shape_is_an_error_by_its_status() -> None:
    page = httpx.Response(502, text="<html>Bad Gateway</html>")
    with pytest.raises(ApiError) as caught:
        _client(lambda _: page).score({})
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        502,
        "http_error",
        "Bad Gateway",
    )


def test_serve_command_runs_the_app_headless_with_the_theme() -> None:
    from fraudlake.ui.cli import APP_PATH, streamlit_command

    argv = streamlit_command(8600, "127.0.0.1")
    # Streamlit's own command line, behind the launcher that starts /metrics first.
    assert argv[1:5] == ["-m", "fraudlake.ui.server", "run", str(APP_PATH)]
    assert APP_PATH.is_file()
    assert "--server.port=8600" in argv
    assert "--server.headless=true" in argv
    assert any(arg.startswith("--theme.primaryColor=") for arg in argv)


def test_pipelines_parse_what_the_api_returns() -> None:
    # The body is built by the API's own models from a FraudPipeline object, so both sides agree.
    meta = {"namespace": "fraud", "name": "atm", "generation": 3, "creationTimestamp": "2026-11-30T09:12:44Z"}
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": "TablesMissing",
        "message": "1 missing",
        "lastTransitionTime": "2026-12-01T10:02:13Z",
    }
    status = {"observedGeneration": 2, "topicsReady": "4/4", "tablesReady": "12/13", "conditions": [ready]}
    obj = {"metadata": meta, "status": status}
    body = PipelineList(request_id="r", namespace=None, items=[pipeline_view(obj)]).model_dump(mode="json")
    (atm,) = _client(lambda _: httpx.Response(200, json=body)).pipelines()
    assert (atm.namespace, atm.name, atm.ready, atm.reason) == ("fraud", "atm", False, "TablesMissing")
    assert (atm.topics_ready, atm.tables_ready, atm.generation, atm.observed_generation) == (
        "4/4",
        "12/13",
        3,
        2,
    )
    assert atm.up_to_date is False
    assert atm.created == "2026-11-30T09:12:44Z"
    assert atm.conditions[0].last_transition_time == "2026-12-01T10:02:13Z"
    assert atm.conditions[0].message == "1 missing"


def test_pipelines_not_configured_is_a_missing_feature_but_kubernetes_trouble_is_an_error() -> None:
    def body(error: type[ApiServerError]) -> dict[str, str]:
        return {"error": error.code, "message": "m", "request_id": "r"}

    with pytest.raises(EndpointMissingError):
        _client(lambda _: httpx.Response(503, json=body(PipelinesUnavailableError))).pipelines()
    with pytest.raises(ApiError) as caught:
        _client(lambda _: httpx.Response(503, json=body(KubernetesUnreachableError))).pipelines()
    assert caught.value.code == "kubernetes_unreachable"

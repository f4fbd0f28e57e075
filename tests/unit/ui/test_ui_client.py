"""The UI's HTTP client against a mock transport: auth header, parsing, errors by kind."""

from __future__ import annotations

import httpx
import pytest

from fraudlake.api.errors import ApiError as ApiServerError
from fraudlake.api.errors import KubernetesUnreachableError, PipelinesUnavailableError
from fraudlake.api.models import PipelineList
from fraudlake.api.pipelines import pipeline_view
from fraudlake.ui.client import ApiError, ApiUnreachableError, EndpointMissingError, FraudlakeClient

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


def test_chat_citations_nested_or_flat() -> None:
    body = {
        "session_id": "s",
        "answer": "a",
        "offline": True,
        "citations": {
            "documents": [{"id": "card:1"}],
            "sql": [{"sql": "SELECT 1", "columns": ["x"], "rows": [[1]]}],
        },
    }
    answer = _client(lambda _: httpx.Response(200, json=body)).chat("q")
    assert answer.documents[0].id == "card:1"
    assert answer.sql[0].records() == [{"x": 1}]


def test_serve_command_runs_the_app_headless_with_the_theme() -> None:
    from fraudlake.ui.cli import APP_PATH, streamlit_command

    argv = streamlit_command(8600, "127.0.0.1")
    assert argv[1:5] == ["-m", "streamlit", "run", str(APP_PATH)]
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
    assert atm.conditions[0].last_transition == "2026-12-01T10:02:13Z"
    assert atm.conditions[0].message == "1 missing"


def test_pipelines_not_configured_is_a_missing_feature_but_kubernetes_trouble_is_an_error() -> None:
    def body(error: type[ApiServerError]) -> dict[str, str]:
        return {"error": error.code, "message": "m", "request_id": "r"}

    with pytest.raises(EndpointMissingError):
        _client(lambda _: httpx.Response(503, json=body(PipelinesUnavailableError))).pipelines()
    with pytest.raises(ApiError) as caught:
        _client(lambda _: httpx.Response(503, json=body(KubernetesUnreachableError))).pipelines()
    assert caught.value.code == "kubernetes_unreachable"

"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis over in-process ASGI):
schema-valid and schema-invalid inputs, with and without credentials, never produce a 5xx, and every
response matches its declared status codes, content types and schemas.

(Hypothesis drives the cases directly: schemathesis' pytest loader `from_fixture` does not run under
pytest 9.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from api_kit import AUTH, api_settings, registry_with
from hypothesis import HealthCheck, assume, given, settings
from schemathesis.generation.modes import GenerationMode

from fraudlake.api.main import create_app

pytestmark = pytest.mark.unit


# The scoring service's resources. The agent's routes need ClickHouse and an LLM behind them (503
# without); their own tests fuzz them with those in place.
FUZZED_TAGS = {"health", "score", "model"}


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes input) of the scoring service's operations (read at collection time)."""
    document = create_app(api_settings(), registry_with()).openapi()
    return [(method.upper(), path, bool(op.get("parameters") or op.get("requestBody")))
            for path, item in document["paths"].items() for method, op in item.items()
            if FUZZED_TAGS & set(op.get("tags", []))]  # fmt: skip


OPERATIONS = _operations()
# The agent's routes answer 503 without ClickHouse; they are fuzzed against chDB and ChromaDB in
# tests/integration/test_agent.py.
AGENT_PATHS = {"/v1/agent/chat", "/v1/sql", "/v1/alerts/{alert_id}/notification"}
# Schema-invalid inputs exist only where there are inputs (bodies, path or query parameters).
CASES = [(m, p, GenerationMode.POSITIVE) for m, p, _ in OPERATIONS if p not in AGENT_PATHS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p, has_input in OPERATIONS if has_input and p not in AGENT_PATHS
]


def _beyond_int64(value: object) -> bool:
    """An integer outside int64 anywhere in `value`. The generator checks bounds in floating point,
    where 2**63 equals the int64 maximum, and then sends 2**63 as an integer: a "schema-valid" case
    that is not (tests/unit/api/test_api_json_integers.py pins the bounds themselves)."""
    if isinstance(value, dict):
        return any(_beyond_int64(v) for v in value.values())
    if isinstance(value, list):
        return any(_beyond_int64(v) for v in value)
    return isinstance(value, int) and not -(2**63) <= value < 2**63


@pytest.fixture(scope="module")
def api_schema(model_files: dict[str, bytes]) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(api_settings(), registry_with(model_files))
    # schemathesis runs the app's lifespan itself, which waits for the model before serving.
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.services.stop()


def test_every_scoring_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    documented = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    fuzzed = {(m, p) for m, p, _ in OPERATIONS}
    assert fuzzed <= documented
    assert fuzzed >= {("POST", "/v1/score"), ("POST", "/v1/score/batch"), ("GET", "/v1/model"),
                      ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}  # fmt: skip


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors_and_responses_match_the_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    # Batches of up to 1,000 generated transactions are slow to generate: fewer, larger examples.
    examples = 8 if path.endswith("/batch") else 50

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def authenticated(case: schemathesis.Case) -> None:
        assume(mode is not GenerationMode.POSITIVE or not _beyond_int64(case.body))
        case.call_and_validate(headers=AUTH)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def anonymous(case: schemathesis.Case) -> None:
        case.call_and_validate()

    authenticated()
    anonymous()

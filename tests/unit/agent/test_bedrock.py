"""Bedrock request/response handling with botocore's Stubber: real Converse and InvokeModel shapes.

Stubber validates every stubbed response against the service model and every request against the
operation's input shape, so these turns are exactly what Bedrock would see and send; only the
network is missing (DESIGN §10: Bedrock is the one component mocked, and only here).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from case_kit import case_detail

from fraudlake.agent.case_summary import CASE_SUMMARY_PROMPT, summarise_case
from fraudlake.agent.chat import FraudAnalystAgent
from fraudlake.agent.embeddings import TitanEmbedder
from fraudlake.agent.llm import bedrock_converse_llm
from fraudlake.agent.notification import ANALYST_PROMPT, draft_notification
from fraudlake.agent.settings import AgentSettings
from fraudlake.agent.sql_guard import ReadOnlySqlRunner, SqlResult
from fraudlake.agent.tools import AnalystTools

pytestmark = pytest.mark.unit

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
DB = "fp_unit"


class CannedSqlRunner(ReadOnlySqlRunner):
    """The real guard in front of canned rows: ClickHouse is not what these tests are about."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__("chdb:///unused", DB)
        self.rows = rows
        self.executed: list[str] = []

    def execute_unchecked(self, sql: str, limit: int | None = None) -> SqlResult:
        self.executed.append(sql)
        columns = list(self.rows[0]) if self.rows else []
        return SqlResult(sql, columns, [[row[c] for c in columns] for row in self.rows], False)


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber, list[dict[str, Any]]]]:
    """A bedrock-runtime client with a Stubber and the Converse requests it received."""
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="AKIDTEST", aws_secret_access_key="test"
    )
    requests: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse",
        lambda params, **_: requests.append(json.loads(json.dumps(params))),
    )
    with Stubber(client) as stubber:
        yield client, stubber, requests
        stubber.assert_no_pending_responses()


def converse_response(*content: dict[str, Any], stop: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": list(content)}},
        "stopReason": stop,
        "usage": {"inputTokens": 812, "outputTokens": 64, "totalTokens": 876},
        "metrics": {"latencyMs": 740},
    }


def agent_with(client: Any, runner: CannedSqlRunner, retries: int = 3) -> FraudAnalystAgent:
    settings = AgentSettings(bedrock_model_id=MODEL, bedrock_max_retries=retries)
    llm = bedrock_converse_llm(settings, client=client)
    return FraudAnalystAgent(lambda: AnalystTools(runner), llm, provider=f"bedrock:{MODEL}")


def test_plain_answer(bedrock: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, requests = bedrock
    stubber.add_response("converse", converse_response({"text": "Hello, I can help with fraud questions."}))
    answer = agent_with(client, CannedSqlRunner([])).chat("hi there", session_id="s-1")

    assert answer.answer == "Hello, I can help with fraud questions."
    assert not answer.offline
    assert answer.provider == f"bedrock:{MODEL}"
    assert answer.citations.sql == []
    assert answer.citations.documents == []
    (request,) = requests
    assert request["modelId"] == MODEL
    assert DB in request["system"][0]["text"]
    assert {tool["toolSpec"]["name"] for tool in request["toolConfig"]["tools"]} == {
        "search_cases",
        "run_sql",
        "score_transaction",
    }
    assert request["messages"][-1] == {"role": "user", "content": [{"text": "hi there"}]}


def test_tool_use_round_trip_runs_the_guarded_sql_and_cites_it(
    bedrock: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    client, stubber, requests = bedrock
    tool_use = {
        "toolUseId": "tooluse_q1",
        "name": "run_sql",
        "input": {"sql": "SELECT count() AS n FROM alerts FINAL"},
    }
    stubber.add_response(
        "converse", converse_response({"text": "Let me count them."}, {"toolUse": tool_use}, stop="tool_use")
    )
    stubber.add_response("converse", converse_response({"text": "There are 42 alerts [SQL]."}))
    runner = CannedSqlRunner([{"n": 42}])

    answer = agent_with(client, runner).chat("How many alerts are there?")

    assert answer.answer == "There are 42 alerts [SQL]."
    assert runner.executed == [f"SELECT count() AS n FROM {DB}.alerts FINAL LIMIT 200"]
    assert [c.sql for c in answer.citations.sql] == runner.executed
    first, second = requests
    assert first["messages"] == [{"role": "user", "content": [{"text": "How many alerts are there?"}]}]
    assistant_turn, tool_result_turn = second["messages"][-2:]
    assert assistant_turn["role"] == "assistant"
    assert {"toolUse": tool_use} in assistant_turn["content"]
    assert tool_result_turn["role"] == "user"
    result = tool_result_turn["content"][0]["toolResult"]
    assert result["toolUseId"] == "tooluse_q1"
    assert json.loads(result["content"][0]["text"])["rows"] == [{"n": 42}]


def test_refused_sql_goes_back_to_the_model_as_text(
    bedrock: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    client, stubber, requests = bedrock
    tool_use = {"toolUseId": "tooluse_bad", "name": "run_sql", "input": {"sql": "DROP TABLE alerts"}}
    stubber.add_response("converse", converse_response({"toolUse": tool_use}, stop="tool_use"))
    stubber.add_response("converse", converse_response({"text": "I can only read data."}))
    runner = CannedSqlRunner([])

    answer = agent_with(client, runner).chat("Delete the alerts table")

    assert runner.executed == []
    assert answer.answer == "I can only read data."
    result = requests[1]["messages"][-1]["content"][0]["toolResult"]
    assert result["content"][0]["text"].startswith("Query refused: only SELECT queries are allowed")


def test_throttling_is_retried(bedrock: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, requests = bedrock
    stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests",
        http_status_code=429,
    )
    stubber.add_response("converse", converse_response({"text": "Answered after a retry."}))

    answer = agent_with(client, CannedSqlRunner([])).chat("hi")

    assert answer.answer == "Answered after a retry."
    assert not answer.offline
    assert len(requests) == 2


def test_throttling_past_the_retries_falls_back_to_the_offline_answer(
    bedrock: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    client, stubber, _ = bedrock
    for _ in range(2):
        stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)

    answer = agent_with(client, CannedSqlRunner([{"status": "open", "alerts": 3}]), retries=2).chat(
        "SELECT status, count() AS alerts FROM alerts FINAL GROUP BY status"
    )

    assert answer.offline
    assert answer.provider == "offline"
    assert "ThrottlingException" in answer.notes[0]
    assert answer.answer.startswith("[offline answer")
    assert "open | 3" in answer.answer


def test_notification_drafted_by_the_llm(bedrock: tuple[Any, Stubber, list[dict[str, Any]]]) -> None:
    client, stubber, requests = bedrock
    letter = (
        "Subject: Please confirm a purchase on your card ending in 4242\n\nDear Ana Diaz,\n\nWe noticed …"
    )
    stubber.add_response("converse", converse_response({"text": letter}))
    facts = {
        "alert_id": "al_1", "txn_id": "t1", "card_id": "7-0", "user_id": "7", "merchant_id": "123456789",
        "event_ts": "2019-03-14T18:52:00", "score": 0.97, "severity": "high", "status": "open",
        "amount": 812.4, "merchant_city": "ONLINE", "merchant_state": None, "use_chip": "Online Transaction",
        "card_brand": "Visa", "card_last4": "4242", "person": "Ana Diaz",
    }  # fmt: skip
    settings = AgentSettings(bedrock_model_id=MODEL)
    tools = AnalystTools(CannedSqlRunner([facts]))

    note = draft_notification(
        tools, "al_1", bedrock_converse_llm(settings, client=client), f"bedrock:{MODEL}"
    )

    assert not note.offline
    assert note.subject == "Please confirm a purchase on your card ending in 4242"
    assert note.body.startswith("Dear Ana Diaz")
    (request,) = requests
    assert request["system"][0]["text"] == ANALYST_PROMPT
    user_text = request["messages"][0]["content"][0]["text"]
    assert "Amount: $812.40" in user_text
    assert "your Visa card ending in 4242" in user_text
    assert "toolConfig" not in request


def test_case_summary_written_by_the_llm_from_the_case_s_facts_only(
    bedrock: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    client, stubber, requests = bedrock
    written = (
        "What happened: three transactions on card 7-0 were flagged on 7 April …\n\n"
        "Suggested next step: call the cardholder."
    )
    stubber.add_response("converse", converse_response({"text": written}))
    llm = bedrock_converse_llm(AgentSettings(bedrock_model_id=MODEL), client=client)

    brief = summarise_case(case_detail(), llm, f"bedrock:{MODEL}")

    assert (brief.text, brief.offline, brief.notes) == (written, False, [])
    assert brief.provider == f"bedrock:{MODEL}"
    (request,) = requests
    assert request["system"][0]["text"] == CASE_SUMMARY_PROMPT
    assert "toolConfig" not in request
    user_text = request["messages"][0]["content"][0]["text"]
    assert user_text == "Case facts:\n" + "\n".join(brief.facts)
    assert "Flagged amounts: $1,800.00, $600.00, $45.50 (total $2,445.50, largest $1,800.00)" in user_text
    assert "Rules fired: burst: 4 transactions totalling $2,445.50 in 10 minutes" in user_text


def test_a_bedrock_failure_falls_back_to_the_case_template_and_says_so(
    bedrock: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    client, stubber, _ = bedrock
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
    )
    llm = bedrock_converse_llm(AgentSettings(bedrock_model_id=MODEL), client=client)

    brief = summarise_case(case_detail(), llm, f"bedrock:{MODEL}")

    assert (brief.offline, brief.provider) == (True, "offline")
    assert brief.text == summarise_case(case_detail()).text  # the offline template, word for word
    (note,) = brief.notes
    assert note.startswith("The language model was unavailable (")
    assert note.endswith("this is the offline template.")


def test_titan_embeddings_request_and_response() -> None:
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="AKIDTEST", aws_secret_access_key="test"
    )
    payload = json.dumps({"embedding": [0.6, 0.8], "inputTextTokenCount": 5}).encode()
    with Stubber(client) as stubber:
        stubber.add_response(
            "invoke_model",
            {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"},
            expected_params={
                "modelId": "amazon.titan-embed-text-v2:0",
                "body": json.dumps({"inputText": "card testing burst", "dimensions": 256, "normalize": True}),
                "contentType": "application/json",
                "accept": "application/json",
            },
        )
        vectors = TitanEmbedder(client, dimensions=256).embed(["card testing burst"])
        stubber.assert_no_pending_responses()
    assert vectors == [[0.6, 0.8]]


def test_score_tool_reads_the_row_with_guarded_sql_and_cites_the_score() -> None:
    row = {"txn_id": "ab12", "event_ts": "2019-03-14T18:52:00", "amount": 812.4, "card_id": "7-0"}
    seen: list[dict[str, Any]] = []

    def scorer(txn: Any) -> dict[str, Any]:
        seen.append(dict(txn))
        return {"score": 0.91, "decision": "decline", "model_version": "v7", "reasons": []}

    runner = CannedSqlRunner([row])
    tools = AnalystTools(runner, scorer=scorer)

    scored = tools.score_transaction("ab12")

    assert scored["decision"] == "decline"
    assert seen == [row]
    assert runner.executed[0].endswith(f"FROM {DB}.transactions FINAL WHERE txn_id = 'ab12' LIMIT 1")
    assert [(s.txn_id, s.score, s.model_version) for s in tools.citations.scores] == [("ab12", 0.91, "v7")]
    with pytest.raises(ValueError, match="txn_id"):
        tools.score_transaction("x' OR 1=1 --")

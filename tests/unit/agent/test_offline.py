"""The offline answerer's routing and Markdown answers, the agent's session memory, and provider selection."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt  # rich's Markdown parser: CommonMark, as the UI's st.markdown renders

from fraudlake.agent.chat import SessionStore
from fraudlake.agent.offline import OFFLINE_LABEL, OfflineAnswerer, period_days, route
from fraudlake.agent.search import Hit, entity_ids
from fraudlake.agent.sql_guard import SqlResult
from fraudlake.agent.tools import AnalystTools

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("question", "expected_route", "days"),
    [
        ("Which merchants are linked to the most fraud this week?", "top_merchants", 7),
        ("top risky stores in the last 3 days", "top_merchants", 3),
        ("Which cards had the most fraud last month?", "top_cards", 30),
        ("How many frauds today?", "summary", 1),
        ("fraud rate overall", "summary", None),
        ("Are there fraud rings?", "rings", None),
        ("Which columns does the alerts table have?", "schema", None),
        ("SELECT count() FROM alerts", "sql", None),
        ("DROP TABLE alerts", "sql", None),
        ("show tables", "sql", None),
        ("show me the case al_dadd0c61e62f8917", "alert", None),
        ("Score transaction dadd0c61e62f8917dddfc65567a1e333", "score", None),
        ("tell me about card 1006-1", "card", None),
        ("what happened at merchant -1042445572079130824?", "merchant", None),
        ("what do you know about account takeover", "search", None),
    ],
)
def test_route(question: str, expected_route: str, days: int | None) -> None:
    intent = route(question)
    assert intent.route == expected_route
    assert intent.days == days


def test_period_parsing() -> None:
    assert period_days("in the past 2 weeks") == 14
    assert period_days("anything") is None


def test_entity_ids_skip_dates_and_all_digit_hex() -> None:
    text = "card 1006-1 on 2019-03-17 at merchant 3225995777372337999, case al_dadd0c61e62f8917"
    assert entity_ids(text) == ["1006-1", "3225995777372337999", "al_dadd0c61e62f8917"]


def test_sessions_keep_recent_turns_and_drop_old_sessions() -> None:
    store = SessionStore(turns=2, max_sessions=2)
    for i in range(3):
        store.append("a", f"q{i}", f"a{i}")
    store.append("b", "qb", "ab")
    assert store.history("a") == [("q1", "a1"), ("q2", "a2")]
    store.append("c", "qc", "ac")  # evicts b, the least recently used
    assert store.history("b") == []
    assert store.history("c") == [("qc", "ac")]


AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def test_aws_credentials_are_detected_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fraudlake.agent.llm import aws_credentials_configured

    for name in AWS_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    started = time.monotonic()
    assert not aws_credentials_configured()  # without asking the instance metadata service
    assert time.monotonic() - started < 5
    assert not aws_credentials_configured("no-such-profile")

    token = tmp_path / "token"
    token.write_text("eyJ.irsa.token")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/fraudlake-api")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    assert aws_credentials_configured()  # IRSA in EKS: resolved lazily, no network here


# --- the answers' Markdown ------------------------------------------------------------------------------

MERCHANTS = ["-1042445572079130824", "3225995777372337999", "5817218446178736267", "42", "-7"]


class FakeSql:
    """Answers the offline answerer's queries from fixed tables; any other query fails the test."""

    database = "fraudlake"

    def run(self, sql: str) -> SqlResult:
        if "AS latest" in sql:
            return _result(sql, {"latest": "2019-10-31T23:58:00", "earliest": "2019-01-01T00:03:00"})
        if "any(merchant_city)" in sql:  # top merchants, ranked as the SQL's ORDER BY would
            return _result(
                sql,
                *(
                    {"merchant_id": merchant, "merchant_city": "Austin", "merchant_state": "TX", "mcc": 5411,
                     "fraud_txns": 10 - i, "fraud_cards": 3, "fraud_amount": 120.5 * (10 - i), "txns": 400}
                    for i, merchant in enumerate(MERCHANTS)
                ),
            )  # fmt: skip
        if "HAVING fraud_cards >= 2" in sql:  # rings
            return _result(
                sql, *({"merchant_id": m, "fraud_cards": 4, "fraud_txns": 9} for m in MERCHANTS[:2])
            )
        raise AssertionError(f"unexpected query: {sql}")


class FakeSearch:
    def search(self, query: str, k: int, kinds: list[str] | None) -> list[Hit]:
        return [
            Hit(f"alert:al_{i}", "alert", f"Alert {i}: card test at a shared merchant", 0.1) for i in range(2)
        ]

    def get(self, doc_ids: Sequence[str]) -> list[Hit]:
        return [Hit(doc_id, "merchant", f"{doc_id} profile", 0.0) for doc_id in doc_ids[:2]]


def _result(sql: str, *rows: dict[str, Any]) -> SqlResult:
    columns = list(rows[0])
    return SqlResult(sql, columns, [[row[c] for c in columns] for row in rows], truncated=False)


def top_level_blocks(markdown: str) -> list[tuple[str, list[str]]]:
    """(block type, texts) of each top-level block as CommonMark parses it: a paragraph's text, a list's
    item texts (a line that continues an item shows up inside that item's text)."""
    blocks: list[tuple[str, list[str]]] = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.level == 0 and token.type in ("paragraph_open", "ordered_list_open", "bullet_list_open"):
            blocks.append((token.type.removesuffix("_open"), []))
        elif token.type == "inline":
            blocks[-1][1].append(token.content)
    return blocks


def answer(question: str) -> str:
    return OfflineAnswerer(AnalystTools(FakeSql(), FakeSearch())).answer(question)  # type: ignore[arg-type]


def test_top_merchants_render_as_a_numbered_list_then_the_ranking_as_its_own_paragraph() -> None:
    blocks = top_level_blocks(answer("Which merchants are linked to the most fraud this week?"))

    assert [kind for kind, _ in blocks] == ["paragraph", "paragraph", "ordered_list", "paragraph"]
    assert blocks[0][1] == [OFFLINE_LABEL]
    assert blocks[1][1][0].startswith(
        "Merchants linked to the most fraud in the 7 days up to 2019-10-31 23:58"
    )
    items = blocks[2][1]
    assert [item.split()[1].rstrip(":") for item in items] == MERCHANTS
    assert all("\n" not in item and "Ranked" not in item for item in items), items[-1]
    assert items[0].endswith("(2.50% of its 400 transactions) [merchant:-1042445572079130824]")
    assert blocks[3][1] == [
        "Ranked by fraudulent transactions, then distinct cards, then fraud amount [SQL]."
    ]


def test_rings_list_then_the_documents_as_their_own_paragraph_and_list() -> None:
    blocks = top_level_blocks(answer("Are there fraud rings?"))

    assert [kind for kind, _ in blocks] == [
        "paragraph",
        "paragraph",
        "bullet_list",
        "paragraph",
        "bullet_list",
    ]
    assert blocks[2][1] == [f"Merchant {m}: 4 cards, 9 frauds" for m in MERCHANTS[:2]]
    assert blocks[3][1] == ["Most relevant indexed documents:"]
    assert [item.split()[0] for item in blocks[4][1]] == ["[alert:al_0]", "[alert:al_1]"]

"""The offline answerer's routing, and the agent's session memory."""

from __future__ import annotations

import pytest

from fraudlake.agent.agent import SessionStore
from fraudlake.agent.offline import period_days, route
from fraudlake.agent.search import entity_ids

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

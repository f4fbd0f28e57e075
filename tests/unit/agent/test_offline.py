"""The offline answerer's routing, the agent's session memory, and provider selection."""

from __future__ import annotations

import time
from pathlib import Path

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

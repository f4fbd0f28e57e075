"""The pure rules of a case, and that the API's contract mirrors them."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fraudlake.api import models
from fraudlake.cases import logic


def test_case_id_is_the_card_and_its_utc_day() -> None:
    late = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    # 01:30 on March 2nd in UTC+2 is 23:30 on March 1st in UTC: the same case.
    east = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert logic.case_id("1-2", late) == logic.case_id("1-2", east) == "case-20260301-1-2"
    assert logic.case_id("1-2", late + timedelta(seconds=1)) == "case-20260302-1-2"
    key = logic.parse_case_id("case-20260301-1-2")
    assert (key.card_id, key.window_start, key.window_end - key.window_start) == (
        "1-2", datetime(2026, 3, 1, tzinfo=UTC), logic.WINDOW,
    )  # fmt: skip


@pytest.mark.parametrize("bad", ["case-2026031-1", "case-20261301-1", "20260301-1", "case-20260301-", "x"])
def test_bad_case_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a case id"):
        logic.parse_case_id(bad)


def test_priority_grows_with_score_and_amount_and_is_bounded() -> None:
    assert logic.priority(0, 0) == 0
    assert logic.priority(1, 10_000) == 100
    assert logic.priority(1, 10**9) == 100  # the amount saturates
    assert logic.priority(0.9, 100) > logic.priority(0.8, 100)
    assert logic.priority(0.5, 5000) > logic.priority(0.5, 50)
    assert logic.priority(0.99, 0) > logic.priority(0.3, 10**6)  # the score dominates
    assert logic.priority(-1, -5) == 0
    assert logic.priority(2, 0) == 70


def test_transitions() -> None:
    assert logic.next_status("open", "escalate") == "escalated"
    assert logic.next_status("escalated", "confirm_fraud") == "confirmed_fraud"
    assert logic.next_status("open", "not_fraud") == "not_fraud"
    with pytest.raises(logic.TransitionError, match="allowed: confirm_fraud, not_fraud"):
        logic.next_status("escalated", "escalate")
    for closed in ("confirmed_fraud", "not_fraud"):
        for action in logic.ACTIONS:
            with pytest.raises(logic.TransitionError, match="closed"):
                logic.next_status(closed, action)


def test_labels_from_dispositions() -> None:
    assert [logic.label_for(a) for a in logic.ACTIONS] == [1, 0, None]


def test_api_contract_mirrors_the_rules() -> None:
    assert typing.get_args(models.CaseStatus) == logic.STATUSES
    assert typing.get_args(models.CaseActionName) == logic.ACTIONS
    assert models.CASE_ID == logic.CASE_ID

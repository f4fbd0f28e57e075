"""The agent's wording: plurals, amounts, places, lists and model reasons in words."""

from __future__ import annotations

from datetime import datetime

import pytest

from fraudlake.agent.wording import MAX_LISTED, count, listing, merchant_place, money, reason_text, timestamp

pytestmark = pytest.mark.unit


def test_count_and_money() -> None:
    assert count(1, "card") == "1 card"
    assert count(3, "card") == "3 cards"
    assert money(1234.5) == "$1,234.50"
    assert money(-3) == "-$3.00"


def test_places_and_listings() -> None:
    assert merchant_place("ONLINE", None, 5311) == " (online, MCC 5311)"
    assert merchant_place(None, None, 0) == ""
    assert listing([]) == "none"
    assert listing(range(MAX_LISTED + 1)).endswith(f"{MAX_LISTED - 1} and others")


def test_reasons_and_timestamps() -> None:
    assert reason_text('{"amount": 1.5}') == "amount (+1.50)"
    assert reason_text(None) == ""
    assert timestamp(datetime(2019, 3, 5, 14, 6)) == "2019-03-05 14:06 UTC"

"""The queue's threshold arithmetic (fraudlake.cases.queue): the bounds keep every case that is no
candidate below the estimate, and an answer is accepted only when it ranks strictly above them."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from fraudlake.cases import logic, queue

AT = datetime(2026, 3, 30, 21, 53, 5, 250_000)


def _f32(x: float) -> float:
    return float(np.float32(x))


@pytest.mark.parametrize("amount", [0.0, 4.0, 99.5, 1800.0, 10_000.0, 1e7])
def test_score_ceiling_keeps_the_priority_and_is_tight(amount: float) -> None:
    for priority in range(101):
        sigma = queue.score_ceiling(priority, amount)
        # Every score up to σ with any amount up to the largest known stays at or below the priority.
        for a in (0.0, amount / 3, amount):
            assert logic.priority(_f32(min(sigma, 1.0)), a) <= priority or sigma < 0
        if 0 <= sigma + 1e-5 <= 1:  # and a score a little higher would pass it
            assert logic.priority(sigma + 1e-5, amount) == priority + 1


def test_estimate_is_the_kth_distinct_case() -> None:
    day = datetime(2026, 3, 30)
    rows = [
        (day, "1-0", 70, AT, 0.0),
        (day, "1-0", 69, AT, 0.0),  # the same case again: counted once
        (day, "2-0", 70, AT - timedelta(hours=1), 0.0),
        (day, "3-0", 64, AT - timedelta(hours=2), 12.0),
    ]
    assert queue.estimate(rows, 2) == queue.Estimate(70, AT - timedelta(hours=1), 0.0)
    assert queue.estimate(rows, 3) == queue.Estimate(64, AT - timedelta(hours=2), 12.0)
    assert queue.estimate(rows, 4) is None


def test_bounds_below_and_at_the_estimate() -> None:
    below, at = queue.bounds(queue.Estimate(70, AT, 0.0))
    assert (below.last, logic.priority(_f32(below.score), 0.0)) == (None, 69)
    assert at.last == AT - timedelta(milliseconds=1)  # an alert at AT itself stays a candidate
    assert logic.priority(1.0, 0.0) == 70  # no score can pass 70 without an amount:
    assert at.score > 1


def _row(priority: int, last: datetime, ceiling: int) -> tuple[object, ...]:
    return ("case", "1-0", AT, "open", priority, 1, 0.5, 0.0, AT, last, [], ceiling)


def test_an_answer_stands_only_above_every_non_candidate() -> None:
    wanted = queue.QueueFilter(limit=2)
    no_last = queue.Bound(0.5, 0.0, None)
    with_last = queue.Bound(1.5, 0.0, AT)
    assert queue.proven([_row(80, AT, 69), _row(70, AT, 69)], wanted, no_last)
    assert not queue.proven([_row(80, AT, 69), _row(69, AT, 69)], wanted, no_last)  # a tie may outrank
    later = AT + timedelta(milliseconds=1)
    assert queue.proven([_row(80, AT, 70), _row(70, later, 70)], wanted, with_last)
    assert not queue.proven([_row(80, AT, 70), _row(70, AT, 70)], wanted, with_last)
    assert not queue.proven([_row(80, AT, 70)], wanted, with_last)  # short: others may qualify
    assert queue.proven([_row(80, AT, 59)], queue.QueueFilter(limit=2, min_priority=60), no_last)
    assert not queue.proven([], wanted, no_last)

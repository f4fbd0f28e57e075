"""The online state's per-entity history: window totals from running sums equal a plain recount, for
in-order, late and tied transactions, before and after old entries are dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudlake.ml.online import AmountHistory

pytestmark = pytest.mark.unit

# (ms after the previous transaction, possibly negative: a late one; cents, refunds included)
arrivals = st.lists(st.tuples(st.integers(-50, 100), st.integers(-5_000, 100_000)), max_size=120)


def recount(kept: list[tuple[int, int]], horizon: int) -> tuple[int, int, int]:
    amounts = [c for t, c in kept if t > horizon]
    return len(amounts), sum(amounts), sum(c * c for c in amounts)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.integers(0, 300), st.integers(1, 200))
def test_windows_equal_a_recount(steps: list[tuple[int, int]], reach: int, span: int) -> None:
    history, kept, clock = AmountHistory(), [], 1_000
    for gap, cents in steps:
        clock += gap
        history.add(clock, cents)
        kept.append((clock, cents))
        history.forget_until(clock - reach)
        oldest = clock - reach
        kept = [(t, c) for t, c in kept if t > oldest]  # what a history within reach holds
        for horizon in (max(clock - span, oldest), oldest, clock):
            assert history.since(horizon) == recount(kept, horizon)


def test_a_late_transaction_takes_its_place_in_time() -> None:
    history = AmountHistory()
    for t, cents in [(100, 1), (200, 10), (300, 100)]:
        history.add(t, cents)
    history.add(150, 1000)  # late
    assert history.times == [100, 150, 200, 300]
    assert history.since(120) == (3, 1110, 1000**2 + 10**2 + 100**2)
    assert history.since(160) == (2, 110, 10**2 + 100**2)


def test_dropped_entries_are_cut_in_bulk_and_totals_survive_the_cut() -> None:
    history = AmountHistory()
    for t in range(100):
        history.add(t, t)
        history.forget_until(t - 10)
    assert len(history.times) < 40  # the lists are cut, not grown forever
    assert history.since(89) == (10, sum(range(90, 100)), sum(c * c for c in range(90, 100)))

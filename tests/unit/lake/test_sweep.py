"""The sweep's listing window: from the watermark minus the overlap, never past the lookback, the
run's own interval always included; where the watermark goes; the bounds from the Variable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fraudlake.lake.layout import parse_object
from fraudlake.lake.runtime import LakePipeline, listing_of_xcom, listing_xcom
from fraudlake.lake.sweep import Listing, SweepBounds, plan_window

pytestmark = pytest.mark.unit

T = "fraudlake.ns.demo.transactions"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=15)
LISTED = END + timedelta(minutes=2)
BOUNDS = SweepBounds(lookback=timedelta(days=3), overlap=timedelta(hours=1))


def test_first_run_sweeps_the_lookback() -> None:
    window = plan_window(T, START, END, None, BOUNDS, LISTED)
    assert (window.start, window.end) == (END - timedelta(days=3), END)
    assert window.frontier == END  # listed after the interval's end
    assert window.abandoned_from is None


def test_a_watermark_starts_the_sweep_one_overlap_before_it() -> None:
    watermark = START - timedelta(hours=5)  # the runs of the last five hours never happened
    window = plan_window(T, START, END, watermark, BOUNDS, LISTED)
    assert window.start == watermark - timedelta(hours=1)
    assert window.frontier == END


def test_the_interval_is_always_listed_whole() -> None:
    # An up-to-date watermark: the overlap reaches before the interval, the interval is all there.
    assert plan_window(T, START, END, END, BOUNDS, LISTED).start == START - timedelta(minutes=45)
    # A backfill of a month-old window: listed whole, the watermark stays where it was.
    old = START - timedelta(days=30)
    window = plan_window(T, old, old + timedelta(hours=1), END, BOUNDS, LISTED)
    assert (window.start, window.end, window.frontier) == (old, old + timedelta(hours=1), END)
    assert window.abandoned_from is None


def test_the_lookback_bounds_an_old_watermark_and_says_so() -> None:
    watermark = END - timedelta(days=10)  # an object has failed for ten days
    window = plan_window(T, START, END, watermark, BOUNDS, LISTED)
    assert window.start == END - timedelta(days=3)
    assert window.abandoned_from == watermark
    assert window.frontier == END


def test_the_frontier_never_passes_the_listing_nor_falls_behind_the_watermark() -> None:
    early = END - timedelta(minutes=1)  # a run listing before its interval ended
    assert plan_window(T, START, END, None, BOUNDS, early).frontier == early
    later = END + timedelta(minutes=30)  # a watermark ahead of this run's interval
    assert plan_window(T, START, END, later, BOUNDS, LISTED).frontier == later


def test_bounds_come_from_the_variable_and_are_checked() -> None:
    assert SweepBounds.of_variable({}) == SweepBounds()
    bounds = SweepBounds.of_variable({"sweep_lookback_hours": 12, "sweep_overlap_minutes": 30})
    assert bounds == SweepBounds(timedelta(hours=12), timedelta(minutes=30))
    assert SweepBounds.of_variable(bounds.as_variable()) == bounds
    pipeline = LakePipeline("ns", "demo", "lake", "p", "fraud_demo", sweep=bounds)
    assert pipeline.as_variable()["sweep_lookback_hours"] == 12
    with pytest.raises(ValueError, match="overlap <= lookback"):
        SweepBounds(lookback=timedelta(hours=1), overlap=timedelta(hours=2))
    with pytest.raises(ValueError, match="lookback > 0"):
        SweepBounds(lookback=timedelta(0), overlap=timedelta(0))


def test_the_listing_survives_xcom_and_counts_what_it_swept() -> None:
    pipeline = LakePipeline("ns", "demo", "lake", "p", "fraud_demo")

    def obj(offset: int, written: datetime):
        key = f"p/raw/{T}/0000000000-{offset:020d}.parquet"
        parsed = parse_object("p", key, '"e"', 10, written)
        assert parsed is not None
        return parsed

    window = plan_window(T, START, END, START - timedelta(hours=2), BOUNDS, LISTED)
    listing = Listing([obj(0, START - timedelta(hours=2)), obj(100, START + timedelta(minutes=1))], [window])
    assert listing.swept == 1
    data = listing_xcom(listing)
    assert data["swept_objects"] == 1
    assert listing_of_xcom(pipeline, data) == listing
    legacy = listing_of_xcom(pipeline, data["objects"])  # a run listed before the sweep existed
    assert (legacy.objects, legacy.windows) == (listing.objects, [])

"""The demo's stream summary: live transactions' decisions checked against the generator's labels."""

from __future__ import annotations

import pytest

from fraudlake.local.demo.stream_stage import stream_summary


def test_frauds_flagged_count_as_caught_and_approved_or_undecided_as_missed() -> None:
    labels = {"t1": True, "t2": True, "t3": True, "t4": False, "t5": False}
    decisions = {
        "t1": ("review", 100),
        "t2": ("approve", 300),
        "t4": ("decline", 200),
        "t5": ("approve", 400),
    }
    summary = stream_summary(labels, decisions, alerted={"t1", "t4"})
    assert summary["transactions"] == 5
    assert summary["decided"] == 4
    assert summary["decisions"] == {"review": 1, "approve": 2, "decline": 1}
    assert (summary["frauds"], summary["frauds_caught"], summary["frauds_missed"]) == (3, 1, 2)
    assert summary["alerts"] == 2
    assert summary["latency_ms"]["p50"] == 250.0
    assert summary["latency_ms"]["p99"] == pytest.approx(397.0)  # linear between 300 and 400


def test_no_decisions_yet_gives_no_latency() -> None:
    summary = stream_summary({"t1": True}, {}, alerted=set())
    assert summary["decided"] == 0
    assert summary["frauds_missed"] == 1
    assert summary["latency_ms"] == {"p50": None, "p99": None}

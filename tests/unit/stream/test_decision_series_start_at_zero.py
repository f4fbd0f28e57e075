"""The API's scores and the scorer's decisions have a series per decision from the start, at 0: a series
born at its first increment starts at that value, so rate() (the UI's throughput chart, the rules) would
miss the first burst."""

from __future__ import annotations

from typing import get_args

import pytest

from fraudlake.api.metrics import ApiMetrics
from fraudlake.scoring.models import Decision
from fraudlake.stream.metrics import ScorerMetrics

pytestmark = pytest.mark.unit


def test_every_decision_series_exists_at_zero_before_any_decision() -> None:
    api, scorer = ApiMetrics(), ScorerMetrics()
    for decision in get_args(Decision):
        labels = {"decision": decision}
        assert api.registry.get_sample_value("fraudlake_api_scores_total", labels) == 0.0
        assert scorer.registry.get_sample_value("fraudlake_scorer_decisions_total", labels) == 0.0
    api.inc(api.scores, "review")
    assert api.registry.get_sample_value("fraudlake_api_scores_total", {"decision": "review"}) == 1.0

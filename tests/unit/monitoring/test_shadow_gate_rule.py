"""The shadow gate's rule on labelled shadow periods, and the registry's challenger pointer."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from model_kit import new_version, trained_model

from fraudlake.ml.artifact import ArtifactError
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.model_monitoring.promotion import GatePolicy, ShadowRows, at_capacity, judge

pytestmark = pytest.mark.unit
END = datetime(2026, 1, 1, tzinfo=UTC)


def shadow_period(
    challenger_noise: float, n: int = 4000, seed: int = 1, alerts: tuple[int, int] = (100, 110)
):
    """Labels with a champion that ranks them well and a challenger `challenger_noise` noisier."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.02
    signal = labels + rng.normal(0, 0.35, n)
    return ShadowRows(
        card_ids=np.asarray([f"c{i % 700}" for i in range(n)], dtype=object),
        amounts=rng.uniform(5, 500, n),
        labels=labels,
        champion_scores=signal,
        challenger_scores=signal + rng.normal(0, challenger_noise, n) if challenger_noise else signal * 1.0,
        champion_alerts=alerts[0],
        challenger_alerts=alerts[1],
    )


def test_a_worse_challenger_is_refused_with_the_numbers() -> None:
    verdict = judge(shadow_period(challenger_noise=1.0), "v1", "v2", GatePolicy(), END)
    assert not verdict.promote
    assert verdict.reason.startswith("worse: AUC-PR ")
    assert verdict.challenger is not None
    assert verdict.champion is not None
    assert verdict.challenger.auc_pr < verdict.champion.auc_pr
    low, high = verdict.auc_pr_difference_ci
    assert low < high < 0  # worse beyond noise on this much evidence


def test_an_equal_or_better_challenger_is_promoted() -> None:
    rows = shadow_period(challenger_noise=0.0)
    better = ShadowRows(
        **{
            **rows.__dict__,
            "champion_scores": rows.champion_scores
            + np.random.default_rng(5).normal(0, 1.0, len(rows.labels)),
        }
    )
    verdict = judge(better, "v1", "v2", GatePolicy(), END)
    assert verdict.promote, verdict.reason
    assert "at capacity catches" in verdict.reason


def test_too_few_labelled_frauds_keeps_the_challenge_open() -> None:
    rows = shadow_period(challenger_noise=0.0, n=300)
    verdict = judge(rows, "v1", "v2", GatePolicy(min_frauds=50), END)
    assert not verdict.promote
    assert verdict.champion is None
    assert verdict.reason.startswith("not enough evidence")


def test_a_challenger_flooding_the_queue_is_refused() -> None:
    rows = shadow_period(challenger_noise=0.0, alerts=(100, 400))
    verdict = judge(rows, "v1", "v2", GatePolicy(max_alert_growth=0.5), END)
    assert not verdict.promote
    assert verdict.reason.startswith("alerts 400 vs 100: more than +50%")


def test_the_queue_at_capacity_counts_caught_frauds_and_missed_amounts() -> None:
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.2])
    labels = np.array([True, False, True, False, True])
    amounts = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    assert at_capacity(scores, labels, amounts, capacity=0.4) == (1, 80.0)  # queue of 2: rows 0 and 1


def test_the_registry_s_challenger_is_set_ended_and_promoted() -> None:
    files = trained_model()[0]
    registry = ModelRegistry(MemoryStore(), "models")
    champion = registry.publish(files).version
    challenger = registry.upload(new_version(files, "challenger"))
    assert registry.challenger() is None
    with pytest.raises(ArtifactError):
        registry.set_challenger("v-missing", "retrained")
    registry.set_challenger(challenger, "weekly retrain")
    assert registry.challenger()["version"] == challenger
    registry.end_challenge("refused: worse")
    assert registry.challenger() is None
    assert registry.champion()["version"] == champion
    registry.set_challenger(challenger, "weekly retrain")
    registry.promote_challenger(challenger, "AUC-PR 0.9 vs 0.8")
    pointer = registry.champion()
    assert (pointer["version"], pointer["basis"]) == (challenger, "shadow")
    assert registry.challenger() is None
    with pytest.raises(ArtifactError, match="not the challenger"):
        registry.promote_challenger(champion, "no challenge")


def test_a_challenger_watcher_follows_the_pointer_and_drops_an_ended_challenge() -> None:
    from fraudlake.scoring.bundle import ModelWatcher

    files = trained_model()[0]
    registry = ModelRegistry(MemoryStore(), "models")
    registry.publish(files)
    challenger = registry.upload(new_version(files, "challenger"))
    watcher = ModelWatcher(lambda: registry, "memory", 60, pointer=lambda r: r.challenger(), optional=True)
    assert not watcher.check_once()
    assert watcher.current is None
    registry.set_challenger(challenger, "retrained")
    assert watcher.check_once()
    assert watcher.current is not None
    assert watcher.current.version == challenger
    registry.end_challenge("refused")
    assert watcher.check_once()
    assert watcher.current is None

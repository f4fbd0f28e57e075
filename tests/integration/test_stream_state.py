"""The stream scorer's state across replicas and models: a rule window that spans a failover still fires,
and a champion that moves mid-stream takes over between messages with nothing lost or decided twice."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from model_kit import frame_records, new_version, trained_model

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import LocalStore, ModelRegistry

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "stream"))
from stream_kit import (
    ScorerProcess,
    create_topic,
    group_assignment,
    produce,
    read_committed,
    topics_of,
    transaction_message,
    unique_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
RULE = {"name": "velocity_test", "type": "Velocity", "windowMinutes": 60, "minCount": 3}


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, bytes], pd.DataFrame]:
    return trained_model()


def _registry(root: Path) -> ModelRegistry:
    return ModelRegistry(LocalStore(root), "models")


def _burst(txns: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    """The `step`-th transaction (0, 1, 2) of a three-minute burst on each transaction's card, in 2025."""
    return [t | {"txn_id": f"{t['txn_id']}-{step}", "event_ts": f"2025-01-01T10:0{step}:00Z"} for t in txns]


def test_a_velocity_window_spanning_a_failover_still_fires(
    kafka: ServiceRecord, trained: tuple[dict[str, bytes], pd.DataFrame], tmp_path: Path
) -> None:
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("failover")
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 4)
    _registry(tmp_path / "lake").publish(trained[0])
    extra = ("--rules", json.dumps([RULE]), "--session-timeout-ms", "6000")
    one_per_card = list({t["card_id"]: t for t in frame_records(trained[1], 0, 2000)}.values())[:16]
    scorers = [
        ScorerProcess(bootstrap, pipeline, tmp_path / "lake" / "models", tmp_path, name, extra).start()
        for name in ("replica-a", "replica-b")
    ]
    group = f"fraudlake-scorer.it.{pipeline}"

    def both_assigned() -> bool:
        try:
            members = group_assignment(bootstrap, group)
        except Exception:
            return False
        return len(members) == 2 and all(members.values())

    try:
        # The topic exists before the replicas join: wait until both hold partitions.
        wait_for("two replicas sharing the partitions", both_assigned, 120, scorers)
        before = group_assignment(bootstrap, group)
        card_partition = produce(
            bootstrap, topics["transactions"], map(transaction_message, _burst(one_per_card, 0))
        )
        produce(bootstrap, topics["transactions"], map(transaction_message, _burst(one_per_card, 1)))
        read_committed(bootstrap, topics["decisions"], 2 * len(one_per_card), timeout=120)
        scorers[0].kill()
        wait_for(
            "the survivor to own every partition",
            lambda: list(group_assignment(bootstrap, group).values()) == [{0, 1, 2, 3}],
            120,
            scorers[1:],
        )
        (survivor,) = group_assignment(bootstrap, group)
        taken_over = set().union(*(parts for member, parts in before.items() if member != survivor))
        produce(bootstrap, topics["transactions"], map(transaction_message, _burst(one_per_card, 2)))
        decisions = read_committed(bootstrap, topics["decisions"], 3 * len(one_per_card), timeout=120)
    finally:
        for scorer in scorers:
            scorer.stop()
    assert taken_over, "the killed replica held no partition"
    assert any(p in taken_over for p in card_partition), "no burst card on a partition that moved"
    third = {d["txn_id"]: d for d in decisions if d["txn_id"].endswith("-2")}
    assert len(third) == len(one_per_card)
    for card, txn in zip(card_partition, one_per_card, strict=True):
        fired = [hit["rule"] for hit in third[f"{txn['txn_id']}-2"]["rules_fired"]]
        assert fired == ["velocity_test"], (card, txn["card_id"])
    assert len(decisions) == 3 * len(one_per_card)


def test_a_new_champion_takes_over_between_messages(
    kafka: ServiceRecord, trained: tuple[dict[str, bytes], pd.DataFrame], tmp_path: Path
) -> None:
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("swap")
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 2)
    registry = _registry(tmp_path / "lake")
    v1 = registry.publish(trained[0]).version
    txns = frame_records(trained[1], 0, 1500)
    scorer = ScorerProcess(
        bootstrap, pipeline, tmp_path / "lake" / "models", tmp_path, extra=("--model-poll-seconds", "0.5")
    ).start()
    try:
        produce(bootstrap, topics["transactions"], map(transaction_message, txns[:300]))
        first = read_committed(bootstrap, topics["decisions"], 300, timeout=180)
        assert {d["model_version"] for d in first} == {v1}
        v2 = registry.publish(new_version(trained[0], "v2")).version
        sent = 300

        def swapped() -> bool:
            nonlocal sent
            produce(bootstrap, topics["transactions"], map(transaction_message, txns[sent : sent + 20]))
            sent += 20
            return any(
                d["model_version"] == v2
                for d in read_committed(bootstrap, topics["decisions"], sent, 30, 0.5)
            )

        wait_for("a decision by the new champion", swapped, 120, [scorer])
        produce(bootstrap, topics["transactions"], map(transaction_message, txns[sent:]))
        decisions = read_committed(bootstrap, topics["decisions"], len(txns), timeout=180)
    finally:
        scorer.stop()
    assert len(decisions) == len(txns)
    assert Counter(d["txn_id"] for d in decisions) == Counter(t["txn_id"] for t in txns)
    versions_by_card: dict[str, list[str]] = defaultdict(list)
    for d in sorted(decisions, key=lambda d: (d["_partition"], d["_offset"])):
        versions_by_card[d["card_id"]].append(d["model_version"])
    for versions in versions_by_card.values():  # v1 then v2, never back
        assert versions == sorted(versions, key=[v1, v2].index)
    assert {d["model_version"] for d in decisions} == {v1, v2}

"""The varied worlds: collusive merchants, disguised cash-outs, and parameters drawn per world."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator

pytestmark = pytest.mark.unit

COLLUSIVE_HEAVY = {
    "compromised_merchant": 0.5,
    "fraud_ring": 0.0,
    "card_testing": 0.0,
    "account_takeover": 0.0,
    "collusive_merchant": 0.5,
}


@pytest.fixture(scope="module")
def disguised(users: pa.Table, cards: pa.Table) -> pa.Table:
    """Half the fraud at three collusive merchants, every breach's cash-out disguised."""
    fraud = replace(
        FraudConfig(), rate=0.01, mix=COLLUSIVE_HEAVY, collusive_merchants=3, poc_ordinary_share=1.0
    )
    generator = TransactionGenerator(
        GeneratorConfig(seed=5, rows=400_000, fraud=fraud), users=users, cards=cards
    )
    return pa.concat_tables(generator.chunks())


def _of(table: pa.Table, mechanism: str) -> pa.Table:
    return table.filter(pc.equal(table["fraud_mechanism"], mechanism))


def _legit_online(table: pa.Table) -> pa.Table:
    legit = table.filter(pc.invert(table["is_fraud"]))
    return legit.filter(pc.equal(legit["use_chip"], "Online Transaction"))


def test_collusive_merchants_are_charged_by_many_unrelated_cards_at_ordinary_amounts(
    disguised: pa.Table,
) -> None:
    collusive = _of(disguised, "collusive_merchant")
    assert collusive.num_rows > 500
    assert pc.count_distinct(collusive["merchant_name"]).as_py() <= 3
    cards_at: dict[int, set[str]] = defaultdict(set)
    for merchant, card in zip(
        collusive["merchant_name"].to_pylist(), collusive["card_id"].to_pylist(), strict=True
    ):
        cards_at[merchant].add(card)
    assert all(len(cards) >= 50 for cards in cards_at.values())
    # unrelated holders: victims drawn across the bank (2,000 users), not one household's cards
    assert pc.count_distinct(collusive["user"]).as_py() >= 500
    assert set(collusive["use_chip"].to_pylist()) == {"Online Transaction"}
    # a charge looks like a purchase: amounts like the legitimate online ones, no refunds
    amounts = collusive["amount"].to_numpy()
    legit = np.abs(_legit_online(disguised)["amount"].to_numpy())
    assert amounts.min() >= 1.0
    assert 0.5 < np.median(amounts) / np.median(legit) < 2.0


def test_disguised_cash_outs_are_online_at_the_holder_s_own_merchants_at_ordinary_amounts(
    disguised: pa.Table, generated
) -> None:
    def at_own_merchants(table: pa.Table) -> float:
        """Share of a breach's frauds at a merchant the same user also pays legitimately online."""
        own = set(
            zip(
                _legit_online(table)["user"].to_pylist(),
                _legit_online(table)["merchant_name"].to_pylist(),
                strict=True,
            )
        )
        poc = _of(table, "compromised_merchant")
        pairs = zip(poc["user"].to_pylist(), poc["merchant_name"].to_pylist(), strict=True)
        return float(np.mean([pair in own for pair in pairs]))

    poc = _of(disguised, "compromised_merchant")
    assert poc.num_rows > 500
    assert set(poc["use_chip"].to_pylist()) == {"Online Transaction"}
    assert at_own_merchants(disguised) > 0.8
    assert at_own_merchants(generated.table) < 0.2  # the calibrated world's cash-outs go elsewhere
    legit = np.abs(_legit_online(disguised)["amount"].to_numpy())
    assert 0.5 < np.median(poc["amount"].to_numpy()) / np.median(legit) < 2.0


def test_a_varied_world_is_drawn_from_its_seed() -> None:
    worlds = [FraudConfig.varied(seed) for seed in (1, 2, 3)]
    assert FraudConfig.varied(1) == worlds[0]
    assert len({tuple(w.mix.values()) for w in worlds}) == 3
    assert len({w.poc_ordinary_share for w in worlds}) == 3
    for world in worlds:
        assert abs(sum(world.mix.values()) - 1) < 1e-9
        assert world.mix["collusive_merchant"] > 0
        assert world.poc_ordinary_share > 0
        assert world.rate == FraudConfig().rate
    assert FraudConfig.varied(1, rate=0.002).rate == 0.002


def test_the_calibrated_world_has_no_collusive_merchants_and_no_disguise(generated) -> None:
    assert FraudConfig().mix["collusive_merchant"] == 0
    assert FraudConfig().poc_ordinary_share == 0
    assert _of(generated.table, "collusive_merchant").num_rows == 0


def test_generate_rejects_an_unknown_world(tmp_path) -> None:
    from fraudlake.cli import app

    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "x.parquet"), "--world", "wild"])
    assert result.exit_code == 2
    assert "--world must be one of calibrated, varied" in result.output
    assert not (tmp_path / "x.parquet").exists()

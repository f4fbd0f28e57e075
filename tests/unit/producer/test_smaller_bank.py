"""A smaller bank: the first N users and their cards, so a row budget spans months, not days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from fraudlake.producer.entities import first_users, tabformer_dir
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
from fraudlake.producer.population import users_for_span
from fraudlake.producer.sources import generator_source

pytestmark = pytest.mark.unit

TOKEN_KEY = b"smaller-bank-tests-token-key-012"


def test_first_users_keeps_their_cards_and_ids(users: pa.Table, cards: pa.Table) -> None:
    some_users, their_cards = first_users(users, cards, 25)
    assert some_users["user"].to_pylist() == list(range(25))
    assert set(their_cards["user"].to_pylist()) == set(range(25))
    assert their_cards.num_rows == int(np.sum(cards["user"].to_numpy() < 25))


@pytest.mark.parametrize("count", [0, 2_001])
def test_first_users_refuses_a_count_outside_the_real_users(
    users: pa.Table, cards: pa.Table, count: int
) -> None:
    with pytest.raises(ValueError, match="users must be between 1 and 2,000"):
        first_users(users, cards, count)


def test_transactions_come_only_from_the_smaller_bank(users: pa.Table, cards: pa.Table) -> None:
    generator = TransactionGenerator(GeneratorConfig(seed=3, rows=20_000, users=40), users=users, cards=cards)
    table = pa.concat_tables(generator.chunks())
    assert table.num_rows == 20_000
    assert set(table["user_id"].to_pylist()) <= set(generator.users["user_id"].to_pylist())
    assert set(table["card_id"].to_pylist()) <= set(generator.cards["card_id"].to_pylist())
    assert generator.users.num_rows == 40


def test_the_row_budget_spans_about_the_days_asked_for(users: pa.Table, cards: pa.Table) -> None:
    rows, days = 40_000, 120
    count = users_for_span(rows, days, users, cards)
    assert 10 < count < users.num_rows
    config = GeneratorConfig(seed=4, start=date(2021, 1, 1), rows=rows, users=count)
    ts = pa.concat_tables(TransactionGenerator(config, users=users, cards=cards).chunks())["event_ts"]
    span_days = (ts.to_numpy().max() - ts.to_numpy().min()) / np.timedelta64(1, "D")
    assert 0.6 * days < span_days < 1.4 * days  # all 2,000 users would spend it in ~6 days


def test_users_for_span_is_capped_by_the_real_users(users: pa.Table, cards: pa.Table) -> None:
    assert users_for_span(100_000_000, 1, users, cards) == users.num_rows
    assert users_for_span(1, 365, users, cards) == 1


def test_the_producer_sends_the_smaller_banks_users_and_cards() -> None:
    source = generator_source(GeneratorConfig(seed=3, rows=1_000, users=12), TOKEN_KEY, tabformer_dir())
    assert source.users.num_rows == 12
    assert set(source.cards["user"].to_pylist()) == set(range(12))
    assert source.fingerprint["config"]["users"] == 12  # a resumed run cannot mix two banks

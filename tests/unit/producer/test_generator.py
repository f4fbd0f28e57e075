"""Generator: determinism, chunking, format, and calibration against the real User0 stream."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fraudlake.producer.calibration import default_calibration
from fraudlake.producer.csv_reader import KaggleTransactionReader
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
from fraudlake.producer.table_builder import TRUTH_COLUMNS
from fraudlake.producer.writers import KaggleCsvWriter
from fraudlake.schemas import TRANSACTIONS, to_arrow_schema

pytestmark = pytest.mark.unit


def _small(users, cards, **config) -> pa.Table:
    generator = TransactionGenerator(GeneratorConfig(**config), users=users, cards=cards)
    return pa.concat_tables(generator.chunks())


def test_same_seed_same_rows_other_seed_other_rows(users, cards) -> None:
    first = _small(users, cards, seed=5, rows=60_000)
    assert first.equals(_small(users, cards, seed=5, rows=60_000))
    other = _small(users, cards, seed=6, rows=60_000)
    assert not set(first["txn_id"].to_pylist()) & set(other["txn_id"].to_pylist())


def test_row_limit_is_exact_and_a_prefix_of_a_longer_run(users, cards) -> None:
    short = _small(users, cards, seed=5, rows=12_345)
    assert short.num_rows == 12_345
    assert short.equals(_small(users, cards, seed=5, rows=60_000).slice(0, 12_345))


def test_end_date_bounds_the_stream(users, cards) -> None:
    table = _small(users, cards, seed=5, start=date(2016, 3, 1), end=date(2016, 3, 15))
    ts = table["event_ts"].to_numpy()
    assert ts.min() >= np.datetime64("2016-03-01")
    assert ts.max() < np.datetime64("2016-03-15")


def test_chunks_are_bounded_so_memory_stays_flat(users, cards) -> None:
    generator = TransactionGenerator(GeneratorConfig(seed=1, rows=300_000), users=users, cards=cards)
    sizes = [chunk.num_rows for chunk in generator.chunks()]
    assert sum(sizes) == 300_000
    assert max(sizes) < 60_000
    assert len(generator.fraud.pending) < 2_000  # fraud waiting for its time does not pile up


def test_rows_are_typed_unique_and_in_event_time_order(generated) -> None:
    table = generated.table
    assert table.schema.equals(
        to_arrow_schema(TRANSACTIONS).append(TRUTH_COLUMNS[0]).append(TRUTH_COLUMNS[1])
    )
    assert pc.count_distinct(table["txn_id"]).as_py() == table.num_rows
    ts = table["event_ts"].to_numpy()
    assert (np.diff(ts.astype(np.int64)) >= 0).all()
    assert set(pc.unique(table["card_id"]).to_pylist()) <= set(generated.generator.pop.card_id.to_pylist())
    assert table["card_token"].to_pylist()[0].startswith("tok_")


def test_cards_transact_only_after_their_account_opened(generated) -> None:
    pop = generated.generator.pop
    table = generated.table
    rows = pc.index_in(table["card_id"], pop.card_id).to_numpy()
    day = table["event_ts"].to_numpy().astype("datetime64[D]").astype(np.int64)
    assert (day >= pop.card_open_day[rows]).all()


def test_generated_csv_reads_back_to_the_same_rows(generated, card_directory, tmp_path: Path) -> None:
    sample = generated.table.slice(0, 200_000)
    with KaggleCsvWriter(tmp_path / "gen.csv") as writer:
        for batch in sample.to_batches(max_chunksize=70_000):
            writer.write(pa.Table.from_batches([batch]))
    reader = KaggleTransactionReader(tmp_path / "gen.csv", card_directory, block_size=1 << 20)
    back = pa.concat_tables(reader.batches())
    assert reader.report.malformed == 0
    assert back.equals(sample.select(TRANSACTIONS.names))  # same ids, tokens, values


# ---- calibration against User0 ----------------------------------------------------------------


def _hours(table: pa.Table) -> np.ndarray:
    hour = pc.cast(pc.utf8_slice_codeunits(table["time"], 0, 2), pa.int64()).to_numpy()
    return np.bincount(hour, minlength=24) / len(hour)


def _share(table: pa.Table, column: str, value: str) -> float:
    return pc.mean(pc.cast(pc.equal(table[column], value), pa.float64())).as_py()


def _distribution(values: np.ndarray) -> dict:
    keys, counts = np.unique(values, return_counts=True)
    return dict(zip(keys.tolist(), (counts / counts.sum()).tolist(), strict=True))


def _tvd(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b))


def test_time_of_day_matches_user0(generated, user0) -> None:
    assert 0.5 * np.abs(_hours(generated.table) - _hours(user0)).sum() < 0.02


def test_channel_shares_match_user0(generated, user0) -> None:
    table = generated.table
    assert (
        abs(_share(table, "use_chip", "Online Transaction") - _share(user0, "use_chip", "Online Transaction"))
        < 0.005
    )
    # Chip readers: none before User0's first chip transaction (2015), then User0's share on chip cards.
    cal = default_calibration()
    legit_store = table.filter(
        pc.and_(pc.invert(table["is_fraud"]), pc.not_equal(table["use_chip"], "Online Transaction"))
    )
    chip_cards = pc.is_in(
        legit_store["card_id"],
        generated.generator.pop.card_id.filter(pa.array(generated.generator.pop.card_has_chip)),
    )
    on_chip_cards = legit_store.filter(chip_cards)
    assert abs(_share(on_chip_cards, "use_chip", "Chip Transaction") - cal.chip_share_in_chip_era) < 0.01
    no_chip = legit_store.filter(pc.invert(chip_cards))
    assert _share(no_chip, "use_chip", "Chip Transaction") == 0


def test_merchant_category_mix_matches_user0(generated, user0) -> None:
    generated_mix = _distribution(generated.table["mcc"].to_numpy())
    assert _tvd(generated_mix, _distribution(user0["mcc"].to_numpy())) < 0.10


@pytest.mark.parametrize("mcc", [5411, 5912, 5300, 5541, 5311, 5812, 5499, 4829])
def test_amounts_per_category_match_user0(generated, user0, mcc: int) -> None:
    legit = generated.table.filter(pc.invert(generated.table["is_fraud"]))
    ours = legit.filter(pc.equal(legit["mcc"], mcc))["amount"].to_numpy()
    real = user0.filter(pc.equal(user0["mcc"], mcc))["amount"].to_numpy()
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(ours, q) - np.quantile(real, q)) <= 0.05 * abs(np.quantile(real, q)) + 1.0


def test_error_codes_match_user0(generated, user0) -> None:
    legit = generated.table.filter(pc.invert(generated.table["is_fraud"]))
    rate = lambda t: t["errors"].is_valid().to_numpy(zero_copy_only=False).mean()  # noqa: E731
    assert abs(rate(legit) - rate(user0)) < 0.003
    ours = _distribution(np.array(legit["errors"].drop_null().to_pylist()))
    real = _distribution(np.array(user0["errors"].drop_null().to_pylist()))
    assert _tvd(ours, real) < 0.05

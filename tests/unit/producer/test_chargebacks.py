"""Chargebacks of the generator's frauds: one per fraud, delayed days (never beyond the features'
label delay), the same whichever chunk a fraud comes in, in the labels table's columns; and
`fraudlake generate --chargebacks` writes them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fraudlake.ml.features import FeatureConfig
from fraudlake.producer.chargebacks import DAY_MS, LABEL_COLUMNS, ChargebackConfig, chargebacks
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator

pytestmark = pytest.mark.unit
LABELS_DDL = Path(__file__).resolve().parents[3] / "clickhouse" / "152_labels.sql"


@pytest.fixture(scope="module")
def generated(users: pa.Table, cards: pa.Table) -> pa.Table:
    config = GeneratorConfig(seed=4, rows=60_000, fraud=FraudConfig(rate=0.02))
    return pa.concat_tables(TransactionGenerator(config, users=users, cards=cards).chunks())


def test_one_chargeback_per_fraud_days_later_within_the_label_delay(generated: pa.Table) -> None:
    labels = chargebacks(generated)
    frauds = generated.filter(generated["is_fraud"])
    assert len(labels) == len(frauds) > 100
    assert labels["txn_id"].to_pylist() == frauds["txn_id"].to_pylist()
    assert labels["card_id"].to_pylist() == frauds["card_id"].to_pylist()
    assert set(labels["source"].to_pylist()) == {"chargeback"}
    assert set(labels["label"].to_pylist()) == {1}
    event = pc.cast(pc.cast(frauds["event_ts"], pa.timestamp("ms", tz="UTC")), pa.int64()).to_numpy()
    delay = pc.cast(labels["known_at"], pa.int64()).to_numpy() - event
    config = ChargebackConfig()
    # The features assume a label is known this long after its transaction: no chargeback is later.
    assert config.max_delay_days * DAY_MS == FeatureConfig().label_delay_ms
    assert delay.min() >= config.min_days * DAY_MS
    assert delay.max() <= FeatureConfig().label_delay_ms
    assert 2.5 * DAY_MS < np.median(delay) < 3.5 * DAY_MS  # realistic: days, not minutes nor months
    assert len(np.unique(delay)) > len(delay) // 2  # drawn, not one fixed delay


def test_chunking_and_seed(generated: pa.Table) -> None:
    whole = chargebacks(generated)
    halves = pa.concat_tables([chargebacks(generated.slice(0, 30_000)), chargebacks(generated.slice(30_000))])
    assert whole.equals(halves)
    other = chargebacks(generated, ChargebackConfig(seed=7))
    assert other["txn_id"].equals(whole["txn_id"])
    assert not other["known_at"].equals(whole["known_at"])


def test_rows_have_the_labels_tables_columns(generated: pa.Table) -> None:
    ddl = LABELS_DDL.read_text()
    body = ddl[ddl.index("(") + 1 : ddl.index("ENGINE")]
    columns = re.findall(r"^\s+(\w+)\s+\S", body, re.M)
    assert tuple(columns) == LABEL_COLUMNS == tuple(chargebacks(generated).column_names)


def test_generate_writes_the_chargebacks(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fraudlake.cli import app

    out, labels = tmp_path / "txns.parquet", tmp_path / "chargebacks.parquet"
    args = ["generate", "--out", str(out), "--rows", "20000", "--users", "60", "--fraud-rate", "0.02"]
    result = CliRunner().invoke(app, [*args, "--chargebacks", str(labels)])
    assert result.exit_code == 0, result.output
    txns, written = pq.read_table(out), pq.read_table(labels)
    assert written.equals(chargebacks(txns, ChargebackConfig(seed=42)))
    assert len(written) == pc.sum(txns["is_fraud"]).as_py() > 0
    bad = CliRunner().invoke(app, [*args, "--chargebacks", str(tmp_path / "c.csv")])
    assert bad.exit_code != 0

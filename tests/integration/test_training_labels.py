"""Training reads labels from the field on the real ClickHouse engine (the session's chDB): an
analyst's disposition over a chargeback over the transaction's own is_fraud, only labels known before
the window's end, the counts the model card reports; the chunked reader the same; and the
generator's chargebacks land in the labels table as they are."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from fraudlake.clickhouse import migrations
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.chunked_features import clickhouse_chunks
from fraudlake.ml.data import read_clickhouse, read_label_sources
from fraudlake.producer.chargebacks import LABEL_COLUMNS, chargebacks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
T0 = datetime(2026, 2, 2, tzinfo=UTC)
END = T0 + timedelta(days=10)
COLUMNS = ["txn_id", "event_ts", "user_id", "card_id", "merchant_id", "amount", "use_chip", "mcc", "is_fraud"]


@pytest.fixture
def database(clickhouse: ServiceRecord) -> Iterator[str]:
    ch = connect(clickhouse.endpoints["dsn"])
    name = f"labels_{uuid.uuid4().hex[:8]}"
    migrations.apply_schema(ch, migrations.render_statements(migrations.SchemaParams(name)))
    yield name
    migrations.drop_database(ch, name)


def _txn(txn_id: str, day: int, fraud: bool) -> list[Any]:
    return [txn_id, T0 + timedelta(days=day), "u1", "1-0", "m1", 12.5, "Chip", 5411, fraud]


def _label(txn_id: str, label: int, source: str, known: datetime) -> tuple[Any, ...]:
    return (txn_id, "1-0", label, source, "case-x" if source == "analyst" else "", "someone", known)


def test_labels_as_known_analysts_first(clickhouse: ServiceRecord, database: str) -> None:
    dsn = clickhouse.endpoints["dsn"]
    ch = connect(dsn)
    rows = [
        _txn("own_fraud", 0, True),  # no label from the field: its own is_fraud
        _txn("charged", 1, False),  # a chargeback makes it fraud
        _txn("cleared", 2, True),  # chargeback, then an analyst clears it: the analyst wins
        _txn("late", 3, False),  # a chargeback known only after the window: not yet known
        _txn("confirmed", 4, False),  # an analyst confirms, then changes their mind: the latest wins
    ]
    ch.insert(f"{database}.transactions", rows, column_names=COLUMNS)
    ch.insert(
        f"{database}.labels",
        [
            _label("charged", 1, "chargeback", T0 + timedelta(days=4)),
            _label("cleared", 1, "chargeback", T0 + timedelta(days=3)),
            _label("cleared", 0, "analyst", T0 + timedelta(days=2, hours=1)),
            _label("late", 1, "chargeback", END + timedelta(days=1)),
            _label("confirmed", 1, "analyst", T0 + timedelta(days=4, hours=1)),
            _label("confirmed", 0, "analyst", T0 + timedelta(days=5)),
        ],
        column_names=list(LABEL_COLUMNS),
    )

    frame = read_clickhouse(dsn, database, T0, END)
    assert dict(zip(frame["txn_id"], frame["is_fraud"], strict=True)) == {
        "own_fraud": True, "charged": True, "cleared": False, "late": False, "confirmed": False,
    }  # fmt: skip
    assert frame.attrs["label_sources"] == {"analyst": 2, "chargeback": 1, "transaction": 2}
    assert list(frame["txn_id"]) == ["own_fraud", "charged", "cleared", "late", "confirmed"]
    assert "label_source" not in frame.columns  # the model's columns only
    # The chunked path counts them in ClickHouse: the same numbers.
    assert read_label_sources(dsn, database, T0, END) == frame.attrs["label_sources"]

    # Without an end every label in the table is known; the chunked reader reads them as the frame.
    assert bool(read_clickhouse(dsn, database, T0).set_index("txn_id")["is_fraud"]["late"])
    chunks = list(clickhouse_chunks(dsn, database, T0, END, days=2))
    chunked = {t: f for c in chunks for t, f in zip(c["txn_id"], c["is_fraud"], strict=True)}
    assert chunked == dict(zip(frame["txn_id"], frame["is_fraud"], strict=True))


def test_generated_chargebacks_land_in_the_labels_table(clickhouse: ServiceRecord, database: str) -> None:
    ch = connect(clickhouse.endpoints["dsn"])
    txns = pa.table(
        {
            "txn_id": ["a", "b", "c"],
            "card_id": ["1-0", "1-0", "2-0"],
            "event_ts": pa.array([T0, T0 + timedelta(hours=1), T0], pa.timestamp("ms", tz="UTC")),
            "is_fraud": [True, False, True],
        }
    )
    labels = chargebacks(txns)
    ch.insert_arrow(f"{database}.labels", labels)
    stored = ch.query(
        f"SELECT txn_id, card_id, label, source, case_id, known_at FROM {database}.labels FINAL "
        "ORDER BY txn_id"
    ).result_rows
    assert [r[:5] for r in stored] == [("a", "1-0", 1, "chargeback", ""), ("c", "2-0", 1, "chargeback", "")]
    assert [r[5].replace(tzinfo=UTC) for r in stored] == labels["known_at"].to_pylist()

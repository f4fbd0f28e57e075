"""Training data in, as one time-sorted frame in the platform's transaction schema.

Sources: a Parquet file (the generator's or the lake's), a CSV in the platform's columns, the real
Kaggle/TabFormer CSV (decoded by the producer's reader, unchanged format), or ClickHouse through
`fraudlake.clickhouse.client.connect`. Every function below returns the same shape, so the core
training functions take a plain frame and never need ClickHouse to be tested.

From ClickHouse, a transaction's label is the one known from the field when there is one (the
`labels` table: an analyst's disposition first, else a chargeback; labels known before the end of
the window, so a rerun sees the same labels), else the transaction's own `is_fraud`. The features
use it under the label-delay rule as any label (`FeatureConfig.label_delay_ms`). The frame's
`attrs["label_sources"]` counts the transactions by where their label came from.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraudlake.ml.features import ENTITY_FIELDS, EVENT_MS, EVENT_TS, HISTORY_FIELDS, LABEL, TXN_ID

# What the model reads (the feature spec's fields with the id and the label); the rest is ignored.
COLUMNS = HISTORY_FIELDS
_TEXT_COLUMNS = (TXN_ID, *ENTITY_FIELDS, "use_chip")
_NULLABLE_TEXT_COLUMNS = ("merchant_state", "errors")
KAGGLE_FRAUD_HEADER = "Is Fraud?"
# The token is irrelevant to the model; a fixed key keeps training runs free of the producer's secret.
_TRAINING_TOKEN_KEY = b"fraudlake-training-no-pan-is-used"
LABEL_SOURCES = ("analyst", "chargeback")  # in order of precedence; '' below: the row's own is_fraud
LABEL_SOURCE = "label_source"


class TrainingDataError(ValueError):
    """The input cannot be used for training (missing columns, no rows, no frauds)."""


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's columns, normalized and sorted by (event_ts, txn_id); adds `event_ms` (int64).

    Nulls become '' for the text columns where the schema allows null (online merchants have no
    state, most rows have no errors), so both feature paths see one representation.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"transactions lack columns: {', '.join(missing)}")
    out = frame.loc[:, list(COLUMNS)].copy()
    ts = pd.to_datetime(out[EVENT_TS], utc=True)
    out[EVENT_MS] = ts.dt.tz_localize(None).astype("datetime64[ms]").astype(np.int64).to_numpy()
    out[EVENT_TS] = ts
    for col in _TEXT_COLUMNS:
        out[col] = out[col].astype(str)
    for col in _NULLABLE_TEXT_COLUMNS:
        out[col] = out[col].astype(object).where(out[col].notna(), "").astype(str)
    out["amount"] = out["amount"].astype(np.float64)
    out["mcc"] = out["mcc"].astype(np.int64)
    out[LABEL] = out[LABEL].astype(bool)
    return out.sort_values([EVENT_MS, TXN_ID], kind="stable", ignore_index=True)


def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The prepared frame as the numpy columns the feature code consumes. The event time is UTC
    `datetime64[ns]`: a zone-aware column's `to_numpy` makes one `Timestamp` object per row, which
    was a fifth of the chunked feature stage's time, and the features read `event_ms` anyway."""
    return {
        name: frame[name].dt.tz_localize(None).to_numpy() if name == EVENT_TS else frame[name].to_numpy()
        for name in (*COLUMNS, EVENT_MS)
    }


def read_file(path: Path, max_rows: int | None = None) -> pd.DataFrame:
    """Transactions from Parquet or CSV (platform columns, or the Kaggle format unchanged)."""
    path = Path(path)
    if not path.exists():
        raise TrainingDataError(f"{path}: no such file")
    if path.suffix == ".parquet" or path.is_dir():
        table = pq.read_table(path, columns=list(COLUMNS))
    elif _is_kaggle_csv(path):
        table = _read_kaggle_csv(path)
    else:
        table = pa.Table.from_pandas(pd.read_csv(path, nrows=max_rows))
    frame = table.to_pandas()
    return prepare(frame.iloc[:max_rows] if max_rows else frame)


def read_clickhouse(
    dsn: str,
    database: str,
    start: datetime | None = None,
    end: datetime | None = None,
    max_rows: int | None = None,
) -> pd.DataFrame:
    """Transactions with event_ts in [start, end) from `<database>.transactions` (FINAL: replays merged)."""
    from fraudlake.clickhouse.client import connect

    where, params = ["1"], {}
    if start is not None:
        where.append("event_ts >= {start:DateTime64(3, 'UTC')}")
        params["start"] = start
    if end is not None:
        where.append("event_ts < {end:DateTime64(3, 'UTC')}")
        params["end"] = end
    limit = f"LIMIT {int(max_rows)}" if max_rows else ""
    client = connect(dsn)
    try:
        labelled = has_labels(client, database)
        query = transactions_sql(database, " AND ".join(where), labelled and end is not None, labelled)
        frame = client.query_arrow(f"{query} {limit}", parameters=params).to_pandas()
    finally:
        client.close()
    sources = label_sources(frame)
    out = prepare(frame)
    out.attrs["label_sources"] = sources
    return out


def read_label_sources(dsn: str, database: str, start: datetime, end: datetime) -> dict[str, int]:
    """`label_sources` of the window [start, end) as `read_clickhouse` reads it, counted in ClickHouse
    (the chunked path, which never holds the window)."""
    from fraudlake.clickhouse.client import connect

    client = connect(dsn)
    try:
        labelled = has_labels(client, database)
        window = "event_ts >= {start:DateTime64(3, 'UTC')} AND event_ts < {end:DateTime64(3, 'UTC')}"
        query = transactions_sql(database, window, labelled, labelled)
        rows = client.query(
            f"SELECT {LABEL_SOURCE}, count() FROM ({query}) GROUP BY {LABEL_SOURCE}",
            parameters={"start": start, "end": end},
        ).result_rows
    finally:
        client.close()
    by_source = {str(source): int(n) for source, n in rows}
    counts = {name: by_source.get(name, 0) for name in LABEL_SOURCES}
    return {**counts, "transaction": sum(by_source.values()) - sum(counts.values())}


def has_labels(client: Any, database: str) -> bool:
    """Whether the database has the `labels` table (clickhouse/152_labels.sql)."""
    return bool(client.command(f"EXISTS TABLE {_identifier(database)}.labels"))


def transactions_sql(database: str, where: str, labels_before_end: bool = False, labels: bool = True) -> str:
    """`COLUMNS` of `<database>.transactions` (FINAL) matching `where`, in (event_ts, txn_id) order,
    with `is_fraud` the label as known (module docstring) and `label_source` where it came from
    ('analyst', 'chargeback', '' for the row's own). `labels_before_end`: only labels known before
    the `{end:DateTime64(3, 'UTC')}` parameter; `labels` False: no labels table, every label own."""
    db = _identifier(database)
    own = [c for c in COLUMNS if c != LABEL]
    picked = ", ".join(f"t.{c} AS {c}" for c in own)
    if not labels:
        return (
            f"SELECT {picked}, t.{LABEL} AS {LABEL}, '' AS {LABEL_SOURCE} FROM {db}.transactions AS t FINAL "
            f"WHERE {where} ORDER BY event_ts, txn_id"
        )
    known = "AND known_at < {end:DateTime64(3, 'UTC')}" if labels_before_end else ""
    first = "(source = 'analyst', known_at)"  # a disposition over a chargeback, then the latest
    return f"""SELECT {picked},
    if(l.label_source != '', l.label = 1, t.own_label = 1) AS {LABEL}, l.label_source AS {LABEL_SOURCE}
FROM (SELECT *, {LABEL} AS own_label FROM {db}.transactions FINAL WHERE {where}) AS t
LEFT JOIN (
    SELECT txn_id, argMax(label, {first}) AS label, argMax(source, {first}) AS label_source
    FROM {db}.labels
    WHERE source IN ('analyst', 'chargeback') {known}
    GROUP BY txn_id
) AS l ON l.txn_id = t.txn_id
ORDER BY event_ts, txn_id"""


def label_sources(frame: pd.DataFrame) -> dict[str, int]:
    """Transactions by where their label came from: analyst, chargeback, transaction (its own)."""
    source = frame[LABEL_SOURCE] if LABEL_SOURCE in frame.columns else pd.Series("", index=frame.index)
    counts = {name: int((source == name).sum()) for name in LABEL_SOURCES}
    return {**counts, "transaction": len(frame) - sum(counts.values())}


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[:1].isalpha():
        raise TrainingDataError(f"invalid database name {name!r}")
    return name


def _is_kaggle_csv(path: Path) -> bool:
    with path.open("rb") as fh:
        return KAGGLE_FRAUD_HEADER in fh.readline().decode("utf-8", errors="replace")


def _read_kaggle_csv(path: Path) -> pa.Table:
    from fraudlake.producer.csv_reader import KaggleTransactionReader
    from fraudlake.producer.entities import CardDirectory, load_cards

    reader = KaggleTransactionReader(path, CardDirectory.from_cards(load_cards(_TRAINING_TOKEN_KEY)))
    batches = list(reader.batches())
    if not batches:
        raise TrainingDataError(f"{path}: no readable transactions ({reader.report.malformed} malformed)")
    return pa.concat_tables(batches).select(list(COLUMNS))

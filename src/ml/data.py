"""Training data in, as one time-sorted frame in the platform's transaction schema.

Sources: a Parquet file (the generator's or the lake's), a CSV in the platform's columns, the real
Kaggle/TabFormer CSV (decoded by the producer's reader, unchanged format), or ClickHouse through
`fraudlake.clickhouse.client.connect`. Every function below returns the same shape, so the core
training functions take a plain frame and never need ClickHouse to be tested.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

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
    """The prepared frame as the numpy columns the feature code consumes."""
    return {name: frame[name].to_numpy() for name in (*COLUMNS, EVENT_MS)}


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
    query = (
        f"SELECT {', '.join(COLUMNS)} FROM {_identifier(database)}.transactions FINAL "
        f"WHERE {' AND '.join(where)} ORDER BY event_ts, txn_id {limit}"
    )
    client = connect(dsn)
    try:
        frame = client.query_arrow(query, parameters=params).to_pandas()
    finally:
        client.close()
    return prepare(frame)


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

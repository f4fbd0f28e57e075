"""Training features in bounded memory: the batch path over time-ordered chunks, with carried state.

`batch_features` needs every earlier row of an entity. Most aggregates only look back a bounded
`reach` (the longest window, the user's norm window, the label delay): those need just the *tail*,
the rows within reach of the chunk. The rest (all-history counts, matured labels, the last
transaction, the last in-person state) are totals over the rows that fell out of the tail, kept per
entity in `Carry` and added on. Every row out of reach is older than the label delay, so its label
has matured for every later row: the matured totals are plain sums too.

So each chunk costs `batch_features` on tail + chunk, and memory is bounded by the data *rate* (rows
per `reach`) and the number of entities, never by the length of history. The result equals
`batch_features` on the whole frame bit for bit (tests/unit/ml/test_chunked_features.py).

Chunk sources: a Parquet file (`parquet_chunks`) and ClickHouse (`clickhouse_chunks`), both yielding
prepared frames (`fraudlake.ml.data.prepare`) in the whole frame's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudlake.ml.batch_features import EntityHistory, raw_aggregates
from fraudlake.ml.data import (
    COLUMNS,
    TrainingDataError,
    _identifier,
    columns,
    has_labels,
    prepare,
    transactions_sql,
)
from fraudlake.ml.features import (
    EVENT_MS,
    FEATURE_NAMES,
    WINDOWS_MS,
    FeatureConfig,
    assemble,
    raw_matrix,
    state_code,
    to_cents,
)


def reach_ms(config: FeatureConfig) -> int:
    """How far back any windowed aggregate looks; rows older than this are carried as totals."""
    return max(*WINDOWS_MS.values(), config.user_norm_window_ms, config.label_delay_ms)


class Codes:
    """Stable integer codes of ids across chunks (new ids get the next codes)."""

    def __init__(self) -> None:
        self.index = pd.Index([], dtype=object)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = pd.Index(np.asarray(values).astype(str))
        found = self.index.get_indexer(values)
        if (found < 0).any():
            self.index = self.index.append(values[found < 0].unique())
            found = self.index.get_indexer(values)
        return found.astype(np.int64)

    def __len__(self) -> int:
        return len(self.index)


def _grown(a: np.ndarray, n: int, fill: int) -> np.ndarray:
    return a if len(a) >= n else np.concatenate([a, np.full(n - len(a) + n // 2, fill, dtype=a.dtype)])


def _total(a: np.ndarray, codes: np.ndarray, values: np.ndarray | int) -> np.ndarray:
    np.add.at(a, codes, values)
    return a


@dataclass
class Carry:
    """Totals of the rows that fell out of reach, per entity code (arrays grow with new entities)."""

    user_all_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    user_all_cents: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    user_last_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    user_last_state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # state code, -1
    card_prior: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    card_last_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    card_known_frauds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    merchant_prior: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    merchant_frauds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pairs: dict[str, pd.Series] = field(
        default_factory=lambda: {k: pd.Series(dtype=np.int64) for k in ("merchant", "mcc", "state")}
    )

    def grow(self, users: int, cards: int, merchants: int) -> None:
        for name, n in (("user", users), ("card", cards), ("merchant", merchants)):
            for attr in [a for a in self.__dict__ if a.startswith(f"{name}_")]:
                fill = -1 if attr.endswith(("_last_ms", "_last_state")) else 0
                setattr(self, attr, _grown(getattr(self, attr), n, fill))


def _latest(codes: np.ndarray) -> np.ndarray:
    """Index of each code's last row (rows are in time order)."""
    _, first_from_end = np.unique(codes[::-1], return_index=True)
    return len(codes) - 1 - first_from_end


def _pair_keys(card: np.ndarray, other: np.ndarray) -> np.ndarray:
    return card * (1 << 31) + other


class ChunkedFeatures:
    """Feed time-ordered chunks (`features(chunk)`); get each chunk's feature rows."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        self.reach = reach_ms(config)
        self.codes = {k: Codes() for k in ("user", "card", "merchant", "state")}
        self.carry = Carry()
        self.tail: pd.DataFrame | None = None
        self.rows = 0

    def features(self, chunk: pd.DataFrame) -> np.ndarray:
        """Feature rows (chunk rows × FEATURE_NAMES, float64) of a prepared chunk that follows the
        previous ones in time order."""
        if not len(chunk):
            return np.zeros((0, len(FEATURE_NAMES)))
        first = int(chunk[EVENT_MS].iloc[0])
        if self.tail is not None and len(self.tail) and first < int(self.tail[EVENT_MS].iloc[-1]):
            raise TrainingDataError("chunks must follow each other in event time")
        self._drop_out_of_reach(first - self.reach)
        frame = chunk if self.tail is None else pd.concat([self.tail, chunk], ignore_index=True)
        cols = columns(frame)
        raw = self._with_carry(cols, raw_aggregates(cols, self.config))
        matrix = raw_matrix(raw)[len(frame) - len(chunk) :]
        ours = {k: v[len(frame) - len(chunk) :] for k, v in cols.items()}
        self.tail, self.rows = frame, self.rows + len(chunk)
        return assemble(ours, matrix, self.config)

    def _no_state(self) -> int:
        """The state code of online rows (no merchant state)."""
        return int(self.codes["state"](np.array([""]))[0])

    def _entity_codes(self, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: self.codes[k](cols[f"{k}_id"]) for k in ("user", "card", "merchant")}
        out["state"] = self.codes["state"](np.array([state_code(s) for s in cols["merchant_state"]]))
        self.carry.grow(*(len(self.codes[k]) for k in ("user", "card", "merchant")))
        return out

    def _with_carry(self, cols: dict[str, np.ndarray], raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw aggregates of tail + chunk plus the totals of the rows out of reach."""
        c, code = self.carry, self._entity_codes(cols)
        user, card, merchant = code["user"], code["card"], code["merchant"]
        raw["user_all_count"] = raw["user_all_count"] + c.user_all_count[user]
        raw["user_all_cents"] = raw["user_all_cents"] + c.user_all_cents[user]
        raw["card_prior"] = raw["card_prior"] + c.card_prior[card]
        raw["merchant_prior"] = raw["merchant_prior"] + c.merchant_prior[merchant]
        raw["merchant_known_count"] = raw["merchant_known_count"] + c.merchant_prior[merchant]
        raw["merchant_known_frauds"] = raw["merchant_known_frauds"] + c.merchant_frauds[merchant]
        raw["card_known_frauds"] = raw["card_known_frauds"] + c.card_known_frauds[card]
        for entity, codes_ in (("user", user), ("card", card)):
            last = raw[f"{entity}_last_ms"]
            raw[f"{entity}_last_ms"] = np.where(last >= 0, last, getattr(c, f"{entity}_last_ms")[codes_])
        for kind, other in (
            ("merchant", merchant),
            ("mcc", cols["mcc"].astype(np.int64)),
            ("state", code["state"]),
        ):
            carried = c.pairs[kind].reindex(_pair_keys(card, other), fill_value=0).to_numpy()
            raw[f"card_{kind}_prior"] = raw[f"card_{kind}_prior"] + carried
        # A user's first in-person row in tail + chunk compares with the carried last in-person state.
        in_person = code["state"] != self._no_state()
        earlier = EntityHistory(user, cols[EVENT_MS], self.reach).previous_where(in_person)
        carried_state = c.user_last_state[user]
        jump = in_person & (earlier < 0) & (carried_state >= 0) & (carried_state != code["state"])
        raw["user_state_jump"] = np.where(earlier < 0, jump.astype(np.int64), raw["user_state_jump"])
        return raw

    def _drop_out_of_reach(self, horizon_ms: int) -> None:
        """Move the tail's rows at or before `horizon_ms` into the carried totals."""
        if self.tail is None:
            return
        old = int(np.searchsorted(self.tail[EVENT_MS].to_numpy(), horizon_ms, side="right"))
        if old == 0:
            return
        gone, self.tail = self.tail.iloc[:old], self.tail.iloc[old:].reset_index(drop=True)
        cols = columns(gone)
        code, c = self._entity_codes(cols), self.carry
        user, card, merchant = code["user"], code["card"], code["merchant"]
        cents, fraud = to_cents(cols["amount"]), cols["is_fraud"].astype(np.int64)
        t = cols[EVENT_MS].astype(np.int64)
        _total(c.user_all_count, user, 1), _total(c.user_all_cents, user, cents)
        _total(c.card_prior, card, 1), _total(c.card_known_frauds, card, fraud)
        _total(c.merchant_prior, merchant, 1), _total(c.merchant_frauds, merchant, fraud)
        # rows are in time order: the last assignment per code is the latest row
        for codes_, last in ((user, c.user_last_ms), (card, c.card_last_ms)):
            latest = _latest(codes_)
            last[codes_[latest]] = t[latest]
        in_person = np.flatnonzero(code["state"] != self._no_state())
        latest = in_person[_latest(user[in_person])]
        c.user_last_state[user[latest]] = code["state"][latest]
        for kind, other in (
            ("merchant", merchant),
            ("mcc", cols["mcc"].astype(np.int64)),
            ("state", code["state"]),
        ):
            keys, counts = np.unique(_pair_keys(card, other), return_counts=True)
            c.pairs[kind] = c.pairs[kind].add(pd.Series(counts, index=keys), fill_value=0).astype(np.int64)


def chunked_features(chunks: Iterable[pd.DataFrame], config: FeatureConfig) -> Iterator[np.ndarray]:
    """Feature rows of each chunk in turn (float64, like `batch_features`)."""
    state = ChunkedFeatures(config)
    for chunk in chunks:
        yield state.features(chunk)


def frame_chunks(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    """A prepared frame cut into chunks of `rows` (for tests and in-memory sources)."""
    for lo in range(0, len(frame), rows):
        yield frame.iloc[lo : lo + rows].reset_index(drop=True)


def parquet_chunks(path: Path, rows: int = 500_000) -> Iterator[pd.DataFrame]:
    """Prepared chunks of a Parquet file sorted by event time (the generator's and the lake's order).

    Rows of a chunk's last millisecond wait for the next chunk, so ties are ordered by txn_id across
    chunk boundaries exactly as `prepare` orders the whole file.
    """
    import pyarrow.parquet as pq

    held: pd.DataFrame | None = None
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=list(COLUMNS)):
        chunk = prepare(batch.to_pandas() if held is None else pd.concat([held, batch.to_pandas()]))
        if held is not None and len(held) and chunk[EVENT_MS].iloc[0] < held[EVENT_MS].iloc[0]:
            raise TrainingDataError(f"{path}: not sorted by event time; sort it or train in memory")
        last = chunk[EVENT_MS].iloc[-1]
        cut = int(np.searchsorted(chunk[EVENT_MS].to_numpy(), last, side="left"))
        held = chunk.iloc[cut:]  # `prepare` keeps only COLUMNS when it sees them again
        if cut:
            yield chunk.iloc[:cut].reset_index(drop=True)
    if held is not None and len(held):
        yield prepare(held)


def clickhouse_chunks(
    dsn: str,
    database: str,
    start: datetime,
    end: datetime,
    days: float | None = None,
    chunk_rows: int = 500_000,
) -> Iterator[pd.DataFrame]:
    """Prepared chunks of `<database>.transactions` in [start, end), one query per `days` of event
    time (FINAL, ORDER BY event_ts, txn_id): ClickHouse holds the data, the trainer a window of it.
    Labels as `read_clickhouse` reads them: from the field when known before `end`, else the row's.

    Without `days`, a chunk spans the days that hold about `chunk_rows` rows at the window's average
    rate (one count query first, at least a day): each chunk's features are computed together with
    the 30-day tail before it, so chunks much shorter than the tail multiply the work (weekly chunks
    redo about five rows for each new one) and much longer ones hold more rows than needed."""
    from fraudlake.clickhouse.client import connect

    client = connect(dsn)
    try:
        labelled = has_labels(client, database)
        window = "event_ts >= {lo:DateTime64(3, 'UTC')} AND event_ts < {hi:DateTime64(3, 'UTC')}"
        if days is None:
            days = _days_per_chunk(client, database, window, start, end, chunk_rows)
        query = transactions_sql(_identifier(database), window, labelled, labelled)
        lo = start
        while lo < end:
            hi = min(lo + timedelta(days=days), end)
            parameters = {"lo": lo, "hi": hi} | ({"end": end} if labelled else {})
            frame = client.query_arrow(query, parameters=parameters).to_pandas()
            if len(frame):
                yield prepare(frame)
            lo = hi
    finally:
        client.close()


def _days_per_chunk(
    client: Any, database: str, window: str, start: datetime, end: datetime, chunk_rows: int
) -> float:
    """Days of event time that hold about `chunk_rows` rows at [start, end)'s average rate."""
    rows = client.query(
        f"SELECT count() FROM {_identifier(database)}.transactions WHERE {window}",
        parameters={"lo": start, "hi": end},
    ).result_rows[0][0]
    span_days = max((end - start).total_seconds() / 86_400, 1.0)
    return span_days if rows == 0 else max(1.0, span_days * chunk_rows / rows)

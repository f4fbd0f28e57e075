"""Deterministic transaction ids, computed column-wise.

`txn_id` = 128 bits (32 hex characters) of a splitmix64-style hash over
(user, card, event minute, position within that minute on the card, amount in cents, merchant).
The position makes repeated identical purchases in one minute distinct; it is counted in stream
order per card, so the same source read in the same order always yields the same ids — a replay
overwrites instead of duplicating (ClickHouse ReplacingMergeTree on txn_id).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_LANE_SEEDS = (np.uint64(0x8A5CD789635D2DFF), np.uint64(0x121FD2155C472F96))
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash128(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of the row-wise tuple of integer columns."""
    lanes = []
    with np.errstate(over="ignore"):
        for seed in _LANE_SEEDS:
            h = np.full(len(columns[0]), seed, dtype=np.uint64)
            for col in columns:
                h = _mix64(h ^ (np.asarray(col).astype(np.int64).view(np.uint64) + _GOLDEN))
            lanes.append(h)
    return lanes[0], lanes[1]


def hex_ids(high: np.ndarray, low: np.ndarray) -> pa.StringArray:
    """32-character lowercase hex strings of (high, low) as an Arrow string array."""
    n = len(high)
    raw = np.stack([high, low], axis=1).astype(">u8").tobytes()
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(raw.hex().encode()))


class TxnIdAssigner:
    """Assigns txn_ids batch by batch, carrying each card's minute position across batches.

    Rows of one card must arrive in time order (the Kaggle file and the generator guarantee it).
    """

    def __init__(self) -> None:
        # Per card seen so far, sorted by card key: the last minute and how many rows it had.
        self._keys = np.zeros(0, dtype=np.int64)
        self._minute = np.zeros(0, dtype=np.int64)
        self._count = np.zeros(0, dtype=np.int64)

    def assign(
        self,
        user: np.ndarray,
        card: np.ndarray,
        minute: np.ndarray,
        amount_cents: np.ndarray,
        merchant: np.ndarray,
    ) -> pa.StringArray:
        """txn_ids for a batch; `minute` is minutes since the epoch."""
        seq = self.minute_positions(user, card, minute)
        return hex_ids(*hash128([user, card, minute, seq, amount_cents, merchant]))

    def minute_positions(self, user: np.ndarray, card: np.ndarray, minute: np.ndarray) -> np.ndarray:
        """0 for a card's first row in a minute, 1 for its second, … (continuing previous batches)."""
        n = len(minute)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        card_key = (np.asarray(user, dtype=np.int64) << 20) | np.asarray(card, dtype=np.int64)
        minute = np.asarray(minute, dtype=np.int64)
        order = np.argsort(card_key, kind="stable")
        keys, mins = card_key[order], minute[order]
        index = np.arange(n)
        card_start = np.ones(n, dtype=bool)
        card_start[1:] = keys[1:] != keys[:-1]
        run_start = card_start.copy()
        run_start[1:] |= mins[1:] != mins[:-1]
        first_of_run = np.maximum.accumulate(np.where(run_start, index, 0))
        seq_sorted = index - first_of_run
        starts = np.flatnonzero(card_start)
        carry = np.zeros(n, dtype=np.int64)
        carry[starts] = self._carried(keys[starts], mins[starts])
        seq_sorted += carry[first_of_run]
        ends = np.append(starts[1:] - 1, n - 1)
        self._remember(keys[ends], mins[ends], seq_sorted[ends] + 1)
        seq = np.empty(n, dtype=np.int64)
        seq[order] = seq_sorted
        return seq

    def _carried(self, keys: np.ndarray, first_minute: np.ndarray) -> np.ndarray:
        """Rows a card already had in `first_minute` in earlier batches."""
        if not len(self._keys):
            return np.zeros(len(keys), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        same = (self._keys[pos] == keys) & (self._minute[pos] == first_minute)
        return np.where(same, self._count[pos], 0)

    def _remember(self, keys: np.ndarray, minute: np.ndarray, count: np.ndarray) -> None:
        keep = ~np.isin(self._keys, keys)
        all_keys = np.concatenate([self._keys[keep], keys])
        order = np.argsort(all_keys)
        self._keys = all_keys[order]
        self._minute = np.concatenate([self._minute[keep], minute])[order]
        self._count = np.concatenate([self._count[keep], count])[order]

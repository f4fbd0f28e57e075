"""Training path of the feature spec: raw aggregates for every row of a time-sorted frame at once.

Each per-entity aggregate is computed on the rows stably sorted by entity (which keeps time order
inside an entity), with one combined integer key `entity * SPAN + time` so a single `searchsorted`
finds every row's window start without crossing into another entity. Only rows *earlier in the
frame* of the same entity are counted, which is the history rule of `fraudlake.ml.features`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fraudlake.ml.features import (
    VELOCITY_WINDOWS,
    WINDOWS_MS,
    FeatureConfig,
    assemble,
    raw_matrix,
    state_code,
    to_cents,
)


class EntityHistory:
    """Rows of one entity type (card, user, merchant, …) grouped by entity in arrival order."""

    def __init__(self, codes: np.ndarray, event_ms: np.ndarray, reach_ms: int):
        self.order = np.argsort(codes, kind="stable")
        sorted_codes = np.asarray(codes, dtype=np.int64)[self.order]
        self.t = np.asarray(event_ms, dtype=np.int64)[self.order]
        n = len(sorted_codes)
        self.pos = np.arange(n)
        first = np.ones(n, dtype=bool)
        first[1:] = sorted_codes[1:] != sorted_codes[:-1]
        self.start = np.maximum.accumulate(np.where(first, self.pos, 0))
        t0 = int(self.t.min()) if n else 0
        span = (int(self.t.max()) - t0 if n else 0) + 2 * reach_ms + 1
        self.key = sorted_codes * span + (self.t - t0) + reach_ms  # entity blocks never overlap

    def _unsort(self, sorted_values: np.ndarray) -> np.ndarray:
        out = np.empty_like(sorted_values)
        out[self.order] = sorted_values
        return out

    def _prefix(self, values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(np.asarray(values, dtype=np.int64)[self.order])])

    def window(self, values: np.ndarray, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Count and sum of `values` over earlier rows with event time in (t - window, t]."""
        begin = np.maximum(np.searchsorted(self.key, self.key - window_ms, side="right"), self.start)
        prefix = self._prefix(values)
        return self._unsort(self.pos - begin), self._unsort(prefix[self.pos] - prefix[begin])

    def matured(self, values: np.ndarray, delay_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Count and sum of `values` over rows with event time ≤ t - delay (all strictly earlier)."""
        end = np.maximum(np.searchsorted(self.key, self.key - delay_ms, side="right"), self.start)
        prefix = self._prefix(values)
        return self._unsort(end - self.start), self._unsort(prefix[end] - prefix[self.start])

    def expanding(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Count and sum of `values` over all earlier rows."""
        prefix = self._prefix(values)
        return self._unsort(self.pos - self.start), self._unsort(prefix[self.pos] - prefix[self.start])

    def last_ms(self) -> np.ndarray:
        """Event time of the previous row of the same entity, -1 for the first."""
        prev = np.full(len(self.t), -1, dtype=np.int64)
        has_prev = self.pos > self.start
        prev[has_prev] = self.t[self.pos[has_prev] - 1]
        return self._unsort(prev)

    def previous_where(self, mask: np.ndarray) -> np.ndarray:
        """Row index (frame order) of the latest earlier row with `mask` true, -1 if none."""
        m = np.asarray(mask, dtype=bool)[self.order]
        latest = np.maximum.accumulate(np.where(m, self.pos, -1))
        prev = np.concatenate([[-1], latest[:-1]])
        prev = np.where(prev >= self.start, prev, -1)
        return self._unsort(np.where(prev >= 0, self.order[np.maximum(prev, 0)], -1))


def codes(values: np.ndarray) -> np.ndarray:
    """Dense integer codes of arbitrary keys (ids are strings in the platform schema)."""
    return pd.factorize(np.asarray(values), use_na_sentinel=False)[0].astype(np.int64)


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a * (int(b.max(initial=0)) + 1) + b


def raw_aggregates(cols: Mapping[str, np.ndarray], config: FeatureConfig) -> dict[str, np.ndarray]:
    """Every raw aggregate of `features.RAW_AGGREGATES` for each row; rows must be in time order."""
    t = np.asarray(cols["event_ms"], dtype=np.int64)
    if len(t) and np.any(np.diff(t) < 0):
        raise ValueError("transactions must be sorted by event time")
    reach = max(*WINDOWS_MS.values(), config.user_norm_window_ms, config.label_delay_ms)
    card, user, merchant = codes(cols["card_id"]), codes(cols["user_id"]), codes(cols["merchant_id"])
    cents = to_cents(cols["amount"])
    fraud = np.asarray(cols["is_fraud"], dtype=np.int64)
    ones = np.ones(len(t), dtype=np.int64)
    states = np.array([state_code(s) for s in cols["merchant_state"]], dtype=object)
    by = {"card": EntityHistory(card, t, reach), "user": EntityHistory(user, t, reach)}
    raw: dict[str, np.ndarray] = {}
    for entity, windows in VELOCITY_WINDOWS.items():
        for w in windows:
            raw[f"{entity}_count_{w}"], raw[f"{entity}_cents_{w}"] = by[entity].window(cents, WINDOWS_MS[w])
        raw[f"{entity}_last_ms"] = by[entity].last_ms()
    raw["user_norm_count"], raw["user_norm_cents"] = by["user"].window(cents, config.user_norm_window_ms)
    raw["user_norm_cents_sq"] = by["user"].window(cents * cents, config.user_norm_window_ms)[1]
    raw["user_all_count"], raw["user_all_cents"] = by["user"].expanding(cents)
    raw["card_prior"] = by["card"].expanding(ones)[0]
    state_ids = codes(states)
    for name, other in (("merchant", merchant), ("mcc", codes(cols["mcc"])), ("state", state_ids)):
        raw[f"card_{name}_prior"] = EntityHistory(pair_codes(card, other), t, reach).expanding(ones)[0]
    in_person = states != ""
    prev = by["user"].previous_where(in_person)
    prev_state = np.where(prev >= 0, states[np.maximum(prev, 0)], "")
    raw["user_state_jump"] = (in_person & (prev >= 0) & (prev_state != states)).astype(np.int64)
    merchants = EntityHistory(merchant, t, reach)
    raw["merchant_prior"] = merchants.expanding(ones)[0]
    raw["merchant_known_count"], raw["merchant_known_frauds"] = merchants.matured(
        fraud, config.label_delay_ms
    )
    raw["card_known_frauds"] = by["card"].matured(fraud, config.label_delay_ms)[1]
    return raw


def batch_features(cols: Mapping[str, np.ndarray], config: FeatureConfig) -> np.ndarray:
    """Feature matrix (rows × FEATURE_NAMES) for a time-sorted batch of transactions."""
    return assemble(cols, raw_matrix(raw_aggregates(cols, config)), config)

"""Serving path of the feature spec: incremental per-card/user/merchant state (numpy only, no pandas).

Usage, per arriving transaction in event-time order::

    x = state.features(txn)   # 1 × len(FEATURE_NAMES), from history before txn
    state.update(txn)         # then txn becomes history

`txn` is a mapping with the platform schema's fields (`event_ts` as datetime, epoch ms or ISO text).
Labels: `update` takes `is_fraud` when the record carries it (replays, training data); labels that
arrive later (chargebacks) go through `add_fraud_label`. Like the batch path, a label is used only
once the labelled transaction is `label_delay_ms` older than the transaction being scored.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from fraudlake.ml.features import (
    VELOCITY_WINDOWS,
    WINDOWS_MS,
    FeatureConfig,
    assemble_one,
    state_code,
)


def event_ms(value: Any) -> int:
    """Epoch milliseconds (UTC) of a datetime, ISO-8601 text or a number already in ms."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, str):
        return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ms]").astype(np.int64))
    return int(value)


def _cents(amount: Any) -> int:
    return round(float(amount) * 100)


@dataclass
class _EntityState:
    recent: deque[tuple[int, int]] = field(default_factory=deque)  # (event ms, cents), oldest first
    last_ms: int = -1
    prior: int = 0
    all_cents: int = 0
    known_count: int = 0
    known_frauds: int = 0
    last_state: str = ""  # latest in-person merchant state (users)


def _nested_windows(entity: str) -> tuple[list[int], list[tuple[str, str]]]:
    """The entity's window spans, narrowest first, and their (count, cents) aggregate names."""
    windows = sorted(VELOCITY_WINDOWS[entity], key=WINDOWS_MS.__getitem__)
    return [WINDOWS_MS[w] for w in windows], [(f"{entity}_count_{w}", f"{entity}_cents_{w}") for w in windows]


_NESTED_WINDOWS = {entity: _nested_windows(entity) for entity in VELOCITY_WINDOWS}


class OnlineFeatureState:
    """Per-entity history for computing the spec's features one transaction at a time.

    The clock only moves forward: transactions must arrive in nondecreasing event time (a late one
    is treated as arriving now, which only changes which labels count as matured).
    """

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config or FeatureConfig()
        self._cards: dict[Any, _EntityState] = defaultdict(_EntityState)
        self._users: dict[Any, _EntityState] = defaultdict(_EntityState)
        self._merchants: dict[Any, _EntityState] = defaultdict(_EntityState)
        self._card_pairs: dict[tuple[str, Any, Any], int] = defaultdict(int)
        # Labelled history waiting for its delay: (event ms, seq, merchant, card, txns, frauds).
        self._pending: list[tuple[int, int, Any, Any, int, int]] = []
        self._seq = itertools.count()
        self._clock = -(2**62)
        self._reach = {
            "card": max(WINDOWS_MS[w] for w in VELOCITY_WINDOWS["card"]),
            "user": max(*(WINDOWS_MS[w] for w in VELOCITY_WINDOWS["user"]), self.config.user_norm_window_ms),
        }

    def features(self, txn: Mapping[str, Any]) -> np.ndarray:
        """The transaction's feature row (shape 1 × len(FEATURE_NAMES)) from the history so far."""
        t = event_ms(txn["event_ts"] if "event_ts" in txn else txn["event_ms"])
        self._mature_labels(t)
        card, user, merchant = txn["card_id"], txn["user_id"], txn["merchant_id"]
        cs, us, ms = self._cards[card], self._users[user], self._merchants[merchant]
        state = state_code(txn.get("merchant_state"))
        raw: dict[str, int] = {}
        for entity, entity_state in (("card", cs), ("user", us)):
            raw.update(self._windows(entity, entity_state.recent, t))
            raw[f"{entity}_last_ms"] = entity_state.last_ms
        horizon = t - self.config.user_norm_window_ms
        norm = [c for (ts, c) in us.recent if ts > horizon]
        raw |= {
            "user_norm_count": len(norm),
            "user_norm_cents": sum(norm),
            "user_norm_cents_sq": sum(c * c for c in norm),
            "user_all_count": us.prior,
            "user_all_cents": us.all_cents,
            "card_prior": cs.prior,
            "card_merchant_prior": self._card_pairs[("merchant", card, merchant)],
            "card_mcc_prior": self._card_pairs[("mcc", card, int(txn["mcc"]))],
            "card_state_prior": self._card_pairs[("state", card, state)],
            "user_state_jump": int(state != "" and us.last_state not in ("", state)),
            "merchant_prior": ms.prior,
            "merchant_known_count": ms.known_count,
            "merchant_known_frauds": ms.known_frauds,
            "card_known_frauds": cs.known_frauds,
        }
        fields = {
            "event_ms": t,
            "amount": float(txn["amount"]),
            "use_chip": txn["use_chip"],
            "mcc": int(txn["mcc"]),
            "errors": txn.get("errors") or "",
            "merchant_state": state,
        }
        return assemble_one(fields, raw, self.config)

    def update(self, txn: Mapping[str, Any]) -> None:
        """Make `txn` part of the history (its label, if present, matures after the delay)."""
        t = event_ms(txn["event_ts"] if "event_ts" in txn else txn["event_ms"])
        self._mature_labels(t)
        card, user, merchant = txn["card_id"], txn["user_id"], txn["merchant_id"]
        cents = _cents(txn["amount"])
        state = state_code(txn.get("merchant_state"))
        for entity, st in (("card", self._cards[card]), ("user", self._users[user])):
            st.recent.append((t, cents))
            while st.recent and st.recent[0][0] <= t - self._reach[entity]:
                st.recent.popleft()
            st.last_ms, st.prior, st.all_cents = t, st.prior + 1, st.all_cents + cents
        if state:
            self._users[user].last_state = state
        self._merchants[merchant].prior += 1
        for kind, key in (("merchant", merchant), ("mcc", int(txn["mcc"])), ("state", state)):
            self._card_pairs[(kind, card, key)] += 1
        self._push(t, merchant, card, txns=1, frauds=int(bool(txn.get("is_fraud") or False)))

    def add_fraud_label(self, txn: Mapping[str, Any]) -> None:
        """A fraud confirmed for a transaction `update` already saw without a label (a chargeback)."""
        t = event_ms(txn["event_ts"] if "event_ts" in txn else txn["event_ms"])
        self._push(t, txn["merchant_id"], txn["card_id"], txns=0, frauds=1)
        self._mature_labels(self._clock)

    def _push(self, t: int, merchant: Any, card: Any, txns: int, frauds: int) -> None:
        # The sequence number keeps heap order total without ever comparing ids.
        heapq.heappush(self._pending, (t, next(self._seq), merchant, card, txns, frauds))

    def _mature_labels(self, now_ms: int) -> None:
        self._clock = max(self._clock, now_ms)
        cutoff = self._clock - self.config.label_delay_ms
        while self._pending and self._pending[0][0] <= cutoff:
            _, _, merchant, card, txns, frauds = heapq.heappop(self._pending)
            self._merchants[merchant].known_count += txns
            self._merchants[merchant].known_frauds += frauds
            self._cards[card].known_frauds += frauds

    @staticmethod
    def _windows(entity: str, recent: deque[tuple[int, int]], t: int) -> dict[str, int]:
        # One pass from the newest entry backwards; the windows are nested (10m ⊂ 1h ⊂ 24h ⊂ 7d).
        spans, keys = _NESTED_WINDOWS[entity]
        horizons = [t - span for span in spans]
        widest = len(spans) - 1
        counts, sums = [0] * len(spans), [0] * len(spans)
        for ts, cents in reversed(recent):
            for k in range(widest, -1, -1):
                if ts <= horizons[k]:
                    break
                counts[k] += 1
                sums[k] += cents
            else:
                continue
            if k == widest:
                break
        out = {}
        for k, (count_key, cents_key) in enumerate(keys):
            out[count_key], out[cents_key] = counts[k], sums[k]
        return out

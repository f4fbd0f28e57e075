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

import bisect
import heapq
import itertools
from collections import defaultdict
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


@dataclass(slots=True)  # one per card and user: no __dict__ each
class AmountHistory:
    """A card's or user's transactions within reach in event-time order, with running totals: any
    window's count, cents and squared cents come from one binary search and two subtractions, whatever
    its length. (The feature state's windows and the API's rule windows both read it.)
    """

    times: list[int] = field(default_factory=list)  # event ms, nondecreasing
    cents: list[int] = field(default_factory=lambda: [0])  # cents[k]: sum of the first k amounts
    squares: list[int] = field(default_factory=lambda: [0])  # the same for squared amounts
    start: int = 0  # entries before it are out of reach (dropped in bulk, not one by one)

    def add(self, t: int, cents: int) -> None:
        if self.times and t < self.times[-1]:  # late: into its place; the totals after it grow
            at = bisect.bisect_right(self.times, t, self.start)
            self.times.insert(at, t)
            self.cents[at + 1 :] = [total + cents for total in self.cents[at:]]
            self.squares[at + 1 :] = [total + cents * cents for total in self.squares[at:]]
        else:
            self.times.append(t)
            self.cents.append(self.cents[-1] + cents)
            self.squares.append(self.squares[-1] + cents * cents)

    def since(self, horizon: int) -> tuple[int, int, int]:
        """Count, cents and squared cents of the entries after `horizon` (event ms > horizon)."""
        first = bisect.bisect_right(self.times, horizon, self.start)
        cents, squares = self.cents, self.squares
        return len(self.times) - first, cents[-1] - cents[first], squares[-1] - squares[first]

    def forget_until(self, horizon: int) -> None:
        """Drop entries at or before `horizon`; the lists are cut once half of them are dropped."""
        self.start = bisect.bisect_right(self.times, horizon, self.start)
        if self.start > 32 and 2 * self.start > len(self.times):
            del self.times[: self.start], self.cents[: self.start], self.squares[: self.start]
            self.start = 0


@dataclass(slots=True)
class _EntityState:
    history: AmountHistory = field(default_factory=AmountHistory)  # within the entity's longest window
    last_ms: int = -1
    prior: int = 0
    all_cents: int = 0
    known_count: int = 0
    known_frauds: int = 0
    last_state: str = ""  # latest in-person merchant state (users)


# Per entity: each velocity window's span and its (count, cents) aggregate names.
_WINDOWS = {
    entity: [(WINDOWS_MS[w], f"{entity}_count_{w}", f"{entity}_cents_{w}") for w in windows]
    for entity, windows in VELOCITY_WINDOWS.items()
}


class OnlineFeatureState:
    """Per-entity history for computing the spec's features one transaction at a time.

    The clock only moves forward: transactions should arrive in nondecreasing event time. A late one
    takes its place in the windows by its event time; for labels it counts as arriving now (which only
    changes which labels count as matured). Window totals are running sums: a busy card's windows cost
    a binary search, not a walk over its transactions.
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
        return assemble_one(*self.inputs(txn), self.config)

    def inputs(self, txn: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """What the formulas read for the transaction, from the history so far: its own fields and its
        raw aggregates by name (`assemble_one` takes one; `assemble_rows` a batch of them)."""
        t = event_ms(txn["event_ts"] if "event_ts" in txn else txn["event_ms"])
        self._mature_labels(t)
        card, user, merchant = txn["card_id"], txn["user_id"], txn["merchant_id"]
        cs, us, ms = self._cards[card], self._users[user], self._merchants[merchant]
        state = state_code(txn.get("merchant_state"))
        raw: dict[str, int] = {}
        for entity, entity_state in (("card", cs), ("user", us)):
            for span, count_key, cents_key in _WINDOWS[entity]:
                raw[count_key], raw[cents_key], _ = entity_state.history.since(t - span)
            raw[f"{entity}_last_ms"] = entity_state.last_ms
        norm_count, norm_cents, norm_squares = us.history.since(t - self.config.user_norm_window_ms)
        raw |= {
            "user_norm_count": norm_count,
            "user_norm_cents": norm_cents,
            "user_norm_cents_sq": norm_squares,
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
        return fields, raw

    def update(self, txn: Mapping[str, Any]) -> None:
        """Make `txn` part of the history (its label, if present, matures after the delay)."""
        t = event_ms(txn["event_ts"] if "event_ts" in txn else txn["event_ms"])
        self._mature_labels(t)
        card, user, merchant = txn["card_id"], txn["user_id"], txn["merchant_id"]
        cents = _cents(txn["amount"])
        state = state_code(txn.get("merchant_state"))
        for entity, st in (("card", self._cards[card]), ("user", self._users[user])):
            st.history.add(t, cents)
            st.history.forget_until(t - self._reach[entity])
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

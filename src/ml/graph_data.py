"""The user–card–merchant graph as of a cutoff time, in plain numpy (training builds it, serving reads it).

A snapshot at cutoff `c` sees only transactions with event time < c, and their fraud labels only
when the transaction is at least `label_delay_ms` older than c — the same history rule as the
tabular features. Nodes are all users/cards/merchants of the frame (global integer codes); a node
with no history yet has the features of a brand-new node, which is exactly what serving computes
for an unseen card or merchant.

Activity is counted over trailing windows, never over all history: a count over all history grows
with the age of the data set, so a GNN trained on the first months would read another world later,
and the served embeddings would depend on how much history the lake keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fraudlake.ml.features import DAY_MS, FeatureConfig

NODE_TYPES = ("user", "card", "merchant")
EdgeType = tuple[str, str, str]
EDGE_TYPES: tuple[EdgeType, ...] = (
    ("user", "owns", "card"),
    ("card", "owned_by", "user"),
    ("card", "visits", "merchant"),
    ("merchant", "visited_by", "card"),
)
# How each relation pools its neighbours. A card's risk hides in ONE of its merchants (the breached
# one), which a mean over all its merchants would dilute; so merchants → card takes the max.
AGGREGATION: dict[EdgeType, str] = {et: "max" if et[1] == "visited_by" else "mean" for et in EDGE_TYPES}
NODE_FEATURES: dict[str, tuple[str, ...]] = {
    "user": ("log_txns_30d", "mean_log_amount", "online_share", "log_known_frauds", "log_cards"),
    "card": (
        "log_txns_30d",
        "mean_log_amount",
        "online_share",
        "error_share",
        "log_known_frauds",
        "log_days_since_last",
        "log_merchants_window",
    ),
    "merchant": (
        "log_txns_30d",
        "mean_log_amount",
        "online_share",
        "log_known_frauds",
        "fraud_rate",
        "log_cards_window",
        "log_cpp_fraud_cards",
        "cpp_fraud_cards_z",
    ),
}
NEVER_SEEN_DAYS = 365.0


@dataclass(frozen=True)
class GraphConfig:
    """How the graph is cut from history."""

    edge_window_ms: int = 30 * DAY_MS  # card–merchant edges from visits in the last 30 days
    horizon_ms: int = 14 * DAY_MS  # GNN training target: fraud within this long after the cutoff
    snapshot_every_ms: int = DAY_MS  # scoring rows use the latest snapshot at or before them
    # Common point of purchase: a merchant counts the cards that visited it within `cpp_visit_ms`
    # before a (known) fraud on the card, for frauds in the last `cpp_recent_ms` of known labels.
    cpp_visit_ms: int = 30 * DAY_MS
    cpp_recent_ms: int = 30 * DAY_MS


@dataclass
class GraphColumns:
    """Integer-coded transactions, time-sorted, that snapshots are cut from."""

    event_ms: np.ndarray
    user: np.ndarray
    card: np.ndarray
    merchant: np.ndarray
    log_amount: np.ndarray
    online: np.ndarray
    error: np.ndarray
    fraud: np.ndarray
    num_nodes: dict[str, int]
    _fraud_visits: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False, compare=False)

    def fraud_visits(self, visit_ms: int) -> tuple[np.ndarray, ...]:
        """Cached `_find_fraud_visits`: computed once, read by every snapshot."""
        if visit_ms not in self._fraud_visits:
            self._fraud_visits[visit_ms] = self._find_fraud_visits(visit_ms)
        return self._fraud_visits[visit_ms]

    def _find_fraud_visits(self, visit_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fraud time, card, merchant) for every fraud row and each merchant its card visited in a
        legitimate transaction during the `visit_ms` before it: the raw material of a
        common-point-of-purchase analysis. Only rows older than the fraud are read, so a snapshot
        that keeps pairs with known fraud times sees known labels only."""
        order = np.lexsort((self.event_ms, self.card))  # by card, then time
        card_sorted, t_sorted = self.card[order], self.event_ms[order]
        starts = np.searchsorted(card_sorted, np.arange(self.num_nodes["card"] + 1))
        legit = self.fraud[order] == 0
        times, cards, merchants = [], [], []
        for row in np.flatnonzero(self.fraud):
            c, t = int(self.card[row]), int(self.event_ms[row])
            lo, hi = starts[c], starts[c + 1]
            a = lo + int(np.searchsorted(t_sorted[lo:hi], t - visit_ms, "left"))
            b = lo + int(np.searchsorted(t_sorted[lo:hi], t, "left"))
            seen = np.unique(self.merchant[order[a:b][legit[a:b]]])
            times.append(np.full(len(seen), t, dtype=np.int64))
            cards.append(np.full(len(seen), c, dtype=np.int64))
            merchants.append(seen.astype(np.int64))
        if not times:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(times), np.concatenate(cards), np.concatenate(merchants)


@dataclass
class Snapshot:
    cutoff_ms: int
    x: dict[str, np.ndarray]  # node type → (nodes × NODE_FEATURES[type]) raw features, float32
    edges: dict[EdgeType, np.ndarray]  # edge type → (2 × edges) int64 [source; destination]


def _count(codes: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=n).astype(np.float64)


def _activity(
    cols: GraphColumns, kind: str, rows: slice, known: slice, recent: slice, shares: tuple[np.ndarray, ...]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Features every node type shares, in `NODE_FEATURES` order: 30-day volume, mean amount, the share
    of its transactions with each 0/1 flag in `shares`, confirmed frauds. Also returns the raw
    confirmed-fraud counts (the merchant's fraud rate reads them)."""
    codes, n = getattr(cols, kind), cols.num_nodes[kind]
    txns = _count(codes[rows], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_log_amount = np.nan_to_num(_count(codes[rows], n, cols.log_amount[rows]) / txns)
        rates = [np.nan_to_num(_count(codes[rows], n, flag[rows]) / txns) for flag in shares]
    frauds = _count(codes[known], n, cols.fraud[known])
    return [np.log1p(_count(codes[recent], n)), mean_log_amount, *rates, np.log1p(frauds)], frauds


def snapshot(cols: GraphColumns, cutoff_ms: int, config: FeatureConfig, graph: GraphConfig) -> Snapshot:
    """The graph as known just before `cutoff_ms` (see the module's history rule)."""
    t = cols.event_ms
    end = int(np.searchsorted(t, cutoff_ms, side="left"))
    rows = slice(0, end)
    known = slice(0, int(np.searchsorted(t, cutoff_ms - config.label_delay_ms, side="right")))
    recent = slice(int(np.searchsorted(t, cutoff_ms - 30 * DAY_MS, side="left")), end)
    window = slice(int(np.searchsorted(t, cutoff_ms - graph.edge_window_ms, side="left")), end)
    n_card, n_merchant = cols.num_nodes["card"], cols.num_nodes["merchant"]
    visits = np.unique(cols.card[window] * n_merchant + cols.merchant[window])
    visit_card, visit_merchant = visits // n_merchant, visits % n_merchant
    owned = np.unique(cols.card[rows].astype(np.int64) * cols.num_nodes["user"] + cols.user[rows])
    own_card, own_user = owned // cols.num_nodes["user"], owned % cols.num_nodes["user"]

    user, _ = _activity(cols, "user", rows, known, recent, shares=(cols.online,))
    user.append(np.log1p(_count(own_user, cols.num_nodes["user"])))
    card, _ = _activity(cols, "card", rows, known, recent, shares=(cols.online, cols.error))
    last = np.full(n_card, -1, dtype=np.int64)
    np.maximum.at(last, cols.card[rows], t[rows])
    days = np.where(last >= 0, (cutoff_ms - last) / DAY_MS, NEVER_SEEN_DAYS)
    card.append(np.log1p(np.minimum(days, NEVER_SEEN_DAYS)))
    card.append(np.log1p(_count(visit_card, n_card)))
    merchant, known_frauds = _activity(cols, "merchant", rows, known, recent, shares=(cols.online,))
    known_txns = _count(cols.merchant[known], n_merchant)
    merchant.append(known_frauds / (known_txns + config.risk_prior_txns))
    merchant.append(np.log1p(_count(visit_merchant, n_merchant)))
    cpp_cards, cpp_z = cpp_fraud_cards(cols, cutoff_ms, config.label_delay_ms, graph)
    merchant.extend([np.log1p(cpp_cards), cpp_z])

    x = {
        kind: np.column_stack(feats).astype(np.float32)
        for kind, feats in (("user", user), ("card", card), ("merchant", merchant))
    }
    edges = {
        ("user", "owns", "card"): np.stack([own_user, own_card]),
        ("card", "owned_by", "user"): np.stack([own_card, own_user]),
        ("card", "visits", "merchant"): np.stack([visit_card, visit_merchant]),
        ("merchant", "visited_by", "card"): np.stack([visit_merchant, visit_card]),
    }
    return Snapshot(cutoff_ms, x, {k: v.astype(np.int64) for k, v in edges.items()})


def cpp_fraud_cards(
    cols: GraphColumns, cutoff_ms: int, label_delay_ms: int, graph: GraphConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per merchant: defrauded cards that shopped there shortly before, and how far above chance
    that count is (a z-score).

    The count is of distinct cards that visited the merchant within `cpp_visit_ms` before a fraud
    on the card whose label is known at the cutoff (fraud at least `label_delay_ms` old, and within
    `cpp_recent_ms` of that). A popular merchant collects such cards by chance (every victim shops
    somewhere): chance gives the merchant's visitors in the same period times the share of active
    cards defrauded, with a Poisson spread, so the score is (count - expected) / sqrt(expected + 1).
    A high score marks a breached merchant; its other recent visitors are the cards at risk.
    """
    fraud_ms, card, merchant = cols.fraud_visits(graph.cpp_visit_ms)
    known_until = cutoff_ms - label_delay_ms
    keep = (fraud_ms <= known_until) & (fraud_ms > known_until - graph.cpp_recent_ms)
    n_merchant = cols.num_nodes["merchant"]
    pairs = np.unique(card[keep] * n_merchant + merchant[keep])
    counts = _count(pairs % n_merchant, n_merchant)
    t = cols.event_ms
    period = slice(
        int(np.searchsorted(t, known_until - graph.cpp_recent_ms - graph.cpp_visit_ms, "left")),
        int(np.searchsorted(t, known_until, "right")),
    )
    visits = np.unique(cols.card[period].astype(np.int64) * n_merchant + cols.merchant[period])
    active_cards = len(np.unique(visits // n_merchant))
    fraud_share = len(np.unique(card[keep])) / active_cards if active_cards else 0.0
    expected = fraud_share * _count(visits % n_merchant, n_merchant)
    return counts, (counts - expected) / np.sqrt(expected + 1)


def future_targets(
    cols: GraphColumns, cutoff_ms: int, horizon_ms: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per node type: (had fraud in [cutoff, cutoff + horizon), was active then) — the GNN's labels."""
    t = cols.event_ms
    rows = slice(
        int(np.searchsorted(t, cutoff_ms, "left")), int(np.searchsorted(t, cutoff_ms + horizon_ms, "left"))
    )
    out = {}
    for kind in NODE_TYPES:
        codes, n = getattr(cols, kind)[rows], cols.num_nodes[kind]
        out[kind] = (_count(codes, n, cols.fraud[rows]) > 0, _count(codes, n) > 0)
    return out


def snapshot_times(start_ms: int, end_ms: int, every_ms: int) -> np.ndarray:
    """Cutoffs on a fixed grid (multiples of `every_ms`) covering [start, end]."""
    first = (start_ms // every_ms) * every_ms
    return np.arange(first, end_ms + every_ms, every_ms, dtype=np.int64)


def row_snapshot_index(event_ms: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """For each row, the index of the latest cutoff at or before its event time."""
    return np.searchsorted(cutoffs, event_ms, side="right") - 1


def new_node_features(kind: str) -> np.ndarray:
    """Raw features of a node with no history (what a snapshot gives a card or merchant never seen)."""
    x = np.zeros(len(NODE_FEATURES[kind]), dtype=np.float32)
    if kind == "card":
        x[NODE_FEATURES["card"].index("log_days_since_last")] = np.log1p(NEVER_SEEN_DAYS)
    return x

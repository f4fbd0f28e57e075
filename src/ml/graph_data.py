"""The user–card–merchant graph as of a cutoff time, in plain numpy (training builds it, serving reads it).

A snapshot at cutoff `c` sees only transactions with event time < c, and their fraud labels only
when the transaction is at least `label_delay_ms` older than c — the same history rule as the
tabular features. Nodes are all users/cards/merchants of the frame (global integer codes); a node
with no history yet has the features of a brand-new node, which is exactly what serving computes
for an unseen card or merchant.

Activity is counted over trailing windows, never over all history: a count over all history grows
with the age of the data set, so a GNN trained on the first months would read another world later,
and the served embeddings would depend on how much history the lake keeps.

Two flags mark transactions for the common-point-of-purchase (CPP) features: `fraud`, the confirmed
label (known only after the label delay), and `suspect`, a tabular model's flag (known at once;
`fraudlake.ml.train` sets it). A breached merchant's first victims are suspected days before their
chargebacks arrive, which is when the breach's other cards still have fraud ahead of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
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
# A card's CPP exposure: the highest CPP z-score among the merchants it visited in the edge window, for
# confirmed frauds and for suspicions. XGBoost reads these card features as columns too.
EXPOSURES = ("cpp_exposure", "suspect_exposure")
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
        *EXPOSURES,
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
        "log_cpp_suspect_cards",
        "cpp_suspect_cards_z",
    ),
}
NEVER_SEEN_DAYS = 365.0


def card_exposures(card_x: np.ndarray) -> np.ndarray:
    """The `EXPOSURES` columns of a snapshot's raw card features (XGBoost's exposure columns)."""
    return card_x[:, [NODE_FEATURES["card"].index(name) for name in EXPOSURES]]


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
    suspect: np.ndarray | None = None  # 0/1 per row; None: nothing suspected
    _flagged_visits: dict[tuple[str, int], tuple[np.ndarray, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.suspect is None:
            self.suspect = np.zeros_like(self.fraud)

    def nodes_of(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The rows' node codes per kind (card, merchant, user)."""
        return {kind: getattr(self, kind)[rows] for kind in NODE_TYPES}

    def flagged_visits(self, flag: str, visit_ms: int) -> tuple[np.ndarray, ...]:
        """Cached `_find_flagged_visits`: computed once, read by every snapshot."""
        if (flag, visit_ms) not in self._flagged_visits:
            self._flagged_visits[flag, visit_ms] = self._find_flagged_visits(flag, visit_ms)
        return self._flagged_visits[flag, visit_ms]

    def _find_flagged_visits(self, flag: str, visit_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flag time, card, merchant) for every row flagged `flag` ("fraud" or "suspect") and each
        merchant its card visited in an unflagged transaction during the `visit_ms` before it: the raw
        material of a common-point-of-purchase analysis. Only rows older than the flagged one are
        read, so a snapshot that keeps pairs with known flag times sees known flags only."""
        flagged = getattr(self, flag)
        order = np.lexsort((self.event_ms, self.card))  # by card, then time
        card_sorted, t_sorted = self.card[order], self.event_ms[order]
        starts = np.searchsorted(card_sorted, np.arange(self.num_nodes["card"] + 1))
        legit = flagged[order] == 0
        times, cards, merchants = [], [], []
        for row in np.flatnonzero(flagged):
            c, t = int(self.card[row]), int(self.event_ms[row])
            lo, hi = starts[c], starts[c + 1]
            a = lo + int(np.searchsorted(t_sorted[lo:hi], t - visit_ms, "left"))
            b = lo + int(np.searchsorted(t_sorted[lo:hi], t, "left"))
            seen = distinct(self.merchant[order[a:b][legit[a:b]]])
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


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an integer array: `np.unique` by sorting.

    numpy 2.4's `np.unique` without options hashes, and on the graph's card × merchant pair codes
    that is 25-40x slower than sorting (145 ms vs 4 ms for 315,000 pairs); the daily snapshots call
    it a dozen times each, thousands of snapshots per training run.
    """
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _count(codes: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=n).astype(np.float64)


# The 0/1 flags whose share of a node's transactions is a feature, per node type (NODE_FEATURES order).
SHARES: dict[str, tuple[str, ...]] = {
    "user": ("online",),
    "card": ("online", "error"),
    "merchant": ("online",),
}


class HistoryTotals:
    """Per-node sums over all history before a snapshot (transactions, amounts, flag counts, known
    frauds, a card's last use, user–card ownership), carried from one cutoff to the next.

    Daily snapshots over years of data would each re-sum every earlier row: quadratic in history.
    Advanced in time order, each snapshot adds only the rows since the previous one. Rows are added
    one by one in row order (`np.add.at`, `np.maximum.at`), the very additions `np.bincount` makes
    over the whole prefix, so the totals equal a fresh count bit for bit. Asked for an earlier cutoff,
    it starts again from the first row.
    """

    def __init__(self, cols: GraphColumns):
        self.cols = cols
        self.reset()

    def reset(self) -> None:
        n = self.cols.num_nodes
        self.end = self.known_end = 0
        self.txns = {k: np.zeros(n[k]) for k in NODE_TYPES}
        self.log_amount = {k: np.zeros(n[k]) for k in NODE_TYPES}
        self.flags = {(k, f): np.zeros(n[k]) for k in NODE_TYPES for f in SHARES[k]}
        self.frauds = {k: np.zeros(n[k]) for k in NODE_TYPES}  # confirmed: rows before known_end
        self.known_merchant_txns = np.zeros(n["merchant"])  # rows before known_end
        self.last_card_ms = np.full(n["card"], -1, dtype=np.int64)
        self.owned = np.zeros(0, dtype=np.int64)  # card * users + user, sorted, each pair once

    def advance(self, end: int, known_end: int) -> HistoryTotals:
        """Totals of rows [0, end) and confirmed frauds of rows [0, known_end)."""
        if end < self.end or known_end < self.known_end:
            self.reset()
        cols, new, newly_known = self.cols, slice(self.end, end), slice(self.known_end, known_end)
        for kind in NODE_TYPES:
            codes = getattr(cols, kind)
            np.add.at(self.txns[kind], codes[new], 1.0)
            np.add.at(self.log_amount[kind], codes[new], cols.log_amount[new].astype(np.float64))
            for flag in SHARES[kind]:
                np.add.at(self.flags[kind, flag], codes[new], getattr(cols, flag)[new].astype(np.float64))
            np.add.at(self.frauds[kind], codes[newly_known], cols.fraud[newly_known].astype(np.float64))
        np.add.at(self.known_merchant_txns, cols.merchant[newly_known], 1.0)
        np.maximum.at(self.last_card_ms, cols.card[new], cols.event_ms[new])
        pairs = cols.card[new].astype(np.int64) * cols.num_nodes["user"] + cols.user[new]
        self.owned = distinct(np.concatenate([self.owned, pairs]))
        self.end, self.known_end = end, known_end
        return self


def _activity(
    cols: GraphColumns, kind: str, totals: HistoryTotals, recent: slice
) -> tuple[list[np.ndarray], np.ndarray]:
    """Features every node type shares, in `NODE_FEATURES` order: 30-day volume, mean amount, the share
    of its transactions with each 0/1 flag in `SHARES`, confirmed frauds. Also returns the raw
    confirmed-fraud counts (the merchant's fraud rate reads them)."""
    codes, n = getattr(cols, kind), cols.num_nodes[kind]
    txns = totals.txns[kind]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_log_amount = np.nan_to_num(totals.log_amount[kind] / txns)
        rates = [np.nan_to_num(totals.flags[kind, flag] / txns) for flag in SHARES[kind]]
    frauds = totals.frauds[kind]
    return [np.log1p(_count(codes[recent], n)), mean_log_amount, *rates, np.log1p(frauds)], frauds


def snapshot(
    cols: GraphColumns,
    cutoff_ms: int,
    config: FeatureConfig,
    graph: GraphConfig,
    totals: HistoryTotals | None = None,
) -> Snapshot:
    """The graph as known just before `cutoff_ms` (see the module's history rule). `totals`: the
    history sums of the previous (earlier) snapshot, advanced to this one; a series of snapshots in
    time order passes the same object."""
    t = cols.event_ms
    end = int(np.searchsorted(t, cutoff_ms, side="left"))
    known_end = int(np.searchsorted(t, cutoff_ms - config.label_delay_ms, side="right"))
    totals = (totals or HistoryTotals(cols)).advance(end, known_end)
    recent = slice(int(np.searchsorted(t, cutoff_ms - 30 * DAY_MS, side="left")), end)
    n_card, n_merchant = cols.num_nodes["card"], cols.num_nodes["merchant"]
    visit_card, visit_merchant = edge_visits(cols, cutoff_ms, graph)
    own_card, own_user = totals.owned // cols.num_nodes["user"], totals.owned % cols.num_nodes["user"]

    user, _ = _activity(cols, "user", totals, recent)
    user.append(np.log1p(_count(own_user, cols.num_nodes["user"])))
    card, _ = _activity(cols, "card", totals, recent)
    last = totals.last_card_ms
    days = np.where(last >= 0, (cutoff_ms - last) / DAY_MS, NEVER_SEEN_DAYS)
    card.append(np.log1p(np.minimum(days, NEVER_SEEN_DAYS)))
    card.append(np.log1p(_count(visit_card, n_card)))
    merchant, known_frauds = _activity(cols, "merchant", totals, recent)
    known_txns = totals.known_merchant_txns
    merchant.append(known_frauds / (known_txns + config.risk_prior_txns))
    merchant.append(np.log1p(_count(visit_merchant, n_merchant)))
    # Confirmed frauds are known after the label delay; suspicions at once.
    for flag, delay_ms in (("fraud", config.label_delay_ms), ("suspect", 0)):
        cpp_count, cpp_z = cpp_cards(cols, cutoff_ms, delay_ms, graph, flag)
        merchant.extend([np.log1p(cpp_count), cpp_z])
        card.append(exposure(visit_card, visit_merchant, cpp_z, n_card))

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


def edge_visits(cols: GraphColumns, cutoff_ms: int, graph: GraphConfig) -> tuple[np.ndarray, np.ndarray]:
    """(card, merchant) pairs with a visit in the edge window before the cutoff, each pair once."""
    t, n_merchant = cols.event_ms, cols.num_nodes["merchant"]
    window = slice(
        int(np.searchsorted(t, cutoff_ms - graph.edge_window_ms, "left")),
        int(np.searchsorted(t, cutoff_ms, "left")),
    )
    visits = distinct(cols.card[window].astype(np.int64) * n_merchant + cols.merchant[window])
    return visits // n_merchant, visits % n_merchant


def exposure(
    visit_card: np.ndarray, visit_merchant: np.ndarray, merchant_score: np.ndarray, n_card: int
) -> np.ndarray:
    """Per card: the highest score among the merchants it visited, 0 when none is above 0 (what a
    card with no visits gets)."""
    out = np.zeros(n_card)
    np.maximum.at(out, visit_card, merchant_score[visit_merchant])
    return out


def cpp_cards(
    cols: GraphColumns, cutoff_ms: int, delay_ms: int, graph: GraphConfig, flag: str = "fraud"
) -> tuple[np.ndarray, np.ndarray]:
    """Per merchant: flagged cards that shopped there shortly before, and how far above chance
    that count is (a z-score).

    The count is of distinct cards that visited the merchant within `cpp_visit_ms` before a
    transaction flagged `flag` on the card, known at the cutoff (at least `delay_ms` old: the label
    delay for confirmed frauds, 0 for suspicions; and within `cpp_recent_ms` of that). A popular
    merchant collects such cards by chance (every victim shops somewhere): chance gives the
    merchant's visitors in the same period times the share of active cards flagged, with a Poisson
    spread, so the score is (count - expected) / sqrt(expected + 1). A high score marks a breached
    merchant; its other recent visitors are the cards at risk.
    """
    fraud_ms, card, merchant = cols.flagged_visits(flag, graph.cpp_visit_ms)
    known_until = min(cutoff_ms - delay_ms, cutoff_ms - 1)  # a snapshot sees times before the cutoff only
    keep = (fraud_ms <= known_until) & (fraud_ms > known_until - graph.cpp_recent_ms)
    n_merchant = cols.num_nodes["merchant"]
    pairs = distinct(card[keep] * n_merchant + merchant[keep])
    counts = _count(pairs % n_merchant, n_merchant)
    t = cols.event_ms
    period = slice(
        int(np.searchsorted(t, known_until - graph.cpp_recent_ms - graph.cpp_visit_ms, "left")),
        int(np.searchsorted(t, known_until, "right")),
    )
    visits = distinct(cols.card[period].astype(np.int64) * n_merchant + cols.merchant[period])
    active_cards = len(distinct(visits // n_merchant))
    fraud_share = len(distinct(card[keep])) / active_cards if active_cards else 0.0
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


def row_snapshots(
    cols: GraphColumns,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    config: FeatureConfig,
    graph: GraphConfig,
    totals: HistoryTotals | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Snapshot, np.ndarray]]:
    """Each snapshot the given rows read (the latest at or before each row's event time), in time
    order, with the positions in `rows` of the rows that read it. One snapshot is alive at a time;
    `totals` as in `snapshot`; `progress(done, snapshots)` after each."""
    totals = totals or HistoryTotals(cols)
    which = row_snapshot_index(cols.event_ms[rows], cutoffs)
    order = np.argsort(which, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(which[order]) != 0, True]) if len(rows) else np.zeros(0, int)
    for step, (a, b) in enumerate(itertools.pairwise(bounds)):
        yield snapshot(cols, int(cutoffs[which[order[a]]]), config, graph, totals), order[a:b]
        if progress:
            progress(step + 1, len(bounds) - 1)


def new_node_features(kind: str) -> np.ndarray:
    """Raw features of a node with no history (what a snapshot gives a card or merchant never seen)."""
    x = np.zeros(len(NODE_FEATURES[kind]), dtype=np.float32)
    if kind == "card":
        x[NODE_FEATURES["card"].index("log_days_since_last")] = np.log1p(NEVER_SEEN_DAYS)
    return x

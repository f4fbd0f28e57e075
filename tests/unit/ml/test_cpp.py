"""Common point of purchase: the merchant feature the GNN reads and the model-free diagnostic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml import data
from fraudlake.ml.diagnostics import cpp_exposure, cpp_signal
from fraudlake.ml.features import DAY_MS, FeatureConfig
from fraudlake.ml.graph import graph_columns
from fraudlake.ml.graph_data import EXPOSURES, NODE_FEATURES, GraphConfig, cpp_cards, snapshot

pytestmark = pytest.mark.unit
FEATURES = FeatureConfig(label_delay_ms=2 * DAY_MS)
GRAPH = GraphConfig(cpp_visit_ms=10 * DAY_MS, cpp_recent_ms=20 * DAY_MS)
T0 = np.datetime64("2016-03-01T00:00", "ms").astype(np.int64)


def _txn(day: float, card: str, merchant: str, fraud: bool = False) -> dict:
    return {
        "txn_id": f"{day:08.3f}-{card}-{merchant}",
        "event_ts": pd.Timestamp(T0 + int(day * DAY_MS), unit="ms", tz="UTC"),
        "user_id": card.split("-")[0],
        "card_id": card,
        "merchant_id": merchant,
        "amount": 20.0,
        "use_chip": "Swipe Transaction",
        "merchant_city": "Town",
        "merchant_state": "CA",
        "mcc": 5411,
        "errors": None,
        "is_fraud": fraud,
    }


def _breach_world():
    """Cards 1-3 shop at the small 'breached' shop, then are defrauded online 4 days later; cards
    4-9 shop only at the big 'grocer' (as do 1-3); card 1 also visited the shop long before.
    The last two rows: card 1 at the grocer on day 30.5, card 4 at the grocer on day 40."""
    rows = [_txn(0, "1-1", "shop")]  # 25 days before its fraud: outside the 10-day visit window
    for i, card in enumerate(("1-1", "2-2", "3-3")):
        rows += [_txn(20 + i, card, "shop"), _txn(20.5 + i, card, "grocer"), _txn(24 + i, card, "web", True)]
    rows += [_txn(19 + 0.1 * c, f"{c}-{c}", "grocer") for c in range(4, 10)]
    rows += [_txn(30.5, "1-1", "grocer"), _txn(40, "4-4", "grocer")]
    frame = data.prepare(pd.DataFrame(rows))
    graph, ids = graph_columns(data.columns(frame))
    return frame, graph, {m: i for i, m in enumerate(ids["merchant"])}


def test_breached_merchant_stands_out_from_chance_and_only_after_the_label_delay() -> None:
    _, graph, merchant = _breach_world()
    shop, grocer, web = merchant["shop"], merchant["grocer"], merchant["web"]
    # day 26.5: only card 1's fraud (day 24) is 2 days old; cards 2, 3 are still unlabelled
    counts, _ = cpp_cards(graph, T0 + int(26.5 * DAY_MS), FEATURES.label_delay_ms, GRAPH)
    assert counts[[shop, grocer, web]].tolist() == [1, 1, 0]
    # day 30: all three frauds known; the fraud row itself (web) is not a visit
    counts, z = cpp_cards(graph, T0 + 30 * DAY_MS, FEATURES.label_delay_ms, GRAPH)
    assert counts[[shop, grocer, web]].tolist() == [3, 3, 0]
    # chance: 3 of 9 active cards were defrauded; shop had 3 visitors, grocer 9
    assert z[shop] == pytest.approx((3 - 1) / np.sqrt(2))
    assert z[grocer] == pytest.approx((3 - 3) / np.sqrt(4))
    # 20 days of known labels later the breach has aged out of `cpp_recent_ms`
    counts, _ = cpp_cards(graph, T0 + 50 * DAY_MS, FEATURES.label_delay_ms, GRAPH)
    assert counts[shop] == 0


def test_snapshot_gives_the_gnn_the_cpp_features() -> None:
    _, graph, merchant = _breach_world()
    snap = snapshot(graph, T0 + 30 * DAY_MS, FEATURES, GRAPH)
    names = NODE_FEATURES["merchant"]
    assert snap.x["merchant"].shape[1] == len(names)
    assert snap.x["merchant"][merchant["shop"], names.index("log_cpp_fraud_cards")] == pytest.approx(
        np.log1p(3)
    )
    assert snap.x["merchant"][merchant["shop"], names.index("cpp_fraud_cards_z")] == pytest.approx(np.sqrt(2))


def test_suspicions_reach_the_breached_merchant_before_the_labels_do() -> None:
    frame, _, merchant = _breach_world()
    cols = data.columns(frame)
    suspect = cols["is_fraud"].astype(float)  # the suspicion model flags each fraud when it happens
    graph, _ = graph_columns(cols, suspect)
    shop = merchant["shop"]
    # day 24.5: card 1's fraud (day 24) is suspected already, and no label is known yet
    known, _ = cpp_cards(graph, T0 + int(24.5 * DAY_MS), FEATURES.label_delay_ms, GRAPH)
    suspected, _ = cpp_cards(graph, T0 + int(24.5 * DAY_MS), 0, GRAPH, flag="suspect")
    assert (known[shop], suspected[shop]) == (0, 1)
    # a suspicion after the cutoff is not seen
    later, _ = cpp_cards(graph, T0 + int(23.9 * DAY_MS), 0, GRAPH, flag="suspect")
    assert later[shop] == 0
    # the snapshot's card exposures: the shop's z-score for its visitors, from both flags at day 30
    snap = snapshot(graph, T0 + 30 * DAY_MS, FEATURES, GRAPH)
    card_names, merchant_names = NODE_FEATURES["card"], NODE_FEATURES["merchant"]
    z = snap.x["merchant"][shop, merchant_names.index("cpp_suspect_cards_z")]
    assert z == pytest.approx(np.sqrt(2))
    card_one = graph.card[cols["card_id"] == "1-1"][0]
    for name in EXPOSURES:
        assert snap.x["card"][card_one, card_names.index(name)] == pytest.approx(np.sqrt(2))


def test_exposure_is_the_worst_merchant_a_card_visited() -> None:
    frame, graph, _ = _breach_world()
    last_two = np.array([len(frame) - 2, len(frame) - 1])
    # card 1 (day 30.5) visited the shop within the edge window; card 4 (day 40) only the grocer
    assert cpp_exposure(graph, last_two, FEATURES, GRAPH) == pytest.approx([np.sqrt(2), 0.0])


def test_signal_reports_shares_and_lift(small_frame: pd.DataFrame) -> None:
    graph, _ = graph_columns(data.columns(small_frame))
    rows = np.arange(len(small_frame) // 2, len(small_frame))
    result = cpp_signal(graph, rows, FEATURES, GraphConfig(), thresholds=(1.0,))
    assert result["frauds"] == int(graph.fraud[rows].sum()) > 0
    hit = result["z>=1"]
    assert 0 <= hit["legit_share"] < hit["fraud_share"] <= 1  # the toy world's breaches are visible
    assert hit["lift"] == pytest.approx(hit["fraud_share"] / hit["legit_share"], rel=0.01)

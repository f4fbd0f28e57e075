"""Fraud mechanisms, checked statistically on generated data (mostly from the data alone)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fraudlake.producer.fraud import DAY
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
from fraudlake.producer.population import haversine_km

pytestmark = pytest.mark.unit


def _minutes(table: pa.Table) -> np.ndarray:
    return table["event_ts"].to_numpy().astype("datetime64[m]").astype(np.int64)


def _mechanism(table: pa.Table, name: str) -> pa.Table:
    return table.filter(pc.equal(table["fraud_mechanism"], name))


@pytest.fixture(scope="module")
def high_rate(users, cards):
    """A 1% fraud rate with a 60% exploit probability: the knobs must move the data."""
    fraud = FraudConfig(rate=0.01, poc_exploit_prob=0.6)
    generator = TransactionGenerator(
        GeneratorConfig(seed=23, rows=1_000_000, fraud=fraud), users=users, cards=cards
    )
    table = pa.concat_tables(generator.chunks())
    return generator, table


def test_default_fraud_rate_is_close_to_the_real_dataset(generated) -> None:
    rate = pc.mean(pc.cast(generated.table["is_fraud"], pa.float64())).as_py()
    assert 0.0009 < rate < 0.0015  # configured 0.12%; the real data set has 0.122%


def test_fraud_rate_and_mix_follow_the_configuration(high_rate) -> None:
    generator, table = high_rate
    frauds = table.filter(table["is_fraud"])
    assert abs(frauds.num_rows / table.num_rows - 0.01) < 0.0012
    mix = {
        v["values"]: v["counts"] / frauds.num_rows
        for v in pc.value_counts(frauds["fraud_mechanism"]).to_pylist()
    }
    for name, share in generator.config.fraud.mix.items():
        assert abs(mix.get(name, 0.0) - share) < 0.06, (name, mix)


def _compromise_outcomes(generator, table: pa.Table) -> tuple[int, int]:
    """(exposed cards, defrauded cards) over compromises fully visible in the data, from the data alone."""
    cfg = generator.config.fraud
    minutes = _minutes(table)
    first_visible = minutes.min()
    last_visible = minutes.max() - (cfg.poc_delay_days[1] + cfg.poc_burst_days + 7) * DAY
    compromises = [c for c in generator.ledger.compromises if c[2] >= first_visible and c[3] <= last_visible]
    brands = pa.array([brand for _, brand, _, _ in compromises], pa.int64())
    legit_visits = table.filter(
        pc.and_(pc.invert(table["is_fraud"]), pc.is_in(table["merchant_name"], brands))
    )
    poc = _mechanism(table, "compromised_merchant")
    # visits per brand and card; first fraud per event and card (rows are in time order)
    visits_by_brand: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for brand, card, minute in zip(
        legit_visits["merchant_name"].to_pylist(),
        legit_visits["card_id"].to_pylist(),
        _minutes(legit_visits).tolist(),
        strict=True,
    ):
        visits_by_brand[brand][card].append(minute)
    first_fraud: dict[int, dict[str, int]] = defaultdict(dict)
    for event, card, minute in zip(
        poc["fraud_event"].to_pylist(), poc["card_id"].to_pylist(), _minutes(poc).tolist(), strict=True
    ):
        first_fraud[event].setdefault(card, minute)
    exposed_total = defrauded_total = 0
    for event_id, brand, start, end in compromises:
        exposed = {}
        for card, visits in visits_by_brand[brand].items():
            in_window = [m for m in visits if start <= m < end]
            if in_window:
                exposed[card] = min(in_window)
        defrauded = first_fraud.get(event_id, {})
        assert set(defrauded) <= set(exposed)  # only exposed cards are defrauded
        for card, fraud_minute in defrauded.items():  # fraud comes days after the visit, as configured
            delay_days = (fraud_minute - exposed[card]) / DAY
            assert cfg.poc_delay_days[0] <= delay_days <= cfg.poc_delay_days[1] + cfg.poc_burst_days
        exposed_total += len(exposed)
        defrauded_total += len(defrauded)
    return exposed_total, defrauded_total


@pytest.mark.parametrize("which", ["default", "high_rate"])
def test_cards_that_visited_a_compromised_merchant_are_defrauded_at_the_configured_rate(
    which, generated, high_rate
) -> None:
    generator, table = (generated.generator, generated.table) if which == "default" else high_rate
    exposed, defrauded = _compromise_outcomes(generator, table)
    p = generator.config.fraud.poc_exploit_prob
    assert exposed > 150
    standard_error = np.sqrt(p * (1 - p) / exposed)
    assert abs(defrauded / exposed - p) < 4 * standard_error


def test_compromises_connect_many_cards_through_one_merchant(generated) -> None:
    exposed, exploited = defaultdict(set), defaultdict(set)
    for event, card, _, defrauded in generated.generator.ledger.exposures:
        exposed[event].add(card)
        if defrauded:
            exploited[event].add(card)
    assert len(exposed) >= 25  # about 40 weeks: a breach every week or two
    assert np.mean([len(cards) for cards in exposed.values()]) >= 20
    assert np.mean([len(exploited[e]) for e in exposed]) >= 10  # a group of victims, not a few


def test_breached_merchants_are_small_not_the_most_popular(generated) -> None:
    legit = generated.table.filter(pc.invert(generated.table["is_fraud"]))
    per_brand = legit.group_by("merchant_name").aggregate([("card_id", "count_distinct")]).to_pydict()
    cards_of = dict(zip(per_brand["merchant_name"], per_brand["card_id_count_distinct"], strict=True))
    breached = [
        cards_of[brand] for _, brand, _, _ in generated.generator.ledger.compromises if brand in cards_of
    ]
    by_size = np.sort(list(cards_of.values()))[::-1]
    assert len(breached) >= 25
    # breaches hit local stores and small chains, never the big chains everyone shops at
    assert max(breached) < by_size[19]
    assert np.median(breached) < by_size[0] / 10


def test_ring_fraud_stays_on_each_ring_s_small_merchant_set(high_rate) -> None:
    generator, table = high_rate
    ring = _mechanism(table, "fraud_ring")
    ring_of_event = {e: detail for e, mech, _, detail in generator.ledger.events if mech == 2}
    merchants_of_ring = defaultdict(set)
    cards_of_ring = defaultdict(set)
    for row in ring.select(["fraud_event", "merchant_name", "card_id"]).to_pylist():
        merchants_of_ring[ring_of_event[row["fraud_event"]]].add(row["merchant_name"])
        cards_of_ring[ring_of_event[row["fraud_event"]]].add(row["card_id"])
    cfg = generator.config.fraud
    assert len(merchants_of_ring) == cfg.rings
    for r, merchants in merchants_of_ring.items():
        assert len(merchants) <= cfg.ring_merchants[1]
        assert len(cards_of_ring[r]) >= 20  # many unrelated victims converge on the same few merchants
    assert set(ring["use_chip"].to_pylist()) == {"Online Transaction"}


def test_card_testing_is_small_probes_minutes_apart_then_one_large_charge(high_rate) -> None:
    generator, table = high_rate
    cfg = generator.config.fraud
    testing = _mechanism(table, "card_testing")
    minutes = _minutes(testing)
    by_event = defaultdict(list)
    for i, (event, amount) in enumerate(
        zip(testing["fraud_event"].to_pylist(), testing["amount"].to_pylist(), strict=True)
    ):
        by_event[event].append((minutes[i], amount))
    complete = 0
    for rows in by_event.values():
        rows.sort()
        probes, cashout = rows[:-1], rows[-1]
        if not cfg.testing_probes[0] <= len(probes) <= cfg.testing_probes[1]:
            continue  # cut by the end of the data
        complete += 1
        assert all(cfg.probe_amount[0] <= a <= cfg.probe_amount[1] for _, a in probes)
        assert cfg.cashout_amount[0] <= cashout[1] <= cfg.cashout_amount[1]
        gaps = np.diff([m for m, _ in probes])
        assert (gaps >= 1).all()
        assert (gaps <= 5).all()
        assert cfg.cashout_delay_minutes[0] <= cashout[0] - probes[-1][0] <= cfg.cashout_delay_minutes[1]
    assert complete > 100
    probes = testing.filter(pc.less_equal(testing["amount"], cfg.probe_amount[1]))
    assert pc.count_distinct(probes["merchant_name"]).as_py() <= cfg.testing_merchants
    declined = probes["errors"].is_valid().to_numpy(zero_copy_only=False).mean()
    assert abs(declined - cfg.probe_decline_prob) < 0.05


def test_account_takeover_jumps_far_from_home(high_rate, users) -> None:
    generator, table = high_rate
    places = generator.pop.places
    where = {
        (c, s): (la, lo)
        for c, s, la, lo in zip(
            places.city.to_pylist(), places.state.to_pylist(), places.lat, places.lon, strict=True
        )
    }
    ato = _mechanism(table, "account_takeover")
    home_lat, home_lon = users["latitude"].to_numpy(), users["longitude"].to_numpy()
    user = ato["user"].to_numpy()
    merchant_lat_lon = np.array(
        [
            where[(c, s)]
            for c, s in zip(ato["merchant_city"].to_pylist(), ato["merchant_state"].to_pylist(), strict=True)
        ]
    )
    km = haversine_km(home_lat[user], home_lon[user], merchant_lat_lon[:, 0], merchant_lat_lon[:, 1])
    assert ato.num_rows > 500
    assert (km >= generator.config.fraud.ato_min_distance_km).all()
    assert set(ato["use_chip"].to_pylist()) == {"Swipe Transaction"}
    assert pc.sum(pc.equal(ato["errors"], "Bad PIN")).as_py() > 0

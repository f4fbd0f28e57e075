"""Fraud mechanisms (see `fraud_config` for what each does and its parameters).

The engine runs block by block after the legitimate transactions of a block exist: it opens new
compromises, finds the cards exposed to open compromises in the block, schedules their later
fraud, draws ring / card-testing / takeover events, and hands back every fraud transaction due
in the block. Fraud due later waits in `pending`, so mechanisms cross block boundaries freely.
`ledger` keeps the ground truth (compromises, exposures, events) for tests and analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fraudlake.producer.calibration import Calibration, sample_amounts
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.population import Population
from fraudlake.producer.txn_columns import (
    ACCOUNT_TAKEOVER,
    CARD_TESTING,
    COMPROMISED_MERCHANT,
    FRAUD_RING,
    ONLINE,
    SWIPE,
    TxnColumns,
)

DAY = 1440


@dataclass
class FraudLedger:
    """Ground truth: compromise windows, exposed cards and every fraud event's victim."""

    compromises: list[tuple[int, int, int, int]] = field(default_factory=list)  # event, merchant, start, end
    exposures: list[tuple[int, int, int, bool]] = field(
        default_factory=list
    )  # event, card, first visit, exploited
    events: list[tuple[int, int, int, int]] = field(default_factory=list)  # event, mechanism, card, detail


@dataclass(frozen=True)
class BlockContext:
    rng: np.random.Generator
    start: int  # minute
    end: int
    active_cards: np.ndarray  # bool per card
    expected_legit: float


class FraudEngine:
    def __init__(
        self,
        cfg: FraudConfig,
        pop: Population,
        cal: Calibration,
        errors: dict[str | None, int],
        travel_share: float,
        rng: np.random.Generator,
    ) -> None:
        self.cfg, self.pop, self.cal, self.errors = cfg, pop, cal, errors
        self.ledger = FraudLedger()
        self.pending = TxnColumns.empty()
        self._next_event = 0
        self._open: list[tuple[int, int, int, int]] = []  # compromises still able to expose cards
        self._exposed: dict[int, set[int]] = {}
        self._eligible_brands, self._exposure_per_compromise = self._poc_exposure_model(travel_share)
        online_start = pop.merchants.place_offsets[pop.places.online]
        online_ids = np.arange(online_start, len(pop.merchants))
        picks = rng.choice(
            online_ids, cfg.testing_merchants + cfg.rings * cfg.ring_merchants[1], replace=False
        )
        self.testing_merchants = picks[: cfg.testing_merchants]
        sizes = rng.integers(cfg.ring_merchants[0], cfg.ring_merchants[1] + 1, cfg.rings)
        rest = picks[cfg.testing_merchants :]
        self.ring_merchants = [
            rest[i * cfg.ring_merchants[1] : i * cfg.ring_merchants[1] + k] for i, k in enumerate(sizes)
        ]
        self._online_ids = online_ids
        self._n_us_places = int((~pop.places.foreign).sum()) - 1

    # ---- the block step ------------------------------------------------------------------

    def step(self, ctx: BlockContext, legit: TxnColumns) -> TxnColumns:
        """Fraud transactions due in [ctx.start, ctx.end), given the block's legitimate ones."""
        budget = self.cfg.rate / (1 - self.cfg.rate) * ctx.expected_legit
        new = [
            self._open_compromises(ctx, budget * self.cfg.share("compromised_merchant")),
            self._exposures(ctx, legit),
            self._rings(ctx, budget * self.cfg.share("fraud_ring")),
            self._card_testing(ctx, budget * self.cfg.share("card_testing")),
            self._takeovers(ctx, budget * self.cfg.share("account_takeover")),
        ]
        self.pending = TxnColumns.concat([self.pending, *new])
        due = self.pending.minute < ctx.end
        out, self.pending = self.pending.take(np.flatnonzero(due)), self.pending.take(np.flatnonzero(~due))
        return out

    # ---- 1. compromised merchant ----------------------------------------------------------

    def _poc_exposure_model(self, travel_share: float) -> tuple[np.ndarray, float]:
        """Brands eligible for compromise and the expected exposed cards of one compromise.

        A card shopping at brand b at daily rate λ is exposed by a window of W days with probability
        1 - exp(-λW); summing over cards gives the brand's expected exposure. Brands whose
        expectation lies in `poc_exposed_cards` are eligible (a breach large enough to leave a graph
        trace, small enough not to dominate the data set).
        """
        pop, cal = self.pop, self.cal
        keys, daily = [], []
        for fav, share in (
            (pop.in_store, (1 - cal.online_share) * (1 - travel_share)),
            (pop.online, cal.online_share),
        ):
            entry, card = _entries_by_card(fav.offsets, pop.card_user)
            keys.append(pop.merchants.brand[fav.merchant[entry]] * pop.n_cards + card)
            daily.append(pop.card_rate[card] * share * fav.share[entry])
        pair, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        rate = np.bincount(inverse, weights=np.concatenate(daily))
        window = self.cfg.mean(self.cfg.poc_window_days)
        exposed = np.bincount(
            pair // pop.n_cards, weights=1 - np.exp(-rate * window), minlength=len(pop.merchants.brand_name)
        )
        low, high = self.cfg.poc_exposed_cards
        eligible = np.flatnonzero((exposed >= low) & (exposed <= high))
        return eligible, float(exposed[eligible].mean()) if len(eligible) else 0.0

    def _open_compromises(self, ctx: BlockContext, budget: float) -> TxnColumns:
        cfg = self.cfg
        active_fraction = ctx.active_cards @ self.pop.card_rate / self.pop.card_rate.sum()
        per_compromise = (
            self._exposure_per_compromise
            * active_fraction
            * cfg.poc_exploit_prob
            * cfg.mean(cfg.poc_burst_txns)
        )
        count = ctx.rng.poisson(budget / per_compromise) if per_compromise > 0 else 0
        brands = self._eligible_brands[ctx.rng.integers(0, len(self._eligible_brands), count)]
        starts = ctx.rng.integers(ctx.start, ctx.end, count)
        lengths = (ctx.rng.uniform(*cfg.poc_window_days, count) * DAY).astype(np.int64)
        for brand, start, length in zip(brands, starts, lengths, strict=True):
            event = self._new_event()
            self._open.append((event, int(brand), int(start), int(start + length)))
            self.ledger.compromises.append(
                (event, int(self.pop.merchants.brand_name[brand]), int(start), int(start + length))
            )
            self._exposed[event] = set()
        return TxnColumns.empty()

    def _exposures(self, ctx: BlockContext, legit: TxnColumns) -> TxnColumns:
        """Cards that shop at a compromised brand (any location or channel) inside its window."""
        self._open = [c for c in self._open if c[3] > ctx.start]
        if not self._open:
            return TxnColumns.empty()
        brand = self.pop.merchants.brand[legit.merchant]
        hit = np.flatnonzero(np.isin(brand, [c[1] for c in self._open]))
        order = hit[np.argsort(legit.minute[hit], kind="stable")]
        bursts = []
        for event, compromised, start, end in self._open:
            visits = order[
                (brand[order] == compromised) & (legit.minute[order] >= start) & (legit.minute[order] < end)
            ]
            cards, first = np.unique(legit.card[visits], return_index=True)
            seen = self._exposed[event]
            fresh = np.array([c not in seen for c in cards.tolist()], dtype=bool)
            cards, first_minute = cards[fresh], legit.minute[visits][first][fresh]
            seen.update(cards.tolist())
            exploited = ctx.rng.random(len(cards)) < self.cfg.poc_exploit_prob
            self.ledger.exposures.extend(
                zip(
                    [event] * len(cards),
                    cards.tolist(),
                    first_minute.tolist(),
                    exploited.tolist(),
                    strict=True,
                )
            )
            if exploited.any():
                bursts.append(self._poc_bursts(ctx.rng, event, cards[exploited], first_minute[exploited]))
        return TxnColumns.concat(bursts)

    def _poc_bursts(
        self, rng: np.random.Generator, event: int, cards: np.ndarray, first_visit: np.ndarray
    ) -> TxnColumns:
        cfg = self.cfg
        delay = (rng.uniform(*cfg.poc_delay_days, len(cards)) * DAY).astype(np.int64)
        sizes = rng.integers(cfg.poc_burst_txns[0], cfg.poc_burst_txns[1] + 1, len(cards))
        card = np.repeat(cards, sizes)
        minute = np.repeat(first_visit + delay, sizes) + rng.integers(
            0, int(cfg.poc_burst_days * DAY), len(card)
        )
        online = rng.random(len(card)) < cfg.poc_online_share
        far_place = rng.integers(0, self._n_us_places, len(card))
        merchant = np.where(
            online,
            rng.choice(self._online_ids, len(card)),
            self.pop.merchants.in_place(far_place, rng.random(len(card))),
        )
        for victim in cards.tolist():
            self.ledger.events.append((event, COMPROMISED_MERCHANT, victim, event))
        return TxnColumns.build(
            card=card,
            minute=minute,
            merchant=merchant,
            amount=self._amounts(rng, merchant),
            use_chip=np.where(online, ONLINE, SWIPE),
            mechanism=COMPROMISED_MERCHANT,
            event=event,
        )

    # ---- 2-4. rings, card testing, takeovers ---------------------------------------------

    def _victims(
        self, ctx: BlockContext, budget: float, txns_per_event: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Event ids, victim cards (∝ card activity) and start minutes for a mechanism's new events."""
        weights = np.cumsum(self.pop.card_rate * ctx.active_cards)
        count = ctx.rng.poisson(budget / txns_per_event) if weights[-1] > 0 else 0
        cards = np.searchsorted(weights, ctx.rng.random(count) * weights[-1], side="right")
        events = np.array([self._new_event() for _ in range(count)], dtype=np.int64)
        return events, cards, ctx.rng.integers(ctx.start, ctx.end, count)

    def _rings(self, ctx: BlockContext, budget: float) -> TxnColumns:
        cfg, rng = self.cfg, ctx.rng
        events, cards, starts = self._victims(ctx, budget, cfg.mean(cfg.ring_txns))
        ring = rng.integers(0, cfg.rings, len(events))
        sizes = rng.integers(cfg.ring_txns[0], cfg.ring_txns[1] + 1, len(events))
        row = np.repeat(np.arange(len(events)), sizes)
        ring_sizes = np.array([len(m) for m in self.ring_merchants])
        slot = (rng.random(len(row)) * ring_sizes[ring[row]]).astype(np.int64)
        merchant = np.array(
            [self.ring_merchants[r][s] for r, s in zip(ring[row], slot, strict=True)], dtype=np.int64
        )
        minute = starts[row] + rng.integers(0, int(cfg.ring_span_hours * 60), len(row))
        self._log(events, FRAUD_RING, cards, ring)
        return TxnColumns.build(
            card=cards[row],
            minute=minute,
            merchant=merchant,
            amount=self._amounts(rng, merchant),
            use_chip=ONLINE,
            mechanism=FRAUD_RING,
            event=events[row],
        )

    def _card_testing(self, ctx: BlockContext, budget: float) -> TxnColumns:
        cfg, rng = self.cfg, ctx.rng
        events, cards, starts = self._victims(ctx, budget, cfg.mean(cfg.testing_probes) + 1)
        probes = rng.integers(cfg.testing_probes[0], cfg.testing_probes[1] + 1, len(events))
        row = np.repeat(np.arange(len(events)), probes)
        step = rng.integers(1, 6, len(row))  # minutes between probes
        offset = _group_cumsum(step, probes)
        tester = self.testing_merchants[rng.integers(0, len(self.testing_merchants), len(events))]
        probe_error = np.where(
            rng.random(len(row)) < cfg.probe_decline_prob,
            rng.choice([self.errors[e] for e in ("Bad CVV", "Bad Expiration", "Bad Card Number")], len(row)),
            0,
        )
        probe_txns = TxnColumns.build(
            card=cards[row],
            minute=starts[row] + offset,
            merchant=tester[row],
            amount=np.round(rng.uniform(*cfg.probe_amount, len(row)), 2),
            use_chip=ONLINE,
            error=probe_error,
            mechanism=CARD_TESTING,
            event=events[row],
        )
        last_probe = starts + (offset[np.cumsum(probes) - 1] if len(row) else 0)
        cashout = TxnColumns.build(
            card=cards,
            minute=last_probe + rng.integers(*cfg.cashout_delay_minutes, len(events)),
            merchant=rng.choice(self._online_ids, len(events)),
            amount=np.round(rng.uniform(*cfg.cashout_amount, len(events)), 2),
            use_chip=ONLINE,
            mechanism=CARD_TESTING,
            event=events,
        )
        self._log(events, CARD_TESTING, cards, tester)
        return TxnColumns.concat([probe_txns, cashout])

    def _takeovers(self, ctx: BlockContext, budget: float) -> TxnColumns:
        cfg, rng, places = self.cfg, ctx.rng, self.pop.places
        events, cards, starts = self._victims(ctx, budget, cfg.mean(cfg.ato_txns))
        destinations = np.empty(len(events), dtype=np.int64)
        for i, card in enumerate(cards):
            home = self.pop.user_home[self.pop.card_user[card]]
            far = np.flatnonzero(
                places.km_from(places.lat[home], places.lon[home]) >= cfg.ato_min_distance_km
            )
            destinations[i] = far[rng.integers(0, len(far))]
        sizes = rng.integers(cfg.ato_txns[0], cfg.ato_txns[1] + 1, len(events))
        row = np.repeat(np.arange(len(events)), sizes)
        minute = starts[row] + rng.integers(0, int(cfg.ato_span_hours * 60), len(row))
        minute = minute[np.lexsort((minute, row))]  # in time order within each event
        merchant = self.pop.merchants.in_place(destinations[row], rng.random(len(row)))
        first = np.zeros(len(row), dtype=bool)
        first[_starts(sizes)] = True
        error = np.where(first & (rng.random(len(row)) < cfg.ato_bad_pin_prob), self.errors["Bad PIN"], 0)
        self._log(events, ACCOUNT_TAKEOVER, cards, destinations)
        return TxnColumns.build(
            card=cards[row],
            minute=minute,
            merchant=merchant,
            amount=self._amounts(rng, merchant),
            use_chip=SWIPE,
            error=error,
            mechanism=ACCOUNT_TAKEOVER,
            event=events[row],
        )

    # ---- helpers --------------------------------------------------------------------------

    def _amounts(self, rng: np.random.Generator, merchant: np.ndarray) -> np.ndarray:
        mcc_rows = self.cal.mcc_rows(self.pop.merchants.mcc_of(merchant))
        base = np.abs(sample_amounts(self.cal, mcc_rows, rng.uniform(0.3, 1.0, len(merchant))))
        return np.round(np.maximum(base, 1.0) * rng.uniform(*self.cfg.amount_uplift, len(merchant)), 2)

    def _new_event(self) -> int:
        self._next_event += 1
        return self._next_event

    def _log(self, events: np.ndarray, mechanism: int, cards: np.ndarray, detail: np.ndarray) -> None:
        self.ledger.events.extend(
            zip(
                events.tolist(),
                [mechanism] * len(events),
                cards.tolist(),
                np.asarray(detail).tolist(),
                strict=True,
            )
        )


def _entries_by_card(offsets: np.ndarray, card_user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-user favourite entries to (entry, card) pairs over each user's cards."""
    per_user = np.bincount(card_user, minlength=len(offsets) - 1)
    card_order = np.argsort(card_user, kind="stable")
    card_offsets = np.concatenate([[0], np.cumsum(per_user)])
    owner = np.repeat(np.arange(len(per_user)), np.diff(offsets))
    repeats = per_user[owner]
    entry = np.repeat(np.arange(len(owner)), repeats)
    within = np.arange(len(entry)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    return entry, card_order[card_offsets[owner[entry]] + within]


def _group_cumsum(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group of a flat array of consecutive groups."""
    total = np.cumsum(values)
    before = np.repeat(total[_starts(sizes)] - values[_starts(sizes)], sizes) if len(values) else total
    return total - before


def _starts(sizes: np.ndarray) -> np.ndarray:
    """Start offset of each group in a flat array of groups with these sizes."""
    return (
        np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(sizes) else np.zeros(0, np.int64)
    )

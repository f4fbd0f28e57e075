"""Fraud mechanisms (see `fraud_config` for what each does and its parameters).

The engine runs block by block after the legitimate transactions of a block exist: it opens new
compromises, finds the cards exposed to open compromises in the block, schedules their later
fraud, draws ring / card-testing / takeover events, and hands back every fraud transaction due
in the block. Fraud due later waits in `pending`, so mechanisms cross block boundaries freely.
`ledger` keeps the ground truth (compromises, exposures, events) for tests and analysis.
"""

from __future__ import annotations

import numpy as np

from fraudlake.producer.calibration import Calibration
from fraudlake.producer.fraud_base import DAY, BlockContext, FraudLedger, FraudToolkit
from fraudlake.producer.fraud_compromise import CompromisedMerchants
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.population import Population
from fraudlake.producer.txn_columns import (
    ACCOUNT_TAKEOVER,
    CARD_TESTING,
    COLLUSIVE_MERCHANT,
    FRAUD_RING,
    ONLINE,
    SWIPE,
    TxnColumns,
)

__all__ = ["DAY", "BlockContext", "FraudEngine", "FraudLedger"]


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
        self.kit = FraudToolkit(cfg, pop, cal)
        self.pending = TxnColumns.empty()
        self.compromises = CompromisedMerchants(self.kit, travel_share)
        picks = rng.choice(
            self.kit.online_merchants,
            cfg.testing_merchants + cfg.rings * cfg.ring_merchants[1],
            replace=False,
        )
        self.testing_merchants = picks[: cfg.testing_merchants]
        sizes = rng.integers(cfg.ring_merchants[0], cfg.ring_merchants[1] + 1, cfg.rings)
        rest = picks[cfg.testing_merchants :]
        self.ring_merchants = [
            rest[i * cfg.ring_merchants[1] : i * cfg.ring_merchants[1] + k] for i, k in enumerate(sizes)
        ]
        # Drawn only when the mechanism is on: the calibrated world's random stream stays as it was.
        self.collusive_merchants = (
            rng.choice(np.setdiff1d(self.kit.online_merchants, picks), cfg.collusive_merchants, replace=False)
            if cfg.share("collusive_merchant") > 0
            else np.zeros(0, np.int64)
        )

    @property
    def ledger(self) -> FraudLedger:
        return self.kit.ledger

    # ---- the block step ------------------------------------------------------------------

    def step(self, ctx: BlockContext, legit: TxnColumns) -> TxnColumns:
        """Fraud transactions due in [ctx.start, ctx.end), given the block's legitimate ones."""
        budget = self.cfg.rate / (1 - self.cfg.rate) * ctx.expected_legit
        new = [
            self.compromises.open(ctx, budget * self.cfg.share("compromised_merchant")),
            self.compromises.exposures(ctx, legit),
            self._rings(ctx, budget * self.cfg.share("fraud_ring")),
            self._card_testing(ctx, budget * self.cfg.share("card_testing")),
            self._takeovers(ctx, budget * self.cfg.share("account_takeover")),
        ]
        if len(self.collusive_merchants):
            new.append(self._collusive(ctx, budget * self.cfg.share("collusive_merchant")))
        self.pending = TxnColumns.concat([self.pending, *new])
        due = self.pending.minute < ctx.end
        out, self.pending = self.pending.take(np.flatnonzero(due)), self.pending.take(np.flatnonzero(~due))
        return out

    # ---- 2-5. rings, card testing, takeovers, collusive merchants ----------------------------

    def _victims(
        self, ctx: BlockContext, budget: float, txns_per_event: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Event ids, victim cards (∝ card activity) and start minutes for a mechanism's new events."""
        weights = np.cumsum(self.pop.card_rate * ctx.active_cards)
        count = ctx.rng.poisson(budget / txns_per_event) if weights[-1] > 0 else 0
        cards = np.searchsorted(weights, ctx.rng.random(count) * weights[-1], side="right")
        events = np.array([self.kit.new_event() for _ in range(count)], dtype=np.int64)
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
        self.kit.log(events, FRAUD_RING, cards, ring)
        return TxnColumns.build(
            card=cards[row],
            minute=minute,
            merchant=merchant,
            amount=self.kit.amounts(rng, merchant),
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
            merchant=rng.choice(self.kit.online_merchants, len(events)),
            amount=np.round(rng.uniform(*cfg.cashout_amount, len(events)), 2),
            use_chip=ONLINE,
            mechanism=CARD_TESTING,
            event=events,
        )
        self.kit.log(events, CARD_TESTING, cards, tester)
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
        self.kit.log(events, ACCOUNT_TAKEOVER, cards, destinations)
        return TxnColumns.build(
            card=cards[row],
            minute=minute,
            merchant=merchant,
            amount=self.kit.amounts(rng, merchant),
            use_chip=SWIPE,
            error=error,
            mechanism=ACCOUNT_TAKEOVER,
            event=events[row],
        )

    def _collusive(self, ctx: BlockContext, budget: float) -> TxnColumns:
        """Unrelated cards charged at one collusive merchant, at ordinary amounts, online."""
        cfg, rng = self.cfg, ctx.rng
        events, cards, starts = self._victims(ctx, budget, cfg.mean(cfg.collusive_txns))
        mule = self.collusive_merchants[rng.integers(0, len(self.collusive_merchants), len(events))]
        sizes = rng.integers(cfg.collusive_txns[0], cfg.collusive_txns[1] + 1, len(events))
        row = np.repeat(np.arange(len(events)), sizes)
        minute = starts[row] + rng.integers(0, int(cfg.collusive_span_hours * 60), len(row))
        self.kit.log(events, COLLUSIVE_MERCHANT, cards, mule)
        return TxnColumns.build(
            card=cards[row],
            minute=minute,
            merchant=mule[row],
            amount=self.kit.ordinary_amounts(rng, mule[row]),
            use_chip=ONLINE,
            mechanism=COLLUSIVE_MERCHANT,
            event=events[row],
        )


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

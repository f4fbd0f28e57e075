"""What every fraud mechanism shares: the ground-truth ledger, the block being generated, event
ids, fraud amounts and merchant pools."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fraudlake.producer.calibration import Calibration, sample_amounts
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.population import Population

DAY = 1440  # minutes


@dataclass
class FraudLedger:
    """Ground truth: compromise windows, exposed cards and every fraud event's victim."""

    compromises: list[tuple[int, int, int, int]] = field(default_factory=list)  # event, merchant, start, end
    # event, card, first visit, exploited
    exposures: list[tuple[int, int, int, bool]] = field(default_factory=list)
    events: list[tuple[int, int, int, int]] = field(default_factory=list)  # event, mechanism, card, detail


@dataclass(frozen=True)
class BlockContext:
    rng: np.random.Generator
    start: int  # minute
    end: int
    active_cards: np.ndarray  # bool per card
    expected_legit: float


class FraudToolkit:
    def __init__(self, cfg: FraudConfig, pop: Population, cal: Calibration) -> None:
        self.cfg, self.pop, self.cal = cfg, pop, cal
        self.ledger = FraudLedger()
        self.online_merchants = np.arange(pop.merchants.place_offsets[pop.places.online], len(pop.merchants))
        self.us_places = int((~pop.places.foreign).sum()) - 1  # US places come first, ONLINE last
        self._next_event = 0

    def new_event(self) -> int:
        self._next_event += 1
        return self._next_event

    def amounts(self, rng: np.random.Generator, merchant: np.ndarray) -> np.ndarray:
        """The merchant category's usual amounts (upper 70%), scaled up by `amount_uplift`."""
        base = self._charges(merchant, rng.uniform(0.3, 1.0, len(merchant)))
        return np.round(base * rng.uniform(*self.cfg.amount_uplift, len(merchant)), 2)

    def ordinary_amounts(self, rng: np.random.Generator, merchant: np.ndarray) -> np.ndarray:
        """Amounts drawn as the merchant category's legitimate ones are: a disguise."""
        return np.round(self._charges(merchant, rng.random(len(merchant))), 2)

    def _charges(self, merchant: np.ndarray, quantile: np.ndarray) -> np.ndarray:
        """The category's amounts at these quantiles as charges (refunds' sign dropped, at least $1)."""
        mcc_rows = self.cal.mcc_rows(self.pop.merchants.mcc_of(merchant))
        return np.maximum(np.abs(sample_amounts(self.cal, mcc_rows, quantile)), 1.0)

    def log(self, events: np.ndarray, mechanism: int, cards: np.ndarray, detail: np.ndarray) -> None:
        self.ledger.events.extend(
            zip(
                events.tolist(),
                [mechanism] * len(events),
                cards.tolist(),
                np.asarray(detail).tolist(),
                strict=True,
            )
        )

"""Deterministic, vectorized, chunked generator of TabFormer-shaped transactions.

The world is the real 2,000 users and 6,146 cards (`population`), calibrated on User0's real
stream (`calibration`), with graph-shaped fraud (`fraud`, `fraud_config`). Time advances in
blocks of `block_days`; each block is generated with numpy in one pass and yielded as one Arrow
table in event-time order, so memory stays flat at any total size (10M rows and beyond).

Determinism: the same seed, config and input tables give the same rows and ids, bit for bit.
Every block draws from its own stream `SeedSequence([seed, 1, block])`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from fraudlake.common.card_token import load_token_key
from fraudlake.producer.calibration import Calibration, default_calibration, sample_amounts
from fraudlake.producer.entities import first_users, load_cards, load_users
from fraudlake.producer.fraud import DAY, BlockContext, FraudEngine, FraudLedger
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.population import Population, build_population
from fraudlake.producer.table_builder import TableBuilder
from fraudlake.producer.txn_columns import CHIP, ONLINE, SWIPE, TxnColumns

FOREIGN_TRIP_SHARE = 0.2
CARD_ERRORS = ("Bad CVV", "Bad Card Number", "Bad Expiration", "Bad PIN")


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    start: date = date(2015, 1, 1)
    rows: int | None = None  # stop after exactly this many rows
    end: date | None = None  # or stop before this day (exclusive); neither: run forever
    block_days: int = 7
    # Simulated before `start` and dropped, so delayed fraud (a compromise window plus the delay
    # to its fraud) is already flowing on the first day: the stream starts in steady state.
    warmup_days: int = 56
    travel_share: float = 0.05  # in-store purchases made on a trip away from home
    # Only the first N real users and their cards: a smaller bank, so a row budget spans more days.
    users: int | None = None
    fraud: FraudConfig = field(default_factory=FraudConfig)


class TransactionGenerator:
    """Iterate `chunks()` for TRANSACTIONS tables with two ground-truth columns appended:
    `fraud_mechanism` (null for legitimate rows) and `fraud_event`."""

    def __init__(
        self,
        config: GeneratorConfig | None = None,
        *,
        users: pa.Table | None = None,
        cards: pa.Table | None = None,
        calibration: Calibration | None = None,
        token_key: bytes | None = None,
    ) -> None:
        self.config = config or GeneratorConfig()
        self.cal = calibration or default_calibration()
        users = users if users is not None else load_users()
        cards = cards if cards is not None else load_cards(token_key or load_token_key())
        if self.config.users is not None:
            users, cards = first_users(users, cards, self.config.users)
        self.users, self.cards = users, cards  # the entities behind the transactions
        self.pop: Population = build_population(users, cards, self.cal, self._rng(0))
        self.error_text = _error_table(self.cal)
        self.fraud = FraudEngine(
            self.config.fraud,
            self.pop,
            self.cal,
            {t: i for i, t in enumerate(self.error_text)},
            self.config.travel_share,
            self._rng(2),
        )
        self._builder = TableBuilder(self.pop, self.error_text)
        self._hour_cum = np.cumsum(self.cal.hour_probs)
        self._chip_era_day = int(np.datetime64(f"{self.cal.chip_era_start_year}-01-01", "D").astype(np.int64))

    @property
    def ledger(self) -> FraudLedger:
        return self.fraud.ledger

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.config.seed, *stream]))

    def chunks(self) -> Iterator[pa.Table]:
        cfg = self.config
        first_day = int(np.datetime64(cfg.start, "D").astype(np.int64))
        last_day = int(np.datetime64(cfg.end, "D").astype(np.int64)) if cfg.end else None
        remaining = cfg.rows
        warmup_blocks = -(-cfg.warmup_days // cfg.block_days)
        block = -warmup_blocks
        while remaining is None or remaining > 0:
            start_day = first_day + block * cfg.block_days
            days = cfg.block_days if last_day is None else min(cfg.block_days, last_day - start_day)
            if days <= 0:
                return
            txns = self.block(block + warmup_blocks, start_day, days)
            if block < 0:
                block += 1
                continue
            if remaining is not None:
                txns = txns.take(np.arange(min(remaining, len(txns))))
                remaining -= len(txns)
            block += 1
            if len(txns):
                yield self._builder.build(txns)

    def block(self, index: int, start_day: int, days: int) -> TxnColumns:
        """All transactions of one block (legitimate and fraud) in event-time order."""
        rng = self._rng(1, index)
        legit, expected, active = self._legit(rng, start_day, days)
        ctx = BlockContext(
            rng=rng,
            start=start_day * DAY,
            end=(start_day + days) * DAY,
            active_cards=active,
            expected_legit=expected,
        )
        txns = TxnColumns.concat([legit, self.fraud.step(ctx, legit)])
        return txns.take(np.lexsort((txns.card, txns.minute)))

    def _legit(
        self, rng: np.random.Generator, start_day: int, days: int
    ) -> tuple[TxnColumns, float, np.ndarray]:
        pop, cal = self.pop, self.cal
        first = np.maximum(pop.card_open_day, start_day)
        active_days = np.clip(start_day + days - first, 0, days)
        mean = pop.card_rate * active_days
        counts = rng.poisson(mean)
        card = np.repeat(np.arange(pop.n_cards), counts)
        n = len(card)
        day = first[card] + (rng.random(n) * active_days[card]).astype(np.int64)
        hour = np.minimum(
            np.searchsorted(self._hour_cum, rng.random(n) * self._hour_cum[-1], side="right"), 23
        )
        minute = day * DAY + hour * 60 + rng.integers(0, 60, n)
        user = pop.card_user[card]
        online = rng.random(n) < cal.online_share
        travel = ~online & (rng.random(n) < self.config.travel_share)
        pick = rng.random(n)
        merchant = pop.in_store.sample(user, pick)
        merchant[online] = pop.online.sample(user[online], pick[online])
        trip_place = self._trip_places(rng, len(pop.user_home))
        merchant[travel] = pop.merchants.in_place(trip_place[user[travel]], pick[travel])
        chip_ok = (day >= self._chip_era_day) & pop.card_has_chip[card]
        use_chip = np.where(
            online, ONLINE, np.where(chip_ok & (rng.random(n) < cal.chip_share_in_chip_era), CHIP, SWIPE)
        )
        amount = sample_amounts(cal, cal.mcc_rows(pop.merchants.mcc_of(merchant)), rng.random(n))
        error = np.where(online, self._errors(rng, cal.online, n), self._errors(rng, cal.in_store, n))
        txns = TxnColumns.build(
            card=card, minute=minute, merchant=merchant, amount=amount, use_chip=use_chip, error=error
        )
        return txns, float(mean.sum()), active_days > 0

    def _trip_places(self, rng: np.random.Generator, n_users: int) -> np.ndarray:
        """One trip destination per user and block (so a trip's purchases cluster in one place)."""
        places = self.pop.places
        us = np.flatnonzero(~places.foreign)[:-1]  # the last place is ONLINE
        abroad = np.flatnonzero(places.foreign)
        return np.where(
            rng.random(n_users) < FOREIGN_TRIP_SHARE, rng.choice(abroad, n_users), rng.choice(us, n_users)
        )

    def _errors(self, rng: np.random.Generator, mix, n: int) -> np.ndarray:
        index = np.array([self.error_text.index(e) for e in mix.errors])
        return index[
            np.minimum(
                np.searchsorted(np.cumsum(mix.error_probs), rng.random(n), side="right"), len(index) - 1
            )
        ]


def _error_table(cal: Calibration) -> list[str | None]:
    """Error texts used anywhere (index 0 = no error), stable across runs."""
    seen = set(cal.online.errors) | set(cal.in_store.errors) | set(CARD_ERRORS)
    return [None, *sorted(e for e in seen if e is not None)]

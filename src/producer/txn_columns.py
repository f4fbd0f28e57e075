"""The generator's internal transaction batch: parallel numpy columns of indices and numbers.

Strings (cities, card ids, error texts) stay indices into lookup tables until the batch becomes
an Arrow table, which keeps generation vectorized and cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

SWIPE, CHIP, ONLINE = 0, 1, 2
USE_CHIP_TEXT = ("Swipe Transaction", "Chip Transaction", "Online Transaction")

LEGIT = 0
MECHANISMS = (
    "legit",
    "compromised_merchant",
    "fraud_ring",
    "card_testing",
    "account_takeover",
    "collusive_merchant",
)
COMPROMISED_MERCHANT, FRAUD_RING, CARD_TESTING, ACCOUNT_TAKEOVER, COLLUSIVE_MERCHANT = 1, 2, 3, 4, 5


@dataclass
class TxnColumns:
    card: np.ndarray  # row in the cards table
    minute: np.ndarray  # minutes since the epoch (UTC)
    merchant: np.ndarray  # merchant index
    amount: np.ndarray  # dollars, rounded to cents
    use_chip: np.ndarray  # SWIPE / CHIP / ONLINE
    error: np.ndarray  # index into the generator's error-text table, 0 = no error
    mechanism: np.ndarray  # LEGIT or a fraud mechanism code
    event: np.ndarray  # fraud event id, -1 for legitimate transactions

    @classmethod
    def empty(cls) -> TxnColumns:
        return cls.build(
            card=np.zeros(0, np.int64),
            minute=np.zeros(0, np.int64),
            merchant=np.zeros(0, np.int64),
            amount=np.zeros(0),
        )

    @classmethod
    def build(
        cls,
        *,
        card: np.ndarray,
        minute: np.ndarray,
        merchant: np.ndarray,
        amount: np.ndarray,
        use_chip: np.ndarray | int = SWIPE,
        error: np.ndarray | int = 0,
        mechanism: int | np.ndarray = LEGIT,
        event: np.ndarray | int = -1,
    ) -> TxnColumns:
        n = len(card)

        def full(value: np.ndarray | int, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

        return cls(
            card=np.asarray(card, np.int64),
            minute=np.asarray(minute, np.int64),
            merchant=np.asarray(merchant, np.int64),
            amount=np.asarray(amount, np.float64),
            use_chip=full(use_chip, np.int8),
            error=full(error, np.int16),
            mechanism=full(mechanism, np.int8),
            event=full(event, np.int64),
        )

    def __len__(self) -> int:
        return len(self.card)

    def take(self, index: np.ndarray) -> TxnColumns:
        return TxnColumns(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[TxnColumns]) -> TxnColumns:
        parts = [p for p in parts if len(p)] or [cls.empty()]
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    @property
    def is_fraud(self) -> np.ndarray:
        return self.mechanism != LEGIT
